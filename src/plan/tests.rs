//! Plan tests. Manifests are literal text with odd whitespace, so any re-serialisation would
//! change their bytes and show.

use super::*;
use crate::digest::Algorithm;

const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
const HELM_CONFIG: &str = "application/vnd.cncf.helm.config.v1+json";

fn d(name: &str) -> Digest {
    Digest::sha256(name.as_bytes())
}

fn repo(text: &str) -> Repository {
    Repository::parse(text).unwrap()
}

/// An OCI image manifest naming `config` and `layers` (digest, size), oddly spaced.
fn image(config: &Digest, layers: &[(&Digest, u64)]) -> Vec<u8> {
    let layers: Vec<String> = layers
        .iter()
        .map(|(digest, size)| {
            format!(
                "\n    {{ \"mediaType\" : \"{LAYER}\",\"digest\":\"{digest}\",  \"size\":{size} }}"
            )
        })
        .collect();
    format!(
        "{{\n  \"schemaVersion\" :2,\t\"mediaType\": \"{OCI_MANIFEST}\",\n\"config\": {{ \"mediaType\": \"{CONFIG}\", \"digest\":\"{config}\", \"size\": 7 }},\n  \"layers\" : [{}\n  ]\n}}\n",
        layers.join(" ,")
    )
    .into_bytes()
}

/// The descriptor of manifest `bytes` as an index entry.
fn entry(bytes: &[u8], platform: &str, annotations: &str) -> String {
    let platform = match platform.split('/').collect::<Vec<_>>()[..] {
        [os, arch] => format!(",\"platform\":{{\"architecture\":\"{arch}\",\"os\":\"{os}\"}}"),
        [os, arch, variant] => format!(
            ",\"platform\":{{\"architecture\":\"{arch}\",\"os\":\"{os}\",\"variant\":\"{variant}\"}}"
        ),
        _ => String::new(),
    };
    format!(
        "\n {{\"mediaType\":\"{OCI_MANIFEST}\", \"digest\":\"{}\",\"size\":{}{platform}{annotations}}}",
        Digest::sha256(bytes),
        bytes.len()
    )
}

fn attestation_of(bytes: &[u8]) -> String {
    format!(
        ",\"annotations\":{{\"vnd.docker.reference.digest\":\"{}\",\"vnd.docker.reference.type\":\"attestation-manifest\"}}",
        Digest::sha256(bytes)
    )
}

fn index(media_type: &str, entries: &[String]) -> Vec<u8> {
    format!(
        "{{ \"schemaVersion\": 2,\n \"mediaType\":\"{media_type}\",\n  \"manifests\": [{}\n ],\n \"annotations\" : {{ \"org.opencontainers.image.ref.name\":\"1.0\" }} }}",
        entries.join(",")
    )
    .into_bytes()
}

/// A multi-platform image: amd64, arm64, and a BuildKit attestation of amd64.
struct MultiPlatform {
    amd64: Vec<u8>,
    arm64: Vec<u8>,
    attestation: Vec<u8>,
    index: Vec<u8>,
}

fn multi_platform() -> MultiPlatform {
    let amd64 = image(
        &d("config-amd64"),
        &[(&d("base-amd64"), 100), (&d("app-amd64"), 10)],
    );
    let arm64 = image(
        &d("config-arm64"),
        &[(&d("base-arm64"), 90), (&d("app-arm64"), 9)],
    );
    let attestation = image(&d("config-att"), &[(&d("provenance"), 5)]);
    let index = index(
        OCI_INDEX,
        &[
            entry(&amd64, "linux/amd64", ""),
            entry(&arm64, "linux/arm64", ""),
            entry(&attestation, "unknown/unknown", &attestation_of(&amd64)),
        ],
    );
    MultiPlatform {
        amd64,
        arm64,
        attestation,
        index,
    }
}

/// Adds the index and every child it asks for; returns the index digest.
fn add_multi_platform(
    builder: &mut PlanBuilder,
    image: &MultiPlatform,
    source: &Repository,
    target: &Repository,
) -> Digest {
    let root = Digest::sha256(&image.index);
    let children = builder
        .add_manifest(source, target, image.index.clone(), OCI_INDEX, Some(&root))
        .unwrap();
    for child in children {
        let bytes = [&image.amd64, &image.arm64, &image.attestation]
            .into_iter()
            .find(|b| Digest::sha256(b) == child.digest)
            .unwrap()
            .clone();
        let more = builder
            .add_manifest(
                source,
                target,
                bytes,
                &child.media_type,
                Some(&child.digest),
            )
            .unwrap();
        assert!(more.is_empty());
    }
    root
}

/// Every manifest comes after its children and subject (same target) and appears once.
fn assert_push_order(plan: &Plan) {
    let mut pushed: BTreeSet<(Repository, Digest)> = BTreeSet::new();
    let all: BTreeSet<(Repository, Digest)> = plan
        .manifests
        .iter()
        .map(|m| (m.target.clone(), m.digest.clone()))
        .collect();
    assert_eq!(all.len(), plan.manifests.len(), "a (target, digest) twice");
    for step in &plan.manifests {
        for before in step.children.iter().chain(&step.subject) {
            let key = (step.target.clone(), before.clone());
            if all.contains(&key) {
                assert!(pushed.contains(&key), "{} before {before}", step.digest);
            }
        }
        pushed.insert((step.target.clone(), step.digest.clone()));
    }
}

