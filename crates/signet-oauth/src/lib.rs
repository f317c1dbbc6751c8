//! The OAuth 2.1 authorization server.
//!
//! So far: the issuer (the one public URL every document and token names),
//! the authorization-server metadata, and the Ed25519 keys that sign access
//! tokens with their JWKS. Client registration, authorization, tokens,
//! revocation and introspection build on these.
//!
//! Start reading at [`KeyRing`] and [`metadata`].

pub mod address_limit;
pub mod authorize;
pub mod cimd;
pub mod client_auth;
pub mod clients;
pub mod connections;
mod error;
pub mod grants;
pub mod http;
mod issuer;
mod keys;
pub mod metadata;
pub mod oauth_error;
mod pages;
pub mod redirect_uri;
mod scope;
pub mod sweep;
pub mod token_state;
pub mod usage;

pub use error::KeyError;
pub use issuer::{Issuer, IssuerError};
pub use keys::{KeyRing, KeyStatus, SigningKeyInfo};
pub use oauth_error::OAuthError;
pub use scope::Scope;
pub use signet_store::kek::KeyEncryptionKey;
