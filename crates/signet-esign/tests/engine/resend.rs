//! `resend_request` in every envelope state, and in progress for every
//! recipient state: only a recipient who was asked and has not finished
//! can be reminded, no sooner than 1 min, then 2 min… after the last
//! request; the reminder carries a fresh link and the old one dies.

use serde_json::json;
use signet_esign::model::{EnvelopeStatus, RecipientStatus};
use signet_store::testing::TestDb;

use crate::support::*;

signet_store::store_tests!(
    processing_is_refused,
    in_progress_sent_waits_then_sends_a_fresh_link,
    in_progress_pending_is_refused,
    in_progress_completed_is_refused,
    in_progress_rejected_is_refused,
    in_progress_replaced_is_refused,
    in_progress_unknown_recipient_is_not_found,
    completed_is_refused,
    canceled_is_refused,
    failed_is_refused,
);

const NOT_IN_PROGRESS: &str =
    "Requests can be resent only while the envelope is in progress; it is";
const NOT_OPEN: &str =
    "Only a recipient who has been asked and has not finished can be reminded; this one is";
/// Long enough that no refusal below can be about timing.
const AN_HOUR: u64 = 3600;

/// Asks to remind `email` and expects the refusal, with nothing changed.
async fn refused(h: &Engine, id: &str, email: &str, kind: &str, status: u16, detail: &str) {
    let before = h.snapshot(id).await;
    let recipient_id = recipient(&before.envelope, email).recipient_id.clone();
    assert_refused(h.resend(id, &recipient_id).await, kind, status, detail);
    h.assert_unchanged(id, &before).await;
    assert_eq!(recipient(&h.get(id).await, email).resend_count, 0);
}

async fn processing_is_refused(db: TestDb) {
    let h = engine(db).await;
    let id = h
        .processing(Routing::Sequential, &[ANN, BOB])
        .await
        .envelope_id;
    h.advance(AN_HOUR);
    refused(
        &h,
        &id,
        ANN.email,
        "cannot-resend",
        409,
        &format!("{NOT_IN_PROGRESS} processing"),
    )
    .await;
    h.finish_processing(&id).await;
}

async fn in_progress_sent_waits_then_sends_a_fresh_link(db: TestDb) {
    let h = engine(db).await;
    let (envelope, first) = h.ann_then_bob(AnnIs::Sent).await;
    let id = envelope.envelope_id.clone();
    let ann = recipient(&envelope, ANN.email).recipient_id.clone();
    let seen = h.events(&id).await.len();

    // The first reminder may follow the request after a minute.
    let error = assert_refused(
        h.resend(&id, &ann).await,
        "resend-too-soon",
        429,
        "A request was sent to this recipient recently; the next one can be sent in 60 seconds",
    );
    assert_eq!(error.problem()["retry_after_seconds"], 60);
    h.advance(59);
    assert_refused(
        h.resend(&id, &ann).await,
        "resend-too-soon",
        429,
        "A request was sent to this recipient recently; the next one can be sent in 1 seconds",
    );
    assert_eq!(h.new_events(&id, seen).await.len(), 0);
    h.advance(1);

    let resent = h.resend(&id, &ann).await.unwrap();
    assert_eq!(resent.status, EnvelopeStatus::InProgress);
    let r = recipient(&resent, ANN.email);
    assert_eq!(r.status, RecipientStatus::Sent);
    assert_eq!(r.resend_count, 1);
    // The first request's times stand.
    assert_eq!(r.released_at, Some(at(0)));
    assert_eq!(r.sent_at, Some(at(0)));
    let events = h.new_events(&id, seen).await;
    assert_eq!(
        who(&events, &resent),
        pairs(&[("recipient.resent", ANN.email)])
    );
    assert_eq!(events[0]["data"], json!({ "resend_count": 1 }));
    assert_eq!(
        h.emails(&id).await,
        pairs(&[("reminder", ANN.email), ("signing_request", ANN.email)])
    );

    // A fresh link; the old one is no longer a link.
    let fresh = h.link_for(&id, ANN.email).await;
    assert_ne!(fresh, first);
    assert_eq!(h.ceremony(&first).await, Err(UNKNOWN_LINK.to_owned()));
    h.sign(&first, ANN.name).await.assert_unknown_link();
    assert_eq!(h.ceremony(&fresh).await, Ok("Open".to_owned()));

    // The next reminder waits twice as long.
    let error = assert_refused(
        h.resend(&id, &ann).await,
        "resend-too-soon",
        429,
        "A request was sent to this recipient recently; the next one can be sent in 120 seconds",
    );
    assert_eq!(error.problem()["retry_after_seconds"], 120);
    h.advance(120);
    assert_eq!(
        h.resend(&id, &ann).await.unwrap().recipients[0].resend_count,
        2
    );

    // The newest link signs.
    let newest = h.link_for(&id, ANN.email).await;
    h.sign(&newest, ANN.name).await.assert_done(&newest);
    assert_eq!(
        statuses(&h.get(&id).await),
        pairs(&[(ANN.email, "completed"), (BOB.email, "sent")])
    );
}

