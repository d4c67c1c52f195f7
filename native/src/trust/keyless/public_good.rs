//! Real keyless signatures of the public-good instance (native/tests/fixtures/sigstore-public)
//! against its trusted root: each verifies for its signer and artifact, and every edit or
//! other expectation is refused with the error naming it.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use super::*;
use crate::trust::sigstore_bundle::{BundleError, parse};
use crate::trust::simple_signing::signatures_in;

const BEACON: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const GITHUB: &str = "https://token.actions.githubusercontent.com";
const RELEASE: &str = "https://github.com/salrashid123/go-bazel-github-workflow/.github/workflows/release.yaml@refs/tags/v0.0.28";
const IMAGE: &str = "sha256:8c0d347ab4b606c93ba087efc5c0e6e58154b052b0eb1d658a313cdaeff93d71";

fn root() -> TrustedRoot {
    TrustedRoot::parse(&fixture("trusted_root.json")).unwrap()
}

fn exact(subject: &str, issuer: &str) -> Vec<Identity> {
    vec![Identity {
        subject: Matcher::Exact(subject.to_owned()),
        issuer: Matcher::Exact(issuer.to_owned()),
    }]
}

fn json(name: &str) -> Value {
    serde_json::from_slice(&fixture(name)).unwrap()
}

fn bundle(value: &Value) -> Bundle {
    parse(&serde_json::to_vec(value).unwrap()).unwrap()
}

fn a_txt() -> Digest {
    Digest::sha256(&fixture("a.txt"))
}

fn dsse(value: &Value, identities: &[Identity]) -> Result<KeylessSigner, KeylessError> {
    verify_bundle_keyless(
        &bundle(value),
        Artifact::Digest(&a_txt()),
        &root(),
        identities,
        SystemTime::now(),
    )
}

#[test]
fn a_dsse_bundle_verifies_for_its_signer_and_subject() {
    let signer = dsse(&json("dsse/bundle.sigstore.json"), &exact(BEACON, GITHUB)).unwrap();
    assert_eq!(
        signer,
        KeylessSigner {
            subject: BEACON.to_owned(),
            issuer: GITHUB.to_owned(),
            integrated_time: 1_734_374_576,
            log_index: 155_690_850,
            predicate_type: Some("https://slsa.dev/provenance/v1".to_owned()),
        }
    );
    // Regular expressions, unanchored as Go's MatchString, and a list where one matches.
    let identities = vec![
        Identity {
            subject: Matcher::regex("^https://github.com/someone-else/").unwrap(),
            issuer: Matcher::regex(".*").unwrap(),
        },
        Identity {
            subject: Matcher::regex("extremely-dangerous-oidc-beacon\\.yml@refs/heads/main")
                .unwrap(),
            issuer: Matcher::regex("^https://token\\.actions\\.githubusercontent\\.com$").unwrap(),
        },
    ];
    let signer = dsse(&json("dsse/bundle.sigstore.json"), &identities).unwrap();
    assert_eq!(signer.subject, BEACON);
    // The bytes of the subject do as well as its digest.
    let signer = verify_bundle_keyless(
        &bundle(&json("dsse/bundle.sigstore.json")),
        Artifact::Bytes(&fixture("a.txt")),
        &root(),
        &exact(BEACON, GITHUB),
        SystemTime::now(),
    );
    assert!(signer.is_ok(), "{signer:?}");
}

#[test]
fn a_message_signature_bundle_verifies_over_the_artifact_bytes() {
    let b = bundle(&json("message/bundle.sigstore.json"));
    let verify = |artifact: Artifact<'_>| {
        verify_bundle_keyless(
            &b,
            artifact,
            &root(),
            &exact(BEACON, GITHUB),
            SystemTime::now(),
        )
    };
    let signer = verify(Artifact::Bytes(&fixture("a.txt"))).unwrap();
    assert_eq!(signer.integrated_time, 1_710_869_186);
    assert_eq!(signer.log_index, 79_571_823);
    assert_eq!(signer.issuer, GITHUB);
    assert_eq!(signer.predicate_type, None);
    // A digest alone cannot check a signature over bytes.
    assert!(matches!(
        verify(Artifact::Digest(&a_txt())),
        Err(KeylessError::Unsupported(_))
    ));
    // Another artifact: the bundle's digest names the one signed.
    let mut other = fixture("a.txt");
    other[0] ^= 1;
    let err = verify(Artifact::Bytes(&other)).unwrap_err();
    assert!(
        matches!(&err, KeylessError::OtherSubject { found, .. } if found[0].starts_with("SHA2_256:a0cfc712")),
        "{err}"
    );
    // Without the (unauthenticated) digest hint, the signature itself refuses it.
    let mut value = json("message/bundle.sigstore.json");
    value["messageSignature"]
        .as_object_mut()
        .unwrap()
        .remove("messageDigest");
    let err = verify_bundle_keyless(
        &bundle(&value),
        Artifact::Bytes(&other),
        &root(),
        &exact(BEACON, GITHUB),
        SystemTime::now(),
    )
    .unwrap_err();
    assert!(matches!(err, KeylessError::BadSignature { .. }), "{err}");
}

