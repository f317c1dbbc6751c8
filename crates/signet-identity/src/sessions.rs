//! Browser sessions and the sign-in that creates them, with a growing delay
//! after repeated failures for one email.

use std::time::Duration;

use signet_store::audit::{self, Actor, AuditAction, AuditEvent};
use signet_store::{UnixTime, ids, random, sqlx};

use crate::password::Password;
use crate::{Identity, IdentityError, User};

/// How long a browser stays signed in.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// Failures allowed before the delay starts.
const FREE_FAILURES: i64 = 3;
/// Longest wait imposed between attempts.
const MAX_DELAY_SECS: i64 = 900;

/// A signed-in browser.
#[derive(Clone, Debug)]
pub struct Session {
    pub id: String,
    pub user: User,
    /// Echoed in every form of this session (synchroniser CSRF token).
    pub csrf_token: String,
    pub expires_at: UnixTime,
}

/// What a sign-in attempt came to.
#[derive(Debug)]
pub enum SignIn {
    /// Signed in: `cookie` is the session cookie's value (shown once).
    Success { session: Session, cookie: String },
    /// Wrong email or password (never says which).
    Failed,
    /// Too many recent failures for this email: try again after this long.
    Throttled { retry_after: Duration },
}

/// Where a request came from, for the audit trail.
#[derive(Clone, Debug, Default)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl Identity {
    /// Checks an email and password, subject to the per-email delay, and
    /// opens a session on success. The attempt is counted before the
    /// password is checked, atomically, so parallel guesses cannot all pass
    /// one check of the count.
    pub async fn sign_in(
        &self,
        email: &str,
        password: Password,
        client: &ClientInfo,
    ) -> Result<SignIn, IdentityError> {
        let key = email.trim().to_lowercase();
        let now = self.clock.now();
        if let Some(retry_after) = self.reserve_attempt(&key, now).await? {
            return Ok(SignIn::Throttled { retry_after });
        }
        let user = match self.verify_password(email, password).await {
            Ok(user) => user,
            Err(error) => {
                // Not evaluated: the attempt is given back.
                self.release_attempt(&key).await?;
                return Err(error);
            }
        };
        let Some(user) = user else {
            self.record_failure(&key, now, client).await?;
            return Ok(SignIn::Failed);
        };
        let cookie = random::token().map_err(|e| IdentityError::Hashing(e.to_string()))?;
        let csrf_token = random::token().map_err(|e| IdentityError::Hashing(e.to_string()))?;
        let id = ids::new(ids::WEB_SESSION).map_err(|e| IdentityError::Hashing(e.to_string()))?;
        let expires_at = now.plus(SESSION_LIFETIME);
        let mut tx = self.store.begin_write().await?;
        sqlx::query("DELETE FROM login_failures WHERE email_key = $1")
            .bind(&key)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO web_sessions (id, token_hash, user_id, csrf_secret, created_at, last_seen_at, expires_at, user_agent, client_ip) \
             VALUES ($1, $2, $3, $4, $5, $5, $6, $7, $8)",
        )
        .bind(&id)
        .bind(random::digest(&cookie))
        .bind(&user.id)
        .bind(&csrf_token)
        .bind(now.as_secs())
        .bind(expires_at.as_secs())
        .bind(client.user_agent.as_deref().map(|ua| ua.chars().take(300).collect::<String>()))
        .bind(client.ip.as_deref())
        .execute(&mut *tx)
        .await?;
        audit::record(
            &mut tx,
            &Actor::User(user.id.clone()),
            now,
            AuditEvent {
                action: AuditAction::SignInSucceeded,
                subject_id: Some(&user.id),
                org_id: None,
                detail: serde_json::json!({ "client_ip": client.ip }).to_string(),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(SignIn::Success {
            session: Session {
                id,
                user,
                csrf_token,
                expires_at,
            },
            cookie,
        })
    }

    /// The live session a cookie value names, if any.
    pub async fn session(&self, cookie: &str) -> Result<Option<Session>, IdentityError> {
        let row: Option<(String, String, String, i64)> = sqlx::query_as(
            "SELECT id, user_id, csrf_secret, expires_at FROM web_sessions WHERE token_hash = $1",
        )
        .bind(random::digest(cookie))
        .fetch_optional(self.store.pool())
        .await?;
        let Some((id, user_id, csrf_token, expires_at)) = row else {
            return Ok(None);
        };
        let expires_at = UnixTime::from_secs(expires_at);
        if expires_at <= self.clock.now() {
            return Ok(None);
        }
        Ok(self.user_by_id(&user_id).await?.map(|user| Session {
            id,
            user,
            csrf_token,
            expires_at,
        }))
    }

    /// Ends a session (sign-out).
    pub async fn end_session(&self, cookie: &str) -> Result<(), IdentityError> {
        sqlx::query("DELETE FROM web_sessions WHERE token_hash = $1")
            .bind(random::digest(cookie))
            .execute(self.store.pool())
            .await?;
        Ok(())
    }

    /// Counts one attempt for `key` unless the delay of its earlier
    /// failures is still running; then says how long to wait. A
    /// compare-and-set on the count, so of many parallel attempts exactly
    /// as many pass as the delay allows, on SQLite and PostgreSQL alike.
    async fn reserve_attempt(
        &self,
        key: &str,
        now: UnixTime,
    ) -> Result<Option<Duration>, IdentityError> {
        sqlx::query(
            "INSERT INTO login_failures (email_key, failures, last_failed_at) VALUES ($1, 0, $2) \
             ON CONFLICT (email_key) DO NOTHING",
        )
        .bind(key)
        .bind(now.as_secs())
        .execute(self.store.pool())
        .await?;
        for _ in 0..RESERVE_TRIES {
            let (failures, last_failed_at): (i64, i64) = sqlx::query_as(
                "SELECT failures, last_failed_at FROM login_failures WHERE email_key = $1",
            )
            .bind(key)
            .fetch_optional(self.store.pool())
            .await?
            .unwrap_or((0, 0));
            let until = last_failed_at.saturating_add(delay_after(failures));
            if until > now.as_secs() {
                let wait = u64::try_from(until - now.as_secs()).unwrap_or(1);
                return Ok(Some(Duration::from_secs(wait)));
            }
            let taken = sqlx::query(
                "UPDATE login_failures SET failures = failures + 1, last_failed_at = $2 \
                 WHERE email_key = $1 AND failures = $3 AND last_failed_at = $4",
            )
            .bind(key)
            .bind(now.as_secs())
            .bind(failures)
            .bind(last_failed_at)
            .execute(self.store.pool())
            .await?
            .rows_affected();
            if taken == 1 {
                return Ok(None);
            }
        }
        // Lost every race: others are guessing this email right now.
        Ok(Some(Duration::from_secs(1)))
    }

    /// Gives back an attempt that was counted but never evaluated.
    async fn release_attempt(&self, key: &str) -> Result<(), IdentityError> {
        sqlx::query(
            "UPDATE login_failures SET failures = failures - 1 WHERE email_key = $1 AND failures > 0",
        )
        .bind(key)
        .execute(self.store.pool())
        .await?;
        Ok(())
    }

    /// Audits a failed attempt (already counted by [`Self::reserve_attempt`]).
    async fn record_failure(
        &self,
        key: &str,
        now: UnixTime,
        client: &ClientInfo,
    ) -> Result<(), IdentityError> {
        let mut conn = self.store.pool().acquire().await?;
        audit::record(
            &mut conn,
            &Actor::System,
            now,
            AuditEvent {
                action: AuditAction::SignInFailed,
                subject_id: None,
                org_id: None,
                detail: serde_json::json!({ "email": key, "client_ip": client.ip }).to_string(),
            },
        )
        .await?;
        Ok(())
    }
}