#[test]
fn oci_index_with_two_platforms_and_an_attestation() {
    let image = multi_platform();
    let source = repo("docker.io/library/app");
    let target = repo("127.0.0.1:5000/mirror/app");
    let mut builder = PlanBuilder::new();
    let root = add_multi_platform(&mut builder, &image, &source, &target);
    builder.tag(&target, "1.0", &root).unwrap();
    let plan = builder.build();

    assert_push_order(&plan);
    assert_eq!(plan.manifests.len(), 4);
    let last = plan.manifests.last().unwrap();
    assert_eq!(last.digest, root);
    assert_eq!(last.bytes, image.index, "bytes are kept exactly");
    assert_eq!(last.size, image.index.len() as u64);
    assert_eq!(last.media_type, OCI_INDEX);
    assert_eq!(
        last.children,
        vec![
            Digest::sha256(&image.amd64),
            Digest::sha256(&image.arm64),
            Digest::sha256(&image.attestation)
        ]
    );
    assert!(last.blobs.is_empty());
    assert_eq!(last.annotations["org.opencontainers.image.ref.name"], "1.0");
    let amd64 = &plan.manifests[0];
    assert_eq!(amd64.bytes, image.amd64);
    assert_eq!(
        amd64.blobs,
        vec![d("config-amd64"), d("base-amd64"), d("app-amd64")]
    );
    assert_eq!(amd64.artifact_type, None);
    assert_eq!(plan.manifests[2].bytes, image.attestation);

    assert_eq!(plan.blobs.len(), 8);
    assert!(plan.blobs.iter().all(|b| b.targets == vec![target.clone()]));
    assert!(plan.blobs.iter().all(|b| b.sources == vec![source.clone()]));
    assert_eq!(plan.blobs[1].media_type, LAYER);
    assert_eq!(plan.blobs[0].media_type, CONFIG);
    assert_eq!(
        plan.tags,
        vec![TagStep {
            target: target.clone(),
            tag: "1.0".into(),
            digest: root,
            media_type: OCI_INDEX.into(),
        }]
    );
    let totals = plan.totals();
    assert_eq!(totals.manifests, 4);
    assert_eq!(totals.blobs, 8);
    assert_eq!(totals.bytes, 3 * 7 + 100 + 10 + 90 + 9 + 5);
    assert_eq!(totals.images, 0);
    assert_eq!(totals.target_repositories, vec![target]);
    assert_eq!(totals.referrers, 0);
}

#[test]
fn docker_manifest_list_and_schema_2_manifest() {
    let child = format!(
        "{{\r\n   \"schemaVersion\": 2,\r\n   \"mediaType\": \"{DOCKER_MANIFEST}\",\r\n   \"config\": {{\"mediaType\": \"{DOCKER_CONFIG}\",\"size\": 1469,\"digest\": \"{}\"}},\r\n   \"layers\": [{{\"mediaType\": \"{DOCKER_LAYER}\",\"size\": 2811478,\"digest\": \"{}\"}}]\r\n}}",
        d("docker-config"),
        d("docker-layer")
    )
    .into_bytes();
    let list = format!(
        "{{\"manifests\":[{{\"digest\":\"{}\",\"mediaType\":\"{DOCKER_MANIFEST}\",\"platform\":{{\"architecture\":\"arm\",\"os\":\"linux\",\"variant\":\"v7\"}},\"size\":{}}}],\"mediaType\":\"{DOCKER_LIST}\",\"schemaVersion\":2}}",
        Digest::sha256(&child),
        child.len()
    )
    .into_bytes();
    assert!(is_index(DOCKER_LIST) && is_index(OCI_INDEX) && !is_index(DOCKER_MANIFEST));
    let Manifest::Index { manifests, .. } = parse_manifest(&list, DOCKER_LIST).unwrap() else {
        panic!("a manifest list is an index");
    };
    assert_eq!(
        manifests[0].platform.as_ref().unwrap().to_string(),
        "linux/arm/v7"
    );

    let source = repo("docker.io/library/busybox");
    let target = repo("registry.example/lib/busybox");
    let mut builder = PlanBuilder::new();
    let children = builder
        .add_manifest(&source, &target, list.clone(), DOCKER_LIST, None)
        .unwrap();
    assert_eq!(children, manifests);
    builder
        .add_manifest(
            &source,
            &target,
            child.clone(),
            DOCKER_MANIFEST,
            Some(&children[0].digest),
        )
        .unwrap();
    let plan = builder.build();
    assert_push_order(&plan);
    assert_eq!(plan.manifests[0].bytes, child);
    assert_eq!(plan.manifests[1].bytes, list);
    assert_eq!(plan.blobs[1].size, 2_811_478);
    assert_eq!(plan.blobs[0].media_type, DOCKER_CONFIG);
}

#[test]
fn single_image() {
    let bytes = image(&d("config"), &[(&d("layer"), 42)]);
    let source = repo("ghcr.io/org/tool");
    let target = repo("127.0.0.1:5000/tools/tool");
    let mut builder = PlanBuilder::new();
    let digest = Digest::sha256(&bytes);
    let children = builder
        .add_manifest(&source, &target, bytes.clone(), OCI_MANIFEST, Some(&digest))
        .unwrap();
    assert!(children.is_empty());
    builder.tag(&target, "v1", &digest).unwrap();
    builder.image(ImageStep {
        source: "ghcr.io/org/tool:v1".into(),
        destination: "127.0.0.1:5000/tools/tool:v1".into(),
        digest: digest.clone(),
        source_digest: digest.clone(),
        platforms: Vec::new(),
        referrers: 0,
    });
    let plan = builder.build();
    assert_eq!(plan.manifests.len(), 1);
    assert_eq!(plan.manifests[0].bytes, bytes);
    assert_eq!(plan.manifests[0].blobs, vec![d("config"), d("layer")]);
    assert_eq!(plan.blobs.len(), 2);
    assert_eq!(plan.tags[0].media_type, OCI_MANIFEST);
    assert_eq!(plan.totals().images, 1);
}

