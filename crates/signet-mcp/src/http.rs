//! `/mcp`: Host and Origin checks, the bearer guard, the scope check, then
//! the rmcp Streamable HTTP service (stateless, JSON responses).

use std::borrow::Cow;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Version, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Value, json};
use url::Url;

use crate::guard::{Guard, Refusal, scope_list};
use crate::service::{SignetMcp, required_scope_for_method};
use crate::tools::required_scope;

/// Largest JSON-RPC request accepted on `/mcp`.
const BODY_LIMIT: usize = 4 * 1024 * 1024;

/// What the `/mcp` middleware needs.
#[derive(Clone, Debug)]
pub struct McpState {
    pub guard: Guard,
    /// Origins (`scheme://host[:port]`) allowed besides the public URL's.
    pub allowed_origins: Arc<Vec<String>>,
    pub usage: signet_oauth::usage::Usage,
    pub clock: signet_store::SharedClock,
    /// The e-signature engine the tools call.
    pub esign: signet_esign::Esign,
}

pub fn router(state: McpState) -> Router {
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        // Host and Origin are checked by `check` below, against the public
        // URL and the configured allow-list.
        .disable_allowed_hosts()
        .with_max_request_body_bytes(BODY_LIMIT);
    let prototype = SignetMcp::new(state.esign.clone());
    let service = StreamableHttpService::new(
        move || Ok(prototype.clone()),
        Arc::new(NeverSessionManager::default()),
        config,
    );
    Router::new()
        .nest_service("/mcp", service)
        .layer(middleware::from_fn_with_state(state, check))
}

/// Refusals as the seed's table and RFC 6750 want them: status,
/// `WWW-Authenticate` and a JSON body repeating the error.
fn refuse(guard: &Guard, refusal: &Refusal) -> Response {
    let (status, error) = match refusal {
        Refusal::InsufficientScope { .. } => (StatusCode::FORBIDDEN, "insufficient_scope"),
        Refusal::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable"),
        Refusal::MissingToken => (StatusCode::UNAUTHORIZED, "invalid_request"),
        _ => (StatusCode::UNAUTHORIZED, "invalid_token"),
    };
    let description = match refusal {
        Refusal::InsufficientScope { required } => {
            format!("This call needs the scope {}", scope_list(required))
        }
        other => other.to_string(),
    };
    let mut response = (
        status,
        axum::Json(json!({ "error": error, "error_description": description })),
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&guard.challenge(refusal)) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn forbidden(message: &str) -> Response {
    (
        StatusCode::FORBIDDEN,
        axum::Json(json!({ "error": "forbidden", "error_description": message })),
    )
        .into_response()
}

fn bad_request(message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({ "error": "invalid_request", "error_description": message })),
    )
        .into_response()
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
fn check_target(state: &McpState, parts: &Parts) -> Option<Response> {
    let issuer = state.guard.issuer().as_str();
    let allowed =
        |origin: &str| origin == issuer || state.allowed_origins.iter().any(|o| o == origin);
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

/// A JSON-RPC error object: what `/mcp` answers once the bearer check has
/// passed, whatever went wrong with the message.
fn json_rpc_error(status: StatusCode, id: Value, code: i64, message: &str) -> Response {
    (
        status,
        axum::Json(json!({
            "jsonrpc": "2.0",
            "id": id,
            "error": { "code": code, "message": message },
        })),
    )
        .into_response()
}

/// Whether a `Content-Type` is JSON: the rule rmcp applies to requests.
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|h| {
            h.split_once(';')
                .map_or(h, |(essence, _)| essence)
                .trim()
                .eq_ignore_ascii_case("application/json")
        })
}

enum BodyError {
    TooLarge,
    Unreadable,
}

