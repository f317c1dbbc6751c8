//! The deliverable: on completion, one PDF of the documents followed by an
//! audit trail (events, signers with their typed signatures and addresses,
//! document hashes), stored once and downloaded through signed links.

use std::time::Duration;

use serde_json::{Value, json};
use signet_store::{UnixTime, ids, sqlx};

use crate::error::EsignError;
use crate::events::{self, NewEvent};
use crate::flow::{Step, sha256_hex};
use crate::model::{
    EmailKind, EnvelopeStatus, EventKind, PlaceType, RecipientStatus, RecipientType,
};
use crate::outbox;
use crate::pdf::{
    self, AuditDocument, AuditEvent, AuditField, AuditSigner, AuditTrail, DocumentKind, Mark,
    SourceDocument, Stamp,
};
use crate::places::{self, PlaceRow};
use crate::rows;
use crate::{Caller, Esign};

/// How long a `get_deliverables` download URL works.
pub const DOWNLOAD_TTL: Duration = Duration::from_secs(3600);
/// How long the link in the completion email works.
pub const EMAILED_DOWNLOAD_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

pub(crate) fn spawn_generation(esign: Esign, envelope_id: String) {
    tokio::spawn(async move {
        if let Err(error) = generate(&esign, &envelope_id).await {
            tracing::error!(%error, envelope_id, "generating a deliverable failed");
        }
    });
}

/// A stored document: id, name, kind, SHA-256, pages, bytes, LibreOffice's PDF.
type StoredDocument = (
    String,
    String,
    Option<DocumentKind>,
    Option<String>,
    Option<i64>,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
);

fn stamp(secs: Option<i64>) -> String {
    secs.map(|s| UnixTime::from_secs(s).rfc3339())
        .unwrap_or_default()
}

