//! Running a [`Plan`] from one store to another: blobs, then manifests in waves (children
//! first), then referrer fallback indexes, then tags — each step only when everything it
//! stands on arrived.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use purser::digest::Digest;
use purser::plan::{BlobStep, Descriptor, ManifestStep, Plan, Repository, TagStep, fallback_index};

use crate::store::{BlobStream, Store, StoreError};

/// Blobs that come from memory rather than a source store (a chart's config and archive).
pub type LocalBlobs = HashMap<Digest, Bytes>;

/// How a blob reached the target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlobOutcome {
    /// Its body was sent (once).
    Uploaded,
    /// The target had it.
    Present,
    /// Mounted from another repository of the target.
    Mounted,
}

/// What a run did.
#[derive(Debug, Default)]
pub struct Execution {
    pub uploaded: usize,
    pub mounted: usize,
    pub present: usize,
    pub uploaded_bytes: u64,
    /// Why each failed step failed, keyed by what failed (`blob DIGEST`, `REPO@DIGEST`,
    /// `REPO:TAG`).
    pub failures: BTreeMap<String, String>,
    /// Manifests that did not arrive (and so images that must not be tagged).
    pub failed_manifests: HashSet<(Repository, Digest)>,
    /// Tags set.
    pub tagged: BTreeSet<(Repository, String)>,
    /// In a strict run, the failed blob that stopped every manifest.
    pub stopped_by: Option<Digest>,
    /// Failed blobs whose failure may pass on its own (a broken connection, an overloaded
    /// registry): running again may finish them. Every other failed blob failed for good
    /// (refused credentials, the blob gone at the source, bytes that do not match).
    pub transient: BTreeSet<Digest>,
}

/// Told of each blob done, and how it got there.
pub type OnBlob = Arc<dyn Fn(&BlobStep, BlobOutcome) + Send + Sync>;

/// Runs plans from `source` to `target`.
pub struct Executor<S, T> {
    pub source: Arc<S>,
    pub target: Arc<T>,
    pub local: Arc<LocalBlobs>,
    pub concurrency: usize,
    /// Attempts per blob transfer (a broken stream cannot be retried inside a request).
    pub attempts: u32,
    /// Called with the bytes of each blob done (sent, mounted or present).
    pub on_blob: OnBlob,
    /// Push no manifest at all when any blob failed (an import: nothing of a damaged or
    /// incomplete bundle becomes visible).
    pub strict: bool,
}

/// What the blob phase does with each blob.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlobMode {
    /// Check at the target, mount or send what is missing (copy, `helm mirror execute`).
    Move,
    /// Only check that every target repository holds it (`helm mirror commit`, after the
    /// shares ran elsewhere): a missing blob fails, and with it the images that need it.
    Check,
}

impl<S: Store, T: Store> Executor<S, T> {
    /// The whole plan: every blob, then [`Executor::publish`].
    pub async fn run(&self, plan: &Plan) -> Execution {
        let mut run = Execution::default();
        let failed = self.blobs(&plan.blobs, BlobMode::Move, &mut run).await;
        self.publish(plan, &failed, &mut run).await;
        run
    }

    /// The blob phase alone, in parallel: what happened in `run`, and the blobs that failed.
    /// Nothing becomes visible: a blob is seen only through a manifest that names it.
    pub async fn blobs(
        &self,
        blobs: &[BlobStep],
        mode: BlobMode,
        run: &mut Execution,
    ) -> HashSet<Digest> {
        let sent = Arc::new(AtomicU64::new(0));
        let results: Vec<(Digest, Result<Vec<BlobOutcome>, StoreError>)> =
            futures_util::stream::iter(blobs.iter().map(|step| {
                let sent = sent.clone();
                async move {
                    let result = match mode {
                        BlobMode::Move => self.blob(step, &sent).await,
                        BlobMode::Check => self.check(step).await,
                    };
                    (step.digest.clone(), result)
                }
            }))
            .buffer_unordered(self.concurrency.max(1))
            .collect()
            .await;
        let mut failed_blobs = HashSet::new();
        for (digest, result) in results {
            match result {
                Ok(outcomes) => {
                    for o in outcomes {
                        match o {
                            BlobOutcome::Uploaded => run.uploaded += 1,
                            BlobOutcome::Mounted => run.mounted += 1,
                            BlobOutcome::Present => run.present += 1,
                        }
                    }
                }
                Err(e) => {
                    if !permanent(&e) {
                        run.transient.insert(digest.clone());
                    }
                    run.failures.insert(format!("blob {digest}"), e.to_string());
                    failed_blobs.insert(digest);
                }
            }
        }
        run.uploaded_bytes += sent.load(Ordering::Relaxed);
        failed_blobs
    }

