//! The embedded e-signature engine: envelopes and their documents and
//! recipients, the signing ceremony, events to wait on, the email outbox,
//! uploads and deliverables. Tool-facing methods live with their noun
//! (`envelopes`, `recipients`, `events`, `outbox`, `deliverables`); every
//! status change goes through `transitions`. Everything lives in the database (document
//! bytes included), so any instance of a PostgreSQL deployment can serve
//! any request.
//!
//! Word documents become PDF through [`DocxConverter`] (LibreOffice), when
//! the server has one.
//!
//! Tools call [`Esign`] with a [`Caller`] (the principal's organization,
//! user and connection); the signing page, uploads and deliverable
//! downloads are served by [`http::router`].

mod ceremony;
mod certificate;
pub mod codes;
pub mod convert;
mod deliverables;
mod envelopes;
pub mod error;
pub mod events;
mod flow;
pub mod http;
pub mod input;
mod links;
pub mod model;
pub mod outbox;
mod page_images;
pub mod pdf;
pub mod places;
mod recipients;
mod rows;
pub mod scheduler;
pub mod seal_keys;
pub mod sealing;
mod transitions;
mod uploads;
pub mod verification;

use std::sync::Arc;

use signet_fetch::Fetcher;
use signet_store::{SharedClock, Store};

pub use ceremony::ESIGN_CONSENT;
pub use codes::sweep_expired as sweep_codes;
pub use convert::{ConvertError, DocxConverter};
pub use error::{EsignError, FieldError};
pub use events::Notifier;
pub use outbox::Mailer;
pub use uploads::MintedUpload;
pub use uploads::sweep_expired;

/// Who is asking: tools act within one organization, as one user, through
/// one connection.
#[derive(Clone, Debug)]
pub struct Caller {
    pub org_id: String,
    pub user_id: String,
    pub connection_id: Option<String>,
    /// Whether the organization's account may create live envelopes.
    pub live_mode: bool,
}

/// The engine handle, cheap to clone.
#[derive(Clone, Debug)]
pub struct Esign {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Store,
    clock: SharedClock,
    /// The public URL (no trailing slash) links are built from.
    public_url: String,
    fetcher: Fetcher,
    mailer: Mailer,
    notifier: Notifier,
    links: links::LinkSigner,
    docx: DocxConverter,
    page_images: page_images::PageImages,
    /// The instance's seal; deliverables are sealed with it when set.
    seal: Option<sealing::Sealer>,
}

impl Esign {
    pub fn new(
        store: Store,
        clock: SharedClock,
        public_url: &str,
        fetcher: Fetcher,
        mailer: Mailer,
    ) -> Self {
        let links = links::LinkSigner::new(store.clone(), clock.clone());
        Self {
            inner: Arc::new(Inner {
                store,
                clock,
                public_url: public_url.trim_end_matches('/').to_owned(),
                fetcher,
                mailer,
                notifier: Notifier::default(),
                links,
                docx: DocxConverter::disabled(),
                page_images: page_images::PageImages::default(),
                seal: None,
            }),
        }
    }

    /// Word documents are converted with `converter` (off by default). Call
    /// it right after [`Esign::new`]: a handle already cloned keeps what it
    /// had, with a warning.
    pub fn with_docx_converter(mut self, converter: DocxConverter) -> Self {
        match Arc::get_mut(&mut self.inner) {
            Some(inner) => inner.docx = converter,
            None => tracing::warn!(
                "the DOCX converter was set on an engine handle already shared; it is ignored"
            ),
        }
        self
    }

    /// Deliverables are sealed by `sealer` (PAdES). Call it right after
    /// [`Esign::new`], like [`Esign::with_docx_converter`].
    pub fn with_sealer(mut self, sealer: sealing::Sealer) -> Self {
        match Arc::get_mut(&mut self.inner) {
            Some(inner) => inner.seal = Some(sealer),
            None => tracing::warn!(
                "the seal key was set on an engine handle already shared; it is ignored"
            ),
        }
        self
    }

    /// The instance's seal, when deliverables are sealed.
    pub fn sealer(&self) -> Option<&sealing::Sealer> {
        self.inner.seal.as_ref()
    }

    /// Wakes long-polls; on PostgreSQL also for events other instances commit.
    pub fn notifier(&self) -> &Notifier {
        &self.inner.notifier
    }

    /// Work left unfinished by a previous run (a stop while documents were
    /// being fetched, or before a deliverable was written) is picked up.
    pub async fn resume(&self) -> Result<(), EsignError> {
        flow::resume(self).await
    }

    /// Turns Word documents into PDF (possibly [`DocxConverter::disabled`]).
    pub(crate) fn docx(&self) -> &DocxConverter {
        &self.inner.docx
    }

    fn store(&self) -> &Store {
        &self.inner.store
    }

    fn now(&self) -> signet_store::UnixTime {
        self.inner.clock.now()
    }
}
