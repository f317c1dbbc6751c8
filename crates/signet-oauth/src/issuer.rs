use std::fmt;
use std::net::{IpAddr, SocketAddr};

use thiserror::Error;
use url::Url;

/// The public URL of this Signet (`P`): scheme, host and port, no trailing
/// slash. It is normalised once, here, and every document, redirect and
/// token uses these exact bytes — a stray `/` breaks issuer matching in
/// clients.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issuer(String);

#[derive(Debug, Error, PartialEq, Eq)]
pub enum IssuerError {
    #[error("is not a URL ({0})")]
    Unparsable(String),
    #[error("must use http or https, not {0:?}")]
    Scheme(String),
    #[error("must not have a path, query or fragment (Signet serves from the root of its host)")]
    HasPath,
    #[error("must not contain a user name or password")]
    HasCredentials,
    #[error("must name a host")]
    NoHost,
}

impl Issuer {
    pub fn parse(raw: &str) -> Result<Self, IssuerError> {
        let url = Url::parse(raw.trim()).map_err(|e| IssuerError::Unparsable(e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(IssuerError::Scheme(url.scheme().to_owned()));
        }
        if url.host().is_none() {
            return Err(IssuerError::NoHost);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(IssuerError::HasCredentials);
        }
        if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
            return Err(IssuerError::HasPath);
        }
        // The origin's serialisation is `scheme://host[:port]`: lower-cased
        // host, default port dropped, never a trailing slash.
        Ok(Self(url.origin().ascii_serialization()))
    }

    /// `http://` plus the address a server is bound to: the public URL when
    /// none is configured. A wildcard address becomes `localhost`, the one
    /// name a local browser is sure to reach it by.
    pub fn for_listen_address(addr: SocketAddr) -> Self {
        let host = match addr.ip() {
            ip if ip.is_unspecified() => "localhost".to_owned(),
            IpAddr::V4(ip) => ip.to_string(),
            IpAddr::V6(ip) => format!("[{ip}]"),
        };
        match addr.port() {
            80 => Self(format!("http://{host}")),
            port => Self(format!("http://{host}:{port}")),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `P` followed by an absolute path, e.g. `issuer.join("/mcp")`.
    pub fn join(&self, path: &str) -> String {
        format!("{}{path}", self.0)
    }

    /// The protected resource: `P/mcp`.
    pub fn resource(&self) -> String {
        self.join("/mcp")
    }

    pub fn is_https(&self) -> bool {
        self.0.starts_with("https://")
    }
}

impl fmt::Display for Issuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_to_an_origin() {
        for (raw, expected) in [
            ("https://signet.example.com", "https://signet.example.com"),
            ("https://signet.example.com/", "https://signet.example.com"),
            (
                "HTTPS://Signet.Example.COM:443/",
                "https://signet.example.com",
            ),
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("http://[::1]:8080/", "http://[::1]:8080"),
            (" http://localhost:80 ", "http://localhost"),
        ] {
            assert_eq!(Issuer::parse(raw).unwrap().as_str(), expected, "{raw}");
        }
        let p = Issuer::parse("https://s.example/").unwrap();
        assert_eq!(p.resource(), "https://s.example/mcp");
        assert_eq!(p.join("/oauth/token"), "https://s.example/oauth/token");
        assert!(p.is_https());
    }

    #[test]
    fn derives_from_a_listen_address_in_normal_form() {
        for (addr, expected) in [
            ("127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("127.0.0.1:80", "http://127.0.0.1"),
            ("0.0.0.0:9000", "http://localhost:9000"),
            ("[::]:9000", "http://localhost:9000"),
            ("[::1]:9000", "http://[::1]:9000"),
        ] {
            let derived = Issuer::for_listen_address(addr.parse().unwrap());
            assert_eq!(derived.as_str(), expected);
            assert_eq!(Issuer::parse(expected).unwrap(), derived, "already normal");
        }
    }

    #[test]
    fn refuses_what_is_not_an_origin() {
        assert_eq!(
            Issuer::parse("ftp://x.example"),
            Err(IssuerError::Scheme("ftp".into()))
        );
        assert_eq!(
            Issuer::parse("https://x.example/signet"),
            Err(IssuerError::HasPath)
        );
        assert_eq!(
            Issuer::parse("https://x.example/?a=b"),
            Err(IssuerError::HasPath)
        );
        assert_eq!(
            Issuer::parse("https://x.example/#f"),
            Err(IssuerError::HasPath)
        );
        assert_eq!(
            Issuer::parse("https://u:p@x.example"),
            Err(IssuerError::HasCredentials)
        );
        assert!(matches!(
            Issuer::parse("x.example"),
            Err(IssuerError::Unparsable(_))
        ));
    }
}
