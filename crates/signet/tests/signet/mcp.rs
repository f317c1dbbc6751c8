//! `/mcp`: every row of the seed's 401 table produced by a real scenario,
//! the Host and Origin checks, and `whoami`.

use std::time::Duration;

use serde_json::{Value, json};
use signet_store::Clock;
use signet_store::audit::Actor;
use signet_store::testing::TestDb;

use crate::support::{
    CALLBACK, EMAIL, assert_refused, authorize, call, claims, connect, connect_agent,
    hidden_inputs, introspect, introspection_client, public_client, seed, start, whoami_request,
};

mod edge;

signet_store::store_tests!(
    every_row_of_the_401_table,
    host_and_origin_are_checked,
    the_rmcp_client_connects_refreshes_and_is_disconnected,
    access_tokens_honour_crit_nbf_iat_and_both_typ_spellings,
);

async fn every_row_of_the_401_table(db: TestDb) {
    let server = start(db, None).await;
    let (acme, beta) = seed(&server).await;
    let identity = &server.running.state.identity;
    let client_id = public_client(&server).await;
    let browser = server.browser();

    // Missing bearer token (a token in the query string does not count).
    assert_refused(
        &server,
        call(&server, None, &whoami_request()).await,
        "Missing bearer token",
    )
    .await;
    let in_query = server
        .http
        .post(format!("{}/mcp?access_token=abc", server.base))
        .header("accept", "application/json, text/event-stream")
        .json(&whoami_request())
        .send()
        .await
        .unwrap();
    assert_refused(&server, in_query, "Missing bearer token").await;

    // Invalid token: garbage, or signed by us for another audience.
    assert_refused(
        &server,
        call(&server, Some("garbage"), &whoami_request()).await,
        "Invalid token",
    )
    .await;
    let ada = connect(&server, &browser, &client_id, &acme).await;
    let mut forged = claims(&ada.access);
    forged["aud"] = json!("https://elsewhere.example/mcp");
    let forged = server
        .running
        .state
        .keys
        .sign("at+jwt", &forged)
        .await
        .unwrap();
    assert_refused(
        &server,
        call(&server, Some(&forged), &whoami_request()).await,
        "Invalid token",
    )
    .await;

    // A good token: whoami tells who and what.
    let me = ada.whoami().await;
    assert_eq!(me["organization_id"], acme.as_str());
    assert_eq!(me["account"]["status"], "active");
    assert_eq!(me["account"]["live_mode"], false);
    assert_eq!(me["connection"]["name"], "Test Agent");
    assert_eq!(me["connection"]["client_id"], client_id.as_str());
    assert_eq!(me["scopes"], json!(["envelopes:read", "envelopes:write"]));
    assert!(me["token_expires_at"].as_str().unwrap().ends_with('Z'));
    let con_id = me["connection"]["id"].as_str().unwrap().to_owned();
    // Requests the scope check cannot read exactly never reach a tool;
    // escaped strings are read as what they mean.
    for (body, code) in [
        (
            r#"[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami"}}]"#,
            -32600,
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami","name":"other"}}"#,
            -32600,
        ),
        ("{not json", -32700),
    ] {
        let response = server
            .http
            .post(format!("{}/mcp", server.base))
            .bearer_auth(&ada.access)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{body}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["code"], code, "{body}");
    }
    let escaped = server
        .http
        .post(format!("{}/mcp", server.base))
        .bearer_auth(&ada.access)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25")
        .body(r#"{"jsonrpc":"2.0","id":7,"method":"tools\/call","params":{"name":"whoami","arguments":{}}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(escaped.status(), 200);
    let escaped: Value = escaped.json().await.unwrap();
    assert_eq!(
        escaped["result"]["structuredContent"]["organization_id"],
        acme.as_str()
    );

    // Calls are counted in memory and written in batches, not per request.
    ada.whoami().await;
    let listed = server
        .cli(&["connections", "list", "--json"], None)
        .await
        .json();
    assert_eq!(listed[0]["call_count"], 0, "nothing written yet");
    let state = &server.running.state;
    assert_eq!(state.usage.flush(&state.store).await.unwrap(), 1);
    let listed = server
        .cli(&["connections", "list", "--json"], None)
        .await
        .json();
    assert_eq!(listed[0]["id"], con_id.as_str());
    assert_eq!(listed[0]["call_count"], 3, "calls that reached the service");
    assert_eq!(listed[0]["last_seen_at"], state.clock.now().rfc3339());

    // Expired: by the server's clock.
    server.clock.advance(Duration::from_secs(3601));
    assert_refused(
        &server,
        ada.request(&whoami_request()).await,
        "Token is revoked or expired",
    )
    .await;
    let ada = ada.refreshed().await;
    ada.whoami().await;

    // No org_id and no single organization (Ada has two).
    let mut orgless = claims(&ada.access);
    orgless.as_object_mut().unwrap().remove("org_id");
    let orgless = server
        .running
        .state
        .keys
        .sign("at+jwt", &orgless)
        .await
        .unwrap();
    assert_refused(
        &server,
        call(&server, Some(&orgless), &whoami_request()).await,
        "User has no organization",
    )
    .await;

    // Account inactive, from the CLI in another process; and back.
    server
        .cli(
            &[
                "account",
                "set-status",
                "--org",
                &acme,
                "--status",
                "suspended",
            ],
            None,
        )
        .await
        .ok();
    assert_refused(
        &server,
        ada.request(&whoami_request()).await,
        "Account is inactive",
    )
    .await;
    server
        .cli(
            &[
                "account",
                "set-status",
                "--org",
                &acme,
                "--status",
                "active",
            ],
            None,
        )
        .await
        .ok();
    ada.whoami().await;

    // Account not found: an organization never linked to an account.
    let gamma = identity
        .create_organization(&Actor::Cli, "Gamma", Some(EMAIL))
        .await
        .unwrap();
    let unlinked = connect(&server, &browser, &client_id, &gamma.id).await;
    assert_refused(
        &server,
        unlinked.request(&whoami_request()).await,
        "Account not found",
    )
    .await;

    // Revoked: the grant's refresh token is revoked; its access token stops too.
    let revoked = server
        .http
        .post(format!("{}/oauth/revoke", server.base))
        .form(&[
            ("token", ada.refresh.as_str()),
            ("client_id", client_id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    assert_refused(
        &server,
        ada.request(&whoami_request()).await,
        "Token is revoked or expired",
    )
    .await;

    // Disconnected, from the CLI: refused on the very next request.
    let ada_beta = connect(&server, &browser, &client_id, &beta).await;
    let me = ada_beta.whoami().await;
    assert_eq!(me["organization_id"], beta.as_str());
    let beta_con = me["connection"]["id"].as_str().unwrap().to_owned();
    assert_ne!(beta_con, con_id);
    server
        .cli(&["connections", "revoke", &beta_con], None)
        .await
        .ok();
    assert_refused(
        &server,
        ada_beta.request(&whoami_request()).await,
        "Application has been disconnected",
    )
    .await;

    // The 401 is readable by browser clients.
    let response = server
        .http
        .post(format!("{}/mcp", server.base))
        .header("origin", server.running.state.issuer.as_str())
        .json(&whoami_request())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(
        response.headers()["access-control-expose-headers"]
            .to_str()
            .unwrap()
            .contains("www-authenticate")
    );
    server.running.stop().await.unwrap();
}

async fn host_and_origin_are_checked(db: TestDb) {
    let server = start(db, None).await;
    let foreign_origin = server
        .http
        .post(format!("{}/mcp", server.base))
        .header("origin", "https://evil.example")
        .json(&whoami_request())
        .send()
        .await
        .unwrap();
    assert_eq!(foreign_origin.status(), 403);
    assert_eq!(
        foreign_origin.json::<Value>().await.unwrap()["error"],
        "forbidden"
    );
    let foreign_host = server
        .http
        .post(format!("{}/mcp", server.base))
        .header("host", "evil.example")
        .json(&whoami_request())
        .send()
        .await
        .unwrap();
    assert_eq!(foreign_host.status(), 403);
    // Our own origin passes the check and meets the bearer check.
    let own = server
        .http
        .post(format!("{}/mcp", server.base))
        .header("origin", server.running.state.issuer.as_str())
        .json(&whoami_request())
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), 401);
    server.running.stop().await.unwrap();
}

/// rmcp's own client, given only the server URL: discovery from the 401,
/// registration, PKCE, the forms (filled by this test as a person would),
/// `tools/call whoami`, a refresh, then a Disconnect on the web page.
async fn the_rmcp_client_connects_refreshes_and_is_disconnected(db: TestDb) {
    use rmcp::ServiceExt;
    use rmcp::model::CallToolRequestParams;
    use rmcp::transport::auth::{AuthClient, AuthorizationRequest, OAuthState};
    use rmcp::transport::streamable_http_client::{
        StreamableHttpClientTransport, StreamableHttpClientTransportConfig,
    };

    let server = start(db, None).await;
    let (acme, _beta) = seed(&server).await;
    let mcp_url = format!("{}/mcp", server.running.state.issuer);
    let mut oauth = OAuthState::new(mcp_url.as_str(), None).await.unwrap();
    oauth
        .start_authorization(
            AuthorizationRequest::new(CALLBACK).with_client_name("rmcp test client"),
        )
        .await
        .unwrap();
    let url = oauth.get_authorization_url().await.unwrap();
    let browser = server.browser();
    let callback = authorize(&browser, &url, Some(&acme)).await;
    oauth.handle_callback_url(&callback).await.unwrap();
    let manager = oauth.into_authorization_manager().expect("authorized");
    let first_token = manager.get_access_token().await.unwrap();
    manager.refresh_token().await.unwrap();
    let token = manager.get_access_token().await.unwrap();
    assert_ne!(token, first_token, "the refresh gave a new access token");

    let client = AuthClient::new(reqwest::Client::new(), manager);
    let transport = StreamableHttpClientTransport::with_client(
        client,
        StreamableHttpClientTransportConfig::with_uri(mcp_url.as_str()),
    );
    let service = ().serve(transport).await.unwrap();
    let tools = service.list_all_tools().await.unwrap();
    assert!(tools.iter().any(|t| t.name == "whoami"));
    let result = service
        .call_tool(CallToolRequestParams::new("whoami"))
        .await
        .unwrap();
    let me = result.structured_content.unwrap();
    assert_eq!(me["organization_id"], acme.as_str());
    assert_eq!(me["connection"]["name"], "rmcp test client");
    let con_id = me["connection"]["id"].as_str().unwrap().to_owned();

    // Disconnect on the web page, through the confirmation step.
    let confirm = browser
        .get(&format!("/settings/applications/{con_id}/disconnect"))
        .await;
    let form = hidden_inputs(&confirm.text().await.unwrap());
    let done = browser
        .post(
            &format!("/settings/applications/{con_id}/disconnect"),
            &form,
        )
        .await;
    assert_eq!(done.status(), 303);

    // The client's next call is refused, with the seed's message.
    let refused = service
        .call_tool(CallToolRequestParams::new("whoami"))
        .await;
    let refusal = format!("{:?}", refused.unwrap_err());
    assert!(
        refusal.contains(r#"error_description=\"Application has been disconnected\""#),
        "{refusal}"
    );
    assert_refused(
        &server,
        call(&server, Some(&token), &whoami_request()).await,
        "Application has been disconnected",
    )
    .await;
    let _ = service.cancel().await;
    server.running.stop().await.unwrap();
}

/// Tokens signed with the server's own key but carrying what Signet does
/// not issue: a `crit` extension (RFC 7515 §4.1.11: must be understood, and
/// Signet understands none), a `nbf` or `iat` in the future (beyond 60 s of
/// leeway), and the long `typ` spelling RFC 9068 §2.1 allows. Checked at
/// `/mcp` and by introspection, against the server's injected clock.
async fn access_tokens_honour_crit_nbf_iat_and_both_typ_spellings(db: TestDb) {
    use data_encoding::BASE64URL_NOPAD;
    let server = start(db, None).await;
    let (acme, _) = seed(&server).await;
    let access = connect_agent(&server, &acme, None).await.access;
    let resource_server = introspection_client(&server).await;
    let (kid, private_key): (String, Vec<u8>) = signet_store::sqlx::query_as(
        "SELECT kid, private_key FROM signing_keys WHERE status = 'active'",
    )
    .fetch_one(server.running.state.store.pool())
    .await
    .unwrap();
    let key = jsonwebtoken::EncodingKey::from_ed_der(&private_key);
    let issued = claims(&access);
    let sign = |header: Value, claims: &Value| {
        let input = format!(
            "{}.{}",
            BASE64URL_NOPAD.encode(header.to_string().as_bytes()),
            BASE64URL_NOPAD.encode(claims.to_string().as_bytes())
        );
        let signature =
            jsonwebtoken::crypto::sign(input.as_bytes(), &key, jsonwebtoken::Algorithm::EdDSA)
                .unwrap();
        format!("{input}.{signature}")
    };
    let header = |typ: &str| json!({ "alg": "EdDSA", "typ": typ, "kid": kid });
    let now = server.clock.now().as_secs();
    let with = |changes: Value| {
        let mut claims = issued.clone();
        for (name, value) in changes.as_object().unwrap() {
            claims[name] = value.clone();
        }
        claims
    };
    let crit = |mut header: Value, crit: Value| {
        header["crit"] = crit;
        header["urn:example:policy"] = json!("anything");
        header
    };
    let future_nbf = sign(
        header("at+jwt"),
        &with(json!({ "nbf": now + 3600, "exp": now + 7200 })),
    );
    let cases: Vec<(&str, String, bool)> = vec![
        ("re-signed as issued", sign(header("at+jwt"), &issued), true),
        (
            "typ application/at+jwt",
            sign(header("application/at+jwt"), &issued),
            true,
        ),
        (
            "typ in capitals",
            sign(header("Application/AT+JWT"), &issued),
            true,
        ),
        ("typ JWT", sign(header("JWT"), &issued), false),
        (
            "typ application/jwt",
            sign(header("application/jwt"), &issued),
            false,
        ),
        (
            "crit naming an unknown parameter",
            sign(
                crit(header("at+jwt"), json!(["urn:example:policy"])),
                &issued,
            ),
            false,
        ),
        (
            "empty crit",
            sign(crit(header("at+jwt"), json!([])), &issued),
            false,
        ),
        ("nbf an hour ahead", future_nbf.clone(), false),
        (
            "nbf within the leeway",
            sign(header("at+jwt"), &with(json!({ "nbf": now + 30 }))),
            true,
        ),
        (
            "nbf in the past",
            sign(header("at+jwt"), &with(json!({ "nbf": now - 10 }))),
            true,
        ),
        (
            "iat an hour ahead",
            sign(header("at+jwt"), &with(json!({ "iat": now + 3600 }))),
            false,
        ),
        (
            "iat within the leeway",
            sign(header("at+jwt"), &with(json!({ "iat": now + 30 }))),
            true,
        ),
    ];
    let mut mismatches = Vec::new();
    for (what, token, accepted) in &cases {
        let status = call(&server, Some(token), &whoami_request()).await.status();
        let answer = introspect(&server, &resource_server, token).await;
        if (status == 200) != *accepted || answer["active"] != *accepted {
            mismatches.push(format!("{what}: /mcp {status}, introspection {answer}"));
        }
    }
    assert!(mismatches.is_empty(), "{mismatches:#?}");
    // Not before means not before: an hour on, the same token works.
    server.clock.advance(Duration::from_secs(3600));
    assert_eq!(
        call(&server, Some(&future_nbf), &whoami_request())
            .await
            .status(),
        200
    );
    assert_eq!(
        introspect(&server, &resource_server, &future_nbf).await["active"],
        true
    );
    server.running.stop().await.unwrap();
}
