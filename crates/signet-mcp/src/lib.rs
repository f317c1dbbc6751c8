//! The protected resource, `P/mcp`.
//!
//! Every request passes the [`guard`]: the bearer token is verified (once per
//! token, then remembered until it expires) and the connection, grant and
//! account behind it are checked, giving a [`Principal`] or one of the seed's
//! refusals. The MCP service ([`service`]) then runs the tool ([`tools`],
//! each declared with the scope it needs) with that principal. [`metadata`]
//! is the RFC 9728 document the 401 points to.

pub mod guard;
pub mod http;
pub mod metadata;
mod principal;
pub mod schemas;
pub mod service;
pub mod tools;

pub use principal::Principal;
