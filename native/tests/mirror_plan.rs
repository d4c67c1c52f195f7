//! `helm mirror plan`, `execute` and `commit` end to end: a copy spread over separate
//! processes, as an Indexed Job's pods run it. Real Helm 4 runs the installed `mirror`
//! plugin; the registries are real (distribution 2.8, oci-registry) on loopback, seeded by
//! support/seed.rs, with the counting, fault-injecting proxy of support/proxy.rs where a
//! test needs to see requests or make one fail.
//!
//! The exact forms: `helm mirror plan CHART --to HOST/mirror --shards 3 --out PLAN`,
//! `helm mirror execute PLAN` with `JOB_COMPLETION_INDEX` set, `helm mirror commit PLAN`.

use crate::support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::copy::{
    Content, Job, assert_copied, assert_exit, check_lock_images, report, report_image, stderr, yaml,
};
use support::helm::text;
use support::kube_api::Api;
use support::proxy::uploads;
use support::seed::{Seeder, random_u64};
use support::{Fault, FaultProxy, Flavour, Registry, Rule};

/// `helm mirror plan CHART --to TO --shards K --out PLAN EXTRA…`.
fn plan(job: &Job, shards: usize, out: &Path, extra: &[&str]) -> Output {
    let tgz = job.chart.tgz.display().to_string();
    let shards = shards.to_string();
    let mut words = vec![
        "plan",
        &tgz,
        "--to",
        &job.to,
        "--shards",
        &shards,
        "--out",
        out.to_str().unwrap(),
    ];
    words.extend(extra);
    job.mirror(&words, &[])
}

/// `helm mirror execute PLAN` with `JOB_COMPLETION_INDEX=index`, no --plain-http (the plan
/// carries it), as a pod runs it.
fn execute(job: &Job, plan: &str, index: usize) -> Output {
    execute_with(job, plan, index, &[])
}

/// [`execute`] with `extra` flags.
fn execute_with(job: &Job, plan: &str, index: usize, extra: &[&str]) -> Output {
    let mut args = vec!["mirror", "execute", plan, "--json"];
    args.extend(extra);
    job.helm
        .command(args)
        .env("JOB_COMPLETION_INDEX", index.to_string())
        .output()
        .expect("run helm mirror execute")
}

/// `helm mirror commit PLAN EXTRA…`.
fn commit(job: &Job, plan: &str, extra: &[&str]) -> Output {
    let mut args = vec!["mirror", "commit", plan, "--json"];
    args.extend(extra);
    job.helm.run(args)
}

/// The JSON an execute printed, after checking its exit code.
fn executed(out: &Output, code: i32) -> Value {
    assert_eq!(out.status.code(), Some(code), "execute: {}", text(out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(out)))
}

/// Every tag at the target, `REPO:TAG`.
async fn tags_at(dst: &Seeder) -> Vec<String> {
    let mut out = Vec::new();
    for repo in dst.catalog().await {
        for tag in dst.tags(&repo).await {
            out.push(format!("{repo}:{tag}"));
        }
    }
    out
}

/// Where two JSON values first differ, as a path and both values.
fn first_difference(a: &Value, b: &Value, at: &str) -> String {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, v) in x {
                if y.get(k) != Some(v) {
                    return first_difference(
                        v,
                        y.get(k).unwrap_or(&Value::Null),
                        &format!("{at}.{k}"),
                    );
                }
            }
            format!(
                "{at}: keys {:?} vs {:?}",
                x.keys().collect::<Vec<_>>(),
                y.keys().collect::<Vec<_>>()
            )
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (v, w)) in x.iter().zip(y).enumerate() {
                if v != w {
                    return first_difference(v, w, &format!("{at}[{i}]"));
                }
            }
            at.to_owned()
        }
        _ => format!("{at}: {a} vs {b}"),
    }
}

/// The plan file, parsed.
/// The digest `image`'s tag names at the target, `None` while it is not published.
async fn tag_at(dst: &Seeder, image: &support::copy::Image) -> Option<String> {
    dst.head_manifest(&image.target_repo(), image.tag).await
}

/// The same for the job's chart.
async fn chart_at(dst: &Seeder, job: &Job) -> Option<String> {
    dst.head_manifest(&job.chart.target_repo(), &job.chart.version)
        .await
}

fn plan_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

