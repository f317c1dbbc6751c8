//! JSON-RPC error responses: once the bearer check has passed, `/mcp`
//! answers in JSON-RPC whatever went wrong — a body we refuse before rmcp
//! reads it, or one of rmcp's own text/plain refusals.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::body::{DRAIN_LIMIT, is_json, read_body};
use super::inspect::Malformed;

pub(super) const PARSE_ERROR: i64 = -32700;
pub(super) const INVALID_REQUEST: i64 = -32600;
/// MCP 2026-07-28: the request metadata headers disagree with the body.
pub(super) const HEADER_MISMATCH: i64 = -32020;
const INVALID_PARAMS: i64 = -32602;
const INTERNAL_ERROR: i64 = -32603;

/// A JSON-RPC error object: what `/mcp` answers once the bearer check has
/// passed, whatever went wrong with the message.
pub(super) fn json_rpc_error(status: StatusCode, id: Value, code: i64, message: &str) -> Response {
    (
        status,
        axum::Json(json!({
            "jsonrpc": "2.0",
            "id": id,
            "error": { "code": code, "message": message },
        })),
    )
        .into_response()
}

/// rmcp answers some refusals in text/plain (406 without the Accept the
/// transport requires, 405 for GET, …). `/mcp` speaks JSON-RPC, so they
/// become JSON-RPC errors with the same status and headers; the status
/// stays, as clients rely on it (a 400 on `initialize` sends some to the
/// legacy SSE transport).
pub(super) async fn in_json_rpc(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(response.headers()) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let mut rewritten = if status.is_server_error() {
        // rmcp's text names internal detail; it has logged it already.
        json_rpc_error(status, Value::Null, INTERNAL_ERROR, "Internal error")
    } else {
        let text = read_body(body, DRAIN_LIMIT)
            .await
            .ok()
            .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_owned())
            .filter(|text| !text.is_empty());
        let message = text
            .as_deref()
            .or(status.canonical_reason())
            .unwrap_or("Invalid request");
        json_rpc_error(status, Value::Null, INVALID_REQUEST, message)
    };
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            rewritten.headers_mut().append(name.clone(), value.clone());
        }
    }
    rewritten
}

/// Each refused body with its JSON-RPC code.
impl IntoResponse for Malformed {
    fn into_response(self) -> Response {
        match self {
            Malformed::Parse => json_rpc_error(
                StatusCode::BAD_REQUEST,
                Value::Null,
                PARSE_ERROR,
                "Parse error: the body is not JSON",
            ),
            Malformed::Invalid(why) => json_rpc_error(
                StatusCode::BAD_REQUEST,
                Value::Null,
                INVALID_REQUEST,
                &format!("Invalid request: {why}"),
            ),
            Malformed::Params(id, why) => json_rpc_error(
                // A notification has no response to carry the error.
                if id.is_null() {
                    StatusCode::BAD_REQUEST
                } else {
                    StatusCode::OK
                },
                id,
                INVALID_PARAMS,
                &format!("Invalid params: {why}"),
            ),
        }
    }
}
