//! `helm mirror plan … --engine kube`: a plan run by the current kube context's cluster. The
//! objects are those `helm mirror jobs` prints ([`super::jobs::for_plan`]); [`run`] applies
//! them (server-side apply), follows the Indexed Job with a line per share as it changes
//! (running, retrying after a transient failure, done, failed for good), then resumes the
//! commit Job — also when shares failed: the commit publishes every image that is whole and
//! names the rest; the lines go to stderr, with --json too — and returns the commit's report,
//! read from its pod's log (the commit prints it as JSON), so the run reports as `copy` does.
//!
//! Nothing is half-visible at any point: executors publish nothing, the commit Job is
//! created suspended and only resumed here. Ctrl-C (or SIGTERM) before the commit deletes the
//! Jobs (and their pods); after it, the commit goes on in the cluster and the message says where to
//! read it. Running the same plan again finds its Jobs by name (`purser-<digest>-…`) and
//! follows them instead of starting over.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::signal::unix::{Signal, SignalKind, signal};

use super::copy_report::CopyReport;
use super::jobs::{self, JobsOptions};
use super::plan_file::Loaded;
use crate::kube::{Client, Config, KubeError, object_path};

/// How often the Jobs are looked at.
const POLL: Duration = Duration::from_secs(1);

/// The indexes of a Job's `completedIndexes` / `failedIndexes` (`"0,2-4"`).
pub fn indexes(text: &str) -> BTreeSet<usize> {
    let mut out = BTreeSet::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        if let (Ok(a), Ok(b)) = (a.parse::<usize>(), b.parse::<usize>()) {
            out.extend(a..=b);
        }
    }
    out
}

/// Where one share stands, as the Job and its pods say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShareState {
    Waiting,
    Running {
        attempt: usize,
    },
    /// A pod failed (exit code, if it said one) and the index is retried.
    Retrying {
        failures: usize,
        exit: Option<i64>,
    },
    Done,
    Failed {
        failures: usize,
        exit: Option<i64>,
    },
}

impl std::fmt::Display for ShareState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let exit = |e: &Option<i64>| e.map(|c| format!(" (exit {c})")).unwrap_or_default();
        match self {
            ShareState::Waiting => write!(f, "waiting"),
            ShareState::Running { attempt: 1 } => write!(f, "running"),
            ShareState::Running { attempt } => write!(f, "running (attempt {attempt})"),
            ShareState::Retrying { failures, exit: e } => {
                write!(f, "attempt {failures} failed{}, retried", exit(e))
            }
            ShareState::Done => write!(f, "done"),
            ShareState::Failed { failures, exit: e } => {
                write!(f, "failed for good after {failures} attempts{}", exit(e))
            }
        }
    }
}

/// A Job once it ended: whether it succeeded, and the Job controller's words if not.
struct Ended {
    failed: Option<String>,
}

/// Each share's state from the Job's status and its pods (no I/O).
pub fn share_states(job: &Value, pods: &[Value], shares: usize) -> Vec<ShareState> {
    let status = &job["status"];
    // A Job that is not Indexed (the commit) is one share: index 0.
    let (done, failed) = if job["spec"]["completionMode"] == "Indexed" {
        (
            indexes(status["completedIndexes"].as_str().unwrap_or("")),
            indexes(status["failedIndexes"].as_str().unwrap_or("")),
        )
    } else {
        let end = ended(job);
        (
            BTreeSet::from_iter(end.as_ref().filter(|e| e.failed.is_none()).map(|_| 0)),
            BTreeSet::from_iter(end.as_ref().filter(|e| e.failed.is_some()).map(|_| 0)),
        )
    };
    // Per index: pods that failed (and the last exit code), pods not finished.
    let mut failures: BTreeMap<usize, (usize, Option<i64>)> = BTreeMap::new();
    let mut running: BTreeSet<usize> = BTreeSet::new();
    for pod in pods {
        let Some(index) =
            pod["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"]
                .as_str()
                .and_then(|i| i.parse::<usize>().ok())
        else {
            continue;
        };
        match pod["status"]["phase"].as_str() {
            Some("Failed") => {
                let exit = pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"]
                    .as_i64();
                let entry = failures.entry(index).or_default();
                entry.0 += 1;
                entry.1 = exit.or(entry.1);
            }
            Some("Succeeded") => {}
            _ => {
                running.insert(index);
            }
        }
    }
    (0..shares)
        .map(|i| {
            let (failures, exit) = failures.get(&i).copied().unwrap_or((0, None));
            if done.contains(&i) {
                ShareState::Done
            } else if failed.contains(&i) {
                ShareState::Failed { failures, exit }
            } else if running.contains(&i) {
                ShareState::Running {
                    attempt: failures + 1,
                }
            } else if failures > 0 {
                ShareState::Retrying { failures, exit }
            } else {
                ShareState::Waiting
            }
        })
        .collect()
}

