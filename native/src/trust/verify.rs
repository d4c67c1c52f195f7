//! Signatures checked against a policy before anything is copied. [`Verifier::load`] reads a
//! [`Policy`] and the keys it names; [`Verifier::check`] finds the signatures a store holds
//! for one digest ([`super::found`]) and returns a [`Verdict`]: which rule decided, who
//! signed (for the lock), or why the image is refused, naming what was expected and found.

use std::path::{Path, PathBuf};

use purser::digest::Digest;
use purser::lock::VerifiedSignature;
use purser::plan::Repository;

use super::found::{Found, signatures_of};
use super::keyless::{self, Artifact, Identity, KeylessSigner, Matcher};
use super::keys::VerifyingKey;
use super::policy::{KeylessIdentity, Mode, Policy, Rule};
use super::sigstore_bundle::COSIGN_SIGN;
use super::simple_signing;
use super::trusted_root::TrustedRoot;
use crate::store::Store;

/// `format` values of [`VerifiedSignature`].
pub const BUNDLE_FORMAT: &str = "sigstore-bundle";
pub const LEGACY_FORMAT: &str = "simple-signing";

/// A policy with its keys read.
#[derive(Debug)]
pub struct Verifier {
    policy: Policy,
    /// Per rule (same order), its keys and the file each came from.
    keys: Vec<Vec<(PathBuf, VerifyingKey)>>,
    /// Per rule, the keyless identities it accepts.
    identities: Vec<Vec<Identity>>,
    /// What keyless signatures chain to (the policy's `trustedRoot`).
    root: Option<TrustedRoot>,
}

/// What a policy makes of one digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// No rule matches the name: not checked.
    NoRule,
    /// The matching rule says `mode: skip`.
    Skipped { rule: usize },
    /// `if-signed` and no signature at all.
    Unsigned { rule: usize },
    /// Signed as the rule asks; every signature that verified.
    Verified {
        rule: usize,
        signatures: Vec<VerifiedSignature>,
    },
    /// Not copied: why.
    Refused { rule: usize, reason: String },
}

impl Verdict {
    #[must_use]
    pub fn passes(&self) -> bool {
        !matches!(self, Verdict::Refused { .. })
    }

    /// The signatures to record in the lock.
    #[must_use]
    pub fn signatures(&self) -> &[VerifiedSignature] {
        match self {
            Verdict::Verified { signatures, .. } => signatures,
            _ => &[],
        }
    }

    /// One phrase for a report: `verified: key sha256:… (bundle)`, `unsigned (if-signed)`.
    #[must_use]
    pub fn summary(&self) -> String {
        match self {
            Verdict::NoRule => "no policy rule".to_owned(),
            Verdict::Skipped { rule } => format!("not checked (rules[{rule}]: skip)"),
            Verdict::Unsigned { rule } => format!("unsigned, allowed (rules[{rule}]: if-signed)"),
            Verdict::Verified { signatures, .. } => format!(
                "signed by {}",
                signatures.iter().map(signer).collect::<Vec<_>>().join(", ")
            ),
            Verdict::Refused { reason, .. } => reason.clone(),
        }
    }
}

/// `key sha256:ab12cd34… (sigstore-bundle)` or `SUBJECT from ISSUER (…)`.
fn signer(s: &VerifiedSignature) -> String {
    let who = match (&s.key, &s.subject, &s.issuer) {
        (Some(k), _, _) => format!("key sha256:{}", &k[..k.len().min(16)]),
        (None, Some(sub), Some(iss)) => format!("{sub} from {iss}"),
        _ => "?".to_owned(),
    };
    format!("{who} ({})", s.format)
}

