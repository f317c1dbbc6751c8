//! The hosts the server talks to, run on loopback by the tests: a
//! document host (on the fetch allow-list), an SMTP sink for live mode, a
//! host of client metadata documents and their keys, and a TCP proxy in
//! front of PostgreSQL that can be cut.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use data_encoding::BASE64URL_NOPAD;
use jsonwebtoken::{EncodingKey, Header};
use serde_json::{Value, json};
use signet_store::Clock;
use signet_store::testing::TestDb;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

use super::oauth::seed;
use super::server::{Server, start_with};

/// A loopback host serving test documents (PDFs, a DOCX, a text file). `/held.pdf` answers only when
/// the test releases it, to hold an envelope in `processing`.
pub struct DocHost {
    pub base: String,
    /// `host:port`, for the fetch allow-list.
    pub authority: String,
    /// Permits to answer `/held.pdf`.
    pub gate: Arc<Semaphore>,
    /// Requests for `/held.pdf`.
    pub hits: Arc<AtomicUsize>,
}

pub async fn doc_host() -> DocHost {
    let gate = Arc::new(Semaphore::new(0));
    let hits = Arc::new(AtomicUsize::new(0));
    let (g, h) = (gate.clone(), hits.clone());
    let app = Router::new()
        .route(
            "/nda.pdf",
            get(|| async { signet_esign::pdf::sample(2, "NDA") }),
        )
        .route(
            "/annex.pdf",
            get(|| async { signet_esign::pdf::sample(1, "Annex") }),
        )
        .route(
            "/terms.docx",
            get(|| async { signet_esign::pdf::sample_docx(&["Terms and conditions"]) }),
        )
        .route(
            "/offer.docx",
            get(|| async { signet_esign::pdf::sample_docx(&["Offer letter"]) }),
        )
        .route("/notes.txt", get(|| async { "just some text" }))
        .route(
            "/held.pdf",
            get(move || {
                let gate = g.clone();
                let hits = h.clone();
                async move {
                    hits.fetch_add(1, Ordering::SeqCst);
                    gate.acquire().await.unwrap().forget();
                    signet_esign::pdf::sample(1, "Held")
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    DocHost {
        base: format!("http://{addr}"),
        authority: addr.to_string(),
        gate,
        hits,
    }
}

/// A minimal SMTP server on loopback that keeps every message it is given:
/// its `smtp://` URL, and the messages as they arrive.
pub async fn smtp_sink() -> (String, mpsc::UnboundedReceiver<String>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let (socket, _) = listener.accept().await.unwrap();
            let tx = tx.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 sink ESMTP\r\n").await.unwrap();
                while let Ok(Some(line)) = lines.next_line().await {
                    let verb = line.to_ascii_uppercase();
                    if verb.starts_with("DATA") {
                        write.write_all(b"354 go ahead\r\n").await.unwrap();
                        let mut message = String::new();
                        while let Ok(Some(line)) = lines.next_line().await {
                            if line == "." {
                                break;
                            }
                            message.push_str(&line);
                            message.push('\n');
                        }
                        tx.send(message).unwrap();
                        write.write_all(b"250 queued\r\n").await.unwrap();
                    } else if verb.starts_with("QUIT") {
                        write.write_all(b"221 bye\r\n").await.unwrap();
                        break;
                    } else {
                        write.write_all(b"250 ok\r\n").await.unwrap();
                    }
                }
            });
        }
    });
    (format!("smtp://{addr}"), rx)
}

/// Quoted-printable soft breaks and escapes undone, enough to read links.
pub fn unfold_quoted_printable(text: &str) -> String {
    text.replace("=\n", "").replace("=3D", "=")
}

pub const CALLBACK_A: &str = super::oauth::CALLBACK;
pub const CALLBACK_B: &str = "http://localhost:8888/callback";

/// The client metadata host: documents by name, and a count of requests per path.
pub struct MetadataHost {
    pub base: String,
    /// `host:port`, for the fetch allow-list.
    pub authority: String,
    hits: Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>>,
    /// Requests for `/jwks.json`.
    pub jwks_hits: Arc<AtomicUsize>,
    /// The ChatGPT-like client's private key (PKCS#8).
    key: Arc<Vec<u8>>,
}

impl MetadataHost {
    /// The URL of a document (its client id).
    pub fn url(&self, name: &str) -> String {
        format!("{}/{name}", self.base)
    }

