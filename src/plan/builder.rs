//! [`PlanBuilder`]: collects fetched manifests, tags and images, and orders them into a
//! [`Plan`].

use std::collections::{BTreeMap, BTreeSet};

use super::manifest::{Descriptor, Manifest, parse_manifest};
use super::{BlobStep, ImageStep, ManifestStep, Plan, PlanError, Repository, TagStep};
use crate::digest::{Algorithm, Digest};

/// Builds a [`Plan`] from manifests as they are fetched. The same calls in the same order
/// give the same plan.
#[derive(Debug, Default)]
pub struct PlanBuilder {
    manifests: Vec<ManifestStep>,
    /// `(target, digest)` → position in `manifests`.
    manifest_at: BTreeMap<(Repository, Digest), usize>,
    blobs: Vec<BlobStep>,
    /// digest → position in `blobs`.
    blob_at: BTreeMap<Digest, usize>,
    tags: Vec<TagStep>,
    images: Vec<ImageStep>,
}

impl PlanBuilder {
    #[must_use]
    pub fn new() -> PlanBuilder {
        PlanBuilder::default()
    }

    /// Records manifest `bytes`, fetched from `source` as `media_type`, to be pushed to
    /// `target`. Their digest is computed (sha256, or the algorithm of `expected`) and must
    /// equal `expected` when given. Returns the index entries the caller must fetch and add
    /// next (those not yet in the plan for `target`); an image manifest has none. Adding a
    /// `(target, digest)` already in the plan does nothing and returns no entries.
    pub fn add_manifest(
        &mut self,
        source: &Repository,
        target: &Repository,
        bytes: Vec<u8>,
        media_type: &str,
        expected: Option<&Digest>,
    ) -> Result<Vec<Descriptor>, PlanError> {
        self.add(None, source, target, bytes, media_type, expected)
    }

    /// Like [`add_manifest`](Self::add_manifest), for a referrer of `subject` (a signature,
    /// SBOM or attestation): the step records `subject` even when the manifest has no `subject`
    /// field (a cosign `.sig` tag manifest), and is pushed after the subject when the plan
    /// pushes that to `target` too.
    pub fn add_referrer(
        &mut self,
        subject: &Digest,
        source: &Repository,
        target: &Repository,
        bytes: Vec<u8>,
        media_type: &str,
        expected: Option<&Digest>,
    ) -> Result<Vec<Descriptor>, PlanError> {
        self.add(Some(subject), source, target, bytes, media_type, expected)
    }

    fn add(
        &mut self,
        subject: Option<&Digest>,
        source: &Repository,
        target: &Repository,
        bytes: Vec<u8>,
        media_type: &str,
        expected: Option<&Digest>,
    ) -> Result<Vec<Descriptor>, PlanError> {
        let algorithm = expected.map_or(Algorithm::Sha256, Digest::algorithm);
        let digest = Digest::compute(algorithm, &bytes);
        if let Some(expected) = expected {
            if *expected != digest {
                return Err(PlanError::DigestMismatch {
                    source: source.to_string(),
                    expected: expected.clone(),
                    actual: digest,
                });
            }
        }
        let key = (target.clone(), digest);
        if let Some(&at) = self.manifest_at.get(&key) {
            // Added before; as a referrer now, it learns its subject.
            let step = &mut self.manifests[at];
            if step.subject.is_none() {
                step.subject = subject.cloned();
            }
            return Ok(Vec::new());
        }
        let digest = key.1.clone();
        let manifest =
            parse_manifest(&bytes, media_type).map_err(|e| e.located(source, &digest))?;

        let (entries, blobs): (&[Descriptor], Vec<&Descriptor>) = match &manifest {
            Manifest::Index { manifests, .. } => (manifests.as_slice(), Vec::new()),
            Manifest::Image { config, layers, .. } => (
                &[],
                config
                    .iter()
                    .chain(layers)
                    .filter(|d| !d.is_foreign())
                    .collect(),
            ),
        };
        self.check_sizes(&blobs, source)?;

        let mut blob_digests = Vec::with_capacity(blobs.len());
        for descriptor in blobs {
            if !blob_digests.contains(&descriptor.digest) {
                blob_digests.push(descriptor.digest.clone());
                self.record_blob(descriptor, source, target);
            }
        }
        let mut children = Vec::with_capacity(entries.len());
        let mut to_fetch = Vec::new();
        for entry in entries {
            if children.contains(&entry.digest) {
                continue;
            }
            children.push(entry.digest.clone());
            if !self
                .manifest_at
                .contains_key(&(target.clone(), entry.digest.clone()))
            {
                to_fetch.push(entry.clone());
            }
        }

        self.manifest_at.insert(key, self.manifests.len());
        self.manifests.push(ManifestStep {
            size: bytes.len() as u64,
            subject: subject
                .cloned()
                .or_else(|| manifest.subject().map(|s| s.digest.clone())),
            artifact_type: manifest.artifact_type().map(str::to_owned),
            annotations: manifest.annotations().clone(),
            digest,
            media_type: media_type.to_owned(),
            source: source.clone(),
            target: target.clone(),
            bytes,
            blobs: blob_digests,
            children,
        });
        Ok(to_fetch)
    }

