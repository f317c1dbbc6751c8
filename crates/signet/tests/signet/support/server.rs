//! What every end-to-end test needs: the real server on port 0 (and more
//! instances on its database), and the built binary as a subprocess
//! against the same database.

use std::path::Path;
use std::sync::Arc;

use serde_json::Value;
use signet::config::{Config, Layer};
use signet::serve::{self, Running};
use signet_store::ManualClock;
use signet_store::testing::TestDb;
use signet_testkit::browser::Browser;
use signet_testkit::process::{CliOutput, Served, Signet, spawn_serve};

pub const BIN: &str = env!("CARGO_BIN_EXE_signet");

pub struct Server {
    pub running: Running,
    pub base: String,
    pub db: TestDb,
    pub data_dir: tempfile::TempDir,
    pub http: reqwest::Client,
    /// The server's clock: tests move it instead of sleeping.
    pub clock: Arc<ManualClock>,
}

pub async fn start(db: TestDb, public_url: Option<&str>) -> Server {
    start_with(
        db,
        |flags| flags.public_url = public_url.map(str::to_owned),
        Vec::new(),
    )
    .await
}

/// Starts a server with extra settings: flags, and environment variables
/// for the settings that have no flag (secrets such as the SMTP URL).
pub async fn start_with(
    db: TestDb,
    settings: impl FnOnce(&mut Layer),
    env: Vec<(&'static str, String)>,
) -> Server {
    let data_dir = tempfile::tempdir().unwrap();
    let mut flags = Layer {
        data_dir: Some(data_dir.path().display().to_string()),
        database_url: Some(db.url.clone()),
        listen: Some("127.0.0.1:0".into()),
        ..Layer::default()
    };
    settings(&mut flags);
    let config = Config::resolve(&flags, None, &|name| {
        env.iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.clone())
    })
    .unwrap();
    let clock = Arc::new(ManualClock::starting_now());
    let running = serve::start(config, clock.clone()).await.unwrap();
    let base = format!("http://{}", running.local_addr);
    Server {
        running,
        base,
        db,
        data_dir,
        http: reqwest::Client::new(),
        clock,
    }
}

/// Another instance on the same database (a second replica behind a load
/// balancer): its own data directory and port.
pub async fn start_instance(
    db_url: &str,
    settings: impl FnOnce(&mut Layer),
) -> (Running, tempfile::TempDir) {
    start_instance_with_clock(db_url, Arc::new(ManualClock::starting_now()), settings).await
}

/// [`start_instance`] on a given clock: share the first server's, and
/// moving it moves both (their schedulers wake together).
pub async fn start_instance_with_clock(
    db_url: &str,
    clock: Arc<ManualClock>,
    settings: impl FnOnce(&mut Layer),
) -> (Running, tempfile::TempDir) {
    let data_dir = tempfile::tempdir().unwrap();
    let mut flags = Layer {
        data_dir: Some(data_dir.path().display().to_string()),
        database_url: Some(db_url.to_owned()),
        listen: Some("127.0.0.1:0".into()),
        ..Layer::default()
    };
    settings(&mut flags);
    let config = Config::resolve(&flags, None, &|_| None).unwrap();
    let running = serve::start(config, clock).await.unwrap();
    (running, data_dir)
}

impl Server {
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
    }

    pub async fn get_json(&self, path: &str) -> Value {
        let response = self.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        response.json().await.unwrap()
    }

    /// Runs `signet ARGS` against this server's database.
    pub async fn cli(&self, args: &[&str], stdin: Option<&str>) -> CliOutput {
        self.signet().cli(args, stdin).await
    }

    /// The built binary, pointed at this server's data directory and database.
    fn signet(&self) -> Signet<'_> {
        Signet {
            bin: Path::new(BIN),
            data_dir: self.data_dir.path(),
            database_url: Some(&self.db.url),
        }
    }

    /// A new browser (no cookies yet) on this server.
    pub fn browser(&self) -> Browser {
        Browser::new(&self.base)
    }

    /// A browser behind a proxy that says the client is `ip`.
    pub fn browser_forwarded_for(&self, ip: &str) -> Browser {
        Browser::forwarded_for(&self.base, ip)
    }

    /// How many rows `table` has.
    pub async fn count_rows(&self, table: &str) -> i64 {
        signet_store::sqlx::query_scalar(signet_store::sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM {table}"
        )))
        .fetch_one(self.running.state.store.pool())
        .await
        .unwrap()
    }
}

/// `signet serve` as a subprocess on its own SQLite database in `data_dir`,
/// with `extra` flags, read up to its banner; its stderr is kept for the test.
pub async fn serve_in(data_dir: &Path, extra: &[&str]) -> Served {
    let signet = Signet {
        bin: Path::new(BIN),
        data_dir,
        database_url: None,
    };
    let mut command = signet.serve(extra);
    command.stderr(std::process::Stdio::piped());
    spawn_serve(command).await
}
