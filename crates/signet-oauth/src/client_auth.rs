//! Client authentication at the token, revocation and introspection
//! endpoints: what a request presents ([`Credentials`]) and the one rule
//! that decides whether it proves a client ([`authenticate`]).
//!
//! A registered client is authenticated only by the method it registered
//! (RFC 6749 §2.3 lets a server fix one per client, and RFC 7591 clients
//! use the one they registered): a `client_secret_basic` client by HTTP
//! Basic, a `client_secret_post` client in the body, a public (`none`)
//! client by its `client_id` alone, never with a secret. A
//! metadata-document client uses what its document offers: a
//! `private_key_jwt` assertion or, if offered, `none`. Only clients an
//! operator registered for it may introspect ([`require_introspection`]).

use std::fmt;

use data_encoding::BASE64;
use url::form_urlencoded;

use crate::clients::{AuthMethod, Client, Clients};
use crate::{Issuer, OAuthError};

/// What a request presented to say which client it comes from. Exactly one
/// method per request (RFC 6749 §2.3: a client must not use more than one).
pub enum Credentials {
    /// `Authorization: Basic` with a non-empty secret (`client_secret_basic`).
    Basic { id: String, secret: String },
    /// `client_id` and `client_secret` in the body (`client_secret_post`).
    Post { id: String, secret: String },
    /// A JWT client assertion (`private_key_jwt`, RFC 7523 §2.2); `id` is
    /// the `client_id` parameter when one was sent.
    Assertion {
        id: Option<String>,
        assertion: String,
    },
    /// The `client_id` alone (`none`): a public client. A Basic header
    /// with an empty secret (`id:`) also lands here: it presents no secret.
    None { id: String },
}

/// Secrets and assertions never reach logs.
impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Basic { id, .. } => f.debug_struct("Basic").field("id", id).finish(),
            Self::Post { id, .. } => f.debug_struct("Post").field("id", id).finish(),
            Self::Assertion { id, .. } => f.debug_struct("Assertion").field("id", id).finish(),
            Self::None { id } => f.debug_struct("None").field("id", id).finish(),
        }
    }
}

impl Credentials {
    /// Reads the credentials of a request from its `Authorization` header
    /// and form body (where, as everywhere at these endpoints, an empty
    /// parameter counts as absent). Two methods at once, a malformed Basic
    /// header or a wrong assertion type is `invalid_client`.
    pub fn read(
        authorization: Option<&str>,
        form: &[(String, String)],
    ) -> Result<Self, OAuthError> {
        let param = |name: &str| {
            form.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
                .filter(|v| !v.is_empty())
        };
        let basic = match authorization.and_then(|text| text.split_once(' ')) {
            Some((scheme, credentials)) if scheme.eq_ignore_ascii_case("basic") => {
                Some(parse_basic(credentials.trim()).ok_or_else(|| {
                    OAuthError::InvalidClient(
                        "The Authorization header is not valid Basic credentials".to_owned(),
                    )
                })?)
            }
            _ => None,
        };
        let body_id = param("client_id");
        let body_secret = param("client_secret");
        let one_method = || {
            OAuthError::InvalidClient(
                "Use one client authentication method: Basic credentials, a client_secret or a client assertion, not several".to_owned(),
            )
        };
        if let Some(assertion) = param("client_assertion") {
            if basic.is_some() || body_secret.is_some() {
                return Err(one_method());
            }
            if param("client_assertion_type") != Some(crate::cimd::JWT_BEARER) {
                return Err(OAuthError::InvalidClient(format!(
                    "client_assertion_type must be {}",
                    crate::cimd::JWT_BEARER
                )));
            }
            return Ok(Self::Assertion {
                id: body_id.map(str::to_owned),
                assertion: assertion.to_owned(),
            });
        }
        match (basic, body_id) {
            (Some(_), _) if body_secret.is_some() => Err(one_method()),
            (Some((id, _)), Some(body)) if body != id => Err(OAuthError::InvalidClient(
                "client_id differs from the Basic credentials".to_owned(),
            )),
            (Some((id, secret)), _) if secret.is_empty() => Ok(Self::None { id }),
            (Some((id, secret)), _) => Ok(Self::Basic { id, secret }),
            (None, Some(id)) => Ok(match body_secret {
                Some(secret) => Self::Post {
                    id: id.to_owned(),
                    secret: secret.to_owned(),
                },
                None => Self::None { id: id.to_owned() },
            }),
            (None, None) => Err(OAuthError::InvalidClient(
                "Client authentication is required".to_owned(),
            )),
        }
    }
}

