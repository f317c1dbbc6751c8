//! The engine's vocabulary: modes, routing, statuses, and the JSON shapes
//! tools return (the hosted product's field names).

use serde::Serialize;
use serde_json::{Map, Value};
use signet_store::UnixTime;

macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),* }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),* }
            }
            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some(Self::$variant),)* _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_enum!(
    /// Test envelopes send no email (the outbox keeps them); live ones do.
    Mode { Test => "test", Live => "live" }
);
text_enum!(
    /// Sequential releases one recipient at a time, in order; parallel, all at once.
    Routing { Sequential => "sequential", Parallel => "parallel" }
);
text_enum!(RecipientType { Signer => "signer", Approver => "approver" });
text_enum!(
    /// `processing → in_progress → completed`, side exits `failed`, `canceled`.
    EnvelopeStatus {
        Processing => "processing",
        InProgress => "in_progress",
        Completed => "completed",
        Canceled => "canceled",
        Failed => "failed",
    }
);
text_enum!(
    /// `pending` (not yet its turn) · `awaiting` (released, email on its way)
    /// → `sent` → `completed`; or `rejected`, `failed`, `replaced`.
    RecipientStatus {
        Pending => "pending",
        Awaiting => "awaiting",
        Sent => "sent",
        Completed => "completed",
        Rejected => "rejected",
        SoftBounced => "soft_bounced",
        HardBounced => "hard_bounced",
        Failed => "failed",
        Replaced => "replaced",
    }
);

impl EnvelopeStatus {
    pub fn is_final(self) -> bool {
        matches!(self, Self::Completed | Self::Canceled | Self::Failed)
    }
}

impl RecipientStatus {
    /// Released and not yet finished: the signing link works.
    pub fn is_open(self) -> bool {
        matches!(self, Self::Awaiting | Self::Sent)
    }
}

/// An envelope as `get_envelope` returns it.
#[derive(Clone, Debug, Serialize)]
pub struct Envelope {
    pub envelope_id: String,
    pub mode: Mode,
    pub status: EnvelopeStatus,
    pub title: String,
    pub message: Option<String>,
    pub label: Option<String>,
    pub routing: Routing,
    pub topics: Vec<String>,
    pub metadata: Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancel_reason: Option<String>,
    pub documents: Vec<Document>,
    pub recipients: Vec<Recipient>,
    pub created_at: UnixTime,
    pub updated_at: UnixTime,
    pub completed_at: Option<UnixTime>,
    pub canceled_at: Option<UnixTime>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Document {
    pub document_id: String,
    pub name: String,
    pub source_url: String,
    /// `pdf` or `docx`, once fetched.
    pub kind: Option<String>,
    pub pages: Option<i64>,
    pub size_bytes: Option<i64>,
    pub sha256: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Recipient {
    pub recipient_id: String,
    pub key: String,
    #[serde(rename = "type")]
    pub kind: RecipientType,
    pub name: String,
    pub email: String,
    pub delivery_type: String,
    pub status: RecipientStatus,
    pub order: i64,
    pub released_at: Option<UnixTime>,
    pub sent_at: Option<UnixTime>,
    pub viewed_at: Option<UnixTime>,
    pub completed_at: Option<UnixTime>,
    pub rejected_at: Option<UnixTime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejection_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replaced_by: Option<String>,
    pub resend_count: i64,
}

/// A summary row of `list_envelopes`.
#[derive(Clone, Debug, Serialize)]
pub struct EnvelopeSummary {
    pub envelope_id: String,
    pub mode: Mode,
    pub status: EnvelopeStatus,
    pub title: String,
    pub label: Option<String>,
    pub topics: Vec<String>,
    pub created_at: UnixTime,
    pub updated_at: UnixTime,
}

#[derive(Clone, Debug, Serialize)]
pub struct Event {
    pub event_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub envelope_id: String,
    pub recipient_id: Option<String>,
    pub data: Value,
    pub created_at: UnixTime,
}

#[derive(Clone, Debug, Serialize)]
pub struct Email {
    pub email_id: String,
    pub envelope_id: String,
    pub recipient_id: Option<String>,
    pub kind: String,
    pub to: String,
    pub to_name: String,
    pub subject: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// The signing or download link the email carries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    pub created_at: UnixTime,
}
