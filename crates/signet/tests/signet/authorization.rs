//! The authorization server, driven as a browser and an OAuth client would:
//! registration, authorization, sign-in, consent, tokens, refresh rotation,
//! revocation and introspection. Time moves by the server's injected clock.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use signet_store::audit::Actor;
use signet_store::testing::TestDb;

use crate::support::{
    CALLBACK, EMAIL, PASSWORD, authorize, authorize_path, claims, connect, connect_as, exchange,
    hidden_inputs, introspect, introspection_client, issued, location, new_pkce, oauth_error,
    oauth2_http, org_choices, param, public_client, public_client_named, query, refresh_grant,
    register, seed, seed_solo, sign_in, start, token, token_ok,
};

signet_store::store_tests!(
    the_whole_journey_with_two_organizations,
    registration_follows_rfc_7591_and_our_rules,
    authorization_errors_never_redirect_to_untrusted_uris,
    the_token_endpoint_checks_everything_before_consuming_a_code,
    clients_authenticate_only_with_their_registered_method,
    sign_in_is_generic_csrf_protected_and_throttled,
    consent_is_remembered_and_replaced,
    a_client_library_written_elsewhere_completes_the_flow,
    cookies_are_secure_when_the_public_url_is_https,
);

async fn the_whole_journey_with_two_organizations(db: TestDb) {
    let server = start(db, None).await;
    let (acme, beta) = seed(&server).await;
    // An inactive account is marked on the consent page but may be chosen.
    server
        .running
        .state
        .identity
        .set_account_status(
            &Actor::Cli,
            &acme,
            signet_identity::AccountStatus::Suspended,
        )
        .await
        .unwrap();
    let p = server.running.state.issuer.as_str().to_owned();
    let client_id = public_client(&server).await;
    let browser = server.browser();
    let pkce = new_pkce();

    // The consent page lists both organizations; pick the second.
    let first = browser
        .get(&authorize_path(
            &client_id,
            &pkce,
            &[("resource", &format!("{p}/mcp"))],
        ))
        .await;
    assert_eq!(first.status(), StatusCode::SEE_OTHER);
    let signed_in = sign_in(&browser, &location(&first), EMAIL, PASSWORD).await;
    let cookie = signed_in.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("signet_session="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Lax")
            && !cookie.contains("Secure"),
        "{cookie}"
    );
    let consent = browser.get(&location(&signed_in)).await;
    assert_eq!(consent.status(), 200);
    assert_eq!(consent.headers()["x-frame-options"], "DENY");
    assert!(
        consent.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    assert_eq!(consent.headers()["cache-control"], "no-store");
    assert_eq!(consent.headers()["referrer-policy"], "no-referrer");
    let html = consent.text().await.unwrap();
    assert!(html.contains("Test Agent"), "client name shown");
    assert!(
        html.contains("<strong class=\"host\">127.0.0.1</strong>"),
        "redirect host shown"
    );
    assert!(
        html.contains("only redirects to your own computer"),
        "localhost warning"
    );
    let labels: Vec<String> = org_choices(&html)
        .into_iter()
        .map(|(_, label)| label)
        .collect();
    assert_eq!(labels.len(), 2);
    assert!(
        labels[0].starts_with("Acme") && labels[0].contains("(account suspended)"),
        "{labels:?}"
    );
    assert_eq!(labels[1], "Beta");
    let mut form = hidden_inputs(&html);
    form.push(("org_id".into(), beta.clone()));
    form.push(("decision".into(), "approve".into()));
    let callback = location(&browser.post("/oauth/authorize", &form).await);
    assert!(callback.starts_with(CALLBACK), "{callback}");
    let params = query(&callback);
    assert_eq!(param(&params, "state"), Some("st&te=1"));
    assert_eq!(
        param(&params, "iss"),
        Some(p.as_str()),
        "iss equals the issuer byte for byte"
    );
    let code = param(&params, "code").unwrap().to_owned();

    let tokens = token_ok(
        &server,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CALLBACK),
            ("code_verifier", &pkce.verifier),
            ("client_id", &client_id),
            ("resource", &format!("{p}/")),
        ],
    )
    .await;
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 3600);
    assert_eq!(tokens["scope"], "envelopes:read envelopes:write");
    let access = claims(tokens["access_token"].as_str().unwrap());
    assert_eq!(
        access["org_id"],
        beta.as_str(),
        "the token is bound to the chosen organization"
    );
    assert_eq!(access["aud"], format!("{p}/mcp"));
    assert_eq!(access["iss"], p.as_str());
    assert_eq!(access["client_id"], client_id.as_str());
    assert!(access["sid"].as_str().unwrap().starts_with("con_"));
    let header = jsonwebtoken::decode_header(tokens["access_token"].as_str().unwrap()).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));

    // Refresh twice: each use rotates.
    let r0 = tokens["refresh_token"].as_str().unwrap().to_owned();
    let refresh = |t: String| {
        let (server, client_id) = (&server, client_id.clone());
        async move { token(server, &refresh_grant(&t, &client_id)).await }
    };
    let t1: Value = refresh(r0.clone()).await.json().await.unwrap();
    let r1 = t1["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(r1, r0);
    server.clock.advance(Duration::from_secs(5));
    let t2: Value = refresh(r1.clone()).await.json().await.unwrap();
    let r2 = t2["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(r2, r1);
    assert_eq!(
        claims(t2["access_token"].as_str().unwrap())["org_id"],
        beta.as_str()
    );

    // A replay of r1 inside the grace window gets the same successor.
    server.clock.advance(Duration::from_secs(20));
    let replay: Value = refresh(r1.clone()).await.json().await.unwrap();
    assert_eq!(replay["refresh_token"], r2.as_str());
    // After the window, the replay revokes the whole grant.
    server.clock.advance(Duration::from_secs(11));
    let description = oauth_error(refresh(r1.clone()).await, 400, "invalid_grant").await;
    assert!(description.contains("already used"), "{description}");
    oauth_error(refresh(r2.clone()).await, 400, "invalid_grant").await;

    // A new authorization works (consent is remembered only for one org,
    // Ada has two, so she picks again), and revocation ends it.
    let agent = connect(&server, &browser, &client_id, &beta).await;
    // A refresh may narrow the access token's scope, never widen it.
    let widened = token(
        &server,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &agent.refresh),
            ("client_id", &client_id),
            ("scope", "envelopes:read admin"),
        ],
    )
    .await;
    oauth_error(widened, 400, "invalid_scope").await;
    let tokens = token_ok(
        &server,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &agent.refresh),
            ("client_id", &client_id),
            ("scope", "envelopes:read"),
        ],
    )
    .await;
    assert_eq!(tokens["scope"], "envelopes:read");
    assert_eq!(
        claims(tokens["access_token"].as_str().unwrap())["scope"],
        "envelopes:read"
    );
    let resource_server = introspection_client(&server).await;
    let access_token = tokens["access_token"].as_str().unwrap().to_owned();
    let active = introspect(&server, &resource_server, &access_token).await;
    assert_eq!(active["active"], true);
    assert_eq!(active["org_id"], beta.as_str());
    assert_eq!(active["scope"], "envelopes:read");
    let revoked = server
        .http
        .post(format!("{}/oauth/revoke", server.base))
        .form(&[
            ("token", tokens["refresh_token"].as_str().unwrap()),
            ("client_id", &client_id),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    assert_eq!(
        introspect(&server, &resource_server, &access_token).await,
        json!({ "active": false }),
        "the grant's access tokens stop too"
    );
    oauth_error(
        refresh(tokens["refresh_token"].as_str().unwrap().to_owned()).await,
        400,
        "invalid_grant",
    )
    .await;
    let unknown = server
        .http
        .post(format!("{}/oauth/revoke", server.base))
        .form(&[("token", "nonsense"), ("client_id", client_id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 200, "unknown tokens answer 200");

    let actions: Vec<String> = signet_store::sqlx::query_scalar(
        "SELECT DISTINCT action FROM audit_events ORDER BY action",
    )
    .fetch_all(server.running.state.store.pool())
    .await
    .unwrap();
    for expected in [
        "client.registered",
        "consent.granted",
        "grant.revoked",
        "refresh_token.reuse_detected",
        "sign_in.succeeded",
    ] {
        assert!(
            actions.iter().any(|a| a == expected),
            "{expected} in {actions:?}"
        );
    }
    let reuse: String = signet_store::sqlx::query_scalar(
        "SELECT detail FROM audit_events WHERE action = 'refresh_token.reuse_detected'",
    )
    .fetch_one(server.running.state.store.pool())
    .await
    .unwrap();
    let reuse: Value = serde_json::from_str(&reuse).unwrap();
    assert_eq!(reuse["client_ip"], "127.0.0.1");
    assert_eq!(reuse["client_id"], client_id.as_str());
    assert!(reuse["user_id"].as_str().unwrap().starts_with("usr_"));
    let details: Vec<String> = signet_store::sqlx::query_scalar("SELECT detail FROM audit_events")
        .fetch_all(server.running.state.store.pool())
        .await
        .unwrap();
    assert!(
        !details
            .iter()
            .any(|d| d.contains(&r0) || d.contains(PASSWORD) || d.contains(&resource_server.1)),
        "no secret in the audit trail"
    );
    server.running.stop().await.unwrap();
}

async fn registration_follows_rfc_7591_and_our_rules(db: TestDb) {
    let server = start(db, None).await;
    let url = format!("{}/oauth/register", server.base);
    let confidential = register(&server, json!({ "redirect_uris": ["https://claude.ai/api/mcp/auth_callback", "https://claude.com/api/mcp/auth_callback"] })).await;
    assert!(
        confidential["client_id"]
            .as_str()
            .unwrap()
            .starts_with("cli_")
    );
    assert_eq!(
        confidential["token_endpoint_auth_method"],
        "client_secret_basic"
    );
    assert_eq!(confidential["client_secret"].as_str().unwrap().len(), 43);
    assert_eq!(confidential["client_secret_expires_at"], 0);
    assert_eq!(confidential["client_name"], "Unnamed client");
    assert_eq!(
        confidential["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(confidential["response_types"], json!(["code"]));

    let cursor = json!({
        "client_name": "Cursor",
        "redirect_uris": ["cursor://anysphere.cursor-retrieval/oauth/callback", "https://cursor.com/cb", "http://localhost:61234/callback"],
        "token_endpoint_auth_method": "none",
        "application_type": "native",
    });
    let first = register(&server, cursor.clone()).await;
    assert!(first.get("client_secret").is_none());
    let again = register(&server, cursor).await;
    assert_eq!(
        again["client_id"], first["client_id"],
        "an identical re-registration returns the same client"
    );

    let response = server
        .http
        .post(&url)
        .json(&json!({ "redirect_uris": ["https://a.example/cb", "javascript:alert(1)"] }))
        .send()
        .await
        .unwrap();
    let description = oauth_error(response, 400, "invalid_redirect_uri").await;
    assert!(description.contains("javascript:alert(1)"), "{description}");
    let response = server
        .http
        .post(&url)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    oauth_error(response, 400, "invalid_client_metadata").await;
    let huge =
        json!({ "redirect_uris": ["https://a.example/cb"], "client_name": "x".repeat(17 * 1024) });
    let response = server.http.post(&url).json(&huge).send().await.unwrap();
    oauth_error(response, 413, "invalid_request").await;

    // Browser-based clients (MCP Inspector) need CORS on register, token and revoke.
    for path in ["/oauth/register", "/oauth/token", "/oauth/revoke"] {
        let preflight = server
            .http
            .request(reqwest::Method::OPTIONS, format!("{}{path}", server.base))
            .header("Origin", "http://localhost:6274")
            .header("Access-Control-Request-Method", "POST")
            .header("Access-Control-Request-Headers", "content-type")
            .send()
            .await
            .unwrap();
        assert_eq!(preflight.status(), 200, "{path}");
        assert_eq!(
            preflight.headers()["access-control-allow-origin"],
            "*",
            "{path}"
        );
        assert!(
            preflight.headers()["access-control-allow-methods"]
                .to_str()
                .unwrap()
                .contains("POST")
        );
    }
    server.running.stop().await.unwrap();
}

async fn authorization_errors_never_redirect_to_untrusted_uris(db: TestDb) {
    let server = start(db, None).await;
    seed(&server).await;
    let p = server.running.state.issuer.as_str().to_owned();
    let client_id = public_client(&server).await;
    let browser = server.browser();
    let pkce = new_pkce();

    // Unknown client or unregistered redirect URI: a page, never a redirect.
    for path in [
        authorize_path("cli_unknown", &pkce, &[]),
        authorize_path(&client_id, &pkce, &[]).replace("127.0.0.1%3A7777", "evil.example"),
        authorize_path(&client_id, &pkce, &[]).replace("%2Fcallback", "%2Fother"),
    ] {
        let response = browser.get(&path).await;
        assert_eq!(response.status(), 400, "{path}");
        assert!(response.headers().get("location").is_none());
        assert_eq!(
            response.headers()["content-type"],
            "text/html; charset=utf-8"
        );
        assert_eq!(response.headers()["x-frame-options"], "DENY");
    }

    // After the redirect URI is verified, errors go back with state and iss.
    let pkce_path = |extra: &[(&str, &str)]| authorize_path(&client_id, &pkce, extra);
    let cases: Vec<(String, &str)> = vec![
        (
            pkce_path(&[("scope", "envelopes:read admin")]),
            "invalid_scope",
        ),
        (
            pkce_path(&[("resource", "https://other.example/mcp")]),
            "invalid_target",
        ),
        (pkce_path(&[("prompt", "none")]), "login_required"),
        (
            pkce_path(&[]).replace("code_challenge_method=S256", "code_challenge_method=plain"),
            "invalid_request",
        ),
        (
            pkce_path(&[]).replace("response_type=code", "response_type=token"),
            "unsupported_response_type",
        ),
        (format!("{}&state=again", pkce_path(&[])), "invalid_request"),
    ];
    for (path, code) in cases {
        let response = browser.get(&path).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
        let target = location(&response);
        assert!(target.starts_with(CALLBACK), "{target}");
        let params = query(&target);
        assert_eq!(param(&params, "error"), Some(code), "{path}");
        assert_eq!(param(&params, "iss"), Some(p.as_str()));
        assert!(param(&params, "error_description").is_some());
        if !path.contains("state=again") {
            assert_eq!(param(&params, "state"), Some("st&te=1"));
        }
    }

    // A registered loopback redirect matches on any port.
    let other_port =
        authorize_path(&client_id, &pkce, &[]).replace("127.0.0.1%3A7777", "127.0.0.1%3A50123");
    let response = browser.get(&other_port).await;
    assert!(
        location(&response).starts_with("/login"),
        "loopback on another port is accepted"
    );

    // Every accepted form of `resource`, and none at all, is accepted.
    for resource in [p.clone(), format!("{p}/"), format!("{p}/mcp")] {
        let response = browser
            .get(&authorize_path(
                &client_id,
                &pkce,
                &[("resource", &resource)],
            ))
            .await;
        assert!(location(&response).starts_with("/login"), "{resource}");
    }

    // Signed in without consent: prompt=none says consent_required; Deny says access_denied.
    let callback = authorize(&browser, &authorize_path(&client_id, &pkce, &[]), None).await;
    assert!(param(&query(&callback), "code").is_some());
    let response = browser
        .get(&authorize_path(&client_id, &pkce, &[("prompt", "none")]))
        .await;
    assert_eq!(
        param(&query(&location(&response)), "error"),
        Some("consent_required"),
        "two organizations: consent is asked again"
    );
    let page = browser
        .get(&authorize_path(&client_id, &pkce, &[]))
        .await
        .text()
        .await
        .unwrap();
    let mut form = hidden_inputs(&page);
    form.push(("decision".into(), "deny".into()));
    let denied = location(&browser.post("/oauth/authorize", &form).await);
    assert_eq!(param(&query(&denied), "error"), Some("access_denied"));
    assert_eq!(param(&query(&denied), "iss"), Some(p.as_str()));

    // A consent form without the session's CSRF token is refused.
    let mut forged: Vec<(String, String)> = hidden_inputs(&page)
        .into_iter()
        .filter(|(k, _)| k != "csrf")
        .collect();
    forged.push(("csrf".into(), "forged".into()));
    forged.push(("decision".into(), "approve".into()));
    assert_eq!(
        browser.post("/oauth/authorize", &forged).await.status(),
        403
    );
    server.running.stop().await.unwrap();
}

async fn the_token_endpoint_checks_everything_before_consuming_a_code(db: TestDb) {
    let server = start(db, None).await;
    seed(&server).await;
    let client_id = public_client(&server).await;
    let browser = server.browser();
    let pkce = new_pkce();
    let callback = authorize(&browser, &authorize_path(&client_id, &pkce, &[]), None).await;
    let code = param(&query(&callback), "code").unwrap().to_owned();
    let base = |extra: &[(&'static str, String)]| {
        let mut form = vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", code.clone()),
            ("redirect_uri", CALLBACK.to_owned()),
            ("code_verifier", pkce.verifier.clone()),
            ("client_id", client_id.clone()),
        ];
        for (k, v) in extra {
            form.retain(|(key, _)| key != k);
            form.push((k, v.clone()));
        }
        form
    };
    let send = |form: Vec<(&'static str, String)>| {
        let server = &server;
        async move {
            server
                .http
                .post(format!("{}/oauth/token", server.base))
                .form(&form)
                .send()
                .await
                .unwrap()
        }
    };
    // Each wrong detail is refused, and the code survives it.
    oauth_error(
        send(base(&[("code_verifier", new_pkce().verifier)])).await,
        400,
        "invalid_grant",
    )
    .await;
    oauth_error(
        send(base(&[(
            "redirect_uri",
            "http://127.0.0.1:7777/other".into(),
        )]))
        .await,
        400,
        "invalid_grant",
    )
    .await;
    oauth_error(
        send(base(&[(
            "resource",
            "https://elsewhere.example/mcp".into(),
        )]))
        .await,
        400,
        "invalid_target",
    )
    .await;
    oauth_error(
        send(base(&[("grant_type", "password".into())])).await,
        400,
        "unsupported_grant_type",
    )
    .await;
    let other = public_client_named(&server, "Other").await;
    oauth_error(
        send(base(&[("client_id", other)])).await,
        400,
        "invalid_grant",
    )
    .await;
    let unknown = send(base(&[("client_id", "cli_nobody".into())])).await;
    assert_eq!(
        unknown.headers()["www-authenticate"],
        "Basic realm=\"signet\", charset=\"UTF-8\""
    );
    oauth_error(unknown, 401, "invalid_client").await;
    let malformed = server
        .http
        .post(format!("{}/oauth/token", server.base))
        .header("authorization", "Basic !!!")
        .form(&base(&[]))
        .send()
        .await
        .unwrap();
    assert!(malformed.headers().contains_key("www-authenticate"));
    oauth_error(malformed, 401, "invalid_client").await;

    let tokens: Value = send(base(&[])).await.json().await.unwrap();
    assert!(tokens["access_token"].is_string());
    // A replayed code is refused and revokes what it issued.
    let description = oauth_error(send(base(&[])).await, 400, "invalid_grant").await;
    assert!(description.contains("already used"), "{description}");
    let refresh = token(
        &server,
        &refresh_grant(tokens["refresh_token"].as_str().unwrap(), &client_id),
    )
    .await;
    oauth_error(refresh, 400, "invalid_grant").await;

    // Codes expire after 60 s.
    let pkce2 = new_pkce();
    let callback = authorize(&browser, &authorize_path(&client_id, &pkce2, &[]), None).await;
    server.clock.advance(Duration::from_secs(61));
    let expired = exchange(
        &server,
        &callback,
        CALLBACK,
        &pkce2,
        &[("client_id", &client_id)],
    )
    .await;
    let description = oauth_error(expired, 400, "invalid_grant").await;
    assert!(description.contains("expired"), "{description}");

    // A client_secret_post client authenticates in the body, and only there.
    let secret_client = register(
        &server,
        json!({ "redirect_uris": [CALLBACK], "token_endpoint_auth_method": "client_secret_post" }),
    )
    .await;
    let (id, secret) = (
        secret_client["client_id"].as_str().unwrap(),
        secret_client["client_secret"].as_str().unwrap(),
    );
    let wrong = server
        .http
        .post(format!("{}/oauth/token", server.base))
        .basic_auth(id, Some("wrong"))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", "x")])
        .send()
        .await
        .unwrap();
    oauth_error(wrong, 401, "invalid_client").await;
    let missing = token(
        &server,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", "x"),
            ("client_id", id),
        ],
    )
    .await;
    oauth_error(missing, 401, "invalid_client").await;
    let authenticated = token(
        &server,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", "x"),
            ("client_id", id),
            ("client_secret", secret),
        ],
    )
    .await;
    oauth_error(authenticated, 400, "invalid_grant").await;
    server.running.stop().await.unwrap();
}

/// RFC 6749 §2.3 lets a server register each client for one method; a
/// client authenticating another way (or presenting a secret it was never
/// issued) is refused, at the token, revocation and introspection
/// endpoints alike.
async fn clients_authenticate_only_with_their_registered_method(db: TestDb) {
    let server = start(db, None).await;
    let registered = |method: &'static str| {
        let server = &server;
        async move {
            let client = register(
                server,
                json!({ "client_name": method, "redirect_uris": [CALLBACK], "token_endpoint_auth_method": method }),
            )
            .await;
            (
                client["client_id"].as_str().unwrap().to_owned(),
                client["client_secret"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        }
    };
    let (basic, basic_secret) = registered("client_secret_basic").await;
    let (post, post_secret) = registered("client_secret_post").await;
    let (public, _) = registered("none").await;

    /// How a case presents its client.
    enum Presented<'a> {
        Basic(&'a str, &'a str),
        Body(Vec<(&'a str, &'a str)>),
        Both(&'a str, &'a str, Vec<(&'a str, &'a str)>),
    }
    use Presented::{Basic, Body, Both};
    // (what, presented, accepted). Accepted means the endpoint went on to
    // the token: 400 invalid_grant at /oauth/token (the refresh token is
    // made up), 200 at /oauth/revoke; refused is 401 invalid_client.
    let cases: Vec<(&str, Presented, bool)> = vec![
        ("basic client, Basic", Basic(&basic, &basic_secret), true),
        (
            "basic client, body",
            Body(vec![
                ("client_id", &basic),
                ("client_secret", &basic_secret),
            ]),
            false,
        ),
        ("basic client, wrong Basic", Basic(&basic, "wrong"), false),
        (
            "basic client, id only",
            Body(vec![("client_id", &basic)]),
            false,
        ),
        (
            "basic client, Basic and body secret",
            Both(
                &basic,
                &basic_secret,
                vec![("client_secret", &basic_secret)],
            ),
            false,
        ),
        (
            "post client, body",
            Body(vec![("client_id", &post), ("client_secret", &post_secret)]),
            true,
        ),
        ("post client, Basic", Basic(&post, &post_secret), false),
        (
            "post client, wrong body",
            Body(vec![("client_id", &post), ("client_secret", "wrong")]),
            false,
        ),
        (
            "public client, id only",
            Body(vec![("client_id", &public)]),
            true,
        ),
        ("public client, wrong Basic", Basic(&public, "wrong"), false),
        (
            "public client, body secret",
            Body(vec![("client_id", &public), ("client_secret", "anything")]),
            false,
        ),
        (
            "public client, another client's secret",
            Basic(&public, &basic_secret),
            false,
        ),
        // `id:` names a client without presenting a secret (how Go's
        // x/oauth2 probes the header style).
        (
            "public client, Basic with no secret",
            Basic(&public, ""),
            true,
        ),
    ];
    let mut mismatches = Vec::new();
    for (endpoint, form) in [
        (
            "/oauth/token",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", "made-up"),
            ][..],
        ),
        ("/oauth/revoke", &[("token", "made-up")][..]),
    ] {
        for (what, presented, accepted) in &cases {
            let mut request = server.http.post(format!("{}{endpoint}", server.base));
            let mut fields: Vec<(&str, &str)> = form.to_vec();
            match presented {
                Basic(id, secret) => request = request.basic_auth(id, Some(secret)),
                Body(extra) => fields.extend_from_slice(extra),
                Both(id, secret, extra) => {
                    request = request.basic_auth(id, Some(secret));
                    fields.extend_from_slice(extra);
                }
            }
            let response = request.form(&fields).send().await.unwrap();
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            let ok = match (accepted, endpoint) {
                (true, "/oauth/token") => status == 400 && body["error"] == "invalid_grant",
                (true, _) => status == 200,
                (false, _) => status == 401 && body["error"] == "invalid_client",
            };
            if !ok {
                mismatches.push(format!("{endpoint} {what}: {status} {body}"));
            }
        }
    }
    assert!(mismatches.is_empty(), "{mismatches:#?}");

    // A refusal says which method the client is registered for.
    let description = oauth_error(
        token(
            &server,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", "made-up"),
                ("client_id", &basic),
                ("client_secret", &basic_secret),
            ],
        )
        .await,
        401,
        "invalid_client",
    )
    .await;
    assert!(description.contains("client_secret_basic"), "{description}");

    // The introspection client too: Basic, as registered, and nothing else.
    let rs = introspection_client(&server).await;
    let endpoint = format!("{}/oauth/introspect", server.base);
    assert_eq!(
        introspect(&server, &rs, "made-up").await,
        json!({ "active": false })
    );
    let in_body = server
        .http
        .post(&endpoint)
        .form(&[
            ("token", "made-up"),
            ("client_id", rs.0.as_str()),
            ("client_secret", rs.1.as_str()),
        ])
        .send()
        .await
        .unwrap();
    oauth_error(in_body, 401, "invalid_client").await;
    server.running.stop().await.unwrap();
}

async fn sign_in_is_generic_csrf_protected_and_throttled(db: TestDb) {
    let server = start(db, None).await;
    seed(&server).await;
    let browser = server.browser();
    let wrong_password = sign_in(&browser, "/login", EMAIL, "not the password").await;
    assert_eq!(wrong_password.status(), 401);
    let unknown_user = sign_in(&browser, "/login", "nobody@example.com", PASSWORD).await;
    assert_eq!(unknown_user.status(), 401);
    let (a, b) = (
        wrong_password.text().await.unwrap(),
        unknown_user.text().await.unwrap(),
    );
    assert!(
        a.contains("Incorrect email or password.") && b.contains("Incorrect email or password.")
    );

    // Without the form's CSRF token, nothing is checked.
    let forged = browser
        .post(
            "/login",
            &[
                ("email".into(), EMAIL.into()),
                ("password".into(), PASSWORD.into()),
                ("csrf".into(), "x".into()),
            ],
        )
        .await;
    assert_eq!(forged.status(), 403);

    // Two more failures for Ada (three so far), then the fourth imposes a wait.
    sign_in(&browser, "/login", EMAIL, "nope").await;
    sign_in(&browser, "/login", EMAIL, "nope").await;
    sign_in(&browser, "/login", EMAIL, "nope").await;
    let throttled = sign_in(&browser, "/login", EMAIL, PASSWORD).await;
    assert_eq!(throttled.status(), 429, "even the right password waits");
    assert_eq!(throttled.headers()["retry-after"], "2");
    server.clock.advance(Duration::from_secs(3));
    let ok = sign_in(&browser, "/login", EMAIL, PASSWORD).await;
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&ok), "/");
    let home = browser.get("/").await.text().await.unwrap();
    assert!(home.contains("signed in as ada@example.com"), "{home}");

    // Return paths never leave the site.
    let page = browser
        .get("/login?return_to=https%3A%2F%2Fevil.example%2F")
        .await
        .text()
        .await
        .unwrap();
    assert!(hidden_inputs(&page).contains(&("return_to".into(), "/".into())));

    // Sign-out needs the session's CSRF token, then ends the session.
    let csrf = hidden_inputs(&home)
        .into_iter()
        .find(|(k, _)| k == "csrf")
        .unwrap()
        .1;
    let out = browser.post("/logout", &[("csrf".into(), csrf)]).await;
    assert_eq!(location(&out), "/login");
    assert_eq!(location(&browser.get("/").await), "/login");
    server.running.stop().await.unwrap();
}

