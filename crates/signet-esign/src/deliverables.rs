//! The deliverable: on completion, one PDF of the documents (stamped with
//! their places) followed, for `standard`, by the certificate of
//! completion, sealed (PAdES, with a signature timestamp when a TSA is
//! configured), stored once and downloaded through signed links. A failed
//! attempt (a TSA outage) is recorded as `deliverable.failed` and retried
//! with back-off by [`Esign::retry_deliverables`], on whichever instance
//! claims it first.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};
use signet_store::{UnixTime, ids, sqlx};

use crate::certificate::{self, Facts};
use crate::error::EsignError;
use crate::events::{self, NewEvent};
use crate::flow::{Step, sha256_hex};
use crate::model::{
    DeliverableType, EmailKind, EnvelopeStatus, EventKind, PlaceType, RecipientStatus,
};
use crate::outbox;
use crate::pdf::{self, DocumentKind, Mark, SourceDocument, Stamp};
use crate::places::{self, PlaceRow};
use crate::rows;
use crate::sealing;
use crate::{Caller, Esign};

/// How long a `get_deliverables` download URL works.
pub const DOWNLOAD_TTL: Duration = Duration::from_secs(3600);
/// How long the link in the completion email works.
pub const EMAILED_DOWNLOAD_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// How long a claimed retry is another instance's before it may take it over.
const CLAIM_LEASE: i64 = 600;
/// Back-off between attempts: 30 s doubling, at most an hour. Attempts go
/// on for as long as it takes: the deliverable is never made without the
/// trusted time the operator asked for.
const FIRST_RETRY: i64 = 30;
const LAST_RETRY: i64 = 3600;
/// Envelopes one retry run takes on.
const RETRY_BATCH: i64 = 8;

pub(crate) fn spawn_generation(esign: Esign, envelope_id: String) {
    tokio::spawn(async move {
        if let Err(error) = generate(&esign, &envelope_id).await {
            tracing::error!(%error, envelope_id, "generating a deliverable failed");
        }
    });
}

/// A stored document: id, name, kind, SHA-256, pages, bytes, LibreOffice's PDF.
pub(crate) type StoredDocument = (
    String,
    String,
    Option<DocumentKind>,
    Option<String>,
    Option<i64>,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
);

/// A built, sealed deliverable, ready to store.
struct Built {
    envelope: rows::EnvelopeRow,
    kind: DeliverableType,
    recipients: Vec<rows::RecipientRow>,
    bytes: Vec<u8>,
    pages: u32,
    seal: Option<sealing::Sealed>,
}

/// Makes and stores the deliverable of a completed envelope that has none;
/// a failure is recorded and scheduled for a retry.
async fn generate(esign: &Esign, envelope_id: &str) -> Result<(), EsignError> {
    match build(esign, envelope_id).await {
        Ok(Some(built)) => store(esign, envelope_id, built).await,
        Ok(None) => Ok(()),
        Err(BuildError::Store(error)) => Err(error),
        Err(BuildError::Failed(reason)) => {
            tracing::warn!(envelope_id, %reason, "the deliverable could not be made; it will be retried");
            failed(esign, envelope_id, &reason).await
        }
    }
}

enum BuildError {
    /// The database: nothing is recorded; a later run picks it up.
    Store(EsignError),
    /// Building or sealing: recorded as `deliverable.failed`.
    Failed(String),
}

impl From<EsignError> for BuildError {
    fn from(error: EsignError) -> Self {
        Self::Store(error)
    }
}

impl From<sqlx::Error> for BuildError {
    fn from(error: sqlx::Error) -> Self {
        Self::Store(error.into())
    }
}

