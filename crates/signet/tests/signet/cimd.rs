//! Client ID Metadata Documents end to end: a loopback metadata host on the
//! fetch allow-list serves a claude.ai-like document (`none`) and a
//! ChatGPT-like one (`private_key_jwt` and `none`, keys at a `jwks_uri`);
//! both complete the flow. Every document that must be refused is, with a
//! clear page and without a request to the forbidden target.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use data_encoding::BASE64URL_NOPAD;
use jsonwebtoken::{EncodingKey, Header};
use reqwest::Response;
use serde_json::{Value, json};
use signet_store::Clock;
use signet_store::testing::TestDb;

use crate::authorization::{
    Browser, authorize, get as param, introspect, introspection_client, new_pkce, query, seed,
    token,
};
use crate::mcp::call;
use crate::support::{Server, start_with};

signet_store::store_tests!(
    a_claude_like_document_with_none_completes_the_flow,
    a_chatgpt_like_document_with_private_key_jwt_completes_the_flow,
    documents_that_must_not_be_used_are_refused,
);

const CALLBACK_A: &str = "http://127.0.0.1:7777/callback";
const CALLBACK_B: &str = "http://localhost:8888/callback";

/// The metadata host: documents by name, and a count of requests per path.
struct MetadataHost {
    base: String,
    authority: String,
    hits: Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>>,
    jwks_hits: Arc<AtomicUsize>,
    key: Arc<Vec<u8>>,
}

impl MetadataHost {
    fn url(&self, name: &str) -> String {
        format!("{}/{name}", self.base)
    }
    fn hits(&self, name: &str) -> usize {
        *self
            .hits
            .lock()
            .unwrap()
            .get(&format!("/{name}"))
            .unwrap_or(&0)
    }
}

async fn metadata_host() -> MetadataHost {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let base = format!("http://{addr}");
    let pkcs8 = Ed25519KeyPair::generate_pkcs8v1(&SystemRandom::new()).unwrap();
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    let jwks = json!({ "keys": [{
        "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": "chatgpt-1",
        "x": BASE64URL_NOPAD.encode(pair.public_key().as_ref()),
    }]});
    let hits: Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>> = Arc::default();
    let jwks_hits = Arc::new(AtomicUsize::new(0));
    let documents: Vec<(&str, Value)> = vec![
        (
            "claude.json",
            json!({
                "client_id": format!("{base}/claude.json"),
                "client_name": "Claude",
                "client_uri": "https://claude.ai",
                "redirect_uris": [CALLBACK_A, CALLBACK_B],
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
                "token_endpoint_auth_method": "none",
            }),
        ),
        (
            "chatgpt.json",
            json!({
                "client_id": format!("{base}/chatgpt.json"),
                "client_name": "ChatGPT",
                "redirect_uris": [CALLBACK_A],
                "grant_types": ["authorization_code", "refresh_token"],
                "token_endpoint_auth_method": "private_key_jwt",
                "token_endpoint_auth_methods_supported": ["private_key_jwt", "none"],
                "token_endpoint_auth_signing_alg": "EdDSA",
                "jwks_uri": format!("{base}/jwks.json"),
            }),
        ),
        (
            "strict.json",
            json!({
                "client_id": format!("{base}/strict.json"),
                "client_name": "Strict",
                "redirect_uris": [CALLBACK_A],
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks": jwks,
            }),
        ),
        (
            "mismatch.json",
            json!({ "client_id": "https://elsewhere.example/client.json", "client_name": "X", "redirect_uris": [CALLBACK_A] }),
        ),
        (
            "secret.json",
            json!({ "client_id": format!("{base}/secret.json"), "client_name": "X", "redirect_uris": [CALLBACK_A], "token_endpoint_auth_method": "client_secret_basic" }),
        ),
        (
            "keyless.json",
            json!({ "client_id": format!("{base}/keyless.json"), "client_name": "X", "redirect_uris": [CALLBACK_A], "token_endpoint_auth_method": "private_key_jwt" }),
        ),
        (
            "evil-redirect.json",
            json!({ "client_id": format!("{base}/evil-redirect.json"), "client_name": "X", "redirect_uris": ["javascript:alert(1)"] }),
        ),
        (
            "big.json",
            json!({ "client_id": format!("{base}/big.json"), "client_name": "x".repeat(6000), "redirect_uris": [CALLBACK_A] }),
        ),
    ];
    let mut app = Router::new();
    for (name, document) in documents {
        let body = document.to_string();
        app = app.route(
            &format!("/{name}"),
            get(move || {
                let body = body.clone();
                async move {
                    (
                        [
                            (header::CONTENT_TYPE, "application/json"),
                            (header::CACHE_CONTROL, "max-age=60"),
                        ],
                        body,
                    )
                }
            }),
        );
    }
    let jwks_body = jwks.to_string();
    let counter = jwks_hits.clone();
    app = app
        .route(
            "/jwks.json",
            get(move || {
                counter.fetch_add(1, Ordering::SeqCst);
                let body = jwks_body.clone();
                async move { ([(header::CONTENT_TYPE, "application/json")], body) }
            }),
        )
        .route(
            "/redirect.json",
            get(|| async {
                (StatusCode::FOUND, [(header::LOCATION, "/claude.json")]).into_response()
            }),
        );
    let counts = hits.clone();
    let app = app.layer(axum::middleware::from_fn(
        move |request: axum::extract::Request, next: axum::middleware::Next| {
            let counts = counts.clone();
            async move {
                *counts
                    .lock()
                    .unwrap()
                    .entry(request.uri().path().to_owned())
                    .or_default() += 1;
                next.run(request).await
            }
        },
    ));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    MetadataHost {
        authority: addr.to_string(),
        base,
        hits,
        jwks_hits,
        key: Arc::new(pkcs8.as_ref().to_vec()),
    }
}

