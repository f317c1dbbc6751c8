//! Every change of an envelope's or a recipient's status, and the only code
//! that writes those columns.
//!
//! Each transition names the statuses it may start from ([`allowed`]); the
//! UPDATE applies only while the row is still in one of them, so two
//! instances (or a request racing background work) can never apply one
//! twice or move a row out of a final state. Callers that must explain a
//! refusal check the same lists beforehand, so the rule exists once.

use signet_store::UnixTime;
use signet_store::sqlx::{self, AnyConnection};

use crate::error::EsignError;
use crate::model::{EnvelopeStatus, Mode, RecipientStatus};

/// The statuses each transition starts from.
pub(crate) mod allowed {
    use crate::model::EnvelopeStatus as E;
    use crate::model::RecipientStatus as R;

    pub const START: &[E] = &[E::Processing];
    pub const FAIL: &[E] = &[E::Processing];
    pub const COMPLETE: &[E] = &[E::InProgress];
    pub const CANCEL: &[E] = &[E::InProgress];
    /// Only an open envelope expires.
    pub const EXPIRE: &[E] = &[E::Processing, E::InProgress];

    pub const RELEASE: &[R] = &[R::Pending];
    /// Asked and not finished: a reminder makes sense.
    pub const RESEND: &[R] = &[R::Sent, R::Awaiting, R::Failed, R::SoftBounced];
    /// Their turn and not finished: automatic reminders go to them, and
    /// they are told when the envelope expires.
    pub const WAITING: &[R] = RESEND;
    pub const DELIVERED: &[R] = &[R::Awaiting];
    pub const UNDELIVERABLE: &[R] = &[R::Awaiting];
    /// The signing link works.
    pub const SIGN: &[R] = &[R::Awaiting, R::Sent];
    pub const DECLINE: &[R] = &[R::Awaiting, R::Sent];
    /// Anyone not finished may be replaced, including someone who declined.
    pub const REPLACE: &[R] = &[
        R::Pending,
        R::Awaiting,
        R::Sent,
        R::Rejected,
        R::SoftBounced,
        R::HardBounced,
        R::Failed,
    ];
}

/// A change of an envelope's status.
#[derive(Clone, Copy, Debug)]
pub(crate) enum EnvelopeChange<'a> {
    /// Every document was fetched and checked: signing begins.
    Start,
    /// A document could not be used.
    Fail { reason: &'a str },
    /// Every recipient has finished.
    Complete,
    /// The sender withdrew it.
    Cancel { reason: Option<&'a str> },
    /// Its `expires_at` passed while it was still open.
    Expire,
}

impl EnvelopeChange<'_> {
    pub fn from(self) -> &'static [EnvelopeStatus] {
        match self {
            Self::Start => allowed::START,
            Self::Fail { .. } => allowed::FAIL,
            Self::Complete => allowed::COMPLETE,
            Self::Cancel { .. } => allowed::CANCEL,
            Self::Expire => allowed::EXPIRE,
        }
    }

    pub fn to(self) -> EnvelopeStatus {
        match self {
            Self::Start => EnvelopeStatus::InProgress,
            Self::Fail { .. } => EnvelopeStatus::Failed,
            Self::Complete => EnvelopeStatus::Completed,
            Self::Cancel { .. } => EnvelopeStatus::Canceled,
            Self::Expire => EnvelopeStatus::Expired,
        }
    }
}

/// `$first, $first+1, …` for `count` values.
pub(crate) fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Applies the change if the envelope is still in one of its from-states;
/// `false` when it was not (not allowed, or someone moved it first).
pub(crate) async fn envelope(
    conn: &mut AnyConnection,
    envelope_id: &str,
    change: EnvelopeChange<'_>,
    now: UnixTime,
) -> Result<bool, EsignError> {
    // $1 status, $2 now, $3 id, then the change's own value, then the from-states.
    let (set, reason, values) = match change {
        EnvelopeChange::Start => ("", None, 0),
        EnvelopeChange::Fail { reason } => (", failure_reason = $4", Some(reason), 1),
        // The deliverable is due: if the generation started after commit is
        // lost (the instance stopped), the scheduler makes it after a while.
        EnvelopeChange::Complete => (
            ", completed_at = $2, deliverable_retry_at = $2 + 600",
            None,
            0,
        ),
        EnvelopeChange::Cancel { reason } => (", cancel_reason = $4, canceled_at = $2", reason, 1),
        EnvelopeChange::Expire => (", expired_at = $2", None, 0),
    };
    let from = change.from();
    let sql = format!(
        "UPDATE envelopes SET status = $1, updated_at = $2{set} WHERE id = $3 AND status IN ({})",
        placeholders(4 + values, from.len())
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(change.to())
        .bind(now.as_secs())
        .bind(envelope_id);
    if values == 1 {
        query = query.bind(reason);
    }
    for status in from {
        query = query.bind(*status);
    }
    Ok(query.execute(&mut *conn).await?.rows_affected() == 1)
}

/// How a signer acted, kept with their status change as evidence.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Witnessed<'a> {
    pub ip_address: &'a str,
    pub user_agent: Option<&'a str>,
}

