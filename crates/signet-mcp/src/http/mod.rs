//! `/mcp`: the route and the order of its checks — Host and Origin
//! ([`target`]), the bearer guard, the request metadata headers when sent
//! ([`declared`]), the body as one JSON-RPC request ([`inspect`]), the
//! tool's scope — then the rmcp Streamable HTTP service (stateless, JSON
//! responses), whose text/plain refusals become JSON-RPC errors
//! ([`jsonrpc`]).

mod body;
mod declared;
mod inspect;
mod jsonrpc;
mod target;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::Value;
use signet_http::json_error;

use self::body::{BodyError, drain, is_json, read_body};
use self::declared::{Declared, Mismatch, STANDARD_HEADERS_VERSION, declared};
use self::inspect::{Inspected, inspect};
use self::jsonrpc::{HEADER_MISMATCH, INVALID_REQUEST, PARSE_ERROR, in_json_rpc, json_rpc_error};
use self::target::{Names, check_target};
use crate::Principal;
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
    let checks = Arc::new(Checks {
        names: Names::new(state.guard.issuer().as_str(), &state.allowed_origins),
        guard: state.guard,
        clock: state.clock,
    });
    Router::new()
        .nest_service("/mcp", service)
        .layer(middleware::from_fn_with_state(checks, check))
}

/// What the checks before rmcp need, built once (a middleware's state is
/// cloned per request: this is one `Arc`).
#[derive(Debug)]
struct Checks {
    guard: Guard,
    names: Names,
    clock: signet_store::SharedClock,
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
    let mut response = json_error(status, error, &description);
    if let Ok(value) = HeaderValue::from_str(&guard.challenge(refusal)) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    signet_http::no_store(response)
}

async fn check(State(checks): State<Arc<Checks>>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    if let Some(refusal) = check_target(&checks.names, &parts) {
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
    let principal = match checks.guard.authenticate(authorization).await {
        Ok(principal) => principal,
        Err(refusal) => {
            drain(body).await;
            return refuse(&checks.guard, &refusal);
        }
    };
    // A request that says what it is in its headers is scope-checked on
    // them, before its body is read.
    let declared = match declared(&parts.headers) {
        Ok(declared) => declared,
        Err(mismatch) => {
            drain(body).await;
            return header_mismatch(mismatch);
        }
    };
    if let Some(declared) = &declared
        && let Some(refusal) = lacks_scope(&principal, declared.method, declared.name.as_deref())
    {
        drain(body).await;
        return refuse(&checks.guard, &refusal);
    }
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
        if let Some(refused) = check_body(
            &checks.guard,
            &principal,
            declared.as_ref(),
            &parts.headers,
            &bytes,
        ) {
            return refused;
        }
        Body::from(bytes)
    } else {
        body
    };
    principal.calls.record(checks.clock.now());
    parts.extensions.insert(principal);
    in_json_rpc(next.run(Request::from_parts(parts, body)).await).await
}

/// The body's part of the checks: one JSON-RPC request that rmcp reads
/// as we do, with the scope of what it calls, agreeing with its headers.
///
/// From 2026-07-28 on, rmcp compares the headers with the message it
/// parsed (the one it runs) and refuses a mismatch with -32020 itself, so
/// a request declared that way, already scope-checked on its headers, is
/// not read a second time here. Before that version the headers are
/// optional and rmcp ignores them, so when sent they are compared here.
fn check_body(
    guard: &Guard,
    principal: &Principal,
    declared: Option<&Declared<'_>>,
    headers: &axum::http::HeaderMap,
    bytes: &[u8],
) -> Option<Response> {
    let version = headers
        .get("mcp-protocol-version")
        .and_then(|v| v.to_str().ok());
    if declared.is_some() && version.is_some_and(|v| v >= STANDARD_HEADERS_VERSION) {
        return None;
    }
    let inspected = match inspect(bytes) {
        Ok(inspected) => inspected,
        Err(malformed) => return Some(malformed.into_response()),
    };
    let Inspected {
        method,
        tool,
        named,
    } = &inspected;
    match declared {
        Some(declared) => declared
            .agrees(method, named.as_deref())
            .err()
            .map(header_mismatch),
        None => {
            lacks_scope(principal, method, tool.as_deref()).map(|refusal| refuse(guard, &refusal))
        }
    }
}

/// The scope a method (and, for `tools/call`, its tool) needs, if the
/// principal lacks it.
fn lacks_scope(principal: &Principal, method: &str, name: Option<&str>) -> Option<Refusal> {
    let scope = match (method, name) {
        ("tools/call", Some(tool)) => required_scope(tool),
        _ => required_scope_for_method(method),
    }?;
    (!principal.has_scope(scope)).then(|| Refusal::InsufficientScope {
        required: vec![scope],
    })
}

fn header_mismatch(Mismatch(why): Mismatch) -> Response {
    json_rpc_error(
        StatusCode::BAD_REQUEST,
        Value::Null,
        HEADER_MISMATCH,
        &format!("Header mismatch: {why}"),
    )
}