    /// Fails when a blob's size disagrees with a size seen before (in the plan or earlier in
    /// `blobs`), before anything of the manifest is recorded.
    fn check_sizes(&self, blobs: &[&Descriptor], source: &Repository) -> Result<(), PlanError> {
        let mut seen: BTreeMap<&Digest, u64> = BTreeMap::new();
        for descriptor in blobs {
            let known = self
                .blob_at
                .get(&descriptor.digest)
                .map(|&at| self.blobs[at].size)
                .or_else(|| seen.get(&descriptor.digest).copied());
            if let Some(size) = known.filter(|&size| size != descriptor.size) {
                return Err(PlanError::BlobSizeConflict {
                    digest: descriptor.digest.clone(),
                    size,
                    other: descriptor.size,
                    source: source.to_string(),
                });
            }
            seen.insert(&descriptor.digest, descriptor.size);
        }
        Ok(())
    }

    fn record_blob(&mut self, descriptor: &Descriptor, source: &Repository, target: &Repository) {
        let at = *self
            .blob_at
            .entry(descriptor.digest.clone())
            .or_insert_with(|| {
                self.blobs.push(BlobStep {
                    digest: descriptor.digest.clone(),
                    size: descriptor.size,
                    media_type: descriptor.media_type.clone(),
                    sources: Vec::new(),
                    targets: Vec::new(),
                });
                self.blobs.len() - 1
            });
        let blob = &mut self.blobs[at];
        if !blob.sources.contains(source) {
            blob.sources.push(source.clone());
        }
        if !blob.targets.contains(target) {
            blob.targets.push(target.clone());
        }
    }

    /// Points `tag` of `target` at the manifest `digest`, which must have been added for
    /// `target`. Setting the same tag to the same digest again does nothing; to another digest
    /// is an error.
    pub fn tag(
        &mut self,
        target: &Repository,
        tag: &str,
        digest: &Digest,
    ) -> Result<(), PlanError> {
        let Some(&at) = self.manifest_at.get(&(target.clone(), digest.clone())) else {
            return Err(PlanError::UnknownManifest {
                target: target.to_string(),
                tag: tag.to_owned(),
                digest: digest.clone(),
            });
        };
        if let Some(existing) = self
            .tags
            .iter()
            .find(|t| t.target == *target && t.tag == tag)
        {
            return if existing.digest == *digest {
                Ok(())
            } else {
                Err(PlanError::TagConflict {
                    target: target.to_string(),
                    tag: tag.to_owned(),
                    existing: existing.digest.clone(),
                    new: digest.clone(),
                })
            };
        }
        self.tags.push(TagStep {
            target: target.clone(),
            tag: tag.to_owned(),
            digest: digest.clone(),
            media_type: self.manifests[at].media_type.clone(),
        });
        Ok(())
    }

    /// Records an image for reports and the lock of the copy.
    pub fn image(&mut self, image: ImageStep) {
        self.images.push(image);
    }

    /// The plan: blobs in first-seen order, manifests in push order (every manifest after its
    /// children and its subject when they go to the same target, otherwise in the order they
    /// were added), tags in the order they were set.
    ///
    /// Nothing in real manifests can form a cycle (a manifest names others by digest), but
    /// [`add_referrer`](Self::add_referrer) can be told any subject; steps caught in a cycle
    /// come last, in the order they were added.
    #[must_use]
    pub fn build(self) -> Plan {
        let count = self.manifests.len();
        let mut waiting = vec![0usize; count];
        let mut unblocks: Vec<Vec<usize>> = vec![Vec::new(); count];
        for (at, step) in self.manifests.iter().enumerate() {
            let before: BTreeSet<usize> = step
                .children
                .iter()
                .chain(&step.subject)
                .filter_map(|d| {
                    self.manifest_at
                        .get(&(step.target.clone(), d.clone()))
                        .copied()
                })
                .filter(|&first| first != at)
                .collect();
            waiting[at] = before.len();
            for first in before {
                unblocks[first].push(at);
            }
        }
        let mut ready: BTreeSet<usize> = (0..count).filter(|&at| waiting[at] == 0).collect();
        let mut order = Vec::with_capacity(count);
        let mut placed = vec![false; count];
        while let Some(at) = ready.pop_first() {
            order.push(at);
            placed[at] = true;
            for &next in &unblocks[at] {
                waiting[next] -= 1;
                if waiting[next] == 0 {
                    ready.insert(next);
                }
            }
        }
        order.extend((0..count).filter(|&at| !placed[at]));

        let mut steps: Vec<Option<ManifestStep>> = self.manifests.into_iter().map(Some).collect();
        Plan {
            images: self.images,
            blobs: self.blobs,
            manifests: order
                .into_iter()
                .filter_map(|at| steps[at].take())
                .collect(),
            tags: self.tags,
        }
    }
}
