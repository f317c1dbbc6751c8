//! Places: the fields on a document's pages (signature, initials, inputs,
//! checkboxes, names, dates…), each owned by a recipient, found by a
//! `[[key]]` placeholder in the document's text or at a fixed position,
//! filled on the signing page and stamped onto the deliverable.
//!
//! What lives where:
//! - `parse.rs`: the `places` and `fixed_positions` of `create_envelope`'s
//!   documents, checked with every other argument.
//! - `locate.rs`: where each place lands once the document's bytes are known
//!   (placeholders searched in the page text, fixed positions checked).
//! - `fill.rs`: what a recipient enters on the signing page, judged against
//!   the places they own.
//! - `store.rs`: the `envelope_places` rows and the views tools and pages show.

mod fill;
mod locate;
mod parse;
mod store;

use serde::{Deserialize, Serialize};

pub(crate) use fill::{Entry, Fill, label};
pub(crate) use locate::{Wanted, locate};
pub(crate) use parse::{NewPlace, check_owners, parse_document_places};
pub use store::Place;
pub(crate) use store::{PlaceRow, captures, for_envelope, insert, record_boxes, record_fill};

pub use crate::model::{PlaceType, Requirement};

/// Most places one document may have.
pub const MAX_PLACES: usize = 100;
/// Most fixed positions one document may have.
pub const MAX_FIXED_POSITIONS: usize = 200;
/// Longest text a recipient may type into a place (multiline inputs).
pub const MAX_TEXT: usize = 2000;
/// Longest static text, option or format.
pub const MAX_VALUE: usize = 500;
/// Most dropdown options.
pub const MAX_OPTIONS: usize = 50;
/// Sizes are between these, in points.
pub const MIN_SIZE: f64 = 6.0;
pub const MAX_SIZE: f64 = 2000.0;

/// A place's rectangle on one page, in points from the page's top-left
/// corner as displayed.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlaceBox {
    /// 1-based.
    pub page: u32,
    pub left: f64,
    pub top: f64,
    pub width: f64,
    pub height: f64,
    /// The placeholder this box was found at, which the stamped field hides
    /// (only it: the field may reach over the document's own content, as a
    /// pen signature does, and must not erase it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placeholder: Option<Area>,
}

/// A rectangle on a page, in points from its top-left corner.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Area {
    pub left: f64,
    pub top: f64,
    pub width: f64,
    pub height: f64,
}

/// A fixed position as the request gave it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct FixedPosition {
    pub page: u32,
    pub top: f64,
    pub left: f64,
}

/// The placeholder text that marks where a place goes.
pub fn placeholder(key: &str) -> String {
    format!("[[{key}]]")
}

/// A date as stamped on the page: the day in the envelope's time zone.
pub(crate) fn date_in(timezone: &str, at: signet_store::UnixTime) -> String {
    let zone = jiff::tz::TimeZone::get(timezone).unwrap_or(jiff::tz::TimeZone::UTC);
    match jiff::Timestamp::from_second(at.as_secs()) {
        Ok(instant) => instant.to_zoned(zone).strftime("%Y-%m-%d").to_string(),
        Err(_) => String::new(),
    }
}
