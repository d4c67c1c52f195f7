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

    /// The rule that checks `name` (a repository with its registry), unless none matches or
    /// it says `skip`.
    #[must_use]
    pub fn rule_index(&self, name: &str) -> Option<usize> {
        self.policy
            .rule_for(name)
            .filter(|r| r.mode != Mode::Skip)
            .map(|r| r.index)
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

/// A policy's verdicts on real signatures: cosign's key-signed bundle (native/tests/fixtures/
/// cosign) and the public-good instance's keyless `.sig` and DSSE bundle
/// (native/tests/fixtures/sigstore-public), read through a policy file as users write it.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::trust::keyless::fixture as public_good;
    use crate::trust::{fixture, sigstore_bundle, simple_signing::signatures_in};

    const RELEASE: &str = "https://github.com/salrashid123/go-bazel-github-workflow/.github/workflows/release.yaml@refs/tags/v0.0.28";
    const IMAGE: &str = "sha256:8c0d347ab4b606c93ba087efc5c0e6e58154b052b0eb1d658a313cdaeff93d71";

    /// A verifier of `rules` (YAML list items), with the fixtures' keys and trusted root.
    fn verifier(rules: &str) -> Verifier {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let policy = tempfile::Builder::new().suffix(".yaml").tempfile().unwrap();
        std::fs::write(
            policy.path(),
            format!(
                "apiVersion: purser.dev/v1\nkind: SignaturePolicy\ntrustedRoot: {}\nrules:\n{rules}",
                dir.join("sigstore-public/trusted_root.json").display()
            )
            .replace("KEYS", &dir.join("cosign").display().to_string()),
        )
        .unwrap();
        Verifier::load(policy.path()).unwrap()
    }

    fn decide(v: &Verifier, digest: &Digest, found: &[Found]) -> Verdict {
        let rule = v.policy.rule_for("x/y").unwrap();
        v.decide(rule, digest, found)
    }

    fn keyless_sig() -> Found {
        let manifest = public_good("legacy/sig-manifest.json");
        let signature = signatures_in(&manifest, purser::plan::OCI_MANIFEST)
            .unwrap()
            .remove(0);
        Found::Legacy {
            signature,
            payload: Ok(public_good("legacy/payload.json")),
        }
    }

    #[test]
    fn a_keyless_signature_counts_for_its_identity_only() {
        let digest = Digest::parse(IMAGE).unwrap();
        let v = verifier(&format!(
            "  - match: '**'\n    keyless:\n      - issuer: https://token.actions.githubusercontent.com\n        subject: {RELEASE}\n"
        ));
        let verdict = decide(&v, &digest, &[keyless_sig()]);
        let Verdict::Verified { signatures, .. } = &verdict else {
            panic!("{verdict:?}");
        };
        assert_eq!(signatures[0].subject.as_deref(), Some(RELEASE));
        assert_eq!(signatures[0].format, LEGACY_FORMAT);

        let v = verifier(
            "  - match: '**'\n    keyless:\n      - issuerRegExp: ^https://token\\.actions\\.githubusercontent\\.com$\n        subjectRegExp: ^https://github\\.com/someone-else/\n",
        );
        let Verdict::Refused { reason, .. } = decide(&v, &digest, &[keyless_sig()]) else {
            panic!("another identity accepted");
        };
        assert!(reason.contains("someone-else"), "{reason}");
        // The same signature for another digest.
        let other = Digest::sha256(b"another image");
        assert!(!decide(&v, &other, &[keyless_sig()]).passes());
        // A keyless signature where the rule names only keys does not count.
        let v = verifier("  - match: '**'\n    keys: [KEYS/cosign.pub]\n");
        let Verdict::Refused { reason, .. } = decide(&v, &digest, &[keyless_sig()]) else {
            panic!("keyless accepted by a key rule");
        };
        assert!(reason.contains("names no keyless identity"), "{reason}");
    }

    #[test]
    fn a_keyless_attestation_is_not_a_signature() {
        let bundle = sigstore_bundle::parse(&public_good("dsse/bundle.sigstore.json")).unwrap();
        let a_txt = Digest::sha256(&public_good("a.txt"));
        let v = verifier(
            "  - match: '**'\n    keyless:\n      - issuer: https://token.actions.githubusercontent.com\n        subjectRegExp: ^https://github\\.com/sigstore-conformance/\n",
        );
        let found = [Found::Bundle {
            referrer: Digest::sha256(b"referrer"),
            bundle: Ok(bundle),
        }];
        let Verdict::Refused { reason, .. } = decide(&v, &a_txt, &found) else {
            panic!("an SLSA provenance accepted as a signature");
        };
        assert!(reason.contains("slsa.dev/provenance"), "{reason}");
    }

    #[test]
    fn key_rules_accept_their_key_and_say_what_else_they_found() {
        let image = Digest::sha256(&fixture("subjects/image.json"));
        let bundle = || Found::Bundle {
            referrer: Digest::sha256(b"referrer"),
            bundle: Ok(sigstore_bundle::parse(&fixture("bundle-v3/image-bundle.json")).unwrap()),
        };
        let v = verifier("  - match: '**'\n    keys: [KEYS/other.pub, KEYS/cosign.pub]\n");
        let verdict = decide(&v, &image, &[bundle()]);
        assert!(
            matches!(&verdict, Verdict::Verified { signatures, .. } if signatures[0].format == BUNDLE_FORMAT),
            "{verdict:?}"
        );
        let v = verifier("  - match: '**'\n    keys: [KEYS/other.pub]\n");
        let Verdict::Refused { reason, .. } = decide(&v, &image, &[bundle()]) else {
            panic!("another key accepted");
        };
        assert!(
            reason.contains("signed by another key (not other.pub)"),
            "{reason}"
        );
        assert!(reason.contains(image.as_str()), "{reason}");
        let Verdict::Refused { reason, .. } = decide(&v, &image, &[]) else {
            panic!("unsigned accepted");
        };
        assert!(reason.contains("no signature"), "{reason}");
        let v = verifier("  - match: '**'\n    mode: if-signed\n    keys: [KEYS/other.pub]\n");
        assert!(matches!(decide(&v, &image, &[]), Verdict::Unsigned { .. }));
        assert!(!decide(&v, &image, &[bundle()]).passes());
    }
}
