//! `documents[i].places` and `documents[i].fixed_positions`, in the shapes
//! of the hosted product, so agent skills written for it work unchanged.

use serde_json::{Map, Value};

use super::{
    FixedPosition, MAX_FIXED_POSITIONS, MAX_OPTIONS, MAX_PLACES, MAX_SIZE, MAX_VALUE, MIN_SIZE,
    PlaceType, Requirement,
};
use crate::input::{Checker, MAX_KEY, NewRecipient, is_key};
use crate::model::RecipientType;

/// Longest `format` pattern, and the most memory its compiled form may take.
const MAX_FORMAT: usize = 500;
const FORMAT_SIZE_LIMIT: usize = 256 * 1024;

/// One place as `create_envelope` asked for it.
#[derive(Clone, Debug)]
pub(crate) struct NewPlace {
    /// Where it was in the request (`documents[0].places[2]`), for errors
    /// found once the document is read.
    pub path: String,
    pub document: usize,
    pub key: String,
    pub kind: PlaceType,
    pub recipient_key: Option<String>,
    pub requirement: Requirement,
    pub capture_as: Option<String>,
    pub format: Option<String>,
    pub options: Vec<String>,
    pub value: Option<String>,
    pub size: Option<(f64, f64)>,
    pub fixed: Vec<FixedPosition>,
}

impl NewPlace {
    pub(crate) fn wanted(&self) -> super::Wanted<'_> {
        super::Wanted {
            path: &self.path,
            key: &self.key,
            kind: self.kind,
            size: self.size,
            fixed: &self.fixed,
        }
    }
}

/// A regular expression a `text_input` value must match entirely, built
/// with bounds so a hostile pattern cannot exhaust memory.
pub(crate) fn compile_format(pattern: &str) -> Result<regex::Regex, String> {
    regex::RegexBuilder::new(&format!("^(?:{pattern})$"))
        .size_limit(FORMAT_SIZE_LIMIT)
        .dfa_size_limit(FORMAT_SIZE_LIMIT)
        .build()
        .map_err(|e| match e {
            regex::Error::CompiledTooBig(_) => "is too complex".to_owned(),
            other => format!("is not a valid regular expression: {}", first_line(&other)),
        })
}

fn first_line(error: &regex::Error) -> String {
    let text = error.to_string();
    text.lines()
        .rev()
        .find(|l| l.starts_with("error:"))
        .unwrap_or(text.lines().next().unwrap_or_default())
        .trim_start_matches("error: ")
        .to_owned()
}

fn number(c: &mut Checker, object: &Map<String, Value>, key: &str, path: &str) -> Option<f64> {
    match object.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => match n.as_f64() {
            Some(v) if v.is_finite() => Some(v),
            _ => {
                c.fail(path, "must be a number");
                None
            }
        },
        Some(_) => {
            c.fail(path, "must be a number");
            None
        }
    }
}

