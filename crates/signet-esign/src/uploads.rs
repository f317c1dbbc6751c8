//! Uploads: `mint_upload_url` hands out a single-use PUT URL (5 minutes)
//! and the document URL to give `create_envelope` (24 hours). The PUT URL
//! carries a secret of which only the hash is stored.

use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value};
use signet_store::{UnixTime, ids, random, sqlx};

use crate::error::EsignError;
use crate::input::Checker;
use crate::{Caller, Esign, pdf};

pub const PUT_TTL: Duration = Duration::from_secs(5 * 60);
pub const DOCUMENT_TTL: Duration = Duration::from_secs(24 * 3600);
pub const MAX_UPLOAD_BYTES: usize = 10 * 1024 * 1024;

pub const PDF: &str = "application/pdf";
pub const DOCX: &str = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";

#[derive(Clone, Debug, Serialize)]
pub struct MintedUpload {
    pub upload_id: String,
    /// Where to `PUT` the file, once, within five minutes.
    pub upload_url: String,
    pub method: &'static str,
    /// Headers the PUT must carry.
    pub headers: Map<String, Value>,
    pub max_bytes: usize,
    pub upload_expires_at: UnixTime,
    /// What to pass as a document `url` to `create_envelope`.
    pub url: String,
    pub expires_at: UnixTime,
}

/// Why a PUT was refused.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("This upload URL is not valid, has expired or has already been used")]
    Gone,
    #[error("The Content-Type must be {expected}")]
    WrongType { expected: String },
    #[error("The file is larger than the {MAX_UPLOAD_BYTES}-byte limit")]
    TooLarge,
    #[error("{0}")]
    Unreadable(String),
    #[error(transparent)]
    Engine(#[from] EsignError),
}

impl From<sqlx::Error> for UploadError {
    fn from(error: sqlx::Error) -> Self {
        Self::Engine(error.into())
    }
}

/// The upload id in one of our document URLs (`P/uploads/upl_…`).
pub(crate) fn upload_id_of<'a>(public_url: &str, url: &'a str) -> Option<&'a str> {
    let id = url.strip_prefix(public_url)?.strip_prefix("/uploads/")?;
    ids::has_prefix(id, ids::UPLOAD).then_some(id)
}

/// Whether an upload can serve as a document now; the error says why not.
pub(crate) async fn check_reference(
    esign: &Esign,
    org_id: &str,
    upload_id: &str,
    now: UnixTime,
) -> Result<Result<(), String>, EsignError> {
    let row: Option<(Option<i64>, i64)> =
        sqlx::query_as("SELECT uploaded_at, expires_at FROM uploads WHERE id = $1 AND org_id = $2")
            .bind(upload_id)
            .bind(org_id)
            .fetch_optional(esign.store().pool())
            .await?;
    Ok(match row {
        None => Err("no such upload in this organization".to_owned()),
        Some((None, _)) => Err("nothing has been uploaded to this URL yet".to_owned()),
        Some((_, expires)) if expires <= now.as_secs() => {
            Err("this upload has expired (uploads last 24 hours)".to_owned())
        }
        Some(_) => Ok(()),
    })
}

/// The name given when the upload URL was minted, if any.
pub(crate) async fn filename(
    esign: &Esign,
    org_id: &str,
    upload_id: &str,
) -> Result<Option<String>, EsignError> {
    let name: Option<Option<String>> =
        sqlx::query_scalar("SELECT filename FROM uploads WHERE id = $1 AND org_id = $2")
            .bind(upload_id)
            .bind(org_id)
            .fetch_optional(esign.store().pool())
            .await?;
    Ok(name.flatten())
}

/// The uploaded bytes, when still valid.
pub(crate) async fn content(
    esign: &Esign,
    org_id: &str,
    upload_id: &str,
    now: UnixTime,
) -> Result<Vec<u8>, String> {
    let row: Option<(Option<Vec<u8>>, i64)> =
        sqlx::query_as("SELECT content, expires_at FROM uploads WHERE id = $1 AND org_id = $2")
            .bind(upload_id)
            .bind(org_id)
            .fetch_optional(esign.store().pool())
            .await
            .map_err(|e| EsignError::from(e).to_string())?;
    match row {
        Some((Some(bytes), expires)) if expires > now.as_secs() => Ok(bytes),
        Some((Some(_), _)) => Err("the upload has expired".to_owned()),
        _ => Err("the upload is missing".to_owned()),
    }
}

