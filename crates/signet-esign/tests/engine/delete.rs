//! `delete_envelope` in every state: only a finished envelope (completed,
//! canceled, failed) can be deleted, and then everything of it goes —
//! events, emails, links, the deliverable — and nothing of any other.

use serde_json::json;
use signet_esign::model::EnvelopeStatus;
use signet_store::testing::TestDb;

use crate::support::*;

signet_store::store_tests!(
    processing_is_refused,
    in_progress_is_refused,
    completed_is_deleted_with_its_deliverable,
    canceled_is_deleted,
    failed_is_deleted,
);

const REFUSED: &str =
    "Only a completed, canceled, failed or expired envelope can be deleted; this one is";
const NOT_FOUND: &str = "No envelope with this id exists in this organization";

async fn processing_is_refused(db: TestDb) {
    let h = engine(db).await;
    let id = h
        .processing(Routing::Sequential, &[ANN, BOB])
        .await
        .envelope_id;
    assert_refused(
        h.delete(&id).await,
        "cannot-delete",
        409,
        &format!("{REFUSED} processing"),
    );
    assert_eq!(h.get(&id).await.status, EnvelopeStatus::Processing);
    assert_eq!(types(&h.events(&id).await), ["envelope.created"]);
    h.finish_processing(&id).await;
}

async fn in_progress_is_refused(db: TestDb) {
    let h = engine(db).await;
    let id = h
        .in_progress(Routing::Sequential, &[ANN, BOB])
        .await
        .envelope_id;
    let ann = h.link_for(&id, ANN.email).await;
    let seen = h.events(&id).await.len();
    assert_refused(
        h.delete(&id).await,
        "cannot-delete",
        409,
        &format!("{REFUSED} in_progress"),
    );
    assert_eq!(h.get(&id).await.status, EnvelopeStatus::InProgress);
    assert_eq!(h.new_events(&id, seen).await.len(), 0);
    // Ann can still sign.
    h.sign(&ann, ANN.name).await.assert_done(&ann);
}

async fn completed_is_deleted_with_its_deliverable(db: TestDb) {
    let h = engine(db).await;
    let bystander = h.in_progress(Routing::Parallel, &[BOB]).await.envelope_id;
    let envelope = h.completed(&[ANN]).await;
    let ann = h.link_for(&envelope.envelope_id, ANN.email).await;
    h.esign
        .get_deliverables(&h.caller, &envelope.envelope_id)
        .await
        .unwrap();
    assert_deleted(&h, &envelope.envelope_id, &ann, &bystander).await;
    assert_refused(
        h.esign
            .get_deliverables(&h.caller, &envelope.envelope_id)
            .await,
        "not-found",
        404,
        NOT_FOUND,
    );
}

async fn canceled_is_deleted(db: TestDb) {
    let h = engine(db).await;
    let bystander = h.in_progress(Routing::Parallel, &[BOB]).await.envelope_id;
    let id = h.canceled(Routing::Sequential, &[ANN]).await.envelope_id;
    let ann = h.link_for(&id, ANN.email).await;
    assert_deleted(&h, &id, &ann, &bystander).await;
}

async fn failed_is_deleted(db: TestDb) {
    let h = engine(db).await;
    let bystander = h.in_progress(Routing::Parallel, &[BOB]).await.envelope_id;
    let id = h.failed(Routing::Sequential, &[ANN]).await.envelope_id;
    // A failed envelope never gave out a link; any token is unknown.
    assert_deleted(&h, &id, "no-such-token", &bystander).await;
}

/// Deletes `id` and checks that it is gone entirely, that a second delete
/// finds nothing, and that `bystander` (in progress) is untouched.
async fn assert_deleted(h: &Engine, id: &str, token: &str, bystander: &str) {
    let bystander_events = h.events(bystander).await;
    let bystander_emails = h.emails(bystander).await;
    assert!(!h.events(id).await.is_empty());

    let deleted = h.delete(id).await.unwrap();
    assert_eq!(deleted, json!({ "envelope_id": id, "deleted": true }));

    assert_refused(
        h.esign.get_envelope(&h.caller, id).await,
        "not-found",
        404,
        NOT_FOUND,
    );
    assert_refused(h.delete(id).await, "not-found", 404, NOT_FOUND);
    assert_refused(
        h.esign
            .list_events(&h.caller, &args(json!({ "envelope_id": id })))
            .await,
        "not-found",
        404,
        NOT_FOUND,
    );
    assert_refused(
        h.esign
            .list_emails(&h.caller, &args(json!({ "envelope_id": id })))
            .await,
        "not-found",
        404,
        NOT_FOUND,
    );
    // Nothing of it is left in the organization's stream or outbox.
    let all_events = h
        .esign
        .list_events(&h.caller, &args(json!({ "limit": 100 })))
        .await
        .unwrap();
    let all_emails = h
        .esign
        .list_emails(&h.caller, &args(json!({ "limit": 100 })))
        .await
        .unwrap();
    for item in all_events["events"]
        .as_array()
        .unwrap()
        .iter()
        .chain(all_emails["emails"].as_array().unwrap())
    {
        assert_eq!(item["envelope_id"], bystander, "{item}");
    }
    let listed = h
        .esign
        .list_envelopes(&h.caller, &args(json!({})))
        .await
        .unwrap();
    let listed: Vec<&str> = listed["envelopes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["envelope_id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [bystander]);
    // Its signing link is no longer a link.
    assert_eq!(h.ceremony(token).await, Err(UNKNOWN_LINK.to_owned()));
    h.sign(token, "Anyone").await.assert_unknown_link();
    // The bystander is as it was.
    assert_eq!(h.get(bystander).await.status, EnvelopeStatus::InProgress);
    assert_eq!(h.events(bystander).await, bystander_events);
    assert_eq!(h.emails(bystander).await, bystander_emails);
}
