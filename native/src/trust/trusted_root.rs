//! The Sigstore trust anchors: [`TrustedRoot`] reads a `trusted_root.json`
//! (`application/vnd.dev.sigstore.trustedroot+json;version=0.1`, what cosign v3's
//! `--trusted-root` and the public-good TUF repository hold): the Fulcio certificate
//! authorities (`certificateAuthorities[]`, each a chain, issuing certificate first, and the
//! period it was valid for), the Rekor transparency logs (`tlogs[]`: a SubjectPublicKeyInfo,
//! a log id, a validity period), the CT logs and the timestamp authorities. A file with only
//! its `mediaType` is a root with nothing in it (what cosign is given with `--key`).

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

use super::certificate::{Cert, PublicKey};

/// The media type prefix of a trusted root.
pub const TRUSTED_ROOT_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.trustedroot+json";

/// A trusted root that cannot be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrustError {
    /// Not JSON of the trusted-root shape, or a field that does not decode.
    Malformed(String),
    /// Another media type.
    OtherMediaType(String),
}

impl fmt::Display for TrustError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrustError::Malformed(d) => write!(f, "not a Sigstore trusted root: {d}"),
            TrustError::OtherMediaType(m) => write!(
                f,
                "not a Sigstore trusted root: mediaType {m:?}, expected {TRUSTED_ROOT_MEDIA_TYPE};version=0.1"
            ),
        }
    }
}

impl std::error::Error for TrustError {}

/// A period, in seconds since the Unix epoch; an absent end is open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ValidFor {
    pub start: i64,
    pub end: Option<i64>,
}

impl ValidFor {
    /// Whether `time` lies within the period (both ends included).
    #[must_use]
    pub fn contains(&self, time: i64) -> bool {
        self.start <= time && self.end.is_none_or(|end| time <= end)
    }
}

impl fmt::Display for ValidFor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.end {
            Some(end) => write!(f, "{}..{}", self.start, end),
            None => write!(f, "{}..", self.start),
        }
    }
}

/// A certificate authority (Fulcio) or a timestamp authority.
#[derive(Clone, Debug)]
pub struct CertificateAuthority {
    pub uri: String,
    /// The chain, the certificate that issues leaves first and the root last.
    pub chain: Vec<Cert>,
    pub valid_for: ValidFor,
}

/// A transparency log (Rekor) or a CT log.
#[derive(Clone, Debug)]
pub struct TransparencyLog {
    pub base_url: String,
    pub hash_algorithm: String,
    /// The SubjectPublicKeyInfo DER, and the key read from it.
    pub spki: Vec<u8>,
    pub public_key: PublicKey,
    /// `PKIX_ECDSA_P256_SHA_256` and so on, as the file says.
    pub key_details: String,
    pub valid_for: ValidFor,
    /// The log id (for Rekor v1 the SHA-256 of the SPKI DER).
    pub log_id: Vec<u8>,
}

