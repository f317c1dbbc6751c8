//! Putting the seal in the PDF: an invisible signature field on the last
//! page whose `/Contents` is kept free, a `/ByteRange` covering every other
//! byte, then the CMS written into the room kept for it.

use lopdf::{Document, Object, StringFormat, dictionary};

use crate::SealError;

/// Room kept for the CMS in `/Contents`, in bytes (written as twice as many
/// hex digits): a P-256 seal is under 1 KB; an operator's RSA chain and a
/// TSA token with its own chain stay well under this.
pub const RESERVED: usize = 32 * 1024;
/// A ByteRange value before patching: ten digits, wider than any offset.
const PLACEHOLDER: i64 = 9_999_999_999;

/// A deliverable with its signature field in place, waiting for the CMS.
#[derive(Debug)]
pub struct Prepared {
    bytes: Vec<u8>,
    /// Where `<` of `/Contents` is, and one past its `>`.
    open: usize,
    end: usize,
}

/// Adds the signature field to `pdf` (our own deliverable, already built).
/// `signed_at` is the PDF date (`D:…Z`) shown as the signing time; `reason`
/// is what readers show as the signature's reason.
pub fn prepare(pdf: &[u8], signed_at: &str, reason: &str) -> Result<Prepared, SealError> {
    let build = |e: lopdf::Error| SealError::Build(e.to_string());
    let mut document = Document::load_mem(pdf).map_err(build)?;
    let last_page = document
        .page_iter()
        .last()
        .ok_or_else(|| SealError::Build("the deliverable has no pages".to_owned()))?;
    let signature = document.add_object(dictionary! {
        "Type" => "Sig",
        "Filter" => "Adobe.PPKLite",
        "SubFilter" => "ETSI.CAdES.detached",
        "ByteRange" => vec![0.into(), PLACEHOLDER.into(), PLACEHOLDER.into(), PLACEHOLDER.into()],
        "Contents" => Object::String(vec![0; RESERVED], StringFormat::Hexadecimal),
        "M" => Object::string_literal(signed_at),
        "Reason" => Object::string_literal(reason),
    });
    let widget = document.add_object(dictionary! {
        "Type" => "Annot",
        "Subtype" => "Widget",
        "FT" => "Sig",
        "T" => Object::string_literal("Signet seal"),
        "V" => signature,
        // Print and Locked; a zero rectangle: the seal has no appearance.
        "F" => 132,
        "Rect" => vec![0.into(), 0.into(), 0.into(), 0.into()],
        "P" => last_page,
    });
    let page = document.get_dictionary_mut(last_page).map_err(build)?;
    let mut annots = match page.get(b"Annots") {
        Ok(Object::Array(items)) => items.clone(),
        _ => Vec::new(),
    };
    annots.push(widget.into());
    page.set("Annots", annots);
    document.catalog_mut().map_err(build)?.set(
        "AcroForm",
        dictionary! { "Fields" => vec![widget.into()], "SigFlags" => 3 },
    );
    let mut bytes = Vec::with_capacity(pdf.len() + 2 * RESERVED + 1024);
    document
        .save_to(&mut bytes)
        .map_err(|e| SealError::Build(e.to_string()))?;

    // Where the placeholder landed: the signature dictionary's own object.
    let marker = format!("\n{} 0 obj", signature.0);
    let object = find(&bytes, marker.as_bytes(), 0)
        .ok_or_else(|| SealError::Build("the signature object was not written".to_owned()))?;
    let open = find(&bytes, b"/Contents<", object)
        .map(|at| at + "/Contents".len())
        .ok_or_else(|| SealError::Build("the signature has no /Contents".to_owned()))?;
    let close = open + 1 + 2 * RESERVED;
    if bytes.get(close) != Some(&b'>') {
        return Err(SealError::Build(
            "the /Contents placeholder moved".to_owned(),
        ));
    }
    let end = close + 1;
    let range_start = find(&bytes, b"/ByteRange[", object)
        .map(|at| at + "/ByteRange".len())
        .ok_or_else(|| SealError::Build("the signature has no /ByteRange".to_owned()))?;
    let range_end = find(&bytes, b"]", range_start)
        .ok_or_else(|| SealError::Build("the /ByteRange is not closed".to_owned()))?;
    let width = range_end - range_start;
    let mut range = format!("[0 {open} {end} {}", bytes.len() - end);
    if range.len() > width {
        return Err(SealError::Build("the /ByteRange does not fit".to_owned()));
    }
    while range.len() < width {
        range.push(' ');
    }
    bytes[range_start..range_end].copy_from_slice(range.as_bytes());
    Ok(Prepared { bytes, open, end })
}

impl Prepared {
    /// The digest of every byte but `/Contents`, in the algorithm `key`
    /// signs with: what the seal covers.
    pub fn digest_for(&self, key: &crate::SealKey) -> Vec<u8> {
        let mut digest = aws_lc_rs::digest::Context::new(key.digest_algorithm().1);
        digest.update(&self.bytes[..self.open]);
        digest.update(&self.bytes[self.end..]);
        digest.finish().as_ref().to_vec()
    }

    /// The sealed file, with `cms` in `/Contents`.
    pub fn finish(mut self, cms: &[u8]) -> Result<Vec<u8>, SealError> {
        if cms.len() > RESERVED {
            return Err(SealError::Build(
                "the signature is larger than the room kept for it".to_owned(),
            ));
        }
        let hex = data_encoding::HEXUPPER.encode(cms);
        self.bytes[self.open + 1..self.open + 1 + hex.len()].copy_from_slice(hex.as_bytes());
        Ok(self.bytes)
    }
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|at| at + from)
}
