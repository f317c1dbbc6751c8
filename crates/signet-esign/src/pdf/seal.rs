//! The PAdES seal (work in progress on this branch): a detached CMS
//! signature (`ETSI.CAdES.detached`) over the whole deliverable but its own
//! `/Contents`, with the signing-certificate-v2 attribute, by the instance's
//! seal key (ECDSA P-256, aws-lc-rs) and its certificate.
//!
//! The CMS and certificate types come from RustCrypto's `cms` and
//! `x509-cert`; only the three signed attributes and the assembly are
//! written here (their builders pull in a second crypto stack).

use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use const_oid::ObjectIdentifier;
use const_oid::db::rfc5911::{
    ID_AA_SIGNING_CERTIFICATE_V_2, ID_CONTENT_TYPE, ID_DATA, ID_MESSAGE_DIGEST, ID_SIGNED_DATA,
};
use const_oid::db::rfc5912::{ECDSA_WITH_SHA_256, ID_SHA_256};
use der::asn1::{Any, BitString, OctetString, SetOfVec, UtcTime};
use der::{Decode, Encode, Sequence};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned, SubjectPublicKeyInfoRef};
use x509_cert::attr::Attribute;
use x509_cert::builder::{Builder, CertificateBuilder, profile::BuilderProfile};
use x509_cert::certificate::{Certificate, TbsCertificate};
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage, KeyUsages, SubjectKeyIdentifier};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};

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

/// How long a self-signed seal certificate is valid.
const VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// The instance's seal: its key and the certificate readers see.
#[derive(Debug)]
pub struct SealKey {
    key: EcdsaKeyPair,
    certificate: Certificate,
}

/// ESS `SigningCertificateV2` (RFC 5035), the attribute PAdES requires:
/// the certificate's SHA-256 (the hash algorithm, SHA-256 by default, is
/// omitted as DER requires) and its issuer and serial.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct SigningCertificateV2 {
    certs: Vec<EssCertIdV2>,
}

#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct EssCertIdV2 {
    cert_hash: OctetString,
    issuer_serial: IssuerSerial,
}

#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct IssuerSerial {
    issuer: Vec<GeneralName>,
    serial_number: SerialNumber,
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes)
        .as_ref()
        .to_vec()
}

fn extension(
    oid: ObjectIdentifier,
    critical: bool,
    value: &impl Encode,
) -> Result<Extension, der::Error> {
    Ok(Extension {
        extn_id: oid,
        critical,
        extn_value: OctetString::new(value.to_der()?)?,
    })
}

