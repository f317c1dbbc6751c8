//! The scheduler's duties (`scheduler::run_due`) by the manual clock:
//! reminders at their times to whoever's turn it is, never more than `max`;
//! expiry of an open envelope, and what an expired envelope refuses; and
//! each duty exactly once when two engines on one database run at once.

use std::collections::HashMap;

use serde_json::{Value, json};
use signet_esign::Esign;
use signet_esign::model::{Envelope, EnvelopeStatus};
use signet_esign::scheduler::{Ran, run_due};
use signet_store::testing::TestDb;

use crate::support::*;

signet_store::store_tests!(
    reminders_go_by_the_clock_to_whoever_is_waiting,
    a_resend_postpones_the_next_reminder,
    reminders_stop_at_expiry,
    an_envelope_in_progress_expires_and_refuses_everything,
    a_processing_envelope_expires_and_never_starts,
    a_finished_envelope_does_not_expire,
    who_had_answered_is_not_told_and_their_page_says_so,
    two_engines_do_each_duty_once,
);

const HOUR: u64 = 3600;
const DAY: u64 = 86_400;

impl Engine {
    /// Creates an envelope with `extra` arguments (reminders, expiry) and
    /// waits until it is in progress.
    async fn in_progress_with(
        &self,
        routing: Routing,
        people: &[Person],
        extra: Value,
    ) -> Envelope {
        let mut arguments = self.envelope_args(routing, Doc::Upload, people).await;
        for (key, value) in extra.as_object().unwrap() {
            arguments[key] = value.clone();
        }
        let created = self
            .esign
            .create_envelope(&self.caller, &args(arguments))
            .await
            .unwrap();
        self.wait_for_event(&created.envelope_id, "envelope.started")
            .await;
        let envelope = self.get(&created.envelope_id).await;
        assert_eq!(envelope.status, EnvelopeStatus::InProgress);
        envelope
    }

    async fn run(&self) -> Ran {
        run_due(&self.esign).await.unwrap()
    }

    /// The envelope's emails of one kind, by recipient, in `(kind, to)` form.
    async fn emails_of(&self, envelope_id: &str, kind: &str) -> Vec<String> {
        self.emails(envelope_id)
            .await
            .into_iter()
            .filter(|(k, _)| k == kind)
            .map(|(_, to)| to)
            .collect()
    }
}

fn ran(expired: usize, reminded: usize) -> Ran {
    Ran {
        expired,
        reminded,
        ..Ran::default()
    }
}

