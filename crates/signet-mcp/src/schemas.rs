//! Input schemas that `tools/list` advertises. Tools read their arguments
//! as plain JSON and validate them in the engine, so that every problem of
//! a call is reported at once as a `validation-error` (a typed decoder
//! would stop at the first and answer with a protocol error instead).

#![allow(dead_code, missing_debug_implementations)]

use rmcp::schemars::JsonSchema;
use std::collections::BTreeMap;

#[derive(JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct CreateEnvelope {
    /// `test` (default: no email is sent; read it with `list_emails`) or `live`.
    pub mode: Option<Mode>,
    /// Shown to recipients; at most 200 characters.
    pub title: String,
    /// A note to the recipients, shown in the email and on the signing page (at most 5000 characters).
    pub message: Option<String>,
    /// Your own label for the envelope (at most 100 characters).
    pub label: Option<String>,
    /// `sequential` (default: one recipient at a time, in order) or `parallel`.
    pub routing: Option<Routing>,
    /// Up to 10 topics to filter by, each matching `^[a-z][a-z0-9_]{0,31}$`.
    pub topics: Option<Vec<String>>,
    /// Up to 10 string pairs kept with the envelope.
    pub metadata: Option<BTreeMap<String, String>>,
    /// 1 to 10 documents (PDF or DOCX), by https URL or by the `url` returned by `mint_upload_url`.
    pub documents: Vec<DocumentInput>,
    /// 1 to 10 recipients, asked in this order when routing is sequential.
    pub recipients: Vec<RecipientInput>,
    /// IANA time zone (e.g. `Europe/Paris`) of the dates stamped on the documents; default `UTC`.
    pub timezone: Option<String>,
    /// What the sealed PDF holds once everyone has signed; default `{ "type": "standard" }`.
    pub deliverable: Option<DeliverableInput>,
    /// Automatic reminders to each recipient whose turn it is and who has not finished.
    pub reminders: Option<RemindersInput>,
    /// The envelope expires this long after creation if not finished, e.g. `14d` (1h to 365d; durations are a whole number and `s`, `m`, `h` or `d`). Not with `expires_at`.
    pub expires_in: Option<String>,
    /// The envelope expires at this RFC 3339 time if not finished, e.g. `2027-01-31T17:00:00Z` (1 hour to 365 days ahead). Not with `expires_in`. Recipients still asked are told; their links stop working.
    pub expires_at: Option<String>,
}

#[derive(JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct DeliverableInput {
    /// `standard`: the documents followed by a certificate of completion (each recipient, how they were authenticated, their consent, addresses and times, the events, the document hashes, the seal). `simple`: the documents only. Both are sealed (PAdES).
    #[serde(rename = "type")]
    pub kind: Option<DeliverableKind>,
}

#[derive(JsonSchema)]
#[schemars(crate = "rmcp::schemars", rename_all = "snake_case")]
pub enum DeliverableKind {
    Standard,
    Simple,
}

#[derive(JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct RemindersInput {
    /// The first reminder goes this long after the recipient was asked, e.g. `3d` (1h to 365d).
    pub first_after: String,
    /// Then one every this long (1h to 365d; default: `first_after`).
    pub every: Option<String>,
    /// At most this many reminders per recipient, 1 to 20 (default 3).
    pub max: Option<i64>,
}

#[derive(JsonSchema)]
#[schemars(crate = "rmcp::schemars", rename_all = "snake_case")]
pub enum Mode {
    Test,
    Live,
}

#[derive(JsonSchema)]
#[schemars(crate = "rmcp::schemars", rename_all = "snake_case")]
pub enum Routing {
    Sequential,
    Parallel,
}

#[derive(JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct DocumentInput {
    /// An https URL of a PDF or DOCX (at most 10 MB), or an upload URL from `mint_upload_url`.
    pub url: String,
    /// The name shown to recipients; defaults to the URL's file name.
    pub name: Option<String>,
    /// Fields on this document's pages (at most 100). Each place goes where its placeholder `[[key]]` is written in the document's text (every occurrence; at least one must exist), unless `fixed_positions` place it. Recipients fill their places on the signing page; Signet stamps every place onto the signed PDF. Without places, each signer types their name once for the envelope and it appears on the audit trail.
    pub places: Option<Vec<PlaceInput>>,
    /// Exact spots for places instead of placeholders: `{ place_key, page, top, left }`, in points (1/72 inch) from the page's top-left corner; page 1 is the first.
    pub fixed_positions: Option<Vec<FixedPositionInput>>,
}

#[derive(JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct PlaceInput {
    /// Unique in the envelope (letters, digits, `_`, `-`); write `[[key]]` in the document where the place goes.
    pub key: String,
    /// What the place is.
    #[serde(rename = "type")]
    pub kind: PlaceType,
    /// The `key` of the recipient who fills it (or whose name, email or date it shows). Only signers own `signature` and `initials`. Optional for `text` and `envelope_completed_date`.
    pub recipient_key: Option<String>,
    /// `required` (default) or `optional`: a required place must be filled before the recipient can finish.
    pub requirement: Option<Requirement>,
    /// A name to report the value under in `get_envelope`'s `captures` and the `recipient.completed` event, once the recipient finishes.
    pub capture_as: Option<String>,
    /// For `text_input`: a regular expression the whole value must match, e.g. `[0-9]{5}`.
    pub format: Option<String>,
    /// For `dropdown`: 1 to 50 choices.
    pub options: Option<Vec<String>>,
    /// For `text`: the static text to show.
    pub value: Option<String>,
    /// Width in points (defaults: signature 160, initials 64, checkbox 14, multiline 220, others 160). Over a placeholder the place is at least as wide as the placeholder and covers it.
    pub width: Option<f64>,
    /// Height in points (defaults: signature 44, initials 36, checkbox 14, multiline 64, others 20).
    pub height: Option<f64>,
}

