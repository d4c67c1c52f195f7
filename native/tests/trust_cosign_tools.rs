//! The real cosign v3.1.3 and v2.6.5 (support::cosign) against our two test registries:
//! oci-registry (OCI 1.1, referrers API) and Debian's docker-registry 2.8 (no referrers API).
//! On each, four images are signed: by v3 as a Sigstore bundle (the main case) and the old way
//! (a `.sig` tag), and by v2 the old way (the main case) and as a bundle. Both cosigns verify
//! every image with the signing key and refuse it with a second key. This is what the trust
//! tests stand on: where each signature lands in each registry, what cosign prints and exits
//! with, and that the helpers run cosign offline (no attempt to reach Sigstore's services).
//!
//! Seen here: a bundle lands as a referrer (oci-registry) or in the `sha256-<hex>` fallback index
//! (distribution) and never as a `.sig` tag; in that fallback index, v3 lists it with the bundle
//! `artifactType` but v2 with the config's media type, `application/vnd.oci.empty.v1+json` (the
//! manifest's own `artifactType` is the bundle's either way); a wrong key exits 12 for a `.sig` but 1 for a bundle
//! (it fails as an attestation: "no matching attestations"); v2 reads keys v3 writes and the
//! other way round.

use crate::support;

use serde_json::Value;
use support::cosign::{Cosign, Major};
use support::seed::{AMD64, OCI_EMPTY, Seeder, digest_tag};
use support::{Flavour, Registry};

const BUNDLE_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
const REPO: &str = "trust/app";