fn describe(kind: EventKind, data: &Value) -> String {
    let field = |name: &str| {
        data.get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    match kind {
        EventKind::RecipientCompleted if field("typed_signature").is_empty() => {
            format!(
                "{} signed (drawn) from {}",
                field("key"),
                field("ip_address")
            )
        }
        EventKind::RecipientCompleted => format!(
            "{} signed as \"{}\" from {}",
            field("key"),
            field("typed_signature"),
            field("ip_address")
        ),
        EventKind::RecipientConsented => format!(
            "{} agreed to sign electronically (\"{}\") from {}",
            field("key"),
            field("statement"),
            field("ip_address")
        ),
        EventKind::RecipientRejected => {
            format!("{} declined from {}", field("key"), field("ip_address"))
        }
        EventKind::RecipientSent => format!("request sent to {}", field("to")),
        EventKind::RecipientReleased => format!("{} released", field("key")),
        EventKind::RecipientReplaced => {
            format!("{} replaced by {}", field("key"), field("email"))
        }
        EventKind::EnvelopeCanceled | EventKind::EnvelopeFailed => field("reason"),
        _ => String::new(),
    }
}

async fn generate(esign: &Esign, envelope_id: &str) -> Result<(), EsignError> {
    let mut conn = esign.store().pool().acquire().await?;
    let Some(envelope) =
        rows::envelope_in_status(&mut conn, envelope_id, EnvelopeStatus::Completed).await?
    else {
        return Ok(());
    };
    let exists: Option<String> =
        sqlx::query_scalar("SELECT id FROM deliverables WHERE envelope_id = $1")
            .bind(envelope_id)
            .fetch_optional(&mut *conn)
            .await?;
    if exists.is_some() {
        return Ok(());
    }
    let contents: Vec<StoredDocument> = sqlx::query_as(
        "SELECT id, name, kind, sha256, pages, content, converted FROM envelope_documents WHERE envelope_id = $1 ORDER BY position",
    )
    .bind(envelope_id)
    .fetch_all(&mut *conn)
    .await?;
    let recipients = rows::recipients(&mut conn, envelope_id).await?;
    let places = places::for_envelope(&mut conn, envelope_id).await?;
    let history = events::after(&mut conn, &envelope.org_id, Some(envelope_id), 0, 10_000).await?;
    drop(conn);

    let trail = AuditTrail {
        title: envelope.title.clone(),
        envelope_id: envelope.id.clone(),
        completed_at: stamp(envelope.completed_at),
        events: history
            .iter()
            .map(|e| AuditEvent {
                at: stamp(Some(e.created_at)),
                kind: e.kind.to_string(),
                detail: describe(
                    e.kind,
                    &serde_json::from_str(&e.data).unwrap_or(Value::Null),
                ),
            })
            .collect(),
        signers: recipients
            .iter()
            .filter(|r| r.status == RecipientStatus::Completed)
            .map(|r| AuditSigner {
                name: r.name.clone(),
                email: r.email.clone(),
                role: r.kind.to_string(),
                outcome: if r.kind == RecipientType::Approver {
                    "approved"
                } else {
                    "signed"
                }
                .to_owned(),
                typed_signature: match r.typed_signature.as_deref() {
                    Some("") | None if r.kind == RecipientType::Signer => {
                        "drawn on the page".to_owned()
                    }
                    other => other.unwrap_or_default().to_owned(),
                },
                at: stamp(r.completed_at),
                ip_address: r.ip_address.clone().unwrap_or_default(),
            })
            .collect(),
        documents: contents
            .iter()
            .map(|(_, name, _, sha, pages, _, _)| AuditDocument {
                name: name.clone(),
                pages: pages.and_then(|p| u32::try_from(p).ok()),
                sha256_hex: sha.clone().unwrap_or_default(),
            })
            .collect(),
        fields: audit_fields(&places, &contents, &recipients),
    };
    let envelope_date = envelope
        .completed_at
        .map(|at| places::date_in(&envelope.timezone, UnixTime::from_secs(at)))
        .unwrap_or_default();
    // PDF assembly is CPU work: keep it off the request threads.
    let documents = trail.documents.clone();
    /// Kind, the PDF to include, what to stamp on it.
    type Source = (Option<DocumentKind>, Option<Vec<u8>>, Vec<Stamp>);
    let sources: Vec<Source> = contents
        .into_iter()
        .map(|(id, _, kind, _, _, bytes, converted)| {
            let stamps = stamps(
                places.iter().filter(|p| p.document_id == id),
                &envelope_date,
            );
            match kind {
                Some(DocumentKind::Docx) => (kind, converted, stamps),
                _ => (kind, bytes, stamps),
            }
        })
        .collect();
    let seal = esign.inner.seal.clone();
    let signed_at = format!(
        "D:{}Z",
        UnixTime::from_secs(esign.now().as_secs())
            .rfc3339()
            .chars()
            .filter(char::is_ascii_digit)
            .collect::<String>()
    );
    let bytes = tokio::task::spawn_blocking(move || {
        let borrowed: Vec<SourceDocument<'_>> = sources
            .iter()
            .zip(&documents)
            .map(|((kind, bytes, stamps), doc)| SourceDocument {
                name: &doc.name,
                pdf: bytes.as_deref(),
                kind: kind.unwrap_or(DocumentKind::Pdf),
                sha256_hex: &doc.sha256_hex,
                pages: doc.pages,
                stamps,
            })
            .collect();
        let bytes = pdf::deliverable(&borrowed, &trail)
            .map_err(|e| format!("deliverable could not be built: {e}"))?;
        match seal {
            Some(key) => pdf::seal(&bytes, &key, &signed_at).map_err(|e| e.to_string()),
            None => Ok(bytes),
        }
    })
    .await
    .map_err(|e| EsignError::Internal(format!("deliverable task failed: {e}")))?
    .map_err(EsignError::Internal)?;
    let pages = pdf::page_count(&bytes).unwrap_or(0);

    let now = esign.now();
    let deliverable_id = ids::new(ids::DELIVERABLE)?;
    // The link key may need a write of its own: fetch it before this
    // transaction takes the write lock.
    let link = esign
        .download_url(&deliverable_id, now.plus(EMAILED_DOWNLOAD_TTL))
        .await?;
    let mut tx = esign.store().begin_write().await?;
    let inserted = sqlx::query(
        "INSERT INTO deliverables (id, envelope_id, org_id, sha256, size_bytes, pages, content, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (envelope_id) DO NOTHING",
    )
    .bind(&deliverable_id)
    .bind(envelope_id)
    .bind(&envelope.org_id)
    .bind(sha256_hex(&bytes))
    .bind(bytes.len() as i64)
    .bind(i64::from(pages))
    .bind(bytes.as_slice())
    .bind(now.as_secs())
    .execute(&mut *tx)
    .await?;
    if inserted.rows_affected() == 0 {
        return Ok(());
    }
    events::record(
        &mut tx,
        esign.store().backend(),
        NewEvent {
            org_id: &envelope.org_id,
            envelope_id,
            recipient_id: None,
            kind: EventKind::DeliverableGenerated,
            data: json!({ "deliverable_id": deliverable_id, "pages": pages, "size_bytes": bytes.len() }),
        },
        now,
    )
    .await?;
    let mut step = Step::default();
    for recipient in recipients
        .iter()
        .filter(|r| r.status == RecipientStatus::Completed)
    {
        let body = format!(
            "Hello {},\n\n\"{}\" has been signed by everyone. Download the signed documents with their audit trail (the link works for 7 days):\n{link}\n\n— Signet\n",
            recipient.name, envelope.title
        );
        if let Some(p) = outbox::write(
            &mut tx,
            outbox::Draft {
                org_id: &envelope.org_id,
                envelope_id,
                recipient_id: Some(&recipient.id),
                mode: envelope.mode,
                kind: EmailKind::Completed,
                to_name: &recipient.name,
                to_email: &recipient.email,
                subject: format!("Completed: {}", envelope.title),
                body,
                link: Some(link.clone()),
            },
            now,
        )
        .await?
        {
            step.pending.push(p);
        }
    }
    tx.commit().await?;
    step.after_commit(esign);
    Ok(())
}

/// What each place of one document shows on the page.
fn stamps<'a>(rows: impl Iterator<Item = &'a PlaceRow>, envelope_date: &str) -> Vec<Stamp> {
    let mut out = Vec::new();
    for place in rows {
        let mark = match (place.kind, place.filled_text.as_deref(), place.strokes()) {
            (PlaceType::Signature | PlaceType::Initials, _, Some(strokes)) => {
                Some(Mark::Drawing(strokes.into_iter().map(|s| s.0).collect()))
            }
            (PlaceType::Signature | PlaceType::Initials, Some(text), None) => Some(Mark::Text {
                text: text.to_owned(),
                script: true,
            }),
            (PlaceType::Checkbox, Some("true"), _) => Some(Mark::Check),
            (PlaceType::MultilineTextInput, Some(text), _) => {
                Some(Mark::Paragraph(text.to_owned()))
            }
            (PlaceType::EnvelopeCompletedDate, _, _) => Some(Mark::Text {
                text: envelope_date.to_owned(),
                script: false,
            }),
            (PlaceType::Text, None, _) => place.value.clone().map(|text| Mark::Text {
                text,
                script: false,
            }),
            (PlaceType::Checkbox, _, _) => None,
            (_, Some(text), _) => Some(Mark::Text {
                text: text.to_owned(),
                script: false,
            }),
            _ => None,
        };
        for b in place.boxes() {
            // An empty place over a placeholder still hides it.
            let mark = match &mark {
                Some(mark) => mark.clone(),
                None if b.placeholder.is_some() => Mark::Text {
                    text: String::new(),
                    script: false,
                },
                None => continue,
            };
            out.push(Stamp {
                page: b.page,
                left: b.left,
                top: b.top,
                width: b.width,
                height: b.height,
                cover: b.placeholder.map(|a| [a.left, a.top, a.width, a.height]),
                mark,
            });
        }
    }
    out
}

