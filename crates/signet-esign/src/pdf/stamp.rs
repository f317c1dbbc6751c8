//! Stamping filled places onto source pages: typed signatures in the
//! handwriting face, drawn ones as vector strokes, text, names, dates and
//! check marks, each inside its box; the placeholder a place was found at
//! is first painted white so it no longer shows.
//!
//! The page's own content is wrapped in `q … Q`, so whatever state it
//! leaves behind cannot move what is stamped after it. Stamps are drawn in
//! view points (top-left origin, y down) through the page's
//! [`PageGeometry::view_to_user`] matrix; text flips y back with its text
//! matrix so glyphs stand upright.

use lopdf::{Dictionary, Document, Object, Stream};

use super::layout::{Font, Fonts, Names};
use super::{PageGeometry, PdfError, add};

/// What a filled place shows.
#[derive(Debug, Clone, PartialEq)]
pub enum Mark {
    /// One line of text; `script` for typed signatures and initials.
    Text { text: String, script: bool },
    /// Several lines of text (multiline inputs), wrapped to the box.
    Paragraph(String),
    /// A ticked checkbox.
    Check,
    /// A drawn signature: strokes of points across the box (0..1, y down).
    Drawing(Vec<Vec<[f32; 2]>>),
}

/// One mark in one box of one page of a source document.
#[derive(Debug, Clone, PartialEq)]
pub struct Stamp {
    /// 1-based page of the source document.
    pub page: u32,
    pub left: f64,
    pub top: f64,
    pub width: f64,
    pub height: f64,
    /// A rectangle to paint white first, `[left, top, width, height]`: the
    /// placeholder the place was found at.
    pub cover: Option<[f64; 4]>,
    pub mark: Mark,
}

/// The pad's proportions on the signing page (width to height).
const PAD_ASPECT: f64 = 3.0;
/// Ink of stamped marks: a dark blue, as a pen would leave.
const INK: &str = "0.106 0.165 0.29";

/// Adds the stamps of one page to `page` (a page dictionary already in
/// `out`), and the fonts they use to its resources.
pub(super) fn stamp_page(
    out: &mut Document,
    page: &mut Dictionary,
    geometry: &PageGeometry,
    stamps: &[&Stamp],
    fonts: &mut Fonts,
) -> Result<(), PdfError> {
    if stamps.is_empty() {
        return Ok(());
    }
    let mut content = Vec::with_capacity(256 * stamps.len());
    content.extend_from_slice(b"Q\nq\n");
    let [a, b, c, d, e, f] = geometry.view_to_user;
    content.extend_from_slice(
        format!("{} {} {} {} {} {} cm\n", n(a), n(b), n(c), n(d), n(e), n(f)).as_bytes(),
    );
    for stamp in stamps {
        draw(&mut content, out, stamp, fonts)?;
    }
    content.extend_from_slice(b"Q\n");

    let before = add(out, Stream::new(Dictionary::new(), b"q\n".to_vec()))?;
    let mut after = Stream::new(Dictionary::new(), content);
    let _ = after.compress();
    let after = add(out, after)?;
    let mut contents = vec![Object::Reference(before)];
    contents.extend(existing_contents(out, page));
    contents.push(Object::Reference(after));
    page.set("Contents", Object::Array(contents));
    add_fonts(out, page, fonts)
}

/// The page's content streams, as references.
fn existing_contents(out: &Document, page: &Dictionary) -> Vec<Object> {
    let resolve = |object: &Object| -> Vec<Object> {
        match object {
            Object::Array(items) => items.clone(),
            Object::Reference(_) | Object::Stream(_) => vec![object.clone()],
            _ => Vec::new(),
        }
    };
    match page.get(b"Contents") {
        Ok(Object::Reference(id)) => match out.objects.get(id) {
            // An indirect array of streams.
            Some(Object::Array(items)) => items.clone(),
            Some(_) => vec![Object::Reference(*id)],
            None => Vec::new(),
        },
        Ok(other) => resolve(other),
        Err(_) => Vec::new(),
    }
}

/// Gives the page its own resource dictionary with Signet's fonts added
/// under names of their own.
fn add_fonts(out: &mut Document, page: &mut Dictionary, fonts: &Fonts) -> Result<(), PdfError> {
    let deref = |object: Option<&Object>| -> Dictionary {
        match object {
            Some(Object::Dictionary(d)) => d.clone(),
            Some(Object::Reference(id)) => out
                .objects
                .get(id)
                .and_then(|o| o.as_dict().ok())
                .cloned()
                .unwrap_or_default(),
            _ => Dictionary::new(),
        }
    };
    let mut resources = deref(page.get(b"Resources").ok());
    let mut font_dict = deref(resources.get(b"Font").ok());
    for font in Font::ALL {
        font_dict.set(font.stamp_resource(), fonts.id(font));
    }
    for (name, id) in fonts.stamp_extras() {
        font_dict.set(name, id);
    }
    resources.set("Font", font_dict);
    page.set("Resources", resources);
    Ok(())
}

