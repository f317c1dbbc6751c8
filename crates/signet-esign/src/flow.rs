//! How an envelope moves on its own: documents fetched and checked in the
//! background, recipients released in routing order, live email delivered,
//! completion, and the work a restart picks up again.

use serde_json::json;
use signet_fetch::Limits;
use signet_store::sqlx::{self, AnyConnection};
use signet_store::{UnixTime, random};

use crate::error::EsignError;
use crate::events::{self, NewEvent};
use crate::model::{
    DocumentKind, EmailKind, EnvelopeStatus, EventKind, Mode, RecipientStatus, Routing,
};
use crate::outbox::{self, Pending};
use crate::rows::{self, EnvelopeRow, RecipientRow};
use crate::transitions::{self, EnvelopeChange, RecipientChange};
use crate::{Esign, pdf, places, uploads};

pub(crate) fn spawn_processing(esign: Esign, envelope_id: String) {
    tokio::spawn(async move {
        if let Err(error) = process(&esign, &envelope_id).await {
            tracing::error!(%error, envelope_id, "processing an envelope failed");
        }
    });
}

/// Sends live messages after their transaction committed.
pub(crate) fn send_later(esign: Esign, pending: Vec<Pending>) {
    if pending.is_empty() {
        return;
    }
    tokio::spawn(async move {
        for message in pending {
            if let Err(error) = deliver(&esign, &message).await {
                tracing::error!(%error, email_id = message.email_id, "recording an email delivery failed");
            }
        }
    });
}

async fn deliver(esign: &Esign, message: &Pending) -> Result<(), EsignError> {
    let outcome = esign.inner.mailer.deliver(message).await;
    let now = esign.now();
    let mut tx = esign.store().begin_write().await?;
    match &outcome {
        Ok(()) => {
            outbox::mark_sent(&mut tx, &message.email_id, now).await?;
            if message.kind == EmailKind::SigningRequest
                && let Some(recipient_id) = &message.recipient_id
                && transitions::recipient(&mut tx, recipient_id, RecipientChange::Delivered, now)
                    .await?
            {
                events::record(
                    &mut tx,
                    esign.store().backend(),
                    NewEvent {
                        org_id: &message.org_id,
                        envelope_id: &message.envelope_id,
                        recipient_id: Some(recipient_id),
                        kind: EventKind::RecipientSent,
                        data: json!({ "email_id": message.email_id, "to": message.to_email }),
                    },
                    now,
                )
                .await?;
            }
        }
        Err(reason) => {
            tracing::warn!(
                email_id = message.email_id,
                reason,
                "live email not delivered"
            );
            outbox::mark_failed(&mut tx, &message.email_id, reason).await?;
            if message.kind == EmailKind::SigningRequest
                && let Some(recipient_id) = &message.recipient_id
            {
                transitions::recipient(&mut tx, recipient_id, RecipientChange::Undeliverable, now)
                    .await?;
            }
        }
    }
    tx.commit().await?;
    esign.notifier().notify();
    Ok(())
}