async fn in_progress_pending_is_refused(db: TestDb) {
    let h = engine(db).await;
    let (envelope, _) = h.ann_then_bob(AnnIs::Sent).await;
    h.advance(AN_HOUR);
    refused(
        &h,
        &envelope.envelope_id,
        BOB.email,
        "cannot-resend",
        409,
        &format!("{NOT_OPEN} pending"),
    )
    .await;
}

async fn in_progress_completed_is_refused(db: TestDb) {
    let h = engine(db).await;
    let (envelope, _) = h.ann_then_bob(AnnIs::Completed).await;
    h.advance(AN_HOUR);
    refused(
        &h,
        &envelope.envelope_id,
        ANN.email,
        "cannot-resend",
        409,
        &format!("{NOT_OPEN} completed"),
    )
    .await;
}

async fn in_progress_rejected_is_refused(db: TestDb) {
    let h = engine(db).await;
    let (envelope, _) = h.ann_then_bob(AnnIs::Rejected).await;
    h.advance(AN_HOUR);
    refused(
        &h,
        &envelope.envelope_id,
        ANN.email,
        "cannot-resend",
        409,
        &format!("{NOT_OPEN} rejected"),
    )
    .await;
}

async fn in_progress_replaced_is_refused(db: TestDb) {
    let h = engine(db).await;
    let (envelope, _) = h.ann_then_bob(AnnIs::Replaced).await;
    h.advance(AN_HOUR);
    refused(
        &h,
        &envelope.envelope_id,
        ANN.email,
        "cannot-resend",
        409,
        &format!("{NOT_OPEN} replaced"),
    )
    .await;
}

async fn in_progress_unknown_recipient_is_not_found(db: TestDb) {
    let h = engine(db).await;
    let (envelope, _) = h.ann_then_bob(AnnIs::Sent).await;
    let elsewhere = h.in_progress(Routing::Parallel, &[EVE]).await;
    h.advance(AN_HOUR);
    // Neither a made-up id nor a recipient of another envelope.
    for recipient_id in ["rcp_nobody", &elsewhere.recipients[0].recipient_id] {
        assert_refused(
            h.resend(&envelope.envelope_id, recipient_id).await,
            "not-found",
            404,
            "No recipient with this id exists in this organization",
        );
    }
    assert_eq!(
        recipient(&h.get(&elsewhere.envelope_id).await, EVE.email).resend_count,
        0
    );
}

async fn completed_is_refused(db: TestDb) {
    let h = engine(db).await;
    let id = h.completed(&[ANN, BOB]).await.envelope_id;
    h.advance(AN_HOUR);
    refused(
        &h,
        &id,
        ANN.email,
        "cannot-resend",
        409,
        &format!("{NOT_IN_PROGRESS} completed"),
    )
    .await;
}

async fn canceled_is_refused(db: TestDb) {
    let h = engine(db).await;
    let id = h
        .canceled(Routing::Sequential, &[ANN, BOB])
        .await
        .envelope_id;
    h.advance(AN_HOUR);
    // Ann was asked and had not finished: only the cancellation stops her.
    refused(
        &h,
        &id,
        ANN.email,
        "cannot-resend",
        409,
        &format!("{NOT_IN_PROGRESS} canceled"),
    )
    .await;
}

async fn failed_is_refused(db: TestDb) {
    let h = engine(db).await;
    let id = h.failed(Routing::Sequential, &[ANN, BOB]).await.envelope_id;
    h.advance(AN_HOUR);
    refused(
        &h,
        &id,
        ANN.email,
        "cannot-resend",
        409,
        &format!("{NOT_IN_PROGRESS} failed"),
    )
    .await;
}
