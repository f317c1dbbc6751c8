//! What stands behind an access token right now: its connection, its grant
//! and the account of the organization it acts for. Asked by the protected
//! resource on every request, so a disconnect, a revocation or a suspension
//! made by any process is refused on the very next one.
//!
//! The answer is remembered under the store's freshness stamp
//! ([`Store::freshness`]): on SQLite the WAL-index header every commit
//! rewrites, so an unchanged database costs a `pread`, not a query, and any
//! commit anywhere starts the cache over; on PostgreSQL the generation of
//! this instance's token-state listener, which every change to these tables
//! moves (`signet_store::coherence`). When the store offers no stamp (a
//! listener down, a lapsed lease) every request reads the database.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use signet_identity::AccountStatus;
use signet_store::{Freshness, Store, sqlx};

/// The state behind one token, shared by every request that asks for it
/// until the database changes.
#[derive(Clone, Debug)]
pub struct TokenState {
    pub connection_revoked: bool,
    pub connection_name: String,
    pub grant_revoked: bool,
    /// The organization and user of the connection.
    pub org_id: String,
    pub user_id: String,
    /// The account of the organization the token acts for, if it has one.
    pub account: Option<AccountState>,
}

#[derive(Clone, Debug)]
pub struct AccountState {
    pub id: String,
    pub status: AccountStatus,
    pub live_mode: bool,
}

#[derive(sqlx::FromRow)]
struct StateRow {
    connection_revoked_at: Option<i64>,
    connection_name: String,
    grant_revoked_at: Option<i64>,
    org_id: String,
    user_id: String,
    account_id: Option<String>,
    account_status: Option<String>,
    live_mode: Option<i64>,
}

/// Token states read since the database last changed.
#[derive(Debug, Default)]
struct Cache {
    token: Option<Freshness>,
    entries: HashMap<(String, String, String), Arc<TokenState>>,
}

/// Bounds the cache; when full it starts over.
const CACHE_LIMIT: usize = 100_000;

#[derive(Clone, Debug)]
pub struct TokenStates {
    store: Store,
    cache: Arc<Mutex<Cache>>,
}

impl TokenStates {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            cache: Arc::default(),
        }
    }

    /// The stamp an answer read now is valid under (see [`Store::freshness`]);
    /// read it before asking, and trust what was cached under it only while
    /// it stays equal.
    pub fn freshness(&self) -> Option<Freshness> {
        self.store.freshness()
    }

    /// The state behind connection `sid` and grant `gid`, with the account
    /// of `org_id`; `None` when the connection or grant does not exist.
    pub async fn get(
        &self,
        sid: &str,
        gid: &str,
        org_id: &str,
    ) -> Result<Option<Arc<TokenState>>, sqlx::Error> {
        let key = (sid.to_owned(), gid.to_owned(), org_id.to_owned());
        // Read the token before the database: a commit in between moves the
        // token again, so nothing older than the token is ever kept under it.
        let token = self.store.freshness();
        if let (Some(token), Ok(cache)) = (token, self.cache.lock())
            && cache.token == Some(token)
            && let Some(state) = cache.entries.get(&key)
        {
            return Ok(Some(state.clone()));
        }
        let row: Option<StateRow> = sqlx::query_as(
            "SELECT c.revoked_at AS connection_revoked_at, c.name AS connection_name, \
             g.revoked_at AS grant_revoked_at, c.org_id, c.user_id, \
             a.id AS account_id, a.status AS account_status, a.live_mode \
             FROM connections c JOIN oauth_grants g ON g.connection_id = c.id \
             LEFT JOIN accounts a ON a.org_id = $3 \
             WHERE c.id = $1 AND g.id = $2",
        )
        .bind(sid)
        .bind(gid)
        .bind(org_id)
        .fetch_optional(self.store.pool())
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let account = match (row.account_id, row.account_status) {
            (Some(id), Some(status)) => Some(AccountState {
                id,
                // An unreadable status is never treated as active.
                status: status.parse().unwrap_or(AccountStatus::Blocked),
                live_mode: row.live_mode.unwrap_or(0) != 0,
            }),
            _ => None,
        };
        let state = Arc::new(TokenState {
            connection_revoked: row.connection_revoked_at.is_some(),
            connection_name: row.connection_name,
            grant_revoked: row.grant_revoked_at.is_some(),
            org_id: row.org_id,
            user_id: row.user_id,
            account,
        });
        if let (Some(token), Ok(mut cache)) = (token, self.cache.lock()) {
            if cache.token != Some(token) || cache.entries.len() >= CACHE_LIMIT {
                cache.entries.clear();
                cache.token = Some(token);
            }
            cache.entries.insert(key, state.clone());
        }
        Ok(Some(state))
    }
}
