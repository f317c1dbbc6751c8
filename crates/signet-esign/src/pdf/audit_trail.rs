//! The certificate of completion at the end of a `standard` deliverable:
//! what it records (the envelope, the seal's certificate, the events, the
//! fields, each recipient and each document) and how it is laid out. The
//! "Recipients" and "Documents" sections, which a reader checks first,
//! always share the last page (shrunk to a smaller font size if they would
//! not fit).

use super::layout::{
    Font, INDENT, Layout, MARGIN, PAGE_HEIGHT, Row, TextLine, paragraph, rows_height,
};

/// Body text size of the audit trail.
const BODY_SIZE: f32 = 10.0;
/// The smallest size the signers/documents block is shrunk to so that it fits one page.
const MIN_FINAL_SIZE: f32 = 5.0;

/// The audit trail appended to the deliverable.
#[derive(Debug, Clone, Default)]
pub struct AuditTrail {
    /// Envelope title.
    pub title: String,
    /// Envelope id.
    pub envelope_id: String,
    /// When the envelope was completed (pre-formatted).
    pub completed_at: String,
    /// The seal certificate's subject and SHA-256 fingerprint, when sealed.
    pub seal: Option<(String, String)>,
    /// Every event, oldest first.
    pub events: Vec<AuditEvent>,
    /// Every recipient.
    pub signers: Vec<AuditSigner>,
    /// Every document of the envelope.
    pub documents: Vec<AuditDocument>,
    /// Every place on the documents: who filled it, and when.
    pub fields: Vec<AuditField>,
}

/// One place of the trail's "Fields" section.
#[derive(Debug, Clone, Default)]
pub struct AuditField {
    pub document: String,
    /// The pages it is on, as "2" or "1, 3".
    pub pages: String,
    pub key: String,
    pub kind: String,
    /// Who filled it (name and email), or "Signet" for what Signet stamps.
    pub by: String,
    pub at: String,
    /// What it shows, briefly ("typed: Ada Lovelace", "drawn", "ticked").
    pub value: String,
}

/// One line of the audit trail's event list.
#[derive(Debug, Clone, Default)]
pub struct AuditEvent {
    /// When it happened (pre-formatted).
    pub at: String,
    /// Event type, e.g. `envelope.sent`.
    pub kind: String,
    /// Free-form detail.
    pub detail: String,
}

/// A recipient of the envelope.
#[derive(Debug, Clone, Default)]
pub struct AuditSigner {
    /// How they proved who they are, e.g. "email link" or "email code".
    pub authentication: String,
    /// Their agreement to sign electronically, with its time, or blank.
    pub consent: String,
    /// When the request was sent, first viewed (pre-formatted).
    pub sent_at: String,
    pub viewed_at: String,
    /// The browser they acted from.
    pub user_agent: String,
    /// Full name.
    pub name: String,
    /// Email address.
    pub email: String,
    /// Role, e.g. `signer` or `approver`.
    pub role: String,
    /// Outcome, e.g. `signed` or `approved`.
    pub outcome: String,
    /// The typed signature.
    pub typed_signature: String,
    /// When they signed, approved or declined (pre-formatted).
    pub at: String,
    /// IP address they acted from.
    pub ip_address: String,
}

/// A document as listed in the audit trail.
#[derive(Debug, Clone, Default)]
pub struct AuditDocument {
    /// Display name.
    pub name: String,
    /// Page count, if known.
    pub pages: Option<u32>,
    /// SHA-256 of the original bytes, lowercase hex.
    pub sha256_hex: String,
}

// ---------------------------------------------------------------------------
// Inspection

/// An em dash for a blank value, so an empty field reads as deliberate.
fn or_dash(value: &str) -> &str {
    if value.trim().is_empty() {
        "\u{2014}"
    } else {
        value
    }
}

