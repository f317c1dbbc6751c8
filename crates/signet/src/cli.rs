//! The command line. Every flag has a `SIGNET_*` environment twin and a
//! key in the config file (see `config.rs`); clap only collects flags.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::Layer;

#[derive(Debug, Parser)]
#[command(
    name = "signet",
    version,
    about = "Self-hostable MCP server for e-signatures, with its own OAuth 2.1 authorization server.",
    after_help = "Every flag also reads a SIGNET_* environment variable (e.g. SIGNET_LISTEN) and a key \
                  in the config file; a flag beats the environment, which beats the file."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Accepted before or after the subcommand, by every subcommand.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// TOML config file [env: SIGNET_CONFIG]
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Directory for the SQLite database and the initial password [env: SIGNET_DATA_DIR] [default: ./signet-data]
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<String>,
    /// sqlite://PATH or postgres://USER:PASSWORD@HOST/DB [env: SIGNET_DATABASE_URL] [default: sqlite://DATA_DIR/signet.db]
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (migrates the database and, on first start, creates the owner)
    Serve(Box<ServeArgs>),
    /// Apply pending database migrations and exit
    Migrate,
    /// Manage users
    #[command(subcommand)]
    User(UserCommand),
    /// Manage organizations and their members
    #[command(subcommand)]
    Org(OrgCommand),
    /// Manage the account linked to an organization
    #[command(subcommand)]
    Account(AccountCommand),
    /// Register, list and remove OAuth clients
    #[command(subcommand)]
    Clients(ClientsCommand),
    /// List and disconnect connected applications
    #[command(subcommand)]
    Connections(ConnectionsCommand),
    /// Manage the keys that sign access tokens
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Read the audit trail
    #[command(subcommand)]
    Audit(AuditCommand),
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// List audit events, newest first
    List {
        /// Only this organization (id or exact name)
        #[arg(long)]
        org: Option<String>,
        /// Only this kind of event (e.g. consent.granted)
        #[arg(long)]
        kind: Option<String>,
        /// Only events this recent (e.g. 1h, 7d)
        #[arg(long, value_name = "DURATION")]
        since: Option<String>,
        /// At most this many events
        #[arg(long, default_value_t = 100)]
        limit: u32,
        #[command(flatten)]
        json: JsonFlag,
    },
}

