//! The e-signature tools end to end: a real MCP client drives the whole
//! agent story against the real server, documents come from a loopback
//! host on the fetch allow-list, the signing page is used over HTTP, and
//! live mode talks to a loopback SMTP sink.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use signet_store::audit::Actor;
use signet_store::testing::TestDb;

use crate::support::{
    EMAIL, connect, connect_as, envelope_args, fixture, path_of, press, sign, smtp_sink,
    start_instance, two_signers, types, unfold_quoted_printable,
};

signet_store::store_tests!(
    the_agent_story_from_envelope_to_deliverable,
    live_mode_sends_through_smtp,
    organizations_do_not_see_each_others_envelopes,
    create_envelope_reports_every_problem_at_once,
    cancel_and_delete_in_each_state,
    uploads_are_single_use_and_checked,
    resend_replace_and_reject,
    a_waiting_list_events_returns_when_an_event_arrives,
    an_event_committed_by_another_instance_wakes_the_long_poll,
    a_token_without_the_scope_is_refused_with_403,
);

async fn the_agent_story_from_envelope_to_deliverable(db: TestDb) {
    use rmcp::ServiceExt;
    use rmcp::model::{CallToolRequestParams, ReadResourceRequestParams};
    use rmcp::transport::streamable_http_client::{
        StreamableHttpClientTransport, StreamableHttpClientTransportConfig,
    };

    let f = fixture(db, None).await;
    let server = &f.server;
    // rmcp's client, with the token the authorization flow gave.
    let mcp_url = format!("{}/mcp", server.running.state.issuer);
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(mcp_url.as_str())
            .auth_header(f.agent.access.clone()),
    );
    let client = ().serve(transport).await.unwrap();
    let call_tool = |name: &'static str, args: Value| {
        let client = &client;
        async move {
            let result = client
                .call_tool(
                    CallToolRequestParams::new(name)
                        .with_arguments(args.as_object().unwrap().clone()),
                )
                .await
                .unwrap();
            assert_eq!(result.is_error, Some(false), "{name}: {result:?}");
            result.structured_content.unwrap()
        }
    };

    let tools = client.list_all_tools().await.unwrap();
    let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "cancel_envelope",
            "create_envelope",
            "delete_envelope",
            "get_deliverables",
            "get_email",
            "get_envelope",
            "list_emails",
            "list_envelopes",
            "list_events",
            "mint_upload_url",
            "replace_recipient",
            "resend_request",
            "whoami",
        ]
    );
    let annotations = |name: &str| {
        tools
            .iter()
            .find(|t| t.name == name)
            .unwrap()
            .annotations
            .clone()
            .unwrap()
    };
    assert_eq!(annotations("get_envelope").read_only_hint, Some(true));
    assert_eq!(annotations("cancel_envelope").destructive_hint, Some(true));
    assert_eq!(annotations("delete_envelope").idempotent_hint, Some(true));
    assert_eq!(
        annotations("replace_recipient").destructive_hint,
        Some(true)
    );
    let create_schema = &tools
        .iter()
        .find(|t| t.name == "create_envelope")
        .unwrap()
        .input_schema;
    assert!(
        create_schema["properties"]["recipients"].is_object(),
        "{create_schema:?}"
    );

    // Live mode is refused while the account's live mode is off, and then
    // because this server has no SMTP server.
    let mut live = envelope_args(&f.docs, "sequential", two_signers());
    live["mode"] = json!("live");
    f.agent
        .problem("create_envelope", live.clone(), "live-mode-disabled")
        .await;
    server
        .running
        .state
        .identity
        .set_live_mode(&Actor::Cli, &f.acme, true)
        .await
        .unwrap();
    let p = f
        .agent
        .problem("create_envelope", live, "live-mode-unavailable")
        .await;
    assert!(p["detail"].as_str().unwrap().contains("SIGNET_SMTP_URL"));

    let created = call_tool(
        "create_envelope",
        envelope_args(&f.docs, "sequential", two_signers()),
    )
    .await;
    assert_eq!(created["status"], "processing");
    assert_eq!(created["mode"], "test");
    let id = created["envelope_id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    f.agent.wait_for(&id, "envelope.started").await;

    let envelope = call_tool("get_envelope", json!({ "envelope_id": id })).await;
    assert_eq!(envelope["status"], "in_progress");
    assert_eq!(envelope["topics"], json!(["nda", "q4_deals"]));
    assert_eq!(envelope["metadata"], json!({ "deal": "42" }));
    let documents = envelope["documents"].as_array().unwrap();
    assert_eq!(documents[0]["name"], "NDA.pdf");
    assert_eq!(documents[0]["pages"], 2);
    assert_eq!(documents[1]["name"], "annex.pdf");
    assert_eq!(documents[1]["pages"], 1);
    let hashes: Vec<String> = documents
        .iter()
        .map(|d| d["sha256"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(hashes[0].len(), 64);
    let recipients = envelope["recipients"].as_array().unwrap();
    assert_eq!(recipients[0]["status"], "sent");
    assert_eq!(
        recipients[1]["status"], "pending",
        "sequential: Bob waits for Alice"
    );

    // The first email holds Alice's link; Bob has none yet.
    let emails = call_tool("list_emails", json!({ "envelope_id": id })).await;
    let emails = emails["emails"].as_array().unwrap();
    assert_eq!(emails.len(), 1);
    assert_eq!(emails[0]["to"], "alice@example.com");
    assert_eq!(emails[0]["subject"], "Please sign: Mutual NDA");
    let email = call_tool("get_email", json!({ "email_id": emails[0]["email_id"] })).await;
    let alice_link = email["link"].as_str().unwrap().to_owned();
    assert!(email["body"].as_str().unwrap().contains(&alice_link));
    assert!(
        email["body"]
            .as_str()
            .unwrap()
            .contains("Please sign by Friday.")
    );

    // The signing page shows the envelope and serves the documents.
    let page = server.get(&path_of(&alice_link)).await;
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["cache-control"], "no-store");
    let html = page.text().await.unwrap();
    for text in [
        "Mutual NDA",
        "Please sign by Friday.",
        "NDA.pdf",
        "annex.pdf",
        "Alice Martin",
        "Decline",
    ] {
        assert!(html.contains(text), "{text} missing from the page");
    }
    let doc_path = html
        .split("href=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap())
        .find(|h| h.contains("/documents/"))
        .unwrap()
        .to_owned();
    let doc = server.get(&doc_path).await;
    assert_eq!(doc.status(), 200);
    assert_eq!(doc.headers()["content-type"], "application/pdf");
    assert_eq!(
        doc.bytes().await.unwrap().as_ref(),
        signet_esign::pdf::sample(2, "NDA").as_slice()
    );

    // An empty signature is refused on the page itself.
    let empty = sign(server, &alice_link, "  ").await;
    assert_eq!(empty.status(), 422);
    assert!(
        empty
            .text()
            .await
            .unwrap()
            .contains("Type your full name to sign.")
    );

    let signed = sign(server, &alice_link, "Alice Martin").await;
    assert_eq!(signed.status(), 303);
    let after = server
        .get(&path_of(&alice_link))
        .await
        .text()
        .await
        .unwrap();
    assert!(after.contains("Thank you: you have signed."));
    assert!(!after.contains("name=\"signature\""), "no form once signed");
    let again = sign(server, &alice_link, "Alice Martin").await;
    assert_eq!(again.status(), 409);

    // Bob is released and emailed.
    f.agent.wait_for(&id, "recipient.sent").await;
    let bob_link = f.agent.link_for(&id, "bob@example.com").await;
    assert_ne!(bob_link, alice_link);
    server.get(&path_of(&bob_link)).await;
    let started = Instant::now();
    assert_eq!(sign(server, &bob_link, "Bob Chen").await.status(), 303);
    let events = f.agent.wait_for(&id, "deliverable.generated").await;
    let signature_to_deliverable = started.elapsed();
    eprintln!("signature to deliverable.generated: {signature_to_deliverable:?}");
    assert_eq!(
        types(&events),
        [
            "envelope.created",
            "envelope.started",
            "recipient.released",
            "recipient.sent",
            "recipient.viewed",
            "recipient.consented",
            "recipient.completed",
            "recipient.released",
            "recipient.sent",
            "recipient.viewed",
            "recipient.consented",
            "recipient.completed",
            "envelope.completed",
            "deliverable.generated",
        ]
    );

    let envelope = call_tool("get_envelope", json!({ "envelope_id": id })).await;
    assert_eq!(envelope["status"], "completed");
    assert!(envelope["completed_at"].is_string());
    let deliverables = call_tool("get_deliverables", json!({ "envelope_id": id })).await;
    let deliverable = &deliverables["deliverables"][0];
    let download = deliverable["download_url"].as_str().unwrap().to_owned();
    let pdf = server.get(&path_of(&download)).await;
    assert_eq!(pdf.status(), 200);
    assert_eq!(pdf.headers()["content-type"], "application/pdf");
    let pdf = pdf.bytes().await.unwrap().to_vec();
    let pages = signet_esign::pdf::page_count(&pdf).unwrap();
    assert!(
        pages >= 4,
        "2 + 1 document pages and the audit trail: {pages}"
    );
    assert_eq!(deliverable["pages"], pages);
    assert!(
        signet_esign::pdf::page_text(&pdf, 1)
            .unwrap()
            .contains("NDA page 1")
    );
    assert!(
        signet_esign::pdf::page_text(&pdf, 3)
            .unwrap()
            .contains("Annex page 1")
    );
    let last = signet_esign::pdf::page_text(&pdf, pages).unwrap();
    for text in [
        "Alice Martin",
        "alice@example.com",
        "Bob Chen",
        "bob@example.com",
        "127.0.0.1",
        &hashes[0],
        &hashes[1],
    ] {
        assert!(
            last.contains(text),
            "{text} missing from the last page:\n{last}"
        );
    }

    // Completion emails carry a download link too.
    let emails = call_tool("list_emails", json!({ "envelope_id": id })).await;
    let completed: Vec<&Value> = emails["emails"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "completed")
        .collect();
    assert_eq!(completed.len(), 2);
    assert!(
        completed[0]["link"]
            .as_str()
            .unwrap()
            .contains("/deliverables/")
    );

    // The resource template returns what get_envelope returns.
    let resources = client.list_all_resources().await.unwrap();
    let uri = format!("signet://envelope/{id}");
    assert!(resources.iter().any(|r| r.uri == uri));
    let templates = client.list_all_resource_templates().await.unwrap();
    assert_eq!(templates[0].uri_template, "signet://envelope/{envelope_id}");
    let read = client
        .read_resource(ReadResourceRequestParams::new(uri.clone()))
        .await
        .unwrap();
    let text = match &read.contents[0] {
        rmcp::model::ResourceContents::TextResourceContents { text, .. } => text.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), envelope);

    // Lists filter by topic and status.
    let listed = call_tool("list_envelopes", json!({ "topic": "nda" })).await;
    assert_eq!(listed["envelopes"][0]["envelope_id"], id.as_str());
    let listed = call_tool("list_envelopes", json!({ "status": "canceled" })).await;
    assert_eq!(listed["envelopes"], json!([]));

    // The download link lasts an hour.
    server.clock.advance(Duration::from_secs(3601));
    assert_eq!(server.get(&path_of(&download)).await.status(), 403);
    let tampered = download.replace("signature=", "signature=A");
    assert_eq!(server.get(&path_of(&tampered)).await.status(), 403);
    let _ = client.cancel().await;
    f.server.running.stop().await.unwrap();
}

async fn live_mode_sends_through_smtp(db: TestDb) {
    let (smtp, mut inbox) = smtp_sink().await;
    let f = fixture(db, Some(&smtp)).await;
    let server = &f.server;
    server
        .running
        .state
        .identity
        .set_live_mode(&Actor::Cli, &f.acme, true)
        .await
        .unwrap();
    let mut args = envelope_args(
        &f.docs,
        "sequential",
        json!([{ "key": "alice", "name": "Alice Martin", "email": "alice@example.com" }]),
    );
    args["mode"] = json!("live");
    let created = f.agent.ok("create_envelope", args).await;
    assert_eq!(created["mode"], "live");
    let id = created["envelope_id"].as_str().unwrap().to_owned();
    f.agent.wait_for(&id, "recipient.sent").await;

    let message = unfold_quoted_printable(&inbox.recv().await.unwrap());
    assert!(
        message.contains("To: \"Alice Martin\" <alice@example.com>")
            || message.contains("To: Alice Martin <alice@example.com>"),
        "{message}"
    );
    assert!(
        message.contains("Subject: Please sign: Mutual NDA"),
        "{message}"
    );
    let link = message
        .split_whitespace()
        .find(|w| w.contains("/sign/"))
        .unwrap_or_else(|| panic!("no link in {message}"))
        .to_owned();
    // The outbox shows test emails only: a live signing link is not for agents.
    let outbox = f
        .agent
        .ok("list_emails", json!({ "envelope_id": id }))
        .await;
    assert_eq!(outbox["emails"], json!([]));
    let envelope = f
        .agent
        .ok("get_envelope", json!({ "envelope_id": id }))
        .await;
    assert_eq!(envelope["recipients"][0]["status"], "sent");
    // The link from the real email works.
    assert_eq!(sign(server, &link, "Alice Martin").await.status(), 303);
    f.agent.wait_for(&id, "deliverable.generated").await;
    let completion = unfold_quoted_printable(&inbox.recv().await.unwrap());
    assert!(
        completion.contains("Subject: Completed: Mutual NDA"),
        "{completion}"
    );
    assert!(completion.contains("/deliverables/"));

    // Beta's account has live mode off.
    let ada_beta = connect(server, &f.browser, &f.agent.client_id, &f.beta).await;
    let mut args = envelope_args(&f.docs, "sequential", two_signers());
    args["mode"] = json!("live");
    ada_beta
        .problem("create_envelope", args, "live-mode-disabled")
        .await;
    f.server.running.stop().await.unwrap();
}

async fn organizations_do_not_see_each_others_envelopes(db: TestDb) {
    let f = fixture(db, None).await;
    let server = &f.server;
    let id = f
        .created_in_progress(envelope_args(&f.docs, "parallel", two_signers()))
        .await;
    let emails = f.agent.ok("list_emails", json!({})).await;
    let email_id = emails["emails"][0]["email_id"].clone();
    let beta = connect(server, &f.browser, &f.agent.client_id, &f.beta).await;

    for (name, args) in [
        ("get_envelope", json!({ "envelope_id": id })),
        ("cancel_envelope", json!({ "envelope_id": id })),
        ("delete_envelope", json!({ "envelope_id": id })),
        ("list_events", json!({ "envelope_id": id })),
        ("list_emails", json!({ "envelope_id": id })),
        ("get_deliverables", json!({ "envelope_id": id })),
        (
            "resend_request",
            json!({ "envelope_id": id, "recipient_id": "re_x" }),
        ),
        (
            "replace_recipient",
            json!({ "envelope_id": id, "recipient_id": "re_x", "name": "Eve", "email": "eve@example.com" }),
        ),
        ("get_email", json!({ "email_id": email_id })),
    ] {
        let p = beta.problem(name, args, "not-found").await;
        assert_eq!(p["status"], 404);
        assert!(
            !p.to_string().contains("Mutual NDA"),
            "{name} leaked data: {p}"
        );
    }
    assert_eq!(
        beta.ok("list_envelopes", json!({})).await["envelopes"],
        json!([])
    );
    assert_eq!(beta.ok("list_events", json!({})).await["events"], json!([]));
    assert_eq!(beta.ok("list_emails", json!({})).await["emails"], json!([]));
    let read = beta
        .request(&json!({ "jsonrpc": "2.0", "id": 1, "method": "resources/read", "params": { "uri": format!("signet://envelope/{id}") } }))
        .await;
    let body: Value = read.json().await.unwrap();
    assert!(body["error"].is_object(), "{body}");
    assert!(!body.to_string().contains("Mutual NDA"));
    // Acme still sees it.
    assert_eq!(
        f.agent
            .ok("get_envelope", json!({ "envelope_id": id }))
            .await["status"],
        "in_progress"
    );
    f.server.running.stop().await.unwrap();
}

async fn create_envelope_reports_every_problem_at_once(db: TestDb) {
    let f = fixture(db, None).await;
    let server = &f.server;
    let base = &server.running.state.issuer;
    let p = f
        .agent
        .problem(
            "create_envelope",
            json!({
                "title": "",
                "routing": "random",
                "topics": ["Nope"],
                "metadata": { "n": 1 },
                "documents": [
                    { "url": "http://example.com/a.pdf" },
                    { "url": "https://127.0.0.1/a.pdf" },
                    { "url": "https://169.254.169.254/latest/meta-data" },
                    { "url": "https://[::1]/a.pdf" },
                    { "url": format!("{base}/uploads/upl_aaaaaaaaaaaaaaaaaaaaaaaaaa") },
                ],
                "recipients": [
                    { "key": "a", "name": "A", "email": "a@example" },
                    { "key": "a", "name": "B", "email": "b@example.com", "type": "witness" },
                ],
            }),
            "validation-error",
        )
        .await;
    assert_eq!(p["status"], 422);
    let fields: Vec<&str> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "title",
            "routing",
            "topics[0]",
            "metadata.n",
            "documents[0].url",
            "documents[1].url",
            "documents[2].url",
            "documents[3].url",
            "documents[4].url",
            "recipients[0].email",
            "recipients[1].type",
            "recipients[1].key",
        ]
    );
    let message = |i: usize| p["errors"][i]["message"].as_str().unwrap().to_owned();
    assert!(message(4).contains("https"), "{}", message(4));
    assert!(message(8).contains("no such upload"), "{}", message(8));
    // Nothing was created.
    assert_eq!(
        f.agent.ok("list_envelopes", json!({})).await["envelopes"],
        json!([])
    );

    // Other tools' arguments are checked the same way.
    let p = f
        .agent
        .problem(
            "list_envelopes",
            json!({ "limit": 500, "status": "bogus", "cursor": "x" }),
            "validation-error",
        )
        .await;
    assert_eq!(p["errors"].as_array().unwrap().len(), 3, "{p}");
    f.agent
        .problem(
            "list_events",
            json!({ "wait_seconds": 31 }),
            "validation-error",
        )
        .await;
    f.agent
        .problem("get_envelope", json!({}), "validation-error")
        .await;
    f.agent
        .problem(
            "get_envelope",
            json!({ "envelope_id": "../../etc" }),
            "not-found",
        )
        .await;
    let p = f
        .agent
        .problem(
            "cancel_envelope",
            json!({ "envelope_id": "x", "reason": "r".repeat(2001) }),
            "validation-error",
        )
        .await;
    assert_eq!(p["errors"][0]["field"], "reason");

    // A document that is not a PDF fails the envelope, with the reason.
    let mut args = envelope_args(&f.docs, "sequential", two_signers());
    args["documents"] = json!([{ "url": format!("{}/notes.txt", f.docs.base) }]);
    let created = f.agent.ok("create_envelope", args).await;
    let id = created["envelope_id"].as_str().unwrap();
    let events = f.agent.wait_for(id, "envelope.failed").await;
    assert_eq!(types(&events), ["envelope.created", "envelope.failed"]);
    let envelope = f
        .agent
        .ok("get_envelope", json!({ "envelope_id": id }))
        .await;
    assert_eq!(envelope["status"], "failed");
    assert!(
        envelope["failure_reason"]
            .as_str()
            .unwrap()
            .contains("not a PDF"),
        "{envelope}"
    );
    // No one was asked.
    assert_eq!(
        f.agent
            .ok("list_emails", json!({ "envelope_id": id }))
            .await["emails"],
        json!([])
    );

    // A DOCX is accepted (converted to PDF where LibreOffice is installed).
    let mut args = envelope_args(&f.docs, "sequential", two_signers());
    args["documents"] = json!([{ "url": format!("{}/terms.docx", f.docs.base) }]);
    let id = f.created_in_progress(args).await;
    let envelope = f
        .agent
        .ok("get_envelope", json!({ "envelope_id": id }))
        .await;
    assert_eq!(envelope["documents"][0]["kind"], "docx");
    f.server.running.stop().await.unwrap();
}

