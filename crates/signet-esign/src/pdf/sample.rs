//! Deterministic sample PDFs, for this crate's tests and (with the `testing`
//! feature) the end-to-end tests, which serve them as source documents.

use lopdf::{Document, Object, dictionary};

use super::layout::{Font, Fonts, PAGE_HEIGHT, TextLine, add_text_page};
use super::{PdfError, add, new_id};

/// A small deterministic PDF with `pages` A4 pages, each showing
/// "`label` page N", for tests.
pub fn sample(pages: u32, label: &str) -> Vec<u8> {
    build_sample(pages, label).unwrap_or_default()
}

fn build_sample(pages: u32, label: &str) -> Result<Vec<u8>, PdfError> {
    let mut document = Document::with_version("1.7");
    let pages_root = new_id(&mut document)?;
    let (mut fonts, resources) = Fonts::reserve(&mut document)?;
    let mut kids = Vec::new();
    for number in 1..=pages {
        let line = TextLine {
            font: Font::Regular,
            size: 24.0,
            x: 72.0,
            y: PAGE_HEIGHT - 120.0,
            text: format!("{label} page {number}"),
        };
        kids.push(Object::Reference(add_text_page(
            &mut document,
            pages_root,
            resources,
            &mut fonts,
            &[line],
        )?));
    }
    fonts.write(&mut document)?;
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
