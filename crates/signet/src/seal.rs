//! Which seal signs deliverables: the operator's certificate when
//! configured (PEM files or one PKCS#12 file), otherwise the instance's own,
//! made on first start and kept in the database.

use std::path::Path;

use signet_esign::sealing::Sealer;
use signet_oauth::Issuer;
use signet_seal::SealKey;
use signet_store::{Store, UnixTime};

use crate::config::Config;
use crate::serve::ServeError;

/// Where the seal comes from, for `signet seal show`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SealOrigin {
    /// `SIGNET_SEAL_CERT` and `SIGNET_SEAL_KEY`, or `SIGNET_SEAL_PKCS12`.
    Operator,
    /// Made by Signet, stored in `seal_keys`.
    Instance,
}

fn read(setting: &str, path: &Path) -> Result<Vec<u8>, ServeError> {
    std::fs::read(path)
        .map_err(|e| ServeError::Engine(format!("{setting} ({}): {e}", path.display())))
}

fn unusable(setting: &str, error: signet_seal::SealError) -> ServeError {
    ServeError::Engine(format!("{setting}: {error}"))
}

/// The operator's seal, if one is configured.
pub fn operator_key(config: &Config, now: UnixTime) -> Result<Option<SealKey>, ServeError> {
    let key = match (&config.seal_cert, &config.seal_key, &config.seal_pkcs12) {
        (None, None, None) => return Ok(None),
        (Some(_), Some(_), Some(_)) | (Some(_), None, Some(_)) | (None, Some(_), Some(_)) => {
            return Err(ServeError::Engine(
                "SIGNET_SEAL_PKCS12 replaces SIGNET_SEAL_CERT and SIGNET_SEAL_KEY: set one or the other"
                    .to_owned(),
            ));
        }
        (Some(_), None, None) | (None, Some(_), None) => {
            return Err(ServeError::Engine(
                "SIGNET_SEAL_CERT and SIGNET_SEAL_KEY go together: set both".to_owned(),
            ));
        }
        (Some(cert), Some(key), None) => SealKey::from_pem(
            &read("SIGNET_SEAL_CERT", cert)?,
            &read("SIGNET_SEAL_KEY", key)?,
        )
        .map_err(|e| unusable("SIGNET_SEAL_CERT/SIGNET_SEAL_KEY", e))?,
        (None, None, Some(file)) => SealKey::from_pkcs12(
            &read("SIGNET_SEAL_PKCS12", file)?,
            config.seal_pkcs12_password.as_deref().unwrap_or_default(),
        )
        .map_err(|e| unusable("SIGNET_SEAL_PKCS12", e))?,
    };
    // A reader rejects a seal made outside its certificate's validity.
    let info = key
        .info()
        .map_err(|e| unusable("the seal certificate", e))?;
    let now = u64::try_from(now.as_secs()).unwrap_or_default();
    if now < info.not_before_unix || now > info.not_after_unix {
        return Err(ServeError::Engine(format!(
            "the seal certificate ({}) is valid from {} to {}, not now",
            info.subject,
            UnixTime::from_secs(i64::try_from(info.not_before_unix).unwrap_or(i64::MAX)).rfc3339(),
            UnixTime::from_secs(i64::try_from(info.not_after_unix).unwrap_or(i64::MAX)).rfc3339(),
        )));
    }
    Ok(Some(key))
}

/// The seal deliverables are sealed with, and where it comes from.
pub async fn sealer(
    config: &Config,
    store: &Store,
    issuer: &Issuer,
    now: UnixTime,
) -> Result<(Sealer, SealOrigin), ServeError> {
    let (key, origin) = match operator_key(config, now)? {
        Some(key) => (key, SealOrigin::Operator),
        None => (
            signet_esign::seal_keys::ensure(
                store,
                config.key_encryption_key.as_ref(),
                issuer.as_str(),
                now,
            )
            .await
            .map_err(|e| ServeError::Engine(e.to_string()))?,
            SealOrigin::Instance,
        ),
    };
    let sealer = Sealer::new(key, config.tsa_url.clone())
        .map_err(|e| unusable("the seal certificate", e))?;
    Ok((sealer, origin))
}
