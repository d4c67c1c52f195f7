//! Signatures end to end with the real cosign v3.1.3 and v2.6.5 (support::cosign), real Helm
//! 4.2.4 running the installed `mirror` plugin, and real registries on loopback: oci-registry
//! (OCI 1.1, referrers API) and distribution 2.8 (no referrers API, so the `sha256-<hex>`
//! fallback index). Nothing is mocked.
//!
//! - `--verify POLICY` lets through what cosign signed with the policy's key (a v3 bundle, a
//!   v2 `.sig`), images and an oci:// chart, and refuses an unsigned image, one signed by
//!   another key and one whose signature names another digest, or whose digest cannot be
//!   read; `verify-signatures` agrees.
//! - `--sign-key` signs images, platform manifests and the chart at the target; cosign v3 and
//!   v2 verify them, and reject a tampered one; the legacy format keeps other signers.
//! - Signatures survive `export` / `import`, which verify and sign too.
//! - `--keyring` checks a chart archive's Helm provenance.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Output;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use support::copy::{Job, PREFIX, report, stderr, yaml};
use support::cosign::Cosign;
use support::helm::{Helm, text};
use support::seed::{AMD64, Seeder, digest_tag, sha256};
use support::{Fault, FaultProxy, Flavour, Registry, Rule};

const REPO: &str = "trust/app";
const BUNDLE_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// Two key pairs cosign made: `signer` (password `test`) and `other` (password `other`).
struct Keys {
    _dir: tempfile::TempDir,
    key: PathBuf,
    public: PathBuf,
    other_key: PathBuf,
    other_public: PathBuf,
}

impl Keys {
    fn new() -> Keys {
        let dir = tempfile::tempdir().unwrap();
        let (key, public) = Cosign::v3().generate_key_pair(dir.path(), "signer", "test");
        let (other_key, other_public) =
            Cosign::v2().generate_key_pair(dir.path(), "other", "other");
        Keys {
            _dir: dir,
            key,
            public,
            other_key,
            other_public,
        }
    }
}

/// The sha256 of a PEM public key's SubjectPublicKeyInfo: how the lock names a key.
fn fingerprint(public: &Path) -> String {
    let pem = std::fs::read_to_string(public).unwrap();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    sha256(&STANDARD.decode(body).unwrap())
        .trim_start_matches("sha256:")
        .to_owned()
}

/// A signature policy requiring `public` for everything under `host`.
fn policy(dir: &Path, host: &str, mode: &str, public: &Path) -> PathBuf {
    let path = dir.join(format!("policy-{mode}.yaml"));
    std::fs::write(
        &path,
        format!(
            "apiVersion: purser.dev/v1\nkind: SignaturePolicy\nrules:\n  - match: \"{host}/**\"\n    mode: {mode}\n    keys: [{}]\n",
            public.display()
        ),
    )
    .unwrap();
    path
}

/// `helm mirror ARGS…` with `COSIGN_PASSWORD` set.
fn mirror_with_password(helm: &Helm, args: &[String], password: &str) -> Output {
    helm.command(args)
        .env("COSIGN_PASSWORD", password)
        .output()
        .unwrap()
}

fn row<'a>(report: &'a Value, field: &str, key: &str, value: &str) -> &'a Value {
    report[field]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r[key] == value))
        .unwrap_or_else(|| panic!("no {field} row with {key} = {value} in {report:#}"))
}

/// A job whose chart runs `SOURCE/trust/app:TAG` as its one image, copied to
/// `TARGET/mirror`.
fn app_job(name: &str, source: &str, target: &str, tag: &str) -> Job {
    Job::running(
        name,
        &[("app".to_owned(), format!("{source}/{REPO}:{tag}"))],
        source,
        target,
    )
}

