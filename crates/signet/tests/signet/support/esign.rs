//! The e-signature side: the setting the e-signature scenarios start from,
//! the envelopes they send, what an agent waits for and reads in the
//! outbox, and the signing page as a recipient uses it.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use signet_store::testing::TestDb;
use signet_testkit::browser::Browser;

use signet_testkit::mcp::ACCEPT;

use super::agent::Agent;
use super::fixtures::{DocHost, doc_host};
use super::oauth::{connect, public_client, seed};
use super::server::{Server, start_with};

/// A server that fetches from a document host (and sends live mail to
/// `smtp` if given), Ada in Acme and Beta, and Ada's agent connected to Acme.
pub struct Fixture {
    pub server: Server,
    pub docs: DocHost,
    pub acme: String,
    pub beta: String,
    /// Ada's browser, signed in.
    pub browser: Browser,
    /// Ada's agent for Acme.
    pub agent: Agent,
}

pub async fn fixture(db: TestDb, smtp: Option<&str>) -> Fixture {
    fixture_with(db, smtp, |_| {}).await
}

/// [`fixture`], with more settings.
pub async fn fixture_with(
    db: TestDb,
    smtp: Option<&str>,
    more: impl FnOnce(&mut signet::config::Layer),
) -> Fixture {
    let env = smtp
        .map(|url| vec![("SIGNET_SMTP_URL", url.to_owned())])
        .unwrap_or_default();
    fixture_with_env(db, env, more).await
}

/// [`fixture_with`], with environment variables for settings that have no
/// flag (secrets).
pub async fn fixture_with_env(
    db: TestDb,
    env: Vec<(&'static str, String)>,
    more: impl FnOnce(&mut signet::config::Layer),
) -> Fixture {
    let docs = doc_host().await;
    let allow = docs.authority.clone();
    let server = start_with(
        db,
        move |flags| {
            flags.fetch_allow_hosts = Some(allow);
            more(flags);
        },
        env,
    )
    .await;
    let (acme, beta) = seed(&server).await;
    let client_id = public_client(&server).await;
    let browser = server.browser();
    let agent = connect(&server, &browser, &client_id, &acme).await;
    Fixture {
        server,
        docs,
        acme,
        beta,
        browser,
        agent,
    }
}

impl Fixture {
    /// Creates an envelope and waits until it is sent; returns its id.
    pub async fn created_in_progress(&self, args: Value) -> String {
        let created = self.agent.ok("create_envelope", args).await;
        let id = created["envelope_id"].as_str().unwrap().to_owned();
        self.agent.wait_for(&id, "envelope.started").await;
        id
    }
}

/// The Mutual NDA (two documents from `docs`) for `recipients`.
pub fn envelope_args(docs: &DocHost, routing: &str, recipients: Value) -> Value {
    json!({
        "title": "Mutual NDA",
        "message": "Please sign by Friday.",
        "routing": routing,
        "topics": ["nda", "q4_deals"],
        "metadata": { "deal": "42" },
        "documents": [
            { "url": format!("{}/nda.pdf", docs.base), "name": "NDA.pdf" },
            { "url": format!("{}/annex.pdf", docs.base) },
        ],
        "recipients": recipients,
    })
}

/// Alice, then Bob.
pub fn two_signers() -> Value {
    json!([
        { "key": "alice", "name": "Alice Martin", "email": "alice@example.com" },
        { "key": "bob", "type": "signer", "name": "Bob Chen", "email": "bob@example.com" },
    ])
}

/// The types of events, in order.
pub fn types(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

impl Agent {
    /// Waits (long-polling, never sleeping) until the envelope has an event
    /// of this type; returns every event seen so far.
    pub async fn wait_for(&self, envelope_id: &str, kind: &str) -> Vec<Value> {
        let mut seen = Vec::new();
        let mut cursor = Value::Null;
        for _ in 0..20 {
            let page = self
                .ok(
                    "list_events",
                    json!({ "envelope_id": envelope_id, "after": cursor, "wait_seconds": 30 }),
                )
                .await;
            seen.extend(page["events"].as_array().unwrap().iter().cloned());
            cursor = page["next_cursor"].clone();
            if seen.iter().any(|e| e["type"] == kind) {
                return seen;
            }
        }
        panic!("no {kind} event: {seen:?}");
    }

    /// Starts `list_events` with a 30 s wait in the background, on its own
    /// connection; the task ends with the result and how long the call took.
    pub fn long_poll(
        &self,
        envelope_id: &str,
        after: &Value,
    ) -> tokio::task::JoinHandle<(Value, Duration)> {
        let url = format!("{}/mcp", self.base());
        let token = self.access.clone();
        let request = json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": { "name": "list_events", "arguments": { "envelope_id": envelope_id, "after": after, "wait_seconds": 30 } } });
        tokio::spawn(async move {
            let started = Instant::now();
            let body: Value = reqwest::Client::new()
                .post(url)
                .header("accept", ACCEPT)
                .bearer_auth(token)
                .json(&request)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            (
                body["result"]["structuredContent"].clone(),
                started.elapsed(),
            )
        })
    }

    /// The signing link of the newest test email to `to`.
    pub async fn link_for(&self, envelope_id: &str, to: &str) -> String {
        let emails = self
            .ok("list_emails", json!({ "envelope_id": envelope_id }))
            .await;
        let email = emails["emails"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["to"] == to && (e["kind"] == "signing_request" || e["kind"] == "reminder"))
            .unwrap_or_else(|| panic!("no email to {to}: {emails}"))
            .clone();
        email["link"].as_str().unwrap().to_owned()
    }
}

/// The path of a link on this server.
pub fn path_of(link: &str) -> String {
    let url = url::Url::parse(link).unwrap();
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    }
}

/// The recipient behind `link` presses a button on the signing page
/// (`action` and its fields), as a browser posts the form.
pub async fn press(server: &Server, link: &str, form: &[(&str, &str)]) -> reqwest::Response {
    let no_redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    no_redirect
        .post(format!("{}{}", server.base, path_of(link)))
        .form(form)
        .send()
        .await
        .unwrap()
}

/// The recipient behind `link` signs with `signature`.
pub async fn sign(server: &Server, link: &str, signature: &str) -> reqwest::Response {
    press(
        server,
        link,
        &[
            ("action", "sign"),
            ("signature", signature),
            ("consent", "yes"),
        ],
    )
    .await
}

/// The text of pages `from..` of `pdf` on one line, whitespace collapsed
/// (lines wrap where the layout chose).
pub fn pages_text(pdf: &[u8], from: u32) -> String {
    let pages = signet_esign::pdf::page_count(pdf).unwrap();
    (from..=pages)
        .map(|p| signet_esign::pdf::page_text(pdf, p).unwrap())
        .collect::<Vec<_>>()
        .join(" ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}
