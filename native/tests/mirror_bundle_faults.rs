//! Damaged, cut, hostile and foreign bundles: `helm mirror import` and `inspect` through real
//! Helm 4 against real registries (oci-registry as the source, distribution 2.8 as the target,
//! behind a counting proxy), nothing mocked. A bundle is exported from seeded content, then
//! changed on disk the way a bad copy, a bad disk or an attacker would change it — one byte of
//! a layer, the file cut short, `index.json` overwritten, `..` and link members, random bytes
//! — and every time the import must refuse with a message that names what is wrong, and leave
//! the target without a single tag (and, when the bundle cannot even be read, without a single
//! request). The good bundle is inspected: charts, images, platforms, signatures, referrers,
//! sizes, and the chart archive extracted byte for byte.
//!
//! The tar is read and written here by hand (512-byte ustar headers), independently of the
//! product's own reader.

use crate::support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

use support::bundle::{export, import, inspect, s};
use support::copy::{
    Content, Job, LEGACY, MULTI, PREFIX, SBOM_TYPE, SINGLE, assert_copied, assert_exit,
    assert_no_partial_tags, stderr,
};
use support::helm::text;
use support::seed::{Pushed, blob_digests, blob_sizes, random_bytes, sha256};
use support::{FaultProxy, Flavour, Registry};

// --- the tar, by hand --------------------------------------------------------------------------

const BLOCK: usize = 512;

/// A member of a tar as purser writes it: where its header and data are.
#[derive(Clone, Debug)]
struct Member {
    name: String,
    header: usize,
    data: usize,
    size: usize,
}

impl Member {
    fn bytes<'a>(&self, tar: &'a [u8]) -> &'a [u8] {
        &tar[self.data..self.data + self.size]
    }

    /// Where the next header starts.
    fn end(&self) -> usize {
        self.data + padded(self.size)
    }
}

fn padded(n: usize) -> usize {
    n.div_ceil(BLOCK) * BLOCK
}

fn c_string(field: &[u8]) -> String {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    String::from_utf8(field[..end].to_vec()).expect("a UTF-8 name")
}

fn octal(field: &[u8]) -> usize {
    let text = std::str::from_utf8(field).expect("an octal field");
    let text = text.trim_matches(|c| c == '\0' || c == ' ');
    usize::from_str_radix(text, 8).unwrap_or_else(|e| panic!("octal {text:?}: {e}"))
}

/// The members of a bundle file: ustar headers with a valid checksum, regular files only, every
/// name short enough for the header (purser's names are), then at least two zero blocks.
fn members(tar: &[u8]) -> Vec<Member> {
    let mut out = Vec::new();
    let mut at = 0;
    loop {
        assert!(at + BLOCK <= tar.len(), "the bundle ends inside a header");
        let block = &tar[at..at + BLOCK];
        if block.iter().all(|&b| b == 0) {
            assert!(
                tar.len() - at >= 2 * BLOCK && tar[at..].iter().all(|&b| b == 0),
                "the bundle does not end with (only) the two end-of-archive blocks"
            );
            return out;
        }
        let name = c_string(&block[..100]);
        assert_eq!(&block[257..263], b"ustar\0", "{name}: a ustar header");
        assert_eq!(block[345], 0, "{name}: no ustar prefix");
        assert_eq!(block[156], b'0', "{name}: a regular file");
        let sum: usize = block
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    b as usize
                }
            })
            .sum();
        assert_eq!(octal(&block[148..156]), sum, "{name}: header checksum");
        let size = octal(&block[124..136]);
        let member = Member {
            name,
            header: at,
            data: at + BLOCK,
            size,
        };
        assert!(member.data + size <= tar.len(), "{member:?} is cut");
        at = member.end();
        out.push(member);
    }
}

/// One member to write: a name, a tar type, a link target, data.
#[derive(Clone)]
struct Entry {
    name: String,
    kind: u8,
    link: String,
    data: Vec<u8>,
}

impl Entry {
    fn file(name: &str, data: &[u8]) -> Entry {
        Entry {
            name: name.to_owned(),
            kind: b'0',
            link: String::new(),
            data: data.to_vec(),
        }
    }