async fn reminders_go_by_the_clock_to_whoever_is_waiting(db: TestDb) {
    let h = engine(db).await;
    let reminders = json!({ "reminders": { "first_after": "1d", "every": "2d", "max": 2 } });
    let envelope = h
        .in_progress_with(Routing::Sequential, &[ANN, BOB], reminders)
        .await;
    let id = envelope.envelope_id.clone();
    let settings = envelope.reminders.clone().unwrap();
    assert_eq!(
        (
            settings.first_after.as_str(),
            settings.every.as_str(),
            settings.max
        ),
        ("1d", "2d", 2)
    );
    // Ann was asked at T0; Bob's turn has not come.
    let ann = recipient(&envelope, ANN.email);
    assert_eq!(ann.next_reminder_at, Some(at(DAY as i64)));
    assert_eq!((ann.reminder_count, ann.last_reminded_at), (0, None));
    assert_eq!(recipient(&envelope, BOB.email).next_reminder_at, None);
    let first_link = h.link_for(&id, ANN.email).await;

    h.advance(DAY - 1);
    assert_eq!(h.run().await, Ran::default());
    h.advance(1);
    assert_eq!(h.run().await, ran(0, 1));
    // Due once: a second run at the same time does nothing.
    assert_eq!(h.run().await, Ran::default());
    let events = h.events(&id).await;
    let reminded: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "recipient.reminded")
        .collect();
    assert_eq!(reminded.len(), 1);
    assert_eq!(
        reminded[0]["data"],
        json!({ "key": "ann", "reminder_count": 1, "max": 2, "next_reminder_at": at(3 * DAY as i64) })
    );
    assert_eq!(reminded[0]["recipient_id"], json!(ann.recipient_id));
    assert_eq!(h.emails_of(&id, "reminder").await, vec![ANN.email]);
    let after = h.get(&id).await;
    let ann_now = recipient(&after, ANN.email);
    assert_eq!(ann_now.reminder_count, 1);
    assert_eq!(ann_now.last_reminded_at, Some(at(DAY as i64)));
    assert_eq!(ann_now.next_reminder_at, Some(at(3 * DAY as i64)));
    // The reminder carries a fresh link; the first one is superseded.
    let second_link = h.link_for(&id, ANN.email).await;
    assert_ne!(second_link, first_link);
    assert_eq!(h.ceremony(&first_link).await, Err(UNKNOWN_LINK.to_owned()));
    assert_eq!(h.ceremony(&second_link).await, Ok("Open".to_owned()));

    // `every` counts from the reminder; `max` is the last.
    h.advance(2 * DAY - 1);
    assert_eq!(h.run().await, Ran::default());
    h.advance(1);
    assert_eq!(h.run().await, ran(0, 1));
    let ann_now = recipient(&h.get(&id).await, ANN.email).clone();
    assert_eq!(
        (ann_now.reminder_count, ann_now.next_reminder_at),
        (2, None)
    );
    h.advance(30 * DAY);
    assert_eq!(h.run().await, Ran::default());
    assert_eq!(
        h.emails_of(&id, "reminder").await,
        vec![ANN.email, ANN.email]
    );

    // Ann signs: Bob's turn, and his own reminders count from now.
    let link = h.link_for(&id, ANN.email).await;
    h.sign(&link, ANN.name).await.assert_done(&link);
    let bob_asked = (3 * DAY + 30 * DAY) as i64;
    let envelope = h.get(&id).await;
    assert_eq!(
        recipient(&envelope, BOB.email).next_reminder_at,
        Some(at(bob_asked + DAY as i64))
    );
    assert_eq!(recipient(&envelope, ANN.email).next_reminder_at, None);
    h.advance(DAY);
    assert_eq!(h.run().await, ran(0, 1));
    assert_eq!(
        h.emails_of(&id, "reminder").await,
        vec![ANN.email, ANN.email, BOB.email]
    );
    // Bob signs: the envelope completes, and nothing more is due.
    let link = h.link_for(&id, BOB.email).await;
    h.sign(&link, BOB.name).await.assert_done(&link);
    h.wait_for_event(&id, "deliverable.generated").await;
    h.advance(10 * DAY);
    assert_eq!(h.run().await, Ran::default());
    assert_eq!(h.emails_of(&id, "reminder").await.len(), 3);
    let completed = h.get(&id).await;
    assert_eq!(completed.status, EnvelopeStatus::Completed);
    assert!(
        completed
            .recipients
            .iter()
            .all(|r| r.next_reminder_at.is_none())
    );
}

async fn a_resend_postpones_the_next_reminder(db: TestDb) {
    let h = engine(db).await;
    let reminders = json!({ "reminders": { "first_after": "1d", "every": "1d", "max": 5 } });
    let envelope = h
        .in_progress_with(Routing::Parallel, &[ANN], reminders)
        .await;
    let id = envelope.envelope_id.clone();
    let ann = recipient(&envelope, ANN.email).recipient_id.clone();
    h.advance(20 * HOUR);
    h.resend(&id, &ann).await.unwrap();
    let after = h.get(&id).await;
    assert_eq!(
        recipient(&after, ANN.email).next_reminder_at,
        Some(at((20 * HOUR + DAY) as i64))
    );
    h.advance(4 * HOUR);
    assert_eq!(h.run().await, Ran::default());
    h.advance(20 * HOUR);
    assert_eq!(h.run().await, ran(0, 1));
    // A manual resend is not an automatic reminder.
    let after = h.get(&id).await;
    let r = recipient(&after, ANN.email);
    assert_eq!((r.resend_count, r.reminder_count), (1, 1));
}

