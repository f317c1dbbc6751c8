//! Configuration: defaults, then a TOML file, then `SIGNET_*` environment
//! variables, then command-line flags — each later source wins. Every value
//! is checked here, once, and a bad one stops start-up with a message that
//! names the setting, where it came from and the value.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use signet_oauth::{Issuer, KeyEncryptionKey};
use thiserror::Error;

/// The settings as one source gives them, unparsed. Flags, environment and
/// file each fill one of these; keys are the TOML keys.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layer {
    pub data_dir: Option<String>,
    pub database_url: Option<String>,
    pub listen: Option<String>,
    pub public_url: Option<String>,
    pub log_format: Option<String>,
    pub log_level: Option<String>,
    pub access_token_ttl: Option<String>,
    pub refresh_token_ttl: Option<String>,
    pub refresh_grace: Option<String>,
    pub admin_email: Option<String>,
    pub allowed_origins: Option<String>,
    pub key_encryption_key: Option<String>,
    pub fetch_allow_hosts: Option<String>,
    pub email_from: Option<String>,
    pub smtp_url: Option<String>,
    pub client_idle_ttl: Option<String>,
    pub trusted_proxies: Option<String>,
    pub registration_burst: Option<String>,
    pub registration_per_hour: Option<String>,
    pub sign_in_burst: Option<String>,
    pub sign_in_per_hour: Option<String>,
}

/// One setting: its TOML key, environment variable and flag (if any).
struct Setting {
    key: &'static str,
    env: &'static str,
    flag: Option<&'static str>,
    get: fn(&Layer) -> &Option<String>,
}

const SETTINGS: &[Setting] = &[
    Setting {
        key: "data_dir",
        env: "SIGNET_DATA_DIR",
        flag: Some("--data-dir"),
        get: |l| &l.data_dir,
    },
    Setting {
        key: "database_url",
        env: "SIGNET_DATABASE_URL",
        flag: Some("--database-url"),
        get: |l| &l.database_url,
    },
    Setting {
        key: "listen",
        env: "SIGNET_LISTEN",
        flag: Some("--listen"),
        get: |l| &l.listen,
    },
    Setting {
        key: "public_url",
        env: "SIGNET_PUBLIC_URL",
        flag: Some("--public-url"),
        get: |l| &l.public_url,
    },
    Setting {
        key: "log_format",
        env: "SIGNET_LOG_FORMAT",
        flag: Some("--log-format"),
        get: |l| &l.log_format,
    },
    Setting {
        key: "log_level",
        env: "SIGNET_LOG_LEVEL",
        flag: Some("--log-level"),
        get: |l| &l.log_level,
    },
    Setting {
        key: "access_token_ttl",
        env: "SIGNET_ACCESS_TOKEN_TTL",
        flag: Some("--access-token-ttl"),
        get: |l| &l.access_token_ttl,
    },
    Setting {
        key: "refresh_token_ttl",
        env: "SIGNET_REFRESH_TOKEN_TTL",
        flag: Some("--refresh-token-ttl"),
        get: |l| &l.refresh_token_ttl,
    },
    Setting {
        key: "refresh_grace",
        env: "SIGNET_REFRESH_GRACE",
        flag: Some("--refresh-grace"),
        get: |l| &l.refresh_grace,
    },
    Setting {
        key: "admin_email",
        env: "SIGNET_ADMIN_EMAIL",
        flag: Some("--admin-email"),
        get: |l| &l.admin_email,
    },
    // A secret: no flag, so it never shows in `ps`.
    Setting {
        key: "allowed_origins",
        env: "SIGNET_ALLOWED_ORIGINS",
        flag: Some("--allowed-origins"),
        get: |l| &l.allowed_origins,
    },
    Setting {
        key: "key_encryption_key",
        env: "SIGNET_KEY_ENCRYPTION_KEY",
        flag: None,
        get: |l| &l.key_encryption_key,
    },
    Setting {
        key: "fetch_allow_hosts",
        env: "SIGNET_FETCH_ALLOW_HOSTS",
        flag: Some("--fetch-allow-hosts"),
        get: |l| &l.fetch_allow_hosts,
    },
    Setting {
        key: "email_from",
        env: "SIGNET_EMAIL_FROM",
        flag: Some("--email-from"),
        get: |l| &l.email_from,
    },
    Setting {
        key: "client_idle_ttl",
        env: "SIGNET_CLIENT_IDLE_TTL",
        flag: Some("--client-idle-ttl"),
        get: |l| &l.client_idle_ttl,
    },
    Setting {
        key: "trusted_proxies",
        env: "SIGNET_TRUSTED_PROXIES",
        flag: Some("--trusted-proxies"),
        get: |l| &l.trusted_proxies,
    },
    Setting {
        key: "registration_burst",
        env: "SIGNET_REGISTRATION_BURST",
        flag: Some("--registration-burst"),
        get: |l| &l.registration_burst,
    },
    Setting {
        key: "registration_per_hour",
        env: "SIGNET_REGISTRATION_PER_HOUR",
        flag: Some("--registration-per-hour"),
        get: |l| &l.registration_per_hour,
    },
    Setting {
        key: "sign_in_burst",
        env: "SIGNET_SIGN_IN_BURST",
        flag: Some("--sign-in-burst"),
        get: |l| &l.sign_in_burst,
    },
    Setting {
        key: "sign_in_per_hour",
        env: "SIGNET_SIGN_IN_PER_HOUR",
        flag: Some("--sign-in-per-hour"),
        get: |l| &l.sign_in_per_hour,
    },
    // May carry a password: no flag.
    Setting {
        key: "smtp_url",
        env: "SIGNET_SMTP_URL",
        flag: None,
        get: |l| &l.smtp_url,
    },
];

