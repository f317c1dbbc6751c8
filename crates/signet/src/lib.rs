//! The `signet` binary as a library: command line, configuration, the
//! application state and router, the server and the admin commands. `main`
//! only parses arguments and reports errors.

pub mod app;
pub mod cli;
pub mod commands;
pub mod config;
pub mod janitor;
mod logging;
mod output;
pub mod seal;
pub mod serve;
pub mod state;

pub use logging::init as init_logging;
