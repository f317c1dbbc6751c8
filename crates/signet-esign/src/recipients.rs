//! The tool-facing side of recipients: reminding one (resend) and putting
//! someone else in their place (replace).

use serde_json::{Map, Value, json};
use signet_store::random;

use crate::error::EsignError;
use crate::events::{self, NewEvent};
use crate::flow::{self, Step};
use crate::input::{Checker, NewRecipient, parse_recipient};
use crate::model::{EmailKind, Envelope, EnvelopeStatus, EventKind, RecipientStatus};
use crate::outbox;
use crate::rows;
use crate::transitions::{self, RecipientChange, allowed};
use crate::{Caller, Esign};

/// The first resend may follow the last message after this long; each
/// further one waits twice as long as the one before, up to a day.
const RESEND_BASE_SECONDS: u64 = 60;
const RESEND_MAX_SECONDS: u64 = 24 * 3600;

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
        let envelope =
            rows::envelope_for_change(&mut tx, self.store().backend(), &caller.org_id, envelope_id)
                .await?;
        if envelope.status != EnvelopeStatus::InProgress {
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
        let status = recipient.status;
        let not_open = || {
            EsignError::CannotResend(format!(
                "Only a recipient who has been asked and has not finished can be reminded; this one is {status}"
            ))
        };
        if !allowed::RESEND.contains(&status) {
            return Err(not_open());
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
        let mode = envelope.mode;
        let token_hash = random::digest(&token);
        let change = RecipientChange::Resend {
            token_hash: &token_hash,
            mode,
        };
        if !transitions::recipient(&mut tx, recipient_id, change, now).await? {
            return Err(not_open());
        }
        events::record(
            &mut tx,
            self.store().backend(),
            NewEvent {
                org_id: &caller.org_id,
                envelope_id,
                recipient_id: Some(recipient_id),
                kind: EventKind::RecipientResent,
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
                subject: flow::reminder_subject(&envelope),
                body: flow::signing_request_body(&envelope, &recipient.name, &link, true),
                link: Some(link),
            },
            now,
        )
        .await?;
        // They were just asked: the next automatic reminder waits its interval.
        crate::scheduler::postpone_reminder(&mut tx, &envelope, recipient_id, now).await?;
        tx.commit().await?;
        self.notifier().notify();
        flow::send_later(self.clone(), pending.into_iter().collect());
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
        let envelope = rows::envelope_for_change(
            &mut tx,
            self.store().backend(),
            &caller.org_id,
            &envelope_id,
        )
        .await?;
        if !matches!(
            envelope.status,
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
        let already = |status: RecipientStatus| {
            EsignError::CannotReplace(format!("This recipient is already {status}"))
        };
        if !allowed::REPLACE.contains(&old.status) {
            return Err(already(old.status));
        }
        let new_id = signet_store::ids::new(signet_store::ids::RECIPIENT)?;
        let change = RecipientChange::Replace { by: &new_id };
        if !transitions::recipient(&mut tx, &recipient_id, change, now).await? {
            return Err(already(old.status));
        }
        // Same key, type and turn: only the person changes. Without an
        // `authentication` of its own the replacement keeps the old one's,
        // so replacing someone never lowers the assurance asked for.
        let authentication = match args.get("authentication") {
            None | Some(Value::Null) => old.authentication(),
            Some(_) => replacement.authentication.clone(),
        };
        let replacement = NewRecipient {
            key: old.key.clone(),
            kind: old.kind,
            authentication,
            ..replacement
        };
        rows::insert_recipient(
            &mut tx,
            &new_id,
            &envelope_id,
            old.position,
            &replacement,
            now,
        )
        .await?;
        events::record(
            &mut tx,
            self.store().backend(),
            NewEvent {
                org_id: &caller.org_id,
                envelope_id: &envelope_id,
                recipient_id: Some(&recipient_id),
                kind: EventKind::RecipientReplaced,
                data: json!({ "key": old.key, "replaced_by": new_id, "email": replacement.email }),
            },
            now,
        )
        .await?;
        let step = if envelope.status == EnvelopeStatus::InProgress {
            flow::advance(self, &mut tx, &envelope, now).await?
        } else {
            Step::default()
        };
        tx.commit().await?;
        step.after_commit(self);
        self.get_envelope(caller, &envelope_id).await
    }
}
