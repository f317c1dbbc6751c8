//! OAuth clients: dynamic registration (RFC 7591), manual registration,
//! look-up and removal. How a client proves who it is lives in
//! [`crate::client_auth`].

use serde::Serialize;
use serde_json::{Map, Value, json};
use signet_store::audit::{self, Actor, AuditEvent};
use signet_store::{SharedClock, Store, UnixTime, ids, random, sqlx};

use crate::{OAuthError, RESOURCE_SCOPES, redirect_uri};

/// How a client proves who it is at the token endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// A public client (native app, browser app): PKCE is its only proof.
    None,
    ClientSecretBasic,
    ClientSecretPost,
    /// RFC 7523: a JWT signed with a key the client publishes (metadata-document clients).
    PrivateKeyJwt,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::PrivateKeyJwt => "private_key_jwt",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "none" => Some(Self::None),
            "client_secret_basic" => Some(Self::ClientSecretBasic),
            "client_secret_post" => Some(Self::ClientSecretPost),
            "private_key_jwt" => Some(Self::PrivateKeyJwt),
            _ => None,
        }
    }

    pub fn is_confidential(self) -> bool {
        self != Self::None
    }

    /// Whether the client proves itself with a secret Signet issued.
    pub fn uses_secret(self) -> bool {
        matches!(self, Self::ClientSecretBasic | Self::ClientSecretPost)
    }
}

/// A registered client.
#[derive(Clone, Debug)]
pub struct Client {
    pub id: String,
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub auth_method: AuthMethod,
    pub grant_types: Vec<String>,
    secret_hash: Option<String>,
    last_used_at: Option<UnixTime>,
    /// Registered by an operator for introspection (a resource server).
    introspection: bool,
    /// For a client identified by a metadata-document URL, the document.
    pub document: Option<std::sync::Arc<crate::cimd::Document>>,
}

impl Client {
    /// What distinguishes one installation of this client: nothing for a
    /// registered client (each install registers its own), the redirect URI
    /// for a metadata-document client (every install shares its id).
    pub fn install_key<'a>(&self, redirect_uri: &'a str) -> &'a str {
        if self.document.is_some() {
            redirect_uri
        } else {
            ""
        }
    }

    pub fn allows_refresh(&self) -> bool {
        self.grant_types.iter().any(|g| g == "refresh_token")
    }

    /// The registered redirect URI `requested` matches, if any.
    pub fn redirect_uri_matching(&self, requested: &str) -> Option<&str> {
        self.redirect_uris
            .iter()
            .find(|registered| redirect_uri::matches(registered, requested))
            .map(String::as_str)
    }

    /// Whether `last_used_at` is worth updating: at most hourly, so the
    /// token endpoint does not write a client row on every call.
    pub fn use_is_stale(&self, now: UnixTime) -> bool {
        self.last_used_at
            .is_none_or(|at| at.plus(std::time::Duration::from_secs(3600)) <= now)
    }

    /// Whether this client may introspect tokens (of any client): only one
    /// an operator registered for it, never one that registered itself.
    pub fn may_introspect(&self) -> bool {
        self.introspection && self.document.is_none()
    }

    /// Whether `secret` is this client's secret (constant time).
    pub fn secret_matches(&self, secret: &str) -> bool {
        match &self.secret_hash {
            Some(hash) => random::constant_time_eq(hash, &random::digest(secret)),
            None => false,
        }
    }
}

#[derive(sqlx::FromRow)]
struct ClientRow {
    id: String,
    client_name: String,
    redirect_uris: String,
    token_endpoint_auth_method: String,
    metadata: String,
    secret_hash: Option<String>,
    last_used_at: Option<i64>,
    introspection: i64,
}

/// A client as `signet clients list` shows it.
#[derive(Clone, Debug, Serialize)]
pub struct ClientSummary {
    pub id: String,
    /// `dcr`, `cimd` or `manual`.
    pub kind: String,
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub token_endpoint_auth_method: String,
    pub created_at: UnixTime,
    pub last_used_at: Option<UnixTime>,
    pub live_connections: i64,
    /// May call the introspection endpoint.
    pub introspection: bool,
}

#[derive(sqlx::FromRow)]
struct SummaryRow {
    id: String,
    kind: String,
    client_name: String,
    redirect_uris: String,
    token_endpoint_auth_method: String,
    created_at: i64,
    last_used_at: Option<i64>,
    live_connections: i64,
    introspection: i64,
}

/// What one clean-up pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CleanUp {
    /// Clients that never connected anyone, deleted.
    pub deleted: u64,
    /// Clients with only past connections, marked removed.
    pub retired: u64,
}

/// Registration, look-up and authentication of clients.
#[derive(Clone, Debug)]
pub struct Clients {
    store: Store,
    clock: SharedClock,
    /// Resolves URL client ids; without it they are unknown.
    documents: Option<crate::cimd::MetadataDocuments>,
}

const DEFAULT_NAME: &str = "Unnamed client";

impl Clients {
    pub fn new(store: Store, clock: SharedClock) -> Self {
        Self {
            store,
            clock,
            documents: None,
        }
    }

