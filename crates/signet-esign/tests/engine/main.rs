//! The engine driven directly, without the server: every envelope state
//! (processing, in_progress, completed, canceled, failed, expired) against every
//! operation an agent or a signer has (cancel, delete, resend, replace,
//! sign, decline), and for the operations on one recipient, every
//! recipient state that can meet them (pending, sent, completed, rejected,
//! replaced). Each case runs on SQLite and on PostgreSQL
//! (`SIGNET_TEST_POSTGRES_URL`), with a manual clock.
//!
//! One module per operation; each test is named after the state it starts
//! from. `support` brings envelopes into each state.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cancel;
mod codes;
mod decline;
mod delete;
mod isolation;
mod lifecycle;
mod races;
mod replace;
mod resend;
mod scheduler;
mod sign;
mod support;
