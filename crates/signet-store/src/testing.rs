//! Throwaway databases for tests, on SQLite always and on PostgreSQL when
//! `SIGNET_TEST_POSTGRES_URL` names a server. Under `CI=true` a missing URL is
//! a failure, not a skip, so CI cannot silently stop testing PostgreSQL.
#![allow(clippy::expect_used, clippy::panic)]

use crate::Store;

/// A migrated database that lives as long as this value.
#[derive(Debug)]
pub struct TestDb {
    pub store: Store,
    /// The URL it was opened with, for handing to a subprocess.
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

pub const POSTGRES_URL_VAR: &str = "SIGNET_TEST_POSTGRES_URL";

/// A fresh SQLite file in a temporary directory.
pub async fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}", dir.path().join("signet.db").display());
    let store = Store::connect(&url).await.expect("open SQLite");
    store.migrate().await.expect("migrate SQLite");
    TestDb {
        store,
        url,
        _dir: Some(dir),
    }
}

/// The PostgreSQL server to test against, if one is configured.
pub fn postgres_url() -> Option<String> {
    match std::env::var(POSTGRES_URL_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!(
                "{POSTGRES_URL_VAR} must be set when CI=true: PostgreSQL tests may not be skipped"
            )
        }
        _ => None,
    }
}

/// A fresh, migrated schema on the configured PostgreSQL server, or `None`
/// (with a note on stderr) when no server is configured outside CI.
pub async fn postgres() -> Option<TestDb> {
    let Some(base) = postgres_url() else {
        eprintln!("note: {POSTGRES_URL_VAR} is not set; PostgreSQL variant not run");
        return None;
    };
    let schema = crate::ids::new("t").expect("random schema name");
    let admin = Store::connect(&base).await.expect("reach PostgreSQL");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(admin.pool())
        .await
        .expect("create test schema");
    admin.close().await;
    let separator = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{separator}options=-c%20search_path%3D{schema}");
    let store = Store::connect(&url).await.expect("open PostgreSQL schema");
    store.migrate().await.expect("migrate PostgreSQL");
    Some(TestDb {
        store,
        url,
        _dir: None,
    })
}

/// Declares each listed `async fn name(db: TestDb)` as two tests, one per
/// database: `sqlite::name` and `postgres::name`.
#[macro_export]
macro_rules! store_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::testing::sqlite().await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    if let Some(db) = $crate::testing::postgres().await {
                        super::$name(db).await;
                    }
                }
            )*
        }
    };
}