// --- three shares as three processes, then the commit -----------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn three_shares_in_three_processes_then_commit() {
    let src = Registry::start(Flavour::Distribution);
    let dst = Registry::start(Flavour::Distribution);
    let proxy = FaultProxy::start(src.addr);
    let content = Content::seed(&src.seeder()).await;
    let job = Job::new("sharded", &content.images(), &proxy.host, &dst.host);
    let file = job.path("plan.json");

    let out = plan(&job, 3, &file, &[]);
    assert_exit(&out, 0);
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(printed.contains("share 2:"), "{printed}");
    // Planning read the manifests; it moved no blob.
    let planning = proxy.seen();
    assert!(
        planning.iter().all(|s| !s.path_only().contains("/blobs/")),
        "plan fetched a blob"
    );
    let manifest_gets = planning
        .iter()
        .filter(|s| s.method == "GET" && s.is_manifest())
        .count();

    // The plan: three shares, every blob in exactly one, and the same bytes when planned
    // again.
    let parsed = plan_json(&file);
    let shares = parsed["shares"].as_array().unwrap();
    assert_eq!(shares.len(), 3, "{:#}", parsed["shares"]);
    let blobs: BTreeSet<&str> = parsed["plan"]["blobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["digest"].as_str().unwrap())
        .collect();
    let mut owners: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, share) in shares.iter().enumerate() {
        assert!(!share.as_array().unwrap().is_empty(), "share {i} is empty");
        for d in share.as_array().unwrap() {
            assert!(owners.insert(d.as_str().unwrap(), i).is_none(), "{d} twice");
        }
    }
    assert_eq!(owners.keys().copied().collect::<BTreeSet<_>>(), blobs);
    let again = job.path("plan-again.json");
    assert_exit(&plan(&job, 3, &again, &[]), 0);
    let (a, b) = (plan_json(&file), plan_json(&again));
    assert!(
        a == b,
        "the same chart and sources planned twice gave two plans: {}",
        first_difference(&a, &b, "")
    );
    assert_eq!(
        std::fs::read(&file).unwrap(),
        std::fs::read(&again).unwrap()
    );

    // Each share in its own process, none of them making anything visible.
    let plan_path = file.to_str().unwrap();
    let mark = proxy.mark();
    for index in 0..3 {
        let done = executed(&execute(&job, plan_path, index), 0);
        assert_eq!(done["shard"], index, "{done:#}");
        assert_eq!(
            done["failures"].as_array().map(Vec::len),
            Some(0),
            "{done:#}"
        );
        assert_eq!(
            tags_at(&dst.seeder()).await,
            Vec::<String>::new(),
            "share {index} made something visible"
        );
    }
    let executing = proxy.seen_since(mark);
    assert!(
        executing.iter().all(|s| !s.is_manifest()),
        "an executor asked the source for a manifest"
    );
    // A share run twice is harmless: nothing sent again.
    let rerun = executed(&execute(&job, plan_path, 1), 0);
    assert_eq!(rerun["uploaded"], 0, "{rerun:#}");

    // The commit: everything whole, byte for byte, the lock as copy writes it.
    let lock = job.path("mirror.lock");
    let out = commit(&job, plan_path, &["-o", lock.to_str().unwrap()]);
    assert_exit(&out, 0);
    let committed = report(&out);
    assert_eq!(committed["complete"], true, "{committed:#}");
    for (image, _) in content.tagged() {
        assert_eq!(
            report_image(&committed, &image.at(&proxy.host))["state"],
            "copied",
            "{committed:#}"
        );
    }
    assert_eq!(committed["charts"][0]["state"], "copied", "{committed:#}");
    assert_copied(&content, &dst.seeder(), false).await;
    job.assert_chart_pulled();
    check_lock_images(&yaml(&lock), &content.tagged(), &proxy.host);
    // Committing again changes nothing.
    let out = commit(&job, plan_path, &[]);
    assert_exit(&out, 0);
    eprintln!(
        "plan-bench: images={} manifest_gets={manifest_gets} plan_bytes={}",
        content.tagged().len(),
        std::fs::metadata(&file).unwrap().len()
    );
}

