//! Events: written in the transaction of the change they describe, numbered
//! per organization, announced so that long-polls wake at once, and read
//! back by `list_events`.
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
use serde_json::{Map, Value, json};
use signet_store::sqlx::{self, AnyConnection};
use signet_store::{Backend, UnixTime, ids};
use tokio::sync::watch;

use crate::error::EsignError;
use crate::input::{Checker, MAX_LIST_LIMIT};
use crate::model::{Event, EventKind};
use crate::{Caller, Esign};

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
    pub kind: EventKind,
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
    pub kind: EventKind,
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

impl Esign {
    /// Events after a cursor. With `wait_seconds`, waits for the first new
    /// event (woken by the notifier, never by polling) and says `timed_out`
    /// when none came.
    pub async fn list_events(
        &self,
        caller: &Caller,
        args: &Map<String, Value>,
    ) -> Result<Value, EsignError> {
        let mut c = Checker::default();
        let envelope_id = c.text(args, "envelope_id", "envelope_id", 64);
        let after_cursor = c.text(args, "after", "after", 100);
        let after_seq = match &after_cursor {
            Some(text) => decode_cursor(text).unwrap_or_else(|| {
                c.fail("after", "is not a cursor this server returned");
                0
            }),
            None => 0,
        };
        let wait = c.integer(args, "wait_seconds").unwrap_or(0);
        if !(0..=MAX_WAIT_SECONDS).contains(&wait) {
            c.fail(
                "wait_seconds",
                format!("must be between 0 and {}", MAX_WAIT_SECONDS),
            );
        }
        let limit = c.integer(args, "limit").unwrap_or(100);
        if !(1..=MAX_LIST_LIMIT).contains(&limit) {
            c.fail("limit", format!("must be between 1 and {MAX_LIST_LIMIT}"));
        }
        c.finish(())?;
        if let Some(id) = &envelope_id {
            // Another organization's envelope is not found, not an empty list.
            self.get_envelope_row(caller, id).await?;
        }

        let deadline = tokio::time::Instant::now() + Duration::from_secs(wait as u64);
        let mut ticks = self.notifier().subscribe();
        loop {
            ticks.borrow_and_update();
            let mut conn = self.store().pool().acquire().await?;
            let found = after(
                &mut conn,
                &caller.org_id,
                envelope_id.as_deref(),
                after_seq,
                limit + 1,
            )
            .await?;
            drop(conn);
            if !found.is_empty() || wait == 0 || tokio::time::Instant::now() >= deadline {
                let timed_out = found.is_empty() && wait > 0;
                return Ok(events_page(found, after_seq, limit, timed_out));
            }
            let parked = self.notifier().park();
            let woken = tokio::time::timeout_at(deadline, ticks.changed()).await;
            drop(parked);
            match woken {
                Ok(Ok(())) => continue,
                // Timed out, or the notifier is gone (shutting down).
                _ => return Ok(events_page(Vec::new(), after_seq, limit, true)),
            }
        }
    }
}

fn events_page(mut found: Vec<EventRow>, after: i64, limit: i64, timed_out: bool) -> Value {
    let more = found.len() as i64 > limit;
    found.truncate(limit as usize);
    let last = found.last().map(|e| e.seq).unwrap_or(after);
    let events: Vec<Event> = found.into_iter().map(Event::from).collect();
    json!({
        "events": events,
        "next_cursor": encode_cursor(last),
        "has_more": more,
        "timed_out": timed_out,
    })
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
