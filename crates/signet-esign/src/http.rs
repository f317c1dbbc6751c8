//! The engine's own pages and files: the signing page, document views,
//! upload PUTs and deliverable downloads. Each URL carries its own secret
//! (a signing token, an upload token, a signed expiry); no cookies.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::json;
use signet_web::{MessagePage, SigningDocument, SigningPage, SigningState, render};

use crate::Esign;
use crate::ceremony::{CeremonyError, CeremonyState, Decision, Evidence};
use crate::model::{DocumentKind, RecipientType};
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
        .route("/sign/{token}/documents/{document_id}", get(document))
        .route(
            "/uploads/{upload_id}",
            axum::routing::put(put_upload).layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES + 1)),
        )
        .route("/deliverables/{deliverable_id}", get(download))
        .with_state(Pages { esign })
}

/// Secret-bearing pages are never cached, and never framed.
fn private(response: Response) -> Response {
    let mut response = signet_http::no_store(response);
    response
        .headers_mut()
        .insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
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
        CeremonyError::Invalid(text) => {
            message(StatusCode::UNPROCESSABLE_ENTITY, "Check your entry", text)
        }
        CeremonyError::Engine(_) => message(
            StatusCode::SERVICE_UNAVAILABLE,
            "Please try again",
            "Signet could not complete this request. Please try again in a moment.",
        ),
    }
}

async fn render_page(esign: &Esign, token: &str, error: Option<&str>, typed: &str) -> Response {
    let ceremony = match esign.open_ceremony(token).await {
        Ok(c) => c,
        Err(e) => return ceremony_failure(&e),
    };
    let approver = ceremony.recipient_type == RecipientType::Approver;
    let (verb, verb_title) = if approver {
        ("approve", "Approve")
    } else {
        ("sign", "Sign")
    };
    let state = match ceremony.state {
        CeremonyState::Open => SigningState::Open,
        CeremonyState::Completed => SigningState::Done(format!(
            "Thank you: you have {}. Everyone involved will be told when all have finished.",
            if approver { "approved" } else { "signed" }
        )),
        CeremonyState::Rejected => {
            SigningState::Done("You declined this request. The sender has been told.".to_owned())
        }
        CeremonyState::AnsweredThenCanceled => SigningState::Done(
            "The sender canceled this request after you answered; nothing more is needed from you."
                .to_owned(),
        ),
        CeremonyState::Closed => {
            SigningState::Done("This request is no longer open for signing.".to_owned())
        }
    };
    let documents = ceremony
        .documents
        .iter()
        .map(|d| SigningDocument {
            name: d.name.clone(),
            pages: d.pages,
            view_href: format!("/sign/{token}/documents/{}", d.id),
            download_href: format!("/sign/{token}/documents/{}?download=1", d.id),
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
                typed,
            })),
        )
            .into_response(),
    )
}

async fn signing_page(State(pages): State<Pages>, Path(token): Path<String>) -> Response {
    render_page(&pages.esign, &token, None, "").await
}

#[derive(Deserialize)]
struct ActionForm {
    action: Option<String>,
    signature: Option<String>,
    reason: Option<String>,
}

async fn signing_action(
    State(Pages { esign }): State<Pages>,
    Path(token): Path<String>,
    client: signet_http::ClientAddr,
    headers: HeaderMap,
    form: Result<axum::Form<ActionForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(axum::Form(form)) = form else {
        return message(
            StatusCode::BAD_REQUEST,
            "Check your entry",
            "The form could not be read. Please try again.",
        );
    };
    let decision = match form.action.as_deref() {
        Some("sign") | None => Decision::Sign {
            typed_signature: form.signature.as_deref().unwrap_or_default(),
        },
        Some("reject") => Decision::Reject {
            reason: form.reason.as_deref(),
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
    match esign.act(&token, decision, evidence).await {
        // Post/redirect/get: a reload does not resubmit.
        Ok(()) => private(Redirect::to(&format!("/sign/{token}")).into_response()),
        Err(CeremonyError::Invalid(text)) => {
            render_page(
                &esign,
                &token,
                Some(&text),
                form.signature.as_deref().unwrap_or_default(),
            )
            .await
        }
        Err(other) => ceremony_failure(&other),
    }
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
) -> Response {
    match esign.ceremony_document(&token, &document_id).await {
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
