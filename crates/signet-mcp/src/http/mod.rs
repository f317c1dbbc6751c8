//! `/mcp`: the route and the order of its checks — Host and Origin
//! ([`target`]), the bearer guard, the body as one JSON-RPC request
//! ([`inspect`]), the tool's scope — then the rmcp Streamable HTTP service
//! (stateless, JSON responses), whose text/plain refusals become JSON-RPC
//! errors ([`jsonrpc`]).

mod body;
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
use self::inspect::{Inspected, inspect};
use self::jsonrpc::{INVALID_REQUEST, PARSE_ERROR, in_json_rpc, json_rpc_error};
use self::target::check_target;
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
    let mut response = json_error(status, error, &description);
    if let Ok(value) = HeaderValue::from_str(&guard.challenge(refusal)) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    signet_http::no_store(response)
}

async fn check(State(state): State<McpState>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let issuer = state.guard.issuer().as_str();
    if let Some(refusal) = check_target(issuer, &state.allowed_origins, &parts) {
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
