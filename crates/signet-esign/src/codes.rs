//! Email codes (signer assurance). For a recipient whose `authentication`
//! includes `email_code`, the signing link alone opens nothing: the signer
//! asks for a code (a POST, since mail scanners follow links), receives it
//! by email, and enters it; the browser that did gets a session cookie, and
//! every ceremony request (page, documents, page images, signing,
//! declining) checks it. A forwarded link therefore does not open the
//! ceremony elsewhere. Codes and session secrets are stored only as
//! digests; attempts are counted before a code is compared.

use serde_json::{Map, Value, json};
use signet_store::sqlx::{self, AnyConnection};
use signet_store::{UnixTime, ids, random};

use crate::Esign;
use crate::ceremony::{self, CeremonyError, CeremonyState, Evidence};
use crate::error::EsignError;
use crate::flow;
use crate::input::Checker;
use crate::model::{AuthenticationMethod, EmailKind, EventKind, Mode};
use crate::outbox;
use crate::rows::{EnvelopeRow, RecipientRow};

/// Digits of a code: 10⁸ values, so 5 attempts on each of at most 5 codes
/// an hour give someone holding a forwarded link one chance in four million
/// an hour (and each code they ask for reaches the real signer's mailbox).
pub const CODE_DIGITS: usize = 8;
/// How long a code may be entered.
pub const CODE_LIFETIME_SECS: i64 = 600;
/// Wrong attempts on one code before it is locked.
pub const MAX_ATTEMPTS: i64 = 5;
/// The least time between two codes to one recipient.
pub const RESEND_GAP_SECS: i64 = 60;
/// Codes one recipient may be sent in any hour.
pub const CODES_PER_HOUR: usize = 5;
/// How long a browser that entered the right code stays admitted.
pub const SESSION_LIFETIME_SECS: i64 = 3600;

const HOUR: i64 = 3600;
const CODE_ID: &str = "vcd";

/// Reads a recipient's `authentication` list (default `["email_link"]`).
pub(crate) fn parse_authentication(
    c: &mut Checker,
    object: &Map<String, Value>,
    path: &str,
) -> Vec<AuthenticationMethod> {
    const EXPECTED: &str = "must be a non-empty array of \"email_link\" and \"email_code\"";
    let mut methods = Vec::new();
    match object.get("authentication") {
        None | Some(Value::Null) => methods.push(AuthenticationMethod::EmailLink),
        Some(Value::Array(items)) if !items.is_empty() => {
            for (i, item) in items.iter().enumerate() {
                match item.as_str().and_then(AuthenticationMethod::parse) {
                    Some(method) if !methods.contains(&method) => methods.push(method),
                    Some(_) => c.fail(format!("{path}[{i}]"), "is repeated"),
                    None => c.fail(
                        format!("{path}[{i}]"),
                        "must be \"email_link\" or \"email_code\"",
                    ),
                }
            }
        }
        Some(_) => c.fail(path, EXPECTED),
    }
    methods
}

/// The method a recipient was (or will be) authenticated with, as the audit
/// trail and the certificate of completion name it.
pub(crate) fn method_of(recipient: &RecipientRow) -> AuthenticationMethod {
    if recipient.requires_code() {
        AuthenticationMethod::EmailCode
    } else {
        AuthenticationMethod::EmailLink
    }
}

/// `j•••@example.com`: enough for the signer to recognise their address,
/// not enough to learn it from a forwarded link.
pub fn masked_email(email: &str) -> String {
    match email.rsplit_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}\u{2022}\u{2022}\u{2022}@{domain}")
        }
        None => "\u{2022}\u{2022}\u{2022}".to_owned(),
    }
}

