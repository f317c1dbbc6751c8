//! Where places land: every `[[key]]` placeholder in the document's text
//! (at least one must exist unless the place has fixed positions), and
//! each fixed position, checked against the page it names.

use crate::error::FieldError;
use crate::pdf::{self, PageGeometry};

use super::{Area, FixedPosition, PlaceBox, PlaceType, placeholder};

/// Room left around a placeholder so the field hides it entirely.
const MARGIN: f64 = 1.0;

/// What locating needs of one place.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Wanted<'a> {
    /// `documents[i].places[j]`, for errors.
    pub path: &'a str,
    pub key: &'a str,
    pub kind: PlaceType,
    pub size: Option<(f64, f64)>,
    pub fixed: &'a [FixedPosition],
}

/// The boxes of every place (in the order asked) and the document's page sizes.
#[derive(Clone, Debug)]
pub(crate) struct Located {
    pub boxes: Vec<Vec<PlaceBox>>,
    pub page_sizes: Vec<(f64, f64)>,
}

/// Finds every place of one PDF; each problem names the place it is about.
pub(crate) fn locate(bytes: &[u8], wanted: &[Wanted<'_>]) -> Result<Located, Vec<FieldError>> {
    let unreadable = |e: pdf::PdfError| vec![FieldError::new("documents", e.to_string())];
    let pages: Vec<PageGeometry> = pdf::geometry(bytes).map_err(unreadable)?;
    let searched: Vec<String> = wanted
        .iter()
        .filter(|w| w.fixed.is_empty())
        .map(|w| placeholder(w.key))
        .collect();
    let needles: Vec<&str> = searched.iter().map(String::as_str).collect();
    let hits = if needles.is_empty() {
        Vec::new()
    } else {
        pdf::find_text(bytes, &needles).map_err(unreadable)?
    };
    let mut errors = Vec::new();
    let mut boxes = Vec::with_capacity(wanted.len());
    let mut needle = 0;
    for place in wanted {
        let (width, height) = place.size.unwrap_or_else(|| place.kind.default_size());
        let mut found = Vec::new();
        if place.fixed.is_empty() {
            for hit in hits.iter().filter(|h| h.needle == needle) {
                let Some(page) = pages.get(hit.page as usize - 1) else {
                    continue;
                };
                let w = width.max(hit.width + 2.0 * MARGIN);
                let h = height.max(hit.height + 2.0 * MARGIN);
                let left = (hit.left - MARGIN).max(0.0);
                // The field stands on the placeholder's baseline, as one signs on a line.
                let bottom = hit.top + hit.height + MARGIN;
                found.push(PlaceBox {
                    page: hit.page,
                    left,
                    top: (bottom - h).max(0.0),
                    width: w.min(page.width - left).max(1.0),
                    height: h,
                    placeholder: Some(Area {
                        left: hit.left,
                        top: hit.top,
                        width: hit.width,
                        height: hit.height,
                    }),
                });
            }
            if found.is_empty() {
                errors.push(FieldError::new(
                    place.path,
                    format!(
                        "the placeholder {} was not found in the document's text (or give fixed_positions for this place)",
                        placeholder(place.key)
                    ),
                ));
            }
            needle += 1;
        } else {
            for position in place.fixed {
                let Some(page) = pages.get(position.page as usize - 1) else {
                    errors.push(FieldError::new(
                        place.path,
                        format!(
                            "a fixed position names page {} but the document has {} page{}",
                            position.page,
                            pages.len(),
                            if pages.len() == 1 { "" } else { "s" }
                        ),
                    ));
                    continue;
                };
                if position.left + width > page.width + 0.5
                    || position.top + height > page.height + 0.5
                {
                    errors.push(FieldError::new(
                        place.path,
                        format!(
                            "at left {} and top {} a {}×{} place does not fit on page {} ({}×{} points)",
                            round(position.left),
                            round(position.top),
                            round(width),
                            round(height),
                            position.page,
                            round(page.width),
                            round(page.height)
                        ),
                    ));
                    continue;
                }
                found.push(PlaceBox {
                    page: position.page,
                    left: position.left,
                    top: position.top,
                    width,
                    height,
                    placeholder: None,
                });
            }
        }
        boxes.push(found);
    }
    if errors.is_empty() {
        Ok(Located {
            boxes,
            page_sizes: pages.iter().map(|p| (p.width, p.height)).collect(),
        })
    } else {
        Err(errors)
    }
}

fn round(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}
