use signet_store::audit::{self, Actor, AuditAction, AuditEvent};
use signet_store::{UnixTime, ids, sqlx};

use crate::users::clean_name;
use crate::{
    AccountStatus, Identity, IdentityError, Member, MembershipChange, Organization,
    OrganizationOfUser, Role, User,
};

#[derive(sqlx::FromRow)]
struct OrgRow {
    id: String,
    name: String,
    created_at: i64,
}

impl From<OrgRow> for Organization {
    fn from(row: OrgRow) -> Self {
        Self {
            id: row.id,
            name: row.name,
            created_at: UnixTime::from_secs(row.created_at),
        }
    }
}

/// Takes the organization's row lock for the rest of the transaction (a row
/// lock on PostgreSQL, the write lock on SQLite), so that two concurrent
/// membership changes cannot both remove "the other" last owner.
async fn lock_organization(
    conn: &mut sqlx::AnyConnection,
    org_id: &str,
) -> Result<(), IdentityError> {
    sqlx::query("UPDATE organizations SET name = name WHERE id = $1")
        .bind(org_id)
        .execute(conn)
        .await?;
    Ok(())
}

impl Identity {
    /// Creates an organization, optionally with a first owner.
    pub async fn create_organization(
        &self,
        actor: &Actor,
        name: &str,
        owner_email: Option<&str>,
    ) -> Result<Organization, IdentityError> {
        let name = clean_name(name, "organization name")?;
        let owner = match owner_email {
            Some(email) => Some(self.user_by_email(email).await?),
            None => None,
        };
        let id = ids::new(ids::ORGANIZATION).map_err(|e| IdentityError::Hashing(e.to_string()))?;
        let now = self.clock.now();
        let mut tx = self.store.begin_write().await?;
        sqlx::query("INSERT INTO organizations (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(&id)
            .bind(&name)
            .bind(now.as_secs())
            .execute(&mut *tx)
            .await?;
        if let Some(owner) = &owner {
            insert_membership(&mut tx, &id, &owner.id, Role::Owner, now).await?;
        }
        audit::record(
            &mut tx,
            actor,
            now,
            AuditEvent {
                action: AuditAction::OrganizationCreated,
                subject_id: Some(&id),
                org_id: Some(&id),
                detail: serde_json::json!({
                    "name": name,
                    "owner": owner.as_ref().map(|o| o.id.as_str()),
                })
                .to_string(),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(Organization {
            id,
            name,
            created_at: now,
        })
    }

    /// Finds an organization by id (`org_…`) or by its exact name. A name
    /// shared by several organizations is refused rather than guessed.
    pub async fn resolve_organization(
        &self,
        id_or_name: &str,
    ) -> Result<Organization, IdentityError> {
        let key = id_or_name.trim();
        if ids::has_prefix(key, ids::ORGANIZATION) {
            let row: Option<OrgRow> =
                sqlx::query_as("SELECT id, name, created_at FROM organizations WHERE id = $1")
                    .bind(key)
                    .fetch_optional(self.store.pool())
                    .await?;
            if let Some(row) = row {
                return Ok(row.into());
            }
        }
        let mut rows: Vec<OrgRow> = sqlx::query_as(
            "SELECT id, name, created_at FROM organizations WHERE name = $1 LIMIT 2",
        )
        .bind(key)
        .fetch_all(self.store.pool())
        .await?;
        match rows.len() {
            0 => Err(IdentityError::UnknownOrganization(key.to_owned())),
            1 => Ok(rows.remove(0).into()),
            _ => {
                let count: i64 =
                    sqlx::query_scalar("SELECT COUNT(*) FROM organizations WHERE name = $1")
                        .bind(key)
                        .fetch_one(self.store.pool())
                        .await?;
                Err(IdentityError::AmbiguousOrganization {
                    name: key.to_owned(),
                    count: usize::try_from(count).unwrap_or(usize::MAX),
                })
            }
        }
    }

    pub async fn list_organizations(&self) -> Result<Vec<Organization>, IdentityError> {
        let rows: Vec<OrgRow> =
            sqlx::query_as("SELECT id, name, created_at FROM organizations ORDER BY name, id")
                .fetch_all(self.store.pool())
                .await?;
        Ok(rows.into_iter().map(Organization::from).collect())
    }

    /// The user's organization when they belong to exactly one (a token
    /// without `org_id` acts for it); `None` for none or several.
    pub async fn sole_organization(&self, user_id: &str) -> Result<Option<String>, IdentityError> {
        let orgs: Vec<String> =
            sqlx::query_scalar("SELECT org_id FROM memberships WHERE user_id = $1 LIMIT 2")
                .bind(user_id)
                .fetch_all(self.store.pool())
                .await?;
        Ok(match orgs.as_slice() {
            [only] => Some(only.clone()),
            _ => None,
        })
    }

    /// Every organization the user belongs to, with role and account status.
    pub async fn organizations_of_user(
        &self,
        user_id: &str,
    ) -> Result<Vec<OrganizationOfUser>, IdentityError> {
        let rows: Vec<(String, String, Role, Option<AccountStatus>)> = sqlx::query_as(
            "SELECT o.id, o.name, m.role, a.status \
             FROM memberships m \
             JOIN organizations o ON o.id = m.org_id \
             LEFT JOIN accounts a ON a.org_id = o.id \
             WHERE m.user_id = $1 \
             ORDER BY o.name, o.id",
        )
        .bind(user_id)
        .fetch_all(self.store.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, name, role, account_status)| OrganizationOfUser {
                id,
                name,
                role,
                account_status,
            })
            .collect())
    }

    pub async fn members(&self, org_id: &str) -> Result<Vec<Member>, IdentityError> {
        let rows: Vec<(String, String, String, Role)> = sqlx::query_as(
            "SELECT u.id, u.email, u.display_name, m.role \
             FROM memberships m JOIN users u ON u.id = m.user_id \
             WHERE m.org_id = $1 ORDER BY u.email_key",
        )
        .bind(org_id)
        .fetch_all(self.store.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(user_id, email, display_name, role)| Member {
                user_id,
                email,
                display_name,
                role,
            })
            .collect())
    }

