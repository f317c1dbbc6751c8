//! Ending and inspecting grants: RFC 7009 revocation, the revocation of a
//! whole grant (also on a replayed code or refresh token) and RFC 7662
//! introspection.

use serde_json::{Value, json};
use signet_store::audit::{self, Actor, AuditAction, AuditEvent};
use signet_store::{random, sqlx};

use super::Grants;
use crate::OAuthError;
use crate::clients::Client;

signet_store::text_enum!(
    /// Why a grant ended before its time.
    pub GrantRevocation {
        /// A newer consent for the same connection was exchanged.
        Replaced => "replaced",
        /// Its authorization code was presented twice (or too late).
        CodeReplay => "code_replay",
        /// A used refresh token came back outside the grace window.
        RefreshTokenReuse => "refresh_token_reuse",
        /// The client revoked it (RFC 7009).
        RevokedByClient => "revoked_by_client",
    }
);

impl Grants {
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
            self.revoke_grant(
                &grant_id,
                GrantRevocation::RevokedByClient,
                &client.id,
                client_ip,
            )
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

    /// Revokes a grant (and so every token of it) with `reason`, recording
    /// the event once: a grant already revoked is left as it is.
    pub(super) async fn revoke_grant(
        &self,
        grant_id: &str,
        reason: GrantRevocation,
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
                    action: if reason == GrantRevocation::RefreshTokenReuse {
                        AuditAction::RefreshTokenReuseDetected
                    } else {
                        AuditAction::GrantRevoked
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
        if revoked.rows_affected() > 0 {
            // Every instance has stopped accepting its tokens before we answer.
            self.store.applied_everywhere().await;
        }
        Ok(())
    }
}