async fn build(esign: &Esign, envelope_id: &str) -> Result<Option<Built>, BuildError> {
    let mut conn = esign.store().pool().acquire().await?;
    let Some(envelope) =
        rows::envelope_in_status(&mut conn, envelope_id, EnvelopeStatus::Completed).await?
    else {
        return Ok(None);
    };
    let exists: Option<String> =
        sqlx::query_scalar("SELECT id FROM deliverables WHERE envelope_id = $1")
            .bind(envelope_id)
            .fetch_optional(&mut *conn)
            .await?;
    if exists.is_some() {
        return Ok(None);
    }
    let kind: DeliverableType =
        sqlx::query_scalar("SELECT deliverable_type FROM envelopes WHERE id = $1")
            .bind(envelope_id)
            .fetch_one(&mut *conn)
            .await?;
    let contents: Vec<StoredDocument> = sqlx::query_as(
        "SELECT id, name, kind, sha256, pages, content, converted FROM envelope_documents WHERE envelope_id = $1 ORDER BY position",
    )
    .bind(envelope_id)
    .fetch_all(&mut *conn)
    .await?;
    let recipients = rows::recipients(&mut conn, envelope_id).await?;
    let user_agents: HashMap<String, String> = sqlx::query_as::<_, (String, Option<String>)>(
        "SELECT id, user_agent FROM envelope_recipients WHERE envelope_id = $1",
    )
    .bind(envelope_id)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .filter_map(|(id, agent)| agent.map(|agent| (id, agent)))
    .collect();
    let places = places::for_envelope(&mut conn, envelope_id).await?;
    let history = events::after(&mut conn, &envelope.org_id, Some(envelope_id), 0, 10_000).await?;
    drop(conn);

    let sealer = esign.sealer().cloned();
    let trail = certificate::trail(&Facts {
        envelope: &envelope,
        documents: &contents,
        recipients: &recipients,
        user_agents: &user_agents,
        places: &places,
        history: &history,
        seal: sealer
            .as_ref()
            .map(|s| (s.info().subject.clone(), s.info().fingerprint.clone())),
    });
    let envelope_date = envelope
        .completed_at
        .map(|at| places::date_in(&envelope.timezone, UnixTime::from_secs(at)))
        .unwrap_or_default();
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
    // PDF assembly is CPU work: keep it off the request threads.
    let bytes = tokio::task::spawn_blocking(move || {
        let borrowed: Vec<SourceDocument<'_>> = sources
            .iter()
            .zip(&trail.documents)
            .map(|((kind, bytes, stamps), doc)| SourceDocument {
                name: &doc.name,
                pdf: bytes.as_deref(),
                kind: kind.unwrap_or(DocumentKind::Pdf),
                sha256_hex: &doc.sha256_hex,
                pages: doc.pages,
                stamps,
            })
            .collect();
        match kind {
            DeliverableType::Standard => pdf::deliverable(&borrowed, &trail),
            DeliverableType::Simple => pdf::documents_only(&borrowed, &trail.title),
        }
        .map_err(|e| format!("the signed PDF could not be built: {e}"))
    })
    .await
    .map_err(|e| BuildError::Failed(format!("the deliverable task failed: {e}")))?
    .map_err(BuildError::Failed)?;
    let (bytes, seal) = match &sealer {
        Some(sealer) => {
            let mut sealed = sealing::seal(
                esign,
                sealer,
                bytes,
                pdf_date(esign.now()),
                format!("Sealed by Signet on completion of envelope {envelope_id}"),
            )
            .await
            .map_err(BuildError::Failed)?;
            (std::mem::take(&mut sealed.bytes), Some(sealed))
        }
        None => (bytes, None),
    };
    let pages = pdf::page_count(&bytes).unwrap_or(0);
    Ok(Some(Built {
        envelope,
        kind,
        recipients,
        bytes,
        pages,
        seal,
    }))
}

/// A PDF date, `D:YYYYMMDDHHmmSSZ`.
fn pdf_date(at: UnixTime) -> String {
    let digits: String = at.rfc3339().chars().filter(char::is_ascii_digit).collect();
    format!("D:{digits}Z")
}

