//! Access tokens: their claims, signing them into the token endpoint's
//! answer, and verifying them (here, for introspection and revocation, and
//! for the resource server's guard).

use data_encoding::BASE64URL_NOPAD;
use serde::Serialize;
use serde_json::Value;
use signet_store::{UnixTime, random};

use super::{GrantRow, Grants, server};
use crate::OAuthError;
use crate::clients::Client;

/// The token endpoint's answer (RFC 6749 §5.1).
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    pub scope: String,
}

/// The claims of an access token (DESIGN §3.2), plus `gid`, the grant, so a
/// resource server can refuse tokens of a revoked grant.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    /// Always set on tokens Signet issues; optional so that a token without
    /// it resolves to the user's only organization (the seed's rule).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
    pub client_id: String,
    pub sid: String,
    pub gid: String,
    pub scope: String,
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
}

impl Grants {
    /// Signs an access token for `grant` and wraps it, with `refresh_token`,
    /// in the token endpoint's answer.
    pub(super) async fn respond(
        &self,
        client: &Client,
        grant: &GrantRow,
        refresh_token: Option<String>,
        scopes: &str,
        now: UnixTime,
    ) -> Result<TokenResponse, OAuthError> {
        let claims = AccessClaims {
            iss: self.issuer.as_str().to_owned(),
            aud: self.issuer.resource(),
            sub: grant.user_id.clone(),
            org_id: Some(grant.org_id.clone()),
            client_id: client.id.clone(),
            sid: grant.connection_id.clone(),
            gid: grant.grant_id.clone(),
            scope: scopes.to_owned(),
            jti: random::token().map_err(server)?,
            iat: now.as_secs(),
            exp: now.plus(self.settings.access_token_ttl).as_secs(),
        };
        let access_token = self.keys.sign("at+jwt", &claims).await?;
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: self.settings.access_token_ttl.as_secs(),
            refresh_token,
            scope: scopes.to_owned(),
        })
    }

    /// Checks an access token's signature, header, issuer, audience and
    /// expiry (by the injected clock). `None` for anything that is not a
    /// valid, unexpired token of ours.
    pub async fn verify_access_token(
        &self,
        token: &str,
    ) -> Result<Option<AccessClaims>, OAuthError> {
        let now = self.clock.now().as_secs();
        Ok(self
            .verify_signature(token)
            .await?
            .filter(|claims| claims.exp > now))
    }

    /// Checks everything about an access token but its expiry: `typ`
    /// `at+jwt` (or `application/at+jwt`, RFC 9068 §2.1), EdDSA, no `crit`,
    /// a published key, the signature, `iss`, `aud`, and that `nbf` and
    /// `iat` are not in the future (by the injected clock, with 60 s of
    /// leeway). Callers compare `exp` with their own clock; a token that
    /// passes here at one moment passes at every later one.
    pub async fn verify_signature(&self, token: &str) -> Result<Option<AccessClaims>, OAuthError> {
        /// Clock skew tolerated on `nbf` and `iat`.
        const LEEWAY: i64 = 60;
        /// `nbf` is not one of ours: read beside the claims, not into them.
        #[derive(serde::Deserialize)]
        struct Timed {
            #[serde(default)]
            nbf: Option<i64>,
            #[serde(flatten)]
            claims: AccessClaims,
        }
        /// Whether the protected header has a `crit` member (RFC 7515
        /// §4.1.11): it names extensions the recipient must understand, and
        /// Signet understands none. Read from the header JSON itself so any
        /// `crit` (also a null or malformed one) counts; unreadable counts too.
        fn names_crit(token: &str) -> bool {
            token
                .split('.')
                .next()
                .and_then(|encoded| BASE64URL_NOPAD.decode(encoded.as_bytes()).ok())
                .and_then(|json| {
                    serde_json::from_slice::<serde_json::Map<String, Value>>(&json).ok()
                })
                .is_none_or(|header| header.contains_key("crit"))
        }
        let Ok(header) = jsonwebtoken::decode_header(token) else {
            return Ok(None);
        };
        // Media types compare case-insensitively; `application/` may be left out.
        let typ_ok = header.typ.as_deref().is_some_and(|typ| {
            typ.eq_ignore_ascii_case("at+jwt") || typ.eq_ignore_ascii_case("application/at+jwt")
        });
        if !typ_ok || header.alg != jsonwebtoken::Algorithm::EdDSA || names_crit(token) {
            return Ok(None);
        }
        let Some(kid) = header.kid else {
            return Ok(None);
        };
        let Some(key) = self.keys.verifying_key(&kid).await? else {
            return Ok(None);
        };
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
        validation.set_issuer(&[self.issuer.as_str()]);
        validation.set_audience(&[self.issuer.resource()]);
        // Times are checked here and by the caller, against the injected
        // clock, not jsonwebtoken's system clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.required_spec_claims.clear();
        let Ok(data) = jsonwebtoken::decode::<Timed>(token, &key, &validation) else {
            return Ok(None);
        };
        let Timed { nbf, claims } = data.claims;
        let now = self.clock.now().as_secs();
        if nbf.is_some_and(|nbf| nbf > now + LEEWAY) || claims.iat > now + LEEWAY {
            return Ok(None);
        }
        Ok(Some(claims))
    }
}