/// Rows of identity's tables removed by one sweep.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Swept {
    pub web_sessions: u64,
    pub login_failures: u64,
}

/// Removes expired sessions, and sign-in failure counts untouched for a
/// day (they no longer delay anyone).
pub async fn sweep_expired(
    store: &signet_store::Store,
    now: UnixTime,
) -> Result<Swept, sqlx::Error> {
    let web_sessions = sqlx::query("DELETE FROM web_sessions WHERE expires_at < $1")
        .bind(now.as_secs())
        .execute(store.pool())
        .await?
        .rows_affected();
    let login_failures = sqlx::query("DELETE FROM login_failures WHERE last_failed_at < $1")
        .bind(now.minus(SWEEP_GRACE).as_secs())
        .execute(store.pool())
        .await?
        .rows_affected();
    Ok(Swept {
        web_sessions,
        login_failures,
    })
}

/// How long after their last use stale rows are kept.
const SWEEP_GRACE: Duration = Duration::from_secs(24 * 3600);

/// Compare-and-set attempts before an attempt is refused as contended.
const RESERVE_TRIES: usize = 32;

/// Seconds to wait after `failures` consecutive failures: none for the
/// first three, then 2, 4, 8… up to 15 minutes.
fn delay_after(failures: i64) -> i64 {
    if failures <= FREE_FAILURES {
        return 0;
    }
    let exponent = u32::try_from((failures - FREE_FAILURES).min(20)).unwrap_or(20);
    2_i64.saturating_pow(exponent).min(MAX_DELAY_SECS)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_delay_grows_and_is_capped() {
        let delays: Vec<i64> = (1..=14).map(super::delay_after).collect();
        assert_eq!(
            delays,
            [0, 0, 0, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900]
        );
    }
}
