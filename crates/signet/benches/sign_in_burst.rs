//! Load harness for sign-in: a burst of parallel `POST /login` with
//! distinct unknown emails (each costs an argon2id hash of 19 MiB), as an
//! attacker would send it.
//!
//!     cargo bench -p signet --bench sign_in_burst
//!     options after `--`: [--burst 200] [--rounds 3]
//!
//! Runs the real `signet serve` as a child process on its own SQLite
//! database, with the per-address sign-in limit raised so that every
//! attempt reaches the password check (the limit is a second guard; this
//! measures the first: the bounded hashing workers). Prints the server's
//! resident memory before, at its peak during, and after each burst, and
//! how the attempts were answered.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use signet_testkit::measure::status_kib;
use signet_testkit::oauth::login_form;
use signet_testkit::process::{Signet, spawn_serve};

const BIN: &str = env!("CARGO_BIN_EXE_signet");

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Resident memory of `pid` in MiB, from `/proc`.
fn rss_mib(pid: u32) -> f64 {
    status_kib(Some(pid), "VmRSS") as f64 / 1024.0
}

#[tokio::main]
async fn main() {
    let burst = arg("--burst", 200);
    let rounds = arg("--rounds", 3);
    let dir = tempfile::tempdir().unwrap();
    let signet = Signet {
        bin: Path::new(BIN),
        data_dir: dir.path(),
        database_url: None,
    };
    let mut serve = signet.serve(&["--log-level", "error", "--sign-in-burst", "100000"]);
    serve.stderr(Stdio::null());
    let mut server = spawn_serve(serve).await;
    let base = server.base();
    let pid = server.pid();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    // One sign-in form: its CSRF cookie and fields serve every attempt.
    let (cookie, form) = login_form(&http, &base).await;

    println!(
        "signet sign-in burst: {burst} parallel attempts with unknown emails, server pid {pid}"
    );
    println!(
        "{:<8} {:>12} {:>12} {:>12} {:>9}  answers",
        "round", "before MiB", "peak MiB", "after MiB", "seconds"
    );
    for round in 1..=rounds {
        let before = rss_mib(pid);
        let peak = Arc::new(AtomicU64::new(before.to_bits()));
        let running = Arc::new(AtomicBool::new(true));
        let sampler = {
            let (peak, running) = (peak.clone(), running.clone());
            tokio::spawn(async move {
                while running.load(Ordering::Relaxed) {
                    let now = rss_mib(pid);
                    if now > f64::from_bits(peak.load(Ordering::Relaxed)) {
                        peak.store(now.to_bits(), Ordering::Relaxed);
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
        };
        let started = Instant::now();
        let attempts: Vec<_> = (0..burst)
            .map(|i| {
                let (http, base, cookie, mut form) =
                    (http.clone(), base.clone(), cookie.clone(), form.clone());
                tokio::spawn(async move {
                    form.push(("email".into(), format!("nobody-{round}-{i}@example.com")));
                    form.push(("password".into(), "not the password".into()));
                    http.post(format!("{base}/login"))
                        .header("cookie", cookie)
                        .form(&form)
                        .send()
                        .await
                        .map(|r| r.status().as_u16())
                        .unwrap_or(0)
                })
            })
            .collect();
        let mut answers: BTreeMap<u16, usize> = BTreeMap::new();
        for attempt in attempts {
            *answers.entry(attempt.await.unwrap()).or_default() += 1;
        }
        let seconds = started.elapsed().as_secs_f64();
        running.store(false, Ordering::Relaxed);
        sampler.await.unwrap();
        // Let the server settle before reading what it kept.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let after = rss_mib(pid);
        let answers: Vec<String> = answers
            .iter()
            .map(|(status, n)| format!("{n}×{status}"))
            .collect();
        println!(
            "{:<8} {:>12.1} {:>12.1} {:>12.1} {:>9.2}  {}",
            round,
            before,
            f64::from_bits(peak.load(Ordering::Relaxed)),
            after,
            seconds,
            answers.join(" ")
        );
    }
    server.sigterm();
    let _ = server.child.wait().await;
}