async fn consent_is_remembered_and_replaced(db: TestDb) {
    let server = start(db, None).await;
    let solo = seed_solo(&server).await;
    let client_id = public_client(&server).await;
    let browser = server.browser();

    let first = connect_as(
        &server,
        &browser,
        &client_id,
        &solo,
        EMAIL,
        Some("envelopes:read"),
    )
    .await;
    assert_eq!(first.tokens["scope"], "envelopes:read");

    // One organization and a live connection covering the scopes: straight back.
    let p2 = new_pkce();
    let direct = browser
        .get(&authorize_path(
            &client_id,
            &p2,
            &[("scope", "envelopes:read")],
        ))
        .await;
    assert_eq!(direct.status(), StatusCode::SEE_OTHER);
    let callback = location(&direct);
    assert!(
        callback.starts_with(CALLBACK) && param(&query(&callback), "code").is_some(),
        "{callback}"
    );
    // prompt=consent asks again; wider scopes ask again.
    assert_eq!(
        browser
            .get(&authorize_path(
                &client_id,
                &p2,
                &[("scope", "envelopes:read"), ("prompt", "consent")]
            ))
            .await
            .status(),
        200
    );
    assert_eq!(
        browser
            .get(&authorize_path(&client_id, &p2, &[]))
            .await
            .status(),
        200
    );

    // Exchanging the re-authorisation's code replaces the first grant: its
    // refresh token is dead (until then it kept working).
    issued(
        exchange(
            &server,
            &callback,
            CALLBACK,
            &p2,
            &[("client_id", &client_id)],
        )
        .await,
    )
    .await;
    let stale = token(&server, &refresh_grant(&first.refresh, &client_id)).await;
    oauth_error(stale, 400, "invalid_grant").await;
    let connections = server.count_rows("connections").await;
    assert_eq!(connections, 1, "the same connection, a new grant");
    server.running.stop().await.unwrap();
}

