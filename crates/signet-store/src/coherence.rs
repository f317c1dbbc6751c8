//! Caches of "what stands behind a token" that stay exact when several
//! instances serve one PostgreSQL database.
//!
//! The protocol (ARCHITECTURE.md, "Several instances on PostgreSQL", says
//! why each step is needed):
//!
//! - **Changes notify.** A trigger on every table a token's acceptance
//!   reads notifies [`CHANNEL`] with `c` in the writing transaction, so the
//!   notification is delivered at commit, to every listener, in commit order.
//!   Each serving instance's listener bumps its *generation* on `c`; cached
//!   entries carry the generation they were read under and are used only
//!   while it is still current ([`Freshness`]).
//! - **Writers wait.** After committing, whoever changed acceptance calls
//!   [`Store::applied_everywhere`]: it takes a number from the
//!   `token_state_barriers` sequence and notifies `b N schema`. A listener
//!   that hears it has already heard (and applied) every change committed
//!   before the number was taken, so it acknowledges `N` in its lease row;
//!   the writer returns once every live lease has acknowledged `N`.
//! - **Trust is leased.** An instance trusts its cache only until a deadline
//!   it extends by hearing its own pings: every [`PING_EVERY`] it notifies
//!   `p NONCE INSTANCE` on a connection of its own, and when the listener
//!   hears it back it renews its lease row (database clock + [`LEASE`]) and
//!   then trusts until the ping's send time + [`TRUST`] (< [`LEASE`]). A
//!   listener that is down, behind or frozen hears no ping, so its instance
//!   stops trusting before its lease lapses — and a writer waits for a lease
//!   only while it is live. Untrusted, an instance reads the database on
//!   every request until a ping comes back through a resynchronised listener.
//!
//! Leases are measured in real time (the database's clock for rows, the
//! monotonic clock for local trust), not the injected clock: they bound real
//! pauses of real processes.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use sqlx::{Connection, PgConnection};
use tokio::task::JoinHandle;

use crate::{ChangeToken, Store};

/// The PostgreSQL channel of token-state changes, barriers and pings.
pub const CHANNEL: &str = "signet_token_state";
/// How long a lease row stays live after the instance last heard its ping.
pub const LEASE: Duration = Duration::from_secs(3);
/// How long after sending a ping that came back the instance trusts its
/// cache. Shorter than [`LEASE`], with room for clocks that run at slightly
/// different rates.
pub const TRUST: Duration = Duration::from_millis(2_500);
/// How often an instance pings itself.
pub const PING_EVERY: Duration = Duration::from_millis(500);
/// Longest a writer waits for acknowledgements: a lease lapses within
/// [`LEASE`], so this is only reached when the database cannot be asked.
const WAIT_BOUND: Duration = Duration::from_millis(3_500);

/// The database clock in milliseconds.
const DB_NOW_MS: &str = "(extract(epoch from clock_timestamp()) * 1000)::bigint";

/// A stamp under which a cached value is valid: read it *before* reading
/// the database, keep the value under it, and use the value only while
/// [`Store::freshness`] still returns an equal stamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Freshness(Stamp);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stamp {
    /// SQLite: the WAL-index header (any commit by any process moves it).
    Sqlite(ChangeToken),
    /// PostgreSQL: the listener's generation (bumped by every change heard).
    Postgres(u64),
}

impl Freshness {
    pub(crate) fn sqlite(token: ChangeToken) -> Self {
        Self(Stamp::Sqlite(token))
    }
}

/// This process's side of the protocol.
#[derive(Debug)]
pub(crate) struct Coherence {
    /// Names this process in lease rows and pings.
    instance: String,
    epoch: Instant,
    generation: AtomicU64,
    /// Nanoseconds since `epoch` until which caches may be trusted; 0: not.
    trusted_until: AtomicU64,
    /// Pings sent and not yet heard: nonce → when sent.
    pings: Mutex<HashMap<u64, Instant>>,
    next_nonce: AtomicU64,
}

impl Coherence {
    pub(crate) fn new() -> Self {
        let instance =
            crate::ids::new("ins").unwrap_or_else(|_| format!("ins_{}", std::process::id()));
        Self {
            instance,
            epoch: Instant::now(),
            generation: AtomicU64::new(0),
            trusted_until: AtomicU64::new(0),
            pings: Mutex::default(),
            next_nonce: AtomicU64::new(0),
        }
    }

