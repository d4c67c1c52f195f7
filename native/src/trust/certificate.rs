//! X.509 as keyless signing needs it: [`Cert`] is one DER certificate, read with x509-cert,
//! with what a Fulcio certificate says (its SANs, its OIDC issuer, its validity, whether it
//! is for code signing or a CA) and its key ([`PublicKey`]); [`Cert::is_signed_by`] checks
//! one link of a chain. Every signature is checked by ring: ECDSA P-256 / P-384 with SHA-256
//! or SHA-384 (what the Sigstore public-good Fulcio and Rekor use), Ed25519, RSA PKCS#1 v1.5.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use x509_cert::der::Decode;
use x509_cert::der::asn1::{ObjectIdentifier, Utf8StringRef};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAltName};

/// id-kp-codeSigning (1.3.6.1.5.5.7.3.3), the extended key usage Fulcio gives its leaves.
const CODE_SIGNING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.3");
/// Fulcio's OIDC issuer extension, a DER UTF8String (Fulcio v2 and later).
pub const OIDC_ISSUER_V2: &str = "1.3.6.1.4.1.57264.1.8";
/// Fulcio's first OIDC issuer extension, the raw string (deprecated, still written).
pub const OIDC_ISSUER_V1: &str = "1.3.6.1.4.1.57264.1.1";

const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const ECDSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
const RSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const RSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
const RSA_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");

/// Bytes that are not a certificate read here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertError(pub String);

impl fmt::Display for CertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not a usable X.509 certificate: {}", self.0)
    }
}

impl std::error::Error for CertError {}

/// The kinds of public key signatures are checked with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KeyKind {
    P256,
    P384,
    Ed25519,
    Rsa,
}

/// A public key from a SubjectPublicKeyInfo.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    kind: KeyKind,
    /// What ring takes: the EC point, the Ed25519 key, or the RSAPublicKey DER.
    key: Vec<u8>,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.describe())
    }
}

impl PublicKey {
    /// Reads a SubjectPublicKeyInfo (DER), as a trusted root's `publicKey.rawBytes` holds.
    pub fn from_spki(der: &[u8]) -> Result<PublicKey, CertError> {
        let spki = x509_cert::spki::SubjectPublicKeyInfoOwned::from_der(der)
            .map_err(|e| CertError(format!("a public key: {e}")))?;
        PublicKey::from_info(&spki)
    }

