//! `signet serve`: bind, prepare the database and keys, bootstrap the first
//! owner, and run until told to stop.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use signet_identity::{IdentityError, InitialOwner};
use signet_oauth::{Issuer, KeyError};
use signet_store::{SharedClock, Store, StoreError};
use thiserror::Error;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::app::{self, AppState};
use crate::config::Config;

/// Name of the organization created on first start.
pub const FIRST_ORGANIZATION: &str = "My organization";
/// File, in the data directory, that holds the first owner's password.
pub const INITIAL_PASSWORD_FILE: &str = "initial-admin-password";
/// How long in-flight requests get to finish after a stop signal.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Error)]
pub enum ServeError {
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: io::Error },
    #[error("cannot create data directory {path}: {source}")]
    DataDir { path: PathBuf, source: io::Error },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error("first-start bootstrap failed: {0}")]
    Bootstrap(#[from] IdentityError),
    #[error("cannot start the e-signature engine: {0}")]
    Engine(String),
    #[error("server failed: {0}")]
    Server(io::Error),
}

/// A server that is accepting requests.
#[derive(Debug)]
pub struct Running {
    pub local_addr: SocketAddr,
    pub state: Arc<AppState>,
    /// What first start created, if this was the first start.
    pub initial_owner: Option<InitialOwner>,
    /// Where the first owner's password was written, if it was.
    pub password_file: Option<PathBuf>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<io::Result<()>>,
    flusher: JoinHandle<()>,
    scheduler: JoinHandle<()>,
    /// PostgreSQL: the token-state listener and pinger of this instance.
    coherent: Option<signet_store::Coherent>,
}

impl Running {
    /// Stops accepting connections, lets in-flight requests finish (for at
    /// most 10 s), writes the pending usage counts and closes the pool.
    pub async fn stop(self) -> Result<(), ServeError> {
        let _ = self.stop.send(());
        let mut task = self.task;
        let outcome = match tokio::time::timeout(DRAIN_TIMEOUT, &mut task).await {
            Ok(Ok(result)) => result.map_err(ServeError::Server),
            Ok(Err(join_error)) => Err(ServeError::Server(io::Error::other(join_error))),
            Err(_) => {
                tracing::warn!("requests still running after {DRAIN_TIMEOUT:?}; closing them");
                task.abort();
                Ok(())
            }
        };
        self.flusher.abort();
        // A run cut short rolls back; another instance or the next start redoes it.
        self.scheduler.abort();
        if let Some(coherent) = self.coherent {
            coherent.stop().await;
        }
        if let Err(error) = self.state.usage.flush(&self.state.store).await {
            tracing::warn!(%error, "could not record connection usage at shutdown");
        }
        self.state.store.close().await;
        outcome
    }
}

