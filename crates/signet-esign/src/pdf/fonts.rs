//! The fonts of generated pages and stamped fields: DejaVu Sans and DejaVu
//! Sans Bold (Bitstream Vera licence) and, for typed signatures, the
//! handwriting face Playpen Sans (SIL Open Font Licence), all shipped in the
//! binary (`fonts/`; both licences allow embedding), so names in Latin,
//! Greek and Cyrillic scripts come out exactly.
//!
//! Each font is embedded as the subset of glyphs the document uses
//! (`subsetter`): a Type0 font over a CIDFontType2 with identity CIDs (the
//! subset's glyph ids), its widths, and a ToUnicode map, so a reader's text
//! extraction (`pdftotext`) gives back the original characters. A
//! character the font lacks is drawn as U+FFFD, and the log says which.

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

use lopdf::{Dictionary, Document, Object, ObjectId, Stream, StringFormat, dictionary};
use subsetter::GlyphRemapper;
use ttf_parser::{Face, GlyphId};

use super::fallback::SystemFace;
use super::{PdfError, add, new_id};

static REGULAR_DATA: &[u8] = include_bytes!("../../fonts/DejaVuSans.ttf");
static BOLD_DATA: &[u8] = include_bytes!("../../fonts/DejaVuSans-Bold.ttf");
static SCRIPT_DATA: &[u8] = include_bytes!("../../fonts/PlaypenSans-Regular.ttf");

static REGULAR: LazyLock<Option<Face<'static>>> =
    LazyLock::new(|| Face::parse(REGULAR_DATA, 0).ok());
static BOLD: LazyLock<Option<Face<'static>>> = LazyLock::new(|| Face::parse(BOLD_DATA, 0).ok());
static SCRIPT: LazyLock<Option<Face<'static>>> = LazyLock::new(|| Face::parse(SCRIPT_DATA, 0).ok());

/// The fonts Signet draws with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Font {
    Regular,
    Bold,
    /// Handwriting, for typed signatures and initials.
    Script,
}

impl Font {
    pub(super) const ALL: [Font; 3] = [Font::Regular, Font::Bold, Font::Script];

    fn index(self) -> usize {
        match self {
            Font::Regular => 0,
            Font::Bold => 1,
            Font::Script => 2,
        }
    }

    /// The name of the font in a page's resources.
    pub(super) fn resource(self) -> &'static str {
        match self {
            Font::Regular => "F1",
            Font::Bold => "F2",
            Font::Script => "F3",
        }
    }

    /// Its resource name in a content stream of kind `names`.
    pub(super) fn name(self, names: Names) -> String {
        match names {
            Names::Page => self.resource(),
            Names::Stamp => self.stamp_resource(),
        }
        .to_owned()
    }

    /// Its name among the resources of a source page that fields are stamped
    /// on, chosen not to collide with the document's own.
    pub(super) fn stamp_resource(self) -> &'static str {
        match self {
            Font::Regular => "SignetF1",
            Font::Bold => "SignetF2",
            Font::Script => "SignetF3",
        }
    }

    fn postscript_name(self) -> &'static str {
        match self {
            Font::Regular => "DejaVuSans",
            Font::Bold => "DejaVuSans-Bold",
            Font::Script => "PlaypenSans-Regular",
        }
    }

    fn data(self) -> &'static [u8] {
        match self {
            Font::Regular => REGULAR_DATA,
            Font::Bold => BOLD_DATA,
            Font::Script => SCRIPT_DATA,
        }
    }

    fn face(self) -> Option<&'static Face<'static>> {
        match self {
            Font::Regular => REGULAR.as_ref(),
            Font::Bold => BOLD.as_ref(),
            Font::Script => SCRIPT.as_ref(),
        }
    }

    /// The glyph that shows `c`, or the replacement character's.
    fn glyph(self, c: char) -> GlyphId {
        let Some(face) = self.face() else {
            return GlyphId(0);
        };
        face.glyph_index(c)
            .or_else(|| face.glyph_index('\u{FFFD}'))
            .unwrap_or(GlyphId(0))
    }

    /// Ascender and descender (negative), in 1/1000 em, as the font
    /// descriptor gives them to readers.
    pub(super) fn vertical_metrics(self) -> (f32, f32) {
        let Some(face) = self.face() else {
            return (800.0, -200.0);
        };
        let units = f32::from(face.units_per_em().max(1));
        (
            f32::from(face.ascender()) * 1000.0 / units,
            f32::from(face.descender()) * 1000.0 / units,
        )
    }

    /// How far `c` advances, in 1/1000 em (in the system font that shows
    /// it, when this one lacks it).
    pub(super) fn advance(self, c: char) -> f32 {
        let Some(face) = self.face() else {
            return 600.0;
        };
        if face.glyph_index(c).is_none()
            && let Some((_, _, advance)) = super::fallback::covering(c)
        {
            return advance;
        }
        let units = f32::from(face.units_per_em().max(1));
        let advance = face.glyph_hor_advance(self.glyph(c)).unwrap_or(0);
        f32::from(advance) * 1000.0 / units
    }
}