impl Verifier {
    /// Reads the policy at `path`, every key it names and its trusted root.
    pub fn load(path: &Path) -> Result<Verifier, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("signature policy {}: {e}", path.display()))?;
        let policy = Policy::parse(&text, path).map_err(|e| e.to_string())?;
        let at = |rule: &Rule, what: String| {
            format!(
                "signature policy {} rules[{}]: {what}",
                policy.source, rule.index
            )
        };
        let mut keys = Vec::new();
        let mut identities = Vec::new();
        for rule in &policy.rules {
            let mut loaded = Vec::new();
            for file in &rule.keys {
                let key = std::fs::read_to_string(file)
                    .map_err(|e| e.to_string())
                    .and_then(|pem| VerifyingKey::from_pem(&pem).map_err(|e| e.to_string()))
                    .map_err(|e| at(rule, format!("key {}: {e}", file.display())))?;
                loaded.push((file.clone(), key));
            }
            keys.push(loaded);
            identities.push(
                rule.keyless
                    .iter()
                    .map(identity)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| at(rule, e))?,
            );
        }
        let root = match &policy.trusted_root {
            Some(file) => Some(
                std::fs::read(file)
                    .map_err(|e| e.to_string())
                    .and_then(|b| TrustedRoot::parse(&b).map_err(|e| e.to_string()))
                    .map_err(|e| {
                        format!(
                            "signature policy {}: trustedRoot {}: {e}",
                            policy.source,
                            file.display()
                        )
                    })?,
            ),
            None => None,
        };
        Ok(Verifier {
            policy,
            keys,
            identities,
            root,
        })
    }

    /// Where the policy came from.
    #[must_use]
    pub fn source(&self) -> &str {
        &self.policy.source
    }

    /// The verdict on `digest` in `repo` of `store`, for the image or chart called `name`
    /// (its repository with registry, matched against the rules).
    pub async fn check<S: Store>(
        &self,
        store: &S,
        repo: &Repository,
        name: &str,
        digest: &Digest,
    ) -> Verdict {
        let Some(rule) = self.policy.rule_for(name) else {
            return Verdict::NoRule;
        };
        if rule.mode == Mode::Skip {
            return Verdict::Skipped { rule: rule.index };
        }
        let found = match signatures_of(store, repo, digest).await {
            Ok(f) => f,
            Err(e) => {
                return Verdict::Refused {
                    rule: rule.index,
                    reason: format!("its signatures cannot be read: {e}"),
                };
            }
        };
        self.decide(rule, digest, &found)
    }

    /// The verdict of `rule` on the signatures `found` for `digest`.
    fn decide(&self, rule: &Rule, digest: &Digest, found: &[Found]) -> Verdict {
        let keys = &self.keys[rule.index - 1];
        let mut signatures = Vec::new();
        let mut rejected = Vec::new();
        for f in found {
            match self.verify_one(rule, digest, f) {
                Ok(s) => signatures.push(s),
                Err(why) => rejected.push(format!("{}: {why}", f.describe())),
            }
        }
        if !signatures.is_empty() {
            return Verdict::Verified {
                rule: rule.index,
                signatures,
            };
        }
        if found.is_empty() && rule.mode == Mode::IfSigned {
            return Verdict::Unsigned { rule: rule.index };
        }
        let found = if rejected.is_empty() {
            "no signature (no Sigstore bundle among its referrers, no .sig tag)".to_owned()
        } else {
            rejected.join("; ")
        };
        Verdict::Refused {
            rule: rule.index,
            reason: format!(
                "{digest}: the policy ({} rules[{}]) wants a signature by {}; found {found}",
                self.policy.source,
                rule.index,
                expected(rule, keys),
            ),
        }
    }

    /// Who signed `found`, if one of the rule's keys or keyless identities did and it names
    /// `digest`; else why not.
    fn verify_one(
        &self,
        rule: &Rule,
        digest: &Digest,
        found: &Found,
    ) -> Result<VerifiedSignature, String> {
        let keys = &self.keys[rule.index - 1];
        let identities = &self.identities[rule.index - 1];
        let with_key = |format: &str, key: &VerifyingKey| VerifiedSignature {
            digest: digest.to_string(),
            format: format.to_owned(),
            key: Some(key.fingerprint()),
            subject: None,
            issuer: None,
        };
        let keyless_record = |format: &str, s: KeylessSigner| VerifiedSignature {
            digest: digest.to_string(),
            format: format.to_owned(),
            key: None,
            subject: Some(s.subject),
            issuer: Some(s.issuer),
        };
        let now = std::time::SystemTime::now();
        match found {
            Found::Bundle { bundle, .. } => {
                let bundle = bundle.as_ref().map_err(Clone::clone)?;
                let keyless = bundle
                    .verification_material
                    .leaf_certificate()
                    .is_ok_and(|c| c.is_some());
                if keyless {
                    let root = self.keyless_root(identities)?;
                    let signer = keyless::verify_bundle_keyless(
                        bundle,
                        Artifact::Digest(digest),
                        root,
                        identities,
                        now,
                    )
                    .map_err(|e| e.to_string())?;
                    if let Some(p) = signer
                        .predicate_type
                        .as_deref()
                        .filter(|p| *p != COSIGN_SIGN)
                    {
                        return Err(format!(
                            "a statement of predicate {p:?}, not a signature ({COSIGN_SIGN})"
                        ));
                    }
                    return Ok(keyless_record(BUNDLE_FORMAT, signer));
                }
                let mut why = None;
                for (_, key) in keys {
                    match bundle.verify_with_key(key, digest) {
                        Ok(()) => return Ok(with_key(BUNDLE_FORMAT, key)),
                        // A reason other than "another key" says more: keep the first.
                        Err(super::sigstore_bundle::BundleError::BadSignature { .. }) => {}
                        Err(e) => {
                            why.get_or_insert(e.to_string());
                        }
                    }
                }
                Err(why.unwrap_or_else(|| not_signed_by(keys)))
            }
            Found::Legacy { signature, payload } => {
                let payload = payload.as_ref().map_err(Clone::clone)?;
                if signature.certificate.is_some() {
                    let root = self.keyless_root(identities)?;
                    return keyless::verify_legacy_keyless(
                        signature, payload, digest, root, identities, now,
                    )
                    .map(|s| keyless_record(LEGACY_FORMAT, s))
                    .map_err(|e| e.to_string());
                }
                let Some((_, key)) = keys
                    .iter()
                    .find(|(_, k)| k.verify(payload, &signature.signature))
                else {
                    return Err(not_signed_by(keys));
                };
                let claim = simple_signing::parse_payload(payload).map_err(|e| e.to_string())?;
                if &claim.digest != digest {
                    return Err(format!(
                        "the signature is for {}, not {digest}",
                        claim.digest
                    ));
                }
                Ok(with_key(LEGACY_FORMAT, key))
            }
        }
    }

    /// The trusted root, when the rule accepts keyless signers; else why a keyless
    /// signature cannot count.
    fn keyless_root(&self, identities: &[Identity]) -> Result<&TrustedRoot, String> {
        match (&self.root, identities.is_empty()) {
            (Some(root), false) => Ok(root),
            _ => Err("a keyless signature, and the rule names no keyless identity".to_owned()),
        }
    }
}

