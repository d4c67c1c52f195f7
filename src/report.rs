//! An inventory rendered for people and programs: table, json, yaml, list, images-lock and a
//! ready `helm.sh/images` annotation.

use crate::inventory::{Image, Inventory, Origin};
pub use crate::lock::ChartId;
use crate::lock::Lock;
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

/// Who made a report and when: the lock's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    /// RFC 3339 UTC time.
    pub generated_at: String,
    pub generated_by: String,
}

impl Stamp {
    /// A stamp for `unix_seconds` (the caller reads the clock: the core does no I/O).
    pub fn at(unix_seconds: i64) -> Stamp {
        Stamp {
            generated_at: rfc3339(unix_seconds),
            generated_by: format!("purser {}", env!("CARGO_PKG_VERSION")),
        }
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
    serde_saphyr::to_string(value).expect("report serialises")
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
    if inventory.images.is_empty() {
        return "No images found.\n".to_owned();
    }
    let rows: Vec<[String; 3]> = inventory
        .images
        .iter()
        .map(|image| {
            let first = &image.findings[0].origin;
            let mut found = first.to_string();
            if image.findings.len() > 1 {
                let _ = write!(found, " (+{} more)", image.findings.len() - 1);
            }
            let mut confidence = image.confidence.as_str().to_owned();
            if !image.enabled {
                confidence.push_str(", off");
            }
            [image.reference.canonical(), confidence, found]
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
    let mut out = String::new();
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
    out
}

/// `--why`: every place each image came from.
pub fn why(images: &[&Image]) -> String {
    let mut out = String::new();
    for image in images {
        let _ = writeln!(
            out,
            "{} ({}{})",
            image.reference.canonical(),
            image.confidence.as_str(),
            if image.enabled { "" } else { ", off" }
        );
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
        ImagesDoc { images }
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

/// RFC 3339 UTC for a Unix time (days-from-civil, no calendar crate needed).
pub fn rfc3339(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{d:02}T{h:02}:{m:02}:{s:02}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_known_points() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_237_200), "2026-11-21T05:00:00Z");
    }
}
