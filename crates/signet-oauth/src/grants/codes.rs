//! Authorization codes: the `authorization_code` grant and its PKCE check.
//! Codes are created with their grant, at consent (`consent.rs`).

use std::time::Duration;

use data_encoding::BASE64URL_NOPAD;
use signet_store::audit::AuditAction;

use super::revocation::GrantRevocation;
use signet_store::{random, sqlx};

use super::{
    GRANT_SELECT, GrantRow, Grants, TokenResponse, record_grant_use, revoked_grant, server,
};
use crate::OAuthError;
use crate::clients::Client;

/// Authorization codes live this long.
pub const CODE_TTL: Duration = Duration::from_secs(60);

#[derive(sqlx::FromRow)]
struct CodeRow {
    grant_id: String,
    client_id: String,
    redirect_uri: String,
    redirect_uri_explicit: i64,
    code_challenge: String,
    expires_at: i64,
    used_at: Option<i64>,
}

impl Grants {
    /// The `authorization_code` grant. Every check happens before the code
    /// is consumed; a code presented a second time revokes its grant. The
    /// code's consumption, the replacement of the connection's previous
    /// grant, the refresh token and the audit event commit together.
    pub async fn exchange_code(
        &self,
        client: &Client,
        code: &str,
        redirect_uri: Option<&str>,
        verifier: Option<&str>,
        client_ip: Option<&str>,
    ) -> Result<TokenResponse, OAuthError> {
        let now = self.clock.now();
        let code_hash = random::digest(code);
        let row: Option<CodeRow> = sqlx::query_as(
            "SELECT grant_id, client_id, redirect_uri, redirect_uri_explicit, code_challenge, expires_at, used_at \
             FROM authorization_codes WHERE code_hash = $1",
        )
        .bind(&code_hash)
        .fetch_optional(self.store.pool())
        .await?;
        let Some(CodeRow {
            grant_id,
            client_id,
            redirect_uri: registered_redirect,
            redirect_uri_explicit: explicit,
            code_challenge: challenge,
            expires_at,
            used_at,
        }) = row
        else {
            return Err(OAuthError::InvalidGrant(
                "The authorization code is invalid".to_owned(),
            ));
        };
        if client_id != client.id {
            return Err(OAuthError::InvalidGrant(
                "The authorization code was issued to another client".to_owned(),
            ));
        }
        let replayed = || {
            OAuthError::InvalidGrant(
                "The authorization code was already used; its tokens are revoked".to_owned(),
            )
        };
        if used_at.is_some() {
            self.revoke_grant(
                &grant_id,
                GrantRevocation::CodeReplay,
                &client.id,
                client_ip,
            )
            .await?;
            return Err(replayed());
        }
        if expires_at <= now.as_secs() {
            return Err(OAuthError::InvalidGrant(
                "The authorization code has expired".to_owned(),
            ));
        }
        match redirect_uri {
            Some(given) if given != registered_redirect => {
                return Err(OAuthError::InvalidGrant(
                    "redirect_uri does not match the authorization request".to_owned(),
                ));
            }
            None if explicit != 0 => {
                return Err(OAuthError::InvalidRequest(
                    "redirect_uri is required: the authorization request had one".to_owned(),
                ));
            }
            _ => {}
        }
        let verifier = verifier
            .ok_or_else(|| OAuthError::InvalidRequest("code_verifier is required".to_owned()))?;
        if !pkce_matches(verifier, &challenge) {
            return Err(OAuthError::InvalidGrant(
                "The PKCE code_verifier does not match the code_challenge".to_owned(),
            ));
        }
        let mut tx = self.store.begin_write().await?;
        let consumed = sqlx::query(
            "UPDATE authorization_codes SET used_at = $1 WHERE code_hash = $2 AND used_at IS NULL",
        )
        .bind(now.as_secs())
        .bind(&code_hash)
        .execute(&mut *tx)
        .await?;
        if consumed.rows_affected() == 0 {
            drop(tx);
            self.revoke_grant(
                &grant_id,
                GrantRevocation::CodeReplay,
                &client.id,
                client_ip,
            )
            .await?;
            return Err(replayed());
        }
        let grant: Option<GrantRow> = sqlx::query_as(GRANT_SELECT)
            .bind(&grant_id)
            .fetch_optional(&mut *tx)
            .await?;
        let grant = grant.filter(GrantRow::is_live).ok_or_else(revoked_grant)?;
        // This consent now stands for the connection: earlier grants end.
        sqlx::query(
            "UPDATE oauth_grants SET revoked_at = $1, revoked_reason = $4 \
             WHERE connection_id = $2 AND id <> $3 AND revoked_at IS NULL",
        )
        .bind(now.as_secs())
        .bind(&grant.connection_id)
        .bind(&grant.grant_id)
        .bind(GrantRevocation::Replaced)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE connections SET scopes = $1 WHERE id = $2")
            .bind(&grant.scopes)
            .bind(&grant.connection_id)
            .execute(&mut *tx)
            .await?;
        let refresh = if client.allows_refresh() {
            let token = random::token().map_err(server)?;
            self.insert_refresh_token(&mut tx, &token, &grant_id, &client.id, now)
                .await?;
            Some(token)
        } else {
            None
        };
        record_grant_use(
            &mut tx,
            AuditAction::GrantIssued,
            &grant,
            &client.id,
            client_ip,
            now,
        )
        .await?;
        tx.commit().await?;
        self.respond(client, &grant, refresh, &grant.scopes, now)
            .await
    }
}

/// RFC 7636 S256: `BASE64URL(SHA256(verifier)) == challenge`, with the
/// verifier's syntax checked (43 to 128 unreserved characters).
pub fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    if !well_formed {
        return false;
    }
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
    random::constant_time_eq(&BASE64URL_NOPAD.encode(digest.as_ref()), challenge)
}

#[cfg(test)]
mod tests {
    #[test]
    fn pkce_s256_matches_rfc_7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert!(super::pkce_matches(
            verifier,
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!super::pkce_matches(
            verifier,
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cN"
        ));
        assert!(!super::pkce_matches(
            "short",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
    }
}
