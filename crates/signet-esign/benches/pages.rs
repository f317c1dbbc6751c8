//! How long the signer's page images and the stamped deliverable take for a
//! 10-page document, with baselines in the same run: poppler's `pdftoppm`
//! rendering the same pages at the same resolution (when installed), and the
//! same deliverable without stamps.
//!
//! `cargo bench -p signet-esign --bench pages` (release profile).
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::time::{Duration, Instant};

use signet_esign::pdf::{
    self, AuditDocument, AuditSigner, AuditTrail, DocumentKind, Mark, SourceDocument, Stamp,
};

const PAGES: usize = 10;
const ROUNDS: usize = 15;
const SCALE: f32 = 1.5;

fn document() -> Vec<u8> {
    let lines: Vec<Vec<String>> = (1..=PAGES)
        .map(|page| {
            let mut lines: Vec<String> = (0..28)
                .map(|i| {
                    format!("Page {page}, clause {i}: the parties agree to the terms set out here.")
                })
                .collect();
            lines[26] = format!("Signed: [[sig_{page}]]");
            lines
        })
        .collect();
    let borrowed: Vec<Vec<&str>> = lines
        .iter()
        .map(|p| p.iter().map(String::as_str).collect())
        .collect();
    let pages: Vec<&[&str]> = borrowed.iter().map(Vec::as_slice).collect();
    pdf::sample_text(&pages)
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    let index = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[index]
}

fn report(name: &str, mut samples: Vec<Duration>) {
    let p50 = percentile(&mut samples, 0.5);
    let p99 = percentile(&mut samples, 0.99);
    println!(
        "{name:<58} p50 {:>8.1} ms   p99 {:>8.1} ms",
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3
    );
}

fn time(rounds: usize, mut f: impl FnMut()) -> Vec<Duration> {
    (0..rounds)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect()
}

fn main() {
    let bytes = document();
    println!(
        "a {PAGES}-page A4 document ({} bytes), {ROUNDS} rounds each",
        bytes.len()
    );

    report(
        &format!("signer's page images: {PAGES} pages at {SCALE}x (hayro)"),
        time(ROUNDS, || {
            for page in 1..=PAGES as u32 {
                pdf::render_png(&bytes, page, SCALE).unwrap();
            }
        }),
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("document.pdf");
    std::fs::write(&path, &bytes).unwrap();
    let dpi = (72.0 * SCALE).to_string();
    if Command::new("pdftoppm").arg("-v").output().is_ok() {
        report(
            "baseline: pdftoppm -png, same pages and resolution",
            time(ROUNDS, || {
                let status = Command::new("pdftoppm")
                    .args(["-png", "-r", &dpi])
                    .arg(&path)
                    .arg(dir.path().join("page"))
                    .status()
                    .unwrap();
                assert!(status.success());
            }),
        );
    } else {
        println!("baseline: pdftoppm is not installed (Debian's poppler-utils)");
    }
    let needles: Vec<String> = (1..=PAGES).map(|p| format!("[[sig_{p}]]")).collect();
    let needles: Vec<&str> = needles.iter().map(String::as_str).collect();
    report(
        &format!("placeholders found: {PAGES} pages (hayro)"),
        time(ROUNDS, || {
            assert_eq!(pdf::find_text(&bytes, &needles).unwrap().len(), PAGES);
        }),
    );

    let hits = pdf::find_text(&bytes, &needles).unwrap();
    let stamps: Vec<Stamp> = hits
        .iter()
        .map(|hit| Stamp {
            page: hit.page,
            left: hit.left - 1.0,
            top: hit.top + hit.height - 44.0,
            width: 160.0,
            height: 44.0,
            cover: Some([hit.left, hit.top, hit.width, hit.height]),
            mark: Mark::Text {
                text: "Zoë Ørsted-Łukasz".to_owned(),
                script: true,
            },
        })
        .collect();
    let hash = "0".repeat(64);
    let trail = AuditTrail {
        title: "Benchmark".to_owned(),
        envelope_id: "env".to_owned(),
        completed_at: "2026-12-02T00:00:00Z".to_owned(),
        seal: None,
        events: Vec::new(),
        signers: vec![AuditSigner {
            name: "Zoë Ørsted-Łukasz".to_owned(),
            ..AuditSigner::default()
        }],
        documents: vec![AuditDocument {
            name: "document.pdf".to_owned(),
            pages: Some(PAGES as u32),
            sha256_hex: hash.clone(),
        }],
        fields: Vec::new(),
    };
    fn source<'a>(bytes: &'a [u8], hash: &'a str, stamps: &'a [Stamp]) -> SourceDocument<'a> {
        SourceDocument {
            name: "document.pdf",
            pdf: Some(bytes),
            kind: DocumentKind::Pdf,
            sha256_hex: hash,
            pages: Some(PAGES as u32),
            stamps,
        }
    }
    report(
        &format!("deliverable with {} stamped signatures", stamps.len()),
        time(ROUNDS, || {
            pdf::deliverable(&[source(&bytes, &hash, &stamps)], &trail).unwrap();
        }),
    );
    report(
        "baseline: the same deliverable without stamps",
        time(ROUNDS, || {
            pdf::deliverable(&[source(&bytes, &hash, &[])], &trail).unwrap();
        }),
    );
}
