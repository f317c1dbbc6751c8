//! A ceiling on requests of one kind per client address: a token bucket
//! (a burst, refilled at an hourly rate), used for dynamic registrations
//! and for sign-in attempts. It guards against a flood, not against normal
//! use: hosted connectors register, and offices sign in, from a few shared
//! addresses, so the defaults are generous. Kept in memory per instance; a
//! restart forgets it, which is acceptable for a flood guard.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use signet_store::SharedClock;

/// Buckets kept before full (idle) ones are dropped.
const MAX_TRACKED: usize = 10_000;

#[derive(Clone, Debug)]
pub struct AddressLimit {
    burst: f64,
    per_second: f64,
    clock: SharedClock,
    buckets: Arc<Mutex<HashMap<IpAddr, Bucket>>>,
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at: i64,
}

impl AddressLimit {
    pub fn new(burst: u32, per_hour: u32, clock: SharedClock) -> Self {
        Self {
            burst: f64::from(burst.max(1)),
            per_second: f64::from(per_hour.max(1)) / 3600.0,
            clock,
            buckets: Arc::default(),
        }
    }

    /// Takes one request from `ip`'s allowance, or says in how many
    /// seconds the next one will be allowed.
    pub fn take(&self, ip: IpAddr) -> Result<(), u64> {
        let now = self.clock.now().as_secs();
        let Ok(mut buckets) = self.buckets.lock() else {
            // A poisoned lock only means another thread panicked mid-update;
            // fail open rather than refuse every registration.
            return Ok(());
        };
        if buckets.len() >= MAX_TRACKED {
            let (burst, rate) = (self.burst, self.per_second);
            buckets.retain(|_, b| b.tokens + (now - b.at) as f64 * rate < burst);
        }
        let bucket = buckets.entry(ip).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let refilled =
            (bucket.tokens + (now - bucket.at).max(0) as f64 * self.per_second).min(self.burst);
        if refilled >= 1.0 {
            *bucket = Bucket {
                tokens: refilled - 1.0,
                at: now,
            };
            Ok(())
        } else {
            *bucket = Bucket {
                tokens: refilled,
                at: now,
            };
            Err(((1.0 - refilled) / self.per_second).ceil() as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use signet_store::ManualClock;
    use std::time::Duration;

    #[test]
    fn a_burst_then_the_hourly_rate() {
        let clock = Arc::new(ManualClock::starting_now());
        let limit = AddressLimit::new(30, 300, clock.clone());
        let a: IpAddr = "203.0.113.1".parse().unwrap();
        let b: IpAddr = "203.0.113.2".parse().unwrap();
        for _ in 0..30 {
            assert_eq!(limit.take(a), Ok(()));
        }
        assert_eq!(limit.take(a), Err(12), "300 an hour: one every 12 s");
        assert_eq!(limit.take(b), Ok(()), "addresses are counted apart");
        clock.advance(Duration::from_secs(12));
        assert_eq!(limit.take(a), Ok(()));
        assert!(limit.take(a).is_err());
        clock.advance(Duration::from_secs(3600));
        for _ in 0..30 {
            assert_eq!(limit.take(a), Ok(()));
        }
        assert!(
            limit.take(a).is_err(),
            "the burst does not grow past its size"
        );
    }
}
