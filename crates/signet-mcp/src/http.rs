//! `/mcp`: Host and Origin checks, the bearer guard, the scope check, then
//! the rmcp Streamable HTTP service (stateless, JSON responses).

use std::borrow::Cow;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::json;
use url::Url;

use crate::guard::{Guard, Refusal};
use crate::service::{SignetMcp, required_scope, required_scope_for_method};

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
            format!("This call needs the scope {}", required.join(" "))
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

/// `scheme://host[:port]` of a URL or origin string, normalised.
fn origin_of(text: &str) -> Option<String> {
    Url::parse(text)
        .ok()
        .map(|u| u.origin().ascii_serialization())
        .filter(|o| o != "null")
}

/// The two fields of a JSON-RPC request the scope check needs, read
/// without building a tree of the body. Escaped strings are decoded, and a
/// repeated `method`, `params` or `name` is a parse error: a request the
/// check cannot read exactly does not reach a tool.
#[derive(serde::Deserialize)]
struct Peek<'a> {
    #[serde(borrow)]
    method: Option<Cow<'a, str>>,
    #[serde(borrow)]
    params: Option<PeekParams<'a>>,
}

#[derive(serde::Deserialize)]
struct PeekParams<'a> {
    #[serde(borrow)]
    name: Option<Cow<'a, str>>,
}

fn parse_error() -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({
            "jsonrpc": "2.0",
            "id": null,
            "error": { "code": -32700, "message": "Parse error: expected one JSON-RPC request object" },
        })),
    )
        .into_response()
}

async fn check(State(state): State<McpState>, request: Request, next: Next) -> Response {
    let issuer = state.guard.issuer().as_str();
    let allowed =
        |origin: &str| origin == issuer || state.allowed_origins.iter().any(|o| o == origin);
    // DNS-rebinding protection: the Host must be ours.
    if let Some(host) = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
    {
        let scheme = if issuer.starts_with("https://") {
            "https"
        } else {
            "http"
        };
        match origin_of(&format!("{scheme}://{host}")) {
            Some(origin) if allowed(&origin) => {}
            _ => return forbidden("The Host header does not name this server"),
        }
    }
    if let Some(origin) = request
        .headers()
        .get(header::ORIGIN)
        .and_then(|h| h.to_str().ok())
        && !origin_of(origin).is_some_and(|o| allowed(&o))
    {
        return forbidden("Requests from this origin are not allowed");
    }
    if request.method() == axum::http::Method::OPTIONS {
        return next.run(request).await;
    }
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned);
    let principal = match state.guard.authenticate(authorization.as_deref()).await {
        Ok(principal) => principal,
        Err(refusal) => return refuse(&state.guard, &refusal),
    };
    let (mut parts, body) = request.into_parts();
    let Ok(bytes) = to_bytes(body, BODY_LIMIT).await else {
        return (
            StatusCode::PAYLOAD_TOO_LARGE,
            axum::Json(json!({ "error": "request_too_large" })),
        )
            .into_response();
    };
    // The scope a tools/call needs is known from its name: refuse before
    // the tool runs. Only `method` and `params.name` are looked at.
    if !bytes.is_empty() {
        let Ok(peek) = serde_json::from_slice::<Peek<'_>>(&bytes) else {
            return parse_error();
        };
        let scope = match peek.method.as_deref() {
            Some("tools/call") => peek
                .params
                .and_then(|p| p.name)
                .as_deref()
                .and_then(required_scope),
            Some(method) => required_scope_for_method(method),
            None => None,
        };
        if let Some(scope) = scope
            && !principal.has_scope(scope)
        {
            return refuse(
                &state.guard,
                &Refusal::InsufficientScope {
                    required: vec![scope.to_owned()],
                },
            );
        }
    }
    state
        .usage
        .record(&principal.connection_id, state.clock.now());
    parts.extensions.insert(principal);
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
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
}
