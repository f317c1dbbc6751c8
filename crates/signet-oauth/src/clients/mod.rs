//! OAuth clients: who they are and how to find them.
//!
//! - this module: the types ([`Client`], [`AuthMethod`], [`Clients`], the
//!   summaries `signet clients` shows) and the look-up of a client by id;
//! - `registration.rs`: RFC 7591 dynamic registration, the checking and
//!   normalising of a registration request, and the storing of any checked
//!   registration;
//! - `lifecycle.rs`: what happens to a client afterwards: manual
//!   registration, listing, removal, the clean-up of idle clients and the
//!   record of their use.
//!
//! How a client proves who it is lives in [`crate::client_auth`].

mod lifecycle;
mod registration;

use serde::Serialize;
use serde_json::Value;
use signet_store::{SharedClock, Store, UnixTime, random, sqlx, text_enum};

use crate::{OAuthError, redirect_uri};

pub(crate) use registration::is_known_scope;

text_enum!(
    /// How a client proves who it is at the token endpoint.
    pub AuthMethod {
        /// A public client (native app, browser app): PKCE is its only proof.
        None => "none",
        ClientSecretBasic => "client_secret_basic",
        ClientSecretPost => "client_secret_post",
        /// RFC 7523: a JWT signed with a key the client publishes (metadata-document clients).
        PrivateKeyJwt => "private_key_jwt",
    }
);

text_enum!(
    /// How a client came to be known.
    pub ClientKind {
        /// RFC 7591 dynamic registration.
        Dcr => "dcr",
        /// A client id that is the URL of its metadata document.
        Cimd => "cimd",
        /// Registered by an operator (`signet clients add`).
        Manual => "manual",
    }
);

impl AuthMethod {
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
    token_endpoint_auth_method: AuthMethod,
    metadata: String,
    secret_hash: Option<String>,
    last_used_at: Option<i64>,
    introspection: i64,
}

/// A client as `signet clients list` shows it.
#[derive(Clone, Debug, Serialize)]
pub struct ClientSummary {
    pub id: String,
    pub kind: ClientKind,
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub token_endpoint_auth_method: AuthMethod,
    pub created_at: UnixTime,
    pub last_used_at: Option<UnixTime>,
    pub live_connections: i64,
    /// May call the introspection endpoint.
    pub introspection: bool,
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
            auth_method: method,
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
}
