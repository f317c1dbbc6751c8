//! RFC 3161 time-stamp requests and replies, written here because the only
//! crate for them (`x509-tsp`) decodes `genTime` with der's
//! GeneralizedTime, which refuses the fractional seconds real TSAs send.
//! About seventy lines of structures; no I/O (the engine posts the request
//! through the SSRF-guarded fetcher).

use cms::content_info::ContentInfo;
use cms::signed_data::SignedData;
use const_oid::ObjectIdentifier;
use const_oid::db::rfc5911::ID_SIGNED_DATA;
use const_oid::db::rfc5912::{ID_SHA_256, ID_SHA_384, ID_SHA_512};
use der::asn1::{Any, BitString, Int, OctetString};
use der::{Decode, Encode, Reader, Sequence, SliceReader, Tag};
use spki::AlgorithmIdentifierOwned;

use crate::key::sha256;

/// The media type of a request.
pub const QUERY_CONTENT_TYPE: &str = "application/timestamp-query";

/// `id-ct-TSTInfo`.
const ID_CT_TST_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");

/// Why a TSA's answer is not usable.
#[derive(Debug, thiserror::Error)]
pub enum TimestampError {
    #[error("the TSA's reply is not an RFC 3161 reply: {0}")]
    Malformed(String),
    #[error("the TSA refused the request (status {status}{text})")]
    Refused { status: u32, text: String },
    #[error("the TSA's token does not cover this signature")]
    WrongImprint,
    #[error("the TSA's token does not answer this request (nonce differs)")]
    WrongNonce,
}

impl From<der::Error> for TimestampError {
    fn from(error: der::Error) -> Self {
        Self::Malformed(error.to_string())
    }
}

#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct MessageImprint {
    hash_algorithm: AlgorithmIdentifierOwned,
    hashed_message: OctetString,
}

#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct TimeStampReq {
    version: u8,
    message_imprint: MessageImprint,
    #[asn1(optional = "true")]
    nonce: Option<Int>,
    #[asn1(default = "Default::default")]
    cert_req: bool,
}

#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct PkiStatusInfo {
    status: u32,
    #[asn1(optional = "true")]
    status_string: Option<Vec<String>>,
    #[asn1(optional = "true")]
    fail_info: Option<BitString>,
}

#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct TimeStampResp {
    status: PkiStatusInfo,
    #[asn1(optional = "true")]
    time_stamp_token: Option<ContentInfo>,
}

/// A request for a timestamp of one signature value.
#[derive(Debug)]
pub struct TimestampRequest {
    der: Vec<u8>,
    imprint: Vec<u8>,
    nonce: Int,
}

impl TimestampRequest {
    /// Asks for a SHA-256 imprint of `signature_value`, with a random nonce
    /// and the TSA's certificate in the token.
    pub fn for_signature(signature_value: &[u8]) -> Result<Self, crate::SealError> {
        let mut nonce = [0u8; 12];
        aws_lc_rs::rand::fill(&mut nonce).map_err(|e| crate::SealError::Build(e.to_string()))?;
        nonce[0] = (nonce[0] & 0x7f) | 0x01;
        let nonce = Int::new(&nonce)?;
        let imprint = sha256(signature_value);
        let der = TimeStampReq {
            version: 1,
            message_imprint: MessageImprint {
                hash_algorithm: AlgorithmIdentifierOwned {
                    oid: ID_SHA_256,
                    parameters: None,
                },
                hashed_message: OctetString::new(imprint.clone())?,
            },
            nonce: Some(nonce.clone()),
            cert_req: true,
        }
        .to_der()?;
        Ok(Self {
            der,
            imprint,
            nonce,
        })
    }

    /// The request's DER, the body to post.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The `TimeStampToken` (DER) of a granted reply that answers this
    /// request: same imprint, same nonce.
    pub fn token_from_reply(&self, reply: &[u8]) -> Result<Vec<u8>, TimestampError> {
        let reply = TimeStampResp::from_der(reply)?;
        if reply.status.status > 1 {
            let text = reply
                .status
                .status_string
                .map(|s| format!(": {}", s.join("; ")))
                .unwrap_or_default();
            return Err(TimestampError::Refused {
                status: reply.status.status,
                text,
            });
        }
        let token = reply
            .time_stamp_token
            .ok_or_else(|| TimestampError::Malformed("a granted reply without a token".into()))?;
        let info = token_info(&token)?;
        if info.imprint != self.imprint || info.imprint_algorithm != ID_SHA_256 {
            return Err(TimestampError::WrongImprint);
        }
        if info.nonce.as_ref() != Some(&self.nonce) {
            return Err(TimestampError::WrongNonce);
        }
        Ok(token.to_der()?)
    }
}