/// The audit trail, paginated; the signers and documents are on the last page.
pub(super) fn audit_pages(trail: &AuditTrail) -> Vec<Vec<TextLine>> {
    let mut layout = Layout::new();
    layout.push(paragraph(
        Font::Bold,
        18.0,
        0.0,
        0.0,
        0.0,
        "Certificate of completion",
    ));
    let (seal_subject, seal_fingerprint) = trail.seal.clone().unwrap_or_default();
    let header = [
        ("Envelope", &trail.title),
        ("Envelope ID", &trail.envelope_id),
        ("Completed at", &trail.completed_at),
        ("Sealed by", &seal_subject),
        ("Seal certificate SHA-256", &seal_fingerprint),
    ];
    for (index, (label, value)) in header.into_iter().enumerate() {
        let gap = if index == 0 { 8.0 } else { 0.0 };
        let text = format!("{label}: {}", or_dash(value));
        layout.push(paragraph(Font::Regular, BODY_SIZE, 0.0, INDENT, gap, &text));
    }

    layout.push(paragraph(Font::Bold, 13.0, 0.0, 0.0, 14.0, "Events"));
    if trail.events.is_empty() {
        layout.push(paragraph(
            Font::Regular,
            BODY_SIZE,
            0.0,
            0.0,
            2.0,
            "No events recorded.",
        ));
    }
    for (index, event) in trail.events.iter().enumerate() {
        let mut text = format!("{} \u{00B7} {}", or_dash(&event.at), or_dash(&event.kind));
        if !event.detail.trim().is_empty() {
            text.push_str(" \u{00B7} ");
            text.push_str(&event.detail);
        }
        let gap = if index == 0 { 2.0 } else { 1.0 };
        layout.push(paragraph(Font::Regular, BODY_SIZE, 0.0, INDENT, gap, &text));
    }

    if !trail.fields.is_empty() {
        layout.push(paragraph(Font::Bold, 13.0, 0.0, 0.0, 14.0, "Fields"));
    }
    for (index, field) in trail.fields.iter().enumerate() {
        let text = format!(
            "{} \u{00B7} page {} \u{00B7} {} ({}) \u{00B7} {} \u{00B7} {} \u{00B7} {}",
            or_dash(&field.document),
            or_dash(&field.pages),
            or_dash(&field.key),
            or_dash(&field.kind),
            or_dash(&field.by),
            or_dash(&field.at),
            or_dash(&field.value),
        );
        let gap = if index == 0 { 2.0 } else { 1.0 };
        layout.push(paragraph(Font::Regular, BODY_SIZE, 0.0, INDENT, gap, &text));
    }

    // Signers and documents: together on the last page.
    let usable = PAGE_HEIGHT - 2.0 * MARGIN;
    let mut size = BODY_SIZE;
    let mut rows = final_rows(trail, size);
    while rows_height(&rows) > usable && size > MIN_FINAL_SIZE {
        size -= 1.0;
        rows = final_rows(trail, size);
    }
    if rows_height(&rows) > layout.remaining() {
        layout.new_page();
    }
    layout.push(rows);
    layout.finish()
}

