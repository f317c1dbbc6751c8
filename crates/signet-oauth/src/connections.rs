//! Connected applications: listing, renaming and disconnecting connections.
//! A disconnected connection stays listed (as disconnected) and refuses its
//! tokens; reconnecting creates a new connection.

use serde::Serialize;
use signet_store::audit::{self, Actor, AuditAction, AuditEvent};
use signet_store::{SharedClock, Store, UnixTime, sqlx};

use crate::OAuthError;

signet_store::text_enum!(
    /// Why a connection was disconnected.
    pub DisconnectReason {
        /// By an owner or admin on the Connected Applications page.
        Disconnected => "disconnected",
        /// By an operator (`signet connections revoke`).
        RevokedByCli => "revoked_by_cli",
        /// Its user left the organization.
        MemberRemoved => "member_removed",
        /// Its client was removed.
        ClientRemoved => "client_removed",
    }
);

/// A connection as an administrator sees it.
#[derive(Clone, Debug, Serialize)]
pub struct Connection {
    pub id: String,
    pub org_id: String,
    pub name: String,
    pub client_id: String,
    pub user_id: String,
    pub user_email: String,
    pub scopes: String,
    pub created_at: UnixTime,
    pub last_seen_at: Option<UnixTime>,
    pub call_count: i64,
    pub revoked_at: Option<UnixTime>,
    pub revoked_reason: Option<DisconnectReason>,
}

impl Connection {
    pub fn is_active(&self) -> bool {
        self.revoked_at.is_none()
    }
}

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    org_id: String,
    name: String,
    client_id: String,
    user_id: String,
    user_email: String,
    scopes: String,
    created_at: i64,
    last_seen_at: Option<i64>,
    call_count: i64,
    revoked_at: Option<i64>,
    revoked_reason: Option<DisconnectReason>,
}

impl From<Row> for Connection {
    fn from(row: Row) -> Self {
        Self {
            id: row.id,
            org_id: row.org_id,
            name: row.name,
            client_id: row.client_id,
            user_id: row.user_id,
            user_email: row.user_email,
            scopes: row.scopes,
            created_at: UnixTime::from_secs(row.created_at),
            last_seen_at: row.last_seen_at.map(UnixTime::from_secs),
            call_count: row.call_count,
            revoked_at: row.revoked_at.map(UnixTime::from_secs),
            revoked_reason: row.revoked_reason,
        }
    }
}

macro_rules! select_connections {
    ($rest:literal) => {
        concat!(
            "SELECT c.id, c.org_id, c.name, c.client_id, c.user_id, u.email AS user_email, c.scopes, \
             c.created_at, c.last_seen_at, c.call_count, c.revoked_at, c.revoked_reason \
             FROM connections c JOIN users u ON u.id = c.user_id ",
            $rest
        )
    };
}

/// Longest connection name, in characters.
pub const MAX_NAME_CHARS: usize = 100;

#[derive(Clone, Debug)]
pub struct Connections {
    store: Store,
    clock: SharedClock,
}

impl Connections {
    pub fn new(store: Store, clock: SharedClock) -> Self {
        Self { store, clock }
    }

    /// An organization's connections, active first, newest first.
    pub async fn of_organization(&self, org_id: &str) -> Result<Vec<Connection>, OAuthError> {
        let rows: Vec<Row> = sqlx::query_as(select_connections!(
            "WHERE c.org_id = $1 ORDER BY CASE WHEN c.revoked_at IS NULL THEN 0 ELSE 1 END, c.created_at DESC, c.id"
        ))
        .bind(org_id)
        .fetch_all(self.store.pool())
        .await?;
        Ok(rows.into_iter().map(Connection::from).collect())
    }

    /// Every connection, newest first (for the CLI without `--org`).
    pub async fn all(&self) -> Result<Vec<Connection>, OAuthError> {
        let rows: Vec<Row> =
            sqlx::query_as(select_connections!("ORDER BY c.created_at DESC, c.id"))
                .fetch_all(self.store.pool())
                .await?;
        Ok(rows.into_iter().map(Connection::from).collect())
    }

    pub async fn get(&self, id: &str) -> Result<Option<Connection>, OAuthError> {
        let row: Option<Row> = sqlx::query_as(select_connections!("WHERE c.id = $1"))
            .bind(id)
            .fetch_optional(self.store.pool())
            .await?;
        Ok(row.map(Connection::from))
    }

