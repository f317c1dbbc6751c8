use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};
use url::Url;

use crate::StoreError;

/// Which database a [`Store`] talks to. Almost nothing needs to know; the
/// exceptions (migrations, change notification) ask here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn from_url(url: &str) -> Result<Self, StoreError> {
        let scheme = url.split_once(':').map(|(s, _)| s).unwrap_or_default();
        match scheme {
            "sqlite" => Ok(Self::Sqlite),
            "postgres" | "postgresql" => Ok(Self::Postgres),
            _ => Err(StoreError::UnsupportedUrl(redact(url))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "SQLite",
            Self::Postgres => "PostgreSQL",
        }
    }
}

/// The database: a pool plus the knowledge of which dialect is behind it.
/// Cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    display_url: String,
    changes: std::sync::Arc<crate::ChangeDetector>,
    coherence: std::sync::Arc<crate::coherence::Coherence>,
    /// PostgreSQL: where the token-state listener and pinger connect.
    pg_target: Option<crate::coherence::PgTarget>,
}

/// How long a writer waits for SQLite's lock before giving up (10 s): long
/// enough for the CLI and a running server to take turns.
const SQLITE_BUSY_TIMEOUT: &str = "PRAGMA busy_timeout = 10000";

/// How long a request waits for a PostgreSQL connection before it is told
/// to come back: short, so an outage answers 503 at once instead of
/// holding every request.
const POSTGRES_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

impl Store {
    /// Opens a pool. A SQLite file is created if missing (its directory must
    /// exist); WAL, foreign keys and a busy timeout are set on every
    /// connection so the CLI can work on the file while `serve` runs.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        let display_url = redact(url);
        let connect_url = match backend {
            Backend::Sqlite => sqlite_url_with_create(url),
            Backend::Postgres => url.to_owned(),
        };
        let options: AnyConnectOptions =
            connect_url.parse().map_err(|source| StoreError::Connect {
                url: display_url.clone(),
                source,
            })?;
        let pool_options = match backend {
            Backend::Sqlite => AnyPoolOptions::new()
                .max_connections(8)
                .acquire_timeout(Duration::from_secs(15))
                .after_connect(|conn, _meta| {
                    Box::pin(async move {
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        conn.execute(SQLITE_BUSY_TIMEOUT).await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                        Ok(())
                    })
                }),
            // Fail fast while PostgreSQL is away: a request waits at most
            // this long for a connection, then is answered 503.
            Backend::Postgres => AnyPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(POSTGRES_ACQUIRE_TIMEOUT),
        };
        let pool =
            pool_options
                .connect_with(options)
                .await
                .map_err(|source| StoreError::Connect {
                    url: display_url.clone(),
                    source,
                })?;
        let sqlite_path = match backend {
            Backend::Sqlite => sqlite_file(url),
            Backend::Postgres => None,
        };
        let pg_target = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => {
                Some(crate::coherence::PgTarget::from_url(url).map_err(|source| {
                    StoreError::Connect {
                        url: display_url.clone(),
                        source,
                    }
                })?)
            }
        };
        Ok(Self {
            pool,
            backend,
            display_url,
            changes: std::sync::Arc::new(crate::ChangeDetector::new(sqlite_path)),
            coherence: std::sync::Arc::new(crate::coherence::Coherence::new()),
            pg_target,
        })
    }

    /// Applies every pending migration for this dialect. Safe to call from
    /// several processes: PostgreSQL takes an advisory lock, SQLite a write lock.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match self.backend {
            Backend::Sqlite => {
                sqlx::migrate!("./migrations/sqlite")
                    .run(&self.pool)
                    .await?
            }
            Backend::Postgres => {
                sqlx::migrate!("./migrations/postgres")
                    .run(&self.pool)
                    .await?
            }
        }
        Ok(())
    }

    /// Answers whether the database responds (for `/readyz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// A transaction that will write. On SQLite it takes the write lock at
    /// `BEGIN` (waiting out the busy timeout), so a transaction that reads
    /// and then writes cannot fail half-way because another connection
    /// committed in between; PostgreSQL locks rows as it goes.
    pub async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The URL with any password replaced by `***`, for logs and banners.
    pub fn display_url(&self) -> &str {
        &self.display_url
    }

    /// Sees commits without a query (SQLite); see [`crate::ChangeDetector`].
    pub fn changes(&self) -> &crate::ChangeDetector {
        &self.changes
    }

    /// The stamp to cache what a token's acceptance depends on under (read
    /// it before reading the database), or `None` when nothing may be
    /// cached right now and the database must be asked: SQLite's change
    /// token; on PostgreSQL the listener's generation while this instance
    /// holds its trust (see [`crate::coherence`]).
    pub fn freshness(&self) -> Option<crate::Freshness> {
        match self.backend {
            Backend::Sqlite => self.changes.current().map(crate::Freshness::sqlite),
            Backend::Postgres => self.coherence.current(),
        }
    }

    /// This process's name in lease rows and in `pg_stat_activity`
    /// (`signet-listener ID`, `signet-pinger ID`).
    pub fn instance_id(&self) -> &str {
        self.coherence.instance()
    }

    pub(crate) fn coherence(&self) -> &crate::coherence::Coherence {
        &self.coherence
    }

    pub(crate) fn pg_target(&self) -> Option<&crate::coherence::PgTarget> {
        self.pg_target.as_ref()
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Closes every idle connection while the pool stays open, as an idle
    /// timeout would after a quiet spell: on SQLite the last close removes
    /// the `-wal` and `-shm` files. Returns how many were closed.
    #[cfg(feature = "testing")]
    pub async fn close_idle_connections(&self) -> Result<usize, StoreError> {
        let mut held = Vec::new();
        for _ in 0..self.pool.size() {
            held.push(self.pool.acquire().await?);
        }
        let closed = held.len();
        for connection in held {
            connection.close().await?;
        }
        Ok(closed)
    }
}

