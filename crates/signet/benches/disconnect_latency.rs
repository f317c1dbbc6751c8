//! How long a disconnect takes to return when it must be applied by every
//! live instance first (ARCHITECTURE.md, "Several instances on PostgreSQL").
//!
//!     cargo bench -p signet --bench disconnect_latency -- POSTGRES_URL [--rounds 50]
//!
//! Starts `signet serve` child processes on one PostgreSQL database, all
//! naming the first one's public URL, then for one, two and three live
//! instances: connects an agent through the real flow, has every instance
//! accept its token (so each answers from its cache), and times the
//! disconnect form of Settings → Applications posted to the first
//! instance, from sending to the answer. Every other instance is then
//! asked once and must refuse the token: a stale answer stops the bench.
//! Prints p50, p99 and the maximum per instance count.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use signet_testkit::browser::Browser;
use signet_testkit::html::hidden_inputs;
use signet_testkit::mcp::{ACCEPT, PROTOCOL_VERSION, whoami_request};
use signet_testkit::measure::percentile;
use signet_testkit::oauth::{access_token, register_public};
use signet_testkit::process::{Served, Signet, spawn_serve};

const BIN: &str = env!("CARGO_BIN_EXE_signet");
const PASSWORD: &str = "benchmark password";

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let mut url = None;
    let mut rounds = 50;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--rounds" => rounds = args.next().and_then(|v| v.parse().ok()).unwrap_or(rounds),
            other if other.starts_with("postgres") => url = Some(other.to_owned()),
            _ => {}
        }
    }
    let Some(url) = url else {
        println!("disconnect_latency measures instances on PostgreSQL: give a postgres:// URL");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let signet = Signet {
        bin: Path::new(BIN),
        data_dir: dir.path(),
        database_url: Some(&url),
    };
    let email = format!(
        "latency-{}@example.com",
        signet_store::random::token().unwrap()
    );
    signet.account(&email, PASSWORD, "Latency").await;

    let first = serve(&signet, None).await;
    let public = first.base();
    let browser = Browser::new(&public);
    let client_id = register_public(&browser, "latency-bench").await;
    let http = reqwest::Client::new();
    let mut instances = vec![first];

    println!("disconnect through Settings → Applications on instance 1, {rounds} rounds each");
    println!(
        "{:<10} {:>9} {:>9} {:>9}",
        "instances", "p50 ms", "p99 ms", "max ms"
    );
    for count in 1..=3 {
        while instances.len() < count {
            instances.push(serve(&signet, Some(&public)).await);
        }
        let mut took = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let token = access_token(&browser, &client_id, &email, PASSWORD).await;
            for instance in &instances {
                assert_eq!(whoami(&http, instance, &public, &token).await.0, 200);
            }
            let connection = whoami(&http, &instances[0], &public, &token).await.1["result"]
                ["structuredContent"]["connection"]["id"]
                .as_str()
                .unwrap()
                .to_owned();
            let path = format!("/settings/applications/{connection}/disconnect");
            let form = hidden_inputs(&browser.get(&path).await.text().await.unwrap());
            let sent = Instant::now();
            let done = browser.post(&path, &form).await;
            took.push(sent.elapsed());
            assert_eq!(done.status(), 303);
            for (i, instance) in instances.iter().enumerate() {
                let (status, body) = whoami(&http, instance, &public, &token).await;
                assert_eq!(
                    (status, body["error_description"].as_str()),
                    (401, Some("Application has been disconnected")),
                    "instance {} answered after the disconnect returned",
                    i + 1
                );
            }
        }
        took.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "{:<10} {:>9.2} {:>9.2} {:>9.2}",
            count,
            ms(percentile(&took, 0.5)),
            ms(percentile(&took, 0.99)),
            ms(*took.last().unwrap())
        );
    }
    for instance in &instances {
        instance.sigterm();
    }
    for mut instance in instances {
        let _ = instance.child.wait().await;
    }
}

async fn serve(signet: &Signet<'_>, public_url: Option<&str>) -> Served {
    let mut extra = vec!["--log-level", "warn"];
    if let Some(url) = public_url {
        extra.extend(["--public-url", url]);
    }
    let mut command = signet.serve(&extra);
    command.stderr(Stdio::null());
    spawn_serve(command).await
}

/// `tools/call whoami` on one instance, naming the public URL's host.
async fn whoami(
    http: &reqwest::Client,
    instance: &Served,
    public: &str,
    token: &str,
) -> (u16, Value) {
    let response = http
        .post(format!("{}/mcp", instance.base()))
        .header(reqwest::header::HOST, public.trim_start_matches("http://"))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .header("accept", ACCEPT)
        .header("mcp-protocol-version", PROTOCOL_VERSION)
        .json(&whoami_request())
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}
