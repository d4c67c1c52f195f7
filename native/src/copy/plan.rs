//! Walking the source: for each requested image, skip it when the target already has the
//! same digest (one HEAD), else fetch its manifests (raw), its referrers and cosign tags, and
//! feed them to the core [`PlanBuilder`].

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use futures_util::StreamExt;
use purser::digest::Digest;
use purser::plan::{
    Descriptor, ImagePlatform, ImageStep, Manifest, PlanBuilder, Repository, filter_index,
    is_index, parse_manifest, referrers_of,
};
use purser::reference::Reference;
use tokio::sync::{Mutex, OnceCell};

use crate::store::{Store, StoreError, StoredManifest};

/// One image to copy.
#[derive(Clone, Debug)]
pub struct ImageRequest {
    /// The reference as the chart names it (reports and locks use it).
    pub source: Reference,
    pub destination: Reference,
    /// The digest a lock pins for it; the copy then takes exactly that.
    pub locked: Option<Digest>,
    /// Only heuristics found it: if the source says it does not exist
    /// ([`crate::confirm::absent`]), it is [`Walked::Unresolved`], not missing.
    pub likely: bool,
}

/// How to walk.
#[derive(Clone, Debug, Default)]
pub struct PlanOptions {
    /// `os/arch[/variant]` to keep; empty: every platform, bytes unchanged.
    pub platforms: Vec<String>,
    /// Leave referrers and cosign tags behind.
    pub no_referrers: bool,
    /// Requests in flight at once.
    pub concurrency: usize,
}

/// What the walk found for one image.
#[derive(Clone, Debug)]
pub enum Walked {
    /// In the plan.
    Planned,
    /// The target's tag already names the same digest: nothing to do.
    Present {
        digest: Digest,
        source_digest: Digest,
    },
    /// Not at the source.
    Missing { message: String },
    /// A likely image the source says does not exist: left out of the plan, not a failure.
    Unresolved { message: String },
    /// The source could not be read.
    Failed { message: String },
}

/// The plan of a run and each request's outcome (in request order).
pub struct Planned {
    pub builder: PlanBuilder,
    pub walked: Vec<Walked>,
}

/// A repository's tags, listed by the first who asks.
type TagList = Arc<OnceCell<Arc<Vec<String>>>>;

struct Walk<S> {
    source: Arc<S>,
    /// Tags per source repository, listed once (cosign tags and referrer fallback tags).
    tags: Mutex<HashMap<Repository, TagList>>,
    /// Registries found without a referrers API.
    no_api: Mutex<std::collections::HashSet<String>>,
    options: PlanOptions,
}

/// Walks every request against `source` (and HEADs `target` for what is there already).
pub async fn plan<S: Store, T: Store>(
    source: Arc<S>,
    target: Arc<T>,
    requests: Vec<ImageRequest>,
    options: PlanOptions,
) -> Planned {
    let walk = Arc::new(Walk {
        source,
        tags: Mutex::default(),
        no_api: Mutex::default(),
        options: options.clone(),
    });
    let limit = options.concurrency.max(1);
    let results: Vec<(ImageRequest, Result<Whole, Walked>)> =
        futures_util::stream::iter(requests.into_iter().map(|request| {
            let walk = walk.clone();
            let target = target.clone();
            async move {
                let result = walk.image(&*target, &request).await;
                (request, result)
            }
        }))
        .buffered(limit)
        .collect()
        .await;
    // Into the plan in request order, whatever order the walks ended in: the same requests
    // give the same plan (and the same bundle).
    let mut builder = PlanBuilder::new();
    let walked = results
        .into_iter()
        .map(|(request, result)| match result {
            Ok(whole) => add(&mut builder, &request, whole),
            Err(walked) => walked,
        })
        .collect();
    Planned { builder, walked }
}

/// A manifest fetched for an image, not yet in the builder (an image goes in whole or not
/// at all, so a failed image leaves nothing behind in the plan).
struct Fetched {
    subject: Option<Digest>,
    manifest: StoredManifest,
    tag: Option<String>,
}

/// Everything walked for one image, to go into the plan whole.
struct Whole {
    source_repo: Repository,
    target_repo: Repository,
    fetched: Vec<Fetched>,
    target_digest: Digest,
    source_digest: Digest,
    platforms: Vec<ImagePlatform>,
    referrers: usize,
}

fn failed(e: StoreError) -> Walked {
    if e.is_not_found() {
        Walked::Missing {
            message: e.to_string(),
        }
    } else {
        Walked::Failed {
            message: e.to_string(),
        }
    }
}

