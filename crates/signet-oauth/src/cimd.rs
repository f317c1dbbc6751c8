//! Client ID Metadata Documents: a `client_id` that is a URL names a JSON
//! document, fetched through the SSRF-guarded fetcher (https, public
//! addresses only, no redirects, at most 5 KB and 5 s), whose `client_id`
//! must equal that URL. Documents are cached as their `Cache-Control` says
//! (at most 24 hours); failures are never cached. The client is also kept
//! as a row (`kind = 'cimd'`) so that connections and grants can refer to
//! it and an operator can remove it.
//!
//! Such clients authenticate with `none` (PKCE) or `private_key_jwt`
//! (RFC 7523) against the keys the document publishes; shared secrets are
//! impossible, since nothing was ever issued to them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};
use signet_fetch::{Fetcher, Limits};
use signet_store::{SharedClock, Store, UnixTime, is_unique_violation, sqlx};

use crate::clients::{AuthMethod, ClientKind};
use crate::{OAuthError, redirect_uri};

/// The `client_assertion_type` of RFC 7523.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Longest a document or key set is kept without asking again.
const MAX_CACHE: Duration = Duration::from_secs(24 * 3600);
/// How long a document without cache headers is kept.
const DEFAULT_CACHE: Duration = Duration::from_secs(300);
/// A client assertion may not live longer than this (RFC 7523 wants them short).
const MAX_ASSERTION_LIFETIME: i64 = 600;
/// Clock skew allowed on assertion times.
const LEEWAY: i64 = 60;
/// Signature algorithms accepted for client assertions: asymmetric only
/// (`none` and HMAC with a public key as secret are the classic forgeries).
const ALGORITHMS: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];
const JWKS_LIMITS: Limits = Limits {
    max_bytes: 64 * 1024,
    timeout: Duration::from_secs(5),
    max_redirects: 0,
};

/// Whether a `client_id` names a metadata document: an http(s) URL with a
/// path. (Plain http is only ever fetched from allow-listed test hosts.)
pub fn is_document_url(client_id: &str) -> bool {
    (client_id.starts_with("https://") || client_id.starts_with("http://"))
        && url::Url::parse(client_id).is_ok_and(|u| u.path() != "/" && !u.path().is_empty())
}

/// A checked metadata document.
#[derive(Debug)]
pub struct Document {
    pub client_id: String,
    pub client_name: String,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    /// The methods the document offers that Signet accepts, preferred first.
    pub methods: Vec<AuthMethod>,
    jwks: Option<JwkSet>,
    jwks_uri: Option<String>,
}

impl Document {
    pub fn offers(&self, method: AuthMethod) -> bool {
        self.methods.contains(&method)
    }
}

/// Values by URL, each with the time it stops being fresh.
type Cache<T> = Arc<Mutex<HashMap<String, (Arc<T>, UnixTime)>>>;

#[derive(Clone)]
pub struct MetadataDocuments {
    fetcher: Fetcher,
    store: Store,
    clock: SharedClock,
    documents: Cache<Document>,
    key_sets: Cache<JwkSet>,
}

impl std::fmt::Debug for MetadataDocuments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetadataDocuments")
            .field("fetcher", &self.fetcher)
            .finish()
    }
}

fn refused(url: &str, reason: impl std::fmt::Display) -> OAuthError {
    OAuthError::InvalidClient(format!(
        "The client metadata document {url} cannot be used: {reason}"
    ))
}

/// How long a response may be kept: `no-store`/`no-cache` → not at all,
/// `max-age` → that long (at most 24 h), otherwise five minutes.
fn freshness(cache_control: Option<&str>) -> Duration {
    let Some(value) = cache_control else {
        return DEFAULT_CACHE;
    };
    let mut age = None;
    for directive in value.split(',').map(|d| d.trim().to_ascii_lowercase()) {
        if directive == "no-store" || directive == "no-cache" {
            return Duration::ZERO;
        }
        if let Some(seconds) = directive.strip_prefix("max-age=") {
            age = seconds
                .trim_matches('"')
                .parse::<u64>()
                .ok()
                .map(Duration::from_secs);
        }
    }
    age.unwrap_or(DEFAULT_CACHE).min(MAX_CACHE)
}

