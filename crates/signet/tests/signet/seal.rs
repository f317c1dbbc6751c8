//! The seal end to end: a completed envelope's deliverable is sealed by the
//! instance (or the operator's PKCS#12 certificate, or with a timestamp from
//! a TSA on loopback), and poppler's `pdfsig`, pyHanko, `signet verify` and
//! the public `/verify` page agree on a valid, a modified and a foreign PDF.

use serde_json::{Value, json};
use signet_store::testing::TestDb;

use crate::support::{
    Fixture, envelope_args, fixture, fixture_with, fixture_with_env, hidden_inputs, pages_text,
    path_of, sign,
};
use signet_testkit::judges::{free_port, operator_pkcs12, pdfsig, pyhanko, tsa_on};

signet_store::store_tests!(
    a_deliverable_is_sealed_and_every_verifier_agrees,
    a_simple_deliverable_has_the_documents_only_and_is_sealed,
    an_operator_pkcs12_certificate_seals_the_deliverable,
    a_tsa_outage_delays_the_deliverable_until_the_timestamp_comes,
);

/// One signer, Alice; returns the envelope id once her deliverable exists.
async fn completed(f: &Fixture, extra: Value) -> String {
    let mut args = envelope_args(
        &f.docs,
        "sequential",
        json!([{ "key": "alice", "name": "Alice Martin", "email": "alice@example.com" }]),
    );
    if let (Some(args), Some(extra)) = (args.as_object_mut(), extra.as_object()) {
        args.extend(extra.clone());
    }
    let id = f.created_in_progress(args).await;
    let link = f.agent.link_for(&id, "alice@example.com").await;
    f.server.get(&path_of(&link)).await;
    assert_eq!(sign(&f.server, &link, "Alice Martin").await.status(), 303);
    f.agent.wait_for(&id, "envelope.completed").await;
    id
}

async fn download(f: &Fixture, envelope_id: &str) -> (Value, Vec<u8>) {
    f.agent.wait_for(envelope_id, "deliverable.generated").await;
    let listed = f
        .agent
        .ok("get_deliverables", json!({ "envelope_id": envelope_id }))
        .await;
    let deliverable = listed["deliverables"][0].clone();
    let url = deliverable["download_url"].as_str().unwrap();
    let pdf = f
        .server
        .get(&path_of(url))
        .await
        .bytes()
        .await
        .unwrap()
        .to_vec();
    (deliverable, pdf)
}

/// What `/verify` says, asked as a browser would (the form's own proof).
async fn verify_page(f: &Fixture, pdf: &[u8]) -> Value {
    let form = f.server.get("/verify").await.text().await.unwrap();
    let fields = hidden_inputs(&form);
    let mut multipart = reqwest::multipart::Form::new();
    for (name, value) in fields {
        multipart = multipart.text(name, value);
    }
    let part = reqwest::multipart::Part::bytes(pdf.to_vec())
        .file_name("signed.pdf")
        .mime_str("application/pdf")
        .unwrap();
    let response = f
        .server
        .http
        .post(format!("{}/verify", f.server.base))
        .header("accept", "application/json")
        .multipart(multipart.part("file", part))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    response.json().await.unwrap()
}

/// `signet verify FILE --json`: the verdict and whether it exited 0.
async fn verify_cli(f: &Fixture, pdf: &[u8]) -> (Value, bool) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("file.pdf");
    std::fs::write(&path, pdf).unwrap();
    let out = f
        .server
        .cli(&["verify", path.to_str().unwrap(), "--json"], None)
        .await;
    (serde_json::from_str(&out.stdout).unwrap(), out.code == 0)
}

/// One byte changed inside the first page's content stream: still a PDF
/// every reader opens, no longer the one sealed.
fn tampered(pdf: &[u8]) -> Vec<u8> {
    let mut copy = pdf.to_vec();
    let at = copy.windows(7).position(|w| w == b"stream\n").unwrap() + 20;
    copy[at] ^= 0x01;
    copy
}

