//! The seal key and the certificates readers see: made by Signet (a
//! self-signed P-256 certificate naming the instance) or supplied by the
//! operator (PEM files or a PKCS#12 container, ECDSA P-256/P-384 or RSA).

use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P384_SHA384_ASN1_SIGNING, EcdsaKeyPair, KeyPair,
    RSA_PKCS1_SHA256, RsaKeyPair,
};
use const_oid::ObjectIdentifier;
use const_oid::db::rfc5912::{ECDSA_WITH_SHA_256, ECDSA_WITH_SHA_384, SHA_256_WITH_RSA_ENCRYPTION};
use der::asn1::{BitString, OctetString, UtcTime};
use der::{Decode, Encode};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned, SubjectPublicKeyInfoRef};
use x509_cert::builder::{Builder, CertificateBuilder, profile::BuilderProfile};
use x509_cert::certificate::{Certificate, TbsCertificate};
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage, KeyUsages, SubjectKeyIdentifier};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};

use crate::SealError;
use crate::verify::verify_signature;

/// How long a self-signed seal certificate is valid.
const VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// The private half, in whichever algorithm the certificate names.
#[derive(Debug)]
enum Signer {
    P256(EcdsaKeyPair),
    P384(EcdsaKeyPair),
    Rsa(RsaKeyPair),
}

impl Signer {
    /// PKCS#8, SEC1 (`EC PRIVATE KEY`) or PKCS#1 (`RSA PRIVATE KEY`) DER.
    fn from_der(der: &[u8]) -> Result<Self, SealError> {
        if let Ok(key) = EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_ASN1_SIGNING, der) {
            return Ok(Self::P256(key));
        }
        if let Ok(key) = EcdsaKeyPair::from_private_key_der(&ECDSA_P384_SHA384_ASN1_SIGNING, der) {
            return Ok(Self::P384(key));
        }
        RsaKeyPair::from_pkcs8(der)
            .or_else(|_| RsaKeyPair::from_der(der))
            .map(Self::Rsa)
            .map_err(|_| {
                SealError::Key(
                    "the private key is not an ECDSA P-256 or P-384 key, nor an RSA key of 2048 bits or more"
                        .to_owned(),
                )
            })
    }

    fn algorithm(&self) -> ObjectIdentifier {
        match self {
            Self::P256(_) => ECDSA_WITH_SHA_256,
            Self::P384(_) => ECDSA_WITH_SHA_384,
            Self::Rsa(_) => SHA_256_WITH_RSA_ENCRYPTION,
        }
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SealError> {
        let failed = |_| SealError::Key("the key could not sign".to_owned());
        match self {
            Self::P256(key) | Self::P384(key) => key
                .sign(&SystemRandom::new(), message)
                .map(|s| s.as_ref().to_vec())
                .map_err(failed),
            Self::Rsa(key) => {
                let mut signature = vec![0; key.public_modulus_len()];
                key.sign(
                    &RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    message,
                    &mut signature,
                )
                .map_err(failed)?;
                Ok(signature)
            }
        }
    }
}

/// The instance's seal: its key, its certificate and the certificates
/// that chain it to a CA (the operator's; empty for the self-signed one).
#[derive(Debug)]
pub struct SealKey {
    signer: Signer,
    certificate: Certificate,
    chain: Vec<Certificate>,
}

/// What `signet seal show` prints of a certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateInfo {
    pub subject: String,
    pub issuer: String,
    pub serial_hex: String,
    /// SHA-256 of the DER, lowercase hex.
    pub fingerprint: String,
    pub not_before_unix: u64,
    pub not_after_unix: u64,
    pub self_signed: bool,
    pub algorithm: &'static str,
}

pub(crate) fn sha256(bytes: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes)
        .as_ref()
        .to_vec()
}

