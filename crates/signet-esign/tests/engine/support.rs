//! Setup shared by every case: an engine on a throwaway database with a
//! manual clock, documents (an upload made through the engine's own upload
//! API, or a loopback host for a fetch that is held or fails), the states
//! an envelope can be brought to, and the ways a signer and an agent see
//! the result (the outbox, the event stream, the signing page).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::routing::get;
use serde_json::{Map, Value, json};
use signet_esign::model::{Envelope, EnvelopeStatus, Recipient};
use signet_esign::{Caller, Esign, EsignError, Mailer};
use signet_fetch::{AllowedHost, Fetcher};
use signet_store::audit::Actor;
use signet_store::testing::TestDb;
use signet_store::{ManualClock, UnixTime};
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt;

/// The public URL links are built from; signing links are `PUBLIC_URL/sign/…`.
pub const PUBLIC_URL: &str = "https://signet.test";
/// Where the manual clock starts (2027-01-15), so timestamps are exact.
pub const T0: i64 = 1_800_000_000;
/// The address the signing page is told the signer acts from.
pub const SIGNER_IP: &str = "203.0.113.9";
pub const TITLE: &str = "Mutual NDA";

/// A recipient as `create_envelope` takes it.
#[derive(Clone, Copy, Debug)]
pub struct Person {
    pub key: &'static str,
    pub name: &'static str,
    pub email: &'static str,
}

pub const ANN: Person = Person {
    key: "ann",
    name: "Ann Lee",
    email: "ann@example.com",
};
pub const BOB: Person = Person {
    key: "bob",
    name: "Bob Chen",
    email: "bob@example.com",
};
/// Replacements: they take someone else's key.
pub const CARA: Person = Person {
    key: "-",
    name: "Cara Diaz",
    email: "cara@example.com",
};
pub const DAN: Person = Person {
    key: "-",
    name: "Dan Roe",
    email: "dan@example.com",
};
/// A third original recipient.
pub const EVE: Person = Person {
    key: "eve",
    name: "Eve Park",
    email: "eve@example.com",
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Routing {
    Sequential,
    Parallel,
}

impl Routing {
    fn as_str(self) -> &'static str {
        match self {
            Self::Sequential => "sequential",
            Self::Parallel => "parallel",
        }
    }
}

/// The recipient states a sent request can reach.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnnIs {
    Sent,
    Completed,
    Rejected,
    Replaced,
}

/// Where an envelope's document comes from.
#[derive(Clone, Copy, Debug)]
pub enum Doc {
    /// A PDF uploaded through `mint_upload_url` and `put_upload`.
    Upload,
    /// A PDF on the loopback host that answers only when the test releases
    /// it: the envelope stays `processing` until then.
    Held,
    /// Plain text on the loopback host: the envelope fails.
    NotPdf,
}

/// A loopback host serving documents, on the fetcher's allow-list.
pub struct DocHost {
    pub base: String,
    /// `127.0.0.1:port`, as the fetcher's allow-list names it.
    pub authority: String,
    gate: Arc<Semaphore>,
    /// How many requests for `/held.pdf` have arrived.
    pub hits: watch::Receiver<usize>,
}

impl DocHost {
    /// Lets `n` held requests answer.
    pub fn release(&self, n: usize) {
        self.gate.add_permits(n);
    }
}

