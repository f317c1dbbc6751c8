//! The hot path against its ceiling: authenticated `tools/call whoami` on
//! Signet (SQLite, and PostgreSQL when a URL is given) side by side, in
//! one run, with an rmcp server that has no authentication at all.
//!
//!     cargo bench -p signet --bench hot_path
//!     options after `--`: [POSTGRES_URL] [--seconds 10] [--rounds 3] [--concurrency 64]
//!
//! The ceiling is this bench binary itself, re-executed with
//! `--ceiling-server`: the same rmcp Streamable HTTP service Signet uses
//! (stateless, JSON responses), one trivial tool, no layers. Signet runs as
//! `signet serve` child processes, each with a token obtained through the
//! real flow (registration, sign-in, consent, code exchange). The load is
//! wrk (Debian's `wrk`) with a Lua script that posts the same JSON-RPC
//! request to every target and counts as an error any answer that is not a
//! 200 carrying a successful tool result. Rounds are interleaved (each
//! round runs every target once, in a rotating order) so that a noisy
//! moment of the machine does not favour one target; every run is printed,
//! then the best and the median of each target with their ratios to the
//! ceiling, and each server's peak resident memory.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

use std::path::{Path, PathBuf};
use std::process::Stdio;

use signet_testkit::browser::Browser;
use signet_testkit::mcp::{ACCEPT, PROTOCOL_VERSION, whoami_request};
use signet_testkit::measure::status_kib;
use signet_testkit::oauth::{access_token, register_public};
use signet_testkit::process::{Served, Signet, spawn_serve};

const BIN: &str = env!("CARGO_BIN_EXE_signet");
const PASSWORD: &str = "benchmark password";
const CEILING_FLAG: &str = "--ceiling-server";

struct Options {
    postgres_url: Option<String>,
    seconds: u64,
    rounds: usize,
    concurrency: usize,
}

fn options() -> Options {
    let mut options = Options {
        postgres_url: None,
        seconds: 10,
        rounds: 3,
        concurrency: 64,
    };
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    while let Some(arg) = args.next() {
        let mut number = |default| args.next().and_then(|v| v.parse().ok()).unwrap_or(default);
        match arg.as_str() {
            "--seconds" => options.seconds = number(options.seconds as usize) as u64,
            "--rounds" => options.rounds = number(options.rounds),
            "--concurrency" => options.concurrency = number(options.concurrency),
            url if url.starts_with("postgres") => options.postgres_url = Some(url.to_owned()),
            _ => {}
        }
    }
    options
}

fn main() {
    if std::env::args().any(|a| a == CEILING_FLAG) {
        ceiling::serve();
        return;
    }
    tokio::runtime::Runtime::new().unwrap().block_on(bench());
}

/// A server under load: its address, process and the bearer token to send.
struct Target {
    name: &'static str,
    served: Served,
    token: String,
    /// Keeps the SQLite data directory alive.
    _dir: Option<tempfile::TempDir>,
}

/// One wrk run, as the script's `done` prints it.
#[derive(Clone, Copy)]
struct Run {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: u64,
}

