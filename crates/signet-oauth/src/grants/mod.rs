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
//!
//! One [`Grants`] serves all of it; its methods live by responsibility:
//!
//! - `consent.rs`: recording a consent ([`Grants::approve`]) and whether an
//!   earlier one can be reused ([`Grants::remembered`]);
//! - `codes.rs`: the `authorization_code` grant ([`Grants::exchange_code`])
//!   and PKCE;
//! - `refresh.rs`: the `refresh_token` grant, rotation and the derivation of
//!   successors;
//! - `access_tokens.rs`: the claims, signing and verification of access
//!   tokens;
//! - `revocation.rs`: RFC 7009 revocation, the revocation of a whole grant
//!   and RFC 7662 introspection.
//!
//! This module holds what they share: the settings, the grant row and its
//! look-up, and the audit event of a grant's use.

mod access_tokens;
mod codes;
mod consent;
mod refresh;
mod revocation;

use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::hmac;
use serde_json::json;
use signet_store::audit::{self, Actor, AuditAction, AuditEvent};
use signet_store::{SharedClock, Store, UnixTime, sqlx};
use tokio::sync::OnceCell;

use crate::{Issuer, KeyRing, OAuthError};

pub use access_tokens::{AccessClaims, TokenResponse};
pub use codes::{CODE_TTL, pkce_matches};
pub use consent::{Approval, Remembered};

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

/// A grant with its connection, as the token endpoints need it.
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

impl GrantRow {
    /// Whether neither the grant nor its connection has been revoked.
    fn is_live(&self) -> bool {
        self.grant_revoked_at.is_none() && self.connection_revoked_at.is_none()
    }
}

/// Reads one [`GrantRow`]; bind the grant id as `$1`.
const GRANT_SELECT: &str = "SELECT g.id AS grant_id, c.id AS connection_id, c.user_id, c.org_id, g.scopes, \
     g.revoked_at AS grant_revoked_at, c.revoked_at AS connection_revoked_at \
     FROM oauth_grants g JOIN connections c ON c.id = g.connection_id WHERE g.id = $1";

fn server(e: impl std::fmt::Display) -> OAuthError {
    OAuthError::Server(e.to_string())
}

/// The one refusal for a grant that is gone, whoever asks.
fn revoked_grant() -> OAuthError {
    OAuthError::InvalidGrant("The grant has been revoked".to_owned())
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

    /// The grant and its connection, if neither has been revoked.
    async fn live_grant(&self, grant_id: &str) -> Result<GrantRow, OAuthError> {
        let row: Option<GrantRow> = sqlx::query_as(GRANT_SELECT)
            .bind(grant_id)
            .fetch_optional(self.store.pool())
            .await?;
        row.filter(GrantRow::is_live).ok_or_else(revoked_grant)
    }
}

/// The audit event of a grant's tokens being issued or refreshed, in the
/// transaction that stores them.
async fn record_grant_use(
    conn: &mut sqlx::AnyConnection,
    action: AuditAction,
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
