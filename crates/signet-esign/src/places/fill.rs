//! What a recipient enters on the signing page, judged on the server (the
//! page's own checks are only a convenience): required places filled,
//! formats and options respected, drawings well-formed and bounded.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::{MAX_TEXT, PlaceRow, PlaceType, Requirement};
use crate::ceremony::MAX_SIGNATURE;

/// Most strokes, and points over all strokes, of one drawing.
const MAX_STROKES: usize = 200;
const MAX_POINTS: usize = 10_000;

/// One pen stroke of a drawn signature: points across the place's box,
/// `[x, y]` from its top-left corner, each between 0 and 1.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct Stroke(pub Vec<[f32; 2]>);

/// What one place received.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Entry {
    Text(String),
    Checked(bool),
    Drawing(Vec<Stroke>),
}

/// A recipient's entries, by place id, ready to record.
#[derive(Clone, Debug, Default)]
pub(crate) struct Fill {
    pub entries: Vec<(String, Entry)>,
}

/// Reads a drawing sent by the page (`[[[x, y], ...], ...]`).
pub(crate) fn parse_strokes(json: &str) -> Result<Vec<Stroke>, &'static str> {
    let strokes: Vec<Stroke> =
        serde_json::from_str(json).map_err(|_| "the drawing could not be read; draw it again")?;
    let points: usize = strokes.iter().map(|s| s.0.len()).sum();
    if strokes.len() > MAX_STROKES || points > MAX_POINTS {
        return Err("the drawing is too detailed; draw it again more simply");
    }
    let inside = |v: f32| v.is_finite() && (0.0..=1.0).contains(&v);
    if !strokes
        .iter()
        .all(|s| s.0.iter().all(|[x, y]| inside(*x) && inside(*y)))
    {
        return Err("the drawing could not be read; draw it again");
    }
    Ok(strokes.into_iter().filter(|s| !s.0.is_empty()).collect())
}

/// How a place is named to the person filling it.
pub(crate) fn label(place: &PlaceRow) -> String {
    let what = match place.kind {
        PlaceType::Signature => "Signature",
        PlaceType::Initials => "Initials",
        PlaceType::TextInput | PlaceType::MultilineTextInput => "Text",
        PlaceType::Checkbox => "Checkbox",
        PlaceType::Dropdown => "Choice",
        _ => "Field",
    };
    match place.first_page() {
        Some(page) => format!("{what} \u{201C}{}\u{201D} on page {page}", place.key),
        None => format!("{what} \u{201C}{}\u{201D}", place.key),
    }
}

impl Fill {
    /// Judges the form `fields` (name → value) against the places this
    /// recipient fills. Fields are named `place.KEY`, drawings
    /// `place.KEY.drawing` and the chosen way of signing `place.KEY.mode`.
    pub(crate) fn judge(
        places: &[&PlaceRow],
        fields: &HashMap<String, String>,
    ) -> Result<Self, Vec<String>> {
        let mut fill = Fill::default();
        let mut problems = Vec::new();
        for place in places.iter().filter(|p| p.kind.is_filled_by_recipient()) {
            let name = format!("place.{}", place.key);
            let text = fields.get(&name).map(|v| v.trim()).unwrap_or_default();
            let required = place.requirement == Requirement::Required;
            let entry = match place.kind {
                PlaceType::Checkbox => {
                    let checked = !text.is_empty();
                    if required && !checked {
                        problems.push(format!("{}: tick it to continue", label(place)));
                    }
                    Some(Entry::Checked(checked))
                }
                PlaceType::Signature | PlaceType::Initials => {
                    let drawn =
                        fields.get(&format!("{name}.mode")).map(String::as_str) == Some("drawn");
                    let drawing = fields
                        .get(&format!("{name}.drawing"))
                        .map(|v| v.trim())
                        .unwrap_or_default();
                    if drawn && !drawing.is_empty() {
                        match parse_strokes(drawing) {
                            Ok(strokes) if !strokes.is_empty() => Some(Entry::Drawing(strokes)),
                            Ok(_) => {
                                problems
                                    .push(format!("{}: draw it, or type it instead", label(place)));
                                None
                            }
                            Err(why) => {
                                problems.push(format!("{}: {why}", label(place)));
                                None
                            }
                        }
                    } else if text.is_empty() {
                        if required {
                            problems.push(format!(
                                "{}: {} it to continue",
                                label(place),
                                if drawn { "draw or type" } else { "type" }
                            ));
                        }
                        None
                    } else if text.chars().count() > MAX_SIGNATURE
                        || text.chars().any(char::is_control)
                    {
                        problems.push(format!(
                            "{}: at most {MAX_SIGNATURE} characters on one line",
                            label(place)
                        ));
                        None
                    } else {
                        Some(Entry::Text(text.to_owned()))
                    }
                }
                PlaceType::Dropdown => {
                    if text.is_empty() {
                        if required {
                            problems.push(format!("{}: choose one to continue", label(place)));
                        }
                        None
                    } else if place.options().iter().any(|o| o == text) {
                        Some(Entry::Text(text.to_owned()))
                    } else {
                        problems.push(format!(
                            "{}: choose one of the options offered",
                            label(place)
                        ));
                        None
                    }
                }
                _ => {
                    let multiline = place.kind == PlaceType::MultilineTextInput;
                    let max = if multiline { MAX_TEXT } else { MAX_SIGNATURE };
                    if text.is_empty() {
                        if required {
                            problems.push(format!("{}: fill it in to continue", label(place)));
                        }
                        None
                    } else if text.chars().count() > max
                        || text.chars().any(|c| {
                            c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t'))
                        })
                    {
                        problems.push(format!("{}: at most {max} characters", label(place)));
                        None
                    } else if let Some(format) = place.compiled_format()
                        && !format.is_match(text)
                    {
                        problems.push(format!(
                            "{}: does not have the expected format",
                            label(place)
                        ));
                        None
                    } else {
                        Some(Entry::Text(text.replace("\r\n", "\n")))
                    }
                }
            };
            if let Some(entry) = entry {
                fill.entries.push((place.id.clone(), entry));
            }
        }
        if problems.is_empty() {
            Ok(fill)
        } else {
            Err(problems)
        }
    }

    /// The typed text of the first signature, which the audit trail quotes.
    pub(crate) fn first_typed_signature<'a>(&'a self, places: &[&PlaceRow]) -> Option<&'a str> {
        places
            .iter()
            .filter(|p| p.kind == PlaceType::Signature)
            .find_map(|p| match self.entries.iter().find(|(id, _)| id == &p.id) {
                Some((_, Entry::Text(text))) => Some(text.as_str()),
                _ => None,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drawings_are_bounded_and_inside_their_box() {
        assert_eq!(parse_strokes("[[[0,0],[1,1]],[]]").unwrap().len(), 1);
        assert!(parse_strokes("[[[0,2]]]").is_err());
        assert!(parse_strokes("[[[0,\"a\"]]]").is_err());
        assert!(parse_strokes("nope").is_err());
        let many = format!("[{}]", vec!["[[0.5,0.5]]"; 201].join(","));
        assert!(parse_strokes(&many).is_err());
    }
}
