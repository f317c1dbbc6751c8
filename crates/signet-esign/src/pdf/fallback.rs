//! System fonts for the characters the shipped fonts lack (Chinese,
//! Japanese, Korean, Thai…): found once per character among the machine's
//! fonts (`fontdb` reads the usual font folders), and kept for the life of
//! the process. Only TrueType-outline faces are used, since they embed as
//! the same CIDFontType2 as the shipped fonts.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use ttf_parser::Face;

/// A font file larger than this is not read.
const MAX_FONT_FILE: u64 = 64 * 1024 * 1024;

/// One system face: its file's bytes and its index in a collection.
#[derive(Debug)]
pub(super) struct SystemFace {
    pub data: Arc<Vec<u8>>,
    pub index: u32,
    pub name: String,
}

impl SystemFace {
    pub(super) fn face(&self) -> Option<Face<'_>> {
        Face::parse(&self.data, self.index).ok()
    }
}

#[derive(Debug, Default)]
struct Registry {
    /// Faces used so far; [`covering`] answers indexes into it.
    faces: Vec<Arc<SystemFace>>,
    /// Character → the face that shows it (`None`: none does), and its advance in 1/1000 em.
    by_char: HashMap<char, Option<(usize, f32)>>,
    /// Font files read so far, by path.
    files: HashMap<std::path::PathBuf, Option<Arc<Vec<u8>>>>,
}

static DATABASE: LazyLock<fontdb::Database> = LazyLock::new(|| {
    let mut database = fontdb::Database::new();
    database.load_system_fonts();
    database
});

static REGISTRY: LazyLock<Mutex<Registry>> = LazyLock::new(Mutex::default);

fn read(registry: &mut Registry, path: &std::path::Path) -> Option<Arc<Vec<u8>>> {
    registry
        .files
        .entry(path.to_owned())
        .or_insert_with(|| {
            let size = std::fs::metadata(path).ok()?.len();
            (size <= MAX_FONT_FILE)
                .then(|| std::fs::read(path).ok().map(Arc::new))
                .flatten()
        })
        .clone()
}

/// The system face that shows `c` and its advance (1/1000 em), if any.
pub(super) fn covering(c: char) -> Option<(Arc<SystemFace>, usize, f32)> {
    let mut registry = REGISTRY.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(known) = registry.by_char.get(&c) {
        return known.map(|(i, advance)| (registry.faces[i].clone(), i, advance));
    }
    let mut found = None;
    for info in DATABASE.faces() {
        let fontdb::Source::File(path) = &info.source else {
            continue;
        };
        let Some(data) = read(&mut registry, path) else {
            continue;
        };
        let Ok(face) = Face::parse(&data, info.index) else {
            continue;
        };
        if face.tables().glyf.is_none() {
            continue;
        }
        let Some(glyph) = face.glyph_index(c) else {
            continue;
        };
        let units = f32::from(face.units_per_em().max(1));
        let advance = f32::from(face.glyph_hor_advance(glyph).unwrap_or(0)) * 1000.0 / units;
        let existing = registry
            .faces
            .iter()
            .position(|f| Arc::ptr_eq(&f.data, &data) && f.index == info.index);
        let index = existing.unwrap_or_else(|| {
            let name = info
                .post_script_name
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .collect::<String>();
            registry.faces.push(Arc::new(SystemFace {
                data: data.clone(),
                index: info.index,
                name: if name.is_empty() {
                    "SystemFont".to_owned()
                } else {
                    name
                },
            }));
            registry.faces.len() - 1
        });
        found = Some((index, advance));
        break;
    }
    registry.by_char.insert(c, found);
    found.map(|(i, advance)| (registry.faces[i].clone(), i, advance))
}
