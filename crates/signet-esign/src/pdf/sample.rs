//! Deterministic sample PDFs and Word documents, for this crate's tests and
//! (with the `testing` feature) the end-to-end tests, which serve them as
//! source documents.

use std::io::Write;

use lopdf::{Document, Object, dictionary};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

use super::layout::{Font, Fonts, PAGE_HEIGHT, TextLine, add_text_page};
use super::{PdfError, add, new_id};

/// A small deterministic PDF with `pages` A4 pages, each showing
/// "`label` page N", for tests.
pub fn sample(pages: u32, label: &str) -> Vec<u8> {
    build_sample(pages, label).unwrap_or_default()
}

/// A deterministic A4 PDF with the given lines on each page, 12 pt, from
/// 72 points below the top edge, 24 points apart, 72 points from the left:
/// line `i` of a page has its baseline `72 + 24 i` points below the top.
pub fn sample_text(pages: &[&[&str]]) -> Vec<u8> {
    let lines: Vec<Vec<TextLine>> = pages
        .iter()
        .map(|lines| {
            lines
                .iter()
                .enumerate()
                .map(|(i, text)| TextLine {
                    font: Font::Regular,
                    size: 12.0,
                    x: 72.0,
                    y: PAGE_HEIGHT - 72.0 - 24.0 * i as f32,
                    text: (*text).to_owned(),
                })
                .collect()
        })
        .collect();
    build(&lines).unwrap_or_default()
}

fn build_sample(pages: u32, label: &str) -> Result<Vec<u8>, PdfError> {
    let lines: Vec<Vec<TextLine>> = (1..=pages)
        .map(|number| {
            vec![TextLine {
                font: Font::Regular,
                size: 24.0,
                x: 72.0,
                y: PAGE_HEIGHT - 120.0,
                text: format!("{label} page {number}"),
            }]
        })
        .collect();
    build(&lines)
}

fn build(pages: &[Vec<TextLine>]) -> Result<Vec<u8>, PdfError> {
    let mut document = Document::with_version("1.7");
    let pages_root = new_id(&mut document)?;
    let (mut fonts, resources) = Fonts::reserve(&mut document)?;
    let mut kids = Vec::new();
    for lines in pages {
        kids.push(Object::Reference(add_text_page(
            &mut document,
            pages_root,
            resources,
            &mut fonts,
            lines,
        )?));
    }
    let pages = kids.len() as i64;
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

/// A minimal Word document (DOCX) with one paragraph per string, for tests.
/// Deterministic: stored (uncompressed) entries dated 1980-01-01.
pub fn sample_docx(paragraphs: &[&str]) -> Vec<u8> {
    build_docx(paragraphs).unwrap_or_default()
}

const CONTENT_TYPES: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>"#;

const PACKAGE_RELATIONSHIPS: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>"#;

fn build_docx(paragraphs: &[&str]) -> zip::result::ZipResult<Vec<u8>> {
    let mut body = String::new();
    for paragraph in paragraphs {
        body.push_str(r#"<w:p><w:r><w:t xml:space="preserve">"#);
        body.push_str(&xml_escape(paragraph));
        body.push_str("</w:t></w:r></w:p>");
    }
    let document = format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>{body}</w:body></w:document>"#
    );
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Stored)
        .last_modified_time(DateTime::DEFAULT);
    let mut zip = ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, contents) in [
        ("[Content_Types].xml", CONTENT_TYPES),
        ("_rels/.rels", PACKAGE_RELATIONSHIPS),
        ("word/document.xml", document.as_str()),
    ] {
        zip.start_file(name, options)?;
        zip.write_all(contents.as_bytes())?;
    }
    Ok(zip.finish()?.into_inner())
}

fn xml_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_docx_is_a_docx_with_the_paragraphs() {
        let docx = sample_docx(&["Hello [[sig_a]] world", "a < b & \"c\""]);
        assert!(super::super::is_docx(&docx));
        assert_eq!(
            sample_docx(&["Hello [[sig_a]] world", "a < b & \"c\""]),
            docx
        );
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(docx)).unwrap();
        let mut document = String::new();
        std::io::Read::read_to_string(
            &mut archive.by_name("word/document.xml").unwrap(),
            &mut document,
        )
        .unwrap();
        assert!(
            document.contains(">Hello [[sig_a]] world</w:t>"),
            "{document}"
        );
        assert!(
            document.contains(">a &lt; b &amp; &quot;c&quot;</w:t>"),
            "{document}"
        );
        assert!(archive.by_name("[Content_Types].xml").is_ok());
        assert!(archive.by_name("_rels/.rels").is_ok());
    }
}
