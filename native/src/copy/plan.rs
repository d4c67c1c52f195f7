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
    /// Per request (same order): for a planned image whose registry would not list its
    /// repository's tags, what was therefore not looked for.
    pub unlisted: Vec<Option<TagsUnlisted>>,
}

/// A registry would not list an image's tags, so cosign's tag-based signatures and
/// attestations (`sha256-<hex>.sig`, `.att`, `.sbom`) were not looked for — nor, without a
/// referrers API, the `sha256-<hex>` referrers fallback tag. The image is copied without
/// them; this says so.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TagsUnlisted {
    /// The registry that would not list tags.
    pub registry: String,
    /// What it answered.
    pub reason: String,
    /// Referrers were looked for (its referrers API answered); false: it has none, and the
    /// fallback tag could not be looked for either.
    pub referrers: bool,
}

/// A repository's tags, listed by the first who asks (or why they cannot be).
type TagList = Arc<OnceCell<Result<Arc<Vec<String>>, String>>>;

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
    let (walked, unlisted) = results
        .into_iter()
        .map(|(request, result)| match result {
            Ok(mut whole) => {
                let unlisted = whole.unlisted.take();
                let walked = add(&mut builder, &request, whole);
                let unlisted = unlisted.filter(|_| matches!(walked, Walked::Planned));
                (walked, unlisted)
            }
            Err(walked) => (walked, None),
        })
        .unzip();
    Planned {
        builder,
        walked,
        unlisted,
    }
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
    /// Tags could not be listed: what was not looked for.
    unlisted: Option<TagsUnlisted>,
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
        unlisted: _,
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
        let mut unlisted = None;
        if !self.options.no_referrers {
            let subjects: Vec<Digest> = fetched.iter().map(|f| f.manifest.digest.clone()).collect();
            for subject in subjects {
                match self
                    .referrers(&source_repo, &subject, &mut fetched, &mut unlisted)
                    .await
                {
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
            unlisted,
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
    /// hold up the others), or why the registry would not list them.
    async fn tags(&self, repo: &Repository) -> Result<Arc<Vec<String>>, String> {
        let cell = self
            .tags
            .lock()
            .await
            .entry(repo.clone())
            .or_default()
            .clone();
        cell.get_or_init(|| async {
            // A registry that will not list tags hides cosign tags and fallback indexes:
            // the copy goes on without them, and the caller says so.
            self.source
                .tags(repo)
                .await
                .map(Arc::new)
                .map_err(|e| e.to_string())
        })
        .await
        .clone()
    }

    /// The referrers of `subject` (referrers API, else its fallback tag) and its cosign
    /// `.sig` / `.att` / `.sbom` tags, added to `out`; how many. When the tags cannot be
    /// listed, what was not looked for goes into `unlisted`.
    async fn referrers(
        &self,
        repo: &Repository,
        subject: &Digest,
        out: &mut Vec<Fetched>,
        unlisted: &mut Option<TagsUnlisted>,
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
        let tags = match self.tags(repo).await {
            Ok(tags) => tags,
            Err(reason) => {
                let referrers = from_api.is_some();
                match unlisted {
                    // One subject's referrers API answer is enough to say referrers were read.
                    Some(u) => u.referrers |= referrers,
                    None => {
                        *unlisted = Some(TagsUnlisted {
                            registry: repo.registry.clone(),
                            reason,
                            referrers,
                        });
                    }
                }
                Arc::default()
            }
        };
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

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::store::{BlobStream, Empty, Pushed};

    const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

    fn manifest(config: &[u8]) -> StoredManifest {
        let bytes = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": Digest::sha256(config).to_string(),
                "size": config.len(),
            },
            "layers": [],
        }))
        .unwrap();
        StoredManifest {
            digest: Digest::sha256(&bytes),
            bytes,
            media_type: MANIFEST.to_owned(),
        }
    }

    /// One image tagged `1.0` with a cosign `.sig` tag beside it; its tag list refused (as a
    /// registry denying `GET /v2/<name>/tags/list`) or served, with or without a referrers
    /// API (an empty one).
    struct Source {
        image: StoredManifest,
        sig: StoredManifest,
        list_tags: bool,
        referrers_api: bool,
    }

    impl Source {
        fn new(list_tags: bool, referrers_api: bool) -> Source {
            Source {
                image: manifest(b"{}"),
                sig: manifest(b"{\"sig\":1}"),
                list_tags,
                referrers_api,
            }
        }

        fn sig_tag(&self) -> String {
            self.image.digest.cosign_tag("sig")
        }
    }

    impl Store for Source {
        async fn blob_exists(&self, _: &Repository, _: &Digest) -> Result<Option<u64>, StoreError> {
            Ok(None)
        }
        async fn blob_get(
            &self,
            _: &Repository,
            _: &Digest,
            _: u64,
        ) -> Result<BlobStream, StoreError> {
            Err(StoreError::message("no blobs here"))
        }
        async fn blob_put(
            &self,
            _: &Repository,
            _: &Digest,
            _: u64,
            _: BlobStream,
        ) -> Result<(), StoreError> {
            Err(StoreError::message("read only"))
        }
        async fn blob_mount(
            &self,
            _: &Repository,
            _: &Digest,
            _: &Repository,
        ) -> Result<bool, StoreError> {
            Ok(false)
        }
        async fn manifest_head(
            &self,
            repo: &Repository,
            reference: &str,
        ) -> Result<Option<Digest>, StoreError> {
            Ok(self.manifest_get(repo, reference).await?.map(|m| m.digest))
        }
        async fn manifest_get(
            &self,
            _: &Repository,
            reference: &str,
        ) -> Result<Option<StoredManifest>, StoreError> {
            Ok(
                if reference == "1.0" || reference == self.image.digest.as_str() {
                    Some(self.image.clone())
                } else if reference == self.sig_tag() || reference == self.sig.digest.as_str() {
                    Some(self.sig.clone())
                } else {
                    None
                },
            )
        }
        async fn manifest_put(
            &self,
            _: &Repository,
            _: &str,
            _: &str,
            _: Bytes,
        ) -> Result<Pushed, StoreError> {
            Err(StoreError::message("read only"))
        }
        async fn tags(&self, _: &Repository) -> Result<Vec<String>, StoreError> {
            if self.list_tags {
                Ok(vec!["1.0".to_owned(), self.sig_tag()])
            } else {
                Err(StoreError::message("denied: listing tags is not allowed"))
            }
        }
        async fn referrers(
            &self,
            _: &Repository,
            _: &Digest,
        ) -> Result<Option<Vec<u8>>, StoreError> {
            Ok(self.referrers_api.then(|| {
                br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#
                    .to_vec()
            }))
        }
    }

    /// Each request's outcome, what tags could not be listed, and the image's referrers
    /// planned.
    async fn walk(source: Source) -> (Vec<Walked>, Vec<Option<TagsUnlisted>>, usize) {
        let request = ImageRequest {
            source: Reference::parse("registry.example/team/app:1.0").unwrap(),
            destination: Reference::parse("mirror.example/team/app:1.0").unwrap(),
            locked: None,
            likely: false,
        };
        let planned = plan(
            Arc::new(source),
            Arc::new(Empty),
            vec![request],
            PlanOptions {
                concurrency: 1,
                ..PlanOptions::default()
            },
        )
        .await;
        let Planned {
            builder,
            walked,
            unlisted,
        } = planned;
        let referrers = builder.build().images.first().map_or(0, |i| i.referrers);
        (walked, unlisted, referrers)
    }

    #[tokio::test]
    async fn listed_tags_bring_the_sig_tag_and_no_note() {
        let (walked, unlisted, referrers) = walk(Source::new(true, true)).await;
        assert!(matches!(walked[0], Walked::Planned));
        assert_eq!(referrers, 1, "the .sig tag is found through the tag list");
        assert_eq!(unlisted, vec![None]);
    }

    #[tokio::test]
    async fn refused_tag_list_is_said_not_swallowed() {
        let (walked, unlisted, referrers) = walk(Source::new(false, true)).await;
        assert!(matches!(walked[0], Walked::Planned));
        assert_eq!(referrers, 0, "without a tag list the .sig tag is not seen");
        let unlisted = unlisted[0].as_ref().expect("the refusal is kept");
        assert_eq!(unlisted.registry, "registry.example");
        assert!(
            unlisted.reason.contains("listing tags is not allowed"),
            "{}",
            unlisted.reason
        );
        assert!(unlisted.referrers, "the referrers API answered");
    }

    #[tokio::test]
    async fn refused_tag_list_without_referrers_api_says_referrers_were_not_read() {
        let (_, unlisted, _) = walk(Source::new(false, false)).await;
        let unlisted = unlisted[0].as_ref().expect("the refusal is kept");
        assert!(!unlisted.referrers);
    }
}
