//! Client lifecycle: manual registration from the CLI, removal (which
//! disconnects), and the clean-up of idle dynamically registered clients.

use std::time::Duration;

use serde_json::{Value, json};
use signet_oauth::clients::{CleanUp, Clients};
use signet_store::testing::TestDb;

use crate::support::{
    Agent, CALLBACK, connect, introspect, introspection_client, oauth_error, public_client_named,
    register, seed, start, start_with, whoami_request,
};

signet_store::store_tests!(
    manual_clients_are_added_listed_and_removed,
    only_clients_registered_for_introspection_may_introspect,
    idle_dynamic_clients_are_cleaned_up,
    registrations_per_address_have_a_ceiling,
);

async fn manual_clients_are_added_listed_and_removed(db: TestDb) {
    let server = start(db, None).await;
    let (acme, _) = seed(&server).await;

    // A public client: the id on stdout, no secret anywhere.
    let public = server
        .cli(
            &[
                "clients",
                "add",
                "--name",
                "Desk app",
                "--redirect-uri",
                CALLBACK,
            ],
            None,
        )
        .await;
    assert_eq!(public.code, 0, "{}", public.stderr);
    let public_id = public.stdout.trim().to_owned();
    assert!(public_id.starts_with("cli_"), "{public_id}");
    assert!(!public.stderr.contains("secret"));

    // A confidential one: the secret once.
    let confidential = server
        .cli(
            &[
                "clients",
                "add",
                "--name",
                "Back office",
                "--redirect-uri",
                "https://app.example/cb",
                "--confidential",
                "--json",
            ],
            None,
        )
        .await
        .json();
    assert_eq!(
        confidential["token_endpoint_auth_method"],
        "client_secret_basic"
    );
    assert!(confidential["client_secret"].as_str().unwrap().len() >= 32);
    assert_eq!(confidential["id"], confidential["client_id"]);

    // The same redirect-URI rules as dynamic registration.
    let refused = server
        .cli(
            &[
                "clients",
                "add",
                "--name",
                "Bad",
                "--redirect-uri",
                "javascript:alert(1)",
            ],
            None,
        )
        .await;
    assert_ne!(refused.code, 0);
    assert!(
        refused.stderr.contains("redirect URI"),
        "{}",
        refused.stderr
    );

    // The manual client connects like any other.
    let browser = server.browser();
    let desk_app = connect(&server, &browser, &public_id, &acme).await;
    assert_eq!(desk_app.request(&whoami_request()).await.status(), 200);

    let listed = server
        .cli(&["clients", "list", "--json"], None)
        .await
        .json();
    let mine = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == public_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(mine["kind"], "manual");
    assert_eq!(mine["name"], "Desk app");
    assert_eq!(mine["token_endpoint_auth_method"], "none");
    assert_eq!(mine["live_connections"], 1);

    // Removing it disconnects it: the next call and the next refresh fail.
    let removed = server
        .cli(&["clients", "remove", &public_id, "--json"], None)
        .await
        .json();
    assert_eq!(
        removed,
        json!({ "id": public_id, "removed": true, "disconnected": 1 })
    );
    let response = desk_app.request(&whoami_request()).await;
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error_description"],
        "Application has been disconnected"
    );
    let refreshed = server
        .http
        .post(format!("{}/oauth/token", server.base))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", desk_app.refresh.as_str()),
            ("client_id", public_id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(refreshed.status(), 401);
    assert_eq!(
        refreshed.json::<Value>().await.unwrap()["error"],
        "invalid_client"
    );
    let listed = server
        .cli(&["clients", "list", "--json"], None)
        .await
        .json();
    assert!(
        !listed
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == public_id.as_str())
    );
    // Its connection stays listed, as disconnected.
    let connections = server
        .cli(&["connections", "list", "--json"], None)
        .await
        .json();
    let history = connections
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["client_id"] == public_id.as_str())
        .unwrap();
    assert_eq!(history["revoked_reason"], "client_removed");
    let again = server.cli(&["clients", "remove", &public_id], None).await;
    assert_ne!(again.code, 0);
    assert!(again.stderr.contains("no client"), "{}", again.stderr);
    server.running.stop().await.unwrap();
}

