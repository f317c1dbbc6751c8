//! The bearer check of every `/mcp` request and the seed's 401 table.
//!
//! Order (DESIGN §3.3): missing token; invalid token; expired or revoked;
//! no resolvable organization; account not found; account inactive;
//! connection disconnected. Signature checks are done once per token and
//! remembered (by the token's SHA-256) until it expires; the state behind the
//! token — grant, connection, account — is asked of the authorization
//! server ([`TokenStates`]), and the whole answer (the shared [`Principal`],
//! or the refusal) is remembered under the store's freshness stamp, so a
//! request whose token and database are unchanged costs one hash and one
//! look-up, and a change made by any process (any instance, on PostgreSQL)
//! is refused on the very next request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use signet_identity::{AccountStatus, Identity};
use signet_oauth::grants::{AccessClaims, Grants};
use signet_oauth::token_state::TokenStates;
use signet_oauth::usage::Usage;
use signet_oauth::{Issuer, Scope};
use signet_store::{Freshness, SharedClock, UnixTime, random, sqlx};
use thiserror::Error;

use crate::Principal;

/// Why a request is refused; the messages are the seed's, word for word.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum Refusal {
    #[error("Missing bearer token")]
    MissingToken,
    #[error("Invalid token")]
    InvalidToken,
    #[error("Token is revoked or expired")]
    RevokedOrExpired,
    #[error("User has no organization")]
    NoOrganization,
    #[error("Account not found")]
    AccountNotFound,
    #[error("Account is inactive")]
    AccountInactive,
    #[error("Application has been disconnected")]
    Disconnected,
    /// The token is good but lacks a scope this call needs.
    #[error("insufficient_scope")]
    InsufficientScope { required: Vec<Scope> },
    /// Our side failed; the client may retry.
    #[error("The server could not verify the token; try again")]
    Unavailable,
}

/// Tokens remembered, by digest. Bounded: when full, expired ones go, and
/// if that is not enough it starts over (verification is then redone once
/// per token).
const TOKEN_CACHE_LIMIT: usize = 50_000;

#[derive(Clone, Debug)]
pub struct Guard {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    issuer: Issuer,
    grants: Grants,
    states: TokenStates,
    identity: Identity,
    usage: Usage,
    clock: SharedClock,
    tokens: Mutex<HashMap<[u8; 32], Remembered>>,
}

/// What is known about one token: its verified claims (true until it
/// expires), and the last answer given for it with the stamp under which
/// that answer stays right (until the database changes what stands behind
/// the token).
#[derive(Debug)]
struct Remembered {
    claims: Arc<AccessClaims>,
    answer: Option<(Freshness, Answer)>,
}

type Answer = Result<Arc<Principal>, Refusal>;

impl Guard {
    pub fn new(
        issuer: Issuer,
        grants: Grants,
        states: TokenStates,
        identity: Identity,
        usage: Usage,
        clock: SharedClock,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                issuer,
                grants,
                states,
                identity,
                usage,
                clock,
                tokens: Mutex::new(HashMap::new()),
            }),
        }
    }

    pub fn issuer(&self) -> &Issuer {
        &self.inner.issuer
    }

    /// Checks an `Authorization` header value and returns the principal,
    /// shared by every request of the token until something behind it
    /// changes.
    pub async fn authenticate(&self, authorization: Option<&str>) -> Answer {
        let token = bearer_token(authorization).ok_or(Refusal::MissingToken)?;
        let digest = random::digest_bytes(token);
        // Read before anything is read from the database (see TokenStates).
        let fresh = self.inner.states.freshness();
        let now = self.inner.clock.now().as_secs();
        if let Some(fresh) = fresh
            && let Some(answer) = self.remembered(&digest, fresh, now)
        {
            return answer;
        }
        let claims = self.verified_claims(token, &digest).await?;
        if claims.exp <= now {
            return Err(Refusal::RevokedOrExpired);
        }
        let answer = self.resolve(&claims).await;
        // Our own outage is never remembered: the next request asks again.
        if let Some(fresh) = fresh
            && !matches!(answer, Err(Refusal::Unavailable))
            && let Ok(mut tokens) = self.inner.tokens.lock()
            && let Some(entry) = tokens.get_mut(&digest)
        {
            entry.answer = Some((fresh, answer.clone()));
        }
        answer
    }

    /// The answer last given for this token, if still right.
    fn remembered(&self, digest: &[u8; 32], fresh: Freshness, now: i64) -> Option<Answer> {
        let tokens = self.inner.tokens.lock().ok()?;
        let entry = tokens.get(digest)?;
        if entry.claims.exp <= now {
            return Some(Err(Refusal::RevokedOrExpired));
        }
        match &entry.answer {
            Some((stamp, answer)) if *stamp == fresh => Some(answer.clone()),
            _ => None,
        }
    }

    /// The table's checks after the signature, in its order.
    async fn resolve(&self, claims: &AccessClaims) -> Answer {
        let org_id = match &claims.org_id {
            Some(org_id) => org_id.clone(),
            None => self.only_organization(&claims.sub).await?,
        };
        let state = self
            .inner
            .states
            .get(&claims.sid, &claims.gid, &org_id)
            .await
            .map_err(unavailable)?;
        let Some(state) = state else {
            return Err(Refusal::RevokedOrExpired);
        };
        if state.grant_revoked || state.user_id != claims.sub {
            return Err(Refusal::RevokedOrExpired);
        }
        let Some(account) = &state.account else {
            return Err(Refusal::AccountNotFound);
        };
        if account.status != AccountStatus::Active {
            return Err(Refusal::AccountInactive);
        }
        if state.connection_revoked || state.org_id != org_id {
            return Err(Refusal::Disconnected);
        }
        Ok(Arc::new(Principal {
            user_id: claims.sub.clone(),
            org_id,
            account_id: account.id.clone(),
            account_status: account.status,
            live_mode: account.live_mode,
            client_id: claims.client_id.clone(),
            connection_id: claims.sid.clone(),
            connection_name: state.connection_name.clone(),
            scopes: claims
                .scope
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            token_expires_at: UnixTime::from_secs(claims.exp),
            calls: self.inner.usage.counter(&claims.sid),
        }))
    }

    async fn verified_claims(
        &self,
        token: &str,
        digest: &[u8; 32],
    ) -> Result<Arc<AccessClaims>, Refusal> {
        if let Some(claims) = self
            .inner
            .tokens
            .lock()
            .ok()
            .and_then(|tokens| tokens.get(digest).map(|entry| entry.claims.clone()))
        {
            return Ok(claims);
        }
        let claims = Arc::new(
            self.inner
                .grants
                .verify_signature(token)
                .await
                .map_err(|_| Refusal::Unavailable)?
                .ok_or(Refusal::InvalidToken)?,
        );
        if let Ok(mut tokens) = self.inner.tokens.lock() {
            if tokens.len() >= TOKEN_CACHE_LIMIT {
                let now = self.inner.clock.now().as_secs();
                tokens.retain(|_, entry| entry.claims.exp > now);
                if tokens.len() >= TOKEN_CACHE_LIMIT {
                    tokens.clear();
                }
            }
            tokens.insert(
                *digest,
                Remembered {
                    claims: claims.clone(),
                    answer: None,
                },
            );
        }
        Ok(claims)
    }

    async fn only_organization(&self, user_id: &str) -> Result<String, Refusal> {
        match self.inner.identity.sole_organization(user_id).await {
            Ok(Some(org_id)) => Ok(org_id),
            Ok(None) => Err(Refusal::NoOrganization),
            Err(error) => {
                tracing::error!(%error, "bearer check could not read the memberships");
                Err(Refusal::Unavailable)
            }
        }
    }

    /// The `WWW-Authenticate` value for a refusal.
    pub fn challenge(&self, refusal: &Refusal) -> String {
        challenge(&self.inner.issuer, refusal)
    }
}