/// The Job's end, when its `Complete` or `Failed` condition is true.
fn ended(job: &Value) -> Option<Ended> {
    let conditions = job["status"]["conditions"].as_array()?;
    let is = |kind: &str| {
        conditions
            .iter()
            .find(|c| c["type"] == kind && c["status"] == "True")
    };
    if is("Complete").is_some() {
        return Some(Ended { failed: None });
    }
    is("Failed").map(|c| Ended {
        failed: Some(
            [c["reason"].as_str(), c["message"].as_str()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(": "),
        ),
    })
}

/// The report the commit printed: the last JSON object of its log (the log may hold other
/// lines before it, a warning on stderr).
pub fn report_in_log(log: &str) -> Option<CopyReport> {
    let starts: Vec<usize> = log
        .match_indices("\n{\n")
        .map(|(i, _)| i + 1)
        .chain(log.starts_with("{\n").then_some(0))
        .collect();
    starts
        .iter()
        .rev()
        .find_map(|&at| serde_json::from_str::<CopyReport>(log[at..].trim_end()).ok())
}

struct Cluster<'a> {
    client: Client,
    namespace: &'a str,
}

impl Cluster<'_> {
    fn job_path(&self, name: &str) -> String {
        format!("/apis/batch/v1/namespaces/{}/jobs/{name}", self.namespace)
    }

    async fn job(&self, name: &str) -> Result<Value, String> {
        self.client
            .get(&self.job_path(name))
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| {
                format!(
                    "the Job {}/{name} is gone (deleted while purser followed it?)",
                    self.namespace
                )
            })
    }

    async fn pods(&self, job: &str) -> Result<Vec<Value>, KubeError> {
        self.client
            .list(
                &format!("/api/v1/namespaces/{}/pods", self.namespace),
                &format!("batch.kubernetes.io/job-name={job}"),
            )
            .await
    }

    /// Follows a Job until it ends, a line per share when its state changes.
    async fn follow(&self, name: &str, shares: usize, what: &str) -> Result<Ended, String> {
        let mut shown: Vec<Option<ShareState>> = vec![None; shares];
        loop {
            let job = self.job(name).await?;
            let pods = self.pods(name).await.map_err(|e| e.to_string())?;
            for (i, state) in share_states(&job, &pods, shares).into_iter().enumerate() {
                if shown[i].as_ref() != Some(&state) {
                    if state != ShareState::Waiting {
                        eprintln!(
                            "{what}{}: {state}",
                            if shares > 1 {
                                format!(" {i}")
                            } else {
                                String::new()
                            }
                        );
                    }
                    shown[i] = Some(state);
                }
            }
            if let Some(end) = ended(&job) {
                return Ok(end);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The report in the log of the commit Job's last pod.
    async fn commit_report(&self, name: &str, ended: &Ended) -> Result<CopyReport, String> {
        let mut pods = self.pods(name).await.map_err(|e| e.to_string())?;
        pods.sort_by(|a, b| {
            let at = |p: &Value| {
                p["metadata"]["creationTimestamp"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned()
            };
            at(a).cmp(&at(b))
        });
        let why = ended
            .failed
            .as_deref()
            .map(|w| format!(" (the Job failed: {w})"))
            .unwrap_or_default();
        let pod = pods
            .iter()
            .rev()
            .filter_map(|p| p["metadata"]["name"].as_str())
            .next()
            .ok_or_else(|| format!("the commit Job {}/{name} ran no pod{why}", self.namespace))?;
        let log = self
            .client
            .log(self.namespace, pod, "commit")
            .await
            .map_err(|e| format!("reading the commit's report{why}: {e}"))?;
        report_in_log(&log).ok_or_else(|| {
            format!(
                "the commit pod {}/{pod} printed no report{why}: see `kubectl logs -n {} {pod}`",
                self.namespace, self.namespace
            )
        })
    }
}

/// SIGINT (Ctrl-C) or SIGTERM, caught from the moment it is made.
struct Interrupt {
    int: Signal,
    term: Signal,
}

impl Interrupt {
    fn listen() -> Result<Self, String> {
        let listen = |kind| signal(kind).map_err(|e| format!("listening for Ctrl-C: {e}"));
        Ok(Self {
            int: listen(SignalKind::interrupt())?,
            term: listen(SignalKind::terminate())?,
        })
    }

    async fn recv(&mut self) {
        tokio::select! {
            _ = self.int.recv() => {}
            _ = self.term.recv() => {}
        }
    }
}

/// Runs the plan on the cluster and returns the commit's report.
pub async fn run(loaded: &Loaded, plan: &str, options: &JobsOptions) -> Result<CopyReport, String> {
    // Listening from the start: a Ctrl-C while the objects are applied is seen right after.
    let mut interrupt = Interrupt::listen()?;
    let config = Config::load().map_err(|e| e.to_string())?;
    let spec = options.spec(config.namespace.as_deref())?;
    let objects = jobs::for_plan(loaded, plan, &spec)?;
    let cluster = Cluster {
        client: Client::new(config).map_err(|e| e.to_string())?,
        namespace: &spec.namespace,
    };
    let [_, execute, commit] = jobs::names(&loaded.digest);
    let shares = loaded.file.shares.len().max(1);
    for object in &objects {
        let path = object_path(object).map_err(|e| e.to_string())?;
        // The commit Job is applied once: applying it again would suspend it again.
        if object["metadata"]["name"] == commit.as_str()
            && cluster
                .client
                .get(&path)
                .await
                .map_err(|e| e.to_string())?
                .is_some()
        {
            continue;
        }
        cluster.client.apply(object).await.map_err(|e| {
            let hint = if e.is_not_found() {
                format!(
                    " (does the namespace {ns} exist? `kubectl create namespace {ns}`)",
                    ns = spec.namespace
                )
            } else {
                String::new()
            };
            format!("{e}{hint}")
        })?;
    }
    {
        eprintln!(
            "applied to {} in namespace {}: Job {execute} ({shares} shares), commit Job {commit}",
            cluster.client.config().server,
            spec.namespace
        );
    }
    let executed = tokio::select! {
        ended = cluster.follow(&execute, shares, "share") => ended?,
        _ = interrupt.recv() => {
            for name in [&execute, &commit] {
                let _ = cluster.client.delete(&cluster.job_path(name)).await;
            }
            return Err(format!(
                "interrupted before the commit: the Jobs {execute} and {commit} are deleted, \
                 nothing was published (blobs already uploaded stay, unreferenced: running \
                 the plan again sends only what is missing)"
            ));
        }
    };
    if let Some(why) = &executed.failed {
        eprintln!("shares failed ({why}): the commit publishes every image that is whole");
    }
    cluster
        .client
        .merge_patch(
            &cluster.job_path(&commit),
            &json!({"spec": {"suspend": false}}),
        )
        .await
        .map_err(|e| e.to_string())?;
    let committed = tokio::select! {
        ended = cluster.follow(&commit, 1, "commit") => ended?,
        _ = interrupt.recv() => {
            return Err(format!(
                "interrupted: the commit Job {ns}/{commit} goes on in the cluster (it publishes \
                 each image whole, the charts last); its report: `kubectl logs -n {ns} \
                 job/{commit}`",
                ns = spec.namespace
            ));
        }
    };
    cluster.commit_report(&commit, &committed).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_lists_read_as_the_job_controller_writes_them() {
        assert_eq!(indexes("0,2-4,7"), BTreeSet::from([0, 2, 3, 4, 7]));
        assert!(indexes("").is_empty());
    }

    #[test]
    fn share_states_come_from_the_job_and_its_pods() {
        let job = json!({"spec": {"completionMode": "Indexed"},
            "status": {"completedIndexes": "0", "failedIndexes": "2"}});
        let pod = |index: &str, phase: &str, exit: Option<i64>| {
            json!({
                "metadata": {"annotations": {"batch.kubernetes.io/job-completion-index": index}},
                "status": {"phase": phase, "containerStatuses": [
                    {"state": exit.map(|e| json!({"terminated": {"exitCode": e}})).unwrap_or(json!({"running": {}}))}
                ]},
            })
        };
        let pods = [
            pod("0", "Succeeded", Some(0)),
            pod("1", "Failed", Some(75)),
            pod("1", "Running", None),
            pod("2", "Failed", Some(3)),
            pod("3", "Failed", Some(75)),
        ];
        let states = share_states(&job, &pods, 5);
        assert_eq!(
            states,
            [
                ShareState::Done,
                ShareState::Running { attempt: 2 },
                ShareState::Failed {
                    failures: 1,
                    exit: Some(3)
                },
                ShareState::Retrying {
                    failures: 1,
                    exit: Some(75)
                },
                ShareState::Waiting,
            ]
        );
        assert_eq!(states[3].to_string(), "attempt 1 failed (exit 75), retried");
    }

    #[test]
    fn the_report_is_the_last_json_object_of_the_log() {
        let report = CopyReport::default();
        let text = serde_json::to_string_pretty(&report).unwrap();
        let log = format!("warning: something\n{text}\n");
        assert!(report_in_log(&log).is_some());
        assert!(report_in_log(&text).is_some());
        assert!(report_in_log("no report\n").is_none());
    }
}
