//! The authorization request (RFC 6749 §4.1.1 with PKCE, RFC 8707 and RFC
//! 9207): validation, and the redirects that answer it.
//!
//! Until the client and redirect URI are known good, errors are shown as a
//! page and never redirected (a forged redirect URI must not receive
//! anything). After that, errors go back to the client with `error`,
//! `error_description`, `state` and `iss`.

use url::Url;

use crate::clients::{Client, Clients, is_known_scope};
use crate::{Issuer, OAuthError, Scope};

/// A validated authorization request.
#[derive(Clone, Debug)]
pub struct AuthorizeRequest {
    pub client: Client,
    /// Where the answer goes: the requested URI (which matched a registered
    /// one) or the only registered one.
    pub redirect_uri: String,
    pub redirect_uri_explicit: bool,
    pub state: Option<String>,
    pub code_challenge: String,
    /// Resource scopes granted if approved (`offline_access` is implied).
    pub scopes: Vec<String>,
    pub prompt: Vec<String>,
    /// The request's own parameters (only those of [`PARAMETERS`]), to
    /// carry through sign-in and consent.
    pub params: Vec<(String, String)>,
}

impl AuthorizeRequest {
    pub fn prompts(&self, value: &str) -> bool {
        self.prompt.iter().any(|p| p == value)
    }
}

/// How a refused authorization request is answered.
#[derive(Debug)]
pub enum Refusal {
    /// An HTML error page (status 400): the redirect target is not trusted.
    Page(String),
    /// A redirect to the client carrying the error.
    Redirect(String),
}

/// The parameters of an authorization request that Signet defines; any
/// other is ignored (RFC 6749 §3.1) and never carried into a form, where it
/// could pose as one of the consent page's own controls.
pub const PARAMETERS: [&str; 9] = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "resource",
    "prompt",
];

fn single<'a>(params: &'a [(String, String)], name: &str) -> Result<Option<&'a str>, ()> {
    let mut values = params
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str());
    let first = values.next();
    if values.next().is_some() {
        Err(())
    } else {
        Ok(first)
    }
}

/// Whether `resource` names this server's MCP resource: `P`, `P/` or `P/mcp`.
pub fn resource_is_ours(issuer: &Issuer, resource: &str) -> bool {
    resource == issuer.as_str() || resource == format!("{issuer}/") || resource == issuer.resource()
}

pub async fn validate(
    clients: &Clients,
    issuer: &Issuer,
    params: &[(String, String)],
) -> Result<AuthorizeRequest, Refusal> {
    let page = |text: &str| Refusal::Page(text.to_owned());
    let client_id = single(params, "client_id")
        .map_err(|()| page("The request names more than one client_id."))?
        .filter(|id| !id.is_empty())
        .ok_or_else(|| page("The request has no client_id."))?;
    let client = clients
        .get(client_id)
        .await
        .map_err(|error| match error {
            // A metadata document that cannot be used says why.
            OAuthError::InvalidClient(reason) => Refusal::Page(reason),
            _ => page("The server could not look up the application; try again."),
        })?
        .ok_or_else(|| {
            page("This application is not registered with Signet. Ask it to connect again.")
        })?;
    let requested = single(params, "redirect_uri")
        .map_err(|()| page("The request names more than one redirect_uri."))?;
    let (redirect_uri, explicit) = match requested {
        Some(uri) => match client.redirect_uri_matching(uri) {
            Some(_) => (uri.to_owned(), true),
            None => {
                return Err(page(
                    "The redirect URI in this request is not registered for this application, so Signet will not send you there.",
                ));
            }
        },
        None if client.redirect_uris.len() == 1 => (client.redirect_uris[0].clone(), false),
        None => {
            return Err(page(
                "The request has no redirect_uri and the application registered several.",
            ));
        }
    };

    // From here on, errors go back to the (verified) redirect URI.
    let state = single(params, "state").ok().flatten().map(str::to_owned);
    let redirect = |error: OAuthError| {
        Refusal::Redirect(error_redirect(
            issuer,
            &redirect_uri,
            state.as_deref(),
            &error,
        ))
    };
    for (name, _) in params {
        if single(params, name).is_err() {
            return Err(redirect(OAuthError::InvalidRequest(format!(
                "parameter {name} is repeated"
            ))));
        }
    }
    let get = |name: &str| single(params, name).ok().flatten();
    match get("response_type") {
        Some("code") => {}
        None => {
            return Err(redirect(OAuthError::InvalidRequest(
                "response_type is required".to_owned(),
            )));
        }
        Some(other) => {
            return Err(redirect(OAuthError::UnsupportedResponseType(format!(
                "response_type {other:?} is not supported: use code"
            ))));
        }
    }
    let code_challenge = get("code_challenge").ok_or_else(|| {
        redirect(OAuthError::InvalidRequest(
            "code_challenge is required (PKCE with S256)".to_owned(),
        ))
    })?;
    if get("code_challenge_method") != Some("S256") {
        return Err(redirect(OAuthError::InvalidRequest(
            "code_challenge_method must be S256".to_owned(),
        )));
    }
    let well_formed = code_challenge.len() == 43
        && code_challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !well_formed {
        return Err(redirect(OAuthError::InvalidRequest(
            "code_challenge is not a base64url SHA-256 value".to_owned(),
        )));
    }
    let mut scopes = Vec::new();
    for scope in get("scope")
        .unwrap_or_default()
        .split(' ')
        .filter(|s| !s.is_empty())
    {
        if !is_known_scope(scope) {
            return Err(redirect(OAuthError::InvalidScope(format!(
                "scope {scope:?} is not supported"
            ))));
        }
        if scope != Scope::OfflineAccess.as_str() && !scopes.iter().any(|s| s == scope) {
            scopes.push(scope.to_owned());
        }
    }
    if scopes.is_empty() {
        scopes = Scope::RESOURCE.map(|s| s.as_str().to_owned()).to_vec();
    }
    if let Some(resource) = get("resource")
        && !resource_is_ours(issuer, resource)
    {
        return Err(redirect(OAuthError::InvalidTarget(format!(
            "resource {resource:?} is not served here: use {}",
            issuer.resource()
        ))));
    }
    let prompt: Vec<String> = get("prompt")
        .unwrap_or_default()
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if prompt.iter().any(|p| p == "none") && prompt.len() > 1 {
        return Err(redirect(OAuthError::InvalidRequest(
            "prompt=none cannot be combined with other values".to_owned(),
        )));
    }
    Ok(AuthorizeRequest {
        client,
        redirect_uri,
        redirect_uri_explicit: explicit,
        state,
        code_challenge: code_challenge.to_owned(),
        scopes,
        prompt,
        params: params
            .iter()
            .filter(|(name, _)| PARAMETERS.contains(&name.as_str()))
            .cloned()
            .collect(),
    })
}

