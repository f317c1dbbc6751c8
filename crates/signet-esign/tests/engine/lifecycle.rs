//! The background work: `processing` ends in `in_progress` (documents
//! checked, recipients asked in routing order) or `failed` (nobody
//! asked), and `resume` picks up an envelope a stopped instance left in
//! `processing` or a completed one left without its deliverable.

use serde_json::json;
use signet_esign::Esign;
use signet_esign::model::{DocumentKind, EnvelopeStatus, Mode};
use signet_store::Store;
use signet_store::testing::TestDb;

use crate::support::*;

signet_store::store_tests!(
    processing_to_in_progress_asks_in_routing_order,
    processing_to_in_progress_in_parallel_asks_everyone,
    processing_to_failed_asks_nobody,
    resume_restarts_processing_left_by_a_stopped_instance,
    resume_generates_a_deliverable_left_by_a_stopped_instance,
);

async fn processing_to_in_progress_asks_in_routing_order(db: TestDb) {
    let h = engine(db).await;
    let created = h
        .create(Routing::Sequential, Doc::Upload, &[ANN, BOB])
        .await;
    assert_eq!(created.mode, Mode::Test);
    assert_eq!(
        statuses(&created),
        pairs(&[(ANN.email, "pending"), (BOB.email, "pending")])
    );
    assert_eq!(created.documents[0].name, "NDA.pdf");
    assert_eq!(created.documents[0].kind, None);
    let id = created.envelope_id.clone();
    let events = h.wait_for_event(&id, "envelope.started").await;
    let started = h.get(&id).await;
    assert_eq!(started.status, EnvelopeStatus::InProgress);
    assert_eq!(
        who(&h.events(&id).await, &started),
        pairs(&[
            ("envelope.created", ""),
            ("envelope.started", ""),
            ("recipient.released", ANN.email),
            ("recipient.sent", ANN.email),
        ])
    );
    assert_eq!(
        events[0]["data"],
        json!({ "mode": "test", "documents": 1, "recipients": 2 })
    );
    let document = &started.documents[0];
    assert_eq!(document.kind, Some(DocumentKind::Pdf));
    assert_eq!(document.pages, Some(2));
    assert_eq!(document.sha256.as_ref().map(String::len), Some(64));
    assert_eq!(
        statuses(&started),
        pairs(&[(ANN.email, "sent"), (BOB.email, "pending")])
    );
    let ann = recipient(&started, ANN.email);
    assert_eq!((ann.released_at, ann.sent_at), (Some(at(0)), Some(at(0))));
    assert_eq!(
        h.emails(&id).await,
        pairs(&[("signing_request", ANN.email)])
    );
    // The link in the email opens Ann's request.
    let token = h.link_for(&id, ANN.email).await;
    assert_eq!(h.ceremony(&token).await, Ok("Open".to_owned()));
}

async fn processing_to_in_progress_in_parallel_asks_everyone(db: TestDb) {
    let h = engine(db).await;
    let id = h
        .processing(Routing::Parallel, &[ANN, BOB])
        .await
        .envelope_id;
    let started = h.finish_processing(&id).await;
    assert_eq!(started.documents[0].name, "held.pdf");
    assert_eq!(started.documents[0].pages, Some(1));
    assert_eq!(
        who(&h.events(&id).await, &started),
        pairs(&[
            ("envelope.created", ""),
            ("envelope.started", ""),
            ("recipient.released", ANN.email),
            ("recipient.sent", ANN.email),
            ("recipient.released", BOB.email),
            ("recipient.sent", BOB.email),
        ])
    );
    assert_eq!(
        statuses(&started),
        pairs(&[(ANN.email, "sent"), (BOB.email, "sent")])
    );
    assert_eq!(
        h.emails(&id).await,
        pairs(&[
            ("signing_request", ANN.email),
            ("signing_request", BOB.email)
        ])
    );
}

async fn processing_to_failed_asks_nobody(db: TestDb) {
    let h = engine(db).await;
    let failed = h.failed(Routing::Parallel, &[ANN, BOB]).await;
    let id = failed.envelope_id.clone();
    let events = h.events(&id).await;
    assert_eq!(types(&events), ["envelope.created", "envelope.failed"]);
    assert_eq!(
        events[1]["data"],
        json!({ "reason": "Document 1 (notes.txt): The document is not a PDF" })
    );
    assert_eq!(
        statuses(&failed),
        pairs(&[(ANN.email, "pending"), (BOB.email, "pending")])
    );
    assert_eq!(failed.documents[0].kind, None);
    assert_eq!(failed.completed_at, None);
    h.assert_no_link_exists(&id).await;
}