/// Prepares everything and starts serving in the background.
pub async fn start(config: Config, clock: SharedClock) -> Result<Running, ServeError> {
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServeError::Bind {
            addr: config.listen,
            source,
        })?;
    let local_addr = listener.local_addr().map_err(|source| ServeError::Bind {
        addr: config.listen,
        source,
    })?;
    let issuer = match &config.public_url {
        Some(issuer) => issuer.clone(),
        None => Issuer::for_listen_address(local_addr),
    };

    let state = Arc::new(AppState::build(config, clock, issuer).await?);
    let (config, issuer) = (&state.config, &state.issuer);
    if let Some(kid) = state.keys.ensure_active_key().await? {
        tracing::info!(%kid, "created the first signing key");
    }
    state.keys.check_active_key().await?;
    let initial_owner = state
        .identity
        .bootstrap(&config.admin_email, FIRST_ORGANIZATION)
        .await?;
    let password_file = match &initial_owner {
        Some(owner) => {
            let path = config.data_dir.join(INITIAL_PASSWORD_FILE);
            match write_secret_file(&path, owner.password.expose()) {
                Ok(()) => Some(path),
                Err(error) => {
                    tracing::warn!(path = %path.display(), %error, "could not save the initial password; it is shown once on the terminal");
                    None
                }
            }
        }
        None => None,
    };
    if !issuer.is_https() && !local_addr.ip().is_loopback() {
        tracing::warn!(public_url = %issuer, "the public URL is plain http on a non-loopback address: put Signet behind TLS and set --public-url https://…");
    }
    // Several instances on PostgreSQL: caches are trusted only while this
    // instance hears every change (signet_store::coherence).
    let coherent = state.store.keep_coherent();
    if state.store.backend() == signet_store::Backend::Postgres {
        state
            .esign
            .notifier()
            .listen_postgres(config.database_url.clone());
    }
    if let Err(error) = state.esign.resume().await {
        tracing::warn!(%error, "could not resume unfinished envelopes");
    }
    let router = app::router(state.clone());
    let flusher = tokio::spawn(housekeeping(state.clone()));
    let scheduler = tokio::spawn(timed_duties(state.esign.clone(), state.clock.clone()));
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async {
            let _ = stopped.await;
        })
        .await
    });
    Ok(Running {
        local_addr,
        state,
        initial_owner,
        password_file,
        stop,
        task,
        flusher,
        scheduler,
        coherent,
    })
}

/// How often the e-signature scheduler looks for due reminders and expiries.
const SCHEDULER_INTERVAL: Duration = Duration::from_secs(5);

/// Runs the engine's timed duties every [`SCHEDULER_INTERVAL`], at once
/// again while a run had more due than one batch, and whenever a manual
/// clock moves (tests). Failures are logged and the loop goes on; several
/// instances may run it on one database (each duty is claimed once).
async fn timed_duties(esign: signet_esign::Esign, clock: SharedClock) {
    let mut moves = clock.moves();
    loop {
        let again = match signet_esign::scheduler::run_due(&esign).await {
            Ok(ran) => {
                if ran.done() > 0 || ran.failed > 0 {
                    tracing::info!(
                        expired = ran.expired,
                        reminded = ran.reminded,
                        failed = ran.failed,
                        "ran timed e-signature duties"
                    );
                }
                ran.more && ran.done() > 0
            }
            Err(error) => {
                tracing::warn!(%error, "timed e-signature duties failed; will retry");
                false
            }
        };
        if again {
            tokio::task::yield_now().await;
            continue;
        }
        tokio::select! {
            () = tokio::time::sleep(SCHEDULER_INTERVAL) => {}
            () = clock_moved(&mut moves) => {}
        }
    }
}

