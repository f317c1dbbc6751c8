//! `last_seen` and the call count of each connection, counted in memory and
//! written in batches (at least every 30 s and at shutdown), so that no
//! request writes to the database.
//!
//! Each connection has one [`Counter`] of atomics. The bearer check takes
//! it once, when it resolves a token (the guard then keeps it with the
//! principal), so counting a request is two atomic operations: no lock, no
//! map look-up, no allocation.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

use signet_store::{Store, UnixTime, sqlx};

#[derive(Clone, Debug, Default)]
pub struct Usage {
    counters: Arc<RwLock<HashMap<String, Arc<Counter>>>>,
}

/// What one connection did since the last flush.
#[derive(Debug, Default)]
pub struct Counter {
    calls: AtomicI64,
    /// Unix seconds of the latest call; 0 when none.
    last_seen: AtomicI64,
}

impl Counter {
    /// Counts one authenticated request.
    pub fn record(&self, at: UnixTime) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.last_seen.fetch_max(at.as_secs(), Ordering::Relaxed);
    }
}

impl Usage {
    /// The counter of a connection, made on first use.
    pub fn counter(&self, connection_id: &str) -> Arc<Counter> {
        if let Ok(counters) = self.counters.read()
            && let Some(counter) = counters.get(connection_id)
        {
            return counter.clone();
        }
        match self.counters.write() {
            Ok(mut counters) => counters
                .entry(connection_id.to_owned())
                .or_default()
                .clone(),
            // A poisoned map still counts, just not into a flush.
            Err(_) => Arc::default(),
        }
    }

    /// Counts one authenticated request of a connection.
    pub fn record(&self, connection_id: &str, at: UnixTime) {
        self.counter(connection_id).record(at);
    }

    /// Writes what was counted since the last flush, in one transaction.
    /// On failure the counts are put back for the next flush. Counters no
    /// one holds any more (their tokens are gone from the guard) and with
    /// nothing to write are dropped.
    pub async fn flush(&self, store: &Store) -> Result<usize, sqlx::Error> {
        let batch: Vec<(String, Arc<Counter>, i64, i64)> = match self.counters.write() {
            Ok(mut counters) => {
                counters.retain(|_, counter| {
                    Arc::strong_count(counter) > 1 || counter.calls.load(Ordering::Relaxed) > 0
                });
                counters
                    .iter()
                    .filter_map(|(id, counter)| {
                        let calls = counter.calls.swap(0, Ordering::Relaxed);
                        (calls > 0).then(|| {
                            let last_seen = counter.last_seen.load(Ordering::Relaxed);
                            (id.clone(), counter.clone(), calls, last_seen)
                        })
                    })
                    .collect()
            }
            Err(_) => return Ok(0),
        };
        if batch.is_empty() {
            return Ok(0);
        }
        let written = write(store, &batch).await;
        if written.is_err() {
            for (_, counter, calls, _) in &batch {
                counter.calls.fetch_add(*calls, Ordering::Relaxed);
            }
        }
        written
    }
}

async fn write(
    store: &Store,
    batch: &[(String, Arc<Counter>, i64, i64)],
) -> Result<usize, sqlx::Error> {
    let mut tx = store.begin_write().await?;
    for (id, _, calls, last_seen) in batch {
        sqlx::query(
            "UPDATE connections SET call_count = call_count + $1, \
             last_seen_at = CASE WHEN last_seen_at IS NULL OR last_seen_at < $2 THEN $2 ELSE last_seen_at END \
             WHERE id = $3",
        )
        .bind(*calls)
        .bind(*last_seen)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(batch.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_count_into_the_connections_counter() {
        let usage = Usage::default();
        let held = usage.counter("con_a");
        held.record(UnixTime::from_secs(10));
        usage.record("con_a", UnixTime::from_secs(5));
        assert_eq!(held.calls.load(Ordering::Relaxed), 2);
        assert_eq!(held.last_seen.load(Ordering::Relaxed), 10);
        assert!(Arc::ptr_eq(&held, &usage.counter("con_a")));
    }
}
