//! Pages as a person sees them, read with the hayro rasterizer: each page's
//! displayed size and how to draw on it ([`geometry`]), where a string is
//! shown ([`find_text`]), and a picture of a page ([`render_png`]).
//!
//! Every coordinate here is in *view points*: PDF points (1/72 in) from the
//! top-left corner of the page as displayed (after its CropBox and /Rotate),
//! x to the right, y downwards: what a person sees, and what API users give as
//! `fixed_positions`. hayro's `Page::initial_transform(true)` maps a page's
//! user space to exactly that space (it removes the crop box offset, flips y
//! and applies the rotation, the same transform its renderer starts from), so
//! text positions are read through it and [`PageGeometry::view_to_user`] is
//! its inverse.
//!
//! The bytes are untrusted: hayro runs behind
//! [`std::panic::catch_unwind`], like lopdf in `inspect.rs`; pages too large
//! to picture, or that draw too much (nested forms can multiply a few bytes
//! into billions of operations), are refused rather than worked on for hours.
//! hayro's values are not `Send` (its caches use `Rc`), so everything is done
//! within one call; async callers run these functions on a blocking thread.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use hayro::hayro_interpret::font::{Glyph, GlyphRun, PositionedGlyph};
use hayro::hayro_interpret::hayro_cmap::{BfString, WritingMode};
use hayro::hayro_interpret::{
    BlendMode, ClipPath, Context, Device, DrawMode, DrawProps, Image, ImageDrawProps,
    InterpreterCache, InterpreterSettings, RenderContent, SoftMask, interpret_page,
};
use hayro::hayro_syntax::page::Page;
use hayro::hayro_syntax::{LoadPdfError, Pdf};
use hayro::kurbo::{Affine, BezPath, Point, Rect, Vec2};
use hayro::vello_cpu::color::palette::css::WHITE;
use hayro::{PixmapSettings, RenderCache, RenderSettings};

use super::PdfError;
use super::inspect::header_offset;

/// Most pixels [`render_png`] draws for one page (about 160 MB of RGBA).
const MAX_PIXELS: f64 = 40_000_000.0;
/// Most drawing operations (glyphs, paths, images, clips, groups) one page
/// may make, counting those inside forms and, before rendering, inside Type 3
/// glyphs: a few hundred bytes of forms that each draw the previous one twice
/// ask for billions, and hayro cannot be stopped midway otherwise. Also
/// bounds the glyphs [`find_text`] keeps in memory.
const MAX_PAGE_OPERATIONS: u64 = 1_000_000;
/// Most drawing operations [`find_text`] spends on all pages together.
const MAX_DOCUMENT_OPERATIONS: u64 = 10_000_000;
/// Ascent and descent, in em, of fonts whose program tells nothing better
/// (the standard fonts hayro substitutes, bare CFF and Type 3 fonts).
const FALLBACK_ASCENT: f64 = 0.85;
const FALLBACK_DESCENT: f64 = -0.25;
/// How far, in em, a glyph's origin may sit above or below the previous
/// glyph's baseline and still continue the same line of text.
const BASELINE_TOLERANCE: f64 = 0.2;
/// Longest text, in bytes, one glyph may stand for (a ligature is a few
/// characters); a glyph mapped to more (a broken or hostile ToUnicode map)
/// counts as having none, which keeps [`find_text`]'s memory bounded.
const MAX_GLYPH_TEXT: usize = 32;
/// How far, in em, a glyph may start before the end of the previous one (a
/// negative kerning) and still continue it; further back is another line.
const BACKTRACK_TOLERANCE: f64 = 0.5;

/// One page as displayed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PageGeometry {
    /// Displayed width in points (after CropBox and /Rotate).
    pub width: f64,
    /// Displayed height in points (after CropBox and /Rotate).
    pub height: f64,
    /// Affine `[a b c d e f]` (PDF matrix order: `x' = a·x + c·y + e`,
    /// `y' = b·x + d·y + f`) mapping view points to the page's PDF user space,
    /// the space its content stream starts drawing in.
    ///
    /// Content appended to the page's content stream (after restoring the
    /// graphics state, e.g. wrapping the original in `q … Q`) that starts with
    /// `a b c d e f cm` draws in view points. View space has y pointing down,
    /// so upright text drawn there needs a y-flip of its own, e.g. a text
    /// matrix `1 0 0 -1 left baseline Tm`; a rectangle `left top width
    /// height re` needs none (it then extends downwards from `top`).
    pub view_to_user: [f64; 6],
}

/// One occurrence of a searched string, in view points.
#[derive(Debug, Clone, PartialEq)]
pub struct TextHit {
    /// Index of the needle in the `needles` given to [`find_text`].
    pub needle: usize,
    /// Page number, 1-based.
    pub page: u32,
    /// Left edge of the box.
    pub left: f64,
    /// Top edge of the box.
    pub top: f64,
    /// Width of the box.
    pub width: f64,
    /// Height of the box.
    pub height: f64,
}

/// The displayed size of every page, in order, with the matrix that turns
/// view points into the page's user space.
pub fn geometry(bytes: &[u8]) -> Result<Vec<PageGeometry>, PdfError> {
    guarded("the PDF is too complex to read", || {
        let pdf = open(bytes)?;
        Ok(pdf.pages().iter().map(page_geometry).collect())
    })
}