#[test]
fn adding_a_manifest_twice_is_a_no_op_but_two_targets_are_two_steps() {
    let image = multi_platform();
    let source = repo("docker.io/library/app");
    let first = repo("127.0.0.1:5000/a/app");
    let second = repo("127.0.0.1:5000/b/app");
    let mut builder = PlanBuilder::new();
    add_multi_platform(&mut builder, &image, &source, &first);
    let again = builder
        .add_manifest(&source, &first, image.index.clone(), OCI_INDEX, None)
        .unwrap();
    assert!(again.is_empty());
    add_multi_platform(&mut builder, &image, &source, &second);
    let plan = builder.build();
    assert_eq!(plan.manifests.len(), 8);
    assert_eq!(plan.blobs.len(), 8);
    assert!(
        plan.blobs
            .iter()
            .all(|b| b.targets == vec![first.clone(), second.clone()])
    );
    assert_push_order(&plan);
}

#[test]
fn a_child_already_planned_is_not_asked_for_again() {
    let shared = image(&d("config"), &[(&d("layer"), 1)]);
    let other = image(&d("config-2"), &[(&d("layer-2"), 1)]);
    let one = index(OCI_INDEX, &[entry(&shared, "linux/amd64", "")]);
    let two = index(
        OCI_INDEX,
        &[
            entry(&shared, "linux/amd64", ""),
            entry(&other, "linux/arm64", ""),
        ],
    );
    let (source, target) = (repo("r.example/a"), repo("t.example/a"));
    let mut builder = PlanBuilder::new();
    builder
        .add_manifest(&source, &target, one, OCI_INDEX, None)
        .unwrap();
    builder
        .add_manifest(&source, &target, shared, OCI_MANIFEST, None)
        .unwrap();
    let children = builder
        .add_manifest(&source, &target, two, OCI_INDEX, None)
        .unwrap();
    assert_eq!(children.len(), 1);
    assert_eq!(children[0].digest, Digest::sha256(&other));
}

#[test]
fn two_images_sharing_a_base_layer_give_one_blob_step() {
    let base = d("debian-base");
    let web = image(&d("web-config"), &[(&base, 1000), (&d("web-app"), 10)]);
    let api = image(&d("api-config"), &[(&base, 1000), (&d("api-app"), 20)]);
    let mut builder = PlanBuilder::new();
    let (web_source, web_target) = (repo("docker.io/team/web"), repo("127.0.0.1:5000/m/web"));
    let (api_source, api_target) = (repo("quay.io/team/api"), repo("127.0.0.1:5000/m/api"));
    builder
        .add_manifest(&web_source, &web_target, web, OCI_MANIFEST, None)
        .unwrap();
    builder
        .add_manifest(&api_source, &api_target, api, OCI_MANIFEST, None)
        .unwrap();
    let plan = builder.build();
    let shared: Vec<&BlobStep> = plan.blobs.iter().filter(|b| b.digest == base).collect();
    assert_eq!(shared.len(), 1);
    assert_eq!(
        shared[0].targets,
        vec![web_target.clone(), api_target.clone()]
    );
    assert_eq!(shared[0].sources, vec![web_source, api_source]);
    assert_eq!(plan.blobs.len(), 5);
    let totals = plan.totals();
    assert_eq!(totals.bytes, 1000 + 10 + 20 + 7 * 2);
    assert_eq!(totals.target_repositories, vec![api_target, web_target]);
}

#[test]
fn a_referrer_is_ordered_after_its_subject() {
    let subject = image(&d("config"), &[(&d("layer"), 3)]);
    let subject_digest = Digest::sha256(&subject);
    // An SBOM referrer with a subject field, and a cosign signature without one.
    let sbom = format!(
        "{{\"schemaVersion\":2, \"mediaType\":\"{OCI_MANIFEST}\", \"artifactType\":\"application/spdx+json\",\n\"config\":{{\"mediaType\":\"application/vnd.oci.empty.v1+json\",\"digest\":\"{}\",\"size\":2}},\n\"layers\":[{{\"mediaType\":\"application/spdx+json\",\"digest\":\"{}\",\"size\":300}}],\n\"subject\":{{\"mediaType\":\"{OCI_MANIFEST}\",\"digest\":\"{subject_digest}\",\"size\":{}}} }}",
        Digest::sha256(b"{}"),
        d("sbom"),
        subject.len()
    )
    .into_bytes();
    let signature = format!(
        "{{\"schemaVersion\":2,\"mediaType\":\"{OCI_MANIFEST}\",\"config\":{{\"mediaType\":\"{CONFIG}\",\"digest\":\"{}\",\"size\":233}},\"layers\":[{{\"mediaType\":\"application/vnd.dev.cosign.simplesigning.v1+json\",\"digest\":\"{}\",\"size\":250,\"annotations\":{{\"dev.cosignproject.cosign/signature\":\"MEUCIQ==\"}}}}]}}",
        d("sig-config"),
        d("sig-payload")
    )
    .into_bytes();
    let (source, target) = (repo("ghcr.io/org/app"), repo("127.0.0.1:5000/org/app"));
    let mut builder = PlanBuilder::new();
    builder
        .add_referrer(
            &subject_digest,
            &source,
            &target,
            sbom.clone(),
            OCI_MANIFEST,
            None,
        )
        .unwrap();
    builder
        .add_referrer(
            &subject_digest,
            &source,
            &target,
            signature.clone(),
            OCI_MANIFEST,
            None,
        )
        .unwrap();
    builder
        .add_manifest(&source, &target, subject.clone(), OCI_MANIFEST, None)
        .unwrap();
    let plan = builder.build();
    assert_push_order(&plan);
    let order: Vec<&[u8]> = plan.manifests.iter().map(|m| m.bytes.as_slice()).collect();
    assert_eq!(order, vec![&subject[..], &sbom[..], &signature[..]]);
    assert_eq!(plan.manifests[1].subject.as_ref(), Some(&subject_digest));
    assert_eq!(
        plan.manifests[1].artifact_type.as_deref(),
        Some("application/spdx+json")
    );
    assert_eq!(plan.manifests[2].subject.as_ref(), Some(&subject_digest));
    assert_eq!(plan.totals().referrers, 2);
}

