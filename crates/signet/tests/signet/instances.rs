//! Several instances on one PostgreSQL database: a change that ends a
//! token's acceptance, made through instance A, returns only once instance
//! B refuses the token — B caches the state behind tokens, and a client
//! polling B without pause sees no stale answer after A returns. Also when
//! B's listener is killed, and when B is frozen past its lease.
//!
//! SQLite deployments are one instance (and every process sees every commit
//! through the WAL index; `applications.rs` and `clients.rs` test that), so
//! these run on PostgreSQL only.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reqwest::header::HOST;
use serde_json::{Value, json};
use signet::serve::Running;
use signet_identity::AccountStatus;
use signet_store::audit::Actor;
use signet_store::coherence::LEASE;
use signet_store::sqlx;
use signet_testkit::html::hidden_inputs;
use signet_testkit::mcp::{ACCEPT, PROTOCOL_VERSION, whoami_request};
use signet_testkit::process::{Signet, spawn_serve};
use tokio::task::JoinHandle;

use crate::support::agent::Agent;
use crate::support::fixtures::Lag;
use crate::support::oauth::{EMAIL, connect_as, public_client, seed};
use crate::support::server::{BIN, Server, start, start_instance};

/// A: the first server, with Ada in Acme and an agent connected to it.
struct Setup {
    a: Server,
    acme: String,
    agent: Agent,
    /// Ada's browser, signed in on A.
    browser: signet_testkit::browser::Browser,
}

async fn setup() -> Option<Setup> {
    let db = signet_store::testing::postgres().await?;
    let a = start(db, None).await;
    let (acme, _beta) = seed(&a).await;
    let client_id = public_client(&a).await;
    let browser = a.browser();
    let agent = connect_as(&a, &browser, &client_id, &acme, EMAIL, None).await;
    Some(Setup {
        a,
        acme,
        agent,
        browser,
    })
}

/// How late instance B hears the database: long enough that, were A to
/// answer without waiting for B, the poller would catch B answering from a
/// stale cache (the tests fail that way when the wait is taken out).
const B_LAG: Duration = Duration::from_millis(40);

/// Another in-process instance on A's database and public URL, reaching the
/// database through a proxy that delivers everything [`B_LAG`] late.
async fn instance_b(a: &Server) -> (Running, tempfile::TempDir, Lag) {
    let lag = Lag::start(Lag::upstream_of(&a.db.url), B_LAG).await;
    let public = a.base.clone();
    let (b, dir) =
        start_instance(&lag.url(&a.db.url), |flags| flags.public_url = Some(public)).await;
    (b, dir, lag)
}

/// Waits until `store` trusts its cache (its first ping came back).
async fn trusting(store: &signet_store::Store) {
    while store.freshness().is_none() {
        tokio::task::yield_now().await;
    }
}

/// What the poller saw: when each request was sent, and its status and
/// body.
type Seen = Vec<(Instant, u16, Value)>;

/// Polls `whoami` on the instance at `address` (as A's public URL names
/// the server) every millisecond until stopped.
fn poll(address: String, authority: String, token: String) -> Poller {
    let stop = Arc::new(AtomicBool::new(false));
    let accepted = Arc::new(AtomicUsize::new(0));
    let stopping = stop.clone();
    let counting = accepted.clone();
    let answered = Arc::new(AtomicUsize::new(0));
    let answering = answered.clone();
    let task = tokio::spawn(async move {
        let http = reqwest::Client::new();
        let body = serde_json::to_vec(&whoami_request()).unwrap();
        let mut seen = Vec::new();
        let mut pace = tokio::time::interval(Duration::from_millis(1));
        pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while !stopping.load(Ordering::SeqCst) {
            pace.tick().await;
            let sent = Instant::now();
            let response = http
                .post(format!("http://{address}/mcp"))
                .header(HOST, &authority)
                .bearer_auth(&token)
                .header("content-type", "application/json")
                .header("accept", ACCEPT)
                .header("mcp-protocol-version", PROTOCOL_VERSION)
                .body(body.clone())
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let json: Value = response.json().await.unwrap();
            if status == 200 {
                counting.fetch_add(1, Ordering::SeqCst);
            }
            seen.push((sent, status, json));
            answering.fetch_add(1, Ordering::SeqCst);
        }
        seen
    });
    Poller {
        stop,
        accepted,
        answered,
        task,
    }
}

struct Poller {
    stop: Arc<AtomicBool>,
    /// Requests B accepted so far.
    accepted: Arc<AtomicUsize>,
    /// Answers received so far.
    answered: Arc<AtomicUsize>,
    task: JoinHandle<Seen>,
}

impl Poller {
    /// Waits until B has accepted the token a few times (from its cache
    /// from the second time on).
    async fn warm(&self) {
        while self.accepted.load(Ordering::SeqCst) < 5 {
            tokio::task::yield_now().await;
        }
    }
}

/// Lets the poller get [`AFTER`] answers to requests sent after now, then
/// stops it.
async fn stop_after(poller: Poller) -> Seen {
    // The request in flight now was sent before: one more.
    let enough = poller.answered.load(Ordering::SeqCst) + AFTER + 1;
    while poller.answered.load(Ordering::SeqCst) < enough {
        tokio::task::yield_now().await;
    }
    poller.stop.store(true, Ordering::SeqCst);
    poller.task.await.unwrap()
}