/// Every occurrence of every needle (e.g. `"[[sig_a]]"`) in the text the
/// pages show, sorted by page, top and left.
///
/// The glyphs of a page are taken in the order they are drawn, with the
/// Unicode text their font maps them to; a needle matches consecutive glyphs,
/// across any number of text-showing operators, as long as they stay on one
/// baseline. A glyph with no Unicode mapping (or in vertical writing) breaks a
/// match, and nothing is skipped: a space between glyphs is either a space
/// glyph or just a gap. Text in annotations (form fields, comments) is not
/// part of the page's content and is not searched; invisible text (such as an
/// OCR layer) is.
///
/// The box of an occurrence spans its glyphs from the first one's origin to
/// the end of the last one's advance, and from the font's descent to its
/// ascent (the font program's, or -0.25 to 0.85 em when it tells nothing).
///
/// A document that draws too much to search in reasonable time (over a
/// million glyphs, paths and the like on a page, ten million in all) is
/// refused.
pub fn find_text(bytes: &[u8], needles: &[&str]) -> Result<Vec<TextHit>, PdfError> {
    guarded("the PDF is too complex to search", || {
        let pdf = open(bytes)?;
        if needles.iter().all(|needle| needle.is_empty()) {
            return Ok(Vec::new());
        }
        let settings = InterpreterSettings {
            render_content: RenderContent::PAGE,
            ..InterpreterSettings::default()
        };
        let cache = InterpreterCache::new();
        let mut collector = GlyphCollector::new(true);
        let mut hits = Vec::new();
        let mut left = MAX_DOCUMENT_OPERATIONS;
        for (number, page) in (1..).zip(pdf.pages().iter()) {
            let granted = left.min(MAX_PAGE_OPERATIONS);
            collector.start_page(granted);
            interpret(page, &cache, &settings, &mut collector);
            left -= granted - collector.budget;
            for line in collector.glyphs.chunk_by(continues) {
                search_line(line, needles, number, &mut hits);
            }
        }
        hits.sort_by(|a, b| {
            a.page
                .cmp(&b.page)
                .then(a.top.total_cmp(&b.top))
                .then(a.left.total_cmp(&b.left))
        });
        Ok(hits)
    })
}

/// One page (1-based) rendered to PNG at `scale` pixels per point (e.g.
/// 1.5), on a white background, annotations included.
///
/// Refused: a page whose picture would exceed 40 megapixels, and one that
/// draws more than a million glyphs, paths and the like (counted in a first
/// pass over the page, as the renderer cannot be stopped midway).
pub fn render_png(bytes: &[u8], page: u32, scale: f32) -> Result<Vec<u8>, PdfError> {
    if !(scale.is_finite() && scale > 0.0) {
        return Err(PdfError::Unreadable(
            "the scale must be a positive number".to_owned(),
        ));
    }
    guarded("the page is too complex to show", || {
        let pdf = open(bytes)?;
        let shown = page
            .checked_sub(1)
            .and_then(|index| pdf.pages().get(usize::try_from(index).ok()?))
            .ok_or_else(|| PdfError::Unreadable(format!("the PDF has no page {page}")))?;
        let (width, height) = shown.render_dimensions();
        // hayro sizes the pixmap as `(points * scale) as u16`.
        let (columns, rows) = ((width * scale).floor(), (height * scale).floor());
        let fits = |pixels: f32| pixels <= f32::from(u16::MAX);
        if !(fits(columns) && fits(rows) && f64::from(columns) * f64::from(rows) <= MAX_PIXELS) {
            return Err(PdfError::Unreadable(
                "the page is too large to show".to_owned(),
            ));
        }
        if !(columns >= 1.0 && rows >= 1.0) {
            return Err(PdfError::Unreadable(
                "the page is too small to show".to_owned(),
            ));
        }
        let settings = InterpreterSettings::default();
        let mut counter = GlyphCollector::new(false);
        counter.start_page(MAX_PAGE_OPERATIONS);
        interpret(shown, &InterpreterCache::new(), &settings, &mut counter);
        let pixmap = hayro::render(
            shown,
            &RenderCache::new(),
            &settings,
            &RenderSettings::default(),
            &PixmapSettings {
                x_scale: scale,
                y_scale: scale,
                bg_color: WHITE,
            },
        );
        pixmap.into_png().map_err(|error| {
            PdfError::Unreadable(format!("the page could not be encoded: {error}"))
        })
    })
}

/// Runs `work`, turning a panic inside hayro into [`PdfError::Unreadable`],
/// and a [`GlyphCollector`] out of budget into `Unreadable(too_complex)`.
fn guarded<T>(
    too_complex: &str,
    work: impl FnOnce() -> Result<T, PdfError>,
) -> Result<T, PdfError> {
    catch_unwind(AssertUnwindSafe(work)).unwrap_or_else(|payload| {
        Err(PdfError::Unreadable(if payload.is::<OverBudget>() {
            too_complex.to_owned()
        } else {
            "the file is malformed".to_owned()
        }))
    })
}

/// What a [`GlyphCollector`] unwinds with when its budget runs out: hayro
/// offers no way to stop interpreting a page, so the collector unwinds out of
/// it (with [`resume_unwind`], which skips the panic hook) to [`guarded`].
struct OverBudget;

/// Interprets `page` into `collector`, in view points.
fn interpret<'a>(
    page: &Page<'a>,
    cache: &InterpreterCache<'a>,
    settings: &InterpreterSettings,
    collector: &mut GlyphCollector,
) {
    let (width, height) = page.render_dimensions();
    let mut context = Context::new(
        user_to_view(page),
        Rect::new(0.0, 0.0, f64::from(width), f64::from(height)),
        cache,
        page.xref(),
        settings.clone(),
    );
    interpret_page(page, &mut context, collector);
}

/// Parses `bytes` with hayro. As in `inspect.rs`, the header may follow some
/// junk, and the file is read from the header on (xref offsets count from it).
/// A PDF that needs a password is [`PdfError::Encrypted`]; one encrypted with
/// the empty user password opens, as in any viewer (uploads refuse both).
fn open(bytes: &[u8]) -> Result<Pdf, PdfError> {
    let start = header_offset(bytes).ok_or(PdfError::NotPdf)?;
    let body = bytes.get(start..).unwrap_or_default().to_vec();
    Pdf::new(body).map_err(|error| match error {
        LoadPdfError::Decryption(_) => PdfError::Encrypted,
        LoadPdfError::Invalid => PdfError::Unreadable("the file is malformed".to_owned()),
    })
}

/// The transform from `page`'s user space to view points.
fn user_to_view(page: &Page<'_>) -> Affine {
    Affine::new(page.initial_transform(true).as_coeffs())
}

fn page_geometry(page: &Page<'_>) -> PageGeometry {
    let (width, height) = page.render_dimensions();
    PageGeometry {
        width: f64::from(width),
        height: f64::from(height),
        // Crop box offset, y-flip and quarter turns: always invertible.
        view_to_user: user_to_view(page).inverse().as_coeffs(),
    }
}

/// One drawn glyph, in view points.
#[derive(Debug)]
struct PlacedGlyph {
    /// The Unicode text the glyph stands for; `None` breaks a match.
    text: Option<String>,
    /// Where the glyph's baseline starts.
    origin: Point,
    /// From the origin to where the glyph's advance ends.
    advance: Vec2,
    /// One em "up" in the glyph's own space: its length is the font size.
    em: Vec2,
    /// Ascent and descent of the font, in em (descent negative).
    ascent: f64,
    descent: f64,
}

