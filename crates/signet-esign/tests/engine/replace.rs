//! `replace_recipient` in every envelope state, and in progress for every
//! recipient state: a new person takes the recipient's key, type and turn
//! until the envelope is finished; the old one becomes `replaced` and
//! their link dies; if it was their turn, the new one is asked at once.

use serde_json::json;
use signet_esign::model::{DeliveryType, EnvelopeStatus, RecipientStatus, RecipientType};
use signet_store::testing::TestDb;

use crate::support::*;

signet_store::store_tests!(
    processing_replaces_before_anyone_is_asked,
    in_progress_sent_asks_the_replacement_at_once,
    in_progress_pending_waits_for_its_turn,
    in_progress_completed_is_refused,
    in_progress_rejected_asks_the_replacement,
    in_progress_replaced_is_refused,
    completed_is_refused,
    canceled_is_refused,
    failed_is_refused,
);

const FINISHED: &str = "Recipients can be replaced only before the envelope is finished; it is";

/// Checks the replacement's record against the one it replaced.
fn assert_replaced_by(envelope: &signet_esign::model::Envelope, old: &str, new: &str) {
    let old = recipient(envelope, old);
    let new = recipient(envelope, new);
    assert_eq!(old.status, RecipientStatus::Replaced);
    assert_eq!(old.replaced_by.as_deref(), Some(new.recipient_id.as_str()));
    assert_eq!(new.key, old.key);
    assert_eq!(new.kind, RecipientType::Signer);
    assert_eq!(new.order, old.order);
    assert_eq!(new.delivery_type, DeliveryType::Email);
    assert_eq!(new.replaced_by, None);
}

async fn processing_replaces_before_anyone_is_asked(db: TestDb) {
    let h = engine(db).await;
    let id = h
        .processing(Routing::Sequential, &[ANN, BOB])
        .await
        .envelope_id;
    h.advance(1);
    let replaced = h
        .replace(
            &id,
            &recipient(&h.get(&id).await, ANN.email).recipient_id,
            CARA,
        )
        .await
        .unwrap();
    assert_eq!(replaced.status, EnvelopeStatus::Processing);
    assert_eq!(
        statuses(&replaced),
        pairs(&[
            (ANN.email, "replaced"),
            (CARA.email, "pending"),
            (BOB.email, "pending"),
        ])
    );
    assert_replaced_by(&replaced, ANN.email, CARA.email);
    let cara = recipient(&replaced, CARA.email).recipient_id.clone();
    let events = h.events(&id).await;
    assert_eq!(
        who(&events, &replaced),
        pairs(&[("envelope.created", ""), ("recipient.replaced", ANN.email)])
    );
    assert_eq!(
        events[1]["data"],
        json!({ "key": "ann", "replaced_by": cara, "email": CARA.email })
    );
    h.assert_no_link_exists(&id).await;

    // Once the document is in, Cara is asked in Ann's place; Ann never is.
    let started = h.finish_processing(&id).await;
    assert_eq!(
        statuses(&started),
        pairs(&[
            (ANN.email, "replaced"),
            (CARA.email, "sent"),
            (BOB.email, "pending"),
        ])
    );
    assert_eq!(
        who(&h.new_events(&id, 2).await, &started),
        pairs(&[
            ("envelope.started", ""),
            ("recipient.released", CARA.email),
            ("recipient.sent", CARA.email),
        ])
    );
    assert_eq!(
        h.emails(&id).await,
        pairs(&[("signing_request", CARA.email)])
    );
}

async fn in_progress_sent_asks_the_replacement_at_once(db: TestDb) {
    let h = engine(db).await;
    let (envelope, ann) = h.ann_then_bob(AnnIs::Sent).await;
    let id = envelope.envelope_id.clone();
    let seen = h.events(&id).await.len();
    h.advance(10);
    let replaced = h
        .replace(&id, &recipient(&envelope, ANN.email).recipient_id, CARA)
        .await
        .unwrap();
    assert_eq!(replaced.status, EnvelopeStatus::InProgress);
    assert_eq!(
        statuses(&replaced),
        pairs(&[
            (ANN.email, "replaced"),
            (CARA.email, "sent"),
            (BOB.email, "pending"),
        ])
    );
    assert_replaced_by(&replaced, ANN.email, CARA.email);
    assert_eq!(recipient(&replaced, CARA.email).released_at, Some(at(10)));
    assert_eq!(
        who(&h.new_events(&id, seen).await, &replaced),
        pairs(&[
            ("recipient.replaced", ANN.email),
            ("recipient.released", CARA.email),
            ("recipient.sent", CARA.email),
        ])
    );
    assert_eq!(
        h.emails(&id).await,
        pairs(&[
            ("signing_request", ANN.email),
            ("signing_request", CARA.email),
        ])
    );
    // Ann's link is dead; Cara's works and her signature moves things on.
    assert_eq!(h.ceremony(&ann).await, Err(UNKNOWN_LINK.to_owned()));
    h.sign(&ann, ANN.name).await.assert_unknown_link();
    let cara = h.link_for(&id, CARA.email).await;
    h.sign(&cara, CARA.name).await.assert_done(&cara);
    assert_eq!(
        statuses(&h.get(&id).await),
        pairs(&[
            (ANN.email, "replaced"),
            (CARA.email, "completed"),
            (BOB.email, "sent"),
        ])
    );
}

