use signet_store::audit::{self, Actor, AuditAction, AuditEvent};
use signet_store::{UnixTime, ids, is_unique_violation, sqlx};

use crate::{Account, AccountStatus, Identity, IdentityError};

#[derive(sqlx::FromRow)]
struct AccountRow {
    id: String,
    org_id: String,
    status: AccountStatus,
    live_mode: i64,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<AccountRow> for Account {
    type Error = IdentityError;
    fn try_from(row: AccountRow) -> Result<Self, Self::Error> {
        Ok(Self {
            id: row.id,
            org_id: row.org_id,
            status: row.status,
            live_mode: row.live_mode != 0,
            created_at: UnixTime::from_secs(row.created_at),
            updated_at: UnixTime::from_secs(row.updated_at),
        })
    }
}

impl Identity {
    /// Links an organization to a new, active account in test mode.
    pub async fn link_account(
        &self,
        actor: &Actor,
        org_id: &str,
    ) -> Result<Account, IdentityError> {
        let id = ids::new(ids::ACCOUNT).map_err(|e| IdentityError::Hashing(e.to_string()))?;
        let now = self.clock.now();
        let mut tx = self.store.begin_write().await?;
        let inserted = sqlx::query(
            "INSERT INTO accounts (id, org_id, status, live_mode, created_at, updated_at) \
             VALUES ($1, $2, 'active', 0, $3, $3)",
        )
        .bind(&id)
        .bind(org_id)
        .bind(now.as_secs())
        .execute(&mut *tx)
        .await;
        match inserted {
            Err(e) if is_unique_violation(&e) => {
                drop(tx);
                let existing = self.account_of(org_id).await?;
                return Err(IdentityError::AlreadyLinked {
                    org_id: org_id.to_owned(),
                    account_id: existing.map(|a| a.id).unwrap_or_default(),
                });
            }
            other => other?,
        };
        audit::record(
            &mut tx,
            actor,
            now,
            AuditEvent {
                action: AuditAction::AccountLinked,
                subject_id: Some(&id),
                org_id: Some(org_id),
                detail: "{}".to_owned(),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(Account {
            id,
            org_id: org_id.to_owned(),
            status: AccountStatus::Active,
            live_mode: false,
            created_at: now,
            updated_at: now,
        })
    }

    /// The account linked to an organization, if any.
    pub async fn account_of(&self, org_id: &str) -> Result<Option<Account>, IdentityError> {
        let row: Option<AccountRow> = sqlx::query_as(
            "SELECT id, org_id, status, live_mode, created_at, updated_at \
             FROM accounts WHERE org_id = $1",
        )
        .bind(org_id)
        .fetch_optional(self.store.pool())
        .await?;
        row.map(Account::try_from).transpose()
    }

    /// Activates, suspends or blocks an organization's account.
    pub async fn set_account_status(
        &self,
        actor: &Actor,
        org_id: &str,
        status: AccountStatus,
    ) -> Result<Account, IdentityError> {
        self.update_account(
            actor,
            org_id,
            AuditAction::AccountStatusSet,
            Some(status),
            None,
        )
        .await
    }

    /// Turns live mode (real, binding envelopes) on or off.
    pub async fn set_live_mode(
        &self,
        actor: &Actor,
        org_id: &str,
        live: bool,
    ) -> Result<Account, IdentityError> {
        self.update_account(
            actor,
            org_id,
            AuditAction::AccountLiveModeSet,
            None,
            Some(live),
        )
        .await
    }

    /// Sets whichever of status and live mode is given, leaving the other.
    async fn update_account(
        &self,
        actor: &Actor,
        org_id: &str,
        action: AuditAction,
        status: Option<AccountStatus>,
        live_mode: Option<bool>,
    ) -> Result<Account, IdentityError> {
        let now = self.clock.now();
        let mut tx = self.store.begin_write().await?;
        let updated = sqlx::query(
            "UPDATE accounts SET status = COALESCE($1, status), \
             live_mode = COALESCE($2, live_mode), updated_at = $3 WHERE org_id = $4",
        )
        .bind(status)
        .bind(live_mode.map(i64::from))
        .bind(now.as_secs())
        .bind(org_id)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(IdentityError::NoAccount(org_id.to_owned()));
        }
        audit::record(
            &mut tx,
            actor,
            now,
            AuditEvent {
                action,
                subject_id: None,
                org_id: Some(org_id),
                detail: serde_json::json!({
                    "status": status,
                    "live_mode": live_mode,
                })
                .to_string(),
            },
        )
        .await?;
        tx.commit().await?;
        // A suspension is refused by every instance before we answer.
        self.store.applied_everywhere().await;
        self.account_of(org_id)
            .await?
            .ok_or_else(|| IdentityError::NoAccount(org_id.to_owned()))
    }
}
