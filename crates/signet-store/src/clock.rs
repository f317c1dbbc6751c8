use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

/// A point in time as whole seconds since the Unix epoch: the unit stored in
/// every timestamp column and used in JWT claims.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnixTime(i64);

impl UnixTime {
    pub const fn from_secs(secs: i64) -> Self {
        Self(secs)
    }

    pub const fn as_secs(self) -> i64 {
        self.0
    }

    /// `self + duration`, saturating instead of overflowing.
    pub fn plus(self, duration: Duration) -> Self {
        let secs = i64::try_from(duration.as_secs()).unwrap_or(i64::MAX);
        Self(self.0.saturating_add(secs))
    }

    /// `self - duration`, saturating instead of overflowing.
    pub fn minus(self, duration: Duration) -> Self {
        let secs = i64::try_from(duration.as_secs()).unwrap_or(i64::MAX);
        Self(self.0.saturating_sub(secs))
    }

    /// RFC 3339 in UTC, e.g. `2026-11-28T09:30:00Z`.
    pub fn rfc3339(self) -> String {
        let secs = u64::try_from(self.0).unwrap_or(0);
        humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string()
    }
}

/// Serialised as RFC 3339, the form people and JSON consumers read.
impl serde::Serialize for UnixTime {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.rfc3339())
    }
}

impl fmt::Display for UnixTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.rfc3339())
    }
}

/// Where code asks for "now". Expiry, grace windows and rotation are all
/// computed from an injected clock so tests can move time instead of sleeping.
pub trait Clock: Send + Sync + fmt::Debug {
    fn now(&self) -> UnixTime;

    /// A receiver that changes each time the clock is moved by hand, so work
    /// that waits for a time (the e-signature scheduler) can look again at
    /// once instead of on its next tick. The wall clock has none.
    fn moves(&self) -> Option<watch::Receiver<u64>> {
        None
    }
}

pub type SharedClock = Arc<dyn Clock>;

/// The wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> UnixTime {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        UnixTime(i64::try_from(secs).unwrap_or(i64::MAX))
    }
}

/// A clock that only moves when told to; shared between a server under test
/// and the test driving it.
#[derive(Debug)]
pub struct ManualClock {
    now: AtomicI64,
    /// Ticked by every `advance` and `set` (see [`Clock::moves`]).
    moved: watch::Sender<u64>,
}

impl ManualClock {
    pub fn new(start: UnixTime) -> Self {
        Self {
            now: AtomicI64::new(start.0),
            moved: watch::channel(0).0,
        }
    }

    /// Starts at the current wall-clock time.
    pub fn starting_now() -> Self {
        Self::new(SystemClock.now())
    }

    pub fn advance(&self, by: Duration) {
        let secs = i64::try_from(by.as_secs()).unwrap_or(i64::MAX);
        self.now.fetch_add(secs, Ordering::SeqCst);
        self.moved.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub fn set(&self, to: UnixTime) {
        self.now.store(to.0, Ordering::SeqCst);
        self.moved.send_modify(|n| *n = n.wrapping_add(1));
    }
}

impl Clock for ManualClock {
    fn now(&self) -> UnixTime {
        UnixTime(self.now.load(Ordering::SeqCst))
    }

    fn moves(&self) -> Option<watch::Receiver<u64>> {
        Some(self.moved.subscribe())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(UnixTime::from_secs(1_000));
        assert_eq!(clock.now().as_secs(), 1_000);
        clock.advance(Duration::from_secs(61));
        assert_eq!(clock.now().as_secs(), 1_061);
        clock.set(UnixTime::from_secs(5));
        assert_eq!(clock.now(), UnixTime::from_secs(5));
    }

    #[test]
    fn a_manual_clock_says_when_it_moved_and_the_wall_clock_never_does() {
        assert!(SystemClock.moves().is_none());
        let clock = ManualClock::new(UnixTime::from_secs(1_000));
        let mut moves = clock.moves().unwrap();
        assert!(!moves.has_changed().unwrap());
        clock.advance(Duration::from_secs(1));
        assert!(moves.has_changed().unwrap());
        moves.borrow_and_update();
        clock.set(UnixTime::from_secs(7));
        assert!(moves.has_changed().unwrap());
    }

    #[test]
    fn formats_rfc3339_in_utc() {
        assert_eq!(UnixTime::from_secs(0).rfc3339(), "1970-01-01T00:00:00Z");
        assert_eq!(
            UnixTime::from_secs(1_795_000_000).rfc3339(),
            "2026-11-18T11:06:40Z"
        );
    }

    #[test]
    fn arithmetic_saturates() {
        let t = UnixTime::from_secs(i64::MAX - 1);
        assert_eq!(t.plus(Duration::from_secs(10)).as_secs(), i64::MAX);
        assert_eq!(
            UnixTime::from_secs(10)
                .minus(Duration::from_secs(3))
                .as_secs(),
            7
        );
    }
}
