//! Removing the authorization server's rows that can no longer matter.

use std::time::Duration;

use signet_store::{Store, UnixTime, sqlx};

/// How long after expiry evidence of use is kept: a code replayed within a
/// day still revokes what it issued.
const GRACE: Duration = Duration::from_secs(24 * 3600);

/// Rows of the authorization server's tables removed by one sweep.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Swept {
    pub authorization_codes: u64,
    pub refresh_tokens: u64,
    pub client_assertions: u64,
}

/// Codes a day after they expired, refresh tokens past their expiry
/// (rotated ones are kept until then, so a late replay is still caught),
/// and spent client-assertion ids that would have expired anyway.
pub async fn sweep_expired(store: &Store, now: UnixTime) -> Result<Swept, sqlx::Error> {
    let delete = |sql: &'static str, cutoff: UnixTime| async move {
        Ok::<u64, sqlx::Error>(
            sqlx::query(sql)
                .bind(cutoff.as_secs())
                .execute(store.pool())
                .await?
                .rows_affected(),
        )
    };
    Ok(Swept {
        authorization_codes: delete(
            "DELETE FROM authorization_codes WHERE expires_at < $1",
            now.minus(GRACE),
        )
        .await?,
        refresh_tokens: delete("DELETE FROM refresh_tokens WHERE expires_at < $1", now).await?,
        client_assertions: delete("DELETE FROM client_assertions WHERE expires_at < $1", now)
            .await?,
    })
}
