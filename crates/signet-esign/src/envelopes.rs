//! The tool-facing side of envelopes: create (and send), read, list,
//! cancel, delete.

use std::collections::HashMap;

use data_encoding::BASE64URL_NOPAD;
use serde_json::{Map, Value, json};
use signet_store::sqlx;

use crate::error::{EsignError, FieldError};
use crate::events::{self, NewEvent};
use crate::input::{Checker, MAX_CANCEL_REASON, MAX_LIST_LIMIT, NewEnvelope};
use crate::model::{
    EmailKind, Envelope, EnvelopeStatus, EnvelopeSummary, EventKind, Mode, RecipientStatus,
};
use crate::outbox;
use crate::rows::{self, ENVELOPE_COLUMNS, EnvelopeRow};
use crate::transitions::{self, EnvelopeChange};
use crate::{Caller, Esign, flow, pdf, places, uploads};

/// Why a Word document cannot be used on a server without LibreOffice.
pub(crate) const DOCX_UNAVAILABLE: &str = "is a Word document, and this server cannot convert Word documents to PDF \
     (no LibreOffice; see SIGNET_DOCX_CONVERTER): send the document as a PDF";

/// Envelope ids are UUIDs (version 4), as in the hosted product.
fn new_envelope_id() -> Result<String, EsignError> {
    let mut b = signet_store::random::bytes::<16>()?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    ))
}

/// Ids arrive from agents: anything not shaped like one of ours is simply
/// not found (and never reaches a query as something odd).
pub(crate) fn plausible_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn encode_page_cursor(created_at: i64, id: &str) -> String {
    BASE64URL_NOPAD.encode(format!("env:{created_at}:{id}").as_bytes())
}

fn decode_page_cursor(cursor: &str) -> Option<(i64, String)> {
    let text = String::from_utf8(BASE64URL_NOPAD.decode(cursor.as_bytes()).ok()?).ok()?;
    let (created, id) = text.strip_prefix("env:")?.split_once(':')?;
    Some((created.parse().ok()?, id.to_owned()))
}

