//! The text of a [`CopyReport`] (copy and import): one line an image and a chart with what
//! the policy and the signer did ([`print`]), the `--dry-run` plan ([`print_plan`]), and
//! [`print_copy`], which picks JSON or text and the exit code; [`tags_note`] says what a
//! registry that cannot list tags left unseen.

use std::process::ExitCode;

use super::copy_report::{ChartRow, CopyReport, ImageRow, UnresolvedRow};
use super::scan_gate::PlatformScan;
use crate::copy::TagsUnlisted;

impl ImageRow {
    /// `STATE SOURCE -> DESTINATION (why)`, then what the policy and the signer did.
    fn line(&self) -> String {
        format!(
            "{:8} {} -> {}{}{}",
            self.state,
            self.source,
            self.destination,
            why(&self.message),
            trust_notes(&self.verified, &self.signed)
        ) + &scan_notes(&self.scan)
            + &patch_notes(self)
    }
}

/// `\n         scanned PLATFORM: C critical, H high, M medium, L low (F fixable)` lines.
pub(super) fn scan_notes(scans: &[PlatformScan]) -> String {
    scans
        .iter()
        .map(|s| {
            format!(
                "\n         scanned {}: {}{}",
                s.platform,
                s.vulnerabilities,
                s.sbom
                    .as_ref()
                    .map(|d| format!("; SBOM {d} attached"))
                    .unwrap_or_default()
            )
        })
        .collect()
}

/// `\n         patched -> REF@DIGEST` (or the state and why), then its details.
fn patch_notes(row: &ImageRow) -> String {
    let Some(patch) = &row.patch else {
        return String::new();
    };
    let mut out = format!("\n         {}", patch.verdict());
    for line in patch.details() {
        out.push_str("\n         ");
        out.push_str(&line);
    }
    out
}

impl UnresolvedRow {
    /// `unresolved likely image SOURCE (left out): REASON`, then `  found at PLACE` lines.
    fn line(&self) -> String {
        crate::confirm::describe(&self.source, &self.reason, &self.found_at)
    }
}

impl ChartRow {
    /// `STATE chart NAME VERSION -> DESTINATION (why)`, then what the policy and the
    /// signer did.
    fn line(&self) -> String {
        format!(
            "{:8} chart {} {} -> {}{}{}",
            self.state,
            self.name,
            self.version,
            self.destination,
            why(&self.message),
            trust_notes(&self.verified, &self.signed)
        )
    }
}

/// `\n         verified: …` and `\n         signed: …` lines under a report line.
fn trust_notes(verified: &Option<String>, signed: &Option<String>) -> String {
    let mut out = String::new();
    if let Some(v) = verified {
        out.push_str(&format!("\n         verified: {v}"));
    }
    if let Some(s) = signed {
        out.push_str(&format!("\n         signed at the target: {s}"));
    }
    out
}

/// `  (message)` after a report line, when there is one.
fn why(message: &Option<String>) -> String {
    message
        .as_deref()
        .map(|m| format!("  ({m})"))
        .unwrap_or_default()
}

/// Text for a terminal or a pipe: one line an image and a chart, then the totals.
pub fn print(report: &CopyReport) {
    for line in report
        .images
        .iter()
        .map(ImageRow::line)
        .chain(report.charts.iter().map(ChartRow::line))
        .chain(report.unresolved.iter().map(UnresolvedRow::line))
    {
        eprintln!("{line}");
    }
    for note in notes(report) {
        eprintln!("{note}");
    }
    let count = |s: &str| report.images.iter().filter(|r| r.state == s).count();
    eprintln!(
        "{} images: {} copied, {} present, {} missing, {} failed{}{}{}; {} unique blobs ({} uploaded, {} mounted, {} present), {} of {} bytes sent; {} requests to the target",
        report.images.len(),
        count("copied"),
        count("present"),
        count("missing"),
        count("failed"),
        match count("refused") {
            0 => String::new(),
            n => format!(", {n} refused by the signature policy"),
        },
        match count("blocked") {
            0 => String::new(),
            n => format!(", {n} blocked by the scan gate"),
        },
        match report.unresolved.len() {
            0 => String::new(),
            n => format!(" ({n} unresolved likely left out)"),
        },
        report.blobs.unique,
        report.blobs.uploaded,
        report.blobs.mounted,
        report.blobs.present,
        report.bytes.uploaded,
        report.bytes.unique,
        report.requests.target,
    );
    let patched: Vec<&str> = report
        .images
        .iter()
        .filter_map(|r| r.patch.as_ref().map(|p| p.state))
        .collect();
    if !patched.is_empty() {
        let count = |s: &str| patched.iter().filter(|p| **p == s).count();
        eprintln!(
            "patched: {} patched, {} nothing fixable, {} not patchable, {} failed",
            count("patched"),
            count("nothing-fixable"),
            count("not-patchable"),
            count("failed")
        );
    }
}