/// A second instance over the same database, in a runtime of its own that
/// `run` stops at the end: work it spawned and did not finish is
/// abandoned, as when a process stops.
async fn stopped_instance<T, F>(h: &Engine, run: F) -> T
where
    T: Send + 'static,
    F: AsyncFnOnce(Esign) -> T + Send + 'static,
{
    let url = h.db.url.clone();
    let clock = h.clock.clone();
    let authority = h.docs.authority.clone();
    tokio::task::spawn_blocking(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let result = runtime.block_on(async move {
            let store = Store::connect(&url).await.unwrap();
            let (fetcher, mailer) = parts(&authority);
            let first = Esign::new(store, clock, PUBLIC_URL, fetcher, mailer);
            run(first).await
        });
        drop(runtime);
        result
    })
    .await
    .unwrap()
}

async fn resume_restarts_processing_left_by_a_stopped_instance(db: TestDb) {
    let h = engine(db).await;
    let arguments = args(
        h.envelope_args(Routing::Sequential, Doc::Held, &[ANN, BOB])
            .await,
    );
    let caller = h.caller.clone();
    let mut hits = h.docs.hits.clone();
    // The first instance accepts the envelope and stops while its
    // document is being fetched.
    let id = stopped_instance(&h, async move |first: Esign| {
        let created = first.create_envelope(&caller, &arguments).await.unwrap();
        hits.wait_for(|n| *n == 1).await.unwrap();
        created.envelope_id
    })
    .await;
    assert_eq!(h.get(&id).await.status, EnvelopeStatus::Processing);
    assert_eq!(types(&h.events(&id).await), ["envelope.created"]);

    h.esign.resume().await.unwrap();
    let mut hits = h.docs.hits.clone();
    hits.wait_for(|n| *n == 2).await.unwrap();
    // The abandoned request may still be queued at the gate: let both go.
    h.docs.release(2);
    h.wait_for_event(&id, "envelope.started").await;
    let started = h.get(&id).await;
    assert_eq!(
        who(&h.events(&id).await, &started),
        pairs(&[
            ("envelope.created", ""),
            ("envelope.started", ""),
            ("recipient.released", ANN.email),
            ("recipient.sent", ANN.email),
        ])
    );
    assert_eq!(
        h.emails(&id).await,
        pairs(&[("signing_request", ANN.email)])
    );
}

async fn resume_generates_a_deliverable_left_by_a_stopped_instance(db: TestDb) {
    let h = engine(db).await;
    let id = h.in_progress(Routing::Parallel, &[ANN]).await.envelope_id;
    let token = h.link_for(&id, ANN.email).await;
    // The first instance takes the last signature and stops before its
    // background generation of the deliverable ran.
    let page = stopped_instance(&h, async move |first: Esign| {
        use tower::ServiceExt;
        let request = axum::http::Request::post(format!("/sign/{token}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .extension(signet_http::ClientAddr(SIGNER_IP.parse().unwrap()))
            .body(axum::body::Body::from(
                "action=sign&signature=Ann+Lee&consent=yes",
            ))
            .unwrap();
        signet_esign::http::router(first)
            .oneshot(request)
            .await
            .unwrap()
            .status()
    })
    .await;
    assert_eq!(page, axum::http::StatusCode::SEE_OTHER);
    assert_eq!(h.get(&id).await.status, EnvelopeStatus::Completed);
    assert_refused(
        h.esign.get_deliverables(&h.caller, &id).await,
        "deliverable-not-ready",
        409,
        "The envelope is completed and its deliverable is being generated; try again in a moment",
    );

    h.esign.resume().await.unwrap();
    let events = h.wait_for_event(&id, "deliverable.generated").await;
    assert_eq!(
        types(&events)
            .iter()
            .filter(|t| **t == "deliverable.generated")
            .count(),
        1
    );
    let deliverables = h.esign.get_deliverables(&h.caller, &id).await.unwrap();
    assert_eq!(
        deliverables["deliverables"][0]["pages"]
            .as_i64()
            .map(|p| p > 2),
        Some(true)
    );
    assert!(
        h.emails(&id)
            .await
            .contains(&("completed".to_owned(), ANN.email.to_owned()))
    );
}
