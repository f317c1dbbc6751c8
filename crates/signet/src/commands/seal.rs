//! `signet seal show` and `signet verify`.

use std::path::Path;

use serde_json::json;
use signet_esign::verification::VerifyResult;
use signet_store::UnixTime;

use super::CommandError;
use crate::cli::SealCommand;
use crate::output;
use crate::seal::SealOrigin;
use crate::state::AppState;

fn time(unix: u64) -> String {
    UnixTime::from_secs(i64::try_from(unix).unwrap_or(i64::MAX)).rfc3339()
}

pub(super) fn show(state: &AppState, command: SealCommand) -> Result<(), CommandError> {
    let SealCommand::Show { pem, json } = command;
    let Some(sealer) = state.esign.sealer() else {
        return Err(CommandError::Usage("this instance has no seal".to_owned()));
    };
    if pem {
        let pem = sealer
            .key()
            .certificates_pem()
            .map_err(|e| CommandError::Usage(e.to_string()))?;
        return Ok(output::line(pem.trim_end())?);
    }
    let info = sealer.info();
    let origin = match state.seal_origin {
        SealOrigin::Operator => "operator",
        SealOrigin::Instance => "instance",
    };
    let tsa = state.config.tsa_url.as_deref();
    if json.json {
        let pem = sealer
            .key()
            .certificates_pem()
            .map_err(|e| CommandError::Usage(e.to_string()))?;
        output::json(&json!({
            "subject": info.subject,
            "issuer": info.issuer,
            "serial": info.serial_hex,
            "sha256": info.fingerprint,
            "not_before": time(info.not_before_unix),
            "not_after": time(info.not_after_unix),
            "self_signed": info.self_signed,
            "algorithm": info.algorithm,
            "origin": origin,
            "timestamp_authority": tsa,
            "pem": pem,
        }))?;
        return Ok(());
    }
    let rows = [
        ("Subject", info.subject.clone()),
        ("Issuer", info.issuer.clone()),
        ("Serial", info.serial_hex.clone()),
        ("SHA-256", info.fingerprint.clone()),
        ("Valid from", time(info.not_before_unix)),
        ("Valid until", time(info.not_after_unix)),
        ("Algorithm", info.algorithm.to_owned()),
        (
            "Origin",
            match state.seal_origin {
                SealOrigin::Operator => {
                    "the operator's certificate (SIGNET_SEAL_CERT or SIGNET_SEAL_PKCS12)".to_owned()
                }
                SealOrigin::Instance if info.self_signed => {
                    "made by Signet on first start (self-signed)".to_owned()
                }
                SealOrigin::Instance => "made by Signet on first start".to_owned(),
            },
        ),
        (
            "Timestamps",
            tsa.map_or_else(
                || "none (set SIGNET_TSA_URL for PAdES B-T)".to_owned(),
                str::to_owned,
            ),
        ),
    ];
    for (label, value) in rows {
        output::line(&format!("{:<12} {value}", format!("{label}:")))?;
    }
    if info.self_signed {
        output::note(
            "Readers trust this seal once they import the certificate: `signet seal show --pem`.",
        );
    }
    Ok(())
}

pub(super) async fn verify(state: &AppState, file: &Path, json: bool) -> Result<(), CommandError> {
    let bytes = std::fs::read(file)
        .map_err(|e| CommandError::Usage(format!("cannot read {}: {e}", file.display())))?;
    let verification = state
        .esign
        .verify_pdf(bytes)
        .await
        .map_err(|e| CommandError::Usage(e.to_string()))?;
    if json {
        output::json(&verification)?;
    } else {
        output::line(&verification.summary)?;
        let details = [
            ("Envelope", verification.envelope_id.clone()),
            ("Title", verification.title.clone()),
            ("Sealed at", verification.sealed_at.map(UnixTime::rfc3339)),
            (
                "Timestamp",
                verification
                    .timestamp
                    .zip(verification.timestamp_authority.clone())
                    .map(|(at, by)| format!("{} by {by}", at.rfc3339()))
                    .or_else(|| verification.envelope_id.as_ref().map(|_| "none".to_owned())),
            ),
            ("Sealed by", verification.signer.clone()),
            ("SHA-256", verification.certificate_sha256.clone()),
        ];
        for (label, value) in details {
            if let Some(value) = value {
                output::line(&format!("{:<11} {value}", format!("{label}:")))?;
            }
        }
    }
    match verification.result {
        VerifyResult::Valid => Ok(()),
        other => Err(CommandError::NotValid(format!(
            "{} is not a valid deliverable of this instance ({other})",
            file.display()
        ))),
    }
}
