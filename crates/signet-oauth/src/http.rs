//! HTTP adapters for the authorization server's public documents. Routes
//! here are meant to be read by scripts in browsers, so the binary wraps
//! this router in CORS.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::clients::Clients;
use crate::{Issuer, KeyError, KeyRing, OAuthError, metadata};

/// What the authorization server's handlers need.
#[derive(Clone, Debug)]
pub struct OAuthState {
    pub issuer: Issuer,
    pub keys: KeyRing,
    pub clients: Clients,
}

/// Largest registration request accepted (RFC 7591 bodies are small).
const REGISTRATION_LIMIT: usize = 16 * 1024;

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
        .route("/oauth/register", post(register))
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

async fn register(
    State(state): State<OAuthState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Body,
) -> Response {
    let outcome = async {
        let bytes = axum::body::to_bytes(body, REGISTRATION_LIMIT)
            .await
            .map_err(|_| OAuthError::TooLarge(REGISTRATION_LIMIT))?;
        let request: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
            OAuthError::InvalidClientMetadata(format!("the request body is not valid JSON: {e}"))
        })?;
        state.clients.register(&request, Some(&peer.ip().to_string())).await
    }
    .await;
    match outcome {
        Ok(registered) => {
            // 201 also when an identical registration is returned: clients
            // check for it.
            let mut response = (StatusCode::CREATED, Json(registered.response)).into_response();
            response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(error) => error.into_response(),
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
