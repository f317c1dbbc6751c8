//! Declining on the signing page (`act` with a rejection) in every
//! envelope state, and in progress for every recipient state. A decline
//! is recorded and holds the envelope in progress (nobody further is
//! asked, and it cannot complete) until it is canceled or the recipient
//! replaced.

use axum::http::StatusCode;
use serde_json::json;
use signet_esign::model::EnvelopeStatus;
use signet_store::testing::TestDb;

use crate::support::*;

signet_store::store_tests!(
    processing_has_no_link_to_decline_with,
    in_progress_sent_declines_and_holds_the_envelope,
    in_progress_sent_decline_keeps_a_parallel_envelope_from_completing,
    in_progress_pending_has_no_link_to_decline_with,
    in_progress_completed_cannot_decline,
    in_progress_rejected_cannot_decline_again,
    in_progress_replaced_link_is_dead,
    completed_is_closed,
    canceled_is_closed,
    failed_has_no_link_to_decline_with,
);

/// Declines with `token` and expects a refusal that changes nothing.
async fn refused(h: &Engine, id: &str, token: &str, check: impl Fn(&Page)) {
    let before = h.snapshot(id).await;
    h.advance(10);
    check(&h.decline(token, "Changed my mind").await);
    h.assert_unchanged(id, &before).await;
}

async fn processing_has_no_link_to_decline_with(db: TestDb) {
    let h = engine(db).await;
    let id = h.processing(Routing::Sequential, &[ANN]).await.envelope_id;
    h.assert_no_link_exists(&id).await;
    refused(&h, &id, "made-up-token", Page::assert_unknown_link).await;
    h.finish_processing(&id).await;
    let ann = h.link_for(&id, ANN.email).await;
    h.decline(&ann, "No").await.assert_done(&ann);
}

async fn in_progress_sent_declines_and_holds_the_envelope(db: TestDb) {
    let h = engine(db).await;
    let (envelope, ann) = h.ann_then_bob(AnnIs::Sent).await;
    let id = envelope.envelope_id.clone();
    let seen = h.events(&id).await.len();
    let emails = h.emails(&id).await;
    h.advance(7);

    // A reason too long is refused: the page is shown again (Ann's first
    // view of it), nothing else changes.
    let long = h.decline(&ann, &"x".repeat(2001)).await;
    assert_eq!(long.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        long.body
            .contains("The reason may be at most 2000 characters."),
        "{}",
        long.body
    );
    assert_eq!(types(&h.new_events(&id, seen).await), ["recipient.viewed"]);
    assert_eq!(
        statuses(&h.get(&id).await),
        pairs(&[(ANN.email, "sent"), (BOB.email, "pending")])
    );
    let seen = seen + 1;

    h.decline(&ann, "  Wrong amount ").await.assert_done(&ann);
    let declined = h.get(&id).await;
    assert_eq!(declined.status, EnvelopeStatus::InProgress);
    assert_eq!(
        statuses(&declined),
        pairs(&[(ANN.email, "rejected"), (BOB.email, "pending")])
    );
    let a = recipient(&declined, ANN.email);
    assert_eq!(a.rejected_at, Some(at(7)));
    assert_eq!(a.rejection_reason.as_deref(), Some("Wrong amount"));
    assert_eq!(a.completed_at, None);
    let events = h.new_events(&id, seen).await;
    assert_eq!(
        who(&events, &declined),
        pairs(&[("recipient.rejected", ANN.email)])
    );
    assert_eq!(
        events[0]["data"],
        json!({ "key": "ann", "reason": "Wrong amount", "ip_address": SIGNER_IP, "authentication": "email_link" })
    );
    // Bob is not asked; nobody is emailed.
    assert_eq!(h.emails(&id).await, emails);
    assert_eq!(h.ceremony(&ann).await, Ok("Rejected".to_owned()));
}

