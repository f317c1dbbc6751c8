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

/// DNS-rebinding protection and RFC 9112 §3.2: the request names this
/// server, once. An absolute-form target (or HTTP/2's `:authority`) is what
/// names the server when present (§3.2.2), so it is checked like `Host`;
/// `Host` is checked as well. Every `Origin` must be ours. Gives the
/// refusal, if any.
pub(super) fn check_target(
    issuer: &str,
    allowed_origins: &[String],
    parts: &Parts,
) -> Option<Response> {
    let allowed = |origin: &str| origin == issuer || allowed_origins.iter().any(|o| o == origin);
    let scheme = if issuer.starts_with("https://") {
        "https"
    } else {
        "http"
    };
    let ours = |authority: &str| authority_origin(scheme, authority).is_some_and(|o| allowed(&o));
    let mut hosts = parts.headers.get_all(header::HOST).iter();
    let host = hosts.next();
    if hosts.next().is_some() {
        return Some(bad_request("A request has exactly one Host header"));
    }
    if let Some(authority) = parts.uri.authority()
        && !ours(authority.as_str())
    {
        return Some(forbidden("The request target does not name this server"));
    }
    match host {
        Some(value) => match value.to_str() {
            Ok(value) if ours(value) => {}
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
        if !origin
            .to_str()
            .ok()
            .and_then(origin_of)
            .is_some_and(|o| allowed(&o))
        {
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
