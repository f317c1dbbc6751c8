//! The seal end to end, judged by outside tools where they exist (the
//! shared `signet_testkit::judges`): poppler's `pdfsig` reads every sealed
//! file, and OpenSSL makes the operator's certificates (PEM and PKCS#12,
//! ECDSA and RSA) as an operator would.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use lopdf::{Document, Object, Stream, dictionary};
use signet_seal::timestamp::TimestampRequest;
use signet_seal::verify::signatures;
use signet_seal::{SealKey, seal};
use signet_testkit::judges::{openssl, pdfsig};

/// A small PDF of `pages` pages with some text.
fn sample(pages: usize) -> Vec<u8> {
    let mut document = Document::with_version("1.7");
    let pages_id = document.new_object_id();
    let font = document.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
    });
    let kids: Vec<Object> = (0..pages)
        .map(|i| {
            let content = format!("BT /F1 18 Tf 72 720 Td (Sealed page {}) Tj ET", i + 1);
            let stream = document.add_object(Stream::new(dictionary! {}, content.into_bytes()));
            document
                .add_object(dictionary! {
                    "Type" => "Page", "Parent" => pages_id, "Contents" => stream,
                    "MediaBox" => vec![0.into(), 0.into(), 612.into(), 792.into()],
                    "Resources" => dictionary! { "Font" => dictionary! { "F1" => font } },
                })
                .into()
        })
        .collect();
    document.objects.insert(
        pages_id,
        Object::Dictionary(
            dictionary! { "Type" => "Pages", "Count" => pages as i64, "Kids" => kids },
        ),
    );
    let catalog = document.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    document.trailer.set("Root", catalog);
    let mut bytes = Vec::new();
    document.save_to(&mut bytes).unwrap();
    bytes
}

fn tamper(pdf: &[u8]) -> Vec<u8> {
    let mut tampered = pdf.to_vec();
    let at = tampered.windows(6).position(|w| w == b"Sealed").unwrap();
    tampered[at] = b'Z';
    tampered
}

#[test]
fn a_self_signed_seal_verifies_and_one_changed_byte_breaks_it() {
    let (key, _) = SealKey::generate("https://signet.example", 1_796_000_000).unwrap();
    let sealed = seal(&sample(3), &key, "D:20261202040000Z", "Sealed by Signet").unwrap();

    let found = signatures(&sealed).unwrap();
    assert_eq!(found.len(), 1);
    let report = &found[0];
    assert_eq!(report.sub_filter, "ETSI.CAdES.detached");
    assert!(report.byte_range_ok && report.covers_whole_file);
    let signer = report.signer.as_ref().unwrap();
    assert!(signer.digest_matches && signer.signature_valid);
    assert_eq!(signer.fingerprint, key.fingerprint().unwrap());
    assert!(signer.timestamp.is_none());

    let tampered = tamper(&sealed);
    let signer = signatures(&tampered).unwrap()[0].signer.clone().unwrap();
    assert!(
        !signer.digest_matches,
        "a changed byte must break the digest"
    );

    let Some(report) = pdfsig(&sealed) else {
        eprintln!("note: pdfsig not found; poppler's view is not checked");
        return;
    };
    assert!(
        report.contains("Signature Type: ETSI.CAdES.detached"),
        "{report}"
    );
    assert!(report.contains("Total document signed"), "{report}");
    assert!(
        report.contains("Signature Validation: Signature is Valid."),
        "{report}"
    );
    let report = pdfsig(&tampered).unwrap();
    assert!(!report.contains("Signature is Valid."), "{report}");
}

