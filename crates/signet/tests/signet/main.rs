//! The `signet` binary end to end: a real server on port 0 over HTTP, and
//! the built binary as a subprocess, on SQLite always and on PostgreSQL when
//! `SIGNET_TEST_POSTGRES_URL` is set (and always under CI).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod applications;
mod audit;
mod authorization;
mod cimd;
mod clients;
mod email_codes;
mod esign;
mod foundation;
mod hardening;
mod instances;
mod janitor;
mod mcp;
mod places;
mod reminders;
mod seal;
mod support;
