//! The engine's vocabulary: modes, routing, statuses, kinds, and the JSON
//! shapes tools return (the hosted product's field names). Every closed set
//! is a [`signet_store::text_enum!`]: rows hold these enums and queries bind
//! them, so no status is ever a string literal in SQL or Rust.

use serde::Serialize;
use serde_json::{Map, Value};
use signet_store::{UnixTime, text_enum};

text_enum!(
    /// Test envelopes send no email (the outbox keeps them); live ones do.
    pub Mode { Test => "test", Live => "live" }
);
text_enum!(
    /// Sequential releases one recipient at a time, in order; parallel, all at once.
    pub Routing { Sequential => "sequential", Parallel => "parallel" }
);
text_enum!(pub RecipientType { Signer => "signer", Approver => "approver" });
text_enum!(
    /// `processing → in_progress → completed`, side exits `failed`,
    /// `canceled`, and `expired` (its `expires_at` passed while still open).
    pub EnvelopeStatus {
        Processing => "processing",
        InProgress => "in_progress",
        Completed => "completed",
        Canceled => "canceled",
        Failed => "failed",
        Expired => "expired",
    }
);
text_enum!(
    /// `pending` (not yet its turn) · `awaiting` (released, email on its way)
    /// → `sent` → `completed`; or `rejected`, `failed`, `replaced`.
    pub RecipientStatus {
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

text_enum!(
    /// How a recipient learns of the request. Only email exists here: the
    /// signing link is a bearer secret, so it travels only in the
    /// recipient's own mailbox (or, in test mode, the outbox).
    pub DeliveryType { Email => "email" }
);
text_enum!(
    /// What a document turned out to be once fetched. A PDF's pages are
    /// merged into the deliverable; a Word document is not rendered, and a
    /// placeholder page stands for it.
    pub DocumentKind { Pdf => "pdf", Docx => "docx" }
);
text_enum!(
    /// What an event says happened (`list_events`' `type`).
    pub EventKind {
        EnvelopeCreated => "envelope.created",
        EnvelopeStarted => "envelope.started",
        EnvelopeFailed => "envelope.failed",
        EnvelopeCompleted => "envelope.completed",
        EnvelopeCanceled => "envelope.canceled",
        EnvelopeExpired => "envelope.expired",
        RecipientReleased => "recipient.released",
        RecipientSent => "recipient.sent",
        RecipientViewed => "recipient.viewed",
        RecipientConsented => "recipient.consented",
        RecipientCompleted => "recipient.completed",
        RecipientRejected => "recipient.rejected",
        RecipientResent => "recipient.resent",
        RecipientReminded => "recipient.reminded",
        RecipientReplaced => "recipient.replaced",
        RecipientCodeSent => "recipient.code_sent",
        RecipientAuthenticated => "recipient.authenticated",
        RecipientAuthenticationFailed => "recipient.authentication_failed",
        DeliverableGenerated => "deliverable.generated",
        DeliverableFailed => "deliverable.failed",
    }
);
text_enum!(
    /// What the deliverable holds: `standard`, the documents and the
    /// certificate of completion; `simple`, the documents only. Both sealed.
    pub DeliverableType { Standard => "standard", Simple => "simple" }
);
text_enum!(
    /// What kind of message, as `list_emails` shows it.
    pub EmailKind {
        SigningRequest => "signing_request",
        Reminder => "reminder",
        Completed => "completed",
        Canceled => "canceled",
        VerificationCode => "verification_code",
        Expired => "expired",
    }
);
text_enum!(
    /// Where a message stands: test-mode ones are `captured` for good; live
    /// ones are `sending` until SMTP answers.
    pub EmailStatus {
        Captured => "captured",
        Sending => "sending",
        Sent => "sent",
        Failed => "failed",
    }
);

text_enum!(
    /// What a place on the page is: filled by its recipient (signature,
    /// initials, inputs, checkbox, dropdown) or stamped by Signet (the rest).
    pub PlaceType {
        Signature => "signature",
        Initials => "initials",
        TextInput => "text_input",
        MultilineTextInput => "multiline_text_input",
        Checkbox => "checkbox",
        Dropdown => "dropdown",
        Text => "text",
        RecipientName => "recipient_name",
        RecipientEmail => "recipient_email",
        RecipientCompletedDate => "recipient_completed_date",
        EnvelopeCompletedDate => "envelope_completed_date",
    }
);
text_enum!(
    /// How a signer may make their signature and initials.
    pub SignatureMethod { Typed => "typed", Drawn => "drawn" }
);
text_enum!(
    /// How a recipient proves who they are before the ceremony opens:
    /// holding the link from their email (always), and with `email_code`
    /// also a one-time code sent to that email when they open it.
    pub AuthenticationMethod { EmailLink => "email_link", EmailCode => "email_code" }
);
text_enum!(
    /// Whether the recipient must fill a place before finishing.
    pub Requirement { Required => "required", Optional => "optional" }
);

impl PlaceType {
    /// Filled in by the recipient on the signing page.
    pub fn is_filled_by_recipient(self) -> bool {
        matches!(
            self,
            Self::Signature
                | Self::Initials
                | Self::TextInput
                | Self::MultilineTextInput
                | Self::Checkbox
                | Self::Dropdown
        )
    }

    /// A mark of the person (signature or initials): typed or drawn, and only for signers.
    pub fn is_signature_like(self) -> bool {
        matches!(self, Self::Signature | Self::Initials)
    }

    /// Stamped for a recipient, so it needs one (`text` and the envelope's
    /// completion date stand on their own).
    pub fn needs_recipient(self) -> bool {
        !matches!(self, Self::Text | Self::EnvelopeCompletedDate)
    }

    /// Width and height in points when the request gives none.
    pub fn default_size(self) -> (f64, f64) {
        match self {
            Self::Signature => (160.0, 44.0),
            Self::Initials => (64.0, 36.0),
            Self::Checkbox => (14.0, 14.0),
            Self::MultilineTextInput => (220.0, 64.0),
            Self::Dropdown => (140.0, 20.0),
            Self::TextInput
            | Self::Text
            | Self::RecipientName
            | Self::RecipientEmail
            | Self::RecipientCompletedDate
            | Self::EnvelopeCompletedDate => (160.0, 20.0),
        }
    }
}

impl EnvelopeStatus {
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::Completed | Self::Canceled | Self::Failed | Self::Expired
        )
    }
}

