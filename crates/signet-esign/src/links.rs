//! Download links that carry their own proof: `?expires=T&signature=S`,
//! S an HMAC of the target and T under an instance-wide key that every
//! instance shares through the database. Nothing is stored per link.

use aws_lc_rs::hmac;
use data_encoding::BASE64URL_NOPAD;
use signet_store::{SharedClock, Store, UnixTime};
use tokio::sync::OnceCell;

use crate::error::EsignError;

const KEY_NAME: &str = "download_link_key";

#[derive(Debug)]
pub(crate) struct LinkSigner {
    store: Store,
    clock: SharedClock,
    key: OnceCell<hmac::Key>,
}

impl LinkSigner {
    pub fn new(store: Store, clock: SharedClock) -> Self {
        Self {
            store,
            clock,
            key: OnceCell::new(),
        }
    }

    async fn key(&self) -> Result<&hmac::Key, EsignError> {
        self.key
            .get_or_try_init(|| async {
                let bytes = signet_store::instance_secret(&self.store, KEY_NAME, self.clock.now())
                    .await
                    .map_err(|e| EsignError::Internal(e.to_string()))?;
                Ok(hmac::Key::new(hmac::HMAC_SHA256, &bytes))
            })
            .await
    }

    fn message(target: &str, expires: i64) -> String {
        format!("{target}\n{expires}")
    }

    /// The query string (`expires=…&signature=…`) proving access to `target`.
    pub async fn sign(&self, target: &str, expires: UnixTime) -> Result<String, EsignError> {
        let key = self.key().await?;
        let tag = hmac::sign(key, Self::message(target, expires.as_secs()).as_bytes());
        Ok(format!(
            "expires={}&signature={}",
            expires.as_secs(),
            BASE64URL_NOPAD.encode(tag.as_ref())
        ))
    }

    /// Whether the proof is genuine and not yet expired.
    pub async fn verify(
        &self,
        target: &str,
        expires: i64,
        signature: &str,
    ) -> Result<bool, EsignError> {
        if expires < self.clock.now().as_secs() {
            return Ok(false);
        }
        let Ok(tag) = BASE64URL_NOPAD.decode(signature.as_bytes()) else {
            return Ok(false);
        };
        let key = self.key().await?;
        // `verify` compares in constant time.
        Ok(hmac::verify(key, Self::message(target, expires).as_bytes(), &tag).is_ok())
    }
}