    /// Renames a connection (a label only; it changes nothing else).
    pub async fn rename(
        &self,
        actor: &Actor,
        id: &str,
        name: &str,
    ) -> Result<Connection, OAuthError> {
        let name = name.trim();
        if name.is_empty()
            || name.chars().count() > MAX_NAME_CHARS
            || signet_store::text::first_deceptive(name).is_some()
        {
            return Err(OAuthError::InvalidRequest(format!(
                "A connection name has 1 to {MAX_NAME_CHARS} visible characters on one line"
            )));
        }
        let now = self.clock.now();
        let mut tx = self.store.begin_write().await?;
        let updated = sqlx::query("UPDATE connections SET name = $1 WHERE id = $2")
            .bind(name)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if updated.rows_affected() == 0 {
            return Err(OAuthError::InvalidRequest(format!("No connection {id}")));
        }
        audit::record(
            &mut tx,
            actor,
            now,
            AuditEvent {
                action: AuditAction::ConnectionRenamed,
                subject_id: Some(id),
                org_id: None,
                detail: serde_json::json!({ "name": name }).to_string(),
            },
        )
        .await?;
        tx.commit().await?;
        self.get(id)
            .await?
            .ok_or_else(|| OAuthError::InvalidRequest(format!("No connection {id}")))
    }

    /// Disconnects a connection: its tokens are refused from the next
    /// request on and its refresh tokens stop working. Returns `false` if it
    /// was already disconnected.
    pub async fn disconnect(
        &self,
        actor: &Actor,
        id: &str,
        reason: DisconnectReason,
    ) -> Result<bool, OAuthError> {
        let now = self.clock.now();
        let mut tx = self.store.begin_write().await?;
        let updated = disconnect_where(&mut tx, Disconnect::Connection(id), reason, now).await?;
        if updated == 0 {
            return Ok(false);
        }
        let org_id: Option<String> =
            sqlx::query_scalar("SELECT org_id FROM connections WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        audit::record(
            &mut tx,
            actor,
            now,
            AuditEvent {
                action: AuditAction::ConnectionDisconnected,
                subject_id: Some(id),
                org_id: org_id.as_deref(),
                detail: serde_json::json!({ "reason": reason }).to_string(),
            },
        )
        .await?;
        tx.commit().await?;
        // Every instance has stopped accepting its tokens before we answer.
        self.store.applied_everywhere().await;
        Ok(true)
    }
}

impl Connections {
    /// Removes a member from an organization and disconnects what they
    /// connected for it, in one transaction: no moment in which a former
    /// member's agent still acts for the organization. Refusals (the last
    /// owner, not a member) change nothing.
    pub async fn remove_member(
        &self,
        identity: &signet_identity::Identity,
        actor: &Actor,
        org_id: &str,
        email: &str,
    ) -> Result<(signet_identity::User, signet_identity::Role), signet_identity::IdentityError>
    {
        let user = identity.user_by_email(email).await?;
        let now = self.clock.now();
        let mut tx = self.store.begin_write().await?;
        let member = Disconnect::Member {
            org_id,
            user_id: &user.id,
        };
        let disconnected =
            disconnect_where(&mut tx, member, DisconnectReason::MemberRemoved, now).await?;
        let role = identity
            .remove_member_in(&mut tx, actor, org_id, &user, disconnected)
            .await?;
        tx.commit().await?;
        // Every instance has stopped accepting its tokens before we answer.
        self.store.applied_everywhere().await;
        Ok((user, role))
    }
}

/// Which live connections a disconnect ends.
#[derive(Clone, Copy, Debug)]
pub enum Disconnect<'a> {
    /// One connection (Disconnect on the web page, `signet connections revoke`).
    Connection(&'a str),
    /// Every connection of a client being removed.
    Client(&'a str),
    /// Every connection a member made for an organization they are leaving.
    Member { org_id: &'a str, user_id: &'a str },
}

/// The one way connections are disconnected, in the caller's transaction:
/// their tokens are refused from the next request on, and their refresh
/// tokens stop working. Returns how many were live.
pub async fn disconnect_where(
    conn: &mut sqlx::AnyConnection,
    which: Disconnect<'_>,
    reason: DisconnectReason,
    now: UnixTime,
) -> Result<u64, sqlx::Error> {
    let (filter, first, second) = match which {
        Disconnect::Connection(id) => ("id = $3", id, None),
        Disconnect::Client(client_id) => ("client_id = $3", client_id, None),
        Disconnect::Member { org_id, user_id } => {
            ("org_id = $3 AND user_id = $4", org_id, Some(user_id))
        }
    };
    let sql = format!(
        "UPDATE connections SET revoked_at = $1, revoked_reason = $2 WHERE revoked_at IS NULL AND {filter}"
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(now.as_secs())
        .bind(reason)
        .bind(first);
    if let Some(second) = second {
        query = query.bind(second);
    }
    Ok(query.execute(conn).await?.rows_affected())
}
