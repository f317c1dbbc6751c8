//! Sealing of keys at rest (token signing keys, the seal key) with an
//! operator-held key-encryption key.

use std::fmt;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use data_encoding::{BASE64, BASE64_NOPAD, BASE64URL, BASE64URL_NOPAD, HEXLOWER_PERMISSIVE};

/// A 256-bit AES-GCM key, given as 64 hex digits or 32 bytes of base64
/// (standard or URL-safe, padded or not). Generate one with
/// `openssl rand -base64 32`.
#[derive(Clone)]
pub struct KeyEncryptionKey([u8; 32]);

impl KeyEncryptionKey {
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let decoded = [
            &HEXLOWER_PERMISSIVE,
            &BASE64,
            &BASE64_NOPAD,
            &BASE64URL,
            &BASE64URL_NOPAD,
        ]
        .iter()
        .filter_map(|encoding| encoding.decode(text.as_bytes()).ok())
        .find(|bytes| bytes.len() == 32);
        match decoded {
            Some(bytes) => {
                let mut key = [0u8; 32];
                key.copy_from_slice(&bytes);
                Ok(Self(key))
            }
            None => Err(
                "expected 32 bytes as 64 hex digits or base64 (openssl rand -base64 32)".to_owned(),
            ),
        }
    }

    fn aead(&self) -> Result<LessSafeKey, aws_lc_rs::error::Unspecified> {
        Ok(LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &self.0)?))
    }

    /// `nonce ‖ ciphertext ‖ tag`, with `context` (the key id) bound as
    /// associated data so a sealed key cannot be swapped onto another row.
    pub fn seal(&self, plaintext: &[u8], context: &str) -> Result<Vec<u8>, String> {
        let nonce_bytes = crate::random::bytes::<NONCE_LEN>().map_err(|e| e.to_string())?;
        let mut sealed = plaintext.to_vec();
        self.aead()
            .and_then(|key| {
                key.seal_in_place_append_tag(
                    Nonce::assume_unique_for_key(nonce_bytes),
                    Aad::from(context.as_bytes()),
                    &mut sealed,
                )
            })
            .map_err(|_| "AES-256-GCM sealing failed".to_owned())?;
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// The inverse of [`seal`](Self::seal); `None` if the key or the context
    /// is wrong or the data was altered.
    pub fn open(&self, sealed: &[u8], context: &str) -> Option<Vec<u8>> {
        let (nonce, ciphertext) = sealed.split_at_checked(NONCE_LEN)?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut buffer = ciphertext.to_vec();
        let plaintext = self
            .aead()
            .ok()?
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut buffer)
            .ok()?;
        Some(plaintext.to_vec())
    }
}

impl fmt::Debug for KeyEncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyEncryptionKey(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn accepts_hex_and_base64_of_32_bytes_only() {
        let from_hex = KeyEncryptionKey::parse(HEX).unwrap();
        let b64 = BASE64.encode(&from_hex.0);
        assert_eq!(KeyEncryptionKey::parse(&b64).unwrap().0, from_hex.0);
        assert_eq!(
            KeyEncryptionKey::parse(&BASE64URL_NOPAD.encode(&from_hex.0))
                .unwrap()
                .0,
            from_hex.0
        );
        assert!(KeyEncryptionKey::parse("too-short").is_err());
        assert!(KeyEncryptionKey::parse(&BASE64.encode(&[0u8; 16])).is_err());
        assert_eq!(format!("{from_hex:?}"), "KeyEncryptionKey(***)");
    }

    #[test]
    fn sealed_keys_open_only_with_the_same_key_and_context() {
        let kek = KeyEncryptionKey::parse(HEX).unwrap();
        let sealed = kek.seal(b"pkcs8 bytes", "kid-1").unwrap();
        assert_ne!(&sealed[NONCE_LEN..NONCE_LEN + 11], b"pkcs8 bytes");
        assert_eq!(kek.open(&sealed, "kid-1").unwrap(), b"pkcs8 bytes");
        assert!(kek.open(&sealed, "kid-2").is_none());
        let other = KeyEncryptionKey::parse(&HEX.replace("00", "ff")).unwrap();
        assert!(other.open(&sealed, "kid-1").is_none());
        let mut tampered = sealed.clone();
        tampered[NONCE_LEN] ^= 1;
        assert!(kek.open(&tampered, "kid-1").is_none());
        assert!(kek.open(&sealed[..5], "kid-1").is_none());
    }
}