/// The trail's "Fields" section: every place, who filled it, and when.
fn audit_fields(
    places: &[PlaceRow],
    documents: &[StoredDocument],
    recipients: &[rows::RecipientRow],
) -> Vec<AuditField> {
    places
        .iter()
        .map(|p| {
            let document = documents
                .iter()
                .find(|d| d.0 == p.document_id)
                .map(|d| d.1.clone())
                .unwrap_or_default();
            let mut pages: Vec<u32> = p.boxes().iter().map(|b| b.page).collect();
            pages.sort_unstable();
            pages.dedup();
            let by = p
                .filled_by
                .as_deref()
                .and_then(|id| recipients.iter().find(|r| r.id == id))
                .map(|r| format!("{} <{}>", r.name, r.email));
            let value = match (p.kind, p.filled_text.as_deref(), p.filled_drawing.is_some()) {
                (_, _, true) => "drawn".to_owned(),
                (PlaceType::Signature | PlaceType::Initials, Some(text), _) => {
                    format!("typed: {text}")
                }
                (PlaceType::Checkbox, Some("true"), _) => "ticked".to_owned(),
                (PlaceType::Checkbox, Some(_), _) => "not ticked".to_owned(),
                (_, Some(text), _) => text.chars().take(200).collect(),
                (PlaceType::Text, None, _) => p.value.clone().unwrap_or_default(),
                _ => String::new(),
            };
            let stamped_by_signet =
                matches!(p.kind, PlaceType::Text | PlaceType::EnvelopeCompletedDate)
                    && by.is_none();
            AuditField {
                document,
                pages: pages
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                key: p.key.clone(),
                kind: p.kind.to_string(),
                by: by.unwrap_or_else(|| {
                    if stamped_by_signet {
                        "Signet".to_owned()
                    } else {
                        "not filled".to_owned()
                    }
                }),
                at: stamp(p.filled_at),
                value,
            }
        })
        .collect()
}

