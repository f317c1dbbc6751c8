//! Reminders and expiry end to end, driven by the server's manual clock:
//! the test moves the clock, the server's scheduler wakes at once, and the
//! test waits (long-polling `list_events`, bounded) for what it did. Also
//! two instances on one PostgreSQL database sharing one clock: each
//! reminder and each expiry happens once.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};
use signet_store::Clock;
use signet_store::testing::TestDb;

use crate::support::{
    Agent, Server, envelope_args, fixture, path_of, sign, start_instance_with_clock, two_signers,
};

signet_store::store_tests!(
    reminders_arrive_by_the_clock_only_for_whoever_is_waiting,
    an_envelope_expires_by_the_clock,
    reminder_and_expiry_arguments_are_checked_field_by_field,
    two_instances_remind_and_expire_once,
);

const DAY: Duration = Duration::from_secs(86_400);

/// Waits until the events (of one envelope, or the whole organization)
/// hold at least `n` of type `kind`; returns every event so far, oldest first.
async fn wait_for_count(
    agent: &Agent,
    envelope_id: Option<&str>,
    kind: &str,
    n: usize,
) -> Vec<Value> {
    let mut seen: Vec<Value> = Vec::new();
    let mut cursor = Value::Null;
    let mut waits = 0;
    loop {
        let mut args = json!({ "after": cursor, "limit": 100 });
        if let Some(id) = envelope_id {
            args["envelope_id"] = json!(id);
        }
        let so_far = seen.iter().filter(|e| e["type"] == kind).count();
        if so_far >= n {
            return seen;
        }
        args["wait_seconds"] = json!(30);
        let page = agent.ok("list_events", args).await;
        seen.extend(page["events"].as_array().unwrap().iter().cloned());
        cursor = page["next_cursor"].clone();
        if page["timed_out"] == true {
            waits += 1;
            assert!(waits < 4, "only {so_far} of {n} {kind} events: {seen:?}");
        }
    }
}

/// Moves the server's clock. Access tokens live at most a day, so the
/// agent continues with refreshed tokens, issued at the new time.
async fn advance(server: &Server, agent: &Agent, by: Duration) -> Agent {
    server.clock.advance(by);
    agent.refreshed().await
}

/// How many events of each type.
fn tally(events: &[Value]) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for event in events {
        *counts
            .entry(event["type"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    counts
}

/// The test-mode emails of an envelope, oldest first.
async fn emails(agent: &Agent, envelope_id: &str) -> Vec<Value> {
    let page = agent
        .ok(
            "list_emails",
            json!({ "envelope_id": envelope_id, "limit": 100 }),
        )
        .await;
    let mut emails = page["emails"].as_array().unwrap().clone();
    emails.reverse();
    emails
}

fn of_kind<'a>(emails: &'a [Value], kind: &str) -> Vec<&'a str> {
    emails
        .iter()
        .filter(|e| e["kind"] == kind)
        .map(|e| e["to"].as_str().unwrap())
        .collect()
}

/// RFC 3339 of `secs` after the Unix epoch, as the tools write times.
fn rfc3339(secs: i64) -> String {
    signet_store::UnixTime::from_secs(secs).rfc3339()
}

