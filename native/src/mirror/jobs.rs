//! `helm mirror jobs PLAN --image IMAGE [--namespace NS] [--parallelism P]`: the Kubernetes
//! objects that run a plan on a cluster, printed as one `v1 List` (`kubectl apply -f -`
//! takes it):
//!
//! - a ConfigMap holding the plan, when it fits (a ConfigMap holds at most 1 MiB); a bigger
//!   plan is read by the pods from the registry `plan --push` put it in (give that
//!   `REF@sha256:…` as PLAN);
//! - an Indexed Job, one completion per share: each pod runs `purser mirror execute PLAN`,
//!   which takes its share from `JOB_COMPLETION_INDEX`; `backoffLimitPerIndex` retries an
//!   index on its own, `podFailurePolicy` fails the index at once on the permanent exit code
//!   ([`super::execute::PERMANENT`]) and ignores pods the cluster evicted, and
//!   `podReplacementPolicy: Failed` starts a retry only once the failed pod is gone;
//! - a commit Job, created suspended: resume it once the Indexed Job has succeeded
//!   (`kubectl patch job NAME -p '{"spec":{"suspend":false}}'`; `--engine kube` does).
//!
//! Pods run as a non-root user on a read-only root filesystem, without privileges, with
//! resource requests; registry credentials come from a Secret of type
//! `kubernetes.io/dockerconfigjson` mounted as the Docker config (optional: anonymous pulls
//! work without it). A plan made with `--ca-file` has those files from a ConfigMap
//! (`--ca-configmap`), by file name; a plan that signs has its key in the commit pod only,
//! from a Secret (`--signing-secret`: `cosign.key`, and `cosign.password` when it has one). [`objects`] builds them from the plan (no I/O); [`command`] prints.

use std::process::ExitCode;

use clap::Args;
use purser::digest::Digest;
use serde_json::{Value, json};

use super::args::RegistryArgs;
use super::execute::PERMANENT;
use super::plan_file::{self, PlanFile};

/// The most plan bytes a ConfigMap is given (the API server refuses objects over 1 MiB;
/// the rest is room for the object around it).
pub const CONFIG_MAP_LIMIT: usize = 1_000_000;
/// Where the pods find the CA files of the ConfigMap `--ca-configmap`.
const CA_DIR: &str = "/etc/purser/ca";
/// Where the commit pod finds the Secret `--signing-secret`.
const SIGNING_DIR: &str = "/etc/purser/signing";