async fn cancel_and_delete_in_each_state(db: TestDb) {
    let f = fixture(db, None).await;
    let server = &f.server;
    let ada = &f.agent;

    // processing: held until the document host answers.
    let mut args = envelope_args(&f.docs, "sequential", two_signers());
    args["documents"] = json!([{ "url": format!("{}/held.pdf", f.docs.base) }]);
    let held = ada.ok("create_envelope", args).await;
    let held_id = held["envelope_id"].as_str().unwrap().to_owned();
    assert_eq!(held["status"], "processing");
    let p = ada
        .problem(
            "cancel_envelope",
            json!({ "envelope_id": held_id }),
            "cannot-cancel",
        )
        .await;
    assert_eq!(p["status"], 409);
    assert!(p["detail"].as_str().unwrap().contains("processing"));
    ada.problem(
        "delete_envelope",
        json!({ "envelope_id": held_id }),
        "cannot-delete",
    )
    .await;
    ada.problem(
        "get_deliverables",
        json!({ "envelope_id": held_id }),
        "envelope-not-completed",
    )
    .await;
    f.docs.gate.add_permits(1);
    ada.wait_for(&held_id, "envelope.started").await;
    assert_eq!(f.docs.hits.load(Ordering::SeqCst), 1);

    // in_progress: cannot be deleted; can be canceled, once, with a reason.
    ada.problem(
        "delete_envelope",
        json!({ "envelope_id": held_id }),
        "cannot-delete",
    )
    .await;
    let alice_link = ada.link_for(&held_id, "alice@example.com").await;
    let canceled = ada
        .ok(
            "cancel_envelope",
            json!({ "envelope_id": held_id, "reason": "Terms changed" }),
        )
        .await;
    assert_eq!(canceled["status"], "canceled");
    assert_eq!(canceled["cancel_reason"], "Terms changed");
    let events = ada.wait_for(&held_id, "envelope.canceled").await;
    assert_eq!(types(&events).last(), Some(&"envelope.canceled"));
    // Alice is told, Bob (never asked) is not; her link no longer signs.
    let emails = ada
        .ok("list_emails", json!({ "envelope_id": held_id }))
        .await;
    let cancellations: Vec<&Value> = emails["emails"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "canceled")
        .collect();
    assert_eq!(cancellations.len(), 1);
    assert_eq!(cancellations[0]["to"], "alice@example.com");
    assert_eq!(
        sign(server, &alice_link, "Alice Martin").await.status(),
        409
    );
    assert!(
        server
            .get(&path_of(&alice_link))
            .await
            .text()
            .await
            .unwrap()
            .contains("no longer open")
    );
    ada.problem(
        "cancel_envelope",
        json!({ "envelope_id": held_id }),
        "cannot-cancel",
    )
    .await;

    // canceled: deletable, idempotently gone.
    let deleted = ada
        .ok("delete_envelope", json!({ "envelope_id": held_id }))
        .await;
    assert_eq!(deleted, json!({ "envelope_id": held_id, "deleted": true }));
    ada.problem(
        "get_envelope",
        json!({ "envelope_id": held_id }),
        "not-found",
    )
    .await;
    ada.problem(
        "delete_envelope",
        json!({ "envelope_id": held_id }),
        "not-found",
    )
    .await;
    assert_eq!(server.get(&path_of(&alice_link)).await.status(), 404);

    // failed: deletable.
    let mut args = envelope_args(&f.docs, "sequential", two_signers());
    args["documents"] = json!([{ "url": format!("{}/missing.pdf", f.docs.base) }]);
    let failed = ada.ok("create_envelope", args).await;
    let failed_id = failed["envelope_id"].as_str().unwrap().to_owned();
    ada.wait_for(&failed_id, "envelope.failed").await;
    let envelope = ada
        .ok("get_envelope", json!({ "envelope_id": failed_id }))
        .await;
    assert!(
        envelope["failure_reason"].as_str().unwrap().contains("404"),
        "{envelope}"
    );
    ada.problem(
        "cancel_envelope",
        json!({ "envelope_id": failed_id }),
        "cannot-cancel",
    )
    .await;
    ada.ok("delete_envelope", json!({ "envelope_id": failed_id }))
        .await;

    // completed: cannot be canceled; deletable with its deliverable.
    let id = f
        .created_in_progress(envelope_args(
            &f.docs,
            "parallel",
            json!([{ "key": "a", "name": "Ann", "email": "ann@example.com" }]),
        ))
        .await;
    let link = ada.link_for(&id, "ann@example.com").await;
    sign(server, &link, "Ann").await;
    ada.wait_for(&id, "deliverable.generated").await;
    ada.problem(
        "cancel_envelope",
        json!({ "envelope_id": id }),
        "cannot-cancel",
    )
    .await;
    ada.ok("delete_envelope", json!({ "envelope_id": id }))
        .await;
    assert_eq!(
        ada.ok("list_envelopes", json!({})).await["envelopes"],
        json!([])
    );
    f.server.running.stop().await.unwrap();
}

