//! RFC 8414 authorization-server metadata, served at
//! `/.well-known/oauth-authorization-server` and, for clients that only know
//! OpenID discovery, at `/.well-known/openid-configuration`.

use serde_json::{Value, json};

use crate::{Issuer, RESOURCE_SCOPES};

/// Whether `client_id` may be a URL naming a Client ID Metadata Document.
/// Stays `false` until CIMD is served: advertising it earlier would send
/// claude.ai and ChatGPT down a path that fails.
pub const CLIENT_ID_METADATA_DOCUMENTS: bool = false;

/// Client authentication methods accepted at the token endpoint.
pub const TOKEN_ENDPOINT_AUTH_METHODS: [&str; 3] =
    ["none", "client_secret_basic", "client_secret_post"];

pub fn authorization_server(issuer: &Issuer) -> Value {
    let mut scopes: Vec<&str> = RESOURCE_SCOPES.to_vec();
    scopes.push("offline_access");
    json!({
        "issuer": issuer.as_str(),
        "authorization_endpoint": issuer.join("/oauth/authorize"),
        "token_endpoint": issuer.join("/oauth/token"),
        "registration_endpoint": issuer.join("/oauth/register"),
        "revocation_endpoint": issuer.join("/oauth/revoke"),
        "introspection_endpoint": issuer.join("/oauth/introspect"),
        "jwks_uri": issuer.join("/oauth/jwks.json"),
        "scopes_supported": scopes,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": TOKEN_ENDPOINT_AUTH_METHODS,
        "revocation_endpoint_auth_methods_supported": TOKEN_ENDPOINT_AUTH_METHODS,
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "authorization_response_iss_parameter_supported": true,
        "client_id_metadata_document_supported": CLIENT_ID_METADATA_DOCUMENTS,
    })
}