    pub(crate) fn instance(&self) -> &str {
        &self.instance
    }

    /// The stamp to cache under, while this instance may trust its cache.
    pub(crate) fn current(&self) -> Option<Freshness> {
        let until = self.trusted_until.load(Ordering::Acquire);
        if until == 0 || self.nanos(Instant::now()) >= until {
            return None;
        }
        Some(Freshness(Stamp::Postgres(
            self.generation.load(Ordering::Acquire),
        )))
    }

    fn nanos(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX)
    }

    /// Everything cached so far is stale.
    fn bump(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    fn untrust(&self) {
        self.trusted_until.store(0, Ordering::Release);
    }

    /// Trusts until `sent + TRUST`, never shortening a later deadline.
    fn trust_from(&self, sent: Instant) {
        let until = self.nanos(sent + TRUST).max(1);
        self.trusted_until.fetch_max(until, Ordering::AcqRel);
    }

    fn new_ping(&self) -> u64 {
        let nonce = self.next_nonce.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut pings) = self.pings.lock() {
            let now = Instant::now();
            // Pings not heard within a lease never will be of use.
            pings.retain(|_, sent| now.duration_since(*sent) < LEASE);
            pings.insert(nonce, now);
        }
        nonce
    }

    fn heard_ping(&self, nonce: u64) -> Option<Instant> {
        self.pings.lock().ok()?.remove(&nonce)
    }
}

/// What a notification on [`CHANNEL`] says.
#[derive(Debug, PartialEq, Eq)]
enum Message<'a> {
    Changed,
    Barrier { number: i64, schema: &'a str },
    Ping { nonce: u64, instance: &'a str },
    Unknown,
}

fn parse(payload: &str) -> Message<'_> {
    let mut parts = payload.splitn(3, ' ');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("c"), None, None) => Message::Changed,
        (Some("b"), Some(number), Some(schema)) => match number.parse() {
            Ok(number) => Message::Barrier { number, schema },
            Err(_) => Message::Unknown,
        },
        (Some("p"), Some(nonce), Some(instance)) => match nonce.parse() {
            Ok(nonce) => Message::Ping { nonce, instance },
            Err(_) => Message::Unknown,
        },
        _ => Message::Unknown,
    }
}

/// The connection settings of the listener and the pinger, kept apart from
/// the pool; never printed (the URL may hold a password).
#[derive(Clone)]
pub(crate) struct PgTarget(Arc<PgConnectOptions>);

impl std::fmt::Debug for PgTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PgTarget(..)")
    }
}

impl PgTarget {
    pub(crate) fn from_url(url: &str) -> Result<Self, sqlx::Error> {
        Ok(Self(Arc::new(PgConnectOptions::from_str(url)?)))
    }

    fn options(&self, role: &str, instance: &str) -> PgConnectOptions {
        // Named so an operator (or a test) can find them in pg_stat_activity.
        (*self.0)
            .clone()
            .application_name(&format!("signet-{role} {instance}"))
    }
}

/// The listener and pinger of a serving instance; see the module docs.
#[derive(Debug)]
pub struct Coherent {
    store: Store,
    tasks: Vec<JoinHandle<()>>,
}

impl Coherent {
    /// Stops trusting and listening, and gives up the lease so that writers
    /// do not wait for this instance.
    pub async fn stop(self) {
        for task in &self.tasks {
            task.abort();
        }
        let coherence = self.store.coherence();
        coherence.untrust();
        coherence.bump();
        let released = sqlx::query("DELETE FROM instance_leases WHERE id = $1")
            .bind(coherence.instance())
            .execute(self.store.pool())
            .await;
        if let Err(error) = released {
            tracing::warn!(%error, "could not release this instance's lease; it lapses by itself");
        }
    }
}