async fn reminders_stop_at_expiry(db: TestDb) {
    let h = engine(db).await;
    let extra = json!({
        "reminders": { "first_after": "1d", "every": "1d", "max": 5 },
        "expires_in": "36h",
    });
    let envelope = h.in_progress_with(Routing::Parallel, &[ANN], extra).await;
    let id = envelope.envelope_id.clone();
    assert_eq!(envelope.expires_at, Some(at((36 * HOUR) as i64)));
    h.advance(DAY);
    assert_eq!(h.run().await, ran(0, 1));
    // The next would fall after expiry: none is shown, none goes.
    let after = h.get(&id).await;
    assert_eq!(recipient(&after, ANN.email).next_reminder_at, None);
    h.advance(DAY);
    assert_eq!(h.run().await, ran(1, 0));
    assert_eq!(h.run().await, Ran::default());
    assert_eq!(
        h.emails(&id).await,
        pairs(&[
            ("expired", ANN.email),
            ("reminder", ANN.email),
            ("signing_request", ANN.email),
        ])
    );
}

async fn an_envelope_in_progress_expires_and_refuses_everything(db: TestDb) {
    let h = engine(db).await;
    let envelope = h
        .in_progress_with(
            Routing::Sequential,
            &[ANN, BOB],
            json!({ "expires_at": at(2 * DAY as i64) }),
        )
        .await;
    let id = envelope.envelope_id.clone();
    assert_eq!(envelope.expires_at, Some(at(2 * DAY as i64)));
    assert_eq!(envelope.expired_at, None);
    let token = h.link_for(&id, ANN.email).await;
    h.advance(2 * DAY - 1);
    assert_eq!(h.run().await, Ran::default());
    h.advance(1);
    let before = h.events(&id).await.len();
    assert_eq!(h.run().await, ran(1, 0));
    assert_eq!(h.run().await, Ran::default());

    let expired = h.get(&id).await;
    assert_eq!(expired.status, EnvelopeStatus::Expired);
    assert_eq!(expired.expired_at, Some(at(2 * DAY as i64)));
    let events = h.new_events(&id, before).await;
    assert_eq!(types(&events), vec!["envelope.expired"]);
    assert_eq!(
        events[0]["data"],
        json!({ "expires_at": at(2 * DAY as i64) })
    );
    // Ann was waiting and is told; Bob was never asked.
    assert_eq!(h.emails_of(&id, "expired").await, vec![ANN.email]);
    assert_eq!(h.ceremony(&token).await, Ok("Expired".to_owned()));
    let page = h.sign(&token, ANN.name).await;
    assert_eq!(
        page.status,
        axum::http::StatusCode::CONFLICT,
        "{}",
        page.body
    );
    assert!(
        page.body.contains("<h1>Request expired</h1>"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains(
            "This request expired on 2027-01-17 and can no longer be signed. If you still need to sign, ask the sender for a new request."
        ),
        "{}",
        page.body
    );

    // Nothing that acts on an open envelope applies.
    let ann = recipient(&expired, ANN.email).recipient_id.clone();
    let snapshot = h.snapshot(&id).await;
    assert_refused(
        h.cancel(&id).await,
        "cannot-cancel",
        409,
        "Only an envelope in progress can be canceled; this one is expired",
    );
    assert_refused(
        h.resend(&id, &ann).await,
        "cannot-resend",
        409,
        "Requests can be resent only while the envelope is in progress; it is expired",
    );
    assert_refused(
        h.replace(&id, &ann, CARA).await,
        "cannot-replace",
        409,
        "Recipients can be replaced only before the envelope is finished; it is expired",
    );
    h.assert_unchanged(&id, &snapshot).await;
    // It is final: it can be deleted.
    h.delete(&id).await.unwrap();
}

async fn a_processing_envelope_expires_and_never_starts(db: TestDb) {
    let h = engine(db).await;
    let mut arguments = h.envelope_args(Routing::Parallel, Doc::Held, &[ANN]).await;
    arguments["expires_in"] = json!("1h");
    let before = *h.docs.hits.borrow();
    let created = h
        .esign
        .create_envelope(&h.caller, &args(arguments))
        .await
        .unwrap();
    let id = created.envelope_id.clone();
    let mut hits = h.docs.hits.clone();
    hits.wait_for(|n| *n > before).await.unwrap();
    h.advance(HOUR);
    assert_eq!(h.run().await, ran(1, 0));
    let expired = h.get(&id).await;
    assert_eq!(expired.status, EnvelopeStatus::Expired);
    assert_eq!(
        types(&h.events(&id).await),
        vec!["envelope.created", "envelope.expired"]
    );
    // Nobody was asked, so nobody is told.
    assert_eq!(h.emails(&id).await, Vec::<(String, String)>::new());
    // The fetch may finish now: starting applies only to a processing envelope.
    h.docs.release(1);
}

async fn a_finished_envelope_does_not_expire(db: TestDb) {
    let h = engine(db).await;
    let envelope = h
        .in_progress_with(Routing::Parallel, &[ANN], json!({ "expires_in": "1d" }))
        .await;
    let id = envelope.envelope_id.clone();
    let link = h.link_for(&id, ANN.email).await;
    h.sign(&link, ANN.name).await.assert_done(&link);
    h.wait_for_event(&id, "deliverable.generated").await;
    let canceled = h
        .in_progress_with(Routing::Parallel, &[BOB], json!({ "expires_in": "1d" }))
        .await;
    h.cancel(&canceled.envelope_id).await.unwrap();
    h.advance(2 * DAY);
    assert_eq!(h.run().await, Ran::default());
    assert_eq!(h.get(&id).await.status, EnvelopeStatus::Completed);
    assert_eq!(
        h.get(&canceled.envelope_id).await.status,
        EnvelopeStatus::Canceled
    );
}

async fn who_had_answered_is_not_told_and_their_page_says_so(db: TestDb) {
    let h = engine(db).await;
    let envelope = h
        .in_progress_with(
            Routing::Parallel,
            &[ANN, BOB],
            json!({ "expires_in": "1h" }),
        )
        .await;
    let id = envelope.envelope_id.clone();
    let ann = h.link_for(&id, ANN.email).await;
    let bob = h.link_for(&id, BOB.email).await;
    h.sign(&ann, ANN.name).await.assert_done(&ann);
    h.advance(HOUR);
    assert_eq!(h.run().await, ran(1, 0));
    assert_eq!(h.emails_of(&id, "expired").await, vec![BOB.email]);
    assert_eq!(h.ceremony(&ann).await, Ok("AnsweredThenExpired".to_owned()));
    assert_eq!(h.ceremony(&bob).await, Ok("Expired".to_owned()));
}

/// Two engines on one database (two instances) run the same due duties at
/// the same moment, several times: each reminder and each expiry happens
/// once — counted by the runs, the events and the outbox.
async fn two_engines_do_each_duty_once(db: TestDb) {
    let h = engine(db).await;
    let store = signet_store::Store::connect(&h.db.url).await.unwrap();
    let (fetcher, mailer) = parts(&h.docs.authority);
    let other = Esign::new(store, h.clock.clone(), PUBLIC_URL, fetcher, mailer);
    let extra = json!({
        "reminders": { "first_after": "1d", "every": "1d", "max": 2 },
        "expires_in": "3d",
    });
    let mut ids = Vec::new();
    for _ in 0..3 {
        let envelope = h
            .in_progress_with(Routing::Parallel, &[ANN, BOB, EVE], extra.clone())
            .await;
        ids.push(envelope.envelope_id);
    }
    let mut total = Ran::default();
    for _ in 0..3 {
        h.advance(DAY);
        for _ in 0..3 {
            let (a, b) = tokio::join!(run_due(&h.esign), run_due(&other));
            for r in [a.unwrap(), b.unwrap()] {
                total.expired += r.expired;
                total.reminded += r.reminded;
                total.failed += r.failed;
            }
        }
    }
    // 3 envelopes × 3 recipients × 2 reminders, then 3 expiries.
    assert_eq!(total, ran(3, 18));
    for id in &ids {
        let mut by_kind: HashMap<String, usize> = HashMap::new();
        for event in h.events(id).await {
            *by_kind
                .entry(event["type"].as_str().unwrap().to_owned())
                .or_default() += 1;
        }
        assert_eq!(by_kind["recipient.reminded"], 6, "{by_kind:?}");
        assert_eq!(by_kind["envelope.expired"], 1, "{by_kind:?}");
        let emails = h.emails(id).await;
        let count = |kind: &str| emails.iter().filter(|(k, _)| k == kind).count();
        assert_eq!((count("reminder"), count("expired")), (6, 3), "{emails:?}");
        assert_eq!(h.get(id).await.status, EnvelopeStatus::Expired);
    }
}