/// Requests sent to B after the change returned, at least.
const AFTER: usize = 20;

/// Every request sent after `returned` was refused with `message`; some
/// before it were accepted (so B was answering from its cache).
fn assert_exact(seen: &Seen, returned: Instant, message: &str) {
    let (before, after): (Vec<_>, Vec<_>) = seen.iter().partition(|(sent, ..)| *sent < returned);
    assert!(
        before.iter().any(|(_, status, _)| *status == 200),
        "B accepted the token before the change"
    );
    assert!(
        after.len() >= AFTER,
        "B was polled after the change: {}",
        after.len()
    );
    let stale: Vec<_> = after
        .iter()
        .filter(|(_, status, body)| *status != 401 || body["error_description"] != message)
        .collect();
    assert!(
        stale.is_empty(),
        "{} of {} requests after the change were not refused with {message:?}: first {:?}",
        stale.len(),
        after.len(),
        stale.first().map(|(_, s, b)| (s, b))
    );
}

fn authority(server: &Server) -> String {
    server.base.trim_start_matches("http://").to_owned()
}

/// The agent's connection id, as whoami tells it.
async fn connection_id(agent: &Agent) -> String {
    agent.whoami().await["connection"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Disconnects through A's Settings → Applications page, as Ada would.
async fn disconnect_on_page(s: &Setup, connection: &str) {
    let path = format!("/settings/applications/{connection}/disconnect");
    let confirm = s.browser.get(&path).await;
    assert_eq!(confirm.status(), 200);
    let form = hidden_inputs(&confirm.text().await.unwrap());
    let done = s.browser.post(&path, &form).await;
    assert_eq!(done.status(), 303);
}

/// The five ways acceptance ends, each made through A while B is polled.
#[derive(Clone, Copy, Debug)]
enum Change {
    Disconnect,
    Suspend,
    RevokeGrant,
    RemoveMember,
    RemoveClient,
}

impl Change {
    fn message(self) -> &'static str {
        match self {
            Self::Disconnect | Self::RemoveMember | Self::RemoveClient => {
                "Application has been disconnected"
            }
            Self::Suspend => "Account is inactive",
            Self::RevokeGrant => "Token is revoked or expired",
        }
    }

    async fn apply(self, s: &Setup) {
        let state = &s.a.running.state;
        match self {
            Self::Disconnect => {
                let connection = connection_id(&s.agent).await;
                disconnect_on_page(s, &connection).await;
            }
            Self::Suspend => {
                state
                    .identity
                    .set_account_status(&Actor::Cli, &s.acme, AccountStatus::Suspended)
                    .await
                    .unwrap();
            }
            Self::RevokeGrant => {
                let revoked =
                    s.a.http
                        .post(format!("{}/oauth/revoke", s.a.base))
                        .form(&[
                            ("token", s.agent.refresh.as_str()),
                            ("client_id", s.agent.client_id.as_str()),
                        ])
                        .send()
                        .await
                        .unwrap();
                assert_eq!(revoked.status(), 200);
            }
            Self::RemoveMember => {
                // Ada is Acme's only owner; Bob joins as owner so she can leave.
                state
                    .identity
                    .create_user(&Actor::Cli, "bob@example.com", None, None)
                    .await
                    .unwrap();
                state
                    .identity
                    .add_member(
                        &Actor::Cli,
                        &s.acme,
                        "bob@example.com",
                        signet_identity::Role::Owner,
                    )
                    .await
                    .unwrap();
                state
                    .connections
                    .remove_member(&state.identity, &Actor::Cli, &s.acme, EMAIL)
                    .await
                    .unwrap();
            }
            Self::RemoveClient => {
                state
                    .clients
                    .remove(&Actor::Cli, &s.agent.client_id)
                    .await
                    .unwrap()
                    .unwrap();
            }
        }
    }
}

/// B polled without pause; the change made through A; after it returns, B
/// accepts nothing more.
async fn exact_across_instances(change: Change) {
    let Some(s) = setup().await else { return };
    let (b, _dir, _lag) = instance_b(&s.a).await;
    trusting(&b.state.store).await;
    let poller = poll(
        b.local_addr.to_string(),
        authority(&s.a),
        s.agent.access.clone(),
    );
    poller.warm().await;
    change.apply(&s).await;
    let returned = Instant::now();
    let seen = stop_after(poller).await;
    assert_exact(&seen, returned, change.message());
    b.stop().await.unwrap();
    s.a.running.stop().await.unwrap();
}

#[tokio::test]
async fn a_disconnect_through_one_instance_is_refused_by_the_other_when_it_returns() {
    exact_across_instances(Change::Disconnect).await;
}

#[tokio::test]
async fn a_suspension_through_one_instance_is_refused_by_the_other_when_it_returns() {
    exact_across_instances(Change::Suspend).await;
}

#[tokio::test]
async fn a_grant_revocation_through_one_instance_is_refused_by_the_other_when_it_returns() {
    exact_across_instances(Change::RevokeGrant).await;
}

#[tokio::test]
async fn a_member_removal_through_one_instance_is_refused_by_the_other_when_it_returns() {
    exact_across_instances(Change::RemoveMember).await;
}

#[tokio::test]
async fn a_client_removal_through_one_instance_is_refused_by_the_other_when_it_returns() {
    exact_across_instances(Change::RemoveClient).await;
}

/// B's listener connection is killed; B must not answer from its cache
/// while it cannot hear changes, and A's disconnect still waits for B.
#[tokio::test]
async fn an_instance_whose_listener_died_still_refuses_the_next_request() {
    let Some(s) = setup().await else { return };
    let (b, _dir, _lag) = instance_b(&s.a).await;
    trusting(&b.state.store).await;
    let poller = poll(
        b.local_addr.to_string(),
        authority(&s.a),
        s.agent.access.clone(),
    );
    poller.warm().await;
    let killed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
    )
    .bind(format!("signet-listener {}", b.state.store.instance_id()))
    .fetch_all(s.a.running.state.store.pool())
    .await
    .unwrap();
    assert_eq!(killed, [true], "B's listener was found and killed");
    Change::Disconnect.apply(&s).await;
    let returned = Instant::now();
    let seen = stop_after(poller).await;
    assert_exact(&seen, returned, Change::Disconnect.message());
    b.stop().await.unwrap();
    s.a.running.stop().await.unwrap();
}

