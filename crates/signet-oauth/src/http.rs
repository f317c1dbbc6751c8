//! HTTP adapters for the authorization server's machine-facing endpoints:
//! metadata, JWKS, registration, token, revocation and introspection. Browser
//! clients call these from script, so the binary wraps this router in CORS.
//! Browser pages are in [`crate::pages`].

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use signet_http::{ClientAddr, no_store};
use signet_identity::Identity;
use signet_store::SharedClock;
use url::form_urlencoded;

use crate::authorize::resource_is_ours;
use crate::client_auth::{self, Credentials};
use crate::clients::{Client, Clients};
use crate::grants::Grants;
use crate::{Issuer, KeyError, KeyRing, OAuthError, metadata};

/// What the authorization server's handlers need.
#[derive(Clone, Debug)]
pub struct OAuthState {
    pub issuer: Issuer,
    pub keys: KeyRing,
    pub clients: Clients,
    pub grants: Grants,
    pub connections: crate::connections::Connections,
    /// Calls counted by `/mcp`, written on a timer; the Applications page
    /// writes them first so it shows the latest.
    pub usage: crate::usage::Usage,
    pub identity: Identity,
    pub clock: SharedClock,
    pub registration_limit: crate::address_limit::AddressLimit,
    pub sign_in_limit: crate::address_limit::AddressLimit,
}

/// Largest registration request accepted (RFC 7591 bodies are small).
const REGISTRATION_LIMIT: usize = 16 * 1024;
/// Largest token, revocation or introspection request accepted.
const FORM_LIMIT: usize = 16 * 1024;

/// Metadata (both names), JWKS, registration, token, revocation and
/// introspection.
pub fn api(state: OAuthState) -> Router {
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
        .route("/oauth/token", post(token))
        .route("/oauth/revoke", post(revoke))
        .route("/oauth/introspect", post(introspect))
        .with_state(state)
}

/// Sign-in, consent and sign-out pages.
pub fn pages(state: OAuthState) -> Router {
    crate::pages::router(state)
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
    ClientAddr(client_ip): ClientAddr,
    body: Body,
) -> Response {
    let outcome = async {
        state
            .registration_limit
            .take(client_ip)
            .map_err(OAuthError::SlowDown)?;
        let bytes = axum::body::to_bytes(body, REGISTRATION_LIMIT)
            .await
            .map_err(|_| OAuthError::TooLarge(REGISTRATION_LIMIT))?;
        let request: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
            OAuthError::InvalidClientMetadata(format!("the request body is not valid JSON: {e}"))
        })?;
        state
            .clients
            .register(&request, Some(&client_ip.to_string()))
            .await
    }
    .await;
    match outcome {
        // 201 also when an identical registration is returned: clients
        // check for it.
        Ok(registered) => no_store((StatusCode::CREATED, Json(registered)).into_response()),
        Err(error) => error.into_response(),
    }
}

/// A form body as name/value pairs; a repeated parameter is refused
/// (RFC 6749 §3.2).
async fn read_form(body: Body) -> Result<Vec<(String, String)>, OAuthError> {
    let bytes = axum::body::to_bytes(body, FORM_LIMIT)
        .await
        .map_err(|_| OAuthError::TooLarge(FORM_LIMIT))?;
    let pairs: Vec<(String, String)> = form_urlencoded::parse(&bytes).into_owned().collect();
    for (i, (name, _)) in pairs.iter().enumerate() {
        if pairs[..i].iter().any(|(earlier, _)| earlier == name) {
            return Err(OAuthError::InvalidRequest(format!(
                "parameter {name} is repeated"
            )));
        }
    }
    Ok(pairs)
}

fn param<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