async fn setup(db: TestDb) -> (Server, MetadataHost, String) {
    let host = metadata_host().await;
    let allow = host.authority.clone();
    let server = start_with(
        db,
        move |flags| flags.fetch_allow_hosts = Some(allow),
        Vec::new(),
    )
    .await;
    let (acme, _) = seed(&server).await;
    (server, host, acme)
}

fn authorize_url(client_id: &str, redirect_uri: &str, challenge: &str) -> String {
    let mut url = url::Url::parse("http://x/oauth/authorize").unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("code_challenge", challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("state", "s1");
    format!("{}?{}", url.path(), url.query().unwrap())
}

/// A client assertion signed with the metadata host's key.
fn assertion(
    host: &MetadataHost,
    server: &Server,
    client_id: &str,
    jti: &str,
    audience: Option<&str>,
) -> String {
    let now = server.clock.now().as_secs();
    let mut header = Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.kid = Some("chatgpt-1".into());
    let token_endpoint = format!("{}/oauth/token", server.running.state.issuer);
    let claims = json!({
        "iss": client_id, "sub": client_id,
        "aud": audience.unwrap_or(&token_endpoint),
        "jti": jti, "iat": now, "exp": now + 120,
    });
    jsonwebtoken::encode(&header, &claims, &EncodingKey::from_ed_der(&host.key)).unwrap()
}

async fn whoami(server: &Server, access: &str) -> Value {
    let request = json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": { "name": "whoami", "arguments": {} } });
    let response = call(server, Some(access), &request).await;
    assert_eq!(response.status(), 200);
    response.json::<Value>().await.unwrap()["result"]["structuredContent"].clone()
}

async fn ok_json(response: Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

async fn a_claude_like_document_with_none_completes_the_flow(db: TestDb) {
    let (server, host, acme) = setup(db).await;
    let client_id = host.url("claude.json");
    let browser = Browser::new(&server);

    // The consent page names the client and the redirect host, and warns:
    // every redirect URI of this document is on localhost.
    let pkce = new_pkce();
    let start = authorize_url(&client_id, CALLBACK_A, &pkce.challenge);
    let callback = authorize(&browser, &start, Some(&acme)).await;
    assert!(callback.starts_with(CALLBACK_A), "{callback}");
    let code = param(&query(&callback), "code").unwrap().to_owned();
    let tokens = ok_json(
        token(
            &server,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CALLBACK_A),
                ("code_verifier", &pkce.verifier),
                ("client_id", &client_id),
            ],
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
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
                ("client_id", &client_id),
            ],
        )
        .await,
    )
    .await;
    assert!(refreshed["access_token"].is_string());

    // Another installation (another redirect URI) is another connection.
    let pkce = new_pkce();
    let page = browser
        .get(&authorize_url(&client_id, CALLBACK_B, &pkce.challenge))
        .await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("Claude"));
    assert!(html.contains("localhost"), "the redirect host is shown");
    let callback = authorize(
        &browser,
        &authorize_url(&client_id, CALLBACK_B, &pkce.challenge),
        Some(&acme),
    )
    .await;
    let code = param(&query(&callback), "code").unwrap().to_owned();
    let tokens = ok_json(
        token(
            &server,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CALLBACK_B),
                ("code_verifier", &pkce.verifier),
                ("client_id", &client_id),
            ],
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
    let (server, host, acme) = setup(db).await;
    let client_id = host.url("chatgpt.json");
    let browser = Browser::new(&server);
    let pkce = new_pkce();
    let callback = authorize(
        &browser,
        &authorize_url(&client_id, CALLBACK_A, &pkce.challenge),
        Some(&acme),
    )
    .await;
    let code = param(&query(&callback), "code").unwrap().to_owned();
    let signed = assertion(&host, &server, &client_id, "jti-1", None);
    let tokens = ok_json(
        token(
            &server,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CALLBACK_A),
                ("code_verifier", &pkce.verifier),
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
        assertion(
            &host,
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
            assertion(&host, &server, &client_id, "jti-4", None),
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
        &[
            ("grant_type", "refresh_token"),
            (
                "refresh_token",
                refreshed["refresh_token"].as_str().unwrap(),
            ),
            ("client_id", &client_id),
        ],
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
                assertion(&host, &server, &client_id, "jti-6", None),
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
        &authorize_url(&strict, CALLBACK_A, &pkce.challenge),
        Some(&acme),
    )
    .await;
    let code = param(&query(&callback), "code").unwrap().to_owned();
    let without = token(
        &server,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CALLBACK_A),
            ("code_verifier", &pkce.verifier),
            ("client_id", &strict),
        ],
    )
    .await;
    assert_eq!(without.status(), 401);
    assert!(
        without.json::<Value>().await.unwrap()["error_description"]
            .as_str()
            .unwrap()
            .contains("private_key_jwt")
    );
    let with = token(
        &server,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CALLBACK_A),
            ("code_verifier", &pkce.verifier),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            (
                "client_assertion",
                &assertion(&host, &server, &strict, "jti-5", None),
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

/// Asserts the authorization request is refused with an HTML page saying `reason`.
async fn refused(browser: &Browser, client_id: &str, redirect_uri: &str, reason: &str) {
    let pkce = new_pkce();
    let page = browser
        .get(&authorize_url(client_id, redirect_uri, &pkce.challenge))
        .await;
    assert_eq!(page.status(), 400, "{client_id}");
    assert!(
        page.headers()[header::CONTENT_TYPE.as_str()]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.text().await.unwrap();
    assert!(
        html.contains(reason),
        "{client_id}: expected {reason:?} in\n{html}"
    );
}

async fn documents_that_must_not_be_used_are_refused(db: TestDb) {
    let (server, host, _) = setup(db).await;
    let browser = Browser::new(&server);
    let port = host.authority.rsplit(':').next().unwrap().to_owned();
    // Private, link-local and loopback targets are refused before any
    // connection (the literal is judged; names are judged after DNS).
    refused(
        &browser,
        "https://10.0.0.1/client.json",
        CALLBACK_A,
        "otherwise reserved address",
    )
    .await;
    refused(
        &browser,
        "https://169.254.169.254/latest/meta-data",
        CALLBACK_A,
        "otherwise reserved address",
    )
    .await;
    refused(
        &browser,
        &format!("https://[::1]:{port}/claude.json"),
        CALLBACK_A,
        "otherwise reserved address",
    )
    .await;
    refused(
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
    refused(&browser, &host.url("redirect.json"), CALLBACK_A, "redirect").await;
    assert_eq!(host.hits("redirect.json"), 1);
    assert_eq!(host.hits("claude.json"), 0);
    refused(&browser, &host.url("big.json"), CALLBACK_A, "5120").await;
    refused(
        &browser,
        &host.url("mismatch.json"),
        CALLBACK_A,
        "is not its own URL",
    )
    .await;
    refused(
        &browser,
        &host.url("secret.json"),
        CALLBACK_A,
        "only none or private_key_jwt",
    )
    .await;
    refused(
        &browser,
        &host.url("keyless.json"),
        CALLBACK_A,
        "neither jwks nor jwks_uri",
    )
    .await;
    refused(
        &browser,
        &host.url("evil-redirect.json"),
        CALLBACK_A,
        "redirect URI",
    )
    .await;
    refused(&browser, &host.url("missing.json"), CALLBACK_A, "404").await;
    // A redirect URI the document does not list is never redirected to.
    refused(
        &browser,
        &host.url("claude.json"),
        "https://attacker.example/cb",
        "not registered",
    )
    .await;
    // Failures are not cached: each attempt asks again.
    refused(
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
            .get(&authorize_url(&claude, CALLBACK_A, &pkce.challenge))
            .await
            .status(),
        303
    );
    server.cli(&["clients", "remove", &claude], None).await.ok();
    refused(&browser, &claude, CALLBACK_A, "removed by an administrator").await;
    server.running.stop().await.unwrap();
}
