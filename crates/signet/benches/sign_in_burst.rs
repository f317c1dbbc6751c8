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
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};

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
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

#[tokio::main]
async fn main() {
    let burst = arg("--burst", 200);
    let rounds = arg("--rounds", 3);
    let dir = tempfile::tempdir().unwrap();
    let mut server = tokio::process::Command::new(BIN)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--log-level",
            "error",
            "--sign-in-burst",
            "100000",
            "--data-dir",
        ])
        .arg(dir.path())
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
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let base = format!("http://{address}");
    let pid = server.id().unwrap();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    // One sign-in form: its CSRF cookie and token serve every attempt.
    let page = http.get(format!("{base}/login")).send().await.unwrap();
    let cookie = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("signet_login_csrf="))
        .and_then(|v| v.split(';').next())
        .unwrap()
        .to_owned();
    let html = page.text().await.unwrap();
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();

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
                let (http, base, cookie, csrf) =
                    (http.clone(), base.clone(), cookie.clone(), csrf.clone());
                tokio::spawn(async move {
                    let email = format!("nobody-{round}-{i}@example.com");
                    http.post(format!("{base}/login"))
                        .header("cookie", cookie)
                        .form(&[
                            ("csrf", csrf.as_str()),
                            ("return_to", "/"),
                            ("email", email.as_str()),
                            ("password", "not the password"),
                        ])
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
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = server.wait().await;
}