    /// Manifests (children first), referrer fallback indexes and tags, each only where
    /// every blob it needs is at the target (none of `failed_blobs`).
    pub async fn publish(&self, plan: &Plan, failed_blobs: &HashSet<Digest>, run: &mut Execution) {
        // 2. Manifests, in waves: each wave holds the manifests whose children (and subject)
        // are in earlier waves.
        run.stopped_by = failed_blobs.iter().min().filter(|_| self.strict).cloned();
        let strict_block = run
            .stopped_by
            .as_ref()
            .map(|b| format!("blob {b} did not arrive, so nothing is pushed"));
        let mut done: HashSet<(Repository, Digest)> = HashSet::new();
        let mut fallback: BTreeMap<(Repository, Digest), Vec<Descriptor>> = BTreeMap::new();
        let mut pending: Vec<&ManifestStep> = plan.manifests.iter().collect();
        while !pending.is_empty() {
            let in_plan: HashSet<(Repository, Digest)> = pending
                .iter()
                .map(|m| (m.target.clone(), m.digest.clone()))
                .collect();
            let (ready, later): (Vec<&ManifestStep>, Vec<&ManifestStep>) =
                pending.into_iter().partition(|m| {
                    m.children
                        .iter()
                        .chain(m.subject.iter())
                        .all(|c| !in_plan.contains(&(m.target.clone(), c.clone())))
                });
            if ready.is_empty() {
                for m in later {
                    let key = format!("{}@{}", m.target, m.digest);
                    run.failures
                        .insert(key, "its children form a cycle; not pushed".to_owned());
                    run.failed_manifests
                        .insert((m.target.clone(), m.digest.clone()));
                }
                break;
            }
            let mut to_push = Vec::new();
            for m in ready {
                let blocked = strict_block
                    .clone()
                    .or_else(|| {
                        m.blobs
                            .iter()
                            .find(|b| failed_blobs.contains(*b))
                            .map(|b| format!("blob {b} did not arrive"))
                    })
                    .or_else(|| {
                        m.children
                            .iter()
                            .find(|c| {
                                run.failed_manifests
                                    .contains(&(m.target.clone(), (*c).clone()))
                            })
                            .map(|c| format!("manifest {c} did not arrive"))
                    });
                match blocked {
                    Some(why) => {
                        run.failures
                            .insert(format!("{}@{}", m.target, m.digest), why);
                        run.failed_manifests
                            .insert((m.target.clone(), m.digest.clone()));
                    }
                    None => to_push.push(m),
                }
            }
            let pushed: Vec<(&ManifestStep, Result<bool, StoreError>)> =
                futures_util::stream::iter(to_push.into_iter().map(|m| async move {
                    let result = self
                        .target
                        .manifest_put(
                            &m.target,
                            m.digest.as_str(),
                            &m.media_type,
                            Bytes::from(m.bytes.clone()),
                        )
                        .await
                        .map(|p| p.subject_indexed);
                    (m, result)
                }))
                .buffer_unordered(self.concurrency.max(1))
                .collect()
                .await;
            for (m, result) in pushed {
                match result {
                    Ok(indexed) => {
                        done.insert((m.target.clone(), m.digest.clone()));
                        if let (Some(subject), false) = (&m.subject, indexed) {
                            // A cosign tag is found by its tag; a manifest with a
                            // `subject` needs an entry in the fallback index.
                            if !has_subject_field(&m.bytes) {
                                continue;
                            }
                            fallback
                                .entry((m.target.clone(), subject.clone()))
                                .or_default()
                                .push(descriptor_of(m));
                        }
                    }
                    Err(e) => {
                        run.failures
                            .insert(format!("{}@{}", m.target, m.digest), e.to_string());
                        run.failed_manifests
                            .insert((m.target.clone(), m.digest.clone()));
                    }
                }
            }
            pending = later;
        }

        // 3. Referrer fallback indexes, where the target did not index subjects itself.
        for ((repo, subject), add) in fallback {
            let tag = subject.fallback_tag();
            let result = async {
                let existing = self.target.manifest_get(&repo, &tag).await?;
                let bytes = fallback_index(existing.as_ref().map(|m| m.bytes.as_slice()), &add)
                    .map_err(|e| StoreError::message(e.to_string()))?;
                if existing.is_some_and(|m| m.bytes == bytes) {
                    return Ok(());
                }
                self.target
                    .manifest_put(&repo, &tag, purser::plan::OCI_INDEX, Bytes::from(bytes))
                    .await
                    .map(|_| ())
            }
            .await;
            if let Err(e) = result {
                run.failures.insert(format!("{repo}:{tag}"), e.to_string());
            }
        }

        // 4. Tags, last, on complete images only; the charts' after every image's, and only
        // when every image arrived whole, so a chart at the target means its images are.
        let steps: HashMap<(Repository, Digest), &ManifestStep> = plan
            .manifests
            .iter()
            .map(|m| ((m.target.clone(), m.digest.clone()), m))
            .collect();
        let (charts, images): (Vec<&TagStep>, Vec<&TagStep>) = plan.tags.iter().partition(|t| {
            steps
                .get(&(t.target.clone(), t.digest.clone()))
                .is_some_and(|m| {
                    m.artifact_type.as_deref() == Some(purser::chart_artifact::CONFIG_MEDIA_TYPE)
                })
        });
        self.tag(&images, &steps, &done, None, run).await;
        let untagged = images
            .iter()
            .filter(|t| !run.tagged.contains(&(t.target.clone(), t.tag.clone())))
            .count();
        let held = (untagged > 0).then(|| {
            format!(
                "{untagged} image tag(s) of the plan were not set, and a chart goes to the \
                 target only once all its images are there"
            )
        });
        self.tag(&charts, &steps, &done, held, run).await;
    }

