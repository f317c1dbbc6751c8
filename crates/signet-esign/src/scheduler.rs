//! Timed duties: what happens because time passed rather than because
//! someone asked — envelopes expiring, automatic reminders, deliverables
//! retried after a failed attempt (or lost in a crash). The binary calls
//! [`run_due`] every few seconds (and, in tests, whenever the manual clock
//! moves); each run does what is due at `esign.now()`.
//!
//! Several instances may run on one PostgreSQL database, and each duty
//! happens once: every item is claimed by a compare-and-set UPDATE (a
//! transition that applies only from an open status, or a reminder that
//! applies only while the count and due time are the ones seen) in the write
//! transaction that also writes its event and email. The envelope is locked
//! first, as every writer of an envelope does, so a second instance waits,
//! then sees the committed claim and does nothing. Live email goes after
//! commit ([`Step::after_commit`]).
//!
//! A duty is a small function over a bounded batch of due items, in
//! [`DUTIES`]; one item's failure is logged and the others go on.

use serde_json::json;
use signet_store::sqlx::{self, AnyConnection};
use signet_store::{UnixTime, random};

use crate::error::EsignError;
use crate::events::{self, NewEvent};
use crate::flow::{self, Step};
use crate::model::{EmailKind, EnvelopeStatus, EventKind};
use crate::outbox;
use crate::rows::{self, EnvelopeRow};
use crate::transitions::{self, EnvelopeChange, allowed, placeholders};
use crate::{Esign, places};

/// How many due items one duty takes on in one run, so that a run ends
/// soon whatever is waiting; the rest follow in the next run.
pub const BATCH: i64 = 100;

/// What one run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ran {
    /// Envelopes that became `expired`.
    pub expired: usize,
    /// Reminders sent.
    pub reminded: usize,
    /// Deliverables attempted again (see [`Esign::retry_deliverables`]).
    pub deliverables_retried: usize,
    /// Items that failed (logged; they are tried again in the next run).
    pub failed: usize,
    /// Some duty had a full batch: more may be due right now.
    pub more: bool,
}

impl Ran {
    /// Duties done (failures not counted).
    pub fn done(&self) -> usize {
        self.expired + self.reminded
    }
}

/// The timed duties, in the order they run: an envelope that expires now
/// gets no reminder.
#[derive(Clone, Copy, Debug)]
enum Duty {
    Expiries,
    Reminders,
    Deliverables,
}

const DUTIES: &[Duty] = &[Duty::Expiries, Duty::Reminders, Duty::Deliverables];

impl Duty {
    fn name(self) -> &'static str {
        match self {
            Self::Expiries => "expiry",
            Self::Reminders => "reminder",
            Self::Deliverables => "deliverable",
        }
    }

    async fn run(self, esign: &Esign, now: UnixTime, ran: &mut Ran) -> Result<(), EsignError> {
        match self {
            Self::Expiries => expire_due(esign, now, ran).await,
            Self::Reminders => remind_due(esign, now, ran).await,
            // Claimed one by one with a compare-and-set in deliverables.rs.
            Self::Deliverables => {
                ran.deliverables_retried += esign.retry_deliverables().await?;
                Ok(())
            }
        }
    }
}

/// Does every duty due now, each on at most [`BATCH`] items.
pub async fn run_due(esign: &Esign) -> Result<Ran, EsignError> {
    let now = esign.now();
    let mut ran = Ran::default();
    for duty in DUTIES {
        duty.run(esign, now, &mut ran).await?;
    }
    Ok(ran)
}

/// One item's outcome, counted in `ran`: done, skipped (someone else did it,
/// or it no longer applies), or failed and logged.
fn count(ran: &mut Ran, duty: Duty, item: &str, outcome: Result<bool, EsignError>) -> bool {
    match outcome {
        Ok(done) => done,
        Err(error) => {
            tracing::warn!(%error, duty = duty.name(), item, "a timed duty failed; it will be tried again");
            ran.failed += 1;
            false
        }
    }
}

/// Open envelopes whose `expires_at` has passed.
async fn expire_due(esign: &Esign, now: UnixTime, ran: &mut Ran) -> Result<(), EsignError> {
    let sql = format!(
        "SELECT id, org_id FROM envelopes WHERE expires_at <= $1 AND status IN ({}) \
         ORDER BY expires_at, id LIMIT $2",
        placeholders(3, allowed::EXPIRE.len())
    );
    let mut query = sqlx::query_as::<_, (String, String)>(sqlx::AssertSqlSafe(sql))
        .bind(now.as_secs())
        .bind(BATCH);
    for status in allowed::EXPIRE {
        query = query.bind(*status);
    }
    let due = query.fetch_all(esign.store().pool()).await?;
    ran.more |= due.len() as i64 >= BATCH;
    for (envelope_id, org_id) in &due {
        let outcome = expire(esign, org_id, envelope_id, now).await;
        if count(ran, Duty::Expiries, envelope_id, outcome) {
            ran.expired += 1;
        }
    }
    Ok(())
}