/// The `--dry-run` text: what would be created and moved.
pub fn print_plan(report: &CopyReport) {
    println!(
        "repositories at the target ({}):",
        report.repositories.len()
    );
    for r in &report.repositories {
        println!("  {r}");
    }
    println!("images ({}):", report.images.len());
    for line in report
        .images
        .iter()
        .map(ImageRow::line)
        .chain(report.charts.iter().map(ChartRow::line))
    {
        println!("  {line}");
    }
    for note in notes(report) {
        println!("  {note}");
    }
    if !report.unresolved.is_empty() {
        println!(
            "unresolved likely images, left out ({}):",
            report.unresolved.len()
        );
        for u in &report.unresolved {
            println!("  {}", u.line().replace('\n', "\n  "));
        }
    }
    println!(
        "{} unique blobs, {} bytes to move at most (blobs the target has are skipped)",
        report.blobs.unique, report.bytes.unique
    );
}

/// A copy's or an import's report, as JSON or text; exit 1 unless complete.
pub(super) fn print_copy(
    (report, dry_run): (CopyReport, bool),
    json: bool,
) -> Result<ExitCode, String> {
    match (json, dry_run) {
        (true, _) => println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("report serialises")
        ),
        (false, true) => print_plan(&report),
        (false, false) => print(&report),
    }
    Ok(if report.complete || dry_run {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `note: IMAGE: REGISTRY cannot list tags (…), so cosign tag-based signatures … were not
/// looked for; referrers were`: what a copy or an export of `image` left unseen.
pub(super) fn tags_note(image: &str, u: &TagsUnlisted) -> String {
    format!(
        "note: {image}: {} cannot list tags ({}), so cosign tag-based signatures and \
         attestations (sha256-<digest>.sig, .att, .sbom) were not looked for; {}",
        u.registry,
        u.reason,
        if u.referrers {
            "referrers were"
        } else {
            "nor were referrers (it has no referrers API, and their sha256-<digest> fallback tag \
             is found through the tag list)"
        }
    )
}

/// One [`tags_note`] per image whose registry would not list tags.
fn notes(report: &CopyReport) -> Vec<String> {
    report
        .images
        .iter()
        .filter_map(|r| Some(tags_note(&r.source, r.tags_unlisted.as_ref()?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::tags_note;
    use crate::copy::TagsUnlisted;

    #[test]
    fn the_note_says_what_was_and_was_not_looked_for() {
        let mut u = TagsUnlisted {
            registry: "registry.example".to_owned(),
            reason: "denied".to_owned(),
            referrers: true,
        };
        assert_eq!(
            tags_note("registry.example/app:1.0", &u),
            "note: registry.example/app:1.0: registry.example cannot list tags (denied), so \
             cosign tag-based signatures and attestations (sha256-<digest>.sig, .att, .sbom) \
             were not looked for; referrers were"
        );
        u.referrers = false;
        assert!(tags_note("registry.example/app:1.0", &u).ends_with(
            "were not looked for; nor were referrers (it has no referrers API, and their \
             sha256-<digest> fallback tag is found through the tag list)"
        ));
    }
}
