//! HTTP adapters for the authorization server's public documents. Routes
//! here are meant to be read by scripts in browsers, so the binary wraps
//! this router in CORS.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use crate::{Issuer, KeyError, KeyRing, metadata};

/// What the authorization server's handlers need.
#[derive(Clone, Debug)]
pub struct OAuthState {
    pub issuer: Issuer,
    pub keys: KeyRing,
}

/// Metadata (both names) and the JWKS.
pub fn public_documents(state: OAuthState) -> Router {
    Router::new()
        .route(
            "/.well-known/oauth-authorization-server",
            get(authorization_server_metadata),
        )
        .route(
            "/.well-known/openid-configuration",
            get(authorization_server_metadata),
        )
        .route("/oauth/jwks.json", get(jwks))
        .with_state(state)
}

async fn authorization_server_metadata(State(state): State<OAuthState>) -> Response {
    cacheable(Json(metadata::authorization_server(&state.issuer)), 3600)
}

async fn jwks(State(state): State<OAuthState>) -> Response {
    match state.keys.jwks().await {
        // Short-lived in caches: a rotation must reach verifiers quickly.
        Ok(document) => cacheable(
            (
                [(header::CONTENT_TYPE, "application/jwk-set+json")],
                Json(document),
            ),
            300,
        ),
        Err(error) => key_error_response(&error),
    }
}

/// Answers for a key-ring failure: logged in full, shown as a generic 503.
pub fn key_error_response(error: &KeyError) -> Response {
    tracing::error!(%error, "signing keys unavailable");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(serde_json::json!({
            "error": "temporarily_unavailable",
            "error_description": "Signing keys are unavailable; try again shortly",
        })),
    )
        .into_response()
}

fn cacheable(body: impl IntoResponse, max_age: u32) -> Response {
    let mut response = body.into_response();
    if let Ok(value) = HeaderValue::from_str(&format!("public, max-age={max_age}")) {
        response.headers_mut().insert(header::CACHE_CONTROL, value);
    }
    response
}