/// Reads a body to its end, refusing (without reading) one that declares
/// more than `limit` bytes and stopping at `limit` otherwise.
async fn read_body(mut body: Body, limit: usize) -> Result<Bytes, BodyError> {
    if body.size_hint().lower() > limit as u64 {
        return Err(BodyError::TooLarge);
    }
    let mut first: Option<Bytes> = None;
    let mut rest: Vec<u8> = Vec::new();
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        let Ok(data) = frame.map_err(|_| BodyError::Unreadable)?.into_data() else {
            continue;
        };
        let held = first.as_ref().map_or(0, Bytes::len) + rest.len();
        if data.len() > limit.saturating_sub(held) {
            return Err(BodyError::TooLarge);
        }
        // One frame is the usual case: keep it without copying.
        match &first {
            None if rest.is_empty() => first = Some(data),
            _ => {
                if let Some(bytes) = first.take() {
                    rest.extend_from_slice(&bytes);
                }
                rest.extend_from_slice(&data);
            }
        }
    }
    Ok(first.unwrap_or_else(|| Bytes::from(rest)))
}

/// How much of a refused request's body is read before the refusal is
/// sent, so that the connection stays usable: an MCP request without a
/// token is small. A larger body is left unread and the binary's router
/// closes the connection instead, so an unauthenticated peer cannot make us
/// buffer 4 MiB.
const DRAIN_LIMIT: usize = 64 * 1024;

async fn drain(body: Body) {
    let _ = read_body(body, DRAIN_LIMIT).await;
}

async fn check(State(state): State<McpState>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    if let Some(refusal) = check_target(&state, &parts) {
        drain(body).await;
        return refusal;
    }
    if parts.method == Method::OPTIONS {
        return in_json_rpc(next.run(Request::from_parts(parts, body)).await).await;
    }
    // Authentication first: an unauthenticated peer learns nothing about
    // the body and cannot make us read more than `DRAIN_LIMIT` of it.
    let authorization = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok());
    let principal = match state.guard.authenticate(authorization).await {
        Ok(principal) => principal,
        Err(refusal) => {
            drain(body).await;
            return refuse(&state.guard, &refusal);
        }
    };
    let body = if parts.method == Method::POST {
        let bytes = match read_body(body, BODY_LIMIT).await {
            Ok(bytes) => bytes,
            Err(BodyError::TooLarge) => {
                return json_rpc_error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    Value::Null,
                    INVALID_REQUEST,
                    "Invalid request: the body exceeds 4 MiB",
                );
            }
            Err(BodyError::Unreadable) => {
                return json_rpc_error(
                    StatusCode::BAD_REQUEST,
                    Value::Null,
                    PARSE_ERROR,
                    "Parse error: the request body could not be read",
                );
            }
        };
        if !is_json(&parts.headers) {
            return json_rpc_error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                Value::Null,
                INVALID_REQUEST,
                "Invalid request: Content-Type must be application/json",
            );
        }
        // The scope a tools/call needs is known from its name: refuse
        // before the tool runs.
        let scope = match inspect(&bytes) {
            Ok(Inspected {
                tool: Some(tool), ..
            }) => required_scope(&tool),
            Ok(Inspected { method, .. }) => required_scope_for_method(&method),
            Err(malformed) => return malformed.into_response(),
        };
        if let Some(scope) = scope
            && !principal.has_scope(scope)
        {
            return refuse(
                &state.guard,
                &Refusal::InsufficientScope {
                    required: vec![scope],
                },
            );
        }
        Body::from(bytes)
    } else {
        body
    };
    state
        .usage
        .record(&principal.connection_id, state.clock.now());
    parts.extensions.insert(principal);
    in_json_rpc(next.run(Request::from_parts(parts, body)).await).await
}