/// The environment variable naming the config file (twin of `--config`).
pub const CONFIG_FILE_ENV: &str = "SIGNET_CONFIG";

/// Where a value came from, for error messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    Flag(&'static str),
    Env(&'static str),
    File { path: PathBuf, key: &'static str },
    Default,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Flag(flag) => write!(f, "flag {flag}"),
            Self::Env(var) => write!(f, "environment variable {var}"),
            Self::File { path, key } => write!(f, "key {key} in {}", path.display()),
            Self::Default => f.write_str("default"),
        }
    }
}

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {reason}")]
    FileUnreadable { path: PathBuf, reason: String },
    #[error("invalid config file {path}: {reason}")]
    FileInvalid { path: PathBuf, reason: String },
    #[error("invalid {setting} {value:?} (from {origin}): {reason}")]
    Invalid {
        setting: &'static str,
        value: String,
        origin: Source,
        reason: String,
    },
}

/// How logs are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines (coloured on a terminal).
    Text,
    /// One JSON object a line, for log collectors.
    Json,
}

/// The resolved configuration.
#[derive(Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub database_url: String,
    pub listen: SocketAddr,
    /// `None` until the listener is bound: derived from the bound address.
    pub public_url: Option<Issuer>,
    pub log_format: LogFormat,
    pub log_level: String,
    pub access_token_ttl: Duration,
    /// Refresh tokens expire after this long unused.
    pub refresh_token_ttl: Duration,
    /// Window in which a replayed refresh token gets the same successor.
    pub refresh_grace: Duration,
    pub admin_email: String,
    /// Browser origins, besides the public URL's, that may call `/mcp`
    /// (e.g. MCP Inspector at `http://localhost:6274`).
    pub allowed_origins: Vec<String>,
    pub key_encryption_key: Option<KeyEncryptionKey>,
    /// Hosts the fetcher may reach over http or on private addresses.
    pub fetch_allow_hosts: Vec<signet_fetch::AllowedHost>,
    /// Sender of outgoing email; `None` derives it from the public URL.
    pub email_from: Option<String>,
    /// SMTP server for live mode; without it live envelopes are refused.
    pub smtp_url: Option<String>,
    /// Dynamically registered clients unused this long, with no live
    /// grant, are removed.
    pub client_idle_ttl: Duration,
    /// Proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: signet_store::net::TrustedProxies,
    /// Dynamic registrations allowed from one address at once, and per hour.
    pub registration_burst: u32,
    pub registration_per_hour: u32,
    /// Sign-in attempts allowed from one address at once, and per hour,
    /// whatever the emails tried.
    pub sign_in_burst: u32,
    pub sign_in_per_hour: u32,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("data_dir", &self.data_dir)
            .field("database_url", &"<redacted>")
            .field("listen", &self.listen)
            .field("public_url", &self.public_url)
            .field("log_format", &self.log_format)
            .field("log_level", &self.log_level)
            .field("access_token_ttl", &self.access_token_ttl)
            .field("refresh_token_ttl", &self.refresh_token_ttl)
            .field("refresh_grace", &self.refresh_grace)
            .field("admin_email", &self.admin_email)
            .field("allowed_origins", &self.allowed_origins)
            .field("fetch_allow_hosts", &self.fetch_allow_hosts)
            .field("email_from", &self.email_from)
            .field("smtp_url", &self.smtp_url.as_ref().map(|_| "<redacted>"))
            .field("client_idle_ttl", &self.client_idle_ttl)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("registration_burst", &self.registration_burst)
            .field("registration_per_hour", &self.registration_per_hour)
            .field("sign_in_burst", &self.sign_in_burst)
            .field("sign_in_per_hour", &self.sign_in_per_hour)
            .field(
                "key_encryption_key",
                &self.key_encryption_key.as_ref().map(|_| "***"),
            )
            .finish()
    }
}

