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

crate::text_enum!(
    /// What an audit event records. One list for every crate that writes the
    /// trail, so `signet audit list --kind` can name them all.
    pub AuditAction {
        OrganizationCreated => "organization.created",
        MembershipSet => "membership.set",
        MembershipRemoved => "membership.removed",
        UserCreated => "user.created",
        UserPasswordSet => "user.password_set",
        AccountLinked => "account.linked",
        AccountStatusSet => "account.status_set",
        AccountLiveModeSet => "account.live_mode_set",
        SignInSucceeded => "sign_in.succeeded",
        SignInFailed => "sign_in.failed",
        ClientRegistered => "client.registered",
        ClientRemoved => "client.removed",
        ClientCleanedUp => "client.cleaned_up",
        ConsentGranted => "consent.granted",
        ConsentDenied => "consent.denied",
        GrantIssued => "grant.issued",
        GrantRefreshed => "grant.refreshed",
        GrantRevoked => "grant.revoked",
        RefreshTokenReuseDetected => "refresh_token.reuse_detected",
        ConnectionRenamed => "connection.renamed",
        ConnectionDisconnected => "connection.disconnected",
        SigningKeyCreated => "signing_key.created",
        SigningKeyRotated => "signing_key.rotated",
    }
);

/// One line of the trail. `detail` is a small JSON object; it must never hold
/// a secret.
#[derive(Debug)]
pub struct AuditEvent<'a> {
    pub action: AuditAction,
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

/// Which events [`list`] returns, newest first.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    pub org_id: Option<String>,
    pub kind: Option<AuditAction>,
    pub since: Option<UnixTime>,
    pub limit: u32,
}

/// One event as operators read it: who, for which organization, through
/// which client and from which address, as far as the event says.
#[derive(Clone, Debug, serde::Serialize)]
pub struct AuditRecord {
    pub time: String,
    pub kind: AuditAction,
    pub user_id: Option<String>,
    pub org_id: Option<String>,
    pub client_id: Option<String>,
    pub client_ip: Option<String>,
    pub detail: serde_json::Value,
}

#[derive(sqlx::FromRow)]
struct AuditRow {
    occurred_at: i64,
    actor: String,
    action: AuditAction,
    org_id: Option<String>,
    detail: String,
}

/// The audit trail, newest first (for `signet audit list`).
pub async fn list(
    store: &crate::Store,
    filter: &AuditFilter,
) -> Result<Vec<AuditRecord>, StoreError> {
    let rows: Vec<AuditRow> = sqlx::query_as(
        "SELECT occurred_at, actor, action, org_id, detail FROM audit_events \
         WHERE ($1 = '' OR org_id = $1) AND ($2 = '' OR action = $2) AND occurred_at >= $3 \
         ORDER BY occurred_at DESC, id DESC LIMIT $4",
    )
    .bind(filter.org_id.clone().unwrap_or_default())
    .bind(filter.kind.map_or("", AuditAction::as_str))
    .bind(filter.since.map_or(i64::MIN, UnixTime::as_secs))
    .bind(i64::from(filter.limit))
    .fetch_all(store.pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let detail: serde_json::Value =
                serde_json::from_str(&row.detail).unwrap_or(serde_json::Value::Null);
            let text = |key: &str| detail.get(key).and_then(|v| v.as_str()).map(str::to_owned);
            let user_id = match row.actor.as_str() {
                "cli" | "system" => text("user_id"),
                user => Some(user.to_owned()),
            };
            AuditRecord {
                time: UnixTime::from_secs(row.occurred_at).rfc3339(),
                kind: row.action,
                user_id,
                org_id: row.org_id,
                client_id: text("client_id"),
                client_ip: text("client_ip"),
                detail,
            }
        })
        .collect())
}