impl Esign {
    /// Judges a document URL: an upload of this organization, or a URL the
    /// fetcher is allowed to reach.
    fn document_url_problem(
        &self,
        url: &str,
        uploads: &HashMap<String, Result<(), String>>,
    ) -> Result<(), String> {
        if let Some(result) = uploads.get(url) {
            return result.clone();
        }
        self.inner
            .fetcher
            .check_url(url)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    pub async fn create_envelope(
        &self,
        caller: &Caller,
        args: &Map<String, Value>,
    ) -> Result<Envelope, EsignError> {
        let now = self.now();
        // Upload references are looked up first so that their problems are
        // reported together with every other one.
        let mut upload_checks = HashMap::new();
        if let Some(Value::Array(documents)) = args.get("documents") {
            for url in documents.iter().filter_map(|d| d.get("url")?.as_str()) {
                let url = url.trim();
                if let Some(upload_id) = uploads::upload_id_of(&self.inner.public_url, url) {
                    let verdict =
                        uploads::check_reference(self, &caller.org_id, upload_id, now).await?;
                    upload_checks.insert(url.to_owned(), verdict);
                }
            }
        }
        let new = NewEnvelope::parse(
            args,
            &|url| self.document_url_problem(url, &upload_checks),
            now,
        )?;
        // Uploaded documents are already here: their places are found now,
        // so a missing placeholder is a validation error, not a failed envelope.
        let boxes = self.locate_uploaded(caller, &new, now).await?;
        if new.mode == Mode::Live {
            if !caller.live_mode {
                return Err(EsignError::LiveModeDisabled);
            }
            if !self.inner.mailer.can_send() {
                return Err(EsignError::LiveModeUnavailable);
            }
        }

        // Names first: an upload's own file name beats "Document N".
        let mut names = Vec::with_capacity(new.documents.len());
        for (position, document) in new.documents.iter().enumerate() {
            let name = match (
                &document.name,
                uploads::upload_id_of(&self.inner.public_url, &document.url),
            ) {
                (Some(name), _) => name.clone(),
                (None, Some(upload_id)) => uploads::filename(self, &caller.org_id, upload_id)
                    .await?
                    .unwrap_or_else(|| format!("Document {}", position + 1)),
                (None, None) => name_from_url(&document.url, position),
            };
            names.push(name);
        }
        let envelope_id = new_envelope_id()?;
        let mut tx = self.store().begin_write().await?;
        sqlx::query(
            "INSERT INTO envelopes (id, org_id, mode, status, title, message, label, routing, topics, metadata, \
             created_by, connection_id, created_at, updated_at, timezone, expires_at, reminder_first_after, \
             reminder_every, reminder_max, deliverable_type) \
             VALUES ($1, $2, $3, $13, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $14, $15, $16, $17, $18, $19)",
        )
        .bind(&envelope_id)
        .bind(&caller.org_id)
        .bind(new.mode)
        .bind(&new.title)
        .bind(&new.message)
        .bind(&new.label)
        .bind(new.routing)
        .bind(json!(new.topics).to_string())
        .bind(Value::Object(new.metadata.clone()).to_string())
        .bind(&caller.user_id)
        .bind(&caller.connection_id)
        .bind(now.as_secs())
        .bind(EnvelopeStatus::Processing)
        .bind(&new.timezone)
        .bind(new.expires_at.map(|t| t.as_secs()))
        .bind(new.reminders.map(|r| r.first_after as i64))
        .bind(new.reminders.map(|r| r.every as i64))
        .bind(new.reminders.map(|r| r.max))
        .bind(new.deliverable_type)
        .execute(&mut *tx)
        .await?;
        for topic in &new.topics {
            sqlx::query("INSERT INTO envelope_topics (envelope_id, topic) VALUES ($1, $2)")
                .bind(&envelope_id)
                .bind(topic)
                .execute(&mut *tx)
                .await?;
        }
        let mut document_ids = Vec::with_capacity(new.documents.len());
        for ((position, document), name) in new.documents.iter().enumerate().zip(names) {
            let document_id = signet_store::ids::new(signet_store::ids::DOCUMENT)?;
            sqlx::query(
                "INSERT INTO envelope_documents (id, envelope_id, position, name, source_url, upload_id) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&document_id)
            .bind(&envelope_id)
            .bind(position as i64)
            .bind(name)
            .bind(&document.url)
            .bind(uploads::upload_id_of(&self.inner.public_url, &document.url))
            .execute(&mut *tx)
            .await?;
            document_ids.push(document_id);
        }
        places::insert(&mut tx, &envelope_id, &document_ids, &new.places, &boxes).await?;
        for (position, recipient) in new.recipients.iter().enumerate() {
            let id = signet_store::ids::new(signet_store::ids::RECIPIENT)?;
            rows::insert_recipient(&mut tx, &id, &envelope_id, position as i64, recipient, now)
                .await?;
        }
        events::record(
            &mut tx,
            self.store().backend(),
            NewEvent {
                org_id: &caller.org_id,
                envelope_id: &envelope_id,
                recipient_id: None,
                kind: EventKind::EnvelopeCreated,
                data: json!({ "mode": new.mode, "documents": new.documents.len(), "recipients": new.recipients.len() }),
            },
            now,
        )
        .await?;
        // The answer is what this transaction committed: read before the
        // background processing can move the envelope on.
        let row = rows::envelope(&mut tx, &caller.org_id, &envelope_id).await?;
        let created = rows::full(&mut tx, row).await?;
        tx.commit().await?;
        self.notifier().notify();
        flow::spawn_processing(self.clone(), envelope_id.clone());
        Ok(created)
    }

    /// The boxes of the places of uploaded documents (`None` for documents
    /// fetched later), or every problem found: a missing placeholder, a
    /// fixed position off the page, a Word document without a converter.
    async fn locate_uploaded(
        &self,
        caller: &Caller,
        new: &NewEnvelope,
        now: signet_store::UnixTime,
    ) -> Result<Vec<Option<Vec<places::PlaceBox>>>, EsignError> {
        let mut boxes = vec![None; new.places.len()];
        let mut problems: Vec<FieldError> = Vec::new();
        for (index, document) in new.documents.iter().enumerate() {
            let Some(upload_id) = uploads::upload_id_of(&self.inner.public_url, &document.url)
            else {
                continue;
            };
            let Ok(bytes) = uploads::content(self, &caller.org_id, upload_id, now).await else {
                continue;
            };
            if pdf::is_docx(&bytes) {
                if !self.docx().available() {
                    problems.push(FieldError::new(
                        format!("documents[{index}].url"),
                        DOCX_UNAVAILABLE,
                    ));
                }
                // Its places are found once LibreOffice has laid it out.
                continue;
            }
            let mine: Vec<usize> = (0..new.places.len())
                .filter(|&k| new.places[k].document == index)
                .collect();
            if mine.is_empty() {
                continue;
            }
            let asked: Vec<places::NewPlace> =
                mine.iter().map(|&k| new.places[k].clone()).collect();
            let found = tokio::task::spawn_blocking(move || {
                let wanted: Vec<places::Wanted<'_>> =
                    asked.iter().map(places::NewPlace::wanted).collect();
                places::locate(&bytes, &wanted)
            })
            .await
            .map_err(|e| EsignError::Internal(format!("locating places failed: {e}")))?;
            match found {
                Ok(located) => {
                    for (k, found) in mine.into_iter().zip(located.boxes) {
                        boxes[k] = Some(found);
                    }
                }
                Err(errors) => problems.extend(errors.into_iter().map(|mut e| {
                    if e.field == "documents" {
                        e.field = format!("documents[{index}].url");
                    }
                    e
                })),
            }
        }
        if problems.is_empty() {
            Ok(boxes)
        } else {
            Err(EsignError::Validation(problems))
        }
    }

    pub async fn get_envelope(
        &self,
        caller: &Caller,
        envelope_id: &str,
    ) -> Result<Envelope, EsignError> {
        if !plausible_id(envelope_id) {
            return Err(EsignError::NotFound("envelope"));
        }
        let mut conn = self.store().pool().acquire().await?;
        let row = rows::envelope(&mut conn, &caller.org_id, envelope_id).await?;
        rows::full(&mut conn, row).await
    }

    /// Newest first; `cursor` continues where the previous page ended.
    pub async fn list_envelopes(
        &self,
        caller: &Caller,
        args: &Map<String, Value>,
    ) -> Result<Value, EsignError> {
        let mut c = Checker::default();
        let status = c.text(args, "status", "status", 20).and_then(|s| {
            let status = EnvelopeStatus::parse(&s);
            if status.is_none() {
                let all: Vec<&str> = EnvelopeStatus::ALL.iter().map(|s| s.as_str()).collect();
                c.fail("status", format!("must be one of {}", all.join(", ")));
            }
            status
        });
        let topic = c.text(args, "topic", "topic", 64);
        let mode = c.text(args, "mode", "mode", 10).and_then(|m| {
            let mode = Mode::parse(&m);
            if mode.is_none() {
                c.fail("mode", "must be \"test\" or \"live\"");
            }
            mode
        });
        let limit = c.integer(args, "limit").unwrap_or(20);
        if !(1..=MAX_LIST_LIMIT).contains(&limit) {
            c.fail("limit", format!("must be between 1 and {MAX_LIST_LIMIT}"));
        }
        let cursor = c.text(args, "cursor", "cursor", 300);
        let position = match &cursor {
            Some(text) => match decode_page_cursor(text) {
                Some(p) => Some(p),
                None => {
                    c.fail("cursor", "is not a cursor this server returned");
                    None
                }
            },
            None => None,
        };
        c.finish(())?;

        let mut sql = format!("SELECT {ENVELOPE_COLUMNS} FROM envelopes e WHERE org_id = $1");
        let mut n = 1;
        let mut next = || {
            n += 1;
            n
        };
        if status.is_some() {
            sql += &format!(" AND status = ${}", next());
        }
        if mode.is_some() {
            sql += &format!(" AND mode = ${}", next());
        }
        if topic.is_some() {
            sql += &format!(
                " AND EXISTS (SELECT 1 FROM envelope_topics t WHERE t.envelope_id = e.id AND t.topic = ${})",
                next()
            );
        }
        if position.is_some() {
            let (a, b) = (next(), next());
            sql += &format!(" AND (created_at < ${a} OR (created_at = ${a} AND id < ${b}))");
        }
        sql += &format!(" ORDER BY created_at DESC, id DESC LIMIT ${}", next());
        let mut query =
            sqlx::query_as::<_, EnvelopeRow>(sqlx::AssertSqlSafe(sql)).bind(&caller.org_id);
        if let Some(s) = status {
            query = query.bind(s);
        }
        if let Some(m) = mode {
            query = query.bind(m);
        }
        if let Some(t) = &topic {
            query = query.bind(t);
        }
        if let Some((created, id)) = &position {
            query = query.bind(*created).bind(id);
        }
        let mut rows = query.bind(limit + 1).fetch_all(self.store().pool()).await?;
        let more = rows.len() as i64 > limit;
        rows.truncate(limit as usize);
        let next_cursor = if more {
            rows.last().map(|r| encode_page_cursor(r.created_at, &r.id))
        } else {
            None
        };
        let envelopes = rows
            .into_iter()
            .map(|row| {
                Ok(EnvelopeSummary {
                    envelope_id: row.id.clone(),
                    mode: row.mode,
                    status: row.status,
                    topics: row.topics(),
                    title: row.title,
                    label: row.label,
                    created_at: signet_store::UnixTime::from_secs(row.created_at),
                    updated_at: signet_store::UnixTime::from_secs(row.updated_at),
                })
            })
            .collect::<Result<Vec<_>, EsignError>>()?;
        Ok(json!({ "envelopes": envelopes, "next_cursor": next_cursor, "has_more": more }))
    }

    pub async fn cancel_envelope(
        &self,
        caller: &Caller,
        envelope_id: &str,
        reason: Option<&str>,
    ) -> Result<Envelope, EsignError> {
        let reason = reason.map(str::trim).filter(|r| !r.is_empty());
        if let Some(r) = reason
            && r.chars().count() > MAX_CANCEL_REASON
        {
            return Err(EsignError::Validation(vec![FieldError::new(
                "reason",
                format!("must be at most {MAX_CANCEL_REASON} characters"),
            )]));
        }
        if !plausible_id(envelope_id) {
            return Err(EsignError::NotFound("envelope"));
        }
        let now = self.now();
        let mut tx = self.store().begin_write().await?;
        let envelope =
            rows::envelope_for_change(&mut tx, self.store().backend(), &caller.org_id, envelope_id)
                .await?;
        let change = EnvelopeChange::Cancel { reason };
        if !transitions::envelope(&mut tx, envelope_id, change, now).await? {
            return Err(EsignError::CannotCancel(envelope.status));
        }
        events::record(
            &mut tx,
            self.store().backend(),
            NewEvent {
                org_id: &caller.org_id,
                envelope_id,
                recipient_id: None,
                kind: EventKind::EnvelopeCanceled,
                data: json!({ "reason": reason }),
            },
            now,
        )
        .await?;
        // Everyone who was asked to act hears that they no longer need to.
        let mut pending = Vec::new();
        for recipient in rows::recipients(&mut tx, envelope_id).await? {
            if recipient.released_at.is_none() || recipient.status == RecipientStatus::Replaced {
                continue;
            }
            let body = format!(
                "Hello {},\n\nThe request to sign \"{}\" has been canceled; there is nothing more for you to do.{}\n\n— Signet\n",
                recipient.name,
                envelope.title,
                reason
                    .map(|r| format!("\n\nReason: {r}"))
                    .unwrap_or_default()
            );
            if let Some(p) = outbox::write(
                &mut tx,
                outbox::Draft {
                    org_id: &caller.org_id,
                    envelope_id,
                    recipient_id: Some(&recipient.id),
                    mode: envelope.mode,
                    kind: EmailKind::Canceled,
                    to_name: &recipient.name,
                    to_email: &recipient.email,
                    subject: format!("Canceled: {}", envelope.title),
                    body,
                    link: None,
                },
                now,
            )
            .await?
            {
                pending.push(p);
            }
        }
        tx.commit().await?;
        self.notifier().notify();
        flow::send_later(self.clone(), pending);
        self.get_envelope(caller, envelope_id).await
    }

    pub async fn delete_envelope(
        &self,
        caller: &Caller,
        envelope_id: &str,
    ) -> Result<Value, EsignError> {
        if !plausible_id(envelope_id) {
            return Err(EsignError::NotFound("envelope"));
        }
        let mut tx = self.store().begin_write().await?;
        let envelope =
            rows::envelope_for_change(&mut tx, self.store().backend(), &caller.org_id, envelope_id)
                .await?;
        if !envelope.status.is_final() {
            return Err(EsignError::CannotDelete(envelope.status));
        }
        // Children go with the envelope (ON DELETE CASCADE), bytes included.
        sqlx::query("DELETE FROM envelopes WHERE id = $1 AND org_id = $2 AND status = $3")
            .bind(envelope_id)
            .bind(&caller.org_id)
            .bind(envelope.status)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(json!({ "envelope_id": envelope_id, "deleted": true }))
    }

    pub(crate) async fn get_envelope_row(
        &self,
        caller: &Caller,
        envelope_id: &str,
    ) -> Result<EnvelopeRow, EsignError> {
        if !plausible_id(envelope_id) {
            return Err(EsignError::NotFound("envelope"));
        }
        let mut conn = self.store().pool().acquire().await?;
        rows::envelope(&mut conn, &caller.org_id, envelope_id).await
    }
}

/// A readable default name: the URL's last path segment.
fn name_from_url(url: &str, position: usize) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| {
            u.path_segments()?
                .next_back()
                .filter(|s| !s.is_empty())
                .map(|s| s.to_owned())
        })
        .filter(|s| !s.starts_with("upl_"))
        .unwrap_or_else(|| format!("Document {}", position + 1))
}
