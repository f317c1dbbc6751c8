//! Client ID Metadata Documents end to end: a loopback metadata host on the
//! fetch allow-list serves a claude.ai-like document (`none`) and a
//! ChatGPT-like one (`private_key_jwt` and `none`, keys at a `jwks_uri`);
//! both complete the flow. Every document that must be refused is, with a
//! clear page and without a request to the forbidden target.

use std::sync::atomic::Ordering;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::Ed25519KeyPair;
use jsonwebtoken::{EncodingKey, Header};
use serde_json::{Value, json};
use signet_store::Clock;
use signet_store::testing::TestDb;

use crate::support::{
    CALLBACK_A, CALLBACK_B, assert_authorization_refused, authorize, authorize_path_to, exchange,
    introspect, introspection_client, new_pkce, ok_json, refresh_grant, server_with_metadata_host,
    token, whoami,
};

signet_store::store_tests!(
    a_claude_like_document_with_none_completes_the_flow,
    a_chatgpt_like_document_with_private_key_jwt_completes_the_flow,
    documents_that_must_not_be_used_are_refused,
);

async fn a_claude_like_document_with_none_completes_the_flow(db: TestDb) {
    let (server, host, acme) = server_with_metadata_host(db).await;
    let client_id = host.url("claude.json");
    let browser = server.browser();

    // The consent page names the client and the redirect host, and warns:
    // every redirect URI of this document is on localhost.
    let pkce = new_pkce();
    let start = authorize_path_to(&client_id, CALLBACK_A, &pkce);
    let callback = authorize(&browser, &start, Some(&acme)).await;
    assert!(callback.starts_with(CALLBACK_A), "{callback}");
    let tokens = ok_json(
        exchange(
            &server,
            &callback,
            CALLBACK_A,
            &pkce,
            &[("client_id", &client_id)],
        )
        .await,
    )
    .await;
    let me = whoami(&server, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(me["connection"]["client_id"], client_id.as_str());
    assert_eq!(me["connection"]["name"], "Claude");
    let first_connection = me["connection"]["id"].clone();
    // A refresh works with the client id alone.
    let refreshed = ok_json(
        token(
            &server,
            &refresh_grant(tokens["refresh_token"].as_str().unwrap(), &client_id),
        )
        .await,
    )
    .await;
    assert!(refreshed["access_token"].is_string());

    // Another installation (another redirect URI) is another connection.
    let pkce = new_pkce();
    let page = browser
        .get(&authorize_path_to(&client_id, CALLBACK_B, &pkce))
        .await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("Claude"));
    assert!(html.contains("localhost"), "the redirect host is shown");
    let callback = authorize(
        &browser,
        &authorize_path_to(&client_id, CALLBACK_B, &pkce),
        Some(&acme),
    )
    .await;
    let tokens = ok_json(
        exchange(
            &server,
            &callback,
            CALLBACK_B,
            &pkce,
            &[("client_id", &client_id)],
        )
        .await,
    )
    .await;
    let second = whoami(&server, tokens["access_token"].as_str().unwrap()).await;
    assert_ne!(second["connection"]["id"], first_connection);
    let listed = server
        .cli(&["connections", "list", "--json"], None)
        .await
        .json();
    assert_eq!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["client_id"] == client_id.as_str() && c["revoked_at"].is_null())
            .count(),
        2
    );
    // The document was fetched once: it is cached for its max-age.
    assert_eq!(host.hits("claude.json"), 1);
    let clients = server
        .cli(&["clients", "list", "--json"], None)
        .await
        .json();
    let row = clients
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == client_id.as_str())
        .unwrap();
    assert_eq!(row["kind"], "cimd");
    server.running.stop().await.unwrap();
}