#[tokio::test(flavor = "multi_thread")]
async fn cosign_v3_and_v2_sign_and_verify_on_oci_registry_with_referrers() {
    signs_and_verifies(Flavour::Oci).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cosign_v3_and_v2_sign_and_verify_on_distribution_without_referrers() {
    signs_and_verifies(Flavour::Distribution).await;
}

async fn signs_and_verifies(flavour: Flavour) {
    let registry = Registry::start(flavour);
    let seeder = registry.seeder();
    let (v3, v2) = (Cosign::v3(), Cosign::v2());

    // Keys from both versions: each signs with the key v3 wrote and reads the one v2 wrote.
    let keys = tempfile::tempdir().unwrap();
    let (key, public) = v3.generate_key_pair(keys.path(), "signer", "test");
    let (_, other_public) = v2.generate_key_pair(keys.path(), "other", "other-password");

    let cases = [
        ("v3-bundle", &v3, Kind::Bundle),
        ("v2-legacy", &v2, Kind::Legacy),
        ("v3-legacy", &v3, Kind::Legacy),
        ("v2-bundle", &v2, Kind::Bundle),
    ];
    let mut signed_images = Vec::new();
    for (tag, signer, kind) in cases {
        let image = seeder.image(REPO, Some(tag), AMD64, false).await;
        let reference = format!("{}/{REPO}@{}", registry.host, image.digest);
        let signed = match kind {
            Kind::Bundle => signer.sign_bundle(&reference, &key, "test", false),
            Kind::Legacy => signer.sign_legacy(&reference, &key, "test", false),
        }
        .ok();
        assert!(!signed.tried_network(), "{tag}: {signed}");

        // Where the signature went: one referrer (a bundle) xor the `.sig` tag.
        let referrers = referrer_entries(&seeder, flavour, &image.digest).await;
        let sig_tag = format!("{}.sig", digest_tag(&image.digest));
        let tags = seeder.tags(REPO).await;
        match kind {
            Kind::Bundle => {
                assert_eq!(referrers.len(), 1, "{tag}: one referrer: {referrers:?}");
                assert!(!tags.contains(&sig_tag), "{tag}: no .sig tag: {tags:?}");
                // The referrer manifest says it is a bundle; the entry that lists it says so
                // too, except in the fallback index cosign v2 writes: the config's media type.
                let entry = &referrers[0];
                let manifest = seeder
                    .fetch_manifest(REPO, entry["digest"].as_str().unwrap())
                    .await
                    .expect("the referrer manifest");
                let manifest: Value = serde_json::from_slice(&manifest.bytes).unwrap();
                assert_eq!(manifest["artifactType"], BUNDLE_TYPE, "{tag}: {manifest}");
                assert_eq!(
                    manifest["subject"]["digest"], image.digest,
                    "{tag}: {manifest}"
                );
                let listed_as = if flavour == Flavour::Distribution && signer.major == Major::V2 {
                    OCI_EMPTY
                } else {
                    BUNDLE_TYPE
                };
                assert_eq!(entry["artifactType"], listed_as, "{tag}: {entry}");
            }
            Kind::Legacy => {
                assert!(referrers.is_empty(), "{tag}: no referrer: {referrers:?}");
                assert!(tags.contains(&sig_tag), "{tag}: the .sig tag: {tags:?}");
            }
        }
        signed_images.push((tag, reference, image.digest, kind));
    }

    for verifier in [&v3, &v2] {
        for (tag, reference, digest, kind) in &signed_images {
            let good = verifier.verify(reference, &public).ok();
            assert!(!good.tried_network(), "{tag}: {good}");
            assert!(
                good.stdout
                    .contains(&format!(r#""docker-manifest-digest":"{digest}""#)),
                "{tag}: the verified payload names the image: {good}"
            );
            assert!(good.stdout.contains(kind.payload_type()), "{tag}: {good}");

            let wrong = verifier.verify(reference, &other_public).failed();
            assert!(!wrong.tried_network(), "{tag}: {wrong}");
            assert_eq!(wrong.code, Some(kind.wrong_key_code()), "{tag}: {wrong}");
            assert!(
                wrong.stderr.contains(kind.wrong_key_error()),
                "{tag}: {wrong}"
            );
        }
    }
}

/// How an image was signed, and what cosign says about it.
#[derive(Clone, Copy)]
enum Kind {
    /// A Sigstore bundle (DSSE over an in-toto statement).
    Bundle,
    /// A `.sig` tag (simple signing).
    Legacy,
}

impl Kind {
    /// The `type` of the verified payload cosign prints.
    fn payload_type(self) -> &'static str {
        match self {
            Kind::Bundle => r#""type":"https://sigstore.dev/cosign/sign/v1""#,
            Kind::Legacy => r#""type":"cosign container image signature""#,
        }
    }

    /// The exit code for the wrong key: 12 (no matching signatures) for a `.sig`; a bundle
    /// fails as an attestation, with the generic 1.
    fn wrong_key_code(self) -> i32 {
        match self {
            Kind::Bundle => 1,
            Kind::Legacy => 12,
        }
    }

    fn wrong_key_error(self) -> &'static str {
        match self {
            Kind::Bundle => {
                "no matching attestations: failed to verify signature: could not verify envelope"
            }
            Kind::Legacy => {
                "no matching signatures: invalid signature when validating ASN.1 encoded signature"
            }
        }
    }
}

/// The referrers of `digest`, as listed by the referrers API (oci-registry) or by the
/// `sha256-<hex>` fallback index (distribution, which has no referrers API).
async fn referrer_entries(seeder: &Seeder, flavour: Flavour, digest: &str) -> Vec<Value> {
    let index = match flavour {
        Flavour::Oci => seeder
            .referrers(REPO, digest)
            .await
            .expect("oci-registry answers the referrers API"),
        _ => {
            assert!(
                seeder.referrers(REPO, digest).await.is_none(),
                "distribution 2.8 has no referrers API"
            );
            match seeder.fetch_manifest(REPO, &digest_tag(digest)).await {
                Some(fetched) => serde_json::from_slice(&fetched.bytes).unwrap(),
                None => return Vec::new(),
            }
        }
    };
    index["manifests"].as_array().cloned().unwrap_or_default()
}