/// Introspection tells who is behind any token (`sub`, `org_id`, `scope`),
/// so it is for resource servers an operator registered for it: a client
/// that registered itself, whatever secret it holds, is refused.
async fn only_clients_registered_for_introspection_may_introspect(db: TestDb) {
    let server = start(db, None).await;
    let (acme, _) = seed(&server).await;
    let browser = server.browser();
    let victim = public_client_named(&server, "Victim").await;
    let Agent {
        access, refresh, ..
    } = connect(&server, &browser, &victim, &acme).await;

    // Anyone can register a confidential client (an omitted method means
    // client_secret_basic, with a secret) and would read the victim's token.
    let basic = register(&server, json!({ "redirect_uris": [CALLBACK] })).await;
    let post = register(
        &server,
        json!({ "redirect_uris": [CALLBACK], "token_endpoint_auth_method": "client_secret_post" }),
    )
    .await;
    let endpoint = format!("{}/oauth/introspect", server.base);
    let attempts = [
        server
            .http
            .post(&endpoint)
            .basic_auth(
                basic["client_id"].as_str().unwrap(),
                basic["client_secret"].as_str(),
            )
            .form(&[("token", access.as_str())]),
        server.http.post(&endpoint).form(&[
            ("token", access.as_str()),
            ("client_id", post["client_id"].as_str().unwrap()),
            ("client_secret", post["client_secret"].as_str().unwrap()),
        ]),
        // Nor is the token's own (public) client.
        server
            .http
            .post(&endpoint)
            .form(&[("token", access.as_str()), ("client_id", victim.as_str())]),
    ];
    for attempt in attempts {
        let response = attempt.send().await.unwrap();
        let description = oauth_error(response, 401, "invalid_client").await;
        assert!(description.contains("registered for it"), "{description}");
    }
    let back_office = server
        .cli(
            &[
                "clients",
                "add",
                "--name",
                "Back office",
                "--redirect-uri",
                "https://app.example/cb",
                "--confidential",
                "--json",
            ],
            None,
        )
        .await
        .json();
    let refused = server
        .http
        .post(&endpoint)
        .basic_auth(
            back_office["client_id"].as_str().unwrap(),
            back_office["client_secret"].as_str(),
        )
        .form(&[("token", access.as_str())])
        .send()
        .await
        .unwrap();
    // Nor a confidential client an operator registered for sign-in.
    let description = oauth_error(refused, 401, "invalid_client").await;
    assert!(description.contains("registered for it"), "{description}");

    // A resource server the operator registered for introspection (it
    // needs no redirect URI) sees both tokens.
    let resource_server = introspection_client(&server).await;
    let active = introspect(&server, &resource_server, &access).await;
    assert_eq!(active["active"], true, "{active}");
    assert_eq!(active["client_id"], victim.as_str());
    assert_eq!(active["org_id"], acme.as_str());
    assert_eq!(active["token_type"], "access_token");
    let active = introspect(&server, &resource_server, &refresh).await;
    assert_eq!(active["active"], true, "{active}");
    assert_eq!(active["token_type"], "refresh_token");
    // Its secret is still checked.
    let wrong = server
        .http
        .post(&endpoint)
        .basic_auth(&resource_server.0, Some("wrong"))
        .form(&[("token", access.as_str())])
        .send()
        .await
        .unwrap();
    oauth_error(wrong, 401, "invalid_client").await;

    // `clients list` says which clients may introspect.
    let listed = server
        .cli(&["clients", "list", "--json"], None)
        .await
        .json();
    for client in listed.as_array().unwrap() {
        let expected = client["id"] == resource_server.0.as_str();
        assert_eq!(client["introspection"], expected, "{client}");
    }
    let text = server.cli(&["clients", "list"], None).await.ok();
    assert!(
        text.lines().next().unwrap().contains("INTROSPECTION"),
        "{text}"
    );
    let row = text
        .lines()
        .find(|line| line.starts_with(&resource_server.0))
        .unwrap();
    assert!(row.contains("yes"), "{row}");
    server.running.stop().await.unwrap();
}