    /// Adds a user to an organization, or changes the role of an existing
    /// member. Demoting the last owner is refused.
    pub async fn add_member(
        &self,
        actor: &Actor,
        org_id: &str,
        email: &str,
        role: Role,
    ) -> Result<(User, MembershipChange), IdentityError> {
        let user = self.user_by_email(email).await?;
        let now = self.clock.now();
        let mut tx = self.store.begin_write().await?;
        lock_organization(&mut tx, org_id).await?;
        let change = match current_role(&mut tx, org_id, &user.id).await? {
            None => {
                insert_membership(&mut tx, org_id, &user.id, role, now).await?;
                MembershipChange::Added
            }
            Some(from) if from == role => MembershipChange::Unchanged,
            Some(from) => {
                if from == Role::Owner && owner_count(&mut tx, org_id).await? <= 1 {
                    return Err(IdentityError::LastOwner {
                        email: user.email,
                        org_id: org_id.to_owned(),
                    });
                }
                sqlx::query("UPDATE memberships SET role = $1 WHERE org_id = $2 AND user_id = $3")
                    .bind(role)
                    .bind(org_id)
                    .bind(&user.id)
                    .execute(&mut *tx)
                    .await?;
                MembershipChange::RoleChanged { from }
            }
        };
        if change != MembershipChange::Unchanged {
            audit::record(
                &mut tx,
                actor,
                now,
                AuditEvent {
                    action: AuditAction::MembershipSet,
                    subject_id: Some(&user.id),
                    org_id: Some(org_id),
                    detail: serde_json::json!({ "role": role, "change": change }).to_string(),
                },
            )
            .await?;
        }
        tx.commit().await?;
        Ok((user, change))
    }

    /// Removes a user from an organization, in the caller's transaction
    /// (the caller also ends what the member connected: see
    /// `signet_oauth::connections::Connections::remove_member`, which runs
    /// both in one transaction). Removing the last owner is refused.
    /// `connections_disconnected` goes into the audit event. Returns the
    /// role the member had.
    pub async fn remove_member_in(
        &self,
        tx: &mut sqlx::AnyConnection,
        actor: &Actor,
        org_id: &str,
        user: &User,
        connections_disconnected: u64,
    ) -> Result<Role, IdentityError> {
        let now = self.clock.now();
        lock_organization(&mut *tx, org_id).await?;
        let Some(role) = current_role(&mut *tx, org_id, &user.id).await? else {
            return Err(IdentityError::NotAMember {
                email: user.email.clone(),
                org_id: org_id.to_owned(),
            });
        };
        if role == Role::Owner && owner_count(&mut *tx, org_id).await? <= 1 {
            return Err(IdentityError::LastOwner {
                email: user.email.clone(),
                org_id: org_id.to_owned(),
            });
        }
        sqlx::query("DELETE FROM memberships WHERE org_id = $1 AND user_id = $2")
            .bind(org_id)
            .bind(&user.id)
            .execute(&mut *tx)
            .await?;
        audit::record(
            &mut *tx,
            actor,
            now,
            AuditEvent {
                action: AuditAction::MembershipRemoved,
                subject_id: Some(&user.id),
                org_id: Some(org_id),
                detail: serde_json::json!({
                    "role": role,
                    "connections_disconnected": connections_disconnected
                })
                .to_string(),
            },
        )
        .await?;
        Ok(role)
    }
}

async fn insert_membership(
    conn: &mut sqlx::AnyConnection,
    org_id: &str,
    user_id: &str,
    role: Role,
    now: UnixTime,
) -> Result<(), IdentityError> {
    sqlx::query(
        "INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(org_id)
    .bind(user_id)
    .bind(role)
    .bind(now.as_secs())
    .execute(conn)
    .await?;
    Ok(())
}

async fn current_role(
    conn: &mut sqlx::AnyConnection,
    org_id: &str,
    user_id: &str,
) -> Result<Option<Role>, IdentityError> {
    Ok(
        sqlx::query_scalar("SELECT role FROM memberships WHERE org_id = $1 AND user_id = $2")
            .bind(org_id)
            .bind(user_id)
            .fetch_optional(conn)
            .await?,
    )
}

async fn owner_count(conn: &mut sqlx::AnyConnection, org_id: &str) -> Result<i64, IdentityError> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM memberships WHERE org_id = $1 AND role = $2")
            .bind(org_id)
            .bind(Role::Owner)
            .fetch_one(conn)
            .await?,
    )
}