/// A code of [`CODE_DIGITS`] uniform digits from the CSPRNG (rejection
/// sampling, so no digit is likelier than another).
fn new_code() -> Result<String, getrandom::Error> {
    const SPACE: u32 = 100_000_000;
    // The largest multiple of SPACE that fits in a u32.
    const LIMIT: u32 = (u32::MAX / SPACE) * SPACE;
    loop {
        let value = u32::from_le_bytes(random::bytes::<4>()?);
        if value < LIMIT {
            return Ok(format!("{:0width$}", value % SPACE, width = CODE_DIGITS));
        }
    }
}

/// What is stored of a code: salted by its row and recipient, so equal
/// codes never have equal digests.
fn code_digest(code_id: &str, recipient_id: &str, code: &str) -> String {
    random::digest(&format!("{code_id}\n{recipient_id}\n{code}"))
}

/// What a signer typed, as digits; `None` when it cannot be a code (which
/// is not counted as an attempt).
fn normalized(entered: &str) -> Option<String> {
    let digits: String = entered
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    (digits.len() == CODE_DIGITS && digits.bytes().all(|b| b.is_ascii_digit())).then_some(digits)
}

/// Where the newest code stands, for the page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeState {
    /// None sent yet.
    NoneWaiting,
    /// The last one was entered (another browser, or a later visit, needs a new one).
    Used,
    Active {
        expires_in_secs: i64,
        attempts_left: i64,
    },
    Expired,
    Locked,
}

/// What the code page shows.
#[derive(Debug)]
pub struct CodeGate {
    pub title: String,
    pub test_mode: bool,
    pub masked_email: String,
    pub code: CodeState,
    /// Seconds until another code may be sent (0: now).
    pub send_wait_secs: i64,
}

/// Why a code was not sent or not accepted; each has its own message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CodeRefusal {
    #[error("That code is not right. {attempts_left} attempts left.", attempts_left = .0)]
    Wrong(i64),
    #[error(
        "That code is not right, and that was the last attempt for it. Send a new code to try again."
    )]
    WrongAndLocked,
    #[error("Too many wrong attempts for this code. Send a new code to try again.")]
    Locked,
    #[error("This code has expired: codes work for 10 minutes. Send a new code.")]
    Expired,
    #[error("No code is waiting to be entered. Send a code first.")]
    NoneWaiting,
    #[error("Enter the {CODE_DIGITS} digits of the code from the email.")]
    Malformed,
    #[error(
        "You can ask for another code in {}: codes are sent at most once a minute and five times an hour.",
        wait(*.0)
    )]
    TooSoon(i64),
    /// This recipient opens the ceremony with the link alone.
    #[error("This request needs no code.")]
    NotNeeded,
}

/// "45 seconds", "12 minutes".
pub fn wait(seconds: i64) -> String {
    match seconds {
        s if s <= 1 => "1 second".to_owned(),
        s if s < 120 => format!("{s} seconds"),
        s => format!("{} minutes", (s + 59) / 60),
    }
}

#[derive(sqlx::FromRow)]
struct CodeRow {
    id: String,
    code_digest: String,
    expires_at: i64,
    failed_attempts: i64,
    used_at: Option<i64>,
}

/// A recipient's newest code, if any.
async fn newest(
    conn: &mut AnyConnection,
    recipient_id: &str,
) -> Result<Option<CodeRow>, EsignError> {
    Ok(sqlx::query_as::<_, CodeRow>(
        "SELECT id, code_digest, expires_at, failed_attempts, used_at FROM recipient_codes \
         WHERE recipient_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1",
    )
    .bind(recipient_id)
    .fetch_optional(&mut *conn)
    .await?)
}

fn state_of(code: Option<&CodeRow>, now: UnixTime) -> CodeState {
    match code {
        None => CodeState::NoneWaiting,
        Some(c) if c.used_at.is_some() => CodeState::Used,
        Some(c) if c.failed_attempts >= MAX_ATTEMPTS => CodeState::Locked,
        Some(c) if now.as_secs() >= c.expires_at => CodeState::Expired,
        Some(c) => CodeState::Active {
            expires_in_secs: c.expires_at - now.as_secs(),
            attempts_left: MAX_ATTEMPTS - c.failed_attempts,
        },
    }
}

