//! RFC 8414 authorization-server metadata, served at
//! `/.well-known/oauth-authorization-server` and, for clients that only know
//! OpenID discovery, at `/.well-known/openid-configuration`.

use serde_json::{Value, json};

use crate::{Issuer, Scope};

/// Whether `client_id` may be a URL naming a Client ID Metadata Document.
pub const CLIENT_ID_METADATA_DOCUMENTS: bool = true;

/// Client authentication methods accepted at the token endpoint
/// (`private_key_jwt` for metadata-document clients).
pub const TOKEN_ENDPOINT_AUTH_METHODS: [&str; 4] = [
    "none",
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
];

/// Algorithms accepted on `private_key_jwt` client assertions.
pub const ASSERTION_ALGORITHMS: [&str; 9] = [
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];

pub fn authorization_server(issuer: &Issuer) -> Value {
    json!({
        "issuer": issuer.as_str(),
        "authorization_endpoint": issuer.join("/oauth/authorize"),
        "token_endpoint": issuer.join("/oauth/token"),
        "registration_endpoint": issuer.join("/oauth/register"),
        "revocation_endpoint": issuer.join("/oauth/revoke"),
        "introspection_endpoint": issuer.join("/oauth/introspect"),
        "jwks_uri": issuer.join("/oauth/jwks.json"),
        "scopes_supported": Scope::ALL.map(Scope::as_str),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": TOKEN_ENDPOINT_AUTH_METHODS,
        "token_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGORITHMS,
        "revocation_endpoint_auth_methods_supported": TOKEN_ENDPOINT_AUTH_METHODS,
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic"],
        "authorization_response_iss_parameter_supported": true,
        "client_id_metadata_document_supported": CLIENT_ID_METADATA_DOCUMENTS,
    })
}
