//! Load harness for the protected endpoint: authenticated `tools/call
//! whoami` against a trivial route of the same server.
//!
//!     cargo bench -p signet --bench mcp_whoami
//!     options after `--`: [DATABASE_URL] [--seconds S] [--concurrency 16,64]
//!
//! Runs the real `signet serve` as a child process (so its memory is its
//! own), obtains a token through the real flow over HTTP (registration,
//! authorization, the sign-in and consent forms, the code exchange), then
//! for each concurrency drives `GET /healthz` and `POST /mcp` (`tools/call
//! whoami`) for a fixed time, and prints requests/s, p50, p99, errors and
//! the server's peak RSS.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const BIN: &str = env!("CARGO_BIN_EXE_signet");
const EMAIL: &str = "bench@example.com";
const PASSWORD: &str = "benchmark password";
const CALLBACK: &str = "http://127.0.0.1:9/callback";

struct Options {
    database_url: Option<String>,
    seconds: u64,
    concurrency: Vec<usize>,
}

fn options() -> Options {
    let mut options = Options {
        database_url: None,
        seconds: 10,
        concurrency: vec![16, 64],
    };
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => {
                options.seconds = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(options.seconds)
            }
            "--concurrency" => {
                if let Some(list) = args.next() {
                    options.concurrency = list
                        .split(',')
                        .filter_map(|c| c.trim().parse().ok())
                        .collect();
                }
            }
            url if url.contains("://") => options.database_url = Some(url.to_owned()),
            _ => {}
        }
    }
    options
}

