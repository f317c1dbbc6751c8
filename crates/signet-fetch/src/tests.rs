//! Fetcher tests: URL checks, the guarded resolver, and a hand-written HTTP/1.1 server
//! on loopback (allow-listed) for the transfer rules.
//!
//! No test sends traffic anywhere but loopback: refusals of private addresses are
//! tested end to end with names that resolve to loopback (and a listener that counts
//! connections), and with other private addresses against the resolver directly.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::dns::Resolve as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;

// ---------------------------------------------------------------- helpers

/// Maps names to fixed addresses and records what it was asked.
#[derive(Default)]
struct StaticResolver {
    answers: HashMap<String, Vec<IpAddr>>,
    asked: Mutex<Vec<String>>,
}

impl StaticResolver {
    fn new(answers: &[(&str, &[&str])]) -> Arc<Self> {
        Arc::new(StaticResolver {
            answers: answers
                .iter()
                .map(|(name, ips)| {
                    let ips = ips.iter().map(|ip| ip.parse().unwrap()).collect();
                    ((*name).to_owned(), ips)
                })
                .collect(),
            asked: Mutex::default(),
        })
    }

    fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }
}

impl NameResolver for StaticResolver {
    fn resolve<'a>(&'a self, host: &'a str) -> BoxFuture<'a, io::Result<Vec<IpAddr>>> {
        self.asked.lock().unwrap().push(host.to_owned());
        let answer = self
            .answers
            .get(host)
            .cloned()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such name"));
        Box::pin(async move { answer })
    }
}

fn allow(list: &str) -> Vec<AllowedHost> {
    AllowedHost::parse_list(list).unwrap()
}

fn guarded(allow_list: &str, resolver: Arc<StaticResolver>) -> GuardedResolver {
    GuardedResolver {
        inner: resolver,
        allow: allow(allow_list).into(),
    }
}

fn limits(max_bytes: usize, max_redirects: usize) -> Limits {
    Limits {
        max_bytes,
        timeout: Duration::from_secs(5),
        max_redirects,
    }
}

/// A loopback HTTP/1.1 server answering by path, one response per connection.
struct TestServer {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<String>>>,
}

impl TestServer {
    async fn start() -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (count, log) = (Arc::clone(&accepted), Arc::clone(&requests));
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(serve(stream, addr.port(), Arc::clone(&log)));
            }
        });
        TestServer {
            addr,
            accepted,
            requests,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn port(&self) -> u16 {
        self.addr.port()
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    fn paths(&self) -> Vec<String> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .map(|head| head.split(' ').nth(1).unwrap_or_default().to_owned())
            .collect()
    }

    /// A fetcher allowing this server's host and port only.
    fn fetcher(&self) -> Fetcher {
        Fetcher::new(allow(&format!("127.0.0.1:{}", self.port()))).unwrap()
    }
}