/// One walked image into the plan, whole or not at all (the plan keeps what was added).
fn add(builder: &mut PlanBuilder, request: &ImageRequest, whole: Whole) -> Walked {
    let Whole {
        source_repo,
        target_repo,
        fetched,
        target_digest,
        source_digest,
        platforms,
        referrers,
    } = whole;
    for f in fetched {
        let result = match &f.subject {
            None => builder.add_manifest(
                &source_repo,
                &target_repo,
                f.manifest.bytes,
                &f.manifest.media_type,
                Some(&f.manifest.digest),
            ),
            Some(subject) => builder.add_referrer(
                subject,
                &source_repo,
                &target_repo,
                f.manifest.bytes,
                &f.manifest.media_type,
                Some(&f.manifest.digest),
            ),
        };
        if let Err(e) = result {
            return Walked::Failed {
                message: format!("{}: {e}", request.source.canonical()),
            };
        }
        if let Some(tag) = f.tag
            && let Err(e) = builder.tag(&target_repo, &tag, &f.manifest.digest)
        {
            return Walked::Failed {
                message: format!("{}: {e}", request.source.canonical()),
            };
        }
    }
    if let Some(tag) = request.destination.tag()
        && let Err(e) = builder.tag(&target_repo, tag, &target_digest)
    {
        return Walked::Failed {
            message: format!("{}: {e}", request.source.canonical()),
        };
    }
    builder.image(ImageStep {
        source: request.source.canonical(),
        destination: request.destination.canonical(),
        digest: target_digest,
        source_digest,
        platforms,
        referrers,
    });
    Walked::Planned
}

impl<S: Store> Walk<S> {
    async fn image<T: Store>(&self, target: &T, request: &ImageRequest) -> Result<Whole, Walked> {
        let source_repo = Repository::from_reference(&request.source);
        let target_repo = Repository::from_reference(&request.destination);
        let name = request
            .source
            .digest()
            .map(str::to_owned)
            .or_else(|| request.source.tag().map(str::to_owned))
            .unwrap_or_else(|| "latest".to_owned());
        let target_name = request
            .destination
            .tag()
            .map(str::to_owned)
            .or_else(|| request.destination.digest().map(str::to_owned))
            .unwrap_or_else(|| "latest".to_owned());
        let filtering = !self.options.platforms.is_empty();

        // What the source names now (from the lock, or one HEAD), and what the target has.
        // That HEAD is also what confirms a likely image: nothing extra is asked.
        let source_digest = match &request.locked {
            Some(d) => d.clone(),
            None => match self.source.manifest_head(&source_repo, &name).await {
                Ok(Some(d)) => d,
                Ok(None) => {
                    let message = format!(
                        "{}: not found on {} (no such repository, tag or digest)",
                        request.source.canonical(),
                        request.source.registry()
                    );
                    return Err(if request.likely {
                        Walked::Unresolved { message }
                    } else {
                        Walked::Missing { message }
                    });
                }
                Err(e) if request.likely && crate::confirm::absent(&e) => {
                    return Err(Walked::Unresolved {
                        message: e.to_string(),
                    });
                }
                Err(e) => return Err(failed(e)),
            },
        };
        if !filtering {
            match target.manifest_head(&target_repo, &target_name).await {
                Ok(Some(d)) if d == source_digest => {
                    return Err(Walked::Present {
                        digest: d,
                        source_digest,
                    });
                }
                Ok(_) => {}
                Err(e) => return Err(failed(e)),
            }
        }

        // The root manifest, by digest, and everything under it.
        let root = match self
            .source
            .manifest_get(&source_repo, source_digest.as_str())
            .await
        {
            Ok(Some(m)) => m,
            Ok(None) => {
                return Err(Walked::Missing {
                    message: format!(
                        "{}: manifest {source_digest} not found on {}",
                        request.source.canonical(),
                        request.source.registry()
                    ),
                });
            }
            Err(e) => return Err(failed(e)),
        };
        let mut root_bytes = root.bytes.clone();
        if filtering && is_index(&root.media_type) {
            match filter_index(&root.bytes, &root.media_type, &self.options.platforms) {
                Ok(Some(narrowed)) => root_bytes = narrowed,
                Ok(None) => {}
                Err(e) => {
                    return Err(Walked::Failed {
                        message: format!("{}: {e}", request.source.canonical()),
                    });
                }
            }
        }
        let target_digest = Digest::compute(root.digest.algorithm(), &root_bytes);
        if filtering {
            match target.manifest_head(&target_repo, &target_name).await {
                Ok(Some(d)) if d == target_digest => {
                    return Err(Walked::Present {
                        digest: d,
                        source_digest,
                    });
                }
                Ok(_) => {}
                Err(e) => return Err(failed(e)),
            }
        }
        let root = StoredManifest {
            bytes: root_bytes,
            media_type: root.media_type,
            digest: target_digest.clone(),
        };
        let mut fetched = Vec::new();
        let mut platforms = Vec::new();
        if let Err(e) = self
            .manifests(&source_repo, root, None, &mut fetched, Some(&mut platforms))
            .await
        {
            return Err(Walked::Failed {
                message: format!("{}: {e}", request.source.canonical()),
            });
        }
        let mut referrers = 0;
        if !self.options.no_referrers {
            let subjects: Vec<Digest> = fetched.iter().map(|f| f.manifest.digest.clone()).collect();
            for subject in subjects {
                match self.referrers(&source_repo, &subject, &mut fetched).await {
                    Ok(n) => referrers += n,
                    Err(e) => {
                        return Err(Walked::Failed {
                            message: format!(
                                "{}: reading the referrers of {subject}: {e}",
                                request.source.canonical()
                            ),
                        });
                    }
                }
            }
        }

        Ok(Whole {
            source_repo,
            target_repo,
            fetched,
            target_digest,
            source_digest,
            platforms,
            referrers,
        })
    }

