//! How long sealing a deliverable takes, for a 10-page and a 500-page one:
//! PAdES B-B (the seal alone) and B-T (with a signature timestamp from
//! certomancer's TSA on loopback, through the guarded fetcher, when
//! certomancer is installed), with pyHanko signing the same file in the
//! same run as the baseline (when installed; it includes Python's start).
//!
//! `cargo bench -p signet-esign --bench seal` (release profile).
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::time::{Duration, Instant};

use signet_esign::pdf::{self, AuditDocument, AuditTrail, DocumentKind, SourceDocument};
use signet_fetch::{AllowedHost, Fetcher, Limits};
use signet_seal::SealKey;
use signet_seal::timestamp::{QUERY_CONTENT_TYPE, TimestampRequest};
use signet_testkit::judges::{Tsa, free_port, tsa_on};
use signet_testkit::measure::percentile;

const ROUNDS: usize = 9;

fn deliverable(pages: usize) -> Vec<u8> {
    let source = pdf::sample(pages as u32, "Clause");
    let hash = "0".repeat(64);
    let trail = AuditTrail {
        title: "Benchmark".to_owned(),
        envelope_id: "env".to_owned(),
        documents: vec![AuditDocument {
            name: "document.pdf".to_owned(),
            pages: Some(pages as u32),
            sha256_hex: hash.clone(),
        }],
        ..AuditTrail::default()
    };
    let sources = [SourceDocument {
        name: "document.pdf",
        pdf: Some(&source),
        stamps: &[],
        kind: DocumentKind::Pdf,
        sha256_hex: &hash,
        pages: Some(pages as u32),
    }];
    pdf::deliverable(&sources, &trail).unwrap()
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "{name:<64} p50 {:>8.1} ms   p99 {:>8.1} ms",
        percentile(&samples, 0.5).as_secs_f64() * 1e3,
        percentile(&samples, 0.99).as_secs_f64() * 1e3
    );
}

fn seal_with_timestamp(
    runtime: &tokio::runtime::Runtime,
    fetcher: &Fetcher,
    url: &str,
    key: &SealKey,
    bytes: &[u8],
) -> Vec<u8> {
    let prepared = signet_seal::prepare(bytes, "D:20261202000000Z", "Benchmark").unwrap();
    let pending = key.sign_digest(&prepared.digest_for(key)).unwrap();
    let request = TimestampRequest::for_signature(pending.value()).unwrap();
    let reply = runtime
        .block_on(fetcher.post(
            url,
            QUERY_CONTENT_TYPE,
            request.der().to_vec(),
            Limits::TIMESTAMP,
        ))
        .unwrap();
    let token = request.token_from_reply(&reply.bytes).unwrap();
    prepared
        .finish(&key.assemble(pending, Some(&token)).unwrap())
        .unwrap()
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (key, pkcs8) = SealKey::generate("https://signet.example", 1_796_000_000).unwrap();
    let port = free_port();
    let tsa: Option<Tsa> = runtime.block_on(tsa_on(port));
    let fetcher =
        Fetcher::new(AllowedHost::parse_list(&format!("127.0.0.1:{port}")).unwrap()).unwrap();
    let url = format!("http://127.0.0.1:{port}/signet/tsa/tsa");
    let dir = tempfile::tempdir().unwrap();
    let key_pem = dir.path().join("key.der");
    std::fs::write(&key_pem, &pkcs8).unwrap();
    let cert = dir.path().join("cert.pem");
    std::fs::write(&cert, key.certificates_pem().unwrap()).unwrap();
    let pyhanko = Command::new("pyhanko").arg("--version").output().is_ok();

    for pages in [10, 500] {
        let bytes = deliverable(pages);
        println!(
            "\na {pages}-page deliverable ({:.1} MB), {ROUNDS} rounds each",
            bytes.len() as f64 / 1e6
        );
        let time = |f: &mut dyn FnMut()| -> Vec<Duration> {
            (0..ROUNDS)
                .map(|_| {
                    let start = Instant::now();
                    f();
                    start.elapsed()
                })
                .collect()
        };
        report(
            "seal, PAdES B-B (signet-seal)",
            time(&mut || {
                signet_seal::seal(&bytes, &key, "D:20261202000000Z", "Benchmark").unwrap();
            }),
        );
        if tsa.is_some() {
            report(
                "seal, PAdES B-T: + a timestamp from certomancer on loopback",
                time(&mut || {
                    seal_with_timestamp(&runtime, &fetcher, &url, &key, &bytes);
                }),
            );
        } else {
            println!("B-T: certomancer is not installed (PyPI certomancer[web-api])");
        }
        if pyhanko {
            let input = dir.path().join("in.pdf");
            std::fs::write(&input, &bytes).unwrap();
            let output = dir.path().join("out.pdf");
            report(
                "baseline: pyhanko sign addsig pemder (same file, B-B)",
                time(&mut || {
                    let status = Command::new("pyhanko")
                        .args(["sign", "addsig", "--field", "Sig1", "pemder", "--no-pass"])
                        .arg("--key")
                        .arg(&key_pem)
                        .arg("--cert")
                        .arg(&cert)
                        .arg(&input)
                        .arg(&output)
                        .stdout(std::process::Stdio::null())
                        .status()
                        .unwrap();
                    assert!(status.success());
                }),
            );
        } else {
            println!("baseline: pyhanko is not installed (PyPI pyhanko-cli)");
        }
    }
}