/// The `WWW-Authenticate` value for a refusal (RFC 6750 §3, RFC 9728 §5.1):
/// always the absolute metadata URL and the scopes; `error` only when a
/// token was presented (none for a missing token, nor for our own outage).
pub fn challenge(issuer: &Issuer, refusal: &Refusal) -> String {
    let metadata = issuer.join(crate::metadata::PATH);
    let scope = match refusal {
        Refusal::InsufficientScope { required } => scope_list(required),
        _ => scope_list(&Scope::RESOURCE),
    };
    let mut value = format!("Bearer resource_metadata=\"{metadata}\", scope=\"{scope}\"");
    match refusal {
        Refusal::MissingToken | Refusal::Unavailable => {}
        Refusal::InsufficientScope { .. } => value.push_str(
            ", error=\"insufficient_scope\", error_description=\"The token lacks a scope this call needs\"",
        ),
        other => value.push_str(&format!(", error=\"invalid_token\", error_description=\"{other}\"")),
    }
    value
}

/// Scopes as a `scope` value writes them: space-separated.
pub(crate) fn scope_list(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

fn unavailable(error: sqlx::Error) -> Refusal {
    tracing::error!(%error, "bearer check could not read the database");
    Refusal::Unavailable
}

/// The token of an `Authorization: Bearer …` header (scheme compared
/// case-insensitively); nothing else carries tokens.
fn bearer_token(header: Option<&str>) -> Option<&str> {
    let (scheme, token) = header?.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_follow_rfc_6750_and_9728() {
        let p = Issuer::parse("https://s.example").unwrap();
        let base = r#"Bearer resource_metadata="https://s.example/.well-known/oauth-protected-resource/mcp""#;
        assert_eq!(
            challenge(&p, &Refusal::MissingToken),
            format!(r#"{base}, scope="envelopes:read envelopes:write""#)
        );
        assert_eq!(
            challenge(&p, &Refusal::Disconnected),
            format!(
                r#"{base}, scope="envelopes:read envelopes:write", error="invalid_token", error_description="Application has been disconnected""#
            )
        );
        assert_eq!(
            challenge(
                &p,
                &Refusal::InsufficientScope {
                    required: vec![Scope::EnvelopesWrite]
                }
            ),
            format!(
                r#"{base}, scope="envelopes:write", error="insufficient_scope", error_description="The token lacks a scope this call needs""#
            )
        );
        assert!(!challenge(&p, &Refusal::Unavailable).contains("error="));
    }

    #[test]
    fn only_the_bearer_scheme_carries_tokens() {
        assert_eq!(bearer_token(Some("Bearer abc")), Some("abc"));
        assert_eq!(bearer_token(Some("bearer  abc ")), Some("abc"));
        assert_eq!(bearer_token(Some("Basic abc")), None);
        assert_eq!(bearer_token(Some("Bearer")), None);
        assert_eq!(bearer_token(Some("Bearer ")), None);
        assert_eq!(bearer_token(None), None);
    }
}
