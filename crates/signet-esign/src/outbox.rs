//! Email: every message is written to the outbox in the transaction that
//! causes it. Test-mode messages stop there (the agent reads them with
//! `list_emails` and `get_email`); live-mode ones are then sent through
//! SMTP and their outcome recorded.

use lettre::message::Mailbox;
use lettre::transport::smtp::AsyncSmtpTransport;
use lettre::{AsyncTransport, Message, Tokio1Executor};
use serde_json::{Map, Value, json};
use signet_store::sqlx::{self, AnyConnection};
use signet_store::{UnixTime, ids};

use crate::envelopes::plausible_id;
use crate::error::EsignError;
use crate::input::{Checker, MAX_LIST_LIMIT};
use crate::model::{Email, EmailKind, EmailStatus, Mode};
use crate::{Caller, Esign};

/// The SMTP side. Without `SIGNET_SMTP_URL` there is none, and live mode
/// is refused rather than silently dropping mail.
#[derive(Clone)]
pub struct Mailer {
    transport: Option<AsyncSmtpTransport<Tokio1Executor>>,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The SMTP URL may carry a password: show only whether one is set.
        f.debug_struct("Mailer")
            .field("smtp", &self.transport.is_some())
            .field("from", &self.from.to_string())
            .finish()
    }
}

impl Mailer {
    /// `smtp_url` as lettre reads it: `smtp://host:port` (plain, for local
    /// relays), `smtp://user:pass@host:587?tls=required` (STARTTLS),
    /// `smtps://host:465` (TLS).
    pub fn new(smtp_url: Option<&str>, from: &str) -> Result<Self, String> {
        let from: Mailbox = from
            .parse()
            .map_err(|e| format!("the sender address {from:?} is not valid: {e}"))?;
        let transport = match smtp_url {
            None => None,
            Some(url) => Some(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| format!("the SMTP URL is not valid: {e}"))?
                    .build(),
            ),
        };
        Ok(Self { transport, from })
    }

    pub fn can_send(&self) -> bool {
        self.transport.is_some()
    }

    async fn send(
        &self,
        to_name: &str,
        to_email: &str,
        subject: &str,
        body: &str,
    ) -> Result<(), String> {
        let Some(transport) = &self.transport else {
            return Err("no SMTP server is configured".to_owned());
        };
        let to = Mailbox::new(
            Some(to_name.to_owned()),
            to_email
                .parse()
                .map_err(|e| format!("bad recipient address: {e}"))?,
        );
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .body(body.to_owned())
            .map_err(|e| format!("could not build the message: {e}"))?;
        transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| format!("SMTP delivery failed: {e}"))
    }
}

/// One message to write.
pub(crate) struct Draft<'a> {
    pub org_id: &'a str,
    pub envelope_id: &'a str,
    pub recipient_id: Option<&'a str>,
    pub mode: Mode,
    pub kind: EmailKind,
    pub to_name: &'a str,
    pub to_email: &'a str,
    pub subject: String,
    pub body: String,
    /// The link the body carries (a bearer secret for signing requests).
    pub link: Option<String>,
}

/// A live message written to the outbox, to send after commit.
#[derive(Debug)]
pub(crate) struct Pending {
    pub email_id: String,
    pub org_id: String,
    pub envelope_id: String,
    pub recipient_id: Option<String>,
    pub kind: EmailKind,
    pub to_name: String,
    pub to_email: String,
    pub subject: String,
    pub body: String,
}

/// Writes the message in the caller's transaction. A test-mode message is
/// complete here; a live one is returned for sending after commit, and
/// its stored copy has the link masked, so the database never holds a
/// live signing link.
pub(crate) async fn write(
    conn: &mut AnyConnection,
    draft: Draft<'_>,
    now: UnixTime,
) -> Result<Option<Pending>, EsignError> {
    insert(conn, draft, None, now).await
}

/// [`write`] for a message whose body carries a one-time `code`: kept (in
/// its own column) only for test mode; a live copy has it masked like a link.
pub(crate) async fn write_with_code(
    conn: &mut AnyConnection,
    draft: Draft<'_>,
    code: &str,
    now: UnixTime,
) -> Result<Option<Pending>, EsignError> {
    insert(conn, draft, Some(code), now).await
}

