//! Content digests as the OCI image spec writes them: [`Digest`] is `algorithm:hex`, built by
//! [`Digest::parse`] (refusing anything the spec does not allow), or computed from bytes with
//! [`Digest::sha256`] / [`Digest::compute`]. A [`Verifier`] checks a stream of bytes against a
//! digest piece by piece, so a blob never has to sit in memory whole.
//!
//! Only the registered algorithms are accepted (`sha256`, `sha384`, `sha512`), each with its
//! exact number of lowercase hex digits; registries compare digests as strings, so an
//! uppercase or padded digest would name nothing.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::Digest as _;

/// A registered digest algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    Sha256,
    Sha384,
    Sha512,
}

impl Algorithm {
    const ALL: [Algorithm; 3] = [Algorithm::Sha256, Algorithm::Sha384, Algorithm::Sha512];

    /// The name digests start with: `sha256`, `sha384`, `sha512`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha384 => "sha384",
            Algorithm::Sha512 => "sha512",
        }
    }

    /// How many hex digits an encoded digest of this algorithm has: 64, 96 or 128.
    #[must_use]
    pub fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha384 => 96,
            Algorithm::Sha512 => 128,
        }
    }

    /// The algorithm called `name`, if it is a registered one.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Algorithm> {
        Algorithm::ALL.into_iter().find(|a| a.name() == name)
    }

    fn hasher(self) -> Hasher {
        match self {
            Algorithm::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            Algorithm::Sha384 => Hasher::Sha384(sha2::Sha384::new()),
            Algorithm::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A content digest, `sha256:<64 lowercase hex digits>` and the like.
///
/// Ordering, equality and hashing follow the full text, so sorting digests sorts their strings.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Digest {
    text: String,
    algorithm: Algorithm,
}

/// Why a string is not a digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DigestError {
    /// No `:` between algorithm and hex.
    MissingColon { input: String },
    /// The part before `:` is not `sha256`, `sha384` or `sha512`.
    UnknownAlgorithm { input: String, algorithm: String },
    /// The hex part has the wrong number of characters for its algorithm.
    WrongLength {
        input: String,
        algorithm: Algorithm,
        found: usize,
    },
    /// A character of the hex part is not one of `0-9a-f` (0-based offset into the input).
    NotLowercaseHex { input: String, position: usize },
}

impl fmt::Display for DigestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DigestError::MissingColon { input } => write!(
                f,
                "{input:?} is not a digest: it has no ':' between algorithm and hex; write it \
                 as sha256:<64 hex digits>"
            ),
            DigestError::UnknownAlgorithm { input, algorithm } => write!(
                f,
                "{input:?} is not a digest: algorithm {algorithm:?} is not one of sha256, \
                 sha384, sha512; use a digest the registry reports"
            ),
            DigestError::WrongLength {
                input,
                algorithm,
                found,
            } => write!(
                f,
                "{input:?} is not a digest: a {algorithm} digest has {} hex digits, this one \
                 has {found}; check that it was copied whole",
                algorithm.hex_len()
            ),
            DigestError::NotLowercaseHex { input, position } => write!(
                f,
                "{input:?} is not a digest: character {} is not a lowercase hex digit (0-9, \
                 a-f); digests are written in lowercase",
                position + 1
            ),
        }
    }
}

impl std::error::Error for DigestError {}

