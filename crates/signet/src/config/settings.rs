//! Every setting, declared once: its key (the TOML key and the field
//! name), environment variable, flag and help, default, parser and whether
//! it is secret. The `settings!` macro turns the table into everything
//! else that names settings — [`Layer`] (one source's raw values),
//! [`SETTINGS`] (the lookup that loading and the command line read),
//! [`Config`] (the parsed values), its redacted `Debug`, and the parsing
//! of every setting in table order — so adding one is one entry here.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use signet_oauth::{Issuer, KeyEncryptionKey};

use super::values::{self, count, duration};
use super::{ConfigError, LogFormat, Source};

/// One setting's names, for loading, the command line and tests.
#[derive(Debug)]
pub struct Setting {
    /// The TOML key, and the field of [`Layer`] and [`Config`].
    pub key: &'static str,
    pub env: &'static str,
    /// `--flag`, or `None` for a secret that must not show in `ps`.
    pub flag: Option<&'static str>,
    /// Whether every subcommand takes the flag (otherwise only `serve`).
    pub global: bool,
    pub value_name: &'static str,
    /// The flag's help, without the `[env: …]` and `[default: …]` that are
    /// added from this table.
    pub help: &'static str,
    /// The default as `--help` shows it.
    pub default: Option<&'static str>,
    /// Shown as `<redacted>` by `Debug`.
    pub secret: bool,
    pub get: fn(&Layer) -> &Option<String>,
    pub slot: fn(&mut Layer) -> &mut Option<String>,
}

/// A setting's flag, as an entry declares it.
struct Flag {
    long: Option<&'static str>,
    global: bool,
    value_name: &'static str,
    help: &'static str,
}

impl Flag {
    /// A flag every subcommand accepts, before or after it.
    const fn global(long: &'static str, value_name: &'static str, help: &'static str) -> Self {
        Flag {
            long: Some(long),
            global: true,
            value_name,
            help,
        }
    }

    /// A flag of `serve`.
    const fn serve(long: &'static str, value_name: &'static str, help: &'static str) -> Self {
        Flag {
            long: Some(long),
            global: false,
            value_name,
            help,
        }
    }

    /// No flag: set by the environment or the file only.
    const NONE: Flag = Flag {
        long: None,
        global: false,
        value_name: "",
        help: "",
    };
}

/// How a secret shows in `Debug`: whether it is set, never what it is.
trait Redact {
    fn redacted(&self) -> &'static dyn fmt::Debug;
}

impl Redact for String {
    fn redacted(&self) -> &'static dyn fmt::Debug {
        &"<redacted>"
    }
}

impl<T> Redact for Option<T> {
    fn redacted(&self) -> &'static dyn fmt::Debug {
        match self {
            Some(_) => &Some("<redacted>"),
            None => &None::<&str>,
        }
    }
}

fn shown<T: fmt::Debug>(value: &T) -> &dyn fmt::Debug {
    value
}

fn hidden<T: Redact>(value: &T) -> &'static dyn fmt::Debug {
    value.redacted()
}

