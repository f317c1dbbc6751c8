//! Tool arguments, read from JSON by hand so that every violation is found
//! and reported at once (a typed deserializer stops at the first).

use serde_json::{Map, Value};
use signet_store::UnixTime;

use crate::error::{EsignError, FieldError};
use crate::model::{DeliverableType, DeliveryType, Mode, RecipientType, Routing, SignatureMethod};
use crate::places::{self, NewPlace};

pub const MAX_TITLE: usize = 200;
pub const MAX_MESSAGE: usize = 5000;
pub const MAX_LABEL: usize = 100;
pub const MAX_TOPICS: usize = 10;
pub const MAX_METADATA: usize = 10;
pub const MAX_METADATA_KEY: usize = 40;
pub const MAX_METADATA_VALUE: usize = 500;
pub const MAX_DOCUMENTS: usize = 10;
pub const MAX_RECIPIENTS: usize = 10;
pub const MAX_NAME: usize = 200;
pub const MAX_EMAIL: usize = 254;
pub const MAX_KEY: usize = 64;
pub const MAX_CANCEL_REASON: usize = 2000;
pub const MAX_LIST_LIMIT: i64 = 100;
/// Reminder intervals and the time to expiry: at least an hour (people
/// need time to sign, and mail must not be a flood), at most a year.
pub const MIN_SCHEDULE_SECONDS: u64 = 3600;
pub const MAX_SCHEDULE_SECONDS: u64 = 365 * 86_400;
/// Automatic reminders per recipient.
pub const MAX_REMINDERS: i64 = 20;
/// When `reminders.max` is not given.
pub const DEFAULT_REMINDERS: i64 = 3;

#[derive(Clone, Debug)]
pub struct NewEnvelope {
    pub mode: Mode,
    pub title: String,
    pub message: Option<String>,
    pub label: Option<String>,
    pub routing: Routing,
    pub topics: Vec<String>,
    pub metadata: Map<String, Value>,
    pub documents: Vec<NewDocument>,
    pub recipients: Vec<NewRecipient>,
    /// Every document's places, in request order (each knows its document).
    pub(crate) places: Vec<NewPlace>,
    /// IANA time zone the dates stamped on the page are shown in.
    pub timezone: String,
    /// Whether the certificate of completion follows the documents.
    pub deliverable_type: DeliverableType,
    /// Automatic reminders, if any.
    pub reminders: Option<Reminders>,
    /// When the envelope expires if still open (`expires_in` from now, or `expires_at`).
    pub expires_at: Option<UnixTime>,
}

/// Automatic reminders: the first `first_after` seconds after a recipient
/// was asked, then every `every` seconds, at most `max` per recipient.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reminders {
    pub first_after: u64,
    pub every: u64,
    pub max: i64,
}

impl Reminders {
    /// As `get_envelope` shows them (durations written as they are read).
    pub fn settings(&self) -> crate::model::ReminderSettings {
        crate::model::ReminderSettings {
            first_after: format_duration(self.first_after),
            every: format_duration(self.every),
            max: self.max,
        }
    }
}

/// A duration as tools take them: a whole number and a unit, `s`, `m`,
/// `h` or `d` (`90s`, `30m`, `12h`, `3d`), as in Signet's configuration.
pub fn parse_duration(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let unit_secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    number.checked_mul(unit_secs)
}

/// Seconds in the largest unit that writes them exactly (`259200` → `3d`).
pub fn format_duration(seconds: u64) -> String {
    for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60)] {
        if seconds > 0 && seconds.is_multiple_of(size) {
            return format!("{}{unit}", seconds / size);
        }
    }
    format!("{seconds}s")
}

/// What the schedule bounds say, for messages.
fn schedule_bounds() -> String {
    format!(
        "between {} and {}",
        format_duration(MIN_SCHEDULE_SECONDS),
        format_duration(MAX_SCHEDULE_SECONDS)
    )
}

#[derive(Clone, Debug)]
pub struct NewDocument {
    pub url: String,
    pub name: Option<String>,
}

#[derive(Clone, Debug)]
pub struct NewRecipient {
    pub key: String,
    pub kind: RecipientType,
    pub name: String,
    pub email: String,
    pub delivery_type: DeliveryType,
    pub signature_options: Vec<SignatureMethod>,
    /// How they prove who they are (`email_link` unless they must enter a code).
    pub authentication: Vec<crate::model::AuthenticationMethod>,
}