#[test]
fn a_manifest_with_a_subject_field_is_a_referrer_without_being_told() {
    let subject = image(&d("config"), &[]);
    let subject_digest = Digest::sha256(&subject);
    let referrer = format!(
        "{{\"schemaVersion\":2,\"mediaType\":\"{OCI_MANIFEST}\",\"config\":{{\"mediaType\":\"application/vnd.example+json\",\"digest\":\"{}\",\"size\":2}},\"layers\":[],\"subject\":{{\"mediaType\":\"{OCI_MANIFEST}\",\"digest\":\"{subject_digest}\",\"size\":{}}}}}",
        Digest::sha256(b"{}"),
        subject.len()
    )
    .into_bytes();
    let (source, target) = (repo("a.example/x"), repo("b.example/x"));
    let mut builder = PlanBuilder::new();
    builder
        .add_manifest(&source, &target, referrer, OCI_MANIFEST, None)
        .unwrap();
    builder
        .add_manifest(&source, &target, subject, OCI_MANIFEST, None)
        .unwrap();
    let plan = builder.build();
    assert_eq!(plan.manifests[0].digest, subject_digest);
    assert_eq!(plan.manifests[1].subject.as_ref(), Some(&subject_digest));
    assert_eq!(
        plan.manifests[1].artifact_type.as_deref(),
        Some("application/vnd.example+json"),
        "the config media type of a non-image config is the artifact type"
    );
}

#[test]
fn a_cycle_told_by_the_caller_still_builds_every_step_once() {
    let child = image(&d("config"), &[]);
    let parent = index(OCI_INDEX, &[entry(&child, "linux/amd64", "")]);
    let parent_digest = Digest::sha256(&parent);
    let (source, target) = (repo("a.example/x"), repo("b.example/x"));
    let mut builder = PlanBuilder::new();
    builder
        .add_manifest(&source, &target, parent, OCI_INDEX, None)
        .unwrap();
    // Nonsense on purpose: the child claims to refer to its own parent.
    builder
        .add_referrer(&parent_digest, &source, &target, child, OCI_MANIFEST, None)
        .unwrap();
    let plan = builder.build();
    assert_eq!(plan.manifests.len(), 2);
    assert_eq!(
        plan.manifests[0].digest, parent_digest,
        "cycles keep the order added"
    );
}

#[test]
fn build_order_is_deterministic() {
    let image = multi_platform();
    let run = || {
        let mut builder = PlanBuilder::new();
        add_multi_platform(
            &mut builder,
            &image,
            &repo("a.example/x"),
            &repo("b.example/x"),
        );
        builder.build()
    };
    assert_eq!(run(), run());
    assert_eq!(run().to_json(), run().to_json());
}

#[test]
fn digest_mismatch_names_the_source() {
    let bytes = image(&d("config"), &[]);
    let source = repo("docker.io/library/app");
    let wrong = d("something else");
    let err = PlanBuilder::new()
        .add_manifest(
            &source,
            &repo("t.example/app"),
            bytes.clone(),
            OCI_MANIFEST,
            Some(&wrong),
        )
        .unwrap_err();
    assert_eq!(
        err,
        PlanError::DigestMismatch {
            source: source.to_string(),
            expected: wrong.clone(),
            actual: Digest::sha256(&bytes),
        }
    );
    let message = err.to_string();
    assert!(message.contains("docker.io/library/app"), "{message}");
    assert!(message.contains(wrong.as_str()), "{message}");

    // The algorithm of the expected digest is the one used.
    let sha512 = Digest::compute(Algorithm::Sha512, &bytes);
    let mut builder = PlanBuilder::new();
    builder
        .add_manifest(
            &source,
            &repo("t.example/app"),
            bytes,
            OCI_MANIFEST,
            Some(&sha512),
        )
        .unwrap();
    assert_eq!(builder.build().manifests[0].digest, sha512);
}

#[test]
fn bad_json_names_the_repository() {
    let source = repo("127.0.0.1:5000/team/app");
    let bytes = b"{\"schemaVersion\": 2, \"config\": ".to_vec();
    let err = PlanBuilder::new()
        .add_manifest(
            &source,
            &repo("t.example/app"),
            bytes.clone(),
            OCI_MANIFEST,
            None,
        )
        .unwrap_err();
    let message = err.to_string();
    assert!(message.contains("127.0.0.1:5000/team/app"), "{message}");
    assert!(
        message.contains(Digest::sha256(&bytes).as_str()),
        "{message}"
    );
    assert!(matches!(err, PlanError::BadManifest { .. }));

    let bad_digest = format!(
        "{{\"config\":{{\"mediaType\":\"{CONFIG}\",\"digest\":\"sha256:ABC\",\"size\":1}}}}"
    );
    let err = parse_manifest(bad_digest.as_bytes(), OCI_MANIFEST).unwrap_err();
    assert!(err.to_string().contains("not a digest"), "{err}");
    let no_config = parse_manifest(b"{\"layers\":[]}", OCI_MANIFEST).unwrap_err();
    assert!(no_config.to_string().contains("config"), "{no_config}");
    let no_list = parse_manifest(b"{\"schemaVersion\":2}", OCI_INDEX).unwrap_err();
    assert!(no_list.to_string().contains("manifests"), "{no_list}");
}

#[test]
fn unsupported_media_types_are_refused() {
    let err = parse_manifest(
        b"{}",
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
    )
    .unwrap_err();
    assert!(matches!(err, PlanError::UnsupportedMediaType { .. }));
    assert!(err.to_string().contains("prettyjws"));
}