// --- a share that did not run; a plan in a registry ------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_share_makes_commit_name_what_is_incomplete() {
    let src = Registry::start(Flavour::Distribution);
    let dst = Registry::start(Flavour::Oci);
    let content = Content::seed(&src.seeder()).await;
    let job = Job::new("partial", &content.images(), &src.host, &dst.host);
    let file = job.path("plan.json");
    // Pushed to the target registry as an OCI artifact too, and read from there.
    let out = plan(
        &job,
        3,
        &file,
        &["--push", &format!("{}/plans/partial:1", dst.host)],
    );
    assert_exit(&out, 0);
    let printed = String::from_utf8_lossy(&out.stdout).into_owned();
    let pushed = printed
        .lines()
        .find_map(|l| l.strip_prefix("plan pushed: "))
        .unwrap_or_else(|| panic!("no pushed plan in {printed}"))
        .to_owned();
    assert!(pushed.contains("@sha256:"), "{pushed}");
    let parsed = plan_json(&file);

    // Shares 0 and 1 only, from the registry's copy of the plan (reached over plain HTTP:
    // the plan's own transport is known only once it is read).
    let reach = ["--plain-http", dst.host.as_str()];
    for index in [0, 1] {
        executed(&execute_with(&job, &pushed, index, &reach), 0);
    }
    let out = commit(&job, &pushed, &reach);
    assert_exit(&out, 1);
    let partial = report(&out);
    assert_eq!(partial["complete"], false, "{partial:#}");
    let share2: BTreeSet<&str> = parsed["shares"][2]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    let (mut whole, mut broken) = (0, 0);
    for (image, pushed_image) in content.tagged() {
        let row = report_image(&partial, &image.at(&src.host));
        let needs_share2 = support::seed::blob_digests(&pushed_image.bytes)
            .iter()
            .any(|b| share2.contains(b.as_str()))
            || image_children_need(&parsed, &pushed_image.digest, &share2);
        if needs_share2 {
            broken += 1;
            assert_eq!(row["state"], "failed", "{row:#}");
            let message = row["message"].as_str().unwrap_or_default();
            assert!(
                message.contains("share 2") && message.contains("--shard 2"),
                "the row does not say which share to run: {message}"
            );
            assert_eq!(
                tag_at(&dst.seeder(), &image).await,
                None,
                "{} is tagged without its blobs",
                image.repo
            );
        } else {
            whole += 1;
            assert_eq!(row["state"], "copied", "{row:#}");
        }
    }
    assert!(whole > 0 && broken > 0, "whole {whole}, broken {broken}");
    // The chart waits for all its images (or for its own blob, when share 2 holds it).
    let chart = &partial["charts"][0];
    assert_eq!(chart["state"], "failed", "{chart:#}");
    assert!(
        chart["message"]
            .as_str()
            .is_some_and(|m| m.contains("only once all its images") || m.contains("--shard 2")),
        "{chart:#}"
    );
    assert_eq!(
        chart_at(&dst.seeder(), &job).await,
        None,
        "the chart is at the target before its images"
    );
    assert!(
        stderr(&out).is_empty() || !stderr(&out).contains("panicked"),
        "{}",
        stderr(&out)
    );

    // The missing share, then the commit again: complete.
    executed(&execute_with(&job, &pushed, 2, &reach), 0);
    let out = commit(&job, &pushed, &reach);
    assert_exit(&out, 0);
    assert_eq!(report(&out)["complete"], true);
    assert_copied(&content, &dst.seeder(), true).await;
    job.assert_chart_pulled();
}

/// Whether a manifest under `digest` in the plan (an index's children) needs a blob of
/// `share`.
fn image_children_need(plan: &Value, digest: &str, share: &BTreeSet<&str>) -> bool {
    let manifests = plan["plan"]["manifests"].as_array().unwrap();
    let mut pending = vec![digest.to_owned()];
    let mut seen = BTreeSet::new();
    while let Some(d) = pending.pop() {
        if !seen.insert(d.clone()) {
            continue;
        }
        for m in manifests.iter().filter(|m| m["digest"] == d.as_str()) {
            let blobs = m["blobs"].as_array().cloned().unwrap_or_default();
            if blobs.iter().any(|b| share.contains(b.as_str().unwrap())) {
                return true;
            }
            for c in m["children"].as_array().cloned().unwrap_or_default() {
                pending.push(c.as_str().unwrap().to_owned());
            }
        }
    }
    false
}