/// Makes text fit to show: line breaks and tabs become spaces; control,
/// bidirectional and invisible format characters are dropped (they would
/// move or hide what a reader sees).
pub(super) fn printable(text: &str) -> String {
    text.chars()
        .filter_map(|c| match c {
            '\t' | '\n' | '\r' => Some(' '),
            c if signet_store::text::is_deceptive(c) => None,
            c => Some(c),
        })
        .collect()
}

/// The glyphs one document shows, per font, collected while its pages are
/// written and embedded once at the end.
#[derive(Debug)]
pub(super) struct Fonts {
    ids: [ObjectId; 3],
    remappers: [GlyphRemapper; 3],
    /// New glyph id → the text it stands for, for the ToUnicode map.
    text_of: [BTreeMap<u16, char>; 3],
    /// The resources generated pages share (fallback fonts join it at the end).
    resources: ObjectId,
    /// System fonts for characters the shipped ones lack, in order of first use.
    extras: Vec<Extra>,
}

/// A system font one document uses.
#[derive(Debug)]
struct Extra {
    /// Its index in the process-wide registry (`fallback.rs`).
    registry: usize,
    face: Arc<SystemFace>,
    id: ObjectId,
    remapper: GlyphRemapper,
    text_of: BTreeMap<u16, char>,
}

/// Which resource names a content stream uses: generated pages' own, or
/// those added to a source page that fields are stamped on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Names {
    Page,
    Stamp,
}

/// A run of text in one font: its resource name and hex glyph string.
type Run = (String, Vec<u8>);

impl Fonts {
    /// Reserves the font objects and returns the resource dictionary that
    /// pages share.
    pub(super) fn reserve(document: &mut Document) -> Result<(Self, ObjectId), PdfError> {
        let ids = [new_id(document)?, new_id(document)?, new_id(document)?];
        let mut fonts = Dictionary::new();
        for font in Font::ALL {
            fonts.set(font.resource(), ids[font.index()]);
        }
        let resources = add(document, dictionary! { "Font" => fonts })?;
        Ok((
            Self {
                ids,
                remappers: [
                    GlyphRemapper::new(),
                    GlyphRemapper::new(),
                    GlyphRemapper::new(),
                ],
                text_of: [BTreeMap::new(), BTreeMap::new(), BTreeMap::new()],
                resources,
                extras: Vec::new(),
            },
            resources,
        ))
    }

