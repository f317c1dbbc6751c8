//! The one outbound HTTP fetcher of Signet, and its guard against server-side request
//! forgery (SSRF).
//!
//! Signet fetches documents (and later OAuth client metadata) from URLs that API callers
//! choose, so every request must be kept away from the server's own network: loopback,
//! private ranges, cloud metadata endpoints and the like.
//!
//! # Design
//!
//! * [`Fetcher::check_url`] is the synchronous part: only `https` (or `http` for
//!   allow-listed hosts), no credentials in the URL, and IP literals must be public.
//!   It runs on the first URL and again on every redirect target, which the fetcher
//!   follows itself (reqwest's own redirect handling is off) so the hop limit can be a
//!   per-call setting.
//! * Names are checked where they are resolved: the reqwest client gets a DNS resolver
//!   ([`reqwest::dns::Resolve`]) that resolves the name and refuses it unless every
//!   address is public (see [`is_public`]). reqwest then connects to exactly those
//!   addresses. Checking in the connector, rather than resolving once up front and then
//!   handing the URL to the client, leaves no gap between check and connect in which a
//!   second DNS answer could swap in a private address (DNS rebinding). reqwest does not
//!   call the resolver for IP-literal hosts, which is why `check_url` judges those.
//! * Allow-listed hosts (`SIGNET_FETCH_ALLOW_HOSTS`, for tests and private deployments)
//!   skip the address check and may use `http`.
//! * Each call has [`Limits`]: a byte cap enforced while reading (not only from
//!   `Content-Length`), a deadline for the whole exchange, and a redirect budget.
//! * No proxies, no cookies, no `Referer`, a fixed `User-Agent`. Only `200` succeeds.
//!
//! URLs are never logged (their query strings may carry tokens); at debug level only
//! the host is.

mod allow;
mod ip;
mod resolve;

use std::error::Error as _;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap, HeaderName};
use url::{Host, Url};

pub use allow::AllowedHost;
pub use ip::is_public;
pub use resolve::{BoxFuture, NameResolver, SystemResolver};

use resolve::GuardedResolver;

/// Sent with every request, so that operators of fetched servers can tell who we are.
pub const USER_AGENT: &str = concat!("Signet/", env!("CARGO_PKG_VERSION"), " (+fetcher)");

/// Upper bound for establishing a TCP/TLS connection; the per-call deadline still applies.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Per-call bounds: what one fetch may cost at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted body, in bytes.
    pub max_bytes: usize,
    /// Deadline for the whole exchange: resolution, connection, every hop and the body.
    pub timeout: Duration,
    /// Redirects to follow; `0` makes any redirect an error ([`FetchError::Redirected`]).
    pub max_redirects: usize,
}

impl Limits {
    /// Envelope documents fetched by URL: 10 MiB, 30 s, up to 3 redirects.
    pub const DOCUMENT: Limits = Limits {
        max_bytes: 10 * 1024 * 1024,
        timeout: Duration::from_secs(30),
        max_redirects: 3,
    };

    /// OAuth Client ID Metadata Documents: 5 KiB, 5 s, no redirects (the document's URL
    /// is the client's identity, so it must be served from exactly that URL).
    pub const METADATA_DOCUMENT: Limits = Limits {
        max_bytes: 5 * 1024,
        timeout: Duration::from_secs(5),
        max_redirects: 0,
    };

    /// RFC 3161 timestamp replies: 64 KiB, 15 s, no redirects (a POST is
    /// never replayed elsewhere).
    pub const TIMESTAMP: Limits = Limits {
        max_bytes: 64 * 1024,
        timeout: Duration::from_secs(15),
        max_redirects: 0,
    };
}

/// A successfully fetched body and the headers callers need for typing and caching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The URL the body came from, after redirects.
    pub url: Url,
    /// `Content-Type`, if present and valid text.
    pub content_type: Option<String>,
    /// `Cache-Control`, if present and valid text.
    pub cache_control: Option<String>,
    /// `Expires`, if present and valid text.
    pub expires: Option<String>,
    /// `Age`, if present and valid text.
    pub age: Option<String>,
    /// The body, at most [`Limits::max_bytes`] long.
    pub bytes: Vec<u8>,
}