#[test]
fn artifact_manifests_and_helm_charts() {
    let artifact = format!(
        "{{\"mediaType\":\"{OCI_ARTIFACT_MANIFEST}\",\"artifactType\":\"application/vnd.example.sbom\",\"blobs\":[{{\"mediaType\":\"application/json\",\"digest\":\"{}\",\"size\":12}}]}}",
        d("blob")
    );
    let Manifest::Image {
        config,
        layers,
        artifact_type,
        ..
    } = parse_manifest(artifact.as_bytes(), OCI_ARTIFACT_MANIFEST).unwrap()
    else {
        panic!("an artifact manifest reads as an image manifest");
    };
    assert_eq!(config, None);
    assert_eq!(layers[0].digest, d("blob"));
    assert_eq!(
        artifact_type.as_deref(),
        Some("application/vnd.example.sbom")
    );

    let chart = format!(
        "{{\"schemaVersion\":2,\"config\":{{\"mediaType\":\"{HELM_CONFIG}\",\"digest\":\"{}\",\"size\":120}},\"layers\":[{{\"mediaType\":\"application/vnd.cncf.helm.chart.content.v1.tar+gzip\",\"digest\":\"{}\",\"size\":3000}}]}}",
        d("chart-config"),
        d("chart-tgz")
    );
    let parsed = parse_manifest(chart.as_bytes(), OCI_MANIFEST).unwrap();
    assert_eq!(parsed.artifact_type(), Some(HELM_CONFIG));
}

#[test]
fn foreign_layers_are_not_copied() {
    let windows = format!(
        "{{\"schemaVersion\":2,\"mediaType\":\"{DOCKER_MANIFEST}\",\"config\":{{\"mediaType\":\"{DOCKER_CONFIG}\",\"digest\":\"{}\",\"size\":5}},\"layers\":[{{\"mediaType\":\"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip\",\"digest\":\"{}\",\"size\":100,\"urls\":[\"https://mcr.microsoft.com/v2/x/blobs/y\"]}},{{\"mediaType\":\"{DOCKER_LAYER}\",\"digest\":\"{}\",\"size\":9}}]}}",
        d("win-config"),
        d("foreign"),
        d("own")
    );
    let mut builder = PlanBuilder::new();
    builder
        .add_manifest(
            &repo("a.example/w"),
            &repo("b.example/w"),
            windows.into_bytes(),
            DOCKER_MANIFEST,
            None,
        )
        .unwrap();
    let plan = builder.build();
    assert_eq!(plan.manifests[0].blobs, vec![d("win-config"), d("own")]);
    assert_eq!(plan.blobs.len(), 2);
}

#[test]
fn blob_size_conflicts_are_refused() {
    let one = image(&d("config"), &[(&d("layer"), 10)]);
    let two = image(&d("config-2"), &[(&d("layer"), 11)]);
    let mut builder = PlanBuilder::new();
    let (source, target) = (repo("a.example/x"), repo("b.example/x"));
    builder
        .add_manifest(&source, &target, one, OCI_MANIFEST, None)
        .unwrap();
    let err = builder
        .add_manifest(&source, &target, two, OCI_MANIFEST, None)
        .unwrap_err();
    assert!(matches!(
        err,
        PlanError::BlobSizeConflict {
            size: 10,
            other: 11,
            ..
        }
    ));
    let plan = builder.build();
    assert_eq!(
        plan.manifests.len(),
        1,
        "nothing of the refused manifest is kept"
    );
    assert_eq!(plan.blobs.len(), 2);
}

#[test]
fn tags_need_their_manifest_and_one_digest() {
    let bytes = image(&d("config"), &[]);
    let digest = Digest::sha256(&bytes);
    let other = image(&d("config-2"), &[]);
    let other_digest = Digest::sha256(&other);
    let (source, target) = (repo("a.example/x"), repo("b.example/x"));
    let mut builder = PlanBuilder::new();
    let err = builder.tag(&target, "v1", &digest).unwrap_err();
    assert!(matches!(err, PlanError::UnknownManifest { .. }));
    assert!(err.to_string().contains("b.example/x"), "{err}");
    builder
        .add_manifest(&source, &target, bytes, OCI_MANIFEST, None)
        .unwrap();
    builder
        .add_manifest(&source, &target, other, OCI_MANIFEST, None)
        .unwrap();
    builder.tag(&target, "v1", &digest).unwrap();
    builder.tag(&target, "v1", &digest).unwrap();
    let err = builder.tag(&target, "v1", &other_digest).unwrap_err();
    assert!(matches!(err, PlanError::TagConflict { .. }));
    assert!(
        builder.tag(&repo("c.example/x"), "v1", &digest).is_err(),
        "a manifest is tagged only where it is pushed"
    );
    assert_eq!(builder.build().tags.len(), 1);
}

#[test]
fn repositories_and_platforms() {
    let r = repo("127.0.0.1:5000/team/app");
    assert_eq!(r.registry, "127.0.0.1:5000");
    assert_eq!(r.path, "team/app");
    assert_eq!(r.to_string(), "127.0.0.1:5000/team/app");
    assert_eq!(
        serde_json::to_string(&r).unwrap(),
        "\"127.0.0.1:5000/team/app\""
    );
    assert_eq!(
        serde_json::from_str::<Repository>("\"127.0.0.1:5000/team/app\"").unwrap(),
        r
    );
    for bad in ["", "noslash", "/path", "registry/"] {
        let err = Repository::parse(bad).unwrap_err();
        assert!(err.to_string().contains("registry/path"), "{err}");
    }
    assert!(serde_json::from_str::<Repository>("\"noslash\"").is_err());
    let reference = crate::reference::Reference::parse("nginx:1.25").unwrap();
    assert_eq!(
        Repository::from_reference(&reference),
        Repository::new("docker.io", "library/nginx")
    );
    let platform = Platform {
        os: "linux".into(),
        architecture: "arm".into(),
        variant: Some("v7".into()),
    };
    assert_eq!(platform.to_string(), "linux/arm/v7");
    let plain = Platform {
        variant: Some(String::new()),
        ..platform
    };
    assert_eq!(plain.to_string(), "linux/arm");
}