impl Esign {
    async fn download_url(
        &self,
        deliverable_id: &str,
        expires: UnixTime,
    ) -> Result<String, EsignError> {
        let proof = self.inner.links.sign(deliverable_id, expires).await?;
        Ok(format!(
            "{}/deliverables/{deliverable_id}?{proof}",
            self.inner.public_url
        ))
    }

    pub async fn get_deliverables(
        &self,
        caller: &Caller,
        envelope_id: &str,
    ) -> Result<Value, EsignError> {
        let envelope = self.get_envelope(caller, envelope_id).await?;
        if envelope.status != EnvelopeStatus::Completed {
            return Err(EsignError::EnvelopeNotCompleted(envelope.status));
        }
        let row: Option<(String, String, i64, i64, i64)> = sqlx::query_as(
            "SELECT id, sha256, size_bytes, pages, created_at FROM deliverables WHERE envelope_id = $1 AND org_id = $2",
        )
        .bind(envelope_id)
        .bind(&caller.org_id)
        .fetch_optional(self.store().pool())
        .await?;
        let Some((id, sha256, size, pages, created)) = row else {
            return Err(EsignError::DeliverableNotReady);
        };
        let expires = self.now().plus(DOWNLOAD_TTL);
        let url = self.download_url(&id, expires).await?;
        Ok(json!({
            "envelope_id": envelope_id,
            "deliverables": [{
                "deliverable_id": id,
                "type": "signed_pdf",
                "name": format!("{}-signed.pdf", file_stem(&envelope.title)),
                "content_type": "application/pdf",
                "pages": pages,
                "size_bytes": size,
                "sha256": sha256,
                "created_at": UnixTime::from_secs(created),
                "download_url": url,
                "expires_at": expires,
            }],
        }))
    }

    /// The deliverable's bytes for a genuine, unexpired link.
    pub async fn download_deliverable(
        &self,
        deliverable_id: &str,
        expires: i64,
        signature: &str,
    ) -> Result<Option<(String, Vec<u8>)>, EsignError> {
        if !self
            .inner
            .links
            .verify(deliverable_id, expires, signature)
            .await?
        {
            return Ok(None);
        }
        let row: Option<(String, Vec<u8>)> = sqlx::query_as(
            "SELECT e.title, d.content FROM deliverables d JOIN envelopes e ON e.id = d.envelope_id WHERE d.id = $1",
        )
        .bind(deliverable_id)
        .fetch_optional(self.store().pool())
        .await?;
        Ok(row.map(|(title, bytes)| (format!("{}-signed.pdf", file_stem(&title)), bytes)))
    }
}

/// A title made safe for a file name.
pub(crate) fn file_stem(title: &str) -> String {
    let stem: String = title
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let stem = stem.trim_matches('-');
    if stem.is_empty() {
        "envelope".to_owned()
    } else {
        stem.chars().take(80).collect()
    }
}
