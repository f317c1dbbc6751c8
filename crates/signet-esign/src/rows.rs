//! Database rows and their conversion into the shapes tools return.

use serde_json::{Map, Value};
use signet_store::sqlx::{self, AnyConnection};
use signet_store::{Backend, UnixTime};

use crate::error::EsignError;
use crate::input::{NewRecipient, Reminders};
use crate::model::{
    AuthenticationMethod, DeliverableType, DeliveryType, Document, DocumentKind, Envelope,
    EnvelopeStatus, Mode, Recipient, RecipientStatus, RecipientType, Routing, SignatureMethod,
};
use crate::places::{self, PlaceRow};
use crate::transitions::allowed;

fn time(secs: Option<i64>) -> Option<UnixTime> {
    secs.map(UnixTime::from_secs)
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub(crate) struct EnvelopeRow {
    pub id: String,
    pub org_id: String,
    pub mode: Mode,
    pub status: EnvelopeStatus,
    pub title: String,
    pub message: Option<String>,
    pub label: Option<String>,
    pub routing: Routing,
    pub topics: String,
    pub metadata: String,
    pub failure_reason: Option<String>,
    pub cancel_reason: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub completed_at: Option<i64>,
    pub canceled_at: Option<i64>,
    pub timezone: String,
    pub deliverable_type: DeliverableType,
    pub expires_at: Option<i64>,
    pub expired_at: Option<i64>,
    pub reminder_first_after: Option<i64>,
    pub reminder_every: Option<i64>,
    pub reminder_max: Option<i64>,
}

pub(crate) const ENVELOPE_COLUMNS: &str = "id, org_id, mode, status, title, message, label, routing, topics, metadata, \
     failure_reason, cancel_reason, created_at, updated_at, completed_at, canceled_at, timezone, \
     expires_at, expired_at, reminder_first_after, reminder_every, reminder_max, deliverable_type";

impl EnvelopeRow {
    pub fn topics(&self) -> Vec<String> {
        serde_json::from_str(&self.topics).unwrap_or_default()
    }

    /// Its reminder settings, if it has reminders.
    pub fn reminders(&self) -> Option<Reminders> {
        match (
            self.reminder_first_after,
            self.reminder_every,
            self.reminder_max,
        ) {
            (Some(first_after), Some(every), Some(max)) => Some(Reminders {
                first_after: u64::try_from(first_after).ok()?,
                every: u64::try_from(every).ok()?,
                max,
            }),
            _ => None,
        }
    }

    /// When a reminder due at `at` would go, if it ever will: the envelope
    /// is open and `at` comes before it expires.
    fn reminder_would_go(&self, at: i64) -> bool {
        allowed::EXPIRE.contains(&self.status) && self.expires_at.is_none_or(|end| at < end)
    }
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub(crate) struct RecipientRow {
    pub id: String,
    pub position: i64,
    pub key: String,
    #[sqlx(rename = "type")]
    pub kind: RecipientType,
    pub name: String,
    pub email: String,
    pub delivery_type: DeliveryType,
    pub status: RecipientStatus,
    pub released_at: Option<i64>,
    pub sent_at: Option<i64>,
    pub viewed_at: Option<i64>,
    pub completed_at: Option<i64>,
    pub rejected_at: Option<i64>,
    pub rejection_reason: Option<String>,
    pub replaced_by: Option<String>,
    pub typed_signature: Option<String>,
    pub ip_address: Option<String>,
    pub resend_count: i64,
    pub last_sent_at: Option<i64>,
    pub signature_options: String,
    pub authentication: String,
    pub reminder_count: i64,
    pub last_reminded_at: Option<i64>,
    pub next_reminder_at: Option<i64>,
}

pub(crate) const RECIPIENT_COLUMNS: &str = "id, position, key, type, name, email, delivery_type, status, \
     released_at, sent_at, viewed_at, completed_at, rejected_at, rejection_reason, replaced_by, \
     typed_signature, ip_address, resend_count, last_sent_at, signature_options, \
     reminder_count, last_reminded_at, next_reminder_at, authentication";

impl RecipientRow {
    /// How they may sign (both ways if the stored list is unreadable).
    pub fn signature_options(&self) -> Vec<SignatureMethod> {
        serde_json::from_str::<Vec<String>>(&self.signature_options)
            .ok()
            .map(|names| {
                names
                    .iter()
                    .filter_map(|n| SignatureMethod::parse(n))
                    .collect::<Vec<_>>()
            })
            .filter(|methods| !methods.is_empty())
            .unwrap_or_else(|| SignatureMethod::ALL.to_vec())
    }

    /// How they prove who they are. A stored list that cannot be read
    /// fails closed: the code is asked for.
    pub fn authentication(&self) -> Vec<AuthenticationMethod> {
        let methods: Option<Vec<AuthenticationMethod>> =
            serde_json::from_str::<Vec<String>>(&self.authentication)
                .ok()
                .and_then(|names| {
                    names
                        .iter()
                        .map(|n| AuthenticationMethod::parse(n))
                        .collect()
                })
                .filter(|methods: &Vec<AuthenticationMethod>| !methods.is_empty());
        methods.unwrap_or_else(|| {
            tracing::error!(
                recipient_id = self.id,
                "unreadable authentication list; asking for a code"
            );
            AuthenticationMethod::ALL.to_vec()
        })
    }

    /// Whether the ceremony opens only in a browser that entered a code.
    pub fn requires_code(&self) -> bool {
        self.authentication()
            .contains(&AuthenticationMethod::EmailCode)
    }

    fn view(&self, envelope: &EnvelopeRow) -> Recipient {
        // The stored due time can outlive its point (the recipient signed,
        // the envelope closed: the scheduler clears it when it comes due);
        // only a reminder that will go is shown.
        let next_reminder_at = self.next_reminder_at.filter(|&at| {
            allowed::WAITING.contains(&self.status) && envelope.reminder_would_go(at)
        });
        Recipient {
            authentication: self.authentication(),
            reminder_count: self.reminder_count,
            last_reminded_at: time(self.last_reminded_at),
            next_reminder_at: time(next_reminder_at),
            signature_options: self.signature_options(),
            recipient_id: self.id.clone(),
            key: self.key.clone(),
            kind: self.kind,
            name: self.name.clone(),
            email: self.email.clone(),
            delivery_type: self.delivery_type,
            status: self.status,
            order: self.position + 1,
            released_at: time(self.released_at),
            sent_at: time(self.sent_at),
            viewed_at: time(self.viewed_at),
            completed_at: time(self.completed_at),
            rejected_at: time(self.rejected_at),
            rejection_reason: self.rejection_reason.clone(),
            replaced_by: self.replaced_by.clone(),
            resend_count: self.resend_count,
        }
    }
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub(crate) struct DocumentRow {
    pub id: String,
    pub position: i64,
    pub name: String,
    pub source_url: String,
    pub upload_id: Option<String>,
    pub kind: Option<DocumentKind>,
    pub size_bytes: Option<i64>,
    pub sha256: Option<String>,
    pub pages: Option<i64>,
    pub page_sizes: Option<String>,
}

pub(crate) const DOCUMENT_COLUMNS: &str =
    "id, position, name, source_url, upload_id, kind, size_bytes, sha256, pages, page_sizes";

impl DocumentRow {
    /// Each page's displayed size in points, once the document was read.
    pub fn page_sizes(&self) -> Vec<(f64, f64)> {
        self.page_sizes
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or_default()
    }

    fn view(&self, places: &[PlaceRow]) -> Document {
        Document {
            places: places
                .iter()
                .filter(|p| p.document_id == self.id)
                .map(PlaceRow::view)
                .collect(),
            document_id: self.id.clone(),
            name: self.name.clone(),
            source_url: self.source_url.clone(),
            kind: self.kind,
            pages: self.pages,
            size_bytes: self.size_bytes,
            sha256: self.sha256.clone(),
        }
    }
}

/// An envelope of this organization, or `not-found` — also for another
/// organization's id, so ids reveal nothing across organizations.
pub(crate) async fn envelope(
    conn: &mut AnyConnection,
    org_id: &str,
    envelope_id: &str,
) -> Result<EnvelopeRow, EsignError> {
    sqlx::query_as::<_, EnvelopeRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {ENVELOPE_COLUMNS} FROM envelopes WHERE id = $1 AND org_id = $2"
    )))
    .bind(envelope_id)
    .bind(org_id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(EsignError::NotFound("envelope"))
}

/// A new recipient, `pending` until routing releases them (at creation, or
/// in a replaced recipient's place).
pub(crate) async fn insert_recipient(
    conn: &mut AnyConnection,
    id: &str,
    envelope_id: &str,
    position: i64,
    recipient: &NewRecipient,
    now: UnixTime,
) -> Result<(), EsignError> {
    sqlx::query(
        "INSERT INTO envelope_recipients (id, envelope_id, position, key, type, name, email, delivery_type, \
         status, created_at, signature_options, authentication) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(id)
    .bind(envelope_id)
    .bind(position)
    .bind(&recipient.key)
    .bind(recipient.kind)
    .bind(&recipient.name)
    .bind(&recipient.email)
    .bind(recipient.delivery_type)
    .bind(RecipientStatus::Pending)
    .bind(now.as_secs())
    .bind(serde_json::json!(recipient.signature_options).to_string())
    .bind(serde_json::json!(recipient.authentication).to_string())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The envelope a transaction is about to change, locked until it ends, so
/// that every writer of one envelope takes its turn and decides on the
/// status the previous one committed (the envelope first, then its
/// recipients: one order, no deadlock). On SQLite the write transaction
/// already holds the database's write lock.
pub(crate) async fn envelope_for_change(
    conn: &mut AnyConnection,
    backend: Backend,
    org_id: &str,
    envelope_id: &str,
) -> Result<EnvelopeRow, EsignError> {
    let lock = match backend {
        Backend::Postgres => " FOR UPDATE",
        Backend::Sqlite => "",
    };
    sqlx::query_as::<_, EnvelopeRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {ENVELOPE_COLUMNS} FROM envelopes WHERE id = $1 AND org_id = $2{lock}"
    )))
    .bind(envelope_id)
    .bind(org_id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(EsignError::NotFound("envelope"))
}

/// An envelope by id alone, if it is in `status` — for background work,
/// which acts on whichever organization's envelope it was given.
pub(crate) async fn envelope_in_status(
    conn: &mut AnyConnection,
    envelope_id: &str,
    status: EnvelopeStatus,
) -> Result<Option<EnvelopeRow>, EsignError> {
    Ok(
        sqlx::query_as::<_, EnvelopeRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {ENVELOPE_COLUMNS} FROM envelopes WHERE id = $1 AND status = $2"
        )))
        .bind(envelope_id)
        .bind(status)
        .fetch_optional(&mut *conn)
        .await?,
    )
}

