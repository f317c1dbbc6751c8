//! How an envelope moves: documents fetched and checked in the background,
//! recipients released in routing order, completion, and the follow-ups an
//! agent can ask for (resend, replace).

use serde_json::{Map, Value, json};
use signet_fetch::Limits;
use signet_store::sqlx::{self, AnyConnection};
use signet_store::{UnixTime, random};

use crate::error::EsignError;
use crate::events::{self, NewEvent};
use crate::input::{Checker, parse_recipient};
use crate::model::{Envelope, EnvelopeStatus, Mode, RecipientStatus, Routing};
use crate::outbox::{self, EmailKind, Pending};
use crate::rows::{self, EnvelopeRow, RecipientRow};
use crate::{Caller, Esign, pdf, uploads};

/// The first resend may follow the last message after this long; each
/// further one waits twice as long as the one before, up to a day.
const RESEND_BASE_SECONDS: u64 = 60;
const RESEND_MAX_SECONDS: u64 = 24 * 3600;

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
            sqlx::query("UPDATE envelope_emails SET status = 'sent', sent_at = $1 WHERE id = $2")
                .bind(now.as_secs())
                .bind(&message.email_id)
                .execute(&mut *tx)
                .await?;
            if message.kind == EmailKind::SigningRequest
                && let Some(recipient_id) = &message.recipient_id
            {
                let moved = sqlx::query(
                    "UPDATE envelope_recipients SET status = 'sent', sent_at = $1 WHERE id = $2 AND status = 'awaiting'",
                )
                .bind(now.as_secs())
                .bind(recipient_id)
                .execute(&mut *tx)
                .await?;
                if moved.rows_affected() == 1 {
                    events::record(
                        &mut tx,
                        esign.store().backend(),
                        NewEvent {
                            org_id: &message.org_id,
                            envelope_id: &message.envelope_id,
                            recipient_id: Some(recipient_id),
                            kind: "recipient.sent",
                            data: json!({ "email_id": message.email_id, "to": message.to_email }),
                        },
                        now,
                    )
                    .await?;
                }
            }
        }
        Err(reason) => {
            tracing::warn!(
                email_id = message.email_id,
                reason,
                "live email not delivered"
            );
            sqlx::query("UPDATE envelope_emails SET status = 'failed', error = $1 WHERE id = $2")
                .bind(reason)
                .bind(&message.email_id)
                .execute(&mut *tx)
                .await?;
            if message.kind == EmailKind::SigningRequest
                && let Some(recipient_id) = &message.recipient_id
            {
                sqlx::query("UPDATE envelope_recipients SET status = 'failed' WHERE id = $1 AND status = 'awaiting'")
                    .bind(recipient_id)
                    .execute(&mut *tx)
                    .await?;
            }
        }
    }
    tx.commit().await?;
    esign.notifier().notify();
    Ok(())
}

