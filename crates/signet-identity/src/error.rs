use signet_store::StoreError;
use thiserror::Error;

/// Everything an identity operation can refuse, named after what went wrong.
/// The messages are shown to operators and users as they are.
#[derive(Debug, Error)]
pub enum IdentityError {
    #[error("invalid email address {0:?}")]
    InvalidEmail(String),
    #[error("a user with email {0} already exists")]
    EmailTaken(String),
    #[error("the password is empty")]
    EmptyPassword,
    #[error("the password is too short: use at least {min} characters")]
    PasswordTooShort { min: usize },
    #[error("the password is too long: use at most {max} bytes")]
    PasswordTooLong { max: usize },
    #[error("invalid {field}: {reason}")]
    InvalidName {
        field: &'static str,
        reason: &'static str,
    },
    #[error("no user with email {0}")]
    UnknownUser(String),
    #[error("no organization with id or name {0:?}")]
    UnknownOrganization(String),
    #[error("{count} organizations are named {name:?}: use the organization id")]
    AmbiguousOrganization { name: String, count: usize },
    #[error("invalid role {0:?}: expected owner, admin or member")]
    InvalidRole(String),
    #[error("invalid account status {0:?}: expected active, suspended or blocked")]
    InvalidStatus(String),
    #[error("{email} is not a member of organization {org_id}")]
    NotAMember { email: String, org_id: String },
    #[error("{email} is the last owner of organization {org_id}: make someone else owner first")]
    LastOwner { email: String, org_id: String },
    #[error("organization {org_id} is already linked to account {account_id}")]
    AlreadyLinked { org_id: String, account_id: String },
    #[error("organization {0} is not linked to an account: run `signet account link --org {0}`")]
    NoAccount(String),
    #[error("password hashing failed: {0}")]
    Hashing(String),
    /// Every password hashing worker stayed busy: try again shortly.
    #[error("too many sign-ins at once; try again shortly")]
    Busy,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<signet_store::sqlx::Error> for IdentityError {
    fn from(error: signet_store::sqlx::Error) -> Self {
        Self::Store(StoreError::Query(error))
    }
}
