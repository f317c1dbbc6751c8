//! The HTTP edge that every route shares, so that each rule is written
//! once: the client's address (resolved once per request through the
//! trusted proxies), `Cache-Control: no-store` for answers that must not
//! be kept, and the JSON error body of refusals.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use signet_store::net::TrustedProxies;

/// The address of the client a request came from: the peer, or, when the
/// peer is a trusted proxy, the address its `X-Forwarded-For` names. Every
/// handler that records or limits by address takes this extractor; none
/// reads the peer address itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

impl std::fmt::Display for ClientAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// The layer that resolves [`ClientAddr`] once per request (installed by
/// the binary around every route).
pub async fn resolve_client_addr(
    State(proxies): State<Arc<TrustedProxies>>,
    mut request: Request,
    next: Next,
) -> Response {
    if let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>() {
        let forwarded = request
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok());
        let client = ClientAddr(proxies.client_ip(peer.ip(), forwarded));
        request.extensions_mut().insert(client);
    }
    next.run(request).await
}

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        if let Some(client) = parts.extensions.get::<ClientAddr>() {
            return Ok(*client);
        }
        // Served without the edge layer (no proxies are trusted there).
        match parts.extensions.get::<ConnectInfo<SocketAddr>>() {
            Some(ConnectInfo(peer)) => Ok(ClientAddr(peer.ip())),
            None => Err(json_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "The client address is unknown",
            )),
        }
    }
}

/// Marks an answer as not to be stored by any cache (tokens, refusals,
/// personal pages).
pub fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// `{"error": code, "error_description": description}` with `status`:
/// the shape of every JSON refusal outside JSON-RPC.
pub fn json_error(status: StatusCode, code: &str, description: &str) -> Response {
    (
        status,
        axum::Json(serde_json::json!({ "error": code, "error_description": description })),
    )
        .into_response()
}