/// The places and fixed positions of `documents[index]`.
pub(crate) fn parse_document_places(
    c: &mut Checker,
    document: &Map<String, Value>,
    index: usize,
) -> Vec<NewPlace> {
    let at = format!("documents[{index}]");
    let mut places: Vec<NewPlace> = Vec::new();
    match document.get("places") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            if items.len() > MAX_PLACES {
                c.fail(
                    format!("{at}.places"),
                    format!("at most {MAX_PLACES} places per document"),
                );
            }
            for (j, item) in items.iter().enumerate().take(MAX_PLACES) {
                let path = format!("{at}.places[{j}]");
                let Some(object) = item.as_object() else {
                    c.fail(
                        &path,
                        "must be an object with a key, a type and a recipient_key",
                    );
                    continue;
                };
                if let Some(place) = parse_place(c, object, &path, index) {
                    if places.iter().any(|p| p.key == place.key) {
                        c.fail(format!("{path}.key"), "is used by another place");
                    }
                    places.push(place);
                }
            }
        }
        Some(_) => c.fail(format!("{at}.places"), "must be an array"),
    }
    match document.get("fixed_positions") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            if items.len() > MAX_FIXED_POSITIONS {
                c.fail(
                    format!("{at}.fixed_positions"),
                    format!("at most {MAX_FIXED_POSITIONS} fixed positions per document"),
                );
            }
            for (j, item) in items.iter().enumerate().take(MAX_FIXED_POSITIONS) {
                let path = format!("{at}.fixed_positions[{j}]");
                let Some(object) = item.as_object() else {
                    c.fail(
                        &path,
                        "must be an object with place_key, page, top and left",
                    );
                    continue;
                };
                let key =
                    c.required_text(object, "place_key", &format!("{path}.place_key"), MAX_KEY);
                let page = match object.get("page") {
                    Some(Value::Number(n)) => match n.as_u64() {
                        Some(p) if p >= 1 => u32::try_from(p).ok(),
                        _ => None,
                    },
                    _ => None,
                };
                if page.is_none() {
                    c.fail(format!("{path}.page"), "must be a page number (1 or more)");
                }
                let top = number(c, object, "top", &format!("{path}.top"));
                let left = number(c, object, "left", &format!("{path}.left"));
                for (name, value) in [("top", top), ("left", left)] {
                    match value {
                        None if !matches!(object.get(name), Some(Value::Number(_))) => {
                            c.fail(
                                format!("{path}.{name}"),
                                "is required: points from the page's top-left corner",
                            );
                        }
                        Some(v) if v < 0.0 => c.fail(format!("{path}.{name}"), "must be 0 or more"),
                        _ => {}
                    }
                }
                let (Some(key), Some(page), Some(top), Some(left)) = (key, page, top, left) else {
                    continue;
                };
                match places.iter_mut().find(|p| p.key == key) {
                    Some(place) => place.fixed.push(FixedPosition { page, top, left }),
                    None => c.fail(
                        format!("{path}.place_key"),
                        format!("names no place of documents[{index}]"),
                    ),
                }
            }
        }
        Some(_) => c.fail(format!("{at}.fixed_positions"), "must be an array"),
    }
    places
}

fn parse_place(
    c: &mut Checker,
    object: &Map<String, Value>,
    path: &str,
    document: usize,
) -> Option<NewPlace> {
    let field = |name: &str| format!("{path}.{name}");
    let key = c.required_text(object, "key", &field("key"), MAX_KEY);
    if let Some(key) = &key
        && !is_key(key)
    {
        c.fail(field("key"), "may hold only letters, digits, '_' and '-'");
    }
    let kind = match c.required_text(object, "type", &field("type"), 40) {
        None => None,
        Some(text) => match PlaceType::parse(&text) {
            Some(kind) => Some(kind),
            None => {
                let known: Vec<&str> = PlaceType::ALL.iter().map(|t| t.as_str()).collect();
                c.fail(
                    field("type"),
                    format!("must be one of: {}", known.join(", ")),
                );
                None
            }
        },
    };
    let recipient_key = c.text(object, "recipient_key", &field("recipient_key"), MAX_KEY);
    if recipient_key.is_none()
        && kind.is_some_and(PlaceType::needs_recipient)
        && !matches!(object.get("recipient_key"), Some(v) if !v.is_string() && !v.is_null())
    {
        c.fail(
            field("recipient_key"),
            "is required: the key of the recipient this place belongs to",
        );
    }
    let requirement = match c.text(object, "requirement", &field("requirement"), 20) {
        None => Requirement::Required,
        Some(text) => Requirement::parse(&text).unwrap_or_else(|| {
            c.fail(field("requirement"), "must be \"required\" or \"optional\"");
            Requirement::Required
        }),
    };
    let capture_as = c.text(object, "capture_as", &field("capture_as"), MAX_KEY);
    if let Some(name) = &capture_as
        && !is_key(name)
    {
        c.fail(
            field("capture_as"),
            "may hold only letters, digits, '_' and '-'",
        );
    }
    let format = c.text(object, "format", &field("format"), MAX_FORMAT);
    if let Some(pattern) = &format {
        if kind.is_some_and(|k| k != PlaceType::TextInput) {
            c.fail(field("format"), "applies only to text_input places");
        } else if let Err(message) = compile_format(pattern) {
            c.fail(field("format"), message);
        }
    }
    let mut options = Vec::new();
    match object.get("options") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) if kind == Some(PlaceType::Dropdown) => {
            if items.is_empty() || items.len() > MAX_OPTIONS {
                c.fail(
                    field("options"),
                    format!("must hold 1 to {MAX_OPTIONS} options"),
                );
            }
            for (k, item) in items.iter().enumerate() {
                match item.as_str().map(str::trim) {
                    Some(o)
                        if !o.is_empty()
                            && o.chars().count() <= MAX_VALUE
                            && !o.chars().any(char::is_control) =>
                    {
                        if options.iter().any(|seen| seen == o) {
                            c.fail(format!("{path}.options[{k}]"), "is repeated");
                        } else {
                            options.push(o.to_owned());
                        }
                    }
                    _ => c.fail(
                        format!("{path}.options[{k}]"),
                        format!("must be a one-line text of 1 to {MAX_VALUE} characters"),
                    ),
                }
            }
        }
        Some(Value::Array(_)) => c.fail(field("options"), "applies only to dropdown places"),
        Some(_) => c.fail(field("options"), "must be an array of texts"),
    }
    if kind == Some(PlaceType::Dropdown) && object.get("options").is_none_or(Value::is_null) {
        c.fail(
            field("options"),
            "is required for a dropdown: the choices offered",
        );
    }
    let value = c.text(object, "value", &field("value"), MAX_VALUE);
    match (kind, &value) {
        (Some(PlaceType::Text), None) => c.fail(
            field("value"),
            "is required for a text place: the text to show",
        ),
        (Some(k), Some(_)) if k != PlaceType::Text => {
            c.fail(field("value"), "applies only to text places")
        }
        _ => {}
    }
    let width = number(c, object, "width", &field("width"));
    let height = number(c, object, "height", &field("height"));
    for (name, v) in [("width", width), ("height", height)] {
        if let Some(v) = v
            && !(MIN_SIZE..=MAX_SIZE).contains(&v)
        {
            c.fail(
                field(name),
                format!("must be between {MIN_SIZE} and {MAX_SIZE} points"),
            );
        }
    }
    let kind = kind?;
    let default = kind.default_size();
    let size = (width.is_some() || height.is_some())
        .then(|| (width.unwrap_or(default.0), height.unwrap_or(default.1)));
    Some(NewPlace {
        path: path.to_owned(),
        document,
        key: key?,
        kind,
        recipient_key,
        requirement,
        capture_as,
        format,
        options,
        value,
        size,
        fixed: Vec::new(),
    })
}