async fn a_deliverable_is_sealed_and_every_verifier_agrees(db: TestDb) {
    let f = fixture(db, None).await;
    let id = completed(&f, json!({})).await;
    let (deliverable, pdf) = download(&f, &id).await;

    // The seal certificate, as an operator gives it to readers.
    let shown = f.server.cli(&["seal", "show", "--json"], None).await;
    assert_eq!(shown.code, 0, "{}", shown.stderr);
    let seal: Value = serde_json::from_str(&shown.stdout).unwrap();
    assert_eq!(seal["origin"], "instance");
    assert_eq!(seal["self_signed"], true);
    let fingerprint = seal["sha256"].as_str().unwrap();
    assert_eq!(fingerprint.len(), 64);
    assert!(
        seal["subject"].as_str().unwrap().contains(&f.server.base),
        "the certificate names the instance: {seal}"
    );
    let pem = f.server.cli(&["seal", "show", "--pem"], None).await.stdout;
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
    assert_eq!(deliverable["seal"]["certificate_sha256"], fingerprint);
    assert_eq!(deliverable["deliverable_type"], "standard");

    // The certificate of completion closes the document.
    let pages = signet_esign::pdf::page_count(&pdf).unwrap();
    let last = signet_esign::pdf::page_text(&pdf, pages).unwrap();
    let all = pages_text(&pdf, 4);
    for text in [
        "Certificate of completion",
        &id,
        fingerprint,
        "Alice Martin",
        "Authentication: email link",
        "Consent to sign electronically: agreed at",
        "Sent: 20",
        "Viewed: 20",
        "IP address: 127.0.0.1",
    ] {
        assert!(
            all.contains(text),
            "{text} missing from the certificate:\n{all}"
        );
    }
    assert!(
        last.contains("Recipients") && last.contains("Documents"),
        "{last}"
    );

    // poppler and pyHanko: valid, by the seal certificate, and a changed
    // byte breaks it for both.
    let modified = tampered(&pdf);
    if let Some(report) = pdfsig(&pdf) {
        assert!(
            report.contains("Signature Type: ETSI.CAdES.detached"),
            "{report}"
        );
        assert!(report.contains("Total document signed"), "{report}");
        assert!(
            report.contains("Signature Validation: Signature is Valid."),
            "{report}"
        );
        let report = pdfsig(&modified).unwrap();
        assert!(!report.contains("Signature is Valid."), "{report}");
    }
    // A PDF sealed elsewhere, by a certificate readers here do not trust.
    let (stranger, _) =
        signet_seal::SealKey::generate("https://elsewhere.example", 1_796_000_000).unwrap();
    let foreign = signet_seal::seal(
        &signet_esign::pdf::sample(1, "Elsewhere"),
        &stranger,
        "D:20261202040000Z",
        "Sealed elsewhere",
    )
    .unwrap();
    let hanko = pyhanko(&pdf, &[&pem]).map(|valid| {
        (
            valid,
            pyhanko(&modified, &[&pem]).unwrap(),
            pyhanko(&foreign, &[&pem]).unwrap(),
        )
    });
    if let Some(((ok, report), (_, modified_report), (_, foreign_report))) = &hanko {
        assert!(ok, "pyHanko: {report}");
        assert!(
            report.contains("The signature is judged VALID.")
                && report.contains("The signer's certificate is trusted."),
            "{report}"
        );
        assert!(
            !modified_report.contains("judged VALID"),
            "pyHanko accepted the modified file: {modified_report}"
        );
        assert!(
            !foreign_report.contains("judged VALID"),
            "pyHanko trusted a foreign seal: {foreign_report}"
        );
    }

    // signet verify and /verify say the same.
    for (file, result, exit_ok) in [
        (&pdf, "valid", true),
        (&modified, "modified", false),
        (&foreign, "unknown", false),
    ] {
        let (cli, success) = verify_cli(&f, file).await;
        let page = verify_page(&f, file).await;
        assert_eq!(cli["result"], result, "{cli}");
        assert_eq!(page["result"], result, "{page}");
        assert_eq!(success, exit_ok, "{cli}");
        if result != "unknown" {
            assert_eq!(cli["envelope_id"], id.as_str());
            assert_eq!(page["envelope_id"], id.as_str());
            assert_eq!(page["certificate_sha256"], fingerprint);
            assert_eq!(page["timestamped"], false);
        }
    }
    // Bytes appended after the seal (an incremental update) are a change.
    let mut appended = pdf.clone();
    appended.extend_from_slice(b"\n% appended\n");
    assert_eq!(verify_page(&f, &appended).await["result"], "modified");

    // The page itself: a form, a verdict for people, refusals for forgeries.
    let page = f.server.get("/verify").await;
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    let form = page.text().await.unwrap();
    assert!(form.contains("enctype=\"multipart/form-data\""), "{form}");
    let part = reqwest::multipart::Part::bytes(pdf.clone()).file_name("x.pdf");
    let forged = f
        .server
        .http
        .post(format!("{}/verify", f.server.base))
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    assert!(
        forged
            .text()
            .await
            .unwrap()
            .contains("did not come from this page")
    );
    let cross = f
        .server
        .http
        .post(format!("{}/verify", f.server.base))
        .header("sec-fetch-site", "cross-site")
        .header("accept", "application/json")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), 403);
    assert_eq!(cross.json::<Value>().await.unwrap()["error"], "cross_site");
    let mut multipart = reqwest::multipart::Form::new();
    for (name, value) in hidden_inputs(&form) {
        multipart = multipart.text(name, value);
    }
    let part = reqwest::multipart::Part::bytes(pdf.clone()).file_name("signed.pdf");
    let html = f
        .server
        .http
        .post(format!("{}/verify", f.server.base))
        .multipart(multipart.part("file", part))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Genuine and unmodified"), "{html}");
    assert!(html.contains(&id), "{html}");
}

