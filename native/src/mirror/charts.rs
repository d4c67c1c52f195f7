//! The charts of a run, read and rendered: [`load`] gives [`Loaded`] — their images (each
//! once), their lock, and each chart as a [`LoadedChart`], [`Carried`] as an archive to push
//! or an oci:// artifact to copy — and [`Loaded::requests`] turns them into the copy
//! engine's image requests.

use std::collections::HashMap;

use purser::chart_artifact::ChartArtifact;
use purser::digest::Digest;
use purser::inventory::{Confidence, Image, Inventory};
use purser::lock::{ChartId, Lock};
use purser::reference::Reference;
use purser::report::Stamp;

use super::args::{RegistryArgs, SelectArgs};
use super::copy_report::UnresolvedRow;
use crate::copy::ImageRequest;
use crate::render::{ChartArgs, RenderFlags};
use crate::{chart_source, images};

/// One chart, read and rendered.
#[derive(Clone)]
pub(super) struct LoadedChart {
    pub id: ChartId,
    /// The chart as the registry will hold it: pushed from its archive, or (oci://) copied.
    pub carried: Carried,
    pub destination: Reference,
}

#[derive(Clone)]
pub(super) enum Carried {
    /// Pushed as Helm pushes: the artifact, the archive's bytes, the provenance's bytes.
    Archive(Box<ChartArtifact>, Vec<u8>, Option<Vec<u8>>),
    /// Copied manifest for manifest from this reference.
    Oci(Reference),
}

/// `TARGET/NAME:VERSION` (`+` in a version becomes `_`, as Helm tags it).
pub(super) fn chart_destination(
    to: &purser::destination::Target,
    id: &ChartId,
) -> Result<Reference, String> {
    Reference::parse(&format!(
        "{to}/{}:{}",
        id.name,
        id.version.replace('+', "_")
    ))
    .map_err(|e| {
        format!(
            "chart {}: cannot name it under {to}: {}",
            id.name,
            e.reason()
        )
    })
}

/// The charts of a run, read and rendered: their images (each once: certain if any chart is
/// sure), their lock, their archives.
pub(super) struct Loaded {
    pub images: Vec<Image>,
    pub lock: Lock,
    pub charts: Vec<LoadedChart>,
}

/// Renders and reads every chart; `destination` names where each chart goes.
pub(super) fn load(
    specs: &[String],
    release: &str,
    render: &RenderFlags,
    select: &SelectArgs,
    registry: &RegistryArgs,
    destination: impl Fn(&ChartId) -> Result<Reference, String>,
) -> Result<Loaded, String> {
    let mut loaded = Loaded::empty();
    for spec in specs {
        let mut chart = ChartArgs {
            chart: spec.clone(),
            release: release.to_owned(),
            render: render.clone(),
        };
        chart.render.fetch = registry.helm_fetch_flags(spec);
        let (inventory, id, carried) = read_chart(&chart, select)?;
        loaded.add_images(&inventory, Some(&id));
        let destination = destination(&id)?;
        loaded.charts.push(LoadedChart {
            id,
            carried,
            destination,
        });
    }
    if loaded.charts.is_empty() {
        return Err("no chart given".into());
    }
    loaded.settle_confidence();
    Ok(loaded)
}

/// One chart rendered and read (its fetch flags set): what it pulls, which chart it is, and
/// how it is carried.
pub(super) fn read_chart(
    chart: &ChartArgs,
    select: &SelectArgs,
) -> Result<(Inventory, ChartId, Carried), String> {
    let spec = &chart.chart;
    let analysis = chart.analyse(select.all).map_err(|e| e.0)?;
    let (inventory, id) = analysis.inventory(select.selection());
    let carried = match spec.strip_prefix("oci://") {
        Some(rest) => {
            let base = rest.split('@').next().unwrap_or(rest);
            let base = match base.rsplit_once(':') {
                Some((name, tag)) if !tag.contains('/') => name,
                _ => base,
            };
            let r = Reference::parse(&format!("{base}:{}", id.version.replace('+', "_")))
                .map_err(|e| format!("chart {spec}: {}", e.reason()))?;
            Carried::Oci(r)
        }
        None => {
            let archive = chart_source::archive(spec, &chart.render.pull_flags())?;
            let artifact = ChartArtifact::build(&archive.bytes, archive.provenance.as_deref())
                .map_err(|e| format!("chart {spec}: {e}"))?;
            Carried::Archive(Box::new(artifact), archive.bytes, archive.provenance)
        }
    };
    Ok((inventory, id, carried))
}

