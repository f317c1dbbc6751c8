//! Load harness for the protected endpoint: authenticated `tools/call
//! whoami` against a trivial route of the same server.
//!
//!     cargo bench -p signet --bench mcp_whoami
//!     options after `--`: [DATABASE_URL] [--seconds S] [--concurrency 16,64]
//!
//! Runs the real `signet serve` as a child process (so its memory is its
//! own), obtains a token through the real flow over HTTP (registration,
//! authorization, the sign-in and consent forms, the code exchange: the
//! `signet-testkit` flow the integration tests use), then
//! for each concurrency drives `GET /healthz` and `POST /mcp` (`tools/call
//! whoami`) for a fixed time, and prints requests/s, p50, p99, errors and
//! the server's peak RSS.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use signet_testkit::browser::Browser;
use signet_testkit::mcp::{ACCEPT, PROTOCOL_VERSION, whoami_request};
use signet_testkit::measure::{percentile, status_kib};
use signet_testkit::oauth::{self, Consent};
use signet_testkit::process::{Signet, spawn_serve};

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

/// The whole OAuth flow as a client and a person would go through it:
/// registration, authorization, the sign-in and consent forms, the code
/// exchange.
async fn real_token(base: &str) -> String {
    let browser = Browser::new(base);
    let client: Value = oauth::register(
        browser.http(),
        base,
        &json!({ "client_name": "signet-bench", "redirect_uris": [CALLBACK], "token_endpoint_auth_method": "none" }),
    )
    .await
    .json()
    .await
    .unwrap();
    let client_id = client["client_id"].as_str().unwrap().to_owned();
    let resource = format!("{base}/mcp");
    let consent = Consent {
        client_id: &client_id,
        redirect_uri: CALLBACK,
        params: &[("resource", &resource)],
        org: None,
        email: EMAIL,
        password: PASSWORD,
    };
    let tokens: Value = oauth::connect(&browser, browser.http(), &consent)
        .await
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
    let body = serde_json::to_vec(&whoami_request()).unwrap();
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
                            .header("accept", ACCEPT)
                            .header("mcp-protocol-version", PROTOCOL_VERSION)
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
    Run {
        ok: latencies.len(),
        errors,
        seconds,
        p50: percentile(&latencies, 0.5),
        p99: percentile(&latencies, 0.99),
    }
}

#[tokio::main]
async fn main() {
    let options = options();
    let dir = tempfile::tempdir().unwrap();
    let signet = Signet {
        bin: Path::new(BIN),
        data_dir: dir.path(),
        database_url: options.database_url.as_deref(),
    };
    // The bench's own user, organization and account, made with the CLI.
    signet
        .cli(
            &["user", "add", "--email", EMAIL, "--password-stdin"],
            Some(&format!("{PASSWORD}\n")),
        )
        .await
        .ok();
    let org = signet
        .cli(&["org", "add", "--name", "Bench", "--owner", EMAIL], None)
        .await
        .ok();
    signet
        .cli(&["account", "link", "--org", org.trim()], None)
        .await
        .ok();

    let mut serve = signet.serve(&["--log-level", "warn"]);
    serve.stderr(Stdio::null());
    let mut server = spawn_serve(serve).await;
    let base = server.base();
    let pid = server.pid();
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
    println!(
        "server peak RSS: {} MiB",
        status_kib(Some(pid), "VmHWM") / 1024
    );
    server.sigterm();
    let _ = server.child.wait().await;
}