async fn a_simple_deliverable_has_the_documents_only_and_is_sealed(db: TestDb) {
    let f = fixture(db, None).await;
    let problem = f
        .agent
        .problem(
            "create_envelope",
            json!({ "title": "x", "documents": [{ "url": format!("{}/nda.pdf", f.docs.base) }], "recipients": [{ "key": "a", "name": "A", "email": "a@example.com" }], "deliverable": { "type": "fancy" } }),
            "validation-error",
        )
        .await;
    assert!(
        problem.to_string().contains("deliverable.type"),
        "{problem}"
    );
    let id = completed(&f, json!({ "deliverable": { "type": "simple" } })).await;
    let envelope = f
        .agent
        .ok("get_envelope", json!({ "envelope_id": id }))
        .await;
    assert_eq!(envelope["deliverable"]["type"], "simple");
    let (deliverable, pdf) = download(&f, &id).await;
    assert_eq!(deliverable["deliverable_type"], "simple");
    assert_eq!(
        signet_esign::pdf::page_count(&pdf).unwrap(),
        3,
        "NDA (2) and annex (1) only"
    );
    assert!(
        !signet_esign::pdf::page_text(&pdf, 3)
            .unwrap()
            .contains("Certificate of completion")
    );
    assert_eq!(verify_page(&f, &pdf).await["result"], "valid");
}

