//! The protected resource, `P/mcp`.
//!
//! So far: its RFC 9728 metadata, which tells an MCP client that meets a 401
//! where to get a token. The bearer check, the MCP service and its tools
//! build on this.

pub mod metadata;
