//! Registration: RFC 7591 requests checked and normalised into what is
//! stored and echoed, and the storing of a checked registration (dynamic
//! here, manual in `lifecycle.rs`).

use serde_json::{Map, Value, json};
use signet_store::audit::{self, Actor, AuditAction, AuditEvent};
use signet_store::{ids, random, sqlx};

use super::{AuthMethod, ClientKind, Clients};
use crate::{OAuthError, Scope, redirect_uri};

const DEFAULT_NAME: &str = "Unnamed client";

impl Clients {
    /// Registers a client from an RFC 7591 request body and returns the
    /// metadata to echo (an identical public re-registration returns the
    /// existing client).
    pub async fn register(
        &self,
        request: &Value,
        client_ip: Option<&str>,
    ) -> Result<Value, OAuthError> {
        let metadata = normalise(request)?;
        let auth_method = metadata.auth_method;
        let canonical = metadata.echo.to_string();
        let registration_hash = random::digest(&canonical);
        // Identical re-registrations of public clients get the same client:
        // some clients register on every start. Confidential clients always
        // get a new one, since their secret cannot be shown again.
        if !auth_method.is_confidential() {
            let existing: Option<(String, i64, String)> = sqlx::query_as(
                "SELECT id, created_at, metadata FROM oauth_clients \
                 WHERE registration_hash = $1 AND kind = $2 AND removed_at IS NULL ORDER BY created_at LIMIT 1",
            )
            .bind(&registration_hash)
            .bind(ClientKind::Dcr)
            .fetch_optional(self.store.pool())
            .await?;
            if let Some((id, created_at, stored)) = existing {
                let mut response: Value =
                    serde_json::from_str(&stored).map_err(|e| OAuthError::Server(e.to_string()))?;
                response["client_id"] = json!(id);
                response["client_id_issued_at"] = json!(created_at);
                return Ok(response);
            }
        }
        self.insert(ClientKind::Dcr, metadata, false, client_ip, &Actor::System)
            .await
    }

    /// Stores a checked registration of the given kind and returns the
    /// metadata to show, with the id and (once) the secret.
    pub(super) async fn insert(
        &self,
        kind: ClientKind,
        metadata: Metadata,
        introspection: bool,
        client_ip: Option<&str>,
        actor: &Actor,
    ) -> Result<Value, OAuthError> {
        let auth_method = metadata.auth_method;
        let canonical = metadata.echo.to_string();
        let registration_hash = random::digest(&canonical);
        let id = ids::new(ids::CLIENT).map_err(|e| OAuthError::Server(e.to_string()))?;
        let secret = if auth_method.uses_secret() {
            Some(random::token().map_err(|e| OAuthError::Server(e.to_string()))?)
        } else {
            None
        };
        let now = self.clock.now();
        let mut tx = self.store.begin_write().await?;
        sqlx::query(
            "INSERT INTO oauth_clients (id, kind, client_name, redirect_uris, token_endpoint_auth_method, \
             metadata, registration_hash, secret_hash, created_at, introspection) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&id)
        .bind(kind)
        .bind(&metadata.name)
        .bind(json!(metadata.redirect_uris).to_string())
        .bind(auth_method)
        .bind(&canonical)
        .bind(&registration_hash)
        .bind(secret.as_deref().map(random::digest))
        .bind(now.as_secs())
        .bind(i64::from(introspection))
        .execute(&mut *tx)
        .await?;
        audit::record(
            &mut tx,
            actor,
            now,
            AuditEvent {
                action: AuditAction::ClientRegistered,
                subject_id: Some(&id),
                org_id: None,
                detail: json!({
                    "client_name": metadata.name,
                    "auth_method": auth_method.as_str(),
                    "redirect_uris": metadata.redirect_uris,
                    "client_ip": client_ip,
                    "kind": kind,
                    "introspection": introspection,
                })
                .to_string(),
            },
        )
        .await?;
        tx.commit().await?;
        let mut response = metadata.echo;
        response["client_id"] = json!(id);
        response["client_id_issued_at"] = json!(now.as_secs());
        if let Some(secret) = secret {
            response["client_secret"] = json!(secret);
            response["client_secret_expires_at"] = json!(0);
        }
        Ok(response)
    }
}

/// A registration request, checked and normalised.
pub(super) struct Metadata {
    name: String,
    redirect_uris: Vec<String>,
    auth_method: AuthMethod,
    /// What is stored and echoed (without id or secret).
    echo: Value,
}

fn invalid(message: impl Into<String>) -> OAuthError {
    OAuthError::InvalidClientMetadata(message.into())
}

fn string_list(
    request: &Map<String, Value>,
    field: &str,
) -> Result<Option<Vec<String>>, OAuthError> {
    match request.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| invalid(format!("{field} must be an array of strings")))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(invalid(format!("{field} must be an array of strings"))),
    }
}