    fn special(name: &str, kind: u8, link: &str) -> Entry {
        Entry {
            name: name.to_owned(),
            kind,
            link: link.to_owned(),
            data: Vec::new(),
        }
    }
}

fn put_octal(field: &mut [u8], value: usize) {
    let digits = field.len() - 1;
    field[..digits].copy_from_slice(format!("{value:0digits$o}").as_bytes());
    field[digits] = 0;
}

/// A ustar header, as GNU tar writes one.
fn header(e: &Entry) -> [u8; BLOCK] {
    let mut h = [0u8; BLOCK];
    h[..e.name.len()].copy_from_slice(e.name.as_bytes());
    put_octal(&mut h[100..108], 0o644);
    put_octal(&mut h[108..116], 0);
    put_octal(&mut h[116..124], 0);
    put_octal(&mut h[124..136], e.data.len());
    put_octal(&mut h[136..148], 0);
    h[156] = e.kind;
    h[157..157 + e.link.len()].copy_from_slice(e.link.as_bytes());
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].fill(b' ');
    let sum: usize = h.iter().map(|&b| b as usize).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    h
}

/// A whole archive of `entries`, with its end-of-archive blocks.
fn tar(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        out.extend_from_slice(&header(e));
        out.extend_from_slice(&e.data);
        out.resize(padded(out.len()), 0);
    }
    out.resize(out.len() + 2 * BLOCK, 0);
    out
}

// --- the exported bundle -----------------------------------------------------------------------

/// Seeded content exported into a bundle; a target (distribution) behind a counting proxy,
/// which `job.to` names.
struct Fixture {
    src: Registry,
    dst: Registry,
    proxy: FaultProxy,
    content: Content,
    job: Job,
    bundle: PathBuf,
    bytes: Vec<u8>,
    members: Vec<Member>,
}

impl Fixture {
    async fn new(name: &str) -> Fixture {
        let src = Registry::start(Flavour::Oci);
        let dst = Registry::start(Flavour::Distribution);
        let proxy = FaultProxy::start(dst.addr);
        let content = Content::seed(&src.seeder()).await;
        let job = Job::new(name, &content.images(), &src.host, &proxy.host);
        let bundle = job.path("bundle.tar");
        let exported = export(&job, &bundle, &[], 0);
        assert_eq!(exported["complete"], true, "{exported:#}");
        let bytes = std::fs::read(&bundle).unwrap();
        let members = members(&bytes);
        Fixture {
            src,
            dst,
            proxy,
            content,
            job,
            bundle,
            bytes,
            members,
        }
    }

    fn member(&self, name: &str) -> &Member {
        self.members
            .iter()
            .find(|m| m.name == name)
            .unwrap_or_else(|| panic!("no member {name} in the bundle"))
    }

    /// The member of a blob.
    fn blob(&self, digest: &str) -> &Member {
        self.member(&blob_member(digest))
    }

    /// Every member as an [`Entry`], but those `leave_out` names.
    fn entries(&self, leave_out: &[&str]) -> Vec<Entry> {
        self.members
            .iter()
            .filter(|m| !leave_out.contains(&m.name.as_str()))
            .map(|m| Entry::file(&m.name, m.bytes(&self.bytes)))
            .collect()
    }

