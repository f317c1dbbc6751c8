//! The engine's own pages and files: the signing page, document views,
//! upload PUTs and deliverable downloads. Each URL carries its own secret
//! (a signing token, an upload token, a signed expiry). The one cookie is
//! the email-code session of a recipient who must enter a code: it is
//! scoped to their signing path and checked on every ceremony request.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;

use signet_web::{
    FieldControl, MessagePage, SigningBox, SigningCodePage, SigningDocument, SigningField,
    SigningPage, SigningPageView, SigningState, render,
};

use crate::Esign;
use crate::ceremony::{
    Ceremony, CeremonyError, CeremonyState, Decision, DocumentView, ESIGN_CONSENT, Evidence,
    PlaceView,
};
use crate::codes::{self, CodeRefusal, CodeState};
use crate::model::{DocumentKind, PlaceType, RecipientType, SignatureMethod};
use crate::places::PlaceBox;
use crate::uploads::{MAX_UPLOAD_BYTES, UploadError};

/// What the pages need: the engine, and whom to believe about the
/// signer's address (recorded in the audit trail).
#[derive(Clone, Debug)]
struct Pages {
    esign: Esign,
}

pub fn router(esign: Esign) -> Router {
    Router::new()
        .route("/sign/{token}", get(signing_page).post(signing_action))
        .route("/sign/{token}/send-code", post(send_code))
        .route("/sign/{token}/code", post(enter_code))
        .route("/sign/{token}/documents/{document_id}", get(document))
        .route(
            "/sign/{token}/documents/{document_id}/pages/{page}",
            get(page_image),
        )
        .route("/assets/signing.js", get(signing_script))
        .route(
            "/uploads/{upload_id}",
            axum::routing::put(put_upload).layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES + 1)),
        )
        .route("/deliverables/{deliverable_id}", get(download))
        .with_state(Pages {
            esign: esign.clone(),
        })
        .merge(crate::verification::page::router(esign))
}

/// Secret-bearing pages are never cached, never framed, and never tell
/// another site their address (the link is the signer's credential).
fn private(response: Response) -> Response {
    let mut response = signet_http::no_store(response);
    let headers = response.headers_mut();
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        // Inline style attributes only: they place the fields over the page.
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; \
             img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    response
}

fn message(status: StatusCode, title: &str, text: &str) -> Response {
    private(
        (
            status,
            Html(render(&MessagePage {
                title,
                text,
                sign_out_csrf: None,
                link: None,
            })),
        )
            .into_response(),
    )
}

fn ceremony_failure(error: &CeremonyError) -> Response {
    match error {
        CeremonyError::UnknownLink => {
            message(StatusCode::NOT_FOUND, "Link not valid", &error.to_string())
        }
        CeremonyError::Closed(_) => {
            message(StatusCode::CONFLICT, "Nothing to sign", &error.to_string())
        }
        CeremonyError::Expired(text) => message(StatusCode::CONFLICT, "Request expired", text),
        CeremonyError::Invalid(text) => {
            message(StatusCode::UNPROCESSABLE_ENTITY, "Check your entry", text)
        }
        CeremonyError::CodeRequired { .. } => message(
            StatusCode::FORBIDDEN,
            "Code required",
            "This request opens only in the browser where the code sent to the signer's email \
             was entered. Open the signing link again to get a code.",
        ),
        CeremonyError::Code(refusal) => message(
            code_status(*refusal),
            "Check your code",
            &refusal.to_string(),
        ),
        CeremonyError::Engine(_) => message(
            StatusCode::SERVICE_UNAVAILABLE,
            "Please try again",
            "Signet could not complete this request. Please try again in a moment.",
        ),
    }
}