    /// Also accept clients identified by a metadata-document URL.
    pub fn with_metadata_documents(mut self, documents: crate::cimd::MetadataDocuments) -> Self {
        self.documents = Some(documents);
        self
    }

    pub fn metadata_documents(&self) -> Option<&crate::cimd::MetadataDocuments> {
        self.documents.as_ref()
    }

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
                 WHERE registration_hash = $1 AND kind = 'dcr' AND removed_at IS NULL ORDER BY created_at LIMIT 1",
            )
            .bind(&registration_hash)
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
        self.insert("dcr", metadata, false, client_ip, &Actor::System)
            .await
    }

    /// Stores a checked registration of the given kind and returns the
    /// metadata to show, with the id and (once) the secret.
    async fn insert(
        &self,
        kind: &'static str,
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
        .bind(auth_method.as_str())
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
                action: "client.registered",
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

    /// A client by id. A URL id is resolved through its metadata document;
    /// a document that cannot be used is an `InvalidClient` error saying why.
    pub async fn get(&self, client_id: &str) -> Result<Option<Client>, OAuthError> {
        if let Some(documents) = &self.documents
            && crate::cimd::is_document_url(client_id)
        {
            let (document, last_used_at) = documents.document(client_id).await?;
            return Ok(Some(Client {
                id: document.client_id.clone(),
                name: document.client_name.clone(),
                redirect_uris: document.redirect_uris.clone(),
                auth_method: document
                    .methods
                    .first()
                    .copied()
                    .unwrap_or(AuthMethod::None),
                grant_types: document.grant_types.clone(),
                secret_hash: None,
                last_used_at,
                introspection: false,
                document: Some(document),
            }));
        }
        let row: Option<ClientRow> = sqlx::query_as(
            "SELECT id, client_name, redirect_uris, token_endpoint_auth_method, metadata, secret_hash, last_used_at, \
             introspection FROM oauth_clients WHERE id = $1 AND removed_at IS NULL",
        )
        .bind(client_id)
        .fetch_optional(self.store.pool())
        .await?;
        let Some(ClientRow {
            id,
            client_name: name,
            redirect_uris,
            token_endpoint_auth_method: method,
            metadata,
            secret_hash,
            last_used_at,
            introspection,
        }) = row
        else {
            return Ok(None);
        };
        let corrupt = |what: &str| OAuthError::Server(format!("client {id}: unreadable {what}"));
        let redirect_uris: Vec<String> =
            serde_json::from_str(&redirect_uris).map_err(|_| corrupt("redirect_uris"))?;
        let metadata: Value = serde_json::from_str(&metadata).map_err(|_| corrupt("metadata"))?;
        let grant_types = metadata["grant_types"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        Ok(Some(Client {
            auth_method: AuthMethod::parse(&method).ok_or_else(|| corrupt("auth method"))?,
            id,
            name,
            redirect_uris,
            grant_types,
            secret_hash,
            last_used_at: last_used_at.map(UnixTime::from_secs),
            introspection: introspection != 0,
            document: None,
        }))
    }

    /// Registers a client by hand (`signet clients add`), for clients that
    /// can do neither dynamic registration nor a metadata document. The same
    /// redirect-URI rules apply; the secret of a confidential client is in
    /// the returned metadata, once.
    ///
    /// An introspection client is a resource server: it always gets a secret
    /// (`client_secret_basic`) and needs no redirect URI, since it never
    /// sends a user to authorize.
    pub async fn add_manual(
        &self,
        name: &str,
        redirect_uris: &[String],
        confidential: bool,
        introspection: bool,
    ) -> Result<Value, OAuthError> {
        let confidential = confidential || introspection;
        let method = if confidential {
            "client_secret_basic"
        } else {
            "none"
        };
        let metadata = if introspection && redirect_uris.is_empty() {
            resource_server(name)
        } else {
            normalise(&json!({
                "client_name": name,
                "redirect_uris": redirect_uris,
                "token_endpoint_auth_method": method,
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
            }))?
        };
        let mut added = self
            .insert("manual", metadata, introspection, None, &Actor::Cli)
            .await?;
        added["introspection"] = json!(introspection);
        Ok(added)
    }

    /// Every client that has not been removed, newest first.
    pub async fn list(&self) -> Result<Vec<ClientSummary>, OAuthError> {
        let rows: Vec<SummaryRow> = sqlx::query_as(
            "SELECT c.id, c.kind, c.client_name, c.redirect_uris, c.token_endpoint_auth_method, c.created_at, \
             c.last_used_at, c.introspection, (SELECT COUNT(*) FROM connections n WHERE n.client_id = c.id AND n.revoked_at IS NULL) AS live_connections \
             FROM oauth_clients c WHERE c.removed_at IS NULL ORDER BY c.created_at DESC, c.id",
        )
        .fetch_all(self.store.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| ClientSummary {
                redirect_uris: serde_json::from_str(&r.redirect_uris).unwrap_or_default(),
                id: r.id,
                kind: r.kind,
                name: r.client_name,
                token_endpoint_auth_method: r.token_endpoint_auth_method,
                created_at: UnixTime::from_secs(r.created_at),
                last_used_at: r.last_used_at.map(UnixTime::from_secs),
                live_connections: r.live_connections,
                introspection: r.introspection != 0,
            })
            .collect())
    }

    /// Removes a client and disconnects all its connections: their tokens
    /// are refused from the next request on. Returns how many connections
    /// were disconnected, or `None` when there is no such client.
    pub async fn remove(&self, actor: &Actor, client_id: &str) -> Result<Option<u64>, OAuthError> {
        let now = self.clock.now();
        let mut tx = self.store.begin_write().await?;
        let removed = sqlx::query(
            "UPDATE oauth_clients SET removed_at = $1 WHERE id = $2 AND removed_at IS NULL",
        )
        .bind(now.as_secs())
        .bind(client_id)
        .execute(&mut *tx)
        .await?;
        if removed.rows_affected() == 0 {
            return Ok(None);
        }
        let disconnected = disconnect_all(&mut tx, client_id, now).await?;
        audit::record(
            &mut tx,
            actor,
            now,
            AuditEvent {
                action: "client.removed",
                subject_id: Some(client_id),
                org_id: None,
                detail: json!({ "disconnected": disconnected }).to_string(),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(Some(disconnected))
    }

    /// Removes dynamically registered clients idle for `idle`: never used
    /// (or last used) that long ago and holding no live grant. A client
    /// that never connected anyone is deleted; one with (disconnected)
    /// history keeps its row, marked removed, so that history stays
    /// visible. Manual and metadata-document clients are never touched.
    pub async fn clean_up_idle(&self, idle: std::time::Duration) -> Result<CleanUp, OAuthError> {
        let now = self.clock.now();
        let cutoff = now.minus(idle).as_secs();
        // A grant is live while it and its connection stand and it can
        // still produce tokens: an unused, unexpired refresh token, or an
        // access token that may not have expired yet (at most 24 h).
        let candidates: Vec<(String, i64)> = sqlx::query_as(
            "SELECT c.id, (SELECT COUNT(*) FROM connections n WHERE n.client_id = c.id) AS connections \
             FROM oauth_clients c \
             WHERE c.kind = 'dcr' AND c.removed_at IS NULL AND c.created_at <= $1 \
             AND COALESCE(c.last_used_at, c.created_at) <= $1 \
             AND NOT EXISTS (SELECT 1 FROM oauth_grants g JOIN connections n ON n.id = g.connection_id \
                 WHERE g.client_id = c.id AND g.revoked_at IS NULL AND n.revoked_at IS NULL \
                 AND (g.created_at > $2 OR EXISTS (SELECT 1 FROM refresh_tokens r \
                      WHERE r.grant_id = g.id AND r.used_at IS NULL AND r.expires_at > $3)))",
        )
        .bind(cutoff)
        .bind(now.as_secs() - 24 * 3600)
        .bind(now.as_secs())
        .fetch_all(self.store.pool())
        .await?;
        let mut result = CleanUp::default();
        for (id, connections) in candidates {
            let mut tx = self.store.begin_write().await?;
            if connections == 0 {
                sqlx::query("DELETE FROM oauth_clients WHERE id = $1 AND removed_at IS NULL")
                    .bind(&id)
                    .execute(&mut *tx)
                    .await?;
                result.deleted += 1;
            } else {
                sqlx::query(
                    "UPDATE oauth_clients SET removed_at = $1 WHERE id = $2 AND removed_at IS NULL",
                )
                .bind(now.as_secs())
                .bind(&id)
                .execute(&mut *tx)
                .await?;
                disconnect_all(&mut tx, &id, now).await?;
                result.retired += 1;
            }
            audit::record(
                &mut tx,
                &Actor::System,
                now,
                AuditEvent {
                    action: "client.cleaned_up",
                    subject_id: Some(&id),
                    org_id: None,
                    detail: json!({ "idle_seconds": idle.as_secs(), "had_connections": connections > 0 }).to_string(),
                },
            )
            .await?;
            tx.commit().await?;
        }
        Ok(result)
    }

    /// Records that a client was used (for the clean-up of idle clients).
    pub async fn touch(&self, client_id: &str, now: UnixTime) -> Result<(), OAuthError> {
        sqlx::query("UPDATE oauth_clients SET last_used_at = $1 WHERE id = $2")
            .bind(now.as_secs())
            .bind(client_id)
            .execute(self.store.pool())
            .await?;
        Ok(())
    }
}

/// Disconnects every live connection of a client that is going away.
async fn disconnect_all(
    conn: &mut sqlx::AnyConnection,
    client_id: &str,
    now: UnixTime,
) -> Result<u64, OAuthError> {
    crate::connections::disconnect_where(
        conn,
        crate::connections::Disconnect::Client(client_id),
        "client_removed",
        now,
    )
    .await
}

/// A registration request, checked and normalised.
struct Metadata {
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

fn normalise(request: &Value) -> Result<Metadata, OAuthError> {
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
fn resource_server(name: &str) -> Metadata {
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
    RESOURCE_SCOPES.contains(&scope) || scope == "offline_access"
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
