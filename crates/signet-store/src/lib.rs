//! The store: one connection pool over SQLite or PostgreSQL, chosen by the
//! database URL, plus the small primitives every other crate shares — opaque
//! ids, secure randomness and the injected clock.
//!
//! Queries are written once, with `$1`-style placeholders, and run through
//! sqlx's `Any` driver on both databases. Columns stick to the types both
//! dialects share (text, 64-bit integers, bytes), which is what makes one SQL
//! text possible.

pub mod audit;
mod changes;
mod clock;
pub mod coherence;
mod db;
mod error;
pub mod ids;
pub mod kek;
pub mod net;
pub mod random;
mod secrets;
#[cfg(feature = "testing")]
pub mod testing;
pub mod text;
pub mod vocabulary;

pub use changes::{ChangeDetector, ChangeToken};
pub use clock::{Clock, ManualClock, SharedClock, SystemClock, UnixTime};
pub use coherence::{Coherent, Freshness};
pub use db::{Backend, Store, is_transient, is_unique_violation};
pub use error::StoreError;
pub use secrets::{claim_marker, instance_secret, release_marker};

/// Re-exported so dependants write queries against the same sqlx version.
pub use sqlx;
