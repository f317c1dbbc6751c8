//! The audit trail: who changed what, written in the same transaction as the
//! change it describes so the trail cannot disagree with the data.

use sqlx::AnyConnection;

use crate::{StoreError, UnixTime, ids};

/// Who made a change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    /// An operator at the `signet` command line.
    Cli,
    /// The server itself (bootstrap, clean-up jobs).
    System,
    /// A signed-in user, by id.
    User(String),
}

impl Actor {
    pub fn as_str(&self) -> &str {
        match self {
            Self::Cli => "cli",
            Self::System => "system",
            Self::User(id) => id,
        }
    }
}

/// One line of the trail. `detail` is a small JSON object; it must never hold
/// a secret.
#[derive(Debug)]
pub struct AuditEvent<'a> {
    pub action: &'a str,
    pub subject_id: Option<&'a str>,
    pub org_id: Option<&'a str>,
    pub detail: String,
}

pub async fn record(
    conn: &mut AnyConnection,
    actor: &Actor,
    at: UnixTime,
    event: AuditEvent<'_>,
) -> Result<(), StoreError> {
    let id = ids::new(ids::AUDIT_EVENT).map_err(|e| StoreError::Randomness(e.to_string()))?;
    sqlx::query(
        "INSERT INTO audit_events (id, occurred_at, actor, action, subject_id, org_id, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id)
    .bind(at.as_secs())
    .bind(actor.as_str())
    .bind(event.action)
    .bind(event.subject_id)
    .bind(event.org_id)
    .bind(event.detail)
    .execute(conn)
    .await?;
    Ok(())
}
