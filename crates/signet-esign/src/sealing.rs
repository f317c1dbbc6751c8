//! Sealing a finished deliverable with the instance's seal: PAdES B-B, or
//! B-T when a TSA is configured, its RFC 3161 token fetched through the
//! SSRF-guarded fetcher (the allow-list applies, as to documents).

use std::sync::Arc;

use signet_fetch::Limits;
use signet_seal::timestamp::{QUERY_CONTENT_TYPE, TimestampRequest};
use signet_seal::{CertificateInfo, SealKey};

use crate::Esign;

/// The seal key, what readers see of its certificate, and the TSA.
#[derive(Clone, Debug)]
pub struct Sealer {
    key: Arc<SealKey>,
    info: Arc<CertificateInfo>,
    tsa_url: Option<String>,
}

impl Sealer {
    /// `tsa_url`: the RFC 3161 service asked for a signature timestamp.
    pub fn new(key: SealKey, tsa_url: Option<String>) -> Result<Self, signet_seal::SealError> {
        let info = key.info()?;
        Ok(Self {
            key: Arc::new(key),
            info: Arc::new(info),
            tsa_url,
        })
    }

    pub fn key(&self) -> &SealKey {
        &self.key
    }

    pub fn info(&self) -> &CertificateInfo {
        &self.info
    }
}

/// A sealed deliverable and what verification later looks it up by.
#[derive(Debug)]
pub(crate) struct Sealed {
    pub bytes: Vec<u8>,
    /// The digest (hex) of the bytes the seal covers: its message digest.
    pub digest_hex: String,
    pub fingerprint: String,
    /// The TSA's time (Unix seconds), for B-T.
    pub timestamped_at: Option<i64>,
}

/// Seals `pdf`. Errors are safe to record in a `deliverable.failed` event
/// (they name the TSA's host at most).
pub(crate) async fn seal(
    esign: &Esign,
    sealer: &Sealer,
    pdf: Vec<u8>,
    signed_at: String,
    reason: String,
) -> Result<Sealed, String> {
    let key = sealer.key.clone();
    let (prepared, pending, digest) = tokio::task::spawn_blocking(move || {
        let prepared = signet_seal::prepare(&pdf, &signed_at, &reason)?;
        let digest = prepared.digest_for(&key);
        let pending = key.sign_digest(&digest)?;
        Ok::<_, signet_seal::SealError>((prepared, pending, digest))
    })
    .await
    .map_err(|e| format!("the sealing task failed: {e}"))?
    .map_err(|e| e.to_string())?;
    let token = match &sealer.tsa_url {
        Some(url) => {
            let request =
                TimestampRequest::for_signature(pending.value()).map_err(|e| e.to_string())?;
            let reply = esign
                .inner
                .fetcher
                .post(
                    url,
                    QUERY_CONTENT_TYPE,
                    request.der().to_vec(),
                    Limits::TIMESTAMP,
                )
                .await
                .map_err(|e| format!("the timestamp authority could not be reached: {e}"))?;
            Some(
                request
                    .token_from_reply(&reply.bytes)
                    .map_err(|e| e.to_string())?,
            )
        }
        None => None,
    };
    let timestamped_at = token
        .as_deref()
        .and_then(signet_seal::timestamp::token_time);
    let cms = sealer
        .key
        .assemble(pending, token.as_deref())
        .map_err(|e| e.to_string())?;
    let bytes = prepared.finish(&cms).map_err(|e| e.to_string())?;
    Ok(Sealed {
        bytes,
        digest_hex: data_encoding::HEXLOWER.encode(&digest),
        fingerprint: sealer.info.fingerprint.clone(),
        timestamped_at,
    })
}
