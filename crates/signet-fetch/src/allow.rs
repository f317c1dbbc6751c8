//! The allow-list of hosts that skip the public-address and https rules.

use std::fmt;
use std::str::FromStr;

use url::Host;

/// One allow-list entry: `host` (any port) or `host:port` (that port only).
///
/// Meant for tests and private deployments (e.g. a document store on the LAN).
/// Hosts are compared case-insensitively; IP literals are compared as parsed
/// addresses, so `127.0.0.1`, `2130706433` and `0x7f.1` are the same entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    host: Host<String>,
    port: Option<u16>,
}

impl AllowedHost {
    /// Parses a comma-separated list such as the `SIGNET_FETCH_ALLOW_HOSTS` setting
    /// (`docs.internal, 127.0.0.1:8080, [::1]:8443`). Blank items are ignored.
    pub fn parse_list(list: &str) -> Result<Vec<AllowedHost>, String> {
        list.split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(str::parse)
            .collect()
    }

    /// Whether this entry names `host`, whatever the port.
    pub(crate) fn names(&self, host: &Host<&str>) -> bool {
        match (&self.host, host) {
            (Host::Domain(a), Host::Domain(b)) => a.eq_ignore_ascii_case(b),
            (Host::Ipv4(a), Host::Ipv4(b)) => a == b,
            (Host::Ipv6(a), Host::Ipv6(b)) => a == b,
            _ => false,
        }
    }

    /// Whether this entry allows `port` (on a host it names).
    pub(crate) fn allows_port(&self, port: u16) -> bool {
        self.port.is_none_or(|p| p == port)
    }
}

impl FromStr for AllowedHost {
    type Err = String;

    fn from_str(entry: &str) -> Result<Self, String> {
        let entry = entry.trim();
        let bad = |why: &str| format!("invalid allow-list entry {entry:?}: {why}");
        if entry.is_empty() {
            return Err(bad("it is empty"));
        }
        let (host, port) = if entry.starts_with('[') {
            let Some(end) = entry.find(']') else {
                return Err(bad("missing ']' after the IPv6 address"));
            };
            let (host, rest) = entry.split_at(end + 1);
            match rest {
                "" => (host, None),
                _ => match rest.strip_prefix(':') {
                    Some(port) => (host, Some(port)),
                    None => return Err(bad("expected ':port' after ']'")),
                },
            }
        } else {
            match entry.rsplit_once(':') {
                Some((host, _)) if host.contains(':') => {
                    return Err(bad(
                        "IPv6 addresses must be written in brackets, e.g. [::1]:8443",
                    ));
                }
                Some((host, port)) => (host, Some(port)),
                None => (entry, None),
            }
        };
        let port = match port {
            None => None,
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                match p.parse::<u16>() {
                    Ok(0) | Err(_) => return Err(bad("the port must be between 1 and 65535")),
                    Ok(n) => Some(n),
                }
            }
            Some(_) => return Err(bad("the port must be a number")),
        };
        let host = Host::parse(host).map_err(|e| bad(&e.to_string()))?;
        Ok(AllowedHost { host, port })
    }
}

impl fmt::Display for AllowedHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(port) => write!(f, "{}:{port}", self.host),
            None => write!(f, "{}", self.host),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn parses_entries() {
        let list =
            AllowedHost::parse_list(" Docs.Internal , 127.0.0.1:8080,[::1]:8443, [fd00::1] ,,")
                .unwrap();
        let shown: Vec<String> = list.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            ["docs.internal", "127.0.0.1:8080", "[::1]:8443", "[fd00::1]"]
        );
        assert_eq!(list[1].host, Host::<String>::Ipv4(Ipv4Addr::LOCALHOST));
        assert_eq!(list[2].host, Host::<String>::Ipv6(Ipv6Addr::LOCALHOST));
        assert_eq!(list[2].port, Some(8443));
        assert!(AllowedHost::parse_list("").unwrap().is_empty());
    }

    #[test]
    fn odd_ipv4_forms_are_normalised() {
        let a: AllowedHost = "2130706433:9000".parse().unwrap();
        let b: AllowedHost = "0x7f.1".parse().unwrap();
        assert_eq!(a.host, Host::<String>::Ipv4(Ipv4Addr::LOCALHOST));
        assert_eq!(b.host, Host::<String>::Ipv4(Ipv4Addr::LOCALHOST));
    }

    #[test]
    fn rejects_bad_entries() {
        for bad in [
            "::1",
            "[::1",
            "[::1]x",
            "[::1]:",
            "host:",
            "host:0",
            "host:65536",
            "host:+80",
            "host:http",
            "a/b",
            "user@host",
            "exa mple.com",
            "[not-an-ip]",
        ] {
            assert!(
                bad.parse::<AllowedHost>().is_err(),
                "{bad:?} should be refused"
            );
        }
        assert!(AllowedHost::parse_list("ok.test, ::1").is_err());
    }

    #[test]
    fn matching_is_case_insensitive_and_port_aware() {
        let any: AllowedHost = "Docs.Internal".parse().unwrap();
        let one: AllowedHost = "127.0.0.1:8080".parse().unwrap();
        assert!(any.names(&Host::Domain("docs.internal")));
        assert!(any.names(&Host::Domain("DOCS.internal")));
        assert!(!any.names(&Host::Domain("docs.internal.evil.test")));
        assert!(any.allows_port(1));
        assert!(one.names(&Host::Ipv4(Ipv4Addr::LOCALHOST)));
        assert!(!one.names(&Host::Domain("127.0.0.1.nip.io")));
        assert!(!one.names(&Host::Ipv6(Ipv6Addr::LOCALHOST)));
        assert!(one.allows_port(8080));
        assert!(!one.allows_port(8081));
    }
}
