//! Reading the signatures of any PDF (untrusted bytes): where each one is,
//! what it covers, whether its digest and signature hold, who signed it and
//! whether a timestamp vouches for its time. The verdict — is this one of
//! ours — is the engine's, which knows the deliverables.

use std::panic::{AssertUnwindSafe, catch_unwind};

use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use cms::cert::CertificateChoices;
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier};
use const_oid::ObjectIdentifier;
use const_oid::db::rfc5911::{ID_MESSAGE_DIGEST, ID_SIGNED_DATA};
use const_oid::db::rfc5912::{
    ECDSA_WITH_SHA_256, ECDSA_WITH_SHA_384, ECDSA_WITH_SHA_512, ID_EC_PUBLIC_KEY, ID_SHA_256,
    ID_SHA_384, ID_SHA_512, RSA_ENCRYPTION, SECP_256_R_1, SECP_384_R_1,
    SHA_256_WITH_RSA_ENCRYPTION, SHA_384_WITH_RSA_ENCRYPTION, SHA_512_WITH_RSA_ENCRYPTION,
};
use der::asn1::OctetString;
use der::{Decode, Encode, Reader};
use lopdf::{Document, Object};
use spki::SubjectPublicKeyInfoRef;
use x509_cert::Certificate;

use crate::cms_sign::ID_AA_SIGNATURE_TIME_STAMP_TOKEN;
use crate::key::fingerprint_of;
use crate::timestamp::{digest_of, token_info};

/// One signature dictionary found in the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignatureReport {
    /// `/SubFilter`, e.g. `ETSI.CAdES.detached`.
    pub sub_filter: String,
    /// `/M` as written (`D:…`), the time the signer claims.
    pub claimed_time: Option<String>,
    /// The byte range is well formed and `/Contents` is exactly the gap.
    pub byte_range_ok: bool,
    /// The byte range reaches the end of the file: nothing was added after.
    pub covers_whole_file: bool,
    /// What the CMS says, when it could be read.
    pub signer: Option<SignerReport>,
    /// Why the signature could not be checked, when it could not.
    pub problem: Option<String>,
}

/// The CMS signer of one signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignerReport {
    pub certificate_der: Vec<u8>,
    /// SHA-256 of the signer's certificate, lowercase hex.
    pub fingerprint: String,
    pub subject: String,
    /// The message-digest attribute: the digest of the bytes signed.
    pub message_digest: Vec<u8>,
    /// The covered bytes hash to the message digest.
    pub digest_matches: bool,
    /// The signature over the signed attributes verifies with the certificate's key.
    pub signature_valid: bool,
    pub timestamp: Option<TimestampReport>,
}

/// A signature timestamp (PAdES B-T).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimestampReport {
    pub time_unix: i64,
    /// The TSA's certificate subject, when the token carries it.
    pub authority: String,
    /// The token covers this signature's value.
    pub imprint_matches: bool,
    /// The token's own signature verifies with the TSA certificate it carries.
    pub signature_valid: bool,
}

/// Why a file could not be read at all.
#[derive(Debug, thiserror::Error)]
#[error("not a readable PDF: {0}")]
pub struct NotAPdf(String);

/// Every signature of `pdf`, in file order.
pub fn signatures(pdf: &[u8]) -> Result<Vec<SignatureReport>, NotAPdf> {
    let document = catch_unwind(AssertUnwindSafe(|| Document::load_mem(pdf)))
        .map_err(|_| NotAPdf("the file is malformed".to_owned()))?
        .map_err(|e| NotAPdf(e.to_string()))?;
    let mut found: Vec<(usize, SignatureReport)> = Vec::new();
    for object in document.objects.values() {
        let Object::Dictionary(dictionary) = object else {
            continue;
        };
        let Ok(Object::Array(range)) = dictionary.get(b"ByteRange") else {
            continue;
        };
        if !dictionary.has(b"Contents") {
            continue;
        }
        let range: Vec<i64> = range.iter().filter_map(|o| o.as_i64().ok()).collect();
        let name = |key: &[u8]| match dictionary.get(key) {
            Ok(Object::Name(name)) => Some(String::from_utf8_lossy(name).into_owned()),
            Ok(Object::String(text, _)) => Some(String::from_utf8_lossy(text).into_owned()),
            _ => None,
        };
        let report = check(pdf, &range, name(b"SubFilter"), name(b"M"));
        let at = range
            .get(1)
            .and_then(|&b| usize::try_from(b).ok())
            .unwrap_or(0);
        found.push((at, report));
    }
    found.sort_by_key(|(at, _)| *at);
    Ok(found.into_iter().map(|(_, report)| report).collect())
}

