//! `/verify`: anyone may upload a PDF (no sign-in) and learn whether it is
//! a deliverable this instance sealed. The form carries a signed expiry
//! from the page that served it (and a cross-site POST is refused by its
//! `Sec-Fetch-Site`/`Origin`), the body is capped, and the file is read in
//! memory only. `Accept: application/json` answers the verdict as JSON.

use axum::Router;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use signet_store::UnixTime;
use signet_web::{VerifyOutcome, VerifyPage, render};

use super::{Verification, VerifyResult};
use crate::Esign;

/// The largest PDF the page takes.
pub const MAX_VERIFY_BYTES: usize = 64 * 1024 * 1024;
/// How long the form stays valid.
const FORM_TTL: std::time::Duration = std::time::Duration::from_secs(3600);
/// What the form's proof signs.
const FORM_TARGET: &str = "verify-form";

pub(crate) fn router(esign: Esign) -> Router {
    Router::new()
        .route(
            "/verify",
            get(form)
                .post(submit)
                .layer(DefaultBodyLimit::max(MAX_VERIFY_BYTES + 64 * 1024)),
        )
        .with_state(esign)
}

fn headers(mut response: Response) -> Response {
    let response_headers = response.headers_mut();
    response_headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    response_headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response_headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    signet_http::no_store(response)
}

fn wants_json(request: &HeaderMap) -> bool {
    request
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"))
}

/// The page, with a verdict or an error when there is one.
async fn page(
    esign: &Esign,
    status: StatusCode,
    outcome: Option<VerifyOutcome>,
    error: Option<&str>,
) -> Response {
    let proof = match esign
        .inner
        .links
        .sign(FORM_TARGET, esign.now().plus(FORM_TTL))
        .await
    {
        Ok(proof) => proof,
        Err(_) => {
            return headers(
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    Html("Signet could not show this page; please try again in a moment."),
                )
                    .into_response(),
            );
        }
    };
    let mut expires = "";
    let mut signature = "";
    for pair in proof.split('&') {
        match pair.split_once('=') {
            Some(("expires", value)) => expires = value,
            Some(("signature", value)) => signature = value,
            _ => {}
        }
    }
    headers(
        (
            status,
            Html(render(&VerifyPage {
                expires,
                signature,
                limit_mb: MAX_VERIFY_BYTES / (1024 * 1024),
                outcome,
                error,
            })),
        )
            .into_response(),
    )
}

async fn form(State(esign): State<Esign>) -> Response {
    page(&esign, StatusCode::OK, None, None).await
}

/// A refusal, in the form the caller asked for.
async fn refuse(esign: &Esign, json: bool, status: StatusCode, code: &str, text: &str) -> Response {
    if json {
        let body = json!({ "error": code, "error_description": text });
        return headers((status, axum::Json(body)).into_response());
    }
    page(esign, status, None, Some(text)).await
}

/// A browser on another site may not post here.
fn cross_site(request: &HeaderMap, public_url: &str) -> bool {
    if let Some(site) = request.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return !matches!(site, "same-origin" | "none");
    }
    match request.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        // The public URL has no path, so it is exactly the page's origin.
        Some(origin) => origin != public_url,
        None => false,
    }
}

async fn submit(
    State(esign): State<Esign>,
    request: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    let json = wants_json(&request);
    if cross_site(&request, &esign.inner.public_url) {
        return refuse(
            &esign,
            json,
            StatusCode::FORBIDDEN,
            "cross_site",
            "This form can only be sent from Signet's own verification page.",
        )
        .await;
    }
    let Ok(mut multipart) = multipart else {
        return refuse(
            &esign,
            json,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Send the form as multipart/form-data with the PDF in the field named file.",
        )
        .await;
    };
    let (mut expires, mut signature, mut file) = (None, None, None);
    loop {
        match multipart.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or_default().to_owned();
                let bytes = match field.bytes().await {
                    Ok(bytes) => bytes,
                    Err(error) => return field_failure(&esign, json, &error.body_text()).await,
                };
                match name.as_str() {
                    "expires" => expires = std::str::from_utf8(&bytes).ok().map(str::to_owned),
                    "signature" => signature = std::str::from_utf8(&bytes).ok().map(str::to_owned),
                    "file" => file = Some(bytes),
                    _ => {}
                }
            }
            Ok(None) => break,
            Err(error) => return field_failure(&esign, json, &error.body_text()).await,
        }
    }
    let genuine = match (expires.and_then(|e| e.parse::<i64>().ok()), signature) {
        (Some(expires), Some(signature)) => esign
            .inner
            .links
            .verify(FORM_TARGET, expires, &signature)
            .await
            .unwrap_or(false),
        _ => false,
    };
    if !genuine {
        return refuse(
            &esign,
            json,
            StatusCode::FORBIDDEN,
            "form_expired",
            "This form has expired or did not come from this page; choose the file again.",
        )
        .await;
    }
    let Some(file) = file.filter(|f| !f.is_empty()) else {
        return refuse(
            &esign,
            json,
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing_file",
            "Choose a PDF file to verify.",
        )
        .await;
    };
    if file.len() > MAX_VERIFY_BYTES {
        return too_large(&esign, json).await;
    }
    match esign.verify_pdf(file.to_vec()).await {
        Ok(verification) if json => headers(axum::Json(&verification).into_response()),
        Ok(verification) => page(&esign, StatusCode::OK, Some(outcome(&verification)), None).await,
        Err(_) => {
            refuse(
                &esign,
                json,
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "Signet could not verify the file just now; please try again in a moment.",
            )
            .await
        }
    }
}

async fn too_large(esign: &Esign, json: bool) -> Response {
    let text = format!(
        "The file is larger than {} MB, more than any deliverable this page verifies.",
        MAX_VERIFY_BYTES / (1024 * 1024)
    );
    refuse(
        esign,
        json,
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        &text,
    )
    .await
}

async fn field_failure(esign: &Esign, json: bool, detail: &str) -> Response {
    if detail.contains("length limit") {
        return too_large(esign, json).await;
    }
    refuse(
        esign,
        json,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "The upload was cut short or is not valid multipart/form-data; choose the file again.",
    )
    .await
}

fn outcome(verification: &Verification) -> VerifyOutcome {
    let heading = match verification.result {
        VerifyResult::Valid => "Genuine and unmodified",
        VerifyResult::Modified => "Modified: do not rely on this file",
        VerifyResult::Unknown => "Not a deliverable of this Signet",
    };
    let mut details = Vec::new();
    let mut add = |label: &str, value: Option<String>| {
        if let Some(value) = value {
            details.push((label.to_owned(), value));
        }
    };
    add("Envelope", verification.envelope_id.clone());
    add("Title", verification.title.clone());
    add("Sealed at", verification.sealed_at.map(UnixTime::rfc3339));
    add(
        "Trusted timestamp",
        Some(
            match (verification.timestamp, &verification.timestamp_authority) {
                (Some(at), Some(authority)) => format!("{} by {authority}", at.rfc3339()),
                _ => "none (the time is Signet's own clock)".to_owned(),
            },
        )
        .filter(|_| verification.envelope_id.is_some()),
    );
    add("Sealed by", verification.signer.clone());
    add(
        "Certificate SHA-256",
        verification.certificate_sha256.clone(),
    );
    VerifyOutcome {
        result: verification.result.to_string(),
        heading: heading.to_owned(),
        summary: verification.summary.clone(),
        details,
    }
}