// ---------------------------------------------------------------------------------------------
// filter_index
// ---------------------------------------------------------------------------------------------

struct ArmIndex {
    amd64: Vec<u8>,
    v6: Vec<u8>,
    v7: Vec<u8>,
    arm64: Vec<u8>,
    index: Vec<u8>,
}

fn arm_index() -> ArmIndex {
    let amd64 = image(&d("amd64"), &[]);
    let v6 = image(&d("v6"), &[]);
    let v7 = image(&d("v7"), &[]);
    let arm64 = image(&d("arm64"), &[]);
    let index = index(
        OCI_INDEX,
        &[
            entry(&amd64, "linux/amd64", ""),
            entry(&v6, "linux/arm/v6", ""),
            entry(&v7, "linux/arm/v7", ""),
            entry(&arm64, "linux/arm64", ""),
            entry(
                &image(&d("att-amd64"), &[]),
                "unknown/unknown",
                &attestation_of(&amd64),
            ),
            entry(
                &image(&d("att-v7"), &[]),
                "unknown/unknown",
                &attestation_of(&v7),
            ),
        ],
    );
    ArmIndex {
        amd64,
        v6,
        v7,
        arm64,
        index,
    }
}

fn kept(bytes: &[u8]) -> Vec<Digest> {
    let Manifest::Index { manifests, .. } = parse_manifest(bytes, OCI_INDEX).unwrap() else {
        panic!("an index");
    };
    manifests.into_iter().map(|m| m.digest).collect()
}