pub const DEFAULT_DATA_DIR: &str = "./signet-data";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_ADMIN_EMAIL: &str = "admin@localhost";

impl Config {
    /// Resolves the configuration from flags, an environment lookup and an
    /// optional config file (`--config`, else `SIGNET_CONFIG`).
    pub fn resolve(
        flags: &Layer,
        config_flag: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let env = |name: &str| env(name).filter(|v| !v.is_empty());
        let file_path = config_flag
            .map(Path::to_path_buf)
            .or_else(|| env(CONFIG_FILE_ENV).map(PathBuf::from));
        let file = match &file_path {
            Some(path) => read_file(path)?,
            None => Layer::default(),
        };
        let pick = |name: &'static str| -> Option<(String, Source)> {
            let setting = SETTINGS.iter().find(|s| s.key == name)?;
            if let (Some(value), Some(flag)) = ((setting.get)(flags), setting.flag) {
                return Some((value.clone(), Source::Flag(flag)));
            }
            if let Some(value) = env(setting.env) {
                return Some((value, Source::Env(setting.env)));
            }
            let value = (setting.get)(&file).clone()?;
            let path = file_path.clone().unwrap_or_default();
            Some((
                value,
                Source::File {
                    path,
                    key: setting.key,
                },
            ))
        };
        let or_default = |name: &'static str, default: &str| {
            pick(name).unwrap_or_else(|| (default.to_owned(), Source::Default))
        };

        let (data_dir, _) = or_default("data_dir", DEFAULT_DATA_DIR);
        let data_dir = PathBuf::from(data_dir);
        let database_url = match pick("database_url") {
            Some((url, source)) => check_database_url(url, source)?,
            None => format!("sqlite://{}", data_dir.join("signet.db").display()),
        };
        let (listen, source) = or_default("listen", DEFAULT_LISTEN);
        let listen = listen
            .trim()
            .parse::<SocketAddr>()
            .map_err(|_| ConfigError::Invalid {
                setting: "listen address",
                value: listen.clone(),
                origin: source,
                reason: "expected IP:PORT, such as 127.0.0.1:8080 or [::]:8080".to_owned(),
            })?;
        let public_url = match pick("public_url") {
            Some((raw, source)) => Some(Issuer::parse(&raw).map_err(|e| ConfigError::Invalid {
                setting: "public URL",
                value: raw.clone(),
                origin: source,
                reason: e.to_string(),
            })?),
            None => None,
        };
        let (format, source) = or_default("log_format", "text");
        let log_format = match format.as_str() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            _ => {
                return Err(ConfigError::Invalid {
                    setting: "log format",
                    value: format,
                    origin: source,
                    reason: "expected text or json".to_owned(),
                });
            }
        };
        let (log_level, source) = or_default("log_level", "info");
        if tracing_subscriber::EnvFilter::try_new(&log_level).is_err() {
            return Err(ConfigError::Invalid {
                setting: "log level",
                value: log_level,
                origin: source,
                reason: "expected a level (error, warn, info, debug, trace) or filter directives"
                    .to_owned(),
            });
        }
        let (ttl, source) = or_default("access_token_ttl", "1h");
        let access_token_ttl = parse_duration(&ttl)
            .filter(|d| (Duration::from_secs(60)..=Duration::from_secs(86_400)).contains(d))
            .ok_or_else(|| ConfigError::Invalid {
                setting: "access-token lifetime",
                value: ttl.clone(),
                origin: source,
                reason: "expected a duration from 60s to 24h, written like 90s, 15m or 1h"
                    .to_owned(),
            })?;
        let (ttl, source) = or_default("refresh_token_ttl", "30d");
        let refresh_token_ttl = parse_duration(&ttl)
            .filter(|d| (Duration::from_secs(3600)..=Duration::from_secs(365 * 86_400)).contains(d))
            .ok_or_else(|| ConfigError::Invalid {
                setting: "refresh-token lifetime",
                value: ttl.clone(),
                origin: source,
                reason: "expected a duration from 1h to 365d, written like 12h or 30d".to_owned(),
            })?;
        let (grace, source) = or_default("refresh_grace", "30s");
        let refresh_grace = parse_duration(&grace)
            .filter(|d| *d <= Duration::from_secs(600))
            .ok_or_else(|| ConfigError::Invalid {
                setting: "refresh grace window",
                value: grace.clone(),
                origin: source,
                reason: "expected a duration up to 10m, written like 30s (0s disables it)"
                    .to_owned(),
            })?;
        let (admin_email, _) = or_default("admin_email", DEFAULT_ADMIN_EMAIL);
        let allowed_origins = match pick("allowed_origins") {
            Some((list, source)) => list
                .split(',')
                .map(str::trim)
                .filter(|entry| !entry.is_empty())
                .map(|entry| {
                    Issuer::parse(entry)
                        .map(|origin| origin.as_str().to_owned())
                        .map_err(|e| ConfigError::Invalid {
                            setting: "allowed origin",
                            value: entry.to_owned(),
                            origin: source.clone(),
                            reason: e.to_string(),
                        })
                })
                .collect::<Result<Vec<_>, _>>()?,
            None => Vec::new(),
        };
        let key_encryption_key = match pick("key_encryption_key") {
            Some((raw, source)) => Some(KeyEncryptionKey::parse(&raw).map_err(|reason| {
                ConfigError::Invalid {
                    setting: "key-encryption key",
                    // Never echo a secret, even a malformed one.
                    value: "***".to_owned(),
                    origin: source,
                    reason,
                }
            })?),
            None => None,
        };
        let (idle, source) = or_default("client_idle_ttl", "30d");
        let client_idle_ttl = parse_duration(&idle)
            .filter(|d| {
                (Duration::from_secs(3600)..=Duration::from_secs(3650 * 86_400)).contains(d)
            })
            .ok_or_else(|| ConfigError::Invalid {
                setting: "idle-client lifetime",
                value: idle.clone(),
                origin: source,
                reason: "expected a duration from 1h to 3650d, written like 30d".to_owned(),
            })?;
        let trusted_proxies = match pick("trusted_proxies") {
            Some((list, source)) => {
                signet_store::net::TrustedProxies::parse(&list).map_err(|reason| {
                    ConfigError::Invalid {
                        setting: "trusted proxies",
                        value: list.clone(),
                        origin: source,
                        reason,
                    }
                })?
            }
            None => signet_store::net::TrustedProxies::default(),
        };
        let count = |key: &'static str, setting: &'static str, default: &str, min: u32| {
            let (text, source) = or_default(key, default);
            text.trim()
                .parse::<u32>()
                .ok()
                .filter(|n| *n >= min)
                .ok_or_else(|| ConfigError::Invalid {
                    setting,
                    value: text.clone(),
                    origin: source,
                    reason: format!("expected a whole number of at least {min}"),
                })
        };
        let registration_burst = count("registration_burst", "registration burst", "30", 1)?;
        let registration_per_hour =
            count("registration_per_hour", "registrations per hour", "300", 1)?;
        let sign_in_burst = count("sign_in_burst", "sign-in burst", "20", 1)?;
        let sign_in_per_hour = count("sign_in_per_hour", "sign-ins per hour", "600", 1)?;
        let fetch_allow_hosts = match pick("fetch_allow_hosts") {
            Some((list, source)) => {
                signet_fetch::AllowedHost::parse_list(&list).map_err(|reason| {
                    ConfigError::Invalid {
                        setting: "fetch allow-list",
                        value: list.clone(),
                        origin: source,
                        reason,
                    }
                })?
            }
            None => Vec::new(),
        };
        let email_from = match pick("email_from") {
            Some((from, source)) => {
                signet_esign::Mailer::new(None, &from).map_err(|reason| ConfigError::Invalid {
                    setting: "email sender",
                    value: from.clone(),
                    origin: source,
                    reason,
                })?;
                Some(from)
            }
            None => None,
        };
        let smtp_url = match pick("smtp_url") {
            Some((url, source)) => {
                signet_esign::Mailer::new(Some(&url), "Signet <signet@localhost>").map_err(
                    |reason| ConfigError::Invalid {
                        setting: "SMTP URL",
                        // It may carry a password.
                        value: "***".to_owned(),
                        origin: source,
                        reason,
                    },
                )?;
                Some(url)
            }
            None => None,
        };
        Ok(Self {
            data_dir,
            database_url,
            listen,
            public_url,
            log_format,
            log_level,
            access_token_ttl,
            refresh_token_ttl,
            refresh_grace,
            admin_email,
            allowed_origins,
            key_encryption_key,
            fetch_allow_hosts,
            email_from,
            smtp_url,
            client_idle_ttl,
            trusted_proxies,
            registration_burst,
            registration_per_hour,
            sign_in_burst,
            sign_in_per_hour,
        })
    }

    /// Whether the database lives in the data directory's SQLite file.
    pub fn uses_sqlite(&self) -> bool {
        self.database_url.starts_with("sqlite:")
    }
}

