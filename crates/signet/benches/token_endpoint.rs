//! Load harness for the token endpoint: refresh grants per second.
//!
//!     cargo bench -p signet --bench token_endpoint                     # SQLite
//!     cargo bench -p signet --bench token_endpoint -- postgres://USER:PW@127.0.0.1/DB
//!     options after `--`: [DATABASE_URL] [--workers N] [--seconds S]
//!
//! Starts the real server in-process on a loopback port, creates one grant
//! per worker through the real flow (sign-in and consent, the code
//! exchange: the `signet-testkit` flow the integration tests use), then each worker refreshes its own token chain over HTTP as
//! fast as it can (every call rotates the token: a read, two writes and a
//! signature). Prints requests/s, latency percentiles and memory.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use signet::config::{Config, Layer};
use signet_identity::Password;
use signet_store::SystemClock;
use signet_store::audit::Actor;
use signet_testkit::browser::Browser;
use signet_testkit::measure::{percentile, status_kib};
use signet_testkit::oauth::{self, Consent};

const PASSWORD: &str = "benchmark password";
const CALLBACK: &str = "http://127.0.0.1:1/cb";

struct Options {
    database_url: Option<String>,
    workers: usize,
    seconds: u64,
}

fn options() -> Options {
    let mut options = Options {
        database_url: None,
        workers: 16,
        seconds: 10,
    };
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--workers" => {
                options.workers = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(options.workers)
            }
            "--seconds" => {
                options.seconds = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(options.seconds)
            }
            url if url.starts_with("postgres") || url.starts_with("sqlite") => {
                options.database_url = Some(url.to_owned())
            }
            _ => {}
        }
    }
    options
}

fn rss_kib() -> u64 {
    status_kib(None, "VmRSS")
}

#[tokio::main]
async fn main() {
    let options = options();
    let dir = tempfile::tempdir().unwrap();
    let flags = Layer {
        data_dir: Some(dir.path().display().to_string()),
        database_url: options.database_url.clone(),
        listen: Some("127.0.0.1:0".into()),
        ..Layer::default()
    };
    let config = Config::resolve(&flags, None, &|_| None).unwrap();
    let running = signet::serve::start(config, Arc::new(SystemClock))
        .await
        .unwrap();
    let state = running.state.clone();
    let base = format!("http://{}", running.local_addr);

    // One grant per worker, through the real flow: Ada signs in once, then
    // consents for one organization per worker.
    let identity = &state.identity;
    let email = format!(
        "bench-{}@example.com",
        signet_store::random::token().unwrap()[..8].to_lowercase()
    );
    identity
        .create_user(
            &Actor::Cli,
            &email,
            None,
            Some(Password::new(PASSWORD).unwrap()),
        )
        .await
        .unwrap();
    let org = identity
        .create_organization(&Actor::Cli, "Bench", Some(&email))
        .await
        .unwrap();
    identity.link_account(&Actor::Cli, &org.id).await.unwrap();
    let http = reqwest::Client::new();
    let registered: Value = oauth::register(
        &http,
        &base,
        &serde_json::json!({ "redirect_uris": [CALLBACK], "token_endpoint_auth_method": "none" }),
    )
    .await
    .json()
    .await
    .unwrap();
    let client_id = registered["client_id"].as_str().unwrap().to_owned();
    let browser = Browser::new(&base);
    let mut chains = Vec::new();
    for worker in 0..options.workers {
        // Distinct organizations keep grants independent (one live
        // connection per user, client and organization).
        let org = identity
            .create_organization(&Actor::Cli, &format!("Bench {worker}"), Some(&email))
            .await
            .unwrap();
        let consent = Consent {
            client_id: &client_id,
            redirect_uri: CALLBACK,
            params: &[],
            org: Some(&org.id),
            email: &email,
            password: PASSWORD,
        };
        let tokens: Value = oauth::connect(&browser, &http, &consent)
            .await
            .json()
            .await
            .unwrap();
        chains.push(tokens["refresh_token"].as_str().unwrap().to_owned());
    }

    let rss_before = rss_kib();
    let deadline = Instant::now() + Duration::from_secs(options.seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for mut refresh_token in chains {
        let (http, base, client_id) = (http.clone(), base.clone(), client_id.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0_u64;
            while Instant::now() < deadline {
                let sent = Instant::now();
                let response = http
                    .post(format!("{base}/oauth/token"))
                    .form(&[
                        ("grant_type", "refresh_token"),
                        ("refresh_token", &refresh_token),
                        ("client_id", &client_id),
                    ])
                    .send()
                    .await;
                match response {
                    Ok(r) if r.status().is_success() => {
                        let body: Value = r.json().await.unwrap();
                        refresh_token = body["refresh_token"].as_str().unwrap().to_owned();
                        latencies.push(sent.elapsed());
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
    let elapsed = started.elapsed();
    latencies.sort();
    let backend = state.store.backend().name();
    println!(
        "token endpoint, refresh_token grant ({backend}, {} workers, {:.1} s)",
        options.workers,
        elapsed.as_secs_f64()
    );
    println!("  requests:   {} ok, {errors} failed", latencies.len());
    println!(
        "  throughput: {:.0} refresh grants/s",
        latencies.len() as f64 / elapsed.as_secs_f64()
    );
    println!(
        "  latency:    p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
    println!(
        "  memory:     RSS {} MiB before load, {} MiB after (server and load generator in one process)",
        rss_before / 1024,
        rss_kib() / 1024
    );
    running.stop().await.unwrap();
}
