//! The OAuth error codes (RFC 6749 §5.2, RFC 7591 §3.2.2, RFC 8707, OIDC),
//! and the one place that turns them into HTTP responses.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use thiserror::Error;

use crate::KeyError;

#[derive(Debug, Error)]
pub enum OAuthError {
    #[error("{0}")]
    InvalidRequest(String),
    /// Client authentication failed: 401 with a `Basic` challenge.
    #[error("{0}")]
    InvalidClient(String),
    #[error("{0}")]
    InvalidGrant(String),
    #[error("{0}")]
    UnauthorizedClient(String),
    #[error("{0}")]
    UnsupportedGrantType(String),
    #[error("{0}")]
    UnsupportedResponseType(String),
    #[error("{0}")]
    InvalidScope(String),
    #[error("{0}")]
    InvalidTarget(String),
    #[error("{0}")]
    AccessDenied(String),
    #[error("{0}")]
    LoginRequired(String),
    #[error("{0}")]
    ConsentRequired(String),
    #[error("{0}")]
    InvalidRedirectUri(String),
    #[error("{0}")]
    InvalidClientMetadata(String),
    #[error("the request body is larger than {0} bytes")]
    TooLarge(usize),
    /// Too many requests from one address: 429 with `Retry-After`.
    #[error("Too many registrations from this address; try again in {0} seconds")]
    SlowDown(u64),
    /// Our database is unreachable or busy for now: 503 with `Retry-After`
    /// (`temporarily_unavailable`); the detail goes to the log.
    #[error("temporarily unavailable: {0}")]
    Unavailable(String),
    /// Something on our side; the detail goes to the log, not the client.
    #[error("internal error: {0}")]
    Server(String),
}

/// Seconds a client is asked to wait when we are unavailable.
pub const RETRY_AFTER_SECS: u64 = 5;

impl OAuthError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) | Self::TooLarge(_) => "invalid_request",
            Self::InvalidClient(_) => "invalid_client",
            Self::InvalidGrant(_) => "invalid_grant",
            Self::UnauthorizedClient(_) => "unauthorized_client",
            Self::UnsupportedGrantType(_) => "unsupported_grant_type",
            Self::UnsupportedResponseType(_) => "unsupported_response_type",
            Self::InvalidScope(_) => "invalid_scope",
            Self::InvalidTarget(_) => "invalid_target",
            Self::AccessDenied(_) => "access_denied",
            Self::LoginRequired(_) => "login_required",
            Self::ConsentRequired(_) => "consent_required",
            Self::InvalidRedirectUri(_) => "invalid_redirect_uri",
            Self::InvalidClientMetadata(_) => "invalid_client_metadata",
            Self::Server(_) => "server_error",
            Self::SlowDown(_) | Self::Unavailable(_) => "temporarily_unavailable",
        }
    }

    /// What the client is told; internal errors say nothing of the cause.
    pub fn description(&self) -> String {
        match self {
            Self::Server(_) => "The server could not complete the request; try again".to_owned(),
            Self::Unavailable(_) => {
                "The server is temporarily unavailable; try again shortly".to_owned()
            }
            other => other.to_string(),
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            Self::InvalidClient(_) => StatusCode::UNAUTHORIZED,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::SlowDown(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Server(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// Logs a failure of ours with its cause (the client sees none of it).
    /// Called wherever an error leaves the server, as a body or a redirect.
    pub fn log_if_ours(&self) {
        match self {
            Self::Server(detail) => tracing::error!(%detail, "OAuth request failed"),
            Self::Unavailable(detail) => {
                tracing::warn!(%detail, "OAuth request failed: database unavailable")
            }
            _ => {}
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        self.log_if_ours();
        let mut response = signet_http::no_store(signet_http::json_error(
            self.status(),
            self.code(),
            &self.description(),
        ));
        let headers = response.headers_mut();
        match self {
            Self::SlowDown(seconds) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            }
            Self::Unavailable(_) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
            }
            _ => {}
        }
        if matches!(self, Self::InvalidClient(_)) {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"signet\", charset=\"UTF-8\""),
            );
        }
        response
    }
}

impl From<signet_store::StoreError> for OAuthError {
    fn from(error: signet_store::StoreError) -> Self {
        match &error {
            signet_store::StoreError::Query(e) if signet_store::is_transient(e) => {
                Self::Unavailable(error.to_string())
            }
            _ => Self::Server(error.to_string()),
        }
    }
}

impl From<signet_store::sqlx::Error> for OAuthError {
    fn from(error: signet_store::sqlx::Error) -> Self {
        if signet_store::is_transient(&error) {
            Self::Unavailable(error.to_string())
        } else {
            Self::Server(error.to_string())
        }
    }
}

impl From<KeyError> for OAuthError {
    fn from(error: KeyError) -> Self {
        Self::Server(error.to_string())
    }
}

impl From<signet_identity::IdentityError> for OAuthError {
    fn from(error: signet_identity::IdentityError) -> Self {
        match error {
            signet_identity::IdentityError::Store(store) => store.into(),
            other => Self::Server(other.to_string()),
        }
    }
}