#[derive(Debug, Default, Args)]
pub struct ServeArgs {
    /// Address to listen on [env: SIGNET_LISTEN] [default: 127.0.0.1:8080]
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// URL clients use to reach Signet, without a path [env: SIGNET_PUBLIC_URL] [default: derived from --listen]
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,
    /// text or json [env: SIGNET_LOG_FORMAT] [default: text]
    #[arg(long, value_name = "FORMAT")]
    pub log_format: Option<String>,
    /// Log level or filter directives [env: SIGNET_LOG_LEVEL] [default: info]
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// Lifetime of access tokens, 60s to 24h [env: SIGNET_ACCESS_TOKEN_TTL] [default: 1h]
    #[arg(long, value_name = "DURATION")]
    pub access_token_ttl: Option<String>,
    /// Refresh tokens expire after this long unused, 1h to 365d [env: SIGNET_REFRESH_TOKEN_TTL] [default: 30d]
    #[arg(long, value_name = "DURATION")]
    pub refresh_token_ttl: Option<String>,
    /// A replayed refresh token gets the same successor within this window; 0s disables [env: SIGNET_REFRESH_GRACE] [default: 30s]
    #[arg(long, value_name = "DURATION")]
    pub refresh_grace: Option<String>,
    /// Comma-separated browser origins, besides the public URL's, allowed to call /mcp [env: SIGNET_ALLOWED_ORIGINS]
    #[arg(long, value_name = "ORIGINS")]
    pub allowed_origins: Option<String>,
    /// Email of the owner created on first start [env: SIGNET_ADMIN_EMAIL] [default: admin@localhost]
    #[arg(long, value_name = "EMAIL")]
    pub admin_email: Option<String>,
    /// Comma-separated host or host:port entries the document fetcher may reach over http or on private addresses [env: SIGNET_FETCH_ALLOW_HOSTS]
    #[arg(long, value_name = "HOSTS")]
    pub fetch_allow_hosts: Option<String>,
    /// Sender of the emails Signet sends [env: SIGNET_EMAIL_FROM] [default: Signet <signet@HOST of the public URL>]
    #[arg(long, value_name = "MAILBOX")]
    pub email_from: Option<String>,
    /// Dynamically registered clients unused this long and holding no live grant are removed [env: SIGNET_CLIENT_IDLE_TTL] [default: 30d]
    #[arg(long, value_name = "DURATION")]
    pub client_idle_ttl: Option<String>,
    /// Comma-separated proxy addresses or CIDR networks whose X-Forwarded-For names the client [env: SIGNET_TRUSTED_PROXIES]
    #[arg(long, value_name = "NETWORKS")]
    pub trusted_proxies: Option<String>,
    /// Dynamic registrations one address may make at once [env: SIGNET_REGISTRATION_BURST] [default: 30]
    #[arg(long, value_name = "COUNT")]
    pub registration_burst: Option<String>,
    /// Dynamic registrations one address may make per hour after the burst [env: SIGNET_REGISTRATION_PER_HOUR] [default: 300]
    #[arg(long, value_name = "COUNT")]
    pub registration_per_hour: Option<String>,
    /// Sign-in attempts one address may make at once, whatever the emails [env: SIGNET_SIGN_IN_BURST] [default: 20]
    #[arg(long, value_name = "COUNT")]
    pub sign_in_burst: Option<String>,
    /// Sign-in attempts one address may make per hour after the burst [env: SIGNET_SIGN_IN_PER_HOUR] [default: 600]
    #[arg(long, value_name = "COUNT")]
    pub sign_in_per_hour: Option<String>,
}