/// The client the credentials prove, or `invalid_client` saying why not.
pub async fn authenticate(
    clients: &Clients,
    issuer: &Issuer,
    credentials: &Credentials,
) -> Result<Client, OAuthError> {
    let claimed = match credentials {
        Credentials::Basic { id, .. }
        | Credentials::Post { id, .. }
        | Credentials::None { id }
        | Credentials::Assertion { id: Some(id), .. } => id.clone(),
        // Without a client_id parameter the assertion's (still unverified)
        // issuer names the client; verification then confirms it.
        Credentials::Assertion {
            id: None,
            assertion,
        } => unverified_issuer(assertion).ok_or_else(|| {
            OAuthError::InvalidClient("The client assertion names no issuer".to_owned())
        })?,
    };
    let client = clients
        .get(&claimed)
        .await?
        .ok_or_else(|| OAuthError::InvalidClient("Unknown client".to_owned()))?;
    if client.document.is_some() {
        authenticate_by_document(clients, issuer, &client, credentials).await?;
        return Ok(client);
    }
    match (client.auth_method, credentials) {
        (AuthMethod::ClientSecretBasic, Credentials::Basic { secret, .. })
        | (AuthMethod::ClientSecretPost, Credentials::Post { secret, .. }) => {
            if client.secret_matches(secret) {
                Ok(client)
            } else {
                Err(OAuthError::InvalidClient(
                    "Client authentication failed".to_owned(),
                ))
            }
        }
        (AuthMethod::None, Credentials::None { .. }) => Ok(client),
        (_, Credentials::Assertion { .. }) => Err(OAuthError::InvalidClient(
            "Only clients identified by a metadata document can use private_key_jwt".to_owned(),
        )),
        (AuthMethod::None, _) => Err(OAuthError::InvalidClient(
            "This is a public client: it sends its client_id alone, never a secret".to_owned(),
        )),
        (registered, _) => Err(OAuthError::InvalidClient(format!(
            "This client is registered for {}: authenticate with that method",
            registered.as_str()
        ))),
    }
}

/// A metadata-document client: a `private_key_jwt` assertion verified
/// against the keys its document publishes, or its id alone if the
/// document offers `none`. Signet issued it no secret, so none is accepted.
async fn authenticate_by_document(
    clients: &Clients,
    issuer: &Issuer,
    client: &Client,
    credentials: &Credentials,
) -> Result<(), OAuthError> {
    let (Some(document), Some(documents)) = (&client.document, clients.metadata_documents()) else {
        return Err(OAuthError::Server(
            "a metadata-document client without the resolver".to_owned(),
        ));
    };
    match credentials {
        Credentials::Assertion { assertion, .. } => {
            if !document.offers(AuthMethod::PrivateKeyJwt) {
                return Err(OAuthError::InvalidClient(
                    "This client's metadata document does not offer private_key_jwt".to_owned(),
                ));
            }
            let audiences = [issuer.join("/oauth/token"), issuer.as_str().to_owned()];
            documents
                .verify_assertion(document, assertion, &audiences)
                .await
        }
        Credentials::None { .. } if document.offers(AuthMethod::None) => Ok(()),
        Credentials::None { .. } => Err(OAuthError::InvalidClient(
            "This client must authenticate with a private_key_jwt client assertion".to_owned(),
        )),
        Credentials::Basic { .. } | Credentials::Post { .. } => {
            Err(OAuthError::InvalidClient(format!(
                "This client has no secret: it authenticates with {}",
                document
                    .methods
                    .iter()
                    .map(|m| m.as_str())
                    .collect::<Vec<_>>()
                    .join(" or ")
            )))
        }
    }
}

/// Introspection tells who is behind any token, so it is for clients an
/// operator registered for it (resource servers), never for one that
/// registered itself.
pub fn require_introspection(client: &Client) -> Result<(), OAuthError> {
    if client.may_introspect() {
        Ok(())
    } else {
        Err(OAuthError::InvalidClient(
            "Introspection needs a client registered for it: an operator adds one with `signet clients add --introspection`".to_owned(),
        ))
    }
}