/// Authenticates the client of a token, revocation or introspection
/// request by the one policy in [`crate::client_auth`].
async fn authenticate(
    state: &OAuthState,
    headers: &HeaderMap,
    form: &[(String, String)],
) -> Result<Client, OAuthError> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .map(|value| value.to_str().unwrap_or_default());
    let credentials = Credentials::read(authorization, form)?;
    client_auth::authenticate(&state.clients, &state.issuer, &credentials).await
}

async fn token(
    State(state): State<OAuthState>,
    client: ClientAddr,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let ip = client.to_string();
    let ip = Some(ip.as_str());
    let outcome = async {
        let form = read_form(body).await?;
        let client = authenticate(&state, &headers, &form).await?;
        if let Some(resource) = param(&form, "resource")
            && !resource_is_ours(&state.issuer, resource)
        {
            return Err(OAuthError::InvalidTarget(format!(
                "resource {resource:?} is not served here: use {}",
                state.issuer.resource()
            )));
        }
        let response = match param(&form, "grant_type") {
            Some("authorization_code") => {
                let code = param(&form, "code")
                    .ok_or_else(|| OAuthError::InvalidRequest("code is required".to_owned()))?;
                state
                    .grants
                    .exchange_code(
                        &client,
                        code,
                        param(&form, "redirect_uri"),
                        param(&form, "code_verifier"),
                        ip,
                    )
                    .await?
            }
            Some("refresh_token") => {
                let token = param(&form, "refresh_token").ok_or_else(|| {
                    OAuthError::InvalidRequest("refresh_token is required".to_owned())
                })?;
                state
                    .grants
                    .refresh(&client, token, param(&form, "scope"), ip)
                    .await?
            }
            Some(other) => {
                return Err(OAuthError::UnsupportedGrantType(format!(
                    "grant_type {other:?} is not supported: use authorization_code or refresh_token"
                )));
            }
            None => {
                return Err(OAuthError::InvalidRequest(
                    "grant_type is required".to_owned(),
                ));
            }
        };
        let now = state.clock.now();
        if client.use_is_stale(now) {
            let _ = state.clients.touch(&client.id, now).await;
        }
        Ok(response)
    }
    .await;
    match outcome {
        Ok(response) => no_store(Json(response).into_response()),
        Err(error) => error.into_response(),
    }
}

async fn revoke(
    State(state): State<OAuthState>,
    client: ClientAddr,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let ip = client.to_string();
    let ip = Some(ip.as_str());
    let outcome = async {
        let form = read_form(body).await?;
        let client = authenticate(&state, &headers, &form).await?;
        let token = param(&form, "token")
            .ok_or_else(|| OAuthError::InvalidRequest("token is required".to_owned()))?;
        state.grants.revoke(&client, token, ip).await
    }
    .await;
    match outcome {
        Ok(()) => no_store(StatusCode::OK.into_response()),
        Err(error) => error.into_response(),
    }
}

async fn introspect(State(state): State<OAuthState>, headers: HeaderMap, body: Body) -> Response {
    let outcome = async {
        let form = read_form(body).await?;
        let client = authenticate(&state, &headers, &form).await?;
        client_auth::require_introspection(&client)?;
        let token = param(&form, "token")
            .ok_or_else(|| OAuthError::InvalidRequest("token is required".to_owned()))?;
        state.grants.introspect(&client, token).await
    }
    .await;
    match outcome {
        Ok(answer) => no_store(Json(answer).into_response()),
        Err(error) => error.into_response(),
    }
}

/// Answers for a key-ring failure: logged in full, shown as a generic 503.
pub fn key_error_response(error: &KeyError) -> Response {
    tracing::error!(%error, "signing keys unavailable");
    signet_http::json_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
        "Signing keys are unavailable; try again shortly",
    )
}

fn cacheable(body: impl IntoResponse, max_age: u32) -> Response {
    let mut response = body.into_response();
    if let Ok(value) = HeaderValue::from_str(&format!("public, max-age={max_age}")) {
        response.headers_mut().insert(header::CACHE_CONTROL, value);
    }
    response
}
