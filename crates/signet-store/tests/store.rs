//! The store against real databases: SQLite always, PostgreSQL when
//! `SIGNET_TEST_POSTGRES_URL` is set (and always under CI).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use signet_store::testing::TestDb;
use signet_store::{Backend, Store, is_unique_violation, sqlx};

signet_store::store_tests!(
    migrations_create_every_table_and_are_idempotent,
    unique_violations_are_recognised,
    foreign_keys_are_enforced,
    one_query_text_round_trips_every_column_type,
    a_second_pool_sees_writes_at_once,
    commits_from_any_process_move_the_change_token,
);

async fn migrations_create_every_table_and_are_idempotent(db: TestDb) {
    db.store.migrate().await.expect("second migrate is a no-op");
    for table in [
        "instance_state",
        "users",
        "organizations",
        "memberships",
        "accounts",
        "web_sessions",
        "signing_keys",
        "audit_events",
    ] {
        let count: i64 =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
                .fetch_one(db.store.pool())
                .await
                .unwrap_or_else(|e| panic!("{table}: {e}"));
        assert_eq!(count, 0, "{table} starts empty");
    }
    db.store.ping().await.unwrap();
}

async fn unique_violations_are_recognised(db: TestDb) {
    let insert = "INSERT INTO organizations (id, name, created_at) VALUES ($1, $2, $3)";
    sqlx::query(insert)
        .bind("org_a")
        .bind("A")
        .bind(1_i64)
        .execute(db.store.pool())
        .await
        .unwrap();
    let err = sqlx::query(insert)
        .bind("org_a")
        .bind("B")
        .bind(2_i64)
        .execute(db.store.pool())
        .await
        .unwrap_err();
    assert!(is_unique_violation(&err), "{err}");
    let other = sqlx::query("SELECT nope FROM organizations")
        .execute(db.store.pool())
        .await
        .unwrap_err();
    assert!(!is_unique_violation(&other));
}

async fn foreign_keys_are_enforced(db: TestDb) {
    let err = sqlx::query(
        "INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind("org_missing")
    .bind("usr_missing")
    .bind("owner")
    .bind(1_i64)
    .execute(db.store.pool())
    .await
    .unwrap_err();
    assert!(
        err.as_database_error()
            .is_some_and(|e| e.is_foreign_key_violation()),
        "{err}"
    );
}

async fn one_query_text_round_trips_every_column_type(db: TestDb) {
    sqlx::query(
        "INSERT INTO signing_keys (kid, algorithm, public_key, private_key, private_key_encryption, status, created_at, retired_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind("kid1")
    .bind("EdDSA")
    .bind(vec![0_u8, 1, 2, 255])
    .bind(vec![9_u8; 48])
    .bind("none")
    .bind("retired")
    .bind(1_795_000_000_i64)
    .bind(None::<i64>)
    .execute(db.store.pool())
    .await
    .unwrap();
    let (public_key, created_at, retired_at): (Vec<u8>, i64, Option<i64>) = sqlx::query_as(
        "SELECT public_key, created_at, retired_at FROM signing_keys WHERE kid = $1",
    )
    .bind("kid1")
    .fetch_one(db.store.pool())
    .await
    .unwrap();
    assert_eq!(public_key, vec![0, 1, 2, 255]);
    assert_eq!(created_at, 1_795_000_000);
    assert_eq!(retired_at, None);
}

async fn a_second_pool_sees_writes_at_once(db: TestDb) {
    // The CLI and `serve` are two processes with two pools on one database.
    let other = Store::connect(&db.url).await.unwrap();
    sqlx::query("INSERT INTO organizations (id, name, created_at) VALUES ($1, $2, $3)")
        .bind("org_b")
        .bind("B")
        .bind(1_i64)
        .execute(other.pool())
        .await
        .unwrap();
    let name: String = sqlx::query_scalar("SELECT name FROM organizations WHERE id = $1")
        .bind("org_b")
        .fetch_one(db.store.pool())
        .await
        .unwrap();
    assert_eq!(name, "B");
    if db.store.backend() == Backend::Sqlite {
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(db.store.pool())
            .await
            .unwrap();
        assert_eq!(mode, "wal");
    }
    other.close().await;
}

#[tokio::test]
async fn unknown_database_schemes_are_refused_with_the_url() {
    let err = Store::connect("mysql://root:pw@localhost/x")
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "unsupported database URL \"mysql://root:***@localhost/x\": expected sqlite://PATH or postgres://…"
    );
}

#[tokio::test]
async fn a_missing_sqlite_directory_is_a_clear_error() {
    let err = Store::connect("sqlite:///nonexistent-dir-for-signet/x.db")
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("cannot open database sqlite:///nonexistent-dir-for-signet/x.db"),
        "{err}"
    );
}

async fn commits_from_any_process_move_the_change_token(db: TestDb) {
    let before = db.store.changes().current();
    if db.store.backend() == Backend::Postgres {
        assert_eq!(
            before, None,
            "PostgreSQL offers no token: callers must query"
        );
        return;
    }
    let before = before.expect("a token on SQLite in WAL mode");
    // Reads do not move it.
    let _: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(db.store.pool())
        .await
        .unwrap();
    assert_eq!(db.store.changes().current(), Some(before));
    // A commit through another pool (as the CLI would make) does, every time.
    let other = Store::connect(&db.url).await.unwrap();
    let mut seen = vec![before];
    for i in 0..3 {
        sqlx::query("INSERT INTO organizations (id, name, created_at) VALUES ($1, 'x', 1)")
            .bind(format!("org_{i}"))
            .execute(other.pool())
            .await
            .unwrap();
        let now = db.store.changes().current().unwrap();
        assert!(!seen.contains(&now), "commit {i} moved the token");
        seen.push(now);
    }
    other.close().await;
}
