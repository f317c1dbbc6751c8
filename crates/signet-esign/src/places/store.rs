//! The `envelope_places` rows: written when the envelope is created, given
//! their boxes once the documents are read, and filled when their recipient
//! finishes; and the view `get_envelope` shows.

use serde::Serialize;
use serde_json::{Map, Value, json};
use signet_store::UnixTime;
use signet_store::sqlx::{self, AnyConnection};

use super::fill::{Entry, Fill, Stroke};
use super::parse::{NewPlace, compile_format};
use super::{FixedPosition, PlaceBox, PlaceType, Requirement};
use crate::error::EsignError;

#[derive(Clone, Debug, sqlx::FromRow)]
pub(crate) struct PlaceRow {
    pub id: String,
    pub document_id: String,
    pub key: String,
    pub kind: PlaceType,
    pub recipient_key: Option<String>,
    pub requirement: Requirement,
    pub capture_as: Option<String>,
    pub format: Option<String>,
    pub options: Option<String>,
    pub value: Option<String>,
    pub size: Option<String>,
    pub fixed_positions: String,
    pub boxes: Option<String>,
    pub filled_text: Option<String>,
    pub filled_drawing: Option<String>,
    pub filled_by: Option<String>,
    pub filled_at: Option<i64>,
}

const COLUMNS: &str = "id, document_id, position, key, kind, recipient_key, requirement, capture_as, \
     format, options, value, size, fixed_positions, boxes, filled_text, filled_drawing, filled_by, filled_at";

impl PlaceRow {
    pub fn options(&self) -> Vec<String> {
        self.options
            .as_deref()
            .and_then(|o| serde_json::from_str(o).ok())
            .unwrap_or_default()
    }

    pub fn compiled_format(&self) -> Option<regex::Regex> {
        compile_format(self.format.as_deref()?).ok()
    }

    pub fn size(&self) -> Option<(f64, f64)> {
        self.size
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok())
    }

    pub fn fixed(&self) -> Vec<FixedPosition> {
        serde_json::from_str(&self.fixed_positions).unwrap_or_default()
    }

    pub fn boxes(&self) -> Vec<PlaceBox> {
        self.boxes
            .as_deref()
            .and_then(|b| serde_json::from_str(b).ok())
            .unwrap_or_default()
    }

    pub fn first_page(&self) -> Option<u32> {
        self.boxes().iter().map(|b| b.page).min()
    }

    pub fn strokes(&self) -> Option<Vec<Stroke>> {
        serde_json::from_str(self.filled_drawing.as_deref()?).ok()
    }

    pub fn is_filled(&self) -> bool {
        self.filled_at.is_some()
    }

    /// The value a capture reports: text as entered, a checkbox as a
    /// boolean, a drawn signature as null (there is no text to give).
    pub fn captured_value(&self) -> Value {
        match (self.kind, &self.filled_text) {
            (PlaceType::Checkbox, text) => Value::Bool(text.as_deref() == Some("true")),
            (_, Some(text)) => Value::String(text.clone()),
            (_, None) => Value::Null,
        }
    }

    /// What `get_envelope` shows of this place.
    pub fn view(&self) -> Place {
        let filled = self.is_filled();
        Place {
            key: self.key.clone(),
            kind: self.kind,
            recipient_key: self.recipient_key.clone(),
            requirement: self.requirement,
            capture_as: self.capture_as.clone(),
            boxes: self.boxes(),
            filled,
            filled_at: self.filled_at.map(UnixTime::from_secs),
            method: match (
                self.kind.is_signature_like(),
                filled,
                self.filled_drawing.is_some(),
            ) {
                (true, true, true) => Some("drawn"),
                (true, true, false) => Some("typed"),
                _ => None,
            },
            value: if filled && !self.kind.is_signature_like() {
                Some(self.captured_value())
            } else if self.kind == PlaceType::Text {
                self.value.clone().map(Value::String)
            } else {
                None
            },
        }
    }
}