fn wanted(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn filter_index_keeps_the_original_when_everything_matches() {
    let arm = arm_index();
    let all = wanted(&["linux/amd64", "linux/arm", "linux/arm64"]);
    assert_eq!(filter_index(&arm.index, OCI_INDEX, &all).unwrap(), None);
    assert_eq!(filter_index(&arm.index, OCI_INDEX, &[]).unwrap(), None);
}

#[test]
fn filter_index_keeps_matching_platforms_and_their_attestations() {
    let arm = arm_index();
    let filtered = filter_index(&arm.index, OCI_INDEX, &wanted(&["linux/amd64"]))
        .unwrap()
        .unwrap();
    assert_eq!(
        kept(&filtered),
        vec![
            Digest::sha256(&arm.amd64),
            Digest::sha256(&image(&d("att-amd64"), &[]))
        ]
    );
    // Every other top-level field unchanged in value.
    let before: serde_json::Value = serde_json::from_slice(&arm.index).unwrap();
    let after: serde_json::Value = serde_json::from_slice(&filtered).unwrap();
    for key in ["schemaVersion", "mediaType", "annotations"] {
        assert_eq!(before[key], after[key], "{key}");
    }
    // Entries are kept whole.
    assert_eq!(before["manifests"][0], after["manifests"][0]);
    // Deterministic.
    assert_eq!(
        filter_index(&arm.index, OCI_INDEX, &wanted(&["linux/amd64"])).unwrap(),
        Some(filtered)
    );
}

#[test]
fn filter_index_variants() {
    let arm = arm_index();
    let every_arm = filter_index(&arm.index, OCI_INDEX, &wanted(&["linux/arm"]))
        .unwrap()
        .unwrap();
    assert_eq!(
        kept(&every_arm),
        vec![
            Digest::sha256(&arm.v6),
            Digest::sha256(&arm.v7),
            Digest::sha256(&image(&d("att-v7"), &[]))
        ]
    );
    let v7 = filter_index(&arm.index, OCI_INDEX, &wanted(&["linux/arm/v7"]))
        .unwrap()
        .unwrap();
    assert_eq!(
        kept(&v7),
        vec![
            Digest::sha256(&arm.v7),
            Digest::sha256(&image(&d("att-v7"), &[]))
        ]
    );
    let arm64 = filter_index(&arm.index, OCI_INDEX, &wanted(&["linux/arm64/v8"]))
        .unwrap()
        .unwrap();
    assert_eq!(kept(&arm64), vec![Digest::sha256(&arm.arm64)]);
}

#[test]
fn filter_index_errors() {
    let arm = arm_index();
    let err = filter_index(
        &arm.index,
        OCI_INDEX,
        &wanted(&["linux/s390x", "windows/amd64"]),
    )
    .unwrap_err();
    let message = err.to_string();
    assert!(message.contains("linux/s390x, windows/amd64"), "{message}");
    assert!(
        message.contains("linux/amd64, linux/arm/v6, linux/arm/v7, linux/arm64"),
        "{message}"
    );
    let err = filter_index(&arm.index, OCI_INDEX, &wanted(&["linux"])).unwrap_err();
    assert!(matches!(err, PlanError::BadPlatform { .. }));
    let err = filter_index(&arm.index, OCI_INDEX, &wanted(&["linux/arm/"])).unwrap_err();
    assert!(matches!(err, PlanError::BadPlatform { .. }));
    let err = filter_index(&arm.amd64, OCI_MANIFEST, &wanted(&["linux/amd64"])).unwrap_err();
    assert!(matches!(err, PlanError::NotAnIndex { .. }));
    let err = filter_index(b"{\"manifests\":3}", OCI_INDEX, &wanted(&["linux/amd64"])).unwrap_err();
    assert!(err.to_string().contains("manifests"), "{err}");
}

#[test]
fn a_filtered_index_plans_like_any_other() {
    let image = multi_platform();
    let filtered = filter_index(&image.index, OCI_INDEX, &wanted(&["linux/arm64"]))
        .unwrap()
        .unwrap();
    let (source, target) = (repo("a.example/x"), repo("b.example/x"));
    let mut builder = PlanBuilder::new();
    let children = builder
        .add_manifest(&source, &target, filtered.clone(), OCI_INDEX, None)
        .unwrap();
    assert_eq!(children.len(), 1);
    assert_eq!(children[0].digest, Digest::sha256(&image.arm64));
    builder
        .add_manifest(&source, &target, image.arm64.clone(), OCI_MANIFEST, None)
        .unwrap();
    let plan = builder.build();
    assert_eq!(plan.manifests[1].bytes, filtered);
    assert_eq!(plan.blobs.len(), 3);
}

// ---------------------------------------------------------------------------------------------
// Referrers
// ---------------------------------------------------------------------------------------------

#[test]
fn fallback_index_keeps_existing_entries_and_adds_new_ones() {
    let existing_digest = d("existing");
    let existing = format!(
        "{{\"schemaVersion\":2,\"mediaType\":\"{OCI_INDEX}\",\"manifests\":[{{\"mediaType\":\"{OCI_MANIFEST}\",\"digest\":\"{existing_digest}\",\"size\":10,\"artifactType\":\"application/vnd.dev.sigstore.bundle.v0.3+json\",\"x-unknown\":[1,2]}}]}}"
    );
    let mut sbom = Descriptor::new(OCI_MANIFEST, d("sbom"), 20);
    sbom.artifact_type = Some("application/spdx+json".into());
    sbom.annotations.insert(
        "org.opencontainers.image.created".into(),
        "2024-01-01T00:00:00Z".into(),
    );
    let again = Descriptor::new(OCI_MANIFEST, existing_digest.clone(), 10);
    let bytes = fallback_index(
        Some(existing.as_bytes()),
        &[again, sbom.clone(), sbom.clone()],
    )
    .unwrap();
    let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(value["schemaVersion"], 2);
    assert_eq!(value["mediaType"], OCI_INDEX);
    let entries = value["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(
        entries[0]["x-unknown"],
        serde_json::json!([1, 2]),
        "kept as it was"
    );
    assert_eq!(entries[1]["artifactType"], "application/spdx+json");

    let read = referrers_of(&bytes).unwrap();
    assert_eq!(read[1], sbom);
    assert_eq!(read[0].digest, existing_digest);
    assert_eq!(
        fallback_index(Some(existing.as_bytes()), std::slice::from_ref(&sbom)).unwrap(),
        bytes,
        "deterministic"
    );

    let fresh = fallback_index(None, std::slice::from_ref(&sbom)).unwrap();
    assert_eq!(
        String::from_utf8(fresh).unwrap(),
        format!(
            "{{\"manifests\":[{{\"annotations\":{{\"org.opencontainers.image.created\":\"2024-01-01T00:00:00Z\"}},\"artifactType\":\"application/spdx+json\",\"digest\":\"{}\",\"mediaType\":\"{OCI_MANIFEST}\",\"size\":20}}],\"mediaType\":\"{OCI_INDEX}\",\"schemaVersion\":2}}",
            d("sbom")
        )
    );
    assert!(matches!(
        fallback_index(Some(b"<html>"), &[]),
        Err(PlanError::BadIndex { .. })
    ));
}

#[test]
fn referrers_of_reads_an_api_response() {
    let response = format!(
        "{{\"schemaVersion\":2,\"mediaType\":\"{OCI_INDEX}\",\"manifests\":[{{\"mediaType\":\"{OCI_MANIFEST}\",\"digest\":\"{}\",\"size\":1234,\"artifactType\":\"application/vnd.example.sbom.v1\",\"annotations\":{{\"org.example.sbom.format\":\"json\"}}}}]}}",
        d("ref")
    );
    let read = referrers_of(response.as_bytes()).unwrap();
    assert_eq!(read.len(), 1);
    assert_eq!(
        read[0].artifact_type.as_deref(),
        Some("application/vnd.example.sbom.v1")
    );
    assert!(referrers_of(b"{\"schemaVersion\":2}").unwrap().is_empty());
    assert!(referrers_of(b"not json").is_err());
}

// ---------------------------------------------------------------------------------------------
// Plan files and shares
// ---------------------------------------------------------------------------------------------

fn sample_plan() -> Plan {
    let image = multi_platform();
    let source = repo("docker.io/library/app");
    let target = repo("127.0.0.1:5000/mirror/app");
    let mut builder = PlanBuilder::new();
    let root = add_multi_platform(&mut builder, &image, &source, &target);
    builder
        .add_referrer(
            &root,
            &source,
            &target,
            image_with_odd_bytes(),
            OCI_MANIFEST,
            None,
        )
        .unwrap();
    builder.tag(&target, "1.0", &root).unwrap();
    builder.image(ImageStep {
        source: "app:1.0".into(),
        destination: "127.0.0.1:5000/mirror/app:1.0".into(),
        digest: root.clone(),
        source_digest: root.clone(),
        platforms: vec![ImagePlatform {
            platform: "linux/amd64".into(),
            digest: Digest::sha256(&image.amd64),
        }],
        referrers: 1,
    });
    builder.build()
}

/// A manifest with bytes JSON would never write: non-ASCII, escapes, CRLF.
fn image_with_odd_bytes() -> Vec<u8> {
    format!(
        "{{\r\n\"schemaVersion\":2,\"config\":{{\"mediaType\":\"{CONFIG}\",\"digest\":\"{}\",\"size\":7}},\"layers\":[],\r\n\"annotations\":{{\"note\":\"caf\u{e9} \\u00e9 \\/\"}}}}\r\n",
        d("odd-config")
    )
    .into_bytes()
}

#[test]
fn plan_json_round_trips_exactly() {
    let plan = sample_plan();
    let json = plan.to_json();
    let back = Plan::from_json(&json).unwrap();
    assert_eq!(back, plan);
    assert_eq!(back.manifests[4].bytes, image_with_odd_bytes());
    assert!(back.manifests[4].subject.is_some());
    assert_eq!(back.to_json(), json);
    assert!(json.contains("\"sourceDigest\""), "camelCase");
    assert!(!json.contains("\"subject\": null"), "None is left out");

    let tampered = json.replacen(
        &base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            image_with_odd_bytes(),
        ),
        &base64::Engine::encode(&base64::engine::general_purpose::STANDARD, b"{}"),
        1,
    );
    let err = Plan::from_json(&tampered).unwrap_err();
    assert!(matches!(err, PlanError::BadPlan { .. }));
    assert!(Plan::from_json("{\"manifests\": 3}").is_err());
    assert_eq!(Plan::from_json("{}").unwrap(), Plan::default());
}