impl Loaded {
    /// Nothing loaded yet.
    pub(super) fn empty() -> Loaded {
        let stamp = Stamp::at(images::environment().now_unix);
        Loaded {
            images: Vec::new(),
            lock: Lock::from_inventory(&Inventory::default(), None, &stamp),
            charts: Vec::new(),
        }
    }

    /// The images of `inventory` (of chart `id`, if of a chart), each once: a known image
    /// gathers the new findings and the higher confidence. The lock names the first chart.
    pub(super) fn add_images(&mut self, inventory: &Inventory, id: Option<&ChartId>) {
        let stamp = Stamp::at(images::environment().now_unix);
        let chart_lock = Lock::from_inventory(inventory, id, &stamp);
        for image in &inventory.images {
            let canonical = image.reference.canonical();
            match self
                .images
                .iter_mut()
                .find(|i| i.reference.canonical() == canonical)
            {
                Some(known) => {
                    known.confidence = known.confidence.max(image.confidence);
                    known.findings.extend(image.findings.iter().cloned());
                }
                None => self.images.push(image.clone()),
            }
        }
        if self.lock.chart == ChartId::default() {
            self.lock.chart = chart_lock.chart;
        }
        for entry in chart_lock.images {
            if self.lock.find(&entry.image).is_none() {
                self.lock.images.push(entry);
            }
        }
    }

    /// An image likely in one chart and certain in another is certain.
    pub(super) fn settle_confidence(&mut self) {
        for entry in &mut self.lock.images {
            if let Some(image) = self
                .images
                .iter()
                .find(|i| i.reference.canonical() == entry.image)
            {
                entry.confidence =
                    (image.confidence == Confidence::Likely).then_some(Confidence::Likely);
            }
        }
    }

    /// The images to copy, each to `place(source)`, and the oci:// charts; likely images a
    /// given lock found unresolved are left out (and listed).
    pub(super) fn requests(
        &self,
        place: impl Fn(&Reference) -> Result<Reference, String>,
        source_lock: Option<&Lock>,
    ) -> Result<(Vec<ImageRequest>, Vec<UnresolvedRow>), String> {
        let mut requests = Vec::new();
        let mut unresolved = Vec::new();
        for image in &self.images {
            let reference = &image.reference;
            let likely = image.confidence == Confidence::Likely;
            if likely
                && let Some(u) = source_lock.and_then(|l| l.find_unresolved(&reference.canonical()))
            {
                unresolved.push(UnresolvedRow {
                    source: reference.canonical(),
                    reason: format!("unresolved in the lock: {}", u.reason),
                    found_at: found_at(image),
                });
                continue;
            }
            let destination = place(reference)?;
            let locked = match source_lock {
                Some(l) => l
                    .find(&reference.canonical())
                    // The lock of a `--platform` copy pins the narrowed index; the source has
                    // the one it was narrowed from.
                    .and_then(|e| e.source_digest.as_deref().or(e.digest.as_deref()))
                    .map(Digest::parse)
                    .transpose()
                    .map_err(|e| format!("{}: {e}", reference.canonical()))?,
                None => None,
            };
            requests.push(ImageRequest {
                source: reference.clone(),
                destination,
                locked,
                likely,
            });
        }
        for chart in &self.charts {
            if let Carried::Oci(r) = &chart.carried {
                requests.push(ImageRequest {
                    source: r.clone(),
                    destination: chart.destination.clone(),
                    locked: None,
                    likely: false,
                });
            }
        }
        Ok((requests, unresolved))
    }
}

/// Each chart's name and version by where it goes (canonical).
pub(super) fn chart_names(charts: &[LoadedChart]) -> HashMap<String, (String, String)> {
    charts
        .iter()
        .map(|c| {
            (
                c.destination.canonical(),
                (c.id.name.clone(), c.id.version.clone()),
            )
        })
        .collect()
}

/// Where an image was found, one line a place.
pub(super) fn found_at(image: &Image) -> Vec<String> {
    image
        .findings
        .iter()
        .map(|f| f.origin.to_string())
        .collect()
}