/// Expires one envelope if it is still open and due; `false` when it was
/// not (another instance did it, or it finished first).
async fn expire(
    esign: &Esign,
    org_id: &str,
    envelope_id: &str,
    now: UnixTime,
) -> Result<bool, EsignError> {
    let backend = esign.store().backend();
    let mut tx = esign.store().begin_write().await?;
    let envelope = match rows::envelope_for_change(&mut tx, backend, org_id, envelope_id).await {
        Ok(envelope) => envelope,
        Err(EsignError::NotFound(_)) => return Ok(false),
        Err(error) => return Err(error),
    };
    let Some(expires_at) = envelope.expires_at.filter(|&at| at <= now.as_secs()) else {
        return Ok(false);
    };
    if !transitions::envelope(&mut tx, envelope_id, EnvelopeChange::Expire, now).await? {
        return Ok(false);
    }
    let expires_at = UnixTime::from_secs(expires_at);
    events::record(
        &mut tx,
        backend,
        NewEvent {
            org_id,
            envelope_id,
            recipient_id: None,
            kind: EventKind::EnvelopeExpired,
            data: json!({ "expires_at": expires_at }),
        },
        now,
    )
    .await?;
    // Whoever was waiting to sign hears that they no longer can.
    let mut step = Step::default();
    for recipient in rows::recipients(&mut tx, envelope_id).await? {
        if !allowed::WAITING.contains(&recipient.status) {
            continue;
        }
        let pending = outbox::write(
            &mut tx,
            outbox::Draft {
                org_id,
                envelope_id,
                recipient_id: Some(&recipient.id),
                mode: envelope.mode,
                kind: EmailKind::Expired,
                to_name: &recipient.name,
                to_email: &recipient.email,
                subject: format!("Expired: {}", envelope.title),
                body: expired_body(&envelope, &recipient.name, expires_at),
                link: None,
            },
            now,
        )
        .await?;
        step.pending.extend(pending);
    }
    // No reminder is left to look at.
    sqlx::query(
        "UPDATE envelope_recipients SET next_reminder_at = NULL \
         WHERE envelope_id = $1 AND next_reminder_at IS NOT NULL",
    )
    .bind(envelope_id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    step.after_commit(esign);
    Ok(true)
}

fn expired_body(envelope: &EnvelopeRow, name: &str, expires_at: UnixTime) -> String {
    format!(
        "Hello {name},\n\nThe request to sign \"{}\" expired on {} before everyone had signed; it can no \
         longer be signed, and there is nothing more for you to do. If you still need to sign, ask the \
         sender for a new request.\n\n— Signet\n",
        envelope.title,
        places::date_in(&envelope.timezone, expires_at)
    )
}

/// The page a link of an expired envelope shows, and the refusal to sign.
pub(crate) fn expired_text(envelope: &EnvelopeRow) -> String {
    match envelope.expires_at {
        Some(at) => format!(
            "This request expired on {} and can no longer be signed. If you still need to sign, ask the sender for a new request.",
            places::date_in(&envelope.timezone, UnixTime::from_secs(at))
        ),
        None => "This request has expired and can no longer be signed.".to_owned(),
    }
}

/// Recipients whose next reminder is due.
async fn remind_due(esign: &Esign, now: UnixTime, ran: &mut Ran) -> Result<(), EsignError> {
    let due: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT r.id, r.envelope_id, e.org_id FROM envelope_recipients r \
         JOIN envelopes e ON e.id = r.envelope_id \
         WHERE r.next_reminder_at IS NOT NULL AND r.next_reminder_at <= $1 \
         ORDER BY r.next_reminder_at, r.id LIMIT $2",
    )
    .bind(now.as_secs())
    .bind(BATCH)
    .fetch_all(esign.store().pool())
    .await?;
    ran.more |= due.len() as i64 >= BATCH;
    for (recipient_id, envelope_id, org_id) in &due {
        let outcome = remind(esign, org_id, envelope_id, recipient_id, now).await;
        if count(ran, Duty::Reminders, recipient_id, outcome) {
            ran.reminded += 1;
        }
    }
    Ok(())
}