    /// Sets `tags` whose image arrived whole (all of them held back, with why, when
    /// `held`).
    async fn tag(
        &self,
        tags: &[&TagStep],
        steps: &HashMap<(Repository, Digest), &ManifestStep>,
        done: &HashSet<(Repository, Digest)>,
        held: Option<String>,
        run: &mut Execution,
    ) {
        let tagged: Vec<(Repository, String, Result<(), StoreError>)> =
            futures_util::stream::iter(tags.iter().map(|t| {
                let step = steps.get(&(t.target.clone(), t.digest.clone())).copied();
                let complete = done.contains(&(t.target.clone(), t.digest.clone()))
                    && !incomplete(&t.target, &t.digest, steps, &run.failed_manifests);
                let held = held.clone();
                async move {
                    let result = match (step, complete, held) {
                        (_, _, Some(why)) => Err(StoreError::message(format!(
                            "{}:{}: not tagged: {why}",
                            t.target, t.tag
                        ))),
                        (Some(m), true, None) => self
                            .target
                            .manifest_put(
                                &t.target,
                                &t.tag,
                                &m.media_type,
                                Bytes::from(m.bytes.clone()),
                            )
                            .await
                            .map(|_| ()),
                        _ => Err(StoreError::message(format!(
                            "{}:{}: not tagged, the image did not arrive whole",
                            t.target, t.tag
                        ))),
                    };
                    (t.target.clone(), t.tag.clone(), result)
                }
            }))
            .buffer_unordered(self.concurrency.max(1))
            .collect()
            .await;
        for (repo, tag, result) in tagged {
            match result {
                Ok(()) => {
                    run.tagged.insert((repo, tag));
                }
                Err(e) => {
                    run.failures.insert(format!("{repo}:{tag}"), e.to_string());
                }
            }
        }
    }

    /// Every target repository that needs the blob holds it (one HEAD each).
    async fn check(&self, step: &BlobStep) -> Result<Vec<BlobOutcome>, StoreError> {
        let mut outcomes = Vec::new();
        for repo in &step.targets {
            if self.target.blob_exists(repo, &step.digest).await?.is_none() {
                return Err(StoreError::message(format!(
                    "blob {} is not in {repo}: the share that uploads it has not run, or \
                     did not finish",
                    step.digest
                )));
            }
            (self.on_blob)(step, BlobOutcome::Present);
            outcomes.push(BlobOutcome::Present);
        }
        Ok(outcomes)
    }

    /// One blob into every target repository that needs it.
    async fn blob(
        &self,
        step: &BlobStep,
        sent: &AtomicU64,
    ) -> Result<Vec<BlobOutcome>, StoreError> {
        let mut outcomes = Vec::new();
        // Per registry: the first repository that holds it, to mount from.
        let mut holder: HashMap<&str, &Repository> = HashMap::new();
        for repo in &step.targets {
            let outcome = match holder.get(repo.registry.as_str()) {
                Some(from) => {
                    if self.target.blob_mount(repo, &step.digest, from).await? {
                        BlobOutcome::Mounted
                    } else if self.target.blob_exists(repo, &step.digest).await?.is_some() {
                        // Refused, but an earlier (interrupted) run left it here.
                        BlobOutcome::Present
                    } else {
                        self.transfer(step, repo, sent).await?
                    }
                }
                None => match self.target.blob_exists(repo, &step.digest).await? {
                    Some(_) => BlobOutcome::Present,
                    None => match self.held_elsewhere(step, repo).await? {
                        // An earlier (interrupted) run left it in another repository.
                        Some(from) if self.target.blob_mount(repo, &step.digest, from).await? => {
                            BlobOutcome::Mounted
                        }
                        _ => self.transfer(step, repo, sent).await?,
                    },
                },
            };
            holder.entry(repo.registry.as_str()).or_insert(repo);
            (self.on_blob)(step, outcome);
            outcomes.push(outcome);
        }
        Ok(outcomes)
    }