    /// `bytes` written to a new file in the job's dir.
    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.job.path(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    /// A copy of the bundle with `edit` applied to its bytes.
    fn edited(&self, name: &str, edit: impl FnOnce(&mut Vec<u8>)) -> PathBuf {
        let mut bytes = self.bytes.clone();
        edit(&mut bytes);
        self.write(name, &bytes)
    }

    /// `helm mirror import BUNDLE --to PROXY/mirror --json`, raw.
    fn import_raw(&self, bundle: &Path) -> Output {
        self.job
            .mirror(&["import", s(bundle), "--to", &self.job.to], &["--json"])
    }

    /// `helm mirror inspect BUNDLE --json`, raw.
    fn inspect_raw(&self, bundle: &Path) -> Output {
        self.job
            .helm
            .run(["mirror", "inspect", s(bundle), "--json"])
    }

    /// Import and inspect both refuse `bundle` before pushing anything, with every one of
    /// `needles` in their messages; the target saw no request at all.
    fn assert_unreadable(&self, bundle: &Path, needles: &[&str]) -> String {
        let mark = self.proxy.mark();
        let out = self.import_raw(bundle);
        let err = refused(&out, "import", needles);
        let seen = self.proxy.seen_since(mark);
        assert!(
            seen.is_empty(),
            "import of an unreadable bundle ({}) sent requests to the target:\n{}",
            bundle.display(),
            support::copy::trail(&seen)
        );
        refused(&self.inspect_raw(bundle), "inspect", needles);
        err
    }

    /// No tag and no manifest of the content at the target; no tag at all in any repository.
    async fn assert_nothing_visible(&self) {
        let dst = self.dst.seeder();
        for repo in dst.catalog().await {
            let tags = dst.tags(&repo).await;
            assert!(tags.is_empty(), "{repo} at the target has tags {tags:?}");
        }
        for (image, pushed) in self.content.tagged() {
            let at = image.target_repo();
            assert_eq!(
                dst.head_manifest(&at, image.tag).await,
                None,
                "{at}:{}",
                image.tag
            );
            assert!(dst.tags(&at).await.is_empty(), "{at} has tags");
            assert!(
                dst.fetch_manifest(&at, &pushed.digest).await.is_none(),
                "{at}@{} was pushed",
                pushed.digest
            );
        }
        for (repo, pushed) in self.content.manifests() {
            let at = format!("{PREFIX}/{repo}");
            assert!(
                dst.fetch_manifest(&at, &pushed.digest).await.is_none(),
                "manifest {at}@{} was pushed",
                pushed.digest
            );
        }
        let chart = self.job.chart.target_repo();
        assert!(dst.tags(&chart).await.is_empty(), "{chart} has tags");
        assert_eq!(
            dst.head_manifest(&chart, &self.job.chart.version).await,
            None
        );
        assert_eq!(assert_no_partial_tags(&dst).await, Vec::<String>::new());
    }

    /// The target has no repository at all.
    async fn assert_target_empty(&self) {
        assert_eq!(self.dst.seeder().catalog().await, Vec::<String>::new());
    }
}

/// `blobs/sha256/<hex>`.
fn blob_member(digest: &str) -> String {
    format!("blobs/sha256/{}", digest.trim_start_matches("sha256:"))
}

/// The first layer a manifest names.
fn first_layer(manifest: &Pushed) -> String {
    let v: Value = serde_json::from_slice(&manifest.bytes).unwrap();
    v["layers"][0]["digest"].as_str().unwrap().to_owned()
}

/// A run that is refused: exit 1, an `Error:` line naming every one of `needles`, no report on
/// stdout. Its stderr.
fn refused(out: &Output, what: &str, needles: &[&str]) -> String {
    assert_exit(out, 1);
    let err = stderr(out);
    assert!(
        err.contains("Error:"),
        "{what}: no Error: line: {}",
        text(out)
    );
    for needle in needles {
        assert!(
            err.contains(needle),
            "{what}: {needle:?} is not in the message: {}",
            text(out)
        );
    }
    assert!(
        out.stdout.trim_ascii().is_empty(),
        "{what}: something on stdout after a refusal: {}",
        text(out)
    );
    err
}

// --- 1. one byte of a layer -------------------------------------------------------------------

/// A copy of the bundle with one byte of blob `digest`'s data changed.
fn with_damaged_blob(f: &Fixture, name: &str, digest: &str) -> PathBuf {
    let m = f.blob(digest).clone();
    assert!(m.size > 2, "{m:?}");
    f.edited(name, |b| b[m.data + m.size / 2] ^= 0x20)
}

/// The report's image rows and chart rows.
fn rows(report: &Value) -> Vec<&Value> {
    report["images"]
        .as_array()
        .unwrap()
        .iter()
        .chain(report["charts"].as_array().unwrap())
        .collect()
}

fn row_of<'a>(report: &'a Value, source: &str) -> &'a Value {
    rows(report)
        .into_iter()
        .find(|r| r["source"] == source)
        .unwrap_or_else(|| panic!("no row for {source}: {report:#}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_damaged_layer_pushes_no_manifest_and_no_tag() {
    let f = Fixture::new("faults-damaged").await;

    // A damaged manifest is found when the bundle is opened: nothing is asked of the target.
    let manifest = blob_member(&f.content.single.digest);
    let bad = with_damaged_blob(&f, "bad-manifest.tar", &f.content.single.digest);
    f.assert_unreadable(&bad, &[&manifest, "damaged"]);
    f.assert_target_empty().await;

    // A damaged layer is found as it streams: other blobs may arrive, no manifest, no tag.
    let layer = first_layer(&f.content.single);
    let bad = with_damaged_blob(&f, "bad-layer.tar", &layer);
    let mark = f.proxy.mark();
    let report = import(&f.job, &[&bad], &[], 1);
    let seen = f.proxy.seen_since(mark);
    assert_eq!(report["complete"], false, "{report:#}");
    let hex = layer.trim_start_matches("sha256:");
    let rows = rows(&report);
    assert_eq!(rows.len(), 6, "5 images and the chart: {report:#}");
    for row in &rows {
        assert_eq!(row["state"], "failed", "{row:#}");
        let message = row["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(hex),
            "the message does not name the damaged blob {layer}: {row:#}"
        );
    }
    let puts: Vec<_> = seen
        .iter()
        .filter(|s| s.is_manifest() && s.method != "GET" && s.method != "HEAD")
        .collect();
    assert!(
        puts.is_empty(),
        "manifests were pushed from a damaged bundle:\n{}",
        support::copy::trail(&seen)
    );
    let dst = f.dst.seeder();
    assert!(
        !dst.blob_exists(&SINGLE.target_repo(), &layer).await,
        "the damaged layer was committed at the target"
    );
    f.assert_nothing_visible().await;

    // Without --json: exit 1, the output names the same blob.
    let out = f.job.mirror(&["import", s(&bad), "--to", &f.job.to], &[]);
    assert_exit(&out, 1);
    assert!(text(&out).contains(hex), "{}", text(&out));
    f.assert_nothing_visible().await;

    // The good bundle, afterwards, imports whole over what the failed runs left.
    let report = import(&f.job, &[&f.bundle], &[], 0);
    assert_eq!(report["complete"], true, "{report:#}");
    assert_copied(&f.content, &f.dst.seeder(), false).await;
    f.job.assert_chart_pulled();
}

/// The report blames the bundle, not the target: the damaged member, by name, `damaged`.
#[tokio::test(flavor = "multi_thread")]
async fn a_damaged_layer_is_reported_as_damaged_in_the_bundle() {
    let f = Fixture::new("faults-blame").await;
    let layer = first_layer(&f.content.single);
    let member = blob_member(&layer);
    let bad = with_damaged_blob(&f, "bad-layer.tar", &layer);
    let report = import(&f.job, &[&bad], &[], 1);
    for row in rows(&report) {
        let message = row["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(&member) && message.contains("damaged"),
            "the message does not say bundle member {member} is damaged: {row:#}"
        );
        assert!(!message.contains("DIGEST_INVALID"), "{row:#}");
    }
    let single = row_of(&report, &SINGLE.at(&f.src.host));
    assert!(
        single["message"].as_str().unwrap().contains(s(&bad)),
        "the message names the bundle file: {single:#}"
    );
    f.assert_nothing_visible().await;
}

// --- 2. cut short ------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn a_truncated_bundle_is_refused_before_any_request() {
    let f = Fixture::new("faults-cut").await;
    let last = f.members.last().unwrap().clone();
    assert!(
        last.name.starts_with("blobs/sha256/") && last.size > 2,
        "{last:?}"
    );
    let index = f.member("index.json").clone();
    assert_eq!(f.bytes.len(), last.end() + 2 * BLOCK, "two end blocks");

    let quoted = format!("{:?}", last.name);
    let cuts: [(&str, usize, Vec<&str>); 4] = [
        (
            "mid-layer",
            last.data + last.size / 2,
            vec!["truncated", &quoted],
        ),
        (
            "no-end-blocks",
            last.end(),
            vec!["truncated", "end-of-archive", &last.name],
        ),
        ("mid-header", last.header + 100, vec!["truncated"]),
        (
            "mid-index",
            index.data + 10,
            vec!["truncated", "\"index.json\""],
        ),
    ];
    for (name, len, needles) in &cuts {
        let cut = f.write(&format!("{name}.tar"), &f.bytes[..*len]);
        f.assert_unreadable(&cut, needles);
    }
    f.assert_target_empty().await;
}