async fn serve(mut stream: TcpStream, port: u16, log: Arc<Mutex<Vec<String>>>) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let path = head.split(' ').nth(1).unwrap_or_default().to_owned();
    log.lock().unwrap().push(head);

    let simple = |status: &str, extra: &str, body: &[u8]| {
        let mut out = format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n",
            body.len()
        )
        .into_bytes();
        out.extend_from_slice(body);
        out
    };
    let redirect = |to: &str| simple("302 Found", &format!("Location: {to}\r\n"), b"");
    let chunked = |chunks: usize, size: usize| {
        let mut out =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
        for _ in 0..chunks {
            out.extend_from_slice(format!("{size:x}\r\n").as_bytes());
            out.extend(std::iter::repeat_n(b'c', size));
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"0\r\n\r\n");
        out
    };

    let response = match path.as_str() {
        "/ok" | "/ok?token=secret" => simple(
            "200 OK",
            "Content-Type: application/pdf\r\nCache-Control: max-age=60\r\nAge: 3\r\n",
            b"%PDF-1.7 hello",
        ),
        "/big-length" => simple("200 OK", "", &[b'a'; 2000]),
        "/big-chunked" => chunked(10, 300),
        "/exact-chunked" => chunked(4, 250),
        "/big-close" => {
            let mut out = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".to_vec();
            out.extend_from_slice(&[b'b'; 3000]);
            out
        }
        "/missing" => simple("404 Not Found", "", b"no"),
        "/no-content" => simple("204 No Content", "", b""),
        "/to-ok" => redirect("/ok"),
        "/hop1" => redirect("/to-ok"),
        "/hop2" => redirect(&format!("http://127.0.0.1:{port}/hop1")),
        "/loop" => redirect("/loop"),
        "/no-location" => simple("302 Found", "", b""),
        "/to-metadata" => redirect("http://169.254.169.254/latest/meta-data/"),
        "/to-loopback" => redirect(&format!("https://127.0.0.2:{port}/ok")),
        "/to-mapped" => redirect(&format!("https://[::ffff:127.0.0.1]:{port}/ok")),
        "/to-private-name" => redirect(&format!("https://evil.test:{port}/ok")),
        "/to-other-port" => redirect("http://127.0.0.1:1/ok"),
        "/to-file" => redirect("file:///etc/passwd"),
        "/stall" => {
            std::future::pending::<()>().await;
            return;
        }
        "/slow-body" => {
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten..")
                .await;
            std::future::pending::<()>().await;
            return;
        }
        _ => simple("500 Internal Server Error", "", b"unknown path"),
    };
    let _ = stream.write_all(&response).await;
    let _ = stream.shutdown().await;
}

// ---------------------------------------------------------------- URL checks

#[test]
fn https_to_public_names_and_addresses_is_accepted() {
    let f = Fetcher::new(Vec::new()).unwrap();
    for url in [
        "https://example.com/doc.pdf",
        "https://example.com:8443/doc.pdf?x=1#frag",
        "https://93.184.216.34/doc.pdf",
        "https://[2606:4700:4700::1111]/doc.pdf",
        "HTTPS://EXAMPLE.COM/",
    ] {
        assert!(f.check_url(url).is_ok(), "{url} should be accepted");
    }
}

#[test]
fn http_and_other_schemes_are_refused() {
    let f = Fetcher::new(Vec::new()).unwrap();
    for url in [
        "http://example.com/doc.pdf",
        "ftp://example.com/doc.pdf",
        "file:///etc/passwd",
        "data:text/plain,hi",
        "gopher://example.com/",
        "ws://example.com/",
    ] {
        assert_eq!(f.check_url(url), Err(FetchError::SchemeNotAllowed), "{url}");
    }
}

#[test]
fn non_public_ip_literals_are_refused() {
    let f = Fetcher::new(Vec::new()).unwrap();
    for (url, host) in [
        ("https://127.0.0.1/", "127.0.0.1"),
        ("https://127.0.0.1:8443/doc", "127.0.0.1"),
        ("https://[::1]/", "[::1]"),
        (
            "https://169.254.169.254/latest/meta-data/",
            "169.254.169.254",
        ),
        ("https://10.0.0.1/", "10.0.0.1"),
        ("https://192.168.1.1/", "192.168.1.1"),
        ("https://172.16.0.1/", "172.16.0.1"),
        ("https://100.64.0.1/", "100.64.0.1"),
        ("https://0.0.0.0/", "0.0.0.0"),
        ("https://[::]/", "[::]"),
        ("https://[fe80::1]/", "[fe80::1]"),
        ("https://[fd00::1]/", "[fd00::1]"),
        ("https://[ff02::1]/", "[ff02::1]"),
        ("https://255.255.255.255/", "255.255.255.255"),
        // Odd IPv4 spellings, normalised by the URL parser.
        ("https://2130706433/", "127.0.0.1"),
        ("https://0x7f.1/", "127.0.0.1"),
        ("https://0177.0.0.1/", "127.0.0.1"),
        ("https://127.1/", "127.0.0.1"),
        ("https://0xa9fea9fe/", "169.254.169.254"),
        // IPv6 forms embedding a private IPv4 address.
        ("https://[::ffff:127.0.0.1]/", "[::ffff:7f00:1]"),
        ("https://[::ffff:a9fe:a9fe]/", "[::ffff:a9fe:a9fe]"),
        ("https://[64:ff9b::a00:1]/", "[64:ff9b::a00:1]"),
        ("https://[2002:7f00:1::]/", "[2002:7f00:1::]"),
    ] {
        assert_eq!(
            f.check_url(url),
            Err(FetchError::ForbiddenAddress {
                host: host.to_owned()
            }),
            "{url}"
        );
    }
    // The same odd forms over http are refused too (scheme first).
    assert_eq!(
        f.check_url("http://0x7f.1/"),
        Err(FetchError::SchemeNotAllowed)
    );
    assert_eq!(
        f.check_url("http://2130706433/"),
        Err(FetchError::SchemeNotAllowed)
    );
}