fn optional_string<'a>(
    request: &'a Map<String, Value>,
    field: &str,
) -> Result<Option<&'a str>, OAuthError> {
    match request.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(invalid(format!("{field} must be a string"))),
    }
}

pub(super) fn normalise(request: &Value) -> Result<Metadata, OAuthError> {
    let request = request
        .as_object()
        .ok_or_else(|| invalid("the registration request must be a JSON object"))?;

    let redirect_uris = string_list(request, "redirect_uris")?
        .filter(|uris| !uris.is_empty())
        .ok_or_else(|| {
            OAuthError::InvalidRedirectUri(
                "redirect_uris is required and must not be empty".to_owned(),
            )
        })?;
    if redirect_uris.len() > redirect_uri::MAX_COUNT {
        return Err(OAuthError::InvalidRedirectUri(format!(
            "at most {} redirect URIs may be registered",
            redirect_uri::MAX_COUNT
        )));
    }
    for uri in &redirect_uris {
        if let Err(reason) = redirect_uri::check(uri) {
            let shown: String = uri.chars().take(200).collect();
            return Err(OAuthError::InvalidRedirectUri(format!(
                "redirect URI {shown:?} {reason}"
            )));
        }
    }

    let auth_method = match optional_string(request, "token_endpoint_auth_method")? {
        None => AuthMethod::ClientSecretBasic,
        Some("private_key_jwt") => {
            return Err(invalid(
                "token_endpoint_auth_method private_key_jwt is available to clients identified by a metadata document: use none, client_secret_basic or client_secret_post",
            ));
        }
        Some(method) => AuthMethod::parse(method).ok_or_else(|| {
            invalid(format!(
                "token_endpoint_auth_method {method:?} is not supported: use none, client_secret_basic or client_secret_post"
            ))
        })?,
    };

    // Default to both grants: MCP clients expect refresh tokens, and many
    // omit grant_types.
    let grant_types = string_list(request, "grant_types")?
        .unwrap_or_else(|| vec!["authorization_code".to_owned(), "refresh_token".to_owned()]);
    if let Some(other) = grant_types
        .iter()
        .find(|g| !matches!(g.as_str(), "authorization_code" | "refresh_token"))
    {
        return Err(invalid(format!(
            "grant type {other:?} is not supported: use authorization_code and refresh_token"
        )));
    }
    if !grant_types.iter().any(|g| g == "authorization_code") {
        return Err(invalid("grant_types must include authorization_code"));
    }
    let grant_types = dedup(grant_types);

    let response_types =
        string_list(request, "response_types")?.unwrap_or_else(|| vec!["code".to_owned()]);
    if response_types.iter().any(|r| r != "code") || response_types.is_empty() {
        return Err(invalid("response_types must be [\"code\"]"));
    }

    let application_type = match optional_string(request, "application_type")? {
        None => "web",
        Some(t @ ("web" | "native")) => t,
        Some(other) => {
            return Err(invalid(format!(
                "application_type {other:?} is not supported: use web or native"
            )));
        }
    };

    let requested_name = optional_string(request, "client_name")?;
    if let Some(c) = requested_name.and_then(signet_store::text::first_deceptive) {
        return Err(invalid(format!(
            "client_name must not contain invisible, control or bidirectional characters ({} found)",
            signet_store::text::code_point(c)
        )));
    }
    let name = clean_name(requested_name);

    let scope = match optional_string(request, "scope")? {
        Some(scope) => {
            let requested: Vec<&str> = scope.split(' ').filter(|s| !s.is_empty()).collect();
            if let Some(unknown) = requested.iter().find(|s| !is_known_scope(s)) {
                return Err(invalid(format!("scope {unknown:?} is not supported")));
            }
            Some(requested.join(" "))
        }
        None => None,
    };

    let mut echo = json!({
        "client_name": name,
        "redirect_uris": redirect_uris,
        "grant_types": grant_types,
        "response_types": ["code"],
        "token_endpoint_auth_method": auth_method.as_str(),
        "application_type": application_type,
    });
    if let Some(scope) = scope {
        echo["scope"] = json!(scope);
    }
    for field in [
        "client_uri",
        "logo_uri",
        "tos_uri",
        "policy_uri",
        "software_id",
        "software_version",
    ] {
        if let Some(value) = optional_string(request, field)? {
            echo[field] = json!(value.chars().take(2048).collect::<String>());
        }
    }
    Ok(Metadata {
        name,
        redirect_uris,
        auth_method,
        echo,
    })
}

/// The name shown on consent pages and in lists: no control characters, at
/// most 200 characters, a placeholder when nothing is left.
fn clean_name(name: Option<&str>) -> String {
    let cleaned: String = name
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect();
    let cleaned = cleaned.trim();
    if cleaned.is_empty() {
        DEFAULT_NAME.to_owned()
    } else {
        cleaned.to_owned()
    }
}

