//! Opening an operator's PKCS#12 file: the MAC is checked, then the bags
//! are decrypted. RustCrypto's `pkcs12` and `pkcs5` give the types and the
//! PKCS#12 key derivation; PBES2 (PBKDF2 + AES-CBC) and HMAC are aws-lc-rs.
//! That is what OpenSSL 3 writes by default; legacy files (RC2, 3DES, a
//! SHA-1 MAC) are refused with a way out.

use std::num::NonZeroU32;

use aws_lc_rs::cipher::{
    AES_128, AES_256, DecryptionContext, PaddedBlockDecryptingKey, UnboundCipherKey,
};
use aws_lc_rs::iv::FixedLength;
use aws_lc_rs::{hmac, pbkdf2};
use cms::content_info::ContentInfo;
use cms::encrypted_data::EncryptedData;
use const_oid::db::rfc5911::{ID_DATA, ID_ENCRYPTED_DATA};
use const_oid::db::rfc5912::ID_SHA_256;
use der::asn1::{ContextSpecific, OctetString};
use der::{Decode, Encode};
use pkcs5::pbes2::{self, Pbkdf2Prf};
use pkcs12::pbe_params::EncryptedPrivateKeyInfo;
use pkcs12::{CertBag, Pfx, SafeBag};
use spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;

use crate::SealError;

/// `pkcs-12 keyBag`, `pkcs8ShroudedKeyBag`, `certBag`, `x509Certificate`.
const KEY_BAG: const_oid::ObjectIdentifier = pkcs12::PKCS_12_KEY_BAG_OID;
const SHROUDED_KEY_BAG: const_oid::ObjectIdentifier = pkcs12::PKCS_12_PKCS8_KEY_BAG_OID;
const CERT_BAG: const_oid::ObjectIdentifier = pkcs12::PKCS_12_CERT_BAG_OID;
const X509_CERTIFICATE: const_oid::ObjectIdentifier = pkcs12::PKCS_12_X509_CERT_OID;
/// `id-PBES2` (RFC 8018).
const PBES2: const_oid::ObjectIdentifier =
    const_oid::ObjectIdentifier::new_unwrap("1.2.840.113549.1.5.13");
/// More PBKDF2 rounds than this is a damaged or hostile file.
const MAX_ROUNDS: u32 = 10_000_000;

const LEGACY: &str = "it uses a legacy encryption (RC2, 3DES or a SHA-1 MAC): export it again with OpenSSL 3's defaults (`openssl pkcs12 -export`, without -legacy)";

/// The private key (PKCS#8 DER) and every certificate of the file.
pub(crate) struct Contents {
    pub key: Vec<u8>,
    pub certificates: Vec<Certificate>,
}

fn bad(reason: impl std::fmt::Display) -> SealError {
    SealError::Key(format!("the PKCS#12 file cannot be read: {reason}"))
}

