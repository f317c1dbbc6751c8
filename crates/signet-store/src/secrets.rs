//! `instance_state`: what every instance on one database must agree on.
//! Instance-wide secrets (keys that derive refresh-token successors or sign
//! download links), created by whichever instance needs one first and read
//! by all; and one-time markers (the first-start bootstrap), claimed by
//! exactly one instance.

use data_encoding::BASE64URL_NOPAD;

use crate::{Store, StoreError, UnixTime, random};

/// The 32-byte secret stored under `name`, created on first use. Two
/// instances racing to create it agree: the first insert wins and both read
/// what was stored.
pub async fn instance_secret(
    store: &Store,
    name: &str,
    now: UnixTime,
) -> Result<Vec<u8>, StoreError> {
    let fresh = random::bytes::<32>().map_err(|e| StoreError::Randomness(e.to_string()))?;
    sqlx::query(
        "INSERT INTO instance_state (key, value, updated_at) VALUES ($1, $2, $3) ON CONFLICT (key) DO NOTHING",
    )
    .bind(name)
    .bind(BASE64URL_NOPAD.encode(&fresh))
    .bind(now.as_secs())
    .execute(store.pool())
    .await?;
    let stored: String = sqlx::query_scalar("SELECT value FROM instance_state WHERE key = $1")
        .bind(name)
        .fetch_one(store.pool())
        .await?;
    BASE64URL_NOPAD
        .decode(stored.as_bytes())
        .map_err(|e| StoreError::Corrupt(format!("instance secret {name} is not base64: {e}")))
}

/// Claims the one-time marker `key` for this installation: `true` for the
/// one caller (of any instance) that claimed it, `false` for every other.
pub async fn claim_marker(store: &Store, key: &str, now: UnixTime) -> Result<bool, StoreError> {
    let claimed = sqlx::query(
        "INSERT INTO instance_state (key, value, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (key) DO NOTHING",
    )
    .bind(key)
    .bind(now.rfc3339())
    .bind(now.as_secs())
    .execute(store.pool())
    .await?;
    Ok(claimed.rows_affected() == 1)
}

/// Gives a claimed marker back, so that a later start may try again.
pub async fn release_marker(store: &Store, key: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM instance_state WHERE key = $1")
        .bind(key)
        .execute(store.pool())
        .await?;
    Ok(())
}