/// A change of a recipient's status.
#[derive(Clone, Copy, Debug)]
pub(crate) enum RecipientChange<'a> {
    /// Their turn: a new link (only its hash is kept). In test mode the
    /// message is final at once, so they count as sent.
    Release { token_hash: &'a str, mode: Mode },
    /// Asked again, with a fresh link.
    Resend { token_hash: &'a str, mode: Mode },
    /// The live signing request reached the mail server.
    Delivered,
    /// The live signing request could not be sent.
    Undeliverable,
    Sign {
        typed_signature: &'a str,
        witnessed: Witnessed<'a>,
    },
    Decline {
        reason: Option<&'a str>,
        witnessed: Witnessed<'a>,
    },
    /// Someone else takes their place; their link stops working.
    Replace { by: &'a str },
}

/// Released recipients of a test envelope count as sent at once.
fn asked(mode: Mode) -> RecipientStatus {
    match mode {
        Mode::Test => RecipientStatus::Sent,
        Mode::Live => RecipientStatus::Awaiting,
    }
}

impl RecipientChange<'_> {
    pub fn from(self) -> &'static [RecipientStatus] {
        match self {
            Self::Release { .. } => allowed::RELEASE,
            Self::Resend { .. } => allowed::RESEND,
            Self::Delivered => allowed::DELIVERED,
            Self::Undeliverable => allowed::UNDELIVERABLE,
            Self::Sign { .. } => allowed::SIGN,
            Self::Decline { .. } => allowed::DECLINE,
            Self::Replace { .. } => allowed::REPLACE,
        }
    }

    pub fn to(self) -> RecipientStatus {
        match self {
            Self::Release { mode, .. } | Self::Resend { mode, .. } => asked(mode),
            Self::Delivered => RecipientStatus::Sent,
            Self::Undeliverable => RecipientStatus::Failed,
            Self::Sign { .. } => RecipientStatus::Completed,
            Self::Decline { .. } => RecipientStatus::Rejected,
            Self::Replace { .. } => RecipientStatus::Replaced,
        }
    }
}

/// A value a recipient change stores beside its status.
enum Extra<'a> {
    Text(Option<&'a str>),
    Time(Option<i64>),
}

/// Applies the change if the recipient is still in one of its from-states;
/// `false` when it was not.
pub(crate) async fn recipient(
    conn: &mut AnyConnection,
    recipient_id: &str,
    change: RecipientChange<'_>,
    now: UnixTime,
) -> Result<bool, EsignError> {
    // $1 status, $2 now, $3 id, then the change's own values, then the from-states.
    let (set, values): (&str, Vec<Extra<'_>>) = match change {
        RecipientChange::Release { token_hash, mode } => (
            ", signing_token_hash = $4, released_at = $2, sent_at = $5, last_sent_at = $2",
            vec![
                Extra::Text(Some(token_hash)),
                Extra::Time((mode == Mode::Test).then_some(now.as_secs())),
            ],
        ),
        RecipientChange::Resend { token_hash, .. } => (
            ", signing_token_hash = $4, resend_count = resend_count + 1, last_sent_at = $2",
            vec![Extra::Text(Some(token_hash))],
        ),
        RecipientChange::Delivered => (", sent_at = $2", vec![]),
        RecipientChange::Undeliverable => ("", vec![]),
        RecipientChange::Sign {
            typed_signature,
            witnessed,
        } => (
            ", completed_at = $2, typed_signature = $4, ip_address = $5, user_agent = $6",
            vec![
                Extra::Text(Some(typed_signature)),
                Extra::Text(Some(witnessed.ip_address)),
                Extra::Text(witnessed.user_agent),
            ],
        ),
        RecipientChange::Decline { reason, witnessed } => (
            ", rejected_at = $2, rejection_reason = $4, ip_address = $5, user_agent = $6",
            vec![
                Extra::Text(reason),
                Extra::Text(Some(witnessed.ip_address)),
                Extra::Text(witnessed.user_agent),
            ],
        ),
        RecipientChange::Replace { by } => (
            ", replaced_at = $2, replaced_by = $4, signing_token_hash = NULL",
            vec![Extra::Text(Some(by))],
        ),
    };
    let from = change.from();
    let sql = format!(
        "UPDATE envelope_recipients SET status = $1{set} WHERE id = $3 AND status IN ({})",
        placeholders(4 + values.len(), from.len())
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(change.to())
        .bind(now.as_secs())
        .bind(recipient_id);
    for value in values {
        query = match value {
            Extra::Text(text) => query.bind(text),
            Extra::Time(time) => query.bind(time),
        };
    }
    for status in from {
        query = query.bind(*status);
    }
    Ok(query.execute(&mut *conn).await?.rows_affected() == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_transition_leaves_a_final_envelope() {
        for change in [
            EnvelopeChange::Start,
            EnvelopeChange::Fail { reason: "r" },
            EnvelopeChange::Complete,
            EnvelopeChange::Cancel { reason: None },
            EnvelopeChange::Expire,
        ] {
            assert!(change.from().iter().all(|s| !s.is_final()), "{change:?}");
            assert!(!change.from().contains(&change.to()), "{change:?}");
        }
    }

    #[test]
    fn finished_recipients_stay_finished() {
        let witnessed = Witnessed {
            ip_address: "192.0.2.1",
            user_agent: None,
        };
        for change in [
            RecipientChange::Release {
                token_hash: "h",
                mode: Mode::Live,
            },
            RecipientChange::Resend {
                token_hash: "h",
                mode: Mode::Test,
            },
            RecipientChange::Delivered,
            RecipientChange::Undeliverable,
            RecipientChange::Sign {
                typed_signature: "Ada",
                witnessed,
            },
            RecipientChange::Decline {
                reason: None,
                witnessed,
            },
            RecipientChange::Replace { by: "rcp_x" },
        ] {
            let from = change.from();
            assert!(!from.contains(&RecipientStatus::Completed), "{change:?}");
            assert!(!from.contains(&RecipientStatus::Replaced), "{change:?}");
        }
    }

    #[test]
    fn placeholders_are_numbered_from_the_first() {
        assert_eq!(placeholders(4, 2), "$4, $5");
        assert_eq!(placeholders(7, 1), "$7");
    }
}
