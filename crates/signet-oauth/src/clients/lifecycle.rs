//! A client's life after registration: manual registration by an operator,
//! listing, removal, the clean-up of idle dynamic clients, and the record
//! of use that clean-up relies on.

use serde_json::{Value, json};
use signet_store::audit::{self, Actor, AuditAction, AuditEvent};
use signet_store::{UnixTime, sqlx};

use super::registration::{normalise, resource_server};
use super::{AuthMethod, CleanUp, ClientKind, ClientSummary, Clients};
use crate::OAuthError;

#[derive(sqlx::FromRow)]
struct SummaryRow {
    id: String,
    kind: ClientKind,
    client_name: String,
    redirect_uris: String,
    token_endpoint_auth_method: AuthMethod,
    created_at: i64,
    last_used_at: Option<i64>,
    live_connections: i64,
    introspection: i64,
}

impl Clients {
    /// Registers a client by hand (`signet clients add`), for clients that
    /// can do neither dynamic registration nor a metadata document. The same
    /// redirect-URI rules apply; the secret of a confidential client is in
    /// the returned metadata, once.
    ///
    /// An introspection client is a resource server: it always gets a secret
    /// (`client_secret_basic`) and needs no redirect URI, since it never
    /// sends a user to authorize.
    pub async fn add_manual(
        &self,
        name: &str,
        redirect_uris: &[String],
        confidential: bool,
        introspection: bool,
    ) -> Result<Value, OAuthError> {
        let confidential = confidential || introspection;
        let method = if confidential {
            AuthMethod::ClientSecretBasic
        } else {
            AuthMethod::None
        };
        let metadata = if introspection && redirect_uris.is_empty() {
            resource_server(name)
        } else {
            normalise(&json!({
                "client_name": name,
                "redirect_uris": redirect_uris,
                "token_endpoint_auth_method": method,
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
            }))?
        };
        let mut added = self
            .insert(
                ClientKind::Manual,
                metadata,
                introspection,
                None,
                &Actor::Cli,
            )
            .await?;
        added["introspection"] = json!(introspection);
        Ok(added)
    }

