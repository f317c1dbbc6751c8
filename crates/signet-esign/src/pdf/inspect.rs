//! Reading untrusted bytes: is this a PDF we can merge, how many pages does it
//! have, what text is on a page, and is it a DOCX instead.
//!
//! Everything that parses goes through [`load`], which finds the header,
//! refuses encrypted PDFs and never lets a lopdf panic escape; [`is_docx`]
//! only looks at the bytes.

use std::panic::{AssertUnwindSafe, catch_unwind};

use lopdf::Document;

use super::PdfError;

/// How far into the file the `%PDF-` header may start (as in common readers).
const HEADER_SCAN: usize = 1024;

/// What [`inspect`] learns about a PDF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PdfInfo {
    /// Number of pages (at least 1).
    pub pages: u32,
}

/// Checks that `bytes` is a readable, unencrypted PDF with at least one page.
pub fn inspect(bytes: &[u8]) -> Result<PdfInfo, PdfError> {
    let document = load(bytes)?;
    match count_pages(&document) {
        0 => Err(PdfError::NoPages),
        pages => Ok(PdfInfo { pages }),
    }
}

/// Number of pages of a readable, unencrypted PDF (0 for an empty page tree).
pub fn page_count(bytes: &[u8]) -> Result<u32, PdfError> {
    load(bytes).map(|document| count_pages(&document))
}

/// The text of one page (1-based), as lopdf extracts it: one line per text
/// object of our generated pages.
pub fn page_text(bytes: &[u8], page: u32) -> Result<String, PdfError> {
    let document = load(bytes)?;
    if page == 0 || page > count_pages(&document) {
        return Err(PdfError::Unreadable(format!("the PDF has no page {page}")));
    }
    match catch_unwind(AssertUnwindSafe(|| document.extract_text(&[page]))) {
        Ok(Ok(text)) => Ok(text),
        Ok(Err(error)) => Err(PdfError::Unreadable(error.to_string())),
        Err(_) => Err(PdfError::Unreadable(
            "the page content is malformed".to_owned(),
        )),
    }
}

/// Cheap check for a DOCX: a ZIP file (`PK\x03\x04`) with an entry named
/// `word/document.xml` (ZIP entry names are stored uncompressed).
pub fn is_docx(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04") && contains(bytes, b"word/document.xml")
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    find(haystack, needle).is_some()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, rest) = needle.split_first()?;
    let mut offset = 0;
    while let Some(position) = haystack.get(offset..)?.iter().position(|&b| b == first) {
        let start = offset + position;
        if haystack.get(start + 1..start + needle.len()) == Some(rest) {
            return Some(start);
        }
        offset = start + 1;
    }
    None
}

/// Where the `%PDF-` header starts, if within the first [`HEADER_SCAN`] bytes:
/// what makes bytes a PDF for every reader in this module and `pages.rs`.
pub(super) fn header_offset(bytes: &[u8]) -> Option<usize> {
    find(&bytes[..bytes.len().min(HEADER_SCAN)], b"%PDF-")
}

/// Loads a PDF, refusing non-PDFs and encrypted PDFs.
pub(super) fn load(bytes: &[u8]) -> Result<Document, PdfError> {
    let start = header_offset(bytes).ok_or(PdfError::NotPdf)?;
    // lopdf wants the header at offset 0; with leading junk the xref offsets are
    // off and lopdf rebuilds the cross-reference table by scanning.
    let body = &bytes[start..];
    let document = match catch_unwind(|| Document::load_mem(body)) {
        Ok(Ok(document)) => document,
        Ok(Err(error)) => {
            return Err(if contains(body, b"/Encrypt") {
                PdfError::Encrypted
            } else {
                PdfError::Unreadable(error.to_string())
            });
        }
        Err(_) => return Err(PdfError::Unreadable("the file is malformed".to_owned())),
    };
    // An encrypted PDF either keeps /Encrypt in its trailer (unknown password)
    // or was decrypted on load with the empty user password; refuse both.
    if document.trailer.has(b"Encrypt") || document.was_encrypted() {
        return Err(PdfError::Encrypted);
    }
    Ok(document)
}