// --- 3. index.json overwritten ----------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn an_overwritten_index_json_is_refused() {
    let f = Fixture::new("faults-index").await;
    let index = f.member("index.json").clone();
    let original = index.bytes(&f.bytes).to_vec();

    // Garbage of the same length: the tar is whole, index.json is not JSON.
    let garbage: Vec<u8> = b"garbage! "
        .iter()
        .copied()
        .cycle()
        .take(index.size)
        .collect();
    let bad = f.edited("garbage-index.tar", |b| {
        b[index.data..index.data + index.size].copy_from_slice(&garbage)
    });
    f.assert_unreadable(&bad, &["index.json", "not an OCI image index"]);

    // Valid JSON, another schemaVersion.
    let text_index = String::from_utf8(original.clone()).unwrap();
    let needle = "\"schemaVersion\": 2";
    assert!(text_index.contains(needle), "{text_index}");
    let changed = text_index.replacen(needle, "\"schemaVersion\": 3", 1);
    let bad = f.edited("schema-index.tar", |b| {
        b[index.data..index.data + index.size].copy_from_slice(changed.as_bytes())
    });
    f.assert_unreadable(&bad, &["index.json", "schemaVersion 3"]);

    // A valid index naming another tag: it is not the index the bundle manifest recorded.
    let name = format!("{}:{}\"", SINGLE.repo, SINGLE.tag);
    assert!(text_index.contains(&name), "{text_index}");
    let changed = text_index.replace(&name, &format!("{}:9\"", SINGLE.repo));
    assert_eq!(changed.len(), original.len());
    let bad = f.edited("renamed-index.tar", |b| {
        b[index.data..index.data + index.size].copy_from_slice(changed.as_bytes())
    });
    f.assert_unreadable(&bad, &["index.json", "does not match the bundle manifest"]);
    f.assert_target_empty().await;
}

