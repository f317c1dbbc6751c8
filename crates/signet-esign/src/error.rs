//! What can go wrong in the engine, and the one place that turns it into
//! the problem object a tool returns (`{type, title, status, detail}`).

use serde::Serialize;
use serde_json::{Value, json};

use crate::model::EnvelopeStatus;

/// One invalid field of a request, named by its path (`recipients[1].email`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EsignError {
    #[error("The request is invalid")]
    Validation(Vec<FieldError>),
    #[error("No {0} with this id exists in this organization")]
    NotFound(&'static str),
    #[error("Only an envelope in progress can be canceled; this one is {0}")]
    CannotCancel(EnvelopeStatus),
    #[error(
        "Only a completed, canceled, failed or expired envelope can be deleted; this one is {0}"
    )]
    CannotDelete(EnvelopeStatus),
    #[error("The envelope is {0}; deliverables exist once it is completed")]
    EnvelopeNotCompleted(EnvelopeStatus),
    #[error(
        "The envelope is completed and its deliverable is being generated; try again in a moment"
    )]
    DeliverableNotReady,
    #[error(
        "The envelope is completed but its deliverable could not be made yet ({0}); Signet retries by itself, and list_events shows each deliverable.failed attempt"
    )]
    DeliverableDelayed(String),
    #[error(
        "Live mode is off for this organization's account; create the envelope in test mode or ask an administrator to turn live mode on"
    )]
    LiveModeDisabled,
    #[error(
        "Live mode sends real email, and this server has no SMTP server configured (SIGNET_SMTP_URL)"
    )]
    LiveModeUnavailable,
    #[error("{0}")]
    CannotResend(String),
    #[error(
        "A request was sent to this recipient recently; the next one can be sent in {0} seconds"
    )]
    ResendTooSoon(u64),
    #[error("{0}")]
    CannotReplace(String),
    /// The database is unreachable or busy right now; the same request may
    /// succeed shortly.
    #[error("Signet is temporarily unavailable; try again in a few seconds")]
    Unavailable(String),
    /// A fault of ours (database, randomness); the detail goes to the log.
    #[error("Signet could not complete this request; try again")]
    Internal(String),
}

impl EsignError {
    /// The problem type, a stable slug agents can branch on.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Validation(_) => "validation-error",
            Self::NotFound(_) => "not-found",
            Self::CannotCancel(_) => "cannot-cancel",
            Self::CannotDelete(_) => "cannot-delete",
            Self::EnvelopeNotCompleted(_) => "envelope-not-completed",
            Self::DeliverableNotReady => "deliverable-not-ready",
            Self::DeliverableDelayed(_) => "deliverable-delayed",
            Self::LiveModeDisabled => "live-mode-disabled",
            Self::LiveModeUnavailable => "live-mode-unavailable",
            Self::CannotResend(_) => "cannot-resend",
            Self::ResendTooSoon(_) => "resend-too-soon",
            Self::CannotReplace(_) => "cannot-replace",
            Self::Unavailable(_) => "temporarily-unavailable",
            Self::Internal(_) => "internal-error",
        }
    }

    fn title(&self) -> &'static str {
        match self {
            Self::Validation(_) => "Validation failed",
            Self::NotFound(_) => "Not found",
            Self::CannotCancel(_) => "Envelope cannot be canceled",
            Self::CannotDelete(_) => "Envelope cannot be deleted",
            Self::EnvelopeNotCompleted(_) => "Envelope not completed",
            Self::DeliverableNotReady => "Deliverable not ready",
            Self::DeliverableDelayed(_) => "Deliverable delayed",
            Self::LiveModeDisabled => "Live mode disabled",
            Self::LiveModeUnavailable => "Live mode unavailable",
            Self::CannotResend(_) => "Request cannot be resent",
            Self::ResendTooSoon(_) => "Too soon to resend",
            Self::CannotReplace(_) => "Recipient cannot be replaced",
            Self::Unavailable(_) => "Temporarily unavailable",
            Self::Internal(_) => "Internal error",
        }
    }

    fn status(&self) -> u16 {
        match self {
            Self::Validation(_) => 422,
            Self::NotFound(_) => 404,
            Self::CannotCancel(_)
            | Self::CannotDelete(_)
            | Self::EnvelopeNotCompleted(_)
            | Self::DeliverableNotReady
            | Self::DeliverableDelayed(_)
            | Self::CannotResend(_)
            | Self::CannotReplace(_) => 409,
            Self::LiveModeDisabled => 403,
            Self::LiveModeUnavailable | Self::Unavailable(_) => 503,
            Self::ResendTooSoon(_) => 429,
            Self::Internal(_) => 500,
        }
    }

    /// The problem object (RFC 9457 shape) a tool returns with `isError`.
    pub fn problem(&self) -> Value {
        let mut problem = json!({
            "type": self.kind(),
            "title": self.title(),
            "status": self.status(),
            "detail": self.to_string(),
        });
        match self {
            Self::Validation(errors) => {
                problem["errors"] = json!(errors);
                problem["detail"] = json!(
                    errors
                        .iter()
                        .map(|e| format!("{}: {}", e.field, e.message))
                        .collect::<Vec<_>>()
                        .join("; ")
                );
            }
            Self::ResendTooSoon(seconds) => problem["retry_after_seconds"] = json!(seconds),
            Self::Unavailable(_) => problem["retry_after_seconds"] = json!(5),
            _ => {}
        }
        problem
    }

    pub fn invalid(field: &str, message: &str) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }
}

/// Database faults are ours: logged in full, shown as a generic error.
impl From<sqlx::Error> for EsignError {
    fn from(error: sqlx::Error) -> Self {
        if signet_store::is_transient(&error) {
            tracing::warn!(%error, "e-signature store unavailable");
            return Self::Unavailable(error.to_string());
        }
        tracing::error!(%error, "e-signature store error");
        Self::Internal(error.to_string())
    }
}

impl From<getrandom::Error> for EsignError {
    fn from(error: getrandom::Error) -> Self {
        tracing::error!(%error, "randomness unavailable");
        Self::Internal(error.to_string())
    }
}