    /// How many requests `/name` has had.
    pub fn hits(&self, name: &str) -> usize {
        *self
            .hits
            .lock()
            .unwrap()
            .get(&format!("/{name}"))
            .unwrap_or(&0)
    }

    /// A client assertion signed with this host's key.
    pub fn assertion(
        &self,
        server: &Server,
        client_id: &str,
        jti: &str,
        audience: Option<&str>,
    ) -> String {
        let now = server.clock.now().as_secs();
        let mut header = Header::new(jsonwebtoken::Algorithm::EdDSA);
        header.kid = Some("chatgpt-1".into());
        let token_endpoint = format!("{}/oauth/token", server.running.state.issuer);
        let claims = json!({
            "iss": client_id, "sub": client_id,
            "aud": audience.unwrap_or(&token_endpoint),
            "jti": jti, "iat": now, "exp": now + 120,
        });
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_ed_der(&self.key)).unwrap()
    }
}

/// Serves a claude.ai-like document (`none`), a ChatGPT-like one
/// (`private_key_jwt` and `none`, keys at `/jwks.json`), one with inline
/// keys that insists on `private_key_jwt`, and documents that must be
/// refused; counts requests per path.
pub async fn metadata_host() -> MetadataHost {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let base = format!("http://{addr}");
    let pkcs8 = Ed25519KeyPair::generate_pkcs8v1(&SystemRandom::new()).unwrap();
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    let jwks = json!({ "keys": [{
        "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": "chatgpt-1",
        "x": BASE64URL_NOPAD.encode(pair.public_key().as_ref()),
    }]});
    let hits: Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>> = Arc::default();
    let jwks_hits = Arc::new(AtomicUsize::new(0));
    let documents: Vec<(&str, Value)> = vec![
        (
            "claude.json",
            json!({
                "client_id": format!("{base}/claude.json"),
                "client_name": "Claude",
                "client_uri": "https://claude.ai",
                "redirect_uris": [CALLBACK_A, CALLBACK_B],
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
                "token_endpoint_auth_method": "none",
            }),
        ),
        (
            "chatgpt.json",
            json!({
                "client_id": format!("{base}/chatgpt.json"),
                "client_name": "ChatGPT",
                "redirect_uris": [CALLBACK_A],
                "grant_types": ["authorization_code", "refresh_token"],
                "token_endpoint_auth_method": "private_key_jwt",
                "token_endpoint_auth_methods_supported": ["private_key_jwt", "none"],
                "token_endpoint_auth_signing_alg": "EdDSA",
                "jwks_uri": format!("{base}/jwks.json"),
            }),
        ),
        (
            "strict.json",
            json!({
                "client_id": format!("{base}/strict.json"),
                "client_name": "Strict",
                "redirect_uris": [CALLBACK_A],
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks": jwks,
            }),
        ),
        (
            "mismatch.json",
            json!({ "client_id": "https://elsewhere.example/client.json", "client_name": "X", "redirect_uris": [CALLBACK_A] }),
        ),
        (
            "secret.json",
            json!({ "client_id": format!("{base}/secret.json"), "client_name": "X", "redirect_uris": [CALLBACK_A], "token_endpoint_auth_method": "client_secret_basic" }),
        ),
        (
            "keyless.json",
            json!({ "client_id": format!("{base}/keyless.json"), "client_name": "X", "redirect_uris": [CALLBACK_A], "token_endpoint_auth_method": "private_key_jwt" }),
        ),
        (
            "evil-redirect.json",
            json!({ "client_id": format!("{base}/evil-redirect.json"), "client_name": "X", "redirect_uris": ["javascript:alert(1)"] }),
        ),
        (
            "big.json",
            json!({ "client_id": format!("{base}/big.json"), "client_name": "x".repeat(6000), "redirect_uris": [CALLBACK_A] }),
        ),
    ];
    let mut app = Router::new();
    for (name, document) in documents {
        let body = document.to_string();
        app = app.route(
            &format!("/{name}"),
            get(move || {
                let body = body.clone();
                async move {
                    (
                        [
                            (header::CONTENT_TYPE, "application/json"),
                            (header::CACHE_CONTROL, "max-age=60"),
                        ],
                        body,
                    )
                }
            }),
        );
    }
    let jwks_body = jwks.to_string();
    let counter = jwks_hits.clone();
    app = app
        .route(
            "/jwks.json",
            get(move || {
                counter.fetch_add(1, Ordering::SeqCst);
                let body = jwks_body.clone();
                async move { ([(header::CONTENT_TYPE, "application/json")], body) }
            }),
        )
        .route(
            "/redirect.json",
            get(|| async {
                (StatusCode::FOUND, [(header::LOCATION, "/claude.json")]).into_response()
            }),
        );
    let counts = hits.clone();
    let app = app.layer(axum::middleware::from_fn(
        move |request: axum::extract::Request, next: axum::middleware::Next| {
            let counts = counts.clone();
            async move {
                *counts
                    .lock()
                    .unwrap()
                    .entry(request.uri().path().to_owned())
                    .or_default() += 1;
                next.run(request).await
            }
        },
    ));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    MetadataHost {
        authority: addr.to_string(),
        base,
        hits,
        jwks_hits,
        key: Arc::new(pkcs8.as_ref().to_vec()),
    }
}