// --- 4. members that climb out, links, devices ------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn unsafe_members_are_refused() {
    let f = Fixture::new("faults-unsafe").await;
    let legit = f.entries(&[]);
    // The hand-written tar of the legit members is a good bundle: what follows is refused for
    // the member added, not for the writer.
    let rewritten = f.write("rewritten.tar", &tar(&legit));
    let good = inspect(&f.job, &[&rewritten], 0);
    assert_eq!(good["complete"], true, "{good:#}");

    let evil = b"#!/bin/sh\necho pwned\n";
    let cases: Vec<(&str, Entry, Vec<&str>)> = vec![
        (
            "dotdot",
            Entry::file("../evil", evil),
            vec!["\"../evil\"", "`..`", "relative paths only"],
        ),
        (
            "inner-dotdot",
            Entry::file("blobs/../../evil", evil),
            vec!["\"blobs/../../evil\"", "relative paths only"],
        ),
        (
            "absolute",
            Entry::file("/tmp/purser-evil", evil),
            vec!["\"/tmp/purser-evil\"", "absolute", "relative paths only"],
        ),
        (
            "symlink",
            Entry::special("evil", b'2', "/etc/passwd"),
            vec!["\"evil\"", "is a link", "/etc/passwd", "regular files only"],
        ),
        (
            "symlink-up",
            Entry::special("blobs/sha256/evil", b'2', "../../../evil"),
            vec!["\"blobs/sha256/evil\"", "is a link", "regular files only"],
        ),
        (
            "hardlink",
            Entry::special("evil", b'1', "index.json"),
            vec!["\"evil\"", "is a link", "regular files only"],
        ),
        (
            "device",
            Entry::special("evil", b'3', ""),
            vec!["\"evil\"", "not a regular file", "regular files only"],
        ),
        (
            "duplicate",
            Entry::file("./index.json", b"{\"schemaVersion\":2,\"manifests\":[]}"),
            vec!["\"index.json\"", "appears twice"],
        ),
    ];
    for (name, entry, needles) in &cases {
        // After every legit member (a reader must look at them all before trusting any), and
        // first.
        let mut last = legit.clone();
        last.push(entry.clone());
        let path = f.write(&format!("{name}-last.tar"), &tar(&last));
        f.assert_unreadable(&path, needles);
        let mut first = vec![entry.clone()];
        first.extend(legit.iter().cloned());
        let path = f.write(&format!("{name}-first.tar"), &tar(&first));
        f.assert_unreadable(&path, needles);
    }
    f.assert_target_empty().await;
    for place in [
        f.job.path("evil"),
        f.job.dir.path().parent().unwrap().join("evil"),
        PathBuf::from("/tmp/purser-evil"),
        std::env::current_dir().unwrap().join("evil"),
    ] {
        assert!(!place.exists(), "{} was created", place.display());
    }
}