fn strings(document: &Value, field: &str) -> Option<Vec<String>> {
    document.get(field)?.as_array().map(|items| {
        items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect()
    })
}

impl MetadataDocuments {
    pub fn new(fetcher: Fetcher, store: Store, clock: SharedClock) -> Self {
        Self {
            fetcher,
            store,
            clock,
            documents: Arc::default(),
            key_sets: Arc::default(),
        }
    }

    /// The document at `url`, from the cache or fetched and checked, and
    /// when the client last obtained tokens.
    pub async fn document(
        &self,
        url: &str,
    ) -> Result<(Arc<Document>, Option<UnixTime>), OAuthError> {
        // Removal by an operator holds at once, cache or not.
        let last_used = self.refuse_if_removed(url).await?;
        self.current(url)
            .await
            .map(|document| (document, last_used))
    }

    async fn current(&self, url: &str) -> Result<Arc<Document>, OAuthError> {
        let now = self.clock.now();
        if let Ok(cache) = self.documents.lock()
            && let Some((document, until)) = cache.get(url)
            && *until > now
        {
            return Ok(document.clone());
        }
        let fetched = self
            .fetcher
            .fetch(url, Limits::METADATA_DOCUMENT)
            .await
            .map_err(|e| refused(url, e))?;
        let value: Value =
            serde_json::from_slice(&fetched.bytes).map_err(|_| refused(url, "it is not JSON"))?;
        let document = Arc::new(self.check(url, &value)?);
        self.remember(&document, &value).await?;
        let keep = freshness(fetched.cache_control.as_deref());
        if !keep.is_zero()
            && let Ok(mut cache) = self.documents.lock()
        {
            cache.insert(url.to_owned(), (document.clone(), now.plus(keep)));
        }
        Ok(document)
    }

