//! `cancel_envelope` in every state: only an envelope in progress can be
//! canceled; everyone who was asked to act is told.

use serde_json::json;
use signet_esign::model::EnvelopeStatus;
use signet_store::testing::TestDb;

use crate::support::*;

signet_store::store_tests!(
    processing_is_refused,
    in_progress_is_canceled_and_those_asked_are_told,
    in_progress_tells_finished_recipients_but_not_replaced_ones,
    completed_is_refused,
    canceled_is_refused,
    failed_is_refused,
);

const REFUSED: &str = "Only an envelope in progress can be canceled; this one is";

async fn processing_is_refused(db: TestDb) {
    let h = engine(db).await;
    let id = h
        .processing(Routing::Sequential, &[ANN, BOB])
        .await
        .envelope_id;
    let seen = h.events(&id).await.len();
    assert_refused(
        h.cancel(&id).await,
        "cannot-cancel",
        409,
        &format!("{REFUSED} processing"),
    );
    assert_eq!(h.get(&id).await.status, EnvelopeStatus::Processing);
    assert_eq!(
        h.new_events(&id, seen).await,
        Vec::<serde_json::Value>::new()
    );
    // The refusal changed nothing: the envelope starts as usual.
    let started = h.finish_processing(&id).await;
    assert_eq!(
        statuses(&started),
        pairs(&[(ANN.email, "sent"), (BOB.email, "pending")])
    );
}

async fn in_progress_is_canceled_and_those_asked_are_told(db: TestDb) {
    let h = engine(db).await;
    let id = h
        .in_progress(Routing::Sequential, &[ANN, BOB])
        .await
        .envelope_id;
    let ann = h.link_for(&id, ANN.email).await;
    let seen = h.events(&id).await.len();
    h.advance(30);

    let canceled = h
        .esign
        .cancel_envelope(&h.caller, &id, Some("  Terms changed  "))
        .await
        .unwrap();
    assert_eq!(canceled.status, EnvelopeStatus::Canceled);
    assert_eq!(canceled.cancel_reason.as_deref(), Some("Terms changed"));
    assert_eq!(canceled.canceled_at, Some(at(30)));
    assert_eq!(canceled.updated_at, at(30));
    assert_eq!(canceled.completed_at, None);
    // Recipients keep the status they had.
    assert_eq!(
        statuses(&canceled),
        pairs(&[(ANN.email, "sent"), (BOB.email, "pending")])
    );
    let events = h.new_events(&id, seen).await;
    assert_eq!(types(&events), ["envelope.canceled"]);
    assert_eq!(events[0]["data"], json!({ "reason": "Terms changed" }));
    assert_eq!(events[0]["recipient_id"], serde_json::Value::Null);
    // Ann was asked and is told; Bob, never asked, is not.
    assert_eq!(
        h.emails(&id).await,
        pairs(&[("canceled", ANN.email), ("signing_request", ANN.email)])
    );
    // Her link now shows a closed request and signs nothing.
    assert_eq!(h.ceremony(&ann).await, Ok("Closed".to_owned()));
    h.sign(&ann, ANN.name)
        .await
        .assert_closed("the envelope is canceled");
    assert_eq!(h.get(&id).await.status, EnvelopeStatus::Canceled);
}

async fn in_progress_tells_finished_recipients_but_not_replaced_ones(db: TestDb) {
    let h = engine(db).await;
    let envelope = h.in_progress(Routing::Parallel, &[ANN, BOB, EVE]).await;
    let id = envelope.envelope_id.clone();
    // Ann signs, Bob declines, Eve is replaced by Cara (who is asked).
    let ann = h.link_for(&id, ANN.email).await;
    h.sign(&ann, ANN.name).await.assert_done(&ann);
    let bob = h.link_for(&id, BOB.email).await;
    h.decline(&bob, "Not me").await.assert_done(&bob);
    h.advance(1);
    h.replace(&id, &recipient(&envelope, EVE.email).recipient_id, CARA)
        .await
        .unwrap();
    let before = h.get(&id).await;
    assert_eq!(before.status, EnvelopeStatus::InProgress);
    assert_eq!(
        statuses(&before),
        pairs(&[
            (ANN.email, "completed"),
            (BOB.email, "rejected"),
            (EVE.email, "replaced"),
            (CARA.email, "sent"),
        ])
    );

    let canceled = h.cancel(&id).await.unwrap();
    assert_eq!(canceled.status, EnvelopeStatus::Canceled);
    assert_eq!(canceled.cancel_reason.as_deref(), Some("No longer needed"));
    assert_eq!(statuses(&canceled), statuses(&before));
    let cancellations: Vec<String> = h
        .emails(&id)
        .await
        .into_iter()
        .filter(|(kind, _)| kind == "canceled")
        .map(|(_, to)| to)
        .collect();
    assert_eq!(cancellations, [ANN.email, BOB.email, CARA.email]);
    // Those who had answered are not told their answer still leads anywhere.
    for token in [&ann, &bob] {
        assert_eq!(
            h.ceremony(token).await,
            Ok("AnsweredThenCanceled".to_owned())
        );
    }
}

async fn completed_is_refused(db: TestDb) {
    let h = engine(db).await;
    let id = h.completed(&[ANN]).await.envelope_id;
    let seen = h.events(&id).await.len();
    let emails = h.emails(&id).await;
    assert_refused(
        h.cancel(&id).await,
        "cannot-cancel",
        409,
        &format!("{REFUSED} completed"),
    );
    let envelope = h.get(&id).await;
    assert_eq!(envelope.status, EnvelopeStatus::Completed);
    assert_eq!(envelope.cancel_reason, None);
    assert_eq!(envelope.canceled_at, None);
    assert_eq!(h.new_events(&id, seen).await.len(), 0);
    assert_eq!(h.emails(&id).await, emails);
}

async fn canceled_is_refused(db: TestDb) {
    let h = engine(db).await;
    let id = h
        .canceled(Routing::Sequential, &[ANN, BOB])
        .await
        .envelope_id;
    let seen = h.events(&id).await.len();
    h.advance(60);
    assert_refused(
        h.cancel(&id).await,
        "cannot-cancel",
        409,
        &format!("{REFUSED} canceled"),
    );
    let envelope = h.get(&id).await;
    // The first cancellation stands: its reason and time, one email.
    assert_eq!(envelope.cancel_reason.as_deref(), Some("Terms changed"));
    assert_eq!(envelope.canceled_at, Some(at(0)));
    assert_eq!(h.new_events(&id, seen).await.len(), 0);
    assert_eq!(
        h.emails(&id).await,
        pairs(&[("canceled", ANN.email), ("signing_request", ANN.email)])
    );
}

async fn failed_is_refused(db: TestDb) {
    let h = engine(db).await;
    let id = h.failed(Routing::Sequential, &[ANN, BOB]).await.envelope_id;
    let seen = h.events(&id).await.len();
    assert_refused(
        h.cancel(&id).await,
        "cannot-cancel",
        409,
        &format!("{REFUSED} failed"),
    );
    let envelope = h.get(&id).await;
    assert_eq!(envelope.status, EnvelopeStatus::Failed);
    assert_eq!(envelope.canceled_at, None);
    assert_eq!(h.new_events(&id, seen).await.len(), 0);
    // It asked nobody, so nobody is told anything.
    h.assert_no_link_exists(&id).await;
}
