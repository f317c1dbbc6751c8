//! Places on the page, end to end: an agent places fields by placeholder
//! and by position, each signer fills their own through the real signing
//! page over HTTP, and an independent reader (poppler's `pdftotext -bbox`)
//! finds what they entered inside the boxes where the placeholders were.

use std::process::Command;

use serde_json::{Value, json};
use signet_esign::pdf::sample_text;
use signet_store::testing::TestDb;

use crate::support::{Fixture, fixture, fixture_with, path_of, press};

signet_store::store_tests!(
    placeholders_are_filled_by_each_signer_and_stamped_where_they_were,
    every_place_problem_is_a_precise_validation_error,
    the_signing_page_enforces_required_places_and_formats,
    a_word_document_is_converted_and_its_placeholders_work,
    without_a_converter_a_word_document_is_refused,
);

const DOCX: &str = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";

/// Whether LibreOffice is here; under CI it must be.
fn libreoffice() -> bool {
    let found = Command::new("soffice")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found || std::env::var_os("CI").is_none(),
        "LibreOffice (soffice) is needed in CI"
    );
    if !found {
        eprintln!("soffice is not installed: the DOCX conversion test is skipped");
    }
    found
}

const ALICE: &str = "Zoë Ørsted-Łukasz";
const BOB: &str = "Дмитрий Шостакович";

/// Page 1 names the second party; page 2 is where the first one signs.
fn contract() -> Vec<u8> {
    sample_text(&[
        &[
            "Services agreement",
            "Second party: [[name_b]]",
            "Agreed: [[agree_b]]",
        ],
        &[
            "Terms continue here.",
            "Signed by the first party: [[sig_a]]",
            "On [[date_a]]",
        ],
    ])
}

/// Uploads `bytes` through `mint_upload_url` and returns the document URL.
async fn upload(f: &Fixture, filename: &str, content_type: &str, bytes: Vec<u8>) -> String {
    let minted = f
        .agent
        .ok(
            "mint_upload_url",
            json!({ "filename": filename, "content_type": content_type }),
        )
        .await;
    let put = f
        .server
        .http
        .put(format!(
            "{}{}",
            f.server.base,
            path_of(minted["upload_url"].as_str().unwrap())
        ))
        .header("content-type", content_type)
        .body(bytes)
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200, "{}", put.text().await.unwrap());
    minted["url"].as_str().unwrap().to_owned()
}

fn recipients() -> Value {
    json!([
        { "key": "alice", "name": ALICE, "email": "alice@example.com" },
        { "key": "bob", "name": BOB, "email": "bob@example.com" },
    ])
}

fn places() -> Value {
    json!([
        { "key": "sig_a", "type": "signature", "recipient_key": "alice" },
        { "key": "date_a", "type": "recipient_completed_date", "recipient_key": "alice" },
        { "key": "name_b", "type": "text_input", "recipient_key": "bob", "capture_as": "second_party" },
        { "key": "agree_b", "type": "checkbox", "recipient_key": "bob", "capture_as": "agreed" },
        { "key": "init_b", "type": "initials", "recipient_key": "bob" },
    ])
}

/// A word `pdftotext -bbox` found: page (1-based), text and box in points
/// from the page's top-left corner.
#[derive(Debug, Clone)]
struct Word {
    page: usize,
    text: String,
    x_min: f64,
    y_min: f64,
    x_max: f64,
    y_max: f64,
}

fn pdftotext(pdf: &[u8], args: &[&str]) -> Option<String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signed.pdf");
    std::fs::write(&path, pdf).unwrap();
    let output = match Command::new("pdftotext")
        .args(args)
        .arg(&path)
        .arg("-")
        .output()
    {
        Ok(output) => output,
        Err(_) if std::env::var_os("CI").is_none() => {
            eprintln!("pdftotext is not installed: the page-position checks are skipped");
            return None;
        }
        Err(e) => panic!("pdftotext (poppler-utils) is needed in CI: {e}"),
    };
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(String::from_utf8(output.stdout).unwrap())
}