    /// Another target repository of `repo`'s registry that already holds the blob.
    async fn held_elsewhere<'s>(
        &self,
        step: &'s BlobStep,
        repo: &Repository,
    ) -> Result<Option<&'s Repository>, StoreError> {
        for other in step
            .targets
            .iter()
            .filter(|o| *o != repo && o.registry == repo.registry)
        {
            if self
                .target
                .blob_exists(other, &step.digest)
                .await?
                .is_some()
            {
                return Ok(Some(other));
            }
        }
        Ok(None)
    }

    /// Streams the blob from the source (or memory) into `repo`, retried as a whole.
    async fn transfer(
        &self,
        step: &BlobStep,
        repo: &Repository,
        sent: &AtomicU64,
    ) -> Result<BlobOutcome, StoreError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = async {
                let body = self.body(step).await?;
                self.target
                    .blob_put(repo, &step.digest, step.size, body)
                    .await
            }
            .await;
            match result {
                Ok(()) => {
                    sent.fetch_add(step.size, Ordering::Relaxed);
                    return Ok(BlobOutcome::Uploaded);
                }
                Err(e) if attempt < self.attempts && retryable(&e) => {
                    tokio::time::sleep(Duration::from_millis(200 << attempt.min(5))).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn body(&self, step: &BlobStep) -> Result<BlobStream, StoreError> {
        if let Some(bytes) = self.local.get(&step.digest) {
            let bytes = bytes.clone();
            return Ok(Box::pin(futures_util::stream::once(
                async move { Ok(bytes) },
            )));
        }
        let mut last = None;
        for repo in &step.sources {
            match self.source.blob_get(repo, &step.digest, step.size).await {
                Ok(stream) => return Ok(stream),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| {
            StoreError::message(format!("blob {}: no source holds it", step.digest))
        }))
    }
}

/// A failure running again will not mend: the registry refused us, the blob is not there,
/// or the bytes are not what the digest says.
fn permanent(e: &StoreError) -> bool {
    !retryable(e) || matches!(e, StoreError::DigestMismatch { .. })
}

/// Worth another try: a broken connection or stream, an overloaded registry, bytes damaged
/// in transit (fetched again, they may be right).
fn retryable(e: &StoreError) -> bool {
    e.is_transient()
        || matches!(
            e,
            StoreError::RetriesExhausted { .. } | StoreError::DigestMismatch { .. }
        )
}

impl Execution {
    /// Why the image whose root is `digest` in `repo` did not arrive: the first failure among
    /// its manifests (children, referrers) and blobs.
    pub fn cause(&self, plan: &Plan, repo: &Repository, digest: &Digest) -> Option<String> {
        let steps: HashMap<&Digest, &ManifestStep> = plan
            .manifests
            .iter()
            .filter(|m| &m.target == repo)
            .map(|m| (&m.digest, m))
            .collect();
        let mut stack = vec![digest];
        let mut seen = HashSet::new();
        while let Some(d) = stack.pop() {
            if !seen.insert(d) {
                continue;
            }
            let Some(step) = steps.get(d) else { continue };
            for b in &step.blobs {
                if let Some(why) = self.failures.get(&format!("blob {b}")) {
                    return Some(format!("blob {b}: {why}"));
                }
            }
            if let Some(why) = self.failures.get(&format!("{repo}@{d}"))
                && !why.contains("did not arrive")
            {
                return Some(why.clone());
            }
            stack.extend(step.children.iter());
        }
        self.stopped_by.as_ref().map(|b| {
            format!(
                "nothing was pushed because blob {b} failed: {}",
                self.failures
                    .get(&format!("blob {b}"))
                    .map_or("", String::as_str)
            )
        })
    }
}

/// Whether any manifest under `digest` (its children, recursively) failed.
fn incomplete(
    repo: &Repository,
    digest: &Digest,
    steps: &HashMap<(Repository, Digest), &ManifestStep>,
    failed: &HashSet<(Repository, Digest)>,
) -> bool {
    let mut stack = vec![digest.clone()];
    let mut seen = HashSet::new();
    while let Some(d) = stack.pop() {
        let key = (repo.clone(), d);
        if failed.contains(&key) {
            return true;
        }
        if !seen.insert(key.1.clone()) {
            continue;
        }
        if let Some(step) = steps.get(&key) {
            stack.extend(step.children.iter().cloned());
        }
    }
    false
}

fn has_subject_field(bytes: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(bytes)
        .ok()
        .is_some_and(|v| v.get("subject").is_some())
}

fn descriptor_of(m: &ManifestStep) -> Descriptor {
    let mut d = Descriptor::new(&m.media_type, m.digest.clone(), m.size);
    d.artifact_type = m.artifact_type.clone();
    d.annotations = m.annotations.clone();
    d
}
