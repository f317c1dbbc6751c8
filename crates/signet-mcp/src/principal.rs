use serde::Serialize;
use signet_identity::AccountStatus;
use signet_oauth::Scope;
use signet_store::UnixTime;

/// Who is calling, for which organization, through which connection. Built
/// by the guard on every request; tools receive it and nothing else.
#[derive(Clone, Debug, Serialize)]
pub struct Principal {
    pub user_id: String,
    pub org_id: String,
    pub account_id: String,
    pub account_status: AccountStatus,
    pub live_mode: bool,
    pub client_id: String,
    pub connection_id: String,
    pub connection_name: String,
    pub scopes: Vec<String>,
    pub token_expires_at: UnixTime,
}

impl Principal {
    pub fn has_scope(&self, scope: Scope) -> bool {
        self.scopes.iter().any(|s| s == scope.as_str())
    }
}