async fn in_progress_sent_decline_keeps_a_parallel_envelope_from_completing(db: TestDb) {
    let h = engine(db).await;
    let envelope = h.in_progress(Routing::Parallel, &[ANN, BOB]).await;
    let id = envelope.envelope_id.clone();
    let ann = h.link_for(&id, ANN.email).await;
    let bob = h.link_for(&id, BOB.email).await;
    // A blank reason is no reason.
    h.decline(&ann, "  ").await.assert_done(&ann);
    let seen = h.events(&id).await.len();
    assert_eq!(h.events(&id).await[seen - 1]["data"]["reason"], json!(null));
    assert_eq!(
        recipient(&h.get(&id).await, ANN.email).rejection_reason,
        None
    );

    // Bob may still sign, but everyone else having signed is not enough.
    h.sign(&bob, BOB.name).await.assert_done(&bob);
    let after = h.get(&id).await;
    assert_eq!(after.status, EnvelopeStatus::InProgress);
    assert_eq!(after.completed_at, None);
    assert_eq!(
        statuses(&after),
        pairs(&[(ANN.email, "rejected"), (BOB.email, "completed")])
    );
    assert_eq!(
        who(&h.new_events(&id, seen).await, &after),
        pairs(&[
            ("recipient.consented", BOB.email),
            ("recipient.completed", BOB.email)
        ])
    );
    assert_refused(
        h.esign.get_deliverables(&h.caller, &id).await,
        "envelope-not-completed",
        409,
        "The envelope is in_progress; deliverables exist once it is completed",
    );
}

async fn in_progress_pending_has_no_link_to_decline_with(db: TestDb) {
    let h = engine(db).await;
    let (envelope, ann) = h.ann_then_bob(AnnIs::Sent).await;
    let id = envelope.envelope_id.clone();
    assert_eq!(recipient(&envelope, BOB.email).released_at, None);
    assert!(h.emails(&id).await.iter().all(|(_, to)| to != BOB.email));
    // Ann's decline does not give Bob a link either.
    h.decline(&ann, "No").await.assert_done(&ann);
    assert!(h.emails(&id).await.iter().all(|(_, to)| to != BOB.email));
    assert_eq!(recipient(&h.get(&id).await, BOB.email).released_at, None);
}

async fn in_progress_completed_cannot_decline(db: TestDb) {
    let h = engine(db).await;
    let (envelope, ann) = h.ann_then_bob(AnnIs::Completed).await;
    refused(&h, &envelope.envelope_id, &ann, |page| {
        page.assert_closed("you have already signed")
    })
    .await;
    let a = recipient(&h.get(&envelope.envelope_id).await, ANN.email).clone();
    assert_eq!(a.rejected_at, None);
    assert_eq!(a.rejection_reason, None);
}

async fn in_progress_rejected_cannot_decline_again(db: TestDb) {
    let h = engine(db).await;
    let (envelope, ann) = h.ann_then_bob(AnnIs::Rejected).await;
    refused(&h, &envelope.envelope_id, &ann, |page| {
        page.assert_closed("you have already declined")
    })
    .await;
    let a = recipient(&h.get(&envelope.envelope_id).await, ANN.email).clone();
    // The first decline stands.
    assert_eq!(a.rejection_reason.as_deref(), Some("Wrong amount"));
    assert_eq!(a.rejected_at, Some(at(0)));
}

async fn in_progress_replaced_link_is_dead(db: TestDb) {
    let h = engine(db).await;
    let (envelope, ann) = h.ann_then_bob(AnnIs::Replaced).await;
    refused(&h, &envelope.envelope_id, &ann, Page::assert_unknown_link).await;
}

async fn completed_is_closed(db: TestDb) {
    let h = engine(db).await;
    let id = h.completed(&[ANN]).await.envelope_id;
    let ann = h.link_for(&id, ANN.email).await;
    refused(&h, &id, &ann, |page| {
        page.assert_closed("the envelope is completed")
    })
    .await;
}

async fn canceled_is_closed(db: TestDb) {
    let h = engine(db).await;
    let id = h
        .canceled(Routing::Sequential, &[ANN, BOB])
        .await
        .envelope_id;
    let ann = h.link_for(&id, ANN.email).await;
    refused(&h, &id, &ann, |page| {
        page.assert_closed("the envelope is canceled")
    })
    .await;
    assert_eq!(h.ceremony(&ann).await, Ok("Closed".to_owned()));
}

async fn failed_has_no_link_to_decline_with(db: TestDb) {
    let h = engine(db).await;
    let id = h.failed(Routing::Sequential, &[ANN]).await.envelope_id;
    h.assert_no_link_exists(&id).await;
    refused(&h, &id, "made-up-token", Page::assert_unknown_link).await;
}