fn count_pages(document: &Document) -> u32 {
    u32::try_from(document.page_iter().count()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pdf::sample;
    use crate::pdf::test_support::{encrypt, fake_docx};

    #[test]
    fn inspect_sample() {
        let pdf = sample(3, "Contract");
        assert_eq!(inspect(&pdf).unwrap(), PdfInfo { pages: 3 });
        assert_eq!(page_count(&pdf).unwrap(), 3);
        assert_eq!(page_text(&pdf, 2).unwrap().trim(), "Contract page 2");
        assert!(matches!(page_text(&pdf, 4), Err(PdfError::Unreadable(_))));
        assert!(matches!(page_text(&pdf, 0), Err(PdfError::Unreadable(_))));
        assert_eq!(sample(3, "Contract"), pdf, "sample is deterministic");
    }

    #[test]
    fn inspect_rejects_empty_page_tree() {
        let pdf = sample(0, "Nothing");
        assert!(matches!(inspect(&pdf), Err(PdfError::NoPages)));
        assert_eq!(page_count(&pdf).unwrap(), 0);
    }

    #[test]
    fn inspect_accepts_junk_before_header() {
        let mut pdf = b"junk before the header\n".to_vec();
        pdf.extend(sample(2, "Shifted"));
        assert_eq!(inspect(&pdf).unwrap().pages, 2);
    }

    #[test]
    fn inspect_rejects_garbage() {
        assert!(matches!(inspect(b""), Err(PdfError::NotPdf)));
        assert!(matches!(inspect(b"hello world"), Err(PdfError::NotPdf)));
        assert!(matches!(inspect(&fake_docx()), Err(PdfError::NotPdf)));
        let mut late = vec![b' '; 2000];
        late.extend(sample(1, "Late"));
        assert!(matches!(inspect(&late), Err(PdfError::NotPdf)));
        assert!(inspect(b"%PDF-1.7\n").is_err());
        assert!(inspect(b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF").is_err());
        assert!(inspect(b"%PDF-1.4\n[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[((((((((<<<<<<<<").is_err());

        // Deterministic pseudo-random bytes, with and without a header.
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        for round in 0..200 {
            let len = 1 + round * 37 % 3000;
            let mut bytes: Vec<u8> = if round % 2 == 0 {
                b"%PDF-1.7\n".to_vec()
            } else {
                Vec::new()
            };
            for _ in 0..len {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                bytes.push((state >> 24) as u8);
            }
            let _ = inspect(&bytes);
            let _ = page_text(&bytes, 1);
        }
    }

    #[test]
    fn inspect_rejects_truncated_and_mangled_pdfs() {
        let pdf = sample(3, "Truncated");
        for cut in (0..pdf.len()).step_by(7) {
            if let Ok(info) = inspect(&pdf[..cut]) {
                // lopdf may recover some pages from a partial file.
                assert!(info.pages <= 3);
            }
        }
        for position in (0..pdf.len()).step_by(11) {
            let mut mangled = pdf.clone();
            mangled[position] ^= 0x5A;
            let _ = inspect(&mangled);
            let _ = page_text(&mangled, 1);
            let mut shortened = pdf.clone();
            shortened.remove(position);
            let _ = inspect(&shortened);
        }
    }

    #[test]
    fn inspect_rejects_encrypted_looking_pdf() {
        let pdf = b"%PDF-1.4\n\
1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n\
2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj\n\
3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >> endobj\n\
4 0 obj << /Filter /Standard /V 1 /R 2 /O <00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF> /U <FFEEDDCCBBAA99887766554433221100FFEEDDCCBBAA99887766554433221100> /P -4 >> endobj\n\
trailer << /Size 5 /Root 1 0 R /Encrypt 4 0 R /ID [<0123456789ABCDEF0123456789ABCDEF> <0123456789ABCDEF0123456789ABCDEF>] >>\n\
%%EOF\n";
        assert!(
            matches!(inspect(pdf), Err(PdfError::Encrypted)),
            "{:?}",
            inspect(pdf)
        );
        assert_eq!(PdfError::Encrypted.to_string(), "The PDF is encrypted");
    }

    #[test]
    fn inspect_rejects_really_encrypted_pdfs() {
        assert!(matches!(
            inspect(&encrypt("user")),
            Err(PdfError::Encrypted)
        ));
        // Opens without a password, but is still encrypted.
        assert!(matches!(inspect(&encrypt("")), Err(PdfError::Encrypted)));
    }

    #[test]
    fn docx_detection() {
        assert!(is_docx(&fake_docx()));
        assert!(!is_docx(b"PK\x03\x04 just a zip with xl/workbook.xml"));
        assert!(!is_docx(b"word/document.xml but not a zip"));
        assert!(!is_docx(b""));
        assert!(!is_docx(&sample(1, "pdf")));
        assert!(!is_docx(b"PK\x03\x04word/document.xm"));
    }
}
