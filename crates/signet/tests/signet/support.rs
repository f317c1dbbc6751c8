//! What every end-to-end test needs: a real server on port 0 and the built
//! binary as a subprocess.

use std::process::Stdio;
use std::sync::Arc;

use serde_json::Value;
use signet::config::{Config, Layer};
use signet::serve::{self, Running};
use signet_store::ManualClock;
use signet_store::testing::TestDb;
use tokio::io::AsyncWriteExt;

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
    let data_dir = tempfile::tempdir().unwrap();
    let mut flags = Layer {
        data_dir: Some(data_dir.path().display().to_string()),
        database_url: Some(db_url.to_owned()),
        listen: Some("127.0.0.1:0".into()),
        ..Layer::default()
    };
    settings(&mut flags);
    let config = Config::resolve(&flags, None, &|_| None).unwrap();
    let running = serve::start(config, Arc::new(ManualClock::starting_now()))
        .await
        .unwrap();
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
        run_cli(&self.db.url, self.data_dir.path(), args, stdin).await
    }
}

pub struct CliOutput {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl CliOutput {
    pub fn ok(self) -> String {
        assert_eq!(self.code, 0, "stderr: {}", self.stderr);
        self.stdout
    }

    pub fn json(self) -> Value {
        serde_json::from_str(&self.ok()).unwrap()
    }
}

pub async fn run_cli(
    db_url: &str,
    data_dir: &std::path::Path,
    args: &[&str],
    stdin: Option<&str>,
) -> CliOutput {
    let mut child = tokio::process::Command::new(BIN)
        .args(args)
        .arg("--database-url")
        .arg(db_url)
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("SIGNET_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).await.unwrap();
    }
    drop(input);
    let output = child.wait_with_output().await.unwrap();
    CliOutput {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}