async fn cli(
    data_dir: &std::path::Path,
    database_url: &Option<String>,
    args: &[&str],
    stdin: Option<&str>,
) -> String {
    let mut command = tokio::process::Command::new(BIN);
    command.args(args).arg("--data-dir").arg(data_dir);
    if let Some(url) = database_url {
        command.arg("--database-url").arg(url);
    }
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
    assert!(
        output.status.success(),
        "signet {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

fn hidden_inputs(html: &str) -> Vec<(String, String)> {
    html.split("<input type=\"hidden\" name=\"")
        .skip(1)
        .map(|rest| {
            let (name, rest) = rest.split_once('"').unwrap();
            let value = rest
                .split_once("value=\"")
                .unwrap()
                .1
                .split_once('"')
                .unwrap()
                .0;
            let unescape = |s: &str| {
                s.replace("&#38;", "&")
                    .replace("&amp;", "&")
                    .replace("&#34;", "\"")
                    .replace("&quot;", "\"")
            };
            (unescape(name), unescape(value))
        })
        .collect()
}

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_owned()
}

/// The whole OAuth flow as a client and a person would go through it.
async fn real_token(base: &str) -> String {
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let client: Value = browser
        .post(format!("{base}/oauth/register"))
        .json(&json!({ "client_name": "signet-bench", "redirect_uris": [CALLBACK], "token_endpoint_auth_method": "none" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let client_id = client["client_id"].as_str().unwrap().to_owned();
    let verifier = format!("{}-bench-verifier-with-enough-length", "v".repeat(20));
    let challenge = signet_store::random::digest(&verifier);
    let mut url = url::Url::parse(&format!("{base}/oauth/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &client_id)
        .append_pair("redirect_uri", CALLBACK)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("resource", &format!("{base}/mcp"));
    let to_login = browser.get(url.as_str()).send().await.unwrap();
    let login_page = browser
        .get(format!("{base}{}", location(&to_login)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut form = hidden_inputs(&login_page);
    form.push(("email".into(), EMAIL.into()));
    form.push(("password".into(), PASSWORD.into()));
    let signed_in = browser
        .post(format!("{base}/login"))
        .form(&form)
        .send()
        .await
        .unwrap();
    let consent = browser
        .get(format!("{base}{}", location(&signed_in)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let org = consent
        .split("name=\"org_id\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let mut form = hidden_inputs(&consent);
    form.push(("org_id".into(), org));
    form.push(("decision".into(), "approve".into()));
    let approved = browser
        .post(format!("{base}/oauth/authorize"))
        .form(&form)
        .send()
        .await
        .unwrap();
    let callback = url::Url::parse(&location(&approved)).unwrap();
    let code = callback
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let tokens: Value = browser
        .post(format!("{base}/oauth/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CALLBACK),
            ("code_verifier", &verifier),
            ("client_id", &client_id),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    tokens["access_token"].as_str().unwrap().to_owned()
}

#[derive(Clone, Copy)]
enum Target {
    Healthz,
    Whoami,
}

struct Run {
    ok: usize,
    errors: u64,
    seconds: f64,
    p50: Duration,
    p99: Duration,
}

async fn drive(base: &str, token: &str, target: Target, concurrency: usize, seconds: u64) -> Run {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .unwrap();
    let body = serde_json::to_vec(&json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": { "name": "whoami", "arguments": {} } })).unwrap();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (http, body, token) = (http.clone(), body.clone(), token.to_owned());
        let (healthz, mcp) = (format!("{base}/healthz"), format!("{base}/mcp"));
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0_u64;
            while Instant::now() < deadline {
                let sent = Instant::now();
                let response = match target {
                    Target::Healthz => http.get(&healthz).send().await,
                    Target::Whoami => {
                        http.post(&mcp)
                            .bearer_auth(&token)
                            .header("content-type", "application/json")
                            .header("accept", "application/json, text/event-stream")
                            .header("mcp-protocol-version", "2025-11-25")
                            .body(body.clone())
                            .send()
                            .await
                    }
                };
                match response {
                    Ok(r) if r.status().is_success() => {
                        let bytes = r.bytes().await.unwrap_or_default();
                        if matches!(target, Target::Whoami)
                            && !bytes.windows(9).any(|w| w == b"\"isError\"")
                        {
                            errors += 1;
                        } else {
                            latencies.push(sent.elapsed());
                        }
                    }
                    _ => errors += 1,
                }
            }
            (latencies, errors)
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (mut l, e) = task.await.unwrap();
        latencies.append(&mut l);
        errors += e;
    }
    let seconds = started.elapsed().as_secs_f64();
    latencies.sort();
    let at = |p: f64| {
        latencies
            .get(((latencies.len().max(1) - 1) as f64 * p).round() as usize)
            .copied()
            .unwrap_or_default()
    };
    Run {
        ok: latencies.len(),
        errors,
        seconds,
        p50: at(0.5),
        p99: at(0.99),
    }
}

fn peak_rss_mib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .unwrap_or(0)
        / 1024
}

#[tokio::main]
async fn main() {
    let options = options();
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path();
    // The bench's own user, organization and account, made with the CLI.
    cli(
        data_dir,
        &options.database_url,
        &["user", "add", "--email", EMAIL, "--password-stdin"],
        Some(&format!("{PASSWORD}\n")),
    )
    .await;
    let org = cli(
        data_dir,
        &options.database_url,
        &["org", "add", "--name", "Bench", "--owner", EMAIL],
        None,
    )
    .await;
    cli(
        data_dir,
        &options.database_url,
        &["account", "link", "--org", &org],
        None,
    )
    .await;

    let mut serve = tokio::process::Command::new(BIN);
    serve
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--log-level",
            "warn",
            "--data-dir",
        ])
        .arg(data_dir);
    if let Some(url) = &options.database_url {
        serve.arg("--database-url").arg(url);
    }
    let mut server = serve
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    let mut address = String::new();
    while let Some(line) = lines.next_line().await.unwrap() {
        if let Some(a) = line.strip_prefix("  Listening on:  ") {
            address = a.to_owned();
        }
        if line.starts_with("Connect an MCP client") {
            break;
        }
    }
    let base = format!("http://{address}");
    let pid = server.id().unwrap();
    let token = real_token(&base).await;

    println!(
        "signet /mcp benchmark: {} s per run, server pid {pid}, {}",
        options.seconds,
        options
            .database_url
            .as_deref()
            .map_or("SQLite", |_| "PostgreSQL")
    );
    println!(
        "{:<34} {:>11} {:>9} {:>9} {:>7}",
        "run", "requests/s", "p50 ms", "p99 ms", "errors"
    );
    for &concurrency in &options.concurrency {
        let mut healthz_rps = 0.0;
        for (name, target) in [
            ("GET /healthz", Target::Healthz),
            ("POST /mcp tools/call whoami", Target::Whoami),
        ] {
            let run = drive(&base, &token, target, concurrency, options.seconds).await;
            let rps = run.ok as f64 / run.seconds;
            let ratio = if matches!(target, Target::Whoami) && healthz_rps > 0.0 {
                format!("  ({:.0}% of /healthz)", 100.0 * rps / healthz_rps)
            } else {
                healthz_rps = rps;
                String::new()
            };
            println!(
                "{:<34} {:>11.0} {:>9.2} {:>9.2} {:>7}{ratio}",
                format!("{name} c={concurrency}"),
                rps,
                run.p50.as_secs_f64() * 1e3,
                run.p99.as_secs_f64() * 1e3,
                run.errors
            );
        }
    }
    println!("server peak RSS: {} MiB", peak_rss_mib(pid));
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = server.wait().await;
}