    fn check(&self, url: &str, value: &Value) -> Result<Document, OAuthError> {
        if !value.is_object() {
            return Err(refused(url, "it is not a JSON object"));
        }
        match value.get("client_id").and_then(Value::as_str) {
            Some(id) if id == url => {}
            Some(id) => {
                return Err(refused(
                    url,
                    format!("its client_id {id:?} is not its own URL"),
                ));
            }
            None => return Err(refused(url, "it has no client_id")),
        }
        let client_name = value
            .get("client_name")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| refused(url, "it has no client_name"))?;
        if let Some(c) = signet_store::text::first_deceptive(client_name) {
            return Err(refused(
                url,
                format!(
                    "its client_name contains an invisible, control or bidirectional character ({})",
                    signet_store::text::code_point(c)
                ),
            ));
        }
        let redirect_uris = strings(value, "redirect_uris")
            .filter(|uris| !uris.is_empty())
            .ok_or_else(|| refused(url, "it lists no redirect_uris"))?;
        if redirect_uris.len() > redirect_uri::MAX_COUNT {
            return Err(refused(
                url,
                format!(
                    "it lists more than {} redirect URIs",
                    redirect_uri::MAX_COUNT
                ),
            ));
        }
        for uri in &redirect_uris {
            redirect_uri::check(uri)
                .map_err(|reason| refused(url, format!("redirect URI {uri:?} {reason}")))?;
        }
        let jwks = match value.get("jwks") {
            None | Some(Value::Null) => None,
            Some(set) => Some(
                serde_json::from_value::<JwkSet>(set.clone())
                    .map_err(|e| refused(url, format!("its jwks is not a JWK set: {e}")))?,
            ),
        };
        let jwks_uri = match value.get("jwks_uri").and_then(Value::as_str) {
            None => None,
            Some(uri) => {
                self.fetcher
                    .check_url(uri)
                    .map_err(|e| refused(url, format!("its jwks_uri: {e}")))?;
                Some(uri.to_owned())
            }
        };
        // What the document offers: the list some clients publish, or the
        // one registered method (RFC 7591's default is client_secret_basic,
        // impossible here, so a missing method means `none`).
        let offered =
            strings(value, "token_endpoint_auth_methods_supported").unwrap_or_else(|| {
                vec![
                    value
                        .get("token_endpoint_auth_method")
                        .and_then(Value::as_str)
                        .unwrap_or("none")
                        .to_owned(),
                ]
            });
        let has_keys = jwks.is_some() || jwks_uri.is_some();
        let mut methods = Vec::new();
        if offered.iter().any(|m| m == "private_key_jwt") && has_keys {
            methods.push(AuthMethod::PrivateKeyJwt);
        }
        if offered.iter().any(|m| m == "none") {
            methods.push(AuthMethod::None);
        }
        if methods.is_empty() {
            return Err(refused(
                url,
                if offered.iter().any(|m| m == "private_key_jwt") {
                    "it asks for private_key_jwt but publishes neither jwks nor jwks_uri".to_owned()
                } else {
                    format!(
                        "it offers {} but a metadata-document client can use only none or private_key_jwt",
                        offered.join(", ")
                    )
                },
            ));
        }
        let grant_types = strings(value, "grant_types")
            .unwrap_or_else(|| vec!["authorization_code".to_owned(), "refresh_token".to_owned()]);
        Ok(Document {
            client_id: url.to_owned(),
            client_name: client_name.chars().take(200).collect(),
            redirect_uris,
            grant_types,
            methods,
            jwks,
            jwks_uri,
        })
    }

    /// Keeps the client's row current, so connections can refer to it.
    /// Refuses a client an operator removed; otherwise its last use.
    async fn refuse_if_removed(&self, client_id: &str) -> Result<Option<UnixTime>, OAuthError> {
        let row: Option<(Option<i64>, Option<i64>)> =
            sqlx::query_as("SELECT removed_at, last_used_at FROM oauth_clients WHERE id = $1")
                .bind(client_id)
                .fetch_optional(self.store.pool())
                .await?;
        match row {
            Some((Some(_), _)) => Err(OAuthError::InvalidClient(
                "This application has been removed by an administrator".to_owned(),
            )),
            Some((None, last_used)) => Ok(last_used.map(UnixTime::from_secs)),
            None => Ok(None),
        }
    }

    async fn remember(&self, document: &Document, raw: &Value) -> Result<(), OAuthError> {
        let method = document
            .methods
            .first()
            .copied()
            .unwrap_or(AuthMethod::None);
        sqlx::query(
            "INSERT INTO oauth_clients (id, kind, client_name, redirect_uris, token_endpoint_auth_method, metadata, created_at) \
             VALUES ($1, $7, $2, $3, $4, $5, $6) \
             ON CONFLICT (id) DO UPDATE SET client_name = $2, redirect_uris = $3, token_endpoint_auth_method = $4, metadata = $5",
        )
        .bind(&document.client_id)
        .bind(&document.client_name)
        .bind(json!(document.redirect_uris).to_string())
        .bind(method)
        .bind(raw.to_string())
        .bind(self.clock.now().as_secs())
        .bind(ClientKind::Cimd)
        .execute(self.store.pool())
        .await?;
        Ok(())
    }

    async fn key_set(&self, document: &Document) -> Result<Arc<JwkSet>, OAuthError> {
        if let Some(set) = &document.jwks {
            return Ok(Arc::new(set.clone()));
        }
        let Some(uri) = &document.jwks_uri else {
            return Err(OAuthError::InvalidClient(
                "The client publishes no keys".to_owned(),
            ));
        };
        let now = self.clock.now();
        if let Ok(cache) = self.key_sets.lock()
            && let Some((set, until)) = cache.get(uri)
            && *until > now
        {
            return Ok(set.clone());
        }
        let fetched = self.fetcher.fetch(uri, JWKS_LIMITS).await.map_err(|e| {
            OAuthError::InvalidClient(format!(
                "The client's keys at {uri} could not be fetched: {e}"
            ))
        })?;
        let set: JwkSet = serde_json::from_slice(&fetched.bytes).map_err(|_| {
            OAuthError::InvalidClient(format!("The client's keys at {uri} are not a JWK set"))
        })?;
        let set = Arc::new(set);
        let keep = freshness(fetched.cache_control.as_deref());
        if !keep.is_zero()
            && let Ok(mut cache) = self.key_sets.lock()
        {
            cache.insert(uri.clone(), (set.clone(), now.plus(keep)));
        }
        Ok(set)
    }

    /// Verifies a `private_key_jwt` client assertion (RFC 7523 §3): signed
    /// by a key the document publishes, `iss` and `sub` the client id,
    /// `aud` the token endpoint or the issuer, expiring soon, and a `jti`
    /// never seen before.
    pub async fn verify_assertion(
        &self,
        document: &Document,
        assertion: &str,
        audiences: &[String],
    ) -> Result<(), OAuthError> {
        let bad = |why: &str| {
            OAuthError::InvalidClient(format!("The client assertion is not valid: {why}"))
        };
        let header = jsonwebtoken::decode_header(assertion).map_err(|_| bad("it is not a JWT"))?;
        if !ALGORITHMS.contains(&header.alg) {
            return Err(bad("its algorithm is not accepted"));
        }
        let set = self.key_set(document).await?;
        let candidates: Vec<_> = set
            .keys
            .iter()
            .filter(|k| header.kid.is_none() || k.common.key_id == header.kid)
            .collect();
        if candidates.is_empty() {
            return Err(bad("no published key has its kid"));
        }
        let mut validation = Validation::new(header.alg);
        // Times are checked below against Signet's clock.
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        validation.set_audience(audiences);
        validation.set_issuer(&[&document.client_id]);
        validation.sub = Some(document.client_id.clone());
        let mut claims = None;
        for jwk in candidates {
            let Ok(key) = DecodingKey::from_jwk(jwk) else {
                continue;
            };
            if let Ok(data) = jsonwebtoken::decode::<Value>(assertion, &key, &validation) {
                claims = Some(data.claims);
                break;
            }
        }
        let claims = claims.ok_or_else(|| {
            bad("its signature, issuer, subject or audience does not match the client and this server")
        })?;
        let now = self.clock.now().as_secs();
        let exp = claims
            .get("exp")
            .and_then(Value::as_i64)
            .ok_or_else(|| bad("it has no exp"))?;
        if exp + LEEWAY < now {
            return Err(bad("it has expired"));
        }
        if exp > now + MAX_ASSERTION_LIFETIME + LEEWAY {
            return Err(bad("it expires too far in the future (at most 10 minutes)"));
        }
        if let Some(nbf) = claims.get("nbf").and_then(Value::as_i64)
            && nbf > now + LEEWAY
        {
            return Err(bad("it is not valid yet"));
        }
        let jti = claims
            .get("jti")
            .and_then(Value::as_str)
            .filter(|j| !j.is_empty() && j.len() <= 256)
            .ok_or_else(|| bad("it has no jti"))?;
        // Each assertion once: the row lives as long as the assertion could.
        sqlx::query("DELETE FROM client_assertions WHERE expires_at < $1")
            .bind(now - LEEWAY)
            .execute(self.store.pool())
            .await?;
        let stored = sqlx::query(
            "INSERT INTO client_assertions (client_id, jti, expires_at) VALUES ($1, $2, $3)",
        )
        .bind(&document.client_id)
        .bind(jti)
        .bind(exp + LEEWAY)
        .execute(self.store.pool())
        .await;
        match stored {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(bad("it has been used before")),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_urls_need_a_path() {
        assert!(is_document_url(
            "https://claude.ai/oauth/mcp-oauth-client-metadata"
        ));
        assert!(!is_document_url("https://claude.ai/"));
        assert!(!is_document_url("https://claude.ai"));
        assert!(!is_document_url("cli_abc"));
        assert!(!is_document_url("ftp://x.example/doc"));
    }

    #[test]
    fn freshness_follows_cache_control_within_a_day() {
        assert_eq!(freshness(None), DEFAULT_CACHE);
        assert_eq!(freshness(Some("max-age=60")), Duration::from_secs(60));
        assert_eq!(freshness(Some("public, max-age=999999")), MAX_CACHE);
        assert_eq!(freshness(Some("no-store")), Duration::ZERO);
        assert_eq!(freshness(Some("max-age=60, no-cache")), Duration::ZERO);
    }
}
