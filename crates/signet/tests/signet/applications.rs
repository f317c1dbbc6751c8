//! Connected applications: the Settings page, the CLI and member removal,
//! each seen by the authorization server at once.

use reqwest::StatusCode;
use signet_identity::{Password, Role};
use signet_store::audit::Actor;
use signet_store::testing::TestDb;

use crate::support::{
    EMAIL, PASSWORD, connect_as, hidden_inputs, location, oauth_error, public_client_named,
    refresh_grant, refresh_status, seed, start, token,
};

signet_store::store_tests!(connected_applications_are_listed_renamed_and_disconnected);

const BOB: &str = "bob@example.com";

async fn connected_applications_are_listed_renamed_and_disconnected(db: TestDb) {
    let server = start(db, None).await;
    let (acme, _beta) = seed(&server).await;
    let identity = &server.running.state.identity;
    identity
        .create_user(
            &Actor::Cli,
            BOB,
            Some("Bob"),
            Some(Password::new(PASSWORD).unwrap()),
        )
        .await
        .unwrap();
    identity
        .add_member(&Actor::Cli, &acme, BOB, Role::Member)
        .await
        .unwrap();
    let claude = public_client_named(&server, "Claude").await;
    let cursor = public_client_named(&server, "Cursor").await;
    let (ada, bob) = (server.browser(), server.browser());
    let ada_refresh = connect_as(&server, &ada, &claude, &acme, EMAIL, None)
        .await
        .refresh;
    let bob_refresh = connect_as(&server, &bob, &cursor, &acme, BOB, None)
        .await
        .refresh;

    // The owner sees both connections, with the organization switcher.
    let page = ada.get(&format!("/settings/applications?org={acme}")).await;
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    let html = page.text().await.unwrap();
    assert!(
        html.contains("aria-label=\"Organization\""),
        "switcher for two organizations"
    );
    assert_eq!(html.matches("<section class=\"conn").count(), 2);
    assert!(
        html.contains("Claude")
            && html.contains("Cursor")
            && html.contains(BOB)
            && html.contains("never")
    );
    // A member sees only their own.
    let html = bob
        .get("/settings/applications")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(html.matches("<section class=\"conn").count(), 1);
    assert!(html.contains("Cursor") && !html.contains("Claude"));
    assert!(
        !html.contains("aria-label=\"Organization\""),
        "no switcher for one organization"
    );

    let connections = server.running.state.identity.store().clone();
    let ids: Vec<(String, String)> = signet_store::sqlx::query_as(
        "SELECT id, client_id FROM connections ORDER BY created_at, id",
    )
    .fetch_all(connections.pool())
    .await
    .unwrap();
    let ada_con = ids.iter().find(|(_, c)| *c == claude).unwrap().0.clone();
    let bob_con = ids.iter().find(|(_, c)| *c == cursor).unwrap().0.clone();

    // Bob cannot reach Ada's connection.
    assert_eq!(
        bob.get(&format!("/settings/applications/{ada_con}/disconnect"))
            .await
            .status(),
        404
    );

    // Rename: trimmed, bounded, CSRF-protected.
    let csrf = hidden_inputs(
        &ada.get("/settings/applications")
            .await
            .text()
            .await
            .unwrap(),
    )
    .into_iter()
    .find(|(k, _)| k == "csrf")
    .unwrap()
    .1;
    let renamed = ada
        .post(
            &format!("/settings/applications/{bob_con}/rename"),
            &[
                ("csrf".into(), csrf.clone()),
                ("name".into(), "  Bob's Cursor  ".into()),
            ],
        )
        .await;
    assert_eq!(renamed.status(), StatusCode::SEE_OTHER);
    let html = ada.get(&location(&renamed)).await.text().await.unwrap();
    assert!(
        html.contains("The connection was renamed.") && html.contains("Bob&#39;s Cursor"),
        "{html}"
    );
    let too_long = ada
        .post(
            &format!("/settings/applications/{bob_con}/rename"),
            &[
                ("csrf".into(), csrf.clone()),
                ("name".into(), "x".repeat(101)),
            ],
        )
        .await;
    // Refused, and shown next to the field it concerns; the name is kept.
    assert_eq!(too_long.status(), StatusCode::SEE_OTHER);
    let html = ada.get(&location(&too_long)).await.text().await.unwrap();
    assert!(
        html.contains(&format!(r#"aria-describedby="rename-error-{bob_con}""#))
            && html.contains("A name has 1 to 100 characters."),
        "{html}"
    );
    assert!(html.contains("Bob&#39;s Cursor"));
    let forged = ada
        .post(
            &format!("/settings/applications/{bob_con}/rename"),
            &[
                ("csrf".into(), "forged".into()),
                ("name".into(), "x".into()),
            ],
        )
        .await;
    assert_eq!(forged.status(), 403);

    // Disconnect through the confirmation step.
    let confirm = ada
        .get(&format!("/settings/applications/{ada_con}/disconnect"))
        .await;
    assert_eq!(confirm.status(), 200);
    let form = hidden_inputs(&confirm.text().await.unwrap());
    let done = ada
        .post(
            &format!("/settings/applications/{ada_con}/disconnect"),
            &form,
        )
        .await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    let html = ada.get(&location(&done)).await.text().await.unwrap();
    assert!(html.contains("The application was disconnected."), "{html}");
    assert!(
        html.contains("conn revoked") && html.contains("Disconnected"),
        "stays listed as disconnected"
    );
    let (status, body) = refresh_status(&server, &claude, &ada_refresh).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );

    // The CLI, in another process, sees and disconnects the same rows.
    let listed = server
        .cli(&["connections", "list", "--org", "Acme", "--json"], None)
        .await
        .json();
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0]["id"], bob_con.as_str(), "active first");
    assert_eq!(listed[0]["name"], "Bob's Cursor");
    assert!(listed[1]["revoked_at"].is_string());
    assert_eq!(listed[1]["revoked_reason"], "disconnected");
    let out = server
        .cli(&["connections", "revoke", &bob_con], None)
        .await
        .ok();
    assert_eq!(out.trim(), format!("Disconnected {bob_con} (Bob's Cursor)"));
    let (status, _) = refresh_status(&server, &cursor, &bob_refresh).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let missing = server
        .cli(&["connections", "revoke", "con_nope"], None)
        .await;
    assert_eq!(
        (missing.code, missing.stderr.trim()),
        (1, "error: no connection con_nope")
    );

    // Reconnecting makes a new connection; removing the member ends it.
    let bob_again = connect_as(&server, &bob, &cursor, &acme, BOB, None)
        .await
        .refresh;
    let (status, body) = refresh_status(&server, &cursor, &bob_again).await;
    assert_eq!(status, StatusCode::OK);
    let fresh_refresh = body["refresh_token"].as_str().unwrap().to_owned();
    server
        .cli(
            &["org", "remove-member", "--org", "Acme", "--email", BOB],
            None,
        )
        .await
        .ok();
    oauth_error(
        token(&server, &refresh_grant(&fresh_refresh, &cursor)).await,
        400,
        "invalid_grant",
    )
    .await;
    let reasons: Vec<Option<String>> = signet_store::sqlx::query_scalar(
        "SELECT revoked_reason FROM connections WHERE client_id = $1 ORDER BY created_at, id",
    )
    .bind(&cursor)
    .fetch_all(connections.pool())
    .await
    .unwrap();
    assert!(
        reasons.contains(&Some("member_removed".to_owned())),
        "{reasons:?}"
    );
    server.running.stop().await.unwrap();
}