/// One document, fetched and judged.
struct Checked {
    id: String,
    kind: &'static str,
    pages: Option<i64>,
    sha256: String,
    bytes: Vec<u8>,
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

async fn fetch_document(
    esign: &Esign,
    org_id: &str,
    doc: &rows::DocumentRow,
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
    let (kind, pages) = if pdf::is_docx(&bytes) {
        ("docx", None)
    } else {
        let info = pdf::inspect(&bytes).map_err(|e| e.to_string())?;
        ("pdf", Some(i64::from(info.pages)))
    };
    Ok(Checked {
        id: doc.id.clone(),
        kind,
        pages,
        sha256: sha256_hex(&bytes),
        bytes,
    })
}

/// Fetches and checks every document, then starts the envelope — or fails
/// it with the reason. Transitions are conditional, so a second instance
/// resuming the same envelope cannot apply them twice.
async fn process(esign: &Esign, envelope_id: &str) -> Result<(), EsignError> {
    let (org_id, documents) = {
        let mut conn = esign.store().pool().acquire().await?;
        let Some(row) =
            rows::envelope_in_status(&mut conn, envelope_id, EnvelopeStatus::Processing).await?
        else {
            return Ok(());
        };
        (
            row.org_id.clone(),
            rows::documents(&mut conn, envelope_id).await?,
        )
    };
    let mut checked = Vec::new();
    let mut failure = None;
    for doc in &documents {
        match fetch_document(esign, &org_id, doc).await {
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
        let moved = sqlx::query(
            "UPDATE envelopes SET status = 'failed', failure_reason = $1, updated_at = $2 WHERE id = $3 AND status = 'processing'",
        )
        .bind(&reason)
        .bind(now.as_secs())
        .bind(envelope_id)
        .execute(&mut *tx)
        .await?;
        if moved.rows_affected() == 1 {
            events::record(
                &mut tx,
                backend,
                NewEvent {
                    org_id: &org_id,
                    envelope_id,
                    recipient_id: None,
                    kind: "envelope.failed",
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
    let moved = sqlx::query(
        "UPDATE envelopes SET status = 'in_progress', updated_at = $1 WHERE id = $2 AND status = 'processing'",
    )
    .bind(now.as_secs())
    .bind(envelope_id)
    .execute(&mut *tx)
    .await?;
    if moved.rows_affected() == 0 {
        return Ok(());
    }
    for doc in &checked {
        sqlx::query(
            "UPDATE envelope_documents SET kind = $1, pages = $2, sha256 = $3, size_bytes = $4, content = $5 WHERE id = $6",
        )
        .bind(doc.kind)
        .bind(doc.pages)
        .bind(&doc.sha256)
        .bind(doc.bytes.len() as i64)
        .bind(doc.bytes.as_slice())
        .bind(&doc.id)
        .execute(&mut *tx)
        .await?;
    }
    events::record(
        &mut tx,
        backend,
        NewEvent {
            org_id: &org_id,
            envelope_id,
            recipient_id: None,
            kind: "envelope.started",
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
        .filter(|r| r.status != "replaced")
        .collect();
    let mut step = Step::default();
    if recipients.iter().all(|r| r.status == "completed") {
        let moved = sqlx::query(
            "UPDATE envelopes SET status = 'completed', completed_at = $1, updated_at = $1 WHERE id = $2 AND status = 'in_progress'",
        )
        .bind(now.as_secs())
        .bind(&envelope.id)
        .execute(&mut *conn)
        .await?;
        if moved.rows_affected() == 1 {
            events::record(
                conn,
                esign.store().backend(),
                NewEvent {
                    org_id: &envelope.org_id,
                    envelope_id: &envelope.id,
                    recipient_id: None,
                    kind: "envelope.completed",
                    data: json!({}),
                },
                now,
            )
            .await?;
            step.completed = Some(envelope.id.clone());
        }
        return Ok(step);
    }
    let to_release: Vec<&RecipientRow> = match envelope.routing()? {
        Routing::Parallel => recipients
            .iter()
            .filter(|r| r.status == "pending")
            .collect(),
        Routing::Sequential => recipients
            .iter()
            .find(|r| r.status != "completed")
            .filter(|r| r.status == "pending")
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

fn signing_request_body(envelope: &EnvelopeRow, name: &str, link: &str, reminder: bool) -> String {
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
    let mode = envelope.mode()?;
    let (status, sent_at) = match mode {
        Mode::Test => ("sent", Some(now.as_secs())),
        Mode::Live => ("awaiting", None),
    };
    sqlx::query(
        "UPDATE envelope_recipients SET status = $1, signing_token_hash = $2, released_at = $3, sent_at = $4, \
         last_sent_at = $3 WHERE id = $5",
    )
    .bind(status)
    .bind(random::digest(&token))
    .bind(now.as_secs())
    .bind(sent_at)
    .bind(&recipient.id)
    .execute(&mut *conn)
    .await?;
    let backend = esign.store().backend();
    events::record(
        conn,
        backend,
        NewEvent {
            org_id: &envelope.org_id,
            envelope_id: &envelope.id,
            recipient_id: Some(&recipient.id),
            kind: "recipient.released",
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
                kind: "recipient.sent",
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
    let processing: Vec<String> =
        sqlx::query_scalar("SELECT id FROM envelopes WHERE status = 'processing'")
            .fetch_all(esign.store().pool())
            .await?;
    for id in processing {
        spawn_processing(esign.clone(), id);
    }
    let undelivered: Vec<String> = sqlx::query_scalar(
        "SELECT e.id FROM envelopes e WHERE e.status = 'completed' \
         AND NOT EXISTS (SELECT 1 FROM deliverables d WHERE d.envelope_id = e.id)",
    )
    .fetch_all(esign.store().pool())
    .await?;
    for id in undelivered {
        crate::deliverables::spawn_generation(esign.clone(), id);
    }
    Ok(())
}

impl Esign {
    /// Sends the signing request again, no sooner than a growing interval
    /// after the last one (1 min, 2 min, 4 min… up to a day).
    pub async fn resend_request(
        &self,
        caller: &Caller,
        envelope_id: &str,
        recipient_id: &str,
    ) -> Result<Envelope, EsignError> {
        let now = self.now();
        let mut tx = self.store().begin_write().await?;
        let envelope = rows::envelope(&mut tx, &caller.org_id, envelope_id).await?;
        if envelope.status()? != EnvelopeStatus::InProgress {
            return Err(EsignError::CannotResend(format!(
                "Requests can be resent only while the envelope is in progress; it is {}",
                envelope.status
            )));
        }
        let recipient = rows::recipients(&mut tx, envelope_id)
            .await?
            .into_iter()
            .find(|r| r.id == recipient_id)
            .ok_or(EsignError::NotFound("recipient"))?;
        let status = recipient.status()?;
        if !matches!(
            status,
            RecipientStatus::Sent
                | RecipientStatus::Awaiting
                | RecipientStatus::Failed
                | RecipientStatus::SoftBounced
        ) {
            return Err(EsignError::CannotResend(format!(
                "Only a recipient who has been asked and has not finished can be reminded; this one is {status}"
            )));
        }
        let interval = RESEND_BASE_SECONDS
            .saturating_mul(1u64 << recipient.resend_count.clamp(0, 20))
            .min(RESEND_MAX_SECONDS);
        let last = recipient.last_sent_at.unwrap_or(0);
        let ready_at = last.saturating_add(interval as i64);
        if now.as_secs() < ready_at {
            return Err(EsignError::ResendTooSoon((ready_at - now.as_secs()) as u64));
        }
        // A fresh link: the old one may be what went astray.
        let token = random::token()?;
        let link = format!("{}/sign/{token}", self.inner.public_url);
        let mode = envelope.mode()?;
        let status = if mode == Mode::Test {
            "sent"
        } else {
            "awaiting"
        };
        sqlx::query(
            "UPDATE envelope_recipients SET signing_token_hash = $1, resend_count = resend_count + 1, last_sent_at = $2, \
             status = $3 WHERE id = $4",
        )
        .bind(random::digest(&token))
        .bind(now.as_secs())
        .bind(status)
        .bind(recipient_id)
        .execute(&mut *tx)
        .await?;
        events::record(
            &mut tx,
            self.store().backend(),
            NewEvent {
                org_id: &caller.org_id,
                envelope_id,
                recipient_id: Some(recipient_id),
                kind: "recipient.resent",
                data: json!({ "resend_count": recipient.resend_count + 1 }),
            },
            now,
        )
        .await?;
        let pending = outbox::write(
            &mut tx,
            outbox::Draft {
                org_id: &caller.org_id,
                envelope_id,
                recipient_id: Some(recipient_id),
                mode,
                kind: EmailKind::Reminder,
                to_name: &recipient.name,
                to_email: &recipient.email,
                subject: format!("Reminder: please sign {}", envelope.title),
                body: signing_request_body(&envelope, &recipient.name, &link, true),
                link: Some(link),
            },
            now,
        )
        .await?;
        tx.commit().await?;
        self.notifier().notify();
        send_later(self.clone(), pending.into_iter().collect());
        self.get_envelope(caller, envelope_id).await
    }

    /// Puts a new person in a recipient's place (same key, type and turn).
    /// The old recipient becomes `replaced` and their link stops working; if
    /// it was their turn, the new one is asked at once.
    pub async fn replace_recipient(
        &self,
        caller: &Caller,
        args: &Map<String, Value>,
    ) -> Result<Envelope, EsignError> {
        let mut c = Checker::default();
        let envelope_id = c.required_text(args, "envelope_id", "envelope_id", 64);
        let recipient_id = c.required_text(args, "recipient_id", "recipient_id", 64);
        let mut fields = args.clone();
        fields.insert("key".to_owned(), Value::String("k".to_owned()));
        let replacement = parse_recipient(&mut c, &fields, "");
        let (Some(envelope_id), Some(recipient_id), Some(replacement)) =
            (envelope_id, recipient_id, replacement)
        else {
            return c
                .finish(())
                .and(Err(EsignError::invalid("recipient", "is incomplete")));
        };
        c.finish(())?;
        let now = self.now();
        let mut tx = self.store().begin_write().await?;
        let envelope = rows::envelope(&mut tx, &caller.org_id, &envelope_id).await?;
        if !matches!(
            envelope.status()?,
            EnvelopeStatus::InProgress | EnvelopeStatus::Processing
        ) {
            return Err(EsignError::CannotReplace(format!(
                "Recipients can be replaced only before the envelope is finished; it is {}",
                envelope.status
            )));
        }
        let old = rows::recipients(&mut tx, &envelope_id)
            .await?
            .into_iter()
            .find(|r| r.id == recipient_id)
            .ok_or(EsignError::NotFound("recipient"))?;
        let old_status = old.status()?;
        if matches!(
            old_status,
            RecipientStatus::Completed | RecipientStatus::Replaced
        ) {
            return Err(EsignError::CannotReplace(format!(
                "This recipient is already {old_status}"
            )));
        }
        let new_id = signet_store::ids::new(signet_store::ids::RECIPIENT)?;
        sqlx::query(
            "UPDATE envelope_recipients SET status = 'replaced', replaced_at = $1, replaced_by = $2, signing_token_hash = NULL \
             WHERE id = $3",
        )
        .bind(now.as_secs())
        .bind(&new_id)
        .bind(&recipient_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO envelope_recipients (id, envelope_id, position, key, type, name, email, delivery_type, status, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9)",
        )
        .bind(&new_id)
        .bind(&envelope_id)
        .bind(old.position)
        .bind(&old.key)
        .bind(&old.kind)
        .bind(&replacement.name)
        .bind(&replacement.email)
        .bind(replacement.delivery_type.as_str())
        .bind(now.as_secs())
        .execute(&mut *tx)
        .await?;
        events::record(
            &mut tx,
            self.store().backend(),
            NewEvent {
                org_id: &caller.org_id,
                envelope_id: &envelope_id,
                recipient_id: Some(&recipient_id),
                kind: "recipient.replaced",
                data: json!({ "key": old.key, "replaced_by": new_id, "email": replacement.email }),
            },
            now,
        )
        .await?;
        let step = if envelope.status()? == EnvelopeStatus::InProgress {
            advance(self, &mut tx, &envelope, now).await?
        } else {
            Step::default()
        };
        tx.commit().await?;
        step.after_commit(self);
        self.get_envelope(caller, &envelope_id).await
    }
}
