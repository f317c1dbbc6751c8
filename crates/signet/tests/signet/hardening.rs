//! Regressions of an outside attack on the release binary: each test drives
//! the condition that broke Signet and checks the answer that holds now.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use signet_identity::Password;
use signet_store::Backend;
use signet_store::audit::Actor;
use signet_store::testing::TestDb;
use tokio::task::JoinSet;

use crate::support::{
    CALLBACK, EMAIL, Outage, PASSWORD, authorize, authorize_path, connect, connect_agent, exchange,
    guesses_in_parallel, hidden_inputs, issued, location, login_form, new_pkce, oauth_error, param,
    public_client, query, refresh_grant, register, seed, seed_solo, sign_in, start, start_with,
    token, token_ok, whoami_request,
};

signet_store::store_tests!(
    revocation_is_seen_after_the_database_files_are_recreated,
    the_consent_decision_cannot_be_forged_through_the_url,
    sign_in_is_limited_per_address_whatever_the_emails,
    parallel_guesses_are_each_counted_before_they_are_checked,
    sign_in_returns_only_to_paths_of_this_site,
    parallel_consents_all_succeed,
    a_database_outage_is_answered_503_and_heals_by_itself,
    a_silent_reapproval_takes_nothing_away_and_needs_the_same_session,
    a_password_change_ends_the_sessions,
    deceptive_client_names_are_refused,
);

