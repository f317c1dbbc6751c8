//! Tool arguments, read from JSON by hand so that every violation is found
//! and reported at once (a typed deserializer stops at the first).

use serde_json::{Map, Value};

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

        places::check_owners(&mut c, &places, &recipients);
        c.finish(Self {
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
        match NewEnvelope::parse(value.as_object().unwrap(), &ok) {
            Ok(e) => Ok(e),
            Err(EsignError::Validation(errors)) => Err(errors),
            Err(other) => panic!("{other}"),
        }
    }

    fn fields(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|e| e.field.as_str()).collect()
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
