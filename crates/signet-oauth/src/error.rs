use signet_store::StoreError;
use thiserror::Error;

/// Failures of the signing-key ring.
#[derive(Debug, Error)]
pub enum KeyError {
    #[error(
        "there is no active signing key: start `signet serve` once or run `signet keys rotate`"
    )]
    NoActiveKey,
    #[error("signing key {kid} is encrypted but SIGNET_KEY_ENCRYPTION_KEY is not set")]
    EncryptionKeyMissing { kid: String },
    #[error("signing key {kid} cannot be decrypted with the configured SIGNET_KEY_ENCRYPTION_KEY")]
    Undecryptable { kid: String },
    #[error("signing key {kid} is corrupt: {reason}")]
    Corrupt { kid: String, reason: String },
    #[error("cryptographic operation failed: {0}")]
    Crypto(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<signet_store::sqlx::Error> for KeyError {
    fn from(error: signet_store::sqlx::Error) -> Self {
        Self::Store(StoreError::Query(error))
    }
}