#[test]
fn malformed_urls_and_credentials_are_refused() {
    let f = Fetcher::new(Vec::new()).unwrap();
    for url in [
        "",
        "not a url",
        "/relative/doc.pdf",
        "https://",
        "https://exa mple.com/",
        "https://example.com:99999/",
        "https://user:pass@example.com/",
        "https://token@example.com/",
    ] {
        assert!(
            matches!(f.check_url(url), Err(FetchError::InvalidUrl(_))),
            "{url}: {:?}",
            f.check_url(url)
        );
    }
}

#[test]
fn allow_list_admits_http_and_private_addresses_with_port_rule() {
    let f = Fetcher::new(allow("127.0.0.1:8080, docs.internal, [::1]:8443")).unwrap();
    assert!(f.check_url("http://127.0.0.1:8080/doc").is_ok());
    assert!(f.check_url("https://127.0.0.1:8080/doc").is_ok());
    assert!(f.check_url("http://2130706433:8080/doc").is_ok());
    assert!(f.check_url("http://[::1]:8443/doc").is_ok());
    assert!(f.check_url("http://docs.internal/doc").is_ok());
    assert!(f.check_url("https://DOCS.INTERNAL:9999/doc").is_ok());

    assert_eq!(
        f.check_url("http://127.0.0.1:8081/doc"),
        Err(FetchError::PortNotAllowed {
            host: "127.0.0.1".to_owned(),
            port: 8081
        })
    );
    // Default ports count: http://127.0.0.1/ is port 80.
    assert!(matches!(
        f.check_url("http://127.0.0.1/doc"),
        Err(FetchError::PortNotAllowed { port: 80, .. })
    ));
    assert!(matches!(
        f.check_url("https://[::1]/doc"),
        Err(FetchError::PortNotAllowed { port: 443, .. })
    ));
    // Other loopback addresses are not the listed one.
    assert!(matches!(
        f.check_url("https://127.0.0.2:8080/"),
        Err(FetchError::ForbiddenAddress { .. })
    ));
    assert!(matches!(
        f.check_url("https://[::ffff:127.0.0.1]:8080/"),
        Err(FetchError::ForbiddenAddress { .. })
    ));
    assert_eq!(
        f.check_url("http://docs.internal.evil.test/"),
        Err(FetchError::SchemeNotAllowed)
    );
}

#[test]
fn error_messages_are_precise_and_name_no_url() {
    assert_eq!(
        FetchError::SchemeNotAllowed.to_string(),
        "The URL must use https"
    );
    assert_eq!(
        FetchError::TooLarge {
            limit: Limits::DOCUMENT.max_bytes
        }
        .to_string(),
        "The document is larger than the 10485760-byte limit"
    );
    assert_eq!(
        FetchError::ForbiddenAddress {
            host: "example.test".into()
        }
        .to_string(),
        "The host example.test is or resolves to a private, loopback or otherwise reserved address"
    );
    assert_eq!(
        FetchError::Timeout {
            limit: Duration::from_secs(5)
        }
        .to_string(),
        "The server did not deliver the document within 5s"
    );
    assert_eq!(
        FetchError::Status(404).to_string(),
        "The server answered with HTTP status 404"
    );
}