/// Recipients in routing order.
pub(crate) async fn recipients(
    conn: &mut AnyConnection,
    envelope_id: &str,
) -> Result<Vec<RecipientRow>, EsignError> {
    Ok(sqlx::query_as::<_, RecipientRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {RECIPIENT_COLUMNS} FROM envelope_recipients WHERE envelope_id = $1 ORDER BY position, created_at"
    )))
    .bind(envelope_id)
    .fetch_all(&mut *conn)
    .await?)
}

pub(crate) async fn documents(
    conn: &mut AnyConnection,
    envelope_id: &str,
) -> Result<Vec<DocumentRow>, EsignError> {
    Ok(sqlx::query_as::<_, DocumentRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {DOCUMENT_COLUMNS} FROM envelope_documents WHERE envelope_id = $1 ORDER BY position"
    )))
    .bind(envelope_id)
    .fetch_all(&mut *conn)
    .await?)
}

/// The full envelope as `get_envelope` returns it.
pub(crate) async fn full(
    conn: &mut AnyConnection,
    row: EnvelopeRow,
) -> Result<Envelope, EsignError> {
    let documents = documents(conn, &row.id).await?;
    let recipients = recipients(conn, &row.id).await?;
    let places = places::for_envelope(conn, &row.id).await?;
    let finished: Vec<&str> = recipients
        .iter()
        .filter(|r| r.status == RecipientStatus::Completed)
        .map(|r| r.id.as_str())
        .collect();
    let captures = places::captures(places.iter().filter(|p| {
        p.filled_by
            .as_deref()
            .is_some_and(|by| finished.contains(&by))
    }));
    let recipients = recipients.iter().map(|r| r.view(&row)).collect();
    let reminders = row.reminders().map(|r| r.settings());
    Ok(Envelope {
        captures,
        timezone: row.timezone.clone(),
        deliverable: crate::model::DeliverableSettings {
            kind: row.deliverable_type,
        },
        envelope_id: row.id.clone(),
        mode: row.mode,
        status: row.status,
        routing: row.routing,
        topics: row.topics(),
        metadata: serde_json::from_str::<Map<String, Value>>(&row.metadata).unwrap_or_default(),
        title: row.title,
        message: row.message,
        label: row.label,
        failure_reason: row.failure_reason,
        cancel_reason: row.cancel_reason,
        documents: documents.iter().map(|d| d.view(&places)).collect(),
        recipients,
        created_at: UnixTime::from_secs(row.created_at),
        updated_at: UnixTime::from_secs(row.updated_at),
        completed_at: time(row.completed_at),
        canceled_at: time(row.canceled_at),
        expires_at: time(row.expires_at),
        expired_at: time(row.expired_at),
        reminders,
    })
}