/// SHA-256 of a certificate's DER, lowercase hex.
pub(crate) fn fingerprint_of(certificate_der: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(&sha256(certificate_der))
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

fn unix(time: &Time) -> u64 {
    time.to_unix_duration().as_secs()
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
        let mut serial = [0u8; 16];
        aws_lc_rs::rand::fill(&mut serial).map_err(|e| SealError::Key(e.to_string()))?;
        serial[0] &= 0x7f;
        serial[0] |= 0x01;
        let serial = SerialNumber::new(&serial)?;
        let not_before = Duration::from_secs(now_unix);
        let validity = Validity::new(
            Time::UtcTime(UtcTime::from_unix_duration(not_before)?),
            Time::UtcTime(UtcTime::from_unix_duration(not_before + VALIDITY)?),
        );
        let signer = BuilderKey {
            spki_der: spki.to_der()?,
        };
        let profile = SealProfile { subject: name };
        let mut builder = CertificateBuilder::new(profile, serial, validity, spki)
            .map_err(|e| SealError::Build(e.to_string()))?;
        let tbs = builder
            .finalize(&signer)
            .map_err(|e| SealError::Build(e.to_string()))?;
        let key = Signer::P256(key);
        let signature = key.sign(&tbs)?;
        let certificate = builder
            .assemble(BitString::from_bytes(&signature)?, &signer)
            .map_err(|e| SealError::Build(e.to_string()))?;
        Ok((
            Self {
                signer: key,
                certificate,
                chain: Vec::new(),
            },
            pkcs8.as_ref().to_vec(),
        ))
    }

    /// A stored seal: the key (PKCS#8 DER) and its certificate (DER).
    pub fn from_parts(pkcs8: &[u8], certificate_der: &[u8]) -> Result<Self, SealError> {
        Self::pair(
            Signer::from_der(pkcs8)?,
            vec![Certificate::from_der(certificate_der)?],
        )
    }

    /// An operator's seal from PEM: the certificate file (the seal's own
    /// certificate, optionally followed by the ones that chain it to a CA)
    /// and the private key file (`PRIVATE KEY`, `EC PRIVATE KEY` or
    /// `RSA PRIVATE KEY`).
    pub fn from_pem(certificates_pem: &[u8], key_pem: &[u8]) -> Result<Self, SealError> {
        let certificates = Certificate::load_pem_chain(certificates_pem).map_err(|e| {
            SealError::Key(format!("the certificate file is not PEM certificates: {e}"))
        })?;
        let text = std::str::from_utf8(key_pem)
            .map_err(|_| SealError::Key("the key file is not PEM text".to_owned()))?;
        let (label, der) = der::pem::decode_vec(text.trim().as_bytes())
            .map_err(|e| SealError::Key(format!("the key file is not a PEM private key: {e}")))?;
        match label {
            "PRIVATE KEY" | "EC PRIVATE KEY" | "RSA PRIVATE KEY" => {}
            "ENCRYPTED PRIVATE KEY" => {
                return Err(SealError::Key(
                    "the private key is encrypted: give it unencrypted (readable only by Signet's user), or use a PKCS#12 file with its password".to_owned(),
                ));
            }
            other => {
                return Err(SealError::Key(format!(
                    "the key file holds a {other}, not a private key"
                )));
            }
        }
        Self::pair(Signer::from_der(&der)?, certificates)
    }

    /// An operator's seal from a PKCS#12 file (as OpenSSL 3 writes it:
    /// PBES2 with PBKDF2 and AES, a SHA-256 MAC).
    pub fn from_pkcs12(bytes: &[u8], password: &str) -> Result<Self, SealError> {
        let contents = crate::pkcs12::open(bytes, password)?;
        Self::pair(Signer::from_der(&contents.key)?, contents.certificates)
    }

    /// Picks the certificate that is the key's among `certificates`; the
    /// others form the chain, in the order given.
    fn pair(signer: Signer, certificates: Vec<Certificate>) -> Result<Self, SealError> {
        let probe = b"signet seal key check";
        let signature = signer.sign(probe)?;
        let mut certificate = None;
        let mut chain = Vec::new();
        for candidate in certificates {
            let spki = candidate
                .tbs_certificate()
                .subject_public_key_info()
                .to_der()?;
            if certificate.is_none()
                && verify_signature(&spki, signer.algorithm(), probe, &signature).is_ok()
            {
                certificate = Some(candidate);
            } else {
                chain.push(candidate);
            }
        }
        let Some(certificate) = certificate else {
            return Err(SealError::Key(
                "no certificate given belongs to the private key".to_owned(),
            ));
        };
        if let Some(usage) = key_usage(&certificate)?
            && !usage.0.contains(KeyUsages::DigitalSignature)
            && !usage.0.contains(KeyUsages::NonRepudiation)
        {
            return Err(SealError::Key(
                "the certificate's key usage allows neither digitalSignature nor nonRepudiation"
                    .to_owned(),
            ));
        }
        Ok(Self {
            signer,
            certificate,
            chain,
        })
    }

    /// SHA-256 of the certificate, lowercase hex: what `signet seal show`
    /// prints and readers compare.
    pub fn fingerprint(&self) -> Result<String, SealError> {
        Ok(fingerprint_of(&self.certificate.to_der()?))
    }

    /// The certificate, DER.
    pub fn certificate_der(&self) -> Result<Vec<u8>, SealError> {
        Ok(self.certificate.to_der()?)
    }

    /// The certificate and its chain, PEM, as readers import them.
    pub fn certificates_pem(&self) -> Result<String, SealError> {
        let mut out = String::new();
        for certificate in std::iter::once(&self.certificate).chain(&self.chain) {
            out.push_str(
                &der::EncodePem::to_pem(certificate, der::pem::LineEnding::LF)
                    .map_err(|e| SealError::Build(e.to_string()))?,
            );
        }
        Ok(out)
    }

    /// Subject, issuer, serial, fingerprint and validity.
    pub fn info(&self) -> Result<CertificateInfo, SealError> {
        let tbs = self.certificate.tbs_certificate();
        Ok(CertificateInfo {
            subject: tbs.subject().to_string(),
            issuer: tbs.issuer().to_string(),
            serial_hex: data_encoding::HEXLOWER.encode(tbs.serial_number().as_bytes()),
            fingerprint: self.fingerprint()?,
            not_before_unix: unix(&tbs.validity().not_before),
            not_after_unix: unix(&tbs.validity().not_after),
            self_signed: tbs.subject() == tbs.issuer(),
            algorithm: match self.signer {
                Signer::P256(_) => "ECDSA P-256 with SHA-256",
                Signer::P384(_) => "ECDSA P-384 with SHA-384",
                Signer::Rsa(_) => "RSA PKCS#1 v1.5 with SHA-256",
            },
        })
    }

    pub(crate) fn certificate(&self) -> &Certificate {
        &self.certificate
    }

    pub(crate) fn chain(&self) -> &[Certificate] {
        &self.chain
    }

    pub(crate) fn signature_algorithm(&self) -> AlgorithmIdentifierOwned {
        AlgorithmIdentifierOwned {
            oid: self.signer.algorithm(),
            parameters: match self.signer {
                // PKCS#1 v1.5 algorithm identifiers carry an explicit NULL.
                Signer::Rsa(_) => Some(der::asn1::Null.into()),
                _ => None,
            },
        }
    }

    pub(crate) fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SealError> {
        self.signer.sign(message)
    }

    /// The digest the signature's algorithm uses, which readers (NSS)
    /// expect the content digest to use too: SHA-384 for P-384, SHA-256
    /// otherwise.
    pub(crate) fn digest_algorithm(
        &self,
    ) -> (ObjectIdentifier, &'static aws_lc_rs::digest::Algorithm) {
        match self.signer {
            Signer::P384(_) => (
                const_oid::db::rfc5912::ID_SHA_384,
                &aws_lc_rs::digest::SHA384,
            ),
            _ => (
                const_oid::db::rfc5912::ID_SHA_256,
                &aws_lc_rs::digest::SHA256,
            ),
        }
    }
}