/// The "Recipients" and "Documents" sections at body size `size`.
fn final_rows(trail: &AuditTrail, size: f32) -> Vec<Row> {
    let heading = size + 3.0;
    let mut rows = paragraph(Font::Bold, heading, 0.0, 0.0, size * 1.4, "Recipients");
    if trail.signers.is_empty() {
        rows.extend(paragraph(
            Font::Regular,
            size,
            0.0,
            0.0,
            2.0,
            "No recipients.",
        ));
    }
    for signer in &trail.signers {
        let title = format!(
            "{} <{}> \u{00B7} {} \u{00B7} {}",
            or_dash(&signer.name),
            or_dash(&signer.email),
            or_dash(&signer.role),
            or_dash(&signer.outcome),
        );
        rows.extend(paragraph(Font::Bold, size, 0.0, INDENT, size * 0.3, &title));
        let lines = [
            format!(
                "Authentication: {} \u{00B7} Typed signature: {} \u{00B7} Consent to sign electronically: {}",
                or_dash(&signer.authentication),
                or_dash(&signer.typed_signature),
                or_dash(&signer.consent),
            ),
            format!(
                "Sent: {} \u{00B7} Viewed: {} \u{00B7} Completed: {}",
                or_dash(&signer.sent_at),
                or_dash(&signer.viewed_at),
                or_dash(&signer.at),
            ),
            format!(
                "IP address: {} \u{00B7} User agent: {}",
                or_dash(&signer.ip_address),
                or_dash(&signer.user_agent),
            ),
        ];
        for line in &lines {
            rows.extend(paragraph(Font::Regular, size, INDENT, INDENT, 0.0, line));
        }
    }

    rows.extend(paragraph(
        Font::Bold,
        heading,
        0.0,
        0.0,
        size * 1.4,
        "Documents",
    ));
    if trail.documents.is_empty() {
        rows.extend(paragraph(
            Font::Regular,
            size,
            0.0,
            0.0,
            2.0,
            "No documents.",
        ));
    }
    for document in &trail.documents {
        let title = match document.pages {
            Some(1) => format!("{} \u{00B7} 1 page", or_dash(&document.name)),
            Some(pages) => format!("{} \u{00B7} {pages} pages", or_dash(&document.name)),
            None => or_dash(&document.name).to_owned(),
        };
        rows.extend(paragraph(Font::Bold, size, 0.0, INDENT, size * 0.3, &title));
        let hash = format!("SHA-256: {}", or_dash(&document.sha256_hex));
        rows.extend(paragraph(Font::Regular, size, INDENT, INDENT, 0.0, &hash));
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pdf::test_support::{build, check_deliverable, hash, signer, trail};
    use crate::pdf::{DocumentKind, SourceDocument, deliverable, inspect, page_text, sample};

    #[test]
    fn deliverable_with_many_events_keeps_signers_and_hashes_on_last_page() {
        let names = [
            ("Alice Example", "alice@example.com", "Alice E."),
            ("Carol Long", "carol@example.net", "Carol L."),
        ];
        let (pdf, trail) = build(200, names);
        let pages = check_deliverable(&pdf, &trail, &names);
        assert!(pages > 9, "200 events need several pages, got {pages}");
        let last = page_text(&pdf, pages).unwrap();
        let before_last = page_text(&pdf, pages - 1).unwrap();
        assert!(
            before_last.contains("Event number"),
            "events precede the final block"
        );
        assert!(!before_last.contains("alice@example.com"));
        // Every event made it somewhere.
        let all: String = (7..=pages)
            .map(|page| page_text(&pdf, page).unwrap())
            .collect();
        assert!(all.contains("Event number 0:"));
        assert!(all.contains("Event number 199:"));
        assert!(last.contains("Recipients"));
    }

    #[test]
    fn final_block_fits_even_near_the_end_of_an_event_page() {
        let names = [
            ("Alice", "a@example.com", "A"),
            ("Bob", "b@example.com", "B"),
        ];
        for events in 0..80 {
            let (pdf, trail) = build(events, names);
            check_deliverable(&pdf, &trail, &names);
        }
    }

    #[test]
    fn many_signers_are_shrunk_onto_the_last_page() {
        let signers: Vec<AuditSigner> = (0..20)
            .map(|i| {
                signer(
                    &format!("Signer {i}"),
                    &format!("s{i}@example.com"),
                    &format!("S{i}"),
                )
            })
            .collect();
        let hashes: Vec<String> = (0..10).map(hash).collect();
        let documents: Vec<(String, Option<u32>, &str)> = hashes
            .iter()
            .enumerate()
            .map(|(i, h)| (format!("doc{i}.pdf"), Some(1), h.as_str()))
            .collect();
        let documents: Vec<(&str, Option<u32>, &str)> = documents
            .iter()
            .map(|(n, p, h)| (n.as_str(), *p, *h))
            .collect();
        let trail = trail(50, signers, &documents);
        let source = sample(1, "Only");
        let sources = [SourceDocument {
            name: "doc0.pdf",
            pdf: Some(&source),
            stamps: &[],
            kind: DocumentKind::Pdf,
            sha256_hex: &hashes[0],
            pages: Some(1),
        }];
        let pdf = deliverable(&sources, &trail).unwrap();
        let pages = inspect(&pdf).unwrap().pages;
        let last = page_text(&pdf, pages).unwrap();
        for i in 0..20 {
            assert!(last.contains(&format!("s{i}@example.com")), "{last}");
        }
        for h in &hashes {
            assert!(last.contains(h.as_str()));
        }
    }

    #[test]
    fn names_in_any_latin_greek_or_cyrillic_script_come_out_exactly() {
        let names = [
            ("Zoë Ørsted-Łukasz", "zoe@example.com", "Zoë “Z” Ørsted"),
            ("Дмитрий Шостакович", "dmitri@example.ru", "Δημήτρης 山田 🖋"),
        ];
        let (pdf, trail) = build(5, names);
        let pages = inspect(&pdf).unwrap().pages;
        let last = page_text(&pdf, pages).unwrap();
        assert!(last.contains("Zoë Ørsted-Łukasz"), "{last}");
        assert!(last.contains("Zoë “Z” Ørsted"), "{last}");
        assert!(last.contains("Дмитрий Шостакович"), "{last}");
        // Scripts the embedded font lacks come from a system font where
        // one covers them, and show the replacement character otherwise.
        let cjk = if super::super::fallback::covering('山').is_some() {
            "山田"
        } else {
            "\u{FFFD}\u{FFFD}"
        };
        assert!(last.contains(&format!("Δημήτρης {cjk} \u{FFFD}")), "{last}");
        assert!(last.contains("dmitri@example.ru"));
        for document in &trail.documents {
            assert!(last.contains(&document.sha256_hex));
        }
    }

    /// An independent reader (poppler's `pdftotext`) reads the same names.
    #[test]
    fn pdftotext_reads_the_names_exactly() {
        let names = [
            ("Zoë Ørsted-Łukasz", "zoe@example.com", "Zoë Ørsted"),
            ("Дмитрий Шостакович", "dmitri@example.ru", "Дмитрий"),
        ];
        let (pdf, _) = build(2, names);
        let Some(text) = pdftotext(&pdf) else {
            return;
        };
        for expected in [
            "Zoë Ørsted-Łukasz",
            "Дмитрий Шостакович",
            "Zoë Ørsted",
            "dmitri@example.ru",
        ] {
            assert!(text.contains(expected), "{expected} not in {text}");
        }
    }

    /// Other scripts come from a system font that covers them (CI installs
    /// Debian's fonts-droid-fallback); a character no font has is U+FFFD.
    #[test]
    fn other_scripts_use_a_system_font_and_the_rest_a_visible_replacement() {
        let cjk = super::super::fallback::covering('王').is_some();
        if !cjk {
            assert!(
                std::env::var("CI").is_err(),
                "CI must install a system font with CJK glyphs (fonts-droid-fallback)"
            );
            eprintln!("note: no system font covers CJK here; the fallback check is not run");
            return;
        }
        let names = [
            ("王小明 Ørsted", "wang@example.cn", "王小明"),
            ("Nobody \u{10FFFD}", "nobody@example.com", "N"),
        ];
        let (pdf, _) = build(1, names);
        let Some(text) = pdftotext(&pdf) else {
            return;
        };
        assert!(text.contains("王小明 Ørsted"), "{text}");
        assert!(text.contains("Nobody \u{FFFD}"), "{text}");
    }

    fn pdftotext(pdf: &[u8]) -> Option<String> {
        use std::io::Write;
        use std::process::{Command, Stdio};
        let child = Command::new("pdftotext")
            .args(["-enc", "UTF-8", "-", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn();
        let mut child = match child {
            Ok(child) => child,
            Err(_) if std::env::var("CI").is_ok_and(|v| v == "true") => {
                panic!("pdftotext (poppler-utils) must be installed when CI=true")
            }
            Err(_) => {
                eprintln!("note: pdftotext not found; independent text check not run");
                return None;
            }
        };
        child.stdin.take().unwrap().write_all(pdf).unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success());
        Some(String::from_utf8(output.stdout).unwrap())
    }
}