async fn bench() {
    let options = options();
    if std::process::Command::new("wrk")
        .arg("--version")
        .output()
        .is_err()
    {
        panic!("wrk is needed: apt-get install wrk");
    }
    let script = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(script.path(), lua_script()).unwrap();

    let mut targets = vec![ceiling_target().await];
    targets.push(signet_target("Signet, SQLite", None).await);
    match &options.postgres_url {
        Some(url) => targets.push(signet_target("Signet, PostgreSQL", Some(url)).await),
        None => println!("(no PostgreSQL URL given: PostgreSQL is not measured)"),
    }

    println!(
        "tools/call whoami, wrk -t2 -c{} -d{}s, {} interleaved rounds",
        options.concurrency, options.seconds, options.rounds
    );
    println!(
        "{:<7} {:<20} {:>11} {:>9} {:>9} {:>7} {:>10}",
        "round", "target", "requests/s", "p50 ms", "p99 ms", "errors", "of ceiling"
    );
    let mut runs: Vec<Vec<Run>> = vec![Vec::new(); targets.len()];
    for round in 0..options.rounds {
        let mut ceiling_rps = None;
        let mut row = vec![None; targets.len()];
        // Rotate the order; the ratio of a round uses that round's ceiling.
        for k in 0..targets.len() {
            let i = (k + round) % targets.len();
            let run = wrk(&targets[i], script.path(), &options);
            runs[i].push(run);
            row[i] = Some(run);
            if i == 0 {
                ceiling_rps = Some(run.rps);
            }
        }
        for (i, run) in row.into_iter().enumerate() {
            let run = run.unwrap();
            print_run(&format!("{}", round + 1), targets[i].name, run, ceiling_rps);
        }
    }

    println!();
    println!("summary ({} rounds each)", options.rounds);
    let best = |runs: &[Run]| runs.iter().map(|r| r.rps).fold(0.0, f64::max);
    let median = |runs: &[Run]| {
        let mut rps: Vec<f64> = runs.iter().map(|r| r.rps).collect();
        rps.sort_by(f64::total_cmp);
        rps[rps.len() / 2]
    };
    let (ceiling_best, ceiling_median) = (best(&runs[0]), median(&runs[0]));
    println!(
        "{:<20} {:>11} {:>8} {:>11} {:>8} {:>12} {:>7} {:>10}",
        "target", "best rps", "ratio", "median rps", "ratio", "worst p99 ms", "errors", "peak RSS"
    );
    for (target, runs) in targets.iter().zip(&runs) {
        let worst_p99 = runs.iter().map(|r| r.p99_ms).fold(0.0, f64::max);
        let errors: u64 = runs.iter().map(|r| r.errors).sum();
        println!(
            "{:<20} {:>11.0} {:>8.2} {:>11.0} {:>8.2} {:>12.2} {:>7} {:>7} MiB",
            target.name,
            best(runs),
            best(runs) / ceiling_best,
            median(runs),
            median(runs) / ceiling_median,
            worst_p99,
            errors,
            status_kib(Some(target.served.pid()), "VmHWM") / 1024
        );
    }
    for target in &targets {
        target.served.sigterm();
    }
    for mut target in targets {
        let _ = target.served.child.wait().await;
    }
}

fn print_run(round: &str, name: &str, run: Run, ceiling_rps: Option<f64>) {
    let ratio = ceiling_rps
        .filter(|c| *c > 0.0)
        .map_or(String::new(), |c| format!("{:.2}", run.rps / c));
    println!(
        "{:<7} {:<20} {:>11.0} {:>9.2} {:>9.2} {:>7} {:>10}",
        round, name, run.rps, run.p50_ms, run.p99_ms, run.errors, ratio
    );
}