#[test]
fn limits_constants() {
    assert_eq!(Limits::DOCUMENT.max_bytes, 10_485_760);
    assert_eq!(Limits::DOCUMENT.timeout, Duration::from_secs(30));
    assert_eq!(Limits::DOCUMENT.max_redirects, 3);
    assert_eq!(Limits::METADATA_DOCUMENT.max_bytes, 5120);
    assert_eq!(Limits::METADATA_DOCUMENT.timeout, Duration::from_secs(5));
    assert_eq!(Limits::METADATA_DOCUMENT.max_redirects, 0);
    assert_eq!(
        USER_AGENT,
        concat!("Signet/", env!("CARGO_PKG_VERSION"), " (+fetcher)")
    );
}

// ---------------------------------------------------------------- guarded resolver

#[tokio::test]
async fn resolver_refuses_names_with_any_non_public_address() {
    let r = StaticResolver::new(&[
        ("evil.test", &["10.0.0.1"]),
        ("metadata.test", &["169.254.169.254"]),
        ("mixed.test", &["93.184.216.34", "127.0.0.1"]),
        ("mixed6.test", &["2606:4700:4700::1111", "::1"]),
        ("v6loop.test", &["::1"]),
        ("mapped.test", &["::ffff:10.1.2.3"]),
        ("good.test", &["93.184.216.34", "2606:4700:4700::1111"]),
        ("empty.test", &[]),
    ]);
    let g = guarded("", Arc::clone(&r));
    for name in [
        "evil.test",
        "metadata.test",
        "mixed.test",
        "mixed6.test",
        "v6loop.test",
        "mapped.test",
    ] {
        assert_eq!(
            g.checked(name).await,
            Err(FetchError::ForbiddenAddress {
                host: name.to_owned()
            }),
            "{name}"
        );
    }
    assert_eq!(g.checked("good.test").await.unwrap().len(), 2);
    assert_eq!(
        g.checked("empty.test").await,
        Err(FetchError::NoAddress {
            host: "empty.test".into()
        })
    );
    assert_eq!(
        g.checked("unknown.test").await,
        Err(FetchError::NoAddress {
            host: "unknown.test".into()
        })
    );
    assert_eq!(r.asked().len(), 9);
}

#[tokio::test]
async fn resolver_passes_allow_listed_names_and_reports_through_reqwest_trait() {
    let r = StaticResolver::new(&[
        ("docs.internal", &["10.0.0.5"]),
        ("evil.test", &["10.0.0.1"]),
    ]);
    let g = guarded("Docs.Internal:8080", Arc::clone(&r));
    assert_eq!(
        g.checked("docs.internal").await,
        Ok(vec!["10.0.0.5".parse::<IpAddr>().unwrap()])
    );

    // Through reqwest's trait, the refusal is a boxed FetchError (found again later
    // in reqwest's error chain); the success carries the addresses with port 0.
    let err = g.resolve("evil.test".parse().unwrap()).await.err().unwrap();
    assert_eq!(
        err.downcast_ref::<FetchError>(),
        Some(&FetchError::ForbiddenAddress {
            host: "evil.test".into()
        })
    );
    let addrs: Vec<SocketAddr> = g
        .resolve("docs.internal".parse().unwrap())
        .await
        .ok()
        .unwrap()
        .collect();
    assert_eq!(addrs, ["10.0.0.5:0".parse::<SocketAddr>().unwrap()]);
}

// ---------------------------------------------------------------- end to end, refusals

