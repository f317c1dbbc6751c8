//! The signing ceremony: what a recipient's link opens, and signing or
//! declining. The link's secret is the recipient's only credential; only
//! its hash is stored.

use std::collections::HashMap;

use serde_json::json;
use signet_store::random;
use signet_store::sqlx;

use crate::Esign;
use crate::codes;
use crate::error::EsignError;
use crate::events::{self, NewEvent};
use crate::flow;
use crate::model::{
    DocumentKind, EnvelopeStatus, EventKind, Mode, PlaceType, RecipientStatus, RecipientType,
    Requirement,
};
use crate::places::{self, PlaceBox};
use crate::rows::{self, DocumentRow, EnvelopeRow, RecipientRow};
use crate::transitions::{self, RecipientChange, Witnessed, allowed};

pub const MAX_SIGNATURE: usize = 200;
pub const MAX_REJECTION_REASON: usize = 2000;

/// What a signer agrees to before signing: recorded word for word, with the
/// time and address, in the audit trail (`recipient.consented`).
pub const ESIGN_CONSENT: &str = "I agree to sign electronically. My electronic signature on these documents \
     is as valid as my handwritten signature, and I may ask the sender for a paper copy.";

/// What the signing page shows.
#[derive(Debug)]
pub struct Ceremony {
    pub envelope: EnvelopeView,
    pub recipient_name: String,
    pub recipient_email: String,
    pub recipient_type: RecipientType,
    pub state: CeremonyState,
    pub documents: Vec<DocumentView>,
    /// Every place on the documents: the recipient's own to fill, the
    /// others' to see.
    pub places: Vec<PlaceView>,
    /// No signature place of their own: they sign by typing their name for
    /// the whole envelope (recorded on the audit trail).
    pub types_name: bool,
    /// How they may sign their signature and initials places.
    pub signature_options: Vec<crate::model::SignatureMethod>,
}

/// One place as the signing page shows it.
#[derive(Debug)]
pub struct PlaceView {
    pub document_id: String,
    pub key: String,
    pub kind: PlaceType,
    /// How the place is named to the signer ("Signature “sig_a” on page 2").
    pub label: String,
    pub required: bool,
    /// This recipient fills it; otherwise it is someone else's, or Signet's.
    pub mine: bool,
    pub boxes: Vec<PlaceBox>,
    /// What is already there: another recipient's entry, or a value Signet stamps.
    pub shown: Option<String>,
    pub options: Vec<String>,
}

#[derive(Debug)]
pub struct EnvelopeView {
    pub title: String,
    pub message: Option<String>,
    pub test_mode: bool,
    /// What the page says once the envelope has expired.
    pub expired: Option<String>,
}

#[derive(Debug)]
pub struct DocumentView {
    pub id: String,
    pub name: String,
    /// `None` while the document is still being fetched.
    pub kind: Option<DocumentKind>,
    pub pages: Option<i64>,
    /// Each page's displayed size in points.
    pub page_sizes: Vec<(f64, f64)>,
}

/// Where this recipient stands, as the page tells them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CeremonyState {
    /// The link works: sign or decline.
    Open,
    Completed,
    Rejected,
    /// They had answered, and then the sender canceled the envelope: their
    /// answer no longer leads anywhere, and the page must not say it will.
    AnsweredThenCanceled,
    /// The envelope expired before they answered: the link no longer signs.
    Expired,
    /// They had answered, and the envelope expired waiting for the others.
    AnsweredThenExpired,
    /// The envelope was canceled or failed, or the link was superseded.
    Closed,
}

#[derive(Debug, thiserror::Error)]
pub enum CeremonyError {
    #[error(
        "This signing link is not valid. It may have been replaced by a newer one; check your latest email."
    )]
    UnknownLink,
    #[error("{0}")]
    Invalid(String),
    #[error("This request can no longer be signed: {0}")]
    Closed(String),
    /// The recipient must enter an email code in this browser first;
    /// `state` is where they stand (the code page is for an open request).
    #[error("Enter the code sent to your email to open this request.")]
    CodeRequired {
        state: CeremonyState,
        kind: RecipientType,
    },
    /// A code was not sent, or not accepted.
    #[error(transparent)]
    Code(#[from] crate::codes::CodeRefusal),
    /// The envelope expired: what the page says.
    #[error("{0}")]
    Expired(String),
    #[error(transparent)]
    Engine(#[from] EsignError),
}

impl From<sqlx::Error> for CeremonyError {
    fn from(error: sqlx::Error) -> Self {
        Self::Engine(error.into())
    }
}

/// How the signer acted, for the audit trail.
#[derive(Debug)]
pub struct Evidence<'a> {
    pub ip_address: &'a str,
    pub user_agent: Option<&'a str>,
}