fn read_file(path: &Path) -> Result<Layer, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::FileUnreadable {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    toml::from_str(&text).map_err(|e| ConfigError::FileInvalid {
        path: path.to_path_buf(),
        // toml's message spans lines (it quotes the source); keep the first.
        reason: e.message().lines().next().unwrap_or_default().to_owned(),
    })
}

fn check_database_url(url: String, source: Source) -> Result<String, ConfigError> {
    let url = url.trim().to_owned();
    match signet_store::Backend::from_url(&url) {
        Ok(_) => Ok(url),
        Err(_) => Err(ConfigError::Invalid {
            setting: "database URL",
            value: redact_for_message(&url),
            origin: source,
            reason: "expected sqlite://PATH or postgres://USER:PASSWORD@HOST/DATABASE".to_owned(),
        }),
    }
}

fn redact_for_message(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

/// Parses `90s`, `15m`, `1h` or `30d`.
pub fn parse_duration(text: &str) -> Option<Duration> {
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
    number.checked_mul(unit_secs).map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    fn file(contents: &str) -> tempfile::NamedTempFile {
        use std::io::Write;
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(contents.as_bytes()).unwrap();
        f
    }

    #[test]
    fn defaults_need_nothing() {
        let config = Config::resolve(&Layer::default(), None, &env(&[])).unwrap();
        assert_eq!(config.data_dir, PathBuf::from("./signet-data"));
        assert_eq!(config.database_url, "sqlite://./signet-data/signet.db");
        assert_eq!(config.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(config.public_url, None);
        assert_eq!(config.log_format, LogFormat::Text);
        assert_eq!(config.access_token_ttl, Duration::from_secs(3600));
        assert_eq!(config.admin_email, "admin@localhost");
        assert_eq!(config.refresh_token_ttl, Duration::from_secs(30 * 86_400));
        assert_eq!(config.refresh_grace, Duration::from_secs(30));
        assert!(config.allowed_origins.is_empty());
        assert!(config.key_encryption_key.is_none());
    }

    #[test]
    fn flag_beats_env_beats_file_beats_default() {
        let f = file(
            "listen = \"127.0.0.1:1001\"\npublic_url = \"https://file.example\"\n\
             log_format = \"json\"\naccess_token_ttl = \"15m\"\ndata_dir = \"/file\"\n",
        );
        let e = env(&[
            ("SIGNET_LISTEN", "127.0.0.1:2002"),
            ("SIGNET_PUBLIC_URL", "https://env.example/"),
            ("SIGNET_DATA_DIR", "/env"),
        ]);
        let flags = Layer {
            listen: Some("127.0.0.1:3003".into()),
            ..Layer::default()
        };
        let config = Config::resolve(&flags, Some(f.path()), &e).unwrap();
        assert_eq!(config.listen.port(), 3003, "flag wins");
        assert_eq!(
            config.public_url.unwrap().as_str(),
            "https://env.example",
            "env beats file"
        );
        assert_eq!(config.data_dir, PathBuf::from("/env"));
        assert_eq!(
            config.database_url, "sqlite:///env/signet.db",
            "derived from the data dir"
        );
        assert_eq!(config.log_format, LogFormat::Json, "file beats default");
        assert_eq!(config.access_token_ttl, Duration::from_secs(900));
        assert_eq!(config.log_level, "info", "default");

        // SIGNET_CONFIG names the file when --config is absent; empty env
        // values count as unset.
        let path = f.path().display().to_string();
        let e = env(&[("SIGNET_CONFIG", &path), ("SIGNET_LISTEN", "")]);
        let config = Config::resolve(&Layer::default(), None, &e).unwrap();
        assert_eq!(config.listen.port(), 1001);
    }

    #[test]
    fn bad_values_name_the_setting_the_source_and_the_value() {
        type Case<'a> = (Layer, Vec<(&'a str, &'a str)>, &'a str);
        let cases: Vec<Case> = vec![
            (
                Layer {
                    listen: Some("localhost".into()),
                    ..Layer::default()
                },
                vec![],
                "invalid listen address \"localhost\" (from flag --listen): expected IP:PORT, such as 127.0.0.1:8080 or [::]:8080",
            ),
            (
                Layer::default(),
                vec![("SIGNET_PUBLIC_URL", "ftp://x.example")],
                "invalid public URL \"ftp://x.example\" (from environment variable SIGNET_PUBLIC_URL): must use http or https, not \"ftp\"",
            ),
            (
                Layer {
                    public_url: Some("https://x.example/signet".into()),
                    ..Layer::default()
                },
                vec![],
                "invalid public URL \"https://x.example/signet\" (from flag --public-url): must not have a path, query or fragment (Signet serves from the root of its host)",
            ),
            (
                Layer {
                    public_url: Some("https://x.example/?q=1".into()),
                    ..Layer::default()
                },
                vec![],
                "invalid public URL \"https://x.example/?q=1\" (from flag --public-url): must not have a path, query or fragment (Signet serves from the root of its host)",
            ),
            (
                Layer::default(),
                vec![("SIGNET_DATABASE_URL", "mysql://root:pw@db/signet")],
                "invalid database URL \"mysql://root:***@db/signet\" (from environment variable SIGNET_DATABASE_URL): expected sqlite://PATH or postgres://USER:PASSWORD@HOST/DATABASE",
            ),
            (
                Layer {
                    log_format: Some("xml".into()),
                    ..Layer::default()
                },
                vec![],
                "invalid log format \"xml\" (from flag --log-format): expected text or json",
            ),
            (
                Layer {
                    access_token_ttl: Some("1w".into()),
                    ..Layer::default()
                },
                vec![],
                "invalid access-token lifetime \"1w\" (from flag --access-token-ttl): expected a duration from 60s to 24h, written like 90s, 15m or 1h",
            ),
            (
                Layer::default(),
                vec![(
                    "SIGNET_ALLOWED_ORIGINS",
                    "http://localhost:6274, https://x.example/app",
                )],
                "invalid allowed origin \"https://x.example/app\" (from environment variable SIGNET_ALLOWED_ORIGINS): must not have a path, query or fragment (Signet serves from the root of its host)",
            ),
            (
                Layer::default(),
                vec![("SIGNET_REFRESH_GRACE", "1h")],
                "invalid refresh grace window \"1h\" (from environment variable SIGNET_REFRESH_GRACE): expected a duration up to 10m, written like 30s (0s disables it)",
            ),
            (
                Layer {
                    refresh_token_ttl: Some("5m".into()),
                    ..Layer::default()
                },
                vec![],
                "invalid refresh-token lifetime \"5m\" (from flag --refresh-token-ttl): expected a duration from 1h to 365d, written like 12h or 30d",
            ),
            (
                Layer::default(),
                vec![("SIGNET_KEY_ENCRYPTION_KEY", "hunter2")],
                "invalid key-encryption key \"***\" (from environment variable SIGNET_KEY_ENCRYPTION_KEY): expected 32 bytes as 64 hex digits or base64 (openssl rand -base64 32)",
            ),
        ];
        for (flags, vars, expected) in cases {
            let err = Config::resolve(&flags, None, &env(&vars)).unwrap_err();
            assert_eq!(err.to_string(), expected);
        }
    }

    #[test]
    fn config_file_errors_name_the_file_and_the_problem() {
        let f = file("listen = \"127.0.0.1:1\"\nlisten_port = 8080\n");
        let err = Config::resolve(&Layer::default(), Some(f.path()), &env(&[])).unwrap_err();
        let message = err.to_string();
        assert!(
            message.starts_with(&format!("invalid config file {}: ", f.path().display())),
            "{message}"
        );
        assert!(message.contains("unknown field `listen_port`"), "{message}");
        assert!(!message.contains('\n'), "one line: {message}");

        let f = file("listen = \"nope\"\n");
        let err = Config::resolve(&Layer::default(), Some(f.path()), &env(&[])).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "invalid listen address \"nope\" (from key listen in {}): expected IP:PORT, such as 127.0.0.1:8080 or [::]:8080",
                f.path().display()
            )
        );

        let err = Config::resolve(
            &Layer::default(),
            Some(Path::new("/no/such/signet.toml")),
            &env(&[]),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot read config file /no/such/signet.toml: ")
        );
    }

    #[test]
    fn every_file_key_has_an_environment_twin() {
        // Each key of the table must be a key the file accepts, and
        // vice versa, or a setting silently falls back to its default.
        let all_keys: String = SETTINGS
            .iter()
            .map(|s| format!("{} = \"x\"\n", s.key))
            .collect();
        assert!(toml::from_str::<Layer>(&all_keys).is_ok(), "{all_keys}");
        for setting in SETTINGS {
            assert_eq!(
                setting.env,
                format!("SIGNET_{}", setting.key.to_uppercase())
            );
            if let Some(flag) = setting.flag {
                assert_eq!(flag, format!("--{}", setting.key.replace('_', "-")));
            }
        }
        assert_eq!(SETTINGS.len(), 21, "one row per field of Layer");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("15m"), Some(Duration::from_secs(900)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("30d"), Some(Duration::from_secs(2_592_000)));
        for bad in ["", "h", "1", "1.5h", "-1h", "1 h", "1hour"] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
    }
}