/// Seconds until the recipient may be sent another code: at least
/// [`RESEND_GAP_SECS`] after the last, and at most [`CODES_PER_HOUR`] in
/// any hour.
async fn send_wait(
    conn: &mut AnyConnection,
    recipient_id: &str,
    now: UnixTime,
) -> Result<i64, EsignError> {
    let now = now.as_secs();
    let sent: Vec<i64> = sqlx::query_scalar(
        "SELECT created_at FROM recipient_codes WHERE recipient_id = $1 AND created_at > $2 \
         ORDER BY created_at DESC",
    )
    .bind(recipient_id)
    .bind(now - HOUR)
    .fetch_all(&mut *conn)
    .await?;
    Ok(wait_after(&sent, now))
}

/// [`send_wait`] for the send times of the last hour, newest first.
fn wait_after(sent: &[i64], now: i64) -> i64 {
    let gap = sent.first().map_or(0, |last| last + RESEND_GAP_SECS - now);
    let hourly = sent
        .get(CODES_PER_HOUR - 1)
        .map_or(0, |oldest| oldest + HOUR - now);
    gap.max(hourly).max(0)
}

/// The session cookie's secret, checked against the recipient: `true` when
/// the recipient needs no code, or this browser entered one within the hour.
pub(crate) async fn admitted(
    conn: &mut AnyConnection,
    recipient: &RecipientRow,
    session: Option<&str>,
    now: UnixTime,
) -> Result<bool, EsignError> {
    if !recipient.requires_code() {
        return Ok(true);
    }
    let Some(secret) = session.filter(|s| !s.is_empty() && s.len() <= 100) else {
        return Ok(false);
    };
    let expires: Option<i64> = sqlx::query_scalar(
        "SELECT expires_at FROM recipient_sessions WHERE secret_digest = $1 AND recipient_id = $2",
    )
    .bind(random::digest(secret))
    .bind(&recipient.id)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(expires.is_some_and(|at| now.as_secs() < at))
}

/// The code page's request must still be one a code can open.
fn require_open(envelope: &EnvelopeRow, recipient: &RecipientRow) -> Result<(), CeremonyError> {
    if !recipient.requires_code() {
        return Err(CeremonyError::Code(CodeRefusal::NotNeeded));
    }
    match ceremony::state_of(envelope, recipient) {
        CeremonyState::Open => Ok(()),
        _ => Err(CeremonyError::Closed(
            "it is no longer open for signing".to_owned(),
        )),
    }
}

fn code_email(name: &str, title: &str, code: &str) -> String {
    format!(
        "Hello {name},\n\nYour code to open \"{title}\" is:\n\n{code}\n\n\
         It works once, for 10 minutes, in the browser where you asked for it. \
         If you did not ask for a code, someone else may have your signing link: \
         do not share the code, and tell the sender.\n\n— Signet\n"
    )
}

impl Esign {
    /// What the code page shows to the holder of `token`.
    pub async fn code_gate(&self, token: &str) -> Result<CodeGate, CeremonyError> {
        let now = self.now();
        let mut conn = self.store().pool().acquire().await?;
        let (envelope, recipient) = self.by_token(&mut conn, token, false).await?;
        let code = newest(&mut conn, &recipient.id).await?;
        let send_wait_secs = send_wait(&mut conn, &recipient.id, now).await?;
        Ok(CodeGate {
            title: envelope.title,
            test_mode: envelope.mode == Mode::Test,
            masked_email: masked_email(&recipient.email),
            code: state_of(code.as_ref(), now),
            send_wait_secs,
        })
    }