fn attribute(tag: &str, name: &str) -> f64 {
    let start = tag.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
    let end = start + tag[start..].find('"').unwrap();
    tag[start..end].parse().unwrap()
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

fn words(html: &str) -> Vec<Word> {
    let mut found = Vec::new();
    for (page, chunk) in html.split("<page ").skip(1).enumerate() {
        for item in chunk.split("<word ").skip(1) {
            let (tag, rest) = item.split_once('>').unwrap();
            let text = rest.split_once("</word>").unwrap().0;
            found.push(Word {
                page: page + 1,
                text: unescape(text),
                x_min: attribute(tag, "xMin"),
                y_min: attribute(tag, "yMin"),
                x_max: attribute(tag, "xMax"),
                y_max: attribute(tag, "yMax"),
            });
        }
    }
    found
}

/// The words inside `place`'s first box (with half a point of slack).
fn inside(words: &[Word], place: &Value) -> String {
    let b = &place["boxes"][0];
    let (page, left, top) = (
        b["page"].as_u64().unwrap() as usize,
        b["left"].as_f64().unwrap(),
        b["top"].as_f64().unwrap(),
    );
    let (right, bottom) = (
        left + b["width"].as_f64().unwrap(),
        top + b["height"].as_f64().unwrap(),
    );
    // A placeholder's own text is still in the content, under the white box.
    words
        .iter()
        .filter(|w| !w.text.starts_with("[["))
        .filter(|w| {
            w.page == page
                && w.x_min >= left - 0.5
                && w.x_max <= right + 0.5
                && w.y_min >= top - 0.5
                && w.y_max <= bottom + 0.5
        })
        .map(|w| w.text.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The envelope's signed PDF, downloaded as an agent would.
async fn signed_pdf(f: &Fixture, envelope_id: &str) -> Vec<u8> {
    let deliverables = f
        .agent
        .ok("get_deliverables", json!({ "envelope_id": envelope_id }))
        .await;
    let download = deliverables["deliverables"][0]["download_url"]
        .as_str()
        .unwrap();
    let response = f.server.get(&path_of(download)).await;
    assert_eq!(response.headers()["content-type"], "application/pdf");
    let pdf = response.bytes().await.unwrap().to_vec();
    // Sealed by the instance: poppler's pdfsig, an independent checker, agrees.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signed.pdf");
    std::fs::write(&path, &pdf).unwrap();
    if let Ok(output) = Command::new("pdfsig").arg("-nocert").arg(&path).output() {
        let report = String::from_utf8_lossy(&output.stdout);
        assert!(
            report.contains("Signature Type: ETSI.CAdES.detached"),
            "{report}"
        );
        assert!(report.contains("Total document signed"), "{report}");
        assert!(report.contains("Signature is Valid."), "{report}");
    }
    pdf
}

fn place<'a>(envelope: &'a Value, key: &str) -> &'a Value {
    envelope["documents"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|d| d["places"].as_array().unwrap())
        .find(|p| p["key"] == key)
        .unwrap_or_else(|| panic!("no place {key}: {envelope}"))
}

async fn placeholders_are_filled_by_each_signer_and_stamped_where_they_were(db: TestDb) {
    let f = fixture(db, None).await;
    let url = upload(&f, "Services.pdf", "application/pdf", contract()).await;
    let created = f
        .agent
        .ok(
            "create_envelope",
            json!({
                "title": "Services agreement",
                "timezone": "Europe/Paris",
                "documents": [{
                    "url": url,
                    "places": places(),
                    "fixed_positions": [{ "place_key": "init_b", "page": 2, "top": 700, "left": 400 }],
                }],
                "recipients": recipients(),
            }),
        )
        .await;
    let id = created["envelope_id"].as_str().unwrap().to_owned();
    // Uploaded documents are searched at creation: the boxes are known at once.
    let sig = place(&created, "sig_a");
    assert_eq!(sig["boxes"][0]["page"], 2, "{sig}");
    assert_eq!(sig["filled"], false);
    assert_eq!(place(&created, "name_b")["boxes"][0]["page"], 1);
    let init = &place(&created, "init_b")["boxes"][0];
    assert_eq!(
        (
            init["page"].as_u64(),
            init["left"].as_f64(),
            init["top"].as_f64()
        ),
        (Some(2), Some(400.0), Some(700.0))
    );
    assert_eq!(
        init["width"].as_f64(),
        Some(64.0),
        "the default size of initials"
    );
    f.agent.wait_for(&id, "envelope.started").await;

    // Alice: her page shows both pages with her fields, and the pages render.
    let alice = f.agent.link_for(&id, "alice@example.com").await;
    let page = f.server.get(&path_of(&alice)).await;
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert_eq!(page.headers()["referrer-policy"], "no-referrer");
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"id="place-sig_a""#), "{html}");
    assert!(
        !html.contains(r#"id="place-name_b""#),
        "Bob's field is not Alice's to fill"
    );
    assert!(
        !html.contains(r#"name="signature""#),
        "she signs in her place, not with a name for the envelope"
    );
    let image = format!("{}/documents/", path_of(&alice));
    let image_src = html
        .split("src=\"")
        .find(|s| s.starts_with(&image))
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let png = f.server.get(&image_src).await;
    assert_eq!(png.status(), 200);
    assert_eq!(png.headers()["content-type"], "image/png");
    assert!(png.bytes().await.unwrap().starts_with(b"\x89PNG\r\n\x1a\n"));

    let signed = press(
        &f.server,
        &alice,
        &[
            ("action", "sign"),
            ("place.sig_a", ALICE),
            ("consent", "yes"),
        ],
    )
    .await;
    assert_eq!(signed.status(), 303, "{}", signed.text().await.unwrap());

    // Bob sees Alice's signature (not editable) and fills his own.
    let bob = f.agent.link_for(&id, "bob@example.com").await;
    let html = f.server.get(&path_of(&bob)).await.text().await.unwrap();
    assert!(
        html.contains(ALICE),
        "Alice's filled signature is shown to Bob"
    );
    assert!(!html.contains(r#"id="place-sig_a""#));
    let signed = press(
        &f.server,
        &bob,
        &[
            ("action", "sign"),
            ("place.name_b", BOB),
            ("place.agree_b", "true"),
            ("place.init_b", "DS"),
            ("consent", "yes"),
        ],
    )
    .await;
    assert_eq!(signed.status(), 303, "{}", signed.text().await.unwrap());

    let events = f.agent.wait_for(&id, "deliverable.generated").await;
    let consented: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "recipient.consented")
        .collect();
    assert_eq!(consented.len(), 2);
    assert!(
        consented[0]["data"]["statement"]
            .as_str()
            .unwrap()
            .contains("sign electronically")
    );
    let bob_done = events
        .iter()
        .rfind(|e| e["type"] == "recipient.completed")
        .unwrap();
    assert_eq!(
        bob_done["data"]["captures"],
        json!({ "second_party": BOB, "agreed": true })
    );

    let envelope = f
        .agent
        .ok("get_envelope", json!({ "envelope_id": id }))
        .await;
    assert_eq!(
        envelope["captures"],
        json!({ "second_party": BOB, "agreed": true })
    );
    assert_eq!(envelope["timezone"], "Europe/Paris");
    assert_eq!(place(&envelope, "sig_a")["method"], "typed");
    assert_eq!(place(&envelope, "name_b")["value"], BOB);

    let pdf = signed_pdf(&f, &id).await;

    let Some(bbox) = pdftotext(&pdf, &["-bbox"]) else {
        return;
    };
    let found = words(&bbox);
    assert_eq!(
        inside(&found, place(&envelope, "sig_a")),
        ALICE,
        "{found:?}"
    );
    assert_eq!(inside(&found, place(&envelope, "name_b")), BOB);
    assert_eq!(
        inside(&found, place(&envelope, "init_b")),
        "DS",
        "the fixed position"
    );
    assert_eq!(inside(&found, place(&envelope, "agree_b")), "\u{2713}");
    let date = inside(&found, place(&envelope, "date_a"));
    assert_eq!(date.len(), 10, "a date: {date}");
    let text = pdftotext(&pdf, &["-layout"]).unwrap();
    for name in [ALICE, BOB] {
        assert!(
            text.contains(name),
            "{name} exactly, in the deliverable's text:\n{text}"
        );
    }
    assert!(
        text.contains("Fields"),
        "the audit trail lists the fields:\n{text}"
    );
    assert!(text.contains("sig_a (signature)"), "{text}");
}

async fn every_place_problem_is_a_precise_validation_error(db: TestDb) {
    let f = fixture(db, None).await;
    let url = upload(&f, "Services.pdf", "application/pdf", contract()).await;
    let problem = f
        .agent
        .problem(
            "create_envelope",
            json!({
                "title": "Broken",
                "timezone": "Mars/Olympus",
                "documents": [{
                    "url": url,
                    "places": [
                        { "key": "nowhere", "type": "signature", "recipient_key": "alice" },
                        { "key": "sig_a", "type": "signature", "recipient_key": "carol" },
                        { "key": "name_b", "type": "signature", "recipient_key": "approver" },
                        { "key": "agree_b", "type": "text_input", "recipient_key": "alice", "format": "([a-z" },
                        { "key": "date_a", "type": "stamp", "recipient_key": "alice" },
                        { "key": "offpage", "type": "text", "value": "x" },
                    ],
                    "fixed_positions": [{ "place_key": "offpage", "page": 9, "top": 10, "left": 10 }],
                }],
                "recipients": [
                    { "key": "alice", "name": "Alice", "email": "alice@example.com" },
                    { "key": "approver", "type": "approver", "name": "Ann", "email": "ann@example.com" },
                ],
            }),
            "validation-error",
        )
        .await;
    let errors: Vec<(String, String)> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["field"].as_str().unwrap().to_owned(),
                e["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let fields: Vec<&str> = errors.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(
        fields,
        [
            "timezone",
            "documents[0].places[3].format",
            "documents[0].places[4].type",
            "documents[0].places[1].recipient_key",
            "documents[0].places[2].recipient_key",
        ],
        "{problem}"
    );
    assert!(
        errors[1].1.starts_with("is not a valid regular expression"),
        "{errors:?}"
    );
    assert!(errors[3].1.contains("names no recipient"), "{errors:?}");
    assert!(
        errors[4]
            .1
            .contains("only signers may own signature places"),
        "{errors:?}"
    );

    // Once the request itself is right, the document is searched.
    let problem = f
        .agent
        .problem(
            "create_envelope",
            json!({
                "title": "Broken",
                "documents": [{
                    "url": url,
                    "places": [
                        { "key": "nowhere", "type": "signature", "recipient_key": "alice" },
                        { "key": "offpage", "type": "text", "value": "x" },
                    ],
                    "fixed_positions": [{ "place_key": "offpage", "page": 9, "top": 10, "left": 10 }],
                }],
                "recipients": [{ "key": "alice", "name": "Alice", "email": "alice@example.com" }],
            }),
            "validation-error",
        )
        .await;
    assert_eq!(
        problem["errors"][0]["field"], "documents[0].places[0]",
        "{problem}"
    );
    assert!(
        problem["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("[[nowhere]] was not found"),
        "{problem}"
    );
    assert_eq!(problem["errors"][1]["field"], "documents[0].places[1]");
    assert!(
        problem["errors"][1]["message"]
            .as_str()
            .unwrap()
            .contains("page 9 but the document has 2 pages"),
        "{problem}"
    );
}

async fn the_signing_page_enforces_required_places_and_formats(db: TestDb) {
    let f = fixture(db, None).await;
    let url = upload(&f, "Services.pdf", "application/pdf", contract()).await;
    let created = f
        .agent
        .ok(
            "create_envelope",
            json!({
                "title": "Formats",
                "documents": [{
                    "url": url,
                    "places": [
                        { "key": "sig_a", "type": "signature", "recipient_key": "alice" },
                        { "key": "name_b", "type": "text_input", "recipient_key": "alice", "format": "[0-9]{5}", "capture_as": "zip" },
                        { "key": "agree_b", "type": "checkbox", "recipient_key": "alice", "requirement": "optional" },
                    ],
                }],
                "recipients": [{ "key": "alice", "name": "Alice", "email": "alice@example.com" }],
            }),
        )
        .await;
    let id = created["envelope_id"].as_str().unwrap().to_owned();
    f.agent.wait_for(&id, "envelope.started").await;
    let alice = f.agent.link_for(&id, "alice@example.com").await;

    let refused = |form: &'static [(&'static str, &'static str)], expected: &'static str| {
        let (server, alice) = (&f.server, alice.clone());
        async move {
            let response = press(server, &alice, form).await;
            assert_eq!(response.status(), 422);
            let html = response.text().await.unwrap();
            assert!(html.contains(expected), "expected {expected:?} in {html}");
        }
    };
    refused(
        &[
            ("action", "sign"),
            ("place.sig_a", "Alice"),
            ("place.name_b", "12345"),
        ],
        "Agree to sign electronically",
    )
    .await;
    refused(
        &[
            ("action", "sign"),
            ("place.name_b", "12345"),
            ("consent", "yes"),
        ],
        "type it to continue",
    )
    .await;
    refused(
        &[
            ("action", "sign"),
            ("place.sig_a", "Alice"),
            ("place.name_b", "12a45"),
            ("consent", "yes"),
        ],
        "does not have the expected format",
    )
    .await;
    refused(
        &[
            ("action", "sign"),
            ("place.sig_a", "Alice"),
            ("place.sig_a.mode", "drawn"),
            ("place.sig_a.drawing", "[[[0,0],[2,2]]]"),
            ("place.name_b", "12345"),
            ("consent", "yes"),
        ],
        "the drawing could not be read",
    )
    .await;
    // Nothing was recorded by the refusals.
    let envelope = f
        .agent
        .ok("get_envelope", json!({ "envelope_id": id }))
        .await;
    assert_eq!(envelope["recipients"][0]["status"], "sent");
    assert_eq!(place(&envelope, "sig_a")["filled"], false);

    // A drawn signature, the optional box left unticked.
    let drawn = press(
        &f.server,
        &alice,
        &[
            ("action", "sign"),
            ("place.sig_a.mode", "drawn"),
            (
                "place.sig_a.drawing",
                "[[[0.1,0.5],[0.4,0.2],[0.9,0.8]],[[0.5,0.5]]]",
            ),
            ("place.name_b", "75001"),
            ("consent", "yes"),
        ],
    )
    .await;
    assert_eq!(drawn.status(), 303, "{}", drawn.text().await.unwrap());
    f.agent.wait_for(&id, "deliverable.generated").await;
    let envelope = f
        .agent
        .ok("get_envelope", json!({ "envelope_id": id }))
        .await;
    assert_eq!(place(&envelope, "sig_a")["method"], "drawn");
    assert_eq!(envelope["captures"], json!({ "zip": "75001" }));
    let pdf = signed_pdf(&f, &id).await;
    if let Some(text) = pdftotext(&pdf, &["-layout"]) {
        assert!(
            text.contains("sig_a (signature)") && text.contains("drawn"),
            "{text}"
        );
        assert!(text.contains("75001"));
    }
}

async fn a_word_document_is_converted_and_its_placeholders_work(db: TestDb) {
    if !libreoffice() {
        return;
    }
    let f = fixture(db, None).await;
    let docx = signet_esign::pdf::sample_docx(&["Offer letter", "Accepted by: [[sig_a]]"]);
    let url = upload(&f, "Offer.docx", DOCX, docx).await;
    let created = f
        .agent
        .ok(
            "create_envelope",
            json!({
                "title": "Offer",
                "documents": [{ "url": url, "places": [{ "key": "sig_a", "type": "signature", "recipient_key": "alice" }] }],
                "recipients": [{ "key": "alice", "name": ALICE, "email": "alice@example.com" }],
            }),
        )
        .await;
    let id = created["envelope_id"].as_str().unwrap().to_owned();
    f.agent.wait_for(&id, "envelope.started").await;
    let envelope = f
        .agent
        .ok("get_envelope", json!({ "envelope_id": id }))
        .await;
    assert_eq!(envelope["documents"][0]["kind"], "docx");
    assert_eq!(
        envelope["documents"][0]["pages"], 1,
        "LibreOffice's layout has one page"
    );
    assert_eq!(
        place(&envelope, "sig_a")["boxes"][0]["page"],
        1,
        "{envelope}"
    );

    let alice = f.agent.link_for(&id, "alice@example.com").await;
    let html = f.server.get(&path_of(&alice)).await.text().await.unwrap();
    let image = html
        .split("src=\"")
        .find(|s| s.contains("/pages/1"))
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let png = f.server.get(&image).await;
    assert_eq!(
        png.headers()["content-type"],
        "image/png",
        "the converted page renders"
    );
    let signed = press(
        &f.server,
        &alice,
        &[
            ("action", "sign"),
            ("place.sig_a", ALICE),
            ("consent", "yes"),
        ],
    )
    .await;
    assert_eq!(signed.status(), 303, "{}", signed.text().await.unwrap());
    f.agent.wait_for(&id, "deliverable.generated").await;
    let envelope = f
        .agent
        .ok("get_envelope", json!({ "envelope_id": id }))
        .await;
    let pdf = signed_pdf(&f, &id).await;
    let Some(bbox) = pdftotext(&pdf, &["-bbox"]) else {
        return;
    };
    let found = words(&bbox);
    assert!(
        found.iter().any(|w| w.page == 1 && w.text == "Accepted"),
        "the document's own text is in the signed PDF"
    );
    assert_eq!(inside(&found, place(&envelope, "sig_a")), ALICE);
}

async fn without_a_converter_a_word_document_is_refused(db: TestDb) {
    let f = fixture_with(db, None, |flags| {
        flags.docx_converter = Some("none".to_owned())
    })
    .await;
    let docx = signet_esign::pdf::sample_docx(&["Offer letter"]);
    let url = upload(&f, "Offer.docx", DOCX, docx).await;
    let problem = f
        .agent
        .problem(
            "create_envelope",
            json!({
                "title": "Offer",
                "documents": [{ "url": url }],
                "recipients": [{ "key": "alice", "name": "Alice", "email": "alice@example.com" }],
            }),
            "validation-error",
        )
        .await;
    assert_eq!(
        problem["errors"][0]["field"], "documents[0].url",
        "{problem}"
    );
    assert!(
        problem["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("cannot convert Word documents"),
        "{problem}"
    );
    // Fetched by URL, the same document fails the envelope with the same reason.
    let fetched = f
        .agent
        .ok(
            "create_envelope",
            json!({
                "title": "Offer",
                "documents": [{ "url": format!("{}/offer.docx", f.docs.base) }],
                "recipients": [{ "key": "alice", "name": "Alice", "email": "alice@example.com" }],
            }),
        )
        .await;
    let id = fetched["envelope_id"].as_str().unwrap().to_owned();
    f.agent.wait_for(&id, "envelope.failed").await;
    let envelope = f
        .agent
        .ok("get_envelope", json!({ "envelope_id": id }))
        .await;
    assert!(
        envelope["failure_reason"]
            .as_str()
            .unwrap()
            .contains("cannot convert Word documents"),
        "{envelope}"
    );
}
