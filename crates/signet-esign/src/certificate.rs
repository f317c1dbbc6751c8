//! What the certificate of completion states, read from the envelope's
//! rows: its events (described for a reader), every recipient with how
//! they were authenticated, their consent, address, browser and times, every
//! document with its hash as uploaded, every place, and the seal.

use std::collections::HashMap;

use serde_json::Value;
use signet_store::UnixTime;

use crate::deliverables::StoredDocument;
use crate::events::EventRow;
use crate::model::{EventKind, PlaceType, RecipientStatus, RecipientType};
use crate::pdf::{AuditDocument, AuditEvent, AuditField, AuditSigner, AuditTrail};
use crate::places::PlaceRow;
use crate::rows::{EnvelopeRow, RecipientRow};

/// Everything the certificate needs, read before it is built.
pub(crate) struct Facts<'a> {
    pub envelope: &'a EnvelopeRow,
    pub documents: &'a [StoredDocument],
    pub recipients: &'a [RecipientRow],
    /// Each recipient's browser, by recipient id.
    pub user_agents: &'a HashMap<String, String>,
    pub places: &'a [PlaceRow],
    pub history: &'a [EventRow],
    /// The seal certificate's subject and fingerprint.
    pub seal: Option<(String, String)>,
}

pub(crate) fn trail(facts: &Facts<'_>) -> AuditTrail {
    let data = |e: &EventRow| serde_json::from_str::<Value>(&e.data).unwrap_or(Value::Null);
    AuditTrail {
        title: facts.envelope.title.clone(),
        envelope_id: facts.envelope.id.clone(),
        completed_at: stamp(facts.envelope.completed_at),
        seal: facts.seal.clone(),
        events: facts
            .history
            .iter()
            .map(|e| AuditEvent {
                at: stamp(Some(e.created_at)),
                kind: e.kind.to_string(),
                detail: describe(e.kind, &data(e)),
            })
            .collect(),
        signers: facts
            .recipients
            .iter()
            .map(|r| recipient(facts, r))
            .collect(),
        documents: facts
            .documents
            .iter()
            .map(|(_, name, _, sha, pages, _, _)| AuditDocument {
                name: name.clone(),
                pages: pages.and_then(|p| u32::try_from(p).ok()),
                sha256_hex: sha.clone().unwrap_or_default(),
            })
            .collect(),
        fields: audit_fields(facts.places, facts.documents, facts.recipients),
    }
}