impl SealKey {
    /// A new key and a self-signed certificate naming `subject` (the
    /// instance's public URL), valid from `now` for ten years. Returns the
    /// key as PKCS#8 too, to store.
    ///
    /// The certificate is CA:TRUE with keyCertSign and no extended key
    /// usage: poppler (NSS) refuses a self-signed document-signing
    /// certificate otherwise, even when a reader trusts it.
    pub fn generate(subject: &str, now_unix: u64) -> Result<(Self, Vec<u8>), SealError> {
        let pkcs8 = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING)
            .and_then(|k| k.to_pkcs8v1())
            .map_err(|e| SealError::Key(e.to_string()))?;
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref())
            .map_err(|e| SealError::Key(e.to_string()))?;
        let spki = SubjectPublicKeyInfoOwned::from_der(
            aws_lc_rs::encoding::AsDer::<aws_lc_rs::encoding::PublicKeyX509Der>::as_der(
                key.public_key(),
            )
            .map_err(|e| SealError::Key(e.to_string()))?
            .as_ref(),
        )?;
        let name: Name = format!("CN={},O=Signet seal", escape_rdn(subject))
            .parse()
            .map_err(|e: der::Error| SealError::Key(e.to_string()))?;
        let mut serial =
            signet_store::random::bytes::<16>().map_err(|e| SealError::Key(e.to_string()))?;
        serial[0] &= 0x7f;
        let serial = SerialNumber::new(&serial)?;
        let not_before = Duration::from_secs(now_unix);
        let validity = Validity::new(
            Time::UtcTime(UtcTime::from_unix_duration(not_before)?),
            Time::UtcTime(UtcTime::from_unix_duration(not_before + VALIDITY)?),
        );
        let signer = KeySigner {
            spki_der: spki.to_der()?,
        };
        let profile = SealProfile { subject: name };
        let mut builder = CertificateBuilder::new(profile, serial, validity, spki)
            .map_err(|e| SealError::Build(e.to_string()))?;
        let tbs = builder
            .finalize(&signer)
            .map_err(|e| SealError::Build(e.to_string()))?;
        let signature = sign(&key, &tbs)?;
        let certificate = builder
            .assemble(BitString::from_bytes(&signature)?, &signer)
            .map_err(|e| SealError::Build(e.to_string()))?;
        Ok((Self { key, certificate }, pkcs8.as_ref().to_vec()))
    }

    /// A stored seal: the PKCS#8 key and the certificate (DER), which must
    /// belong together.
    pub fn from_parts(pkcs8: &[u8], certificate_der: &[u8]) -> Result<Self, SealError> {
        let key = EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8)
            .map_err(|e| SealError::Key(e.to_string()))?;
        let certificate = Certificate::from_der(certificate_der)?;
        let public = aws_lc_rs::encoding::AsDer::<aws_lc_rs::encoding::PublicKeyX509Der>::as_der(
            key.public_key(),
        )
        .map_err(|e| SealError::Key(e.to_string()))?;
        if certificate
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()?
            != public.as_ref()
        {
            return Err(SealError::Key(
                "the certificate is not the key's".to_owned(),
            ));
        }
        Ok(Self { key, certificate })
    }

    /// SHA-256 of the certificate, lowercase hex: what `signet seal show`
    /// prints and readers compare.
    pub fn fingerprint(&self) -> Result<String, SealError> {
        Ok(data_encoding::HEXLOWER.encode(&sha256(&self.certificate.to_der()?)))
    }

    /// The certificate, DER.
    pub fn certificate_der(&self) -> Result<Vec<u8>, SealError> {
        Ok(self.certificate.to_der()?)
    }

    /// The detached CMS SignedData over `digest` (SHA-256 of the signed bytes).
    pub fn cms(&self, digest: &[u8]) -> Result<Vec<u8>, SealError> {
        let cert_der = self.certificate.to_der()?;
        let tbs = self.certificate.tbs_certificate();
        let signing_certificate = SigningCertificateV2 {
            certs: vec![EssCertIdV2 {
                cert_hash: OctetString::new(sha256(&cert_der))?,
                issuer_serial: IssuerSerial {
                    issuer: vec![GeneralName::DirectoryName(tbs.issuer().clone())],
                    serial_number: tbs.serial_number().clone(),
                },
            }],
        };
        let attribute = |oid, value: Any| -> Result<Attribute, SealError> {
            Ok(Attribute {
                oid,
                values: SetOfVec::try_from(vec![value])?,
            })
        };
        let signed_attrs = SetOfVec::try_from(vec![
            attribute(ID_CONTENT_TYPE, Any::encode_from(&ID_DATA)?)?,
            attribute(
                ID_MESSAGE_DIGEST,
                Any::encode_from(&OctetString::new(digest)?)?,
            )?,
            attribute(
                ID_AA_SIGNING_CERTIFICATE_V_2,
                Any::encode_from(&signing_certificate)?,
            )?,
        ])?;
        // The signature covers the attributes' DER as a SET OF.
        let signature = sign(&self.key, &signed_attrs.to_der()?)?;
        let sha256_alg = AlgorithmIdentifierOwned {
            oid: ID_SHA_256,
            parameters: None,
        };
        let signer = SignerInfo {
            version: CmsVersion::V1,
            sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
                issuer: tbs.issuer().clone(),
                serial_number: tbs.serial_number().clone(),
            }),
            digest_alg: sha256_alg.clone(),
            signed_attrs: Some(signed_attrs),
            signature_algorithm: AlgorithmIdentifierOwned {
                oid: ECDSA_WITH_SHA_256,
                parameters: None,
            },
            signature: OctetString::new(signature)?,
            unsigned_attrs: None,
        };
        let signed_data = SignedData {
            version: CmsVersion::V1,
            digest_algorithms: SetOfVec::try_from(vec![sha256_alg])?,
            encap_content_info: EncapsulatedContentInfo {
                econtent_type: ID_DATA,
                econtent: None,
            },
            certificates: Some(CertificateSet(SetOfVec::try_from(vec![
                CertificateChoices::Certificate(self.certificate.clone()),
            ])?)),
            crls: None,
            signer_infos: SignerInfos(SetOfVec::try_from(vec![signer])?),
        };
        Ok(ContentInfo {
            content_type: ID_SIGNED_DATA,
            content: Any::encode_from(&signed_data)?,
        }
        .to_der()?)
    }
}

/// The self-signed seal's profile: issuer = subject, CA:TRUE with
/// keyCertSign, no extended key usage (see [`SealKey::generate`]).
struct SealProfile {
    subject: Name,
}

