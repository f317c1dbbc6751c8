//! The command line. Every flag has a `SIGNET_*` environment twin and a
//! key in the config file; the settings' flags are built from the table in
//! `config/settings.rs`, and clap only collects them.

use std::path::PathBuf;

use clap::error::ErrorKind;
use clap::{Arg, ArgAction, ArgMatches, Args, FromArgMatches, Parser, Subcommand};

use crate::config::{Layer, SETTINGS, Setting};

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
    // The global settings' flags (`--data-dir`, `--database-url`).
    #[command(flatten)]
    pub settings: GlobalSettings,
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
    /// Show the certificate that seals deliverables
    #[command(subcommand)]
    Seal(SealCommand),
    /// Check whether a PDF is a deliverable this instance sealed, unmodified
    /// (exit status 0 only when it is)
    Verify {
        #[arg(value_name = "FILE")]
        file: PathBuf,
        #[command(flatten)]
        json: JsonFlag,
    },
}

#[derive(Debug, Subcommand)]
pub enum SealCommand {
    /// The seal certificate: subject, issuer, SHA-256 fingerprint, validity
    Show {
        /// Print the certificate (and its chain) as PEM, to give to readers
        #[arg(long, conflicts_with = "json")]
        pem: bool,
        #[command(flatten)]
        json: JsonFlag,
    },
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
        let mut layer = self.global.settings.0.clone();
        if let Command::Serve(serve) = &self.command {
            for setting in SETTINGS {
                if let Some(value) = (setting.get)(&serve.0) {
                    *(setting.slot)(&mut layer) = Some(value.clone());
                }
            }
        }
        layer
    }
}

/// The flags of the settings table (`config::SETTINGS`): with `GLOBAL`,
/// those every subcommand accepts; without, those of `serve`. Built from
/// the table, so a flag's name, help, environment twin and default are
/// written once, there.
#[derive(Clone, Debug, Default)]
pub struct SettingFlags<const GLOBAL: bool>(pub Layer);

/// `--data-dir` and `--database-url`, accepted before or after any subcommand.
pub type GlobalSettings = SettingFlags<true>;

/// The flags of `serve`.
pub type ServeArgs = SettingFlags<false>;

impl<const GLOBAL: bool> SettingFlags<GLOBAL> {
    /// The table's settings with a flag of this kind, with that flag.
    fn flagged() -> impl Iterator<Item = (&'static Setting, &'static str)> {
        SETTINGS
            .iter()
            .filter(|s| s.global == GLOBAL)
            .filter_map(|s| s.flag.map(|flag| (s, flag)))
    }
}

impl<const GLOBAL: bool> Args for SettingFlags<GLOBAL> {
    fn augment_args(command: clap::Command) -> clap::Command {
        Self::flagged().fold(command, |command, (setting, flag)| {
            let mut help = format!("{} [env: {}]", setting.help, setting.env);
            if let Some(default) = setting.default {
                help.push_str(&format!(" [default: {default}]"));
            }
            command.arg(
                Arg::new(setting.key)
                    .long(flag.trim_start_matches("--"))
                    .value_name(setting.value_name)
                    .help(help)
                    .global(GLOBAL)
                    .action(ArgAction::Set)
                    .value_parser(clap::value_parser!(String)),
            )
        })
    }

    fn augment_args_for_update(command: clap::Command) -> clap::Command {
        Self::augment_args(command)
    }
}

impl<const GLOBAL: bool> FromArgMatches for SettingFlags<GLOBAL> {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut flags = Self::default();
        flags.update_from_arg_matches(matches)?;
        Ok(flags)
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        for (setting, _) in Self::flagged() {
            let value = matches
                .try_get_one::<String>(setting.key)
                .map_err(|e| clap::Error::raw(ErrorKind::UnknownArgument, e))?;
            if let Some(value) = value {
                *(setting.slot)(&mut self.0) = Some(value.clone());
            }
        }
        Ok(())
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