// --- killed mid-upload; transient and permanent failures --------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn a_share_killed_mid_upload_completes_when_run_again() {
    let src = Registry::start(Flavour::Distribution);
    let dst = Registry::start(Flavour::Distribution);
    let proxy = FaultProxy::start(dst.addr);
    let content = Content::seed(&src.seeder()).await;
    let job = Job::new("killed", &content.images(), &src.host, &proxy.host);
    let file = job.path("plan.json");
    assert_exit(&plan(&job, 1, &file, &[]), 0);
    let plan_path = file.to_str().unwrap();

    // Slowed down, killed -9 some time after its first blob landed, uploads in flight.
    proxy.add(Rule::all(Fault::Slow(Duration::from_millis(120))));
    let mut child = job
        .helm
        .command([
            "mirror",
            "execute",
            plan_path,
            "--shard",
            "0",
            "--concurrency",
            "2",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start helm mirror execute");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !proxy.uploads().iter().any(|u| u.committed) {
        assert!(child.try_wait().unwrap().is_none(), "execute ended first");
        assert!(Instant::now() < deadline, "no blob landed within 60 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(random_u64() % 800)).await;
    assert!(
        child.try_wait().unwrap().is_none(),
        "the share finished before the kill: slow the proxy down"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(tags_at(&dst.seeder()).await, Vec::<String>::new());
    let landed: BTreeSet<(String, String)> = uploads(&proxy.seen())
        .into_iter()
        .filter(|u| u.committed)
        .filter_map(|u| Some((u.repository, u.digest?)))
        .collect();

    // Run again: what landed is found there, the rest is sent, nothing twice.
    proxy.clear();
    let mark = proxy.mark();
    let done = executed(&execute(&job, plan_path, 0), 0);
    assert!(done["present"].as_u64().unwrap() >= 1, "{done:#}");
    let resent: Vec<_> = uploads(&proxy.seen_since(mark))
        .into_iter()
        .filter(|u| {
            u.digest
                .as_ref()
                .is_some_and(|d| landed.contains(&(u.repository.clone(), d.clone())))
        })
        .collect();
    assert!(resent.is_empty(), "sent again after the kill: {resent:?}");
    let out = commit(&job, plan_path, &[]);
    assert_exit(&out, 0);
    assert_eq!(report(&out)["complete"], true);
    assert_copied(&content, &dst.seeder(), false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn execute_exit_codes_tell_transient_from_permanent() {
    let src = Registry::start(Flavour::Distribution);
    let dst = Registry::start(Flavour::Distribution);
    let proxy = FaultProxy::start(src.addr);
    support::copy::seed_single(&src.seeder()).await;
    let job = Job::new("codes", &[support::copy::SINGLE], &proxy.host, &dst.host);
    let file = job.path("plan.json");
    assert_exit(&plan(&job, 1, &file, &["--no-referrers"]), 0);
    let plan_path = file.to_str().unwrap();
    let retry = ["--retries", "1"];

    // The source answers 503 to every blob request (a registry overloaded: the proxy makes
    // it so, a real registry cannot be asked to): retry the index.
    proxy.add(Rule::blobs(Fault::Status(503), usize::MAX));
    let out = execute_with(&job, plan_path, 0, &retry);
    let done = executed(&out, 75);
    assert_eq!(done["failures"][0]["transient"], true, "{done:#}");

    // The blob is gone at the source (404): fail the index.
    proxy.clear();
    proxy.add(Rule::blobs(Fault::Status(404), usize::MAX));
    let out = execute_with(&job, plan_path, 0, &retry);
    let done = executed(&out, 3);
    assert_eq!(done["failures"][0]["transient"], false, "{done:#}");

    // No such share, no index, an altered plan: permanent, and said.
    let out = job
        .helm
        .command(["mirror", "execute", plan_path, "--shard", "7"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(stderr(&out).contains("share 7"), "{}", stderr(&out));
    let out = job
        .helm
        .command(["mirror", "execute", plan_path])
        .env_remove("JOB_COMPLETION_INDEX")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        stderr(&out).contains("JOB_COMPLETION_INDEX"),
        "{}",
        stderr(&out)
    );
    let mut altered = plan_json(&file);
    let first = altered["plan"]["manifests"][0]["bytes"].as_str().unwrap();
    let changed = format!("{}A", &first[..first.len() - 4]) + "===";
    altered["plan"]["manifests"][0]["bytes"] = Value::String(changed);
    let bad = job.path("altered.json");
    std::fs::write(&bad, serde_json::to_vec(&altered).unwrap()).unwrap();
    let out = execute(&job, bad.to_str().unwrap(), 0);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(stderr(&out).contains("altered.json"), "{}", stderr(&out));

    // And with the source healthy again, the share and the commit finish.
    proxy.clear();
    executed(&execute(&job, plan_path, 0), 0);
    assert_exit(&commit(&job, plan_path, &[]), 0);
}

// --- the Kubernetes objects that run a plan ---------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn jobs_objects_pass_server_side_apply_dry_run() {
    let Some(kube) = support::kube::Kube::start() else {
        return;
    };
    let src = Registry::start(Flavour::Distribution);
    let dst = Registry::start(Flavour::Distribution);
    let content = Content::seed(&src.seeder()).await;
    let job = Job::new("kube", &content.images(), &src.host, &dst.host);
    let file = job.path("plan.json");
    assert_exit(&plan(&job, 3, &file, &[]), 0);
    let out = job.helm.run([
        "mirror",
        "jobs",
        file.to_str().unwrap(),
        "--image",
        "registry.example/purser:0.1.0",
        "--parallelism",
        "2",
        "--namespace",
        "mirror",
    ]);
    assert_exit(&out, 0);
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    let items = list["items"].as_array().unwrap();
    let kinds: Vec<&str> = items.iter().map(|i| i["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["ConfigMap", "Job", "Job"], "{list:#}");
    assert!(
        items.iter().all(|i| i["metadata"]["namespace"] == "mirror"),
        "Helm's --namespace is not where the objects go: {list:#}"
    );
    // The ConfigMap holds the plan byte for byte.
    assert_eq!(
        items[0]["data"]["plan.json"].as_str().unwrap().as_bytes(),
        std::fs::read(&file).unwrap()
    );
    let indexed = &items[1]["spec"];
    assert_eq!(indexed["completionMode"], "Indexed");
    assert_eq!(indexed["completions"], 3);
    assert_eq!(indexed["parallelism"], 2);
    assert_eq!(indexed["podReplacementPolicy"], "Failed");
    assert_eq!(
        indexed["podFailurePolicy"]["rules"][0]["onExitCodes"]["values"][0],
        3
    );
    let pod = &indexed["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Never");
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"],
        true
    );
    assert_eq!(items[2]["spec"]["suspend"], true, "the commit waits");

    // A plan that signs and trusts a CA file: the commit pod alone has the key, from the
    // Secret; both have the CA file from the ConfigMap, by name.
    let keys = job.path("keys");
    std::fs::create_dir_all(&keys).unwrap();
    let (key, _) = support::cosign::Cosign::v3().generate_key_pair(&keys, "signer", "test");
    let ca = job.path("corp-ca.pem");
    std::fs::copy("/etc/ssl/certs/ca-certificates.crt", &ca).unwrap();
    let signing = job.path("signing.json");
    let flags = [
        "--sign-key",
        key.to_str().unwrap(),
        "--ca-file",
        ca.to_str().unwrap(),
    ];
    let tgz = job.chart.tgz.display().to_string();
    let mut words = vec!["plan", &tgz, "--to", &job.to, "--shards", "3"];
    words.extend(["--out", signing.to_str().unwrap()]);
    let planned = job
        .helm
        .command(support::copy::mirror_args(&words, &job.plain(), &flags))
        .env("COSIGN_PASSWORD", "test")
        .output()
        .unwrap();
    assert_exit(&planned, 0);
    let out = job.helm.run([
        "mirror",
        "jobs",
        signing.to_str().unwrap(),
        "--image",
        "registry.example/purser:0.1.0",
        "--namespace",
        "mirror",
    ]);
    assert_exit(&out, 0);
    let signed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let signed = signed["items"].as_array().unwrap();
    for (at, verb) in [(1, "execute"), (2, "commit")] {
        let pod = &signed[at]["spec"]["template"]["spec"];
        let words: Vec<&str> = pod["containers"][0]["command"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w.as_str().unwrap())
            .collect();
        let text = words.join(" ");
        assert!(
            text.contains("--ca-file /etc/purser/ca/corp-ca.pem"),
            "{verb}: {text}"
        );
        assert_eq!(
            text.contains("--sign-key /etc/purser/signing/cosign.key"),
            verb == "commit",
            "{verb}: {text}"
        );
        let volumes = pod["volumes"].to_string();
        assert!(volumes.contains("\"purser-ca\""), "{verb}: {volumes}");
        assert_eq!(
            volumes.contains("\"purser-signing\""),
            verb == "commit",
            "{verb}: {volumes}"
        );
    }

    // Every object as the real API server validates it: server-side apply, dryRun=All.
    let api = Api::of(&kube);
    api.create_namespace(&kube, "mirror").await;
    for item in items.iter().chain(signed) {
        let name = item["metadata"]["name"].as_str().unwrap();
        let path = match item["kind"].as_str().unwrap() {
            "ConfigMap" => format!("/api/v1/namespaces/mirror/configmaps/{name}"),
            _ => format!("/apis/batch/v1/namespaces/mirror/jobs/{name}"),
        };
        let applied = api
            .call(
                reqwest::Method::PATCH,
                &format!("{path}?dryRun=All&fieldManager=purser-test&fieldValidation=Strict"),
                Some(("application/apply-patch+yaml", item.clone())),
            )
            .await;
        assert!(applied.is_ok(), "{} {name}: {applied:?}", item["kind"]);
    }

    // A plan from a registry is read there by the pods: no ConfigMap.
    let out = plan(
        &job,
        3,
        &job.path("pushed.json"),
        &["--push", &format!("{}/plans/kube:1", dst.host)],
    );
    let printed = String::from_utf8_lossy(&out.stdout).into_owned();
    let pushed = printed
        .lines()
        .find_map(|l| l.strip_prefix("plan pushed: "))
        .unwrap()
        .to_owned();
    let out = job.helm.run([
        "mirror",
        "jobs",
        &pushed,
        "--image",
        "registry.example/purser:0.1.0",
        "--plain-http",
        &dst.host,
    ]);
    assert_exit(&out, 0);
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    let kinds: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["Job", "Job"], "{list:#}");
    let command = &list["items"][0]["spec"]["template"]["spec"]["containers"][0]["command"];
    assert_eq!(command[3], pushed.as_str(), "{command:#}");
}

// --- --engine kube: the real Job controller, a stand-in kubelet ---------------------------------

/// `helm -n NS mirror plan CHART --to TO --shards 3 --engine kube --image … --json` against
/// the cluster `kube`.
fn engine_command(
    job: &Job,
    kube: &support::kube::Kube,
    namespace: &str,
    extra: &[&str],
) -> std::process::Command {
    let tgz = job.chart.tgz.display().to_string();
    let words = [
        "plan",
        &tgz,
        "--to",
        &job.to,
        "--shards",
        "3",
        "--engine",
        "kube",
        "--image",
        "registry.example/purser:test",
        "--json",
    ];
    let mut args = vec!["-n".to_owned(), namespace.to_owned()];
    args.extend(support::copy::mirror_args(&words, &job.plain(), extra));
    let mut command = job.helm.command(args);
    // A plan that signs opens its key at plan time (cosign's test keys have this password).
    command
        .env("KUBECONFIG", kube.kubeconfig())
        .env("COSIGN_PASSWORD", "test");
    command
}

fn engine_run(job: &Job, kube: &support::kube::Kube, namespace: &str, extra: &[&str]) -> Output {
    engine_command(job, kube, namespace, extra)
        .output()
        .expect("run helm mirror plan --engine kube")
}

/// Runs `helm mirror plan --engine kube` in a process group of its own, sends the group
/// SIGINT (a Ctrl-C at a terminal) once the objects are applied, and returns what it printed.
fn engine_interrupted(job: &Job, kube: &support::kube::Kube, namespace: &str) -> Output {
    use std::io::BufRead;
    use std::os::unix::process::CommandExt;
    let mut child = engine_command(job, kube, namespace, &[])
        .process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run helm mirror plan --engine kube");
    let (applied, wait) = std::sync::mpsc::channel();
    let lines = std::io::BufReader::new(child.stderr.take().unwrap());
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        for line in lines.lines().map_while(Result::ok) {
            if line.starts_with("applied to ") {
                let _ = applied.send(());
            }
            text.push_str(&line);
            text.push('\n');
        }
        text
    });
    let seen = wait.recv_timeout(Duration::from_secs(120));
    // Once the shares are under way: the pods are running, their blobs held by the proxy.
    std::thread::sleep(Duration::from_secs(3));
    let group = format!("-{}", child.id());
    let sent = std::process::Command::new("kill")
        .args(["-s", "INT", "--", &group])
        .status()
        .unwrap();
    assert!(sent.success(), "kill -s INT -- {group}");
    let mut out = child.wait_with_output().unwrap();
    out.stderr = reader.join().unwrap().into_bytes();
    assert!(
        seen.is_ok(),
        "nothing applied within 120 s: {}",
        stderr(&out)
    );
    out
}

/// A namespace, and its `default` ServiceAccount made by the controller (pods need it).
async fn namespace(kube: &support::kube::Kube, name: &str) -> Api {
    let api = Api::of(kube);
    api.create_namespace(kube, name).await;
    let account = format!("/api/v1/namespaces/{name}/serviceaccounts/default");
    api.wait_ok(&account, Duration::from_secs(60), || {
        kube.log_tail("kube-controller-manager.log")
    })
    .await;
    api
}

/// The blob of share `share` the fewest images need (so some images are whole without it).
fn rarest_blob<'a>(content: &'a Content, parsed: &'a Value, share: usize) -> (String, usize) {
    parsed["shares"][share]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let d = d.as_str().unwrap();
            let one = BTreeSet::from([d]);
            let needing = content
                .tagged()
                .iter()
                .filter(|(_, p)| {
                    support::seed::blob_digests(&p.bytes)
                        .iter()
                        .any(|b| b.as_str() == d)
                        || image_children_need(parsed, &p.digest, &one)
                })
                .count();
            (d.to_owned(), needing)
        })
        .filter(|(_, n)| *n > 0)
        .min_by_key(|(_, n)| *n)
        .expect("share has a blob an image needs")
}

#[tokio::test(flavor = "multi_thread")]
async fn engine_kube_runs_the_plan_as_indexed_jobs() {
    let Some(kube) = support::kube::Kube::start_with_controllers() else {
        return;
    };
    let _kubelet = support::kubelet::Kubelet::start(
        &kube,
        BTreeMap::from([("purser".to_owned(), support::helm::purser_bin())]),
    )
    .await;
    let src = Registry::start(Flavour::Distribution);
    let proxy = FaultProxy::start(src.addr);
    let content = Content::seed(&src.seeder()).await;

    // Every share succeeds: the mirror is complete, the chart pulls from it.
    // The plan signs: the commit pod has the key and its password from the Secret.
    let api = namespace(&kube, "whole").await;
    let dst = Registry::start(Flavour::Distribution);
    let job = Job::new("engine-whole", &content.images(), &proxy.host, &dst.host);
    let keys = job.path("keys");
    std::fs::create_dir_all(&keys).unwrap();
    let (key, public) = support::cosign::Cosign::v3().generate_key_pair(&keys, "signer", "test");
    let secret = |bytes: &[u8]| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(bytes)
    };
    api.post(
        "/api/v1/namespaces/whole/secrets",
        serde_json::json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "purser-signing"},
            "data": {"cosign.key": secret(&std::fs::read(&key).unwrap()),
                     "cosign.password": secret(b"test")}}),
    )
    .await
    .unwrap();
    let lock = job.path("mirror.lock");
    let out = engine_run(
        &job,
        &kube,
        "whole",
        &[
            "-o",
            lock.to_str().unwrap(),
            "--sign-key",
            key.to_str().unwrap(),
        ],
    );
    assert_exit(&out, 0);
    let done = report(&out);
    assert_eq!(done["complete"], true, "{done:#}");
    for share in 0..3 {
        assert!(
            stderr(&out).contains(&format!("share {share}: done")),
            "{}",
            stderr(&out)
        );
    }
    assert!(stderr(&out).contains("commit: done"), "{}", stderr(&out));
    assert_copied(&content, &dst.seeder(), false).await;
    check_lock_images(&yaml(&lock), &content.tagged(), &proxy.host);
    job.assert_chart_pulled();
    let (image, _) = &content.tagged()[0];
    support::cosign::Cosign::v3()
        .verify(
            &format!("{}/{}:{}", dst.host, image.target_repo(), image.tag),
            &public,
        )
        .ok();

    // A transient failure (the source answers 503 to one blob until the first pod gives
    // up): the Job controller retries the index, the mirror is complete.
    namespace(&kube, "transient").await;
    let dst = Registry::start(Flavour::Distribution);
    let job = Job::new(
        "engine-transient",
        &content.images(),
        &proxy.host,
        &dst.host,
    );
    let file = job.path("plan.json");
    assert_exit(&plan(&job, 3, &file, &[]), 0);
    let (blob, _) = rarest_blob(&content, &plan_json(&file), 1);
    // Every attempt of the first pod: the registry client retries each request (5 times by
    // default) and the executor each blob (as often): 25 answers.
    proxy.add(Rule::path(&blob, Fault::Status(503), 25));
    let out = engine_run(&job, &kube, "transient", &[]);
    assert_exit(&out, 0);
    assert!(
        stderr(&out).contains("share 1: attempt 1 failed (exit 75), retried"),
        "{} ({} requests for {blob})",
        stderr(&out),
        proxy
            .seen()
            .iter()
            .filter(|r| r.path_only().contains(&blob))
            .count()
    );
    assert_eq!(report(&out)["complete"], true);
    assert_copied(&content, &dst.seeder(), false).await;
    proxy.clear();

    // A permanent failure (the blob is gone at the source): the index fails at once, the
    // commit publishes every whole image and names the rest; the chart is not published.
    namespace(&kube, "permanent").await;
    let dst = Registry::start(Flavour::Distribution);
    let job = Job::new(
        "engine-permanent",
        &content.images(),
        &proxy.host,
        &dst.host,
    );
    let file = job.path("plan.json");
    assert_exit(&plan(&job, 3, &file, &[]), 0);
    let parsed = plan_json(&file);
    let (blob, needing) = rarest_blob(&content, &parsed, 2);
    proxy.add(Rule::path(&blob, Fault::Status(404), usize::MAX));
    let out = engine_run(&job, &kube, "permanent", &[]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("share 2: failed for good after 1 attempts (exit 3)"),
        "{}",
        stderr(&out)
    );
    let partial = report(&out);
    assert_eq!(partial["complete"], false, "{partial:#}");
    let one = BTreeSet::from([blob.as_str()]);
    let mut broken = 0;
    for (image, pushed) in content.tagged() {
        let row = report_image(&partial, &image.at(&proxy.host));
        let needs = support::seed::blob_digests(&pushed.bytes)
            .iter()
            .any(|b| b.as_str() == blob)
            || image_children_need(&parsed, &pushed.digest, &one);
        if needs {
            broken += 1;
            assert_eq!(row["state"], "failed", "{row:#}");
            assert!(
                row["message"].as_str().unwrap_or("").contains("share 2"),
                "{row:#}"
            );
            assert_eq!(tag_at(&dst.seeder(), &image).await, None);
        } else {
            assert_eq!(row["state"], "copied", "{row:#}");
            assert_eq!(
                tag_at(&dst.seeder(), &image).await.as_deref(),
                Some(pushed.digest.as_str()),
                "{} is whole but not published",
                image.repo
            );
        }
    }
    assert_eq!(broken, needing);
    assert!(broken < content.tagged().len(), "no image was whole");
    assert_eq!(
        chart_at(&dst.seeder(), &job).await,
        None,
        "the chart is at the target before its images"
    );

    // Ctrl-C while the shares run (every blob held 30 s by the proxy): the Jobs and their
    // pods are deleted, nothing is published.
    let api = namespace(&kube, "interrupted").await;
    let dst = Registry::start(Flavour::Distribution);
    let job = Job::new(
        "engine-interrupted",
        &content.images(),
        &proxy.host,
        &dst.host,
    );
    proxy.add(Rule::blobs(
        Fault::Slow(Duration::from_secs(30)),
        usize::MAX,
    ));
    let out = engine_interrupted(&job, &kube, "interrupted");
    // Helm dies of the SIGINT at once; purser, in the same group, deletes the Jobs, says so
    // on the stderr Helm handed it (read to its end here) and exits 1.
    use std::os::unix::process::ExitStatusExt;
    assert!(
        out.status.code() == Some(1) || out.status.signal() == Some(2),
        "{:?}: {}",
        out.status,
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("interrupted before the commit"),
        "{}",
        stderr(&out)
    );
    let jobs = api
        .get("/apis/batch/v1/namespaces/interrupted/jobs")
        .await
        .unwrap();
    let left: Vec<&Value> = jobs["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|j| j["metadata"]["deletionTimestamp"].is_null())
        .collect();
    assert!(left.is_empty(), "Jobs left after Ctrl-C: {left:#?}");
    for (image, _) in content.tagged() {
        assert_eq!(
            tag_at(&dst.seeder(), &image).await,
            None,
            "{} published after Ctrl-C",
            image.repo
        );
    }
    assert_eq!(chart_at(&dst.seeder(), &job).await, None);
    proxy.clear();
}