#[tokio::test]
async fn name_resolving_to_loopback_is_refused_before_connecting() {
    let server = TestServer::start().await;
    let r = StaticResolver::new(&[("evil.test", &["127.0.0.1"])]);
    let f = Fetcher::with_resolver(Vec::new(), r.clone()).unwrap();
    let err = f
        .fetch(
            &format!("https://evil.test:{}/doc.pdf", server.port()),
            Limits::DOCUMENT,
        )
        .await
        .unwrap_err();
    assert_eq!(
        err,
        FetchError::ForbiddenAddress {
            host: "evil.test".into()
        }
    );
    assert_eq!(r.asked(), ["evil.test"]);
    assert_eq!(server.accepted(), 0, "no connection may be attempted");
}

#[tokio::test]
async fn system_resolver_refuses_localhost() {
    let server = TestServer::start().await;
    let f = Fetcher::new(Vec::new()).unwrap();
    let err = f
        .fetch(
            &format!("https://localhost:{}/ok", server.port()),
            Limits::DOCUMENT,
        )
        .await
        .unwrap_err();
    assert_eq!(
        err,
        FetchError::ForbiddenAddress {
            host: "localhost".into()
        }
    );
    assert_eq!(server.accepted(), 0);
}

#[tokio::test]
async fn unresolvable_name_is_no_address() {
    let r = StaticResolver::new(&[]);
    let f = Fetcher::with_resolver(Vec::new(), r.clone()).unwrap();
    let err = f
        .fetch("https://nowhere.test/doc.pdf", Limits::DOCUMENT)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        FetchError::NoAddress {
            host: "nowhere.test".into()
        }
    );
    assert_eq!(r.asked(), ["nowhere.test"]);
}

#[tokio::test]
async fn allow_listed_name_may_resolve_to_loopback() {
    let server = TestServer::start().await;
    let r = StaticResolver::new(&[("docs.internal", &["127.0.0.1"])]);
    let f = Fetcher::with_resolver(allow(&format!("docs.internal:{}", server.port())), r).unwrap();
    let fetched = f
        .fetch(
            &format!("http://docs.internal:{}/ok", server.port()),
            Limits::DOCUMENT,
        )
        .await
        .unwrap();
    assert_eq!(fetched.bytes, b"%PDF-1.7 hello");
    // Same name, other port: refused without resolving or connecting.
    assert!(matches!(
        f.fetch("http://docs.internal:1/ok", Limits::DOCUMENT).await,
        Err(FetchError::PortNotAllowed { port: 1, .. })
    ));
    assert_eq!(server.accepted(), 1);
}

// ---------------------------------------------------------------- end to end, transfers

#[tokio::test]
async fn ok_body_and_headers_are_returned() {
    let server = TestServer::start().await;
    let fetched = server
        .fetcher()
        .fetch(&server.url("/ok"), Limits::DOCUMENT)
        .await
        .unwrap();
    assert_eq!(fetched.bytes, b"%PDF-1.7 hello");
    assert_eq!(fetched.url.as_str(), server.url("/ok"));
    assert_eq!(fetched.content_type.as_deref(), Some("application/pdf"));
    assert_eq!(fetched.cache_control.as_deref(), Some("max-age=60"));
    assert_eq!(fetched.age.as_deref(), Some("3"));
    assert_eq!(fetched.expires, None);

    let head = server.requests.lock().unwrap()[0].to_ascii_lowercase();
    assert!(head.starts_with("get /ok http/1.1\r\n"), "{head}");
    let ua = format!("user-agent: {}\r\n", USER_AGENT.to_ascii_lowercase());
    assert!(head.contains(&ua), "{head}");
    assert!(
        !head.contains("cookie:") && !head.contains("referer:"),
        "{head}"
    );
}