/// Each entry:
///
/// ```text
/// /// Doc of the `Config` field.
/// key: Type {
///     env: "SIGNET_KEY",
///     flag: Flag::serve("--key", "VALUE", "Help") | Flag::global(…) | Flag::NONE,
///     default: "text",             // parsed like a given value, or
///     unset: value,                // used as is,
///     [shown_as: "in --help",]     // with the default as --help shows it
///     parse: fn(String, Source) -> Result<Type, ConfigError>,
///     [secret,]
/// }
/// ```
///
/// An `unset` value may use the settings declared before it.
macro_rules! settings {
    ($(
        $(#[doc = $doc:literal])*
        $key:ident: $ty:ty {
            env: $env:literal,
            flag: $flag:expr,
            $(default: $default:literal,)?
            $(unset: $unset:expr, $(shown_as: $shown:literal,)?)?
            parse: $parse:expr,
            $($secret:ident,)?
        }
    )*) => {
        /// The settings as one source gives them, unparsed. Flags,
        /// environment and file each fill one of these; keys are the TOML
        /// keys.
        #[derive(Clone, Debug, Default, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct Layer {
            $(pub $key: Option<String>,)*
        }

        pub const SETTINGS: &[Setting] = &[$(
            Setting {
                key: stringify!($key),
                env: $env,
                flag: $flag.long,
                global: $flag.global,
                value_name: $flag.value_name,
                help: $flag.help,
                default: settings!(@shown $([$default])? $($([$shown])?)?),
                secret: settings!(@secret $($secret)?),
                get: |layer| &layer.$key,
                slot: |layer| &mut layer.$key,
            },
        )*];

        /// The resolved configuration.
        #[derive(Clone)]
        pub struct Config {
            $($(#[doc = $doc])* pub $key: $ty,)*
        }

        impl fmt::Debug for Config {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct("Config")
                    $(.field(stringify!($key), settings!(@debug $($secret)?)(&self.$key)))*
                    .finish()
            }
        }

        impl Config {
            /// Parses every setting in table order from what `pick` finds
            /// for its key (the winning source), or its default.
            pub(super) fn from_sources(
                pick: impl Fn(&'static str) -> Option<(String, Source)>,
            ) -> Result<Self, ConfigError> {
                $(
                    let $key: $ty = match pick(stringify!($key)) {
                        Some((value, source)) => ($parse)(value, source)?,
                        None => settings!(@unset $parse; $([$default])? $([$unset])?),
                    };
                )*
                Ok(Self { $($key,)* })
            }
        }
    };
    (@shown [$shown:literal]) => { Some($shown) };
    (@shown) => { None };
    (@secret secret) => { true };
    (@secret) => { false };
    (@debug secret) => { hidden };
    (@debug) => { shown };
    (@unset $parse:expr; [$default:literal]) => {
        ($parse)($default.to_owned(), Source::Default)?
    };
    (@unset $parse:expr; [$unset:expr]) => { $unset };
}

// The order is that of `serve --help`, of the keys a config-file error
// lists, and of checking: the first bad value is the one reported.
settings! {
    data_dir: PathBuf {
        env: "SIGNET_DATA_DIR",
        flag: Flag::global("--data-dir", "DIR", "Directory for the SQLite database and the initial password"),
        default: "./signet-data",
        parse: values::path,
    }
    database_url: String {
        env: "SIGNET_DATABASE_URL",
        flag: Flag::global("--database-url", "URL", "sqlite://PATH or postgres://USER:PASSWORD@HOST/DB"),
        unset: format!("sqlite://{}", data_dir.join("signet.db").display()),
        shown_as: "sqlite://DATA_DIR/signet.db",
        parse: values::database_url,
        secret,
    }
    listen: SocketAddr {
        env: "SIGNET_LISTEN",
        flag: Flag::serve("--listen", "ADDR", "Address to listen on"),
        default: "127.0.0.1:8080",
        parse: values::listen,
    }
    /// `None` until the listener is bound: derived from the bound address.
    public_url: Option<Issuer> {
        env: "SIGNET_PUBLIC_URL",
        flag: Flag::serve("--public-url", "URL", "URL clients use to reach Signet, without a path"),
        unset: None,
        shown_as: "derived from --listen",
        parse: values::public_url,
    }
    log_format: LogFormat {
        env: "SIGNET_LOG_FORMAT",
        flag: Flag::serve("--log-format", "FORMAT", "text or json"),
        default: "text",
        parse: values::log_format,
    }
    log_level: String {
        env: "SIGNET_LOG_LEVEL",
        flag: Flag::serve("--log-level", "LEVEL", "Log level or filter directives"),
        default: "info",
        parse: values::log_level,
    }
    access_token_ttl: Duration {
        env: "SIGNET_ACCESS_TOKEN_TTL",
        flag: Flag::serve("--access-token-ttl", "DURATION", "Lifetime of access tokens, 60s to 24h"),
        default: "1h",
        parse: |text, source| duration(text, source, "access-token lifetime", (60, 86_400),
            "expected a duration from 60s to 24h, written like 90s, 15m or 1h"),
    }
    /// Refresh tokens expire after this long unused.
    refresh_token_ttl: Duration {
        env: "SIGNET_REFRESH_TOKEN_TTL",
        flag: Flag::serve("--refresh-token-ttl", "DURATION", "Refresh tokens expire after this long unused, 1h to 365d"),
        default: "30d",
        parse: |text, source| duration(text, source, "refresh-token lifetime", (3600, 365 * 86_400),
            "expected a duration from 1h to 365d, written like 12h or 30d"),
    }
    /// Window in which a replayed refresh token gets the same successor.
    refresh_grace: Duration {
        env: "SIGNET_REFRESH_GRACE",
        flag: Flag::serve("--refresh-grace", "DURATION", "A replayed refresh token gets the same successor within this window; 0s disables"),
        default: "30s",
        parse: |text, source| duration(text, source, "refresh grace window", (0, 600),
            "expected a duration up to 10m, written like 30s (0s disables it)"),
    }
    /// Browser origins, besides the public URL's, that may call `/mcp`
    /// (e.g. MCP Inspector at `http://localhost:6274`).
    allowed_origins: Vec<String> {
        env: "SIGNET_ALLOWED_ORIGINS",
        flag: Flag::serve("--allowed-origins", "ORIGINS", "Comma-separated browser origins, besides the public URL's, allowed to call /mcp"),
        unset: Vec::new(),
        parse: values::origins,
    }
    admin_email: String {
        env: "SIGNET_ADMIN_EMAIL",
        flag: Flag::serve("--admin-email", "EMAIL", "Email of the owner created on first start"),
        default: "admin@localhost",
        parse: values::text,
    }
    key_encryption_key: Option<KeyEncryptionKey> {
        env: "SIGNET_KEY_ENCRYPTION_KEY",
        flag: Flag::NONE,
        unset: None,
        parse: values::key_encryption_key,
        secret,
    }
    /// Hosts the fetcher may reach over http or on private addresses.
    fetch_allow_hosts: Vec<signet_fetch::AllowedHost> {
        env: "SIGNET_FETCH_ALLOW_HOSTS",
        flag: Flag::serve("--fetch-allow-hosts", "HOSTS", "Comma-separated host or host:port entries the document fetcher may reach over http or on private addresses"),
        unset: Vec::new(),
        parse: values::fetch_allow_hosts,
    }
    /// Sender of outgoing email; `None` derives it from the public URL.
    email_from: Option<String> {
        env: "SIGNET_EMAIL_FROM",
        flag: Flag::serve("--email-from", "MAILBOX", "Sender of the emails Signet sends"),
        unset: None,
        shown_as: "Signet <signet@HOST of the public URL>",
        parse: values::email_from,
    }
    /// SMTP server for live mode; without it live envelopes are refused.
    /// No flag: it may carry a password.
    smtp_url: Option<String> {
        env: "SIGNET_SMTP_URL",
        flag: Flag::NONE,
        unset: None,
        parse: values::smtp_url,
        secret,
    }
    /// The program that turns DOCX into PDF, as given; `None` looks for
    /// `soffice` on the PATH, and `none` turns conversion off.
    docx_converter: Option<String> {
        env: "SIGNET_DOCX_CONVERTER",
        flag: Flag::serve("--docx-converter", "PROGRAM", "Program that turns DOCX into PDF (LibreOffice's soffice); 'none' turns conversion off, and DOCX documents are then refused"),
        unset: None,
        shown_as: "soffice on the PATH",
        parse: values::docx_converter,
    }
    /// The operator's seal certificate (PEM, optionally followed by its
    /// chain) and its private key; without them Signet seals with its own
    /// self-signed certificate.
    seal_cert: Option<PathBuf> {
        env: "SIGNET_SEAL_CERT",
        flag: Flag::serve("--seal-cert", "FILE", "PEM certificate (then its chain) that seals deliverables, with --seal-key; Signet's own self-signed one otherwise"),
        unset: None,
        parse: values::optional_path,
    }
    seal_key: Option<PathBuf> {
        env: "SIGNET_SEAL_KEY",
        flag: Flag::serve("--seal-key", "FILE", "PEM private key of --seal-cert (ECDSA P-256/P-384 or RSA)"),
        unset: None,
        parse: values::optional_path,
    }
    /// The same in one PKCS#12 file, instead of the two above.
    seal_pkcs12: Option<PathBuf> {
        env: "SIGNET_SEAL_PKCS12",
        flag: Flag::serve("--seal-pkcs12", "FILE", "PKCS#12 file with the seal certificate and key, instead of --seal-cert and --seal-key (password in SIGNET_SEAL_PKCS12_PASSWORD)"),
        unset: None,
        parse: values::optional_path,
    }
    seal_pkcs12_password: Option<String> {
        env: "SIGNET_SEAL_PKCS12_PASSWORD",
        flag: Flag::NONE,
        unset: None,
        parse: |value, _| Ok(Some(value)),
        secret,
    }
    /// An RFC 3161 time-stamping service: deliverables then carry its
    /// signature timestamp (PAdES B-T).
    tsa_url: Option<String> {
        env: "SIGNET_TSA_URL",
        flag: Flag::serve("--tsa-url", "URL", "RFC 3161 time-stamp authority asked to timestamp every seal (PAdES B-T)"),
        unset: None,
        parse: values::tsa_url,
    }
    /// Dynamically registered clients unused this long, with no live
    /// grant, are removed.
    client_idle_ttl: Duration {
        env: "SIGNET_CLIENT_IDLE_TTL",
        flag: Flag::serve("--client-idle-ttl", "DURATION", "Dynamically registered clients unused this long and holding no live grant are removed"),
        default: "30d",
        parse: |text, source| duration(text, source, "idle-client lifetime", (3600, 3650 * 86_400),
            "expected a duration from 1h to 3650d, written like 30d"),
    }
    /// Proxies whose `X-Forwarded-For` names the client.
    trusted_proxies: signet_store::net::TrustedProxies {
        env: "SIGNET_TRUSTED_PROXIES",
        flag: Flag::serve("--trusted-proxies", "NETWORKS", "Comma-separated proxy addresses or CIDR networks whose X-Forwarded-For names the client"),
        unset: signet_store::net::TrustedProxies::default(),
        parse: values::trusted_proxies,
    }
    /// Dynamic registrations allowed from one address at once.
    registration_burst: u32 {
        env: "SIGNET_REGISTRATION_BURST",
        flag: Flag::serve("--registration-burst", "COUNT", "Dynamic registrations one address may make at once"),
        default: "30",
        parse: |text, source| count(text, source, "registration burst", 1),
    }
    /// Dynamic registrations allowed from one address per hour.
    registration_per_hour: u32 {
        env: "SIGNET_REGISTRATION_PER_HOUR",
        flag: Flag::serve("--registration-per-hour", "COUNT", "Dynamic registrations one address may make per hour after the burst"),
        default: "300",
        parse: |text, source| count(text, source, "registrations per hour", 1),
    }
    /// Sign-in attempts allowed from one address at once, whatever the
    /// emails tried.
    sign_in_burst: u32 {
        env: "SIGNET_SIGN_IN_BURST",
        flag: Flag::serve("--sign-in-burst", "COUNT", "Sign-in attempts one address may make at once, whatever the emails"),
        default: "20",
        parse: |text, source| count(text, source, "sign-in burst", 1),
    }
    /// Sign-in attempts allowed from one address per hour.
    sign_in_per_hour: u32 {
        env: "SIGNET_SIGN_IN_PER_HOUR",
        flag: Flag::serve("--sign-in-per-hour", "COUNT", "Sign-in attempts one address may make per hour after the burst"),
        default: "600",
        parse: |text, source| count(text, source, "sign-ins per hour", 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Secrets show only whether they are set, whatever their source.
    #[test]
    fn debug_never_shows_a_secret() {
        let config = Config::from_sources(|key| {
            let value = match key {
                "database_url" => "postgres://signet:db-password@db/signet",
                "key_encryption_key" => "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
                "smtp_url" => "smtp://mail:smtp-password@mail.example",
                _ => return None,
            };
            Some((value.to_owned(), Source::Default))
        })
        .unwrap();
        let shown = format!("{config:?}");
        for secret in ["db-password", "AAECAwQF", "smtp-password", "mail.example"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains(r#"database_url: "<redacted>""#), "{shown}");
        assert!(shown.contains(r#"smtp_url: Some("<redacted>")"#), "{shown}");
        assert!(shown.contains("listen: 127.0.0.1:8080"), "{shown}");
        let secrets: Vec<_> = SETTINGS
            .iter()
            .filter(|s| s.secret)
            .map(|s| s.key)
            .collect();
        assert_eq!(
            secrets,
            [
                "database_url",
                "key_encryption_key",
                "smtp_url",
                "seal_pkcs12_password"
            ]
        );
    }
}