/// B, a separate process, is frozen (SIGSTOP) while A disconnects: A does
/// not wait for ever — B's lease lapses — and B, resumed, refuses the token
/// at once, although it had cached it as accepted.
#[tokio::test]
async fn a_frozen_instance_delays_a_disconnect_by_at_most_its_lease_and_refuses_after_it_resumes() {
    let Some(s) = setup().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let signet = Signet {
        bin: std::path::Path::new(BIN),
        data_dir: dir.path(),
        database_url: Some(&s.a.db.url),
    };
    let mut command = signet.serve(&["--public-url", &s.a.base, "--log-level", "warn"]);
    command.stderr(std::process::Stdio::null());
    let mut b = spawn_serve(command).await;
    let http = reqwest::Client::new();
    let whoami_on_b = || {
        http.post(format!("{}/mcp", b.base()))
            .header(HOST, authority(&s.a))
            .bearer_auth(&s.agent.access)
            .header("content-type", "application/json")
            .header("accept", ACCEPT)
            .header("mcp-protocol-version", PROTOCOL_VERSION)
            .json(&whoami_request())
            .send()
    };
    // B trusts its cache once its lease has been renewed by a ping it heard.
    let store = &s.a.running.state.store;
    let lease = |store: &signet_store::Store| {
        let me = store.instance_id().to_owned();
        let pool = store.pool().clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "SELECT COALESCE(MAX(expires_at_ms), 0) FROM instance_leases WHERE id <> $1",
            )
            .bind(me)
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    let first = loop {
        let expires = lease(store).await;
        if expires > 0 {
            break expires;
        }
        tokio::task::yield_now().await;
    };
    while lease(store).await == first {
        tokio::task::yield_now().await;
    }
    assert_eq!(whoami_on_b().await.unwrap().status(), 200);
    assert_eq!(
        whoami_on_b().await.unwrap().status(),
        200,
        "now from B's cache"
    );

    let pid = b.pid().to_string();
    let signal = |name: &str| {
        let status = std::process::Command::new("kill")
            .args([name, &pid])
            .status()
            .unwrap();
        assert!(status.success());
    };
    signal("-STOP");
    let started = Instant::now();
    let connection = connection_id(&s.agent).await;
    disconnect_on_page(&s, &connection).await;
    let took = started.elapsed();
    signal("-CONT");
    assert!(
        took < LEASE + Duration::from_secs(2),
        "A's disconnect waited {took:?} for the frozen instance"
    );
    let refused = whoami_on_b().await.unwrap();
    assert_eq!(refused.status(), 401);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(
        body,
        json!({ "error": "invalid_token", "error_description": "Application has been disconnected" })
    );
    b.sigterm();
    let _ = b.child.wait().await;
    s.a.running.stop().await.unwrap();
}

/// A writer that is not an instance (the CLI) waits for the instances too.
#[tokio::test]
async fn a_disconnect_by_the_cli_is_refused_by_every_instance_when_it_returns() {
    let Some(s) = setup().await else { return };
    let (b, _dir, _lag) = instance_b(&s.a).await;
    trusting(&b.state.store).await;
    trusting(&s.a.running.state.store).await;
    let poller = poll(
        b.local_addr.to_string(),
        authority(&s.a),
        s.agent.access.clone(),
    );
    poller.warm().await;
    let connection = connection_id(&s.agent).await;
    let out = s.a.cli(&["connections", "revoke", &connection], None).await;
    let returned = Instant::now();
    assert_eq!(out.code, 0, "{}", out.stderr);
    let seen = stop_after(poller).await;
    assert_exact(&seen, returned, Change::Disconnect.message());
    b.stop().await.unwrap();
    s.a.running.stop().await.unwrap();
}
