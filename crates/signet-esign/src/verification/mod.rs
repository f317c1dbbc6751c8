//! Is this file a deliverable this instance sealed, unmodified? The seal's
//! signed digest names the deliverable (stored when it was sealed), so a
//! file is judged against what was sealed, never against itself: a file
//! whose bytes, seal or appended updates differ is `modified`; a PDF whose
//! signatures are none of ours is `unknown`. Used by `signet verify` and
//! the public `/verify` page ([`page`]); nothing is stored.

pub(crate) mod page;

use serde::Serialize;
use signet_seal::verify::{SignatureReport, signatures};
use signet_store::{UnixTime, sqlx};

use crate::Esign;
use crate::error::EsignError;
use crate::flow::sha256_hex;

signet_store::text_enum!(
    /// The verdict.
    pub VerifyResult {
        Valid => "valid",
        Modified => "modified",
        Unknown => "unknown",
    }
);

/// What a verification found, as `signet verify --json` prints it.
#[derive(Clone, Debug, Serialize)]
pub struct Verification {
    pub result: VerifyResult,
    /// One sentence for a person.
    pub summary: String,
    pub envelope_id: Option<String>,
    pub title: Option<String>,
    pub deliverable_id: Option<String>,
    /// When Signet sealed it.
    pub sealed_at: Option<UnixTime>,
    pub timestamped: bool,
    /// The time-stamp authority's time, for a timestamped seal.
    pub timestamp: Option<UnixTime>,
    pub timestamp_authority: Option<String>,
    /// The sealing certificate's subject and SHA-256.
    pub signer: Option<String>,
    pub certificate_sha256: Option<String>,
    /// Signatures found in the file, ours or not.
    pub signatures: usize,
}

impl Verification {
    fn unknown(summary: &str, signatures: usize) -> Self {
        Self {
            result: VerifyResult::Unknown,
            summary: summary.to_owned(),
            envelope_id: None,
            title: None,
            deliverable_id: None,
            sealed_at: None,
            timestamped: false,
            timestamp: None,
            timestamp_authority: None,
            signer: None,
            certificate_sha256: None,
            signatures,
        }
    }
}

/// A sealed deliverable, as stored.
#[derive(Debug, sqlx::FromRow)]
struct Sealed {
    id: String,
    envelope_id: String,
    title: String,
    sha256: String,
    seal_fingerprint: Option<String>,
    created_at: i64,
}

impl Esign {
    /// Verifies `pdf` against the deliverables this instance sealed.
    pub async fn verify_pdf(&self, pdf: Vec<u8>) -> Result<Verification, EsignError> {
        let file_sha256 = sha256_hex(&pdf);
        let reports = tokio::task::spawn_blocking(move || signatures(&pdf))
            .await
            .map_err(|e| EsignError::Internal(format!("verification task failed: {e}")))?;
        let reports = match reports {
            Ok(reports) => reports,
            Err(_) => {
                return Ok(Verification::unknown(
                    "This file is not a readable PDF, so it is not a deliverable Signet sealed.",
                    0,
                ));
            }
        };
        let count = reports.len();
        for report in &reports {
            let Some(signer) = &report.signer else {
                continue;
            };
            let digest = data_encoding::HEXLOWER.encode(&signer.message_digest);
            let sealed: Option<Sealed> = sqlx::query_as(
                "SELECT d.id, d.envelope_id, e.title, d.sha256, d.seal_fingerprint, d.created_at \
                 FROM deliverables d JOIN envelopes e ON e.id = d.envelope_id WHERE d.seal_digest = $1",
            )
            .bind(&digest)
            .fetch_optional(self.store().pool())
            .await?;
            if let Some(sealed) = sealed {
                return Ok(judge(report, &sealed, &file_sha256, count));
            }
        }
        // Our certificate, but a digest we never signed: the seal itself
        // was tampered with.
        let ours = self.sealer().map(|s| s.info().fingerprint.clone());
        for report in &reports {
            if let Some(signer) = &report.signer {
                let known: bool = ours.as_deref() == Some(signer.fingerprint.as_str())
                    || sqlx::query_scalar::<_, i64>(
                        "SELECT 1 FROM deliverables WHERE seal_fingerprint = $1 LIMIT 1",
                    )
                    .bind(&signer.fingerprint)
                    .fetch_optional(self.store().pool())
                    .await?
                    .is_some();
                if known {
                    let mut verdict = Verification::unknown(
                        "MODIFIED: this file carries this instance's seal certificate, but its seal matches no deliverable Signet sealed; do not rely on it.",
                        count,
                    );
                    verdict.result = VerifyResult::Modified;
                    verdict.signer = Some(signer.subject.clone());
                    verdict.certificate_sha256 = Some(signer.fingerprint.clone());
                    return Ok(verdict);
                }
            }
        }
        Ok(Verification::unknown(
            if count == 0 {
                "UNKNOWN: this PDF carries no signature; it is not a deliverable this Signet instance sealed."
            } else {
                "UNKNOWN: this PDF is signed, but not by this Signet instance; it is not one of its deliverables."
            },
            count,
        ))
    }
}

/// A file whose seal names one of our deliverables: valid only if nothing
/// about it differs from what was sealed.
fn judge(
    report: &SignatureReport,
    sealed: &Sealed,
    file_sha256: &str,
    signatures: usize,
) -> Verification {
    let Some(signer) = &report.signer else {
        return Verification::unknown("UNKNOWN: the seal could not be read.", signatures);
    };
    let timestamp = signer.timestamp.as_ref();
    let problem = if !report.byte_range_ok {
        Some("its seal no longer frames the file")
    } else if !signer.digest_matches {
        Some("its content was changed after sealing")
    } else if !signer.signature_valid {
        Some("its seal's signature does not verify")
    } else if sealed.seal_fingerprint.as_deref() != Some(signer.fingerprint.as_str()) {
        Some("its seal is not by the certificate that sealed this deliverable")
    } else if !report.covers_whole_file {
        Some("something was added to it after sealing")
    } else if timestamp.is_some_and(|t| !t.imprint_matches || !t.signature_valid) {
        Some("its timestamp does not verify")
    } else if file_sha256 != sealed.sha256 {
        Some("it is not byte for byte the deliverable Signet sealed")
    } else {
        None
    };
    let (result, summary) = match problem {
        None => (
            VerifyResult::Valid,
            format!(
                "VALID: this is the signed PDF of envelope {}, sealed by this Signet instance and unmodified since.",
                sealed.envelope_id
            ),
        ),
        Some(problem) => (
            VerifyResult::Modified,
            format!(
                "MODIFIED: this file claims to be the signed PDF of envelope {}, but {problem}; do not rely on it.",
                sealed.envelope_id
            ),
        ),
    };
    Verification {
        result,
        summary,
        envelope_id: Some(sealed.envelope_id.clone()),
        title: Some(sealed.title.clone()),
        deliverable_id: Some(sealed.id.clone()),
        sealed_at: Some(UnixTime::from_secs(sealed.created_at)),
        timestamped: timestamp.is_some(),
        timestamp: timestamp.map(|t| UnixTime::from_secs(t.time_unix)),
        timestamp_authority: timestamp.map(|t| t.authority.clone()),
        signer: Some(signer.subject.clone()),
        certificate_sha256: Some(signer.fingerprint.clone()),
        signatures,
    }
}