async fn store(esign: &Esign, envelope_id: &str, built: Built) -> Result<(), EsignError> {
    let Built {
        envelope,
        kind,
        recipients,
        bytes,
        pages,
        seal,
    } = built;
    let now = esign.now();
    let deliverable_id = ids::new(ids::DELIVERABLE)?;
    // The link key may need a write of its own: fetch it before this
    // transaction takes the write lock.
    let link = esign
        .download_url(&deliverable_id, now.plus(EMAILED_DOWNLOAD_TTL))
        .await?;
    let mut tx = esign.store().begin_write().await?;
    let inserted = sqlx::query(
        "INSERT INTO deliverables (id, envelope_id, org_id, sha256, size_bytes, pages, content, created_at, seal_digest, seal_fingerprint, timestamped_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (envelope_id) DO NOTHING",
    )
    .bind(&deliverable_id)
    .bind(envelope_id)
    .bind(&envelope.org_id)
    .bind(sha256_hex(&bytes))
    .bind(bytes.len() as i64)
    .bind(i64::from(pages))
    .bind(bytes.as_slice())
    .bind(now.as_secs())
    .bind(seal.as_ref().map(|s| s.digest_hex.clone()))
    .bind(seal.as_ref().map(|s| s.fingerprint.clone()))
    .bind(seal.as_ref().and_then(|s| s.timestamped_at))
    .execute(&mut *tx)
    .await?;
    if inserted.rows_affected() == 0 {
        return Ok(());
    }
    sqlx::query("UPDATE envelopes SET deliverable_retry_at = NULL WHERE id = $1")
        .bind(envelope_id)
        .execute(&mut *tx)
        .await?;
    events::record(
        &mut tx,
        esign.store().backend(),
        NewEvent {
            org_id: &envelope.org_id,
            envelope_id,
            recipient_id: None,
            kind: EventKind::DeliverableGenerated,
            data: json!({
                "deliverable_id": deliverable_id,
                "type": kind,
                "pages": pages,
                "size_bytes": bytes.len(),
                "sealed": seal.is_some(),
                "timestamped_at": seal.as_ref().and_then(|s| s.timestamped_at).map(UnixTime::from_secs),
            }),
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
            "Hello {},\n\n\"{}\" has been signed by everyone. Download the signed documents (the link works for 7 days):\n{link}\n\n— Signet\n",
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

/// Records a failed attempt and when the next one is due.
async fn failed(esign: &Esign, envelope_id: &str, reason: &str) -> Result<(), EsignError> {
    let now = esign.now();
    let mut tx = esign.store().begin_write().await?;
    let row: Option<(String, i64)> = sqlx::query_as(
        "SELECT org_id, deliverable_attempts FROM envelopes e WHERE id = $1 \
         AND NOT EXISTS (SELECT 1 FROM deliverables d WHERE d.envelope_id = e.id)",
    )
    .bind(envelope_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((org_id, attempts)) = row else {
        return Ok(());
    };
    let attempt = attempts + 1;
    let next = now.plus(Duration::from_secs(
        u64::try_from(retry_delay(attempt)).unwrap_or(3600),
    ));
    sqlx::query(
        "UPDATE envelopes SET deliverable_attempts = $2, deliverable_retry_at = $3 WHERE id = $1",
    )
    .bind(envelope_id)
    .bind(attempt)
    .bind(next.as_secs())
    .execute(&mut *tx)
    .await?;
    events::record(
        &mut tx,
        esign.store().backend(),
        NewEvent {
            org_id: &org_id,
            envelope_id,
            recipient_id: None,
            kind: EventKind::DeliverableFailed,
            data: json!({ "attempt": attempt, "reason": reason, "next_attempt_at": next }),
        },
        now,
    )
    .await?;
    tx.commit().await?;
    esign.notifier().notify();
    Ok(())
}

/// Seconds before attempt `attempt + 1`.
fn retry_delay(attempt: i64) -> i64 {
    let doublings = u32::try_from(attempt.saturating_sub(1).clamp(0, 20)).unwrap_or(20);
    FIRST_RETRY
        .saturating_mul(2_i64.saturating_pow(doublings))
        .min(LAST_RETRY)
}

impl Esign {
    /// Retries the deliverables that are due — a failed attempt's back-off
    /// is over, or the generation started at completion was lost (every
    /// completion sets a due time 10 minutes on, cleared when the
    /// deliverable is stored) — each claimed by one instance.
    /// Returns how many were attempted.
    pub async fn retry_deliverables(&self) -> Result<usize, EsignError> {
        let now = self.now().as_secs();
        let due: Vec<(String, i64)> = sqlx::query_as(
            "SELECT id, deliverable_retry_at FROM envelopes e WHERE deliverable_retry_at <= $2 \
             AND status = $1 AND NOT EXISTS (SELECT 1 FROM deliverables d WHERE d.envelope_id = e.id) \
             ORDER BY deliverable_retry_at LIMIT $3",
        )
        .bind(EnvelopeStatus::Completed)
        .bind(now)
        .bind(RETRY_BATCH)
        .fetch_all(self.store().pool())
        .await?;
        let mut attempted = 0;
        for (envelope_id, seen) in due {
            // The claim: whoever moves the due time first owns this attempt.
            let mut tx = self.store().begin_write().await?;
            let claimed = sqlx::query(
                "UPDATE envelopes SET deliverable_retry_at = $2 WHERE id = $1 AND deliverable_retry_at = $3",
            )
            .bind(&envelope_id)
            .bind(now + CLAIM_LEASE)
            .bind(seen)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            tx.commit().await?;
            if claimed {
                attempted += 1;
                generate(self, &envelope_id).await?;
            }
        }
        Ok(attempted)
    }
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
        type Row = (
            String,
            String,
            i64,
            i64,
            i64,
            DeliverableType,
            Option<String>,
            Option<i64>,
        );
        let row: Option<Row> = sqlx::query_as(
            "SELECT d.id, d.sha256, d.size_bytes, d.pages, d.created_at, e.deliverable_type, d.seal_fingerprint, d.timestamped_at \
             FROM deliverables d JOIN envelopes e ON e.id = d.envelope_id WHERE d.envelope_id = $1 AND d.org_id = $2",
        )
        .bind(envelope_id)
        .bind(&caller.org_id)
        .fetch_optional(self.store().pool())
        .await?;
        let Some((id, sha256, size, pages, created, kind, fingerprint, timestamped_at)) = row
        else {
            return Err(self.why_not_ready(envelope_id).await?);
        };
        let expires = self.now().plus(DOWNLOAD_TTL);
        let url = self.download_url(&id, expires).await?;
        Ok(json!({
            "envelope_id": envelope_id,
            "deliverables": [{
                "deliverable_id": id,
                "type": "signed_pdf",
                "deliverable_type": kind,
                "seal": fingerprint.map(|fingerprint| json!({
                    "certificate_sha256": fingerprint,
                    "timestamped_at": timestamped_at.map(UnixTime::from_secs),
                })),
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

    /// Not ready yet: being made, or waiting for a retry after a failure.
    async fn why_not_ready(&self, envelope_id: &str) -> Result<EsignError, EsignError> {
        let last: Option<String> = sqlx::query_scalar(
            "SELECT data FROM envelope_events WHERE envelope_id = $1 AND type = $2 ORDER BY seq DESC LIMIT 1",
        )
        .bind(envelope_id)
        .bind(EventKind::DeliverableFailed)
        .fetch_optional(self.store().pool())
        .await?;
        Ok(match last {
            Some(data) => EsignError::DeliverableDelayed(
                serde_json::from_str::<Value>(&data)
                    .ok()
                    .and_then(|d| d.get("reason").and_then(Value::as_str).map(str::to_owned))
                    .unwrap_or_else(|| "an attempt failed".to_owned()),
            ),
            None => EsignError::DeliverableNotReady,
        })
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