/// Resolves when the clock is moved by hand; never for the wall clock.
async fn clock_moved(moves: &mut Option<tokio::sync::watch::Receiver<u64>>) {
    match moves {
        Some(receiver) => {
            if receiver.changed().await.is_err() {
                // The clock is gone: only the interval is left.
                *moves = None;
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending::<()>().await,
    }
}

/// How often counted calls reach the database.
const USAGE_FLUSH_INTERVAL: Duration = Duration::from_secs(30);
/// Idle dynamically registered clients are looked for every this many flushes (1 h).
const CLIENT_CLEAN_UP_EVERY: u32 = 120;

/// Background chores: writing counted calls, and hourly sweeping expired
/// rows and removing idle dynamically registered clients.
async fn housekeeping(state: Arc<AppState>) {
    let clients = &state.clients;
    let mut ticks = tokio::time::interval(USAGE_FLUSH_INTERVAL);
    ticks.tick().await;
    let mut count: u32 = 0;
    loop {
        ticks.tick().await;
        if let Err(error) = state.usage.flush(&state.store).await {
            tracing::warn!(%error, "could not record connection usage; will retry");
        }
        count = count.wrapping_add(1);
        if count % CLIENT_CLEAN_UP_EVERY == 1 {
            match crate::janitor::sweep(&state.store, state.clock.now()).await {
                Ok(swept) if swept.total() > 0 => tracing::info!(?swept, "removed expired rows"),
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "could not remove expired rows; will retry"),
            }
            match clients.clean_up_idle(state.config.client_idle_ttl).await {
                Ok(done) if done.deleted + done.retired > 0 => {
                    tracing::info!(
                        deleted = done.deleted,
                        retired = done.retired,
                        "removed idle clients"
                    );
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "could not clean up idle clients; will retry"),
            }
        }
    }
}

/// The e-signature engine with its fetcher, mailer and DOCX converter
/// (`serve` also has it listen for events other instances commit, on
/// PostgreSQL).
pub(crate) fn engine(
    config: &Config,
    store: &Store,
    clock: &SharedClock,
    issuer: &signet_oauth::Issuer,
    fetcher: signet_fetch::Fetcher,
) -> Result<signet_esign::Esign, ServeError> {
    let from = config.email_from.clone().unwrap_or_else(|| {
        let host = url::Url::parse(issuer.as_str())
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .filter(|h| h.contains('.') && !h.starts_with('['))
            .unwrap_or_else(|| "localhost".to_owned());
        format!("Signet <signet@{host}>")
    });
    let mailer =
        signet_esign::Mailer::new(config.smtp_url.as_deref(), &from).map_err(ServeError::Engine)?;
    let docx = signet_esign::DocxConverter::from_setting(config.docx_converter.as_deref());
    match (docx.program(), &config.docx_converter) {
        (Some(program), _) => {
            tracing::info!(program = %program.display(), "DOCX documents are converted to PDF");
        }
        (None, Some(_)) => tracing::info!("DOCX conversion is turned off (SIGNET_DOCX_CONVERTER)"),
        (None, None) => tracing::info!(
            "DOCX conversion is off: no soffice on the PATH (install LibreOffice or set SIGNET_DOCX_CONVERTER)"
        ),
    }
    let esign = signet_esign::Esign::new(
        store.clone(),
        clock.clone(),
        issuer.as_str(),
        fetcher,
        mailer,
    )
    .with_docx_converter(docx);
    Ok(esign)
}

/// Opens and migrates the configured database, creating the data directory
/// (which also holds the SQLite file) if needed.
pub async fn open_store(config: &Config) -> Result<Store, ServeError> {
    ensure_dir(&config.data_dir)?;
    let store = Store::connect(&config.database_url).await?;
    store.migrate().await?;
    Ok(store)
}

/// Creates the data directory readable by its owner only: it holds the
/// database (password hashes, signing keys) and the initial password.
fn ensure_dir(path: &Path) -> Result<(), ServeError> {
    use std::os::unix::fs::DirBuilderExt;
    if path.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|source| ServeError::DataDir {
            path: path.to_path_buf(),
            source,
        })
}

/// Writes a file only its owner can read (mode 0600), replacing any old one.
fn write_secret_file(path: &Path, contents: &str) -> io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    // `mode` only applies when the file is created; an older file keeps its
    // permissions unless they are set again.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    writeln!(file, "{contents}")?;
    file.sync_all()
}

/// Resolves when the process is asked to stop (SIGINT or SIGTERM). The
/// handlers are installed when this is called, not when it is first
/// awaited: a signal that arrives while the server starts or prints its
/// banner is still a graceful stop, never the default kill.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let interrupt = signal(SignalKind::interrupt());
        let terminate = signal(SignalKind::terminate());
        async move {
            let wait = |installed: std::io::Result<tokio::signal::unix::Signal>| async move {
                match installed {
                    Ok(mut signal) => {
                        signal.recv().await;
                    }
                    Err(_) => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = wait(interrupt) => tracing::info!("SIGINT received; shutting down"),
                () = wait(terminate) => tracing::info!("SIGTERM received; shutting down"),
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("SIGINT received; shutting down");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_files_are_private_even_when_they_existed() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_secret_file(&path, "new").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new\n");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