    fn from_info(
        spki: &x509_cert::spki::SubjectPublicKeyInfoOwned,
    ) -> Result<PublicKey, CertError> {
        let oid = spki.algorithm.oid;
        let kind = if oid == EC_PUBLIC_KEY {
            let curve: ObjectIdentifier = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.decode_as().ok())
                .ok_or_else(|| CertError("an EC key without a named curve".to_owned()))?;
            match curve {
                c if c == P256 => KeyKind::P256,
                c if c == P384 => KeyKind::P384,
                c => {
                    return Err(CertError(format!(
                        "an EC key on curve {c} (P-256 and P-384 are read)"
                    )));
                }
            }
        } else if oid == ED25519 {
            KeyKind::Ed25519
        } else if oid == RSA {
            KeyKind::Rsa
        } else {
            return Err(CertError(format!("a public key of algorithm {oid}")));
        };
        let key = spki
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| CertError("a public key bit string with unused bits".to_owned()))?
            .to_vec();
        Ok(PublicKey { kind, key })
    }

    /// "ECDSA P-256" and so on.
    #[must_use]
    pub fn describe(&self) -> &'static str {
        match self.kind {
            KeyKind::P256 => "ECDSA P-256",
            KeyKind::P384 => "ECDSA P-384",
            KeyKind::Ed25519 => "Ed25519",
            KeyKind::Rsa => "RSA",
        }
    }

    /// Checks `signature` over `message` with the hash this kind of key signs with in Sigstore
    /// (SHA-256 for P-256 and RSA, SHA-384 for P-384; Ed25519 signs the message itself).
    /// ECDSA signatures are ASN.1 DER.
    #[must_use]
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        let algorithm: &dyn VerificationAlgorithm = match self.kind {
            KeyKind::P256 => &signature::ECDSA_P256_SHA256_ASN1,
            KeyKind::P384 => &signature::ECDSA_P384_SHA384_ASN1,
            KeyKind::Ed25519 => &signature::ED25519,
            KeyKind::Rsa => &signature::RSA_PKCS1_2048_8192_SHA256,
        };
        UnparsedPublicKey::new(algorithm, &self.key)
            .verify(message, signature)
            .is_ok()
    }

    /// Checks a signature made with X.509 signature algorithm `algorithm`.
    fn verify_as(&self, algorithm: ObjectIdentifier, message: &[u8], signature: &[u8]) -> bool {
        let ring_algorithm: &dyn VerificationAlgorithm = match (self.kind, algorithm) {
            (KeyKind::P256, a) if a == ECDSA_SHA256 => &signature::ECDSA_P256_SHA256_ASN1,
            (KeyKind::P256, a) if a == ECDSA_SHA384 => &signature::ECDSA_P256_SHA384_ASN1,
            (KeyKind::P384, a) if a == ECDSA_SHA256 => &signature::ECDSA_P384_SHA256_ASN1,
            (KeyKind::P384, a) if a == ECDSA_SHA384 => &signature::ECDSA_P384_SHA384_ASN1,
            (KeyKind::Ed25519, a) if a == ED25519 => &signature::ED25519,
            (KeyKind::Rsa, a) if a == RSA_SHA256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            (KeyKind::Rsa, a) if a == RSA_SHA384 => &signature::RSA_PKCS1_2048_8192_SHA384,
            (KeyKind::Rsa, a) if a == RSA_SHA512 => &signature::RSA_PKCS1_2048_8192_SHA512,
            _ => return false,
        };
        UnparsedPublicKey::new(ring_algorithm, &self.key)
            .verify(message, signature)
            .is_ok()
    }
}

/// One certificate, read, with its exact DER kept.
#[derive(Clone, Debug)]
pub struct Cert {
    der: Vec<u8>,
    cert: x509_cert::Certificate,
    key: PublicKey,
}

impl PartialEq for Cert {
    fn eq(&self, other: &Cert) -> bool {
        self.der == other.der
    }
}

impl Cert {
    /// Reads a DER certificate.
    pub fn from_der(der: &[u8]) -> Result<Cert, CertError> {
        let cert = x509_cert::Certificate::from_der(der).map_err(|e| CertError(e.to_string()))?;
        let key = PublicKey::from_info(&cert.tbs_certificate.subject_public_key_info)?;
        Ok(Cert {
            der: der.to_vec(),
            cert,
            key,
        })
    }

    /// Reads the first `CERTIFICATE` block of a PEM text.
    pub fn from_pem(text: &str) -> Result<Cert, CertError> {
        Cert::from_der(
            &pem_certificates(text)?
                .into_iter()
                .next()
                .unwrap_or_default(),
        )
    }

    /// The DER bytes.
    #[must_use]
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The subject public key.
    #[must_use]
    pub fn public_key(&self) -> &PublicKey {
        &self.key
    }

    /// The subject, as RFC 4514 text (`CN=sigstore-intermediate,O=sigstore.dev`).
    #[must_use]
    pub fn subject(&self) -> String {
        self.cert.tbs_certificate.subject.to_string()
    }

    /// The issuer name, as [`Cert::subject`] prints names.
    #[must_use]
    pub fn issuer(&self) -> String {
        self.cert.tbs_certificate.issuer.to_string()
    }