fn key_usage(certificate: &Certificate) -> Result<Option<KeyUsage>, SealError> {
    for extension in certificate
        .tbs_certificate()
        .extensions()
        .into_iter()
        .flatten()
    {
        if extension.extn_id == const_oid::db::rfc5280::ID_CE_KEY_USAGE {
            return Ok(Some(KeyUsage::from_der(extension.extn_value.as_bytes())?));
        }
    }
    Ok(None)
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
struct BuilderKey {
    spki_der: Vec<u8>,
}

#[derive(Clone)]
struct PublicKeyDer(Vec<u8>);

impl spki::EncodePublicKey for PublicKeyDer {
    fn to_public_key_der(&self) -> spki::Result<der::Document> {
        Ok(der::Document::from_der(&self.0)?)
    }
}

impl signature::Keypair for BuilderKey {
    type VerifyingKey = PublicKeyDer;

    fn verifying_key(&self) -> PublicKeyDer {
        PublicKeyDer(self.spki_der.clone())
    }
}

impl spki::DynSignatureAlgorithmIdentifier for BuilderKey {
    fn signature_algorithm_identifier(&self) -> spki::Result<AlgorithmIdentifierOwned> {
        Ok(AlgorithmIdentifierOwned {
            oid: ECDSA_WITH_SHA_256,
            parameters: None,
        })
    }
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
