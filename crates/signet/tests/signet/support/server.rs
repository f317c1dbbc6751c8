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

/// One TCP connection spoken to by hand: for what reqwest cannot send
/// (a second `Host`, an absolute-form target, raw header bytes) and to see
/// what happens to a keep-alive connection after a response.
pub struct Raw {
    stream: tokio::net::TcpStream,
    buffer: Vec<u8>,
}

pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    }

    /// Whether the server said it closes the connection after this response.
    pub fn closes(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")))
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }
}

/// Reads and writes give up after this long, so a server that neither
/// answers nor closes fails the test instead of hanging it.
const RAW_PATIENCE: std::time::Duration = std::time::Duration::from_secs(30);

impl Raw {
    pub async fn connect(server: &Server) -> Raw {
        Raw {
            stream: tokio::net::TcpStream::connect(server.running.local_addr)
                .await
                .unwrap(),
            buffer: Vec::new(),
        }
    }

    /// Writes bytes; an error means the server has closed the connection.
    pub async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        tokio::time::timeout(RAW_PATIENCE, self.stream.write_all(bytes))
            .await
            .map_err(|_| std::io::Error::other("write timed out"))?
    }

    /// More bytes from the server; false once it has closed the connection.
    async fn fill(&mut self) -> bool {
        use tokio::io::AsyncReadExt;
        let mut chunk = [0u8; 8192];
        match tokio::time::timeout(RAW_PATIENCE, self.stream.read(&mut chunk))
            .await
            .expect("the server neither answered nor closed the connection")
        {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buffer.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    /// The next response (interim ones such as `100 Continue` included), or
    /// None when the server closes the connection before sending one.
    pub async fn response(&mut self) -> Option<RawResponse> {
        let head_end = loop {
            if let Some(i) = self.buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            if !self.fill().await {
                assert!(self.buffer.is_empty(), "connection closed mid-response");
                return None;
            }
        };
        let head = String::from_utf8_lossy(&self.buffer[..head_end]).into_owned();
        self.buffer.drain(..head_end + 4);
        let mut lines = head.split("\r\n");
        let status: u16 = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let headers: Vec<(String, Vec<u8>)> = lines
            .map(|line| {
                let (name, value) = line.split_once(':').unwrap();
                (name.to_owned(), value.trim().as_bytes().to_vec())
            })
            .collect();
        let mut response = RawResponse {
            status,
            headers,
            body: Vec::new(),
        };
        if status < 200 || status == 204 || status == 304 {
            return Some(response);
        }
        if let Some(length) = response.header("content-length") {
            let length: usize = length.parse().unwrap();
            while self.buffer.len() < length {
                assert!(self.fill().await, "connection closed mid-body");
            }
            response.body = self.buffer.drain(..length).collect();
        } else if response
            .header("transfer-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
        {
            loop {
                let line_end = loop {
                    if let Some(i) = self.buffer.windows(2).position(|w| w == b"\r\n") {
                        break i;
                    }
                    assert!(self.fill().await, "connection closed mid-chunk");
                };
                let size = String::from_utf8_lossy(&self.buffer[..line_end]).into_owned();
                let size =
                    usize::from_str_radix(size.split(';').next().unwrap().trim(), 16).unwrap();
                while self.buffer.len() < line_end + 2 + size + 2 {
                    assert!(self.fill().await, "connection closed mid-chunk");
                }
                response
                    .body
                    .extend_from_slice(&self.buffer[line_end + 2..line_end + 2 + size]);
                self.buffer.drain(..line_end + 2 + size + 2);
                if size == 0 {
                    break;
                }
            }
        } else {
            while self.fill().await {}
            response.body = std::mem::take(&mut self.buffer);
        }
        Some(response)
    }

    /// Whether the server has closed the connection (nothing more to read).
    pub async fn closed_by_server(&mut self) -> bool {
        self.buffer.is_empty() && !self.fill().await
    }
}