impl Digest {
    /// Parses `algorithm:hex`, as the OCI image spec restricts it for registered algorithms.
    pub fn parse(input: &str) -> Result<Digest, DigestError> {
        let Some((name, hex)) = input.split_once(':') else {
            return Err(DigestError::MissingColon {
                input: input.to_owned(),
            });
        };
        let Some(algorithm) = Algorithm::from_name(name) else {
            return Err(DigestError::UnknownAlgorithm {
                input: input.to_owned(),
                algorithm: name.to_owned(),
            });
        };
        if let Some(bad) = hex
            .bytes()
            .position(|b| !(b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        {
            return Err(DigestError::NotLowercaseHex {
                input: input.to_owned(),
                position: name.len() + 1 + bad,
            });
        }
        if hex.len() != algorithm.hex_len() {
            return Err(DigestError::WrongLength {
                input: input.to_owned(),
                algorithm,
                found: hex.len(),
            });
        }
        Ok(Digest {
            text: input.to_owned(),
            algorithm,
        })
    }

    /// The sha256 digest of `bytes`.
    #[must_use]
    pub fn sha256(bytes: &[u8]) -> Digest {
        Digest::compute(Algorithm::Sha256, bytes)
    }

    /// The `algorithm` digest of `bytes`.
    #[must_use]
    pub fn compute(algorithm: Algorithm, bytes: &[u8]) -> Digest {
        let mut hasher = algorithm.hasher();
        hasher.update(bytes);
        hasher.finish(algorithm)
    }

    #[must_use]
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The encoded part, after `algorithm:`.
    #[must_use]
    pub fn hex(&self) -> &str {
        &self.text[self.algorithm.name().len() + 1..]
    }

    /// The whole digest, `sha256:…`.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The tag the OCI referrers tag schema stores this manifest's referrers under:
    /// `sha256-<hex>`.
    #[must_use]
    pub fn fallback_tag(&self) -> String {
        format!("{}-{}", self.algorithm, self.hex())
    }

    /// The tag cosign stores a signature (`sig`), attestation (`att`) or SBOM (`sbom`) of this
    /// manifest under: `sha256-<hex>.sig`.
    #[must_use]
    pub fn cosign_tag(&self, suffix: &str) -> String {
        format!("{}.{suffix}", self.fallback_tag())
    }

    /// A verifier that checks bytes fed to it against this digest.
    #[must_use]
    pub fn verifier(&self) -> Verifier {
        Verifier {
            expected: self.clone(),
            hasher: self.algorithm.hasher(),
            seen: 0,
        }
    }
}

impl FromStr for Digest {
    type Err = DigestError;

    fn from_str(s: &str) -> Result<Digest, DigestError> {
        Digest::parse(s)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Digest, D::Error> {
        let text = String::deserialize(deserializer)?;
        Digest::parse(&text).map_err(serde::de::Error::custom)
    }
}

enum Hasher {
    Sha256(sha2::Sha256),
    Sha384(sha2::Sha384),
    Sha512(sha2::Sha512),
}

impl Hasher {
    fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(bytes),
            Hasher::Sha384(h) => h.update(bytes),
            Hasher::Sha512(h) => h.update(bytes),
        }
    }

    fn finish(self, algorithm: Algorithm) -> Digest {
        let hex = match self {
            Hasher::Sha256(h) => to_hex(&h.finalize()),
            Hasher::Sha384(h) => to_hex(&h.finalize()),
            Hasher::Sha512(h) => to_hex(&h.finalize()),
        };
        Digest {
            text: format!("{algorithm}:{hex}"),
            algorithm,
        }
    }
}

fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Checks a stream of bytes against an expected digest, as they arrive.
pub struct Verifier {
    expected: Digest,
    hasher: Hasher,
    seen: u64,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("expected", &self.expected)
            .field("seen", &self.seen)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    pub fn update(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
        self.seen += bytes.len() as u64;
    }

    /// How many bytes were fed so far.
    #[must_use]
    pub fn bytes_seen(&self) -> u64 {
        self.seen
    }

    /// Whether the bytes fed hash to the expected digest.
    pub fn finish(self) -> Result<(), DigestMismatch> {
        let actual = self.hasher.finish(self.expected.algorithm);
        if actual == self.expected {
            Ok(())
        } else {
            Err(DigestMismatch {
                expected: self.expected,
                actual,
                length: self.seen,
            })
        }
    }
}

/// Bytes that did not hash to the digest they were fetched by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DigestMismatch {
    pub expected: Digest,
    pub actual: Digest,
    /// How many bytes were hashed.
    pub length: u64,
}

impl fmt::Display for DigestMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "content does not match its digest: expected {}, the {} bytes received hash to {}; \
             the transfer was cut or altered, so fetch it again",
            self.expected, self.length, self.actual
        )
    }
}

