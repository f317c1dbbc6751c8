//! Signing on the signing page (`act` with a typed signature) in every
//! envelope state, and in progress for every recipient state: only a
//! recipient who was asked, has not finished and holds their latest link
//! can sign, and only while the envelope is in progress. Signing moves
//! the envelope on: the next recipient is asked, or it completes.

use serde_json::json;
use signet_esign::model::{EnvelopeStatus, RecipientStatus};
use signet_store::testing::TestDb;

use crate::support::*;

signet_store::store_tests!(
    processing_has_no_link_to_sign_with,
    in_progress_sent_signs_and_the_next_is_asked,
    in_progress_sent_last_signature_completes_the_envelope,
    in_progress_pending_has_no_link_to_sign_with,
    in_progress_completed_cannot_sign_again,
    in_progress_rejected_cannot_sign,
    in_progress_replaced_link_is_dead,
    completed_is_closed,
    canceled_is_closed,
    failed_has_no_link_to_sign_with,
);

/// Signs with `token` and expects a refusal that changes nothing.
async fn refused(h: &Engine, id: &str, token: &str, check: impl Fn(&Page)) {
    let before = h.snapshot(id).await;
    h.advance(10);
    check(&h.sign(token, "Someone").await);
    h.assert_unchanged(id, &before).await;
}

async fn processing_has_no_link_to_sign_with(db: TestDb) {
    let h = engine(db).await;
    let id = h
        .processing(Routing::Parallel, &[ANN, BOB])
        .await
        .envelope_id;
    h.assert_no_link_exists(&id).await;
    // Whatever a signer might try is not a link.
    refused(&h, &id, "made-up-token", Page::assert_unknown_link).await;
    assert_eq!(
        h.ceremony("made-up-token").await,
        Err(UNKNOWN_LINK.to_owned())
    );
    // Once started, both are asked and can sign.
    h.finish_processing(&id).await;
    let ann = h.link_for(&id, ANN.email).await;
    h.sign(&ann, ANN.name).await.assert_done(&ann);
}

async fn in_progress_sent_signs_and_the_next_is_asked(db: TestDb) {
    let h = engine(db).await;
    let (envelope, ann) = h.ann_then_bob(AnnIs::Sent).await;
    let id = envelope.envelope_id.clone();
    // Opening the page records the first view, once.
    assert_eq!(h.ceremony(&ann).await, Ok("Open".to_owned()));
    assert_eq!(h.ceremony(&ann).await, Ok("Open".to_owned()));
    let viewed = h.events(&id).await;
    assert_eq!(types(&viewed).last(), Some(&"recipient.viewed"));
    assert_eq!(
        types(&viewed)
            .iter()
            .filter(|t| **t == "recipient.viewed")
            .count(),
        1
    );
    let seen = viewed.len();
    h.advance(5);

    // A blank signature is asked for again, and changes nothing.
    let blank = h.sign(&ann, "   ").await;
    assert_eq!(blank.status, axum::http::StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        blank.body.contains("Type your full name to sign."),
        "{}",
        blank.body
    );
    assert_eq!(h.new_events(&id, seen).await.len(), 0);

    h.sign(&ann, "  Ann Lee ").await.assert_done(&ann);
    let signed = h.get(&id).await;
    assert_eq!(signed.status, EnvelopeStatus::InProgress);
    assert_eq!(
        statuses(&signed),
        pairs(&[(ANN.email, "completed"), (BOB.email, "sent")])
    );
    let a = recipient(&signed, ANN.email);
    assert_eq!(a.completed_at, Some(at(5)));
    assert_eq!(a.viewed_at, Some(at(0)));
    assert_eq!(recipient(&signed, BOB.email).released_at, Some(at(5)));
    let events = h.new_events(&id, seen).await;
    assert_eq!(
        who(&events, &signed),
        pairs(&[
            ("recipient.consented", ANN.email),
            ("recipient.completed", ANN.email),
            ("recipient.released", BOB.email),
            ("recipient.sent", BOB.email),
        ])
    );
    assert_eq!(
        events[0]["data"],
        json!({ "key": "ann", "statement": signet_esign::ESIGN_CONSENT, "ip_address": SIGNER_IP })
    );
    assert_eq!(
        events[1]["data"],
        json!({ "key": "ann", "type": "signer", "typed_signature": "Ann Lee", "ip_address": SIGNER_IP, "places_filled": 0, "captures": {}, "authentication": "email_link" })
    );
    assert_eq!(
        h.emails(&id).await,
        pairs(&[
            ("signing_request", ANN.email),
            ("signing_request", BOB.email)
        ])
    );
    assert_eq!(h.ceremony(&ann).await, Ok("Completed".to_owned()));
    let bob = h.link_for(&id, BOB.email).await;
    assert_eq!(h.ceremony(&bob).await, Ok("Open".to_owned()));
}