/// A plan of `sizes.len()` blobs of those sizes, and nothing else.
fn blobs_plan(sizes: &[u64]) -> Plan {
    Plan {
        blobs: sizes
            .iter()
            .enumerate()
            .map(|(i, &size)| BlobStep {
                digest: d(&format!("blob-{i}")),
                size,
                media_type: LAYER.into(),
                sources: vec![repo("a.example/x")],
                targets: vec![repo("b.example/x")],
            })
            .collect(),
        ..Plan::default()
    }
}

fn check_shares(plan: &Plan, n: usize) {
    let shares = plan.shares(n);
    assert_eq!(shares.len(), n.clamp(1, plan.blobs.len().max(1)));
    let mut seen = BTreeSet::new();
    for share in &shares {
        assert!(share.manifests.is_empty() && share.tags.is_empty() && share.images.is_empty());
        for blob in &share.blobs {
            assert!(
                seen.insert(blob.digest.clone()),
                "{} in two shares",
                blob.digest
            );
        }
    }
    let all: BTreeSet<Digest> = plan.blobs.iter().map(|b| b.digest.clone()).collect();
    assert_eq!(seen, all, "the union of the shares is every blob");
    if !plan.blobs.is_empty() {
        assert!(
            shares.iter().all(|s| !s.blobs.is_empty()),
            "no share is empty"
        );
    }
    let loads: Vec<u64> = shares.iter().map(|s| s.totals().bytes).collect();
    let largest = plan.blobs.iter().map(|b| b.size).max().unwrap_or(0);
    let spread = loads.iter().max().unwrap() - loads.iter().min().unwrap();
    assert!(spread <= largest, "loads {loads:?}, largest blob {largest}");
}

/// A small deterministic pseudo-random generator (xorshift64; no dependency needed).
fn xorshift(seed: u64) -> impl FnMut() -> u64 {
    let mut state = seed;
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    }
}

#[test]
fn shares_split_blobs_by_bytes() {
    let mut next = xorshift(0x2545_f491_4f6c_dd1d);
    for round in 0..40 {
        let count = (next() % 30) as usize;
        let sizes: Vec<u64> = (0..count)
            .map(|_| match next() % 4 {
                0 => next() % 100_000_000,
                1 => next() % 1_000,
                _ => next() % 5_000_000,
            })
            .collect();
        let plan = blobs_plan(&sizes);
        for n in [0, 1, 2, 3, 4, 7, 16, 64] {
            check_shares(&plan, n);
        }
        if round == 0 {
            assert_eq!(blobs_plan(&[]).shares(4), vec![Plan::default()]);
        }
    }
    check_shares(&blobs_plan(&[0, 0, 0, 0]), 3);
    // Plan order is kept inside a share.
    let plan = blobs_plan(&[5, 1, 1, 1, 1, 1]);
    let shares = plan.shares(2);
    assert_eq!(shares[0].blobs, vec![plan.blobs[0].clone()]);
    assert_eq!(shares[1].blobs, plan.blobs[1..].to_vec());
}

#[test]
fn shares_of_a_heavy_tailed_mix_stay_near_the_mean() {
    // Layer sizes as catalogues have them: most small, a few huge (Pareto, alpha 1.2, from
    // 10 KB), 600 blobs. No share over 1.3x the mean, for the share counts a Job would use.
    let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
    let mut uniform = move || (next() >> 11) as f64 / (1u64 << 53) as f64;
    let sizes: Vec<u64> = (0..600)
        .map(|_| (10_000.0 / (1.0 - uniform()).powf(1.0 / 1.2)).min(4e9) as u64)
        .collect();
    let plan = blobs_plan(&sizes);
    let total: u64 = sizes.iter().sum();
    for n in [2, 3, 4, 8] {
        let shares = plan.shares(n);
        let mean = total as f64 / n as f64;
        let heaviest = shares.iter().map(|s| s.totals().bytes).max().unwrap();
        assert!(
            (heaviest as f64) <= 1.3 * mean,
            "{n} shares: heaviest {heaviest} bytes, mean {mean:.0}"
        );
        // Deterministic: the same plan gives the same shares.
        assert_eq!(shares, plan.shares(n));
    }
}

#[test]
fn commit_is_everything_but_the_blobs() {
    let plan = sample_plan();
    let commit = plan.commit();
    assert!(commit.blobs.is_empty());
    assert_eq!(commit.manifests, plan.manifests);
    assert_eq!(commit.tags, plan.tags);
    assert_eq!(commit.images, plan.images);
    let blobs: usize = plan.shares(3).iter().map(|s| s.blobs.len()).sum();
    assert_eq!(blobs, plan.blobs.len());
}
