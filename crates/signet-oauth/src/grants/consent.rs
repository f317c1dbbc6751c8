//! Consent: recording one (a connection, a grant and its code) and deciding
//! whether an earlier one lets the consent page be skipped.

use serde_json::json;
use signet_store::audit::{self, Actor, AuditAction, AuditEvent};
use signet_store::{ids, is_unique_violation, random, sqlx};

use super::{CODE_TTL, Grants, server};
use crate::OAuthError;
use crate::clients::Client;

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

impl Grants {
    /// Records a consent: creates the connection (or reuses the live one of
    /// this user, client and organization), a new grant, and an
    /// authorization code for it. Returns the code. The connection's
    /// previous grant stays valid until this code is exchanged, so a code
    /// that never reaches the client (a cross-site request, an abandoned
    /// tab) takes nothing away.
    pub async fn approve(&self, approval: Approval<'_>) -> Result<String, OAuthError> {
        // Two consents racing to create the same connection: the loser
        // finds the winner's connection on its second try.
        for _ in 0..2 {
            match self.try_approve(&approval).await {
                Err(ApproveError::ConnectionRace) => {}
                other => return other.map_err(ApproveError::into_oauth),
            }
        }
        Err(ApproveError::ConnectionRace.into_oauth())
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
                action: AuditAction::ConsentGranted,
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
}
