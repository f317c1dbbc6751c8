use std::sync::Arc;

use serde::Serialize;
use signet_identity::AccountStatus;
use signet_oauth::Scope;
use signet_oauth::usage::Counter;
use signet_store::UnixTime;

/// Who is calling, for which organization, through which connection. Built
/// by the guard when a token is first seen or something behind it changed,
/// then shared by every request of that token; tools receive it and
/// nothing else.
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
    /// The connection's call counter (see `signet_oauth::usage`).
    #[serde(skip)]
    pub calls: Arc<Counter>,
}

impl Principal {
    pub fn has_scope(&self, scope: Scope) -> bool {
        self.scopes.iter().any(|s| s == scope.as_str())
    }
}