impl std::error::Error for DigestMismatch {}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY_SHA256: &str =
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn known_vectors() {
        assert_eq!(Digest::sha256(b"").as_str(), EMPTY_SHA256);
        let sha512 = Digest::compute(Algorithm::Sha512, b"");
        assert!(sha512.as_str().starts_with("sha512:cf83e1357eefb8bd"));
        assert_eq!(sha512.hex().len(), 128);
        let sha384 = Digest::compute(Algorithm::Sha384, b"abc");
        assert_eq!(
            sha384.hex(),
            "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed\
             8086072ba1e7cc2358baeca134c825a7"
        );
        assert_eq!(
            Digest::sha256(b"abc").hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn parse_accepts_and_shows() {
        let d: Digest = EMPTY_SHA256.parse().unwrap();
        assert_eq!(d.algorithm(), Algorithm::Sha256);
        assert_eq!(d.algorithm().name(), "sha256");
        assert_eq!(d.to_string(), EMPTY_SHA256);
        assert_eq!(d, Digest::sha256(b""));
        assert_eq!(Algorithm::from_name("sha384"), Some(Algorithm::Sha384));
        assert_eq!(Algorithm::from_name("md5"), None);
    }

    #[test]
    fn parse_refuses_bad_input() {
        let upper = EMPTY_SHA256.replace('e', "E");
        assert!(matches!(
            Digest::parse(&upper),
            Err(DigestError::NotLowercaseHex { position: 7, .. })
        ));
        assert!(matches!(
            Digest::parse("sha256:abc"),
            Err(DigestError::WrongLength { found: 3, .. })
        ));
        assert!(matches!(
            Digest::parse(&format!("{EMPTY_SHA256}0")),
            Err(DigestError::WrongLength { found: 65, .. })
        ));
        assert!(matches!(
            Digest::parse(&EMPTY_SHA256.replace("sha256", "md5")),
            Err(DigestError::UnknownAlgorithm { .. })
        ));
        assert!(matches!(
            Digest::parse(&EMPTY_SHA256.replace(':', "")),
            Err(DigestError::MissingColon { .. })
        ));
        assert!(Digest::parse("").is_err());
        assert!(Digest::parse(&EMPTY_SHA256.replace("e3", "g3")).is_err());
        let message = Digest::parse("sha256:abc").unwrap_err().to_string();
        assert!(message.contains("64 hex digits"), "{message}");
        assert!(message.contains("\"sha256:abc\""), "{message}");
    }

    #[test]
    fn tags() {
        let d = Digest::sha256(b"");
        assert_eq!(
            d.fallback_tag(),
            "sha256-e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(d.cosign_tag("sig"), format!("{}.sig", d.fallback_tag()));
        assert_eq!(d.cosign_tag("att"), format!("{}.att", d.fallback_tag()));
    }

    #[test]
    fn serde_round_trip_and_refusal() {
        let d = Digest::sha256(b"hello");
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(json, format!("\"{d}\""));
        assert_eq!(serde_json::from_str::<Digest>(&json).unwrap(), d);
        let bad = serde_json::from_str::<Digest>("\"sha256:ABC\"").unwrap_err();
        assert!(bad.to_string().contains("not a digest"), "{bad}");
    }

    #[test]
    fn verifier_in_chunks_equals_one_shot() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        for algorithm in Algorithm::ALL {
            let expected = Digest::compute(algorithm, &data);
            let mut verifier = expected.verifier();
            for chunk in data.chunks(777) {
                verifier.update(chunk);
            }
            assert_eq!(verifier.bytes_seen(), data.len() as u64);
            verifier.finish().unwrap();
        }
    }

    #[test]
    fn verifier_reports_mismatch() {
        let expected = Digest::sha256(b"hello");
        let mut verifier = expected.verifier();
        verifier.update(b"hell");
        let err = verifier.finish().unwrap_err();
        assert_eq!(err.expected, expected);
        assert_eq!(err.actual, Digest::sha256(b"hell"));
        assert_eq!(err.length, 4);
        assert!(err.to_string().contains("4 bytes"));
    }
}
