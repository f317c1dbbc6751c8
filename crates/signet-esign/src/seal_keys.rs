//! The instance's seal key when the operator supplies none: made on first
//! start with a self-signed certificate naming the public URL, stored in
//! `seal_keys` sealed with the key-encryption key when one is set, as the
//! token signing keys are; every instance of a deployment loads the same.

use signet_store::kek::KeyEncryptionKey;
use signet_store::{Store, UnixTime, sqlx, text_enum};

use crate::error::EsignError;
use signet_seal::SealKey;

text_enum!(
    /// How the stored private key is kept.
    pub SealKeySealing { None => "none", Aes256Gcm => "aes-256-gcm" }
);

/// The one row's id.
const INSTANCE: &str = "instance";
/// The AEAD context the key is sealed under.
const CONTEXT: &str = "signet seal key";

/// The instance's seal key, made (once, whichever instance is first) if absent.
pub async fn ensure(
    store: &Store,
    kek: Option<&KeyEncryptionKey>,
    subject: &str,
    now: UnixTime,
) -> Result<SealKey, EsignError> {
    if let Some(key) = load(store, kek).await? {
        return Ok(key);
    }
    let seconds = u64::try_from(now.as_secs()).unwrap_or_default();
    let (key, pkcs8) =
        SealKey::generate(subject, seconds).map_err(|e| EsignError::Internal(e.to_string()))?;
    let (stored, sealing) = match kek {
        Some(kek) => (
            kek.seal(&pkcs8, CONTEXT).map_err(EsignError::Internal)?,
            SealKeySealing::Aes256Gcm,
        ),
        None => (pkcs8, SealKeySealing::None),
    };
    let certificate = key
        .certificate_der()
        .map_err(|e| EsignError::Internal(e.to_string()))?;
    let mut tx = store.begin_write().await?;
    sqlx::query(
        "INSERT INTO seal_keys (id, private_key, private_key_encryption, certificate, created_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
    )
    .bind(INSTANCE)
    .bind(stored.as_slice())
    .bind(sealing)
    .bind(certificate.as_slice())
    .bind(now.as_secs())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    // Another instance may have been first: everyone uses the stored one.
    load(store, kek)
        .await?
        .ok_or_else(|| EsignError::Internal("the seal key was not stored".to_owned()))
}

async fn load(
    store: &Store,
    kek: Option<&KeyEncryptionKey>,
) -> Result<Option<SealKey>, EsignError> {
    let row: Option<(Vec<u8>, SealKeySealing, Vec<u8>)> = sqlx::query_as(
        "SELECT private_key, private_key_encryption, certificate FROM seal_keys WHERE id = $1",
    )
    .bind(INSTANCE)
    .fetch_optional(store.pool())
    .await?;
    let Some((stored, sealing, certificate)) = row else {
        return Ok(None);
    };
    let pkcs8 = match (sealing, kek) {
        (SealKeySealing::None, _) => stored,
        (SealKeySealing::Aes256Gcm, Some(kek)) => kek.open(&stored, CONTEXT).ok_or_else(|| {
            EsignError::Internal(
                "the seal key cannot be opened with SIGNET_KEY_ENCRYPTION_KEY".to_owned(),
            )
        })?,
        (SealKeySealing::Aes256Gcm, None) => {
            return Err(EsignError::Internal(
                "the seal key is sealed: set SIGNET_KEY_ENCRYPTION_KEY".to_owned(),
            ));
        }
    };
    SealKey::from_parts(&pkcs8, &certificate)
        .map(Some)
        .map_err(|e| EsignError::Internal(e.to_string()))
}