    /// Shows `text` at `size`: `Tf … Tj` per run of characters one font
    /// shows, so a name mixing scripts switches fonts where it must.
    pub(super) fn show(
        &mut self,
        document: &mut Document,
        font: Font,
        size: f32,
        text: &str,
        names: Names,
    ) -> Result<Vec<u8>, PdfError> {
        let mut out = Vec::with_capacity(4 * text.len() + 32);
        for (name, hex) in self.runs(document, font, text, names)? {
            out.extend_from_slice(format!("/{name} {} Tf ", number(size)).as_bytes());
            out.extend_from_slice(&hex);
            out.extend_from_slice(b" Tj ");
        }
        Ok(out)
    }

    fn runs(
        &mut self,
        document: &mut Document,
        font: Font,
        text: &str,
        names: Names,
    ) -> Result<Vec<Run>, PdfError> {
        let own = |c: char| font.face().and_then(|f| f.glyph_index(c)).is_some();
        let mut runs: Vec<Run> = Vec::new();
        let mut current: Option<(Option<usize>, String)> = None;
        for c in text.chars() {
            let which = if own(c) {
                None
            } else {
                match super::fallback::covering(c) {
                    Some((face, registry, _)) => Some(self.extra(document, face, registry)?),
                    None => None,
                }
            };
            match &mut current {
                Some((w, chunk)) if *w == which => chunk.push(c),
                _ => {
                    if let Some(done) = current.take() {
                        runs.push(self.run(font, done, names));
                    }
                    current = Some((which, c.to_string()));
                }
            }
        }
        if let Some(done) = current {
            runs.push(self.run(font, done, names));
        }
        Ok(runs)
    }

    fn run(&mut self, font: Font, (which, chunk): (Option<usize>, String), names: Names) -> Run {
        match which {
            None => (font.name(names), self.encode(font, &chunk)),
            Some(extra) => (extra_name(extra, names), self.encode_extra(extra, &chunk)),
        }
    }

    /// The document's slot for a system face, made on first use.
    fn extra(
        &mut self,
        document: &mut Document,
        face: Arc<SystemFace>,
        registry: usize,
    ) -> Result<usize, PdfError> {
        if let Some(i) = self.extras.iter().position(|e| e.registry == registry) {
            return Ok(i);
        }
        self.extras.push(Extra {
            registry,
            face,
            id: new_id(document)?,
            remapper: GlyphRemapper::new(),
            text_of: BTreeMap::new(),
        });
        Ok(self.extras.len() - 1)
    }

    fn encode_extra(&mut self, index: usize, text: &str) -> Vec<u8> {
        let mut hex = vec![b'<'];
        if let Some(extra) = self.extras.get_mut(index)
            && let Some(face) = extra.face.face()
        {
            for c in text.chars() {
                let glyph = face.glyph_index(c).unwrap_or(GlyphId(0));
                let id = extra.remapper.remap(glyph.0);
                extra.text_of.entry(id).or_insert(c);
                hex.extend_from_slice(format!("{id:04X}").as_bytes());
            }
        }
        hex.push(b'>');
        hex
    }

    /// Resource names and objects of the system fonts used so far, for a
    /// stamped page's resources.
    pub(super) fn stamp_extras(&self) -> Vec<(String, ObjectId)> {
        self.extras
            .iter()
            .enumerate()
            .map(|(i, e)| (extra_name(i, Names::Stamp), e.id))
            .collect()
    }

    /// `text` as a hex string of two-byte glyph ids for `Tj`.
    fn encode(&mut self, font: Font, text: &str) -> Vec<u8> {
        let i = font.index();
        let mut hex = Vec::with_capacity(2 + 4 * text.len());
        hex.push(b'<');
        for c in text.chars() {
            // A missing character is drawn, and read back, as U+FFFD.
            let shown = if font.face().and_then(|f| f.glyph_index(c)).is_some() {
                c
            } else {
                tracing::warn!(
                    character = %signet_store::text::code_point(c),
                    "no font here shows a character of a generated page or field; drawn as U+FFFD"
                );
                '\u{FFFD}'
            };
            let glyph = font.glyph(shown);
            let id = self.remappers[i].remap(glyph.0);
            self.text_of[i].entry(id).or_insert(shown);
            hex.extend_from_slice(format!("{id:04X}").as_bytes());
        }
        hex.push(b'>');
        hex
    }