impl BuilderProfile for SealProfile {
    fn get_issuer(&self, _subject: &Name) -> Name {
        self.subject.clone()
    }

    fn get_subject(&self) -> Name {
        self.subject.clone()
    }

    fn build_extensions(
        &self,
        spk: SubjectPublicKeyInfoRef<'_>,
        _issuer_spk: SubjectPublicKeyInfoRef<'_>,
        _tbs: &TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        let key_id = sha256(spk.subject_public_key.raw_bytes());
        Ok(vec![
            extension(
                const_oid::db::rfc5280::ID_CE_BASIC_CONSTRAINTS,
                true,
                &BasicConstraints {
                    ca: true,
                    path_len_constraint: Some(0),
                },
            )?,
            extension(
                const_oid::db::rfc5280::ID_CE_KEY_USAGE,
                true,
                &KeyUsage(
                    KeyUsages::DigitalSignature
                        | KeyUsages::NonRepudiation
                        | KeyUsages::KeyCertSign,
                ),
            )?,
            extension(
                const_oid::db::rfc5280::ID_CE_SUBJECT_KEY_IDENTIFIER,
                false,
                &SubjectKeyIdentifier(OctetString::new(&key_id[..20])?),
            )?,
        ])
    }
}

/// What the certificate builder needs of a signer: the public key and the
/// algorithm. The signing itself is aws-lc-rs's, outside the builder.
struct KeySigner {
    spki_der: Vec<u8>,
}

#[derive(Clone)]
struct PublicKeyDer(Vec<u8>);

impl spki::EncodePublicKey for PublicKeyDer {
    fn to_public_key_der(&self) -> spki::Result<der::Document> {
        Ok(der::Document::from_der(&self.0)?)
    }
}

impl signature::Keypair for KeySigner {
    type VerifyingKey = PublicKeyDer;

    fn verifying_key(&self) -> PublicKeyDer {
        PublicKeyDer(self.spki_der.clone())
    }
}

impl spki::DynSignatureAlgorithmIdentifier for KeySigner {
    fn signature_algorithm_identifier(&self) -> spki::Result<AlgorithmIdentifierOwned> {
        Ok(AlgorithmIdentifierOwned {
            oid: ECDSA_WITH_SHA_256,
            parameters: None,
        })
    }
}

fn sign(key: &EcdsaKeyPair, message: &[u8]) -> Result<Vec<u8>, SealError> {
    key.sign(&SystemRandom::new(), message)
        .map(|s| s.as_ref().to_vec())
        .map_err(|e| SealError::Key(e.to_string()))
}

/// A value safe inside an RFC 4514 string.
fn escape_rdn(value: &str) -> String {
    value
        .chars()
        .filter(|c| !c.is_control())
        .map(|c| match c {
            ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=' => format!("\\{c}"),
            c => c.to_string(),
        })
        .collect()
}

/// Room kept for the CMS in `/Contents`, in bytes (written as twice as many
/// hex digits). A B-B signature with one P-256 certificate is under 1 KB.
const RESERVED: usize = 16 * 1024;
/// A ByteRange value before patching: ten digits, wider than any offset.
const PLACEHOLDER: i64 = 9_999_999_999;