fn check(
    pdf: &[u8],
    range: &[i64],
    sub_filter: Option<String>,
    claimed_time: Option<String>,
) -> SignatureReport {
    let mut report = SignatureReport {
        sub_filter: sub_filter.unwrap_or_default(),
        claimed_time,
        byte_range_ok: false,
        covers_whole_file: false,
        signer: None,
        problem: None,
    };
    let offsets: Option<Vec<usize>> = range.iter().map(|&v| usize::try_from(v).ok()).collect();
    let Some([a, b, c, d]) = offsets
        .as_deref()
        .and_then(|o| <[usize; 4]>::try_from(o).ok())
    else {
        report.problem = Some("the byte range is not four offsets".to_owned());
        return report;
    };
    let well_formed = a == 0
        && b < c
        && c.checked_add(d).is_some_and(|e| e <= pdf.len())
        && pdf.get(b) == Some(&b'<')
        && pdf.get(c - 1) == Some(&b'>');
    if !well_formed {
        report.problem = Some("the byte range does not frame the signature".to_owned());
        return report;
    }
    report.byte_range_ok = true;
    report.covers_whole_file = c + d == pdf.len();
    let hex: Vec<u8> = pdf[b + 1..c - 1]
        .iter()
        .copied()
        .filter(|x| !x.is_ascii_whitespace())
        .collect();
    let Ok(cms) = data_encoding::HEXLOWER_PERMISSIVE.decode(&hex) else {
        report.problem = Some("the signature is not hexadecimal".to_owned());
        return report;
    };
    match signer_of(&cms, &[&pdf[..b], &pdf[c..c + d]]) {
        Ok(signer) => report.signer = Some(signer),
        Err(problem) => report.problem = Some(problem),
    }
    report
}

/// The first signer of a CMS `ContentInfo` over `content` (detached).
fn signer_of(cms: &[u8], content: &[&[u8]]) -> Result<SignerReport, String> {
    // The room kept is zero-padded after the DER: read one value, not all.
    let info: ContentInfo = der::SliceReader::new(cms)
        .and_then(|mut r| r.decode())
        .map_err(|e| format!("the CMS is malformed: {e}"))?;
    if info.content_type != ID_SIGNED_DATA {
        return Err("the CMS is not SignedData".to_owned());
    }
    let signed_data = info
        .content
        .decode_as::<SignedData>()
        .map_err(|e| format!("the CMS is malformed: {e}"))?;
    let checked = check_signed_data(&signed_data, content)?;
    let timestamp = match signed_data
        .signer_infos
        .0
        .iter()
        .next()
        .and_then(|s| s.unsigned_attrs.as_ref())
        .and_then(|attrs| {
            attrs
                .iter()
                .find(|a| a.oid == ID_AA_SIGNATURE_TIME_STAMP_TOKEN)
        })
        .and_then(|a| a.values.iter().next())
    {
        Some(token) => Some(timestamp_of(token, &checked.signature_value)?),
        None => None,
    };
    Ok(SignerReport {
        fingerprint: fingerprint_of(&checked.certificate_der),
        certificate_der: checked.certificate_der,
        subject: checked.subject,
        message_digest: checked.message_digest,
        digest_matches: checked.digest_matches,
        signature_valid: checked.signature_valid,
        timestamp,
    })
}

fn timestamp_of(token: &der::asn1::Any, signature_value: &[u8]) -> Result<TimestampReport, String> {
    let token: ContentInfo = token
        .decode_as()
        .map_err(|e| format!("the timestamp token is malformed: {e}"))?;
    let info = token_info(&token).map_err(|e| e.to_string())?;
    let checked = check_signed_data(&info.signed_data, &[&info.tst_info_der])?;
    Ok(TimestampReport {
        time_unix: info.time_unix,
        authority: checked.subject,
        imprint_matches: digest_of(info.imprint_algorithm, &[signature_value])
            .is_some_and(|d| d == info.imprint),
        signature_valid: checked.digest_matches && checked.signature_valid,
    })
}

struct Checked {
    certificate_der: Vec<u8>,
    subject: String,
    message_digest: Vec<u8>,
    digest_matches: bool,
    signature_valid: bool,
    signature_value: Vec<u8>,
}

