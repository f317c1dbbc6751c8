//! The request metadata headers of MCP 2026-07-28 (`Mcp-Method`,
//! `Mcp-Name`): what a request says it is before its body is read, so the
//! scope check can be made from them and a request without the scope is
//! refused unread. They must agree with the body: a request whose headers
//! say one thing and whose body another is refused with `HeaderMismatch`
//! (-32020), whatever protocol version it names — a proxy may have routed
//! or rate-limited it on the header.

use std::borrow::Cow;

use axum::http::{HeaderMap, HeaderName};
use data_encoding::BASE64;

static MCP_METHOD: HeaderName = HeaderName::from_static("mcp-method");
static MCP_NAME: HeaderName = HeaderName::from_static("mcp-name");

/// The first protocol version whose requests carry the headers, and whose
/// agreement with the body rmcp checks itself on the message it runs.
pub(super) const STANDARD_HEADERS_VERSION: &str = "2026-07-28";

/// What the headers declare.
#[derive(Debug, PartialEq)]
pub(super) struct Declared<'a> {
    pub(super) method: &'a str,
    /// `Mcp-Name`, decoded from its Base64 form when sent so.
    pub(super) name: Option<Cow<'a, str>>,
}

/// Why the headers cannot be used; the message goes into the -32020 error.
#[derive(Debug, PartialEq)]
pub(super) struct Mismatch(pub(super) String);

/// Whether a method's `Mcp-Name` is required, and which body member it
/// mirrors.
pub(super) fn named_member(method: &str) -> Option<&'static str> {
    match method {
        "tools/call" | "prompts/get" => Some("params.name"),
        "resources/read" => Some("params.uri"),
        _ => None,
    }
}

/// Reads the headers: `None` when the request has no `Mcp-Method` (an
/// older client; the body alone then says what it is).
pub(super) fn declared(headers: &HeaderMap) -> Result<Option<Declared<'_>>, Mismatch> {
    let method = single(headers, &MCP_METHOD)?;
    let name = single(headers, &MCP_NAME)?;
    let Some(method) = method else {
        return match name {
            Some(_) => Err(Mismatch("Mcp-Name was sent without Mcp-Method".to_owned())),
            None => Ok(None),
        };
    };
    let name = name.map(decode).transpose()?;
    if let Some(member) = named_member(method)
        && name.is_none()
    {
        return Err(Mismatch(format!(
            "missing required Mcp-Name header for {method} (it mirrors {member})"
        )));
    }
    Ok(Some(Declared { method, name }))
}

impl Declared<'_> {
    /// Compares the declaration with what the body holds.
    pub(super) fn agrees(&self, method: &str, named: Option<&str>) -> Result<(), Mismatch> {
        if self.method != method {
            return Err(Mismatch(format!(
                "Mcp-Method header '{}' does not match body value '{method}'",
                self.method
            )));
        }
        match (named_member(method), self.name.as_deref(), named) {
            (Some(_), Some(header), Some(body)) if header != body => Err(Mismatch(format!(
                "Mcp-Name header '{header}' does not match body value '{body}'"
            ))),
            (Some(member), Some(_), None) => {
                Err(Mismatch(format!("the body has no {member} for Mcp-Name")))
            }
            _ => Ok(()),
        }
    }
}

/// A header sent at most once, as visible ASCII.
fn single<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Result<Option<&'a str>, Mismatch> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(Mismatch(format!("duplicate {name} header")));
    }
    value
        .to_str()
        .map(Some)
        .map_err(|_| Mismatch(format!("{name} header contains invalid characters")))
}

/// `=?base64?…?=` is the Base64 of the UTF-8 value; anything else is the
/// value itself.
fn decode(raw: &str) -> Result<Cow<'_, str>, Mismatch> {
    let Some(encoded) = raw
        .strip_prefix("=?base64?")
        .and_then(|rest| rest.strip_suffix("?="))
    else {
        return Ok(Cow::Borrowed(raw));
    };
    BASE64
        .decode(encoded.as_bytes())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .map(Cow::Owned)
        .ok_or_else(|| Mismatch("Mcp-Name header is not valid Base64".to_owned()))
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, HeaderValue};

    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn headers_declare_method_and_name() {
        let h = headers(&[("mcp-method", "tools/call"), ("mcp-name", "whoami")]);
        let d = declared(&h).unwrap().unwrap();
        assert_eq!(
            (d.method, d.name.as_deref()),
            ("tools/call", Some("whoami"))
        );
        assert_eq!(d.agrees("tools/call", Some("whoami")), Ok(()));
        assert!(d.agrees("tools/call", Some("delete_envelope")).is_err());
        assert!(d.agrees("tools/list", None).is_err());

        let h = headers(&[
            ("mcp-method", "resources/read"),
            (
                "mcp-name",
                "=?base64?c2lnbmV0Oi8vZW52ZWxvcGUvZW52X+S4lg==?=",
            ),
        ]);
        let d = declared(&h).unwrap().unwrap();
        assert_eq!(d.name.as_deref(), Some("signet://envelope/env_世"));
        assert_eq!(
            d.agrees("resources/read", Some("signet://envelope/env_世")),
            Ok(())
        );

        assert_eq!(declared(&headers(&[])), Ok(None));
        let h = headers(&[("mcp-method", "tools/list")]);
        let d = declared(&h).unwrap().unwrap();
        assert_eq!(d.agrees("tools/list", None), Ok(()));
    }

    #[test]
    fn malformed_headers_are_refused() {
        for pairs in [
            &[("mcp-method", "tools/call")][..],
            &[("mcp-name", "whoami")],
            &[
                ("mcp-method", "tools/call"),
                ("mcp-method", "tools/call"),
                ("mcp-name", "whoami"),
            ],
            &[
                ("mcp-method", "tools/call"),
                ("mcp-name", "a"),
                ("mcp-name", "a"),
            ],
            &[("mcp-method", "tools/call"), ("mcp-name", "=?base64?***?=")],
        ] {
            assert!(declared(&headers(pairs)).is_err(), "{pairs:?}");
        }
        let mut h = headers(&[("mcp-name", "whoami")]);
        h.insert(
            "mcp-method",
            HeaderValue::from_bytes(b"tools/\xffcall").unwrap(),
        );
        assert!(declared(&h).is_err());
    }
}