async fn insert(
    conn: &mut AnyConnection,
    draft: Draft<'_>,
    code: Option<&str>,
    now: UnixTime,
) -> Result<Option<Pending>, EsignError> {
    let email_id = ids::new(ids::EMAIL)?;
    let (mut stored_body, stored_link, status) = match (draft.mode, &draft.link) {
        (Mode::Test, _) => (
            draft.body.clone(),
            draft.link.clone(),
            EmailStatus::Captured,
        ),
        (Mode::Live, Some(link)) => (
            draft.body.replace(link, "[link sent to the recipient]"),
            None,
            EmailStatus::Sending,
        ),
        (Mode::Live, None) => (draft.body.clone(), None, EmailStatus::Sending),
    };
    let stored_code = match (draft.mode, code) {
        (Mode::Live, Some(code)) => {
            stored_body = stored_body.replace(code, "[code sent to the recipient]");
            None
        }
        (_, code) => code,
    };
    sqlx::query(
        "INSERT INTO envelope_emails (id, org_id, envelope_id, recipient_id, mode, kind, to_name, to_email, \
         subject, body, link, status, created_at, code) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(&email_id)
    .bind(draft.org_id)
    .bind(draft.envelope_id)
    .bind(draft.recipient_id)
    .bind(draft.mode)
    .bind(draft.kind)
    .bind(draft.to_name)
    .bind(draft.to_email)
    .bind(&draft.subject)
    .bind(&stored_body)
    .bind(stored_link)
    .bind(status)
    .bind(now.as_secs())
    .bind(stored_code)
    .execute(&mut *conn)
    .await?;
    Ok((draft.mode == Mode::Live).then(|| Pending {
        email_id,
        org_id: draft.org_id.to_owned(),
        envelope_id: draft.envelope_id.to_owned(),
        recipient_id: draft.recipient_id.map(str::to_owned),
        kind: draft.kind,
        to_name: draft.to_name.to_owned(),
        to_email: draft.to_email.to_owned(),
        subject: draft.subject,
        body: draft.body,
    }))
}

impl Mailer {
    /// Sends one live message; the outcome is for the caller to record.
    pub(crate) async fn deliver(&self, pending: &Pending) -> Result<(), String> {
        self.send(
            &pending.to_name,
            &pending.to_email,
            &pending.subject,
            &pending.body,
        )
        .await
    }
}

/// Records that SMTP accepted a live message.
pub(crate) async fn mark_sent(
    conn: &mut AnyConnection,
    email_id: &str,
    now: UnixTime,
) -> Result<(), EsignError> {
    sqlx::query(
        "UPDATE envelope_emails SET status = $1, sent_at = $2 WHERE id = $3 AND status = $4",
    )
    .bind(EmailStatus::Sent)
    .bind(now.as_secs())
    .bind(email_id)
    .bind(EmailStatus::Sending)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records why a live message could not be sent.
pub(crate) async fn mark_failed(
    conn: &mut AnyConnection,
    email_id: &str,
    reason: &str,
) -> Result<(), EsignError> {
    sqlx::query("UPDATE envelope_emails SET status = $1, error = $2 WHERE id = $3 AND status = $4")
        .bind(EmailStatus::Failed)
        .bind(reason)
        .bind(email_id)
        .bind(EmailStatus::Sending)
        .execute(conn)
        .await?;
    Ok(())
}

impl Esign {
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
                    "SELECT {EMAIL_COLUMNS} FROM envelope_emails WHERE org_id = $1 AND mode = $2 AND envelope_id = $3 \
                     ORDER BY created_at DESC, id DESC LIMIT $4"
                )))
                .bind(&caller.org_id)
                .bind(Mode::Test)
                .bind(id)
                .bind(limit)
                .fetch_all(self.store().pool())
                .await?
            }
            None => {
                sqlx::query_as::<_, EmailRow>(sqlx::AssertSqlSafe(format!(
                    "SELECT {EMAIL_COLUMNS} FROM envelope_emails WHERE org_id = $1 AND mode = $2 \
                     ORDER BY created_at DESC, id DESC LIMIT $3"
                )))
                .bind(&caller.org_id)
                .bind(Mode::Test)
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
            "SELECT {EMAIL_COLUMNS} FROM envelope_emails WHERE id = $1 AND org_id = $2 AND mode = $3"
        )))
        .bind(email_id)
        .bind(&caller.org_id)
        .bind(Mode::Test)
        .fetch_optional(self.store().pool())
        .await?
        .map(|r| r.view(true))
        .ok_or(EsignError::NotFound("email"))
    }
}

const EMAIL_COLUMNS: &str =
    "id, envelope_id, recipient_id, kind, to_name, to_email, subject, body, link, created_at, code";

#[derive(sqlx::FromRow)]
struct EmailRow {
    id: String,
    envelope_id: String,
    recipient_id: Option<String>,
    kind: EmailKind,
    to_name: String,
    to_email: String,
    subject: String,
    body: String,
    link: Option<String>,
    created_at: i64,
    code: Option<String>,
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
            code: self.code,
            created_at: signet_store::UnixTime::from_secs(self.created_at),
        }
    }
}