/// True when a query failed because it would have broken a unique constraint:
/// how "already exists" is detected without a racy read-then-write.
pub fn is_unique_violation(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .is_some_and(|e| e.is_unique_violation())
}

/// True when a query failed because the database is unreachable, shutting
/// down or too busy right now, so the same request may succeed later:
/// answered 503 with `Retry-After`, not as our own fault.
pub fn is_transient(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(e) => e.code().is_some_and(|code| {
            // PostgreSQL: connection exceptions (08…), shutdown and start-up
            // (57P01–57P03); SQLite: busy or locked past the busy timeout.
            code.starts_with("08")
                || matches!(
                    code.as_ref(),
                    "57P01" | "57P02" | "57P03" | "5" | "6" | "517" | "261"
                )
        }),
        _ => false,
    }
}

/// The file a `sqlite:` URL names (`sqlite://PATH`, `sqlite:PATH`, with or
/// without a query); `None` for in-memory databases.
fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:").then(|| std::path::PathBuf::from(path))
}

fn sqlite_url_with_create(url: &str) -> String {
    if url.contains("mode=") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

fn redact(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            // Only fails for URLs that cannot carry a password at all.
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_follows_the_scheme() {
        assert_eq!(Backend::from_url("sqlite://x.db").unwrap(), Backend::Sqlite);
        assert_eq!(Backend::from_url("sqlite:x.db").unwrap(), Backend::Sqlite);
        assert_eq!(
            Backend::from_url("postgres://u@h/db").unwrap(),
            Backend::Postgres
        );
        assert_eq!(
            Backend::from_url("postgresql://u@h/db").unwrap(),
            Backend::Postgres
        );
        let err = Backend::from_url("mysql://u:secret@h/db").unwrap_err();
        assert!(err.to_string().contains("mysql://u:***@h/db"), "{err}");
    }

    #[test]
    fn passwords_never_reach_display() {
        assert_eq!(
            redact("postgres://signet:hunter2@db:5432/signet"),
            "postgres://signet:***@db:5432/signet"
        );
        assert_eq!(redact("sqlite://data/signet.db"), "sqlite://data/signet.db");
    }

    #[test]
    fn sqlite_paths_come_from_the_url() {
        assert_eq!(
            sqlite_file("sqlite://data/s.db?mode=rwc"),
            Some("data/s.db".into())
        );
        assert_eq!(sqlite_file("sqlite:///abs/s.db"), Some("/abs/s.db".into()));
        assert_eq!(sqlite_file("sqlite::memory:"), None);
    }

    #[test]
    fn sqlite_files_are_created_unless_told_otherwise() {
        assert_eq!(
            sqlite_url_with_create("sqlite://a.db"),
            "sqlite://a.db?mode=rwc"
        );
        assert_eq!(
            sqlite_url_with_create("sqlite://a.db?cache=shared"),
            "sqlite://a.db?cache=shared&mode=rwc"
        );
        assert_eq!(
            sqlite_url_with_create("sqlite://a.db?mode=ro"),
            "sqlite://a.db?mode=ro"
        );
    }
}