#[derive(Debug, Args)]
pub struct JsonFlag {
    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user and print its id
    Add {
        #[arg(long)]
        email: String,
        /// Display name [default: the part of the email before @]
        #[arg(long)]
        name: Option<String>,
        /// Read the password from the first line of standard input (otherwise one is generated and shown once)
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// List users
    List {
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Replace a user's password
    SetPassword {
        #[arg(long)]
        email: String,
        /// Read the password from the first line of standard input (otherwise one is generated and shown once)
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        json: JsonFlag,
    },
}

#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Create an organization and print its id
    Add {
        #[arg(long)]
        name: String,
        /// Email of an existing user who becomes its owner
        #[arg(long, value_name = "EMAIL")]
        owner: Option<String>,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// List organizations
    List {
        #[command(flatten)]
        json: JsonFlag,
    },
    /// List an organization's members
    Members {
        /// Organization id or exact name
        #[arg(long)]
        org: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Add a user to an organization, or change their role
    AddMember {
        /// Organization id or exact name
        #[arg(long)]
        org: String,
        #[arg(long)]
        email: String,
        /// owner, admin or member
        #[arg(long, default_value = "member")]
        role: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Remove a user from an organization
    RemoveMember {
        /// Organization id or exact name
        #[arg(long)]
        org: String,
        #[arg(long)]
        email: String,
        #[command(flatten)]
        json: JsonFlag,
    },
}

#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Link an organization to a new, active account and print its id
    Link {
        /// Organization id or exact name
        #[arg(long)]
        org: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Show an organization's account
    Show {
        /// Organization id or exact name
        #[arg(long)]
        org: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Activate, suspend or block an account
    SetStatus {
        /// Organization id or exact name
        #[arg(long)]
        org: String,
        /// active, suspended or blocked
        #[arg(long)]
        status: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Turn live mode (legally binding envelopes) on or off
    SetLiveMode {
        /// Organization id or exact name
        #[arg(long)]
        org: String,
        /// on or off
        #[arg(value_name = "on|off")]
        mode: String,
        #[command(flatten)]
        json: JsonFlag,
    },
}

#[derive(Debug, Subcommand)]
pub enum ClientsCommand {
    /// List the registered clients (dynamic, manual and metadata-document)
    List {
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Register a client by hand; prints its id and, for a confidential client, its secret (once)
    Add {
        /// Name shown on the consent page and in Connected Applications
        #[arg(long)]
        name: String,
        /// An allowed redirect URI (repeat for several; optional with --introspection)
        #[arg(
            long = "redirect-uri",
            value_name = "URI",
            required_unless_present = "introspection"
        )]
        redirect_uris: Vec<String>,
        /// Issue a client secret (client_secret_basic); otherwise a public client using PKCE alone
        #[arg(long)]
        confidential: bool,
        /// A resource server that may introspect any client's tokens at /oauth/introspect (implies --confidential)
        #[arg(long)]
        introspection: bool,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Remove a client and disconnect all its connections
    Remove {
        /// The client id
        #[arg(value_name = "CLIENT_ID")]
        id: String,
        #[command(flatten)]
        json: JsonFlag,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConnectionsCommand {
    /// List connections, of one organization or of all
    List {
        /// Organization id or exact name
        #[arg(long)]
        org: Option<String>,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Disconnect a connection: its next request is refused
    Revoke {
        /// The connection id (con_…)
        #[arg(value_name = "CON_ID")]
        id: String,
        #[command(flatten)]
        json: JsonFlag,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List signing keys
    List {
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Make a new key active; the old one stays published until its tokens expire
    Rotate {
        #[command(flatten)]
        json: JsonFlag,
    },
}

impl Cli {
    /// The settings given as flags, as a config layer.
    pub fn flag_layer(&self) -> Layer {
        let serve = match &self.command {
            Command::Serve(args) => Some(args),
            _ => None,
        };
        Layer {
            data_dir: self.global.data_dir.clone(),
            database_url: self.global.database_url.clone(),
            listen: serve.and_then(|s| s.listen.clone()),
            public_url: serve.and_then(|s| s.public_url.clone()),
            log_format: serve.and_then(|s| s.log_format.clone()),
            log_level: serve.and_then(|s| s.log_level.clone()),
            access_token_ttl: serve.and_then(|s| s.access_token_ttl.clone()),
            refresh_token_ttl: serve.and_then(|s| s.refresh_token_ttl.clone()),
            refresh_grace: serve.and_then(|s| s.refresh_grace.clone()),
            admin_email: serve.and_then(|s| s.admin_email.clone()),
            allowed_origins: serve.and_then(|s| s.allowed_origins.clone()),
            key_encryption_key: None,
            fetch_allow_hosts: serve.and_then(|s| s.fetch_allow_hosts.clone()),
            email_from: serve.and_then(|s| s.email_from.clone()),
            smtp_url: None,
            client_idle_ttl: serve.and_then(|s| s.client_idle_ttl.clone()),
            trusted_proxies: serve.and_then(|s| s.trusted_proxies.clone()),
            registration_burst: serve.and_then(|s| s.registration_burst.clone()),
            registration_per_hour: serve.and_then(|s| s.registration_per_hour.clone()),
            sign_in_burst: serve.and_then(|s| s.sign_in_burst.clone()),
            sign_in_per_hour: serve.and_then(|s| s.sign_in_per_hour.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_flags_go_before_or_after_the_subcommand() {
        let before = Cli::try_parse_from(["signet", "--data-dir", "d", "keys", "list"]).unwrap();
        let after = Cli::try_parse_from(["signet", "keys", "list", "--data-dir", "d"]).unwrap();
        assert_eq!(before.flag_layer().data_dir.as_deref(), Some("d"));
        assert_eq!(after.flag_layer().data_dir.as_deref(), Some("d"));
        let serve = Cli::try_parse_from([
            "signet",
            "serve",
            "--listen",
            "0.0.0.0:1",
            "--database-url",
            "sqlite://x",
        ])
        .unwrap();
        let layer = serve.flag_layer();
        assert_eq!(layer.listen.as_deref(), Some("0.0.0.0:1"));
        assert_eq!(layer.database_url.as_deref(), Some("sqlite://x"));
    }
}
