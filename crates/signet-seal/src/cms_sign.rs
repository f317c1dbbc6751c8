//! The detached CMS SignedData PAdES wants: content-type, message-digest and
//! signing-certificate-v2 signed (no signing-time: PAdES puts the time in
//! the signature dictionary's `/M`), and, for B-T, the TSA's token over the
//! signature value as the signature-time-stamp unsigned attribute.

use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedAttributes, SignedData, SignerIdentifier,
    SignerInfo, SignerInfos,
};
use const_oid::ObjectIdentifier;
use const_oid::db::rfc5911::{
    ID_AA_SIGNING_CERTIFICATE_V_2, ID_CONTENT_TYPE, ID_DATA, ID_MESSAGE_DIGEST, ID_SIGNED_DATA,
};
use der::asn1::{Any, OctetString, SetOfVec};
use der::{Decode, Encode, Sequence};
use spki::AlgorithmIdentifierOwned;
use x509_cert::attr::Attribute;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::serial_number::SerialNumber;

use crate::key::sha256;
use crate::{SealError, SealKey};

/// `id-aa-signatureTimeStampToken` (RFC 3161 appendix A).
pub(crate) const ID_AA_SIGNATURE_TIME_STAMP_TOKEN: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.14");

/// ESS `SigningCertificateV2` (RFC 5035): the certificate's SHA-256 (the
/// hash algorithm, SHA-256 by default, is omitted as DER requires) and its
/// issuer and serial.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub(crate) struct SigningCertificateV2 {
    pub certs: Vec<EssCertIdV2>,
}

#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub(crate) struct EssCertIdV2 {
    pub cert_hash: OctetString,
    pub issuer_serial: IssuerSerial,
}

#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub(crate) struct IssuerSerial {
    pub issuer: Vec<GeneralName>,
    pub serial_number: SerialNumber,
}

/// A signature made but not yet wrapped: B-T puts a timestamp of its value
/// in the CMS, so the TSA is asked between [`SealKey::sign_digest`] and
/// [`SealKey::assemble`].
#[derive(Debug)]
pub struct PendingSignature {
    signed_attrs: SignedAttributes,
    value: Vec<u8>,
}

impl PendingSignature {
    /// The signature value, which a signature timestamp covers.
    pub fn value(&self) -> &[u8] {
        &self.value
    }
}

fn attribute(oid: ObjectIdentifier, value: Any) -> Result<Attribute, SealError> {
    Ok(Attribute {
        oid,
        values: SetOfVec::try_from(vec![value])?,
    })
}

fn digest_algorithm(key: &SealKey) -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: key.digest_algorithm().0,
        parameters: None,
    }
}

impl SealKey {
    /// Signs `digest` (of the bytes the seal covers, see
    /// [`crate::Prepared::digest_for`]).
    pub fn sign_digest(&self, digest: &[u8]) -> Result<PendingSignature, SealError> {
        let certificate = self.certificate();
        let tbs = certificate.tbs_certificate();
        let signing_certificate = SigningCertificateV2 {
            certs: vec![EssCertIdV2 {
                cert_hash: OctetString::new(sha256(&certificate.to_der()?))?,
                issuer_serial: IssuerSerial {
                    issuer: vec![GeneralName::DirectoryName(tbs.issuer().clone())],
                    serial_number: tbs.serial_number().clone(),
                },
            }],
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
        let value = self.sign(&signed_attrs.to_der()?)?;
        Ok(PendingSignature {
            signed_attrs,
            value,
        })
    }

    /// The CMS (`ContentInfo`, DER), with `timestamp_token` (an RFC 3161
    /// `TimeStampToken`, DER) as the signature timestamp when given.
    pub fn assemble(
        &self,
        pending: PendingSignature,
        timestamp_token: Option<&[u8]>,
    ) -> Result<Vec<u8>, SealError> {
        let tbs = self.certificate().tbs_certificate();
        let unsigned_attrs = match timestamp_token {
            Some(token) => Some(SetOfVec::try_from(vec![attribute(
                ID_AA_SIGNATURE_TIME_STAMP_TOKEN,
                Any::from_der(token)?,
            )?])?),
            None => None,
        };
        let signer = SignerInfo {
            version: CmsVersion::V1,
            sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
                issuer: tbs.issuer().clone(),
                serial_number: tbs.serial_number().clone(),
            }),
            digest_alg: digest_algorithm(self),
            signed_attrs: Some(pending.signed_attrs),
            signature_algorithm: self.signature_algorithm(),
            signature: OctetString::new(pending.value)?,
            unsigned_attrs,
        };
        let certificates = std::iter::once(self.certificate())
            .chain(self.chain())
            .map(|c| CertificateChoices::Certificate(c.clone()))
            .collect::<Vec<_>>();
        let signed_data = SignedData {
            version: CmsVersion::V1,
            digest_algorithms: SetOfVec::try_from(vec![digest_algorithm(self)])?,
            encap_content_info: EncapsulatedContentInfo {
                econtent_type: ID_DATA,
                econtent: None,
            },
            certificates: Some(CertificateSet(SetOfVec::try_from(certificates)?)),
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