/// Checks across documents and recipients: keys and capture names are
/// unique in the envelope, every `recipient_key` names a recipient, and
/// only signers own signatures and initials.
pub(crate) fn check_owners(c: &mut Checker, places: &[NewPlace], recipients: &[NewRecipient]) {
    for (i, place) in places.iter().enumerate() {
        let earlier = &places[..i];
        if earlier
            .iter()
            .any(|p| p.key == place.key && p.document != place.document)
        {
            c.fail(
                format!("{}.key", place.path),
                "is used by a place of another document",
            );
        }
        if let Some(name) = &place.capture_as
            && earlier.iter().any(|p| p.capture_as.as_ref() == Some(name))
        {
            c.fail(
                format!("{}.capture_as", place.path),
                "is used by another place",
            );
        }
        let Some(owner) = &place.recipient_key else {
            continue;
        };
        match recipients.iter().find(|r| &r.key == owner) {
            None => c.fail(
                format!("{}.recipient_key", place.path),
                format!(
                    "names no recipient (known keys: {})",
                    known_keys(recipients)
                ),
            ),
            Some(r) if place.kind.is_signature_like() && r.kind != RecipientType::Signer => c.fail(
                format!("{}.recipient_key", place.path),
                format!(
                    "names an approver; only signers may own {} places",
                    place.kind
                ),
            ),
            Some(_) => {}
        }
    }
}

fn known_keys(recipients: &[NewRecipient]) -> String {
    let keys: Vec<&str> = recipients.iter().map(|r| r.key.as_str()).collect();
    if keys.is_empty() {
        "none".to_owned()
    } else {
        keys.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_bounded_and_anchored() {
        let re = compile_format("[0-9]{4}").unwrap();
        assert!(re.is_match("2024"));
        assert!(!re.is_match("x2024"), "the whole value must match");
        assert!(
            compile_format("(")
                .unwrap_err()
                .starts_with("is not a valid regular expression")
        );
        assert_eq!(
            compile_format("(a{1000}){1000}").unwrap_err(),
            "is too complex"
        );
    }
}
