//! The harness the scenarios are written in, one file per responsibility:
//!
//! - `server`: the real server on port 0 (and more instances on its
//!   database), its browser, the CLI against its database;
//! - `oauth`: Ada and her organizations, registration, the authorization
//!   request, the token endpoint, introspection and keys, and `connect…`:
//!   the whole flow, giving an [`Agent`];
//! - `agent`: `/mcp` over JSON-RPC, the [`Agent`] that holds its tokens and
//!   calls tools, and the refusals `/mcp` answers;
//! - `esign`: the e-signature scenarios' setting, their envelopes, and the
//!   signing page as a recipient uses it;
//! - `fixtures`: the hosts the server talks to (documents, SMTP, client
//!   metadata documents, a PostgreSQL proxy that can be cut);
//! - `raw`: one TCP connection spoken to by hand.
//!
//! What the benchmarks need too (the browser, the page forms, PKCE, the flow
//! over plain HTTP, the binary as a child process) is the `signet-testkit`
//! crate; the items scenarios use from it are re-exported here.

pub mod agent;
pub mod esign;
pub mod fixtures;
pub mod oauth;
pub mod raw;
pub mod server;

pub use agent::*;
pub use esign::*;
pub use fixtures::*;
pub use oauth::*;
pub use raw::*;
pub use server::*;
pub use signet_testkit::browser::{location, param, query};
pub use signet_testkit::html::{hidden_inputs, org_choices};
pub use signet_testkit::mcp::{ACCEPT, whoami_request};
pub use signet_testkit::oauth::{login_form, new_pkce, sign_in};