    /// Every client that has not been removed, newest first.
    pub async fn list(&self) -> Result<Vec<ClientSummary>, OAuthError> {
        let rows: Vec<SummaryRow> = sqlx::query_as(
            "SELECT c.id, c.kind, c.client_name, c.redirect_uris, c.token_endpoint_auth_method, c.created_at, \
             c.last_used_at, c.introspection, (SELECT COUNT(*) FROM connections n WHERE n.client_id = c.id AND n.revoked_at IS NULL) AS live_connections \
             FROM oauth_clients c WHERE c.removed_at IS NULL ORDER BY c.created_at DESC, c.id",
        )
        .fetch_all(self.store.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| ClientSummary {
                redirect_uris: serde_json::from_str(&r.redirect_uris).unwrap_or_default(),
                id: r.id,
                kind: r.kind,
                name: r.client_name,
                token_endpoint_auth_method: r.token_endpoint_auth_method,
                created_at: UnixTime::from_secs(r.created_at),
                last_used_at: r.last_used_at.map(UnixTime::from_secs),
                live_connections: r.live_connections,
                introspection: r.introspection != 0,
            })
            .collect())
    }

    /// Removes a client and disconnects all its connections: their tokens
    /// are refused from the next request on. Returns how many connections
    /// were disconnected, or `None` when there is no such client.
    pub async fn remove(&self, actor: &Actor, client_id: &str) -> Result<Option<u64>, OAuthError> {
        let now = self.clock.now();
        let mut tx = self.store.begin_write().await?;
        let removed = sqlx::query(
            "UPDATE oauth_clients SET removed_at = $1 WHERE id = $2 AND removed_at IS NULL",
        )
        .bind(now.as_secs())
        .bind(client_id)
        .execute(&mut *tx)
        .await?;
        if removed.rows_affected() == 0 {
            return Ok(None);
        }
        let disconnected = disconnect_all(&mut tx, client_id, now).await?;
        audit::record(
            &mut tx,
            actor,
            now,
            AuditEvent {
                action: AuditAction::ClientRemoved,
                subject_id: Some(client_id),
                org_id: None,
                detail: json!({ "disconnected": disconnected }).to_string(),
            },
        )
        .await?;
        tx.commit().await?;
        // Every instance has stopped accepting its tokens before we answer.
        self.store.applied_everywhere().await;
        Ok(Some(disconnected))
    }

    /// Removes dynamically registered clients idle for `idle`: never used
    /// (or last used) that long ago and holding no live grant. A client
    /// that never connected anyone is deleted; one with (disconnected)
    /// history keeps its row, marked removed, so that history stays
    /// visible. Manual and metadata-document clients are never touched.
    pub async fn clean_up_idle(&self, idle: std::time::Duration) -> Result<CleanUp, OAuthError> {
        let now = self.clock.now();
        let cutoff = now.minus(idle).as_secs();
        // A grant is live while it and its connection stand and it can
        // still produce tokens: an unused, unexpired refresh token, or an
        // access token that may not have expired yet (at most 24 h).
        let candidates: Vec<(String, i64)> = sqlx::query_as(
            "SELECT c.id, (SELECT COUNT(*) FROM connections n WHERE n.client_id = c.id) AS connections \
             FROM oauth_clients c \
             WHERE c.kind = $4 AND c.removed_at IS NULL AND c.created_at <= $1 \
             AND COALESCE(c.last_used_at, c.created_at) <= $1 \
             AND NOT EXISTS (SELECT 1 FROM oauth_grants g JOIN connections n ON n.id = g.connection_id \
                 WHERE g.client_id = c.id AND g.revoked_at IS NULL AND n.revoked_at IS NULL \
                 AND (g.created_at > $2 OR EXISTS (SELECT 1 FROM refresh_tokens r \
                      WHERE r.grant_id = g.id AND r.used_at IS NULL AND r.expires_at > $3)))",
        )
        .bind(cutoff)
        .bind(now.as_secs() - 24 * 3600)
        .bind(now.as_secs())
        .bind(ClientKind::Dcr)
        .fetch_all(self.store.pool())
        .await?;
        let mut result = CleanUp::default();
        for (id, connections) in candidates {
            let mut tx = self.store.begin_write().await?;
            if connections == 0 {
                sqlx::query("DELETE FROM oauth_clients WHERE id = $1 AND removed_at IS NULL")
                    .bind(&id)
                    .execute(&mut *tx)
                    .await?;
                result.deleted += 1;
            } else {
                sqlx::query(
                    "UPDATE oauth_clients SET removed_at = $1 WHERE id = $2 AND removed_at IS NULL",
                )
                .bind(now.as_secs())
                .bind(&id)
                .execute(&mut *tx)
                .await?;
                disconnect_all(&mut tx, &id, now).await?;
                result.retired += 1;
            }
            audit::record(
                &mut tx,
                &Actor::System,
                now,
                AuditEvent {
                    action: AuditAction::ClientCleanedUp,
                    subject_id: Some(&id),
                    org_id: None,
                    detail: json!({ "idle_seconds": idle.as_secs(), "had_connections": connections > 0 }).to_string(),
                },
            )
            .await?;
            tx.commit().await?;
        }
        if result.retired > 0 {
            self.store.applied_everywhere().await;
        }
        Ok(result)
    }

    /// Records that a client was used (for the clean-up of idle clients).
    pub async fn touch(&self, client_id: &str, now: UnixTime) -> Result<(), OAuthError> {
        sqlx::query("UPDATE oauth_clients SET last_used_at = $1 WHERE id = $2")
            .bind(now.as_secs())
            .bind(client_id)
            .execute(self.store.pool())
            .await?;
        Ok(())
    }
}

/// Disconnects every live connection of a client that is going away.
async fn disconnect_all(
    conn: &mut sqlx::AnyConnection,
    client_id: &str,
    now: UnixTime,
) -> Result<u64, OAuthError> {
    crate::connections::disconnect_where(
        conn,
        crate::connections::Disconnect::Client(client_id),
        crate::connections::DisconnectReason::ClientRemoved,
        now,
    )
    .await
    .map_err(OAuthError::from)
}
