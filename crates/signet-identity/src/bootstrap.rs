use signet_store::audit::Actor;
use signet_store::sqlx;

use crate::{Account, Identity, IdentityError, Organization, Password, User};

/// What first start created. The password is shown to the operator once.
#[derive(Debug)]
pub struct InitialOwner {
    pub user: User,
    pub organization: Organization,
    pub account: Account,
    pub password: Password,
}

const BOOTSTRAP_MARKER: &str = "bootstrapped_at";

impl Identity {
    /// On an empty database, creates the first owner, an organization and
    /// an active account, and returns them with a fresh password. Returns
    /// `None` on every later start, even if every user has since been
    /// removed: an instance is bootstrapped once. Several instances starting
    /// together on one PostgreSQL database agree on a single winner.
    pub async fn bootstrap(
        &self,
        email: &str,
        organization_name: &str,
    ) -> Result<Option<InitialOwner>, IdentityError> {
        // Refuse bad settings before claiming the one-time bootstrap.
        crate::users::normalize_email(email)?;
        crate::users::clean_name(organization_name, "organization name")?;
        let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(self.store.pool())
            .await?;
        let claimed =
            signet_store::claim_marker(&self.store, BOOTSTRAP_MARKER, self.clock.now()).await?;
        if users > 0 || !claimed {
            return Ok(None);
        }
        let created = self.create_initial_owner(email, organization_name).await;
        if created.is_err() {
            // Give the next start another chance rather than none at all.
            let _ = signet_store::release_marker(&self.store, BOOTSTRAP_MARKER).await;
        }
        created.map(Some)
    }

    async fn create_initial_owner(
        &self,
        email: &str,
        organization_name: &str,
    ) -> Result<InitialOwner, IdentityError> {
        let actor = Actor::System;
        let password = Password::generate()?;
        let user = self
            .create_user(&actor, email, Some("Owner"), Some(password.clone()))
            .await?;
        let organization = self
            .create_organization(&actor, organization_name, Some(&user.email))
            .await?;
        let account = self.link_account(&actor, &organization.id).await?;
        Ok(InitialOwner {
            user,
            organization,
            account,
            password,
        })
    }
}