/// Collects every problem of one request.
#[derive(Debug, Default)]
pub struct Checker {
    errors: Vec<FieldError>,
}

impl Checker {
    pub fn fail(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, message));
    }

    pub fn finish<T>(self, value: T) -> Result<T, EsignError> {
        if self.errors.is_empty() {
            Ok(value)
        } else {
            Err(EsignError::Validation(self.errors))
        }
    }

    /// A string field: `None` when absent or null. Trimmed; empty counts as absent.
    pub fn text(
        &mut self,
        object: &Map<String, Value>,
        key: &str,
        path: &str,
        max: usize,
    ) -> Option<String> {
        match object.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => {
                let s = s.trim();
                if s.chars().count() > max {
                    self.fail(path, format!("must be at most {max} characters"));
                    None
                } else if s.is_empty() {
                    None
                } else {
                    Some(s.to_owned())
                }
            }
            Some(_) => {
                self.fail(path, "must be a string");
                None
            }
        }
    }

    /// A one-line text (a title, a name): it may end up in an email header
    /// or a file name, so control characters are refused.
    pub fn line(
        &mut self,
        object: &Map<String, Value>,
        key: &str,
        path: &str,
        max: usize,
        required: bool,
    ) -> Option<String> {
        let value = if required {
            self.required_text(object, key, path, max)
        } else {
            self.text(object, key, path, max)
        };
        match value {
            Some(v) if v.chars().any(char::is_control) => {
                self.fail(path, "must be one line without control characters");
                None
            }
            other => other,
        }
    }

    pub fn required_text(
        &mut self,
        object: &Map<String, Value>,
        key: &str,
        path: &str,
        max: usize,
    ) -> Option<String> {
        let present = matches!(object.get(key), Some(Value::String(_)));
        let value = self.text(object, key, path, max);
        if value.is_none() && (present || matches!(object.get(key), None | Some(Value::Null))) {
            // Only one message per field: a type error was already reported.
            if !self.errors.iter().any(|e| e.field == path) {
                self.fail(path, "is required");
            }
        }
        value
    }

    /// An array field; `None` (with an error) when present but not an array.
    pub fn array<'a>(
        &mut self,
        object: &'a Map<String, Value>,
        key: &str,
    ) -> Option<&'a Vec<Value>> {
        match object.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::Array(items)) => Some(items),
            Some(_) => {
                self.fail(key, "must be an array");
                None
            }
        }
    }

    pub fn integer(&mut self, object: &Map<String, Value>, key: &str) -> Option<i64> {
        match object.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) if n.as_i64().is_some() => n.as_i64(),
            Some(Value::String(s)) if s.trim().parse::<i64>().is_ok() => s.trim().parse().ok(),
            Some(_) => {
                self.fail(key, "must be an integer");
                None
            }
        }
    }
}

