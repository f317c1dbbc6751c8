//! Removing what has expired and can no longer matter, hourly: web
//! sessions, stale sign-in failure counts, authorization codes a day after
//! they expired (a replay inside that day still revokes what the code
//! issued), refresh tokens past their expiry (rotated ones are kept until
//! then, so a late replay is still caught), uploads a day after their
//! document URL expired, and spent client-assertion ids.

use std::time::Duration;

use serde::Serialize;
use signet_store::{Store, UnixTime, sqlx};

/// How long after expiry evidence of use is kept.
const GRACE: Duration = Duration::from_secs(24 * 3600);

/// Rows removed by one sweep, per table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Swept {
    pub web_sessions: u64,
    pub login_failures: u64,
    pub authorization_codes: u64,
    pub refresh_tokens: u64,
    pub uploads: u64,
    pub client_assertions: u64,
}

impl Swept {
    pub fn total(&self) -> u64 {
        self.web_sessions
            + self.login_failures
            + self.authorization_codes
            + self.refresh_tokens
            + self.uploads
            + self.client_assertions
    }
}

async fn delete(store: &Store, sql: &'static str, cutoff: UnixTime) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(sql)
        .bind(cutoff.as_secs())
        .execute(store.pool())
        .await?
        .rows_affected())
}

pub async fn sweep(store: &Store, now: UnixTime) -> Result<Swept, sqlx::Error> {
    let a_day_ago = now.minus(GRACE);
    Ok(Swept {
        web_sessions: delete(store, "DELETE FROM web_sessions WHERE expires_at < $1", now).await?,
        login_failures: delete(
            store,
            "DELETE FROM login_failures WHERE last_failed_at < $1",
            a_day_ago,
        )
        .await?,
        authorization_codes: delete(
            store,
            "DELETE FROM authorization_codes WHERE expires_at < $1",
            a_day_ago,
        )
        .await?,
        refresh_tokens: delete(
            store,
            "DELETE FROM refresh_tokens WHERE expires_at < $1",
            now,
        )
        .await?,
        uploads: delete(
            store,
            "DELETE FROM uploads WHERE expires_at < $1",
            a_day_ago,
        )
        .await?,
        client_assertions: delete(
            store,
            "DELETE FROM client_assertions WHERE expires_at < $1",
            now,
        )
        .await?,
    })
}