#[test]
fn a_legacy_sig_layer_verifies_for_its_signer_and_image() {
    let manifest = fixture("legacy/sig-manifest.json");
    let sigs = signatures_in(&manifest, purser::plan::OCI_MANIFEST).unwrap();
    let payload = fixture("legacy/payload.json");
    let image = Digest::parse(IMAGE).unwrap();
    let verify = |payload: &[u8], digest: &Digest, identities: &[Identity]| {
        verify_legacy_keyless(
            &sigs[0],
            payload,
            digest,
            &root(),
            identities,
            SystemTime::now(),
        )
    };
    let signer = verify(&payload, &image, &exact(RELEASE, GITHUB)).unwrap();
    assert_eq!(signer.subject, RELEASE);
    assert_eq!(signer.integrated_time, 1_772_192_809);
    assert_eq!(signer.log_index, 1_003_522_141);
    let identities = vec![Identity {
        subject: Matcher::regex("https://github.com.*").unwrap(),
        issuer: Matcher::Exact(GITHUB.to_owned()),
    }];
    assert!(verify(&payload, &image, &identities).is_ok());

    let err = verify(&payload, &a_txt(), &exact(RELEASE, GITHUB)).unwrap_err();
    assert!(
        matches!(&err, KeylessError::OtherSubject { found, .. } if found == &[IMAGE.to_owned()]),
        "{err}"
    );
    let err = verify(&payload, &image, &exact(BEACON, GITHUB)).unwrap_err();
    assert!(matches!(err, KeylessError::OtherIdentity { .. }), "{err}");
    let mut tampered = payload.clone();
    tampered[20] ^= 1;
    assert!(matches!(
        verify(&tampered, &image, &exact(RELEASE, GITHUB)),
        Err(KeylessError::Malformed(_))
    ));
    // A layer whose blob digest was edited to match a tampered payload: the signature
    // refuses it.
    let mut forged = sigs[0].clone();
    forged.payload.digest = Digest::sha256(&tampered);
    let err = verify_legacy_keyless(
        &forged,
        &tampered,
        &image,
        &root(),
        &exact(RELEASE, GITHUB),
        SystemTime::now(),
    )
    .unwrap_err();
    assert!(matches!(err, KeylessError::BadSignature { .. }), "{err}");
    // The Rekor bundle is required, and its SET must verify.
    let mut no_bundle = sigs[0].clone();
    no_bundle.rekor_bundle = None;
    let err = verify_legacy_keyless(
        &no_bundle,
        &payload,
        &image,
        &root(),
        &exact(RELEASE, GITHUB),
        SystemTime::now(),
    )
    .unwrap_err();
    assert!(matches!(err, KeylessError::Transparency(_)), "{err}");
    let mut edited = sigs[0].clone();
    edited.rekor_bundle = edited
        .rekor_bundle
        .map(|b| b.replace("\"logIndex\":1003522141", "\"logIndex\":1003522142"));
    let err = verify_legacy_keyless(
        &edited,
        &payload,
        &image,
        &root(),
        &exact(RELEASE, GITHUB),
        SystemTime::now(),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            KeylessError::Transparency(RekorError::BadPromise { .. })
        ),
        "{err}"
    );
    let mut keyed = sigs[0].clone();
    keyed.certificate = None;
    assert!(matches!(
        verify_legacy_keyless(
            &keyed,
            &payload,
            &image,
            &root(),
            &exact(RELEASE, GITHUB),
            SystemTime::now()
        ),
        Err(KeylessError::NotKeyless)
    ));
}

