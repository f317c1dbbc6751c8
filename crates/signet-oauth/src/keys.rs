//! Ed25519 signing keys: generated on first start, stored in the database
//! (sealed when a key-encryption key is configured), rotated with overlap,
//! and published as a JWKS.
//!
//! Every instance reads the key table rather than trusting a copy made at
//! start-up, so `signet keys rotate` in another process takes effect on the
//! next token signed and the next JWKS served, without a restart. Decrypted
//! keys are cached by `kid`; a `kid` never changes meaning.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use aws_lc_rs::digest;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use data_encoding::BASE64URL_NOPAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use serde::Serialize;
use signet_store::audit::{self, Actor, AuditAction, AuditEvent};
use signet_store::{SharedClock, Store, UnixTime, is_unique_violation, sqlx, text_enum};

use crate::{KeyEncryptionKey, KeyError};

const ALGORITHM: &str = "EdDSA";

text_enum!(
    /// Where a key is in its life.
    pub KeyStatus {
        /// Signs new tokens; published.
        Active => "active",
        /// Replaced, but tokens it signed may still be live; published.
        Retiring => "retiring",
        /// Every token it signed has expired; no longer published.
        Retired => "retired",
    }
);

text_enum!(
    /// What a key's row says; whether a retired key is still published
    /// follows from its retirement time ([`KeyStatus::Retiring`]).
    StoredStatus { Active => "active", Retired => "retired" }
);

text_enum!(
    /// How the private half is stored: sealed with `SIGNET_KEY_ENCRYPTION_KEY`, or not.
    Sealing { None => "none", Aes256Gcm => "aes-256-gcm" }
);

/// A key as `signet keys list` shows it. No private material.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SigningKeyInfo {
    pub kid: String,
    pub algorithm: &'static str,
    pub status: KeyStatus,
    pub encrypted: bool,
    pub created_at: UnixTime,
    pub retired_at: Option<UnixTime>,
    /// Until when the key stays in the JWKS (retiring keys only).
    pub published_until: Option<UnixTime>,
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    kid: String,
    public_key: Vec<u8>,
    private_key: Vec<u8>,
    private_key_encryption: Sealing,
    status: StoredStatus,
    created_at: i64,
    retired_at: Option<i64>,
}

/// The signing keys, shared by every request. Cheap to clone.
#[derive(Clone)]
pub struct KeyRing {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    clock: SharedClock,
    kek: Option<KeyEncryptionKey>,
    /// How long a replaced key stays published: the access-token lifetime
    /// plus a margin for clock skew.
    publish_retired_for: Duration,
    signers: RwLock<HashMap<String, Arc<EncodingKey>>>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("encrypted_at_rest", &self.inner.kek.is_some())
            .field("publish_retired_for", &self.inner.publish_retired_for)
            .finish_non_exhaustive()
    }
}

/// Margin added to the token lifetime before a replaced key leaves the JWKS.
const SKEW_MARGIN: Duration = Duration::from_secs(300);

