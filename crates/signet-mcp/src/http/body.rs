//! Reading request and response bodies within a limit, and the JSON
//! `Content-Type` rule: shared by the checks before rmcp runs and by the
//! rewriting of its answers.

use std::pin::Pin;

use axum::body::{Body, Bytes, HttpBody};
use axum::http::{HeaderMap, header};

/// Whether a `Content-Type` is JSON: the rule rmcp applies to requests.
pub(super) fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|h| {
            h.split_once(';')
                .map_or(h, |(essence, _)| essence)
                .trim()
                .eq_ignore_ascii_case("application/json")
        })
}

pub(super) enum BodyError {
    TooLarge,
    Unreadable,
}

/// Reads a body to its end, refusing (without reading) one that declares
/// more than `limit` bytes and stopping at `limit` otherwise.
pub(super) async fn read_body(mut body: Body, limit: usize) -> Result<Bytes, BodyError> {
    if body.size_hint().lower() > limit as u64 {
        return Err(BodyError::TooLarge);
    }
    let mut first: Option<Bytes> = None;
    let mut rest: Vec<u8> = Vec::new();
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        let Ok(data) = frame.map_err(|_| BodyError::Unreadable)?.into_data() else {
            continue;
        };
        let held = first.as_ref().map_or(0, Bytes::len) + rest.len();
        if data.len() > limit.saturating_sub(held) {
            return Err(BodyError::TooLarge);
        }
        // One frame is the usual case: keep it without copying.
        match &first {
            None if rest.is_empty() => first = Some(data),
            _ => {
                if let Some(bytes) = first.take() {
                    rest.extend_from_slice(&bytes);
                }
                rest.extend_from_slice(&data);
            }
        }
    }
    Ok(first.unwrap_or_else(|| Bytes::from(rest)))
}

/// How much of a refused request's body is read before the refusal is
/// sent, so that the connection stays usable: an MCP request without a
/// token is small. A larger body is left unread and the binary's router
/// closes the connection instead, so an unauthenticated peer cannot make us
/// buffer 4 MiB.
pub(super) const DRAIN_LIMIT: usize = 64 * 1024;

pub(super) async fn drain(body: Body) {
    let _ = read_body(body, DRAIN_LIMIT).await;
}