#[tokio::test]
async fn post_sends_the_body_and_its_type_and_follows_no_redirect() {
    let server = TestServer::start().await;
    let fetched = server
        .fetcher()
        .post(
            &server.url("/ok"),
            "application/timestamp-query",
            b"query".to_vec(),
            Limits::TIMESTAMP,
        )
        .await
        .unwrap();
    assert_eq!(fetched.bytes, b"%PDF-1.7 hello");
    let head = server.requests.lock().unwrap()[0].to_ascii_lowercase();
    assert!(head.starts_with("post /ok http/1.1\r\n"), "{head}");
    assert!(
        head.contains("content-type: application/timestamp-query\r\n"),
        "{head}"
    );
    assert!(head.contains("content-length: 5\r\n"), "{head}");

    let err = server
        .fetcher()
        .post(
            &server.url("/to-ok"),
            "application/timestamp-query",
            b"q".to_vec(),
            limits(1000, 3),
        )
        .await
        .unwrap_err();
    assert_eq!(err, FetchError::Redirected);
    // The guard applies to posts as to fetches.
    let err = Fetcher::new(Vec::new())
        .unwrap()
        .post(
            &server.url("/ok"),
            "application/timestamp-query",
            b"q".to_vec(),
            Limits::TIMESTAMP,
        )
        .await
        .unwrap_err();
    assert_eq!(err, FetchError::SchemeNotAllowed);
}

#[tokio::test]
async fn announced_length_over_cap_is_too_large() {
    let server = TestServer::start().await;
    let err = server
        .fetcher()
        .fetch(&server.url("/big-length"), limits(1000, 0))
        .await
        .unwrap_err();
    assert_eq!(err, FetchError::TooLarge { limit: 1000 });
}

#[tokio::test]
async fn chunked_or_unannounced_body_is_cut_at_cap() {
    let server = TestServer::start().await;
    let f = server.fetcher();
    for path in ["/big-chunked", "/big-close"] {
        assert_eq!(
            f.fetch(&server.url(path), limits(1000, 0)).await,
            Err(FetchError::TooLarge { limit: 1000 }),
            "{path}"
        );
    }
    // Exactly at the cap is fine.
    let fetched = f
        .fetch(&server.url("/exact-chunked"), limits(1000, 0))
        .await
        .unwrap();
    assert_eq!(fetched.bytes.len(), 1000);
    // And the same bodies fit a larger cap.
    let fetched = f
        .fetch(&server.url("/big-close"), limits(3000, 0))
        .await
        .unwrap();
    assert_eq!(fetched.bytes.len(), 3000);
}

#[tokio::test]
async fn non_200_is_status() {
    let server = TestServer::start().await;
    let f = server.fetcher();
    assert_eq!(
        f.fetch(&server.url("/missing"), Limits::DOCUMENT).await,
        Err(FetchError::Status(404))
    );
    assert_eq!(
        f.fetch(&server.url("/no-content"), Limits::DOCUMENT).await,
        Err(FetchError::Status(204))
    );
    assert_eq!(
        f.fetch(&server.url("/no-location"), Limits::DOCUMENT).await,
        Err(FetchError::Status(302))
    );
}

#[tokio::test]
async fn redirects_are_followed_within_budget() {
    let server = TestServer::start().await;
    let f = server.fetcher();
    let fetched = f
        .fetch(&server.url("/to-ok"), Limits::DOCUMENT)
        .await
        .unwrap();
    assert_eq!(fetched.bytes, b"%PDF-1.7 hello");
    assert_eq!(fetched.url.as_str(), server.url("/ok"));

    // /hop2 -> /hop1 -> /to-ok -> /ok is three redirects: exactly the budget.
    let fetched = f.fetch(&server.url("/hop2"), limits(100, 3)).await.unwrap();
    assert_eq!(fetched.url.path(), "/ok");
    assert_eq!(
        f.fetch(&server.url("/hop2"), limits(100, 2)).await,
        Err(FetchError::TooManyRedirects { limit: 2 })
    );
    assert_eq!(
        f.fetch(&server.url("/loop"), Limits::DOCUMENT).await,
        Err(FetchError::TooManyRedirects { limit: 3 })
    );
}

