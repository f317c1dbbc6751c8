//! `last_seen` and the call count of each connection, counted in memory and
//! written in batches (at least every 30 s and at shutdown), so that no
//! request writes to the database.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use signet_store::{Store, UnixTime, sqlx};

#[derive(Clone, Debug, Default)]
pub struct Usage {
    pending: Arc<Mutex<HashMap<String, Pending>>>,
}

#[derive(Clone, Copy, Debug)]
struct Pending {
    calls: i64,
    last_seen: UnixTime,
}

impl Usage {
    /// Counts one authenticated request of a connection.
    pub fn record(&self, connection_id: &str, at: UnixTime) {
        if let Ok(mut pending) = self.pending.lock() {
            match pending.get_mut(connection_id) {
                Some(entry) => {
                    entry.calls += 1;
                    entry.last_seen = entry.last_seen.max(at);
                }
                None => {
                    pending.insert(
                        connection_id.to_owned(),
                        Pending {
                            calls: 1,
                            last_seen: at,
                        },
                    );
                }
            }
        }
    }

    /// Writes what was counted since the last flush, in one transaction.
    /// On failure the counts are put back for the next flush.
    pub async fn flush(&self, store: &Store) -> Result<usize, sqlx::Error> {
        let batch: HashMap<String, Pending> = match self.pending.lock() {
            Ok(mut pending) => std::mem::take(&mut *pending),
            Err(_) => return Ok(0),
        };
        if batch.is_empty() {
            return Ok(0);
        }
        let written = write(store, &batch).await;
        if written.is_err()
            && let Ok(mut pending) = self.pending.lock()
        {
            for (id, entry) in batch {
                let slot = pending.entry(id).or_insert(Pending {
                    calls: 0,
                    last_seen: entry.last_seen,
                });
                slot.calls += entry.calls;
                slot.last_seen = slot.last_seen.max(entry.last_seen);
            }
        }
        written
    }
}

async fn write(store: &Store, batch: &HashMap<String, Pending>) -> Result<usize, sqlx::Error> {
    let mut tx = store.begin_write().await?;
    for (id, entry) in batch {
        sqlx::query(
            "UPDATE connections SET call_count = call_count + $1, \
             last_seen_at = CASE WHEN last_seen_at IS NULL OR last_seen_at < $2 THEN $2 ELSE last_seen_at END \
             WHERE id = $3",
        )
        .bind(entry.calls)
        .bind(entry.last_seen.as_secs())
        .bind(id)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(batch.len())
}
