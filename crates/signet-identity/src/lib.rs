//! Identity: who people are and which organizations they act for.
//!
//! Users sign in with an email (unique case-insensitively) and an argon2id
//! password; organizations have members with a role; each organization may be
//! linked to one account whose status gates every API call made for it.
//! Every change is written with an audit event in the same transaction.
//!
//! Start reading at [`Identity`].

mod accounts;
mod bootstrap;
mod error;
mod model;
mod organizations;
mod password;
mod sessions;
mod users;

pub use bootstrap::InitialOwner;
pub use error::IdentityError;
pub use model::{
    Account, AccountStatus, Member, MembershipChange, Organization, OrganizationOfUser, Role, User,
};
pub use password::{HASH_WAIT, Password};
pub use sessions::{ClientInfo, SESSION_LIFETIME, Session, SignIn, Swept, sweep_expired};

use signet_store::{SharedClock, Store};

/// The identity service: a handle on the store and the clock. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Identity {
    store: Store,
    clock: SharedClock,
    hasher: password::Hasher,
}

impl Identity {
    pub fn new(store: Store, clock: SharedClock) -> Self {
        Self {
            store,
            clock,
            hasher: password::Hasher::per_core(),
        }
    }

    pub(crate) async fn hash_password(&self, plain: Password) -> Result<String, IdentityError> {
        self.hasher.hash(plain).await
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn clock(&self) -> SharedClock {
        self.clock.clone()
    }
}