    /// Sends a new code to the recipient's email (the previous one stops
    /// counting), within the resend limits; `recipient.code_sent`.
    pub async fn send_code(
        &self,
        token: &str,
        evidence: Evidence<'_>,
    ) -> Result<(), CeremonyError> {
        let now = self.now();
        let mut tx = self.store().begin_write().await?;
        // The envelope's lock serializes sends, so the limits hold across instances.
        let (envelope, recipient) = self.by_token(&mut tx, token, true).await?;
        require_open(&envelope, &recipient)?;
        let wait = send_wait(&mut tx, &recipient.id, now).await?;
        if wait > 0 {
            return Err(CeremonyError::Code(CodeRefusal::TooSoon(wait)));
        }
        let code = new_code().map_err(EsignError::from)?;
        let code_id = ids::new(CODE_ID).map_err(EsignError::from)?;
        let expires_at = now.as_secs() + CODE_LIFETIME_SECS;
        sqlx::query(
            "INSERT INTO recipient_codes (id, recipient_id, code_digest, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&code_id)
        .bind(&recipient.id)
        .bind(code_digest(&code_id, &recipient.id, &code))
        .bind(now.as_secs())
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        let data = json!({
            "key": recipient.key,
            "method": AuthenticationMethod::EmailCode,
            "to": recipient.email,
            "expires_at": UnixTime::from_secs(expires_at),
            "ip_address": evidence.ip_address,
            "user_agent": evidence.user_agent,
        });
        let backend = self.store().backend();
        let kind = EventKind::RecipientCodeSent;
        ceremony::recipient_event(&mut tx, backend, &envelope, &recipient, kind, data, now).await?;
        let pending = outbox::write_with_code(
            &mut tx,
            outbox::Draft {
                org_id: &envelope.org_id,
                envelope_id: &envelope.id,
                recipient_id: Some(&recipient.id),
                mode: envelope.mode,
                kind: EmailKind::VerificationCode,
                to_name: &recipient.name,
                to_email: &recipient.email,
                subject: format!("Your code to open {}", envelope.title),
                body: code_email(&recipient.name, &envelope.title, &code),
                link: None,
            },
            &code,
            now,
        )
        .await?;
        tx.commit().await?;
        self.notifier().notify();
        flow::send_later(self.clone(), pending.into_iter().collect());
        Ok(())
    }

    /// Checks an entered code; the right one (once, in time, before the
    /// fifth wrong attempt) returns a new browser session's secret and
    /// records `recipient.authenticated`. A wrong one is counted (and
    /// recorded as `recipient.authentication_failed`) before the answer.
    pub async fn enter_code(
        &self,
        token: &str,
        entered: &str,
        evidence: Evidence<'_>,
    ) -> Result<String, CeremonyError> {
        let now = self.now();
        let mut tx = self.store().begin_write().await?;
        let (envelope, recipient) = self.by_token(&mut tx, token, true).await?;
        require_open(&envelope, &recipient)?;
        let row = newest(&mut tx, &recipient.id).await?;
        let code = match (state_of(row.as_ref(), now), row) {
            (CodeState::Active { .. }, Some(row)) => row,
            (CodeState::Locked, _) => return Err(CeremonyError::Code(CodeRefusal::Locked)),
            (CodeState::Expired, _) => return Err(CeremonyError::Code(CodeRefusal::Expired)),
            _ => return Err(CeremonyError::Code(CodeRefusal::NoneWaiting)),
        };
        let Some(entered) = normalized(entered) else {
            return Err(CeremonyError::Code(CodeRefusal::Malformed));
        };
        // Counted first (a compare-and-set), so concurrent guesses cannot
        // exceed the limit; the right code's attempt is undone below.
        let counted = sqlx::query(
            "UPDATE recipient_codes SET failed_attempts = failed_attempts + 1 \
             WHERE id = $1 AND failed_attempts < $2 AND used_at IS NULL",
        )
        .bind(&code.id)
        .bind(MAX_ATTEMPTS)
        .execute(&mut *tx)
        .await?;
        if counted.rows_affected() != 1 {
            return Err(CeremonyError::Code(CodeRefusal::Locked));
        }
        let backend = self.store().backend();
        let expected = code_digest(&code.id, &recipient.id, &entered);
        if !random::constant_time_eq(&expected, &code.code_digest) {
            let failed = code.failed_attempts + 1;
            let left = MAX_ATTEMPTS - failed;
            let data = json!({
                "key": recipient.key,
                "method": AuthenticationMethod::EmailCode,
                "failed_attempts": failed,
                "attempts_left": left,
                "ip_address": evidence.ip_address,
                "user_agent": evidence.user_agent,
            });
            let kind = EventKind::RecipientAuthenticationFailed;
            ceremony::recipient_event(&mut tx, backend, &envelope, &recipient, kind, data, now)
                .await?;
            tx.commit().await?;
            self.notifier().notify();
            return Err(CeremonyError::Code(if left > 0 {
                CodeRefusal::Wrong(left)
            } else {
                CodeRefusal::WrongAndLocked
            }));
        }
        sqlx::query(
            "UPDATE recipient_codes SET used_at = $1, failed_attempts = failed_attempts - 1 \
             WHERE id = $2 AND used_at IS NULL",
        )
        .bind(now.as_secs())
        .bind(&code.id)
        .execute(&mut *tx)
        .await?;
        let secret = random::token().map_err(EsignError::from)?;
        let expires_at = now.as_secs() + SESSION_LIFETIME_SECS;
        sqlx::query(
            "INSERT INTO recipient_sessions (secret_digest, recipient_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(random::digest(&secret))
        .bind(&recipient.id)
        .bind(now.as_secs())
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        let data = json!({
            "key": recipient.key,
            "method": AuthenticationMethod::EmailCode,
            "email": recipient.email,
            "ip_address": evidence.ip_address,
            "user_agent": evidence.user_agent,
        });
        let kind = EventKind::RecipientAuthenticated;
        ceremony::recipient_event(&mut tx, backend, &envelope, &recipient, kind, data, now).await?;
        tx.commit().await?;
        self.notifier().notify();
        Ok(secret)
    }
}

/// Rows removed by [`sweep_expired`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SweptCodes {
    pub codes: u64,
    pub sessions: u64,
}

/// Removes codes once they no longer count towards the hourly limit, and
/// browser sessions once expired.
pub async fn sweep_expired(
    store: &signet_store::Store,
    now: UnixTime,
) -> Result<SweptCodes, sqlx::Error> {
    let codes =
        sqlx::query("DELETE FROM recipient_codes WHERE created_at <= $1 AND expires_at <= $2")
            .bind(now.as_secs() - HOUR)
            .bind(now.as_secs())
            .execute(store.pool())
            .await?
            .rows_affected();
    let sessions = sqlx::query("DELETE FROM recipient_sessions WHERE expires_at <= $1")
        .bind(now.as_secs())
        .execute(store.pool())
        .await?
        .rows_affected();
    Ok(SweptCodes { codes, sessions })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_have_eight_uniform_digits() {
        let mut seen = std::collections::HashSet::new();
        let mut first_digits = [0u32; 10];
        for _ in 0..2000 {
            let code = new_code().unwrap();
            assert_eq!(code.len(), CODE_DIGITS, "{code}");
            assert!(code.bytes().all(|b| b.is_ascii_digit()), "{code}");
            first_digits[usize::from(code.as_bytes()[0] - b'0')] += 1;
            seen.insert(code);
        }
        assert!(seen.len() > 1990, "codes repeat: {}", seen.len());
        // Leading zeros are kept, and no leading digit is missing.
        assert!(first_digits.iter().all(|&n| n > 100), "{first_digits:?}");
    }

    #[test]
    fn digests_are_salted_by_row_and_recipient() {
        let a = code_digest("vcd_1", "re_1", "12345678");
        assert_eq!(a, code_digest("vcd_1", "re_1", "12345678"));
        assert_ne!(a, code_digest("vcd_2", "re_1", "12345678"));
        assert_ne!(a, code_digest("vcd_1", "re_2", "12345678"));
        assert_ne!(a, random::digest("12345678"));
    }

    #[test]
    fn entries_are_read_as_digits() {
        assert_eq!(normalized(" 1234 5678 ").as_deref(), Some("12345678"));
        assert_eq!(normalized("1234-5678").as_deref(), Some("12345678"));
        for bad in ["", "1234567", "123456789", "1234567a", "١٢٣٤٥٦٧٨"] {
            assert_eq!(normalized(bad), None, "{bad}");
        }
    }

    #[test]
    fn emails_are_masked() {
        assert_eq!(masked_email("jane@example.com"), "j•••@example.com");
        assert_eq!(masked_email("ébé@example.org"), "é•••@example.org");
        assert_eq!(masked_email("x"), "•••");
    }

    #[test]
    fn resends_wait_a_minute_and_at_most_five_an_hour() {
        let now = 10_000;
        assert_eq!(wait_after(&[], now), 0);
        assert_eq!(wait_after(&[now - 15], now), 45);
        assert_eq!(wait_after(&[now - 60], now), 0);
        // Five in the hour: the next when the oldest is an hour old.
        let five = [now - 100, now - 500, now - 900, now - 1300, now - 3000];
        assert_eq!(wait_after(&five, now), 600);
        assert_eq!(wait_after(&five[..4], now), 0);
    }

    #[test]
    fn the_authentication_list_is_checked() {
        let read = |value: Value| {
            let mut c = Checker::default();
            let object = json!({ "authentication": value });
            let methods =
                parse_authentication(&mut c, object.as_object().unwrap(), "r.authentication");
            match c.finish(()) {
                Ok(()) => Ok(methods),
                Err(EsignError::Validation(errors)) => Err(errors
                    .into_iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect::<Vec<_>>()),
                Err(other) => panic!("{other}"),
            }
        };
        assert_eq!(read(Value::Null), Ok(vec![AuthenticationMethod::EmailLink]));
        assert_eq!(
            read(json!(["email_code"])),
            Ok(vec![AuthenticationMethod::EmailCode])
        );
        assert_eq!(
            read(json!(["email_link", "email_code"])),
            Ok(vec![
                AuthenticationMethod::EmailLink,
                AuthenticationMethod::EmailCode
            ])
        );
        assert_eq!(
            read(json!([])),
            Err(vec![
                "r.authentication: must be a non-empty array of \"email_link\" and \"email_code\""
                    .to_owned()
            ])
        );
        assert_eq!(
            read(json!("email_code")).unwrap_err().len(),
            1,
            "a string is not a list"
        );
        assert_eq!(
            read(json!(["email_code", "sms", "email_code", 3])),
            Err(vec![
                "r.authentication[1]: must be \"email_link\" or \"email_code\"".to_owned(),
                "r.authentication[2]: is repeated".to_owned(),
                "r.authentication[3]: must be \"email_link\" or \"email_code\"".to_owned(),
            ])
        );
    }

    #[test]
    fn the_newest_code_says_where_it_stands() {
        let now = UnixTime::from_secs(1_000);
        let row = |expires_at, failed_attempts, used_at| CodeRow {
            id: "vcd_1".to_owned(),
            code_digest: String::new(),
            expires_at,
            failed_attempts,
            used_at,
        };
        assert_eq!(state_of(None, now), CodeState::NoneWaiting);
        assert_eq!(
            state_of(Some(&row(1_400, 2, None)), now),
            CodeState::Active {
                expires_in_secs: 400,
                attempts_left: 3
            }
        );
        assert_eq!(
            state_of(Some(&row(1_000, 0, None)), now),
            CodeState::Expired
        );
        assert_eq!(state_of(Some(&row(1_400, 5, None)), now), CodeState::Locked);
        assert_eq!(
            state_of(Some(&row(1_400, 0, Some(990))), now),
            CodeState::Used
        );
    }
}