async fn reminders_arrive_by_the_clock_only_for_whoever_is_waiting(db: TestDb) {
    let f = fixture(db, None).await;
    let server = &f.server;
    let mut ada = f.agent.refreshed().await;
    let t0 = server.clock.now().as_secs();
    let mut args = envelope_args(&f.docs, "sequential", two_signers());
    args["reminders"] = json!({ "first_after": "1d", "every": "2d", "max": 2 });
    let id = f.created_in_progress(args).await;
    // A witness whose only reminder is due after everything below: once it
    // is reminded, every earlier due time has been looked at.
    let mut witness = envelope_args(
        &f.docs,
        "parallel",
        json!([{ "key": "w", "name": "Walt Witness", "email": "walt@example.com" }]),
    );
    witness["reminders"] = json!({ "first_after": "19d", "max": 1 });
    let witness_id = f.created_in_progress(witness).await;

    let envelope = ada.ok("get_envelope", json!({ "envelope_id": id })).await;
    assert_eq!(
        envelope["reminders"],
        json!({ "first_after": "1d", "every": "2d", "max": 2 })
    );
    assert_eq!(envelope["expires_at"], Value::Null);
    let alice = &envelope["recipients"][0];
    assert_eq!(alice["reminder_count"], 0);
    assert_eq!(alice["last_reminded_at"], Value::Null);
    assert_eq!(alice["next_reminder_at"], rfc3339(t0 + 86_400));
    // Bob's turn has not come: nothing is scheduled for him.
    assert_eq!(envelope["recipients"][1]["next_reminder_at"], Value::Null);
    let first_link = ada.link_for(&id, "alice@example.com").await;

    // Day 1: Alice's first reminder, with a fresh link.
    ada = advance(server, &ada, DAY).await;
    let events = wait_for_count(&ada, Some(&id), "recipient.reminded", 1).await;
    let reminded: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "recipient.reminded")
        .collect();
    assert_eq!(reminded[0]["recipient_id"], alice["recipient_id"]);
    assert_eq!(
        reminded[0]["data"],
        json!({ "key": "alice", "reminder_count": 1, "max": 2, "next_reminder_at": rfc3339(t0 + 3 * 86_400) })
    );
    let outbox = emails(&ada, &id).await;
    assert_eq!(of_kind(&outbox, "reminder"), ["alice@example.com"]);
    let reminder = outbox.iter().find(|e| e["kind"] == "reminder").unwrap();
    let full = ada
        .ok("get_email", json!({ "email_id": reminder["email_id"] }))
        .await;
    assert_eq!(full["subject"], "Reminder: please sign Mutual NDA");
    let body = full["body"].as_str().unwrap();
    assert!(
        body.starts_with(
            "Hello Alice Martin,\n\nA reminder: you have been asked to sign \"Mutual NDA\"."
        ),
        "{body}"
    );
    let link = full["link"].as_str().unwrap();
    assert!(body.contains(link), "{body}");
    assert_ne!(link, first_link);
    // The superseded link says so; the new one opens the request.
    let old = server.get(&path_of(&first_link)).await;
    assert_eq!(old.status(), 404);
    assert!(
        old.text()
            .await
            .unwrap()
            .contains("replaced by a newer one")
    );
    let page = server.get(&path_of(link)).await;
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Mutual NDA"));
    let envelope = ada.ok("get_envelope", json!({ "envelope_id": id })).await;
    let alice = &envelope["recipients"][0];
    assert_eq!(alice["reminder_count"], 1);
    assert_eq!(alice["last_reminded_at"], rfc3339(t0 + 86_400));
    assert_eq!(alice["next_reminder_at"], rfc3339(t0 + 3 * 86_400));

    // Day 3: the second and last.
    ada = advance(server, &ada, 2 * DAY).await;
    wait_for_count(&ada, Some(&id), "recipient.reminded", 2).await;
    let envelope = ada.ok("get_envelope", json!({ "envelope_id": id })).await;
    assert_eq!(envelope["recipients"][0]["reminder_count"], 2);
    assert_eq!(envelope["recipients"][0]["next_reminder_at"], Value::Null);

    // Alice signs: Bob's turn; his first reminder a day after he is asked.
    let link = ada.link_for(&id, "alice@example.com").await;
    assert_eq!(sign(server, &link, "Alice Martin").await.status(), 303);
    wait_for_count(&ada, Some(&id), "recipient.released", 2).await;
    ada = advance(server, &ada, DAY).await;
    let events = wait_for_count(&ada, Some(&id), "recipient.reminded", 3).await;
    let last = events
        .iter()
        .rfind(|e| e["type"] == "recipient.reminded")
        .unwrap();
    assert_eq!(last["data"]["key"], "bob");
    // Bob signs: completed, and nobody is reminded again, however long.
    let link = ada.link_for(&id, "bob@example.com").await;
    assert_eq!(sign(server, &link, "Bob Chen").await.status(), 303);
    ada.wait_for(&id, "envelope.completed").await;
    ada = advance(server, &ada, 20 * DAY).await;
    wait_for_count(&ada, Some(&witness_id), "recipient.reminded", 1).await;
    let events = wait_for_count(&ada, Some(&id), "envelope.completed", 1).await;
    assert_eq!(tally(&events)["recipient.reminded"], 3);
    let outbox = emails(&ada, &id).await;
    assert_eq!(
        of_kind(&outbox, "reminder"),
        ["alice@example.com", "alice@example.com", "bob@example.com"]
    );
    let envelope = ada.ok("get_envelope", json!({ "envelope_id": id })).await;
    assert_eq!(envelope["status"], "completed");
    for r in envelope["recipients"].as_array().unwrap() {
        assert_eq!(r["next_reminder_at"], Value::Null, "{r}");
    }
    f.server.running.stop().await.unwrap();
}