#[derive(Args)]
pub struct JobsArgs {
    /// The plan: the file `helm mirror plan --out` wrote, or the REF@sha256:… `plan --push`
    /// printed (then the pods read it from there).
    #[arg(value_name = "PLAN")]
    pub plan: String,
    #[command(flatten)]
    pub jobs: JobsOptions,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// How the Jobs are made: `jobs` and `plan --engine kube` take the same flags.
#[derive(Args)]
pub struct JobsOptions {
    /// The container image with purser in it (purser's own: `scripts/package.sh image REF`
    /// pushes it).
    #[arg(long, value_name = "IMAGE")]
    pub image: Option<String>,
    /// The namespace the objects go in (through Helm, its own `--namespace` / `-n` says it:
    /// Helm passes it as HELM_NAMESPACE); default: `default`.
    #[arg(long, value_name = "NS")]
    pub namespace: Option<String>,
    /// Pods uploading at once (default: one per share, at most 10).
    #[arg(long, value_name = "P")]
    pub parallelism: Option<u32>,
    /// Retries of one share before its index fails.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub backoff_limit_per_index: u32,
    /// The Secret (type kubernetes.io/dockerconfigjson) with the registries' credentials.
    #[arg(long, value_name = "NAME", default_value = "purser-registry")]
    pub registry_secret: String,
    /// Seconds a finished Job (and its pods) is kept before Kubernetes deletes it.
    #[arg(long, value_name = "SECONDS", default_value_t = 86_400)]
    pub ttl_seconds_after_finished: u32,
    /// For a plan that signs: the Secret with the signing key under `cosign.key` (and its
    /// password under `cosign.password`, if it has one), mounted in the commit pod only.
    #[arg(long, value_name = "NAME", default_value = "purser-signing")]
    pub signing_secret: String,
    /// For a plan made with --ca-file: the ConfigMap holding those files, each under its file
    /// name (`kubectl create configmap NAME --from-file=FILE…`).
    #[arg(long, value_name = "NAME", default_value = "purser-ca")]
    pub ca_configmap: String,
}

impl JobsOptions {
    /// What the flags mean: the image (required), the namespace from `--namespace`, Helm's
    /// HELM_NAMESPACE or `context_namespace`, else `default`.
    pub fn spec(&self, context_namespace: Option<&str>) -> Result<JobsSpec, String> {
        let image = self.image.clone().ok_or_else(|| {
            "--image IMAGE is needed: the container image the pods run, with purser in it \
             (purser's own image: `scripts/package.sh image REGISTRY/REPO:TAG` pushes it)"
                .to_owned()
        })?;
        let namespace = self
            .namespace
            .clone()
            .or_else(|| {
                std::env::var("HELM_NAMESPACE")
                    .ok()
                    .filter(|n| !n.is_empty())
            })
            .or(context_namespace.map(str::to_owned))
            .unwrap_or_else(|| "default".to_owned());
        Ok(JobsSpec {
            image,
            namespace,
            parallelism: self.parallelism,
            backoff_limit_per_index: self.backoff_limit_per_index,
            registry_secret: self.registry_secret.clone(),
            ttl_seconds_after_finished: self.ttl_seconds_after_finished,
            signing_secret: self.signing_secret.clone(),
            ca_configmap: self.ca_configmap.clone(),
        })
    }
}

/// How the objects are made: what the user asked, with the plan's facts.
pub struct JobsSpec {
    pub image: String,
    pub namespace: String,
    pub parallelism: Option<u32>,
    pub backoff_limit_per_index: u32,
    pub registry_secret: String,
    pub ttl_seconds_after_finished: u32,
    pub signing_secret: String,
    pub ca_configmap: String,
}

/// Where the pods find the plan.
pub enum PlanSource<'a> {
    /// In a ConfigMap made with the Jobs: the plan file's bytes.
    ConfigMap(&'a [u8]),
    /// In a registry, pinned by digest.
    Registry(&'a str),
}

/// The names of the objects for the plan `digest`: `purser-<12 hex>-{plan,execute,commit}`.
pub fn names(digest: &Digest) -> [String; 3] {
    let short = &digest.hex()[..12];
    ["plan", "execute", "commit"].map(|what| format!("purser-{short}-{what}"))
}

/// The ConfigMap (when the plan goes in one), the Indexed Job and the suspended commit Job.
pub fn objects(
    file: &PlanFile,
    digest: &Digest,
    source: &PlanSource<'_>,
    spec: &JobsSpec,
) -> Vec<Value> {
    let [plan_name, execute_name, commit_name] = names(digest);
    let shares = file.shares.len().max(1) as u32;
    let labels = json!({
        "app.kubernetes.io/name": "purser",
        "app.kubernetes.io/component": "mirror",
        "purser.dev/plan": &digest.hex()[..12],
    });
    let plan_arg = match source {
        PlanSource::ConfigMap(_) => "/etc/purser/plan/plan.json".to_owned(),
        PlanSource::Registry(reference) => (*reference).to_owned(),
    };
    // The plan carries how registries are reached, but a plan read from a registry is
    // reached before it is read: the flags say it.
    let mut transport = Vec::new();
    for host in &file.transport.plain_http {
        transport.extend(["--plain-http".to_owned(), host.clone()]);
    }
    for host in &file.transport.insecure_skip_tls_verify {
        transport.extend(["--insecure-skip-tls-verify".to_owned(), host.clone()]);
    }
    // The plan's CA files are paths on the planning machine: the pods have them from the
    // ConfigMap, by file name.
    for path in &file.transport.ca_file {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        transport.extend(["--ca-file".to_owned(), format!("{CA_DIR}/{name}")]);
    }
    // The commit prints its report as JSON: its log is what `--engine kube` reports; it signs
    // with the key from the Secret.
    let command = |verb: &str| -> Vec<String> {
        let mut words: Vec<String> = ["purser", "mirror", verb, &plan_arg]
            .iter()
            .map(|s| (*s).to_owned())
            .chain(transport.iter().cloned())
            .collect();
        if verb == "commit" {
            words.push("--json".to_owned());
            if file.sign.is_some() {
                words.extend(["--sign-key".to_owned(), format!("{SIGNING_DIR}/cosign.key")]);
            }
        }
        words
    };
    let mut volumes = vec![
        json!({"name": "tmp", "emptyDir": {}}),
        json!({"name": "docker-config", "secret": {
            "secretName": spec.registry_secret,
            "optional": true,
            "items": [{"key": ".dockerconfigjson", "path": "config.json"}],
        }}),
    ];
    let mut mounts = vec![
        json!({"name": "tmp", "mountPath": "/tmp"}),
        json!({"name": "docker-config", "mountPath": "/etc/purser/docker", "readOnly": true}),
    ];
    let mut out = Vec::new();
    if let PlanSource::ConfigMap(bytes) = source {
        out.push(json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": plan_name,
                "namespace": spec.namespace,
                "labels": labels,
                "annotations": {"purser.dev/plan-digest": digest.as_str()},
            },
            "immutable": true,
            "data": {"plan.json": String::from_utf8_lossy(bytes)},
        }));
        volumes.push(json!({"name": "plan", "configMap": {"name": plan_name}}));
        mounts.push(json!({"name": "plan", "mountPath": "/etc/purser/plan", "readOnly": true}));
    }
    if !file.transport.ca_file.is_empty() {
        volumes.push(json!({"name": "ca", "configMap": {"name": spec.ca_configmap}}));
        mounts.push(json!({"name": "ca", "mountPath": CA_DIR, "readOnly": true}));
    }
    let pod = |verb: &str, memory: &str| {
        let mut volumes = volumes.clone();
        let mut mounts = mounts.clone();
        let mut env = vec![
            json!({"name": "DOCKER_CONFIG", "value": "/etc/purser/docker"}),
            json!({"name": "HOME", "value": "/tmp"}),
        ];
        if verb == "commit" && file.sign.is_some() {
            volumes.push(json!({"name": "signing", "secret": {
                "secretName": spec.signing_secret,
                "items": [{"key": "cosign.key", "path": "cosign.key"}],
            }}));
            mounts.push(json!({"name": "signing", "mountPath": SIGNING_DIR, "readOnly": true}));
            env.push(
                json!({"name": "COSIGN_PASSWORD", "valueFrom": {"secretKeyRef": {
                    "name": spec.signing_secret, "key": "cosign.password", "optional": true,
                }}}),
            );
        }
        json!({
            "metadata": {"labels": labels},
            "spec": {
                "restartPolicy": "Never",
                "automountServiceAccountToken": false,
                "securityContext": {
                    "runAsNonRoot": true,
                    "runAsUser": 65532,
                    "runAsGroup": 65532,
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "containers": [{
                    "name": verb,
                    "image": spec.image,
                    "command": command(verb),
                    "env": env,
                    "resources": {"requests": {"cpu": "250m", "memory": memory}},
                    "securityContext": {
                        "allowPrivilegeEscalation": false,
                        "readOnlyRootFilesystem": true,
                        "capabilities": {"drop": ["ALL"]},
                    },
                    "volumeMounts": mounts,
                }],
                "volumes": volumes,
            },
        })
    };
    let metadata = |name: &str| {
        json!({
            "name": name,
            "namespace": spec.namespace,
            "labels": labels,
            "annotations": {"purser.dev/plan-digest": digest.as_str()},
        })
    };
    out.push(json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata(&execute_name),
        "spec": {
            "completionMode": "Indexed",
            "completions": shares,
            "parallelism": spec.parallelism.unwrap_or(shares.min(10)).max(1),
            "backoffLimitPerIndex": spec.backoff_limit_per_index,
            "podReplacementPolicy": "Failed",
            "podFailurePolicy": {"rules": [
                {"action": "FailIndex", "onExitCodes": {
                    "containerName": "execute",
                    "operator": "In",
                    "values": [PERMANENT],
                }},
                {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
            ]},
            "ttlSecondsAfterFinished": spec.ttl_seconds_after_finished,
            "template": pod("execute", "256Mi"),
        },
    }));
    out.push(json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata(&commit_name),
        "spec": {
            "suspend": true,
            "completions": 1,
            "backoffLimit": 2,
            // An incomplete commit (exit 1) or a refused plan will not change by retrying.
            "podFailurePolicy": {"rules": [
                {"action": "FailJob", "onExitCodes": {
                    "containerName": "commit",
                    "operator": "In",
                    "values": [1, 2],
                }},
                {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
            ]},
            "ttlSecondsAfterFinished": spec.ttl_seconds_after_finished,
            "template": pod("commit", "128Mi"),
        },
    }));
    out
}