/// Too many attempts or requests are 429; other refusals of an entry 422.
fn code_status(refusal: CodeRefusal) -> StatusCode {
    match refusal {
        CodeRefusal::Locked | CodeRefusal::WrongAndLocked | CodeRefusal::TooSoon(_) => {
            StatusCode::TOO_MANY_REQUESTS
        }
        CodeRefusal::NotNeeded => StatusCode::CONFLICT,
        CodeRefusal::Wrong(_)
        | CodeRefusal::Expired
        | CodeRefusal::NoneWaiting
        | CodeRefusal::Malformed => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

/// The email-code session cookie: per signing path, so each link has its
/// own. `SameSite=Lax` rather than `Strict`: the signer arrives from their
/// mail client, a cross-site navigation on which a strict cookie is not
/// sent, so every click on the link would ask for a new code. Lax sends it
/// on that top-level GET only; no cross-site POST carries it, and every
/// form's URL holds the link's secret anyway, which no other site knows.
fn session_cookie_name(esign: &Esign) -> &'static str {
    if esign.inner.public_url.starts_with("https://") {
        "__Secure-signet_signer"
    } else {
        "signet_signer"
    }
}

/// The session secret this browser presents for this signing path.
fn session_of<'h>(esign: &Esign, headers: &'h HeaderMap) -> Option<&'h str> {
    let name = session_cookie_name(esign);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

fn session_set_cookie(esign: &Esign, token: &str, secret: &str) -> Option<HeaderValue> {
    let secure = if esign.inner.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{}={secret}; Path=/sign/{token}; Max-Age={}; HttpOnly; SameSite=Lax{secure}",
        session_cookie_name(esign),
        codes::SESSION_LIFETIME_SECS
    ))
    .ok()
}