    /// The object of `font`, for the resources of a stamped page.
    pub(super) fn id(&self, font: Font) -> ObjectId {
        self.ids[font.index()]
    }

    /// Writes each font's subset into the objects reserved for it.
    pub(super) fn write(self, document: &mut Document) -> Result<(), PdfError> {
        for font in Font::ALL {
            let i = font.index();
            let face = font
                .face()
                .ok_or_else(|| PdfError::Build("the embedded font cannot be read".to_owned()))?;
            let source = Source {
                data: font.data(),
                index: 0,
                face,
                postscript_name: font.postscript_name(),
            };
            let object = type0(document, &source, &self.remappers[i], &self.text_of[i])?;
            document.objects.insert(self.ids[i], object);
        }
        for (i, extra) in self.extras.iter().enumerate() {
            let Some(face) = extra.face.face() else {
                continue;
            };
            let source = Source {
                data: &extra.face.data,
                index: extra.face.index,
                face: &face,
                postscript_name: &extra.face.name,
            };
            let object = type0(document, &source, &extra.remapper, &extra.text_of)?;
            document.objects.insert(extra.id, object);
            // Generated pages share one resource dictionary: it learns the font too.
            if let Some(Object::Dictionary(resources)) = document.objects.get_mut(&self.resources)
                && let Ok(Object::Dictionary(fonts)) = resources.get_mut(b"Font")
            {
                fonts.set(extra_name(i, Names::Page), extra.id);
            }
        }
        Ok(())
    }
}

/// A six-letter subset tag from the glyphs used (PDF 32000 §9.6.4).
fn subset_tag(remapper: &GlyphRemapper) -> String {
    let mut hash: u32 = 2_166_136_261;
    for glyph in remapper.remapped_gids() {
        for byte in glyph.to_be_bytes() {
            hash = (hash ^ u32::from(byte)).wrapping_mul(16_777_619);
        }
    }
    (0..6)
        .map(|k| char::from(b'A' + ((hash >> (k * 5)) % 26) as u8))
        .collect()
}

/// A font file to embed a subset of.
struct Source<'a> {
    data: &'a [u8],
    index: u32,
    face: &'a Face<'a>,
    postscript_name: &'a str,
}

/// The resource name of the `index`th system font.
fn extra_name(index: usize, names: Names) -> String {
    match names {
        Names::Page => format!("F{}", index + 4),
        Names::Stamp => format!("SignetF{}", index + 4),
    }
}