async fn doc_host() -> DocHost {
    let gate = Arc::new(Semaphore::new(0));
    let (hit, hits) = watch::channel(0usize);
    let held_gate = gate.clone();
    let app = Router::new()
        .route(
            "/held.pdf",
            get(move || {
                let gate = held_gate.clone();
                hit.send_modify(|n| *n += 1);
                async move {
                    gate.acquire().await.unwrap().forget();
                    signet_esign::pdf::sample(1, "Held")
                }
            }),
        )
        .route("/notes.txt", get(|| async { "just some text" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    DocHost {
        base: format!("http://{addr}"),
        authority: addr.to_string(),
        gate,
        hits,
    }
}

/// One engine on one database, acting for the organization Acme.
pub struct Engine {
    pub esign: Esign,
    pub clock: Arc<ManualClock>,
    pub caller: Caller,
    /// A second organization, to show ids do not cross organizations.
    pub other: Caller,
    pub docs: DocHost,
    pages: Router,
    /// Last, so the database outlives everything that uses it.
    pub db: TestDb,
}

/// The fetcher and mailer every engine of these tests uses.
pub fn parts(docs_authority: &str) -> (Fetcher, Mailer) {
    let allow = AllowedHost::parse_list(docs_authority).unwrap();
    (
        Fetcher::new(allow).unwrap(),
        Mailer::new(None, "Signet <signet@signet.test>").unwrap(),
    )
}

pub async fn engine(db: TestDb) -> Engine {
    let clock = Arc::new(ManualClock::new(UnixTime::from_secs(T0)));
    let docs = doc_host().await;
    let (fetcher, mailer) = parts(&docs.authority);
    let esign = Esign::new(db.store.clone(), clock.clone(), PUBLIC_URL, fetcher, mailer);
    // Organizations belong to signet-identity: made through its API.
    let identity = signet_identity::Identity::new(db.store.clone(), clock.clone());
    let caller = |org: signet_identity::Organization| Caller {
        org_id: org.id,
        user_id: "usr_tester".to_owned(),
        connection_id: None,
        live_mode: false,
    };
    let acme = identity
        .create_organization(&Actor::System, "Acme", None)
        .await
        .unwrap();
    let beta = identity
        .create_organization(&Actor::System, "Beta", None)
        .await
        .unwrap();
    Engine {
        pages: signet_esign::http::router(esign.clone()),
        esign,
        clock,
        caller: caller(acme),
        other: caller(beta),
        docs,
        db,
    }
}

/// `T0` plus `seconds`, as the engine reports times.
pub fn at(seconds: i64) -> UnixTime {
    UnixTime::from_secs(T0 + seconds)
}

/// What the signing page answered.
#[derive(Debug)]
pub struct Page {
    pub status: StatusCode,
    pub location: Option<String>,
    pub body: String,
}

impl Page {
    /// Signed or declined: redirected back to the page (post/redirect/get).
    pub fn assert_done(&self, token: &str) {
        assert_eq!(self.status, StatusCode::SEE_OTHER, "{}", self.body);
        assert_eq!(
            self.location.as_deref(),
            Some(format!("/sign/{token}").as_str())
        );
    }

    /// `CeremonyError::Closed`: 409 "Nothing to sign" and why.
    pub fn assert_closed(&self, why: &str) {
        self.assert_message(
            StatusCode::CONFLICT,
            "Nothing to sign",
            &format!("This request can no longer be signed: {why}"),
        );
    }

    /// `CeremonyError::UnknownLink`: 404 "Link not valid".
    pub fn assert_unknown_link(&self) {
        self.assert_message(
            StatusCode::NOT_FOUND,
            "Link not valid",
            "This signing link is not valid. It may have been replaced by a newer one; check your latest email.",
        );
    }

    fn assert_message(&self, status: StatusCode, title: &str, text: &str) {
        assert_eq!(self.status, status, "{}", self.body);
        assert!(
            self.body.contains(&format!("<h1>{title}</h1>")),
            "{title:?} missing: {}",
            self.body
        );
        assert!(
            self.body.contains(&format!("<p>{text}</p>")),
            "{text:?} missing: {}",
            self.body
        );
    }
}

pub const UNKNOWN_LINK: &str = "UnknownLink";

/// An engine refusal of the given problem type, status and detail.
#[track_caller]
pub fn assert_refused<T: std::fmt::Debug>(
    result: Result<T, EsignError>,
    kind: &str,
    status: u16,
    detail: &str,
) -> EsignError {
    let error = result.expect_err("the engine should have refused");
    let problem = error.problem();
    assert_eq!(problem["type"], kind, "{problem}");
    assert_eq!(problem["status"], status, "{problem}");
    assert_eq!(problem["detail"], detail, "{problem}");
    error
}

/// Arguments as a tool passes them.
pub fn args(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

pub fn recipient<'a>(envelope: &'a Envelope, email: &str) -> &'a Recipient {
    envelope
        .recipients
        .iter()
        .find(|r| r.email == email)
        .unwrap_or_else(|| panic!("no recipient {email}: {envelope:?}"))
}

/// Recipients as `(email, status)`, in routing order.
/// An envelope with its event count and emails, before an operation.
pub struct Snapshot {
    pub envelope: Envelope,
    events: usize,
    emails: Vec<(String, String)>,
}

pub fn statuses(envelope: &Envelope) -> Vec<(String, String)> {
    envelope
        .recipients
        .iter()
        .map(|r| (r.email.clone(), r.status.to_string()))
        .collect()
}

pub fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

impl Engine {
    pub fn doc_url(&self, path: &str) -> String {
        format!("{}/{path}", self.docs.base)
    }

    /// A PDF uploaded the way an agent uploads one; returns the document URL.
    pub async fn upload(&self) -> String {
        let minted = self
            .esign
            .mint_upload_url(&self.caller, &args(json!({ "filename": "NDA.pdf" })))
            .await
            .unwrap();
        let token = minted
            .upload_url
            .split_once("?token=")
            .map(|(_, t)| t.to_owned())
            .unwrap();
        self.esign
            .put_upload(
                &minted.upload_id,
                &token,
                Some("application/pdf"),
                &signet_esign::pdf::sample(2, "NDA"),
            )
            .await
            .unwrap();
        minted.url
    }

    pub async fn envelope_args(&self, routing: Routing, doc: Doc, people: &[Person]) -> Value {
        let url = match doc {
            Doc::Upload => self.upload().await,
            Doc::Held => self.doc_url("held.pdf"),
            Doc::NotPdf => self.doc_url("notes.txt"),
        };
        let recipients: Vec<Value> = people
            .iter()
            .map(|p| json!({ "key": p.key, "name": p.name, "email": p.email }))
            .collect();
        json!({
            "title": TITLE,
            "message": "Please sign by Friday.",
            "routing": routing.as_str(),
            "documents": [{ "url": url }],
            "recipients": recipients,
        })
    }

    /// Creates (and sends) an envelope; the answer is what was committed.
    pub async fn create(&self, routing: Routing, doc: Doc, people: &[Person]) -> Envelope {
        let arguments = self.envelope_args(routing, doc, people).await;
        let created = self
            .esign
            .create_envelope(&self.caller, &args(arguments))
            .await
            .unwrap();
        assert_eq!(created.status, EnvelopeStatus::Processing);
        created
    }

    /// What a refused operation must leave as it was.
    pub async fn snapshot(&self, envelope_id: &str) -> Snapshot {
        Snapshot {
            envelope: self.get(envelope_id).await,
            events: self.events(envelope_id).await.len(),
            emails: self.emails(envelope_id).await,
        }
    }

    /// Asserts nothing changed since `before`: statuses, events, emails.
    pub async fn assert_unchanged(&self, envelope_id: &str, before: &Snapshot) {
        let after = self.get(envelope_id).await;
        assert_eq!(after.status, before.envelope.status);
        assert_eq!(statuses(&after), statuses(&before.envelope));
        assert_eq!(self.new_events(envelope_id, before.events).await.len(), 0);
        assert_eq!(self.emails(envelope_id).await, before.emails);
    }

    pub async fn get(&self, envelope_id: &str) -> Envelope {
        self.esign
            .get_envelope(&self.caller, envelope_id)
            .await
            .unwrap()
    }

    /// `processing`: the document fetch has reached the host and is held.
    pub async fn processing(&self, routing: Routing, people: &[Person]) -> Envelope {
        let before = *self.docs.hits.borrow();
        let created = self.create(routing, Doc::Held, people).await;
        let mut hits = self.docs.hits.clone();
        tokio::time::timeout(Duration::from_secs(10), hits.wait_for(|n| *n > before))
            .await
            .expect("the document fetch never reached the host")
            .unwrap();
        let envelope = self.get(&created.envelope_id).await;
        assert_eq!(envelope.status, EnvelopeStatus::Processing);
        envelope
    }

    /// Lets a held envelope's fetch finish and waits until it has started.
    pub async fn finish_processing(&self, envelope_id: &str) -> Envelope {
        self.docs.release(1);
        self.wait_for_event(envelope_id, "envelope.started").await;
        let envelope = self.get(envelope_id).await;
        assert_eq!(envelope.status, EnvelopeStatus::InProgress);
        envelope
    }

    /// `in_progress`: documents checked, the first recipient(s) asked.
    pub async fn in_progress(&self, routing: Routing, people: &[Person]) -> Envelope {
        let created = self.create(routing, Doc::Upload, people).await;
        self.wait_for_event(&created.envelope_id, "envelope.started")
            .await;
        let envelope = self.get(&created.envelope_id).await;
        assert_eq!(envelope.status, EnvelopeStatus::InProgress);
        envelope
    }

    /// `completed`: everyone signed and the deliverable has been generated.
    pub async fn completed(&self, people: &[Person]) -> Envelope {
        let envelope = self.in_progress(Routing::Parallel, people).await;
        for person in people {
            let token = self.link_for(&envelope.envelope_id, person.email).await;
            self.sign(&token, person.name).await.assert_done(&token);
        }
        self.wait_for_event(&envelope.envelope_id, "deliverable.generated")
            .await;
        let envelope = self.get(&envelope.envelope_id).await;
        assert_eq!(envelope.status, EnvelopeStatus::Completed);
        envelope
    }

    /// A sequential envelope of Ann then Bob, in progress, with Ann in the
    /// given state (Bob is `pending` throughout, except that he is asked
    /// once Ann has signed). Returns the envelope and Ann's signing token
    /// (the one she was sent: dead once she is replaced).
    pub async fn ann_then_bob(&self, ann: AnnIs) -> (Envelope, String) {
        let envelope = self.in_progress(Routing::Sequential, &[ANN, BOB]).await;
        let id = envelope.envelope_id.clone();
        let token = self.link_for(&id, ANN.email).await;
        match ann {
            AnnIs::Sent => {}
            AnnIs::Completed => self.sign(&token, ANN.name).await.assert_done(&token),
            AnnIs::Rejected => self
                .decline(&token, "Wrong amount")
                .await
                .assert_done(&token),
            AnnIs::Replaced => {
                self.advance(1);
                self.replace(&id, &recipient(&envelope, ANN.email).recipient_id, CARA)
                    .await
                    .unwrap();
            }
        }
        let envelope = self.get(&id).await;
        assert_eq!(envelope.status, EnvelopeStatus::InProgress);
        let expected: &[(&str, &str)] = match ann {
            AnnIs::Sent => &[(ANN.email, "sent"), (BOB.email, "pending")],
            AnnIs::Completed => &[(ANN.email, "completed"), (BOB.email, "sent")],
            AnnIs::Rejected => &[(ANN.email, "rejected"), (BOB.email, "pending")],
            AnnIs::Replaced => &[
                (ANN.email, "replaced"),
                (CARA.email, "sent"),
                (BOB.email, "pending"),
            ],
        };
        assert_eq!(statuses(&envelope), pairs(expected));
        (envelope, token)
    }

    /// `canceled`, while in progress, with a reason.
    pub async fn canceled(&self, routing: Routing, people: &[Person]) -> Envelope {
        let envelope = self.in_progress(routing, people).await;
        let canceled = self
            .esign
            .cancel_envelope(&self.caller, &envelope.envelope_id, Some("Terms changed"))
            .await
            .unwrap();
        assert_eq!(canceled.status, EnvelopeStatus::Canceled);
        canceled
    }

    /// `failed`: the document is not a PDF.
    pub async fn failed(&self, routing: Routing, people: &[Person]) -> Envelope {
        let created = self.create(routing, Doc::NotPdf, people).await;
        self.wait_for_event(&created.envelope_id, "envelope.failed")
            .await;
        let envelope = self.get(&created.envelope_id).await;
        assert_eq!(envelope.status, EnvelopeStatus::Failed);
        assert_eq!(
            envelope.failure_reason.as_deref(),
            Some("Document 1 (notes.txt): The document is not a PDF")
        );
        envelope
    }

    /// The envelope's events, oldest first.
    pub async fn events(&self, envelope_id: &str) -> Vec<Value> {
        let page = self
            .esign
            .list_events(
                &self.caller,
                &args(json!({ "envelope_id": envelope_id, "limit": 100 })),
            )
            .await
            .unwrap();
        assert_eq!(page["has_more"], false);
        page["events"].as_array().unwrap().clone()
    }

    /// The types of the events after the first `seen`.
    pub async fn new_events(&self, envelope_id: &str, seen: usize) -> Vec<Value> {
        self.events(envelope_id).await.split_off(seen)
    }

    /// Waits (long-polling `list_events`, woken by the commit, never
    /// sleeping) until the envelope has an event of this type.
    pub async fn wait_for_event(&self, envelope_id: &str, kind: &str) -> Vec<Value> {
        let mut seen: Vec<Value> = Vec::new();
        let mut cursor = Value::Null;
        for _ in 0..50 {
            let page = self
                .esign
                .list_events(
                    &self.caller,
                    &args(
                        json!({ "envelope_id": envelope_id, "after": cursor, "wait_seconds": 30 }),
                    ),
                )
                .await
                .unwrap();
            seen.extend(page["events"].as_array().unwrap().iter().cloned());
            cursor = page["next_cursor"].clone();
            if seen.iter().any(|e| e["type"] == kind) {
                return seen;
            }
            assert_eq!(page["timed_out"], false, "no {kind} event: {seen:?}");
        }
        panic!("no {kind} event: {seen:?}");
    }

    /// The envelope's test-mode emails as `(kind, to)`, sorted (emails of
    /// one second have no order of their own).
    pub async fn emails(&self, envelope_id: &str) -> Vec<(String, String)> {
        let mut emails: Vec<(String, String)> = self
            .outbox(envelope_id)
            .await
            .iter()
            .map(|e| {
                (
                    e["kind"].as_str().unwrap().to_owned(),
                    e["to"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        emails.sort();
        emails
    }

    async fn outbox(&self, envelope_id: &str) -> Vec<Value> {
        let page = self
            .esign
            .list_emails(
                &self.caller,
                &args(json!({ "envelope_id": envelope_id, "limit": 100 })),
            )
            .await
            .unwrap();
        page["emails"].as_array().unwrap().clone()
    }

    /// The signing token of the newest request to `to`, read as the signer
    /// reads it: from the link in the email's body.
    pub async fn link_for(&self, envelope_id: &str, to: &str) -> String {
        let requests: Vec<Value> = self
            .outbox(envelope_id)
            .await
            .into_iter()
            .filter(|e| {
                e["to"] == to && (e["kind"] == "signing_request" || e["kind"] == "reminder")
            })
            .collect();
        // RFC 3339 times of one format sort as they read.
        let newest = requests
            .iter()
            .map(|e| e["created_at"].as_str().unwrap())
            .max()
            .unwrap_or_else(|| panic!("no signing request to {to}"));
        let latest: Vec<&Value> = requests
            .iter()
            .filter(|e| e["created_at"] == newest)
            .collect();
        assert_eq!(latest.len(), 1, "several requests to {to} in one second");
        let email = self
            .esign
            .get_email(&self.caller, latest[0]["email_id"].as_str().unwrap())
            .await
            .unwrap();
        let body = email.body.unwrap();
        let prefix = format!("{PUBLIC_URL}/sign/");
        let link = body
            .lines()
            .find(|line| line.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no signing link in {body:?}"));
        assert_eq!(
            email.link.as_deref(),
            Some(link),
            "the link field is the body's"
        );
        link[prefix.len()..].to_owned()
    }

    /// Asserts that nobody has been sent a signing link for this envelope.
    pub async fn assert_no_link_exists(&self, envelope_id: &str) {
        assert_eq!(
            self.emails(envelope_id).await,
            Vec::<(String, String)>::new()
        );
        for r in &self.get(envelope_id).await.recipients {
            assert_eq!(r.released_at, None, "{} was released", r.email);
        }
    }

    /// Where the signing page says the holder of `token` stands
    /// (`open_ceremony`): `Ok("Open" | "Completed" | "Rejected" |
    /// "AnsweredThenCanceled" | "Closed")`,
    /// or the refusal (`Err("UnknownLink")`). Opening an open request
    /// records `recipient.viewed` the first time.
    pub async fn ceremony(&self, token: &str) -> Result<String, String> {
        self.esign
            .open_ceremony(token, None)
            .await
            .map(|c| format!("{:?}", c.state))
            .map_err(|e| format!("{e:?}"))
    }

    /// Signs through the signing page, as the signer's browser does.
    pub async fn sign(&self, token: &str, signature: &str) -> Page {
        self.act(
            token,
            &[
                ("action", "sign"),
                ("signature", signature),
                ("consent", "yes"),
            ],
        )
        .await
    }

    /// Declines through the signing page.
    pub async fn decline(&self, token: &str, reason: &str) -> Page {
        self.act(token, &[("action", "reject"), ("reason", reason)])
            .await
    }

    async fn act(&self, token: &str, form: &[(&str, &str)]) -> Page {
        submit(self.pages(), token, form).await
    }

    /// The engine's pages (`/sign/…`), to post to from a task of its own.
    pub fn pages(&self) -> Router {
        self.pages.clone()
    }

    /// Replaces a recipient with `person`.
    pub async fn replace(
        &self,
        envelope_id: &str,
        recipient_id: &str,
        person: Person,
    ) -> Result<Envelope, EsignError> {
        self.esign
            .replace_recipient(
                &self.caller,
                &args(json!({
                    "envelope_id": envelope_id,
                    "recipient_id": recipient_id,
                    "name": person.name,
                    "email": person.email,
                })),
            )
            .await
    }

    pub async fn resend(
        &self,
        envelope_id: &str,
        recipient_id: &str,
    ) -> Result<Envelope, EsignError> {
        self.esign
            .resend_request(&self.caller, envelope_id, recipient_id)
            .await
    }

    pub async fn cancel(&self, envelope_id: &str) -> Result<Envelope, EsignError> {
        self.esign
            .cancel_envelope(&self.caller, envelope_id, Some("No longer needed"))
            .await
    }

    pub async fn delete(&self, envelope_id: &str) -> Result<Value, EsignError> {
        self.esign.delete_envelope(&self.caller, envelope_id).await
    }

    pub fn advance(&self, seconds: u64) {
        self.clock.advance(Duration::from_secs(seconds));
    }
}

/// Event types, for comparing with a list.
pub fn types(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

/// An event's `(type, recipient email)` against the envelope's recipients.
pub fn who(events: &[Value], envelope: &Envelope) -> Vec<(String, String)> {
    events
        .iter()
        .map(|e| {
            let email = e["recipient_id"]
                .as_str()
                .and_then(|id| envelope.recipients.iter().find(|r| r.recipient_id == id))
                .map(|r| r.email.clone())
                .unwrap_or_default();
            (e["type"].as_str().unwrap().to_owned(), email)
        })
        .collect()
}

/// Posts the signing page's form, as the signer's browser does.
pub async fn submit(pages: Router, token: &str, form: &[(&str, &str)]) -> Page {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let mut request = Request::post(format!("/sign/{token}"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::USER_AGENT, "engine-tests")
        .body(Body::from(body))
        .unwrap();
    // What the binary's edge layer resolves for every request.
    request
        .extensions_mut()
        .insert(signet_http::ClientAddr(SIGNER_IP.parse().unwrap()));
    let response = pages.oneshot(request).await.unwrap();
    let status = response.status();
    let location = response
        .headers()
        .get(header::LOCATION)
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    Page {
        status,
        location,
        body: String::from_utf8(bytes.to_vec()).unwrap(),
    }
}