#[tokio::test]
async fn redirect_is_an_error_when_not_following() {
    let server = TestServer::start().await;
    let f = server.fetcher();
    assert_eq!(
        f.fetch(&server.url("/to-ok"), Limits::METADATA_DOCUMENT)
            .await,
        Err(FetchError::Redirected)
    );
    assert_eq!(
        f.fetch(&server.url("/to-metadata"), Limits::METADATA_DOCUMENT)
            .await,
        Err(FetchError::Redirected)
    );
    assert_eq!(server.paths(), ["/to-ok", "/to-metadata"]);
}

#[tokio::test]
async fn redirect_hops_are_checked_like_the_first_url() {
    let server = TestServer::start().await;
    let r = StaticResolver::new(&[("evil.test", &["127.0.0.1"])]);
    let f =
        Fetcher::with_resolver(allow(&format!("127.0.0.1:{}", server.port())), r.clone()).unwrap();
    assert_eq!(
        f.fetch(&server.url("/to-metadata"), Limits::DOCUMENT).await,
        Err(FetchError::SchemeNotAllowed)
    );
    // Literal targets are loopback (not the listed address), so that even a broken
    // check would send nothing off this machine; the last one would reach this server.
    assert_eq!(
        f.fetch(&server.url("/to-loopback"), Limits::DOCUMENT).await,
        Err(FetchError::ForbiddenAddress {
            host: "127.0.0.2".into()
        })
    );
    assert_eq!(
        f.fetch(&server.url("/to-mapped"), Limits::DOCUMENT).await,
        Err(FetchError::ForbiddenAddress {
            host: "[::ffff:7f00:1]".into()
        })
    );
    assert_eq!(
        f.fetch(&server.url("/to-other-port"), Limits::DOCUMENT)
            .await,
        Err(FetchError::PortNotAllowed {
            host: "127.0.0.1".into(),
            port: 1
        })
    );
    assert_eq!(
        f.fetch(&server.url("/to-file"), Limits::DOCUMENT).await,
        Err(FetchError::SchemeNotAllowed)
    );
    // A redirect to a name resolving to loopback is refused by the resolver.
    assert_eq!(
        f.fetch(&server.url("/to-private-name"), Limits::DOCUMENT)
            .await,
        Err(FetchError::ForbiddenAddress {
            host: "evil.test".into()
        })
    );
    assert_eq!(r.asked(), ["evil.test"]);
    // Only the redirecting requests reached the server.
    assert_eq!(
        server.paths(),
        [
            "/to-metadata",
            "/to-loopback",
            "/to-mapped",
            "/to-other-port",
            "/to-file",
            "/to-private-name"
        ]
    );
}

#[tokio::test]
async fn silent_server_times_out() {
    let server = TestServer::start().await;
    let f = server.fetcher();
    let quick = Limits {
        timeout: Duration::from_millis(300),
        ..Limits::DOCUMENT
    };
    let started = std::time::Instant::now();
    assert_eq!(
        f.fetch(&server.url("/stall"), quick).await,
        Err(FetchError::Timeout {
            limit: quick.timeout
        })
    );
    assert_eq!(
        f.fetch(&server.url("/slow-body"), quick).await,
        Err(FetchError::Timeout {
            limit: quick.timeout
        })
    );
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn transfer_errors_do_not_leak_the_query_string() {
    // A port with nothing listening (bound, then released).
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap().port()
    };
    let f = Fetcher::new(allow("127.0.0.1")).unwrap();
    let err = f
        .fetch(
            &format!("http://127.0.0.1:{port}/doc?token=secret"),
            Limits::DOCUMENT,
        )
        .await
        .unwrap_err();
    let FetchError::Transfer(message) = &err else {
        panic!("expected a transfer error, got {err:?}");
    };
    assert!(
        message.contains("could not connect to 127.0.0.1"),
        "{message}"
    );
    assert!(!err.to_string().contains("secret"), "{err}");
    assert!(!err.to_string().contains("/doc"), "{err}");
}