    /// notBefore and notAfter, in seconds since the Unix epoch.
    #[must_use]
    pub fn validity(&self) -> (i64, i64) {
        let v = &self.cert.tbs_certificate.validity;
        let secs = |t: x509_cert::time::Time| {
            i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX)
        };
        (secs(v.not_before), secs(v.not_after))
    }

    /// Whether `time` (Unix seconds) lies within notBefore..=notAfter.
    #[must_use]
    pub fn valid_at(&self, time: i64) -> bool {
        let (not_before, not_after) = self.validity();
        not_before <= time && time <= not_after
    }

    /// The raw value (inside the OCTET STRING) of extension `oid`, when present.
    fn extension(&self, oid: &str) -> Option<&[u8]> {
        let oid = ObjectIdentifier::new(oid).ok()?;
        self.cert
            .tbs_certificate
            .extensions
            .as_ref()?
            .iter()
            .find(|e| e.extn_id == oid)
            .map(|e| e.extn_value.as_bytes())
    }

    /// The email and URI subject alternative names (what Fulcio puts the OIDC subject in).
    pub fn san_identities(&self) -> Result<Vec<String>, CertError> {
        let san = self
            .cert
            .tbs_certificate
            .get::<SubjectAltName>()
            .map_err(|e| CertError(format!("the subject alternative name: {e}")))?;
        Ok(san
            .map(|(_, san)| san.0)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|name| match name {
                GeneralName::Rfc822Name(s) => Some(s.to_string()),
                GeneralName::UniformResourceIdentifier(s) => Some(s.to_string()),
                _ => None,
            })
            .collect())
    }

    /// The OIDC issuer Fulcio recorded: extension 1.3.6.1.4.1.57264.1.8 (a DER UTF8String),
    /// or else the older 1.3.6.1.4.1.57264.1.1 (the raw string).
    pub fn oidc_issuer(&self) -> Result<Option<String>, CertError> {
        if let Some(value) = self.extension(OIDC_ISSUER_V2) {
            let s = Utf8StringRef::from_der(value)
                .map_err(|e| CertError(format!("extension {OIDC_ISSUER_V2}: {e}")))?;
            return Ok(Some(s.as_str().to_owned()));
        }
        self.extension(OIDC_ISSUER_V1)
            .map(|raw| {
                String::from_utf8(raw.to_vec())
                    .map_err(|_| CertError(format!("extension {OIDC_ISSUER_V1} is not UTF-8")))
            })
            .transpose()
    }

    /// Whether the extended key usage includes code signing.
    pub fn is_code_signing(&self) -> Result<bool, CertError> {
        let eku = self
            .cert
            .tbs_certificate
            .get::<ExtendedKeyUsage>()
            .map_err(|e| CertError(format!("the extended key usage: {e}")))?;
        Ok(eku.is_some_and(|(_, eku)| eku.0.contains(&CODE_SIGNING)))
    }

    /// Whether this is a CA certificate: basic constraints cA, and a key usage (if any) that
    /// allows signing certificates.
    pub fn is_ca(&self) -> Result<bool, CertError> {
        let tbs = &self.cert.tbs_certificate;
        let bc = tbs
            .get::<BasicConstraints>()
            .map_err(|e| CertError(format!("the basic constraints: {e}")))?;
        let ku = tbs
            .get::<KeyUsage>()
            .map_err(|e| CertError(format!("the key usage: {e}")))?;
        Ok(bc.is_some_and(|(_, bc)| bc.ca) && ku.is_none_or(|(_, ku)| ku.key_cert_sign()))
    }

    /// Whether `issuer` issued this certificate: the issuer name is its subject and its key
    /// verifies the signature over the exact TBSCertificate bytes.
    #[must_use]
    pub fn is_signed_by(&self, issuer: &Cert) -> bool {
        let names_match = self.cert.tbs_certificate.issuer == issuer.cert.tbs_certificate.subject;
        let Some(tbs) = first_element(&self.der) else {
            return false;
        };
        let Some(signature) = self.cert.signature.as_bytes() else {
            return false;
        };
        names_match
            && self.cert.signature_algorithm.oid == self.cert.tbs_certificate.signature.oid
            && issuer
                .key
                .verify_as(self.cert.signature_algorithm.oid, tbs, signature)
    }

    /// The certificate as PEM (64-column base64).
    #[must_use]
    pub fn to_pem(&self) -> String {
        let b64 = STANDARD.encode(&self.der);
        let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
        for line in b64.as_bytes().chunks(64) {
            out.push_str(&String::from_utf8_lossy(line));
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
        out
    }

    /// The re-encoded DER, to compare with another reading of the same certificate.
    #[cfg(test)]
    fn reencoded(&self) -> Vec<u8> {
        x509_cert::der::Encode::to_der(&self.cert).unwrap_or_default()
    }
}