async fn an_operator_pkcs12_certificate_seals_the_deliverable(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let Some(p12) = operator_pkcs12(dir.path(), "operator pass") else {
        return;
    };
    let env = vec![("SIGNET_SEAL_PKCS12_PASSWORD", "operator pass".to_owned())];
    let f = fixture_with_env(db, env, |flags| flags.seal_pkcs12 = Some(p12)).await;
    assert_eq!(
        f.server.running.state.seal_origin,
        signet::seal::SealOrigin::Operator
    );
    let id = completed(&f, json!({})).await;
    let (_, pdf) = download(&f, &id).await;
    if let Some(report) = pdfsig(&pdf) {
        assert!(
            report.contains("Signer Certificate Common Name: Acme seal"),
            "{report}"
        );
        assert!(
            report.contains("Signature Validation: Signature is Valid."),
            "{report}"
        );
    }
    // Readers who trust the operator's root trust the seal.
    let root = std::fs::read_to_string(dir.path().join("ca.pem")).unwrap();
    if let Some((ok, report)) = pyhanko(&pdf, &[&root]) {
        assert!(
            ok && report.contains("The signature is judged VALID.")
                && report.contains("The signer's certificate is trusted."),
            "{report}"
        );
    }
    let verdict = verify_page(&f, &pdf).await;
    assert_eq!(verdict["result"], "valid", "{verdict}");
    assert!(
        verdict["signer"].as_str().unwrap().contains("CN=Acme seal"),
        "{verdict}"
    );
}

async fn a_tsa_outage_delays_the_deliverable_until_the_timestamp_comes(db: TestDb) {
    // The TSA's port is chosen now; nothing listens there yet.
    let port = free_port();
    let tsa_url = format!("http://127.0.0.1:{port}/signet/tsa/tsa");
    let f = fixture_with(db, None, |flags| {
        let docs = flags.fetch_allow_hosts.clone().unwrap_or_default();
        flags.fetch_allow_hosts = Some(format!("{docs},127.0.0.1:{port}"));
        flags.tsa_url = Some(tsa_url);
    })
    .await;
    let id = completed(&f, json!({})).await;
    let events = f.agent.wait_for(&id, "deliverable.failed").await;
    let failed = events
        .iter()
        .find(|e| e["type"] == "deliverable.failed")
        .unwrap();
    assert_eq!(failed["data"]["attempt"], 1, "{failed}");
    assert!(
        failed["data"]["reason"]
            .as_str()
            .unwrap()
            .contains("timestamp authority could not be reached"),
        "{failed}"
    );
    let delayed = f
        .agent
        .problem(
            "get_deliverables",
            json!({ "envelope_id": id }),
            "deliverable-delayed",
        )
        .await;
    assert!(
        delayed["detail"]
            .as_str()
            .unwrap()
            .contains("retries by itself"),
        "{delayed}"
    );

    // The TSA comes back; once the back-off is over the retry succeeds.
    let Some(tsa) = tsa_on(port).await else {
        return;
    };
    f.server.clock.advance(std::time::Duration::from_secs(31));
    f.server
        .running
        .state
        .esign
        .retry_deliverables()
        .await
        .unwrap();
    f.agent.wait_for(&id, "deliverable.generated").await;
    let (deliverable, pdf) = download(&f, &id).await;
    assert!(
        deliverable["seal"]["timestamped_at"].is_string(),
        "{deliverable}"
    );
    let verdict = verify_page(&f, &pdf).await;
    assert_eq!(verdict["result"], "valid", "{verdict}");
    assert_eq!(verdict["timestamped"], true, "{verdict}");
    assert!(
        verdict["timestamp_authority"]
            .as_str()
            .unwrap()
            .contains("Test Time Stamping Authority"),
        "{verdict}"
    );
    if let Some(report) = pdfsig(&pdf) {
        assert!(
            report.contains("Signature Validation: Signature is Valid."),
            "{report}"
        );
    }
    let pem = f.server.cli(&["seal", "show", "--pem"], None).await.stdout;
    if let Some((ok, report)) = pyhanko(&pdf, &[&pem, &tsa.root_pem()]) {
        assert!(ok, "{report}");
        assert!(
            report.contains("The signature is judged VALID.")
                && report.contains("The signer's certificate is trusted."),
            "{report}"
        );
        assert!(
            report.contains("The timestamp token is cryptographically sound."),
            "{report}"
        );
        assert!(
            report.contains("This timestamp is backed by a time stamping authority."),
            "{report}"
        );
    }
}