impl KeyRing {
    pub fn new(
        store: Store,
        clock: SharedClock,
        kek: Option<KeyEncryptionKey>,
        access_token_lifetime: Duration,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                clock,
                kek,
                publish_retired_for: access_token_lifetime + SKEW_MARGIN,
                signers: RwLock::new(HashMap::new()),
            }),
        }
    }

    /// Makes sure one key is active, creating it on first start. Returns the
    /// new key's id when this call created it. Safe when several instances
    /// start at once: a unique index admits one active key.
    pub async fn ensure_active_key(&self) -> Result<Option<String>, KeyError> {
        if self.active_kid().await?.is_some() {
            return Ok(None);
        }
        let key = self.generate()?;
        let now = self.inner.clock.now();
        let mut tx = self.inner.store.begin_write().await?;
        match insert_active(&mut tx, &key, now).await {
            Err(KeyError::Store(signet_store::StoreError::Query(e))) if is_unique_violation(&e) => {
                return Ok(None);
            }
            other => other?,
        }
        audit::record(
            &mut tx,
            &Actor::System,
            now,
            AuditEvent {
                action: AuditAction::SigningKeyCreated,
                subject_id: Some(&key.kid),
                org_id: None,
                detail: "{}".to_owned(),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(Some(key.kid))
    }

    /// Makes a new key active and retires the current one, which stays
    /// published until every token it signed has expired.
    pub async fn rotate(&self, actor: &Actor) -> Result<SigningKeyInfo, KeyError> {
        let key = self.generate()?;
        let now = self.inner.clock.now();
        let mut tx = self.inner.store.begin_write().await?;
        let retired =
            sqlx::query("UPDATE signing_keys SET status = $1, retired_at = $2 WHERE status = $3")
                .bind(StoredStatus::Retired)
                .bind(now.as_secs())
                .bind(StoredStatus::Active)
                .execute(&mut *tx)
                .await?;
        insert_active(&mut tx, &key, now).await?;
        audit::record(
            &mut tx,
            actor,
            now,
            AuditEvent {
                action: AuditAction::SigningKeyRotated,
                subject_id: Some(&key.kid),
                org_id: None,
                detail: serde_json::json!({ "retired": retired.rows_affected() }).to_string(),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(SigningKeyInfo {
            kid: key.kid,
            algorithm: ALGORITHM,
            status: KeyStatus::Active,
            encrypted: key.encrypted,
            created_at: now,
            retired_at: None,
            published_until: None,
        })
    }

    /// Every key: the active one first, then the most recently retired.
    pub async fn list(&self) -> Result<Vec<SigningKeyInfo>, KeyError> {
        let rows = self.rows().await?;
        let now = self.inner.clock.now();
        Ok(rows.iter().map(|row| self.info(row, now)).collect())
    }

    /// The public keys to publish: the active one and every retiring one.
    pub async fn jwks(&self) -> Result<serde_json::Value, KeyError> {
        let rows = self.rows().await?;
        let now = self.inner.clock.now();
        let keys: Vec<_> = rows
            .iter()
            .filter(|row| self.info(row, now).status != KeyStatus::Retired)
            .map(|row| {
                serde_json::json!({
                    "kty": "OKP",
                    "crv": "Ed25519",
                    "use": "sig",
                    "alg": ALGORITHM,
                    "kid": row.kid,
                    "x": BASE64URL_NOPAD.encode(&row.public_key),
                })
            })
            .collect();
        Ok(serde_json::json!({ "keys": keys }))
    }

    /// Signs claims with the active key, with header `typ` (e.g. `at+jwt`)
    /// and the key's `kid`.
    pub async fn sign<T: Serialize>(&self, typ: &str, claims: &T) -> Result<String, KeyError> {
        let kid = self.active_kid().await?.ok_or(KeyError::NoActiveKey)?;
        let signer = self.signer(&kid).await?;
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some(typ.to_owned());
        header.kid = Some(kid);
        jsonwebtoken::encode(&header, claims, &signer).map_err(|e| KeyError::Crypto(e.to_string()))
    }

    /// The verification key for `kid`, if that key is still published.
    pub async fn verifying_key(&self, kid: &str) -> Result<Option<DecodingKey>, KeyError> {
        let row: Option<KeyRow> = sqlx::query_as(
            "SELECT kid, public_key, private_key, private_key_encryption, status, created_at, retired_at \
             FROM signing_keys WHERE kid = $1",
        )
        .bind(kid)
        .fetch_optional(self.inner.store.pool())
        .await?;
        let now = self.inner.clock.now();
        Ok(row
            .filter(|row| self.info(row, now).status != KeyStatus::Retired)
            .map(|row| DecodingKey::from_ed_der(&row.public_key)))
    }

    /// Checks that the active key can be used (decrypted with the configured
    /// key-encryption key), so a wrong setting fails at start, not at the
    /// first sign-in.
    pub async fn check_active_key(&self) -> Result<String, KeyError> {
        let kid = self.active_kid().await?.ok_or(KeyError::NoActiveKey)?;
        self.signer(&kid).await?;
        Ok(kid)
    }

    async fn active_kid(&self) -> Result<Option<String>, KeyError> {
        Ok(
            sqlx::query_scalar("SELECT kid FROM signing_keys WHERE status = $1")
                .bind(StoredStatus::Active)
                .fetch_optional(self.inner.store.pool())
                .await?,
        )
    }

    async fn signer(&self, kid: &str) -> Result<Arc<EncodingKey>, KeyError> {
        if let Some(found) = self.cached_signer(kid) {
            return Ok(found);
        }
        let row: KeyRow = sqlx::query_as(
            "SELECT kid, public_key, private_key, private_key_encryption, status, created_at, retired_at \
             FROM signing_keys WHERE kid = $1",
        )
        .bind(kid)
        .fetch_optional(self.inner.store.pool())
        .await?
        .ok_or(KeyError::NoActiveKey)?;
        let pkcs8 = match row.private_key_encryption {
            Sealing::None => row.private_key,
            Sealing::Aes256Gcm => {
                let kek =
                    self.inner
                        .kek
                        .as_ref()
                        .ok_or_else(|| KeyError::EncryptionKeyMissing {
                            kid: kid.to_owned(),
                        })?;
                kek.open(&row.private_key, kid)
                    .ok_or_else(|| KeyError::Undecryptable {
                        kid: kid.to_owned(),
                    })?
            }
        };
        // Refuse a private key that does not match its published half.
        let pair = Ed25519KeyPair::from_pkcs8(&pkcs8).map_err(|e| KeyError::Corrupt {
            kid: kid.to_owned(),
            reason: e.to_string(),
        })?;
        if pair.public_key().as_ref() != row.public_key.as_slice() {
            return Err(KeyError::Corrupt {
                kid: kid.to_owned(),
                reason: "private and public halves do not match".to_owned(),
            });
        }
        let signer = Arc::new(EncodingKey::from_ed_der(&pkcs8));
        if let Ok(mut cache) = self.inner.signers.write() {
            cache.insert(kid.to_owned(), signer.clone());
        }
        Ok(signer)
    }

    fn cached_signer(&self, kid: &str) -> Option<Arc<EncodingKey>> {
        self.inner.signers.read().ok()?.get(kid).cloned()
    }

    async fn rows(&self) -> Result<Vec<KeyRow>, KeyError> {
        Ok(sqlx::query_as(
            "SELECT kid, public_key, private_key, private_key_encryption, status, created_at, retired_at \
             FROM signing_keys \
             ORDER BY CASE WHEN status = $1 THEN 0 ELSE 1 END, COALESCE(retired_at, created_at) DESC, kid",
        )
        .bind(StoredStatus::Active)
        .fetch_all(self.inner.store.pool())
        .await?)
    }

    fn info(&self, row: &KeyRow, now: UnixTime) -> SigningKeyInfo {
        let retired_at = row.retired_at.map(UnixTime::from_secs);
        let published_until = retired_at.map(|at| at.plus(self.inner.publish_retired_for));
        let status = match (row.status, published_until) {
            (StoredStatus::Active, _) => KeyStatus::Active,
            (_, Some(until)) if until > now => KeyStatus::Retiring,
            _ => KeyStatus::Retired,
        };
        SigningKeyInfo {
            kid: row.kid.clone(),
            algorithm: ALGORITHM,
            status,
            encrypted: row.private_key_encryption != Sealing::None,
            created_at: UnixTime::from_secs(row.created_at),
            retired_at,
            published_until: published_until.filter(|_| status == KeyStatus::Retiring),
        }
    }

    fn generate(&self) -> Result<NewKey, KeyError> {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8v1(&SystemRandom::new())
            .map_err(|_| KeyError::Crypto("Ed25519 key generation failed".to_owned()))?;
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
            .map_err(|e| KeyError::Crypto(e.to_string()))?;
        let public_key = pair.public_key().as_ref().to_vec();
        let kid = thumbprint(&public_key);
        let (private_key, encrypted) = match &self.inner.kek {
            Some(kek) => (
                kek.seal(pkcs8.as_ref(), &kid).map_err(KeyError::Crypto)?,
                true,
            ),
            None => (pkcs8.as_ref().to_vec(), false),
        };
        Ok(NewKey {
            kid,
            public_key,
            private_key,
            encrypted,
        })
    }
}

struct NewKey {
    kid: String,
    public_key: Vec<u8>,
    private_key: Vec<u8>,
    encrypted: bool,
}

async fn insert_active(
    conn: &mut sqlx::AnyConnection,
    key: &NewKey,
    now: UnixTime,
) -> Result<(), KeyError> {
    sqlx::query(
        "INSERT INTO signing_keys (kid, algorithm, public_key, private_key, private_key_encryption, status, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&key.kid)
    .bind(ALGORITHM)
    .bind(&key.public_key)
    .bind(&key.private_key)
    .bind(if key.encrypted {
        Sealing::Aes256Gcm
    } else {
        Sealing::None
    })
    .bind(StoredStatus::Active)
    .bind(now.as_secs())
    .execute(conn)
    .await?;
    Ok(())
}

/// RFC 7638 JWK thumbprint of an Ed25519 public key: a `kid` that anyone can
/// recompute from the published key.
fn thumbprint(public_key: &[u8]) -> String {
    let canonical = format!(
        r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
        BASE64URL_NOPAD.encode(public_key)
    );
    BASE64URL_NOPAD.encode(digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref())
}

#[cfg(test)]
mod tests {
    #[test]
    fn thumbprint_matches_rfc_8037_appendix_a3() {
        // RFC 8037 A.3: the thumbprint of the example Ed25519 key.
        let x = data_encoding::BASE64URL_NOPAD
            .decode(b"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
            .unwrap();
        assert_eq!(
            super::thumbprint(&x),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }
}