// --- 5. inspect a good bundle ------------------------------------------------------------------

fn image_row<'a>(inspection: &'a Value, reference: &str) -> &'a Value {
    inspection["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["reference"] == reference)
        .unwrap_or_else(|| panic!("no image {reference} in {inspection:#}"))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

/// A manifest's bytes and its blobs' sizes (each once).
fn image_size(manifest: &Pushed) -> u64 {
    let blobs: BTreeSet<(String, u64)> = blob_sizes(&manifest.bytes).into_iter().collect();
    manifest.bytes.len() as u64 + blobs.iter().map(|(_, n)| n).sum::<u64>()
}

#[tokio::test(flavor = "multi_thread")]
async fn inspect_shows_what_a_good_bundle_holds() {
    let f = Fixture::new("faults-inspect").await;
    let c = &f.content;
    let src = f.src.host.clone();

    // The file: oci-layout, index.json, the bundle manifest, purser's files, then blobs; every
    // blob member holds what its name says; manifests before the layers.
    let names: Vec<&str> = f.members.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(
        names[..3],
        ["oci-layout", "index.json", "purser/bundle.json"],
        "{names:?}"
    );
    let first_blob = names.iter().position(|n| n.starts_with("blobs/")).unwrap();
    assert!(
        names[3..first_blob]
            .iter()
            .all(|n| n.starts_with("purser/")),
        "{names:?}"
    );
    assert!(names.contains(&"purser/images.lock"), "{names:?}");
    let archive = format!(
        "purser/charts/{}-{}.tgz",
        f.job.chart.name, f.job.chart.version
    );
    assert!(
        f.member(&archive).bytes(&f.bytes) == f.job.chart.bytes,
        "{archive} is not the chart archive"
    );
    let mut blob_bytes = 0u64;
    let mut held = BTreeSet::new();
    for m in &f.members[first_blob..] {
        assert!(m.name.starts_with("blobs/sha256/"), "{names:?}");
        let digest = format!("sha256:{}", &m.name["blobs/sha256/".len()..]);
        assert_eq!(sha256(m.bytes(&f.bytes)), digest, "{}", m.name);
        blob_bytes += m.size as u64;
        held.insert(digest);
    }
    let position = |d: &str| names.iter().position(|n| *n == blob_member(d));
    let mut last_manifest = 0;
    let mut first_layer = usize::MAX;
    for (_, pushed) in c.manifests() {
        last_manifest = last_manifest.max(position(&pushed.digest).expect("manifest held"));
        let v: Value = serde_json::from_slice(&pushed.bytes).unwrap();
        for l in v["layers"].as_array().into_iter().flatten() {
            let d = l["digest"].as_str().unwrap();
            first_layer = first_layer.min(position(d).expect("layer held"));
        }
        for b in blob_digests(&pushed.bytes) {
            assert!(held.contains(&b), "blob {b} is not in the bundle");
        }
    }
    assert!(last_manifest < first_layer, "{names:?}");

    let i = inspect(&f.job, &[&f.bundle], 0);
    assert_eq!(i["complete"], true, "{i:#}");
    assert_eq!(i["purser"], true, "{i:#}");
    assert!(i.get("missing").is_none(), "{i:#}");
    assert_eq!(i["blobs"], held.len(), "{i:#}");
    assert_eq!(i["blobBytes"], blob_bytes, "{i:#}");
    assert_eq!(i["omitted"], 0, "{i:#}");
    assert_eq!(i["parts"].as_array().map(Vec::len), Some(1), "{i:#}");

    let charts = i["charts"].as_array().unwrap();
    assert_eq!(charts.len(), 1, "{i:#}");
    assert_eq!(charts[0]["name"], f.job.chart.name.as_str(), "{i:#}");
    assert_eq!(charts[0]["version"], f.job.chart.version.as_str(), "{i:#}");

    assert_eq!(i["images"].as_array().map(Vec::len), Some(5), "{i:#}");
    for (image, pushed) in c.tagged() {
        let row = image_row(&i, &image.at(&src));
        assert_eq!(row["digest"], pushed.digest.as_str(), "{row:#}");
        assert!(row["size"].as_u64().unwrap() > 0, "{row:#}");
    }
    let multi = image_row(&i, &MULTI.at(&src));
    assert_eq!(
        strings(&multi["platforms"]),
        ["linux/amd64", "linux/arm/v7", "linux/arm64/v8"],
        "{multi:#}"
    );
    assert!(multi["signatures"].as_u64() >= Some(1), "{multi:#}");
    assert!(multi["referrers"].as_u64() >= Some(2), "{multi:#}");
    let types = strings(&multi["referrerTypes"]);
    assert!(
        types.contains(&SBOM_TYPE.to_owned()) && types.contains(&"cosign .sig".to_owned()),
        "{multi:#}"
    );
    let legacy = image_row(&i, &LEGACY.at(&src));
    assert_eq!(
        strings(&legacy["platforms"]),
        ["linux/amd64", "linux/arm64/v8"],
        "{legacy:#}"
    );
    assert_eq!(legacy["signatures"], 0, "{legacy:#}");
    assert_eq!(legacy["referrers"], 0, "{legacy:#}");
    let children: u64 = c.legacy.1.iter().map(image_size).sum();
    assert_eq!(
        legacy["size"],
        c.legacy.0.bytes.len() as u64 + children,
        "{legacy:#}"
    );
    let single = image_row(&i, &SINGLE.at(&src));
    assert!(single.get("platforms").is_none(), "{single:#}");
    assert_eq!(single["signatures"], 1, "{single:#}");
    assert_eq!(single["referrers"], 2, "a .sig and a .att: {single:#}");
    assert_eq!(
        strings(&single["referrerTypes"]),
        ["cosign .att", "cosign .sig"],
        "{single:#}"
    );
    assert_eq!(single["size"], image_size(&c.single), "{single:#}");
    for (image, pushed) in c.shared.images() {
        let row = image_row(&i, &image.at(&src));
        assert_eq!(row["signatures"], 0, "{row:#}");
        assert_eq!(row["referrers"], 0, "{row:#}");
        assert_eq!(row["size"], image_size(pushed), "{row:#}");
    }

    // The table says the same.
    let out = f.job.helm.run(["mirror", "inspect", s(&f.bundle)]);
    assert_exit(&out, 0);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("complete: every blob is in the bundle"),
        "{table}"
    );
    assert!(table.contains("linux/arm/v7"), "{table}");

    // The chart archive, out of the bundle, byte for byte: by NAME and by NAME:VERSION.
    let chart = &f.job.chart;
    for (k, wanted) in [
        chart.name.clone(),
        format!("{}:{}", chart.name, chart.version),
    ]
    .iter()
    .enumerate()
    {
        let into = f.job.path(&format!("extracted-{k}"));
        std::fs::create_dir_all(&into).unwrap();
        let out = f.job.helm.run([
            "mirror",
            "inspect",
            s(&f.bundle),
            "--extract-chart",
            wanted,
            "--into",
            s(&into),
        ]);
        assert_exit(&out, 0);
        let written = into.join(format!("{}-{}.tgz", chart.name, chart.version));
        let bytes = std::fs::read(&written)
            .unwrap_or_else(|e| panic!("{}: {e} ({})", written.display(), text(&out)));
        assert!(
            bytes == chart.bytes,
            "{} differs from the chart",
            written.display()
        );
        let files: Vec<_> = std::fs::read_dir(&into).unwrap().collect();
        assert_eq!(files.len(), 1, "only the archive is written: {files:?}");
    }
    let held_chart = format!("{}:{}", chart.name, chart.version);
    for unknown in ["nosuch", &format!("{}:9.9.9", chart.name)] {
        let into = f.job.path("extracted-unknown");
        std::fs::create_dir_all(&into).unwrap();
        let out = f.job.helm.run([
            "mirror",
            "inspect",
            s(&f.bundle),
            "--extract-chart",
            unknown,
            "--into",
            s(&into),
        ]);
        refused(
            &out,
            "extract",
            &[&format!("no chart {unknown}"), &held_chart],
        );
        assert_eq!(
            std::fs::read_dir(&into).unwrap().count(),
            0,
            "a file was written"
        );
    }
}

