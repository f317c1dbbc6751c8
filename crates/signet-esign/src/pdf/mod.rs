//! PDF inspection, page images and text search, and the signed deliverable.
//!
//! The deliverable is one PDF: the pages of every document in order (a Word
//! document as LibreOffice laid it out), with the filled places stamped on
//! them, followed by audit-trail pages. Generated pages and stamps use the
//! fonts shipped in the binary (and a system font for scripts they lack),
//! embedded as subsets with a ToUnicode map, so text reads back exactly.
//!
//! Parsing untrusted bytes never panics: lopdf and hayro are called behind
//! [`std::panic::catch_unwind`] as a last line of defence.
//!
//! What lives where:
//! - `inspect.rs`: loading untrusted bytes safely ([`inspect()`],
//!   [`page_count`], [`page_text`]) and [`is_docx`].
//! - `pages.rs`: pages as displayed, read with the hayro rasterizer: their
//!   [`geometry`] in view points (top-left origin, after CropBox and
//!   /Rotate), where strings are shown ([`find_text`]) and [`render_png`].
//! - `merge.rs`: [`deliverable`], which copies the source PDFs' pages into one
//!   document and appends the generated pages.
//! - `stamp.rs`: the filled places drawn onto their pages ([`Stamp`], [`Mark`]).
//! - `layout.rs`: the small text engine behind generated pages: glyph widths,
//!   word wrap, pagination and page content streams.
//! - `fonts.rs` and `fallback.rs`: the shipped fonts, system fonts for other
//!   scripts, and how both are embedded.
//! - `audit_trail.rs`: the audit-trail types and how the trail is laid out.
//! - `sample.rs`: deterministic sample PDFs and DOCX files for tests
//!   (`testing` feature).
//!
//! Everything the rest of the crate uses is re-exported here, so callers
//! write `pdf::inspect`, `pdf::AuditTrail` and so on.

mod audit_trail;
mod fallback;
mod fonts;
mod inspect;
mod layout;
mod merge;
mod pages;
#[cfg(any(test, feature = "testing"))]
mod sample;
mod stamp;
#[cfg(test)]
mod test_support;

use lopdf::{Document, Object, ObjectId};

pub use audit_trail::{AuditDocument, AuditEvent, AuditField, AuditSigner, AuditTrail};
pub use inspect::{PdfInfo, inspect, is_docx, page_count, page_text};
pub use merge::{DocumentKind, SourceDocument, deliverable, documents_only};
pub use pages::{PageGeometry, TextHit, find_text, geometry, render_png};
#[cfg(any(test, feature = "testing"))]
pub use sample::{sample, sample_docx, sample_text};
pub use stamp::{Mark, Stamp};

/// Why a PDF could not be inspected, read or built. The messages are safe to
/// show to a user.
#[derive(thiserror::Error, Debug)]
pub enum PdfError {
    /// The bytes do not start with a PDF header.
    #[error("The document is not a PDF")]
    NotPdf,
    /// The PDF is damaged or uses something the reader does not support.
    #[error("The PDF could not be read: {0}")]
    Unreadable(String),
    /// The PDF is encrypted (password-protected), so it cannot be merged.
    #[error("The PDF is encrypted")]
    Encrypted,
    /// The PDF has no pages.
    #[error("The PDF has no pages")]
    NoPages,
    /// The deliverable could not be assembled.
    #[error("The signed PDF could not be built: {0}")]
    Build(String),
}

/// A fresh object number in `document`, as a [`PdfError`] rather than lopdf's
/// error, for every module that writes PDFs.
fn new_id(document: &mut Document) -> Result<ObjectId, PdfError> {
    document
        .try_new_object_id()
        .map_err(|e| PdfError::Build(e.to_string()))
}

/// Adds `object` to `document` under a fresh object number.
fn add(document: &mut Document, object: impl Into<Object>) -> Result<ObjectId, PdfError> {
    document
        .try_add_object(object)
        .map_err(|e| PdfError::Build(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages() {
        assert_eq!(PdfError::NotPdf.to_string(), "The document is not a PDF");
        assert_eq!(PdfError::NoPages.to_string(), "The PDF has no pages");
        assert_eq!(
            PdfError::Unreadable("bad xref".to_owned()).to_string(),
            "The PDF could not be read: bad xref"
        );
    }
}