/// On SQLite an idle pool closes its connections and SQLite removes the
/// `-wal` and `-shm` files; the next request makes new ones. A disconnect
/// and a suspension made from another process after that are refused on
/// the very next request.
async fn revocation_is_seen_after_the_database_files_are_recreated(db: TestDb) {
    let sqlite = db.store.backend() == Backend::Sqlite;
    let shm = format!("{}-shm", db.url.trim_start_matches("sqlite://"));
    let server = start(db, None).await;
    let (acme, beta) = seed(&server).await;
    let client_id = public_client(&server).await;
    let browser = server.browser();
    let ada_acme = connect(&server, &browser, &client_id, &acme).await;
    let ada_beta = connect(&server, &browser, &client_id, &beta).await;
    assert_eq!(ada_acme.whoami_status().await.0, 200);

    // The quiet spell: every connection closes (the server's, and the
    // test's own pool on the same file), the files go.
    server
        .running
        .state
        .store
        .close_idle_connections()
        .await
        .unwrap();
    server.db.store.close_idle_connections().await.unwrap();
    if sqlite {
        assert!(!std::path::Path::new(&shm).exists(), "{shm} removed");
    }
    // The next requests reopen the database and are answered (and cached).
    for agent in [&ada_acme, &ada_beta, &ada_acme] {
        let (status, body) = agent.whoami_status().await;
        assert_eq!(status, 200, "{body}");
    }

    // Another process disconnects Acme's connection and suspends Beta's account.
    let listed = server
        .cli(&["connections", "list", "--org", "Acme", "--json"], None)
        .await
        .json();
    let connection = listed[0]["id"].as_str().unwrap().to_owned();
    server
        .cli(&["connections", "revoke", &connection], None)
        .await
        .ok();
    let (status, body) = ada_acme.whoami_status().await;
    assert_eq!(
        (status, body["error_description"].as_str()),
        (
            StatusCode::UNAUTHORIZED,
            Some("Application has been disconnected")
        )
    );
    server
        .cli(
            &[
                "account",
                "set-status",
                "--org",
                "Beta",
                "--status",
                "suspended",
            ],
            None,
        )
        .await
        .ok();
    let (status, body) = ada_beta.whoami_status().await;
    assert_eq!(
        (status, body["error_description"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("Account is inactive"))
    );
    server.running.stop().await.unwrap();
}

/// The consent page carries only the authorization request's own
/// parameters: a `decision` or `org_id` in the URL does not become a hidden
/// input that the server would read before the person's own choice.
async fn the_consent_decision_cannot_be_forged_through_the_url(db: TestDb) {
    let server = start(db, None).await;
    let (acme, beta) = seed(&server).await;
    let client_id = public_client(&server).await;
    let browser = server.browser();
    let pkce = new_pkce();
    let forged = authorize_path(
        &client_id,
        &pkce,
        &[("decision", "approve"), ("org_id", &acme)],
    );
    let mut page = browser.get(&forged).await;
    if page.status() == StatusCode::SEE_OTHER {
        let signed_in = sign_in(&browser, &location(&page), EMAIL, PASSWORD).await;
        page = browser.get(&location(&signed_in)).await;
    }
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    let carried = hidden_inputs(&html);
    assert!(
        carried
            .iter()
            .all(|(name, _)| name != "decision" && name != "org_id"),
        "{carried:?}"
    );
    // The person picks Beta and presses Deny: a denial, whatever the URL said.
    let mut form = carried.clone();
    form.push(("org_id".into(), beta.clone()));
    form.push(("decision".into(), "deny".into()));
    let decided = browser.post("/oauth/authorize", &form).await;
    assert_eq!(decided.status(), StatusCode::SEE_OTHER);
    let callback = location(&decided);
    assert_eq!(
        param(&query(&callback), "error"),
        Some("access_denied"),
        "{callback}"
    );
    assert_eq!(param(&query(&callback), "code"), None);
    // A form posted with a control twice is refused outright.
    let mut doubled = carried.clone();
    for (name, value) in [
        ("decision", "approve"),
        ("org_id", acme.as_str()),
        ("org_id", beta.as_str()),
        ("decision", "approve"),
    ] {
        doubled.push((name.into(), value.into()));
    }
    let refused = browser.post("/oauth/authorize", &doubled).await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert!(refused.text().await.unwrap().contains("altered"));
    server.running.stop().await.unwrap();
}

/// Attempts from one address across many emails meet a ceiling (the
/// default burst is 20), answered 429 with `Retry-After` on the sign-in
/// page itself.
async fn sign_in_is_limited_per_address_whatever_the_emails(db: TestDb) {
    let server = start(db, None).await;
    let (cookie, form) = login_form(&server.http, &server.base).await;
    let attempt = |i: usize| {
        let mut form = form.clone();
        form.push(("email".into(), format!("nobody{i}@example.com")));
        form.push(("password".into(), "wrong password".into()));
        server
            .http
            .post(format!("{}/login", server.base))
            .header("cookie", cookie.clone())
            .form(&form)
            .send()
    };
    for i in 0..20 {
        let answer = attempt(i).await.unwrap();
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    let refused = attempt(20).await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(wait >= 1);
    assert!(
        refused.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("Too many sign-in attempts")
    );
    // The allowance refills with time.
    server.clock.advance(Duration::from_secs(wait));
    let again = attempt(21).await.unwrap();
    assert_eq!(again.status(), StatusCode::UNAUTHORIZED);
    server.running.stop().await.unwrap();
}

/// Parallel guesses on one email: as many are evaluated as the delay
/// allows (four on a fresh account, then one per delay), the rest are
/// told to wait, and the right password sent among them does not slip in.
async fn parallel_guesses_are_each_counted_before_they_are_checked(db: TestDb) {
    let server = start_with(
        db,
        |flags| flags.sign_in_burst = Some("1000".into()),
        Vec::new(),
    )
    .await;
    server
        .running
        .state
        .identity
        .create_user(
            &Actor::Cli,
            EMAIL,
            None,
            Some(Password::new(PASSWORD).unwrap()),
        )
        .await
        .unwrap();
    let wrong = |n: usize| {
        (0..n)
            .map(|i| format!("wrong guess {i}"))
            .collect::<Vec<_>>()
    };
    let statuses = guesses_in_parallel(&server, wrong(40)).await;
    let evaluated = statuses.iter().filter(|s| **s == 401).count();
    let waited = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((evaluated, waited), (4, 36), "{statuses:?}");
    // After the delay, a burst gets one guess evaluated, not one per request.
    for _ in 0..2 {
        server.clock.advance(Duration::from_secs(900));
        let statuses = guesses_in_parallel(&server, wrong(10)).await;
        let evaluated = statuses.iter().filter(|s| **s == 401).count();
        assert_eq!(evaluated, 1, "{statuses:?}");
    }
    // The right password, sent while throttled, is not checked either.
    let mut with_right = wrong(9);
    with_right.push(PASSWORD.to_owned());
    let statuses = guesses_in_parallel(&server, with_right).await;
    assert!(statuses.iter().all(|s| *s == 429), "{statuses:?}");
    server.running.stop().await.unwrap();
}

/// `return_to` must be a path of this site as every browser reads it.
async fn sign_in_returns_only_to_paths_of_this_site(db: TestDb) {
    let server = start(db, None).await;
    seed(&server).await;
    for (return_to, expected) in [
        ("%2F%09%2F127.0.0.1%3A18999%2Fpwned", "/"),
        ("%2F%0B%2Fevil.example", "/"),
        ("%2F%5Cevil.example", "/"),
        ("%2Fsettings%2Fapplications", "/settings/applications"),
    ] {
        let browser = server.browser();
        let signed_in = sign_in(
            &browser,
            &format!("/login?return_to={return_to}"),
            EMAIL,
            PASSWORD,
        )
        .await;
        assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&signed_in), expected, "{return_to}");
    }
    server.running.stop().await.unwrap();
}