// --- 6. not a bundle at all -------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn what_is_not_a_bundle_is_refused() {
    let f = Fixture::new("faults-notbundle").await;
    let random = f.write("random.tar", &random_bytes(8192));
    f.assert_unreadable(&random, &["random.tar", "not a tar archive", "byte 0"]);

    let mut gzip = vec![0x1f, 0x8b, 0x08, 0x00];
    gzip.extend(random_bytes(4096));
    let gz = f.write("bundle.tar.gz", &gzip);
    // Said to be compressed, or at least not a tar.
    let err = f.assert_unreadable(&gz, &["bundle.tar.gz"]);
    assert!(
        err.contains("gzip") || err.contains("not a tar archive"),
        "{err}"
    );

    let index = f.member("index.json").bytes(&f.bytes);
    assert!(index.len() > BLOCK, "index.json fills more than a header");
    let json = f.write("index.json", index);
    f.assert_unreadable(&json, &["not a tar archive"]);

    let empty = f.write("empty.tar", b"");
    f.assert_unreadable(&empty, &["empty.tar", "not a tar archive", "only 0 bytes"]);

    let other = f.write(
        "other.tar",
        &tar(&[Entry::file("README", b"not an image layout\n")]),
    );
    f.assert_unreadable(
        &other,
        &["other.tar", "no index.json", "not an OCI image layout"],
    );

    let absent = f.job.path("absent.tar");
    f.assert_unreadable(&absent, &["absent.tar", "No such file"]);

    let dir = f.job.path("a-directory");
    std::fs::create_dir_all(&dir).unwrap();
    f.assert_unreadable(&dir, &["a-directory"]);
    f.assert_target_empty().await;
}