/// A place as `get_envelope` returns it.
#[derive(Clone, Debug, Serialize)]
pub struct Place {
    pub key: String,
    #[serde(rename = "type")]
    pub kind: PlaceType,
    pub recipient_key: Option<String>,
    pub requirement: Requirement,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capture_as: Option<String>,
    /// Where it is: page (1-based) and box in points from the page's top-left corner.
    pub boxes: Vec<PlaceBox>,
    pub filled: bool,
    pub filled_at: Option<UnixTime>,
    /// For signatures and initials: `typed` or `drawn`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<&'static str>,
    /// What was entered (or a static text's value).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

/// Writes the places of a new envelope; `boxes[i]` when already located.
pub(crate) async fn insert(
    conn: &mut AnyConnection,
    envelope_id: &str,
    document_ids: &[String],
    places: &[NewPlace],
    boxes: &[Option<Vec<PlaceBox>>],
) -> Result<(), EsignError> {
    for (position, place) in places.iter().enumerate() {
        let Some(document_id) = document_ids.get(place.document) else {
            continue;
        };
        let located = boxes.get(position).cloned().flatten();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO envelope_places ({COLUMNS}, envelope_id) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, NULL, NULL, NULL, NULL, $15)"
        )))
        .bind(signet_store::ids::new(signet_store::ids::PLACE)?)
        .bind(document_id)
        .bind(position as i64)
        .bind(&place.key)
        .bind(place.kind)
        .bind(&place.recipient_key)
        .bind(place.requirement)
        .bind(&place.capture_as)
        .bind(&place.format)
        .bind((!place.options.is_empty()).then(|| json!(place.options).to_string()))
        .bind(&place.value)
        .bind(place.size.map(|s| json!([s.0, s.1]).to_string()))
        .bind(json!(place.fixed).to_string())
        .bind(located.map(|b| json!(b).to_string()))
        .bind(envelope_id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Every place of an envelope, in request order.
pub(crate) async fn for_envelope(
    conn: &mut AnyConnection,
    envelope_id: &str,
) -> Result<Vec<PlaceRow>, EsignError> {
    Ok(sqlx::query_as::<_, PlaceRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM envelope_places WHERE envelope_id = $1 ORDER BY position"
    )))
    .bind(envelope_id)
    .fetch_all(&mut *conn)
    .await?)
}

/// The boxes found once the document was read.
pub(crate) async fn record_boxes(
    conn: &mut AnyConnection,
    place_id: &str,
    boxes: &[PlaceBox],
) -> Result<(), EsignError> {
    sqlx::query("UPDATE envelope_places SET boxes = $1 WHERE id = $2")
        .bind(json!(boxes).to_string())
        .bind(place_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// What a recipient entered, and the values Signet stamps for them (their
/// name, email and completion date are fixed at this moment).
pub(crate) async fn record_fill(
    conn: &mut AnyConnection,
    recipient_id: &str,
    fill: &Fill,
    now: UnixTime,
) -> Result<(), EsignError> {
    for (place_id, entry) in &fill.entries {
        let (text, drawing) = match entry {
            Entry::Text(text) => (Some(text.clone()), None),
            Entry::Checked(checked) => (Some(checked.to_string()), None),
            Entry::Drawing(strokes) => (None, Some(json!(strokes).to_string())),
        };
        sqlx::query(
            "UPDATE envelope_places SET filled_text = $1, filled_drawing = $2, filled_by = $3, filled_at = $4 \
             WHERE id = $5 AND filled_at IS NULL",
        )
        .bind(text)
        .bind(drawing)
        .bind(recipient_id)
        .bind(now.as_secs())
        .bind(place_id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// The captures of the places `rows` (those filled), by their `capture_as` name.
pub(crate) fn captures<'a>(rows: impl IntoIterator<Item = &'a PlaceRow>) -> Map<String, Value> {
    rows.into_iter()
        .filter(|p| p.is_filled())
        .filter_map(|p| Some((p.capture_as.clone()?, p.captured_value())))
        .collect()
}