async fn a_client_library_written_elsewhere_completes_the_flow(db: TestDb) {
    use oauth2::basic::BasicClient;
    use oauth2::{
        AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge,
        RedirectUrl, Scope, TokenResponse, TokenUrl,
    };
    let server = start(db, None).await;
    seed(&server).await;
    let p = server.running.state.issuer.as_str().to_owned();
    for method in ["none", "client_secret_basic", "client_secret_post"] {
        let registered = register(
            &server,
            json!({ "client_name": format!("oauth2-rs {method}"), "redirect_uris": [CALLBACK], "token_endpoint_auth_method": method }),
        )
        .await;
        let client = BasicClient::new(ClientId::new(
            registered["client_id"].as_str().unwrap().to_owned(),
        ))
        .set_auth_uri(AuthUrl::new(format!("{p}/oauth/authorize")).unwrap())
        .set_token_uri(TokenUrl::new(format!("{p}/oauth/token")).unwrap())
        .set_redirect_uri(RedirectUrl::new(CALLBACK.to_owned()).unwrap())
        .set_auth_type(if method == "client_secret_post" {
            AuthType::RequestBody
        } else {
            AuthType::BasicAuth
        });
        let secret = registered["client_secret"]
            .as_str()
            .map(|s| ClientSecret::new(s.to_owned()));
        assert_eq!(secret.is_some(), method != "none");
        // A public client sends its id in the body.
        let client = match secret {
            Some(secret) => client.set_client_secret(secret),
            None => client.set_auth_type(AuthType::RequestBody),
        };
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, csrf) = client
            .authorize_url(CsrfToken::new_random)
            .add_scope(Scope::new("envelopes:read".to_owned()))
            .add_scope(Scope::new("envelopes:write".to_owned()))
            .add_extra_param("resource", format!("{p}/mcp"))
            .set_pkce_challenge(challenge)
            .url();
        // The script plays the user: sign in, pick Acme, approve.
        let browser = server.browser();
        let callback = authorize(&browser, url.as_str(), None).await;
        let params = query(&callback);
        assert_eq!(param(&params, "state"), Some(csrf.secret().as_str()));
        assert_eq!(param(&params, "iss"), Some(p.as_str()));
        let code = AuthorizationCode::new(param(&params, "code").unwrap().to_owned());
        let tokens = client
            .exchange_code(code)
            .set_pkce_verifier(verifier)
            .request_async(&oauth2_http)
            .await
            .unwrap_or_else(|e| panic!("{method}: {e:?}"));
        assert_eq!(
            claims(tokens.access_token().secret())["aud"],
            format!("{p}/mcp")
        );
        let refresh = tokens.refresh_token().unwrap();
        let refreshed = client
            .exchange_refresh_token(refresh)
            .request_async(&oauth2_http)
            .await
            .unwrap_or_else(|e| panic!("{method} refresh: {e:?}"));
        assert_ne!(
            refreshed.refresh_token().unwrap().secret(),
            refresh.secret(),
            "{method}: rotated"
        );
        assert!(refreshed.expires_in().is_some());
    }
    server.running.stop().await.unwrap();
}

async fn cookies_are_secure_when_the_public_url_is_https(db: TestDb) {
    let server = start(db, Some("https://signet.example")).await;
    let page = server.get("/login").await;
    assert_eq!(page.status(), 200);
    let cookie = page.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("signet_login_csrf="), "{cookie}");
    for attribute in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/"] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    server.running.stop().await.unwrap();
}