async fn an_envelope_expires_by_the_clock(db: TestDb) {
    let f = fixture(db, None).await;
    let server = &f.server;
    let mut ada = f.agent.refreshed().await;
    let t0 = server.clock.now().as_secs();
    let mut args = envelope_args(&f.docs, "sequential", two_signers());
    args["expires_in"] = json!("2d");
    let id = f.created_in_progress(args).await;
    let envelope = ada.ok("get_envelope", json!({ "envelope_id": id })).await;
    let expires_at = rfc3339(t0 + 2 * 86_400);
    assert_eq!(envelope["expires_at"], expires_at);
    assert_eq!(envelope["expired_at"], Value::Null);
    assert_eq!(envelope["reminders"], Value::Null);
    let link = ada.link_for(&id, "alice@example.com").await;

    ada = advance(server, &ada, 2 * DAY).await;
    let events = ada.wait_for(&id, "envelope.expired").await;
    let expired = events
        .iter()
        .find(|e| e["type"] == "envelope.expired")
        .unwrap();
    assert_eq!(expired["data"], json!({ "expires_at": expires_at }));
    let envelope = ada.ok("get_envelope", json!({ "envelope_id": id })).await;
    assert_eq!(envelope["status"], "expired");
    assert_eq!(envelope["expired_at"], rfc3339(t0 + 2 * 86_400));
    let listed = ada
        .ok("list_envelopes", json!({ "status": "expired" }))
        .await;
    assert_eq!(listed["envelopes"][0]["envelope_id"], json!(id));

    // Alice, who was asked, is told; Bob never was.
    let outbox = emails(&ada, &id).await;
    assert_eq!(of_kind(&outbox, "expired"), ["alice@example.com"]);
    let told = outbox.iter().find(|e| e["kind"] == "expired").unwrap();
    let told = ada
        .ok("get_email", json!({ "email_id": told["email_id"] }))
        .await;
    assert_eq!(told["subject"], "Expired: Mutual NDA");
    let date = &expires_at[..10];
    assert_eq!(
        told["body"],
        format!(
            "Hello Alice Martin,\n\nThe request to sign \"Mutual NDA\" expired on {date} before everyone had signed; \
             it can no longer be signed, and there is nothing more for you to do. If you still need to sign, \
             ask the sender for a new request.\n\n— Signet\n"
        )
    );
    assert_eq!(told["link"], Value::Null);

    // Her link answers that the request expired, and signs nothing.
    let page = server.get(&path_of(&link)).await;
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["cache-control"], "no-store");
    let html = page.text().await.unwrap();
    let says = format!(
        "This request expired on {date} and can no longer be signed. If you still need to sign, ask the sender for a new request."
    );
    assert!(html.contains(&says), "{html}");
    assert!(!html.contains("name=\"action\""), "no form: {html}");
    let refused = sign(server, &link, "Alice Martin").await;
    assert_eq!(refused.status(), 409);
    let html = refused.text().await.unwrap();
    assert!(html.contains("<h1>Request expired</h1>"), "{html}");
    assert!(html.contains(&says), "{html}");

    // The tools that act on an open envelope refuse, saying why.
    let p = ada
        .problem(
            "cancel_envelope",
            json!({ "envelope_id": id }),
            "cannot-cancel",
        )
        .await;
    assert_eq!(p["status"], 409);
    assert_eq!(
        p["detail"],
        "Only an envelope in progress can be canceled; this one is expired"
    );
    let alice_id = envelope["recipients"][0]["recipient_id"].clone();
    let p = ada
        .problem(
            "resend_request",
            json!({ "envelope_id": id, "recipient_id": alice_id }),
            "cannot-resend",
        )
        .await;
    assert_eq!(
        p["detail"],
        "Requests can be resent only while the envelope is in progress; it is expired"
    );
    let p = ada
        .problem(
            "replace_recipient",
            json!({ "envelope_id": id, "recipient_id": alice_id, "name": "Cara Diaz", "email": "cara@example.com" }),
            "cannot-replace",
        )
        .await;
    assert_eq!(
        p["detail"],
        "Recipients can be replaced only before the envelope is finished; it is expired"
    );
    // Nothing more happened; an expired envelope can be deleted.
    let events = ada.ok("list_events", json!({ "envelope_id": id })).await;
    assert_eq!(
        events["events"].as_array().unwrap().last().unwrap()["type"],
        "envelope.expired"
    );
    ada.ok("delete_envelope", json!({ "envelope_id": id }))
        .await;
    f.server.running.stop().await.unwrap();
}

