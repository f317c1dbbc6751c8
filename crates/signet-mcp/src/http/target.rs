//! Whether a request names this server: `Host` (exactly one), an
//! absolute-form target and every `Origin`, checked before the bearer
//! guard so that a DNS-rebound page learns nothing. Kept apart because
//! these are HTTP framing rules, not MCP ones.

use axum::http::request::Parts;
use axum::http::{StatusCode, Version, header};
use axum::response::Response;
use signet_http::json_error;
use url::Url;

fn forbidden(message: &str) -> Response {
    json_error(StatusCode::FORBIDDEN, "forbidden", message)
}

fn bad_request(message: &str) -> Response {
    json_error(StatusCode::BAD_REQUEST, "invalid_request", message)
}

/// `scheme://host[:port]` of a URL or origin string, normalised.
fn origin_of(text: &str) -> Option<String> {
    Url::parse(text)
        .ok()
        .map(|u| u.origin().ascii_serialization())
        .filter(|o| o != "null")
}

/// The origin a `Host` value or a request target's authority names, read
/// with `scheme`. Only a plain `host[:port]` names one: userinfo, a path or
/// anything a URL parser would reinterpret does not.
fn authority_origin(scheme: &str, authority: &str) -> Option<String> {
    let plain = !authority.is_empty()
        && authority
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'@' | b'/' | b'?' | b'#' | b'\\'));
    plain
        .then(|| origin_of(&format!("{scheme}://{authority}")))
        .flatten()
}

/// The names of this server, worked out once from the public URL and the
/// allow-list, so that a request naming it the way clients do (the same
/// `host:port`, the same origin, in any letter case) is recognised by
/// comparing strings; only a value that differs is normalised through a
/// URL parser before it is refused or let in.
#[derive(Debug)]
pub(super) struct Names {
    scheme: &'static str,
    /// The public URL's origin, then the allowed origins.
    origins: Vec<String>,
    /// Authorities (`host:port`, and `host` alone for the scheme's default
    /// port) that name one of `origins` with this scheme.
    authorities: Vec<String>,
}

impl Names {
    pub(super) fn new(issuer: &str, allowed_origins: &[String]) -> Self {
        let scheme = if issuer.starts_with("https://") {
            "https"
        } else {
            "http"
        };
        let origins: Vec<String> = std::iter::once(issuer.to_owned())
            .chain(allowed_origins.iter().cloned())
            .collect();
        let mut authorities = Vec::new();
        for origin in &origins {
            let Ok(url) = Url::parse(origin) else {
                continue;
            };
            let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
                continue;
            };
            if url.scheme() != scheme {
                continue;
            }
            authorities.push(format!("{host}:{port}"));
            if url.port().is_none() {
                authorities.push(host.to_owned());
            }
        }
        Self {
            scheme,
            origins,
            authorities,
        }
    }

    fn allowed(&self, origin: &str) -> bool {
        self.origins.iter().any(|o| o == origin)
    }

    /// Whether a `Host` value or a target's authority names this server.
    fn names_us(&self, authority: &str) -> bool {
        self.authorities
            .iter()
            .any(|a| a.eq_ignore_ascii_case(authority))
            || authority_origin(self.scheme, authority).is_some_and(|o| self.allowed(&o))
    }

    /// Whether an `Origin` value is one we allow.
    fn allows_origin(&self, origin: &str) -> bool {
        self.origins.iter().any(|o| o.eq_ignore_ascii_case(origin))
            || origin_of(origin).is_some_and(|o| self.allowed(&o))
    }
}

/// DNS-rebinding protection and RFC 9112 §3.2: the request names this
/// server, once. An absolute-form target (or HTTP/2's `:authority`) is what
/// names the server when present (§3.2.2), so it is checked like `Host`;
/// `Host` is checked as well. Every `Origin` must be ours. Gives the
/// refusal, if any.
pub(super) fn check_target(names: &Names, parts: &Parts) -> Option<Response> {
    let mut hosts = parts.headers.get_all(header::HOST).iter();
    let host = hosts.next();
    if hosts.next().is_some() {
        return Some(bad_request("A request has exactly one Host header"));
    }
    if let Some(authority) = parts.uri.authority()
        && !names.names_us(authority.as_str())
    {
        return Some(forbidden("The request target does not name this server"));
    }
    match host {
        Some(value) => match value.to_str() {
            Ok(value) if names.names_us(value) => {}
            Ok(_) => return Some(forbidden("The Host header does not name this server")),
            Err(_) => return Some(bad_request("The Host header is not a valid host")),
        },
        None if parts.version == Version::HTTP_11 => {
            return Some(bad_request("A request has exactly one Host header"));
        }
        None => {}
    }
    // A value that is not visible ASCII is not an origin we allow.
    for origin in parts.headers.get_all(header::ORIGIN) {
        if !origin.to_str().is_ok_and(|o| names.allows_origin(o)) {
            return Some(forbidden("Requests from this origin are not allowed"));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    #[test]
    fn origins_are_normalised() {
        assert_eq!(
            super::origin_of("HTTP://LocalHost:80").as_deref(),
            Some("http://localhost")
        );
        assert_eq!(
            super::origin_of("https://a.example:443/x").as_deref(),
            Some("https://a.example")
        );
        assert_eq!(super::origin_of("null"), None);
        assert_eq!(super::origin_of("not a url"), None);
    }

    #[test]
    fn names_are_recognised_as_clients_write_them() {
        let names = super::Names::new(
            "https://signet.example",
            &["http://localhost:6274".to_owned()],
        );
        for ours in [
            "signet.example",
            "SIGNET.example",
            "signet.example:443",
            "signet.example:0443",
        ] {
            assert!(names.names_us(ours), "{ours}");
        }
        // The allowed origin is another scheme: it names no Host of ours.
        for not_ours in [
            "localhost:6274",
            "signet.example:80",
            "evil@signet.example",
            "",
        ] {
            assert!(!names.names_us(not_ours), "{not_ours}");
        }
        for ours in [
            "https://signet.example",
            "HTTPS://Signet.Example",
            "https://signet.example:443",
            "http://localhost:6274",
        ] {
            assert!(names.allows_origin(ours), "{ours}");
        }
        for not_ours in [
            "null",
            "https://signet.example.evil",
            "http://localhost:6275",
        ] {
            assert!(!names.allows_origin(not_ours), "{not_ours}");
        }
    }

    #[test]
    fn only_plain_authorities_name_an_origin() {
        use super::authority_origin;
        assert_eq!(
            authority_origin("http", "Example.com:80").as_deref(),
            Some("http://example.com")
        );
        assert_eq!(
            authority_origin("https", "[::1]:8443").as_deref(),
            Some("https://[::1]:8443")
        );
        for bad in [
            "",
            "evil@ours.example",
            "ours.example/x",
            "ours.example?",
            "ours.example#",
            "evil\\ours.example",
            "ours example",
            "ours.example:99999",
        ] {
            assert_eq!(authority_origin("http", bad), None, "{bad}");
        }
    }
}
