//! Events: written in the transaction of the change they describe, numbered
//! per organization, and announced so that long-polls wake at once.
//!
//! Waking: every commit that wrote events ticks an in-process `watch`
//! channel; on PostgreSQL the transaction also issues `pg_notify`, which a
//! listener task of every instance turns into the same tick. A waiting
//! `list_events` re-reads the database only when a tick arrives, never on a
//! timer.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use data_encoding::BASE64URL_NOPAD;
use serde_json::Value;
use signet_store::sqlx::{self, AnyConnection};
use signet_store::{Backend, UnixTime, ids};
use tokio::sync::watch;

use crate::error::EsignError;
use crate::model::Event;

/// The PostgreSQL channel that carries "events were committed".
pub const CHANNEL: &str = "signet_esign_events";
pub const MAX_WAIT_SECONDS: i64 = 30;

/// Ticks whenever events were committed, here or on another instance.
#[derive(Clone, Debug)]
pub struct Notifier {
    sender: watch::Sender<u64>,
    /// Long-polls parked right now; lets tests (and metrics) see a waiter.
    waiting: Arc<AtomicUsize>,
}

impl Default for Notifier {
    fn default() -> Self {
        Self {
            sender: watch::channel(0).0,
            waiting: Arc::default(),
        }
    }
}

/// Counts a parked long-poll for as long as it lives.
pub(crate) struct Parked(Arc<AtomicUsize>);

impl Drop for Parked {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Notifier {
    /// How many `list_events` calls are parked waiting for an event.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }

    pub(crate) fn park(&self) -> Parked {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        Parked(self.waiting.clone())
    }

    pub fn notify(&self) {
        self.sender.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.sender.subscribe()
    }

    /// On PostgreSQL, forward other instances' notifications to this
    /// process's waiters. Reconnects after a failure; meanwhile local
    /// commits still wake local waiters.
    pub fn listen_postgres(&self, database_url: String) {
        let notifier = self.clone();
        tokio::spawn(async move {
            let mut backoff = Duration::from_millis(500);
            loop {
                match sqlx::postgres::PgListener::connect(&database_url).await {
                    Ok(mut listener) => {
                        if let Err(error) = listener.listen(CHANNEL).await {
                            tracing::warn!(%error, "could not listen for e-signature events");
                        } else {
                            backoff = Duration::from_millis(500);
                            // A reconnect may have missed notifications: wake everyone once.
                            notifier.notify();
                            while listener.recv().await.is_ok() {
                                notifier.notify();
                            }
                        }
                    }
                    Err(error) => {
                        tracing::warn!(%error, "event listener could not connect to PostgreSQL");
                    }
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        });
    }
}

/// What one event says, before it is numbered.
pub(crate) struct NewEvent<'a> {
    pub org_id: &'a str,
    pub envelope_id: &'a str,
    pub recipient_id: Option<&'a str>,
    pub kind: &'static str,
    pub data: Value,
}

/// Records an event in the caller's transaction. The counter row is
/// updated first, so event writers of one organization queue behind each
/// other until commit and sequence numbers commit in order.
pub(crate) async fn record(
    conn: &mut AnyConnection,
    backend: Backend,
    event: NewEvent<'_>,
    now: UnixTime,
) -> Result<(), EsignError> {
    let seq: i64 = sqlx::query_scalar(
        "INSERT INTO esign_counters (org_id, last_event) VALUES ($1, 1) \
         ON CONFLICT (org_id) DO UPDATE SET last_event = esign_counters.last_event + 1 \
         RETURNING last_event",
    )
    .bind(event.org_id)
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO envelope_events (id, org_id, seq, envelope_id, recipient_id, type, data, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(ids::new(ids::EVENT)?)
    .bind(event.org_id)
    .bind(seq)
    .bind(event.envelope_id)
    .bind(event.recipient_id)
    .bind(event.kind)
    .bind(event.data.to_string())
    .bind(now.as_secs())
    .execute(&mut *conn)
    .await?;
    if backend == Backend::Postgres {
        // Delivered at commit, to every instance's listener.
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(event.org_id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// An opaque position in an organization's event stream.
pub fn encode_cursor(seq: i64) -> String {
    BASE64URL_NOPAD.encode(format!("evt:{seq}").as_bytes())
}

pub fn decode_cursor(cursor: &str) -> Option<i64> {
    let bytes = BASE64URL_NOPAD.decode(cursor.as_bytes()).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    text.strip_prefix("evt:")?.parse().ok().filter(|n| *n >= 0)
}

#[derive(sqlx::FromRow)]
pub(crate) struct EventRow {
    pub id: String,
    pub seq: i64,
    pub envelope_id: String,
    pub recipient_id: Option<String>,
    #[sqlx(rename = "type")]
    pub kind: String,
    pub data: String,
    pub created_at: i64,
}

impl From<EventRow> for Event {
    fn from(row: EventRow) -> Self {
        Self {
            event_id: row.id,
            kind: row.kind,
            envelope_id: row.envelope_id,
            recipient_id: row.recipient_id,
            data: serde_json::from_str(&row.data).unwrap_or(Value::Null),
            created_at: UnixTime::from_secs(row.created_at),
        }
    }
}

/// Events after `after` (a sequence number), oldest first, up to `limit`.
pub(crate) async fn after(
    conn: &mut AnyConnection,
    org_id: &str,
    envelope_id: Option<&str>,
    after: i64,
    limit: i64,
) -> Result<Vec<EventRow>, EsignError> {
    let rows = match envelope_id {
        Some(envelope_id) => {
            sqlx::query_as::<_, EventRow>(
                "SELECT id, seq, envelope_id, recipient_id, type, data, created_at FROM envelope_events \
                 WHERE org_id = $1 AND envelope_id = $2 AND seq > $3 ORDER BY seq LIMIT $4",
            )
            .bind(org_id)
            .bind(envelope_id)
            .bind(after)
            .bind(limit)
            .fetch_all(&mut *conn)
            .await?
        }
        None => {
            sqlx::query_as::<_, EventRow>(
                "SELECT id, seq, envelope_id, recipient_id, type, data, created_at FROM envelope_events \
                 WHERE org_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
            )
            .bind(org_id)
            .bind(after)
            .bind(limit)
            .fetch_all(&mut *conn)
            .await?
        }
    };
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        assert_eq!(decode_cursor(&encode_cursor(42)), Some(42));
        assert_eq!(decode_cursor("42"), None);
        assert_eq!(decode_cursor(&BASE64URL_NOPAD.encode(b"evt:-1")), None);
        assert_eq!(decode_cursor("!!"), None);
    }
}