/// A policy identity as the keyless verifier matches it.
fn identity(id: &KeylessIdentity) -> Result<Identity, String> {
    let matcher = |exact: &Option<String>, re: &Option<String>, what: &str| match (exact, re) {
        (Some(e), _) => Ok(Matcher::Exact(e.clone())),
        (None, Some(r)) => Matcher::regex(r).map_err(|e| e.to_string()),
        (None, None) => Err(format!("a keyless identity without {what}")),
    };
    Ok(Identity {
        subject: matcher(&id.subject, &id.subject_regexp, "subject")?,
        issuer: matcher(&id.issuer, &id.issuer_regexp, "issuer")?,
    })
}

/// `signed by another key (not cosign.pub)`.
fn not_signed_by(keys: &[(PathBuf, VerifyingKey)]) -> String {
    if keys.is_empty() {
        return "not a keyless signature of a trusted identity".to_owned();
    }
    format!(
        "signed by another key (not {})",
        keys.iter()
            .map(|(p, _)| file_name(p))
            .collect::<Vec<_>>()
            .join(" or ")
    )
}

/// What `rule` asks for: `key cosign.pub (sha256:ab12…) or SUBJECT from ISSUER`.
fn expected(rule: &Rule, keys: &[(PathBuf, VerifyingKey)]) -> String {
    keys.iter()
        .map(|(p, k)| format!("key {} (sha256:{})", file_name(p), &k.fingerprint()[..16]))
        .chain(rule.keyless.iter().map(ToString::to_string))
        .collect::<Vec<_>>()
        .join(" or ")
}

fn file_name(p: &Path) -> String {
    p.file_name().map_or_else(
        || p.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}
