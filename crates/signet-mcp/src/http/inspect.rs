//! Reading a `/mcp` body as one JSON-RPC 2.0 message without building a
//! tree of it, so that the scope check sees exactly the method and tool
//! rmcp will run, while nothing of the arguments is kept.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// What the checks need from a request that is a well-formed JSON-RPC 2.0
/// message rmcp will read the same way.
#[derive(Debug)]
pub(super) struct Inspected<'a> {
    pub(super) method: Cow<'a, str>,
    /// `params.name` of a `tools/call` (always there for one).
    pub(super) tool: Option<Cow<'a, str>>,
    /// What `Mcp-Name` mirrors for this method, if the body has it as a
    /// string (`params.name`, or `params.uri` of `resources/read`).
    pub(super) named: Option<Cow<'a, str>>,
}

/// Why a body is not one (each is answered with its JSON-RPC code, see
/// `jsonrpc.rs`).
#[derive(Debug, PartialEq)]
pub(super) enum Malformed {
    /// Not JSON (or nested deeper than serde_json reads): -32700.
    Parse,
    /// JSON, but not one JSON-RPC 2.0 request or notification: -32600.
    Invalid(&'static str),
    /// Params no MCP method takes: -32602, answering the request as rmcp
    /// answers an unknown tool (HTTP 200, its id echoed); a notification's
    /// is refused with 400.
    Params(Value, &'static str),
}

/// Checks a body as one JSON-RPC 2.0 message without building a tree of
/// it: members are read into [`Kind`]s, and everything else is walked and
/// dropped (to the same depth limit rmcp's own parse has). Escapes are
/// decoded, and a repeated member is refused: a request the scope check
/// cannot read exactly does not reach a tool.
pub(super) fn inspect(bytes: &[u8]) -> Result<Inspected<'_>, Malformed> {
    let classify = |error: serde_json::Error| match error.classify() {
        serde_json::error::Category::Data => Malformed::Invalid("repeated member"),
        _ => Malformed::Parse,
    };
    let first = bytes
        .iter()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
    if first != Some(&b'{') {
        serde_json::from_slice::<Skip>(bytes).map_err(classify)?;
        return Err(Malformed::Invalid("the body is not one JSON-RPC object"));
    }
    let peek: Peek<'_> = serde_json::from_slice(bytes).map_err(classify)?;
    if !matches!(&peek.jsonrpc, Some(Kind::Str(v)) if v == "2.0") {
        return Err(Malformed::Invalid("jsonrpc must be \"2.0\""));
    }
    let Some(Kind::Str(method)) = peek.method else {
        return Err(Malformed::Invalid("method must be a string"));
    };
    if peek.result || peek.error {
        return Err(Malformed::Invalid("a request has no result or error"));
    }
    // MCP ids are strings or integers, never null (and rmcp reads no other).
    let id = match peek.id {
        None => None,
        Some(Kind::Str(id)) => Some(Value::from(id.as_ref())),
        Some(Kind::Integer(id)) => Some(Value::from(id)),
        Some(_) => return Err(Malformed::Invalid("id must be a string or an integer")),
    };
    let id = id.unwrap_or(Value::Null);
    // `null` params are read as absent, as rmcp reads them. An array is
    // valid JSON-RPC, but no MCP method takes positional params.
    let (name, arguments, uri) = match peek.params {
        None | Some(Params::Null) => (None, None, None),
        Some(Params::Object {
            name,
            arguments,
            uri,
        }) => (name, arguments, uri),
        Some(Params::Array) => return Err(Malformed::Params(id, "params must be an object")),
        Some(Params::Scalar) => {
            return Err(Malformed::Invalid("params must be an object or an array"));
        }
    };
    if method != "tools/call" {
        let named = match (method.as_ref(), name, uri) {
            ("resources/read", _, Some(Kind::Str(uri))) => Some(uri),
            ("prompts/get", Some(Kind::Str(name)), _) => Some(name),
            _ => None,
        };
        return Ok(Inspected {
            method,
            tool: None,
            named,
        });
    }
    let Some(Kind::Str(tool)) = name else {
        return Err(Malformed::Params(id, "tools/call needs the tool's name"));
    };
    if !matches!(arguments, None | Some(Kind::Null | Kind::Object)) {
        return Err(Malformed::Params(id, "arguments must be an object"));
    }
    Ok(Inspected {
        method,
        named: Some(tool.clone()),
        tool: Some(tool),
    })
}

/// What a JSON value is; strings are kept (borrowed unless escaped),
/// containers are walked and dropped.
#[derive(Debug)]
enum Kind<'a> {
    Null,
    Other,
    /// An integer rmcp can take as an id: i64, or a float with no
    /// fraction below 2^53 (`1.0`), read as rmcp reads it.
    Integer(i64),
    Str(Cow<'a, str>),
    Object,
}

/// The members of a JSON-RPC message the checks look at.
#[derive(Debug, Default)]
struct Peek<'a> {
    jsonrpc: Option<Kind<'a>>,
    id: Option<Kind<'a>>,
    method: Option<Kind<'a>>,
    params: Option<Params<'a>>,
    result: bool,
    error: bool,
}

