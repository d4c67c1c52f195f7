//! An inventory rendered for people and programs: table, json, yaml, list, images-lock and a
//! ready `helm.sh/images` annotation.

use crate::inventory::{Image, Injected, Inventory, Kind, Origin};
use crate::lock::Lock;
pub use crate::lock::{ChartId, Stamp, rfc3339};
use serde::Serialize;
use std::fmt::Write as _;

/// Output formats of `helm images -o`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Yaml,
    List,
    Lock,
    Annotation,
}

impl Format {
    pub const NAMES: &'static str = "table, json, yaml, list, lock, annotation";

    pub fn parse(name: &str) -> Option<Format> {
        Some(match name {
            "table" => Format::Table,
            "json" => Format::Json,
            "yaml" => Format::Yaml,
            "list" => Format::List,
            "lock" => Format::Lock,
            "annotation" => Format::Annotation,
            _ => return None,
        })
    }
}

/// Renders `inventory` in `format`. Every format ends with a newline (or is empty).
pub fn render(
    inventory: &Inventory,
    format: Format,
    chart: Option<&ChartId>,
    stamp: &Stamp,
) -> String {
    match format {
        Format::Table => table(inventory),
        Format::List => list(inventory),
        Format::Json => {
            let mut s =
                serde_json::to_string_pretty(&ImagesDoc::of(inventory)).expect("report serialises");
            s.push('\n');
            s
        }
        Format::Yaml => yaml(&ImagesDoc::of(inventory)),
        Format::Lock => Lock::from_inventory(inventory, chart, stamp).to_yaml(),
        Format::Annotation => annotation(inventory),
    }
}

pub(crate) fn yaml<T: Serialize>(value: &T) -> String {
    crate::yaml::write::to_string(value).expect("report serialises")
}

/// One canonical reference per line, sorted, nothing else.
fn list(inventory: &Inventory) -> String {
    let mut out = String::new();
    for image in &inventory.images {
        out.push_str(&image.reference.canonical());
        out.push('\n');
    }
    out
}

fn table(inventory: &Inventory) -> String {
    let mut out = String::new();
    if inventory.images.is_empty() {
        out.push_str("No images found.\n");
    } else {
        images_table(inventory, &mut out);
    }
    injected(&inventory.injected, &mut out);
    out
}

fn images_table(inventory: &Inventory, out: &mut String) {
    let rows: Vec<[String; 3]> = inventory
        .images
        .iter()
        .map(|image| {
            let first = &image.findings[0].origin;
            let mut found = first.to_string();
            if image.findings.len() > 1 {
                let _ = write!(found, " (+{} more)", image.findings.len() - 1);
            }
            [image.reference.canonical(), marks(image), found]
        })
        .collect();
    let header = ["IMAGE", "CONFIDENCE", "FOUND IN"];
    let width = |i: usize| {
        rows.iter()
            .map(|r| r[i].chars().count())
            .chain([header[i].len()])
            .max()
            .unwrap_or(0)
    };
    let (w0, w1) = (width(0), width(1));
    let _ = writeln!(out, "{:w0$}  {:w1$}  {}", header[0], header[1], header[2]);
    for r in &rows {
        let _ = writeln!(out, "{:w0$}  {:w1$}  {}", r[0], r[1], r[2]);
    }
    let _ = writeln!(
        out,
        "{} image{}",
        rows.len(),
        if rows.len() == 1 { "" } else { "s" }
    );
}

/// `likely`, `certain, off`, `likely, artifact`.
fn marks(image: &Image) -> String {
    let mut marks = image.confidence.as_str().to_owned();
    if !image.enabled {
        marks.push_str(", off");
    }
    if image.kind == Kind::Artifact {
        marks.push_str(", artifact");
    }
    marks
}

/// Containers whose image a webhook sets at admission, with what to do about them.
pub fn injected(injected: &[Injected], out: &mut String) {
    if injected.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\n{} container{} with the image injected at admission (the chart writes a placeholder; mirror the image of the webhook that injects it):",
        injected.len(),
        if injected.len() == 1 { "" } else { "s" }
    );
    for i in injected {
        let _ = writeln!(
            out,
            "  image injected at admission  {:#}  (written {:?})",
            i.origin, i.written
        );
    }
}