async fn in_progress_sent_last_signature_completes_the_envelope(db: TestDb) {
    let h = engine(db).await;
    let envelope = h.in_progress(Routing::Parallel, &[ANN, BOB]).await;
    let id = envelope.envelope_id.clone();
    let ann = h.link_for(&id, ANN.email).await;
    let bob = h.link_for(&id, BOB.email).await;
    h.sign(&bob, BOB.name).await.assert_done(&bob);
    assert_eq!(h.get(&id).await.status, EnvelopeStatus::InProgress);
    assert_refused(
        h.esign.get_deliverables(&h.caller, &id).await,
        "envelope-not-completed",
        409,
        "The envelope is in_progress; deliverables exist once it is completed",
    );
    let seen = h.events(&id).await.len();
    h.advance(20);

    h.sign(&ann, ANN.name).await.assert_done(&ann);
    let events = h.wait_for_event(&id, "deliverable.generated").await;
    let completed = h.get(&id).await;
    assert_eq!(completed.status, EnvelopeStatus::Completed);
    assert_eq!(completed.completed_at, Some(at(20)));
    assert!(
        completed
            .recipients
            .iter()
            .all(|r| r.status == RecipientStatus::Completed)
    );
    assert_eq!(
        who(&events[seen..], &completed),
        pairs(&[
            ("recipient.consented", ANN.email),
            ("recipient.completed", ANN.email),
            ("envelope.completed", ""),
            ("deliverable.generated", ""),
        ])
    );
    // Everyone who signed gets the deliverable's link.
    assert_eq!(
        h.emails(&id).await,
        pairs(&[
            ("completed", ANN.email),
            ("completed", BOB.email),
            ("signing_request", ANN.email),
            ("signing_request", BOB.email),
        ])
    );
    let deliverables = h.esign.get_deliverables(&h.caller, &id).await.unwrap();
    assert_eq!(deliverables["deliverables"][0]["type"], "signed_pdf");
    assert_eq!(h.ceremony(&ann).await, Ok("Completed".to_owned()));
}

async fn in_progress_pending_has_no_link_to_sign_with(db: TestDb) {
    let h = engine(db).await;
    let (envelope, _) = h.ann_then_bob(AnnIs::Sent).await;
    let bob = recipient(&envelope, BOB.email);
    assert_eq!(bob.status, RecipientStatus::Pending);
    assert_eq!(bob.released_at, None);
    let emails = h.emails(&envelope.envelope_id).await;
    assert!(emails.iter().all(|(_, to)| to != BOB.email), "{emails:?}");
}

async fn in_progress_completed_cannot_sign_again(db: TestDb) {
    let h = engine(db).await;
    let (envelope, ann) = h.ann_then_bob(AnnIs::Completed).await;
    refused(&h, &envelope.envelope_id, &ann, |page| {
        page.assert_closed("you have already signed")
    })
    .await;
    let after = h.get(&envelope.envelope_id).await;
    assert_eq!(recipient(&after, ANN.email).completed_at, Some(at(0)));
    assert_eq!(h.ceremony(&ann).await, Ok("Completed".to_owned()));
}

async fn in_progress_rejected_cannot_sign(db: TestDb) {
    let h = engine(db).await;
    let (envelope, ann) = h.ann_then_bob(AnnIs::Rejected).await;
    refused(&h, &envelope.envelope_id, &ann, |page| {
        page.assert_closed("you have already declined")
    })
    .await;
    assert_eq!(h.ceremony(&ann).await, Ok("Rejected".to_owned()));
}

async fn in_progress_replaced_link_is_dead(db: TestDb) {
    let h = engine(db).await;
    let (envelope, ann) = h.ann_then_bob(AnnIs::Replaced).await;
    refused(&h, &envelope.envelope_id, &ann, Page::assert_unknown_link).await;
    assert_eq!(h.ceremony(&ann).await, Err(UNKNOWN_LINK.to_owned()));
}

async fn completed_is_closed(db: TestDb) {
    let h = engine(db).await;
    let id = h.completed(&[ANN]).await.envelope_id;
    let ann = h.link_for(&id, ANN.email).await;
    refused(&h, &id, &ann, |page| {
        page.assert_closed("the envelope is completed")
    })
    .await;
    assert_eq!(h.ceremony(&ann).await, Ok("Completed".to_owned()));
}

async fn canceled_is_closed(db: TestDb) {
    let h = engine(db).await;
    let id = h
        .canceled(Routing::Sequential, &[ANN, BOB])
        .await
        .envelope_id;
    // Ann was asked and had not signed when it was canceled.
    let ann = h.link_for(&id, ANN.email).await;
    refused(&h, &id, &ann, |page| {
        page.assert_closed("the envelope is canceled")
    })
    .await;
    assert_eq!(h.ceremony(&ann).await, Ok("Closed".to_owned()));
}

async fn failed_has_no_link_to_sign_with(db: TestDb) {
    let h = engine(db).await;
    let id = h.failed(Routing::Parallel, &[ANN, BOB]).await.envelope_id;
    h.assert_no_link_exists(&id).await;
    refused(&h, &id, "made-up-token", Page::assert_unknown_link).await;
}