/// The plan's objects for a cluster: a ConfigMap unless the plan came from a registry or is
/// too big for one; refused when two of its CA files share a name (the ConfigMap holds them
/// by name).
pub fn for_plan(
    loaded: &plan_file::Loaded,
    plan: &str,
    spec: &JobsSpec,
) -> Result<Vec<Value>, String> {
    let mut names = std::collections::BTreeSet::new();
    for path in &loaded.file.transport.ca_file {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        if !name.as_ref().is_some_and(|n| names.insert(n.clone())) {
            return Err(format!(
                "{plan}: the CA file {} has the file name of another one: the pods read them \
                 from the ConfigMap {} by name; plan with files of distinct names",
                path.display(),
                spec.ca_configmap
            ));
        }
    }
    let source = if loaded.from_registry {
        PlanSource::Registry(plan)
    } else if loaded.bytes.len() > CONFIG_MAP_LIMIT {
        return Err(format!(
            "{plan}: the plan is {} bytes, more than a ConfigMap holds ({CONFIG_MAP_LIMIT}); \
             push it (`helm mirror plan … --push REGISTRY/REPO:TAG`) and give the \
             REF@sha256:… it prints as PLAN",
            loaded.bytes.len()
        ));
    } else {
        PlanSource::ConfigMap(&loaded.bytes)
    };
    Ok(objects(&loaded.file, &loaded.digest, &source, spec))
}

/// `helm mirror jobs`: the objects as one `v1 List`, JSON on stdout.
pub async fn command(args: JobsArgs) -> Result<ExitCode, String> {
    let loaded = plan_file::load(&args.plan, &args.registry)
        .await
        .map_err(|e| e.message().to_owned())?;
    let spec = args.jobs.spec(None)?;
    let list = json!({
        "apiVersion": "v1",
        "kind": "List",
        "items": for_plan(&loaded, &args.plan, &spec)?,
    });
    println!(
        "{}",
        serde_json::to_string_pretty(&list).expect("the objects serialise")
    );
    Ok(ExitCode::SUCCESS)
}
