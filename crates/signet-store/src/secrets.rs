//! Instance-wide secrets every instance must share (keys that derive
//! refresh-token successors or sign download links): created by whichever
//! instance needs one first, read by all.

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