async fn a_chatgpt_like_document_with_private_key_jwt_completes_the_flow(db: TestDb) {
    let (server, host, acme) = server_with_metadata_host(db).await;
    let client_id = host.url("chatgpt.json");
    let browser = server.browser();
    let pkce = new_pkce();
    let callback = authorize(
        &browser,
        &authorize_path_to(&client_id, CALLBACK_A, &pkce),
        Some(&acme),
    )
    .await;
    let signed = host.assertion(&server, &client_id, "jti-1", None);
    let tokens = ok_json(
        exchange(
            &server,
            &callback,
            CALLBACK_A,
            &pkce,
            &[
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", &signed),
            ],
        )
        .await,
    )
    .await;
    let me = whoami(&server, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(me["connection"]["name"], "ChatGPT");
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();

    let refresh_with = |signed: String, refresh: String| {
        let server = &server;
        async move {
            token(
                server,
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &refresh),
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ),
                    ("client_assertion", &signed),
                ],
            )
            .await
        }
    };
    // The same assertion a second time is refused, as are a wrong
    // audience, a wrong issuer and a key the document does not publish.
    let replay = refresh_with(signed.clone(), refresh.clone()).await;
    assert_eq!(replay.status(), 401);
    let body: Value = replay.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("used before"),
        "{body}"
    );
    let elsewhere = refresh_with(
        host.assertion(
            &server,
            &client_id,
            "jti-2",
            Some("https://elsewhere.example/token"),
        ),
        refresh.clone(),
    )
    .await;
    assert_eq!(elsewhere.status(), 401);
    let mut other = Header::new(jsonwebtoken::Algorithm::EdDSA);
    other.kid = Some("chatgpt-1".into());
    let stranger_key = Ed25519KeyPair::generate_pkcs8v1(&SystemRandom::new()).unwrap();
    let now = server.clock.now().as_secs();
    let forged = jsonwebtoken::encode(
        &other,
        &json!({ "iss": client_id, "sub": client_id, "aud": format!("{}/oauth/token", server.running.state.issuer), "jti": "jti-3", "exp": now + 60 }),
        &EncodingKey::from_ed_der(stranger_key.as_ref()),
    )
    .unwrap();
    assert_eq!(refresh_with(forged, refresh.clone()).await.status(), 401);
    // A fresh assertion works; the keys were fetched once.
    let refreshed = ok_json(
        refresh_with(
            host.assertion(&server, &client_id, "jti-4", None),
            refresh.clone(),
        )
        .await,
    )
    .await;
    assert!(refreshed["access_token"].is_string());
    assert_eq!(host.jwks_hits.load(Ordering::SeqCst), 1);
    // The document also offers `none`, so the client id alone is accepted.
    let public = token(
        &server,
        &refresh_grant(refreshed["refresh_token"].as_str().unwrap(), &client_id),
    )
    .await;
    assert_eq!(public.status(), 200);
    // Introspection stays closed to it, with or without an assertion.
    let access = refreshed["access_token"].as_str().unwrap();
    for form in [
        vec![
            ("token", access.to_owned()),
            ("client_id", client_id.clone()),
        ],
        vec![
            ("token", access.to_owned()),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned(),
            ),
            (
                "client_assertion",
                host.assertion(&server, &client_id, "jti-6", None),
            ),
        ],
    ] {
        let introspected = server
            .http
            .post(format!("{}/oauth/introspect", server.base))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(introspected.status(), 401);
        let body: Value = introspected.json().await.unwrap();
        assert_eq!(body["error"], "invalid_client");
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains("registered for it"),
            "{body}"
        );
        assert!(body.get("active").is_none(), "{body}");
    }
    // A resource server registered for introspection sees its token.
    let resource_server = introspection_client(&server).await;
    let answer = introspect(&server, &resource_server, access).await;
    assert_eq!(answer["active"], true, "{answer}");
    assert_eq!(answer["client_id"], client_id.as_str());

    // A document that offers only private_key_jwt (inline keys) insists on it.
    let strict = host.url("strict.json");
    let pkce = new_pkce();
    let callback = authorize(
        &browser,
        &authorize_path_to(&strict, CALLBACK_A, &pkce),
        Some(&acme),
    )
    .await;
    let without = exchange(
        &server,
        &callback,
        CALLBACK_A,
        &pkce,
        &[("client_id", &strict)],
    )
    .await;
    assert_eq!(without.status(), 401);
    assert!(
        without.json::<Value>().await.unwrap()["error_description"]
            .as_str()
            .unwrap()
            .contains("private_key_jwt")
    );
    let with = exchange(
        &server,
        &callback,
        CALLBACK_A,
        &pkce,
        &[
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            (
                "client_assertion",
                &host.assertion(&server, &strict, "jti-5", None),
            ),
        ],
    )
    .await;
    assert_eq!(
        with.status(),
        200,
        "the code was not consumed by the failed attempt"
    );
    server.running.stop().await.unwrap();
}

