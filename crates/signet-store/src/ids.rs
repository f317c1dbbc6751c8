//! Opaque, prefixed identifiers: `usr_…`, `org_…`, `acc_…`. The prefix tells a
//! human what an id names; the rest is 128 random bits in lower-case base32,
//! so ids neither leak counts nor sort by creation.

use data_encoding::{Encoding, Specification};
use std::sync::OnceLock;

pub const USER: &str = "usr";
pub const ORGANIZATION: &str = "org";
pub const ACCOUNT: &str = "acc";
pub const WEB_SESSION: &str = "ses";
pub const AUDIT_EVENT: &str = "aev";
pub const CONNECTION: &str = "con";
pub const CLIENT: &str = "cli";
pub const GRANT: &str = "grt";
pub const RECIPIENT: &str = "re";
pub const DOCUMENT: &str = "doc";
pub const EVENT: &str = "evt";
pub const UPLOAD: &str = "upl";
pub const DELIVERABLE: &str = "del";
pub const EMAIL: &str = "eml";
pub const PLACE: &str = "plc";

fn base32_lower() -> &'static Encoding {
    static ENCODING: OnceLock<Encoding> = OnceLock::new();
    ENCODING.get_or_init(|| {
        let mut spec = Specification::new();
        spec.symbols.push_str("abcdefghijklmnopqrstuvwxyz234567");
        // The alphabet is a fixed, valid 32-symbol set; fall back to the
        // standard one rather than fail if that ever changed.
        spec.encoding()
            .unwrap_or_else(|_| data_encoding::BASE32_NOPAD.clone())
    })
}

/// A new id with the given prefix, e.g. `usr_k3x…` (prefix, `_`, 26 chars).
pub fn new(prefix: &str) -> Result<String, getrandom::Error> {
    let bytes = crate::random::bytes::<16>()?;
    Ok(format!("{prefix}_{}", base32_lower().encode(&bytes)))
}

/// Whether `candidate` has the shape of an id with this prefix. Lets callers
/// tell an id from a name (`--org org_…` versus `--org "Acme"`).
pub fn has_prefix(candidate: &str, prefix: &str) -> bool {
    candidate
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('_'))
        .is_some_and(|body| {
            body.len() == 26
                && body
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_prefixed_and_recognisable() {
        let id = new(USER).unwrap();
        assert!(id.starts_with("usr_"), "{id}");
        assert_eq!(id.len(), 4 + 26);
        assert!(has_prefix(&id, USER));
        assert!(!has_prefix(&id, ORGANIZATION));
        assert!(!has_prefix("usr_short", USER));
        assert!(!has_prefix("Acme Inc", ORGANIZATION));
        assert_ne!(new(USER).unwrap(), id);
    }
}
