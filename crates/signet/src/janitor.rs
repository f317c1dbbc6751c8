//! Removing what has expired and can no longer matter, hourly, each table
//! by the crate that owns it: web
//! sessions, stale sign-in failure counts, authorization codes a day after
//! they expired (a replay inside that day still revokes what the code
//! issued), refresh tokens past their expiry (rotated ones are kept until
//! then, so a late replay is still caught), uploads a day after their
//! document URL expired, spent client-assertion ids, and signers' email
//! codes (once out of the hourly resend limit) and code sessions.

use serde::Serialize;
use signet_store::{Store, UnixTime, sqlx};

/// Rows removed by one sweep, per table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Swept {
    pub web_sessions: u64,
    pub login_failures: u64,
    pub authorization_codes: u64,
    pub refresh_tokens: u64,
    pub uploads: u64,
    pub client_assertions: u64,
    pub recipient_codes: u64,
    pub recipient_sessions: u64,
}

impl Swept {
    pub fn total(&self) -> u64 {
        self.web_sessions
            + self.login_failures
            + self.authorization_codes
            + self.refresh_tokens
            + self.uploads
            + self.client_assertions
            + self.recipient_codes
            + self.recipient_sessions
    }
}

/// Runs every owner's sweep (each crate removes its own rows).
pub async fn sweep(store: &Store, now: UnixTime) -> Result<Swept, sqlx::Error> {
    let identity = signet_identity::sweep_expired(store, now).await?;
    let oauth = signet_oauth::sweep::sweep_expired(store, now).await?;
    let uploads = signet_esign::sweep_expired(store, now).await?;
    let codes = signet_esign::sweep_codes(store, now).await?;
    Ok(Swept {
        web_sessions: identity.web_sessions,
        login_failures: identity.login_failures,
        authorization_codes: oauth.authorization_codes,
        refresh_tokens: oauth.refresh_tokens,
        uploads,
        client_assertions: oauth.client_assertions,
        recipient_codes: codes.codes,
        recipient_sessions: codes.sessions,
    })
}