/// `deliverable` as `create_envelope` takes it and `get_envelope` shows it.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct DeliverableSettings {
    #[serde(rename = "type")]
    pub kind: DeliverableType,
}

/// An envelope's reminder settings, as `create_envelope` took them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReminderSettings {
    /// After a recipient was asked, e.g. `3d`.
    pub first_after: String,
    /// Between reminders.
    pub every: String,
    /// At most this many per recipient.
    pub max: i64,
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
    /// The time zone dates on the page are shown in.
    pub timezone: String,
    /// What the signed PDF will hold: `{ "type": "standard" | "simple" }`.
    pub deliverable: DeliverableSettings,
    pub documents: Vec<Document>,
    pub recipients: Vec<Recipient>,
    /// Values of places with `capture_as`, by that name, once their
    /// recipient has finished.
    pub captures: Map<String, Value>,
    pub created_at: UnixTime,
    pub updated_at: UnixTime,
    pub completed_at: Option<UnixTime>,
    pub canceled_at: Option<UnixTime>,
    /// When it expires if still open (`null`: never).
    pub expires_at: Option<UnixTime>,
    pub expired_at: Option<UnixTime>,
    /// Automatic reminders (`null`: none).
    pub reminders: Option<ReminderSettings>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Document {
    pub document_id: String,
    pub name: String,
    pub source_url: String,
    /// Known once fetched.
    pub kind: Option<DocumentKind>,
    pub pages: Option<i64>,
    pub size_bytes: Option<i64>,
    pub sha256: Option<String>,
    /// The fields on its pages, with their boxes once the document was read.
    pub places: Vec<crate::places::Place>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Recipient {
    pub recipient_id: String,
    pub key: String,
    #[serde(rename = "type")]
    pub kind: RecipientType,
    pub name: String,
    pub email: String,
    pub delivery_type: DeliveryType,
    /// How they may sign their signature and initials places.
    pub signature_options: Vec<SignatureMethod>,
    /// How they prove who they are: `email_link`, and `email_code` when a
    /// code sent to their email is asked for before the ceremony opens.
    pub authentication: Vec<AuthenticationMethod>,
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
    /// Automatic reminders sent to them so far.
    pub reminder_count: i64,
    pub last_reminded_at: Option<UnixTime>,
    /// When the next automatic reminder goes, while one will (they are
    /// waiting, the envelope is open and expires later, `max` not reached).
    pub next_reminder_at: Option<UnixTime>,
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
    pub kind: EventKind,
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
    pub kind: EmailKind,
    pub to: String,
    pub to_name: String,
    pub subject: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// The signing or download link the email carries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// The one-time code a test-mode `verification_code` email carries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    pub created_at: UnixTime,
}
