//! Fixtures shared by the tests of several `pdf` modules: audit trails,
//! a fake DOCX, an encrypted PDF and a three-source deliverable with the
//! checks every deliverable must pass.

use lopdf::{Document, Object, StringFormat};

use super::{
    AuditDocument, AuditEvent, AuditSigner, AuditTrail, DocumentKind, SourceDocument, deliverable,
    inspect, page_count, page_text, sample,
};

pub(super) fn signer(name: &str, email: &str, typed: &str) -> AuditSigner {
    AuditSigner {
        name: name.to_owned(),
        email: email.to_owned(),
        role: "signer".to_owned(),
        outcome: "signed".to_owned(),
        typed_signature: typed.to_owned(),
        at: "2025-01-02T03:04:05Z".to_owned(),
        ip_address: "203.0.113.7".to_owned(),
        ..AuditSigner::default()
    }
}

pub(super) fn hash(seed: u8) -> String {
    (0..32)
        .map(|i| format!("{:02x}", seed.wrapping_mul(31).wrapping_add(i)))
        .collect()
}

pub(super) fn trail(
    events: usize,
    signers: Vec<AuditSigner>,
    documents: &[(&str, Option<u32>, &str)],
) -> AuditTrail {
    AuditTrail {
        fields: Vec::new(),
        title: "Employment contract (2025) \\ final".to_owned(),
        envelope_id: "env_0123456789".to_owned(),
        completed_at: "2025-01-02T04:00:00Z".to_owned(),
        seal: Some((
            "CN=https://signet.example,O=Signet seal".to_owned(),
            "ab".repeat(32),
        )),
        events: (0..events)
            .map(|i| AuditEvent {
                at: format!("2025-01-02T03:{:02}:{:02}Z", i / 60 % 60, i % 60),
                kind: "recipient.viewed".to_owned(),
                detail: format!("Event number {i}: with a reasonably long detail text that might need wrapping when the line gets long enough to exceed the width of the page"),
            })
            .collect(),
        signers,
        documents: documents
            .iter()
            .map(|(name, pages, sha)| AuditDocument {
                name: (*name).to_owned(),
                pages: *pages,
                sha256_hex: (*sha).to_owned(),
            })
            .collect(),
    }
}

pub(super) fn fake_docx() -> Vec<u8> {
    let mut bytes = b"PK\x03\x04\x14\x00\x00\x00\x08\x00".to_vec();
    bytes.extend_from_slice(&[0; 16]);
    bytes.extend_from_slice(b"\x11\x00\x00\x00word/document.xml");
    bytes.extend_from_slice(&[0x55; 40]);
    bytes.extend_from_slice(b"PK\x05\x06");
    bytes
}

pub(super) fn build(events: usize, names: [(&str, &str, &str); 2]) -> (Vec<u8>, AuditTrail) {
    let first = sample(2, "First");
    let second = sample(3, "Second");
    let hashes = [hash(1), hash(2), hash(3)];
    let sources = [
        SourceDocument {
            name: "first.pdf",
            pdf: Some(&first),
            stamps: &[],
            kind: DocumentKind::Pdf,
            sha256_hex: &hashes[0],
            pages: Some(2),
        },
        SourceDocument {
            name: "second.pdf",
            pdf: Some(&second),
            stamps: &[],
            kind: DocumentKind::Pdf,
            sha256_hex: &hashes[1],
            pages: Some(3),
        },
        SourceDocument {
            name: "terms.docx",
            pdf: None,
            stamps: &[],
            kind: DocumentKind::Docx,
            sha256_hex: &hashes[2],
            pages: None,
        },
    ];
    let trail = trail(
        events,
        names.iter().map(|(n, e, t)| signer(n, e, t)).collect(),
        &[
            ("first.pdf", Some(2), hashes[0].as_str()),
            ("second.pdf", Some(3), hashes[1].as_str()),
            ("terms.docx", None, hashes[2].as_str()),
        ],
    );
    let pdf = deliverable(&sources, &trail).unwrap();
    (pdf, trail)
}

pub(super) fn check_deliverable(
    pdf: &[u8],
    trail: &AuditTrail,
    expected_names: &[(&str, &str, &str)],
) -> u32 {
    let info = inspect(pdf).unwrap();
    assert_eq!(page_count(pdf).unwrap(), info.pages);
    assert!(
        info.pages > 6,
        "2 + 3 + 1 + audit pages, got {}",
        info.pages
    );
    for page in 1..=2 {
        assert_eq!(
            page_text(pdf, page).unwrap().trim(),
            format!("First page {page}")
        );
    }
    for page in 1..=3 {
        assert_eq!(
            page_text(pdf, page + 2).unwrap().trim(),
            format!("Second page {page}")
        );
    }
    let docx_page = page_text(pdf, 6).unwrap();
    assert!(
        docx_page.contains("terms.docx (DOCX document, not rendered here)"),
        "{docx_page}"
    );
    assert!(
        docx_page.contains(&trail.documents[2].sha256_hex),
        "{docx_page}"
    );
    assert!(
        page_text(pdf, 7)
            .unwrap()
            .contains("Certificate of completion")
    );

    let last = page_text(pdf, info.pages).unwrap();
    for (name, email, typed) in expected_names {
        assert!(last.contains(name), "{name} missing from {last}");
        assert!(last.contains(email), "{email} missing from {last}");
        assert!(last.contains(typed), "{typed} missing from {last}");
    }
    for document in &trail.documents {
        assert!(
            last.contains(&document.sha256_hex),
            "hash missing from {last}"
        );
        assert!(last.contains(&document.name), "name missing from {last}");
    }
    assert!(last.contains("Recipients") && last.contains("Documents"));
    info.pages
}

pub(super) fn encrypt(user_password: &str) -> Vec<u8> {
    let mut document = Document::load_mem(&sample(1, "Secret")).unwrap();
    document.trailer.set(
        "ID",
        vec![
            Object::String(b"0123456789abcdef".to_vec(), StringFormat::Hexadecimal),
            Object::String(b"0123456789abcdef".to_vec(), StringFormat::Hexadecimal),
        ],
    );
    let version = lopdf::EncryptionVersion::V2 {
        document: &document,
        owner_password: "owner",
        user_password,
        key_length: 128,
        permissions: lopdf::Permissions::PRINTABLE,
    };
    let state = lopdf::EncryptionState::try_from(version).unwrap();
    document.encrypt(&state).unwrap();
    let mut bytes = Vec::new();
    document.save_to(&mut bytes).unwrap();
    bytes
}
