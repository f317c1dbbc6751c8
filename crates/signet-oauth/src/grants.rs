//! Connections, grants, authorization codes and tokens.
//!
//! A *connection* is one user's authorisation of one client for one
//! organization (what Connected Applications lists). Each consent creates a
//! *grant* on it; re-consenting replaces the grant, so the old refresh tokens
//! stop working. Codes and refresh tokens belong to a grant and are stored
//! only as hashes. Refresh tokens rotate on every use; the successor of a
//! token is derived from it with a server-held HMAC key, so a replay inside
//! the grace window gets the very same successor without the plaintext ever
//! being stored.

use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::hmac;
use data_encoding::BASE64URL_NOPAD;
use serde::Serialize;
use serde_json::{Value, json};
use signet_store::audit::{self, Actor, AuditEvent};
use signet_store::{SharedClock, Store, UnixTime, ids, is_unique_violation, random, sqlx};
use tokio::sync::OnceCell;

use crate::clients::Client;
use crate::{Issuer, KeyRing, OAuthError};

/// Lifetimes of what the token endpoint hands out.
#[derive(Clone, Copy, Debug)]
pub struct TokenSettings {
    pub access_token_ttl: Duration,
    /// Refresh tokens expire after this long unused (sliding).
    pub refresh_token_ttl: Duration,
    /// A replay of the previous refresh token within this window returns
    /// the same successor; zero disables it.
    pub refresh_grace: Duration,
}

/// Authorization codes live this long.
pub const CODE_TTL: Duration = Duration::from_secs(60);

/// The token endpoint's answer (RFC 6749 §5.1).
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    pub scope: String,
}

/// The claims of an access token (DESIGN §3.2), plus `gid`, the grant, so a
/// resource server can refuse tokens of a revoked grant.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    /// Always set on tokens Signet issues; optional so that a token without
    /// it resolves to the user's only organization (the seed's rule).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
    pub client_id: String,
    pub sid: String,
    pub gid: String,
    pub scope: String,
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
}

/// What a consent approves.
#[derive(Debug)]
pub struct Approval<'a> {
    pub user_id: &'a str,
    pub org_id: &'a str,
    pub client: &'a Client,
    pub scopes: &'a [String],
    pub redirect_uri: &'a str,
    pub redirect_uri_explicit: bool,
    pub code_challenge: &'a str,
    pub client_ip: Option<&'a str>,
    /// The browser session that consented (see [`Grants::remembered`]).
    pub session_id: &'a str,
}

/// What an earlier consent must match for the page to be skipped.
#[derive(Debug)]
pub struct Remembered<'a> {
    pub user_id: &'a str,
    pub org_id: &'a str,
    pub client_id: &'a str,
    pub install_key: &'a str,
    pub redirect_uri: &'a str,
    pub session_id: &'a str,
    pub scopes: &'a [String],
}

/// Why one attempt at recording a consent failed.
enum ApproveError {
    /// Another consent created the same connection first: try again.
    ConnectionRace,
    Other(OAuthError),
}

impl ApproveError {
    fn into_oauth(self) -> OAuthError {
        match self {
            Self::ConnectionRace => {
                OAuthError::Unavailable("a concurrent consent created the same connection".into())
            }
            Self::Other(error) => error,
        }
    }
}

impl<E: Into<OAuthError>> From<E> for ApproveError {
    fn from(error: E) -> Self {
        Self::Other(error.into())
    }
}

#[derive(Clone, Debug)]
pub struct Grants {
    store: Store,
    clock: SharedClock,
    keys: KeyRing,
    issuer: Issuer,
    settings: TokenSettings,
    /// The successor-derivation key, read once (it never changes).
    rotation_key: Arc<OnceCell<hmac::Key>>,
}

