//! The small text engine behind generated pages (the DOCX placeholder, the
//! audit trail and test samples): WinAnsi encoding, approximate glyph widths,
//! word wrap, pagination onto A4 and the content streams that show the text.
//!
//! We only use the standard Helvetica fonts, which every reader has, so no
//! font is embedded; the price is that text must be encoded as WinAnsi and
//! measured with built-in width tables.

use lopdf::{Dictionary, Document, Object, ObjectId, Stream, dictionary};

use super::{PdfError, add};

/// A4 width in points.
const PAGE_WIDTH: f32 = 595.0;
/// A4 height in points.
pub(super) const PAGE_HEIGHT: f32 = 842.0;
/// Margin on every side of generated pages, in points (about 20 mm).
pub(super) const MARGIN: f32 = 56.0;
/// Hanging indent of continuation and detail lines.
pub(super) const INDENT: f32 = 12.0;

/// The two fonts of generated pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Font {
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
pub(super) struct TextLine {
    pub(super) font: Font,
    pub(super) size: f32,
    pub(super) x: f32,
    pub(super) y: f32,
    pub(super) text: Vec<u8>,
}

/// One line before pagination.
#[derive(Debug, Clone)]
pub(super) struct Row {
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
pub(super) fn to_win_ansi(text: &str) -> Vec<u8> {
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

/// Helvetica and Helvetica-Bold (WinAnsiEncoding) as a shared resource dictionary.
pub(super) fn add_font_resources(document: &mut Document) -> Result<ObjectId, PdfError> {
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
pub(super) fn add_text_page(
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

/// A compact number for a content stream: at most two decimals, no trailing zeros.
fn number(value: f32) -> String {
    let text = format!("{value:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