async fn uploads_are_single_use_and_checked(db: TestDb) {
    let f = fixture(db, None).await;
    let server = &f.server;
    let ada = &f.agent;
    let minted = ada
        .ok("mint_upload_url", json!({ "filename": "Offer.pdf" }))
        .await;
    assert_eq!(minted["method"], "PUT");
    assert_eq!(minted["headers"]["Content-Type"], "application/pdf");
    let put_url = format!(
        "{}{}",
        server.base,
        path_of(minted["upload_url"].as_str().unwrap())
    );
    let put = |content_type: &'static str, body: Vec<u8>| {
        let request = server
            .http
            .put(&put_url)
            .header("content-type", content_type)
            .body(body);
        async move { request.send().await.unwrap() }
    };
    let pdf = signet_esign::pdf::sample(3, "Offer");

    // Not yet uploaded: the document URL is refused at creation.
    let mut args = envelope_args(&f.docs, "sequential", two_signers());
    args["documents"] = json!([{ "url": minted["url"] }]);
    let p = ada
        .problem("create_envelope", args.clone(), "validation-error")
        .await;
    assert!(
        p["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("nothing has been uploaded"),
        "{p}"
    );

    let wrong_type = put("text/plain", pdf.clone()).await;
    assert_eq!(wrong_type.status(), 415);
    assert_eq!(
        wrong_type.json::<Value>().await.unwrap()["error"],
        "unsupported_media_type"
    );
    let too_big = put("application/pdf", vec![b'%'; 10 * 1024 * 1024 + 1]).await;
    assert_eq!(too_big.status(), 413);
    let not_pdf = put("application/pdf", b"%PDF-1.7 but nothing else".to_vec()).await;
    assert_eq!(not_pdf.status(), 422);
    let stored = put("application/pdf", pdf.clone()).await;
    assert_eq!(stored.status(), 200);
    let reused = put("application/pdf", pdf.clone()).await;
    assert_eq!(reused.status(), 403);
    assert_eq!(
        reused.json::<Value>().await.unwrap()["error"],
        "invalid_upload_url"
    );
    let forged = server
        .http
        .put(put_url.replace("token=", "token=x"))
        .header("content-type", "application/pdf")
        .body(pdf.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);

    // Another organization cannot use it.
    let beta = connect(server, &f.browser, &f.agent.client_id, &f.beta).await;
    let p = beta
        .problem("create_envelope", args.clone(), "validation-error")
        .await;
    assert!(
        p["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("no such upload"),
        "{p}"
    );

    let id = f.created_in_progress(args.clone()).await;
    let envelope = ada.ok("get_envelope", json!({ "envelope_id": id })).await;
    assert_eq!(envelope["documents"][0]["pages"], 3);
    assert_eq!(
        envelope["documents"][0]["name"], "Offer.pdf",
        "the upload's own name"
    );
    assert_eq!(envelope["documents"][0]["kind"], "pdf");

    // An unused PUT URL expires after five minutes, the document URL after a day.
    let late = ada.ok("mint_upload_url", json!({})).await;
    server.clock.advance(Duration::from_secs(301));
    let expired = server
        .http
        .put(format!(
            "{}{}",
            server.base,
            path_of(late["upload_url"].as_str().unwrap())
        ))
        .header("content-type", "application/pdf")
        .body(pdf)
        .send()
        .await
        .unwrap();
    assert_eq!(expired.status(), 403);
    server.clock.advance(Duration::from_secs(24 * 3600));
    let ada = &f.agent.refreshed().await;
    let p = ada
        .problem("create_envelope", args, "validation-error")
        .await;
    assert!(
        p["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("expired"),
        "{p}"
    );
    f.server.running.stop().await.unwrap();
}

async fn resend_replace_and_reject(db: TestDb) {
    let f = fixture(db, None).await;
    let server = &f.server;
    let ada = &f.agent;
    let recipients = json!([
        { "key": "carol", "name": "Carol", "email": "carol@example.com" },
        { "key": "dave", "type": "approver", "name": "Dave", "email": "dave@example.com" },
    ]);
    let id = f
        .created_in_progress(envelope_args(&f.docs, "parallel", recipients))
        .await;
    let envelope = ada.ok("get_envelope", json!({ "envelope_id": id })).await;
    let carol = envelope["recipients"][0]["recipient_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let dave = envelope["recipients"][1]["recipient_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        envelope["recipients"][1]["status"], "sent",
        "parallel: everyone at once"
    );
    let carol_link = ada.link_for(&id, "carol@example.com").await;

    // Resending waits 1 minute, then 2.
    let p = ada
        .problem(
            "resend_request",
            json!({ "envelope_id": id, "recipient_id": carol }),
            "resend-too-soon",
        )
        .await;
    assert_eq!(p["retry_after_seconds"], 60);
    server.clock.advance(Duration::from_secs(60));
    let resent = ada
        .ok(
            "resend_request",
            json!({ "envelope_id": id, "recipient_id": carol }),
        )
        .await;
    assert_eq!(resent["recipients"][0]["resend_count"], 1);
    let p = ada
        .problem(
            "resend_request",
            json!({ "envelope_id": id, "recipient_id": carol }),
            "resend-too-soon",
        )
        .await;
    assert_eq!(p["retry_after_seconds"], 120);
    let new_link = ada.link_for(&id, "carol@example.com").await;
    assert_ne!(new_link, carol_link, "a reminder carries a fresh link");
    assert_eq!(server.get(&path_of(&carol_link)).await.status(), 404);
    ada.problem(
        "resend_request",
        json!({ "envelope_id": id }),
        "validation-error",
    )
    .await;

    // Replacing Dave: Erin takes his key and turn, his link dies.
    let dave_link = ada.link_for(&id, "dave@example.com").await;
    let replaced = ada.ok("replace_recipient", json!({ "envelope_id": id, "recipient_id": dave, "name": "Erin", "email": "erin@example.com" })).await;
    let recipients = replaced["recipients"].as_array().unwrap();
    assert_eq!(recipients.len(), 3);
    let old = recipients
        .iter()
        .find(|r| r["recipient_id"] == dave.as_str())
        .unwrap();
    assert_eq!(old["status"], "replaced");
    let erin = recipients
        .iter()
        .find(|r| r["email"] == "erin@example.com")
        .unwrap();
    assert_eq!(erin["key"], "dave");
    assert_eq!(erin["type"], "approver");
    assert_eq!(erin["status"], "sent");
    assert_eq!(old["replaced_by"], erin["recipient_id"]);
    assert_eq!(server.get(&path_of(&dave_link)).await.status(), 404);
    let erin_link = ada.link_for(&id, "erin@example.com").await;
    let page = server.get(&path_of(&erin_link)).await.text().await.unwrap();
    assert!(page.contains(">Approve</button>"), "approvers approve");
    assert_eq!(sign(server, &erin_link, "Erin").await.status(), 303);
    let erin_id = erin["recipient_id"].as_str().unwrap();
    ada.problem("replace_recipient", json!({ "envelope_id": id, "recipient_id": erin_id, "name": "X", "email": "x@example.com" }), "cannot-replace").await;
    ada.problem(
        "resend_request",
        json!({ "envelope_id": id, "recipient_id": erin_id }),
        "cannot-resend",
    )
    .await;
    let p = ada
        .problem(
            "replace_recipient",
            json!({ "envelope_id": id, "recipient_id": carol, "name": "", "email": "nope" }),
            "validation-error",
        )
        .await;
    let fields: Vec<&str> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["name", "email"]);

    // Carol declines: she is rejected, the envelope stays in progress.
    let declined = press(
        server,
        &new_link,
        &[("action", "reject"), ("reason", "Wrong amount")],
    )
    .await;
    assert_eq!(declined.status(), 303);
    let events = ada.wait_for(&id, "recipient.rejected").await;
    let rejection = events
        .iter()
        .find(|e| e["type"] == "recipient.rejected")
        .unwrap();
    assert_eq!(rejection["data"]["reason"], "Wrong amount");
    assert_eq!(rejection["recipient_id"], carol.as_str());
    let envelope = ada.ok("get_envelope", json!({ "envelope_id": id })).await;
    assert_eq!(envelope["status"], "in_progress");
    assert_eq!(envelope["recipients"][0]["status"], "rejected");
    assert_eq!(
        envelope["recipients"][0]["rejection_reason"],
        "Wrong amount"
    );
    for kind in [
        "recipient.resent",
        "recipient.replaced",
        "recipient.completed",
    ] {
        assert!(types(&events).contains(&kind), "{kind}");
    }
    // Replacing the one who declined asks the replacement.
    let replaced = ada.ok("replace_recipient", json!({ "envelope_id": id, "recipient_id": carol, "name": "Frank", "email": "frank@example.com" })).await;
    let frank = replaced["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "Frank")
        .unwrap()
        .clone();
    assert_eq!(frank["status"], "sent");
    let frank_link = ada.link_for(&id, "frank@example.com").await;
    sign(server, &frank_link, "Frank").await;
    ada.wait_for(&id, "envelope.completed").await;
    f.server.running.stop().await.unwrap();
}

async fn a_waiting_list_events_returns_when_an_event_arrives(db: TestDb) {
    let f = fixture(db, None).await;
    let server = &f.server;
    let ada = &f.agent;
    let id = f
        .created_in_progress(envelope_args(&f.docs, "sequential", two_signers()))
        .await;
    let now = ada.ok("list_events", json!({ "envelope_id": id })).await;
    let cursor = now["next_cursor"].clone();
    assert_eq!(now["timed_out"], false);

    // Nothing new: waits, then says so.
    let quiet = ada
        .ok(
            "list_events",
            json!({ "envelope_id": id, "after": cursor, "wait_seconds": 1 }),
        )
        .await;
    assert_eq!(quiet["timed_out"], true);
    assert_eq!(quiet["events"], json!([]));
    assert_eq!(quiet["next_cursor"], cursor);

    // A parked long-poll wakes as soon as the signature lands.
    let notifier = server.running.state.esign.notifier().clone();
    let waiter = ada.long_poll(&id, &cursor);
    while notifier.waiting() == 0 {
        tokio::task::yield_now().await;
    }
    let link = ada.link_for(&id, "alice@example.com").await;
    server.get(&path_of(&link)).await; // recipient.viewed
    let (page, waited) = waiter.await.unwrap();
    assert_eq!(page["timed_out"], false);
    assert_eq!(page["events"][0]["type"], "recipient.viewed");
    assert!(
        waited < Duration::from_secs(15),
        "woken by the event, not the timeout: {waited:?}"
    );
    assert_eq!(notifier.waiting(), 0);
    f.server.running.stop().await.unwrap();
}

async fn a_token_without_the_scope_is_refused_with_403(db: TestDb) {
    let f = fixture(db, None).await;
    let server = &f.server;
    let read_only = connect_as(
        server,
        &f.browser,
        &f.agent.client_id,
        &f.acme,
        EMAIL,
        Some("envelopes:read"),
    )
    .await;
    assert_eq!(read_only.tokens["scope"], "envelopes:read");
    let request = json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": { "name": "create_envelope", "arguments": envelope_args(&f.docs, "sequential", two_signers()) } });
    let refused = read_only.request(&request).await;
    assert_eq!(refused.status(), 403);
    let p = server.running.state.issuer.as_str();
    assert_eq!(
        refused.headers()["www-authenticate"],
        format!(r#"Bearer resource_metadata="{p}/.well-known/oauth-protected-resource/mcp", scope="envelopes:write", error="insufficient_scope", error_description="The token lacks a scope this call needs""#).as_str()
    );
    assert_eq!(refused.headers()["cache-control"], "no-store");
    assert_eq!(
        refused.json::<Value>().await.unwrap(),
        json!({ "error": "insufficient_scope", "error_description": "This call needs the scope envelopes:write" })
    );
    // The tool did not run; reading works with the read scope.
    assert_eq!(
        read_only.ok("list_envelopes", json!({})).await["envelopes"],
        json!([])
    );
    // tools/list lists every tool, whatever the scopes.
    let listed = read_only
        .request(&json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/list" }))
        .await;
    let listed: Value = listed.json().await.unwrap();
    assert_eq!(listed["result"]["tools"].as_array().unwrap().len(), 13);
    f.server.running.stop().await.unwrap();
}

/// Several instances on one PostgreSQL database: a long-poll parked on one
/// wakes when another commits the event (LISTEN/NOTIFY), without polling.
/// SQLite deployments are a single instance, so there is nothing to test.
async fn an_event_committed_by_another_instance_wakes_the_long_poll(db: TestDb) {
    if !db.url.starts_with("postgres") {
        return;
    }
    let f = fixture(db, None).await;
    let server = &f.server;
    let ada = &f.agent;
    let id = f
        .created_in_progress(envelope_args(&f.docs, "sequential", two_signers()))
        .await;
    let cursor = ada.ok("list_events", json!({ "envelope_id": id })).await["next_cursor"].clone();
    let link = ada.link_for(&id, "alice@example.com").await;
    let allow = f.docs.authority.clone();
    let (other, _dir) = start_instance(&server.db.url, |flags| {
        flags.fetch_allow_hosts = Some(allow)
    })
    .await;

    let notifier = server.running.state.esign.notifier().clone();
    let waiter = ada.long_poll(&id, &cursor);
    while notifier.waiting() == 0 {
        tokio::task::yield_now().await;
    }
    // The recipient opens the link on the other instance.
    let page = reqwest::get(format!("http://{}{}", other.local_addr, path_of(&link)))
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let (events, waited) = waiter.await.unwrap();
    assert_eq!(events["timed_out"], false, "{events}");
    assert_eq!(events["events"][0]["type"], "recipient.viewed");
    assert!(
        waited < Duration::from_secs(15),
        "woken through NOTIFY: {waited:?}"
    );
    other.stop().await.unwrap();
    f.server.running.stop().await.unwrap();
}