async fn documents_that_must_not_be_used_are_refused(db: TestDb) {
    let (server, host, _) = server_with_metadata_host(db).await;
    let browser = server.browser();
    let port = host.authority.rsplit(':').next().unwrap().to_owned();
    // Private, link-local and loopback targets are refused before any
    // connection (the literal is judged; names are judged after DNS).
    assert_authorization_refused(
        &browser,
        "https://10.0.0.1/client.json",
        CALLBACK_A,
        "otherwise reserved address",
    )
    .await;
    assert_authorization_refused(
        &browser,
        "https://169.254.169.254/latest/meta-data",
        CALLBACK_A,
        "otherwise reserved address",
    )
    .await;
    assert_authorization_refused(
        &browser,
        &format!("https://[::1]:{port}/claude.json"),
        CALLBACK_A,
        "otherwise reserved address",
    )
    .await;
    assert_authorization_refused(
        &browser,
        &format!("http://localhost:{port}/claude.json"),
        CALLBACK_A,
        "https",
    )
    .await;
    assert_eq!(
        host.hits("claude.json"),
        0,
        "nothing reached the forbidden targets"
    );
    // A redirect is not followed.
    assert_authorization_refused(&browser, &host.url("redirect.json"), CALLBACK_A, "redirect")
        .await;
    assert_eq!(host.hits("redirect.json"), 1);
    assert_eq!(host.hits("claude.json"), 0);
    assert_authorization_refused(&browser, &host.url("big.json"), CALLBACK_A, "5120").await;
    assert_authorization_refused(
        &browser,
        &host.url("mismatch.json"),
        CALLBACK_A,
        "is not its own URL",
    )
    .await;
    assert_authorization_refused(
        &browser,
        &host.url("secret.json"),
        CALLBACK_A,
        "only none or private_key_jwt",
    )
    .await;
    assert_authorization_refused(
        &browser,
        &host.url("keyless.json"),
        CALLBACK_A,
        "neither jwks nor jwks_uri",
    )
    .await;
    assert_authorization_refused(
        &browser,
        &host.url("evil-redirect.json"),
        CALLBACK_A,
        "redirect URI",
    )
    .await;
    assert_authorization_refused(&browser, &host.url("missing.json"), CALLBACK_A, "404").await;
    // A redirect URI the document does not list is never redirected to.
    assert_authorization_refused(
        &browser,
        &host.url("claude.json"),
        "https://attacker.example/cb",
        "not registered",
    )
    .await;
    // Failures are not cached: each attempt asks again.
    assert_authorization_refused(
        &browser,
        &host.url("mismatch.json"),
        CALLBACK_A,
        "is not its own URL",
    )
    .await;
    assert_eq!(host.hits("mismatch.json"), 2);
    // Dynamic registration cannot claim private_key_jwt.
    let response = server
        .http
        .post(format!("{}/oauth/register", server.base))
        .json(&json!({ "client_name": "X", "redirect_uris": [CALLBACK_A], "token_endpoint_auth_method": "private_key_jwt" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "invalid_client_metadata"
    );
    // An operator can remove a metadata-document client.
    let claude = host.url("claude.json");
    let pkce = new_pkce();
    assert_eq!(
        browser
            .get(&authorize_path_to(&claude, CALLBACK_A, &pkce))
            .await
            .status(),
        303
    );
    server.cli(&["clients", "remove", &claude], None).await.ok();
    assert_authorization_refused(&browser, &claude, CALLBACK_A, "removed by an administrator")
        .await;
    server.running.stop().await.unwrap();
}