impl PlacedGlyph {
    /// The corners of the glyph's box: origin and advance end, at descent
    /// and at ascent.
    fn corners(&self) -> [Point; 4] {
        let low = self.origin + self.em * self.descent;
        let high = self.origin + self.em * self.ascent;
        [low, high, low + self.advance, high + self.advance]
    }
}

/// Whether `next` continues the line of text of `previous`: both have text,
/// run in the same direction, and `next` starts on `previous`'s baseline, not
/// far before its end.
fn continues(previous: &PlacedGlyph, next: &PlacedGlyph) -> bool {
    if previous.text.is_none() || next.text.is_none() {
        return false;
    }
    let size = previous.em.hypot();
    let next_size = next.em.hypot();
    if !(size > f64::EPSILON && next_size > f64::EPSILON) {
        return false;
    }
    let up = previous.em / size;
    // The baseline direction: the advance's, or (for a glyph without one)
    // "up" turned a quarter clockwise, as y points down.
    let advance = previous.advance.hypot();
    let forward = if advance > f64::EPSILON {
        previous.advance / advance
    } else {
        Vec2::new(-up.y, up.x)
    };
    if up.dot(next.em / next_size) < 0.99 {
        return false;
    }
    let offset = next.origin - previous.origin;
    let from_end = next.origin - (previous.origin + previous.advance);
    offset.dot(up).abs() <= BASELINE_TOLERANCE * size
        && from_end.dot(forward) >= -BACKTRACK_TOLERANCE * size
}

/// Finds every needle in one line of consecutive glyphs.
fn search_line(line: &[PlacedGlyph], needles: &[&str], page: u32, hits: &mut Vec<TextHit>) {
    if line.first().is_none_or(|glyph| glyph.text.is_none()) {
        return;
    }
    let mut text = String::new();
    let mut starts = Vec::with_capacity(line.len());
    for glyph in line {
        starts.push(text.len());
        text.push_str(glyph.text.as_deref().unwrap_or_default());
    }
    for (index, needle) in needles.iter().enumerate() {
        if needle.is_empty() {
            continue;
        }
        for (offset, found) in text.match_indices(needle) {
            // The glyphs holding the first and the last byte of the match.
            let first = starts.partition_point(|&start| start <= offset);
            let last = starts.partition_point(|&start| start < offset + found.len());
            let Some(glyphs) = line.get(first.saturating_sub(1)..last) else {
                continue;
            };
            if let Some(bounds) = bounding_box(glyphs) {
                hits.push(TextHit {
                    needle: index,
                    page,
                    left: bounds.x0,
                    top: bounds.y0,
                    width: bounds.width(),
                    height: bounds.height(),
                });
            }
        }
    }
}

fn bounding_box(glyphs: &[PlacedGlyph]) -> Option<Rect> {
    glyphs
        .iter()
        .flat_map(PlacedGlyph::corners)
        .map(|corner| Rect::from_points(corner, corner))
        .reduce(|a, b| a.union(b))
}

/// `transform` applied to a vector (a distance, not a position).
fn linear(transform: Affine, vector: Vec2) -> Vec2 {
    let [a, b, c, d, _, _] = transform.as_coeffs();
    Vec2::new(a * vector.x + c * vector.y, b * vector.x + d * vector.y)
}

/// A hayro device that keeps the glyphs a page draws and ignores the rest,
/// or (before rendering) just counts what the page draws.
struct GlyphCollector {
    /// Whether glyphs are kept (searching) or only counted (before rendering,
    /// which also runs the programs of Type 3 glyphs, so they count too).
    keep_glyphs: bool,
    /// Operations the page may still draw.
    budget: u64,
    glyphs: Vec<PlacedGlyph>,
    /// What identifies the last glyph run, to drop the second drawing of text
    /// both filled and stroked (text render modes 2 and 6 draw a run twice).
    last_run: Option<RunKey>,
    /// Ascent and descent by font program, read once per font.
    metrics: HashMap<u128, (f64, f64)>,
}

/// The position of a glyph run: its transform and its first and last glyphs'.
#[derive(PartialEq)]
struct RunKey([f64; 6], usize, [f64; 6], [f64; 6]);

impl RunKey {
    fn of(run: &GlyphRun<'_, '_>, transform: Affine) -> Self {
        let glyphs = run.glyphs();
        let position = |glyph: Option<&PositionedGlyph<'_>>| {
            glyph.map_or([0.0; 6], |glyph| glyph.transform().as_coeffs())
        };
        Self(
            transform.as_coeffs(),
            glyphs.len(),
            position(glyphs.first()),
            position(glyphs.last()),
        )
    }
}

impl GlyphCollector {
    fn new(keep_glyphs: bool) -> Self {
        Self {
            keep_glyphs,
            budget: 0,
            glyphs: Vec::new(),
            last_run: None,
            metrics: HashMap::new(),
        }
    }

    /// Forgets the previous page's glyphs; the next may draw `budget` operations.
    fn start_page(&mut self, budget: u64) {
        self.budget = budget;
        self.glyphs.clear();
        self.last_run = None;
    }

    /// Counts one operation, unwinding with [`OverBudget`] past the budget.
    fn spend(&mut self) {
        match self.budget.checked_sub(1) {
            Some(left) => self.budget = left,
            None => resume_unwind(Box::new(OverBudget)),
        }
    }

    /// The font's ascent and descent in em, from its program's metrics when
    /// it is a TrueType/OpenType font with sane ones.
    fn font_metrics(&mut self, glyph: &Glyph<'_>) -> (f64, f64) {
        let fallback = (FALLBACK_ASCENT, FALLBACK_DESCENT);
        let Glyph::Outline(outline) = glyph else {
            return fallback;
        };
        let Some(font) = outline.font_data() else {
            return fallback;
        };
        *self.metrics.entry(font.cache_key).or_insert_with(|| {
            let Ok(face) = ttf_parser::Face::parse((*font.data).as_ref(), 0) else {
                return fallback;
            };
            let units = f64::from(face.units_per_em());
            let ascent = f64::from(face.ascender()) / units;
            let descent = f64::from(face.descender()) / units;
            (
                if (0.3..=1.5).contains(&ascent) {
                    ascent
                } else {
                    FALLBACK_ASCENT
                },
                if (-0.6..=0.0).contains(&descent) {
                    descent
                } else {
                    FALLBACK_DESCENT
                },
            )
        })
    }
}