async fn idle_dynamic_clients_are_cleaned_up(db: TestDb) {
    let server = start(db, None).await;
    let (acme, _) = seed(&server).await;
    let browser = server.browser();
    let never = public_client_named(&server, "Never used").await;
    let active = public_client_named(&server, "Still in use").await;
    let in_use = connect(&server, &browser, &active, &acme).await;
    let gone = public_client_named(&server, "Disconnected").await;
    let me = connect(&server, &browser, &gone, &acme)
        .await
        .request(&whoami_request())
        .await
        .json::<Value>()
        .await
        .unwrap();
    let gone_connection = me["result"]["structuredContent"]["connection"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    server
        .cli(&["connections", "revoke", &gone_connection], None)
        .await
        .ok();
    let manual = server
        .cli(
            &[
                "clients",
                "add",
                "--name",
                "Manual",
                "--redirect-uri",
                CALLBACK,
            ],
            None,
        )
        .await
        .ok()
        .trim()
        .to_owned();

    let clients = Clients::new(
        server.running.state.store.clone(),
        server.running.state.clock.clone(),
    );
    let idle = Duration::from_secs(30 * 86_400);
    // Nothing is old enough yet.
    assert_eq!(
        clients.clean_up_idle(idle).await.unwrap(),
        CleanUp::default()
    );

    // Twenty days on, the active client refreshes; eleven more, and the
    // others have been idle for over thirty days.
    server.clock.advance(Duration::from_secs(20 * 86_400));
    let in_use = in_use.refreshed().await;
    server.clock.advance(Duration::from_secs(11 * 86_400));
    let done = clients.clean_up_idle(idle).await.unwrap();
    assert_eq!(
        done,
        CleanUp {
            deleted: 1,
            retired: 1
        }
    );

    let listed = server
        .cli(&["clients", "list", "--json"], None)
        .await
        .json();
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&active.as_str()), "in use: kept");
    assert!(
        ids.contains(&manual.as_str()),
        "manual clients are never cleaned up"
    );
    assert!(!ids.contains(&never.as_str()));
    assert!(!ids.contains(&gone.as_str()));
    // The retired client's history is still there.
    let connections = server
        .cli(&["connections", "list", "--json"], None)
        .await
        .json();
    assert!(
        connections
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["client_id"] == gone.as_str())
    );
    // The active client still works; the deleted one is unknown.
    let in_use = in_use.refreshed().await;
    assert_eq!(in_use.request(&whoami_request()).await.status(), 200);
    let unknown = browser
        .get(&format!("/oauth/authorize?response_type=code&client_id={never}&redirect_uri={CALLBACK}&code_challenge=abcdefghijklmnopqrstuvwxyzabcdefghijklmnopq&code_challenge_method=S256"))
        .await;
    assert_eq!(unknown.status(), 400);
    // A second pass finds nothing more.
    assert_eq!(
        clients.clean_up_idle(idle).await.unwrap(),
        CleanUp::default()
    );
    server.running.stop().await.unwrap();
}

/// The ceiling counts registrations per client address, taking the address
/// from `X-Forwarded-For` only because the peer is a trusted proxy.
async fn registrations_per_address_have_a_ceiling(db: TestDb) {
    let server = start_with(
        db,
        |flags| {
            flags.trusted_proxies = Some("127.0.0.1".into());
            flags.registration_burst = Some("2".into());
            flags.registration_per_hour = Some("1".into());
        },
        Vec::new(),
    )
    .await;
    let register = |forwarded: &'static str| {
        let request = server
            .http
            .post(format!("{}/oauth/register", server.base))
            .header("x-forwarded-for", forwarded)
            .json(&json!({ "client_name": "Flood", "redirect_uris": [CALLBACK], "token_endpoint_auth_method": "client_secret_basic" }));
        async move { request.send().await.unwrap() }
    };
    // The rightmost untrusted address counts, not what the client prepends.
    assert_eq!(register("9.9.9.9, 198.51.100.7").await.status(), 201);
    assert_eq!(register("8.8.8.8, 198.51.100.7").await.status(), 201);
    let refused = register("198.51.100.7").await;
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["retry-after"], "3600");
    assert_eq!(refused.headers()["cache-control"], "no-store");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("try again in 3600 seconds")
    );
    // Another address is not affected; an hour later the first may go on.
    assert_eq!(register("198.51.100.8").await.status(), 201);
    server.clock.advance(Duration::from_secs(3600));
    assert_eq!(register("198.51.100.7").await.status(), 201);
    // The audit trail records the client's address, not the proxy's.
    let recorded: Vec<String> = signet_store::sqlx::query_scalar(
        "SELECT detail FROM audit_events WHERE action = 'client.registered'",
    )
    .fetch_all(server.running.state.store.pool())
    .await
    .unwrap();
    let ips: Vec<Value> = recorded
        .iter()
        .map(|d| serde_json::from_str::<Value>(d).unwrap()["client_ip"].clone())
        .collect();
    assert_eq!(ips.len(), 4);
    assert!(ips.iter().all(|ip| ip != "127.0.0.1"), "{ips:?}");
    assert_eq!(ips.iter().filter(|ip| *ip == "198.51.100.7").count(), 3);
    server.running.stop().await.unwrap();
}
