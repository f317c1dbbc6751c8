//! Assembling the deliverable: the source PDFs' pages copied into one new
//! document, a placeholder page per DOCX, then the audit trail.
//!
//! A page cannot simply be referenced from another file, so every object of a
//! source is moved over under a fresh object number and each page's inherited
//! attributes are made explicit before it leaves its original page tree.

use std::collections::{HashMap, HashSet};

use lopdf::{Dictionary, Document, Object, ObjectId, StringFormat, dictionary};

use super::audit_trail::{AuditTrail, audit_pages};
use super::inspect::load;
use super::layout::{Font, Fonts, INDENT, Layout, add_text_page, paragraph};
use super::stamp::{Stamp, stamp_page};
use super::{PdfError, add, new_id};
pub use crate::model::DocumentKind;

/// The MediaBox used when a source page has none at all (US Letter).
const DEFAULT_MEDIA_BOX: [i64; 4] = [0, 0, 612, 792];

/// One document of an envelope, in envelope order.
#[derive(Debug, Clone, Copy)]
pub struct SourceDocument<'a> {
    /// Display name (usually the file name).
    pub name: &'a str,
    /// The pages to include: the PDF itself, or LibreOffice's PDF of a Word
    /// document; `None` for a Word document never converted, which a
    /// placeholder page stands for.
    pub pdf: Option<&'a [u8]>,
    /// PDF or DOCX.
    pub kind: DocumentKind,
    /// SHA-256 of the original file, lowercase hex.
    pub sha256_hex: &'a str,
    /// Page count if known.
    pub pages: Option<u32>,
    /// The filled places to draw onto its pages.
    pub stamps: &'a [Stamp],
}

/// Builds the `standard` deliverable: every PDF's pages in order, a
/// placeholder page per DOCX, then the certificate of completion. Its
/// "Recipients" and "Documents" sections are always together on the last
/// page (shrunk down to a small font size if needed; only an extreme number
/// of recipients/documents makes them flow over several pages).
pub fn deliverable(
    documents: &[SourceDocument<'_>],
    trail: &AuditTrail,
) -> Result<Vec<u8>, PdfError> {
    build(documents, &trail.title, Some(trail))
}

/// Builds the `simple` deliverable: the documents only.
pub fn documents_only(documents: &[SourceDocument<'_>], title: &str) -> Result<Vec<u8>, PdfError> {
    build(documents, title, None)
}

fn build(
    documents: &[SourceDocument<'_>],
    title: &str,
    trail: Option<&AuditTrail>,
) -> Result<Vec<u8>, PdfError> {
    let mut out = Document::with_version("1.7");
    let pages_root = new_id(&mut out)?;
    let (mut fonts, resources) = Fonts::reserve(&mut out)?;
    let mut kids: Vec<ObjectId> = Vec::new();
    let mut capacity = 64 * 1024;

    for document in documents {
        match document.pdf {
            Some(bytes) => {
                capacity += bytes.len();
                append_pdf(
                    &mut out,
                    pages_root,
                    &mut kids,
                    bytes,
                    document.stamps,
                    &mut fonts,
                )?;
            }
            None => {
                let mut layout = Layout::new();
                let text = format!(
                    "{} (DOCX document, not rendered here) \u{2014} SHA-256 {}",
                    document.name, document.sha256_hex
                );
                layout.push(paragraph(Font::Regular, 11.0, 0.0, INDENT, 0.0, &text));
                for page in layout.finish() {
                    kids.push(add_text_page(
                        &mut out, pages_root, resources, &mut fonts, &page,
                    )?);
                }
            }
        }
    }

    for page in trail.map(audit_pages).unwrap_or_default() {
        kids.push(add_text_page(
            &mut out, pages_root, resources, &mut fonts, &page,
        )?);
    }
    fonts.write(&mut out)?;

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
            "Title" => text_string(title),
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
    stamps: &[Stamp],
    fonts: &mut Fonts,
) -> Result<(), PdfError> {
    let geometry = if stamps.is_empty() {
        Vec::new()
    } else {
        super::geometry(bytes)?
    };
    let source = load(bytes)?;
    let page_ids: Vec<ObjectId> = source.page_iter().collect();
    if page_ids.is_empty() {
        return Err(PdfError::NoPages);
    }
    let pages: Vec<Dictionary> = page_ids
        .iter()
        .map(|&id| {
            let mut page = materialize_page(&source, id);
            drop_signature_widgets(&source, &mut page);
            page
        })
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
    for (index, (old, mut page)) in page_ids.into_iter().zip(pages).enumerate() {
        remap_dictionary(&mut page, &renumbered);
        page.set("Parent", pages_root);
        let number = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let on_page: Vec<&Stamp> = stamps.iter().filter(|s| s.page == number).collect();
        if let Some(geometry) = geometry.get(index) {
            stamp_page(out, &mut page, geometry, &on_page, fonts)?;
        }
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

/// Removes the source's signature fields from a page: a signature made on
/// the document before it was sent does not cover the deliverable, and
/// readers would list it as broken next to the seal. (The documents'
/// SHA-256 as uploaded, in the certificate of completion, still names the
/// signed original.)
fn drop_signature_widgets(document: &Document, page: &mut Dictionary) {
    let annotations = match page.get(b"Annots") {
        Ok(value) => match document.dereference(value) {
            Ok((_, Object::Array(items))) => items.clone(),
            _ => return,
        },
        Err(_) => return,
    };
    let kept: Vec<Object> = annotations
        .into_iter()
        .filter(|annotation| !is_signature_widget(document, annotation))
        .collect();
    page.set("Annots", kept);
}

/// A widget whose field (itself or a parent) has `/FT /Sig`.
fn is_signature_widget(document: &Document, annotation: &Object) -> bool {
    let Ok((_, Object::Dictionary(first))) = document.dereference(annotation) else {
        return false;
    };
    let mut node: &Dictionary = first;
    for _ in 0..32 {
        if let Ok(Object::Name(kind)) = node.get(b"FT") {
            return kind == b"Sig";
        }
        match node
            .get(b"Parent")
            .ok()
            .and_then(|parent| document.dereference(parent).ok())
        {
            Some((_, Object::Dictionary(parent))) => node = parent,
            _ => return false,
        }
    }
    false
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

#[cfg(test)]
mod tests {
    use lopdf::Stream;

    use super::*;
    use crate::pdf::test_support::{build, check_deliverable, encrypt, hash, signer, trail};
    use crate::pdf::{inspect, page_text};

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
        assert!(audit.contains("\u{00B7} signer \u{00B7} signed"), "{audit}");
        assert!(audit.contains("\u{00B7} 2 pages"), "{audit}");
        // Stable output for the same input.
        assert_eq!(build(3, names).0, pdf);
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
            pdf: Some(&source),
            stamps: &[],
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
        assert!(
            page_text(&pdf, 5)
                .unwrap()
                .contains("Certificate of completion")
        );
    }

    #[test]
    fn deliverable_refuses_bad_sources() {
        let hash = hash(9);
        let trail = trail(1, vec![signer("A", "a@example.com", "A")], &[]);
        let garbage = SourceDocument {
            name: "bad.pdf",
            pdf: Some(b"not a pdf"),
            stamps: &[],
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
            pdf: Some(&encrypted),
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