impl Store {
    /// Starts this instance's listener and pinger (PostgreSQL; `None` on
    /// SQLite, whose caches need neither). Until the first ping comes back,
    /// and whenever one does not, caches are not trusted.
    pub fn keep_coherent(&self) -> Option<Coherent> {
        let target = self.pg_target()?.clone();
        let listener = tokio::spawn(listen(self.clone(), target.clone()));
        let pinger = tokio::spawn(ping(self.clone(), target));
        Some(Coherent {
            store: self.clone(),
            tasks: vec![listener, pinger],
        })
    }

    /// Returns once every instance serving this database has applied what
    /// this process committed before the call (a disconnect, a revocation,
    /// a suspension…), or could no longer be trusting its cache. Immediate
    /// on SQLite, where every reader sees a commit on its next read. Never
    /// fails: if the database cannot be asked it waits out [`LEASE`], after
    /// which no instance can still trust what it cached before.
    pub async fn applied_everywhere(&self) {
        if self.pg_target().is_none() {
            return;
        }
        let started = Instant::now();
        if let Err(error) = self.await_barrier(started).await {
            tracing::warn!(%error, "could not confirm that every instance applied a change; waiting out the lease");
            tokio::time::sleep_until((started + LEASE).into()).await;
        }
    }

    async fn await_barrier(&self, started: Instant) -> Result<(), sqlx::Error> {
        let number: i64 = sqlx::query_scalar("SELECT nextval('token_state_barriers')")
            .fetch_one(self.pool())
            .await?;
        let schema: String = sqlx::query_scalar("SELECT current_schema()")
            .fetch_one(self.pool())
            .await?;
        // Notified after the number is taken, which is after our commit:
        // whoever hears it has heard our change.
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(format!("b {number} {schema}"))
            .execute(self.pool())
            .await?;
        let pending = format!(
            "SELECT COUNT(*) FROM instance_leases WHERE acked < $1 AND expires_at_ms > {DB_NOW_MS}"
        );
        let mut pause = Duration::from_millis(1);
        loop {
            let waiting: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(pending.clone()))
                .bind(number)
                .fetch_one(self.pool())
                .await?;
            if waiting == 0 {
                return Ok(());
            }
            if started.elapsed() >= WAIT_BOUND {
                tracing::warn!(
                    waiting,
                    "instances did not acknowledge a change within the lease"
                );
                return Ok(());
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 3 / 2).min(Duration::from_millis(20));
        }
    }
}