impl<'a> Device<'a> for GlyphCollector {
    fn draw_glyph_run(&mut self, run: &GlyphRun<'_, 'a>, props: DrawProps<'a>, _: &DrawMode) {
        if !self.keep_glyphs {
            for glyph in run.glyphs() {
                self.spend();
                if let Glyph::Type3(type3) = &**glyph {
                    type3.interpret(self, props.transform, glyph.transform(), &props.paint);
                }
            }
            return;
        }
        let key = RunKey::of(run, props.transform);
        if self.last_run.as_ref() == Some(&key) {
            return;
        }
        self.last_run = Some(key);
        let horizontal = matches!(run.writing_mode(), WritingMode::Horizontal);
        for glyph in run.glyphs() {
            self.spend();
            // Glyph space (1000 units per em) to view points.
            let transform = props.transform * glyph.transform();
            let advance = match &**glyph {
                Glyph::Outline(outline) => outline.advance_width(),
                Glyph::Type3(type3) => type3.advance_width(),
            };
            let (ascent, descent) = self.font_metrics(glyph);
            let text = glyph
                .as_unicode()
                .filter(|_| horizontal)
                .map(|text| match text {
                    BfString::Char(c) => c.to_string(),
                    BfString::String(s) => s,
                })
                .filter(|text| text.len() <= MAX_GLYPH_TEXT);
            self.glyphs.push(PlacedGlyph {
                text,
                origin: transform * Point::ORIGIN,
                advance: linear(transform, Vec2::new(f64::from(advance.unwrap_or(0.0)), 0.0)),
                em: linear(transform, Vec2::new(0.0, 1000.0)),
                ascent,
                descent,
            });
        }
    }

    fn draw_path(&mut self, _: &BezPath, _: DrawProps<'a>, _: &DrawMode) {
        self.spend();
    }

    fn push_clip_path(&mut self, _: &ClipPath) {
        self.spend();
    }

    fn push_transparency_group(&mut self, _: f32, _: Option<SoftMask<'a>>, _: BlendMode) {
        self.spend();
    }

    fn draw_image(&mut self, _: Image<'a, '_>, _: ImageDrawProps<'a>) {
        self.spend();
    }

    fn pop_clip(&mut self) {}

    fn pop_transparency_group(&mut self) {}
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::process::{Command, Stdio};
    use std::time::Instant;

    use lopdf::{Document, Object, Stream, dictionary};

    use super::*;
    use crate::pdf::layout::Font;
    use crate::pdf::sample;

    /// Tolerance, in points, for boxes computed by hand.
    const CLOSE: f64 = 1.0;

    fn close(actual: f64, expected: f64, what: &str) {
        assert!(
            (actual - expected).abs() <= CLOSE,
            "{what}: {actual} is not {expected}"
        );
    }

    /// Helvetica's advance widths (its AFM) for the characters the tests show,
    /// in points at `size`.
    fn helvetica(text: &str, size: f64) -> f64 {
        let units: u32 = text
            .chars()
            .map(|c| match c {
                '[' | ']' | ' ' | 'f' => 278,
                'i' => 222,
                'r' => 333,
                's' | 'c' | 'x' => 500,
                'a' | 'b' | 'd' | 'e' | 'g' | 'k' | 't' | 'u' | '_' => 556,
                other => panic!("no width for {other:?}"),
            })
            .sum();
        f64::from(units) * size / 1000.0
    }

    struct TestPage {
        media: [i64; 4],
        crop: Option<[i64; 4]>,
        rotate: i64,
        content: &'static str,
    }

    /// A PDF whose pages draw with the non-embedded standard Helvetica
    /// (WinAnsi) as `/F1`, and as `/F2` with code 1 renamed to a glyph name
    /// that has no Unicode value.
    fn helvetica_pdf(pages: &[TestPage]) -> Vec<u8> {
        let mut document = Document::with_version("1.7");
        let pages_id = document.try_new_object_id().unwrap();
        let font = dictionary! {
            "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
            "Encoding" => "WinAnsiEncoding",
        };
        let unmapped = dictionary! {
            "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
            "Encoding" => dictionary! {
                "Type" => "Encoding", "BaseEncoding" => "WinAnsiEncoding",
                "Differences" => vec![Object::Integer(1), Object::Name(b"zzunknown".to_vec())],
            },
        };
        let resources = document
            .try_add_object(dictionary! {
                "Font" => dictionary! { "F1" => font, "F2" => unmapped },
            })
            .unwrap();
        let mut kids = Vec::new();
        for page in pages {
            let content = document
                .try_add_object(Stream::new(
                    dictionary! {},
                    page.content.as_bytes().to_vec(),
                ))
                .unwrap();
            let mut dict = dictionary! {
                "Type" => "Page",
                "Parent" => pages_id,
                "MediaBox" => page.media.map(Object::Integer).to_vec(),
                "Resources" => resources,
                "Contents" => content,
                "Rotate" => page.rotate,
            };
            if let Some(crop) = page.crop {
                dict.set("CropBox", crop.map(Object::Integer).to_vec());
            }
            kids.push(Object::Reference(document.try_add_object(dict).unwrap()));
        }
        let count = kids.len() as i64;
        document.objects.insert(
            pages_id,
            Object::Dictionary(dictionary! { "Type" => "Pages", "Kids" => kids, "Count" => count }),
        );
        let catalog = document
            .try_add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id })
            .unwrap();
        document.trailer.set("Root", catalog);
        let mut bytes = Vec::new();
        document.save_to(&mut bytes).unwrap();
        bytes
    }

    const LETTER: [i64; 4] = [0, 0, 612, 792];
    const CROP: [i64; 4] = [50, 100, 562, 742];

    /// Needles spread over text runs in the ways real documents split them.
    const SPLIT_TEXT: &str = r"