#[derive(Debug)]
enum Params<'a> {
    Null,
    Scalar,
    Array,
    Object {
        name: Option<Kind<'a>>,
        arguments: Option<Kind<'a>>,
        uri: Option<Kind<'a>>,
    },
}

/// Any JSON value, walked and dropped.
struct Skip;

/// A member name, borrowed unless it holds escapes.
struct Key<'a>(Cow<'a, str>);

/// Fills a member once; a second occurrence is an error.
fn once<T, E: de::Error>(slot: &mut Option<T>, value: T, name: &'static str) -> Result<(), E> {
    if slot.is_some() {
        return Err(E::duplicate_field(name));
    }
    *slot = Some(value);
    Ok(())
}

fn integer(value: f64) -> Option<i64> {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    (value.fract() == 0.0 && value.abs() < EXACT).then_some(value as i64)
}

impl<'de> Deserialize<'de> for Skip {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Skip;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_unit<E>(self) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_str<E>(self, _: &str) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Skip, A::Error> {
                Skip::visit_seq(seq)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Skip, A::Error> {
                Skip::visit_map(map)
            }
        }
        deserializer.deserialize_any(V)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Key<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        deserializer.deserialize_str(V)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Kind<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Kind<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_unit<E>(self) -> Result<Kind<'de>, E> {
                Ok(Kind::Null)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Kind<'de>, E> {
                Ok(Kind::Other)
            }
            fn visit_i64<E>(self, v: i64) -> Result<Kind<'de>, E> {
                Ok(Kind::Integer(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Kind<'de>, E> {
                Ok(i64::try_from(v).map_or(Kind::Other, Kind::Integer))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Kind<'de>, E> {
                Ok(integer(v).map_or(Kind::Other, Kind::Integer))
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Kind<'de>, E> {
                Ok(Kind::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Kind<'de>, E> {
                Ok(Kind::Str(Cow::Owned(v.to_owned())))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Kind<'de>, A::Error> {
                Skip::visit_seq(seq).map(|_| Kind::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Kind<'de>, A::Error> {
                Skip::visit_map(map).map(|_| Kind::Object)
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// Containers are walked element by element through `deserialize_any`,
/// so serde_json counts their depth (`IgnoredAny` would not).
impl Skip {
    fn visit_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<Skip, A::Error> {
        while seq.next_element::<Skip>()?.is_some() {}
        Ok(Skip)
    }
    fn visit_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<Skip, A::Error> {
        while map.next_entry::<de::IgnoredAny, Skip>()?.is_some() {}
        Ok(Skip)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Params<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Params<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_unit<E>(self) -> Result<Params<'de>, E> {
                Ok(Params::Null)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Params<'de>, E> {
                Ok(Params::Scalar)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Params<'de>, E> {
                Ok(Params::Scalar)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Params<'de>, E> {
                Ok(Params::Scalar)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Params<'de>, E> {
                Ok(Params::Scalar)
            }
            fn visit_str<E>(self, _: &str) -> Result<Params<'de>, E> {
                Ok(Params::Scalar)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Params<'de>, A::Error> {
                Skip::visit_seq(seq).map(|_| Params::Array)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Params<'de>, A::Error> {
                let (mut name, mut arguments, mut uri) = (None, None, None);
                while let Some(Key(key)) = map.next_key()? {
                    match key.as_ref() {
                        "name" => once(&mut name, map.next_value()?, "name")?,
                        "arguments" => once(&mut arguments, map.next_value()?, "arguments")?,
                        "uri" => once(&mut uri, map.next_value()?, "uri")?,
                        _ => {
                            map.next_value::<Skip>()?;
                        }
                    }
                }
                Ok(Params::Object {
                    name,
                    arguments,
                    uri,
                })
            }
        }
        deserializer.deserialize_any(V)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Peek<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Peek<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON-RPC object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Peek<'de>, A::Error> {
                let mut peek = Peek::default();
                let (mut result, mut error) = (None, None);
                while let Some(Key(key)) = map.next_key()? {
                    match key.as_ref() {
                        "jsonrpc" => once(&mut peek.jsonrpc, map.next_value()?, "jsonrpc")?,
                        "id" => once(&mut peek.id, map.next_value()?, "id")?,
                        "method" => once(&mut peek.method, map.next_value()?, "method")?,
                        "params" => once(&mut peek.params, map.next_value()?, "params")?,
                        "result" => once(&mut result, map.next_value::<Skip>()?, "result")?,
                        "error" => once(&mut error, map.next_value::<Skip>()?, "error")?,
                        _ => {
                            map.next_value::<Skip>()?;
                        }
                    }
                }
                peek.result = result.is_some();
                peek.error = error.is_some();
                Ok(peek)
            }
        }
        deserializer.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    fn verdict(body: &str) -> Result<(String, Option<String>), super::Malformed> {
        super::inspect(body.as_bytes())
            .map(|i| (i.method.into_owned(), i.tool.map(|t| t.into_owned())))
    }

    #[test]
    fn requests_are_read_exactly() {
        use super::Malformed::*;
        use serde_json::json;
        let ok =
            |method: &str, tool: Option<&str>| Ok((method.to_owned(), tool.map(str::to_owned)));
        assert_eq!(
            verdict(
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami","arguments":{"a":[1,{"b":null}]}},"_meta":{}}"#
            ),
            ok("tools/call", Some("whoami"))
        );
        assert_eq!(
            verdict(
                r#"{"params":{"na\u006de":"create_envelope"},"method":"tools\/call","id":"x","jsonrpc":"2.0"}"#
            ),
            ok("tools/call", Some("create_envelope"))
        );
        assert_eq!(
            verdict(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#),
            ok("notifications/initialized", None)
        );
        assert_eq!(
            verdict(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":null}"#),
            ok("tools/list", None)
        );
        assert_eq!(verdict(""), Err(Parse));
        assert_eq!(verdict("{"), Err(Parse));
        assert_eq!(verdict("[1,"), Err(Parse));
        assert_eq!(
            verdict("[1]"),
            Err(Invalid("the body is not one JSON-RPC object"))
        );
        assert_eq!(
            verdict(r#"{"jsonrpc":"2.0","id":1,"id":1,"method":"ping"}"#),
            Err(Invalid("repeated member"))
        );
        assert_eq!(
            verdict(r#"{"jsonrpc":"2.0","id":1,"method":"ping","params":{"name":"a","name":"b"}}"#),
            Err(Invalid("repeated member"))
        );
        assert_eq!(
            verdict(r#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#),
            Err(Invalid("id must be a string or an integer"))
        );
        assert_eq!(
            verdict(r#"{"jsonrpc":"2.0","id":9223372036854775808,"method":"ping"}"#),
            Err(Invalid("id must be a string or an integer"))
        );
        assert_eq!(
            verdict(
                r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"whoami","arguments":"x"}}"#
            ),
            Err(Params(json!(2), "arguments must be an object"))
        );
        assert_eq!(
            verdict(r#"{"jsonrpc":"2.0","id":1e2,"method":"ping","params":[]}"#),
            Err(Params(json!(100), "params must be an object"))
        );
    }

    /// Whatever passes the check, rmcp reads; and a body nested one level
    /// too deep for rmcp is refused here, as a parse error.
    #[test]
    fn what_passes_rmcp_can_read() {
        use rmcp::model::ClientJsonRpcMessage;
        let mut seen = (false, false);
        for depth in 120..135 {
            let body = format!(
                r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"whoami","arguments":{{"a":{}{}}}}}}}"#,
                "[".repeat(depth),
                "]".repeat(depth)
            );
            let ours = super::inspect(body.as_bytes()).is_ok();
            let rmcp = serde_json::from_slice::<ClientJsonRpcMessage>(body.as_bytes()).is_ok();
            assert_eq!(ours, rmcp, "depth {depth}");
            if ours {
                seen.0 = true;
            } else {
                seen.1 = true;
                assert_eq!(
                    super::inspect(body.as_bytes()).err(),
                    Some(super::Malformed::Parse)
                );
            }
            let meta = format!(
                r#"{{"jsonrpc":"2.0","id":1,"method":"tools/list","_meta":{}{}}}"#,
                "[".repeat(depth),
                "]".repeat(depth)
            );
            let ours = super::inspect(meta.as_bytes()).is_ok();
            let rmcp = serde_json::from_slice::<ClientJsonRpcMessage>(meta.as_bytes()).is_ok();
            assert_eq!(ours, rmcp, "_meta depth {depth}");
        }
        assert_eq!(seen, (true, true), "the limit lies inside the range");
        for body in [
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami"}}"#,
            r#"{"jsonrpc":"2.0","id":"a","method":"tools/call","params":{"name":"whoami","arguments":null}}"#,
            r#"{"jsonrpc":"2.0","id":1.0,"method":"tools/list"}"#,
            r#"{"jsonrpc":"2.0","id":-5,"method":"ping","params":{}}"#,
            r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}"#,
        ] {
            assert!(super::inspect(body.as_bytes()).is_ok(), "{body}");
            assert!(
                serde_json::from_slice::<ClientJsonRpcMessage>(body.as_bytes()).is_ok(),
                "{body}"
            );
        }
    }
}