/// Seals a finished deliverable: adds an invisible signature field on its
/// last page whose `/Contents` is a detached CMS over every byte of the file
/// but that `/Contents` itself. `signed_at` is the PDF date (`D:…Z`).
pub fn seal(pdf: &[u8], key: &SealKey, signed_at: &str) -> Result<Vec<u8>, SealError> {
    use lopdf::{Object, StringFormat, dictionary};

    let mut document = super::inspect::load(pdf).map_err(|e| SealError::Build(e.to_string()))?;
    let last_page = document
        .page_iter()
        .last()
        .ok_or_else(|| SealError::Build("the deliverable has no pages".to_owned()))?;
    let signature = document.add_object(dictionary! {
        "Type" => "Sig",
        "Filter" => "Adobe.PPKLite",
        "SubFilter" => "ETSI.CAdES.detached",
        "ByteRange" => vec![0.into(), PLACEHOLDER.into(), PLACEHOLDER.into(), PLACEHOLDER.into()],
        "Contents" => Object::String(vec![0; RESERVED], StringFormat::Hexadecimal),
        "M" => Object::string_literal(signed_at),
        "Reason" => Object::string_literal("Sealed by Signet on completion"),
    });
    let widget = document.add_object(dictionary! {
        "Type" => "Annot",
        "Subtype" => "Widget",
        "FT" => "Sig",
        "T" => Object::string_literal("Signet seal"),
        "V" => signature,
        // Print and Locked; a zero rectangle: the seal has no appearance.
        "F" => 132,
        "Rect" => vec![0.into(), 0.into(), 0.into(), 0.into()],
        "P" => last_page,
    });
    let page = document
        .get_dictionary_mut(last_page)
        .map_err(|e| SealError::Build(e.to_string()))?;
    let mut annots = match page.get(b"Annots") {
        Ok(Object::Array(items)) => items.clone(),
        _ => Vec::new(),
    };
    annots.push(widget.into());
    page.set("Annots", annots);
    let catalog = document
        .catalog_mut()
        .map_err(|e| SealError::Build(e.to_string()))?;
    catalog.set(
        "AcroForm",
        dictionary! { "Fields" => vec![widget.into()], "SigFlags" => 3 },
    );
    let mut bytes = Vec::with_capacity(pdf.len() + 2 * RESERVED + 1024);
    document
        .save_to(&mut bytes)
        .map_err(|e| SealError::Build(e.to_string()))?;

    // Where the placeholder landed: the signature dictionary's own object.
    let marker = format!("\n{} 0 obj", signature.0);
    let object = find(&bytes, marker.as_bytes(), 0)
        .ok_or_else(|| SealError::Build("the signature object was not written".to_owned()))?;
    let open = find(&bytes, b"/Contents<", object)
        .map(|at| at + "/Contents".len())
        .ok_or_else(|| SealError::Build("the signature has no /Contents".to_owned()))?;
    let close = open + 1 + 2 * RESERVED;
    if bytes.get(close) != Some(&b'>') {
        return Err(SealError::Build(
            "the /Contents placeholder moved".to_owned(),
        ));
    }
    let end = close + 1;
    let range_start = find(&bytes, b"/ByteRange[", object)
        .map(|at| at + "/ByteRange".len())
        .ok_or_else(|| SealError::Build("the signature has no /ByteRange".to_owned()))?;
    let range_end = find(&bytes, b"]", range_start)
        .ok_or_else(|| SealError::Build("the /ByteRange is not closed".to_owned()))?;
    let width = range_end - range_start;
    let mut range = format!("[0 {open} {end} {}", bytes.len() - end);
    if range.len() > width {
        return Err(SealError::Build("the /ByteRange does not fit".to_owned()));
    }
    while range.len() < width {
        range.push(' ');
    }
    bytes[range_start..range_end].copy_from_slice(range.as_bytes());

    let mut digest = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    digest.update(&bytes[..open]);
    digest.update(&bytes[end..]);
    let cms = key.cms(digest.finish().as_ref())?;
    if cms.len() > RESERVED {
        return Err(SealError::Build(
            "the signature is larger than the room kept for it".to_owned(),
        ));
    }
    let hex = data_encoding::HEXUPPER.encode(&cms);
    bytes[open + 1..open + 1 + hex.len()].copy_from_slice(hex.as_bytes());
    Ok(bytes)
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|at| at + from)
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;

    fn pdfsig(pdf: &[u8]) -> Option<String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sealed.pdf");
        std::fs::write(&path, pdf).unwrap();
        let output = match Command::new("pdfsig").arg("-nocert").arg(&path).output() {
            Ok(output) => output,
            Err(_) if std::env::var_os("CI").is_none() => return None,
            Err(e) => panic!("pdfsig (poppler-utils) is needed in CI: {e}"),
        };
        Some(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    #[test]
    fn a_sealed_pdf_verifies_and_a_changed_byte_breaks_it() {
        let (key, pkcs8) = SealKey::generate("https://signet.example", 1_796_000_000).unwrap();
        assert!(!pkcs8.is_empty());
        let pdf = crate::pdf::sample(3, "Sealed");
        let sealed = seal(&pdf, &key, "D:20261202040000Z").unwrap();
        let Some(report) = pdfsig(&sealed) else {
            eprintln!("note: pdfsig not found; the seal is not checked");
            return;
        };
        eprintln!("{report}");
        assert!(
            report.contains("Signature Type: ETSI.CAdES.detached"),
            "{report}"
        );
        assert!(report.contains("Total document signed"), "{report}");
        assert!(
            report.contains("Signature Validation: Signature is Valid."),
            "{report}"
        );

        // One changed byte of the page content breaks it.
        let mut tampered = sealed.clone();
        let at = find(&tampered, b"Sealed", 0).unwrap_or(200);
        tampered[at] ^= 0x01;
        let report = pdfsig(&tampered).unwrap();
        assert!(!report.contains("Signature is Valid."), "{report}");
    }
}
