//! HTTP adapters for the authorization server's machine-facing endpoints:
//! metadata, JWKS, registration, token, revocation and introspection. Browser
//! clients call these from script, so the binary wraps this router in CORS.
//! Browser pages are in [`crate::browser`].

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use data_encoding::BASE64;
use signet_identity::Identity;
use signet_store::SharedClock;
use url::form_urlencoded;

use crate::authorize::resource_is_ours;
use crate::clients::{AuthMethod, Client, Clients};
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
    /// Proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Arc<signet_store::net::TrustedProxies>,
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
    crate::browser::router(state)
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
    headers: axum::http::HeaderMap,
    body: Body,
) -> Response {
    let client_ip = state.trusted_proxies.client_ip(
        peer.ip(),
        headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()),
    );
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
/// request: HTTP Basic or body credentials for confidential clients, the
/// `client_id` alone for public ones.
async fn authenticate(
    state: &OAuthState,
    headers: &HeaderMap,
    form: &[(String, String)],
) -> Result<Client, OAuthError> {
    let basic = match headers.get(header::AUTHORIZATION) {
        Some(value) => {
            let text = value.to_str().unwrap_or_default();
            match text.split_once(' ') {
                Some((scheme, credentials)) if scheme.eq_ignore_ascii_case("basic") => {
                    Some(parse_basic(credentials.trim()).ok_or_else(|| {
                        OAuthError::InvalidClient(
                            "The Authorization header is not valid Basic credentials".to_owned(),
                        )
                    })?)
                }
                _ => None,
            }
        }
        None => None,
    };
    let body_id = param(form, "client_id");
    if let Some(assertion) = param(form, "client_assertion") {
        if basic.is_some() {
            return Err(OAuthError::InvalidClient(
                "Use one client authentication method, not Basic credentials and a client assertion".to_owned(),
            ));
        }
        return authenticate_by_assertion(state, form, body_id, assertion).await;
    }
    let body_secret = param(form, "client_secret");
    let (client_id, secret) = match (&basic, body_id) {
        (Some((id, secret)), None) => (id.as_str(), Some(secret.as_str())),
        (Some((id, secret)), Some(body)) if body == id => (id.as_str(), Some(secret.as_str())),
        (Some(_), Some(_)) => {
            return Err(OAuthError::InvalidClient(
                "client_id differs from the Basic credentials".to_owned(),
            ));
        }
        (None, Some(id)) => (id, body_secret),
        (None, None) => {
            return Err(OAuthError::InvalidClient(
                "Client authentication is required".to_owned(),
            ));
        }
    };
    let client = state
        .clients
        .get(client_id)
        .await?
        .ok_or_else(|| OAuthError::InvalidClient("Unknown client".to_owned()))?;
    match &client.document {
        // A metadata-document client without an assertion: only if its
        // document offers `none`.
        Some(document) if !document.offers(AuthMethod::None) => {
            return Err(OAuthError::InvalidClient(
                "This client must authenticate with a private_key_jwt client assertion".to_owned(),
            ));
        }
        Some(_) => {}
        None if client.auth_method.uses_secret() => match secret {
            Some(secret) if client.secret_matches(secret) => {}
            _ => {
                return Err(OAuthError::InvalidClient(
                    "Client authentication failed".to_owned(),
                ));
            }
        },
        None => {}
    }
    Ok(client)
}

/// `private_key_jwt` (RFC 7523 §2.2): the client is the assertion's
/// issuer, confirmed by its signature with a key its metadata document
/// publishes.
async fn authenticate_by_assertion(
    state: &OAuthState,
    form: &[(String, String)],
    body_id: Option<&str>,
    assertion: &str,
) -> Result<Client, OAuthError> {
    if param(form, "client_assertion_type") != Some(crate::cimd::JWT_BEARER) {
        return Err(OAuthError::InvalidClient(format!(
            "client_assertion_type must be {}",
            crate::cimd::JWT_BEARER
        )));
    }
    // Which client: the client_id parameter, or else the assertion's
    // (still unverified) issuer, which verification then confirms.
    let claimed = match body_id {
        Some(id) => id.to_owned(),
        None => jsonwebtoken::dangerous::insecure_decode::<serde_json::Value>(assertion)
            .ok()
            .and_then(|data| {
                data.claims
                    .get("iss")
                    .and_then(|v| v.as_str())
                    .map(str::to_owned)
            })
            .ok_or_else(|| {
                OAuthError::InvalidClient("The client assertion names no issuer".to_owned())
            })?,
    };
    let client = state
        .clients
        .get(&claimed)
        .await?
        .ok_or_else(|| OAuthError::InvalidClient("Unknown client".to_owned()))?;
    let (Some(document), Some(documents)) = (&client.document, state.clients.metadata_documents())
    else {
        return Err(OAuthError::InvalidClient(
            "Only clients identified by a metadata document can use private_key_jwt".to_owned(),
        ));
    };
    if !document.offers(AuthMethod::PrivateKeyJwt) {
        return Err(OAuthError::InvalidClient(
            "This client's metadata document does not offer private_key_jwt".to_owned(),
        ));
    }
    let audiences = [
        state.issuer.join("/oauth/token"),
        state.issuer.as_str().to_owned(),
    ];
    documents
        .verify_assertion(document, assertion, &audiences)
        .await?;
    Ok(client)
}

/// `base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 §2.3.1).
fn parse_basic(credentials: &str) -> Option<(String, String)> {
    let decoded = BASE64.decode(credentials.as_bytes()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    let decode = |s: &str| {
        form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    let id = decode(id)?;
    if id.is_empty() {
        return None;
    }
    Some((id, decode(secret)?))
}

async fn token(
    State(state): State<OAuthState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let ip = peer.ip().to_string();
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
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let ip = peer.ip().to_string();
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
        // Only clients holding a secret Signet issued (resource servers
        // registered for the purpose); never a metadata-document client,
        // which may have authenticated with nothing at all.
        if !client.auth_method.uses_secret() || client.document.is_some() {
            return Err(OAuthError::InvalidClient(
                "Introspection is for confidential clients".to_owned(),
            ));
        }
        let token = param(&form, "token")
            .ok_or_else(|| OAuthError::InvalidRequest("token is required".to_owned()))?;
        state.grants.introspect(token).await
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
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(serde_json::json!({
            "error": "temporarily_unavailable",
            "error_description": "Signing keys are unavailable; try again shortly",
        })),
    )
        .into_response()
}

fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

fn cacheable(body: impl IntoResponse, max_age: u32) -> Response {
    let mut response = body.into_response();
    if let Ok(value) = HeaderValue::from_str(&format!("public, max-age={max_age}")) {
        response.headers_mut().insert(header::CACHE_CONTROL, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_decoded() {
        let encoded = BASE64.encode(b"cli_1:s%3Acret+x");
        assert_eq!(
            parse_basic(&encoded),
            Some(("cli_1".to_owned(), "s:cret x".to_owned()))
        );
        assert_eq!(
            parse_basic(&BASE64.encode(b"cli_1:")),
            Some(("cli_1".to_owned(), String::new()))
        );
        assert_eq!(parse_basic("not base64!"), None);
        assert_eq!(parse_basic(&BASE64.encode(b"no-colon")), None);
        assert_eq!(parse_basic(&BASE64.encode(b":secret")), None);
    }
}
