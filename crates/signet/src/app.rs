//! The one application state and the router built from it.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, Version, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tower_http::cors::{AllowHeaders, Any, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

pub use crate::state::AppState;

pub fn router(state: Arc<AppState>) -> Router {
    let oauth = signet_oauth::http::OAuthState {
        issuer: state.issuer.clone(),
        keys: state.keys.clone(),
        clients: state.clients.clone(),
        grants: state.grants.clone(),
        connections: state.connections.clone(),
        usage: state.usage.clone(),
        identity: state.identity.clone(),
        clock: state.clock.clone(),
        registration_limit: state.registration_limit.clone(),
        sign_in_limit: state.sign_in_limit.clone(),
    };
    // Documents and APIs that browser-based clients call from script.
    let mcp = signet_mcp::http::McpState {
        guard: state.guard.clone(),
        allowed_origins: Arc::new(state.config.allowed_origins.clone()),
        clock: state.clock.clone(),
        esign: state.esign.clone(),
    };
    let cross_origin = signet_oauth::http::api(oauth.clone())
        .merge(signet_mcp::metadata::router(state.issuer.clone()))
        .merge(signet_mcp::http::router(mcp))
        .layer(cors());
    let esign_pages = signet_esign::http::router(state.esign.clone());
    // The client address, resolved once through the trusted proxies.
    let proxies = Arc::new(state.config.trusted_proxies.clone());
    let operations = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(state);
    Router::new()
        .merge(cross_origin)
        .merge(signet_oauth::http::pages(oauth))
        .merge(esign_pages)
        .merge(operations)
        .fallback(not_found)
        .layer(axum::middleware::map_response(retry_after_when_unavailable))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &axum::http::Request<_>| {
                    tracing::info_span!(
                        "request",
                        method = %request.method(),
                        path = %loggable_path(request.uri().path()),
                    )
                })
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .layer(middleware::from_fn_with_state(
            proxies,
            signet_http::resolve_client_addr,
        ))
        .layer(middleware::from_fn(close_unless_body_read))
}

/// A response sent before its request's body was read to the end leaves
/// the rest of that body on the connection: hyper then drops the
/// connection after the response, and a client that was not told reuses
/// it and finds it gone. Such a response says `Connection: close`. A body
/// empty from the start counts as read, so bodiless requests keep their
/// connections. HTTP/2 has no such problem (and no `Connection` header).
async fn close_unless_body_read(request: Request, next: Next) -> Response {
    if request.version() > Version::HTTP_11 {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let read = Arc::new(AtomicBool::new(body.is_end_stream()));
    let body = Body::new(Watched {
        inner: body,
        read: read.clone(),
    });
    let mut response = next.run(Request::from_parts(parts, body)).await;
    if !read.load(Ordering::Acquire) {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// A request body that records when it has been read to its end.
struct Watched {
    inner: Body,
    read: Arc<AtomicBool>,
}

impl HttpBody for Watched {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) || self.inner.is_end_stream() {
            self.read.store(true, Ordering::Release);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// The path as logs may show it. Query strings are never logged (upload
/// tokens, link signatures, a misplaced `access_token` travel there), and
/// a signing link's path is itself the recipient's secret.
fn loggable_path(path: &str) -> std::borrow::Cow<'_, str> {
    match path.strip_prefix("/sign/") {
        Some(rest) => {
            let after_token = rest.find('/').map(|i| &rest[i..]).unwrap_or("");
            format!("/sign/<redacted>{after_token}").into()
        }
        None => path.into(),
    }
}

/// Any origin, never credentials: these endpoints authenticate with tokens,
/// not cookies. `WWW-Authenticate` is exposed so a browser client can find
/// the metadata URL after a 401.
fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST, Method::DELETE, Method::OPTIONS])
        .allow_headers(AllowHeaders::mirror_request())
        .expose_headers([
            header::WWW_AUTHENTICATE,
            HeaderName::from_static("mcp-session-id"),
        ])
        .max_age(Duration::from_secs(3600))
}

/// The process is up.
async fn healthz() -> Response {
    Json(json!({ "status": "ok" })).into_response()
}

/// The process can serve: the database answers.
async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    match state.store.ping().await {
        Ok(()) => Json(json!({ "status": "ready" })).into_response(),
        Err(error) => {
            tracing::warn!(%error, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable", "reason": "database unreachable" })),
            )
                .into_response()
        }
    }
}

/// Every 503 tells the client when to come back (RFC 9110 §10.2.3), on
/// every route, whoever produced it.
async fn retry_after_when_unavailable(mut response: Response) -> Response {
    if response.status() == StatusCode::SERVICE_UNAVAILABLE
        && !response.headers().contains_key(header::RETRY_AFTER)
    {
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(signet_oauth::oauth_error::RETRY_AFTER_SECS),
        );
    }
    response
}

async fn not_found() -> Response {
    signet_http::json_error(StatusCode::NOT_FOUND, "not_found", "No such endpoint")
}

#[cfg(test)]
mod tests {
    use super::loggable_path;

    #[test]
    fn signing_links_are_not_logged() {
        assert_eq!(loggable_path("/sign/s3cret"), "/sign/<redacted>");
        assert_eq!(
            loggable_path("/sign/s3cret/documents/doc_1"),
            "/sign/<redacted>/documents/doc_1"
        );
        assert_eq!(loggable_path("/mcp"), "/mcp");
    }
}
