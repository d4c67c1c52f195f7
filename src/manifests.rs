//! A rendered manifest stream (what `helm template` or `helm get manifest` prints) -> findings.
//!
//! The stream is split into documents the way Helm splits it (a line starting with `---`).
//! A document that cannot name an image (no `image` in any case, and not a ConfigMap or Secret) or that
//! is a CustomResourceDefinition is counted and skipped without parsing: on real charts most
//! bytes are CRD schemas, and skipping them is what makes a 50 MB stream take milliseconds.
//!
//! What is found, and how sure:
//! - certain: `image` of containers, initContainers and ephemeralContainers of any pod spec,
//!   wherever it sits (Pod, Deployment, CronJob, any CRD embedding a pod template); image
//!   volumes (`volumes[].image.reference`); `spec.image` and `spec.thanos.image` of the
//!   Prometheus operator's resources.
//! - likely: container args (`--x-image=REF`, `--prometheus-config-reloader=REF`, also as two
//!   arguments), env (`*_IMAGE`, `RELATED_IMAGE_*`), ConfigMap data, and any other field named
//!   `image` or `*Image` holding a reference or a `{registry, repository, tag}` map.

mod embedded;
mod stream;
mod walker;

pub use stream::{Document, split};
pub use walker::{INJECTED_SENTINEL, POSTRENDER_FILENAME};

use crate::inventory::{Finding, Injected};
use crate::yaml::{self, Budget};
use memchr::memmem;
use std::fmt;
use walker::Walker;

/// What was wrong with a stream, naming the document and its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestError {
    pub document: usize,
    pub line: u32,
    pub template: Option<String>,
    pub message: String,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "document {} (line {}", self.document, self.line)?;
        if let Some(t) = &self.template {
            write!(f, ", from {t}")?;
        }
        write!(f, "): {}", self.message)
    }
}

impl std::error::Error for ManifestError {}

/// The result of scanning a stream.
#[derive(Debug, Clone, Default)]
pub struct Scan {
    pub findings: Vec<Finding>,
    /// Containers whose image a webhook sets at admission (`image: auto`).
    pub injected: Vec<Injected>,
    /// Documents in the stream (empty ones not counted).
    pub documents: usize,
}

/// Scans a whole stream.
pub fn scan(stream: &str) -> Result<Scan, ManifestError> {
    let mut scan = Scan::default();
    for (index, doc) in split(stream).into_iter().enumerate() {
        scan.documents += 1;
        scan_document(&doc, index + 1, &mut scan)?;
    }
    Ok(scan)
}

/// How much of a document must be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Depth {
    /// It may name images: parse it and walk it.
    Walk,
    /// It cannot name one (it never says "image" in any case and is not a ConfigMap or Secret): only
    /// check that it is YAML.
    Validate,
    /// A CustomResourceDefinition: schemas name no image to pull, and they are most of the
    /// bytes of real charts. Only its shape is checked (a `kind:` line at the top level).
    Skip,
}

fn depth(text: &str) -> Depth {
    match top_level_kind(text) {
        Some("CustomResourceDefinition") => Depth::Skip,
        Some("ConfigMap" | "Secret" | "List") => Depth::Walk,
        _ if mentions_image(text.as_bytes()) => Depth::Walk,
        _ => Depth::Validate,
    }
}

fn mentions_image(bytes: &[u8]) -> bool {
    let lower =
        memmem::find_iter(bytes, b"mage").any(|p| p > 0 && matches!(bytes[p - 1], b'i' | b'I'));
    lower || memmem::find(bytes, b"IMAGE").is_some()
}

/// The value of a `kind:` line at column 0, read without parsing.
fn top_level_kind(text: &str) -> Option<&str> {
    let bytes = text.as_bytes();
    for pos in memmem::find_iter(bytes, b"kind:") {
        if pos == 0 || bytes[pos - 1] == b'\n' {
            let rest = &text[pos + 5..];
            let end = rest.find('\n').unwrap_or(rest.len());
            let value = rest[..end].trim().trim_matches(|c| c == '"' || c == '\'');
            let value = value.split(" #").next().unwrap_or(value).trim();
            return Some(value);
        }
    }
    None
}

/// Scans one document, appending its findings.
pub fn scan_document(
    doc: &Document<'_>,
    number: usize,
    out: &mut Scan,
) -> Result<(), ManifestError> {
    let error = |line: u32, message: String| ManifestError {
        document: number,
        line,
        template: doc.template.map(str::to_owned),
        message,
    };
    let not_yaml = |e: yaml::YamlError| {
        error(
            e.line,
            format!(
                "not valid YAML: {} (column {}); check the template that produced it",
                e.message, e.column
            ),
        )
    };
    match depth(doc.text) {
        Depth::Skip => return Ok(()),
        Depth::Validate => return yaml::validate(doc.text, doc.line).map_err(not_yaml),
        Depth::Walk => {}
    }
    let roots =
        yaml::parse_documents(doc.text, doc.line, Budget::for_text(doc.text)).map_err(not_yaml)?;
    for root in &roots {
        if root.as_map().is_none() {
            continue;
        }
        Walker::new(doc, number, out, root)
            .object_root(root)
            .map_err(|(line, m)| error(line, m))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