/// `HOST/REPO@DIGEST`.
fn at(host: &str, repo: &str, digest: &str) -> String {
    format!("{host}/{repo}@{digest}")
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_copies_what_the_policy_accepts_and_refuses_the_rest() {
    // No referrers API: bundles are found through the fallback index, where cosign v2 lists
    // its own with the empty config's artifact type.
    let src = Registry::start(Flavour::Distribution);
    let dst = Registry::start(Flavour::Distribution);
    let s = src.seeder();
    let keys = Keys::new();
    let (v3, v2) = (Cosign::v3(), Cosign::v2());

    let mut digests = std::collections::BTreeMap::new();
    for tag in ["bundle", "v2bundle", "legacy", "unsigned", "other", "moved"] {
        let pushed = s.image(REPO, Some(tag), AMD64, false).await;
        digests.insert(tag, pushed.digest);
    }
    let d = |tag: &str| digests[tag].clone();
    v3.sign_bundle(&at(&src.host, REPO, &d("bundle")), &keys.key, "test", false)
        .ok();
    v2.sign_legacy(&at(&src.host, REPO, &d("legacy")), &keys.key, "test", false)
        .ok();
    v2.sign_bundle(
        &at(&src.host, REPO, &d("v2bundle")),
        &keys.key,
        "test",
        false,
    )
    .ok();
    v3.sign_bundle(
        &at(&src.host, REPO, &d("other")),
        &keys.other_key,
        "other",
        false,
    )
    .ok();
    // "moved": the `.sig` of "legacy" put under its own digest: a good signature, of
    // another digest.
    let sig = s
        .fetch_manifest(REPO, &format!("{}.sig", digest_tag(&d("legacy"))))
        .await
        .expect("cosign v2 wrote a .sig tag");
    s.manifest(
        REPO,
        Some(&format!("{}.sig", digest_tag(&d("moved")))),
        sig.media_type.as_deref().unwrap(),
        sig.bytes.clone(),
    )
    .await;

    let images: Vec<(String, String)> = digests
        .keys()
        .map(|t| ((*t).to_owned(), format!("{}/{REPO}:{t}", src.host)))
        .collect();
    let job = Job::running("signed", &images, &src.host, &dst.host);
    // The chart itself, as an OCI artifact at the source, signed by cosign v3.
    let out = job.helm.run([
        "push",
        job.chart.tgz.to_str().unwrap(),
        &format!("oci://{}/charts", src.host),
        "--plain-http",
    ]);
    assert!(out.status.success(), "helm push: {}", text(&out));
    let chart_repo = format!("charts/{}", job.chart.name);
    let chart_digest = s
        .head_manifest(&chart_repo, &job.chart.version)
        .await
        .unwrap();
    v3.sign_bundle(
        &at(&src.host, &chart_repo, &chart_digest),
        &keys.key,
        "test",
        false,
    )
    .ok();

    let required = policy(job.dir.path(), &src.host, "required", &keys.public);
    let lock = job.path("mirror.lock");
    let oci = job.chart.oci_at(&src.host);
    let copy = job.mirror(
        &[
            "copy",
            &oci,
            "--version",
            &job.chart.version,
            "--to",
            &job.to,
        ],
        &[
            "--verify",
            required.to_str().unwrap(),
            "-o",
            lock.to_str().unwrap(),
            "--json",
        ],
    );
    assert_eq!(copy.status.code(), Some(1), "{}", text(&copy));
    let r = report(&copy);
    assert_eq!(r["complete"], false, "{r:#}");
    let image = |tag: &str| {
        row(
            &r,
            "images",
            "source",
            &format!("{}/{REPO}:{tag}", src.host),
        )
    };
    for (tag, format) in [
        ("bundle", "sigstore-bundle"),
        ("v2bundle", "sigstore-bundle"),
        ("legacy", "simple-signing"),
    ] {
        let i = image(tag);
        assert_eq!(i["state"], "copied", "{tag}: {i:#}");
        assert_eq!(i["signatures"][0]["format"], format, "{tag}: {i:#}");
        assert_eq!(
            i["signatures"][0]["digest"],
            d(tag).as_str(),
            "{tag}: {i:#}"
        );
    }
    let refused = |tag: &str, why: &str| {
        let i = image(tag);
        assert_eq!(i["state"], "refused", "{tag}: {i:#}");
        let message = i["message"].as_str().unwrap();
        assert!(message.contains(why), "{tag}: {message}");
        assert!(
            message.contains(&d(tag)),
            "{tag} names its digest: {message}"
        );
        assert!(
            message.contains("signer.pub"),
            "{tag} names the key: {message}"
        );
    };
    refused("unsigned", "no signature");
    refused("other", "signed by another key");
    refused("moved", &format!("the signature is for {}", d("legacy")));
    let chart_row = &r["charts"][0];
    assert_eq!(chart_row["state"], "copied", "{r:#}");
    assert!(
        chart_row["verified"]
            .as_str()
            .unwrap()
            .contains("sigstore-bundle"),
        "{r:#}"
    );
    // Refused images are not at the target; accepted ones are, with their signatures.
    let t = dst.seeder();
    let target_repo = format!("{PREFIX}/{REPO}");
    for tag in ["unsigned", "other", "moved"] {
        assert!(
            t.head_manifest(&target_repo, tag).await.is_none(),
            "{tag} copied"
        );
    }
    assert_eq!(
        t.head_manifest(&target_repo, "bundle").await,
        Some(d("bundle"))
    );
    let copied = at(&dst.host, &target_repo, &d("bundle"));
    v3.verify(&copied, &keys.public).ok();
    v2.verify(&at(&dst.host, &target_repo, &d("legacy")), &keys.public)
        .ok();
    // The lock says who signed what.
    let lock = yaml(&lock);
    let entry = lock["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["image"] == format!("{}/{REPO}:bundle", src.host))
        .unwrap_or_else(|| panic!("{lock:#}"));
    assert_eq!(
        entry["signatures"][0]["key"],
        fingerprint(&keys.public),
        "{entry:#}"
    );

    // verify-signatures agrees, copying nothing; if-signed lets the unsigned one through.
    let check = |policy: &Path| {
        let out = job.mirror(
            &[
                "verify-signatures",
                &oci,
                "--version",
                &job.chart.version,
                "--policy",
                policy.to_str().unwrap(),
            ],
            &["--json"],
        );
        (out.status.code(), report(&out))
    };
    let state = |r: &Value, tag: &str| {
        row(r, "rows", "subject", &format!("{}/{REPO}:{tag}", src.host))["state"].clone()
    };
    let (code, r) = check(&required);
    assert_eq!(code, Some(1), "{r:#}");
    for (tag, expected) in [
        ("bundle", "verified"),
        ("v2bundle", "verified"),
        ("legacy", "verified"),
        ("unsigned", "refused"),
        ("other", "refused"),
        ("moved", "refused"),
    ] {
        assert_eq!(state(&r, tag), expected, "{tag}: {r:#}");
    }
    let if_signed = policy(job.dir.path(), &src.host, "if-signed", &keys.public);
    let (code, r) = check(&if_signed);
    assert_eq!(code, Some(1), "{r:#}");
    assert_eq!(state(&r, "unsigned"), "unsigned", "{r:#}");
    assert_eq!(state(&r, "other"), "refused", "{r:#}");
}

/// A digest the policy would check but that cannot be read at the source is refused, not
/// copied unchecked: the source answers every manifest HEAD (how the check reads the digest)
/// with 403, while the GETs the copy would walk with still work.
#[tokio::test(flavor = "multi_thread")]
async fn verify_refuses_an_image_whose_digest_cannot_be_read() {
    let src = Registry::start(Flavour::Distribution);
    let dst = Registry::start(Flavour::Distribution);
    let keys = Keys::new();
    let pushed = src.seeder().image(REPO, Some("app"), AMD64, false).await;
    Cosign::v3()
        .sign_bundle(
            &at(&src.host, REPO, &pushed.digest),
            &keys.key,
            "test",
            false,
        )
        .ok();
    let proxy = FaultProxy::start(src.addr);
    proxy.add(Rule::manifests(Fault::Status(403), usize::MAX).method("HEAD"));
    let job = app_job("unreadable", &proxy.host, &dst.host, "app");
    let required = policy(job.dir.path(), &proxy.host, "required", &keys.public);
    let out = job.copy(&["--verify", required.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let r = report(&out);
    let i = row(
        &r,
        "images",
        "source",
        &format!("{}/{REPO}:app", proxy.host),
    );
    assert_eq!(i["state"], "refused", "{i:#}");
    let message = i["message"].as_str().unwrap();
    assert!(
        message.contains("its digest cannot be read to check its signatures"),
        "{message}"
    );
    assert!(
        dst.seeder()
            .head_manifest(&format!("{PREFIX}/{REPO}"), "app")
            .await
            .is_none(),
        "copied unchecked"
    );
    // The same copy with the source readable goes through: the refusal was the HEAD.
    proxy.clear();
    let out = job.copy(&["--verify", required.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        dst.seeder()
            .head_manifest(&format!("{PREFIX}/{REPO}"), "app")
            .await,
        Some(pushed.digest.clone())
    );
}

/// A source that will not list tags (as ECR or a pull-only token answers `/tags/list`) hides
/// no signature from `verify-signatures` or `copy --verify`: they read cosign's
/// `sha256-<hex>.sig` tag and the referrers fallback tag by name, never from the tag list, so
/// a real cosign v2 `.sig` still verifies. (`copy` itself finds the tags it carries in the
/// list, and says per image that it could not: mirror_copy_options.) The refusal is the fault
/// proxy's 403: every registry here lists tags.
#[tokio::test(flavor = "multi_thread")]
async fn signatures_are_read_by_name_where_tags_cannot_be_listed() {
    let src = Registry::start(Flavour::Distribution);
    let dst = Registry::start(Flavour::Distribution);
    let keys = Keys::new();
    let pushed = src.seeder().image(REPO, Some("legacy"), AMD64, false).await;
    Cosign::v2()
        .sign_legacy(
            &at(&src.host, REPO, &pushed.digest),
            &keys.key,
            "test",
            false,
        )
        .ok();
    let proxy = FaultProxy::start(src.addr);
    proxy.add(Rule::path("/tags/list", Fault::Status(403), usize::MAX));
    let job = app_job("unlisted-trust", &proxy.host, &dst.host, "legacy");
    let required = policy(job.dir.path(), &proxy.host, "required", &keys.public);
    let tgz = job.chart.tgz.display().to_string();
    let out = job.mirror(
        &[
            "verify-signatures",
            &tgz,
            "--policy",
            required.to_str().unwrap(),
        ],
        &["--json"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let r = report(&out);
    let subject = format!("{}/{REPO}:legacy", proxy.host);
    let verdict = row(&r, "rows", "subject", &subject);
    assert_eq!(verdict["state"], "verified", "{r:#}");
    assert_eq!(verdict["digest"], pushed.digest.as_str(), "{r:#}");
    assert_eq!(
        verdict["signatures"][0]["key"],
        fingerprint(&keys.public),
        "{r:#}"
    );

    // copy --verify lets it through on the same signature, and says the copy could not
    // look for the tags it would carry.
    let out = job.copy(&["--verify", required.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let r = report(&out);
    let i = row(&r, "images", "source", &subject);
    assert_eq!(i["state"], "copied", "{i:#}");
    assert_eq!(i["tagsUnlisted"]["registry"], proxy.host.as_str(), "{i:#}");
}

/// Copies two images (one multi-platform) and the chart archive with `--sign-key`, then has
/// cosign verify each at the target.
async fn signs_at_the_target(to: Flavour) {
    let src = Registry::start(Flavour::Oci);
    let dst = Registry::start(to);
    let s = src.seeder();
    let keys = Keys::new();
    let (v3, v2) = (Cosign::v3(), Cosign::v2());
    let single = s.image(REPO, Some("single"), AMD64, false).await;
    let (index, children, _) = s.oci_index("trust/multi", "1").await;
    let images = vec![
        ("single".to_owned(), format!("{}/{REPO}:single", src.host)),
        ("multi".to_owned(), format!("{}/trust/multi:1", src.host)),
    ];
    let job = Job::running("tosign", &images, &src.host, &dst.host);
    let args = job.args(&["--sign-key", job_key(&keys), "--sign-recursive", "--json"]);

    // The wrong password: a clear error naming the key, nothing copied.
    let wrong = mirror_with_password(&job.helm, &args, "nope");
    assert_ne!(wrong.status.code(), Some(0), "{}", text(&wrong));
    let err = stderr(&wrong);
    assert!(
        err.contains("signer.key") && err.contains("password"),
        "{err}"
    );

    let out = mirror_with_password(&job.helm, &args, "test");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let r = report(&out);
    for i in r["images"].as_array().unwrap() {
        assert_eq!(i["state"], "copied", "{r:#}");
        assert!(i["signed"].as_str().unwrap().starts_with("signed"), "{r:#}");
    }
    assert_eq!(r["charts"][0]["signed"], "signed", "{r:#}");
    let t = dst.seeder();
    let target = |repo: &str, digest: &str| at(&dst.host, &format!("{PREFIX}/{repo}"), digest);
    let chart_digest = r["charts"][0]["digest"].as_str().unwrap().to_owned();
    let chart_repo = format!("{PREFIX}/charts/{}", job.chart.name);
    let mut signed = vec![
        target(REPO, &single.digest),
        target("trust/multi", &index.digest),
        at(&dst.host, &chart_repo, &chart_digest),
    ];
    signed.extend(children.iter().map(|c| target("trust/multi", &c.digest)));
    for verifier in [&v3, &v2] {
        for image in &signed {
            verifier.verify(image, &keys.public).ok();
            verifier.verify(image, &keys.other_public).failed();
        }
    }
    // Where the signature is: a referrer (API or fallback index), never a .sig tag.
    let tags = t.tags(&format!("{PREFIX}/{REPO}")).await;
    let fallback = digest_tag(&single.digest);
    assert_eq!(
        tags.contains(&fallback),
        to == Flavour::Distribution,
        "fallback tag {fallback} only without a referrers API: {tags:?}"
    );
    assert!(!tags.iter().any(|t| t.ends_with(".sig")), "{tags:?}");

    // Again: nothing new is signed.
    let again = report(&mirror_with_password(&job.helm, &args, "test"));
    for i in again["images"].as_array().unwrap() {
        assert_eq!(i["signed"], "already signed by this key", "{again:#}");
    }

    if to == Flavour::Distribution {
        // A tampered bundle: the only referrer of the image, and cosign rejects it.
        let repo = format!("{PREFIX}/{REPO}");
        tamper_bundle(&t, &repo, &single.digest).await;
        for verifier in [&v3, &v2] {
            verifier
                .verify(&target(REPO, &single.digest), &keys.public)
                .failed();
        }
    }
}

/// The key path as an argument.
fn job_key(keys: &Keys) -> &str {
    keys.key.to_str().unwrap()
}

/// Replaces `digest`'s fallback index with one naming a copy of its bundle referrer whose
/// signature has one byte changed.
async fn tamper_bundle(t: &Seeder, repo: &str, digest: &str) {
    let index = t.fetch_manifest(repo, &digest_tag(digest)).await.unwrap();
    let index: Value = serde_json::from_slice(&index.bytes).unwrap();
    let referrer = index["manifests"][0]["digest"].as_str().unwrap();
    let manifest = t.fetch_manifest(repo, referrer).await.unwrap();
    let mut manifest: Value = serde_json::from_slice(&manifest.bytes).unwrap();
    let layer = manifest["layers"][0]["digest"].as_str().unwrap().to_owned();
    let mut bundle: Value =
        serde_json::from_slice(&t.fetch_blob(repo, &layer).await.unwrap()).unwrap();
    let sig = bundle["dsseEnvelope"]["signatures"][0]["sig"]
        .as_str()
        .unwrap();
    let mut raw = STANDARD.decode(sig).unwrap();
    let last = raw.len() - 3;
    raw[last] ^= 1;
    bundle["dsseEnvelope"]["signatures"][0]["sig"] = json!(STANDARD.encode(raw));
    let bytes = serde_json::to_vec(&bundle).unwrap();
    let digest_new = t.blob(repo, &bytes).await;
    manifest["layers"][0]["digest"] = json!(digest_new);
    manifest["layers"][0]["size"] = json!(bytes.len());
    let manifest_bytes = serde_json::to_vec(&manifest).unwrap();
    let pushed = t
        .manifest(
            repo,
            None,
            "application/vnd.oci.image.manifest.v1+json",
            manifest_bytes.clone(),
        )
        .await;
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": pushed.digest,
            "size": manifest_bytes.len(),
            "artifactType": BUNDLE_TYPE,
        }],
    });
    t.manifest(
        repo,
        Some(&digest_tag(digest)),
        "application/vnd.oci.image.index.v1+json",
        serde_json::to_vec(&index).unwrap(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sign_key_signs_at_distribution_and_cosign_verifies() {
    signs_at_the_target(Flavour::Distribution).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sign_key_signs_at_oci_registry_and_cosign_verifies() {
    signs_at_the_target(Flavour::Oci).await;
}

/// `--signature-format legacy` appends the mirror's signature to the `.sig` an upstream
/// signer wrote: both keys verify at the target.
#[tokio::test(flavor = "multi_thread")]
async fn legacy_signing_keeps_other_signers() {
    let src = Registry::start(Flavour::Distribution);
    let dst = Registry::start(Flavour::Distribution);
    let s = src.seeder();
    let keys = Keys::new();
    let v2 = Cosign::v2();
    let image = s.image(REPO, Some("1"), AMD64, false).await;
    v2.sign_legacy(
        &at(&src.host, REPO, &image.digest),
        &keys.other_key,
        "other",
        false,
    )
    .ok();
    let job = app_job("legacy", &src.host, &dst.host, "1");
    let args = job.args(&[
        "--sign-key",
        job_key(&keys),
        "--signature-format",
        "legacy",
        "--json",
    ]);
    let out = mirror_with_password(&job.helm, &args, "test");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let copied = at(&dst.host, &format!("{PREFIX}/{REPO}"), &image.digest);
    for public in [&keys.public, &keys.other_public] {
        v2.verify(&copied, public).ok();
        Cosign::v3().verify(&copied, public).ok();
    }
    let sig_tag = format!("{}.sig", digest_tag(&image.digest));
    let layers = |m: &[u8]| {
        serde_json::from_slice::<Value>(m).unwrap()["layers"]
            .as_array()
            .unwrap()
            .len()
    };
    let t = dst.seeder();
    let sig = t
        .fetch_manifest(&format!("{PREFIX}/{REPO}"), &sig_tag)
        .await
        .unwrap();
    assert_eq!(layers(&sig.bytes), 2, "both signers' layers");
    let again = mirror_with_password(&job.helm, &args, "test");
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    let sig = t
        .fetch_manifest(&format!("{PREFIX}/{REPO}"), &sig_tag)
        .await
        .unwrap();
    assert_eq!(layers(&sig.bytes), 2, "signing again adds nothing");
}

/// Upstream signatures travel in the bundle; import verifies the bundle's signatures and
/// signs at the target: both keys verify there.
#[tokio::test(flavor = "multi_thread")]
async fn signatures_survive_export_and_import() {
    let src = Registry::start(Flavour::Oci);
    let dst = Registry::start(Flavour::Distribution);
    let s = src.seeder();
    let keys = Keys::new();
    let v3 = Cosign::v3();
    let image = s.image(REPO, Some("1"), AMD64, false).await;
    let unsigned = s.image(REPO, Some("2"), AMD64, false).await;
    v3.sign_bundle(
        &at(&src.host, REPO, &image.digest),
        &keys.other_key,
        "other",
        false,
    )
    .ok();
    let job = app_job("carried", &src.host, &dst.host, "1");
    let upstream = policy(job.dir.path(), &src.host, "required", &keys.other_public);
    let bundle = job.path("bundle.tar");
    let out = job.mirror(
        &[
            "export",
            job.chart.tgz.to_str().unwrap(),
            "-o",
            bundle.to_str().unwrap(),
        ],
        &["--verify", upstream.to_str().unwrap(), "--json"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // The policy names images by their source registry, inside the bundle too.
    let args: Vec<String> = [
        "mirror",
        "import",
        bundle.to_str().unwrap(),
        "--to",
        &job.to,
        "--plain-http",
        &dst.host,
        "--verify",
        upstream.to_str().unwrap(),
        "--sign-key",
        job_key(&keys),
        "--json",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let out = mirror_with_password(&job.helm, &args, "test");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let r = report(&out);
    let i = &r["images"][0];
    assert!(
        i["verified"].as_str().unwrap().contains("sigstore-bundle"),
        "{r:#}"
    );
    assert_eq!(i["signed"], "signed", "{r:#}");
    let copied = at(&dst.host, &format!("{PREFIX}/{REPO}"), &image.digest);
    v3.verify(&copied, &keys.other_public).ok();
    v3.verify(&copied, &keys.public).ok();

    // An image the bundle holds unsigned is refused by import's --verify.
    let job2 = app_job("unsigned", &src.host, &dst.host, "2");
    let bundle2 = job2.path("unsigned.tar");
    let out = job2.mirror(
        &[
            "export",
            job2.chart.tgz.to_str().unwrap(),
            "-o",
            bundle2.to_str().unwrap(),
        ],
        &["--json"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = job2.mirror(
        &["import", bundle2.to_str().unwrap(), "--to", &job2.to],
        &["--verify", upstream.to_str().unwrap(), "--json"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let r = report(&out);
    assert_eq!(
        row(&r, "images", "source", &format!("{}/{REPO}:2", src.host))["state"],
        "refused",
        "{r:#}"
    );
    assert!(
        dst.seeder()
            .head_manifest(&format!("{PREFIX}/{REPO}"), &unsigned.digest)
            .await
            .is_none()
    );
    // export --verify refuses it too, and writes nothing.
    let bundle3 = job2.path("refused.tar");
    let out = job2.mirror(
        &[
            "export",
            job2.chart.tgz.to_str().unwrap(),
            "-o",
            bundle3.to_str().unwrap(),
        ],
        &["--verify", upstream.to_str().unwrap(), "--json"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(!bundle3.exists());
}

/// `--keyring`: a chart archive with Helm provenance by a key of the keyring is copied; by
/// another key, or without provenance, it is refused and not pushed.
#[tokio::test(flavor = "multi_thread")]
async fn keyring_checks_chart_provenance() {
    let dst = Registry::start(Flavour::Distribution);
    let fixtures = support::repo_root().join("native/tests/fixtures/helm-prov");
    let helm = Helm::with_plugins(&["mirror"]);
    let dir = tempfile::tempdir().unwrap();
    let signed = dir.path().join("signed");
    let bare = dir.path().join("bare");
    for d in [&signed, &bare] {
        std::fs::create_dir_all(d).unwrap();
        std::fs::copy(fixtures.join("tiny-0.1.0.tgz"), d.join("tiny-0.1.0.tgz")).unwrap();
    }
    std::fs::copy(
        fixtures.join("tiny-0.1.0.tgz.prov"),
        signed.join("tiny-0.1.0.tgz.prov"),
    )
    .unwrap();
    let to = format!("{}/{PREFIX}", dst.host);
    let copy = |chart: &Path, keyring: &str| {
        helm.run([
            "mirror",
            "copy",
            chart.join("tiny-0.1.0.tgz").to_str().unwrap(),
            "--to",
            &to,
            "--plain-http",
            &dst.host,
            "--keyring",
            fixtures.join(keyring).to_str().unwrap(),
            "--json",
        ])
    };
    let t = dst.seeder();
    let chart_repo = format!("{PREFIX}/charts/tiny");
    let out = copy(&signed, "other-pubring.gpg");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let r = report(&out);
    assert_eq!(r["charts"][0]["state"], "refused", "{r:#}");
    assert!(
        r["charts"][0]["message"]
            .as_str()
            .unwrap()
            .contains("C1AF48ABB9C89207"),
        "{r:#}"
    );
    let out = copy(&bare, "pubring.gpg");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let r = report(&out);
    assert!(
        r["charts"][0]["message"]
            .as_str()
            .unwrap()
            .contains("no provenance"),
        "{r:#}"
    );
    assert!(t.head_manifest(&chart_repo, "0.1.0").await.is_none());

    let out = copy(&signed, "pubring.gpg");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let r = report(&out);
    assert_eq!(r["charts"][0]["state"], "copied", "{r:#}");
    assert!(
        r["charts"][0]["verified"]
            .as_str()
            .unwrap()
            .contains("purser test <test@purser.invalid>"),
        "{r:#}"
    );
    assert!(t.head_manifest(&chart_repo, "0.1.0").await.is_some());
}
