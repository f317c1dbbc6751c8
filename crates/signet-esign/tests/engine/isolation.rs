//! Another organization's envelope, in any state, is simply not found by
//! every operation, and nothing of it changes.

use serde_json::json;
use signet_esign::model::Envelope;
use signet_store::testing::TestDb;

use crate::support::*;

signet_store::store_tests!(every_operation_on_another_organizations_envelope_is_not_found);

const NOT_FOUND: &str = "No envelope with this id exists in this organization";

async fn every_operation_on_another_organizations_envelope_is_not_found(db: TestDb) {
    let h = engine(db).await;
    let envelopes: Vec<Envelope> = vec![
        h.processing(Routing::Sequential, &[ANN]).await,
        h.in_progress(Routing::Sequential, &[ANN]).await,
        h.completed(&[ANN]).await,
        h.canceled(Routing::Sequential, &[ANN]).await,
        h.failed(Routing::Sequential, &[ANN]).await,
    ];
    h.advance(3600);
    let beta = &h.other;
    for envelope in &envelopes {
        let id = envelope.envelope_id.as_str();
        let before = h.get(id).await;
        let seen = h.events(id).await.len();
        let rid = envelope.recipients[0].recipient_id.as_str();
        let not_found = |result: Result<(), signet_esign::EsignError>| {
            assert_refused(result, "not-found", 404, NOT_FOUND);
        };
        not_found(h.esign.get_envelope(beta, id).await.map(drop));
        not_found(h.esign.cancel_envelope(beta, id, None).await.map(drop));
        not_found(h.esign.delete_envelope(beta, id).await.map(drop));
        not_found(h.esign.resend_request(beta, id, rid).await.map(drop));
        not_found(
            h.esign
                .replace_recipient(
                    beta,
                    &args(json!({ "envelope_id": id, "recipient_id": rid, "name": DAN.name, "email": DAN.email })),
                )
                .await
                .map(drop),
        );
        not_found(
            h.esign
                .list_events(beta, &args(json!({ "envelope_id": id })))
                .await
                .map(drop),
        );
        not_found(
            h.esign
                .list_emails(beta, &args(json!({ "envelope_id": id })))
                .await
                .map(drop),
        );
        not_found(h.esign.get_deliverables(beta, id).await.map(drop));
        let after = h.get(id).await;
        assert_eq!(after.status, before.status);
        assert_eq!(statuses(&after), statuses(&before));
        assert_eq!(h.new_events(id, seen).await.len(), 0);
    }
    // Beta's own views are empty.
    let listed = h
        .esign
        .list_envelopes(beta, &args(json!({})))
        .await
        .unwrap();
    assert_eq!(listed["envelopes"], json!([]));
    let events = h.esign.list_events(beta, &args(json!({}))).await.unwrap();
    assert_eq!(events["events"], json!([]));
    let emails = h.esign.list_emails(beta, &args(json!({}))).await.unwrap();
    assert_eq!(emails["emails"], json!([]));
    h.finish_processing(&envelopes[0].envelope_id).await;
}