/// A trusted root, read.
#[derive(Clone, Debug, Default)]
pub struct TrustedRoot {
    pub certificate_authorities: Vec<CertificateAuthority>,
    pub tlogs: Vec<TransparencyLog>,
    pub ctlogs: Vec<TransparencyLog>,
    pub timestamp_authorities: Vec<CertificateAuthority>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRoot {
    media_type: String,
    #[serde(default)]
    tlogs: Vec<RawLog>,
    #[serde(default)]
    certificate_authorities: Vec<RawAuthority>,
    #[serde(default)]
    ctlogs: Vec<RawLog>,
    #[serde(default)]
    timestamp_authorities: Vec<RawAuthority>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLog {
    #[serde(default)]
    base_url: String,
    #[serde(default)]
    hash_algorithm: String,
    public_key: RawPublicKey,
    log_id: RawLogId,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPublicKey {
    raw_bytes: String,
    #[serde(default)]
    key_details: String,
    valid_for: RawValidFor,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLogId {
    key_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawAuthority {
    #[serde(default)]
    uri: String,
    cert_chain: RawChain,
    valid_for: RawValidFor,
}

#[derive(Deserialize)]
struct RawChain {
    certificates: Vec<RawCert>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCert {
    raw_bytes: String,
}

#[derive(Deserialize)]
struct RawValidFor {
    start: String,
    #[serde(default)]
    end: Option<String>,
}

impl TrustedRoot {
    /// Reads `trusted_root.json`.
    pub fn parse(bytes: &[u8]) -> Result<TrustedRoot, TrustError> {
        let raw: RawRoot =
            serde_json::from_slice(bytes).map_err(|e| TrustError::Malformed(e.to_string()))?;
        if !raw.media_type.starts_with(TRUSTED_ROOT_MEDIA_TYPE) {
            return Err(TrustError::OtherMediaType(raw.media_type));
        }
        let authorities = |list: Vec<RawAuthority>, what: &str| {
            list.into_iter()
                .enumerate()
                .map(|(i, a)| authority(a).map_err(|e| malformed(&format!("{what}[{i}]"), e)))
                .collect::<Result<Vec<_>, _>>()
        };
        let logs = |list: Vec<RawLog>, what: &str| {
            list.into_iter()
                .enumerate()
                .map(|(i, l)| log(l).map_err(|e| malformed(&format!("{what}[{i}]"), e)))
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(TrustedRoot {
            certificate_authorities: authorities(
                raw.certificate_authorities,
                "certificateAuthorities",
            )?,
            tlogs: logs(raw.tlogs, "tlogs")?,
            ctlogs: logs(raw.ctlogs, "ctlogs")?,
            timestamp_authorities: authorities(raw.timestamp_authorities, "timestampAuthorities")?,
        })
    }
}

fn malformed(what: &str, detail: String) -> TrustError {
    TrustError::Malformed(format!("{what}: {detail}"))
}

fn authority(raw: RawAuthority) -> Result<CertificateAuthority, String> {
    let chain = raw
        .cert_chain
        .certificates
        .iter()
        .map(|c| {
            let der = STANDARD
                .decode(&c.raw_bytes)
                .map_err(|e| format!("rawBytes: {e}"))?;
            Cert::from_der(&der).map_err(|e| e.to_string())
        })
        .collect::<Result<Vec<_>, _>>()?;
    if chain.is_empty() {
        return Err("an empty certChain".to_owned());
    }
    Ok(CertificateAuthority {
        uri: raw.uri,
        chain,
        valid_for: valid_for(&raw.valid_for)?,
    })
}

fn log(raw: RawLog) -> Result<TransparencyLog, String> {
    let spki = STANDARD
        .decode(&raw.public_key.raw_bytes)
        .map_err(|e| format!("publicKey.rawBytes: {e}"))?;
    let public_key = PublicKey::from_spki(&spki).map_err(|e| e.to_string())?;
    Ok(TransparencyLog {
        base_url: raw.base_url,
        hash_algorithm: raw.hash_algorithm,
        public_key,
        spki,
        key_details: raw.public_key.key_details,
        valid_for: valid_for(&raw.public_key.valid_for)?,
        log_id: STANDARD
            .decode(&raw.log_id.key_id)
            .map_err(|e| format!("logId.keyId: {e}"))?,
    })
}

fn valid_for(raw: &RawValidFor) -> Result<ValidFor, String> {
    let time =
        |s: &str| rfc3339(s).ok_or_else(|| format!("validFor: {s:?} is not an RFC 3339 time"));
    Ok(ValidFor {
        start: time(&raw.start)?,
        end: raw.end.as_deref().map(time).transpose()?,
    })
}

/// Seconds since the Unix epoch of an RFC 3339 time (`2021-03-07T03:20:29.000Z`, or with an
/// offset); fractions of a second are dropped.
#[must_use]
pub fn rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(range)?;
        if part.is_empty() || !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = &s[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = &fraction[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let r = rest.as_bytes();
            if r.len() != 6 || r[3] != b':' {
                return None;
            }
            let h: i64 = rest[1..3].parse().ok()?;
            let m: i64 = rest[4..6].parse().ok()?;
            sign * (h * 3600 + m * 60)
        }
    };
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trust::keyless::fixture;

    #[test]
    fn the_public_good_root_is_read() {
        let root = TrustedRoot::parse(&fixture("trusted_root.json")).unwrap();
        assert_eq!(root.certificate_authorities.len(), 2);
        // The 2021 root alone, then the 2022 intermediate + root (open-ended).
        let old = &root.certificate_authorities[0];
        assert_eq!(old.chain.len(), 1);
        assert_eq!(old.valid_for.start, 1_615_087_229);
        assert_eq!(old.valid_for.end, Some(1_672_531_199));
        let current = &root.certificate_authorities[1];
        assert_eq!(current.uri, "https://fulcio.sigstore.dev");
        assert_eq!(current.chain.len(), 2);
        assert_eq!(current.valid_for.end, None);
        assert_eq!(
            current.chain[0].subject(),
            "CN=sigstore-intermediate,O=sigstore.dev"
        );
        assert!(current.chain[0].is_signed_by(&current.chain[1]));
        assert!(current.chain[1].is_signed_by(&current.chain[1]));
        assert!(!current.chain[1].is_signed_by(&current.chain[0]));
        assert!(current.chain[0].is_ca().unwrap());
        assert_eq!(current.chain[0].public_key().describe(), "ECDSA P-384");
        assert_eq!(root.tlogs.len(), 1);
        let rekor = &root.tlogs[0];
        assert_eq!(rekor.base_url, "https://rekor.sigstore.dev");
        assert_eq!(rekor.public_key.describe(), "ECDSA P-256");
        // Rekor v1's log id is the SHA-256 of its key's SPKI.
        assert_eq!(
            purser::digest::Digest::sha256(&rekor.spki).hex(),
            "c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d"
        );
        assert_eq!(
            hex(&rekor.log_id),
            "c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d"
        );
        assert_eq!(root.ctlogs.len(), 2);
        assert_eq!(root.timestamp_authorities.len(), 1);
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn the_minimal_root_cosign_takes_with_a_key_is_empty() {
        let bytes = crate::trust::fixture("trusted_root.json");
        let root = TrustedRoot::parse(&bytes).unwrap();
        assert!(root.certificate_authorities.is_empty());
        assert!(root.tlogs.is_empty());
    }

    #[test]
    fn bad_roots_are_named() {
        assert!(matches!(
            TrustedRoot::parse(b"{\"mediaType\":\"application/json\"}"),
            Err(TrustError::OtherMediaType(m)) if m == "application/json"
        ));
        assert!(matches!(
            TrustedRoot::parse(b"[]"),
            Err(TrustError::Malformed(_))
        ));
        let mut root: serde_json::Value =
            serde_json::from_slice(&fixture("trusted_root.json")).unwrap();
        root["certificateAuthorities"][1]["certChain"]["certificates"][0]["rawBytes"] =
            "AAAA".into();
        let err = TrustedRoot::parse(&serde_json::to_vec(&root).unwrap()).unwrap_err();
        assert!(
            err.to_string().contains("certificateAuthorities[1]"),
            "{err}"
        );
        let mut root: serde_json::Value =
            serde_json::from_slice(&fixture("trusted_root.json")).unwrap();
        root["tlogs"][0]["publicKey"]["validFor"]["start"] = "yesterday".into();
        let err = TrustedRoot::parse(&serde_json::to_vec(&root).unwrap()).unwrap_err();
        assert!(err.to_string().contains("tlogs[0]"), "{err}");
    }

    #[test]
    fn times_print_as_rfc3339() {
        for t in [
            0,
            951_825_600,
            1_615_087_229,
            1_672_531_199,
            1_734_374_576,
            -86_400,
        ] {
            assert_eq!(rfc3339(&purser::lock::rfc3339(t)), Some(t), "{t}");
        }
        assert_eq!(purser::lock::rfc3339(1_734_374_576), "2024-12-16T18:42:56Z");
    }

    #[test]
    fn rfc3339_times() {
        assert_eq!(rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(rfc3339("2021-03-07T03:20:29.000Z"), Some(1_615_087_229));
        assert_eq!(rfc3339("2022-12-31T23:59:59.999Z"), Some(1_672_531_199));
        assert_eq!(rfc3339("2022-12-31T23:59:59+01:00"), Some(1_672_527_599));
        assert_eq!(
            rfc3339("2000-02-29T12:00:00-00:30"),
            Some(951_825_600 + 1800)
        );
        for bad in [
            "",
            "2021-03-07",
            "2021-13-07T03:20:29Z",
            "2021-03-07T03:20:29",
            "2021-03-07T03:20:29.Z",
            "2021-03-07 03:20:29Z",
            "2021-03-07T03:20:29+0100",
            "+021-03-07T03:20:29Z",
        ] {
            assert_eq!(rfc3339(bad), None, "{bad}");
        }
    }
}