impl Esign {
    /// The envelope and recipient a link belongs to; `for_change` locks the
    /// envelope first (see [`rows::envelope_for_change`]) and reads the
    /// recipient after, so a decision sees what the last writer committed.
    pub(crate) async fn by_token(
        &self,
        conn: &mut sqlx::AnyConnection,
        token: &str,
        for_change: bool,
    ) -> Result<(EnvelopeRow, RecipientRow), CeremonyError> {
        if token.is_empty() || token.len() > 100 {
            return Err(CeremonyError::UnknownLink);
        }
        let found: Option<(String, String, String)> = sqlx::query_as(
            "SELECT r.id, e.org_id, e.id FROM envelope_recipients r JOIN envelopes e ON e.id = r.envelope_id \
             WHERE r.signing_token_hash = $1",
        )
        .bind(random::digest(token))
        .fetch_optional(&mut *conn)
        .await?;
        let Some((recipient_id, org_id, envelope_id)) = found else {
            return Err(CeremonyError::UnknownLink);
        };
        let envelope = if for_change {
            rows::envelope_for_change(conn, self.store().backend(), &org_id, &envelope_id).await?
        } else {
            rows::envelope(conn, &org_id, &envelope_id).await?
        };
        // Re-checked against the link: a replace may have just revoked it.
        let recipient = sqlx::query_as::<_, RecipientRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {} FROM envelope_recipients WHERE id = $1 AND signing_token_hash = $2",
            rows::RECIPIENT_COLUMNS
        )))
        .bind(&recipient_id)
        .bind(random::digest(token))
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(CeremonyError::UnknownLink)?;
        Ok((envelope, recipient))
    }

    /// The link's recipient, if this browser may act for them: a recipient
    /// with `email_code` needs the session of a browser that entered a code.
    async fn admitted_by_token(
        &self,
        conn: &mut sqlx::AnyConnection,
        token: &str,
        session: Option<&str>,
        for_change: bool,
    ) -> Result<(EnvelopeRow, RecipientRow), CeremonyError> {
        let (envelope, recipient) = self.by_token(conn, token, for_change).await?;
        if !codes::admitted(conn, &recipient, session, self.now()).await? {
            return Err(CeremonyError::CodeRequired {
                state: state_of(&envelope, &recipient),
                kind: recipient.kind,
            });
        }
        Ok((envelope, recipient))
    }

    /// Opens the page; the first opening records `recipient.viewed`.
    /// `session` is the browser's email-code session cookie, if any.
    pub async fn open_ceremony(
        &self,
        token: &str,
        session: Option<&str>,
    ) -> Result<Ceremony, CeremonyError> {
        let mut conn = self.store().pool().acquire().await?;
        let (envelope, recipient) = self
            .admitted_by_token(&mut conn, token, session, false)
            .await?;
        let documents = rows::documents(&mut conn, &envelope.id).await?;
        let places = places::for_envelope(&mut conn, &envelope.id).await?;
        drop(conn);
        let state = state_of(&envelope, &recipient);
        // Only the first view writes; later ones are reads.
        if state == CeremonyState::Open && recipient.viewed_at.is_none() {
            let now = self.now();
            let mut tx = self.store().begin_write().await?;
            let first = sqlx::query(
                "UPDATE envelope_recipients SET viewed_at = $1 WHERE id = $2 AND viewed_at IS NULL",
            )
            .bind(now.as_secs())
            .bind(&recipient.id)
            .execute(&mut *tx)
            .await?;
            // Two first views at once: only the one that set it says so.
            if first.rows_affected() == 1 {
                events::record(
                    &mut tx,
                    self.store().backend(),
                    NewEvent {
                        org_id: &envelope.org_id,
                        envelope_id: &envelope.id,
                        recipient_id: Some(&recipient.id),
                        kind: EventKind::RecipientViewed,
                        data: json!({}),
                    },
                    now,
                )
                .await?;
            }
            tx.commit().await?;
            self.notifier().notify();
        }
        let types_name = !places.iter().any(|p| {
            p.kind.is_signature_like() && p.recipient_key.as_deref() == Some(&recipient.key)
        });
        let places = places
            .iter()
            .map(|p| {
                let mine = p.kind.is_filled_by_recipient()
                    && p.recipient_key.as_deref() == Some(&recipient.key)
                    && !p.is_filled();
                PlaceView {
                    document_id: p.document_id.clone(),
                    key: p.key.clone(),
                    kind: p.kind,
                    label: places::label(p),
                    required: p.requirement == Requirement::Required,
                    mine,
                    boxes: p.boxes(),
                    shown: shown_value(p, &recipient),
                    options: p.options(),
                }
            })
            .collect();
        Ok(Ceremony {
            signature_options: recipient.signature_options(),
            types_name,
            places,
            envelope: EnvelopeView {
                expired: (envelope.status == EnvelopeStatus::Expired)
                    .then(|| crate::scheduler::expired_text(&envelope)),
                test_mode: envelope.mode == Mode::Test,
                title: envelope.title,
                message: envelope.message,
            },
            recipient_name: recipient.name,
            recipient_email: recipient.email,
            recipient_type: recipient.kind,
            state,
            documents: documents
                .into_iter()
                .map(|d: DocumentRow| DocumentView {
                    page_sizes: d.page_sizes(),
                    id: d.id,
                    name: d.name,
                    kind: d.kind,
                    pages: d.pages,
                })
                .collect(),
        })
    }

    /// The bytes of one document, for a recipient holding a valid link.
    pub async fn ceremony_document(
        &self,
        token: &str,
        session: Option<&str>,
        document_id: &str,
    ) -> Result<(String, DocumentKind, Vec<u8>), CeremonyError> {
        let mut conn = self.store().pool().acquire().await?;
        let (envelope, _) = self
            .admitted_by_token(&mut conn, token, session, false)
            .await?;
        let row: Option<(String, Option<DocumentKind>, Option<Vec<u8>>)> = sqlx::query_as(
            "SELECT name, kind, content FROM envelope_documents WHERE id = $1 AND envelope_id = $2",
        )
        .bind(document_id)
        .bind(&envelope.id)
        .fetch_optional(&mut *conn)
        .await?;
        match row {
            Some((name, Some(kind), Some(content))) => Ok((name, kind, content)),
            _ => Err(CeremonyError::UnknownLink),
        }
    }

    /// Page `page` of one document as the recipient sees it (LibreOffice's
    /// layout for a Word document), as a PNG at `scale` pixels per point;
    /// `None` for a page the document does not have.
    pub async fn page_image(
        &self,
        token: &str,
        session: Option<&str>,
        document_id: &str,
        page: u32,
        scale: f32,
    ) -> Result<Option<axum::body::Bytes>, CeremonyError> {
        let mut conn = self.store().pool().acquire().await?;
        let (envelope, _) = self
            .admitted_by_token(&mut conn, token, session, false)
            .await?;
        // The envelope comes from the link, so a cached page of another
        // envelope's document can never be served.
        let key = (envelope.id.clone(), document_id.to_owned(), page);
        let images = &self.inner.page_images;
        if let Some(png) = images.get(&key) {
            return Ok(Some(png));
        }
        /// Kind, original bytes, LibreOffice's PDF.
        type Stored = (Option<DocumentKind>, Option<Vec<u8>>, Option<Vec<u8>>);
        let row: Option<Stored> = sqlx::query_as(
            "SELECT kind, content, converted FROM envelope_documents WHERE id = $1 AND envelope_id = $2",
        )
        .bind(document_id)
        .bind(&envelope.id)
        .fetch_optional(&mut *conn)
        .await?;
        drop(conn);
        let bytes = match row {
            Some((Some(DocumentKind::Pdf), Some(content), _)) => content,
            Some((Some(DocumentKind::Docx), _, Some(converted))) => converted,
            _ => return Err(CeremonyError::UnknownLink),
        };
        let _slot = images.slot().await;
        // Another request may have rendered it while this one waited.
        if let Some(png) = images.get(&key) {
            return Ok(Some(png));
        }
        let rendered =
            tokio::task::spawn_blocking(move || crate::pdf::render_png(&bytes, page, scale))
                .await
                .map_err(|e| EsignError::Internal(format!("rendering a page failed: {e}")))?;
        match rendered {
            Ok(png) => {
                let png = axum::body::Bytes::from(png);
                images.put(key, png.clone());
                Ok(Some(png))
            }
            Err(error) => {
                tracing::warn!(%error, document_id, page, "a page could not be shown");
                Ok(None)
            }
        }
    }

    /// Signs (or approves) with the places filled and a typed signature, or declines.
    pub async fn act(
        &self,
        token: &str,
        session: Option<&str>,
        decision: Decision<'_>,
        evidence: Evidence<'_>,
    ) -> Result<(), CeremonyError> {
        let now = self.now();
        let mut tx = self.store().begin_write().await?;
        let (envelope, recipient) = self
            .admitted_by_token(&mut tx, token, session, true)
            .await?;
        let authentication = codes::method_of(&recipient);
        if envelope.status == EnvelopeStatus::Expired {
            return Err(CeremonyError::Expired(crate::scheduler::expired_text(
                &envelope,
            )));
        }
        if envelope.status != EnvelopeStatus::InProgress {
            return Err(CeremonyError::Closed(format!(
                "the envelope is {}",
                envelope.status.as_str().replace('_', " ")
            )));
        }
        if !allowed::SIGN.contains(&recipient.status) {
            return Err(CeremonyError::Closed(format!(
                "you have already {}",
                match recipient.status {
                    RecipientStatus::Completed => "signed",
                    RecipientStatus::Rejected => "declined",
                    other => other.as_str(),
                }
            )));
        }
        let witnessed = Witnessed {
            ip_address: evidence.ip_address,
            user_agent: evidence.user_agent,
        };
        let backend = self.store().backend();
        let step = match decision {
            Decision::Sign {
                typed_signature,
                fields,
                consented,
            } => {
                if !consented {
                    return Err(CeremonyError::Invalid(format!(
                        "Agree to {} electronically to continue.",
                        if recipient.kind == RecipientType::Approver {
                            "approve"
                        } else {
                            "sign"
                        }
                    )));
                }
                let all = places::for_envelope(&mut tx, &envelope.id).await?;
                let mine: Vec<&places::PlaceRow> = all
                    .iter()
                    .filter(|p| p.recipient_key.as_deref() == Some(&recipient.key))
                    .collect();
                let mut fill = places::Fill::judge(&mine, fields)
                    .map_err(|problems| CeremonyError::Invalid(problems.join(" · ")))?;
                let signature = if mine.iter().any(|p| p.kind.is_signature_like()) {
                    fill.first_typed_signature(&mine)
                        .unwrap_or_default()
                        .to_owned()
                } else {
                    let signature = typed_signature.unwrap_or_default().trim();
                    if signature.is_empty() {
                        return Err(CeremonyError::Invalid(format!(
                            "Type your full name to {}.",
                            if recipient.kind == RecipientType::Approver {
                                "approve"
                            } else {
                                "sign"
                            }
                        )));
                    }
                    if signature.chars().count() > MAX_SIGNATURE {
                        return Err(CeremonyError::Invalid(format!(
                            "The signature may be at most {MAX_SIGNATURE} characters."
                        )));
                    }
                    signature.to_owned()
                };
                // What Signet stamps for them is fixed now, as they finish.
                for place in mine.iter().filter(|p| !p.kind.is_filled_by_recipient()) {
                    let text = match place.kind {
                        PlaceType::RecipientName => recipient.name.clone(),
                        PlaceType::RecipientEmail => recipient.email.clone(),
                        PlaceType::RecipientCompletedDate => {
                            places::date_in(&envelope.timezone, now)
                        }
                        PlaceType::Text => place.value.clone().unwrap_or_default(),
                        _ => continue,
                    };
                    fill.entries
                        .push((place.id.clone(), places::Entry::Text(text)));
                }
                let change = RecipientChange::Sign {
                    typed_signature: &signature,
                    witnessed,
                };
                if !transitions::recipient(&mut tx, &recipient.id, change, now).await? {
                    return Err(CeremonyError::Closed("it was just completed".to_owned()));
                }
                places::record_fill(&mut tx, &recipient.id, &fill, now).await?;
                let data = json!({ "key": recipient.key, "statement": ESIGN_CONSENT, "ip_address": evidence.ip_address });
                recipient_event(
                    &mut tx,
                    backend,
                    &envelope,
                    &recipient,
                    EventKind::RecipientConsented,
                    data,
                    now,
                )
                .await?;
                let filled = places::for_envelope(&mut tx, &envelope.id).await?;
                let captures = places::captures(
                    filled
                        .iter()
                        .filter(|p| p.filled_by.as_deref() == Some(recipient.id.as_str())),
                );
                let data = json!({
                    "key": recipient.key,
                    "type": recipient.kind,
                    "typed_signature": signature,
                    "ip_address": evidence.ip_address,
                    "places_filled": fill.entries.len(),
                    "captures": captures,
                    "authentication": authentication,
                });
                recipient_event(
                    &mut tx,
                    backend,
                    &envelope,
                    &recipient,
                    EventKind::RecipientCompleted,
                    data,
                    now,
                )
                .await?;
                flow::advance(self, &mut tx, &envelope, now).await?
            }
            Decision::Reject { reason } => {
                let reason = reason.map(str::trim).filter(|r| !r.is_empty());
                if reason.is_some_and(|r| r.chars().count() > MAX_REJECTION_REASON) {
                    return Err(CeremonyError::Invalid(format!(
                        "The reason may be at most {MAX_REJECTION_REASON} characters."
                    )));
                }
                let change = RecipientChange::Decline { reason, witnessed };
                if !transitions::recipient(&mut tx, &recipient.id, change, now).await? {
                    return Err(CeremonyError::Closed("it was just completed".to_owned()));
                }
                let data = json!({ "key": recipient.key, "reason": reason, "ip_address": evidence.ip_address, "authentication": authentication });
                recipient_event(
                    &mut tx,
                    backend,
                    &envelope,
                    &recipient,
                    EventKind::RecipientRejected,
                    data,
                    now,
                )
                .await?;
                // The envelope stays in progress until someone cancels it
                // or replaces the recipient.
                flow::Step::default()
            }
        };
        tx.commit().await?;
        step.after_commit(self);
        Ok(())
    }
}

