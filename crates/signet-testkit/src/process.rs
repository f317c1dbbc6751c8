//! The built `signet` binary as a child process: admin commands, and
//! `signet serve` read up to its banner.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

/// The `signet` binary pointed at one data directory and database (`None`:
/// the default SQLite file in the data directory). Settings from the
/// environment (`SIGNET_CONFIG`, and `SIGNET_DATABASE_URL` when no database
/// is named) are not let in.
#[derive(Debug, Clone, Copy)]
pub struct Signet<'a> {
    pub bin: &'a Path,
    pub data_dir: &'a Path,
    pub database_url: Option<&'a str>,
}

impl Signet<'_> {
    fn command(&self) -> Command {
        let mut command = Command::new(self.bin);
        command.env_remove("SIGNET_CONFIG");
        if self.database_url.is_none() {
            command.env_remove("SIGNET_DATABASE_URL");
        }
        command
    }

    fn installation_args(&self, command: &mut Command) {
        if let Some(url) = self.database_url {
            command.arg("--database-url").arg(url);
        }
        command.arg("--data-dir").arg(self.data_dir);
    }

    /// Runs `signet ARGS`, with `stdin` written to it.
    pub async fn cli(&self, args: &[&str], stdin: Option<&str>) -> CliOutput {
        let mut command = self.command();
        command.args(args);
        self.installation_args(&mut command);
        let mut child = command
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

    /// A user with `password`, an organization it owns and that
    /// organization's account, made with the CLI; the organization's id.
    pub async fn account(&self, email: &str, password: &str, org_name: &str) -> String {
        self.cli(
            &["user", "add", "--email", email, "--password-stdin"],
            Some(&format!("{password}\n")),
        )
        .await
        .ok();
        let org = self
            .cli(&["org", "add", "--name", org_name, "--owner", email], None)
            .await
            .ok()
            .trim()
            .to_owned();
        self.cli(&["account", "link", "--org", &org], None)
            .await
            .ok();
        org
    }

    /// `signet serve` on a loopback port of the system's choosing, with
    /// `extra` flags; set its stderr, then [`spawn_serve`] it.
    pub fn serve(&self, extra: &[&str]) -> Command {
        let mut command = self.command();
        command.args(["serve", "--listen", "127.0.0.1:0"]);
        self.installation_args(&mut command);
        command.args(extra);
        command
    }
}

/// What a command printed, and how it exited.
#[derive(Debug)]
pub struct CliOutput {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl CliOutput {
    /// Its stdout, once it is known to have succeeded.
    pub fn ok(self) -> String {
        assert_eq!(self.code, 0, "stderr: {}", self.stderr);
        self.stdout
    }

    pub fn json(self) -> Value {
        serde_json::from_str(&self.ok()).unwrap()
    }
}

/// A running `signet serve`: the child (killed on drop), its banner up to
/// the line that says where to connect, and the address it listens on.
#[derive(Debug)]
pub struct Served {
    pub child: Child,
    pub banner: String,
    pub address: String,
}

impl Served {
    pub fn base(&self) -> String {
        format!("http://{}", self.address)
    }

    pub fn pid(&self) -> u32 {
        self.child.id().unwrap()
    }

    /// Sends SIGTERM (a graceful stop); whether `kill` succeeded.
    pub fn sigterm(&self) -> bool {
        std::process::Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .is_ok_and(|status| status.success())
    }
}

/// Starts a `signet serve` command and reads its banner (at most 60 s); what
/// it prints afterwards is read and dropped, so it never blocks on stdout.
pub async fn spawn_serve(mut command: Command) -> Served {
    let mut child = command
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut banner = String::new();
    let read = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            banner.push_str(&line);
            banner.push('\n');
            if line.starts_with("Connect an MCP client to ") {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .expect("banner within 60 s");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let address = banner
        .lines()
        .find_map(|l| l.strip_prefix("  Listening on:  "))
        .expect("listening line")
        .to_owned();
    Served {
        child,
        banner,
        address,
    }
}