#[derive(sqlx::FromRow)]
struct GrantRow {
    grant_id: String,
    connection_id: String,
    user_id: String,
    org_id: String,
    scopes: String,
    grant_revoked_at: Option<i64>,
    connection_revoked_at: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct CodeRow {
    grant_id: String,
    client_id: String,
    redirect_uri: String,
    redirect_uri_explicit: i64,
    code_challenge: String,
    expires_at: i64,
    used_at: Option<i64>,
}

const GRANT_SELECT: &str = "SELECT g.id AS grant_id, c.id AS connection_id, c.user_id, c.org_id, g.scopes, \
     g.revoked_at AS grant_revoked_at, c.revoked_at AS connection_revoked_at \
     FROM oauth_grants g JOIN connections c ON c.id = g.connection_id WHERE g.id = $1";

fn server(e: impl std::fmt::Display) -> OAuthError {
    OAuthError::Server(e.to_string())
}

impl Grants {
    pub fn new(
        store: Store,
        clock: SharedClock,
        keys: KeyRing,
        issuer: Issuer,
        settings: TokenSettings,
    ) -> Self {
        Self {
            store,
            clock,
            keys,
            issuer,
            settings,
            rotation_key: Arc::new(OnceCell::new()),
        }
    }

    /// Records a consent: creates the connection (or reuses the live one of
    /// this user, client and organization), a new grant, and an
    /// authorization code for it. Returns the code. The connection's
    /// previous grant stays valid until this code is exchanged, so a code
    /// that never reaches the client (a cross-site request, an abandoned
    /// tab) takes nothing away.
    pub async fn approve(&self, approval: Approval<'_>) -> Result<String, OAuthError> {
        // Two consents racing to create the same connection: the loser
        // finds the winner's connection on its second try.
        match self.try_approve(&approval).await {
            Err(ApproveError::ConnectionRace) => match self.try_approve(&approval).await {
                Err(ApproveError::ConnectionRace) => Err(OAuthError::Unavailable(
                    "a concurrent consent created the same connection".to_owned(),
                )),
                other => other.map_err(ApproveError::into_oauth),
            },
            other => other.map_err(ApproveError::into_oauth),
        }
    }

