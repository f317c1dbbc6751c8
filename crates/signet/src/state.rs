//! The one application state, built once by [`AppState::build`] for
//! `signet serve` and for every admin command alike. Every long-lived part
//! (clients, connections, the bearer guard, limits, caches) lives here;
//! the routers and per-crate states are cheap views of it.

use signet_identity::Identity;
use signet_oauth::address_limit::AddressLimit;
use signet_oauth::cimd::MetadataDocuments;
use signet_oauth::clients::Clients;
use signet_oauth::connections::Connections;
use signet_oauth::grants::{Grants, TokenSettings};
use signet_oauth::token_state::TokenStates;
use signet_oauth::{Issuer, KeyRing};
use signet_store::{SharedClock, Store};

use crate::config::Config;
use crate::serve::{ServeError, open_store};

/// Everything a request or a command may need, built once.
#[derive(Debug)]
pub struct AppState {
    pub config: Config,
    /// The public URL, byte-identical in every document and token.
    pub issuer: Issuer,
    pub store: Store,
    pub clock: SharedClock,
    pub identity: Identity,
    pub keys: KeyRing,
    pub grants: Grants,
    /// Registered and metadata-document clients.
    pub clients: Clients,
    pub connections: Connections,
    /// The `/mcp` bearer check, with its caches.
    pub guard: signet_mcp::guard::Guard,
    /// Calls counted per connection, flushed in batches.
    pub usage: signet_oauth::usage::Usage,
    /// The e-signature engine behind the tools and the signing page.
    pub esign: signet_esign::Esign,
    /// Client ID metadata documents, cached.
    pub metadata_documents: MetadataDocuments,
    /// Dynamic registrations per client address.
    pub registration_limit: AddressLimit,
    /// Sign-in attempts per client address, whatever the emails tried.
    pub sign_in_limit: AddressLimit,
    /// Whether deliverables are sealed by the operator's certificate or the instance's own.
    pub seal_origin: crate::seal::SealOrigin,
}

impl AppState {
    /// Opens and migrates the database and builds every part on it. Starts
    /// nothing in the background (serving, listening for other instances'
    /// events and housekeeping are `serve`'s). `issuer` is the public URL:
    /// the configured one, or the one `serve` derives from the address it
    /// bound.
    pub async fn build(
        config: Config,
        clock: SharedClock,
        issuer: Issuer,
    ) -> Result<Self, ServeError> {
        let store = open_store(&config).await?;
        let keys = KeyRing::new(
            store.clone(),
            clock.clone(),
            config.key_encryption_key.clone(),
            config.access_token_ttl,
        );
        let identity = Identity::new(store.clone(), clock.clone());
        let grants = Grants::new(
            store.clone(),
            clock.clone(),
            keys.clone(),
            issuer.clone(),
            TokenSettings {
                access_token_ttl: config.access_token_ttl,
                refresh_token_ttl: config.refresh_token_ttl,
                refresh_grace: config.refresh_grace,
            },
        );
        // One fetcher, one allow-list, for documents and metadata documents alike.
        let fetcher = signet_fetch::Fetcher::new(config.fetch_allow_hosts.clone())
            .map_err(|e| ServeError::Engine(e.to_string()))?;
        let metadata_documents =
            MetadataDocuments::new(fetcher.clone(), store.clone(), clock.clone());
        let clients = Clients::new(store.clone(), clock.clone())
            .with_metadata_documents(metadata_documents.clone());
        let connections = Connections::new(store.clone(), clock.clone());
        let usage = signet_oauth::usage::Usage::default();
        let guard = signet_mcp::guard::Guard::new(
            issuer.clone(),
            grants.clone(),
            TokenStates::new(store.clone()),
            identity.clone(),
            usage.clone(),
            clock.clone(),
        );
        let (sealer, seal_origin) =
            crate::seal::sealer(&config, &store, &issuer, clock.now()).await?;
        let esign =
            crate::serve::engine(&config, &store, &clock, &issuer, fetcher)?.with_sealer(sealer);
        let registration_limit = AddressLimit::new(
            config.registration_burst,
            config.registration_per_hour,
            clock.clone(),
        );
        let sign_in_limit =
            AddressLimit::new(config.sign_in_burst, config.sign_in_per_hour, clock.clone());
        Ok(Self {
            config,
            issuer,
            store,
            clock,
            identity,
            keys,
            grants,
            clients,
            connections,
            guard,
            usage,
            esign,
            metadata_documents,
            registration_limit,
            sign_in_limit,
            seal_origin,
        })
    }

    /// The state for a command run outside `serve`: the configured public
    /// URL, or the one the listen address implies.
    pub async fn for_command(config: Config, clock: SharedClock) -> Result<Self, ServeError> {
        let issuer = match &config.public_url {
            Some(issuer) => issuer.clone(),
            None => Issuer::for_listen_address(config.listen),
        };
        Self::build(config, clock, issuer).await
    }
}