/// The redirect carrying an error, with `iss` (RFC 9207).
pub fn error_redirect(
    issuer: &Issuer,
    redirect_uri: &str,
    state: Option<&str>,
    error: &OAuthError,
) -> String {
    error.log_if_ours();
    let description = error.description();
    let mut pairs = vec![
        ("error", error.code()),
        ("error_description", description.as_str()),
    ];
    if let Some(state) = state {
        pairs.push(("state", state));
    }
    pairs.push(("iss", issuer.as_str()));
    with_query(redirect_uri, &pairs)
}

/// The redirect carrying a code, with `state` and `iss`.
pub fn code_redirect(issuer: &Issuer, request: &AuthorizeRequest, code: &str) -> String {
    let mut pairs = vec![("code", code)];
    if let Some(state) = &request.state {
        pairs.push(("state", state));
    }
    pairs.push(("iss", issuer.as_str()));
    with_query(&request.redirect_uri, &pairs)
}

fn with_query(base: &str, pairs: &[(&str, &str)]) -> String {
    match Url::parse(base) {
        Ok(mut url) => {
            url.query_pairs_mut().extend_pairs(pairs);
            url.to_string()
        }
        // Registered URIs always parse; keep the base rather than fail.
        Err(_) => base.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_of_ours() {
        let p = Issuer::parse("https://s.example").unwrap();
        for ok in [
            "https://s.example",
            "https://s.example/",
            "https://s.example/mcp",
        ] {
            assert!(resource_is_ours(&p, ok), "{ok}");
        }
        for bad in [
            "https://s.example/mcp/",
            "https://other.example/mcp",
            "https://s.example/api",
            "",
        ] {
            assert!(!resource_is_ours(&p, bad), "{bad}");
        }
    }

    #[test]
    fn redirects_carry_iss_and_keep_existing_queries() {
        let p = Issuer::parse("https://s.example").unwrap();
        let url = error_redirect(
            &p,
            "https://c.example/cb?x=1",
            Some("a b&c"),
            &OAuthError::AccessDenied("The user denied access".into()),
        );
        assert_eq!(
            url,
            "https://c.example/cb?x=1&error=access_denied&error_description=The+user+denied+access&state=a+b%26c&iss=https%3A%2F%2Fs.example"
        );
        let native = error_redirect(
            &p,
            "cursor://a/cb",
            None,
            &OAuthError::InvalidScope("x".into()),
        );
        assert!(
            native.starts_with("cursor://a/cb?error=invalid_scope"),
            "{native}"
        );
    }
}
