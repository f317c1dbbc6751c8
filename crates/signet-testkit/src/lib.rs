//! What Signet's integration tests and its benchmarks share, so that each
//! piece exists once: a browser that keeps cookies, the pages people fill
//! in (sign-in and consent), the OAuth flow a client goes through over plain
//! HTTP (PKCE, registration, authorization, the code exchange), what an MCP
//! client sends to `/mcp`, the `signet`
//! binary run as a child process (the CLI, `signet serve` and its banner),
//! the outside tools that judge signed PDFs (`judges`: pdfsig, pyHanko,
//! OpenSSL, certomancer's TSA), and the few measurements the benchmarks print.
//!
//! Dev-only: a `[dev-dependencies]` of `signet`, never published. It knows
//! Signet only over HTTP and through the binary, never through its crates'
//! internals (the in-process server belongs to the tests themselves). A
//! failure here is a failed test or benchmark, so it panics with what it saw.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod browser;
pub mod html;
pub mod judges;
pub mod mcp;
pub mod measure;
pub mod oauth;
pub mod process;