/// Eight clients approving five times each, at once: every consent gets
/// its code.
async fn parallel_consents_all_succeed(db: TestDb) {
    let server = start(db, None).await;
    let (acme, _) = seed(&server).await;
    let mut set = JoinSet::new();
    for _ in 0..8 {
        let client_id = public_client(&server).await;
        let browser = server.browser();
        // Signed in one after another: the consents are what run at once.
        let signed_in = sign_in(&browser, "/login", EMAIL, PASSWORD).await;
        assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
        let acme = acme.clone();
        set.spawn(async move {
            let mut callbacks = Vec::new();
            for _ in 0..5 {
                let pkce = new_pkce();
                callbacks.push(
                    authorize(
                        &browser,
                        &authorize_path(&client_id, &pkce, &[]),
                        Some(&acme),
                    )
                    .await,
                );
            }
            callbacks
        });
    }
    while let Some(callbacks) = set.join_next().await {
        for callback in callbacks.unwrap() {
            assert!(param(&query(&callback), "code").is_some(), "{callback}");
        }
    }
    server.running.stop().await.unwrap();
}

/// PostgreSQL goes away: every request is answered at once with 503 and
/// `Retry-After` (OAuth endpoints in their own format), and service comes
/// back by itself when the database does.
async fn a_database_outage_is_answered_503_and_heals_by_itself(db: TestDb) {
    if db.store.backend() != Backend::Postgres {
        return;
    }
    let url = url::Url::parse(&db.url).unwrap();
    let upstream = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
    let mut outage = Outage::start(upstream).await;
    let mut proxied = url.clone();
    proxied.set_host(Some("127.0.0.1")).unwrap();
    proxied.set_port(Some(outage.addr.port())).unwrap();
    let proxied = proxied.to_string();
    let server = start_with(
        db,
        |flags| flags.database_url = Some(proxied.clone()),
        Vec::new(),
    )
    .await;
    let (acme, _) = seed(&server).await;
    let agent = connect_agent(&server, &acme, None).await;
    assert_eq!(agent.whoami_status().await.0, 200);

    outage.cut();
    let ready = server.get("/readyz").await;
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(ready.headers().contains_key("retry-after"));
    let refreshed = token(&server, &refresh_grant(&agent.refresh, &agent.client_id)).await;
    assert!(refreshed.headers().contains_key("retry-after"));
    oauth_error(refreshed, 503, "temporarily_unavailable").await;
    let response = agent.request(&whoami_request()).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key("retry-after"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");

    outage.restore().await;
    assert_eq!(server.get("/readyz").await.status(), 200);
    assert_eq!(agent.whoami_status().await.0, 200);
    let refreshed = token_ok(&server, &refresh_grant(&agent.refresh, &agent.client_id)).await;
    assert!(refreshed["access_token"].is_string());
    server.running.stop().await.unwrap();
}

/// A remembered consent answered without a page (as a cross-site GET
/// would get it) takes nothing away until its code is exchanged, and is
/// only remembered for the same redirect URI and browser session.
async fn a_silent_reapproval_takes_nothing_away_and_needs_the_same_session(db: TestDb) {
    let server = start(db, None).await;
    let solo = seed_solo(&server).await;
    let other_callback = "http://127.0.0.1:7778/callback";
    let client = register(
        &server,
        json!({ "client_name": "Agent", "redirect_uris": [CALLBACK, other_callback], "token_endpoint_auth_method": "none" }),
    )
    .await;
    let client_id = client["client_id"].as_str().unwrap().to_owned();
    let browser = server.browser();
    let agent = connect(&server, &browser, &client_id, &solo).await;

    // The silent answer: a code at once, and the app keeps working.
    let pkce = new_pkce();
    let silent = browser.get(&authorize_path(&client_id, &pkce, &[])).await;
    assert_eq!(silent.status(), StatusCode::SEE_OTHER);
    let silent = location(&silent);
    assert!(param(&query(&silent), "code").is_some(), "{silent}");
    assert_eq!(agent.whoami_status().await.0, 200);
    let rotated = agent.refreshed().await;

    // Another redirect URI, or another session, sees the consent page.
    let mut elsewhere = url::Url::parse(&format!(
        "http://x{}",
        authorize_path(&client_id, &new_pkce(), &[])
    ))
    .unwrap();
    let pairs: Vec<(String, String)> = elsewhere
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "redirect_uri" {
                other_callback.to_owned()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    elsewhere.query_pairs_mut().clear().extend_pairs(pairs);
    let other_uri = browser
        .get(&format!(
            "{}?{}",
            elsewhere.path(),
            elsewhere.query().unwrap()
        ))
        .await;
    assert_eq!(
        other_uri.status(),
        200,
        "consent page for another redirect URI"
    );
    let second_browser = server.browser();
    let path = authorize_path(&client_id, &new_pkce(), &[]);
    let to_login = second_browser.get(&path).await;
    let signed_in = sign_in(&second_browser, &location(&to_login), EMAIL, PASSWORD).await;
    let page = second_browser.get(&location(&signed_in)).await;
    assert_eq!(page.status(), 200, "consent page in a new session");

    // Exchanging the silent code makes it the connection's grant.
    issued(
        exchange(
            &server,
            &silent,
            CALLBACK,
            &pkce,
            &[("client_id", &client_id)],
        )
        .await,
    )
    .await;
    let stale = token(&server, &refresh_grant(&rotated.refresh, &client_id)).await;
    oauth_error(stale, 400, "invalid_grant").await;
    server.running.stop().await.unwrap();
}

/// `signet user set-password` signs the user out of every browser.
async fn a_password_change_ends_the_sessions(db: TestDb) {
    let server = start(db, None).await;
    seed(&server).await;
    let browser = server.browser();
    let signed_in = sign_in(&browser, "/login", EMAIL, PASSWORD).await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    assert_eq!(browser.get("/").await.status(), 200);
    server
        .cli(
            &["user", "set-password", "--email", EMAIL, "--password-stdin"],
            Some("a brand new password\n"),
        )
        .await
        .ok();
    let after = browser.get("/").await;
    assert_eq!(after.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&after), "/login");
    server.running.stop().await.unwrap();
}

/// Names with invisible or bidirectional controls are refused; names are
/// isolated on the consent page.
async fn deceptive_client_names_are_refused(db: TestDb) {
    let server = start(db, None).await;
    for name in ["Claude\u{202E}fdp.exe", "Cl\u{200B}aude", "Agent\u{2066}x"] {
        let response = server
            .http
            .post(format!("{}/oauth/register", server.base))
            .json(&json!({ "client_name": name, "redirect_uris": [CALLBACK], "token_endpoint_auth_method": "none" }))
            .send()
            .await
            .unwrap();
        let description = oauth_error(response, 400, "invalid_client_metadata").await;
        assert!(description.contains("U+"), "{description}");
    }
    seed(&server).await;
    let client = register(
        &server,
        json!({ "client_name": "שלום Agent", "redirect_uris": [CALLBACK], "token_endpoint_auth_method": "none" }),
    )
    .await;
    let browser = server.browser();
    let path = authorize_path(client["client_id"].as_str().unwrap(), &new_pkce(), &[]);
    let to_login = browser.get(&path).await;
    let signed_in = sign_in(&browser, &location(&to_login), EMAIL, PASSWORD).await;
    let html = browser
        .get(&location(&signed_in))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("<bdi class=\"client\">שלום Agent</bdi>"),
        "{html}"
    );
    server.running.stop().await.unwrap();
}
