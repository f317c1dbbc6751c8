//! Name resolution with the public-address filter applied before any connection.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::Host;

use crate::{AllowedHost, FetchError, is_public};

/// A boxed, sendable future (enough for one async trait method without extra crates).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Turns a host name into IP addresses. The fetcher filters what this returns, so an
/// implementation need not (and should not) do any policy itself.
///
/// The default is [`SystemResolver`]; tests inject their own to map names to chosen
/// addresses without touching DNS.
pub trait NameResolver: Send + Sync {
    /// Resolves `host` (a domain name, never an IP literal in practice).
    fn resolve<'a>(&'a self, host: &'a str) -> BoxFuture<'a, io::Result<Vec<IpAddr>>>;
}

/// The operating system's resolver (`getaddrinfo`, via `tokio::net::lookup_host`).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

impl NameResolver for SystemResolver {
    fn resolve<'a>(&'a self, host: &'a str) -> BoxFuture<'a, io::Result<Vec<IpAddr>>> {
        Box::pin(async move {
            let addrs = tokio::net::lookup_host((host, 0)).await?;
            Ok(addrs.map(|a| a.ip()).collect())
        })
    }
}

/// The resolver handed to reqwest: resolves, then refuses the name unless every
/// address is public (or the name is allow-listed).
///
/// Because reqwest connects to exactly the addresses returned here, there is no window
/// between check and connect in which a second DNS answer could substitute a private
/// address (DNS rebinding).
pub(crate) struct GuardedResolver {
    pub(crate) inner: Arc<dyn NameResolver>,
    pub(crate) allow: Arc<[AllowedHost]>,
}

impl fmt::Debug for GuardedResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuardedResolver")
            .field("allow", &self.allow)
            .finish_non_exhaustive()
    }
}

impl GuardedResolver {
    /// The checked addresses for `host`, or the error to report.
    ///
    /// If ANY address is not public the whole name is refused rather than the bad
    /// addresses dropped: a name that mixes public and private answers is a DNS
    /// rebinding attempt or a misconfiguration, and neither should be fetched from.
    pub(crate) async fn checked(&self, host: &str) -> Result<Vec<IpAddr>, FetchError> {
        let addrs = self.inner.resolve(host).await.map_err(|err| {
            tracing::debug!(host, error = %err, "name resolution failed");
            FetchError::NoAddress {
                host: host.to_owned(),
            }
        })?;
        if addrs.is_empty() {
            return Err(FetchError::NoAddress {
                host: host.to_owned(),
            });
        }
        // Only the name is known here, not the port; the port rule of `host:port`
        // entries is enforced by the URL check, which runs for every hop.
        let listed = Host::parse(host).is_ok_and(|parsed| {
            let parsed = match &parsed {
                Host::Domain(d) => Host::Domain(d.as_str()),
                Host::Ipv4(a) => Host::Ipv4(*a),
                Host::Ipv6(a) => Host::Ipv6(*a),
            };
            self.allow.iter().any(|entry| entry.names(&parsed))
        });
        if !listed && !addrs.iter().all(|ip| is_public(*ip)) {
            tracing::debug!(host, "refused: resolves to a non-public address");
            return Err(FetchError::ForbiddenAddress {
                host: host.to_owned(),
            });
        }
        Ok(addrs)
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let this = GuardedResolver {
            inner: Arc::clone(&self.inner),
            allow: Arc::clone(&self.allow),
        };
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = this.checked(&host).await?;
            // Port 0 is replaced by reqwest with the URL's port.
            let addrs: Addrs = Box::new(addrs.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}
