//! RFC 9728 protected-resource metadata, served at
//! `/.well-known/oauth-protected-resource/mcp` (the path-suffixed form MCP
//! clients derive from the resource URL) and at the bare well-known URL for
//! clients that probe the root.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use signet_oauth::{Issuer, Scope};

/// The path of the metadata document the `WWW-Authenticate` header points to.
pub const PATH: &str = "/.well-known/oauth-protected-resource/mcp";

pub fn document(issuer: &Issuer) -> Value {
    json!({
        "resource": issuer.resource(),
        "authorization_servers": [issuer.as_str()],
        "scopes_supported": Scope::RESOURCE.map(Scope::as_str),
        "bearer_methods_supported": ["header"],
        "resource_name": "Signet",
    })
}

/// Both metadata URLs. Wrapped in CORS by the binary.
pub fn router(issuer: Issuer) -> Router {
    Router::new()
        .route(PATH, get(serve))
        .route("/.well-known/oauth-protected-resource", get(serve))
        .with_state(issuer)
}

async fn serve(State(issuer): State<Issuer>) -> Response {
    let mut response = Json(document(&issuer)).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    response
}