/// The time a `TimeStampToken` (DER) states, Unix seconds.
pub fn token_time(token: &[u8]) -> Option<i64> {
    let token = ContentInfo::from_der(token).ok()?;
    token_info(&token).ok().map(|info| info.time_unix)
}

/// What a token says (its `TSTInfo`), and the bytes its signature covers.
#[derive(Debug)]
pub(crate) struct TokenInfo {
    pub imprint_algorithm: ObjectIdentifier,
    pub imprint: Vec<u8>,
    pub nonce: Option<Int>,
    /// `genTime`, Unix seconds (fractions dropped).
    pub time_unix: i64,
    pub signed_data: SignedData,
    pub tst_info_der: Vec<u8>,
}

pub(crate) fn token_info(token: &ContentInfo) -> Result<TokenInfo, TimestampError> {
    if token.content_type != ID_SIGNED_DATA {
        return Err(TimestampError::Malformed(
            "the token is not SignedData".into(),
        ));
    }
    let signed_data = token.content.decode_as::<SignedData>()?;
    if signed_data.encap_content_info.econtent_type != ID_CT_TST_INFO {
        return Err(TimestampError::Malformed(
            "the token holds no TSTInfo".into(),
        ));
    }
    let tst_info_der = signed_data
        .encap_content_info
        .econtent
        .as_ref()
        .ok_or_else(|| TimestampError::Malformed("the token's TSTInfo is empty".into()))?
        .decode_as::<OctetString>()?
        .as_bytes()
        .to_vec();
    let mut reader = SliceReader::new(&tst_info_der)?;
    let (imprint, time, nonce) = reader.sequence(|r| {
        let _version: Int = r.decode()?;
        let _policy: ObjectIdentifier = r.decode()?;
        let imprint: MessageImprint = r.decode()?;
        let _serial: Int = r.decode()?;
        let time: Any = r.decode()?;
        let mut nonce = None;
        // accuracy, ordering, nonce, tsa, extensions: only the nonce matters.
        while !r.is_finished() {
            let next: Any = r.decode()?;
            if der::Tagged::tag(&next) == Tag::Integer {
                nonce = Some(next.decode_as::<Int>()?);
            }
        }
        Ok::<_, der::Error>((imprint, time, nonce))
    })?;
    if der::Tagged::tag(&time) != Tag::GeneralizedTime {
        return Err(TimestampError::Malformed(
            "genTime is not a GeneralizedTime".into(),
        ));
    }
    let time_unix = generalized_time(time.value())
        .ok_or_else(|| TimestampError::Malformed("genTime is not a valid time".into()))?;
    Ok(TokenInfo {
        imprint_algorithm: imprint.hash_algorithm.oid,
        imprint: imprint.hashed_message.as_bytes().to_vec(),
        nonce,
        time_unix,
        signed_data,
        tst_info_der,
    })
}

/// The digest `algorithm` names, of `parts` in order.
pub(crate) fn digest_of(algorithm: ObjectIdentifier, parts: &[&[u8]]) -> Option<Vec<u8>> {
    let algorithm = match algorithm {
        a if a == ID_SHA_256 => &aws_lc_rs::digest::SHA256,
        a if a == ID_SHA_384 => &aws_lc_rs::digest::SHA384,
        a if a == ID_SHA_512 => &aws_lc_rs::digest::SHA512,
        _ => return None,
    };
    let mut context = aws_lc_rs::digest::Context::new(algorithm);
    for part in parts {
        context.update(part);
    }
    Some(context.finish().as_ref().to_vec())
}

/// `YYYYMMDDHHMMSS[.f…]Z` as Unix seconds.
fn generalized_time(text: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(text).ok()?;
    let text = text.strip_suffix('Z')?;
    let (whole, fraction) = text.split_once('.').unwrap_or((text, "0"));
    if whole.len() != 14
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let number = |range: std::ops::Range<usize>| whole.get(range)?.parse::<i64>().ok();
    let (year, month, day) = (number(0..4)?, number(4..6)?, number(6..8)?);
    let (hour, minute, second) = (number(8..10)?, number(10..12)?, number(12..14)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hour * 3600 + minute * 60 + second)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generalized_times_with_and_without_fractions() {
        assert_eq!(generalized_time(b"19700101000000Z"), Some(0));
        assert_eq!(
            generalized_time(b"20261202051530.123Z"),
            Some(1_796_188_530)
        );
        assert_eq!(generalized_time(b"20261202051530"), None);
        assert_eq!(generalized_time(b"20261302051530Z"), None);
    }
}