/// A server that may fetch from a [`metadata_host`], and Ada seeded:
/// `(server, host, Acme's id)`.
pub async fn server_with_metadata_host(db: TestDb) -> (Server, MetadataHost, String) {
    let host = metadata_host().await;
    let allow = host.authority.clone();
    let server = start_with(
        db,
        move |flags| flags.fetch_allow_hosts = Some(allow),
        Vec::new(),
    )
    .await;
    let (acme, _) = seed(&server).await;
    (server, host, acme)
}

/// A TCP proxy in front of PostgreSQL that the test can cut and restore.
pub struct Outage {
    pub addr: std::net::SocketAddr,
    upstream: String,
    tasks: JoinSet<()>,
}

impl Outage {
    pub async fn start(upstream: String) -> Self {
        let mut outage = Self {
            addr: "127.0.0.1:0".parse().unwrap(),
            upstream,
            tasks: JoinSet::new(),
        };
        outage.restore().await;
        outage
    }

    /// Listens again (on the same port after the first time) and forwards.
    pub async fn restore(&mut self) {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_reuseaddr(true).unwrap();
        socket.bind(self.addr).unwrap();
        let listener = socket.listen(64).unwrap();
        self.addr = listener.local_addr().unwrap();
        let upstream = self.upstream.clone();
        self.tasks.spawn(async move {
            let mut connections = JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                let upstream = upstream.clone();
                connections.spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
    }

    /// Stops listening and drops every open connection at once.
    pub fn cut(&mut self) {
        self.tasks.abort_all();
    }
}

/// A TCP proxy in front of PostgreSQL that delivers everything the server
/// sends `delay` late (in order): an instance behind it hears notifications
/// late, as one on a slow network or under load would.
pub struct Lag {
    pub addr: std::net::SocketAddr,
    _task: tokio::task::JoinHandle<()>,
}

impl Lag {
    pub async fn start(upstream: String, delay: std::time::Duration) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let Ok(outbound) = tokio::net::TcpStream::connect(upstream).await else {
                        return;
                    };
                    let (mut from_client, mut to_client) = inbound.into_split();
                    let (mut from_server, mut to_server) = outbound.into_split();
                    tokio::spawn(async move {
                        let _ = tokio::io::copy(&mut from_client, &mut to_server).await;
                    });
                    // Chunks are stamped when read and written once due.
                    let (chunks, mut due) =
                        mpsc::unbounded_channel::<(tokio::time::Instant, Vec<u8>)>();
                    tokio::spawn(async move {
                        let mut buf = vec![0u8; 64 * 1024];
                        loop {
                            match tokio::io::AsyncReadExt::read(&mut from_server, &mut buf).await {
                                Ok(0) | Err(_) => break,
                                Ok(n) => {
                                    let at = tokio::time::Instant::now() + delay;
                                    if chunks.send((at, buf[..n].to_vec())).is_err() {
                                        break;
                                    }
                                }
                            }
                        }
                    });
                    while let Some((at, chunk)) = due.recv().await {
                        tokio::time::sleep_until(at).await;
                        if to_client.write_all(&chunk).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        Self { addr, _task: task }
    }

    /// `url` with its host and port replaced by this proxy's.
    pub fn url(&self, url: &str) -> String {
        let mut proxied = url::Url::parse(url).unwrap();
        proxied.set_host(Some("127.0.0.1")).unwrap();
        proxied.set_port(Some(self.addr.port())).unwrap();
        proxied.to_string()
    }

    /// Where `url` points, as `host:port`.
    pub fn upstream_of(url: &str) -> String {
        let url = url::Url::parse(url).unwrap();
        format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432))
    }
}
