//! Signer assurance by email code, end to end: an agent creates the
//! envelope over MCP with a recipient whose `authentication` has
//! `email_code`; the signer's browser (a cookie-keeping client) opens the
//! link, asks for a code, reads it from the outbox as the agent does
//! (`list_emails`), and enters it. The clock is the server's manual one.

use std::time::Duration;

use serde_json::{Value, json};
use signet_store::Clock;
use signet_store::audit::Actor;
use signet_store::testing::TestDb;

use crate::support::{
    Agent, Fixture, Server, envelope_args, fixture, path_of, press, sign, smtp_sink,
    unfold_quoted_printable,
};

signet_store::store_tests!(
    the_right_code_opens_the_ceremony_in_that_browser_only,
    five_wrong_codes_lock_the_code_until_a_new_one_is_sent,
    an_expired_code_is_refused,
    codes_are_sent_at_most_once_a_minute_and_five_times_an_hour,
    authentication_errors_are_field_named_and_replacements_keep_the_code,
    a_live_code_travels_by_smtp_and_is_never_stored,
);

const USER_AGENT: &str = "EmailCodeTest/1.0";

/// A signer's browser: keeps cookies, follows no redirects, says who it is.
struct Signer {
    http: reqwest::Client,
    base: String,
    /// The signing path (`/sign/TOKEN`).
    path: String,
}

impl Signer {
    fn new(server: &Server, link: &str) -> Self {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(USER_AGENT)
            .build()
            .unwrap();
        Self {
            http,
            base: server.base.clone(),
            path: path_of(link),
        }
    }

    async fn get(&self, suffix: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{}{suffix}", self.base, self.path))
            .send()
            .await
            .unwrap()
    }