#[derive(Debug)]
pub enum Decision<'a> {
    Sign {
        /// The name typed for the whole envelope (when they own no signature place).
        typed_signature: Option<&'a str>,
        /// The form's `place.KEY` fields.
        fields: &'a HashMap<String, String>,
        /// They ticked the statement [`ESIGN_CONSENT`].
        consented: bool,
    },
    Reject {
        reason: Option<&'a str>,
    },
}

/// Where a recipient stands, as the page tells them.
pub(crate) fn state_of(envelope: &EnvelopeRow, recipient: &RecipientRow) -> CeremonyState {
    match (envelope.status, recipient.status) {
        (EnvelopeStatus::Canceled, RecipientStatus::Completed | RecipientStatus::Rejected) => {
            CeremonyState::AnsweredThenCanceled
        }
        (EnvelopeStatus::Expired, RecipientStatus::Completed | RecipientStatus::Rejected) => {
            CeremonyState::AnsweredThenExpired
        }
        (_, RecipientStatus::Completed) => CeremonyState::Completed,
        (_, RecipientStatus::Rejected) => CeremonyState::Rejected,
        (EnvelopeStatus::InProgress, s) if allowed::SIGN.contains(&s) => CeremonyState::Open,
        (EnvelopeStatus::Expired, _) => CeremonyState::Expired,
        _ => CeremonyState::Closed,
    }
}