/// rmcp answers some refusals in text/plain (406 without the Accept the
/// transport requires, 405 for GET, …). `/mcp` speaks JSON-RPC, so they
/// become JSON-RPC errors with the same status and headers; the status
/// stays, as clients rely on it (a 400 on `initialize` sends some to the
/// legacy SSE transport).
async fn in_json_rpc(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(response.headers()) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let mut rewritten = if status.is_server_error() {
        // rmcp's text names internal detail; it has logged it already.
        json_rpc_error(status, Value::Null, INTERNAL_ERROR, "Internal error")
    } else {
        let text = read_body(body, DRAIN_LIMIT)
            .await
            .ok()
            .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_owned())
            .filter(|text| !text.is_empty());
        let message = text
            .as_deref()
            .or(status.canonical_reason())
            .unwrap_or("Invalid request");
        json_rpc_error(status, Value::Null, INVALID_REQUEST, message)
    };
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            rewritten.headers_mut().append(name.clone(), value.clone());
        }
    }
    rewritten
}

const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const INVALID_PARAMS: i64 = -32602;
const INTERNAL_ERROR: i64 = -32603;

/// What the checks need from a request that is a well-formed JSON-RPC 2.0
/// message rmcp will read the same way.
#[derive(Debug)]
struct Inspected<'a> {
    method: Cow<'a, str>,
    /// `params.name` of a `tools/call` (always there for one).
    tool: Option<Cow<'a, str>>,
}

/// Why a body is not one: each answered with its JSON-RPC code.
#[derive(Debug, PartialEq)]
enum Malformed {
    /// Not JSON (or nested deeper than serde_json reads): -32700.
    Parse,
    /// JSON, but not one JSON-RPC 2.0 request or notification: -32600.
    Invalid(&'static str),
    /// Params no MCP method takes: -32602, answering the request as rmcp
    /// answers an unknown tool (HTTP 200, its id echoed); a notification's
    /// is refused with 400.
    Params(Value, &'static str),
}

impl Malformed {
    fn into_response(self) -> Response {
        match self {
            Malformed::Parse => json_rpc_error(
                StatusCode::BAD_REQUEST,
                Value::Null,
                PARSE_ERROR,
                "Parse error: the body is not JSON",
            ),
            Malformed::Invalid(why) => json_rpc_error(
                StatusCode::BAD_REQUEST,
                Value::Null,
                INVALID_REQUEST,
                &format!("Invalid request: {why}"),
            ),
            Malformed::Params(id, why) => json_rpc_error(
                // A notification has no response to carry the error.
                if id.is_null() {
                    StatusCode::BAD_REQUEST
                } else {
                    StatusCode::OK
                },
                id,
                INVALID_PARAMS,
                &format!("Invalid params: {why}"),
            ),
        }
    }
}

/// Checks a body as one JSON-RPC 2.0 message without building a tree of
/// it: members are read into [`Kind`]s, and everything else is walked and
/// dropped (to the same depth limit rmcp's own parse has). Escapes are
/// decoded, and a repeated member is refused: a request the scope check
/// cannot read exactly does not reach a tool.
fn inspect(bytes: &[u8]) -> Result<Inspected<'_>, Malformed> {
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
    let (name, arguments) = match peek.params {
        None | Some(Params::Null) => (None, None),
        Some(Params::Object { name, arguments }) => (name, arguments),
        Some(Params::Array) => return Err(Malformed::Params(id, "params must be an object")),
        Some(Params::Scalar) => {
            return Err(Malformed::Invalid("params must be an object or an array"));
        }
    };
    if method != "tools/call" {
        return Ok(Inspected { method, tool: None });
    }
    let Some(Kind::Str(tool)) = name else {
        return Err(Malformed::Params(id, "tools/call needs the tool's name"));
    };
    if !matches!(arguments, None | Some(Kind::Null | Kind::Object)) {
        return Err(Malformed::Params(id, "arguments must be an object"));
    }
    Ok(Inspected {
        method,
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
                let (mut name, mut arguments) = (None, None);
                while let Some(Key(key)) = map.next_key()? {
                    match key.as_ref() {
                        "name" => once(&mut name, map.next_value()?, "name")?,
                        "arguments" => once(&mut arguments, map.next_value()?, "arguments")?,
                        _ => {
                            map.next_value::<Skip>()?;
                        }
                    }
                }
                Ok(Params::Object { name, arguments })
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