async fn reminder_and_expiry_arguments_are_checked_field_by_field(db: TestDb) {
    let f = fixture(db, None).await;
    let ada = &f.agent;
    let mut args = envelope_args(&f.docs, "sequential", two_signers());
    args["reminders"] = json!({ "first_after": "3 days", "every": "30m", "max": 21 });
    args["expires_in"] = json!("2d");
    args["expires_at"] = json!("2099-01-01T00:00:00Z");
    let p = ada
        .problem("create_envelope", args, "validation-error")
        .await;
    assert_eq!(
        p["errors"],
        json!([
            { "field": "reminders.first_after", "message": "must be a duration such as \"3d\", \"12h\" or \"30m\" (a whole number and s, m, h or d)" },
            { "field": "reminders.every", "message": "must be between 1h and 365d" },
            { "field": "reminders.max", "message": "must be a whole number from 1 to 20" },
            { "field": "expires_at", "message": "cannot be given with expires_in: give one or the other" },
        ])
    );
    let mut args = envelope_args(&f.docs, "sequential", two_signers());
    args["reminders"] = json!({ "every": "1d" });
    args["expires_at"] = json!(rfc3339(f.server.clock.now().as_secs() - 60));
    let p = ada
        .problem("create_envelope", args, "validation-error")
        .await;
    assert_eq!(
        p["detail"],
        "reminders.first_after: is required, e.g. \"3d\"; expires_at: must be between 1h and 365d from now"
    );
    let p = ada
        .problem(
            "list_envelopes",
            json!({ "status": "stale" }),
            "validation-error",
        )
        .await;
    assert_eq!(
        p["detail"],
        "status: must be one of processing, in_progress, completed, canceled, failed, expired"
    );
    // Nothing was created; agents see the arguments in the schema.
    assert_eq!(
        ada.ok("list_envelopes", json!({})).await["envelopes"],
        json!([])
    );
    let listed = ada
        .request(&json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/list" }))
        .await;
    let listed: Value = listed.json().await.unwrap();
    let create = listed["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "create_envelope")
        .unwrap()
        .clone();
    let properties = &create["inputSchema"]["properties"];
    for name in ["reminders", "expires_in", "expires_at"] {
        assert!(properties[name].is_object(), "{name}: {properties}");
    }
    let schema = create["inputSchema"].to_string();
    assert!(schema.contains("first_after"), "{schema}");
    f.server.running.stop().await.unwrap();
}

/// Two instances on one PostgreSQL database share one clock, so their
/// schedulers wake together on every move: each reminder and each expiry
/// is still done once (counted in the events and in the outbox). SQLite
/// deployments are a single instance, so there is nothing to test there.
async fn two_instances_remind_and_expire_once(db: TestDb) {
    if !db.url.starts_with("postgres") {
        return;
    }
    let f = fixture(db, None).await;
    let server = &f.server;
    let mut ada = f.agent.refreshed().await;
    let allow = f.docs.authority.clone();
    let (other, _dir) = start_instance_with_clock(&server.db.url, server.clock.clone(), |flags| {
        flags.fetch_allow_hosts = Some(allow)
    })
    .await;
    let people = json!([
        { "key": "alice", "name": "Alice Martin", "email": "alice@example.com" },
        { "key": "bob", "name": "Bob Chen", "email": "bob@example.com" },
        { "key": "cara", "name": "Cara Diaz", "email": "cara@example.com" },
    ]);
    let mut ids = Vec::new();
    for _ in 0..4 {
        let mut args = envelope_args(&f.docs, "parallel", people.clone());
        args["reminders"] = json!({ "first_after": "1d", "every": "1d", "max": 2 });
        args["expires_in"] = json!("3d");
        ids.push(f.created_in_progress(args).await);
    }
    // 4 envelopes × 3 recipients: 12 reminders a day, twice; then 4 expiries.
    ada = advance(server, &ada, DAY).await;
    wait_for_count(&ada, None, "recipient.reminded", 12).await;
    ada = advance(server, &ada, DAY).await;
    wait_for_count(&ada, None, "recipient.reminded", 24).await;
    ada = advance(server, &ada, DAY).await;
    let events = wait_for_count(&ada, None, "envelope.expired", 4).await;
    // Expired envelopes take no further reminder or expiry, so the counts
    // are final: nothing twice.
    let all = tally(&events);
    assert_eq!(all["recipient.reminded"], 24, "{all:?}");
    assert_eq!(all["envelope.expired"], 4, "{all:?}");
    for id in &ids {
        let events: Vec<Value> = events
            .iter()
            .filter(|e| e["envelope_id"] == json!(id))
            .cloned()
            .collect();
        let mut per_recipient: HashMap<String, usize> = HashMap::new();
        for e in events.iter().filter(|e| e["type"] == "recipient.reminded") {
            *per_recipient
                .entry(e["data"]["key"].as_str().unwrap().to_owned())
                .or_default() += 1;
        }
        assert_eq!(
            per_recipient,
            HashMap::from([
                ("alice".to_owned(), 2),
                ("bob".to_owned(), 2),
                ("cara".to_owned(), 2)
            ])
        );
        let outbox = emails(&ada, id).await;
        assert_eq!(of_kind(&outbox, "reminder").len(), 6, "{outbox:?}");
        let mut told = of_kind(&outbox, "expired");
        told.sort_unstable();
        assert_eq!(
            told,
            ["alice@example.com", "bob@example.com", "cara@example.com"]
        );
        let envelope = ada.ok("get_envelope", json!({ "envelope_id": id })).await;
        assert_eq!(envelope["status"], "expired");
        for r in envelope["recipients"].as_array().unwrap() {
            assert_eq!(r["reminder_count"], 2, "{r}");
        }
    }
    other.stop().await.unwrap();
    f.server.running.stop().await.unwrap();
}