fn recipient(facts: &Facts<'_>, r: &RecipientRow) -> AuditSigner {
    let own = |kind: EventKind| {
        facts
            .history
            .iter()
            .filter(move |e| e.kind == kind && e.recipient_id.as_deref() == Some(&r.id))
    };
    let consent = own(EventKind::RecipientConsented).next_back().map(|e| {
        let statement = serde_json::from_str::<Value>(&e.data)
            .ok()
            .and_then(|d| {
                d.get("statement")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .unwrap_or_default();
        format!("agreed at {} (\"{statement}\")", stamp(Some(e.created_at)))
    });
    // The method the signer passed, as the completion records it; a link
    // in their mailbox otherwise.
    let authentication = own(EventKind::RecipientCompleted)
        .chain(own(EventKind::RecipientRejected))
        .last()
        .and_then(|e| serde_json::from_str::<Value>(&e.data).ok())
        .and_then(|d| {
            d.get("authentication")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "email_link".to_owned())
        .replace('_', " ");
    AuditSigner {
        name: r.name.clone(),
        email: r.email.clone(),
        role: r.kind.to_string(),
        outcome: match (r.status, r.kind) {
            (RecipientStatus::Completed, RecipientType::Approver) => "approved".to_owned(),
            (RecipientStatus::Completed, RecipientType::Signer) => "signed".to_owned(),
            (status, _) => status.to_string(),
        },
        typed_signature: match r.typed_signature.as_deref() {
            Some("") | None
                if r.kind == RecipientType::Signer && r.status == RecipientStatus::Completed =>
            {
                "drawn on the page".to_owned()
            }
            other => other.unwrap_or_default().to_owned(),
        },
        at: stamp(r.completed_at.or(r.rejected_at)),
        ip_address: r.ip_address.clone().unwrap_or_default(),
        authentication,
        consent: consent.unwrap_or_default(),
        sent_at: stamp(r.sent_at),
        viewed_at: stamp(r.viewed_at),
        user_agent: facts.user_agents.get(&r.id).cloned().unwrap_or_default(),
    }
}

fn stamp(secs: Option<i64>) -> String {
    secs.map(|s| UnixTime::from_secs(s).rfc3339())
        .unwrap_or_default()
}

fn describe(kind: EventKind, data: &Value) -> String {
    let field = |name: &str| {
        data.get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    match kind {
        EventKind::RecipientCompleted if field("typed_signature").is_empty() => {
            format!(
                "{} signed (drawn) from {}",
                field("key"),
                field("ip_address")
            )
        }
        EventKind::RecipientCompleted => format!(
            "{} signed as \"{}\" from {}",
            field("key"),
            field("typed_signature"),
            field("ip_address")
        ),
        EventKind::RecipientConsented => format!(
            "{} agreed to sign electronically (\"{}\") from {}",
            field("key"),
            field("statement"),
            field("ip_address")
        ),
        EventKind::RecipientRejected => {
            format!("{} declined from {}", field("key"), field("ip_address"))
        }
        EventKind::RecipientSent => format!("request sent to {}", field("to")),
        EventKind::RecipientReminded => format!("{} reminded", field("key")),
        EventKind::RecipientCodeSent => format!("one-time code sent to {}", field("to")),
        EventKind::RecipientAuthenticated => format!(
            "{} entered the one-time code sent to {} from {}",
            field("key"),
            field("email"),
            field("ip_address")
        ),
        EventKind::RecipientAuthenticationFailed => format!(
            "{} entered a wrong one-time code from {}",
            field("key"),
            field("ip_address")
        ),
        EventKind::RecipientReleased => format!("{} released", field("key")),
        EventKind::RecipientReplaced => {
            format!("{} replaced by {}", field("key"), field("email"))
        }
        EventKind::EnvelopeCanceled | EventKind::EnvelopeFailed | EventKind::DeliverableFailed => {
            field("reason")
        }
        _ => String::new(),
    }
}

/// The trail's "Fields" section: every place, who filled it, and when.
fn audit_fields(
    places: &[PlaceRow],
    documents: &[StoredDocument],
    recipients: &[RecipientRow],
) -> Vec<AuditField> {
    places
        .iter()
        .map(|p| {
            let document = documents
                .iter()
                .find(|d| d.0 == p.document_id)
                .map(|d| d.1.clone())
                .unwrap_or_default();
            let mut pages: Vec<u32> = p.boxes().iter().map(|b| b.page).collect();
            pages.sort_unstable();
            pages.dedup();
            let by = p
                .filled_by
                .as_deref()
                .and_then(|id| recipients.iter().find(|r| r.id == id))
                .map(|r| format!("{} <{}>", r.name, r.email));
            let value = match (p.kind, p.filled_text.as_deref(), p.filled_drawing.is_some()) {
                (_, _, true) => "drawn".to_owned(),
                (PlaceType::Signature | PlaceType::Initials, Some(text), _) => {
                    format!("typed: {text}")
                }
                (PlaceType::Checkbox, Some("true"), _) => "ticked".to_owned(),
                (PlaceType::Checkbox, Some(_), _) => "not ticked".to_owned(),
                (_, Some(text), _) => text.chars().take(200).collect(),
                (PlaceType::Text, None, _) => p.value.clone().unwrap_or_default(),
                _ => String::new(),
            };
            let stamped_by_signet =
                matches!(p.kind, PlaceType::Text | PlaceType::EnvelopeCompletedDate)
                    && by.is_none();
            AuditField {
                document,
                pages: pages
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                key: p.key.clone(),
                kind: p.kind.to_string(),
                by: by.unwrap_or_else(|| {
                    if stamped_by_signet {
                        "Signet".to_owned()
                    } else {
                        "not filled".to_owned()
                    }
                }),
                at: stamp(p.filled_at),
                value,
            }
        })
        .collect()
}