/// The registration of a resource server that only introspects: a secret,
/// no redirect URI and no grant, so it can never obtain a token itself.
pub(super) fn resource_server(name: &str) -> Metadata {
    let name = clean_name(Some(name));
    let auth_method = AuthMethod::ClientSecretBasic;
    let echo = json!({
        "client_name": name,
        "redirect_uris": [],
        "grant_types": [],
        "response_types": [],
        "token_endpoint_auth_method": auth_method.as_str(),
        "application_type": "web",
    });
    Metadata {
        name,
        redirect_uris: Vec::new(),
        auth_method,
        echo,
    }
}

fn dedup(items: Vec<String>) -> Vec<String> {
    let mut seen = Vec::with_capacity(items.len());
    for item in items {
        if !seen.contains(&item) {
            seen.push(item);
        }
    }
    seen
}

pub(crate) fn is_known_scope(scope: &str) -> bool {
    Scope::parse(scope).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(request: Value) -> Metadata {
        normalise(&request).unwrap_or_else(|e| panic!("{request}: {e}"))
    }

    fn err(request: Value) -> (String, String) {
        let e = normalise(&request)
            .err()
            .unwrap_or_else(|| panic!("{request} should be refused"));
        (e.code().to_owned(), e.description())
    }

    #[test]
    fn defaults_fill_what_clients_omit() {
        let m = ok(json!({ "redirect_uris": ["https://claude.ai/api/mcp/auth_callback"] }));
        assert_eq!(m.auth_method, AuthMethod::ClientSecretBasic);
        assert_eq!(m.name, "Unnamed client");
        assert_eq!(
            m.echo,
            json!({
                "client_name": "Unnamed client",
                "redirect_uris": ["https://claude.ai/api/mcp/auth_callback"],
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
                "token_endpoint_auth_method": "client_secret_basic",
                "application_type": "web",
            })
        );
    }

    #[test]
    fn a_cursor_style_registration_is_accepted_whole() {
        let m = ok(json!({
            "client_name": "Cursor",
            "redirect_uris": ["cursor://anysphere.cursor-retrieval/oauth/callback", "https://cursor.com/cb", "http://localhost:54321/callback"],
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token", "refresh_token"],
            "application_type": "native",
        }));
        assert_eq!(m.redirect_uris.len(), 3);
        assert_eq!(
            m.echo["grant_types"],
            json!(["authorization_code", "refresh_token"])
        );
        assert_eq!(m.echo["application_type"], "native");
    }

    #[test]
    fn each_rule_names_what_is_wrong() {
        let cases = [
            (
                json!([]),
                "invalid_client_metadata",
                "must be a JSON object",
            ),
            (
                json!({}),
                "invalid_redirect_uri",
                "redirect_uris is required",
            ),
            (
                json!({ "redirect_uris": [] }),
                "invalid_redirect_uri",
                "redirect_uris is required",
            ),
            (
                json!({ "redirect_uris": "https://a.example/cb" }),
                "invalid_client_metadata",
                "array of strings",
            ),
            (
                json!({ "redirect_uris": ["https://a.example/cb", "javascript:alert(1)"] }),
                "invalid_redirect_uri",
                "forbidden scheme",
            ),
            (
                json!({ "redirect_uris": (0..11).map(|i| format!("https://a.example/{i}")).collect::<Vec<_>>() }),
                "invalid_redirect_uri",
                "at most 10",
            ),
            (
                json!({ "redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "private_key_jwt" }),
                "invalid_client_metadata",
                "private_key_jwt",
            ),
            (
                json!({ "redirect_uris": ["https://a.example/cb"], "grant_types": ["client_credentials"] }),
                "invalid_client_metadata",
                "client_credentials",
            ),
            (
                json!({ "redirect_uris": ["https://a.example/cb"], "grant_types": ["refresh_token"] }),
                "invalid_client_metadata",
                "must include authorization_code",
            ),
            (
                json!({ "redirect_uris": ["https://a.example/cb"], "response_types": ["token"] }),
                "invalid_client_metadata",
                "response_types",
            ),
            (
                json!({ "redirect_uris": ["https://a.example/cb"], "application_type": "desktop" }),
                "invalid_client_metadata",
                "application_type",
            ),
            (
                json!({ "redirect_uris": ["https://a.example/cb"], "client_name": 5 }),
                "invalid_client_metadata",
                "client_name must be a string",
            ),
            (
                json!({ "redirect_uris": ["https://a.example/cb"], "scope": "admin" }),
                "invalid_client_metadata",
                "scope \"admin\"",
            ),
        ];
        for (request, code, text) in cases {
            let (got_code, description) = err(request.clone());
            assert_eq!(got_code, code, "{request}");
            assert!(description.contains(text), "{request}: {description}");
        }
    }
}