pub(crate) fn open(bytes: &[u8], password: &str) -> Result<Contents, SealError> {
    let pfx = Pfx::from_der(bytes).map_err(bad)?;
    if pfx.auth_safe.content_type != ID_DATA {
        return Err(bad(
            "its content is signed with a public key, not a password",
        ));
    }
    let safe = pfx
        .auth_safe
        .content
        .decode_as::<OctetString>()
        .map_err(bad)?;
    let Some(mac) = pfx.mac_data else {
        return Err(bad(
            "it has no MAC, so a wrong password cannot be told apart",
        ));
    };
    if mac.mac.algorithm.oid != ID_SHA_256 {
        return Err(bad(LEGACY));
    }
    let rounds = u32::try_from(mac.iterations)
        .ok()
        .filter(|r| (1..=MAX_ROUNDS).contains(r))
        .ok_or_else(|| bad("its MAC iteration count is out of range"))?;
    let mac_key = pkcs12::kdf::derive_key_utf8::<sha2::Sha256>(
        password,
        mac.mac_salt.as_bytes(),
        pkcs12::kdf::Pkcs12KeyType::Mac,
        i32::try_from(rounds).map_err(bad)?,
        32,
    )
    .map_err(bad)?;
    let key = hmac::Key::new(hmac::HMAC_SHA256, &mac_key);
    if hmac::verify(&key, safe.as_bytes(), mac.mac.digest.as_bytes()).is_err() {
        return Err(SealError::Key(
            "the PKCS#12 password is wrong (or the file is damaged)".to_owned(),
        ));
    }

    let mut private_key = None;
    let mut certificates = Vec::new();
    let contents: Vec<ContentInfo> = Vec::from_der(safe.as_bytes()).map_err(bad)?;
    for content in contents {
        let bags_der = if content.content_type == ID_DATA {
            content
                .content
                .decode_as::<OctetString>()
                .map_err(bad)?
                .as_bytes()
                .to_vec()
        } else if content.content_type == ID_ENCRYPTED_DATA {
            let encrypted = content.content.decode_as::<EncryptedData>().map_err(bad)?;
            let info = encrypted.enc_content_info;
            let ciphertext = info
                .encrypted_content
                .ok_or_else(|| bad("an encrypted part is empty"))?;
            decrypt(&info.content_enc_alg, password, ciphertext.as_bytes())?
        } else {
            return Err(bad("a part is encrypted to a public key"));
        };
        let bags: Vec<SafeBag> = Vec::from_der(&bags_der).map_err(bad)?;
        for bag in bags {
            if bag.bag_id == CERT_BAG {
                let cert = ContextSpecific::<CertBag>::from_der(&bag.bag_value)
                    .map_err(bad)?
                    .value;
                if cert.cert_id == X509_CERTIFICATE {
                    certificates
                        .push(Certificate::from_der(cert.cert_value.as_bytes()).map_err(bad)?);
                }
            } else if bag.bag_id == SHROUDED_KEY_BAG {
                let shrouded = ContextSpecific::<EncryptedPrivateKeyInfo>::from_der(&bag.bag_value)
                    .map_err(bad)?
                    .value;
                let key = decrypt(
                    &shrouded.encryption_algorithm,
                    password,
                    shrouded.encrypted_data.as_bytes(),
                )?;
                if private_key.replace(key).is_some() {
                    return Err(bad("it holds more than one private key"));
                }
            } else if bag.bag_id == KEY_BAG {
                let key = ContextSpecific::<der::asn1::Any>::from_der(&bag.bag_value)
                    .map_err(bad)?
                    .value
                    .to_der()?;
                if private_key.replace(key).is_some() {
                    return Err(bad("it holds more than one private key"));
                }
            }
        }
    }
    let key = private_key.ok_or_else(|| bad("it holds no private key"))?;
    if certificates.is_empty() {
        return Err(bad("it holds no certificate"));
    }
    Ok(Contents { key, certificates })
}

/// PBES2 with PBKDF2 (HMAC-SHA-256/384/512) and AES-128/256-CBC; the
/// password is used as its UTF-8 bytes, as OpenSSL does for PBES2.
fn decrypt(
    algorithm: &AlgorithmIdentifierOwned,
    password: &str,
    ciphertext: &[u8],
) -> Result<Vec<u8>, SealError> {
    if algorithm.oid != PBES2 {
        return Err(bad(LEGACY));
    }
    let parameters = algorithm
        .parameters
        .as_ref()
        .ok_or_else(|| bad("PBES2 without parameters"))?
        .decode_as::<pbes2::Parameters>()
        .map_err(bad)?;
    let kdf = parameters
        .kdf
        .pbkdf2()
        .ok_or_else(|| bad("only PBKDF2 key derivation is supported"))?;
    let prf = match kdf.prf {
        Pbkdf2Prf::HmacWithSha256 => pbkdf2::PBKDF2_HMAC_SHA256,
        Pbkdf2Prf::HmacWithSha384 => pbkdf2::PBKDF2_HMAC_SHA384,
        Pbkdf2Prf::HmacWithSha512 => pbkdf2::PBKDF2_HMAC_SHA512,
        _ => return Err(bad(LEGACY)),
    };
    let rounds = NonZeroU32::new(kdf.iteration_count)
        .filter(|r| r.get() <= MAX_ROUNDS)
        .ok_or_else(|| bad("its PBKDF2 iteration count is out of range"))?;
    let (cipher, key_len, iv) = match parameters.encryption {
        pbes2::EncryptionScheme::Aes128Cbc { iv } => (&AES_128, 16, iv),
        pbes2::EncryptionScheme::Aes256Cbc { iv } => (&AES_256, 32, iv),
        _ => return Err(bad("only AES-128-CBC and AES-256-CBC are supported")),
    };
    let mut key = vec![0u8; key_len];
    pbkdf2::derive(
        prf,
        rounds,
        kdf.salt.as_bytes(),
        password.as_bytes(),
        &mut key,
    );
    let key = UnboundCipherKey::new(cipher, &key)
        .and_then(PaddedBlockDecryptingKey::cbc_pkcs7)
        .map_err(|_| bad("the cipher could not be set up"))?;
    let mut buffer = ciphertext.to_vec();
    let plain = key
        .decrypt(&mut buffer, DecryptionContext::Iv128(FixedLength::from(iv)))
        .map_err(|_| {
            SealError::Key("the PKCS#12 password is wrong (or the file is damaged)".to_owned())
        })?;
    Ok(plain.to_vec())
}
