//! Email codes on the engine's own pages: the session cookie on an https
//! public URL, its binding to one recipient, and the attempt limit under
//! concurrent guesses.

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use serde_json::{Value, json};
use signet_store::testing::TestDb;
use tower::ServiceExt;

use crate::support::*;

signet_store::store_tests!(
    in_progress_the_session_cookie_is_secure_and_opens_only_its_recipient,
    in_progress_concurrent_wrong_guesses_count_five_at_most,
);

/// What a page answered: status, headers, body.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

/// `GET` (no form) or `POST` (a form) on the engine's pages, with a cookie.
async fn call(
    pages: Router,
    path: &str,
    form: Option<&[(&str, &str)]>,
    cookie: Option<&str>,
) -> Answer {
    let builder = match form {
        Some(_) => {
            Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        }
        None => Request::get(path),
    };
    let builder = builder.header(header::USER_AGENT, "engine-tests");
    let builder = match cookie {
        Some(cookie) => builder.header(header::COOKIE, cookie),
        None => builder,
    };
    let body = form.map_or_else(String::new, |pairs| {
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish()
    });
    let mut request = builder.body(Body::from(body)).unwrap();
    request
        .extensions_mut()
        .insert(signet_http::ClientAddr(SIGNER_IP.parse().unwrap()));
    let response = pages.oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 22)
        .await
        .unwrap();
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

/// An envelope in progress where everyone must enter a code.
async fn with_codes(h: &Engine, people: &[Person]) -> String {
    let mut arguments = h
        .envelope_args(Routing::Parallel, Doc::Upload, people)
        .await;
    for recipient in arguments["recipients"].as_array_mut().unwrap() {
        recipient["authentication"] = json!(["email_code"]);
    }
    let created = h
        .esign
        .create_envelope(&h.caller, &args(arguments))
        .await
        .unwrap();
    h.wait_for_event(&created.envelope_id, "envelope.started")
        .await;
    created.envelope_id
}

/// The newest code sent to `to`.
async fn code_for(h: &Engine, envelope_id: &str, to: &str) -> String {
    let page = h
        .esign
        .list_emails(&h.caller, &args(json!({ "envelope_id": envelope_id })))
        .await
        .unwrap();
    let emails: Vec<Value> = page["emails"].as_array().unwrap().clone();
    emails
        .iter()
        .find(|e| e["kind"] == "verification_code" && e["to"] == to)
        .unwrap_or_else(|| panic!("no code to {to}: {emails:?}"))["code"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn in_progress_the_session_cookie_is_secure_and_opens_only_its_recipient(db: TestDb) {
    let h = engine(db).await;
    let id = with_codes(&h, &[ANN, BOB]).await;
    let ann = h.link_for(&id, ANN.email).await;
    let bob = h.link_for(&id, BOB.email).await;

    let sent = call(
        h.pages(),
        &format!("/sign/{ann}/send-code"),
        Some(&[]),
        None,
    )
    .await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.body);
    let code = code_for(&h, &id, ANN.email).await;
    let entered = call(
        h.pages(),
        &format!("/sign/{ann}/code"),
        Some(&[("code", &code)]),
        None,
    )
    .await;
    assert_eq!(entered.status, StatusCode::SEE_OTHER, "{}", entered.body);
    let set_cookie = entered.headers[header::SET_COOKIE].to_str().unwrap();
    let (pair, attributes) = set_cookie.split_once("; ").unwrap();
    assert_eq!(
        attributes,
        format!("Path=/sign/{ann}; Max-Age=3600; HttpOnly; SameSite=Lax; Secure"),
        "an https public URL: Secure, and the __Secure- prefix"
    );
    assert!(pair.starts_with("__Secure-signet_signer="), "{pair}");

    let page = call(h.pages(), &format!("/sign/{ann}"), None, Some(pair)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("id=\"signing-form\""), "{}", page.body);
    // The same cookie under the plain name, or for Bob's link, opens nothing.
    let secret = pair.split_once('=').unwrap().1;
    let plain = format!("signet_signer={secret}");
    let page = call(h.pages(), &format!("/sign/{ann}"), None, Some(&plain)).await;
    assert!(!page.body.contains("id=\"signing-form\""), "{}", page.body);
    let page = call(h.pages(), &format!("/sign/{bob}"), None, Some(pair)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("b\u{2022}\u{2022}\u{2022}@example.com"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("id=\"signing-form\""), "{}", page.body);
    let signed = call(
        h.pages(),
        &format!("/sign/{bob}"),
        Some(&[("action", "sign"), ("signature", "Ann"), ("consent", "yes")]),
        Some(pair),
    )
    .await;
    assert_eq!(signed.status, StatusCode::FORBIDDEN, "{}", signed.body);

    // With it, Ann signs; her completion says how she was authenticated.
    let signed = call(
        h.pages(),
        &format!("/sign/{ann}"),
        Some(&[
            ("action", "sign"),
            ("signature", ANN.name),
            ("consent", "yes"),
        ]),
        Some(pair),
    )
    .await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER, "{}", signed.body);
    let events = h.events(&id).await;
    let completed = events
        .iter()
        .find(|e| e["type"] == "recipient.completed")
        .unwrap();
    assert_eq!(completed["data"]["authentication"], "email_code");
    let authenticated = events
        .iter()
        .find(|e| e["type"] == "recipient.authenticated")
        .unwrap();
    assert_eq!(authenticated["data"]["ip_address"], SIGNER_IP);
    assert_eq!(authenticated["data"]["user_agent"], "engine-tests");
}

async fn in_progress_concurrent_wrong_guesses_count_five_at_most(db: TestDb) {
    let h = engine(db).await;
    let id = with_codes(&h, &[ANN]).await;
    let ann = h.link_for(&id, ANN.email).await;
    let sent = call(
        h.pages(),
        &format!("/sign/{ann}/send-code"),
        Some(&[]),
        None,
    )
    .await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER);
    let code = code_for(&h, &id, ANN.email).await;
    let wrong = if code == "00000000" {
        "11111111"
    } else {
        "00000000"
    };

    let guesses: Vec<_> = (0..12)
        .map(|_| {
            let pages = h.pages();
            let path = format!("/sign/{ann}/code");
            tokio::spawn(async move { call(pages, &path, Some(&[("code", wrong)]), None).await })
        })
        .collect();
    let mut statuses = Vec::new();
    for guess in guesses {
        statuses.push(guess.await.unwrap().status);
    }
    let counted = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNPROCESSABLE_ENTITY)
        .count();
    assert_eq!(counted, 4, "four wrong with attempts left: {statuses:?}");
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::UNPROCESSABLE_ENTITY || *s == StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    let failed = h
        .events(&id)
        .await
        .into_iter()
        .filter(|e| e["type"] == "recipient.authentication_failed")
        .count();
    assert_eq!(failed, 5);
    let right = call(
        h.pages(),
        &format!("/sign/{ann}/code"),
        Some(&[("code", &code)]),
        None,
    )
    .await;
    assert_eq!(
        right.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        right.body
    );
    assert!(right.headers.get(header::SET_COOKIE).is_none());
}