/// Reminders and expiry.
impl Checker {
    /// A duration field (`3d`, `12h`, `30m`) within the schedule bounds, in seconds.
    pub fn schedule_duration(
        &mut self,
        object: &Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Option<u64> {
        let text = self.text(object, key, path, 20)?;
        let Some(seconds) = parse_duration(&text) else {
            self.fail(
                path,
                "must be a duration such as \"3d\", \"12h\" or \"30m\" (a whole number and s, m, h or d)",
            );
            return None;
        };
        if !(MIN_SCHEDULE_SECONDS..=MAX_SCHEDULE_SECONDS).contains(&seconds) {
            self.fail(path, format!("must be {}", schedule_bounds()));
            return None;
        }
        Some(seconds)
    }

    /// `reminders: { first_after, every, max }`: `every` defaults to
    /// `first_after`, `max` to [`DEFAULT_REMINDERS`].
    fn reminders(&mut self, args: &Map<String, Value>) -> Option<Reminders> {
        let object = match args.get("reminders") {
            None | Some(Value::Null) => return None,
            Some(Value::Object(object)) => object,
            Some(_) => {
                self.fail(
                    "reminders",
                    "must be an object { first_after, every, max }, e.g. { \"first_after\": \"3d\", \"every\": \"2d\", \"max\": 3 }",
                );
                return None;
            }
        };
        let first_after = if matches!(object.get("first_after"), None | Some(Value::Null)) {
            self.fail("reminders.first_after", "is required, e.g. \"3d\"");
            None
        } else {
            self.schedule_duration(object, "first_after", "reminders.first_after")
        };
        let every = match object.get("every") {
            None | Some(Value::Null) => first_after,
            Some(_) => self.schedule_duration(object, "every", "reminders.every"),
        };
        let max = match object.get("max") {
            None | Some(Value::Null) => Some(DEFAULT_REMINDERS),
            Some(Value::Number(n))
                if n.as_i64().is_some_and(|m| (1..=MAX_REMINDERS).contains(&m)) =>
            {
                n.as_i64()
            }
            Some(_) => {
                self.fail(
                    "reminders.max",
                    format!("must be a whole number from 1 to {MAX_REMINDERS}"),
                );
                None
            }
        };
        Some(Reminders {
            first_after: first_after?,
            every: every?,
            max: max?,
        })
    }

    /// `expires_in` (a duration from `now`) or `expires_at` (RFC 3339), not both.
    fn expiry(&mut self, args: &Map<String, Value>, now: UnixTime) -> Option<UnixTime> {
        let given = |key: &str| !matches!(args.get(key), None | Some(Value::Null));
        if given("expires_in") && given("expires_at") {
            self.fail(
                "expires_at",
                "cannot be given with expires_in: give one or the other",
            );
            return None;
        }
        if given("expires_in") {
            let seconds = self.schedule_duration(args, "expires_in", "expires_in")?;
            return Some(now.plus(std::time::Duration::from_secs(seconds)));
        }
        let text = self.text(args, "expires_at", "expires_at", 64)?;
        let Ok(at) = text.parse::<jiff::Timestamp>() else {
            self.fail(
                "expires_at",
                "must be an RFC 3339 time with its offset, such as \"2027-01-31T17:00:00Z\"",
            );
            return None;
        };
        let at = UnixTime::from_secs(at.as_second());
        let ahead = at.as_secs().saturating_sub(now.as_secs());
        let bounds = MIN_SCHEDULE_SECONDS as i64..=MAX_SCHEDULE_SECONDS as i64;
        if !bounds.contains(&ahead) {
            self.fail(
                "expires_at",
                format!("must be {} from now", schedule_bounds()),
            );
            return None;
        }
        Some(at)
    }
}

fn is_topic(topic: &str) -> bool {
    let mut bytes = topic.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z'))
        && topic.len() <= 32
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

pub(crate) fn is_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= MAX_KEY
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A plausible mailbox: one `@`, a local part, a domain with a dot (or
/// `localhost`), no spaces or angle brackets that could smuggle headers.
pub fn is_email(email: &str) -> bool {
    let Some((local, domain)) = email.rsplit_once('@') else {
        return false;
    };
    let clean = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| !c.is_whitespace() && !c.is_control() && !"<>(),;:\"[]\\@".contains(c))
    };
    email.len() <= MAX_EMAIL
        && clean(local)
        && clean(domain)
        && (domain.contains('.') || domain == "localhost")
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
}

/// `deliverable: { type }`: `standard` (the default) or `simple`.
fn deliverable_type(c: &mut Checker, args: &Map<String, Value>) -> DeliverableType {
    match args.get("deliverable") {
        None | Some(Value::Null) => DeliverableType::Standard,
        Some(Value::Object(object)) => {
            if let Some(unknown) = object.keys().find(|k| k.as_str() != "type") {
                c.fail(
                    format!("deliverable.{unknown}"),
                    "is not a known option; the only one is type",
                );
            }
            match c.text(object, "type", "deliverable.type", 20).as_deref() {
                None => DeliverableType::Standard,
                Some(text) => DeliverableType::parse(text).unwrap_or_else(|| {
                    c.fail(
                        "deliverable.type",
                        "must be \"standard\" (the documents and the certificate of completion) or \"simple\" (the documents only)",
                    );
                    DeliverableType::Standard
                }),
            }
        }
        Some(_) => {
            c.fail(
                "deliverable",
                "must be an object such as {\"type\": \"standard\"}",
            );
            DeliverableType::Standard
        }
    }
}

impl NewEnvelope {
    /// Reads `create_envelope` arguments. `check_url` judges each document
    /// URL (scheme, address, upload reference) and says what is wrong.
    pub fn parse(
        args: &Map<String, Value>,
        check_url: &dyn Fn(&str) -> Result<(), String>,
        now: UnixTime,
    ) -> Result<Self, EsignError> {
        let mut c = Checker::default();
        let mode = match c.text(args, "mode", "mode", 10).as_deref() {
            None | Some("test") => Mode::Test,
            Some("live") => Mode::Live,
            Some(_) => {
                c.fail("mode", "must be \"test\" or \"live\"");
                Mode::Test
            }
        };
        let title = c
            .line(args, "title", "title", MAX_TITLE, true)
            .unwrap_or_default();
        let message = c.text(args, "message", "message", MAX_MESSAGE);
        let label = c.line(args, "label", "label", MAX_LABEL, false);
        let routing = match c.text(args, "routing", "routing", 20).as_deref() {
            None | Some("sequential") => Routing::Sequential,
            Some("parallel") => Routing::Parallel,
            Some(_) => {
                c.fail("routing", "must be \"sequential\" or \"parallel\"");
                Routing::Sequential
            }
        };

        let mut topics = Vec::new();
        if let Some(items) = c.array(args, "topics") {
            if items.len() > MAX_TOPICS {
                c.fail("topics", format!("at most {MAX_TOPICS} topics"));
            }
            for (i, item) in items.iter().enumerate() {
                match item.as_str() {
                    Some(t) if is_topic(t) => {
                        if topics.iter().any(|seen| seen == t) {
                            c.fail(format!("topics[{i}]"), "is repeated");
                        } else {
                            topics.push(t.to_owned());
                        }
                    }
                    _ => c.fail(format!("topics[{i}]"), "must match ^[a-z][a-z0-9_]{0,31}$"),
                }
            }
        }

        let mut metadata = Map::new();
        match args.get("metadata") {
            None | Some(Value::Null) => {}
            Some(Value::Object(pairs)) => {
                if pairs.len() > MAX_METADATA {
                    c.fail("metadata", format!("at most {MAX_METADATA} entries"));
                }
                for (key, value) in pairs {
                    let path = format!("metadata.{key}");
                    if key.is_empty() || key.chars().count() > MAX_METADATA_KEY {
                        c.fail(
                            &path,
                            format!("keys must be 1 to {MAX_METADATA_KEY} characters"),
                        );
                    }
                    match value {
                        Value::String(s) if s.chars().count() <= MAX_METADATA_VALUE => {
                            metadata.insert(key.clone(), value.clone());
                            let _ = s;
                        }
                        Value::String(_) => c.fail(
                            &path,
                            format!("values must be at most {MAX_METADATA_VALUE} characters"),
                        ),
                        _ => c.fail(&path, "values must be strings"),
                    }
                }
            }
            Some(_) => c.fail("metadata", "must be an object of string values"),
        }

        let timezone = match c.text(args, "timezone", "timezone", 64) {
            None => "UTC".to_owned(),
            Some(name) => match jiff::tz::TimeZone::get(&name) {
                Ok(_) => name,
                Err(_) => {
                    c.fail(
                        "timezone",
                        "must be an IANA time zone name, such as \"Europe/Paris\" or \"UTC\"",
                    );
                    "UTC".to_owned()
                }
            },
        };
        let deliverable_type = deliverable_type(&mut c, args);
        let mut documents = Vec::new();
        let mut places = Vec::new();
        match c.array(args, "documents") {
            None if !c.errors.iter().any(|e| e.field == "documents") => {
                c.fail("documents", "is required: 1 to 10 documents")
            }
            None => {}
            Some(items) => {
                if items.is_empty() || items.len() > MAX_DOCUMENTS {
                    c.fail(
                        "documents",
                        format!("must hold 1 to {MAX_DOCUMENTS} documents"),
                    );
                }
                for (i, item) in items.iter().enumerate() {
                    let path = format!("documents[{i}]");
                    let Some(object) = item.as_object() else {
                        c.fail(&path, "must be an object with a url");
                        continue;
                    };
                    let url = c.required_text(object, "url", &format!("{path}.url"), 2048);
                    if let Some(url) = &url
                        && let Err(message) = check_url(url)
                    {
                        c.fail(format!("{path}.url"), message);
                    }
                    let name = c.line(object, "name", &format!("{path}.name"), MAX_NAME, false);
                    places.extend(places::parse_document_places(&mut c, object, i));
                    if let Some(url) = url {
                        documents.push(NewDocument { url, name });
                    }
                }
            }
        }

        let mut recipients: Vec<NewRecipient> = Vec::new();
        match c.array(args, "recipients") {
            None if !c.errors.iter().any(|e| e.field == "recipients") => {
                c.fail("recipients", "is required: 1 to 10 recipients")
            }
            None => {}
            Some(items) => {
                if items.is_empty() || items.len() > MAX_RECIPIENTS {
                    c.fail(
                        "recipients",
                        format!("must hold 1 to {MAX_RECIPIENTS} recipients"),
                    );
                }
                for (i, item) in items.iter().enumerate() {
                    let path = format!("recipients[{i}]");
                    let Some(object) = item.as_object() else {
                        c.fail(&path, "must be an object");
                        continue;
                    };
                    if let Some(recipient) = parse_recipient(&mut c, object, &path) {
                        if recipients.iter().any(|r| r.key == recipient.key) {
                            c.fail(format!("{path}.key"), "is used by another recipient");
                        }
                        recipients.push(recipient);
                    }
                }
            }
        }

        let reminders = c.reminders(args);
        let expires_at = c.expiry(args, now);
        places::check_owners(&mut c, &places, &recipients);
        c.finish(Self {
            reminders,
            expires_at,
            places,
            timezone,
            deliverable_type,
            mode,
            title,
            message,
            label,
            routing,
            topics,
            metadata,
            documents,
            recipients,
        })
    }
}

/// One recipient's fields, shared by `create_envelope` and `replace_recipient`.
pub fn parse_recipient(
    c: &mut Checker,
    object: &Map<String, Value>,
    path: &str,
) -> Option<NewRecipient> {
    let at = |field: &str| {
        if path.is_empty() {
            field.to_owned()
        } else {
            format!("{path}.{field}")
        }
    };
    let key = c.required_text(object, "key", &at("key"), MAX_KEY);
    if let Some(key) = &key
        && !is_key(key)
    {
        c.fail(at("key"), "may hold only letters, digits, '_' and '-'");
    }
    let kind = match c.text(object, "type", &at("type"), 20).as_deref() {
        None | Some("signer") => RecipientType::Signer,
        Some("approver") => RecipientType::Approver,
        Some(_) => {
            c.fail(at("type"), "must be \"signer\" or \"approver\"");
            RecipientType::Signer
        }
    };
    let name = c.line(object, "name", &at("name"), MAX_NAME, true);
    let email = c.required_text(object, "email", &at("email"), MAX_EMAIL);
    if let Some(email) = &email
        && !is_email(email)
    {
        c.fail(at("email"), "is not a valid email address");
    }
    let delivery_type = match c.text(object, "delivery_type", &at("delivery_type"), 20) {
        None => DeliveryType::Email,
        Some(text) => DeliveryType::parse(&text).unwrap_or_else(|| {
            c.fail(
                at("delivery_type"),
                "must be \"email\" (the only delivery this server offers)",
            );
            DeliveryType::Email
        }),
    };
    let mut signature_options = Vec::new();
    match object.get("signature_options") {
        None | Some(Value::Null) => signature_options = SignatureMethod::ALL.to_vec(),
        Some(Value::Array(items)) if !items.is_empty() => {
            for (i, item) in items.iter().enumerate() {
                match item.as_str().and_then(SignatureMethod::parse) {
                    Some(method) if !signature_options.contains(&method) => {
                        signature_options.push(method)
                    }
                    Some(_) => c.fail(format!("{}[{i}]", at("signature_options")), "is repeated"),
                    None => c.fail(
                        format!("{}[{i}]", at("signature_options")),
                        "must be \"typed\" or \"drawn\"",
                    ),
                }
            }
        }
        Some(_) => c.fail(
            at("signature_options"),
            "must be a non-empty array of \"typed\" and \"drawn\"",
        ),
    }
    let authentication = crate::codes::parse_authentication(c, object, &at("authentication"));
    Some(NewRecipient {
        authentication,
        signature_options,
        key: key?,
        kind,
        name: name?,
        email: email?,
        delivery_type,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(value: Value) -> Result<NewEnvelope, Vec<FieldError>> {
        let ok = |url: &str| {
            if url.starts_with("https://") {
                Ok(())
            } else {
                Err("must be an https URL".to_owned())
            }
        };
        match NewEnvelope::parse(value.as_object().unwrap(), &ok, UnixTime::from_secs(NOW)) {
            Ok(e) => Ok(e),
            Err(EsignError::Validation(errors)) => Err(errors),
            Err(other) => panic!("{other}"),
        }
    }

    fn fields(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|e| e.field.as_str()).collect()
    }

    /// 2027-01-15T08:00:00Z, the "now" envelopes are parsed at.
    const NOW: i64 = 1_800_000_000;

    /// A valid envelope with `extra` arguments.
    fn with(extra: Value) -> Value {
        let mut args = json!({
            "title": "NDA",
            "documents": [{"url": "https://example.com/nda.pdf"}],
            "recipients": [{"key": "a", "name": "Ann", "email": "ann@example.com"}],
        });
        for (key, value) in extra.as_object().unwrap() {
            args[key] = value.clone();
        }
        args
    }

    #[test]
    fn durations_are_a_number_and_a_unit() {
        assert_eq!(parse_duration("90s"), Some(90));
        assert_eq!(parse_duration("30m"), Some(1800));
        assert_eq!(parse_duration(" 12h "), Some(43_200));
        assert_eq!(parse_duration("3d"), Some(259_200));
        for bad in [
            "",
            "3",
            "d",
            "3 d",
            "3w",
            "1.5h",
            "-1h",
            "3dd",
            "1h30m",
            "99999999999999999999d",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
        assert_eq!(format_duration(259_200), "3d");
        assert_eq!(format_duration(90_000), "25h");
        assert_eq!(format_duration(5400), "90m");
        assert_eq!(format_duration(61), "61s");
    }

    #[test]
    fn reminders_and_expiry_parse_with_defaults() {
        let e = parse(with(
            json!({ "reminders": { "first_after": "3d" }, "expires_in": "14d" }),
        ))
        .unwrap();
        assert_eq!(
            e.reminders,
            Some(Reminders {
                first_after: 3 * 86_400,
                every: 3 * 86_400,
                max: DEFAULT_REMINDERS
            })
        );
        assert_eq!(e.expires_at, Some(UnixTime::from_secs(NOW + 14 * 86_400)));
        let e = parse(with(json!({
            "reminders": { "first_after": "1h", "every": "365d", "max": 20 },
            "expires_at": "2027-01-15T10:00:00+01:00",
        })))
        .unwrap();
        assert_eq!(
            e.reminders,
            Some(Reminders {
                first_after: 3600,
                every: 365 * 86_400,
                max: 20
            })
        );
        // 10:00 at +01:00 is 09:00Z: an hour after NOW.
        assert_eq!(e.expires_at, Some(UnixTime::from_secs(NOW + 3600)));
        let e = parse(with(json!({ "reminders": null, "expires_in": null }))).unwrap();
        assert_eq!((e.reminders, e.expires_at), (None, None));
    }

    #[test]
    fn every_reminder_and_expiry_problem_is_named() {
        let problems = |extra: Value| -> Vec<(String, String)> {
            parse(with(extra))
                .unwrap_err()
                .into_iter()
                .map(|e| (e.field, e.message))
                .collect()
        };
        let errors = problems(json!({
            "reminders": { "every": "59m", "max": 21 },
            "expires_in": "3d",
            "expires_at": "2027-02-01T00:00:00Z",
        }));
        assert_eq!(
            errors,
            vec![
                (
                    "reminders.first_after".to_owned(),
                    "is required, e.g. \"3d\"".to_owned()
                ),
                (
                    "reminders.every".to_owned(),
                    "must be between 1h and 365d".to_owned()
                ),
                (
                    "reminders.max".to_owned(),
                    "must be a whole number from 1 to 20".to_owned()
                ),
                (
                    "expires_at".to_owned(),
                    "cannot be given with expires_in: give one or the other".to_owned()
                ),
            ]
        );
        let errors = problems(json!({
            "reminders": { "first_after": "3 days", "every": 7200, "max": 0 },
            "expires_in": "366d",
        }));
        assert_eq!(
            fields_of(&errors),
            vec![
                "reminders.first_after",
                "reminders.every",
                "reminders.max",
                "expires_in"
            ]
        );
        assert!(errors[0].1.contains("\"3d\""), "{errors:?}");
        assert_eq!(errors[3].1, "must be between 1h and 365d");
        assert_eq!(
            fields_of(&problems(json!({ "reminders": "3d", "expires_in": "0h" }))),
            vec!["reminders", "expires_in"]
        );
        // In the past, too soon, too far, or not RFC 3339.
        for at in [
            "2027-01-15T07:00:00Z",
            "2027-01-15T08:30:00Z",
            "2028-01-16T08:00:01Z",
            "2027-01-20",
            "next friday",
        ] {
            let errors = problems(json!({ "expires_at": at }));
            assert_eq!(fields_of(&errors), vec!["expires_at"], "{at}");
        }
        assert_eq!(
            problems(json!({ "expires_at": "2027-01-15T07:00:00Z" }))[0].1,
            "must be between 1h and 365d from now"
        );
    }

    fn fields_of(errors: &[(String, String)]) -> Vec<&str> {
        errors.iter().map(|(f, _)| f.as_str()).collect()
    }

    #[test]
    fn a_minimal_envelope_parses_with_defaults() {
        let e = parse(json!({
            "title": " NDA ",
            "documents": [{"url": "https://example.com/nda.pdf"}],
            "recipients": [{"key": "a", "name": "Ann", "email": "ann@example.com"}],
        }))
        .unwrap();
        assert_eq!(e.title, "NDA");
        assert_eq!(e.mode, Mode::Test);
        assert_eq!(e.routing, Routing::Sequential);
        assert_eq!(e.recipients[0].kind, RecipientType::Signer);
        assert_eq!(e.recipients[0].delivery_type, DeliveryType::Email);
    }

    #[test]
    fn every_violation_is_reported_at_once() {
        let errors = parse(json!({
            "mode": "prod",
            "title": 5,
            "routing": "random",
            "topics": ["Bad", "ok", "ok", "x".repeat(33)],
            "metadata": {"a": 1, "b": "x".repeat(501)},
            "documents": [{"url": "http://example.com/a.pdf"}, "nope", {}],
            "recipients": [
                {"key": "a", "name": "Ann", "email": "not-an-email", "type": "witness", "delivery_type": "fax"},
                {"key": "a", "email": "b@example.com"},
                {"key": "bad key!", "name": "C", "email": "c@example.com"}
            ],
        }))
        .unwrap_err();
        assert_eq!(
            fields(&errors),
            vec![
                "mode",
                "title",
                "routing",
                "topics[0]",
                "topics[2]",
                "topics[3]",
                "metadata.a",
                "metadata.b",
                "documents[0].url",
                "documents[1]",
                "documents[2].url",
                "recipients[0].type",
                "recipients[0].email",
                "recipients[0].delivery_type",
                "recipients[1].name",
                "recipients[2].key",
            ]
        );
    }

    #[test]
    fn counts_are_bounded() {
        let doc = json!({"url": "https://example.com/a.pdf"});
        let errors = parse(json!({
            "title": "t",
            "topics": (0..11).map(|i| format!("t{i}")).collect::<Vec<_>>(),
            "metadata": (0..11).map(|i| (format!("k{i}"), json!("v"))).collect::<Map<_, _>>(),
            "documents": vec![doc; 11],
            "recipients": [],
        }))
        .unwrap_err();
        assert_eq!(
            fields(&errors),
            vec!["topics", "metadata", "documents", "recipients"]
        );
        let errors = parse(json!({"title": "t"})).unwrap_err();
        assert_eq!(fields(&errors), vec!["documents", "recipients"]);
        let errors = parse(json!({"title": "t", "documents": {}, "recipients": "x"})).unwrap_err();
        assert_eq!(fields(&errors), vec!["documents", "recipients"]);
    }

    #[test]
    fn names_and_titles_are_single_lines() {
        let errors = parse(json!({
            "title": "Offer\r\nBcc: x@y.z",
            "documents": [{ "url": "https://example.com/a.pdf", "name": "a\u{0}b" }],
            "recipients": [{ "key": "a", "name": "Ann\nEvil", "email": "a@example.com" }],
        }))
        .unwrap_err();
        assert_eq!(
            fields(&errors),
            vec!["title", "documents[0].name", "recipients[0].name"]
        );
    }

    #[test]
    fn emails_are_checked() {
        for good in ["a@example.com", "a.b+c@sub.example.org", "x@localhost"] {
            assert!(is_email(good), "{good}");
        }
        for bad in [
            "",
            "a",
            "a@",
            "@b.com",
            "a@b",
            "a b@c.com",
            "a@b..com",
            "a@.b.com",
            "<a@b.com>",
            "a@b.com\r\nBcc: x@y.z",
        ] {
            assert!(!is_email(bad), "{bad:?}");
        }
    }
}