#[test]
fn another_subject_or_issuer_is_refused_naming_both() {
    let value = json("dsse/bundle.sigstore.json");
    let err = dsse(
        &value,
        &exact(
            "https://github.com/me/repo/.github/workflows/x.yml@refs/heads/main",
            GITHUB,
        ),
    )
    .unwrap_err();
    assert!(matches!(err, KeylessError::OtherIdentity { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains(BEACON) && text.contains("github.com/me/repo"),
        "{text}"
    );
    let err = dsse(&value, &exact(BEACON, "https://accounts.google.com")).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains(&format!("issued by {GITHUB}")) && text.contains("accounts.google.com"),
        "{text}"
    );
    // A regular expression that matches only in part of the subject is unanchored, so
    // anchoring it the wrong way refuses.
    let anchored = vec![Identity {
        subject: Matcher::regex("^extremely-dangerous").unwrap(),
        issuer: Matcher::Exact(GITHUB.to_owned()),
    }];
    assert!(matches!(
        dsse(&value, &anchored),
        Err(KeylessError::OtherIdentity { .. })
    ));
    // Subject and issuer must match in the same identity.
    let crossed = vec![
        Identity {
            subject: Matcher::Exact(BEACON.to_owned()),
            issuer: Matcher::Exact("https://accounts.google.com".to_owned()),
        },
        Identity {
            subject: Matcher::Exact("someone@example.com".to_owned()),
            issuer: Matcher::Exact(GITHUB.to_owned()),
        },
    ];
    assert!(matches!(
        dsse(&value, &crossed),
        Err(KeylessError::OtherIdentity { .. })
    ));
    assert_eq!(dsse(&value, &[]), Err(KeylessError::NoIdentities));
}

#[test]
fn a_modified_payload_or_another_digest_is_refused() {
    let mut value = json("dsse/bundle.sigstore.json");
    let payload = STANDARD
        .decode(value["dsseEnvelope"]["payload"].as_str().unwrap())
        .unwrap();
    let edited = String::from_utf8(payload)
        .unwrap()
        .replace("a0cfc71271d6e278", "b0cfc71271d6e278");
    value["dsseEnvelope"]["payload"] = STANDARD.encode(edited).into();
    let err = dsse(&value, &exact(BEACON, GITHUB)).unwrap_err();
    assert!(matches!(err, KeylessError::BadSignature { .. }), "{err}");

    let value = json("dsse/bundle.sigstore.json");
    let other = Digest::sha256(b"another artifact");
    let err = verify_bundle_keyless(
        &bundle(&value),
        Artifact::Digest(&other),
        &root(),
        &exact(BEACON, GITHUB),
        SystemTime::now(),
    )
    .unwrap_err();
    assert_eq!(
        err,
        KeylessError::OtherSubject {
            expected: other,
            found: vec![a_txt().to_string()],
        }
    );
}

#[test]
fn a_foreign_certificate_or_a_root_without_the_fulcio_ca_is_untrusted() {
    // The leaf of a bundle signed by the staging instance, swapped in.
    let staging = json("staging/bundle.sigstore.json");
    let foreign =
        staging["verificationMaterial"]["x509CertificateChain"]["certificates"][0]["rawBytes"]
            .clone();
    let mut value = json("dsse/bundle.sigstore.json");
    value["verificationMaterial"]["certificate"]["rawBytes"] = foreign;
    let err = dsse(&value, &exact(BEACON, GITHUB)).unwrap_err();
    assert!(matches!(err, KeylessError::Untrusted { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("does not chain to any Fulcio CA in the trusted root"),
        "{err}"
    );

    let value = json("dsse/bundle.sigstore.json");
    let verify_with = |root: &TrustedRoot| {
        verify_bundle_keyless(
            &bundle(&value),
            Artifact::Digest(&a_txt()),
            root,
            &exact(BEACON, GITHUB),
            SystemTime::now(),
        )
    };
    let mut no_ca = root();
    no_ca.certificate_authorities.clear();
    assert!(matches!(
        verify_with(&no_ca),
        Err(KeylessError::Untrusted { .. })
    ));
    // Only the 2021 CA, which expired before this signature and did not issue it.
    let mut old_ca = root();
    old_ca.certificate_authorities.truncate(1);
    assert!(matches!(
        verify_with(&old_ca),
        Err(KeylessError::Untrusted { .. })
    ));
    // The current CA, but declared valid only until before the signing time.
    let mut ended = root();
    ended.certificate_authorities[1].valid_for.end = Some(1_734_374_575);
    assert!(matches!(
        verify_with(&ended),
        Err(KeylessError::Untrusted { .. })
    ));
    // A CA listed as its issuing certificate alone still vouches for its leaves: the
    // trusted root's certificates are the anchors, whatever their depth.
    let mut intermediate_only = root();
    intermediate_only.certificate_authorities[1]
        .chain
        .truncate(1);
    assert!(verify_with(&intermediate_only).is_ok());
    // A root whose log is missing cannot vouch for the time.
    let mut no_log = root();
    no_log.tlogs.clear();
    assert!(matches!(
        verify_with(&no_log),
        Err(KeylessError::Transparency(RekorError::UnknownLog { .. }))
    ));
    // cosign's minimal root (no CA, no log).
    let minimal = TrustedRoot::parse(&crate::trust::fixture("trusted_root.json")).unwrap();
    assert!(verify_with(&minimal).is_err());
}

#[test]
fn an_edited_promise_or_time_is_refused() {
    let mut value = json("dsse/bundle.sigstore.json");
    let set = &mut value["verificationMaterial"]["tlogEntries"][0]["inclusionPromise"]["signedEntryTimestamp"];
    let mut raw = STANDARD.decode(set.as_str().unwrap()).unwrap();
    raw[12] ^= 1;
    *set = STANDARD.encode(raw).into();
    let err = dsse(&value, &exact(BEACON, GITHUB)).unwrap_err();
    assert!(
        matches!(
            err,
            KeylessError::Transparency(RekorError::BadPromise { .. })
        ),
        "{err}"
    );

    // An integrated time after the certificate expired: the SET no longer verifies.
    let mut value = json("dsse/bundle.sigstore.json");
    value["verificationMaterial"]["tlogEntries"][0]["integratedTime"] = "1734375300".into();
    let err = dsse(&value, &exact(BEACON, GITHUB)).unwrap_err();
    assert!(
        matches!(
            err,
            KeylessError::Transparency(RekorError::BadPromise { .. })
        ),
        "{err}"
    );

    // Verified "before" it was logged.
    let value = json("dsse/bundle.sigstore.json");
    let err = verify_bundle_keyless(
        &bundle(&value),
        Artifact::Digest(&a_txt()),
        &root(),
        &exact(BEACON, GITHUB),
        UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000),
    )
    .unwrap_err();
    assert_eq!(
        err,
        KeylessError::FromTheFuture {
            integrated_time: 1_734_374_576,
            now: 1_700_000_000
        }
    );

    // No log entry at all.
    let mut value = json("dsse/bundle.sigstore.json");
    value["verificationMaterial"]["tlogEntries"] = Value::Array(Vec::new());
    assert!(matches!(
        dsse(&value, &exact(BEACON, GITHUB)),
        Err(KeylessError::Transparency(RekorError::Malformed(_)))
    ));
}

#[test]
fn malformed_or_keyed_bundles_are_named() {
    assert!(parse(b"{not json").is_err());
    let mut value = json("dsse/bundle.sigstore.json");
    value["verificationMaterial"]["certificate"]["rawBytes"] = "MIIB".into();
    assert!(matches!(
        dsse(&value, &exact(BEACON, GITHUB)),
        Err(KeylessError::Malformed(_))
    ));
    let mut value = json("dsse/bundle.sigstore.json");
    value["verificationMaterial"]["certificate"]["rawBytes"] = "not base64!".into();
    assert!(matches!(
        dsse(&value, &exact(BEACON, GITHUB)),
        Err(KeylessError::Malformed(_))
    ));
    let mut value = json("dsse/bundle.sigstore.json");
    value["verificationMaterial"]["tlogEntries"][0]["logIndex"] = "minus one".into();
    assert!(matches!(
        dsse(&value, &exact(BEACON, GITHUB)),
        Err(KeylessError::Malformed(_))
    ));
    let mut value = json("dsse/bundle.sigstore.json");
    value["verificationMaterial"]["tlogEntries"][0]["canonicalizedBody"] = "e30=".into();
    assert!(matches!(
        dsse(&value, &exact(BEACON, GITHUB)),
        Err(KeylessError::Transparency(_))
    ));
    // A message-signature bundle is read, and refused by the key verification, which
    // reads DSSE envelopes only.
    let message = parse(&fixture("message/bundle.sigstore.json")).unwrap();
    let key = crate::trust::fixture_key("cosign.pub");
    assert!(matches!(
        message.verify_with_key(&key, &a_txt()),
        Err(BundleError::Unsupported(_))
    ));
    // A bundle cosign signed with a key has no certificate.
    let keyed = parse(&crate::trust::fixture("bundle-v3/image-bundle.json")).unwrap();
    assert_eq!(
        verify_bundle_keyless(
            &keyed,
            Artifact::Digest(&a_txt()),
            &root(),
            &exact(BEACON, GITHUB),
            SystemTime::now()
        ),
        Err(KeylessError::NotKeyless)
    );
}