#[derive(JsonSchema)]
#[schemars(crate = "rmcp::schemars", rename_all = "snake_case")]
pub enum PlaceType {
    /// The recipient signs: typed or drawn, as their `signature_options` allow.
    Signature,
    /// The recipient's initials: typed or drawn.
    Initials,
    /// One line the recipient types (see `format`).
    TextInput,
    /// Several lines the recipient types.
    MultilineTextInput,
    /// A box the recipient may tick (required: must tick).
    Checkbox,
    /// A choice among `options`.
    Dropdown,
    /// Static text (`value`), stamped as is.
    Text,
    /// The recipient's name, stamped when they finish.
    RecipientName,
    /// The recipient's email, stamped when they finish.
    RecipientEmail,
    /// The date the recipient finished, in the envelope's `timezone`.
    RecipientCompletedDate,
    /// The date the envelope completed, in its `timezone`.
    EnvelopeCompletedDate,
}

#[derive(JsonSchema)]
#[schemars(crate = "rmcp::schemars", rename_all = "snake_case")]
pub enum Requirement {
    Required,
    Optional,
}

#[derive(JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct FixedPositionInput {
    /// The `key` of a place of this document.
    pub place_key: String,
    /// 1-based page number.
    pub page: u32,
    /// Points from the top edge of the page to the top of the place.
    pub top: f64,
    /// Points from the left edge of the page to the left of the place.
    pub left: f64,
}

#[derive(JsonSchema)]
#[schemars(crate = "rmcp::schemars", rename_all = "snake_case")]
pub enum SignatureOption {
    Typed,
    Drawn,
}

#[derive(JsonSchema)]
#[schemars(crate = "rmcp::schemars", rename_all = "snake_case")]
pub enum Authentication {
    /// Holding the link sent to their email (always asked for).
    EmailLink,
    /// Also a one-time code sent to their email when they open the link,
    /// entered in the browser that signs (8 digits, 10 minutes, 5 attempts).
    EmailCode,
}

#[derive(JsonSchema)]
#[schemars(crate = "rmcp::schemars", rename_all = "snake_case")]
pub enum RecipientType {
    Signer,
    Approver,
}

#[derive(JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct RecipientInput {
    /// Your key for this recipient, unique in the envelope (letters, digits, `_`, `-`).
    pub key: String,
    /// `signer` (default) or `approver`.
    #[serde(rename = "type")]
    pub kind: Option<RecipientType>,
    pub name: String,
    pub email: String,
    /// `email` (the default and only delivery).
    pub delivery_type: Option<String>,
    /// How this signer may make their signature and initials: `typed`, `drawn`, or both (the default).
    pub signature_options: Option<Vec<SignatureOption>>,
    /// How the recipient proves who they are: `["email_link"]` (the default), or with `email_code` a code sent to their email must be entered before the documents open (test mode: read it with `list_emails`).
    pub authentication: Option<Vec<Authentication>>,
}

#[derive(JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct EnvelopeId {
    pub envelope_id: String,
}

#[derive(JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct ListEnvelopes {
    /// Only envelopes in this status: processing, in_progress, completed, canceled, failed, expired.
    pub status: Option<String>,
    /// Only envelopes with this topic.
    pub topic: Option<String>,
    /// Only `test` or only `live` envelopes.
    pub mode: Option<Mode>,
    /// Page size, 1 to 100 (default 20).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct CancelEnvelope {
    pub envelope_id: String,
    /// Why, told to the recipients (at most 2000 characters).
    pub reason: Option<String>,
}

#[derive(JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct MintUploadUrl {
    /// `application/pdf` (default) or `application/vnd.openxmlformats-officedocument.wordprocessingml.document`.
    pub content_type: Option<String>,
    /// The file's name, shown to recipients.
    pub filename: Option<String>,
}

#[derive(JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct ListEvents {
    /// Only this envelope's events.
    pub envelope_id: Option<String>,
    /// `next_cursor` of the previous call: only newer events.
    pub after: Option<String>,
    /// Wait up to this many seconds (0 to 30) for a new event when there is none yet.
    pub wait_seconds: Option<i64>,
    /// At most this many events, 1 to 100 (default 100).
    pub limit: Option<i64>,
}

#[derive(JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct ListEmails {
    /// Only this envelope's emails.
    pub envelope_id: Option<String>,
    /// At most this many, 1 to 100 (default 50).
    pub limit: Option<i64>,
}

#[derive(JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct EmailId {
    pub email_id: String,
}

#[derive(JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct RecipientRef {
    pub envelope_id: String,
    pub recipient_id: String,
}

#[derive(JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct ReplaceRecipient {
    pub envelope_id: String,
    /// The recipient to replace; the new one keeps its key, type and turn.
    pub recipient_id: String,
    pub name: String,
    pub email: String,
    /// `email` (the default and only delivery).
    pub delivery_type: Option<String>,
    /// How the new person may make their signature and initials: `typed`, `drawn`, or both (the default).
    pub signature_options: Option<Vec<SignatureOption>>,
    /// `email_link` and/or `email_code` (see `create_envelope`); by default the replaced recipient's.
    pub authentication: Option<Vec<Authentication>>,
}
