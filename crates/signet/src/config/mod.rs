//! Configuration: defaults, then a TOML file, then `SIGNET_*` environment
//! variables, then command-line flags — each later source wins. Every value
//! is checked here, once, and a bad one stops start-up with a message that
//! names the setting, where it came from and the value.
//!
//! - `settings.rs`: the table that declares every setting once, and what is
//!   generated from it ([`Layer`], [`SETTINGS`], [`Config`]);
//! - `values.rs`: how each kind of value is parsed and refused;
//! - this module: where values come from, and which source wins.

mod settings;
mod values;

use std::fmt;
use std::path::{Path, PathBuf};

use thiserror::Error;

pub use settings::{Config, Layer, SETTINGS, Setting};
pub use values::parse_duration;

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
        Self::from_sources(pick)
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::time::Duration;

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
        assert_eq!(config.docx_converter, None, "soffice on the PATH");
    }

    #[test]
    fn docx_converter_is_a_program_or_off() {
        for (value, expected) in [("none", "none"), (" Off ", " Off "), ("sh", "sh")] {
            let config = Config::resolve(
                &Layer::default(),
                None,
                &env(&[("SIGNET_DOCX_CONVERTER", value)]),
            )
            .unwrap();
            assert_eq!(config.docx_converter.as_deref(), Some(expected));
        }
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
            (
                Layer {
                    docx_converter: Some("/no/such/soffice".into()),
                    ..Layer::default()
                },
                vec![],
                "invalid DOCX converter \"/no/such/soffice\" (from flag --docx-converter): expected an executable program (a path, or a name on the PATH) such as soffice, or none",
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
        assert_eq!(SETTINGS.len(), 27, "one row per field of Layer");
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