/// The DER of every `CERTIFICATE` block of a PEM text, in order.
pub fn pem_certificates(text: &str) -> Result<Vec<Vec<u8>>, CertError> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        let after = &rest[start + BEGIN.len()..];
        let end = after
            .find(END)
            .ok_or_else(|| CertError(format!("a PEM block without {END}")))?;
        let b64: String = after[..end]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        out.push(
            STANDARD
                .decode(b64)
                .map_err(|e| CertError(format!("PEM base64: {e}")))?,
        );
        rest = &after[end + END.len()..];
    }
    if out.is_empty() {
        return Err(CertError("no -----BEGIN CERTIFICATE----- block".to_owned()));
    }
    Ok(out)
}

/// The first element (its whole TLV) inside the DER SEQUENCE `der`: a certificate's
/// TBSCertificate, byte for byte as signed.
fn first_element(der: &[u8]) -> Option<&[u8]> {
    let (_, inner) = tlv(der)?;
    let (len, _) = tlv(inner)?;
    inner.get(..len)
}

/// The length of the TLV at the start of `bytes` (header included) and its contents.
fn tlv(bytes: &[u8]) -> Option<(usize, &[u8])> {
    let first = *bytes.get(1)?;
    let (header, len) = if first < 0x80 {
        (2, usize::from(first))
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let len = bytes
            .get(2..2 + n)?
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (2 + n, len)
    };
    let contents = bytes.get(header..header.checked_add(len)?)?;
    Some((header + len, contents))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trust::keyless::fixture;

    fn leaf() -> Cert {
        let bundle: serde_json::Value =
            serde_json::from_slice(&fixture("dsse/bundle.sigstore.json")).unwrap();
        let raw = bundle["verificationMaterial"]["certificate"]["rawBytes"]
            .as_str()
            .unwrap();
        Cert::from_der(&STANDARD.decode(raw).unwrap()).unwrap()
    }

    #[test]
    fn a_fulcio_leaf_says_who_signed_and_when() {
        let cert = leaf();
        assert_eq!(
            cert.san_identities().unwrap(),
            [
                "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main"
            ]
        );
        assert_eq!(
            cert.oidc_issuer().unwrap().as_deref(),
            Some("https://token.actions.githubusercontent.com")
        );
        assert!(cert.is_code_signing().unwrap());
        assert!(!cert.is_ca().unwrap());
        // notBefore 2024-12-16T18:42:56Z, notAfter ten minutes later.
        assert_eq!(cert.validity(), (1_734_374_576, 1_734_375_176));
        assert!(cert.valid_at(1_734_374_576));
        assert!(cert.valid_at(1_734_375_176));
        assert!(!cert.valid_at(1_734_374_575));
        assert!(!cert.valid_at(1_734_375_177));
        assert_eq!(cert.public_key().describe(), "ECDSA P-256");
        // The TBS slice is what the DER holds: re-reading the PEM gives the same certificate.
        assert_eq!(Cert::from_pem(&cert.to_pem()).unwrap(), cert);
        assert_eq!(cert.reencoded(), cert.der());
    }

    #[test]
    fn the_tbs_is_sliced_exactly() {
        let cert = leaf();
        let tbs = first_element(cert.der()).unwrap();
        let reencoded = x509_cert::der::Encode::to_der(&cert.cert.tbs_certificate).unwrap();
        assert_eq!(tbs, reencoded.as_slice());
        assert!(first_element(&[0x30, 0x85, 1, 1, 1, 1, 1]).is_none());
        assert!(first_element(&[0x30, 0x03, 0x02, 0x05]).is_none());
        assert!(tlv(&[]).is_none());
    }

    #[test]
    fn bad_certificates_are_errors_not_panics() {
        assert!(Cert::from_der(b"").is_err());
        assert!(Cert::from_der(&[0x30, 0x03, 1, 2, 3]).is_err());
        assert!(Cert::from_pem("no pem").is_err());
        assert!(
            Cert::from_pem("-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----").is_err()
        );
        assert!(PublicKey::from_spki(b"\x30\x00").is_err());
    }
}