fn unverified_issuer(assertion: &str) -> Option<String> {
    jsonwebtoken::dangerous::insecure_decode::<serde_json::Value>(assertion)
        .ok()?
        .claims
        .get("iss")?
        .as_str()
        .map(str::to_owned)
}

/// `base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 §2.3.1).
fn parse_basic(credentials: &str) -> Option<(String, String)> {
    let decoded = BASE64.decode(credentials.as_bytes()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    let decode = |s: &str| {
        form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    let id = decode(id)?;
    if id.is_empty() {
        return None;
    }
    Some((id, decode(secret)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn basic(id: &str, secret: &str) -> String {
        format!(
            "Basic {}",
            BASE64.encode(format!("{id}:{secret}").as_bytes())
        )
    }

    fn read(authorization: Option<&str>, pairs: &[(&str, &str)]) -> Result<String, String> {
        Credentials::read(authorization, &form(pairs))
            .map(|c| format!("{c:?}"))
            .map_err(|e| e.description())
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let encoded = BASE64.encode(b"cli_1:s%3Acret+x");
        assert_eq!(
            parse_basic(&encoded),
            Some(("cli_1".to_owned(), "s:cret x".to_owned()))
        );
        assert_eq!(
            parse_basic(&BASE64.encode(b"cli_1:")),
            Some(("cli_1".to_owned(), String::new()))
        );
        assert_eq!(parse_basic("not base64!"), None);
        assert_eq!(parse_basic(&BASE64.encode(b"no-colon")), None);
        assert_eq!(parse_basic(&BASE64.encode(b":secret")), None);
    }

    #[test]
    fn each_request_presents_exactly_one_method() {
        let jwt = crate::cimd::JWT_BEARER;
        assert_eq!(
            read(Some(&basic("cli_1", "s")), &[]),
            Ok(r#"Basic { id: "cli_1" }"#.to_owned())
        );
        assert_eq!(
            read(Some(&basic("cli_1", "s")), &[("client_id", "cli_1")]),
            Ok(r#"Basic { id: "cli_1" }"#.to_owned())
        );
        assert_eq!(
            read(Some(&basic("cli_1", "")), &[]),
            Ok(r#"None { id: "cli_1" }"#.to_owned())
        );
        assert_eq!(
            read(None, &[("client_id", "cli_1"), ("client_secret", "s")]),
            Ok(r#"Post { id: "cli_1" }"#.to_owned())
        );
        assert_eq!(
            read(None, &[("client_id", "cli_1"), ("client_secret", "")]),
            Ok(r#"None { id: "cli_1" }"#.to_owned())
        );
        assert_eq!(
            read(
                None,
                &[
                    ("client_assertion_type", jwt),
                    ("client_assertion", "a.b.c")
                ]
            ),
            Ok("Assertion { id: None }".to_owned())
        );
        // A bearer header is not client authentication.
        assert_eq!(
            read(Some("Bearer abc"), &[("client_id", "cli_1")]),
            Ok(r#"None { id: "cli_1" }"#.to_owned())
        );
        let refused = [
            read(Some(&basic("cli_1", "s")), &[("client_secret", "s")]),
            read(
                Some(&basic("cli_1", "s")),
                &[
                    ("client_assertion_type", jwt),
                    ("client_assertion", "a.b.c"),
                ],
            ),
            read(
                None,
                &[
                    ("client_id", "cli_1"),
                    ("client_secret", "s"),
                    ("client_assertion_type", jwt),
                    ("client_assertion", "a.b.c"),
                ],
            ),
        ];
        for outcome in refused {
            assert!(
                outcome
                    .as_ref()
                    .is_err_and(|e| e.contains("one client authentication method")),
                "{outcome:?}"
            );
        }
        assert!(
            read(Some(&basic("cli_1", "s")), &[("client_id", "cli_2")])
                .is_err_and(|e| e.contains("differs"))
        );
        assert!(read(Some("Basic !!"), &[]).is_err_and(|e| e.contains("not valid Basic")));
        assert!(
            read(None, &[("client_assertion", "a.b.c")])
                .is_err_and(|e| e.contains("client_assertion_type"))
        );
        assert!(read(None, &[("client_secret", "s")]).is_err_and(|e| e.contains("required")));
    }

    #[test]
    fn debug_shows_no_secret() {
        let shown = read(Some(&basic("cli_1", "hunter2")), &[]).unwrap_or_default();
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