    async fn post(&self, suffix: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(format!("{}{}{suffix}", self.base, self.path))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// The signing page: status and body.
    async fn page(&self) -> (u16, String) {
        let response = self.get("").await;
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }

    async fn send_code(&self) -> reqwest::Response {
        self.post("/send-code", &[]).await
    }

    async fn enter(&self, code: &str) -> reqwest::Response {
        self.post("/code", &[("code", code)]).await
    }
}

/// Alice must enter a code; Bob signs with the link alone.
fn alice_with_code_and_bob() -> Value {
    json!([
        { "key": "alice", "name": "Alice Martin", "email": "alice@example.com", "authentication": ["email_code"] },
        { "key": "bob", "name": "Bob Chen", "email": "bob@example.com" },
    ])
}

async fn envelope_with_codes(f: &Fixture) -> (String, String) {
    let id = f
        .created_in_progress(envelope_args(
            &f.docs,
            "parallel",
            alice_with_code_and_bob(),
        ))
        .await;
    let link = f.agent.link_for(&id, "alice@example.com").await;
    (id, link)
}

/// Every email of the envelope, newest first.
async fn emails(agent: &Agent, envelope_id: &str) -> Vec<Value> {
    agent
        .ok("list_emails", json!({ "envelope_id": envelope_id }))
        .await["emails"]
        .as_array()
        .unwrap()
        .clone()
}

/// The newest verification code sent to `to`, as the outbox shows it.
async fn code_for(agent: &Agent, envelope_id: &str, to: &str) -> String {
    let emails = emails(agent, envelope_id).await;
    let email = emails
        .iter()
        .find(|e| e["kind"] == "verification_code" && e["to"] == to)
        .unwrap_or_else(|| panic!("no code to {to}: {emails:?}"));
    assert!(email.get("link").is_none(), "{email}");
    email["code"].as_str().unwrap().to_owned()
}

async fn events(agent: &Agent, envelope_id: &str) -> Vec<Value> {
    agent
        .ok(
            "list_events",
            json!({ "envelope_id": envelope_id, "limit": 100 }),
        )
        .await["events"]
        .as_array()
        .unwrap()
        .clone()
}

async fn events_of(agent: &Agent, envelope_id: &str, kind: &str) -> Vec<Value> {
    events(agent, envelope_id)
        .await
        .into_iter()
        .filter(|e| e["type"] == kind)
        .collect()
}

fn assert_redirects_to_page(response: &reqwest::Response, signer: &Signer) {
    assert_eq!(response.status(), 303, "{response:?}");
    assert_eq!(
        response.headers()["location"].to_str().unwrap(),
        signer.path,
        "back to the signing page"
    );
}

async fn the_right_code_opens_the_ceremony_in_that_browser_only(db: TestDb) {
    let f = fixture(db, None).await;
    let server = &f.server;
    let (id, link) = envelope_with_codes(&f).await;
    let envelope = f
        .agent
        .ok("get_envelope", json!({ "envelope_id": id }))
        .await;
    assert_eq!(
        envelope["recipients"][0]["authentication"],
        json!(["email_code"])
    );
    assert_eq!(
        envelope["recipients"][1]["authentication"],
        json!(["email_link"])
    );
    let document_id = envelope["documents"][0]["document_id"]
        .as_str()
        .unwrap()
        .to_owned();

    // The link opens the code page: no documents, no code sent by a GET.
    let alice = Signer::new(server, &link);
    let (status, page) = alice.page().await;
    assert_eq!(status, 200);
    assert!(
        page.contains("enter a code we send to a\u{2022}\u{2022}\u{2022}@example.com"),
        "{page}"
    );
    assert!(
        page.contains(&format!(
            "<form method=\"post\" action=\"{}/send-code\">",
            alice.path
        )),
        "{page}"
    );
    assert!(page.contains("Send me a code"), "{page}");
    for hidden in [
        "NDA.pdf",
        "/documents/",
        "alice@example.com",
        "Alice Martin",
        "Please sign by Friday",
    ] {
        assert!(
            !page.contains(hidden),
            "{hidden} shown before the code: {page}"
        );
    }
    assert!(
        !emails(&f.agent, &id)
            .await
            .iter()
            .any(|e| e["kind"] == "verification_code"),
        "opening the link sends nothing"
    );
    assert!(
        events_of(&f.agent, &id, "recipient.viewed")
            .await
            .is_empty()
    );

    // Asking sends a code through the outbox, recorded with who asked.
    assert_redirects_to_page(&alice.send_code().await, &alice);
    let code = code_for(&f.agent, &id, "alice@example.com").await;
    assert_eq!(code.len(), 8, "{code}");
    assert!(code.bytes().all(|b| b.is_ascii_digit()), "{code}");
    let email_id = emails(&f.agent, &id)
        .await
        .iter()
        .find(|e| e["kind"] == "verification_code")
        .unwrap()["email_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let email = f
        .agent
        .ok("get_email", json!({ "email_id": email_id }))
        .await;
    assert_eq!(email["subject"], "Your code to open Mutual NDA");
    assert!(email["body"].as_str().unwrap().contains(&code), "{email}");
    let sent = events_of(&f.agent, &id, "recipient.code_sent").await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["data"]["method"], "email_code");
    assert_eq!(sent[0]["data"]["ip_address"], "127.0.0.1");
    assert_eq!(sent[0]["data"]["user_agent"], USER_AGENT);
    assert_eq!(
        sent[0]["recipient_id"],
        envelope["recipients"][0]["recipient_id"]
    );

    let (status, page) = alice.page().await;
    assert_eq!(status, 200);
    assert!(
        page.contains("Enter the code we sent to a\u{2022}\u{2022}\u{2022}@example.com."),
        "{page}"
    );
    assert!(
        page.contains("The code works for 10 minutes more; 5 attempts left."),
        "{page}"
    );
    assert!(
        page.contains(&format!("action=\"{}/code\"", alice.path)),
        "{page}"
    );
    assert!(
        page.contains("You can ask for a new code in 60 seconds."),
        "{page}"
    );

    // The right code: a session cookie for this signing path only.
    let entered = alice.enter(&code).await;
    assert_redirects_to_page(&entered, &alice);
    let cookie = entered.headers()["set-cookie"].to_str().unwrap().to_owned();
    let (pair, attributes) = cookie.split_once(';').unwrap();
    let (name, secret) = pair.split_once('=').unwrap();
    assert_eq!(name, "signet_signer");
    assert_eq!(secret.len(), 43, "{cookie}");
    assert_eq!(
        attributes.trim(),
        format!("Path={}; Max-Age=3600; HttpOnly; SameSite=Lax", alice.path),
        "no Secure on a plain-http public URL"
    );
    assert_eq!(entered.headers()["cache-control"], "no-store");
    let authenticated = events_of(&f.agent, &id, "recipient.authenticated").await;
    assert_eq!(authenticated.len(), 1);
    assert_eq!(authenticated[0]["data"]["method"], "email_code");
    assert_eq!(authenticated[0]["data"]["ip_address"], "127.0.0.1");
    assert_eq!(authenticated[0]["data"]["user_agent"], USER_AGENT);
    // The session secret is stored only as a digest.
    let stored: Vec<String> =
        signet_store::sqlx::query_scalar("SELECT secret_digest FROM recipient_sessions")
            .fetch_all(server.running.state.store.pool())
            .await
            .unwrap();
    assert_eq!(stored, [signet_store::random::digest(secret)]);

    // In that browser, the ceremony opens: page, documents, page images.
    let (status, page) = alice.page().await;
    assert_eq!(status, 200);
    assert!(page.contains("id=\"signing-form\""), "{page}");
    assert!(page.contains("NDA.pdf"), "{page}");
    assert_eq!(events_of(&f.agent, &id, "recipient.viewed").await.len(), 1);
    let document = alice.get(&format!("/documents/{document_id}")).await;
    assert_eq!(document.status(), 200);
    assert_eq!(document.headers()["content-type"], "application/pdf");
    let image = alice
        .get(&format!("/documents/{document_id}/pages/1"))
        .await;
    assert_eq!(image.status(), 200);
    assert_eq!(image.headers()["content-type"], "image/png");

    // Someone with the link alone (forwarded) is refused everywhere.
    let other = Signer::new(server, &link);
    let (status, page) = other.page().await;
    assert_eq!(status, 200);
    assert!(
        page.contains("a\u{2022}\u{2022}\u{2022}@example.com"),
        "{page}"
    );
    assert!(!page.contains("NDA.pdf"), "{page}");
    assert!(!page.contains("id=\"signing-form\""), "{page}");
    for refused in [
        other.get(&format!("/documents/{document_id}")).await,
        other
            .get(&format!("/documents/{document_id}?download=1"))
            .await,
        other
            .get(&format!("/documents/{document_id}/pages/1"))
            .await,
        other
            .post(
                "",
                &[
                    ("action", "sign"),
                    ("signature", "Mallory"),
                    ("consent", "yes"),
                ],
            )
            .await,
        other
            .post("", &[("action", "reject"), ("reason", "No")])
            .await,
    ] {
        assert_eq!(refused.status(), 403, "{refused:?}");
        assert!(refused.headers().get("set-cookie").is_none());
        let body = refused.text().await.unwrap();
        assert!(body.contains("Code required"), "{body}");
        assert!(!body.contains("%PDF"), "{body}");
    }
    // A made-up or a stolen-and-spent cookie does not pass either.
    let forged = reqwest::Client::new()
        .get(format!(
            "{}{}/documents/{document_id}",
            server.base, other.path
        ))
        .header("cookie", format!("signet_signer={}", "A".repeat(43)))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    // The code was used: it opens nothing a second time.
    let again = other.enter(&code).await;
    assert_eq!(again.status(), 422);
    let body = again.text().await.unwrap();
    assert!(
        body.contains("No code is waiting to be entered. Send a code first."),
        "{body}"
    );
    let envelope = f
        .agent
        .ok("get_envelope", json!({ "envelope_id": id }))
        .await;
    assert_eq!(
        envelope["recipients"][0]["status"], "sent",
        "nothing was signed"
    );

    // Bob (email_link) is unchanged: the link opens his ceremony, and the
    // code routes do nothing for him.
    let bob_link = f.agent.link_for(&id, "bob@example.com").await;
    let bob_page = server.get(&path_of(&bob_link)).await;
    assert_eq!(bob_page.status(), 200);
    assert!(
        bob_page
            .text()
            .await
            .unwrap()
            .contains("id=\"signing-form\"")
    );
    let bob = Signer::new(server, &bob_link);
    assert_redirects_to_page(&bob.send_code().await, &bob);
    assert!(
        !emails(&f.agent, &id)
            .await
            .iter()
            .any(|e| e["kind"] == "verification_code" && e["to"] == "bob@example.com")
    );

    // Alice signs in her browser; the completion names how each was authenticated.
    let signed = alice
        .post(
            "",
            &[
                ("action", "sign"),
                ("signature", "Alice Martin"),
                ("consent", "yes"),
            ],
        )
        .await;
    assert_redirects_to_page(&signed, &alice);
    assert_eq!(sign(server, &bob_link, "Bob Chen").await.status(), 303);
    let seen = f.agent.wait_for(&id, "envelope.completed").await;
    let completed: Vec<&Value> = seen
        .iter()
        .filter(|e| e["type"] == "recipient.completed")
        .collect();
    let by_key = |key: &str| {
        completed.iter().find(|e| e["data"]["key"] == key).unwrap()["data"]["authentication"]
            .clone()
    };
    assert_eq!(by_key("alice"), "email_code");
    assert_eq!(by_key("bob"), "email_link");
    // The certificate of completion says so too, with the code's events.
    f.agent.wait_for(&id, "deliverable.generated").await;
    let listed = f
        .agent
        .ok("get_deliverables", serde_json::json!({ "envelope_id": id }))
        .await;
    let url = listed["deliverables"][0]["download_url"].as_str().unwrap();
    let pdf = server.get(&path_of(url)).await.bytes().await.unwrap();
    let certificate = crate::support::pages_text(&pdf, 4);
    for text in [
        "Alice Martin <alice@example.com> · signer · signed",
        "Authentication: email code",
        "Authentication: email link",
        "recipient.authenticated",
        "entered the one-time code sent to alice@example.com",
    ] {
        assert!(certificate.contains(text), "{text} not in: {certificate}");
    }

    // Afterwards the other browser learns only that nothing is left to do.
    let (status, page) = other.page().await;
    assert_eq!(status, 200);
    assert!(page.contains("Thank you: you have signed."), "{page}");
    assert!(!page.contains("NDA.pdf"), "{page}");
    let (_, page) = alice.page().await;
    assert!(page.contains("NDA.pdf"), "{page}");
    let closed = other.send_code().await;
    assert_eq!(closed.status(), 409);
    f.server.running.stop().await.unwrap();
}

async fn five_wrong_codes_lock_the_code_until_a_new_one_is_sent(db: TestDb) {
    let f = fixture(db, None).await;
    let (id, link) = envelope_with_codes(&f).await;
    let alice = Signer::new(&f.server, &link);

    // Entering before any code was sent.
    let early = alice.enter("12345678").await;
    assert_eq!(early.status(), 422);
    assert!(early.text().await.unwrap().contains("Send a code first."));

    assert_redirects_to_page(&alice.send_code().await, &alice);
    let code = code_for(&f.agent, &id, "alice@example.com").await;
    let wrong = if code == "00000000" {
        "11111111"
    } else {
        "00000000"
    };

    // Something that cannot be a code is not counted.
    let malformed = alice.enter("12ab").await;
    assert_eq!(malformed.status(), 422);
    assert!(
        malformed
            .text()
            .await
            .unwrap()
            .contains("Enter the 8 digits of the code from the email.")
    );
    for left in [4, 3, 2, 1] {
        let response = alice.enter(wrong).await;
        assert_eq!(response.status(), 422);
        assert!(response.headers().get("set-cookie").is_none());
        let body = response.text().await.unwrap();
        assert!(
            body.contains(&format!("That code is not right. {left} attempts left.")),
            "{body}"
        );
        assert!(body.contains("name=\"code\""), "the form is shown again");
    }
    let fifth = alice.enter(wrong).await;
    assert_eq!(fifth.status(), 429);
    assert!(
        fifth
            .text()
            .await
            .unwrap()
            .contains("that was the last attempt for it. Send a new code to try again.")
    );
    // The sixth is refused, even the right code.
    let sixth = alice.enter(&code).await;
    assert_eq!(sixth.status(), 429);
    assert!(sixth.headers().get("set-cookie").is_none());
    let body = sixth.text().await.unwrap();
    assert!(
        body.contains("Too many wrong attempts for this code. Send a new code to try again."),
        "{body}"
    );
    let (status, page) = alice.page().await;
    assert_eq!(status, 200);
    assert!(
        page.contains("Too many wrong attempts: this code is locked. Send a new code."),
        "{page}"
    );
    assert!(
        !page.contains("name=\"code\""),
        "no entry for a locked code"
    );
    assert!(!page.contains("id=\"signing-form\""));

    let failed = events_of(&f.agent, &id, "recipient.authentication_failed").await;
    assert_eq!(failed.len(), 5, "one event per counted attempt: {failed:?}");
    assert_eq!(failed.last().unwrap()["data"]["failed_attempts"], 5);
    assert_eq!(failed.last().unwrap()["data"]["attempts_left"], 0);
    assert_eq!(failed[0]["data"]["user_agent"], USER_AGENT);
    assert!(
        events_of(&f.agent, &id, "recipient.authenticated")
            .await
            .is_empty()
    );

    // A new code (after the minute between codes) works.
    f.server.clock.advance(Duration::from_secs(60));
    assert_redirects_to_page(&alice.send_code().await, &alice);
    let fresh = code_for(&f.agent, &id, "alice@example.com").await;
    let (_, page) = alice.page().await;
    assert!(page.contains("5 attempts left."), "{page}");
    assert_redirects_to_page(&alice.enter(&fresh).await, &alice);
    let (_, page) = alice.page().await;
    assert!(page.contains("id=\"signing-form\""), "{page}");
    f.server.running.stop().await.unwrap();
}

async fn an_expired_code_is_refused(db: TestDb) {
    let f = fixture(db, None).await;
    let (id, link) = envelope_with_codes(&f).await;
    let alice = Signer::new(&f.server, &link);
    assert_redirects_to_page(&alice.send_code().await, &alice);
    let code = code_for(&f.agent, &id, "alice@example.com").await;

    // Ten minutes on, the code no longer works.
    f.server.clock.advance(Duration::from_secs(600));
    let late = alice.enter(&code).await;
    assert_eq!(late.status(), 422);
    assert!(late.headers().get("set-cookie").is_none());
    let body = late.text().await.unwrap();
    assert!(
        body.contains("This code has expired: codes work for 10 minutes. Send a new code."),
        "{body}"
    );
    let (_, page) = alice.page().await;
    assert!(
        page.contains("Your code has expired: send a new one."),
        "{page}"
    );
    assert!(page.contains("Send a new code"), "{page}");
    assert!(
        events_of(&f.agent, &id, "recipient.authentication_failed")
            .await
            .is_empty()
    );

    // A new one works within its ten minutes.
    assert_redirects_to_page(&alice.send_code().await, &alice);
    let fresh = code_for(&f.agent, &id, "alice@example.com").await;
    f.server.clock.advance(Duration::from_secs(599));
    assert_redirects_to_page(&alice.enter(&fresh).await, &alice);

    // The browser's session lasts an hour, then a new code is needed.
    let (_, page) = alice.page().await;
    assert!(page.contains("id=\"signing-form\""), "{page}");
    f.server.clock.advance(Duration::from_secs(3600));
    let (_, page) = alice.page().await;
    assert!(!page.contains("id=\"signing-form\""), "{page}");
    assert!(page.contains("Send a new code"), "{page}");
    // The janitor removes both codes (out of the hourly limit) and the session.
    let swept = signet::janitor::sweep(&f.server.running.state.store, f.server.clock.now())
        .await
        .unwrap();
    assert_eq!((swept.recipient_codes, swept.recipient_sessions), (2, 1));
    assert_eq!(f.server.count_rows("recipient_codes").await, 0);
    assert_eq!(f.server.count_rows("recipient_sessions").await, 0);
    f.server.running.stop().await.unwrap();
}

async fn codes_are_sent_at_most_once_a_minute_and_five_times_an_hour(db: TestDb) {
    let f = fixture(db, None).await;
    let (id, link) = envelope_with_codes(&f).await;
    let alice = Signer::new(&f.server, &link);
    let count = |emails: Vec<Value>| {
        emails
            .iter()
            .filter(|e| e["kind"] == "verification_code")
            .count()
    };

    assert_redirects_to_page(&alice.send_code().await, &alice);
    let too_soon = alice.send_code().await;
    assert_eq!(too_soon.status(), 429);
    assert_eq!(too_soon.headers()["retry-after"], "60");
    let body = too_soon.text().await.unwrap();
    assert!(
        body.contains("You can ask for another code in 60 seconds: codes are sent at most once a minute and five times an hour."),
        "{body}"
    );
    assert!(
        body.contains("name=\"code\""),
        "the code sent can still be entered"
    );
    f.server.clock.advance(Duration::from_secs(30));
    let (_, page) = alice.page().await;
    assert!(
        page.contains("You can ask for a new code in 30 seconds."),
        "{page}"
    );
    assert!(!page.contains("/send-code"), "{page}");
    assert_eq!(count(emails(&f.agent, &id).await), 1);

    // One a minute: four more in the next four minutes.
    f.server.clock.advance(Duration::from_secs(30));
    assert_redirects_to_page(&alice.send_code().await, &alice);
    for _ in 0..3 {
        f.server.clock.advance(Duration::from_secs(30));
        let refused = alice.send_code().await;
        assert_eq!(refused.status(), 429, "30 s after the last");
        assert_eq!(refused.headers()["retry-after"], "30");
        f.server.clock.advance(Duration::from_secs(30));
        assert_redirects_to_page(&alice.send_code().await, &alice);
    }
    assert_eq!(count(emails(&f.agent, &id).await), 5);
    // The sixth waits until the first is an hour old (4 minutes have passed).
    f.server.clock.advance(Duration::from_secs(60));
    let hourly = alice.send_code().await;
    assert_eq!(hourly.status(), 429);
    assert_eq!(hourly.headers()["retry-after"], (3600 - 300).to_string());
    assert!(
        hourly
            .text()
            .await
            .unwrap()
            .contains("You can ask for another code in 55 minutes:")
    );
    f.server.clock.advance(Duration::from_secs(3600 - 300));
    assert_redirects_to_page(&alice.send_code().await, &alice);
    // An hour on, the agent's access token has expired.
    let agent = f.agent.refreshed().await;
    assert_eq!(count(emails(&agent, &id).await), 6);
    assert_eq!(events_of(&agent, &id, "recipient.code_sent").await.len(), 6);

    // Only the newest code counts.
    let newest = code_for(&agent, &id, "alice@example.com").await;
    assert_redirects_to_page(&alice.enter(&newest).await, &alice);
    f.server.running.stop().await.unwrap();
}

async fn authentication_errors_are_field_named_and_replacements_keep_the_code(db: TestDb) {
    let f = fixture(db, None).await;
    // Agents see the argument in both tools' input schemas.
    let listed: Value = f
        .agent
        .request(&json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/list" }))
        .await
        .json()
        .await
        .unwrap();
    for tool in ["create_envelope", "replace_recipient"] {
        let schema = listed["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == tool)
            .unwrap()["inputSchema"]
            .to_string();
        for word in ["authentication", "email_link", "email_code"] {
            assert!(schema.contains(word), "{tool}'s schema lacks {word}");
        }
    }
    let recipients = json!([
        { "key": "a", "name": "A", "email": "a@example.com", "authentication": [] },
        { "key": "b", "name": "B", "email": "b@example.com", "authentication": ["sms"] },
        { "key": "c", "name": "C", "email": "c@example.com", "authentication": ["email_code", "email_code"] },
        { "key": "d", "name": "D", "email": "d@example.com", "authentication": "email_code" },
        { "key": "e", "name": "E", "email": "e@example.com", "authentication": ["email_link", "email_code"] },
    ]);
    let p = f
        .agent
        .problem(
            "create_envelope",
            envelope_args(&f.docs, "parallel", recipients),
            "validation-error",
        )
        .await;
    let errors: Vec<(&str, &str)> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["field"].as_str().unwrap(), e["message"].as_str().unwrap()))
        .collect();
    let list = "must be a non-empty array of \"email_link\" and \"email_code\"";
    assert_eq!(
        errors,
        [
            ("recipients[0].authentication", list),
            (
                "recipients[1].authentication[0]",
                "must be \"email_link\" or \"email_code\""
            ),
            ("recipients[2].authentication[1]", "is repeated"),
            ("recipients[3].authentication", list),
        ]
    );

    // Replacing someone who must enter a code keeps the code by default.
    let (id, _) = envelope_with_codes(&f).await;
    let envelope = f
        .agent
        .ok("get_envelope", json!({ "envelope_id": id }))
        .await;
    let alice_id = envelope["recipients"][0]["recipient_id"].as_str().unwrap();
    let bob_id = envelope["recipients"][1]["recipient_id"].as_str().unwrap();
    let p = f
        .agent
        .problem(
            "replace_recipient",
            json!({ "envelope_id": id, "recipient_id": alice_id, "name": "Cara", "email": "cara@example.com", "authentication": ["email_link", "x"] }),
            "validation-error",
        )
        .await;
    assert_eq!(p["errors"][0]["field"], "authentication[1]");
    let replaced = f
        .agent
        .ok(
            "replace_recipient",
            json!({ "envelope_id": id, "recipient_id": alice_id, "name": "Cara", "email": "cara@example.com" }),
        )
        .await;
    let cara = replaced["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["email"] == "cara@example.com")
        .unwrap()
        .clone();
    assert_eq!(cara["authentication"], json!(["email_code"]));
    let cara_link = f.agent.link_for(&id, "cara@example.com").await;
    let (_, page) = Signer::new(&f.server, &cara_link).page().await;
    assert!(
        page.contains("c\u{2022}\u{2022}\u{2022}@example.com"),
        "{page}"
    );
    // Or takes the one asked for.
    let replaced = f
        .agent
        .ok(
            "replace_recipient",
            json!({ "envelope_id": id, "recipient_id": bob_id, "name": "Dan", "email": "dan@example.com", "authentication": ["email_code"] }),
        )
        .await;
    let dan = replaced["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["email"] == "dan@example.com")
        .unwrap()
        .clone();
    assert_eq!(dan["authentication"], json!(["email_code"]));
    let dan_link = f.agent.link_for(&id, "dan@example.com").await;
    let signed = press(
        &f.server,
        &dan_link,
        &[("action", "sign"), ("signature", "Dan"), ("consent", "yes")],
    )
    .await;
    assert_eq!(signed.status(), 403, "no code entered");
    f.server.running.stop().await.unwrap();
}

async fn a_live_code_travels_by_smtp_and_is_never_stored(db: TestDb) {
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
        json!([{ "key": "alice", "name": "Alice Martin", "email": "alice@example.com", "authentication": ["email_code"] }]),
    );
    args["mode"] = json!("live");
    let id = f.agent.ok("create_envelope", args).await["envelope_id"]
        .as_str()
        .unwrap()
        .to_owned();
    f.agent.wait_for(&id, "recipient.sent").await;
    let request = unfold_quoted_printable(&inbox.recv().await.unwrap());
    let link = request
        .split_whitespace()
        .find(|w| w.contains("/sign/"))
        .unwrap()
        .to_owned();
    let alice = Signer::new(server, &link);
    assert_redirects_to_page(&alice.send_code().await, &alice);
    let message = unfold_quoted_printable(&inbox.recv().await.unwrap());
    assert!(
        message.contains("Subject: Your code to open Mutual NDA"),
        "{message}"
    );
    let code = message
        .split_whitespace()
        .find(|w| w.len() == 8 && w.bytes().all(|b| b.is_ascii_digit()))
        .unwrap_or_else(|| panic!("no code in {message}"))
        .to_owned();
    // Neither the outbox copy nor the code table holds the code.
    let (body, stored_code): (String, Option<String>) =
        signet_store::sqlx::query_as("SELECT body, code FROM envelope_emails WHERE kind = $1")
            .bind(signet_esign::model::EmailKind::VerificationCode)
            .fetch_one(server.running.state.store.pool())
            .await
            .unwrap();
    assert!(!body.contains(&code), "{body}");
    assert!(body.contains("[code sent to the recipient]"), "{body}");
    assert_eq!(stored_code, None);
    let digests: Vec<String> =
        signet_store::sqlx::query_scalar("SELECT code_digest FROM recipient_codes")
            .fetch_all(server.running.state.store.pool())
            .await
            .unwrap();
    assert_eq!(digests.len(), 1);
    assert!(!digests[0].contains(&code));
    assert_ne!(digests[0], signet_store::random::digest(&code), "salted");
    // The code from the real email opens the ceremony.
    assert_redirects_to_page(&alice.enter(&code).await, &alice);
    let (_, page) = alice.page().await;
    assert!(page.contains("id=\"signing-form\""), "{page}");
    f.server.running.stop().await.unwrap();
}
