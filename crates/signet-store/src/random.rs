//! Secure randomness for ids, tokens and secrets.

use data_encoding::BASE64URL_NOPAD;

/// Fills a buffer from the operating system's CSPRNG. A machine that cannot
/// produce randomness cannot run an authorization server, so failure is
/// reported rather than papered over.
pub fn fill(buf: &mut [u8]) -> Result<(), getrandom::Error> {
    getrandom::fill(buf)
}

/// `N` random bytes.
pub fn bytes<const N: usize>() -> Result<[u8; N], getrandom::Error> {
    let mut buf = [0u8; N];
    fill(&mut buf)?;
    Ok(buf)
}

/// An opaque secret of 256 bits, URL-safe base64 without padding (43 chars):
/// the shape of refresh tokens, authorization codes and session cookies.
pub fn token() -> Result<String, getrandom::Error> {
    Ok(BASE64URL_NOPAD.encode(&bytes::<32>()?))
}

/// The SHA-256 of a secret, base64url: what is stored in place of refresh
/// tokens, codes, client secrets and session cookies. These secrets carry
/// 256 bits of randomness, so a fast hash is enough.
pub fn digest(secret: &str) -> String {
    let hash = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, secret.as_bytes());
    BASE64URL_NOPAD.encode(hash.as_ref())
}

/// The raw SHA-256 of a secret: a fixed-size key for in-memory maps (no
/// allocation per look-up).
pub fn digest_bytes(secret: &str) -> [u8; 32] {
    let hash = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, secret.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(hash.as_ref());
    out
}

/// Compares two secrets (or their digests) in time independent of where
/// they differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a.as_bytes(), b.as_bytes()).is_ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn digests_are_stable_and_comparisons_exact() {
        assert_eq!(
            super::digest("abc"),
            "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"
        );
        assert!(super::constant_time_eq("abc", "abc"));
        assert!(!super::constant_time_eq("abc", "abd"));
        assert!(!super::constant_time_eq("abc", "abcd"));
    }

    #[test]
    fn tokens_are_256_bits_and_distinct() {
        let a = super::token().unwrap();
        let b = super::token().unwrap();
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
    }
}
