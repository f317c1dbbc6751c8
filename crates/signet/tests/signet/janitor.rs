//! The hourly sweep removes what has expired, and only that.

use std::time::Duration;

use serde_json::Map;
use signet_esign::Caller;
use signet_store::Clock;
use signet_store::testing::TestDb;

use crate::support::{EMAIL, connect_agent, seed, sign_in, start};

signet_store::store_tests!(expired_rows_are_swept_and_live_ones_kept);

const TABLES: [&str; 5] = [
    "web_sessions",
    "login_failures",
    "authorization_codes",
    "refresh_tokens",
    "uploads",
];

async fn expired_rows_are_swept_and_live_ones_kept(db: TestDb) {
    let server = start(db, None).await;
    let (acme, _) = seed(&server).await;
    // A session, a code and a refresh token; a failed sign-in; an upload.
    connect_agent(&server, &acme, None).await;
    let failed = sign_in(&server.browser(), "/login", EMAIL, "wrong password").await;
    assert_eq!(failed.status(), 401);
    let ada = server
        .running
        .state
        .identity
        .user_by_email(EMAIL)
        .await
        .unwrap();
    let caller = Caller {
        org_id: acme.clone(),
        user_id: ada.id,
        connection_id: None,
        live_mode: false,
    };
    server
        .running
        .state
        .esign
        .mint_upload_url(&caller, &Map::new())
        .await
        .unwrap();
    for table in TABLES {
        assert!(
            server.count_rows(table).await > 0,
            "{table} has a row to sweep"
        );
    }
    let store = &server.running.state.store;

    // Nothing has expired yet.
    let swept = signet::janitor::sweep(store, server.clock.now())
        .await
        .unwrap();
    assert_eq!(swept.total(), 0, "{swept:?}");

    // Thirty-one days on, everything above has expired; a fresh failure has not.
    server.clock.advance(Duration::from_secs(31 * 86_400));
    let fresh = sign_in(
        &server.browser(),
        "/login",
        "someone@example.com",
        "wrong password",
    )
    .await;
    assert_eq!(fresh.status(), 401);
    let swept = signet::janitor::sweep(store, server.clock.now())
        .await
        .unwrap();
    assert_eq!(swept.web_sessions, 1);
    assert_eq!(swept.login_failures, 1);
    assert_eq!(swept.authorization_codes, 1);
    assert!(swept.refresh_tokens >= 1);
    assert_eq!(swept.uploads, 1);
    for table in [
        "web_sessions",
        "authorization_codes",
        "refresh_tokens",
        "uploads",
    ] {
        assert_eq!(server.count_rows(table).await, 0, "{table}");
    }
    assert_eq!(
        server.count_rows("login_failures").await,
        1,
        "the recent failure is kept"
    );
    assert_eq!(
        signet::janitor::sweep(store, server.clock.now())
            .await
            .unwrap()
            .total(),
        0
    );
    server.running.stop().await.unwrap();
}
