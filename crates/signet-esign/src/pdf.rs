//! PDF inspection, DOCX detection and the signed deliverable.
//!
//! The deliverable is one PDF: the pages of every source PDF in order (a DOCX,
//! which we cannot render, is represented by a placeholder page), followed by
//! audit-trail pages. Generated pages use the standard Helvetica fonts with
//! WinAnsiEncoding, so no font is embedded; text outside WinAnsi is mapped to
//! a close WinAnsi character where possible and replaced by `?` otherwise.
//!
//! Parsing untrusted bytes never panics: lopdf is called behind
//! [`std::panic::catch_unwind`] as a last line of defence.

use std::collections::{HashMap, HashSet};
use std::panic::{AssertUnwindSafe, catch_unwind};

use lopdf::{Dictionary, Document, Object, ObjectId, Stream, StringFormat, dictionary};

/// A4 width in points.
const PAGE_WIDTH: f32 = 595.0;
/// A4 height in points.
const PAGE_HEIGHT: f32 = 842.0;
/// Margin on every side of generated pages, in points (about 20 mm).
const MARGIN: f32 = 56.0;
/// How far into the file the `%PDF-` header may start (as in common readers).
const HEADER_SCAN: usize = 1024;
/// Body text size of generated pages.
const BODY_SIZE: f32 = 10.0;
/// The smallest size the signers/documents block is shrunk to so that it fits one page.
const MIN_FINAL_SIZE: f32 = 5.0;
/// Hanging indent of continuation and detail lines.
const INDENT: f32 = 12.0;
/// The MediaBox used when a source page has none at all (US Letter).
const DEFAULT_MEDIA_BOX: [i64; 4] = [0, 0, 612, 792];

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

/// What [`inspect`] learns about a PDF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PdfInfo {
    /// Number of pages (at least 1).
    pub pages: u32,
}

/// The kind of a source document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentKind {
    /// A PDF; its pages are merged into the deliverable.
    Pdf,
    /// A Word document; it is not rendered, a placeholder page stands for it.
    Docx,
}

/// One document of an envelope, in envelope order.
#[derive(Debug, Clone, Copy)]
pub struct SourceDocument<'a> {
    /// Display name (usually the file name).
    pub name: &'a str,
    /// The original bytes.
    pub bytes: &'a [u8],
    /// PDF or DOCX.
    pub kind: DocumentKind,
    /// SHA-256 of `bytes`, lowercase hex.
    pub sha256_hex: &'a str,
    /// Page count if known (PDFs).
    pub pages: Option<u32>,
}