/// Why a fetch was refused or failed. The messages are meant to be shown to API callers:
/// they name at most the host, never the full URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The URL could not be parsed or has a forbidden shape.
    #[error("The URL is not valid: {0}")]
    InvalidUrl(String),
    /// Not `https` (and the host is not allow-listed), or not HTTP at all.
    #[error("The URL must use https")]
    SchemeNotAllowed,
    /// The host is, or resolves to, at least one non-public address.
    #[error("The host {host} is or resolves to a private, loopback or otherwise reserved address")]
    ForbiddenAddress {
        /// The host as written in the URL.
        host: String,
    },
    /// The host is allow-listed, but only on other ports.
    #[error("Port {port} is not allowed for the host {host}")]
    PortNotAllowed {
        /// The host as written in the URL.
        host: String,
        /// The port the URL asked for.
        port: u16,
    },
    /// Name resolution failed or returned nothing.
    #[error("The host {host} could not be resolved")]
    NoAddress {
        /// The host as written in the URL.
        host: String,
    },
    /// The server answered with a redirect although this fetch follows none.
    #[error("The server answered with a redirect, which is not allowed here")]
    Redirected,
    /// More redirects than the call allows.
    #[error("The server redirected more than {limit} times")]
    TooManyRedirects {
        /// The call's redirect budget.
        limit: usize,
    },
    /// The body (or its announced length) exceeds the call's cap.
    #[error("The document is larger than the {limit}-byte limit")]
    TooLarge {
        /// The call's byte cap.
        limit: usize,
    },
    /// The exchange did not finish within the call's deadline.
    #[error("The server did not deliver the document within {limit:?}")]
    Timeout {
        /// The call's deadline.
        limit: Duration,
    },
    /// The final answer was not `200 OK`.
    #[error("The server answered with HTTP status {0}")]
    Status(u16),
    /// Connection, TLS or protocol failure.
    #[error("The transfer failed: {0}")]
    Transfer(String),
    /// The HTTP client could not be built (e.g. no TLS trust roots); a server setup problem.
    #[error("The HTTP client could not be set up: {0}")]
    Setup(String),
}

/// The outbound fetcher. Build it once and clone it freely (it shares one connection pool).
#[derive(Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    allow: Arc<[AllowedHost]>,
}

impl fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fetcher")
            .field("allow", &self.allow)
            .finish_non_exhaustive()
    }
}

impl Fetcher {
    /// A fetcher using the system resolver.
    pub fn new(allow: Vec<AllowedHost>) -> Result<Self, FetchError> {
        Self::with_resolver(allow, Arc::new(SystemResolver))
    }

    /// A fetcher resolving names with `resolver` (its answers are still filtered).
    pub fn with_resolver(
        allow: Vec<AllowedHost>,
        resolver: Arc<dyn NameResolver>,
    ) -> Result<Self, FetchError> {
        let allow: Arc<[AllowedHost]> = allow.into();
        let guarded = GuardedResolver {
            inner: resolver,
            allow: Arc::clone(&allow),
        };
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .referer(false)
            .user_agent(USER_AGENT)
            .connect_timeout(CONNECT_TIMEOUT)
            .dns_resolver(Arc::new(guarded))
            .build()
            .map_err(|err| FetchError::Setup(error_chain(&err)))?;
        Ok(Fetcher { client, allow })
    }

    /// The allow-list this fetcher was built with.
    pub fn allow_list(&self) -> &[AllowedHost] {
        &self.allow
    }

    /// Checks what can be checked without the network (scheme, credentials, IP literals,
    /// allow-list ports), so callers can reject bad input up front. Names are checked
    /// again, against their resolved addresses, when fetching.
    pub fn check_url(&self, url: &str) -> Result<Url, FetchError> {
        let url = Url::parse(url).map_err(|err| FetchError::InvalidUrl(err.to_string()))?;
        self.check_parsed(&url)?;
        Ok(url)
    }

    fn check_parsed(&self, url: &Url) -> Result<(), FetchError> {
        let scheme = url.scheme();
        if scheme != "https" && scheme != "http" {
            return Err(FetchError::SchemeNotAllowed);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(FetchError::InvalidUrl(
                "it must not contain a user name or password".to_owned(),
            ));
        }
        let (Some(host), Some(port)) = (url.host(), url.port_or_known_default()) else {
            return Err(FetchError::InvalidUrl("it has no host".to_owned()));
        };
        let host_text = || url.host_str().unwrap_or_default().to_owned();

        // A named host is allowed on its listed ports only. Refusing other ports here
        // matters because the resolver, which only sees the name, lets listed names
        // through to private addresses.
        let mut listed = self.allow.iter().filter(|e| e.names(&host)).peekable();
        if listed.peek().is_some() {
            return if listed.any(|e| e.allows_port(port)) {
                Ok(())
            } else {
                Err(FetchError::PortNotAllowed {
                    host: host_text(),
                    port,
                })
            };
        }

        if scheme != "https" {
            return Err(FetchError::SchemeNotAllowed);
        }
        let literal = match host {
            Host::Ipv4(ip) => Some(ip.into()),
            Host::Ipv6(ip) => Some(ip.into()),
            Host::Domain(_) => None,
        };
        if literal.is_some_and(|ip| !is_public(ip)) {
            return Err(FetchError::ForbiddenAddress { host: host_text() });
        }
        Ok(())
    }

    /// Fetches `url` with a GET within `limits`, following redirects (each one checked
    /// like the first URL) up to `limits.max_redirects`. Only a `200` answer succeeds.
    pub async fn fetch(&self, url: &str, limits: Limits) -> Result<Fetched, FetchError> {
        let url = self.check_url(url)?;
        tokio::time::timeout(limits.timeout, self.fetch_checked(url, limits, None))
            .await
            .map_err(|_| FetchError::Timeout {
                limit: limits.timeout,
            })?
    }

