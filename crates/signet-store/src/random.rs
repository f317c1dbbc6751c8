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

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_are_256_bits_and_distinct() {
        let a = super::token().unwrap();
        let b = super::token().unwrap();
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
    }
}