/// The audit trail appended to the deliverable.
#[derive(Debug, Clone, Default)]
pub struct AuditTrail {
    /// Envelope title.
    pub title: String,
    /// Envelope id.
    pub envelope_id: String,
    /// When the envelope was completed (pre-formatted).
    pub completed_at: String,
    /// Every event, oldest first.
    pub events: Vec<AuditEvent>,
    /// Every signer / approver.
    pub signers: Vec<AuditSigner>,
    /// Every document of the envelope.
    pub documents: Vec<AuditDocument>,
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

/// A recipient who acted on the envelope.
#[derive(Debug, Clone, Default)]
pub struct AuditSigner {
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
    /// When they acted (pre-formatted).
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
// ---------------------------------------------------------------------------

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

/// Loads a PDF, refusing non-PDFs and encrypted PDFs.
fn load(bytes: &[u8]) -> Result<Document, PdfError> {
    let head = &bytes[..bytes.len().min(HEADER_SCAN)];
    let start = find(head, b"%PDF-").ok_or(PdfError::NotPdf)?;
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

// ---------------------------------------------------------------------------
// Deliverable
// ---------------------------------------------------------------------------

/// Builds the deliverable: every PDF's pages in order, a placeholder page per
/// DOCX, then the audit trail. The trail's "Signers" and "Documents" sections
/// are always together on the last page (shrunk down to a small font size if
/// needed; only an extreme number of signers/documents makes them flow over
/// several pages).
pub fn deliverable(
    documents: &[SourceDocument<'_>],
    trail: &AuditTrail,
) -> Result<Vec<u8>, PdfError> {
    let mut out = Document::with_version("1.7");
    let pages_root = new_id(&mut out)?;
    let resources = add_font_resources(&mut out)?;
    let mut kids: Vec<ObjectId> = Vec::new();
    let mut capacity = 64 * 1024;

    for document in documents {
        match document.kind {
            DocumentKind::Pdf => {
                capacity += document.bytes.len();
                append_pdf(&mut out, pages_root, &mut kids, document.bytes)?;
            }
            DocumentKind::Docx => {
                let mut layout = Layout::new();
                let text = format!(
                    "{} (DOCX document, not rendered here) \u{2014} SHA-256 {}",
                    document.name, document.sha256_hex
                );
                layout.push(paragraph(Font::Regular, 12.0, 0.0, INDENT, 0.0, &text));
                for page in layout.finish() {
                    kids.push(add_text_page(&mut out, pages_root, resources, &page)?);
                }
            }
        }
    }

    for page in audit_pages(trail) {
        kids.push(add_text_page(&mut out, pages_root, resources, &page)?);
    }

    let count = i64::try_from(kids.len()).map_err(|e| PdfError::Build(e.to_string()))?;
    out.objects.insert(
        pages_root,
        Object::Dictionary(dictionary! {
            "Type" => "Pages",
            "Kids" => kids.into_iter().map(Object::Reference).collect::<Vec<_>>(),
            "Count" => count,
        }),
    );
    let catalog = add(
        &mut out,
        dictionary! { "Type" => "Catalog", "Pages" => pages_root },
    )?;
    let info = add(
        &mut out,
        dictionary! {
            "Title" => text_string(&trail.title),
            "Producer" => Object::string_literal("Signet"),
        },
    )?;
    out.trailer.set("Root", catalog);
    out.trailer.set("Info", info);
    // Drop what the sources' old catalogs, page trees, info dictionaries and
    // cross-reference streams leave behind unreferenced.
    out.prune_objects();

    let mut bytes = Vec::with_capacity(capacity);
    out.save_to(&mut bytes)
        .map_err(|e| PdfError::Build(e.to_string()))?;
    Ok(bytes)
}

/// Moves every object of one source PDF into `out` under fresh object numbers
/// and appends its pages (with their inherited attributes made explicit) to
/// `kids`.
fn append_pdf(
    out: &mut Document,
    pages_root: ObjectId,
    kids: &mut Vec<ObjectId>,
    bytes: &[u8],
) -> Result<(), PdfError> {
    let source = load(bytes)?;
    let page_ids: Vec<ObjectId> = source.page_iter().collect();
    if page_ids.is_empty() {
        return Err(PdfError::NoPages);
    }
    let pages: Vec<Dictionary> = page_ids
        .iter()
        .map(|&id| materialize_page(&source, id))
        .collect();

    let mut renumbered: HashMap<ObjectId, ObjectId> = HashMap::with_capacity(source.objects.len());
    let mut next = out.max_id;
    for &id in source.objects.keys() {
        next = next
            .checked_add(1)
            .ok_or_else(|| PdfError::Build("too many objects".to_owned()))?;
        renumbered.insert(id, (next, 0));
    }
    out.max_id = next;

    let page_set: HashSet<ObjectId> = page_ids.iter().copied().collect();
    for (id, mut object) in source.objects {
        if page_set.contains(&id) {
            continue;
        }
        if let Some(&new) = renumbered.get(&id) {
            remap(&mut object, &renumbered);
            out.objects.insert(new, object);
        }
    }

    let mut placed = HashSet::with_capacity(page_ids.len());
    for (old, mut page) in page_ids.into_iter().zip(pages) {
        remap_dictionary(&mut page, &renumbered);
        page.set("Parent", pages_root);
        // A page object listed twice in the source tree becomes two objects,
        // since a page has exactly one parent.
        let id = match renumbered.get(&old) {
            Some(&new) if placed.insert(old) => new,
            _ => new_id(out)?,
        };
        out.objects.insert(id, Object::Dictionary(page));
        kids.push(id);
    }
    Ok(())
}

/// The page dictionary with MediaBox, CropBox, Resources and Rotate resolved
/// through the page tree, since the page leaves its original tree.
fn materialize_page(document: &Document, page_id: ObjectId) -> Dictionary {
    let mut page = document
        .get_dictionary(page_id)
        .cloned()
        .unwrap_or_default();
    let media_box = inherited(document, page_id, b"MediaBox").unwrap_or_else(|| {
        Object::Array(
            DEFAULT_MEDIA_BOX
                .iter()
                .map(|&v| Object::Integer(v))
                .collect(),
        )
    });
    page.set("MediaBox", media_box);
    match inherited(document, page_id, b"CropBox") {
        Some(crop_box) => page.set("CropBox", crop_box),
        None => {
            page.remove(b"CropBox");
        }
    }
    let resources = inherited(document, page_id, b"Resources")
        .unwrap_or_else(|| Object::Dictionary(Dictionary::new()));
    page.set("Resources", resources);
    match inherited(document, page_id, b"Rotate") {
        Some(rotate) => page.set("Rotate", rotate),
        None => {
            page.remove(b"Rotate");
        }
    }
    page
}

/// An inheritable page attribute: the nearest non-null value up the tree.
fn inherited(document: &Document, page_id: ObjectId, key: &[u8]) -> Option<Object> {
    let mut current = page_id;
    let mut visited = HashSet::new();
    while visited.insert(current) && visited.len() <= 256 {
        let node = document.get_dictionary(current).ok()?;
        if let Ok(value) = node.get(key)
            && let Ok((_, resolved)) = document.dereference(value)
            && !matches!(resolved, Object::Null)
        {
            return Some(value.clone());
        }
        current = node.get(b"Parent").and_then(Object::as_reference).ok()?;
    }
    None
}

/// Rewrites references through `map`; a reference to a missing object becomes
/// `null`, which is what it means in PDF anyway.
fn remap(object: &mut Object, map: &HashMap<ObjectId, ObjectId>) {
    match object {
        Object::Reference(id) => {
            let id = *id;
            *object = map
                .get(&id)
                .map_or(Object::Null, |&new| Object::Reference(new));
        }
        Object::Array(items) => items.iter_mut().for_each(|item| remap(item, map)),
        Object::Dictionary(dictionary) => remap_dictionary(dictionary, map),
        Object::Stream(stream) => remap_dictionary(&mut stream.dict, map),
        _ => {}
    }
}

fn remap_dictionary(dictionary: &mut Dictionary, map: &HashMap<ObjectId, ObjectId>) {
    for (_, value) in dictionary.iter_mut() {
        remap(value, map);
    }
}

fn new_id(document: &mut Document) -> Result<ObjectId, PdfError> {
    document
        .try_new_object_id()
        .map_err(|e| PdfError::Build(e.to_string()))
}

fn add(document: &mut Document, object: impl Into<Object>) -> Result<ObjectId, PdfError> {
    document
        .try_add_object(object)
        .map_err(|e| PdfError::Build(e.to_string()))
}

/// A PDF text string: literal if ASCII, otherwise UTF-16BE with a BOM.
fn text_string(text: &str) -> Object {
    if text.is_ascii() {
        Object::String(text.as_bytes().to_vec(), StringFormat::Literal)
    } else {
        let mut bytes = vec![0xFE, 0xFF];
        bytes.extend(text.encode_utf16().flat_map(u16::to_be_bytes));
        Object::String(bytes, StringFormat::Hexadecimal)
    }
}

// ---------------------------------------------------------------------------
// Generated pages
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Font {
    Regular,
    Bold,
}

impl Font {
    fn resource(self) -> &'static str {
        match self {
            Font::Regular => "F1",
            Font::Bold => "F2",
        }
    }
}

/// One positioned line of WinAnsi text.
#[derive(Debug, Clone)]
struct TextLine {
    font: Font,
    size: f32,
    x: f32,
    y: f32,
    text: Vec<u8>,
}

/// One line before pagination.
#[derive(Debug, Clone)]
struct Row {
    font: Font,
    size: f32,
    indent: f32,
    /// Extra space above the line, dropped at the top of a page.
    gap: f32,
    text: Vec<u8>,
}

impl Row {
    fn leading(&self) -> f32 {
        self.size * 1.25
    }
}

fn rows_height(rows: &[Row]) -> f32 {
    rows.iter().map(|row| row.gap + row.leading()).sum()
}

/// Wraps `text` into rows: the first at `indent`, the rest at `indent + hanging`.
fn paragraph(font: Font, size: f32, indent: f32, hanging: f32, gap: f32, text: &str) -> Vec<Row> {
    let width = PAGE_WIDTH - 2.0 * MARGIN - indent - hanging;
    wrap(&to_win_ansi(text), size, width)
        .into_iter()
        .enumerate()
        .map(|(index, text)| Row {
            font,
            size,
            indent: if index == 0 { indent } else { indent + hanging },
            gap: if index == 0 { gap } else { 0.0 },
            text,
        })
        .collect()
}

/// Greedy word wrap by approximate glyph widths; over-long words are broken.
/// Always returns at least one (possibly empty) line.
fn wrap(text: &[u8], size: f32, width: f32) -> Vec<Vec<u8>> {
    let max = width * 1000.0 / size;
    let space = glyph_width(b' ');
    let mut lines = Vec::new();
    let mut line: Vec<u8> = Vec::new();
    let mut line_width = 0.0;
    for word in text.split(|&b| b == b' ').filter(|word| !word.is_empty()) {
        let word_width: f32 = word.iter().map(|&b| glyph_width(b)).sum();
        if !line.is_empty() {
            if line_width + space + word_width <= max {
                line.push(b' ');
                line.extend_from_slice(word);
                line_width += space + word_width;
                continue;
            }
            lines.push(std::mem::take(&mut line));
            line_width = 0.0;
        }
        if word_width <= max {
            line.extend_from_slice(word);
            line_width = word_width;
        } else {
            for &b in word {
                let w = glyph_width(b);
                if line_width + w > max && !line.is_empty() {
                    lines.push(std::mem::take(&mut line));
                    line_width = 0.0;
                }
                line.push(b);
                line_width += w;
            }
        }
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// Glyph widths (1/1000 em) of printable ASCII, the larger of Helvetica and
/// Helvetica-Bold, so wrapping is safe for both.
const ASCII_WIDTHS: [u16; 95] = [
    278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278,
    278, // ' '..'/'
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 333, 333, 584, 584, 584,
    611, // '0'..'?'
    1015, 722, 722, 722, 722, 667, 611, 778, 722, 278, 556, 722, 611, 833, 722,
    778, // '@'..'O'
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 333, 278, 333, 584,
    556, // 'P'..'_'
    333, 556, 611, 556, 611, 556, 333, 611, 611, 278, 278, 556, 278, 889, 611,
    611, // '`'..'o'
    611, 611, 389, 556, 333, 611, 556, 778, 556, 556, 500, 389, 280, 389, 584, // 'p'..'~'
];

fn glyph_width(byte: u8) -> f32 {
    let width = match byte {
        32..=126 => ASCII_WIDTHS[usize::from(byte - 32)],
        0x85 | 0x89 | 0x8C | 0x97 | 0x99 | 0xC6 => 1000,
        0x9C | 0xE6 => 944,
        0xBC..=0xBE => 834,
        0xA9 | 0xAE => 737,
        0xC0..=0xDE => 778,
        _ => 611,
    };
    f32::from(width)
}

/// WinAnsi bytes 0x80..=0x9F and the characters they stand for.
const WIN_ANSI_HIGH: [(char, u8); 27] = [
    ('\u{20AC}', 0x80),
    ('\u{201A}', 0x82),
    ('\u{0192}', 0x83),
    ('\u{201E}', 0x84),
    ('\u{2026}', 0x85),
    ('\u{2020}', 0x86),
    ('\u{2021}', 0x87),
    ('\u{02C6}', 0x88),
    ('\u{2030}', 0x89),
    ('\u{0160}', 0x8A),
    ('\u{2039}', 0x8B),
    ('\u{0152}', 0x8C),
    ('\u{017D}', 0x8E),
    ('\u{2018}', 0x91),
    ('\u{2019}', 0x92),
    ('\u{201C}', 0x93),
    ('\u{201D}', 0x94),
    ('\u{2022}', 0x95),
    ('\u{2013}', 0x96),
    ('\u{2014}', 0x97),
    ('\u{02DC}', 0x98),
    ('\u{2122}', 0x99),
    ('\u{0161}', 0x9A),
    ('\u{203A}', 0x9B),
    ('\u{0153}', 0x9C),
    ('\u{017E}', 0x9E),
    ('\u{0178}', 0x9F),
];

/// ASCII fallbacks for Latin Extended-A (U+0100..=U+017F), by base letter.
const LATIN_EXTENDED_A: &[u8; 128] = b"AaAaAaCcCcCcCcDdDdEeEeEeEeEeGgGgGgGgHhHhIiIiIiIiIiIiJjKkkLlLlLlLlLlNnNnNnnNnOoOoOoOoRrRrRrSsSsSsSsTtTtTtUuUuUuUuUuUuWwYyYZzZzZzs";

/// Encodes text as WinAnsi: exact where possible, then close ASCII
/// equivalents, then `?`. Control characters become spaces; combining marks
/// and zero-width characters are dropped.
fn to_win_ansi(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for c in text.chars() {
        let code = u32::from(c);
        let byte = match code {
            0x20..=0x7E | 0xA0..=0xFF => u8::try_from(code).ok(),
            0x00..=0x1F | 0x7F..=0x9F => Some(b' '),
            0x0300..=0x036F | 0x200B..=0x200D | 0x2060 | 0xFEFF => None,
            _ => Some(
                WIN_ANSI_HIGH
                    .iter()
                    .find(|(candidate, _)| *candidate == c)
                    .map(|&(_, byte)| byte)
                    .or_else(|| {
                        let index = usize::try_from(code.checked_sub(0x100)?).ok()?;
                        LATIN_EXTENDED_A.get(index).copied()
                    })
                    .unwrap_or(match code {
                        0x2000..=0x200A | 0x202F | 0x205F | 0x3000 => b' ',
                        0x2010..=0x2012 | 0x2212 => b'-',
                        0x201B | 0x2032 => b'\'',
                        0x201F | 0x2033 => b'"',
                        _ => b'?',
                    }),
            ),
        };
        out.extend(byte);
    }
    out
}

/// Lays rows out on A4 pages, top to bottom.
#[derive(Debug)]
struct Layout {
    pages: Vec<Vec<TextLine>>,
    y: f32,
}

impl Layout {
    fn new() -> Self {
        Layout {
            pages: vec![Vec::new()],
            y: PAGE_HEIGHT - MARGIN,
        }
    }

    fn page_is_empty(&self) -> bool {
        self.pages.last().is_none_or(Vec::is_empty)
    }

    /// Vertical space left on the current page.
    fn remaining(&self) -> f32 {
        self.y - MARGIN
    }

    /// Starts a new page unless the current one is still empty.
    fn new_page(&mut self) {
        if !self.page_is_empty() {
            self.pages.push(Vec::new());
            self.y = PAGE_HEIGHT - MARGIN;
        }
    }

    fn push(&mut self, rows: Vec<Row>) {
        for row in rows {
            let mut height = row.leading() + if self.page_is_empty() { 0.0 } else { row.gap };
            if self.y - height < MARGIN && !self.page_is_empty() {
                self.new_page();
                height = row.leading();
            }
            self.y -= height;
            let line = TextLine {
                font: row.font,
                size: row.size,
                x: MARGIN + row.indent,
                y: self.y,
                text: row.text,
            };
            if let Some(page) = self.pages.last_mut() {
                page.push(line);
            }
        }
    }

    fn finish(self) -> Vec<Vec<TextLine>> {
        self.pages
    }
}

fn or_dash(value: &str) -> &str {
    if value.trim().is_empty() {
        "\u{2014}"
    } else {
        value
    }
}

/// The audit trail, paginated; the signers and documents are on the last page.
fn audit_pages(trail: &AuditTrail) -> Vec<Vec<TextLine>> {
    let mut layout = Layout::new();
    layout.push(paragraph(Font::Bold, 18.0, 0.0, 0.0, 0.0, "Audit trail"));
    let header = [
        ("Envelope", &trail.title),
        ("Envelope ID", &trail.envelope_id),
        ("Completed at", &trail.completed_at),
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

/// The "Signers" and "Documents" sections at body size `size`.
fn final_rows(trail: &AuditTrail, size: f32) -> Vec<Row> {
    let heading = size + 3.0;
    let mut rows = paragraph(Font::Bold, heading, 0.0, 0.0, size * 1.4, "Signers");
    if trail.signers.is_empty() {
        rows.extend(paragraph(Font::Regular, size, 0.0, 0.0, 2.0, "No signers."));
    }
    for signer in &trail.signers {
        let title = format!("{} <{}>", or_dash(&signer.name), or_dash(&signer.email));
        rows.extend(paragraph(Font::Bold, size, 0.0, INDENT, size * 0.3, &title));
        let status = format!(
            "Role: {} \u{00B7} Status: {} \u{00B7} Time: {} \u{00B7} IP address: {}",
            or_dash(&signer.role),
            or_dash(&signer.outcome),
            or_dash(&signer.at),
            or_dash(&signer.ip_address),
        );
        rows.extend(paragraph(Font::Regular, size, INDENT, INDENT, 0.0, &status));
        let typed = format!("Typed signature: {}", or_dash(&signer.typed_signature));
        rows.extend(paragraph(Font::Regular, size, INDENT, INDENT, 0.0, &typed));
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

/// Helvetica and Helvetica-Bold (WinAnsiEncoding) as a shared resource dictionary.
fn add_font_resources(document: &mut Document) -> Result<ObjectId, PdfError> {
    let mut fonts = Dictionary::new();
    for (font, base) in [(Font::Regular, "Helvetica"), (Font::Bold, "Helvetica-Bold")] {
        let id = add(
            document,
            dictionary! {
                "Type" => "Font",
                "Subtype" => "Type1",
                "BaseFont" => base,
                "Encoding" => "WinAnsiEncoding",
            },
        )?;
        fonts.set(font.resource(), id);
    }
    add(document, dictionary! { "Font" => fonts })
}

/// Adds one A4 page showing `lines` and returns its id.
fn add_text_page(
    document: &mut Document,
    parent: ObjectId,
    resources: ObjectId,
    lines: &[TextLine],
) -> Result<ObjectId, PdfError> {
    let mut stream = Stream::new(Dictionary::new(), page_content(lines));
    // Keeps the content uncompressed if compression fails or does not help.
    let _ = stream.compress();
    let contents = add(document, stream)?;
    add(
        document,
        dictionary! {
            "Type" => "Page",
            "Parent" => parent,
            "MediaBox" => vec![0.into(), 0.into(), Object::Real(PAGE_WIDTH), Object::Real(PAGE_HEIGHT)],
            "Resources" => resources,
            "Contents" => contents,
        },
    )
}

/// A content stream with one text object per line, so text extraction yields
/// one line per line.
fn page_content(lines: &[TextLine]) -> Vec<u8> {
    let mut out = Vec::with_capacity(lines.iter().map(|line| line.text.len() + 48).sum());
    for line in lines.iter().filter(|line| !line.text.is_empty()) {
        out.extend_from_slice(
            format!(
                "BT /{} {} Tf {} {} Td (",
                line.font.resource(),
                number(line.size),
                number(line.x),
                number(line.y)
            )
            .as_bytes(),
        );
        for &byte in &line.text {
            match byte {
                b'(' | b')' | b'\\' => out.extend_from_slice(&[b'\\', byte]),
                b'\r' => out.extend_from_slice(b"\\r"),
                b'\n' => out.extend_from_slice(b"\\n"),
                _ => out.push(byte),
            }
        }
        out.extend_from_slice(b") Tj ET\n");
    }
    out
}

fn number(value: f32) -> String {
    let text = format!("{value:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// A small deterministic PDF with `pages` A4 pages, each showing
/// "`label` page N", for tests.
#[cfg(any(test, feature = "testing"))]
pub fn sample(pages: u32, label: &str) -> Vec<u8> {
    build_sample(pages, label).unwrap_or_default()
}

#[cfg(any(test, feature = "testing"))]
fn build_sample(pages: u32, label: &str) -> Result<Vec<u8>, PdfError> {
    let mut document = Document::with_version("1.7");
    let pages_root = new_id(&mut document)?;
    let resources = add_font_resources(&mut document)?;
    let mut kids = Vec::new();
    for number in 1..=pages {
        let line = TextLine {
            font: Font::Regular,
            size: 24.0,
            x: 72.0,
            y: PAGE_HEIGHT - 120.0,
            text: to_win_ansi(&format!("{label} page {number}")),
        };
        kids.push(Object::Reference(add_text_page(
            &mut document,
            pages_root,
            resources,
            &[line],
        )?));
    }
    document.objects.insert(
        pages_root,
        Object::Dictionary(dictionary! { "Type" => "Pages", "Kids" => kids, "Count" => pages }),
    );
    let catalog = add(
        &mut document,
        dictionary! { "Type" => "Catalog", "Pages" => pages_root },
    )?;
    document.trailer.set("Root", catalog);
    let mut bytes = Vec::new();
    document
        .save_to(&mut bytes)
        .map_err(|e| PdfError::Build(e.to_string()))?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer(name: &str, email: &str, typed: &str) -> AuditSigner {
        AuditSigner {
            name: name.to_owned(),
            email: email.to_owned(),
            role: "signer".to_owned(),
            outcome: "signed".to_owned(),
            typed_signature: typed.to_owned(),
            at: "2025-01-02T03:04:05Z".to_owned(),
            ip_address: "203.0.113.7".to_owned(),
        }
    }

    fn hash(seed: u8) -> String {
        (0..32)
            .map(|i| format!("{:02x}", seed.wrapping_mul(31).wrapping_add(i)))
            .collect()
    }

    fn trail(
        events: usize,
        signers: Vec<AuditSigner>,
        documents: &[(&str, Option<u32>, &str)],
    ) -> AuditTrail {
        AuditTrail {
            title: "Employment contract (2025) \\ final".to_owned(),
            envelope_id: "env_0123456789".to_owned(),
            completed_at: "2025-01-02T04:00:00Z".to_owned(),
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

    fn fake_docx() -> Vec<u8> {
        let mut bytes = b"PK\x03\x04\x14\x00\x00\x00\x08\x00".to_vec();
        bytes.extend_from_slice(&[0; 16]);
        bytes.extend_from_slice(b"\x11\x00\x00\x00word/document.xml");
        bytes.extend_from_slice(&[0x55; 40]);
        bytes.extend_from_slice(b"PK\x05\x06");
        bytes
    }

    fn build(events: usize, names: [(&str, &str, &str); 2]) -> (Vec<u8>, AuditTrail) {
        let first = sample(2, "First");
        let second = sample(3, "Second");
        let docx = fake_docx();
        let hashes = [hash(1), hash(2), hash(3)];
        let sources = [
            SourceDocument {
                name: "first.pdf",
                bytes: &first,
                kind: DocumentKind::Pdf,
                sha256_hex: &hashes[0],
                pages: Some(2),
            },
            SourceDocument {
                name: "second.pdf",
                bytes: &second,
                kind: DocumentKind::Pdf,
                sha256_hex: &hashes[1],
                pages: Some(3),
            },
            SourceDocument {
                name: "terms.docx",
                bytes: &docx,
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

    fn check_deliverable(
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
        assert!(page_text(pdf, 7).unwrap().contains("Audit trail"));

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
        assert!(last.contains("Signers") && last.contains("Documents"));
        info.pages
    }

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

    fn encrypt(user_password: &str) -> Vec<u8> {
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
    fn error_messages() {
        assert_eq!(PdfError::NotPdf.to_string(), "The document is not a PDF");
        assert_eq!(PdfError::NoPages.to_string(), "The PDF has no pages");
        assert_eq!(
            PdfError::Unreadable("bad xref".to_owned()).to_string(),
            "The PDF could not be read: bad xref"
        );
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

    #[test]
    fn deliverable_merges_sources_and_trail() {
        let names = [
            ("Alice Example", "alice@example.com", "Alice E."),
            ("Bob (Builder) \\ Jr", "bob@example.org", "Bob B."),
        ];
        let (pdf, trail) = build(3, names);
        let pages = check_deliverable(&pdf, &trail, &names);
        assert_eq!(pages, 7, "one audit page suffices for three events");
        let audit = page_text(&pdf, 7).unwrap();
        assert!(
            audit.contains("Employment contract (2025) \\ final"),
            "{audit}"
        );
        assert!(audit.contains("env_0123456789"));
        assert!(audit.contains("Event number 2"));
        assert!(audit.contains("203.0.113.7"));
        assert!(audit.contains("Status: signed"));
        assert!(audit.contains("\u{00B7} 2 pages"), "{audit}");
        // Stable output for the same input.
        assert_eq!(build(3, names).0, pdf);
    }

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
        assert!(last.contains("Signers"));
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
            bytes: &source,
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
    fn non_win_ansi_text_does_not_break_the_pdf() {
        let names = [
            ("Zoë Ünal-Æsir", "zoe@example.com", "Zoë “Z” Ünal"),
            ("Łukasz Żółć 山田 太郎 🖋", "lukasz@example.pl", "山田"),
        ];
        let (pdf, trail) = build(5, names);
        let pages = inspect(&pdf).unwrap().pages;
        let last = page_text(&pdf, pages).unwrap();
        assert!(last.contains("Zoë Ünal-Æsir"), "{last}");
        assert!(last.contains("Zoë “Z” Ünal"), "{last}");
        assert!(last.contains("Lukasz Zólc ?? ?? ?"), "{last}");
        assert!(last.contains("lukasz@example.pl"));
        for document in &trail.documents {
            assert!(last.contains(&document.sha256_hex));
        }
    }

    #[test]
    fn win_ansi_mapping() {
        assert_eq!(to_win_ansi("abc (x)"), b"abc (x)");
        assert_eq!(to_win_ansi("é€—…"), vec![0xE9, 0x80, 0x97, 0x85]);
        assert_eq!(to_win_ansi("ŁłőŐźŻſĀ"), b"LloOzZsA");
        assert_eq!(
            to_win_ansi("Šš Žž Ÿ Œœ"),
            vec![0x8A, 0x9A, b' ', 0x8E, 0x9E, b' ', 0x9F, b' ', 0x8C, 0x9C]
        );
        assert_eq!(to_win_ansi("e\u{301}\u{200B}"), b"e");
        assert_eq!(to_win_ansi("a\tb\nc\u{7F}"), b"a b c ");
        assert_eq!(to_win_ansi("山🖋"), b"??");
        assert_eq!(LATIN_EXTENDED_A.len(), 128);
    }

    #[test]
    fn escaping_and_wrapping() {
        let line = TextLine {
            font: Font::Bold,
            size: 10.0,
            x: 56.0,
            y: 700.5,
            text: b"a(b)c\\d".to_vec(),
        };
        assert_eq!(
            page_content(&[line]),
            b"BT /F2 10 Tf 56 700.5 Td (a\\(b\\)c\\\\d) Tj ET\n"
        );

        let long = "word ".repeat(200);
        let lines = wrap(long.as_bytes(), 10.0, 400.0);
        assert!(lines.len() > 3);
        for line in &lines {
            let width: f32 = line.iter().map(|&b| glyph_width(b)).sum::<f32>() * 10.0 / 1000.0;
            assert!(width <= 400.0);
            assert!(!line.starts_with(b" ") && !line.ends_with(b" "));
        }
        let unbroken = "x".repeat(500);
        let lines = wrap(unbroken.as_bytes(), 10.0, 400.0);
        assert_eq!(lines.concat(), unbroken.as_bytes());
        assert!(lines.len() > 1);
        assert_eq!(wrap(b"", 10.0, 400.0), vec![Vec::<u8>::new()]);
    }

    /// Nested page tree with inherited MediaBox/Resources/Rotate, one page
    /// listed twice, saved with object streams and an xref stream.
    fn inherited_source() -> Vec<u8> {
        let mut document = Document::with_version("1.7");
        let root = document.new_object_id();
        let inner = document.new_object_id();
        let font = document.add_object(dictionary! {
            "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Courier", "Encoding" => "WinAnsiEncoding",
        });
        let content = document.add_object(Stream::new(
            Dictionary::new(),
            b"BT /C 12 Tf 20 300 Td (Inherited page) Tj ET".to_vec(),
        ));
        let page = document
            .add_object(dictionary! { "Type" => "Page", "Parent" => inner, "Contents" => content });
        document.objects.insert(
            inner,
            Object::Dictionary(dictionary! {
                "Type" => "Pages", "Parent" => root, "Kids" => vec![page.into(), page.into()], "Count" => 2,
            }),
        );
        document.objects.insert(
            root,
            Object::Dictionary(dictionary! {
                "Type" => "Pages",
                "Kids" => vec![inner.into()],
                "Count" => 2,
                "MediaBox" => vec![0.into(), 0.into(), 300.into(), 400.into()],
                "Rotate" => 90,
                "Resources" => dictionary! { "Font" => dictionary! { "C" => font } },
            }),
        );
        let catalog = document.add_object(dictionary! { "Type" => "Catalog", "Pages" => root });
        document.trailer.set("Root", catalog);
        let mut bytes = Vec::new();
        document.save_modern(&mut bytes).unwrap();
        bytes
    }

    #[test]
    fn deliverable_resolves_inherited_page_attributes() {
        let source = inherited_source();
        assert_eq!(inspect(&source).unwrap().pages, 2);
        let hash = hash(4);
        let sources = [SourceDocument {
            name: "inherited.pdf",
            bytes: &source,
            kind: DocumentKind::Pdf,
            sha256_hex: &hash,
            pages: Some(2),
        }; 2];
        let trail = trail(
            1,
            vec![signer("A", "a@example.com", "A")],
            &[("inherited.pdf", Some(2), &hash)],
        );
        let pdf = deliverable(&sources, &trail).unwrap();
        assert_eq!(inspect(&pdf).unwrap().pages, 5);
        let document = Document::load_mem(&pdf).unwrap();
        let pages: Vec<ObjectId> = document.page_iter().collect();
        assert_eq!(
            pages.iter().collect::<HashSet<_>>().len(),
            5,
            "every page is its own object"
        );
        for (index, &id) in pages.iter().take(4).enumerate() {
            let page = document.get_dictionary(id).unwrap();
            let media_box = page.get_deref(b"MediaBox", &document).unwrap();
            assert_eq!(
                media_box,
                &Object::Array(vec![0.into(), 0.into(), 300.into(), 400.into()])
            );
            assert_eq!(page.get(b"Rotate").unwrap().as_i64().unwrap(), 90);
            let page_number = u32::try_from(index + 1).unwrap();
            assert_eq!(
                page_text(&pdf, page_number).unwrap().trim(),
                "Inherited page"
            );
        }
        assert!(page_text(&pdf, 5).unwrap().contains("Audit trail"));
    }

    #[test]
    fn deliverable_refuses_bad_sources() {
        let hash = hash(9);
        let trail = trail(1, vec![signer("A", "a@example.com", "A")], &[]);
        let garbage = SourceDocument {
            name: "bad.pdf",
            bytes: b"not a pdf",
            kind: DocumentKind::Pdf,
            sha256_hex: &hash,
            pages: None,
        };
        assert!(matches!(
            deliverable(&[garbage], &trail),
            Err(PdfError::NotPdf)
        ));
        let encrypted = encrypt("user");
        let locked = SourceDocument {
            bytes: &encrypted,
            ..garbage
        };
        assert!(matches!(
            deliverable(&[locked], &trail),
            Err(PdfError::Encrypted)
        ));
        // No documents at all still yields a valid trail-only PDF.
        let pdf = deliverable(&[], &trail).unwrap();
        assert_eq!(inspect(&pdf).unwrap().pages, 1);
    }
}