    /// Posts `body` (of type `content_type`) to `url` within `limits`, with
    /// the same address checks as [`Fetcher::fetch`]; a redirect is an
    /// error whatever the limits say. Only a `200` answer succeeds.
    pub async fn post(
        &self,
        url: &str,
        content_type: &'static str,
        body: Vec<u8>,
        limits: Limits,
    ) -> Result<Fetched, FetchError> {
        let url = self.check_url(url)?;
        let limits = Limits {
            max_redirects: 0,
            ..limits
        };
        tokio::time::timeout(
            limits.timeout,
            self.fetch_checked(url, limits, Some((content_type, body))),
        )
        .await
        .map_err(|_| FetchError::Timeout {
            limit: limits.timeout,
        })?
    }

    async fn fetch_checked(
        &self,
        url: Url,
        limits: Limits,
        body: Option<(&'static str, Vec<u8>)>,
    ) -> Result<Fetched, FetchError> {
        let mut current = url;
        let mut hops = 0;
        loop {
            let host = current.host_str().unwrap_or_default().to_owned();
            tracing::debug!(host, hop = hops, "fetching");
            let request = match &body {
                Some((content_type, bytes)) => self
                    .client
                    .post(current.clone())
                    .header(header::CONTENT_TYPE, *content_type)
                    .body(bytes.clone()),
                None => self.client.get(current.clone()),
            };
            let mut response = request
                .send()
                .await
                .map_err(|err| transfer_error(&err, &host, limits))?;
            let status = response.status();

            if is_redirect(status) {
                if limits.max_redirects == 0 {
                    return Err(FetchError::Redirected);
                }
                if hops >= limits.max_redirects {
                    return Err(FetchError::TooManyRedirects {
                        limit: limits.max_redirects,
                    });
                }
                let Some(location) = header_text(response.headers(), header::LOCATION) else {
                    return Err(FetchError::Status(status.as_u16()));
                };
                let next = current.join(&location).map_err(|_| {
                    FetchError::InvalidUrl("the redirect target is not a valid URL".to_owned())
                })?;
                self.check_parsed(&next)?;
                current = next;
                hops += 1;
                continue;
            }
            if status != StatusCode::OK {
                return Err(FetchError::Status(status.as_u16()));
            }

            let too_large = FetchError::TooLarge {
                limit: limits.max_bytes,
            };
            let announced = response.content_length();
            if announced.is_some_and(|len| len > limits.max_bytes as u64) {
                return Err(too_large);
            }
            let headers = response.headers();
            let mut fetched = Fetched {
                url: current,
                content_type: header_text(headers, header::CONTENT_TYPE),
                cache_control: header_text(headers, header::CACHE_CONTROL),
                expires: header_text(headers, header::EXPIRES),
                age: header_text(headers, header::AGE),
                bytes: Vec::with_capacity(announced.map_or(0, |len| len as usize)),
            };
            // Counted while reading: Content-Length may be absent (chunked, or close-
            // delimited) and the cap must hold regardless.
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|err| transfer_error(&err, &host, limits))?
            {
                if fetched.bytes.len() + chunk.len() > limits.max_bytes {
                    return Err(too_large);
                }
                fetched.bytes.extend_from_slice(&chunk);
            }
            return Ok(fetched);
        }
    }
}

fn is_redirect(status: StatusCode) -> bool {
    matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308)
}

fn header_text(headers: &HeaderMap, name: HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Maps a reqwest error to a [`FetchError`] without ever including the URL
/// (reqwest's own `Display` would print it, query string and all).
fn transfer_error(err: &reqwest::Error, host: &str, limits: Limits) -> FetchError {
    // Refusals raised by our resolver travel through reqwest as a source.
    let mut source = err.source();
    while let Some(cause) = source {
        if let Some(refusal) = cause.downcast_ref::<FetchError>() {
            return refusal.clone();
        }
        source = cause.source();
    }
    if err.is_timeout() {
        return FetchError::Timeout {
            limit: limits.timeout,
        };
    }
    let detail = error_chain(err);
    tracing::debug!(host, error = %detail, "transfer failed");
    let what = if err.is_connect() {
        format!("could not connect to {host}")
    } else if err.is_body() || err.is_decode() {
        format!("the connection to {host} broke while reading the document")
    } else {
        format!("the request to {host} failed")
    };
    match root_cause(err) {
        Some(cause) => FetchError::Transfer(format!("{what} ({cause})")),
        None => FetchError::Transfer(what),
    }
}

/// The innermost cause's message; never the reqwest error itself, which shows the URL.
fn root_cause(err: &reqwest::Error) -> Option<String> {
    let mut cause = err.source()?;
    while let Some(next) = cause.source() {
        cause = next;
    }
    Some(cause.to_string())
}

/// All sources' messages, for debug logs (the outer reqwest message and URL left out).
fn error_chain(err: &reqwest::Error) -> String {
    let mut parts = Vec::new();
    let mut source = err.source();
    while let Some(cause) = source {
        parts.push(cause.to_string());
        source = cause.source();
    }
    if parts.is_empty() {
        "unknown error".to_owned()
    } else {
        parts.join(": ")
    }
}

#[cfg(test)]
mod tests;