/// `--why`: every place each image came from.
pub fn why(images: &[&Image]) -> String {
    let mut out = String::new();
    for image in images {
        let _ = writeln!(out, "{} ({})", image.reference.canonical(), marks(image));
        for f in &image.findings {
            let _ = writeln!(
                out,
                "  {:10} {:7}  {:#}",
                f.origin.source(),
                f.confidence.as_str(),
                f.origin
            );
            if f.written != image.reference.canonical() {
                let _ = writeln!(out, "  {:10} {:7}  written as {:?}", "", "", f.written);
            }
        }
    }
    out
}

#[derive(Serialize)]
struct ImagesDoc<'a> {
    images: Vec<ImageDoc<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    injected: Vec<InjectedDoc<'a>>,
}

/// A container whose image is injected at admission, in `-o json`/`yaml`.
#[derive(Serialize)]
struct InjectedDoc<'a> {
    written: &'a str,
    #[serde(flatten)]
    origin: &'a Origin,
}

#[derive(Serialize)]
struct ImageDoc<'a> {
    image: String,
    familiar: String,
    registry: &'a str,
    repository: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    tag: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    digest: Option<&'a str>,
    confidence: &'static str,
    enabled: bool,
    /// `artifact` for OCI artifacts that are not container images; left out for images.
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    sources: Vec<SourceDoc<'a>>,
}

#[derive(Serialize)]
struct SourceDoc<'a> {
    confidence: &'static str,
    written: &'a str,
    #[serde(flatten)]
    origin: &'a Origin,
}

impl<'a> ImagesDoc<'a> {
    fn of(inventory: &'a Inventory) -> Self {
        let images = inventory
            .images
            .iter()
            .map(|image| ImageDoc {
                image: image.reference.canonical(),
                familiar: image.reference.familiar(),
                registry: image.reference.registry(),
                repository: image.reference.repository(),
                tag: image.reference.tag(),
                digest: image.reference.digest(),
                confidence: image.confidence.as_str(),
                enabled: image.enabled,
                kind: (image.kind == Kind::Artifact).then_some(Kind::Artifact.as_str()),
                sources: image
                    .findings
                    .iter()
                    .map(|f| SourceDoc {
                        confidence: f.confidence.as_str(),
                        written: &f.written,
                        origin: &f.origin,
                    })
                    .collect(),
            })
            .collect();
        let injected = inventory
            .injected
            .iter()
            .map(|i| InjectedDoc {
                written: &i.written,
                origin: &i.origin,
            })
            .collect();
        ImagesDoc { images, injected }
    }
}

#[derive(Serialize)]
struct AnnotationEntry {
    name: String,
    image: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    dependency: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    condition: Option<String>,
}

/// A `helm.sh/images` block to paste under Chart.yaml's `annotations:`.
fn annotation(inventory: &Inventory) -> String {
    let entries: Vec<AnnotationEntry> = inventory
        .images
        .iter()
        .zip(inventory.names())
        .map(|(image, name)| {
            let chart = image.chart();
            let dependency = chart
                .as_deref()
                .and_then(|c| c.split_once('/'))
                .map(|(_, rest)| rest.split('/').next().unwrap_or(rest).to_owned());
            let condition = if image.enabled {
                None
            } else {
                image
                    .findings
                    .iter()
                    .find_map(|f| f.origin.disabled_by())
                    .and_then(|d| {
                        // `x.enabled=false` (values), or one switch a render needed.
                        d.strip_suffix("=false")
                            .or_else(|| d.strip_suffix("=true").filter(|p| !p.contains(", ")))
                    })
                    .map(str::to_owned)
            };
            AnnotationEntry {
                name,
                image: image.reference.canonical(),
                dependency,
                condition,
            }
        })
        .collect();
    let body = if entries.is_empty() {
        "[]\n".to_owned()
    } else {
        yaml(&entries)
    };
    let mut out = String::from("annotations:\n  helm.sh/images: |\n");
    for line in body.lines() {
        out.push_str("    ");
        out.push_str(line);
        out.push('\n');
    }
    out
}