/// One document, fetched and judged, with its places located.
struct Checked {
    id: String,
    kind: DocumentKind,
    pages: Option<i64>,
    sha256: String,
    bytes: Vec<u8>,
    /// LibreOffice's PDF of a Word document.
    converted: Option<Vec<u8>>,
    page_sizes: Vec<(f64, f64)>,
    /// Place id → boxes, for the places still to locate.
    boxes: Vec<(String, Vec<places::PlaceBox>)>,
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

async fn fetch_document(
    esign: &Esign,
    org_id: &str,
    doc: &rows::DocumentRow,
    places: &[places::PlaceRow],
) -> Result<Checked, String> {
    let bytes = match &doc.upload_id {
        Some(upload_id) => uploads::content(esign, org_id, upload_id, esign.now())
            .await
            .map_err(|e| e.to_string())?,
        None => {
            esign
                .inner
                .fetcher
                .fetch(&doc.source_url, Limits::DOCUMENT)
                .await
                .map_err(|e| e.to_string())?
                .bytes
        }
    };
    let (kind, converted) = if pdf::is_docx(&bytes) {
        if !esign.docx().available() {
            return Err(crate::envelopes::DOCX_UNAVAILABLE.to_owned());
        }
        let converted = esign
            .docx()
            .to_pdf(&bytes)
            .await
            .map_err(|e| e.to_string())?;
        (DocumentKind::Docx, Some(converted))
    } else {
        (DocumentKind::Pdf, None)
    };
    let shown = converted.clone().unwrap_or_else(|| bytes.clone());
    let mine: Vec<places::PlaceRow> = places
        .iter()
        .filter(|p| p.document_id == doc.id && p.boxes.is_none())
        .cloned()
        .collect();
    let position = doc.position;
    // Parsing and searching the pages is CPU work: off the async threads.
    let (pages, located) = tokio::task::spawn_blocking(move || {
        let info = pdf::inspect(&shown).map_err(|e| e.to_string())?;
        let paths: Vec<String> = (0..mine.len())
            .map(|j| format!("documents[{position}].places[{j}]"))
            .collect();
        let fixed: Vec<Vec<places::FixedPosition>> =
            mine.iter().map(places::PlaceRow::fixed).collect();
        let wanted: Vec<places::Wanted<'_>> = mine
            .iter()
            .zip(&paths)
            .zip(&fixed)
            .map(|((p, path), fixed)| places::Wanted {
                path,
                key: &p.key,
                kind: p.kind,
                size: p.size(),
                fixed,
            })
            .collect();
        let located = places::locate(&shown, &wanted).map_err(|errors| {
            errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; ")
        })?;
        let ids: Vec<String> = mine.into_iter().map(|p| p.id).collect();
        Ok::<_, String>((info.pages, (ids, located)))
    })
    .await
    .map_err(|e| format!("the document could not be read: {e}"))??;
    let (ids, located) = located;
    Ok(Checked {
        id: doc.id.clone(),
        kind,
        pages: Some(i64::from(pages)),
        sha256: sha256_hex(&bytes),
        bytes,
        converted,
        page_sizes: located.page_sizes,
        boxes: ids.into_iter().zip(located.boxes).collect(),
    })
}

/// Fetches and checks every document, then starts the envelope — or fails
/// it with the reason. Transitions are conditional, so a second instance
/// resuming the same envelope cannot apply them twice.
async fn process(esign: &Esign, envelope_id: &str) -> Result<(), EsignError> {
    let (org_id, documents, places) = {
        let mut conn = esign.store().pool().acquire().await?;
        let Some(row) =
            rows::envelope_in_status(&mut conn, envelope_id, EnvelopeStatus::Processing).await?
        else {
            return Ok(());
        };
        (
            row.org_id.clone(),
            rows::documents(&mut conn, envelope_id).await?,
            places::for_envelope(&mut conn, envelope_id).await?,
        )
    };
    let mut checked = Vec::new();
    let mut failure = None;
    for doc in &documents {
        match fetch_document(esign, &org_id, doc, &places).await {
            Ok(c) => checked.push(c),
            Err(reason) => {
                failure = Some(format!(
                    "Document {} ({}): {reason}",
                    doc.position + 1,
                    doc.name
                ));
                break;
            }
        }
    }
    let now = esign.now();
    let mut tx = esign.store().begin_write().await?;
    let backend = esign.store().backend();
    if let Some(reason) = failure {
        let change = EnvelopeChange::Fail { reason: &reason };
        if transitions::envelope(&mut tx, envelope_id, change, now).await? {
            events::record(
                &mut tx,
                backend,
                NewEvent {
                    org_id: &org_id,
                    envelope_id,
                    recipient_id: None,
                    kind: EventKind::EnvelopeFailed,
                    data: json!({ "reason": reason }),
                },
                now,
            )
            .await?;
        }
        tx.commit().await?;
        esign.notifier().notify();
        return Ok(());
    }
    if !transitions::envelope(&mut tx, envelope_id, EnvelopeChange::Start, now).await? {
        return Ok(());
    }
    for doc in &checked {
        sqlx::query(
            "UPDATE envelope_documents SET kind = $1, pages = $2, sha256 = $3, size_bytes = $4, content = $5, \
             converted = $6, page_sizes = $7 WHERE id = $8",
        )
        .bind(doc.kind)
        .bind(doc.pages)
        .bind(&doc.sha256)
        .bind(doc.bytes.len() as i64)
        .bind(doc.bytes.as_slice())
        .bind(doc.converted.as_deref())
        .bind(json!(doc.page_sizes).to_string())
        .bind(&doc.id)
        .execute(&mut *tx)
        .await?;
        for (place_id, boxes) in &doc.boxes {
            places::record_boxes(&mut tx, place_id, boxes).await?;
        }
    }
    events::record(
        &mut tx,
        backend,
        NewEvent {
            org_id: &org_id,
            envelope_id,
            recipient_id: None,
            kind: EventKind::EnvelopeStarted,
            data: json!({ "documents": checked.iter().map(|d| json!({"document_id": d.id, "kind": d.kind, "pages": d.pages, "sha256": d.sha256})).collect::<Vec<_>>() }),
        },
        now,
    )
    .await?;
    let envelope = rows::envelope(&mut tx, &org_id, envelope_id).await?;
    let step = advance(esign, &mut tx, &envelope, now).await?;
    tx.commit().await?;
    step.after_commit(esign);
    Ok(())
}

/// What to do once the transaction that moved an envelope has committed.
#[derive(Default)]
pub(crate) struct Step {
    pub pending: Vec<Pending>,
    pub completed: Option<String>,
}

impl Step {
    pub fn after_commit(self, esign: &Esign) {
        esign.notifier().notify();
        send_later(esign.clone(), self.pending);
        if let Some(envelope_id) = self.completed {
            crate::deliverables::spawn_generation(esign.clone(), envelope_id);
        }
    }
}

/// Releases whoever is next, or completes the envelope when everyone has
/// finished. Sequential routing waits while the current recipient is open
/// or has rejected; parallel releases everyone still pending.
pub(crate) async fn advance(
    esign: &Esign,
    conn: &mut AnyConnection,
    envelope: &EnvelopeRow,
    now: UnixTime,
) -> Result<Step, EsignError> {
    let recipients: Vec<RecipientRow> = rows::recipients(conn, &envelope.id)
        .await?
        .into_iter()
        .filter(|r| r.status != RecipientStatus::Replaced)
        .collect();
    let mut step = Step::default();
    if recipients
        .iter()
        .all(|r| r.status == RecipientStatus::Completed)
    {
        if transitions::envelope(conn, &envelope.id, EnvelopeChange::Complete, now).await? {
            events::record(
                conn,
                esign.store().backend(),
                NewEvent {
                    org_id: &envelope.org_id,
                    envelope_id: &envelope.id,
                    recipient_id: None,
                    kind: EventKind::EnvelopeCompleted,
                    data: json!({}),
                },
                now,
            )
            .await?;
            step.completed = Some(envelope.id.clone());
        }
        return Ok(step);
    }
    let to_release: Vec<&RecipientRow> = match envelope.routing {
        Routing::Parallel => recipients
            .iter()
            .filter(|r| r.status == RecipientStatus::Pending)
            .collect(),
        Routing::Sequential => recipients
            .iter()
            .find(|r| r.status != RecipientStatus::Completed)
            .filter(|r| r.status == RecipientStatus::Pending)
            .into_iter()
            .collect(),
    };
    for recipient in to_release {
        if let Some(p) = release(esign, conn, envelope, recipient, now).await? {
            step.pending.push(p);
        }
    }
    Ok(step)
}

/// The subject of a reminder, asked for by the agent (`resend_request`) or
/// sent by the scheduler.
pub(crate) fn reminder_subject(envelope: &EnvelopeRow) -> String {
    format!("Reminder: please sign {}", envelope.title)
}

pub(crate) fn signing_request_body(
    envelope: &EnvelopeRow,
    name: &str,
    link: &str,
    reminder: bool,
) -> String {
    let mut body = format!("Hello {name},\n\n");
    if reminder {
        body += "A reminder: ";
    }
    body += &format!("you have been asked to sign \"{}\".\n\n", envelope.title);
    if let Some(message) = &envelope.message {
        body += &format!("{message}\n\n");
    }
    body += &format!(
        "Open this link to read the documents and sign or decline:\n{link}\n\n\
         The link is personal: do not forward it.\n\n— Signet\n"
    );
    body
}

/// Gives a recipient their signing link: a new secret (only its hash is
/// kept), the `recipient.released` event and the signing-request email. In
/// test mode the email is final at once, so `recipient.sent` follows.
async fn release(
    esign: &Esign,
    conn: &mut AnyConnection,
    envelope: &EnvelopeRow,
    recipient: &RecipientRow,
    now: UnixTime,
) -> Result<Option<Pending>, EsignError> {
    let token = random::token()?;
    let link = format!("{}/sign/{token}", esign.inner.public_url);
    let mode = envelope.mode;
    let token_hash = random::digest(&token);
    let change = RecipientChange::Release {
        token_hash: &token_hash,
        mode,
    };
    if !transitions::recipient(conn, &recipient.id, change, now).await? {
        return Ok(None);
    }
    crate::scheduler::schedule_first_reminder(conn, envelope, &recipient.id, now).await?;
    let backend = esign.store().backend();
    events::record(
        conn,
        backend,
        NewEvent {
            org_id: &envelope.org_id,
            envelope_id: &envelope.id,
            recipient_id: Some(&recipient.id),
            kind: EventKind::RecipientReleased,
            data: json!({ "key": recipient.key }),
        },
        now,
    )
    .await?;
    let pending = outbox::write(
        conn,
        outbox::Draft {
            org_id: &envelope.org_id,
            envelope_id: &envelope.id,
            recipient_id: Some(&recipient.id),
            mode,
            kind: EmailKind::SigningRequest,
            to_name: &recipient.name,
            to_email: &recipient.email,
            subject: format!("Please sign: {}", envelope.title),
            body: signing_request_body(envelope, &recipient.name, &link, false),
            link: Some(link.clone()),
        },
        now,
    )
    .await?;
    if mode == Mode::Test {
        events::record(
            conn,
            backend,
            NewEvent {
                org_id: &envelope.org_id,
                envelope_id: &envelope.id,
                recipient_id: Some(&recipient.id),
                kind: EventKind::RecipientSent,
                data: json!({ "to": recipient.email, "mode": "test" }),
            },
            now,
        )
        .await?;
    }
    Ok(pending)
}

/// Picks up work a previous run left unfinished.
pub(crate) async fn resume(esign: &Esign) -> Result<(), EsignError> {
    let processing: Vec<String> = sqlx::query_scalar("SELECT id FROM envelopes WHERE status = $1")
        .bind(EnvelopeStatus::Processing)
        .fetch_all(esign.store().pool())
        .await?;
    for id in processing {
        spawn_processing(esign.clone(), id);
    }
    let undelivered: Vec<String> = sqlx::query_scalar(
        "SELECT e.id FROM envelopes e WHERE e.status = $1 \
         AND NOT EXISTS (SELECT 1 FROM deliverables d WHERE d.envelope_id = e.id)",
    )
    .bind(EnvelopeStatus::Completed)
    .fetch_all(esign.store().pool())
    .await?;
    for id in undelivered {
        crate::deliverables::spawn_generation(esign.clone(), id);
    }
    Ok(())
}
