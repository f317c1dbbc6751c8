//! Refresh tokens: the `refresh_token` grant, with rotation on every use,
//! the grace window and reuse detection. A successor is an HMAC of its
//! predecessor under an instance key, so a replay inside the grace window
//! gets the same successor without any plaintext being stored.

use aws_lc_rs::hmac;
use data_encoding::BASE64URL_NOPAD;
use signet_store::audit::AuditAction;

use super::revocation::GrantRevocation;
use signet_store::{UnixTime, random, sqlx};

use super::{Grants, TokenResponse, record_grant_use, server};
use crate::OAuthError;
use crate::clients::Client;

impl Grants {
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
                self.revoke_grant(
                    &grant_id,
                    GrantRevocation::RefreshTokenReuse,
                    &client.id,
                    client_ip,
                )
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
            AuditAction::GrantRefreshed,
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

    /// Stores a refresh token (only its digest) for a grant. A successor
    /// stored twice (a replay inside the grace window) is stored once.
    pub(super) async fn insert_refresh_token(
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

    /// The successor of `previous`: the same for every replay of it, and
    /// derivable only with the instance key.
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
}