async fn in_progress_pending_waits_for_its_turn(db: TestDb) {
    let h = engine(db).await;
    let (envelope, ann) = h.ann_then_bob(AnnIs::Sent).await;
    let id = envelope.envelope_id.clone();
    let seen = h.events(&id).await.len();
    h.advance(10);
    let replaced = h
        .replace(&id, &recipient(&envelope, BOB.email).recipient_id, DAN)
        .await
        .unwrap();
    assert_eq!(
        statuses(&replaced),
        pairs(&[
            (ANN.email, "sent"),
            (BOB.email, "replaced"),
            (DAN.email, "pending"),
        ])
    );
    assert_replaced_by(&replaced, BOB.email, DAN.email);
    assert_eq!(
        who(&h.new_events(&id, seen).await, &replaced),
        pairs(&[("recipient.replaced", BOB.email)])
    );
    assert_eq!(
        h.emails(&id).await,
        pairs(&[("signing_request", ANN.email)])
    );
    // Dan is asked when his turn comes; Bob never is.
    h.sign(&ann, ANN.name).await.assert_done(&ann);
    assert_eq!(
        statuses(&h.get(&id).await),
        pairs(&[
            (ANN.email, "completed"),
            (BOB.email, "replaced"),
            (DAN.email, "sent"),
        ])
    );
    assert_eq!(
        h.emails(&id).await,
        pairs(&[
            ("signing_request", ANN.email),
            ("signing_request", DAN.email)
        ])
    );
}

async fn in_progress_completed_is_refused(db: TestDb) {
    let h = engine(db).await;
    let (envelope, _) = h.ann_then_bob(AnnIs::Completed).await;
    refused(
        &h,
        &envelope.envelope_id,
        ANN.email,
        "This recipient is already completed",
    )
    .await;
}

async fn in_progress_rejected_asks_the_replacement(db: TestDb) {
    let h = engine(db).await;
    let (envelope, ann) = h.ann_then_bob(AnnIs::Rejected).await;
    let id = envelope.envelope_id.clone();
    let seen = h.events(&id).await.len();
    h.advance(10);
    let replaced = h
        .replace(&id, &recipient(&envelope, ANN.email).recipient_id, CARA)
        .await
        .unwrap();
    assert_eq!(
        statuses(&replaced),
        pairs(&[
            (ANN.email, "replaced"),
            (CARA.email, "sent"),
            (BOB.email, "pending"),
        ])
    );
    assert_replaced_by(&replaced, ANN.email, CARA.email);
    // The old record keeps what Ann said.
    let old = recipient(&replaced, ANN.email);
    assert_eq!(old.rejection_reason.as_deref(), Some("Wrong amount"));
    assert_eq!(old.rejected_at, Some(at(0)));
    assert_eq!(
        who(&h.new_events(&id, seen).await, &replaced),
        pairs(&[
            ("recipient.replaced", ANN.email),
            ("recipient.released", CARA.email),
            ("recipient.sent", CARA.email),
        ])
    );
    assert_eq!(h.ceremony(&ann).await, Err(UNKNOWN_LINK.to_owned()));
    // With Cara's signature and then Bob's, the envelope completes.
    let cara = h.link_for(&id, CARA.email).await;
    h.sign(&cara, CARA.name).await.assert_done(&cara);
    let bob = h.link_for(&id, BOB.email).await;
    h.sign(&bob, BOB.name).await.assert_done(&bob);
    h.wait_for_event(&id, "deliverable.generated").await;
    assert_eq!(h.get(&id).await.status, EnvelopeStatus::Completed);
}

async fn in_progress_replaced_is_refused(db: TestDb) {
    let h = engine(db).await;
    let (envelope, _) = h.ann_then_bob(AnnIs::Replaced).await;
    refused(
        &h,
        &envelope.envelope_id,
        ANN.email,
        "This recipient is already replaced",
    )
    .await;
}

async fn completed_is_refused(db: TestDb) {
    let h = engine(db).await;
    let id = h.completed(&[ANN, BOB]).await.envelope_id;
    refused(&h, &id, ANN.email, &format!("{FINISHED} completed")).await;
}

async fn canceled_is_refused(db: TestDb) {
    let h = engine(db).await;
    let id = h
        .canceled(Routing::Sequential, &[ANN, BOB])
        .await
        .envelope_id;
    // Bob was never asked, and still cannot be replaced.
    refused(&h, &id, BOB.email, &format!("{FINISHED} canceled")).await;
    refused(&h, &id, ANN.email, &format!("{FINISHED} canceled")).await;
}

async fn failed_is_refused(db: TestDb) {
    let h = engine(db).await;
    let id = h.failed(Routing::Sequential, &[ANN, BOB]).await.envelope_id;
    refused(&h, &id, ANN.email, &format!("{FINISHED} failed")).await;
}

/// Asks to replace `email` with Dan and expects `cannot-replace`, with
/// nothing changed.
async fn refused(h: &Engine, id: &str, email: &str, detail: &str) {
    let before = h.snapshot(id).await;
    h.advance(10);
    let recipient_id = recipient(&before.envelope, email).recipient_id.clone();
    assert_refused(
        h.replace(id, &recipient_id, DAN).await,
        "cannot-replace",
        409,
        detail,
    );
    h.assert_unchanged(id, &before).await;
}
