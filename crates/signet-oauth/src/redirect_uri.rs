//! Redirect URIs: one rule at registration and at authorization (DESIGN §5).
//! https anywhere; http only on loopback; private-use schemes (`cursor://…`)
//! allowed; script-capable and local schemes, fragments and wildcards never.
//! Matching is exact, except that a loopback redirect matches on any port
//! (native apps pick a free port at run time, RFC 8252 §7.3).

use std::net::IpAddr;

use url::{Host, Url};

/// Longest redirect URI accepted, in bytes.
pub const MAX_LEN: usize = 2048;
/// Most redirect URIs one client may register.
pub const MAX_COUNT: usize = 10;

const FORBIDDEN_SCHEMES: [&str; 7] = [
    "javascript",
    "data",
    "file",
    "vbscript",
    "about",
    "blob",
    "filesystem",
];

/// Why a redirect URI is refused; the text completes "redirect URI … ".
pub fn check(uri: &str) -> Result<Url, String> {
    if uri.len() > MAX_LEN {
        return Err(format!("is longer than {MAX_LEN} bytes"));
    }
    if uri.contains('*') {
        return Err("contains a wildcard".to_owned());
    }
    if uri.contains('#') {
        return Err("contains a fragment".to_owned());
    }
    let url = Url::parse(uri).map_err(|e| format!("is not an absolute URI ({e})"))?;
    let scheme = url.scheme();
    if FORBIDDEN_SCHEMES.contains(&scheme) {
        return Err(format!("uses the forbidden scheme {scheme}:"));
    }
    match scheme {
        "https" if url.host().is_none() => {
            return Err("has no host".to_owned());
        }
        "http" if !is_loopback(&url) => {
            return Err("uses http on a host that is not loopback (use https)".to_owned());
        }
        "ws" | "wss" | "ftp" => return Err(format!("uses the unsupported scheme {scheme}:")),
        _ => {} // a private-use scheme of a native app
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("contains credentials".to_owned());
    }
    Ok(url)
}

/// `127.0.0.0/8`, `[::1]` or `localhost`.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// Whether a redirect URI in an authorization request matches a registered
/// one: byte for byte, or, for http loopback redirects, equal in everything
/// but the port.
pub fn matches(registered: &str, requested: &str) -> bool {
    if registered == requested {
        return true;
    }
    let (Ok(mut registered), Ok(mut requested)) = (Url::parse(registered), Url::parse(requested))
    else {
        return false;
    };
    if registered.scheme() != "http" || !is_loopback(&registered) || !is_loopback(&requested) {
        return false;
    }
    // Only the port may differ: compare with both ports cleared.
    if registered.set_port(None).is_err() || requested.set_port(None).is_err() {
        return false;
    }
    registered == requested
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_real_clients_register() {
        for uri in [
            "https://claude.ai/api/mcp/auth_callback",
            "https://chatgpt.com/connector/oauth/abc123",
            "http://localhost:6274/oauth/callback",
            "http://127.0.0.1:33418/",
            "http://[::1]:8080/cb",
            "http://127.5.6.7/cb",
            "cursor://anysphere.cursor-retrieval/oauth/user-abc/callback",
            "vscode://vscode.github-authentication/did-authenticate",
            "com.example.app:/oauth2redirect",
        ] {
            assert!(check(uri).is_ok(), "{uri}: {:?}", check(uri));
        }
    }

    #[test]
    fn refuses_the_dangerous_ones() {
        for (uri, reason) in [
            ("javascript:alert(1)", "forbidden scheme"),
            ("JavaScript:alert(1)", "forbidden scheme"),
            ("data:text/html,hi", "forbidden scheme"),
            ("file:///etc/passwd", "forbidden scheme"),
            ("vbscript:msgbox", "forbidden scheme"),
            ("http://example.com/cb", "not loopback"),
            ("http://localhost.evil.com/cb", "not loopback"),
            ("https://example.com/cb#frag", "fragment"),
            ("https://*.example.com/cb", "wildcard"),
            ("https://user:pw@example.com/cb", "credentials"),
            ("/relative/cb", "not an absolute URI"),
        ] {
            let err = check(uri).unwrap_err();
            assert!(err.contains(reason), "{uri}: {err}");
        }
        assert!(check(&format!("https://e.com/{}", "a".repeat(2048))).is_err());
    }

    #[test]
    fn loopback_redirects_match_on_any_port_and_nothing_else_does() {
        assert!(matches(
            "http://127.0.0.1:33418/",
            "http://127.0.0.1:50123/"
        ));
        assert!(matches(
            "http://localhost/callback",
            "http://localhost:4000/callback"
        ));
        assert!(matches("http://[::1]:1/cb", "http://[::1]:2/cb"));
        assert!(!matches(
            "http://127.0.0.1:33418/",
            "http://127.0.0.1:33418/other"
        ));
        assert!(!matches("http://127.0.0.1:1/cb", "http://localhost:1/cb"));
        assert!(!matches(
            "http://127.0.0.1:1/cb",
            "http://127.0.0.1:1/cb?x=1"
        ));
        assert!(!matches(
            "https://claude.ai/cb",
            "https://claude.ai:8443/cb"
        ));
        assert!(!matches("https://claude.ai/cb", "https://claude.ai/cb/"));
        assert!(matches("cursor://a/cb", "cursor://a/cb"));
        assert!(!matches("cursor://a/cb", "cursor://a/cb2"));
    }
}
