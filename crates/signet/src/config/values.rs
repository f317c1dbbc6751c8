//! How each kind of setting is read from its text. Every parser takes the
//! value and where it came from, and refuses with a [`ConfigError`] that
//! names the setting, the source and the value — or `***` for a secret, so
//! a malformed secret is never echoed.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use signet_oauth::{Issuer, KeyEncryptionKey};

use super::{ConfigError, LogFormat, Source};

fn invalid(setting: &'static str, value: String, origin: Source, reason: String) -> ConfigError {
    ConfigError::Invalid {
        setting,
        value,
        origin,
        reason,
    }
}

/// Any text, as given.
pub(super) fn text(value: String, _: Source) -> Result<String, ConfigError> {
    Ok(value)
}

pub(super) fn path(value: String, _: Source) -> Result<PathBuf, ConfigError> {
    Ok(PathBuf::from(value))
}

pub(super) fn optional_path(value: String, _: Source) -> Result<Option<PathBuf>, ConfigError> {
    Ok(Some(PathBuf::from(value)))
}

/// An http(s) URL; the fetcher's guard still decides whether it may be reached.
pub(super) fn tsa_url(value: String, source: Source) -> Result<Option<String>, ConfigError> {
    match url::Url::parse(value.trim()) {
        Ok(url) if matches!(url.scheme(), "https" | "http") && url.host().is_some() => {
            Ok(Some(url.to_string()))
        }
        _ => Err(invalid(
            "time-stamp authority URL",
            value.clone(),
            source,
            "expected an https URL (http only for a host in SIGNET_FETCH_ALLOW_HOSTS)".to_owned(),
        )),
    }
}

pub(super) fn database_url(url: String, source: Source) -> Result<String, ConfigError> {
    let url = url.trim().to_owned();
    match signet_store::Backend::from_url(&url) {
        Ok(_) => Ok(url),
        Err(_) => Err(invalid(
            "database URL",
            redact_for_message(&url),
            source,
            "expected sqlite://PATH or postgres://USER:PASSWORD@HOST/DATABASE".to_owned(),
        )),
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

pub(super) fn listen(text: String, source: Source) -> Result<SocketAddr, ConfigError> {
    text.trim().parse::<SocketAddr>().map_err(|_| {
        invalid(
            "listen address",
            text.clone(),
            source,
            "expected IP:PORT, such as 127.0.0.1:8080 or [::]:8080".to_owned(),
        )
    })
}

pub(super) fn public_url(raw: String, source: Source) -> Result<Option<Issuer>, ConfigError> {
    match Issuer::parse(&raw) {
        Ok(issuer) => Ok(Some(issuer)),
        Err(e) => Err(invalid("public URL", raw.clone(), source, e.to_string())),
    }
}

pub(super) fn log_format(format: String, source: Source) -> Result<LogFormat, ConfigError> {
    match format.as_str() {
        "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        _ => Err(invalid(
            "log format",
            format,
            source,
            "expected text or json".to_owned(),
        )),
    }
}

pub(super) fn log_level(level: String, source: Source) -> Result<String, ConfigError> {
    if tracing_subscriber::EnvFilter::try_new(&level).is_err() {
        return Err(invalid(
            "log level",
            level,
            source,
            "expected a level (error, warn, info, debug, trace) or filter directives".to_owned(),
        ));
    }
    Ok(level)
}

/// A duration from `min` to `max` seconds, or the error `expected`.
pub(super) fn duration(
    text: String,
    source: Source,
    setting: &'static str,
    (min, max): (u64, u64),
    expected: &str,
) -> Result<Duration, ConfigError> {
    parse_duration(&text)
        .filter(|d| (Duration::from_secs(min)..=Duration::from_secs(max)).contains(d))
        .ok_or_else(|| invalid(setting, text.clone(), source, expected.to_owned()))
}

/// A whole number of at least `min`.
pub(super) fn count(
    text: String,
    source: Source,
    setting: &'static str,
    min: u32,
) -> Result<u32, ConfigError> {
    text.trim()
        .parse::<u32>()
        .ok()
        .filter(|n| *n >= min)
        .ok_or_else(|| {
            invalid(
                setting,
                text.clone(),
                source,
                format!("expected a whole number of at least {min}"),
            )
        })
}

/// Comma-separated origins, each normalised like the public URL; an error
/// names the one entry at fault.
pub(super) fn origins(list: String, source: Source) -> Result<Vec<String>, ConfigError> {
    list.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            Issuer::parse(entry)
                .map(|origin| origin.as_str().to_owned())
                .map_err(|e| {
                    invalid(
                        "allowed origin",
                        entry.to_owned(),
                        source.clone(),
                        e.to_string(),
                    )
                })
        })
        .collect()
}

pub(super) fn key_encryption_key(
    raw: String,
    source: Source,
) -> Result<Option<KeyEncryptionKey>, ConfigError> {
    KeyEncryptionKey::parse(&raw)
        .map(Some)
        // Never echo a secret, even a malformed one.
        .map_err(|reason| invalid("key-encryption key", "***".to_owned(), source, reason))
}

pub(super) fn fetch_allow_hosts(
    list: String,
    source: Source,
) -> Result<Vec<signet_fetch::AllowedHost>, ConfigError> {
    signet_fetch::AllowedHost::parse_list(&list)
        .map_err(|reason| invalid("fetch allow-list", list.clone(), source, reason))
}

pub(super) fn email_from(from: String, source: Source) -> Result<Option<String>, ConfigError> {
    signet_esign::Mailer::new(None, &from)
        .map_err(|reason| invalid("email sender", from.clone(), source, reason))?;
    Ok(Some(from))
}

pub(super) fn smtp_url(url: String, source: Source) -> Result<Option<String>, ConfigError> {
    signet_esign::Mailer::new(Some(&url), "Signet <signet@localhost>")
        // It may carry a password.
        .map_err(|reason| invalid("SMTP URL", "***".to_owned(), source, reason))?;
    Ok(Some(url))
}

/// A program path or a name on the PATH that is an executable file, or one
/// of the words that turn conversion off.
pub(super) fn docx_converter(
    program: String,
    source: Source,
) -> Result<Option<String>, ConfigError> {
    use signet_esign::DocxConverter;
    if !DocxConverter::turns_off(&program)
        && !DocxConverter::from_setting(Some(&program)).available()
    {
        return Err(invalid(
            "DOCX converter",
            program.clone(),
            source,
            "expected an executable program (a path, or a name on the PATH) such as soffice, or none".to_owned(),
        ));
    }
    Ok(Some(program))
}

pub(super) fn trusted_proxies(
    list: String,
    source: Source,
) -> Result<signet_store::net::TrustedProxies, ConfigError> {
    signet_store::net::TrustedProxies::parse(&list)
        .map_err(|reason| invalid("trusted proxies", list.clone(), source, reason))
}

/// Parses `90s`, `15m`, `1h` or `30d`: the grammar the tools' durations
/// (reminders, expiry) use too, written once in the engine.
pub fn parse_duration(text: &str) -> Option<Duration> {
    signet_esign::input::parse_duration(text).map(Duration::from_secs)
}