impl Esign {
    pub async fn mint_upload_url(
        &self,
        caller: &Caller,
        args: &Map<String, Value>,
    ) -> Result<MintedUpload, EsignError> {
        let mut c = Checker::default();
        let content_type = match c.text(args, "content_type", "content_type", 200).as_deref() {
            None | Some(PDF) => PDF,
            Some(DOCX) => DOCX,
            Some(_) => {
                c.fail("content_type", format!("must be {PDF} or {DOCX}"));
                PDF
            }
        };
        let filename = c.text(args, "filename", "filename", 200);
        c.finish(())?;
        let now = self.now();
        let id = ids::new(ids::UPLOAD)?;
        let token = random::token()?;
        let put_expires = now.plus(PUT_TTL);
        let expires = now.plus(DOCUMENT_TTL);
        sqlx::query(
            "INSERT INTO uploads (id, org_id, put_token_hash, content_type, filename, created_at, put_expires_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&id)
        .bind(&caller.org_id)
        .bind(random::digest(&token))
        .bind(content_type)
        .bind(&filename)
        .bind(now.as_secs())
        .bind(put_expires.as_secs())
        .bind(expires.as_secs())
        .execute(self.store().pool())
        .await?;
        let mut headers = Map::new();
        headers.insert(
            "Content-Type".to_owned(),
            Value::String(content_type.to_owned()),
        );
        Ok(MintedUpload {
            upload_url: format!("{}/uploads/{id}?token={token}", self.inner.public_url),
            url: format!("{}/uploads/{id}", self.inner.public_url),
            upload_id: id,
            method: "PUT",
            headers,
            max_bytes: MAX_UPLOAD_BYTES,
            upload_expires_at: put_expires,
            expires_at: expires,
        })
    }

    /// Accepts the one PUT an upload URL allows. The file is checked as it
    /// arrives, so a bad one is refused now rather than failing an envelope.
    pub async fn put_upload(
        &self,
        upload_id: &str,
        token: &str,
        content_type: Option<&str>,
        bytes: &[u8],
    ) -> Result<(), UploadError> {
        let now = self.now();
        let row: Option<(String, String, i64, Option<i64>)> = sqlx::query_as(
            "SELECT put_token_hash, content_type, put_expires_at, uploaded_at FROM uploads WHERE id = $1",
        )
        .bind(upload_id)
        .fetch_optional(self.store().pool())
        .await?;
        let Some((hash, expected, put_expires, uploaded)) = row else {
            return Err(UploadError::Gone);
        };
        if !random::constant_time_eq(&hash, &random::digest(token))
            || uploaded.is_some()
            || put_expires <= now.as_secs()
        {
            return Err(UploadError::Gone);
        }
        let given = content_type
            .and_then(|c| c.split(';').next())
            .map(|c| c.trim().to_ascii_lowercase());
        if given.as_deref() != Some(expected.as_str()) {
            return Err(UploadError::WrongType { expected });
        }
        if bytes.len() > MAX_UPLOAD_BYTES {
            return Err(UploadError::TooLarge);
        }
        if expected == PDF {
            pdf::inspect(bytes).map_err(|e| UploadError::Unreadable(e.to_string()))?;
        } else if !pdf::is_docx(bytes) {
            return Err(UploadError::Unreadable(
                "The file is not a DOCX document".to_owned(),
            ));
        }
        // Single use: only the first PUT finds `uploaded_at` empty.
        let stored = sqlx::query(
            "UPDATE uploads SET content = $1, size_bytes = $2, uploaded_at = $3 WHERE id = $4 AND uploaded_at IS NULL",
        )
        .bind(bytes)
        .bind(bytes.len() as i64)
        .bind(now.as_secs())
        .bind(upload_id)
        .execute(self.store().pool())
        .await?;
        if stored.rows_affected() == 0 {
            return Err(UploadError::Gone);
        }
        Ok(())
    }
}

/// Removes uploads a day after their document URL expired.
pub async fn sweep_expired(
    store: &signet_store::Store,
    now: signet_store::UnixTime,
) -> Result<u64, sqlx::Error> {
    let cutoff = now.minus(std::time::Duration::from_secs(24 * 3600));
    Ok(sqlx::query("DELETE FROM uploads WHERE expires_at < $1")
        .bind(cutoff.as_secs())
        .execute(store.pool())
        .await?
        .rows_affected())
}