/// The page a recipient who must enter a code sees first: ask for a code
/// (a POST: mail scanners open links), then enter it.
async fn code_page(esign: &Esign, token: &str, refusal: Option<CodeRefusal>) -> Response {
    let gate = match esign.code_gate(token).await {
        Ok(gate) => gate,
        Err(e) => return ceremony_failure(&e),
    };
    let sent = gate.code != CodeState::NoneWaiting;
    let entry = matches!(gate.code, CodeState::Active { .. });
    let lead = if entry {
        format!("Enter the code we sent to {}.", gate.masked_email)
    } else {
        format!(
            "To open this request, enter a code we send to {}.",
            gate.masked_email
        )
    };
    let status = match gate.code {
        CodeState::NoneWaiting | CodeState::Used => None,
        CodeState::Active {
            expires_in_secs,
            attempts_left,
        } => Some(format!(
            "The code works for {} more; {attempts_left} attempt{} left.",
            codes::wait(expires_in_secs),
            if attempts_left == 1 { "" } else { "s" }
        )),
        CodeState::Expired => Some("Your code has expired: send a new one.".to_owned()),
        CodeState::Locked => {
            Some("Too many wrong attempts: this code is locked. Send a new code.".to_owned())
        }
    };
    // The error already says what the status would.
    let status = status.filter(|_| refusal.is_none());
    let send_wait = (gate.send_wait_secs > 0).then(|| codes::wait(gate.send_wait_secs));
    let error = refusal.map(|r| r.to_string());
    let page = SigningCodePage {
        title: &gate.title,
        test_mode: gate.test_mode,
        lead: &lead,
        status: status.as_deref(),
        error: error.as_deref(),
        entry,
        sent,
        send_wait: send_wait.as_deref(),
        send_action: &format!("/sign/{token}/send-code"),
        enter_action: &format!("/sign/{token}/code"),
        digits: codes::CODE_DIGITS,
    };
    let status = refusal.map_or(StatusCode::OK, code_status);
    let mut response = private((status, Html(render(&page))).into_response());
    if let Some(CodeRefusal::TooSoon(seconds)) = refusal
        && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
    {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// The address and browser a signer acts from, for the audit trail.
fn witness(client: &signet_http::ClientAddr, headers: &HeaderMap) -> (String, Option<String>) {
    (
        client.to_string(),
        headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    )
}

async fn send_code(
    State(Pages { esign }): State<Pages>,
    Path(token): Path<String>,
    client: signet_http::ClientAddr,
    headers: HeaderMap,
) -> Response {
    let (ip, user_agent) = witness(&client, &headers);
    let evidence = Evidence {
        ip_address: &ip,
        user_agent: user_agent.as_deref(),
    };
    match esign.send_code(&token, evidence).await {
        Ok(()) | Err(CeremonyError::Code(CodeRefusal::NotNeeded)) => {
            private(Redirect::to(&format!("/sign/{token}")).into_response())
        }
        Err(CeremonyError::Code(refusal)) => code_page(&esign, &token, Some(refusal)).await,
        Err(other) => ceremony_failure(&other),
    }
}

async fn enter_code(
    State(Pages { esign }): State<Pages>,
    Path(token): Path<String>,
    client: signet_http::ClientAddr,
    headers: HeaderMap,
    form: Result<axum::Form<Vec<(String, String)>>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(axum::Form(pairs)) = form else {
        return message(
            StatusCode::BAD_REQUEST,
            "Check your entry",
            "The form could not be read. Please try again.",
        );
    };
    let entered = pairs
        .iter()
        .find(|(name, _)| name == "code")
        .map(|(_, value)| value.as_str())
        .unwrap_or_default();
    let (ip, user_agent) = witness(&client, &headers);
    let evidence = Evidence {
        ip_address: &ip,
        user_agent: user_agent.as_deref(),
    };
    match esign.enter_code(&token, entered, evidence).await {
        Ok(secret) => {
            let mut response = Redirect::to(&format!("/sign/{token}")).into_response();
            if let Some(cookie) = session_set_cookie(&esign, &token, &secret) {
                response.headers_mut().insert(header::SET_COOKIE, cookie);
            }
            private(response)
        }
        Err(CeremonyError::Code(CodeRefusal::NotNeeded)) => {
            private(Redirect::to(&format!("/sign/{token}")).into_response())
        }
        Err(CeremonyError::Code(refusal)) => code_page(&esign, &token, Some(refusal)).await,
        Err(other) => ceremony_failure(&other),
    }
}

/// What the signer had entered, when the form comes back with an error.
#[derive(Debug, Default)]
struct Entered {
    fields: HashMap<String, String>,
}

impl Entered {
    fn get(&self, name: &str) -> &str {
        self.fields
            .get(name)
            .map(String::as_str)
            .unwrap_or_default()
    }
}

/// A box as CSS percentages of its page.
fn box_style(b: &PlaceBox, (width, height): (f64, f64)) -> String {
    let pct = |v: f64, of: f64| {
        if of > 0.0 {
            (v / of * 100.0).clamp(0.0, 100.0)
        } else {
            0.0
        }
    };
    format!(
        "left:{:.3}%;top:{:.3}%;width:{:.3}%;height:{:.3}%",
        pct(b.left, width),
        pct(b.top, height),
        pct(b.width, width),
        pct(b.height, height)
    )
}

fn control(place: &PlaceView, methods: &[SignatureMethod]) -> FieldControl {
    match place.kind {
        PlaceType::Signature | PlaceType::Initials => FieldControl::Mark {
            typed: methods.contains(&SignatureMethod::Typed),
            drawn: methods.contains(&SignatureMethod::Drawn),
        },
        PlaceType::MultilineTextInput => FieldControl::Multiline,
        PlaceType::Checkbox => FieldControl::Checkbox,
        PlaceType::Dropdown => FieldControl::Dropdown,
        _ => FieldControl::Text,
    }
}

fn page_views(
    token: &str,
    ceremony: &Ceremony,
    document: &DocumentView,
    entered: &Entered,
) -> Vec<SigningPageView> {
    let places: Vec<&PlaceView> = ceremony
        .places
        .iter()
        .filter(|p| p.document_id == document.id)
        .collect();
    document
        .page_sizes
        .iter()
        .enumerate()
        .map(|(index, &size)| {
            let number = u32::try_from(index + 1).unwrap_or(u32::MAX);
            let on_page = |p: &&&PlaceView| p.boxes.iter().any(|b| b.page == number);
            let boxes = places
                .iter()
                .filter(on_page)
                .flat_map(|p| {
                    p.boxes
                        .iter()
                        .filter(|b| b.page == number)
                        .map(move |b| SigningBox {
                            style: box_style(b, size),
                            label: p.label.clone(),
                            target: p.mine.then(|| format!("place-{}", p.key)),
                            shown: p.shown.clone(),
                            signature_like: p.kind.is_signature_like(),
                        })
                })
                .collect();
            let fields = places
                .iter()
                .filter(|p| p.mine && p.boxes.iter().map(|b| b.page).min() == Some(number))
                .map(|p| {
                    let name = format!("place.{}", p.key);
                    SigningField {
                        id: format!("place-{}", p.key),
                        label: p.label.clone(),
                        required: p.required,
                        control: control(p, &ceremony.signature_options),
                        options: p.options.clone(),
                        value: entered.get(&name).to_owned(),
                        drawn: entered.get(&format!("{name}.mode")) == "drawn",
                        drawing: entered.get(&format!("{name}.drawing")).to_owned(),
                        name,
                    }
                })
                .collect();
            SigningPageView {
                number,
                image_href: format!("/sign/{token}/documents/{}/pages/{number}", document.id),
                width: size.0.round().max(1.0) as u32,
                height: size.1.round().max(1.0) as u32,
                alt: format!("Page {number} of {}", document.name),
                boxes,
                fields,
            }
        })
        .collect()
}

/// What the page says of a request that is not open (`None` when it is).
/// What the page says where the recipient stands; `expired` is the
/// envelope's own expiry sentence, when known.
fn state_text(state: CeremonyState, approver: bool, expired: Option<&str>) -> Option<String> {
    match state {
        CeremonyState::Open => None,
        CeremonyState::Completed => Some(format!(
            "Thank you: you have {}. Everyone involved will be told when all have finished.",
            if approver { "approved" } else { "signed" }
        )),
        CeremonyState::Rejected => {
            Some("You declined this request. The sender has been told.".to_owned())
        }
        CeremonyState::AnsweredThenCanceled => Some(
            "The sender canceled this request after you answered; nothing more is needed from you."
                .to_owned(),
        ),
        CeremonyState::Expired => Some(
            expired
                .unwrap_or("This request has expired and can no longer be signed.")
                .to_owned(),
        ),
        CeremonyState::AnsweredThenExpired => Some(
            "This request expired before everyone had answered; nothing more is needed from you."
                .to_owned(),
        ),
        CeremonyState::Closed => Some("This request is no longer open for signing.".to_owned()),
    }
}

async fn render_page(
    esign: &Esign,
    token: &str,
    session: Option<&str>,
    error: Option<&str>,
    entered: &Entered,
) -> Response {
    let ceremony = match esign.open_ceremony(token, session).await {
        Ok(c) => c,
        // Not yet entered in this browser: the code page while the request
        // is open; otherwise only where things stand, without the documents.
        Err(CeremonyError::CodeRequired {
            state: CeremonyState::Open,
            ..
        }) => return code_page(esign, token, None).await,
        Err(CeremonyError::CodeRequired { state, kind }) => {
            let text = state_text(state, kind == RecipientType::Approver, None).unwrap_or_default();
            return message(StatusCode::OK, "Nothing to sign", &text);
        }
        Err(e) => return ceremony_failure(&e),
    };
    let approver = ceremony.recipient_type == RecipientType::Approver;
    let (verb, verb_title) = if approver {
        ("approve", "Approve")
    } else {
        ("sign", "Sign")
    };
    let state = match state_text(
        ceremony.state,
        approver,
        ceremony.envelope.expired.as_deref(),
    ) {
        None => SigningState::Open,
        Some(text) => SigningState::Done(text),
    };
    let open = ceremony.state == CeremonyState::Open;
    let documents = ceremony
        .documents
        .iter()
        .map(|d| SigningDocument {
            name: d.name.clone(),
            pages: d.pages,
            view_href: format!("/sign/{token}/documents/{}", d.id),
            download_href: format!("/sign/{token}/documents/{}?download=1", d.id),
            page_views: if open {
                page_views(token, &ceremony, d, entered)
            } else {
                Vec::new()
            },
        })
        .collect();
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    private(
        (
            status,
            Html(render(&SigningPage {
                title: &ceremony.envelope.title,
                message: ceremony.envelope.message.as_deref(),
                recipient_name: &ceremony.recipient_name,
                recipient_email: &ceremony.recipient_email,
                test_mode: ceremony.envelope.test_mode,
                documents,
                state,
                verb,
                verb_title,
                error,
                types_name: ceremony.types_name,
                typed: entered.get("signature"),
                consent: ESIGN_CONSENT,
                consented: entered.get("consent") == "yes",
            })),
        )
            .into_response(),
    )
}

async fn signing_page(
    State(pages): State<Pages>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    let session = session_of(&pages.esign, &headers);
    render_page(&pages.esign, &token, session, None, &Entered::default()).await
}

async fn signing_action(
    State(Pages { esign }): State<Pages>,
    Path(token): Path<String>,
    client: signet_http::ClientAddr,
    headers: HeaderMap,
    form: Result<axum::Form<Vec<(String, String)>>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(axum::Form(pairs)) = form else {
        return message(
            StatusCode::BAD_REQUEST,
            "Check your entry",
            "The form could not be read. Please try again.",
        );
    };
    // The first value of each name counts, as for a typed form.
    let mut fields: HashMap<String, String> = HashMap::with_capacity(pairs.len());
    for (name, value) in pairs {
        fields.entry(name).or_insert(value);
    }
    let entered = Entered { fields };
    let decision = match entered.fields.get("action").map(String::as_str) {
        Some("sign") | None => Decision::Sign {
            typed_signature: entered.fields.get("signature").map(String::as_str),
            fields: &entered.fields,
            consented: entered.get("consent") == "yes",
        },
        Some("reject") => Decision::Reject {
            reason: entered.fields.get("reason").map(String::as_str),
        },
        Some(_) => {
            return message(
                StatusCode::BAD_REQUEST,
                "Check your entry",
                "Choose Sign or Decline.",
            );
        }
    };
    let ip = client.to_string();
    let evidence = Evidence {
        ip_address: &ip,
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok()),
    };
    let session = session_of(&esign, &headers);
    match esign.act(&token, session, decision, evidence).await {
        // Post/redirect/get: a reload does not resubmit.
        Ok(()) => private(Redirect::to(&format!("/sign/{token}")).into_response()),
        Err(CeremonyError::Invalid(text)) => {
            render_page(&esign, &token, session, Some(&text), &entered).await
        }
        Err(other) => ceremony_failure(&other),
    }
}

/// Pixels per point of page images: sharp on phones without being heavy.
const PAGE_SCALE: f32 = 1.5;

/// One page of a document as a PNG, for the signing page.
async fn page_image(
    State(Pages { esign }): State<Pages>,
    Path((token, document_id, page)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let Ok(page) = page.parse::<u32>() else {
        return message(StatusCode::NOT_FOUND, "Not found", "There is no such page.");
    };
    let session = session_of(&esign, &headers);
    match esign
        .page_image(&token, session, &document_id, page, PAGE_SCALE)
        .await
    {
        Ok(Some(png)) => {
            let mut response = png.into_response();
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("image/png"));
            private(response)
        }
        Ok(None) => message(
            StatusCode::NOT_FOUND,
            "Not found",
            "This page cannot be shown.",
        ),
        Err(e) => ceremony_failure(&e),
    }
}

async fn signing_script() -> Response {
    let mut response = signet_web::SIGNING_SCRIPT.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    response
}

#[derive(Deserialize)]
struct DocumentQuery {
    download: Option<String>,
}

/// `Content-Disposition` with a safe ASCII file name.
fn disposition(kind: &str, name: &str) -> HeaderValue {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_ ".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    HeaderValue::from_str(&format!("{kind}; filename=\"{safe}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

async fn document(
    State(Pages { esign, .. }): State<Pages>,
    Path((token, document_id)): Path<(String, String)>,
    Query(query): Query<DocumentQuery>,
    headers: HeaderMap,
) -> Response {
    let session = session_of(&esign, &headers);
    match esign.ceremony_document(&token, session, &document_id).await {
        Ok((name, kind, bytes)) => {
            let (content_type, inline, extension) = match kind {
                DocumentKind::Pdf => ("application/pdf", query.download.is_none(), ".pdf"),
                DocumentKind::Docx => (crate::uploads::DOCX, false, ".docx"),
            };
            let mut name = name;
            if !name.to_ascii_lowercase().ends_with(extension) {
                name.push_str(extension);
            }
            let mut response = bytes.into_response();
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            headers.insert(
                header::CONTENT_DISPOSITION,
                disposition(if inline { "inline" } else { "attachment" }, &name),
            );
            private(response)
        }
        Err(e) => ceremony_failure(&e),
    }
}

#[derive(Deserialize)]
struct UploadQuery {
    token: Option<String>,
}

fn upload_error(status: StatusCode, error: &str, description: String) -> Response {
    signet_http::json_error(status, error, &description)
}

async fn put_upload(
    State(Pages { esign, .. }): State<Pages>,
    Path(upload_id): Path<String>,
    Query(query): Query<UploadQuery>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let Ok(body) = body else {
        return upload_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            UploadError::TooLarge.to_string(),
        );
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let result = esign
        .put_upload(
            &upload_id,
            query.token.as_deref().unwrap_or_default(),
            content_type,
            &body,
        )
        .await;
    match result {
        Ok(()) => (
            StatusCode::OK,
            axum::Json(json!({ "upload_id": upload_id, "size_bytes": body.len() })),
        )
            .into_response(),
        Err(e @ UploadError::Gone) => {
            upload_error(StatusCode::FORBIDDEN, "invalid_upload_url", e.to_string())
        }
        Err(e @ UploadError::WrongType { .. }) => upload_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            e.to_string(),
        ),
        Err(e @ UploadError::TooLarge) => {
            upload_error(StatusCode::PAYLOAD_TOO_LARGE, "too_large", e.to_string())
        }
        Err(e @ UploadError::Unreadable(_)) => upload_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_document",
            e.to_string(),
        ),
        Err(UploadError::Engine(e)) => upload_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            e.to_string(),
        ),
    }
}

#[derive(Deserialize)]
struct DownloadQuery {
    expires: Option<i64>,
    signature: Option<String>,
}

async fn download(
    State(Pages { esign, .. }): State<Pages>,
    Path(deliverable_id): Path<String>,
    Query(query): Query<DownloadQuery>,
) -> Response {
    let (Some(expires), Some(signature)) = (query.expires, query.signature) else {
        return message(
            StatusCode::FORBIDDEN,
            "Link not valid",
            "This download link is incomplete.",
        );
    };
    match esign
        .download_deliverable(&deliverable_id, expires, &signature)
        .await
    {
        Ok(Some((name, bytes))) => {
            let mut response = bytes.into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/pdf"),
            );
            headers.insert(
                header::CONTENT_DISPOSITION,
                disposition("attachment", &name),
            );
            private(response)
        }
        Ok(None) => message(
            StatusCode::FORBIDDEN,
            "Link not valid",
            "This download link is not valid or has expired. Ask for a new one.",
        ),
        Err(_) => message(
            StatusCode::SERVICE_UNAVAILABLE,
            "Please try again",
            "Signet could not complete this request.",
        ),
    }
}