/// Runs wrk against a target and reads the line the script's `done` prints.
fn wrk(target: &Target, script: &Path, options: &Options) -> Run {
    let output = std::process::Command::new("wrk")
        .args(["-t2", &format!("-c{}", options.concurrency)])
        .arg(format!("-d{}s", options.seconds))
        .arg("-s")
        .arg(script)
        .arg(format!("{}/mcp", target.served.base()))
        .env("HOT_PATH_TOKEN", &target.token)
        .env("HOT_PATH_BODY", whoami_request().to_string())
        .output()
        .expect("wrk runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("HOT_PATH "))
        .unwrap_or_else(|| panic!("wrk printed no result: {stdout}"));
    let fields: Vec<f64> = line
        .split_whitespace()
        .map(|f| f.parse().unwrap())
        .collect();
    let [requests, duration_us, p50_us, p99_us, errors] = fields[..] else {
        panic!("unexpected wrk result: {line}");
    };
    Run {
        rps: requests / (duration_us / 1e6),
        p50_ms: p50_us / 1e3,
        p99_ms: p99_us / 1e3,
        errors: errors as u64,
    }
}

/// The wrk script: the request, the check of every answer, and the result
/// line (requests, duration µs, p50 µs, p99 µs, errors).
fn lua_script() -> String {
    format!(
        r#"
local threads = {{}}
function setup(thread) table.insert(threads, thread) end
function init(args)
  bad = 0
  wrk.method = "POST"
  wrk.body = os.getenv("HOT_PATH_BODY")
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Accept"] = "{ACCEPT}"
  wrk.headers["MCP-Protocol-Version"] = "{PROTOCOL_VERSION}"
  wrk.headers["Mcp-Method"] = "tools/call"
  wrk.headers["Mcp-Name"] = "whoami"
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("HOT_PATH_TOKEN")
end
function response(status, headers, body)
  if status ~= 200 or not string.find(body, '"isError":false', 1, true) then bad = bad + 1 end
end
function done(summary, latency, requests)
  local bad_total = 0
  for _, thread in ipairs(threads) do bad_total = bad_total + thread:get("bad") end
  local e = summary.errors
  local errors = bad_total + e.connect + e.read + e.write + e.timeout
  io.write(string.format("HOT_PATH %d %d %d %d %d\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), errors))
end
"#
    )
}

async fn ceiling_target() -> Target {
    let mut command = tokio::process::Command::new(std::env::current_exe().unwrap());
    command.arg(CEILING_FLAG).stderr(Stdio::null());
    let served = spawn_serve(command).await;
    Target {
        name: "ceiling (rmcp)",
        served,
        token: "none".to_owned(),
        _dir: None,
    }
}

/// `signet serve` on SQLite (a fresh data directory) or PostgreSQL, with a
/// user, organization and account of its own and a token for it.
async fn signet_target(name: &'static str, postgres_url: Option<&str>) -> Target {
    let dir = tempfile::tempdir().unwrap();
    let data_dir: PathBuf = dir.path().to_owned();
    let signet = Signet {
        bin: Path::new(BIN),
        data_dir: &data_dir,
        database_url: postgres_url,
    };
    // Unique, so that runs can share one PostgreSQL database.
    let email = format!(
        "bench-{}@example.com",
        signet_store::random::token().unwrap()
    );
    signet.account(&email, PASSWORD, "Bench").await;
    let mut serve = signet.serve(&["--log-level", "warn"]);
    serve.stderr(Stdio::null());
    let served = spawn_serve(serve).await;
    let browser = Browser::new(&served.base());
    let client_id = register_public(&browser, "signet-bench").await;
    let token = access_token(&browser, &client_id, &email, PASSWORD).await;
    Target {
        name,
        served,
        token,
        _dir: Some(dir),
    }
}

/// The ceiling: rmcp's Streamable HTTP service as Signet configures it
/// (stateless, JSON responses, no session manager), one tool answering a
/// fixed structured result of whoami's size, and nothing else.
mod ceiling {
    use std::sync::Arc;

    use rmcp::handler::server::router::tool::ToolRouter;
    use rmcp::model::{CallToolResult, ServerCapabilities, ServerConfig};
    use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
    use rmcp::transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService,
    };
    use rmcp::{ErrorData, ServerHandler, tool, tool_handler, tool_router};
    use serde_json::json;

    #[derive(Clone)]
    struct Ceiling {
        tool_router: Arc<ToolRouter<Self>>,
    }

    #[tool_router]
    impl Ceiling {
        #[tool(description = "A fixed answer")]
        async fn whoami(&self) -> Result<CallToolResult, ErrorData> {
            Ok(CallToolResult::structured(json!({
                "user_id": "usr_0123456789abcdef",
                "organization_id": "org_0123456789abcdef",
                "account": { "id": "acc_0123456789abcdef", "status": "active", "live_mode": false },
                "connection": { "id": "con_0123456789abcdef", "name": "signet-bench", "client_id": "cli_0123456789abcdef" },
                "scopes": ["envelopes:read", "envelopes:write"],
                "token_expires_at": 1_900_000_000,
            })))
        }
    }

    #[tool_handler(router = self.tool_router)]
    impl ServerHandler for Ceiling {
        fn get_info(&self) -> ServerConfig {
            ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
        }
    }

    /// Prints the lines `spawn_serve` reads, then serves until killed.
    pub(super) fn serve() {
        tokio::runtime::Runtime::new().unwrap().block_on(async {
            let prototype = Ceiling {
                tool_router: Arc::new(Ceiling::tool_router()),
            };
            let config = StreamableHttpServerConfig::default()
                .with_legacy_session_mode(false)
                .with_json_response(true)
                .disable_allowed_hosts();
            let service = StreamableHttpService::new(
                move || Ok(prototype.clone()),
                Arc::new(NeverSessionManager::default()),
                config,
            );
            let app = axum::Router::new().nest_service("/mcp", service);
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let address = listener.local_addr().unwrap();
            println!("  Listening on:  {address}");
            println!("Connect an MCP client to http://{address}/mcp");
            axum::serve(listener, app).await.unwrap();
        });
    }
}
