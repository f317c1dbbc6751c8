//! The small text engine behind generated pages (the DOCX placeholder, the
//! audit trail and test samples): word wrap by the embedded fonts' glyph
//! widths, pagination onto A4, and the content streams that show the text
//! (glyph ids of the subsets `fonts.rs` embeds).

use lopdf::{Dictionary, Document, Object, ObjectId, Stream, dictionary};

use super::fonts::printable;
pub(super) use super::fonts::{Font, Fonts, Names};
use super::{PdfError, add};

/// A4 width in points.
const PAGE_WIDTH: f32 = 595.0;
/// A4 height in points.
pub(super) const PAGE_HEIGHT: f32 = 842.0;
/// Margin on every side of generated pages, in points (about 20 mm).
pub(super) const MARGIN: f32 = 56.0;
/// Hanging indent of continuation and detail lines.
pub(super) const INDENT: f32 = 12.0;

/// One positioned line of text.
#[derive(Debug, Clone)]
pub(super) struct TextLine {
    pub(super) font: Font,
    pub(super) size: f32,
    pub(super) x: f32,
    pub(super) y: f32,
    pub(super) text: String,
}

/// One line before pagination.
#[derive(Debug, Clone)]
pub(super) struct Row {
    font: Font,
    size: f32,
    indent: f32,
    /// Extra space above the line, dropped at the top of a page.
    gap: f32,
    text: String,
}

impl Row {
    fn leading(&self) -> f32 {
        self.size * 1.25
    }
}

/// The height `rows` take when laid out together (gaps included).
pub(super) fn rows_height(rows: &[Row]) -> f32 {
    rows.iter().map(|row| row.gap + row.leading()).sum()
}

/// Wraps `text` into rows: the first at `indent`, the rest at `indent + hanging`.
pub(super) fn paragraph(
    font: Font,
    size: f32,
    indent: f32,
    hanging: f32,
    gap: f32,
    text: &str,
) -> Vec<Row> {
    let width = PAGE_WIDTH - 2.0 * MARGIN - indent - hanging;
    wrap(font, &printable(text), size, width)
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

/// Greedy word wrap by the font's glyph widths; over-long words are broken.
/// Always returns at least one (possibly empty) line.
pub(super) fn wrap(font: Font, text: &str, size: f32, width: f32) -> Vec<String> {
    let max = width * 1000.0 / size;
    let space = font.advance(' ');
    let mut lines = Vec::new();
    let mut line = String::new();
    let mut line_width = 0.0;
    for word in text.split(' ').filter(|word| !word.is_empty()) {
        let word_width: f32 = word.chars().map(|c| font.advance(c)).sum();
        if !line.is_empty() {
            if line_width + space + word_width <= max {
                line.push(' ');
                line.push_str(word);
                line_width += space + word_width;
                continue;
            }
            lines.push(std::mem::take(&mut line));
            line_width = 0.0;
        }
        if word_width <= max {
            line.push_str(word);
            line_width = word_width;
        } else {
            for c in word.chars() {
                let w = font.advance(c);
                if line_width + w > max && !line.is_empty() {
                    lines.push(std::mem::take(&mut line));
                    line_width = 0.0;
                }
                line.push(c);
                line_width += w;
            }
        }
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// Lays rows out on A4 pages, top to bottom.
#[derive(Debug)]
pub(super) struct Layout {
    pages: Vec<Vec<TextLine>>,
    y: f32,
}

impl Layout {
    pub(super) fn new() -> Self {
        Layout {
            pages: vec![Vec::new()],
            y: PAGE_HEIGHT - MARGIN,
        }
    }

    fn page_is_empty(&self) -> bool {
        self.pages.last().is_none_or(Vec::is_empty)
    }

    /// Vertical space left on the current page.
    pub(super) fn remaining(&self) -> f32 {
        self.y - MARGIN
    }

    /// Starts a new page unless the current one is still empty.
    pub(super) fn new_page(&mut self) {
        if !self.page_is_empty() {
            self.pages.push(Vec::new());
            self.y = PAGE_HEIGHT - MARGIN;
        }
    }

    /// Places `rows` below what is already there, starting a new page when
    /// one does not fit; a row's gap is dropped at the top of a page.
    pub(super) fn push(&mut self, rows: Vec<Row>) {
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

    /// The laid-out pages (at least one, possibly empty).
    pub(super) fn finish(self) -> Vec<Vec<TextLine>> {
        self.pages
    }
}

/// Adds one A4 page showing `lines` and returns its id.
pub(super) fn add_text_page(
    document: &mut Document,
    parent: ObjectId,
    resources: ObjectId,
    fonts: &mut Fonts,
    lines: &[TextLine],
) -> Result<ObjectId, PdfError> {
    let mut stream = Stream::new(Dictionary::new(), page_content(document, fonts, lines)?);
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
fn page_content(
    document: &mut Document,
    fonts: &mut Fonts,
    lines: &[TextLine],
) -> Result<Vec<u8>, PdfError> {
    let mut out = Vec::with_capacity(lines.iter().map(|line| 4 * line.text.len() + 48).sum());
    for line in lines.iter().filter(|line| !line.text.is_empty()) {
        out.extend_from_slice(format!("BT {} {} Td ", number(line.x), number(line.y)).as_bytes());
        out.extend_from_slice(&fonts.show(
            document,
            line.font,
            line.size,
            &line.text,
            Names::Page,
        )?);
        out.extend_from_slice(b"ET\n");
    }
    Ok(out)
}

/// A compact number for a content stream: at most two decimals, no trailing zeros.
fn number(value: f32) -> String {
    let text = format!("{value:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_show_glyph_ids_of_the_subset() {
        let mut document = Document::with_version("1.7");
        let (mut fonts, _) = Fonts::reserve(&mut document).expect("fonts");
        let line = TextLine {
            font: Font::Bold,
            size: 10.0,
            x: 56.0,
            y: 700.5,
            text: "a(b)a".to_owned(),
        };
        // .notdef is glyph 0, so the first glyph used is 1.
        assert_eq!(
            page_content(&mut document, &mut fonts, &[line]).unwrap(),
            b"BT 56 700.5 Td /F2 10 Tf <00010002000300040001> Tj ET\n"
        );
    }

    #[test]
    fn wrapping_respects_the_width() {
        let long = "word Дмитрий ".repeat(100);
        let lines = wrap(Font::Regular, &long, 10.0, 400.0);
        assert!(lines.len() > 3);
        for line in &lines {
            let width: f32 =
                line.chars().map(|c| Font::Regular.advance(c)).sum::<f32>() * 10.0 / 1000.0;
            assert!(width <= 400.0);
            assert!(!line.starts_with(' ') && !line.ends_with(' '));
        }
        let unbroken = "x".repeat(500);
        let lines = wrap(Font::Regular, &unbroken, 10.0, 400.0);
        assert_eq!(lines.concat(), unbroken);
        assert!(lines.len() > 1);
        assert_eq!(wrap(Font::Regular, "", 10.0, 400.0), vec![String::new()]);
    }
}