/// A compact number for a content stream: at most two decimals.
fn number(value: f32) -> String {
    let text = format!("{value:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

fn type0(
    document: &mut Document,
    source: &Source<'_>,
    remapper: &GlyphRemapper,
    text_of: &BTreeMap<u16, char>,
) -> Result<Object, PdfError> {
    let face = source.face;
    let subset = subsetter::subset(source.data, source.index, remapper)
        .map_err(|e| PdfError::Build(format!("font subset failed: {e}")))?;
    let scale = 1000.0 / f32::from(face.units_per_em().max(1));
    let units = |value: i16| Object::Real(f32::from(value) * scale);
    let name = format!("{}+{}", subset_tag(remapper), source.postscript_name);

    let mut file = Stream::new(dictionary! { "Length1" => subset.len() as i64 }, subset);
    let _ = file.compress();
    let file = add(document, file)?;
    let bbox = face.global_bounding_box();
    let descriptor = add(
        document,
        dictionary! {
            "Type" => "FontDescriptor",
            "FontName" => Object::Name(name.clone().into_bytes()),
            // Symbolic: the glyphs are addressed by id, not by a standard encoding.
            "Flags" => 4,
            "FontBBox" => vec![units(bbox.x_min), units(bbox.y_min), units(bbox.x_max), units(bbox.y_max)],
            "ItalicAngle" => 0,
            "Ascent" => units(face.ascender()),
            "Descent" => units(face.descender()),
            "CapHeight" => units(face.capital_height().unwrap_or(face.ascender())),
            "StemV" => 80,
            "FontFile2" => file,
        },
    )?;
    // Widths of the subset's glyphs, by new id: `[first [w1 w2 …]]`.
    let widths: Vec<Object> = remapper
        .remapped_gids()
        .map(|old| {
            let advance = face.glyph_hor_advance(GlyphId(old)).unwrap_or(0);
            Object::Real(f32::from(advance) * scale)
        })
        .collect();
    let cid_font = add(
        document,
        dictionary! {
            "Type" => "Font",
            "Subtype" => "CIDFontType2",
            "BaseFont" => Object::Name(name.clone().into_bytes()),
            "CIDSystemInfo" => dictionary! {
                "Registry" => Object::String(b"Adobe".to_vec(), StringFormat::Literal),
                "Ordering" => Object::String(b"Identity".to_vec(), StringFormat::Literal),
                "Supplement" => 0,
            },
            "FontDescriptor" => descriptor,
            "CIDToGIDMap" => "Identity",
            "W" => vec![0.into(), Object::Array(widths)],
        },
    )?;
    let mut cmap = Stream::new(Dictionary::new(), to_unicode(text_of));
    let _ = cmap.compress();
    let cmap = add(document, cmap)?;
    Ok(Object::Dictionary(dictionary! {
        "Type" => "Font",
        "Subtype" => "Type0",
        "BaseFont" => Object::Name(name.into_bytes()),
        "Encoding" => "Identity-H",
        "DescendantFonts" => vec![cid_font.into()],
        "ToUnicode" => cmap,
    }))
}

/// The ToUnicode CMap: each glyph id back to the character it was written for.
fn to_unicode(text_of: &BTreeMap<u16, char>) -> Vec<u8> {
    let mut out = String::from(
        "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n\
         /CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n\
         /CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n\
         1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n",
    );
    let entries: Vec<(&u16, &char)> = text_of.iter().collect();
    // At most 100 mappings per block (PDF 32000 §9.10.3).
    for block in entries.chunks(100) {
        out += &format!("{} beginbfchar\n", block.len());
        for (id, c) in block {
            let mut units = [0u16; 2];
            let utf16: String = c
                .encode_utf16(&mut units)
                .iter()
                .map(|u| format!("{u:04X}"))
                .collect();
            out += &format!("<{id:04X}> <{utf16}>\n");
        }
        out += "endbfchar\n";
    }
    out += "endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n";
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_fonts_cover_latin_greek_and_cyrillic() {
        for font in Font::ALL {
            let face = font.face().expect("the font parses");
            for c in "Zoë Ørsted-Łukasz Дмитрий Шостакович Ελληνικά ß œ €".chars()
            {
                assert!(face.glyph_index(c).is_some(), "{font:?} lacks {c}");
            }
            assert!(font.advance('W') > font.advance('i'));
        }
    }

    #[test]
    fn printable_text_keeps_letters_and_drops_what_hides() {
        assert_eq!(printable("a\tb\nc"), "a b c");
        assert_eq!(printable("e\u{200B}x\u{202E}y"), "exy");
        assert_eq!(printable("Дмитрий"), "Дмитрий");
    }

    #[test]
    fn to_unicode_maps_each_glyph_back() {
        let map = BTreeMap::from([(1, 'Д'), (2, '😀')]);
        let cmap = String::from_utf8(to_unicode(&map)).expect("ascii");
        assert!(cmap.contains("<0001> <0414>"), "{cmap}");
        assert!(cmap.contains("<0002> <D83DDE00>"), "{cmap}");
    }
}
