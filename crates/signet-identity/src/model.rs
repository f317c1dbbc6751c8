use std::str::FromStr;

use serde::Serialize;
use signet_store::{UnixTime, text_enum};

use crate::IdentityError;

/// A person who can sign in. The password hash never leaves this crate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub created_at: UnixTime,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Organization {
    pub id: String,
    pub name: String,
    pub created_at: UnixTime,
}

text_enum!(
    /// What a user may do in an organization.
    pub Role { Owner => "owner", Admin => "admin", Member => "member" }
);

impl Role {
    /// Owners and admins manage the organization's connections.
    pub fn is_manager(self) -> bool {
        matches!(self, Self::Owner | Self::Admin)
    }
}

impl FromStr for Role {
    type Err = IdentityError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s).ok_or_else(|| IdentityError::InvalidRole(s.to_owned()))
    }
}

/// A member of an organization, as listed for that organization.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Member {
    pub user_id: String,
    pub email: String,
    pub display_name: String,
    pub role: Role,
}

/// One of a user's organizations, with what the consent page must show.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OrganizationOfUser {
    pub id: String,
    pub name: String,
    pub role: Role,
    /// `None` when the organization is not linked to an account.
    pub account_status: Option<AccountStatus>,
}

/// What `add_member` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum MembershipChange {
    Added,
    RoleChanged { from: Role },
    Unchanged,
}

text_enum!(
    /// Whether an account may be used. Anything but `active` is refused with
    /// the seed's `Account is inactive`.
    pub AccountStatus { Active => "active", Suspended => "suspended", Blocked => "blocked" }
);

impl FromStr for AccountStatus {
    type Err = IdentityError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s).ok_or_else(|| IdentityError::InvalidStatus(s.to_owned()))
    }
}

/// The e-signature account an organization acts through.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Account {
    pub id: String,
    pub org_id: String,
    pub status: AccountStatus,
    pub live_mode: bool,
    pub created_at: UnixTime,
    pub updated_at: UnixTime,
}