/// Sends one recipient their next reminder if it is still due; `false`
/// when it was not (another instance sent it, or it no longer applies —
/// then the due time is cleared, so it is not looked at again).
async fn remind(
    esign: &Esign,
    org_id: &str,
    envelope_id: &str,
    recipient_id: &str,
    now: UnixTime,
) -> Result<bool, EsignError> {
    let backend = esign.store().backend();
    let mut tx = esign.store().begin_write().await?;
    let envelope = match rows::envelope_for_change(&mut tx, backend, org_id, envelope_id).await {
        Ok(envelope) => envelope,
        Err(EsignError::NotFound(_)) => return Ok(false),
        Err(error) => return Err(error),
    };
    let Some(recipient) = rows::recipients(&mut tx, envelope_id)
        .await?
        .into_iter()
        .find(|r| r.id == recipient_id)
    else {
        return Ok(false);
    };
    let Some(due_at) = recipient.next_reminder_at.filter(|&at| at <= now.as_secs()) else {
        return Ok(false);
    };
    let settings = envelope.reminders().filter(|s| {
        envelope.status == EnvelopeStatus::InProgress
            && allowed::WAITING.contains(&recipient.status)
            && recipient.reminder_count < s.max
            && envelope.expires_at.is_none_or(|end| now.as_secs() < end)
    });
    let Some(settings) = settings else {
        sqlx::query(
            "UPDATE envelope_recipients SET next_reminder_at = NULL WHERE id = $1 AND next_reminder_at = $2",
        )
        .bind(recipient_id)
        .bind(due_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        return Ok(false);
    };
    let sent = recipient.reminder_count + 1;
    // `every` counts from this reminder; none after the last.
    let next = (sent < settings.max).then(|| {
        now.plus(std::time::Duration::from_secs(settings.every))
            .as_secs()
    });
    // A fresh link, as a resend gives: only its hash is kept, so the old
    // one cannot be repeated (the page of an old link says to use the newest).
    let token = random::token()?;
    let link = format!("{}/sign/{token}", esign.inner.public_url);
    let sql = format!(
        "UPDATE envelope_recipients SET reminder_count = reminder_count + 1, next_reminder_at = $1, \
         last_reminded_at = $2, last_sent_at = $2, signing_token_hash = $3 \
         WHERE id = $4 AND reminder_count = $5 AND next_reminder_at <= $2 AND status IN ({})",
        placeholders(6, allowed::WAITING.len())
    );
    let mut claim = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(next)
        .bind(now.as_secs())
        .bind(random::digest(&token))
        .bind(recipient_id)
        .bind(recipient.reminder_count);
    for status in allowed::WAITING {
        claim = claim.bind(*status);
    }
    if claim.execute(&mut *tx).await?.rows_affected() != 1 {
        return Ok(false);
    }
    events::record(
        &mut tx,
        backend,
        NewEvent {
            org_id,
            envelope_id,
            recipient_id: Some(recipient_id),
            kind: EventKind::RecipientReminded,
            data: json!({
                "key": recipient.key,
                "reminder_count": sent,
                "max": settings.max,
                "next_reminder_at": next.map(UnixTime::from_secs),
            }),
        },
        now,
    )
    .await?;
    let pending = outbox::write(
        &mut tx,
        outbox::Draft {
            org_id,
            envelope_id,
            recipient_id: Some(recipient_id),
            mode: envelope.mode,
            kind: EmailKind::Reminder,
            to_name: &recipient.name,
            to_email: &recipient.email,
            subject: flow::reminder_subject(&envelope),
            body: flow::signing_request_body(&envelope, &recipient.name, &link, true),
            link: Some(link),
        },
        now,
    )
    .await?;
    tx.commit().await?;
    Step {
        pending: pending.into_iter().collect(),
        completed: None,
    }
    .after_commit(esign);
    Ok(true)
}

/// A recipient was just asked: with reminders, the first is due
/// `first_after` from now.
pub(crate) async fn schedule_first_reminder(
    conn: &mut AnyConnection,
    envelope: &EnvelopeRow,
    recipient_id: &str,
    now: UnixTime,
) -> Result<(), EsignError> {
    if let Some(settings) = envelope.reminders() {
        let due = now.plus(std::time::Duration::from_secs(settings.first_after));
        sqlx::query("UPDATE envelope_recipients SET next_reminder_at = $1 WHERE id = $2")
            .bind(due.as_secs())
            .bind(recipient_id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// The agent reminded a recipient by hand (`resend_request`): the next
/// automatic reminder, if one is scheduled, waits `every` from now.
pub(crate) async fn postpone_reminder(
    conn: &mut AnyConnection,
    envelope: &EnvelopeRow,
    recipient_id: &str,
    now: UnixTime,
) -> Result<(), EsignError> {
    if let Some(settings) = envelope.reminders() {
        let due = now.plus(std::time::Duration::from_secs(settings.every));
        sqlx::query(
            "UPDATE envelope_recipients SET next_reminder_at = $1 \
             WHERE id = $2 AND next_reminder_at IS NOT NULL AND next_reminder_at < $1",
        )
        .bind(due.as_secs())
        .bind(recipient_id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
