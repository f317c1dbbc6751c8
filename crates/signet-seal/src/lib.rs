//! The PAdES seal of Signet's deliverables (`ETSI.CAdES.detached`): the
//! seal key and its certificate, the CMS signature with the
//! signing-certificate-v2 attribute, RFC 3161 signature timestamps
//! (B-T), embedding in a PDF, and reading back any PDF's signatures.
//!
//! No I/O and no database: the engine (`signet-esign`) stores the key,
//! asks the TSA through its fetcher and decides what a verification means.
//! The CMS and certificate types are RustCrypto's `cms` and `x509-cert`;
//! the signed attributes, the RFC 3161 structures and the PDF embedding are
//! written here (see each module for why).

mod cms_sign;
mod embed;
mod key;
mod pkcs12;
pub mod timestamp;
pub mod verify;

pub use cms_sign::PendingSignature;
pub use embed::{Prepared, prepare};
pub use key::{CertificateInfo, SealKey};

/// Why sealing could not be done.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("the seal key or certificate is not usable: {0}")]
    Key(String),
    #[error("the seal could not be made: {0}")]
    Build(String),
}

impl From<der::Error> for SealError {
    fn from(error: der::Error) -> Self {
        Self::Build(error.to_string())
    }
}

/// Seals a finished deliverable without a timestamp (PAdES B-B).
pub fn seal(
    pdf: &[u8],
    key: &SealKey,
    signed_at: &str,
    reason: &str,
) -> Result<Vec<u8>, SealError> {
    let prepared = prepare(pdf, signed_at, reason)?;
    let pending = key.sign_digest(&prepared.digest_for(key))?;
    let cms = key.assemble(pending, None)?;
    prepared.finish(&cms)
}