// --- 7. a layer left out -----------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_layer_is_reported_and_nothing_is_tagged() {
    let f = Fixture::new("faults-missing").await;
    let layer = first_layer(&f.content.single);
    let member = blob_member(&layer);
    let size = f.blob(&layer).size;
    let without = f.write("without.tar", &tar(&f.entries(&[&member])));

    let i = inspect(&f.job, &[&without], 1);
    assert_eq!(i["complete"], false, "{i:#}");
    let missing = i["missing"].as_array().unwrap();
    assert_eq!(missing.len(), 1, "{i:#}");
    assert_eq!(missing[0]["digest"], layer.as_str(), "{i:#}");
    assert_eq!(missing[0]["size"], size, "{i:#}");
    assert_eq!(missing[0]["reason"], "not in the bundle", "{i:#}");
    let out = f.job.helm.run(["mirror", "inspect", s(&without)]);
    assert_exit(&out, 1);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("INCOMPLETE") && table.contains(&layer),
        "{table}"
    );

    let report = import(&f.job, &[&without], &[], 1);
    assert_eq!(report["complete"], false, "{report:#}");
    let single = row_of(&report, &SINGLE.at(&f.src.host));
    assert_eq!(single["state"], "failed", "{single:#}");
    let message = single["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&member) && message.contains("not in the bundle"),
        "{single:#}"
    );
    for row in rows(&report) {
        assert_eq!(row["state"], "failed", "strict: nothing is tagged: {row:#}");
    }
    f.assert_nothing_visible().await;
}