    async fn try_approve(&self, approval: &Approval<'_>) -> Result<String, ApproveError> {
        let now = self.clock.now();
        let scopes = approval.scopes.join(" ");
        let code = random::token().map_err(server)?;
        let grant_id = ids::new(ids::GRANT).map_err(server)?;
        let mut tx = self.store.begin_write().await?;
        let install_key = approval.client.install_key(approval.redirect_uri);
        let existing: Option<String> = sqlx::query_scalar(
            "SELECT id FROM connections WHERE org_id = $1 AND user_id = $2 AND client_id = $3 AND install_key = $4 \
             AND revoked_at IS NULL",
        )
        .bind(approval.org_id)
        .bind(approval.user_id)
        .bind(&approval.client.id)
        .bind(install_key)
        .fetch_optional(&mut *tx)
        .await?;
        let connection_id = match existing {
            Some(id) => id,
            None => {
                let id = ids::new(ids::CONNECTION).map_err(server)?;
                let inserted = sqlx::query(
                    "INSERT INTO connections (id, org_id, user_id, client_id, name, scopes, created_at, install_key) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(&id)
                .bind(approval.org_id)
                .bind(approval.user_id)
                .bind(&approval.client.id)
                .bind(&approval.client.name)
                .bind(&scopes)
                .bind(now.as_secs())
                .bind(install_key)
                .execute(&mut *tx)
                .await;
                match inserted {
                    Err(e) if is_unique_violation(&e) => return Err(ApproveError::ConnectionRace),
                    other => other?,
                };
                id
            }
        };
        sqlx::query(
            "INSERT INTO oauth_grants (id, connection_id, client_id, scopes, created_at, redirect_uri, session_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&grant_id)
        .bind(&connection_id)
        .bind(&approval.client.id)
        .bind(&scopes)
        .bind(now.as_secs())
        .bind(approval.redirect_uri)
        .bind(approval.session_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO authorization_codes (code_hash, grant_id, client_id, redirect_uri, redirect_uri_explicit, \
             code_challenge, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(random::digest(&code))
        .bind(&grant_id)
        .bind(&approval.client.id)
        .bind(approval.redirect_uri)
        .bind(i64::from(approval.redirect_uri_explicit))
        .bind(approval.code_challenge)
        .bind(now.as_secs())
        .bind(now.plus(CODE_TTL).as_secs())
        .execute(&mut *tx)
        .await?;
        audit::record(
            &mut tx,
            &Actor::User(approval.user_id.to_owned()),
            now,
            AuditEvent {
                action: "consent.granted",
                subject_id: Some(&connection_id),
                org_id: Some(approval.org_id),
                detail: json!({
                    "client_id": approval.client.id,
                    "grant_id": grant_id,
                    "scopes": scopes,
                    "client_ip": approval.client_ip,
                })
                .to_string(),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(code)
    }

    /// Whether consent can be skipped: the user has a live connection of
    /// this client for this organization covering `scopes`, consented to
    /// through this same redirect URI in this same browser session. A new
    /// session, another redirect URI or wider scopes show the page again.
    pub async fn remembered(&self, consent: &Remembered<'_>) -> Result<bool, OAuthError> {
        let granted: Option<String> = sqlx::query_scalar(
            "SELECT c.scopes FROM connections c \
             WHERE c.org_id = $1 AND c.user_id = $2 AND c.client_id = $3 AND c.install_key = $4 \
             AND c.revoked_at IS NULL AND EXISTS (SELECT 1 FROM oauth_grants g \
             WHERE g.connection_id = c.id AND g.revoked_at IS NULL AND g.redirect_uri = $5 AND g.session_id = $6)",
        )
        .bind(consent.org_id)
        .bind(consent.user_id)
        .bind(consent.client_id)
        .bind(consent.install_key)
        .bind(consent.redirect_uri)
        .bind(consent.session_id)
        .fetch_optional(self.store.pool())
        .await?;
        Ok(granted.is_some_and(|granted| {
            let granted: Vec<&str> = granted.split(' ').collect();
            consent.scopes.iter().all(|s| granted.contains(&s.as_str()))
        }))
    }

    /// The `authorization_code` grant. Every check happens before the code
    /// is consumed; a code presented a second time revokes its grant. The
    /// code's consumption, the replacement of the connection's previous
    /// grant, the refresh token and the audit event commit together.
    pub async fn exchange_code(
        &self,
        client: &Client,
        code: &str,
        redirect_uri: Option<&str>,
        verifier: Option<&str>,
        client_ip: Option<&str>,
    ) -> Result<TokenResponse, OAuthError> {
        let now = self.clock.now();
        let code_hash = random::digest(code);
        let row: Option<CodeRow> = sqlx::query_as(
            "SELECT grant_id, client_id, redirect_uri, redirect_uri_explicit, code_challenge, expires_at, used_at \
             FROM authorization_codes WHERE code_hash = $1",
        )
        .bind(&code_hash)
        .fetch_optional(self.store.pool())
        .await?;
        let Some(CodeRow {
            grant_id,
            client_id,
            redirect_uri: registered_redirect,
            redirect_uri_explicit: explicit,
            code_challenge: challenge,
            expires_at,
            used_at,
        }) = row
        else {
            return Err(OAuthError::InvalidGrant(
                "The authorization code is invalid".to_owned(),
            ));
        };
        if client_id != client.id {
            return Err(OAuthError::InvalidGrant(
                "The authorization code was issued to another client".to_owned(),
            ));
        }
        let replayed = || {
            OAuthError::InvalidGrant(
                "The authorization code was already used; its tokens are revoked".to_owned(),
            )
        };
        if used_at.is_some() {
            self.revoke_grant(&grant_id, "code_replay", &client.id, client_ip)
                .await?;
            return Err(replayed());
        }
        if expires_at <= now.as_secs() {
            return Err(OAuthError::InvalidGrant(
                "The authorization code has expired".to_owned(),
            ));
        }
        match redirect_uri {
            Some(given) if given != registered_redirect => {
                return Err(OAuthError::InvalidGrant(
                    "redirect_uri does not match the authorization request".to_owned(),
                ));
            }
            None if explicit != 0 => {
                return Err(OAuthError::InvalidRequest(
                    "redirect_uri is required: the authorization request had one".to_owned(),
                ));
            }
            _ => {}
        }
        let verifier = verifier
            .ok_or_else(|| OAuthError::InvalidRequest("code_verifier is required".to_owned()))?;
        if !pkce_matches(verifier, &challenge) {
            return Err(OAuthError::InvalidGrant(
                "The PKCE code_verifier does not match the code_challenge".to_owned(),
            ));
        }
        let mut tx = self.store.begin_write().await?;
        let consumed = sqlx::query(
            "UPDATE authorization_codes SET used_at = $1 WHERE code_hash = $2 AND used_at IS NULL",
        )
        .bind(now.as_secs())
        .bind(&code_hash)
        .execute(&mut *tx)
        .await?;
        if consumed.rows_affected() == 0 {
            drop(tx);
            self.revoke_grant(&grant_id, "code_replay", &client.id, client_ip)
                .await?;
            return Err(replayed());
        }
        let grant: Option<GrantRow> = sqlx::query_as(GRANT_SELECT)
            .bind(&grant_id)
            .fetch_optional(&mut *tx)
            .await?;
        let grant = match grant {
            Some(row) if row.grant_revoked_at.is_none() && row.connection_revoked_at.is_none() => {
                row
            }
            _ => {
                return Err(OAuthError::InvalidGrant(
                    "The grant has been revoked".to_owned(),
                ));
            }
        };
        // This consent now stands for the connection: earlier grants end.
        sqlx::query(
            "UPDATE oauth_grants SET revoked_at = $1, revoked_reason = 'replaced' \
             WHERE connection_id = $2 AND id <> $3 AND revoked_at IS NULL",
        )
        .bind(now.as_secs())
        .bind(&grant.connection_id)
        .bind(&grant.grant_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE connections SET scopes = $1 WHERE id = $2")
            .bind(&grant.scopes)
            .bind(&grant.connection_id)
            .execute(&mut *tx)
            .await?;
        let refresh = if client.allows_refresh() {
            let token = random::token().map_err(server)?;
            self.insert_refresh_token(&mut tx, &token, &grant_id, &client.id, now)
                .await?;
            Some(token)
        } else {
            None
        };
        record_grant_use(&mut tx, "grant.issued", &grant, &client.id, client_ip, now).await?;
        tx.commit().await?;
        self.respond(client, &grant, refresh, &grant.scopes, now)
            .await
    }

    /// The `refresh_token` grant, with rotation, the grace window and reuse
    /// detection.
    pub async fn refresh(
        &self,
        client: &Client,
        token: &str,
        scope: Option<&str>,
        client_ip: Option<&str>,
    ) -> Result<TokenResponse, OAuthError> {
        if !client.allows_refresh() {
            return Err(OAuthError::UnauthorizedClient(
                "This client is not registered for the refresh_token grant".to_owned(),
            ));
        }
        let now = self.clock.now();
        let token_hash = random::digest(token);
        let row: Option<(String, String, i64, Option<i64>)> = sqlx::query_as(
            "SELECT grant_id, client_id, expires_at, used_at FROM refresh_tokens WHERE token_hash = $1",
        )
        .bind(&token_hash)
        .fetch_optional(self.store.pool())
        .await?;
        let invalid = || {
            OAuthError::InvalidGrant("The refresh token is invalid, expired or revoked".to_owned())
        };
        let Some((grant_id, client_id, expires_at, used_at)) = row else {
            return Err(invalid());
        };
        if client_id != client.id {
            return Err(invalid());
        }
        let grant = self.live_grant(&grant_id).await.map_err(|_| invalid())?;
        if let Some(requested) = scope {
            let granted: Vec<&str> = grant.scopes.split(' ').collect();
            if let Some(extra) = requested
                .split(' ')
                .filter(|s| !s.is_empty())
                .find(|s| !granted.contains(s))
            {
                return Err(OAuthError::InvalidScope(format!(
                    "scope {extra:?} was not granted"
                )));
            }
        }
        let first_use = match used_at {
            None => {
                if expires_at <= now.as_secs() {
                    return Err(invalid());
                }
                sqlx::query("UPDATE refresh_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL")
                    .bind(now.as_secs())
                    .bind(&token_hash)
                    .execute(self.store.pool())
                    .await?
                    .rows_affected()
                    == 1
            }
            Some(_) => false,
        };
        if !first_use {
            // Used before: a parallel refresh inside the grace window gets the
            // same successor; anything later is theft or a broken client.
            let used_at: Option<i64> =
                sqlx::query_scalar("SELECT used_at FROM refresh_tokens WHERE token_hash = $1")
                    .bind(&token_hash)
                    .fetch_one(self.store.pool())
                    .await?;
            let grace = i64::try_from(self.settings.refresh_grace.as_secs()).unwrap_or(0);
            let within_grace = used_at.is_some_and(|at| now.as_secs() - at <= grace) && grace > 0;
            if !within_grace {
                self.revoke_grant(&grant_id, "refresh_token_reuse", &client.id, client_ip)
                    .await?;
                return Err(OAuthError::InvalidGrant(
                    "The refresh token was already used; the grant is revoked and the user must sign in again".to_owned(),
                ));
            }
        }
        // The successor and its audit event commit together.
        let successor = self.successor_of(token).await?;
        let mut tx = self.store.begin_write().await?;
        self.insert_refresh_token(&mut tx, &successor, &grant_id, &client.id, now)
            .await?;
        record_grant_use(
            &mut tx,
            "grant.refreshed",
            &grant,
            &client.id,
            client_ip,
            now,
        )
        .await?;
        tx.commit().await?;
        // A narrower `scope` narrows this access token; the grant keeps its own.
        let narrowed = scope
            .map(|requested| {
                requested
                    .split(' ')
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .filter(|narrowed| !narrowed.is_empty());
        let scopes = narrowed.unwrap_or_else(|| grant.scopes.clone());
        self.respond(client, &grant, Some(successor), &scopes, now)
            .await
    }

    /// RFC 7009: revokes the grant behind a refresh or access token of this
    /// client. Unknown tokens are not an error.
    pub async fn revoke(
        &self,
        client: &Client,
        token: &str,
        client_ip: Option<&str>,
    ) -> Result<(), OAuthError> {
        let from_refresh: Option<(String, String)> =
            sqlx::query_as("SELECT grant_id, client_id FROM refresh_tokens WHERE token_hash = $1")
                .bind(random::digest(token))
                .fetch_optional(self.store.pool())
                .await?;
        let grant = match from_refresh {
            Some((grant_id, client_id)) => Some((grant_id, client_id)),
            None => self
                .verify_access_token(token)
                .await?
                .map(|c| (c.gid, c.client_id)),
        };
        if let Some((grant_id, client_id)) = grant
            && client_id == client.id
        {
            self.revoke_grant(&grant_id, "revoked_by_client", &client.id, client_ip)
                .await?;
        }
        Ok(())
    }

    /// RFC 7662 for access and refresh tokens, answered to `caller`. The
    /// endpoint admits only introspection clients; behind that, a token of
    /// another client is inactive to anyone else all the same.
    pub async fn introspect(&self, caller: &Client, token: &str) -> Result<Value, OAuthError> {
        let visible = |client_id: &str| caller.may_introspect() || client_id == caller.id;
        if let Some(claims) = self.verify_access_token(token).await? {
            if visible(&claims.client_id) && self.live_grant(&claims.gid).await.is_ok() {
                return Ok(json!({
                    "active": true,
                    "token_type": "access_token",
                    "scope": claims.scope,
                    "client_id": claims.client_id,
                    "sub": claims.sub,
                    "org_id": claims.org_id,
                    "sid": claims.sid,
                    "aud": claims.aud,
                    "iss": claims.iss,
                    "exp": claims.exp,
                    "iat": claims.iat,
                    "jti": claims.jti,
                }));
            }
            return Ok(json!({ "active": false }));
        }
        let row: Option<(String, String, i64, Option<i64>)> = sqlx::query_as(
            "SELECT grant_id, client_id, expires_at, used_at FROM refresh_tokens WHERE token_hash = $1",
        )
        .bind(random::digest(token))
        .fetch_optional(self.store.pool())
        .await?;
        if let Some((grant_id, client_id, expires_at, None)) = row
            && visible(&client_id)
            && expires_at > self.clock.now().as_secs()
            && let Ok(grant) = self.live_grant(&grant_id).await
        {
            return Ok(json!({
                "active": true,
                "token_type": "refresh_token",
                "scope": grant.scopes,
                "client_id": client_id,
                "sub": grant.user_id,
                "org_id": grant.org_id,
                "exp": expires_at,
            }));
        }
        Ok(json!({ "active": false }))
    }

    /// Checks an access token's signature, header, issuer, audience and
    /// expiry (by the injected clock). `None` for anything that is not a
    /// valid, unexpired token of ours.
    pub async fn verify_access_token(
        &self,
        token: &str,
    ) -> Result<Option<AccessClaims>, OAuthError> {
        let now = self.clock.now().as_secs();
        Ok(self
            .verify_signature(token)
            .await?
            .filter(|claims| claims.exp > now))
    }

    /// Checks everything about an access token but its expiry: `typ`
    /// `at+jwt` (or `application/at+jwt`, RFC 9068 §2.1), EdDSA, no `crit`,
    /// a published key, the signature, `iss`, `aud`, and that `nbf` and
    /// `iat` are not in the future (by the injected clock, with 60 s of
    /// leeway). Callers compare `exp` with their own clock; a token that
    /// passes here at one moment passes at every later one.
    pub async fn verify_signature(&self, token: &str) -> Result<Option<AccessClaims>, OAuthError> {
        /// Clock skew tolerated on `nbf` and `iat`.
        const LEEWAY: i64 = 60;
        /// `nbf` is not one of ours: read beside the claims, not into them.
        #[derive(serde::Deserialize)]
        struct Timed {
            #[serde(default)]
            nbf: Option<i64>,
            #[serde(flatten)]
            claims: AccessClaims,
        }
        /// Whether the protected header has a `crit` member (RFC 7515
        /// §4.1.11): it names extensions the recipient must understand, and
        /// Signet understands none. Read from the header JSON itself so any
        /// `crit` (also a null or malformed one) counts; unreadable counts too.
        fn names_crit(token: &str) -> bool {
            token
                .split('.')
                .next()
                .and_then(|encoded| BASE64URL_NOPAD.decode(encoded.as_bytes()).ok())
                .and_then(|json| {
                    serde_json::from_slice::<serde_json::Map<String, Value>>(&json).ok()
                })
                .is_none_or(|header| header.contains_key("crit"))
        }
        let Ok(header) = jsonwebtoken::decode_header(token) else {
            return Ok(None);
        };
        // Media types compare case-insensitively; `application/` may be left out.
        let typ_ok = header.typ.as_deref().is_some_and(|typ| {
            typ.eq_ignore_ascii_case("at+jwt") || typ.eq_ignore_ascii_case("application/at+jwt")
        });
        if !typ_ok || header.alg != jsonwebtoken::Algorithm::EdDSA || names_crit(token) {
            return Ok(None);
        }
        let Some(kid) = header.kid else {
            return Ok(None);
        };
        let Some(key) = self.keys.verifying_key(&kid).await? else {
            return Ok(None);
        };
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
        validation.set_issuer(&[self.issuer.as_str()]);
        validation.set_audience(&[self.issuer.resource()]);
        // Times are checked here and by the caller, against the injected
        // clock, not jsonwebtoken's system clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.required_spec_claims.clear();
        let Ok(data) = jsonwebtoken::decode::<Timed>(token, &key, &validation) else {
            return Ok(None);
        };
        let Timed { nbf, claims } = data.claims;
        let now = self.clock.now().as_secs();
        if nbf.is_some_and(|nbf| nbf > now + LEEWAY) || claims.iat > now + LEEWAY {
            return Ok(None);
        }
        Ok(Some(claims))
    }

    async fn live_grant(&self, grant_id: &str) -> Result<GrantRow, OAuthError> {
        let row: Option<GrantRow> = sqlx::query_as(GRANT_SELECT)
            .bind(grant_id)
            .fetch_optional(self.store.pool())
            .await?;
        match row {
            Some(row) if row.grant_revoked_at.is_none() && row.connection_revoked_at.is_none() => {
                Ok(row)
            }
            _ => Err(OAuthError::InvalidGrant(
                "The grant has been revoked".to_owned(),
            )),
        }
    }

    /// Stores a refresh token (only its digest) for a grant. A successor
    /// stored twice (a replay inside the grace window) is stored once.
    async fn insert_refresh_token(
        &self,
        conn: &mut sqlx::AnyConnection,
        token: &str,
        grant_id: &str,
        client_id: &str,
        now: UnixTime,
    ) -> Result<(), OAuthError> {
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, grant_id, client_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (token_hash) DO NOTHING",
        )
        .bind(random::digest(token))
        .bind(grant_id)
        .bind(client_id)
        .bind(now.as_secs())
        .bind(now.plus(self.settings.refresh_token_ttl).as_secs())
        .execute(conn)
        .await?;
        Ok(())
    }

    async fn successor_of(&self, previous: &str) -> Result<String, OAuthError> {
        let key = self
            .rotation_key
            .get_or_try_init(|| self.load_rotation_key())
            .await?;
        let tag = hmac::sign(key, previous.as_bytes());
        Ok(BASE64URL_NOPAD.encode(tag.as_ref()))
    }

    /// The instance-wide secret that derives successors, created by the
    /// first instance that needs it and shared by all.
    async fn load_rotation_key(&self) -> Result<hmac::Key, OAuthError> {
        let bytes =
            signet_store::instance_secret(&self.store, "refresh_rotation_key", self.clock.now())
                .await
                .map_err(server)?;
        Ok(hmac::Key::new(hmac::HMAC_SHA256, &bytes))
    }

    async fn respond(
        &self,
        client: &Client,
        grant: &GrantRow,
        refresh_token: Option<String>,
        scopes: &str,
        now: UnixTime,
    ) -> Result<TokenResponse, OAuthError> {
        let claims = AccessClaims {
            iss: self.issuer.as_str().to_owned(),
            aud: self.issuer.resource(),
            sub: grant.user_id.clone(),
            org_id: Some(grant.org_id.clone()),
            client_id: client.id.clone(),
            sid: grant.connection_id.clone(),
            gid: grant.grant_id.clone(),
            scope: scopes.to_owned(),
            jti: random::token().map_err(server)?,
            iat: now.as_secs(),
            exp: now.plus(self.settings.access_token_ttl).as_secs(),
        };
        let access_token = self.keys.sign("at+jwt", &claims).await?;
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: self.settings.access_token_ttl.as_secs(),
            refresh_token,
            scope: scopes.to_owned(),
        })
    }

    async fn revoke_grant(
        &self,
        grant_id: &str,
        reason: &str,
        client_id: &str,
        client_ip: Option<&str>,
    ) -> Result<(), OAuthError> {
        let now = self.clock.now();
        let mut tx = self.store.begin_write().await?;
        let revoked = sqlx::query("UPDATE oauth_grants SET revoked_at = $1, revoked_reason = $2 WHERE id = $3 AND revoked_at IS NULL")
            .bind(now.as_secs())
            .bind(reason)
            .bind(grant_id)
            .execute(&mut *tx)
            .await?;
        if revoked.rows_affected() > 0 {
            let owner: Option<(String, String)> = sqlx::query_as(
                "SELECT c.org_id, c.user_id FROM oauth_grants g JOIN connections c ON c.id = g.connection_id WHERE g.id = $1",
            )
            .bind(grant_id)
            .fetch_optional(&mut *tx)
            .await?;
            let (org_id, user_id) = owner.unzip();
            audit::record(
                &mut tx,
                &Actor::System,
                now,
                AuditEvent {
                    action: if reason == "refresh_token_reuse" {
                        "refresh_token.reuse_detected"
                    } else {
                        "grant.revoked"
                    },
                    subject_id: Some(grant_id),
                    org_id: org_id.as_deref(),
                    detail: json!({
                        "reason": reason,
                        "user_id": user_id,
                        "client_id": client_id,
                        "client_ip": client_ip,
                    })
                    .to_string(),
                },
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

/// The audit event of a grant's tokens being issued or refreshed, in the
/// transaction that stores them.
async fn record_grant_use(
    conn: &mut sqlx::AnyConnection,
    action: &str,
    grant: &GrantRow,
    client_id: &str,
    client_ip: Option<&str>,
    now: UnixTime,
) -> Result<(), OAuthError> {
    audit::record(
        conn,
        &Actor::User(grant.user_id.clone()),
        now,
        AuditEvent {
            action,
            subject_id: Some(&grant.grant_id),
            org_id: Some(&grant.org_id),
            detail: json!({
                "client_id": client_id,
                "connection_id": grant.connection_id,
                "client_ip": client_ip,
            })
            .to_string(),
        },
    )
    .await?;
    Ok(())
}

/// RFC 7636 S256: `BASE64URL(SHA256(verifier)) == challenge`, with the
/// verifier's syntax checked (43 to 128 unreserved characters).
pub fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    if !well_formed {
        return false;
    }
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
    random::constant_time_eq(&BASE64URL_NOPAD.encode(digest.as_ref()), challenge)
}

#[cfg(test)]
mod tests {
    #[test]
    fn pkce_s256_matches_rfc_7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert!(super::pkce_matches(
            verifier,
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!super::pkce_matches(
            verifier,
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cN"
        ));
        assert!(!super::pkce_matches(
            "short",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
    }
}
