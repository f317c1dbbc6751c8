//! The tool-facing side of envelopes: create (and send), read, list,
//! cancel, delete; events and the outbox.

use std::collections::HashMap;
use std::time::Duration;

use data_encoding::BASE64URL_NOPAD;
use serde_json::{Map, Value, json};
use signet_store::sqlx;

use crate::error::{EsignError, FieldError};
use crate::events::{self, NewEvent};
use crate::input::{Checker, MAX_CANCEL_REASON, MAX_LIST_LIMIT, NewEnvelope};
use crate::model::{Email, Envelope, EnvelopeStatus, EnvelopeSummary, Event, Mode};
use crate::outbox::{self, EmailKind};
use crate::rows::{self, ENVELOPE_COLUMNS, EnvelopeRow};
use crate::{Caller, Esign, flow, uploads};

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
fn plausible_id(id: &str) -> bool {
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
        let new = NewEnvelope::parse(args, &|url| self.document_url_problem(url, &upload_checks))?;
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
             created_by, connection_id, created_at, updated_at) \
             VALUES ($1, $2, $3, 'processing', $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)",
        )
        .bind(&envelope_id)
        .bind(&caller.org_id)
        .bind(new.mode.as_str())
        .bind(&new.title)
        .bind(&new.message)
        .bind(&new.label)
        .bind(new.routing.as_str())
        .bind(json!(new.topics).to_string())
        .bind(Value::Object(new.metadata.clone()).to_string())
        .bind(&caller.user_id)
        .bind(&caller.connection_id)
        .bind(now.as_secs())
        .execute(&mut *tx)
        .await?;
        for topic in &new.topics {
            sqlx::query("INSERT INTO envelope_topics (envelope_id, topic) VALUES ($1, $2)")
                .bind(&envelope_id)
                .bind(topic)
                .execute(&mut *tx)
                .await?;
        }
        for ((position, document), name) in new.documents.iter().enumerate().zip(names) {
            sqlx::query(
                "INSERT INTO envelope_documents (id, envelope_id, position, name, source_url, upload_id) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(signet_store::ids::new(signet_store::ids::DOCUMENT)?)
            .bind(&envelope_id)
            .bind(position as i64)
            .bind(name)
            .bind(&document.url)
            .bind(uploads::upload_id_of(&self.inner.public_url, &document.url))
            .execute(&mut *tx)
            .await?;
        }
        for (position, recipient) in new.recipients.iter().enumerate() {
            sqlx::query(
                "INSERT INTO envelope_recipients (id, envelope_id, position, key, type, name, email, delivery_type, \
                 status, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9)",
            )
            .bind(signet_store::ids::new(signet_store::ids::RECIPIENT)?)
            .bind(&envelope_id)
            .bind(position as i64)
            .bind(&recipient.key)
            .bind(recipient.kind.as_str())
            .bind(&recipient.name)
            .bind(&recipient.email)
            .bind(recipient.delivery_type.as_str())
            .bind(now.as_secs())
            .execute(&mut *tx)
            .await?;
        }
        events::record(
            &mut tx,
            self.store().backend(),
            NewEvent {
                org_id: &caller.org_id,
                envelope_id: &envelope_id,
                recipient_id: None,
                kind: "envelope.created",
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
        let status = c.text(args, "status", "status", 20);
        if let Some(s) = &status
            && EnvelopeStatus::parse(s).is_none()
        {
            c.fail(
                "status",
                "must be one of processing, in_progress, completed, canceled, failed",
            );
        }
        let topic = c.text(args, "topic", "topic", 64);
        let mode = c.text(args, "mode", "mode", 10);
        if let Some(m) = &mode
            && Mode::parse(m).is_none()
        {
            c.fail("mode", "must be \"test\" or \"live\"");
        }
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
        if let Some(s) = &status {
            query = query.bind(s);
        }
        if let Some(m) = &mode {
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
                    mode: row.mode()?,
                    status: row.status()?,
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
        let envelope = rows::envelope(&mut tx, &caller.org_id, envelope_id).await?;
        let updated = sqlx::query(
            "UPDATE envelopes SET status = 'canceled', cancel_reason = $1, canceled_at = $2, updated_at = $2 \
             WHERE id = $3 AND status = 'in_progress'",
        )
        .bind(reason)
        .bind(now.as_secs())
        .bind(envelope_id)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(EsignError::CannotCancel(envelope.status));
        }
        events::record(
            &mut tx,
            self.store().backend(),
            NewEvent {
                org_id: &caller.org_id,
                envelope_id,
                recipient_id: None,
                kind: "envelope.canceled",
                data: json!({ "reason": reason }),
            },
            now,
        )
        .await?;
        // Everyone who was asked to act hears that they no longer need to.
        let mut pending = Vec::new();
        for recipient in rows::recipients(&mut tx, envelope_id).await? {
            if recipient.released_at.is_none() || recipient.status == "replaced" {
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
                    mode: envelope.mode()?,
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
        let envelope = rows::envelope(&mut tx, &caller.org_id, envelope_id).await?;
        if !envelope.status()?.is_final() {
            return Err(EsignError::CannotDelete(envelope.status));
        }
        // Children go with the envelope (ON DELETE CASCADE), bytes included.
        sqlx::query(
            "DELETE FROM envelopes WHERE id = $1 AND org_id = $2 AND status IN ('completed', 'canceled', 'failed')",
        )
        .bind(envelope_id)
        .bind(&caller.org_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(json!({ "envelope_id": envelope_id, "deleted": true }))
    }

    /// Events after a cursor. With `wait_seconds`, waits for the first new
    /// event (woken by the notifier, never by polling) and says `timed_out`
    /// when none came.
    pub async fn list_events(
        &self,
        caller: &Caller,
        args: &Map<String, Value>,
    ) -> Result<Value, EsignError> {
        let mut c = Checker::default();
        let envelope_id = c.text(args, "envelope_id", "envelope_id", 64);
        let after = c.text(args, "after", "after", 100);
        let after_seq = match &after {
            Some(text) => events::decode_cursor(text).unwrap_or_else(|| {
                c.fail("after", "is not a cursor this server returned");
                0
            }),
            None => 0,
        };
        let wait = c.integer(args, "wait_seconds").unwrap_or(0);
        if !(0..=events::MAX_WAIT_SECONDS).contains(&wait) {
            c.fail(
                "wait_seconds",
                format!("must be between 0 and {}", events::MAX_WAIT_SECONDS),
            );
        }
        let limit = c.integer(args, "limit").unwrap_or(100);
        if !(1..=MAX_LIST_LIMIT).contains(&limit) {
            c.fail("limit", format!("must be between 1 and {MAX_LIST_LIMIT}"));
        }
        c.finish(())?;
        if let Some(id) = &envelope_id {
            // Another organization's envelope is not found, not an empty list.
            self.get_envelope_row(caller, id).await?;
        }

        let deadline = tokio::time::Instant::now() + Duration::from_secs(wait as u64);
        let mut ticks = self.notifier().subscribe();
        loop {
            ticks.borrow_and_update();
            let mut conn = self.store().pool().acquire().await?;
            let found = events::after(
                &mut conn,
                &caller.org_id,
                envelope_id.as_deref(),
                after_seq,
                limit + 1,
            )
            .await?;
            drop(conn);
            if !found.is_empty() || wait == 0 || tokio::time::Instant::now() >= deadline {
                let timed_out = found.is_empty() && wait > 0;
                return Ok(events_page(found, after_seq, limit, timed_out));
            }
            let parked = self.notifier().park();
            let woken = tokio::time::timeout_at(deadline, ticks.changed()).await;
            drop(parked);
            match woken {
                Ok(Ok(())) => continue,
                // Timed out, or the notifier is gone (shutting down).
                _ => return Ok(events_page(Vec::new(), after_seq, limit, true)),
            }
        }
    }

    async fn get_envelope_row(
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

    /// The test-mode outbox, newest first.
    pub async fn list_emails(
        &self,
        caller: &Caller,
        args: &Map<String, Value>,
    ) -> Result<Value, EsignError> {
        let mut c = Checker::default();
        let envelope_id = c.text(args, "envelope_id", "envelope_id", 64);
        let limit = c.integer(args, "limit").unwrap_or(50);
        if !(1..=MAX_LIST_LIMIT).contains(&limit) {
            c.fail("limit", format!("must be between 1 and {MAX_LIST_LIMIT}"));
        }
        c.finish(())?;
        if let Some(id) = &envelope_id {
            self.get_envelope_row(caller, id).await?;
        }
        let rows = match &envelope_id {
            Some(id) => {
                sqlx::query_as::<_, EmailRow>(sqlx::AssertSqlSafe(format!(
                    "SELECT {EMAIL_COLUMNS} FROM envelope_emails WHERE org_id = $1 AND mode = 'test' AND envelope_id = $2 \
                     ORDER BY created_at DESC, id DESC LIMIT $3"
                )))
                .bind(&caller.org_id)
                .bind(id)
                .bind(limit)
                .fetch_all(self.store().pool())
                .await?
            }
            None => {
                sqlx::query_as::<_, EmailRow>(sqlx::AssertSqlSafe(format!(
                    "SELECT {EMAIL_COLUMNS} FROM envelope_emails WHERE org_id = $1 AND mode = 'test' \
                     ORDER BY created_at DESC, id DESC LIMIT $2"
                )))
                .bind(&caller.org_id)
                .bind(limit)
                .fetch_all(self.store().pool())
                .await?
            }
        };
        let emails: Vec<Email> = rows.into_iter().map(|r| r.view(false)).collect();
        Ok(json!({ "emails": emails }))
    }

    pub async fn get_email(&self, caller: &Caller, email_id: &str) -> Result<Email, EsignError> {
        if !plausible_id(email_id) {
            return Err(EsignError::NotFound("email"));
        }
        sqlx::query_as::<_, EmailRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {EMAIL_COLUMNS} FROM envelope_emails WHERE id = $1 AND org_id = $2 AND mode = 'test'"
        )))
        .bind(email_id)
        .bind(&caller.org_id)
        .fetch_optional(self.store().pool())
        .await?
        .map(|r| r.view(true))
        .ok_or(EsignError::NotFound("email"))
    }
}

fn events_page(mut found: Vec<events::EventRow>, after: i64, limit: i64, timed_out: bool) -> Value {
    let more = found.len() as i64 > limit;
    found.truncate(limit as usize);
    let last = found.last().map(|e| e.seq).unwrap_or(after);
    let events: Vec<Event> = found.into_iter().map(Event::from).collect();
    json!({
        "events": events,
        "next_cursor": events::encode_cursor(last),
        "has_more": more,
        "timed_out": timed_out,
    })
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

const EMAIL_COLUMNS: &str =
    "id, envelope_id, recipient_id, kind, to_name, to_email, subject, body, link, created_at";

#[derive(sqlx::FromRow)]
struct EmailRow {
    id: String,
    envelope_id: String,
    recipient_id: Option<String>,
    kind: String,
    to_name: String,
    to_email: String,
    subject: String,
    body: String,
    link: Option<String>,
    created_at: i64,
}

impl EmailRow {
    fn view(self, with_body: bool) -> Email {
        Email {
            email_id: self.id,
            envelope_id: self.envelope_id,
            recipient_id: self.recipient_id,
            kind: self.kind,
            to: self.to_email,
            to_name: self.to_name,
            subject: self.subject,
            body: with_body.then_some(self.body),
            link: self.link,
            created_at: signet_store::UnixTime::from_secs(self.created_at),
        }
    }
}