/// Listens, resynchronising after every loss; trust is withdrawn the moment
/// the listener is lost.
async fn listen(store: Store, target: PgTarget) {
    let coherence = store.coherence();
    let mut backoff = Duration::from_millis(50);
    loop {
        let began = Instant::now();
        let outcome = session(&store, &target).await;
        coherence.untrust();
        coherence.bump();
        match outcome {
            Ok(()) => tracing::warn!("token-state listener lost its connection; reconnecting"),
            Err(error) => tracing::warn!(%error, "token-state listener failed; reconnecting"),
        }
        if began.elapsed() > Duration::from_secs(10) {
            backoff = Duration::from_millis(50);
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// One listener connection's life: listen, resynchronise (everything
/// committed before this point is read fresh; everything after is heard),
/// then apply notifications in order until the connection is lost.
async fn session(store: &Store, target: &PgTarget) -> Result<(), sqlx::Error> {
    let coherence = store.coherence();
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .min_connections(0)
        .max_lifetime(None)
        .idle_timeout(None)
        .acquire_timeout(Duration::from_secs(5))
        .connect_lazy_with(target.options("listener", coherence.instance()));
    let mut listener = PgListener::connect_with(&pool).await?;
    listener.eager_reconnect(false);
    listener.listen(CHANNEL).await?;
    let schema: String = sqlx::query_scalar("SELECT current_schema()")
        .fetch_one(&mut listener)
        .await?;
    // Barriers numbered up to here were published after their changes
    // committed, hence before this read: the bump below covers them.
    let mut acked: i64 = sqlx::query_scalar(
        "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM token_state_barriers",
    )
    .fetch_one(&mut listener)
    .await?;
    coherence.bump();
    renew(&mut listener, coherence.instance(), acked).await?;
    loop {
        let Some(first) = listener.try_recv().await? else {
            return Ok(());
        };
        let mut batch = vec![first];
        while let Some(more) = listener.next_buffered() {
            batch.push(more);
        }
        let mut barrier = None;
        let mut ping_sent: Option<Instant> = None;
        for notification in &batch {
            match parse(notification.payload()) {
                Message::Changed => coherence.bump(),
                Message::Barrier { number, schema: of } if of == schema => {
                    barrier = barrier.max(Some(number));
                }
                Message::Ping { nonce, instance } if instance == coherence.instance() => {
                    if let Some(sent) = coherence.heard_ping(nonce) {
                        ping_sent = ping_sent.max(Some(sent));
                    }
                }
                // Other schemas' barriers, other instances' pings.
                _ => {}
            }
        }
        if barrier.is_none() && ping_sent.is_none() {
            continue;
        }
        acked = acked.max(barrier.unwrap_or(0));
        // The lease is renewed before trust is extended, so the row is live
        // for as long as this instance trusts.
        renew(&mut listener, coherence.instance(), acked).await?;
        if let Some(sent) = ping_sent {
            coherence.trust_from(sent);
        }
    }
}

async fn renew(listener: &mut PgListener, instance: &str, acked: i64) -> Result<(), sqlx::Error> {
    let sql = format!(
        "INSERT INTO instance_leases (id, acked, expires_at_ms, started_at_ms) \
         VALUES ($1, $2, {DB_NOW_MS} + $3, {DB_NOW_MS}) \
         ON CONFLICT (id) DO UPDATE SET acked = GREATEST(instance_leases.acked, EXCLUDED.acked), \
         expires_at_ms = EXCLUDED.expires_at_ms"
    );
    let lease_ms = i64::try_from(LEASE.as_millis()).unwrap_or(i64::MAX);
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(instance)
        .bind(acked)
        .bind(lease_ms)
        .execute(&mut *listener)
        .await?;
    Ok(())
}

/// Pings this instance every [`PING_EVERY`] on a connection of its own, so
/// a busy pool cannot delay it.
async fn ping(store: Store, target: PgTarget) {
    let coherence = store.coherence();
    let mut connection: Option<PgConnection> = None;
    let mut ticks = tokio::time::interval(PING_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if connection.is_none() {
            match PgConnection::connect_with(&target.options("pinger", coherence.instance())).await
            {
                Ok(opened) => connection = Some(opened),
                Err(error) => {
                    tracing::warn!(%error, "token-state pinger could not connect");
                    continue;
                }
            }
        }
        let Some(open) = connection.as_mut() else {
            continue;
        };
        let nonce = coherence.new_ping();
        let sent = sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(format!("p {nonce} {}", coherence.instance()))
            .execute(&mut *open)
            .await;
        if let Err(error) = sent {
            tracing::warn!(%error, "token-state ping failed");
            connection = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_read_exactly() {
        assert_eq!(parse("c"), Message::Changed);
        assert_eq!(
            parse("b 42 public"),
            Message::Barrier {
                number: 42,
                schema: "public"
            }
        );
        assert_eq!(
            parse("b 7 odd schema"),
            Message::Barrier {
                number: 7,
                schema: "odd schema"
            }
        );
        assert_eq!(
            parse("p 3 ins_x"),
            Message::Ping {
                nonce: 3,
                instance: "ins_x"
            }
        );
        for unknown in ["", "c extra", "b x public", "b 1", "p x ins", "q 1 2"] {
            assert_eq!(parse(unknown), Message::Unknown, "{unknown}");
        }
    }

    #[test]
    fn trust_follows_pings_and_ends() {
        let coherence = Coherence::new();
        assert_eq!(coherence.current(), None, "untrusted until a ping is heard");
        let nonce = coherence.new_ping();
        let sent = coherence.heard_ping(nonce).unwrap();
        assert_eq!(coherence.heard_ping(nonce), None, "heard once");
        coherence.trust_from(sent);
        let before = coherence.current().unwrap();
        coherence.bump();
        let after = coherence.current().unwrap();
        assert_ne!(before, after, "a change makes earlier stamps stale");
        coherence.untrust();
        assert_eq!(coherence.current(), None);
        // A ping sent long ago extends nothing.
        coherence.trust_from(Instant::now() - TRUST);
        assert_eq!(coherence.current(), None);
    }
}