#[test]
fn operator_certificates_from_pem_and_pkcs12_sign_with_their_chain() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A CA, and a seal certificate it issued, for each key type.
    let Some(()) = openssl(
        d,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "30",
            "-subj",
            "/CN=Operator CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign",
        ],
    ) else {
        eprintln!("note: openssl not found; operator certificates are not checked");
        return;
    };
    for (name, newkey) in [("ec", "ec:ca.pem"), ("rsa", "rsa:2048")] {
        let newkey_args: Vec<&str> = if name == "ec" {
            vec!["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"]
        } else {
            vec!["-newkey", newkey]
        };
        let key = format!("{name}.key");
        let csr = format!("{name}.csr");
        let cert = format!("{name}.pem");
        let mut args = vec!["req"];
        args.extend(&newkey_args);
        args.extend([
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            "/CN=Acme seal/O=Acme",
        ]);
        openssl(d, &args).unwrap();
        std::fs::write(
            d.join("ext.cnf"),
            "keyUsage=critical,digitalSignature,nonRepudiation\n",
        )
        .unwrap();
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &cert,
                "-days",
                "30",
                "-extfile",
                "ext.cnf",
            ],
        )
        .unwrap();
        let chain = [
            std::fs::read(d.join(&cert)).unwrap(),
            std::fs::read(d.join("ca.pem")).unwrap(),
        ]
        .concat();
        let pem_key = SealKey::from_pem(&chain, &std::fs::read(d.join(&key)).unwrap()).unwrap();
        let p12 = format!("{name}.p12");
        openssl(
            d,
            &[
                "pkcs12",
                "-export",
                "-inkey",
                &key,
                "-in",
                &cert,
                "-certfile",
                "ca.pem",
                "-out",
                &p12,
                "-passout",
                "pass:s3cret é",
            ],
        )
        .unwrap();
        let bytes = std::fs::read(d.join(&p12)).unwrap();
        let wrong = SealKey::from_pkcs12(&bytes, "wrong")
            .unwrap_err()
            .to_string();
        assert!(wrong.contains("password is wrong"), "{wrong}");
        let p12_key = SealKey::from_pkcs12(&bytes, "s3cret é").unwrap();
        assert_eq!(
            p12_key.fingerprint().unwrap(),
            pem_key.fingerprint().unwrap()
        );
        let info = p12_key.info().unwrap();
        assert!(info.subject.contains("CN=Acme seal"), "{info:?}");
        assert!(!info.self_signed);
        assert!(
            p12_key
                .certificates_pem()
                .unwrap()
                .matches("BEGIN CERTIFICATE")
                .count()
                == 2
        );

        let sealed = seal(&sample(1), &p12_key, "D:20261202040000Z", "Sealed").unwrap();
        let signer = signatures(&sealed).unwrap()[0].signer.clone().unwrap();
        assert!(signer.digest_matches && signer.signature_valid, "{name}");
        assert_eq!(signer.fingerprint, p12_key.fingerprint().unwrap());
        if let Some(report) = pdfsig(&sealed) {
            assert!(
                report.contains("Signer Certificate Common Name: Acme seal"),
                "{report}"
            );
            assert!(
                report.contains("Signature Validation: Signature is Valid."),
                "{name}: {report}"
            );
        }
    }
    // A key and a certificate that do not belong together are refused.
    let mismatch = SealKey::from_pem(
        &std::fs::read(d.join("rsa.pem")).unwrap(),
        &std::fs::read(d.join("ec.key")).unwrap(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        mismatch.contains("belongs to the private key"),
        "{mismatch}"
    );
}

#[test]
fn a_timestamp_reply_must_answer_the_request() {
    let request = TimestampRequest::for_signature(b"signature value").unwrap();
    assert!(!request.der().is_empty());
    let error = request
        .token_from_reply(b"not DER")
        .unwrap_err()
        .to_string();
    assert!(error.contains("not an RFC 3161 reply"), "{error}");
    // A refusal (status 2, "rejection") says so.
    let rejection = [0x30, 0x05, 0x30, 0x03, 0x02, 0x01, 0x02];
    let error = request
        .token_from_reply(&rejection)
        .unwrap_err()
        .to_string();
    assert!(error.contains("refused the request (status 2"), "{error}");
}

#[test]
fn files_that_are_not_pdfs_or_carry_no_signature() {
    assert!(signatures(b"hello").is_err());
    assert!(signatures(&sample(1)).unwrap().is_empty());
}