/// Records an event of the signing ceremony: about this recipient, of this envelope.
pub(crate) async fn recipient_event(
    tx: &mut sqlx::AnyConnection,
    backend: signet_store::Backend,
    envelope: &EnvelopeRow,
    recipient: &RecipientRow,
    kind: EventKind,
    data: serde_json::Value,
    now: signet_store::UnixTime,
) -> Result<(), EsignError> {
    let event = NewEvent {
        org_id: &envelope.org_id,
        envelope_id: &envelope.id,
        recipient_id: Some(&recipient.id),
        kind,
        data,
    };
    events::record(tx, backend, event, now).await
}

/// What the page shows in a place the recipient does not fill: another
/// recipient's entry once made, or the value Signet will stamp.
fn shown_value(place: &places::PlaceRow, viewer: &RecipientRow) -> Option<String> {
    if place.is_filled() {
        return Some(match (place.kind, place.filled_text.as_deref()) {
            (PlaceType::Checkbox, Some("true")) => "\u{2713}".to_owned(),
            (PlaceType::Checkbox, _) => String::new(),
            (_, Some(text)) => text.to_owned(),
            (_, None) => "(drawn signature)".to_owned(),
        });
    }
    let own = place.recipient_key.as_deref() == Some(viewer.key.as_str());
    match place.kind {
        PlaceType::Text => place.value.clone(),
        PlaceType::RecipientName if own => Some(viewer.name.clone()),
        PlaceType::RecipientEmail if own => Some(viewer.email.clone()),
        PlaceType::RecipientCompletedDate if own => Some("(date of signing)".to_owned()),
        PlaceType::EnvelopeCompletedDate => Some("(date of completion)".to_owned()),
        _ => None,
    }
}