fn draw(
    out: &mut Vec<u8>,
    document: &mut Document,
    stamp: &Stamp,
    fonts: &mut Fonts,
) -> Result<(), PdfError> {
    let (x, y, w, h) = (stamp.left, stamp.top, stamp.width, stamp.height);
    if let Some([cx, cy, cw, ch]) = stamp.cover {
        // A hair larger, so anti-aliased edges of the placeholder do not show.
        let grow = 0.5;
        out.extend_from_slice(
            format!(
                "1 g {} {} {} {} re f\n",
                n(cx - grow),
                n(cy - grow),
                n(cw + 2.0 * grow),
                n(ch + 2.0 * grow)
            )
            .as_bytes(),
        );
    }
    match &stamp.mark {
        Mark::Text { text, script } => {
            let font = if *script { Font::Script } else { Font::Regular };
            let text = super::fonts::printable(text);
            let units: f64 = text
                .chars()
                .map(|ch| f64::from(font.advance(ch)))
                .sum::<f64>()
                / 1000.0;
            // The whole line, ascender to descender, fits in the box: that is
            // the box a reader gives the text, too.
            let (ascent, descent) = font.vertical_metrics();
            let (ascent, descent) = (f64::from(ascent) / 1000.0, f64::from(descent) / 1000.0);
            let line = (ascent - descent).max(0.5);
            let fill = if *script { 0.95 } else { 0.8 };
            let size = (h * fill / line)
                .min(if units > 0.0 { (w - 4.0) / units } else { h })
                .clamp(2.0, 48.0);
            let baseline = y + (h - line * size) / 2.0 + ascent * size;
            text_line(out, document, fonts, font, size, (x + 2.0, baseline), &text)?;
        }
        Mark::Paragraph(text) => {
            let size = (h / 3.5).clamp(4.0, 10.0);
            let lines = super::layout::wrap(
                Font::Regular,
                &text.replace(['\r', '\t'], " "),
                size as f32,
                (w - 4.0) as f32,
            );
            let leading = size * 1.2;
            for (i, line) in lines.iter().enumerate() {
                let baseline = y + 2.0 + size + leading * i as f64;
                if baseline > y + h {
                    break;
                }
                text_line(
                    out,
                    document,
                    fonts,
                    Font::Regular,
                    size,
                    (x + 2.0, baseline),
                    line,
                )?;
            }
        }
        Mark::Check => {
            let side = w.min(h);
            let size = side * 0.9;
            let at = (x + (side - size * 0.8) / 2.0, y + (h + size * 0.7) / 2.0);
            text_line(out, document, fonts, Font::Bold, size, at, "\u{2713}")?;
        }
        Mark::Drawing(strokes) => {
            // The pad's proportions, fitted and centred in the box.
            let scale = (w / PAD_ASPECT).min(h);
            let (dw, dh) = (scale * PAD_ASPECT, scale);
            let (ox, oy) = (x + (w - dw) / 2.0, y + (h - dh) / 2.0);
            let width = (dh / 40.0).clamp(0.6, 2.5);
            out.extend_from_slice(format!("{INK} RG {} w 1 J 1 j\n", n(width)).as_bytes());
            for stroke in strokes {
                for (i, [px, py]) in stroke.iter().enumerate() {
                    let (px, py) = (ox + f64::from(*px) * dw, oy + f64::from(*py) * dh);
                    out.extend_from_slice(
                        format!("{} {} {}\n", n(px), n(py), if i == 0 { "m" } else { "l" })
                            .as_bytes(),
                    );
                }
                if stroke.len() == 1 {
                    // A dot: a tiny segment, which the round cap makes round.
                    if let Some([px, py]) = stroke.first() {
                        let (px, py) = (ox + f64::from(*px) * dw, oy + f64::from(*py) * dh);
                        out.extend_from_slice(format!("{} {} l\n", n(px + 0.01), n(py)).as_bytes());
                    }
                }
                out.extend_from_slice(b"S\n");
            }
        }
    }
    Ok(())
}

/// One line at `(x, baseline)` in view points, upright.
fn text_line(
    out: &mut Vec<u8>,
    document: &mut Document,
    fonts: &mut Fonts,
    font: Font,
    size: f64,
    (x, baseline): (f64, f64),
    text: &str,
) -> Result<(), PdfError> {
    out.extend_from_slice(format!("BT {INK} rg 1 0 0 -1 {} {} Tm ", n(x), n(baseline)).as_bytes());
    out.extend_from_slice(&fonts.show(document, font, size as f32, text, Names::Stamp)?);
    out.extend_from_slice(b"ET\n");
    Ok(())
}

/// A compact number for a content stream.
fn n(value: f64) -> String {
    let text = format!("{value:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".to_owned()
    } else {
        text.to_owned()
    }
}
