//! The audit trail as operators read it (`signet audit list`), and the
//! client address it records behind a reverse proxy.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use signet_store::testing::TestDb;
use signet_testkit::oauth as flow;

use crate::support::{
    CALLBACK, authorize, authorize_path, new_pkce, post_token, refresh_grant, seed, start_instance,
    start_with,
};

signet_store::store_tests!(client_addresses_are_recorded_behind_a_trusted_proxy,);

const CLIENT: &str = "203.0.113.7";

/// Behind `SIGNET_TRUSTED_PROXIES=127.0.0.1`, what a proxy says the client
/// is reaches the trail for registration, sign-in, consent, the code
/// exchange, a refresh and a revocation; `signet audit list` shows it.
/// Without the setting, the same header is ignored.
async fn client_addresses_are_recorded_behind_a_trusted_proxy(db: TestDb) {
    let server = start_with(
        db,
        |flags| flags.trusted_proxies = Some("127.0.0.1".into()),
        Vec::new(),
    )
    .await;
    let (acme, _) = seed(&server).await;
    let browser = server.browser_forwarded_for(CLIENT);
    let http = browser.http();
    let registered: Value = flow::register(
        http,
        &server.base,
        &json!({ "client_name": "Proxied", "redirect_uris": [CALLBACK], "token_endpoint_auth_method": "none" }),
    )
    .await
    .json()
    .await
    .unwrap();
    let client_id = registered["client_id"].as_str().unwrap().to_owned();
    let pkce = new_pkce();
    let callback = authorize(
        &browser,
        &authorize_path(&client_id, &pkce, &[]),
        Some(&acme),
    )
    .await;
    let tokens: Value = flow::exchange(
        http,
        &server.base,
        &callback,
        CALLBACK,
        &pkce,
        &[("client_id", &client_id)],
    )
    .await
    .json()
    .await
    .unwrap();
    let refreshed: Value = post_token(
        http,
        &server.base,
        &refresh_grant(tokens["refresh_token"].as_str().unwrap(), &client_id),
    )
    .await
    .json()
    .await
    .unwrap();
    // A second later, so that "newest first" has one answer.
    server.clock.advance(std::time::Duration::from_secs(1));
    let revoked = http
        .post(format!("{}/oauth/revoke", server.base))
        .form(&[
            ("token", refreshed["refresh_token"].as_str().unwrap()),
            ("client_id", &client_id),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);

    let events = server.cli(&["audit", "list", "--json"], None).await.json();
    let by_kind: BTreeMap<&str, &Value> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["kind"].as_str().unwrap(), e))
        .collect();
    for kind in [
        "client.registered",
        "sign_in.succeeded",
        "consent.granted",
        "grant.issued",
        "grant.refreshed",
        "grant.revoked",
    ] {
        let event = by_kind
            .get(kind)
            .unwrap_or_else(|| panic!("no {kind} in {events}"));
        assert_eq!(event["client_ip"], CLIENT, "{kind}: {event}");
        assert!(event["time"].as_str().unwrap().ends_with('Z'), "{event}");
    }
    assert_eq!(by_kind["consent.granted"]["org_id"], acme.as_str());
    assert_eq!(by_kind["grant.issued"]["client_id"], client_id.as_str());
    // Newest first, and filters narrow the list.
    assert_eq!(events[0]["kind"], "grant.revoked");
    let consents = server
        .cli(
            &[
                "audit",
                "list",
                "--kind",
                "consent.granted",
                "--org",
                "Acme",
                "--since",
                "1h",
                "--json",
            ],
            None,
        )
        .await
        .json();
    assert_eq!(consents.as_array().unwrap().len(), 1);

    // Another instance that trusts no proxy: the header is the client's
    // own claim, and is ignored.
    let (untrusting, _dir) = start_instance(&server.db.url, |_| {}).await;
    let response = http
        .post(format!("http://{}/oauth/register", untrusting.local_addr))
        .json(&json!({ "client_name": "Spoofing", "redirect_uris": [CALLBACK], "token_endpoint_auth_method": "none" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let events = server
        .cli(
            &["audit", "list", "--kind", "client.registered", "--json"],
            None,
        )
        .await
        .json();
    let spoofing = events
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["detail"]["client_name"] == "Spoofing")
        .unwrap_or_else(|| panic!("{events}"));
    assert_eq!(spoofing["client_ip"], "127.0.0.1");
    untrusting.stop().await.unwrap();
    server.running.stop().await.unwrap();
}