/// The first signer of `signed_data`: its certificate among those carried,
/// its message digest against `content`, its signature against its key.
fn check_signed_data(signed_data: &SignedData, content: &[&[u8]]) -> Result<Checked, String> {
    let signer = signed_data
        .signer_infos
        .0
        .iter()
        .next()
        .ok_or("the CMS has no signer")?;
    let certificates: Vec<&Certificate> = signed_data
        .certificates
        .iter()
        .flat_map(|set| set.0.iter())
        .filter_map(|c| match c {
            CertificateChoices::Certificate(c) => Some(c),
            _ => None,
        })
        .collect();
    let certificate = certificates
        .iter()
        .find(|c| match &signer.sid {
            SignerIdentifier::IssuerAndSerialNumber(id) => {
                c.tbs_certificate().issuer() == &id.issuer
                    && c.tbs_certificate().serial_number() == &id.serial_number
            }
            SignerIdentifier::SubjectKeyIdentifier(ski) => c
                .tbs_certificate()
                .extensions()
                .into_iter()
                .flatten()
                .any(|e| {
                    e.extn_id == const_oid::db::rfc5280::ID_CE_SUBJECT_KEY_IDENTIFIER
                        && OctetString::from_der(e.extn_value.as_bytes()).is_ok_and(|v| v == ski.0)
                }),
        })
        .ok_or("the CMS does not carry its signer's certificate")?;
    let signed_attrs = signer
        .signed_attrs
        .as_ref()
        .ok_or("the CMS signer has no signed attributes")?;
    let message_digest = signed_attrs
        .iter()
        .find(|a| a.oid == ID_MESSAGE_DIGEST)
        .and_then(|a| a.values.iter().next())
        .and_then(|v| v.decode_as::<OctetString>().ok())
        .ok_or("the CMS signer has no message digest")?
        .as_bytes()
        .to_vec();
    let digest = digest_of(signer.digest_alg.oid, content)
        .ok_or("the CMS uses a digest algorithm Signet does not know")?;
    let spki = certificate
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .map_err(|e| e.to_string())?;
    let signed = signed_attrs.to_der().map_err(|e| e.to_string())?;
    let signature_value = signer.signature.as_bytes().to_vec();
    let signature_valid = verify_with(
        &spki,
        signer.signature_algorithm.oid,
        signer.digest_alg.oid,
        &signed,
        &signature_value,
    )
    .is_ok();
    Ok(Checked {
        certificate_der: certificate.to_der().map_err(|e| e.to_string())?,
        subject: certificate.tbs_certificate().subject().to_string(),
        digest_matches: digest == message_digest,
        message_digest,
        signature_valid,
        signature_value,
    })
}

/// Verifies `signature` over `message` with the key of `spki_der` by the
/// signature algorithm `algorithm` (which names its hash).
pub(crate) fn verify_signature(
    spki_der: &[u8],
    algorithm: ObjectIdentifier,
    message: &[u8],
    signature: &[u8],
) -> Result<(), ()> {
    verify_with(spki_der, algorithm, ID_SHA_256, message, signature)
}

/// As [`verify_signature`]; `digest` is the hash when `algorithm` names
/// only the key type (`rsaEncryption`, `id-ecPublicKey`), as some CMS
/// writers put it.
fn verify_with(
    spki_der: &[u8],
    algorithm: ObjectIdentifier,
    digest: ObjectIdentifier,
    message: &[u8],
    signature: &[u8],
) -> Result<(), ()> {
    let spki = SubjectPublicKeyInfoRef::from_der(spki_der).map_err(|_| ())?;
    let hash = match algorithm {
        a if a == ECDSA_WITH_SHA_256 || a == SHA_256_WITH_RSA_ENCRYPTION => ID_SHA_256,
        a if a == ECDSA_WITH_SHA_384 || a == SHA_384_WITH_RSA_ENCRYPTION => ID_SHA_384,
        a if a == ECDSA_WITH_SHA_512 || a == SHA_512_WITH_RSA_ENCRYPTION => ID_SHA_512,
        a if a == RSA_ENCRYPTION || a == ID_EC_PUBLIC_KEY => digest,
        _ => return Err(()),
    };
    let rsa = [
        SHA_256_WITH_RSA_ENCRYPTION,
        SHA_384_WITH_RSA_ENCRYPTION,
        SHA_512_WITH_RSA_ENCRYPTION,
        RSA_ENCRYPTION,
    ]
    .contains(&algorithm);
    let verifier: &'static dyn VerificationAlgorithm = if spki.algorithm.oid == RSA_ENCRYPTION {
        if !rsa {
            return Err(());
        }
        match hash {
            h if h == ID_SHA_256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            h if h == ID_SHA_384 => &signature::RSA_PKCS1_2048_8192_SHA384,
            h if h == ID_SHA_512 => &signature::RSA_PKCS1_2048_8192_SHA512,
            _ => return Err(()),
        }
    } else if spki.algorithm.oid == ID_EC_PUBLIC_KEY && !rsa {
        let curve = spki
            .algorithm
            .parameters
            .and_then(|p| p.decode_as::<ObjectIdentifier>().ok())
            .ok_or(())?;
        match (curve, hash) {
            (c, h) if c == SECP_256_R_1 && h == ID_SHA_256 => &signature::ECDSA_P256_SHA256_ASN1,
            (c, h) if c == SECP_256_R_1 && h == ID_SHA_384 => &signature::ECDSA_P256_SHA384_ASN1,
            (c, h) if c == SECP_256_R_1 && h == ID_SHA_512 => &signature::ECDSA_P256_SHA512_ASN1,
            (c, h) if c == SECP_384_R_1 && h == ID_SHA_256 => &signature::ECDSA_P384_SHA256_ASN1,
            (c, h) if c == SECP_384_R_1 && h == ID_SHA_384 => &signature::ECDSA_P384_SHA384_ASN1,
            _ => return Err(()),
        }
    } else {
        return Err(());
    };
    UnparsedPublicKey::new(verifier, spki.subject_public_key.raw_bytes())
        .verify(message, signature)
        .map_err(|_| ())
}