    /// `root` and every manifest under it (fetched by digest), in `out`.
    async fn manifests(
        &self,
        repo: &Repository,
        root: StoredManifest,
        subject: Option<Digest>,
        out: &mut Vec<Fetched>,
        mut platforms: Option<&mut Vec<ImagePlatform>>,
    ) -> Result<(), StoreError> {
        let mut queue = vec![(root, subject, true)];
        while let Some((manifest, subject, top)) = queue.pop() {
            let parsed = parse_manifest(&manifest.bytes, &manifest.media_type)
                .map_err(|e| StoreError::message(e.to_string()))?;
            if let Manifest::Index { manifests, .. } = &parsed {
                for child in manifests {
                    if top
                        && let (Some(list), Some(p)) = (platforms.as_deref_mut(), &child.platform)
                        && p.os != "unknown"
                    {
                        list.push(ImagePlatform {
                            platform: p.to_string(),
                            digest: child.digest.clone(),
                        });
                    }
                    let fetched = self.fetch(repo, child).await?;
                    queue.push((fetched, None, false));
                }
            }
            out.push(Fetched {
                subject,
                manifest,
                tag: None,
            });
        }
        Ok(())
    }

    async fn fetch(&self, repo: &Repository, d: &Descriptor) -> Result<StoredManifest, StoreError> {
        match self.source.manifest_get(repo, d.digest.as_str()).await? {
            Some(m) if m.digest == d.digest => Ok(m),
            Some(m) => Err(StoreError::message(format!(
                "{repo}@{}: the registry served bytes with digest {}",
                d.digest, m.digest
            ))),
            None => Err(StoreError::message(format!(
                "{repo}@{}: named by an index but not found on {}",
                d.digest, repo.registry
            ))),
        }
    }

    /// The tags of `repo`, listed once (each repository on its own: listing one does not
    /// hold up the others).
    async fn tags(&self, repo: &Repository) -> Arc<Vec<String>> {
        let cell = self
            .tags
            .lock()
            .await
            .entry(repo.clone())
            .or_default()
            .clone();
        cell.get_or_init(|| async {
            // A registry that will not list tags hides cosign tags and fallback indexes:
            // copy without them rather than fail.
            Arc::new(self.source.tags(repo).await.unwrap_or_default())
        })
        .await
        .clone()
    }

    /// The referrers of `subject` (referrers API, else its fallback tag) and its cosign
    /// `.sig` / `.att` / `.sbom` tags, added to `out`; how many.
    async fn referrers(
        &self,
        repo: &Repository,
        subject: &Digest,
        out: &mut Vec<Fetched>,
    ) -> Result<usize, StoreError> {
        let mut count = 0;
        let mut descriptors: BTreeMap<Digest, Descriptor> = BTreeMap::new();
        let api = !self.no_api.lock().await.contains(&repo.registry);
        let mut from_api = None;
        if api {
            from_api = self.source.referrers(repo, subject).await?;
            if from_api.is_none() {
                self.no_api.lock().await.insert(repo.registry.clone());
            }
        }
        let tags = self.tags(repo).await;
        let index = match from_api {
            Some(bytes) => Some(bytes),
            None if tags.iter().any(|t| *t == subject.fallback_tag()) => self
                .source
                .manifest_get(repo, &subject.fallback_tag())
                .await?
                .map(|m| m.bytes),
            None => None,
        };
        if let Some(index) = index {
            let listed = referrers_of(&index).map_err(|e| {
                StoreError::message(format!("{repo}: the referrers of {subject}: {e}"))
            })?;
            for d in listed {
                descriptors.insert(d.digest.clone(), d);
            }
        }
        for d in descriptors.values() {
            let manifest = self.fetch(repo, d).await?;
            let mut under = Vec::new();
            self.manifests(repo, manifest, Some(subject.clone()), &mut under, None)
                .await?;
            count += 1;
            out.extend(under);
        }
        for suffix in ["sig", "att", "sbom"] {
            let tag = subject.cosign_tag(suffix);
            if !tags.contains(&tag) {
                continue;
            }
            if let Some(manifest) = self.source.manifest_get(repo, &tag).await? {
                count += 1;
                out.push(Fetched {
                    subject: Some(subject.clone()),
                    manifest,
                    tag: Some(tag),
                });
            }
        }
        Ok(count)
    }
}