BT /F1 12 Tf 100 700 Td [([[si) 120 (g_a]]) -250 (after)] TJ ET
BT /F1 12 Tf 100 650 Td ([[sig) Tj (_b]]) Tj ET
BT /F1 12 Tf 100 600 Td ([[sig_c]] [[sig_c]]) Tj ET
q 2 0 0 2 0 0 cm BT /F1 6 Tf 50 275 Td ([[sig_d]]) Tj ET Q
BT /F1 12 Tf 100 500 Td ([[sig) Tj ET BT /F1 12 Tf 100 480 Td (_e]]) Tj ET
BT /F1 12 Tf 100 450 Td ([[x) Tj /F2 12 Tf (\001) Tj /F1 12 Tf (]]) Tj ET
BT /F1 12 Tf 300 450 Td ([[x]]) Tj ET
q BT 2 Tr /F1 12 Tf 100 400 Td ([[sig_f]]) Tj ET Q
";

    /// Page 1: split text; 2: rotated; 3: cropped; 4: cropped and rotated the
    /// other way. Pages 2-4 show `[[sig_k]]` at (100, 700) in user space.
    fn test_pages() -> Vec<u8> {
        let shown = "BT /F1 12 Tf 100 700 Td ([[sig_k]]) Tj ET";
        helvetica_pdf(&[
            TestPage {
                media: LETTER,
                crop: None,
                rotate: 0,
                content: SPLIT_TEXT,
            },
            TestPage {
                media: LETTER,
                crop: None,
                rotate: 90,
                content: shown,
            },
            TestPage {
                media: LETTER,
                crop: Some(CROP),
                rotate: 0,
                content: shown,
            },
            TestPage {
                media: LETTER,
                crop: Some(CROP),
                rotate: -90,
                content: shown,
            },
        ])
    }

    const NEEDLES: [&str; 8] = [
        "[[sig_a]]",
        "[[sig_b]]",
        "[[sig_c]]",
        "[[sig_d]]",
        "[[sig_e]]",
        "[[x]]",
        "[[sig_f]]",
        "[[sig_k]]",
    ];

    /// Applies a PDF matrix `[a b c d e f]` to a point.
    fn apply(m: [f64; 6], (x, y): (f64, f64)) -> (f64, f64) {
        (m[0] * x + m[2] * y + m[4], m[1] * x + m[3] * y + m[5])
    }

    #[test]
    fn geometry_of_cropped_and_rotated_pages() {
        let pages = geometry(&test_pages()).unwrap();
        let sizes: Vec<(f64, f64)> = pages.iter().map(|p| (p.width, p.height)).collect();
        assert_eq!(
            sizes,
            [
                (612.0, 792.0),
                (792.0, 612.0),
                (512.0, 642.0),
                (642.0, 512.0)
            ]
        );
        // The view's top-left corner is the (cropped) page's top-left corner
        // as displayed: for /Rotate 90 the user space's bottom-left one.
        let corners: Vec<(f64, f64)> = pages
            .iter()
            .map(|p| apply(p.view_to_user, (0.0, 0.0)))
            .collect();
        assert_eq!(
            corners,
            [(0.0, 792.0), (0.0, 0.0), (50.0, 742.0), (562.0, 742.0)]
        );
        let a4 = geometry(&sample(2, "Geometry")).unwrap();
        assert_eq!(a4.len(), 2);
        assert_eq!((a4[1].width, a4[1].height), (595.0, 842.0));
        assert_eq!(a4[0].view_to_user, [1.0, 0.0, 0.0, -1.0, 0.0, 842.0]);
    }

    #[test]
    fn finds_text_split_across_runs() {
        let hits = find_text(&test_pages(), &NEEDLES).unwrap();
        let page_one: Vec<&TextHit> = hits.iter().filter(|hit| hit.page == 1).collect();
        let found: Vec<usize> = page_one.iter().map(|hit| hit.needle).collect();
        // Sorted by top, then left; sig_e's halves are on two lines, and the
        // glyph without Unicode breaks the first [[x]].
        assert_eq!(found, [0, 1, 2, 2, 3, 5, 6], "{page_one:#?}");

        let expect = |hit: &TextHit, left: f64, baseline: f64, width: f64| {
            close(hit.left, left, "left");
            close(hit.width, width, "width");
            // Helvetica is not embedded: the fallback ascent and descent.
            close(hit.top, baseline - 12.0 * FALLBACK_ASCENT, "top");
            close(
                hit.height,
                12.0 * (FALLBACK_ASCENT - FALLBACK_DESCENT),
                "height",
            );
        };
        let sig = |label: &str| helvetica(&format!("[[sig_{label}]]"), 12.0);
        // The TJ kerning of 120/1000 em pulls "g_a]]" left.
        expect(page_one[0], 100.0, 92.0, sig("a") - 1.44);
        expect(page_one[1], 100.0, 142.0, sig("b"));
        expect(page_one[2], 100.0, 192.0, sig("c"));
        expect(
            page_one[3],
            100.0 + helvetica("[[sig_c]] ", 12.0),
            192.0,
            sig("c"),
        );
        // Drawn at 6pt under a CTM that doubles it.
        expect(page_one[4], 100.0, 242.0, sig("d"));
        expect(page_one[5], 300.0, 342.0, helvetica("[[x]]", 12.0));
        // Filled and stroked (2 Tr): drawn twice, found once.
        expect(page_one[6], 100.0, 392.0, sig("f"));

        let others: Vec<&TextHit> = hits.iter().filter(|hit| hit.page != 1).collect();
        assert_eq!(others.len(), 3, "{others:#?}");
        let width = sig("k");
        let (ascent, descent) = (12.0 * FALLBACK_ASCENT, -12.0 * FALLBACK_DESCENT);
        // /Rotate 90: the text runs down the page, its glyphs' tops to the right.
        let rotated = others[0];
        assert_eq!((rotated.page, rotated.needle), (2, 7));
        close(rotated.left, 700.0 - descent, "left");
        close(rotated.width, ascent + descent, "width");
        close(rotated.top, 100.0, "top");
        close(rotated.height, width, "height");
        // CropBox [50 100 562 742]: (100, 700) is 50 from the left, 42 from the top.
        let cropped = others[1];
        assert_eq!(cropped.page, 3);
        close(cropped.left, 50.0, "left");
        close(cropped.top, 42.0 - ascent, "top");
        close(cropped.width, width, "width");
        // Cropped and /Rotate -90 (= 270): the text runs up the page.
        let turned = others[2];
        assert_eq!(turned.page, 4);
        close(turned.left, 42.0 - ascent, "left");
        close(turned.top, 462.0 - width, "top");
        close(turned.height, width, "height");

        // view_to_user takes each box's baseline start back to where the
        // content stream drew the text.
        let pages = geometry(&test_pages()).unwrap();
        let starts = [
            (
                1,
                (page_one[0].left, page_one[0].top + ascent),
                (100.0, 700.0),
            ),
            (
                1,
                (page_one[4].left, page_one[4].top + ascent),
                (100.0, 550.0),
            ),
            (2, (rotated.left + descent, rotated.top), (100.0, 700.0)),
            (3, (cropped.left, cropped.top + ascent), (100.0, 700.0)),
            (
                4,
                (turned.left + ascent, turned.top + turned.height),
                (100.0, 700.0),
            ),
        ];
        for (page, view, user) in starts {
            let (x, y) = apply(pages[page - 1].view_to_user, view);
            close(x, user.0, "user x");
            close(y, user.1, "user y");
        }
    }

    #[test]
    fn finds_text_in_generated_pages() {
        let pdf = sample(3, "Contract");
        let hits = find_text(&pdf, &["page", "Contract", "Contract page 2", "absent", ""]).unwrap();
        let found: Vec<(u32, usize)> = hits.iter().map(|hit| (hit.page, hit.needle)).collect();
        assert_eq!(
            found,
            [(1, 1), (1, 0), (2, 1), (2, 2), (2, 0), (3, 1), (3, 0)]
        );
        let advance = |text: &str| {
            text.chars()
                .map(|c| f64::from(Font::Regular.advance(c)))
                .sum::<f64>()
                * 24.0
                / 1000.0
        };
        for hit in &hits {
            let (left, width) = match hit.needle {
                0 => (72.0 + advance("Contract "), advance("page")),
                1 => (72.0, advance("Contract")),
                _ => (72.0, advance("Contract page 2")),
            };
            close(hit.left, left, "left");
            close(hit.width, width, "width");
            // Baseline 120 from the top, between the embedded font's descent
            // and ascent.
            assert!(hit.top < 120.0 - 0.7 * 24.0, "{hit:?}");
            assert!(
                (120.0..120.0 + 0.3 * 24.0).contains(&(hit.top + hit.height)),
                "{hit:?}"
            );
        }
    }

    /// Word boxes from poppler's `pdftotext -bbox`: page (1-based), word,
    /// `[xMin, yMin, xMax, yMax]` in the same view points (with `-cropbox`, as
    /// pdftotext measures from the MediaBox by default). `None` (with a
    /// note) when pdftotext is missing, except under CI, where it must exist.
    fn poppler_words(pdf: &[u8]) -> Option<Vec<(u32, String, [f64; 4])>> {
        let child = Command::new("pdftotext")
            .args(["-bbox", "-cropbox", "-enc", "UTF-8", "-", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn();
        let mut child = match child {
            Ok(child) => child,
            Err(_) if std::env::var("CI").is_ok_and(|v| v == "true") => {
                panic!("pdftotext (poppler-utils) must be installed when CI=true")
            }
            Err(_) => {
                eprintln!("note: pdftotext not found; boxes not cross-checked");
                return None;
            }
        };
        child.stdin.take().unwrap().write_all(pdf).unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success());
        let attribute = |line: &str, name: &str| -> f64 {
            let start = line.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
            let end = start + line[start..].find('"').unwrap();
            line[start..end].parse().unwrap()
        };
        let mut words = Vec::new();
        let mut page = 0;
        for line in String::from_utf8(output.stdout).unwrap().lines() {
            let line = line.trim();
            if line.starts_with("<page ") {
                page += 1;
            } else if let Some(rest) = line.strip_prefix("<word ") {
                let text = &rest[rest.find('>').unwrap() + 1..rest.rfind("</word>").unwrap()];
                let bounds = ["xMin", "yMin", "xMax", "yMax"].map(|name| attribute(rest, name));
                words.push((page, text.replace("&amp;", "&"), bounds));
            }
        }
        Some(words)
    }

    /// Our boxes agree with poppler's word boxes for the same words:
    /// horizontally within a point, vertically within the spread of the two
    /// readers' ascent and descent (poppler takes them from the font
    /// descriptor or its own standard-font metrics).
    fn cross_check(pdf: &[u8], needles: &[&str]) {
        let Some(words) = poppler_words(pdf) else {
            return;
        };
        let hits = find_text(pdf, needles).unwrap();
        assert!(!hits.is_empty());
        for hit in hits {
            let needle = needles[hit.needle];
            let candidates: Vec<&[f64; 4]> = words
                .iter()
                .filter(|(page, word, _)| *page == hit.page && word == needle)
                .map(|(_, _, bounds)| bounds)
                .collect();
            let [x0, y0, x1, y1] = **candidates
                .iter()
                .min_by(|a, b| {
                    let distance =
                        |w: &&&[f64; 4]| (w[0] - hit.left).abs() + (w[1] - hit.top).abs();
                    distance(a).total_cmp(&distance(b))
                })
                .unwrap_or_else(|| {
                    panic!(
                        "poppler has no word {needle} on page {}: {words:?}",
                        hit.page
                    )
                });
            let report = format!("{hit:?} vs poppler {:?}", [x0, y0, x1, y1]);
            let (right, bottom) = (hit.left + hit.width, hit.top + hit.height);
            if hit.width >= hit.height {
                // Horizontal text: x exact, y within the readers' metrics.
                assert!(
                    (hit.left - x0).abs() <= 1.0 && (right - x1).abs() <= 1.0,
                    "{report}"
                );
                let center = (hit.top + bottom) / 2.0 - (y0 + y1) / 2.0;
                assert!(
                    center.abs() <= 0.1 * hit.height
                        && (hit.height - (y1 - y0)).abs() <= 0.3 * hit.height,
                    "{report}"
                );
            } else {
                // Vertical text: the roles swap.
                assert!(
                    (hit.top - y0).abs() <= 1.0 && (bottom - y1).abs() <= 1.0,
                    "{report}"
                );
                let center = (hit.left + right) / 2.0 - (x0 + x1) / 2.0;
                assert!(
                    center.abs() <= 0.1 * hit.width
                        && (hit.width - (x1 - x0)).abs() <= 0.3 * hit.width,
                    "{report}"
                );
            }
        }
    }

    #[test]
    fn boxes_agree_with_poppler() {
        cross_check(&sample(2, "Contract"), &["Contract", "page"]);
        cross_check(
            &test_pages(),
            &[
                "[[sig_a]]",
                "[[sig_b]]",
                "[[sig_c]]",
                "[[sig_d]]",
                "[[sig_f]]",
                "[[sig_k]]",
            ],
        );
    }

    /// Decodes a PNG into (width, height, RGB(A) rows).
    fn decode(png_bytes: &[u8]) -> (u32, u32, usize, Vec<u8>) {
        let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
        let mut reader = decoder.read_info().unwrap();
        let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut pixels).unwrap();
        let channels = info.color_type.samples();
        (info.width, info.height, channels, pixels)
    }

    /// Whether some pixel inside `hit`'s box (at `scale`) is dark.
    fn dark_inside(image: &(u32, u32, usize, Vec<u8>), hit: &TextHit, scale: f64) -> bool {
        let (width, _, channels, pixels) = image;
        let rows = (hit.top * scale) as usize..((hit.top + hit.height) * scale) as usize;
        let columns = (hit.left * scale) as usize..((hit.left + hit.width) * scale) as usize;
        rows.into_iter().any(|y| {
            columns.clone().any(|x| {
                let at = (y * *width as usize + x) * channels;
                pixels
                    .get(at..at + 3)
                    .is_some_and(|rgb| rgb.iter().all(|&v| v < 100))
            })
        })
    }

    #[test]
    fn renders_pages_to_png() {
        let pdf = sample(2, "Render");
        let png_bytes = render_png(&pdf, 1, 1.5).unwrap();
        assert!(png_bytes.starts_with(b"\x89PNG\r\n\x1a\n"));
        let ihdr = |bytes: &[u8]| {
            let number = |range: std::ops::Range<usize>| {
                u32::from_be_bytes(bytes[range].try_into().unwrap())
            };
            (number(16..20), number(20..24))
        };
        // A4 at 1.5 pixels per point: 892.5 x 1263, rounded down.
        assert_eq!(ihdr(&png_bytes), (892, 1263));
        let image = decode(&png_bytes);
        assert_eq!((image.0, image.1), (892, 1263));
        let hits = find_text(&pdf, &["Render"]).unwrap();
        assert!(dark_inside(&image, &hits[0], 1.5), "{:?}", hits[0]);
        // White elsewhere: above the text, and the background.
        let above = TextHit {
            top: 20.0,
            height: 40.0,
            ..hits[0].clone()
        };
        assert!(!dark_inside(&image, &above, 1.5));
        assert_eq!(&image.3[..3], &[255, 255, 255]);
        assert_ne!(render_png(&pdf, 2, 1.5).unwrap(), png_bytes, "pages differ");

        // Rotated and cropped pages come out as displayed, text where found.
        let pdf = test_pages();
        let hits = find_text(&pdf, &["[[sig_k]]"]).unwrap();
        for (hit, size) in hits.iter().zip([(792, 612), (512, 642), (642, 512)]) {
            let png_bytes = render_png(&pdf, hit.page, 1.0).unwrap();
            assert_eq!(ihdr(&png_bytes), size, "page {}", hit.page);
            assert!(dark_inside(&decode(&png_bytes), hit, 1.0), "{hit:?}");
        }
    }

    #[test]
    fn render_refuses_missing_pages_and_oversized_output() {
        let pdf = sample(2, "Bounds");
        for page in [0, 3, u32::MAX] {
            match render_png(&pdf, page, 1.0) {
                Err(PdfError::Unreadable(message)) => {
                    assert_eq!(message, format!("the PDF has no page {page}"));
                }
                other => panic!("page {page}: {other:?}"),
            }
        }
        // A4 at 8x: 4760 x 6736 = 32 Mpx is allowed (not rendered here); 9x is 40.6 Mpx.
        match render_png(&pdf, 1, 9.0) {
            Err(PdfError::Unreadable(message)) => {
                assert_eq!(message, "the page is too large to show")
            }
            other => panic!("{other:?}"),
        }
        for scale in [0.0, -1.0, f32::NAN, f32::INFINITY, 1e-6] {
            assert!(
                matches!(render_png(&pdf, 1, scale), Err(PdfError::Unreadable(_))),
                "{scale}"
            );
        }
        // A huge MediaBox is refused before any pixel is drawn.
        let huge = helvetica_pdf(&[TestPage {
            media: [0, 0, 14_400, 14_400],
            crop: None,
            rotate: 0,
            content: "",
        }]);
        assert_eq!(geometry(&huge).unwrap()[0].width, 14_400.0);
        assert!(matches!(
            render_png(&huge, 1, 1.0),
            Err(PdfError::Unreadable(_))
        ));
    }

    #[test]
    fn refuses_what_is_not_a_readable_pdf() {
        assert!(matches!(geometry(b""), Err(PdfError::NotPdf)));
        assert!(matches!(find_text(b"hello", &["x"]), Err(PdfError::NotPdf)));
        assert!(matches!(
            render_png(&crate::pdf::test_support::fake_docx(), 1, 1.0),
            Err(PdfError::NotPdf)
        ));
        assert!(geometry(b"%PDF-1.7\n").is_err() || geometry(b"%PDF-1.7\n").unwrap().is_empty());
        assert!(matches!(
            find_text(&crate::pdf::test_support::encrypt("user"), &["Secret"]),
            Err(PdfError::Encrypted)
        ));
        // With the empty user password hayro decrypts, as viewers do
        // (uploads refuse such files in `inspect`).
        assert_eq!(
            find_text(&crate::pdf::test_support::encrypt(""), &["Secret"])
                .unwrap()
                .len(),
            1
        );
        // An empty page tree has no pages to show.
        let empty = sample(0, "Empty");
        assert_eq!(geometry(&empty).unwrap(), []);
        assert_eq!(find_text(&empty, &["Empty"]).unwrap(), []);
        assert!(matches!(
            render_png(&empty, 1, 1.0),
            Err(PdfError::Unreadable(_))
        ));
        // Junk before the header, as inspect accepts it.
        let mut shifted = b"junk before the header\n".to_vec();
        shifted.extend(sample(2, "Shifted"));
        assert_eq!(geometry(&shifted).unwrap().len(), 2);
        assert_eq!(find_text(&shifted, &["Shifted"]).unwrap().len(), 2);
    }

    /// Runs every entry point on `bytes`; none may panic.
    fn exercise(bytes: &[u8]) {
        let _ = geometry(bytes);
        let _ = find_text(bytes, &["page", "e"]);
        let _ = render_png(bytes, 1, 0.25);
    }

    #[test]
    fn garbage_never_panics() {
        exercise(b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF");
        exercise(b"%PDF-1.4\n[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[((((((((<<<<<<<<");
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        for round in 0..100 {
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
            exercise(&bytes);
        }
    }

    #[test]
    fn truncated_and_mangled_pdfs_never_panic() {
        for pdf in [sample(2, "Mangled"), test_pages()] {
            for cut in (0..pdf.len()).step_by(pdf.len() / 150 + 1) {
                exercise(&pdf[..cut]);
            }
            for position in (0..pdf.len()).step_by(pdf.len() / 300 + 1) {
                let mut mangled = pdf.clone();
                mangled[position] ^= 0x5A;
                exercise(&mangled);
                let mut shortened = pdf.clone();
                shortened.remove(position);
                exercise(&shortened);
            }
        }
    }

    /// A page (optionally through a Type 3 glyph) drawing form `X`, which
    /// draws the form before it twice, `depth` times over: 2^depth leaves
    /// that each draw a square and a glyph.
    fn form_bomb(depth: usize, through_type3: bool) -> Vec<u8> {
        let mut document = Document::with_version("1.7");
        let pages_id = document.try_new_object_id().unwrap();
        let helvetica =
            dictionary! { "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica" };
        let form = |resources: lopdf::Dictionary, content: &[u8]| {
            let bbox: Vec<Object> = vec![0.into(), 0.into(), 600.into(), 800.into()];
            Stream::new(
                dictionary! { "Type" => "XObject", "Subtype" => "Form", "BBox" => bbox, "Resources" => resources },
                content.to_vec(),
            )
        };
        let mut previous = document
            .try_add_object(form(
                dictionary! { "Font" => dictionary! { "F1" => helvetica } },
                b"0 0 1 1 re f BT /F1 1 Tf 10 10 Td (a) Tj ET",
            ))
            .unwrap();
        for _ in 0..depth {
            let resources = dictionary! { "XObject" => dictionary! { "X" => previous } };
            previous = document
                .try_add_object(form(resources, b"/X Do /X Do"))
                .unwrap();
        }
        let (resources, content) = if through_type3 {
            let proc_id = document
                .try_add_object(Stream::new(dictionary! {}, b"1000 0 d0 /X Do".to_vec()))
                .unwrap();
            let font = dictionary! {
                "Type" => "Font", "Subtype" => "Type3",
                "FontBBox" => vec![0.into(), 0.into(), 1000.into(), 1000.into()],
                "FontMatrix" => vec![0.001.into(), 0.into(), 0.into(), 0.001.into(), 0.into(), 0.into()],
                "CharProcs" => dictionary! { "a" => proc_id },
                "Encoding" => dictionary! { "Type" => "Encoding", "Differences" => vec![97.into(), Object::Name(b"a".to_vec())] },
                "FirstChar" => 97, "LastChar" => 97, "Widths" => vec![1000.into()],
                "Resources" => dictionary! { "XObject" => dictionary! { "X" => previous } },
            };
            (
                dictionary! { "Font" => dictionary! { "T3" => font } },
                b"BT /T3 12 Tf 100 700 Td (a) Tj ET".to_vec(),
            )
        } else {
            (
                dictionary! { "XObject" => dictionary! { "X" => previous } },
                b"/X Do".to_vec(),
            )
        };
        let content = document
            .try_add_object(Stream::new(dictionary! {}, content))
            .unwrap();
        let media: Vec<Object> = vec![0.into(), 0.into(), 612.into(), 792.into()];
        let page = document
            .try_add_object(dictionary! {
                "Type" => "Page", "Parent" => pages_id, "MediaBox" => media,
                "Resources" => resources, "Contents" => content,
            })
            .unwrap();
        document.objects.insert(
            pages_id,
            Object::Dictionary(
                dictionary! { "Type" => "Pages", "Kids" => vec![page.into()], "Count" => 1 },
            ),
        );
        let catalog = document
            .try_add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id })
            .unwrap();
        document.trailer.set("Root", catalog);
        let mut bytes = Vec::new();
        document.save_to(&mut bytes).unwrap();
        bytes
    }

    #[test]
    fn refuses_pages_that_draw_too_much() {
        // A few kB asking for 2^40 squares: refused after the budget, not hours later.
        let bomb = form_bomb(40, false);
        assert!(bomb.len() < 10_000);
        let unreadable = |result: Result<_, PdfError>| match result {
            Err(PdfError::Unreadable(message)) => message,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            unreadable(find_text(&bomb, &["a"]).map(|_| ())),
            "the PDF is too complex to search"
        );
        assert_eq!(geometry(&bomb).unwrap().len(), 1);
        // Through a Type 3 glyph, which only the renderer runs (rendering
        // counts in the same way as searching, so this covers both).
        let bomb = form_bomb(40, true);
        assert!(find_text(&bomb, &["a"]).is_ok());
        assert_eq!(
            unreadable(render_png(&bomb, 1, 0.5).map(|_| ())),
            "the page is too complex to show"
        );
        // Small ones are fine: 2^8 squares and glyphs, all at one place.
        let small = form_bomb(8, false);
        assert_eq!(find_text(&small, &["a"]).unwrap().len(), 1);
        assert!(render_png(&small, 1, 0.5).is_ok());
        assert!(render_png(&form_bomb(8, true), 1, 0.5).is_ok());
    }

    /// For information only (run with `--nocapture`): how long a 10-page
    /// sample takes to render at 1.5 in this build.
    #[test]
    fn rendering_time() {
        let pdf = sample(10, "Timing");
        let started = Instant::now();
        let bytes: usize = (1..=10)
            .map(|page| render_png(&pdf, page, 1.5).unwrap().len())
            .sum();
        let rendered = started.elapsed();
        let started = Instant::now();
        let hits = find_text(&pdf, &["Timing"]).unwrap();
        let searched = started.elapsed();
        assert_eq!(hits.len(), 10);
        eprintln!(
            "rendering 10 A4 pages at 1.5: {rendered:?} ({bytes} bytes of PNG); find_text over them: {searched:?}"
        );
    }
}
