use std::fmt;

use argon2::password_hash::phc::PasswordHash;
use argon2::{Argon2, PasswordHasher, PasswordVerifier};

use crate::IdentityError;

pub(crate) const MIN_LEN: usize = 8;
/// Bounds the work an attacker can make one sign-in attempt cost.
pub(crate) const MAX_LEN: usize = 1024;

/// A plaintext password on its way to being hashed or checked. Its `Debug`
/// is redacted so it cannot reach a log by accident.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// Accepts a password a user chose: not empty, at least 8 characters,
    /// at most 1 KiB.
    pub fn new(plain: impl Into<String>) -> Result<Self, IdentityError> {
        let plain = plain.into();
        if plain.is_empty() {
            return Err(IdentityError::EmptyPassword);
        }
        if plain.chars().count() < MIN_LEN {
            return Err(IdentityError::PasswordTooShort { min: MIN_LEN });
        }
        if plain.len() > MAX_LEN {
            return Err(IdentityError::PasswordTooLong { max: MAX_LEN });
        }
        Ok(Self(plain))
    }

    /// A password offered at sign-in: never validated for shape (that would
    /// tell an attacker something), only bounded in size.
    pub fn attempt(plain: impl Into<String>) -> Self {
        let mut plain = plain.into();
        if plain.len() > MAX_LEN {
            plain.truncate(plain.floor_char_boundary(MAX_LEN));
        }
        Self(plain)
    }

    /// A fresh random password: 20 characters from a 56-symbol alphabet
    /// without look-alikes (about 116 bits).
    pub fn generate() -> Result<Self, IdentityError> {
        const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
        const LEN: usize = 20;
        // Rejection sampling keeps every symbol equally likely: bytes at or
        // above the largest multiple of the alphabet size are drawn again.
        let limit = 256 - 256 % ALPHABET.len();
        let mut plain = String::with_capacity(LEN);
        while plain.len() < LEN {
            let batch = signet_store::random::bytes::<32>()
                .map_err(|e| IdentityError::Hashing(e.to_string()))?;
            for b in batch.iter().map(|b| usize::from(*b)).filter(|b| *b < limit) {
                if plain.len() < LEN {
                    plain.push(char::from(ALPHABET[b % ALPHABET.len()]));
                }
            }
        }
        Ok(Self(plain))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// argon2id with the crate's defaults (19 MiB, 2 passes), run on the blocking
/// pool: a hash takes tens of milliseconds and must not stall the runtime.
pub(crate) async fn hash(password: Password) -> Result<String, IdentityError> {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.expose().as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| IdentityError::Hashing(e.to_string()))
    })
    .await
    .map_err(|e| IdentityError::Hashing(e.to_string()))?
}

/// Checks a password against a stored hash, or against a fixed dummy hash
/// when there is none, so that an unknown email costs the same time as a
/// wrong password.
pub(crate) async fn verify(password: Password, stored: Option<String>) -> bool {
    let result = tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let hash_text = stored.unwrap_or_else(|| DUMMY_HASH.to_owned());
        let Ok(hash) = PasswordHash::new(&hash_text) else {
            return false;
        };
        let ok = Argon2::default()
            .verify_password(password.expose().as_bytes(), &hash)
            .is_ok();
        ok && known
    })
    .await;
    result.unwrap_or(false)
}

/// argon2id hash of a random string nobody knows, with default parameters.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2lnbmV0LWR1bW15LXNhbHQ$Lk4ZS4b2Wq8m8m5ZpO7bJc4pKJq8JbS7a0mDfj9qkXo";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_rules() {
        assert!(matches!(
            Password::new(""),
            Err(IdentityError::EmptyPassword)
        ));
        assert!(matches!(
            Password::new("short"),
            Err(IdentityError::PasswordTooShort { min: 8 })
        ));
        assert!(matches!(
            Password::new("x".repeat(1025)),
            Err(IdentityError::PasswordTooLong { max: 1024 })
        ));
        assert!(Password::new("correct horse").is_ok());
        assert_eq!(
            format!("{:?}", Password::attempt("secret")),
            "Password(***)"
        );
        assert_eq!(Password::attempt("é".repeat(600)).expose().len(), 1024);
    }

    #[test]
    fn generated_passwords_are_long_and_distinct() {
        let a = Password::generate().unwrap();
        let b = Password::generate().unwrap();
        assert_eq!(a.expose().len(), 20);
        assert_ne!(a.expose(), b.expose());
        assert!(Password::new(a.expose()).is_ok());
    }

    #[tokio::test]
    async fn hashes_verify_and_unknown_users_never_do() {
        let hash = hash(Password::new("correct horse").unwrap()).await.unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify(Password::attempt("correct horse"), Some(hash.clone())).await);
        assert!(!verify(Password::attempt("wrong horse"), Some(hash)).await);
        assert!(!verify(Password::attempt("anything"), None).await);
        assert!(
            PasswordHash::new(DUMMY_HASH).is_ok(),
            "dummy hash must parse"
        );
    }
}
