//! The hourly sweep removes what has expired, and only that.

use std::time::Duration;

use serde_json::Map;
use signet_esign::Caller;
use signet_store::testing::TestDb;
use signet_store::{Clock, sqlx};

use crate::authorization::{Browser, EMAIL, public_client, seed, sign_in};
use crate::mcp::connect;
use crate::support::{Server, start};

signet_store::store_tests!(expired_rows_are_swept_and_live_ones_kept);

async fn count(server: &Server, table: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
        .fetch_one(server.running.state.store.pool())
        .await
        .unwrap()
}

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
    let client_id = public_client(&server).await;
    let browser = Browser::new(&server);
    // A session, a code and a refresh token; a failed sign-in; an upload.
    connect(&server, &browser, &client_id, &acme).await;
    let failed = sign_in(&Browser::new(&server), "/login", EMAIL, "wrong password").await;
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
            count(&server, table).await > 0,
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
        &Browser::new(&server),
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
        assert_eq!(count(&server, table).await, 0, "{table}");
    }
    assert_eq!(
        count(&server, "login_failures").await,
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
