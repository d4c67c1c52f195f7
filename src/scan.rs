//! What a vulnerability scan found, as purser decides with it: [`ScanSummary`], read from a
//! Trivy JSON report by [`ScanSummary::from_trivy_json`] (purser drives the real Trivy and
//! never scans itself), its [`Counts`] per [`Severity`], and the [`Gate`] of `--fail-on`,
//! which names the findings that stop an image. No I/O here: the native crate runs Trivy and
//! hands the report's bytes over.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A finding's severity, in Trivy's words; ordered, `Unknown` lowest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    Unknown,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 5] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Unknown,
    ];

    /// `CRITICAL`, `high`, … (any case), as `--fail-on` and Trivy's reports spell them.
    pub fn parse(text: &str) -> Option<Severity> {
        Some(match text.to_ascii_uppercase().as_str() {
            "UNKNOWN" => Severity::Unknown,
            "LOW" => Severity::Low,
            "MEDIUM" => Severity::Medium,
            "HIGH" => Severity::High,
            "CRITICAL" => Severity::Critical,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Unknown => "UNKNOWN",
            Severity::Low => "LOW",
            Severity::Medium => "MEDIUM",
            Severity::High => "HIGH",
            Severity::Critical => "CRITICAL",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One vulnerability in one installed package, as one row of Trivy's table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// `CVE-2024-1234`, `GHSA-…`.
    pub id: String,
    pub package: String,
    pub installed: String,
    /// The first version that fixes it, where the distribution has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fixed: Option<String>,
    pub severity: Severity,
    /// What Trivy scanned to find it: `IMAGE (alpine 3.19.1)`, a language lock file.
    pub target: String,
    /// A package of the OS's package manager (Trivy's class `os-pkgs`), which patching can
    /// replace; language packages are not.
    #[serde(skip)]
    pub os_package: bool,
}

impl Finding {
    /// A fixed version exists.
    pub fn fixable(&self) -> bool {
        self.fixed.is_some()
    }
}

/// How many findings of each severity, and how many of them can be fixed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    pub critical: usize,
    pub high: usize,
    pub medium: usize,
    pub low: usize,
    pub unknown: usize,
    pub fixable: usize,
}

impl Counts {
    pub fn of(&self, severity: Severity) -> usize {
        match severity {
            Severity::Critical => self.critical,
            Severity::High => self.high,
            Severity::Medium => self.medium,
            Severity::Low => self.low,
            Severity::Unknown => self.unknown,
        }
    }

    fn add(&mut self, finding: &Finding) {
        *match finding.severity {
            Severity::Critical => &mut self.critical,
            Severity::High => &mut self.high,
            Severity::Medium => &mut self.medium,
            Severity::Low => &mut self.low,
            Severity::Unknown => &mut self.unknown,
        } += 1;
        if finding.fixable() {
            self.fixable += 1;
        }
    }

    pub fn total(&self) -> usize {
        self.critical + self.high + self.medium + self.low + self.unknown
    }
}

/// `1 critical, 2 high, 0 medium, 0 low (2 fixable)`, as the reports print counts.
impl fmt::Display for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} critical, {} high, {} medium, {} low ({} fixable)",
            self.critical, self.high, self.medium, self.low, self.fixable
        )
    }
}

/// What one scan of one platform manifest found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScanSummary {
    /// `alpine 3.19.1`, `debian 12.5`; `None` where Trivy recognised no OS.
    pub os: Option<String>,
    pub findings: Vec<Finding>,
}

/// Why a report is not one purser can read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportError {
    /// Not JSON, or not in the shape of Trivy's `--format json` (the detail says where).
    Unreadable(String),
    /// A finding whose severity is none of Trivy's five.
    Severity { id: String, severity: String },
}

impl fmt::Display for ReportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReportError::Unreadable(detail) => {
                write!(f, "not a Trivy JSON report (trivy --format json): {detail}")
            }
            ReportError::Severity { id, severity } => write!(
                f,
                "finding {id} has severity {severity:?}, none of CRITICAL, HIGH, MEDIUM, LOW, UNKNOWN"
            ),
        }
    }
}

impl std::error::Error for ReportError {}

// The part of Trivy's report (SchemaVersion 2) purser reads; everything else is kept in the
// report file as Trivy wrote it.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Report {
    schema_version: u32,
    #[serde(default)]
    metadata: ReportMetadata,
    #[serde(default)]
    results: Vec<ReportResult>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct ReportMetadata {
    #[serde(default, rename = "OS")]
    os: Option<ReportOs>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ReportOs {
    family: String,
    #[serde(default)]
    name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ReportResult {
    target: String,
    #[serde(default)]
    class: String,
    #[serde(default)]
    vulnerabilities: Option<Vec<ReportVulnerability>>,
}

#[derive(Deserialize)]
struct ReportVulnerability {
    #[serde(rename = "VulnerabilityID")]
    id: String,
    #[serde(rename = "PkgName")]
    package: String,
    #[serde(rename = "InstalledVersion", default)]
    installed: String,
    #[serde(rename = "FixedVersion", default)]
    fixed: String,
    #[serde(rename = "Severity", default)]
    severity: String,
}

impl ScanSummary {
    /// Reads a report of `trivy image --format json` (schema version 2).
    pub fn from_trivy_json(bytes: &[u8]) -> Result<ScanSummary, ReportError> {
        let report: Report =
            serde_json::from_slice(bytes).map_err(|e| ReportError::Unreadable(e.to_string()))?;
        if report.schema_version != 2 {
            return Err(ReportError::Unreadable(format!(
                "SchemaVersion {}, purser reads 2",
                report.schema_version
            )));
        }
        let mut findings = Vec::new();
        for result in report.results {
            for v in result.vulnerabilities.unwrap_or_default() {
                let severity =
                    Severity::parse(&v.severity).ok_or_else(|| ReportError::Severity {
                        id: v.id.clone(),
                        severity: v.severity.clone(),
                    })?;
                findings.push(Finding {
                    id: v.id,
                    package: v.package,
                    installed: v.installed,
                    fixed: (!v.fixed.is_empty()).then_some(v.fixed),
                    severity,
                    target: result.target.clone(),
                    os_package: result.class == "os-pkgs",
                });
            }
        }
        let os = report.metadata.os.map(|os| {
            if os.name.is_empty() {
                os.family
            } else {
                format!("{} {}", os.family, os.name)
            }
        });
        Ok(ScanSummary { os, findings })
    }

    pub fn counts(&self) -> Counts {
        let mut counts = Counts::default();
        for finding in &self.findings {
            counts.add(finding);
        }
        counts
    }
}

/// `--fail-on SEVERITY` (with `--ignore-unfixed`): which findings stop an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gate {
    pub fail_on: Severity,
    /// Findings with no fixed version do not count (they stay in the report).
    pub ignore_unfixed: bool,
}

impl Gate {
    /// The findings at or over the threshold, most severe first; empty when the image passes.
    pub fn offending<'a>(&self, summary: &'a ScanSummary) -> Vec<&'a Finding> {
        let mut hits: Vec<&Finding> = summary
            .findings
            .iter()
            .filter(|f| f.severity >= self.fail_on && (f.fixable() || !self.ignore_unfixed))
            .collect();
        hits.sort_by(|a, b| b.severity.cmp(&a.severity).then_with(|| a.id.cmp(&b.id)));
        hits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The shape of Trivy 0.76's `trivy image --format json` (trimmed: Trivy writes many more
    // fields, which purser leaves alone).
    const REPORT: &str = r#"{
      "SchemaVersion": 2,
      "ArtifactName": "127.0.0.1:5000/acme/vuln@sha256:00",
      "Metadata": {"OS": {"Family": "alpine", "Name": "3.19.1"}},
      "Results": [
        {"Target": "127.0.0.1:5000/acme/vuln (alpine 3.19.1)", "Class": "os-pkgs",
         "Vulnerabilities": [
           {"VulnerabilityID": "CVE-2099-0001", "PkgName": "libssl3",
            "InstalledVersion": "3.1.4-r1", "FixedVersion": "3.1.4-r5", "Severity": "HIGH"},
           {"VulnerabilityID": "CVE-2099-0002", "PkgName": "libssl3",
            "InstalledVersion": "3.1.4-r1", "FixedVersion": "3.1.4-r6", "Severity": "MEDIUM"},
           {"VulnerabilityID": "CVE-2099-0003", "PkgName": "busybox",
            "InstalledVersion": "1.36.1-r15", "Severity": "CRITICAL"}
         ]},
        {"Target": "app/go.mod", "Class": "lang-pkgs"}
      ]
    }"#;

    #[test]
    fn counts_severities_and_fixable_findings() {
        let summary = ScanSummary::from_trivy_json(REPORT.as_bytes()).unwrap();
        assert_eq!(summary.os.as_deref(), Some("alpine 3.19.1"));
        let counts = summary.counts();
        assert_eq!(
            counts,
            Counts {
                critical: 1,
                high: 1,
                medium: 1,
                low: 0,
                unknown: 0,
                fixable: 2
            }
        );
        assert_eq!(counts.total(), 3);
        assert_eq!(summary.findings[2].fixed, None);
    }

    #[test]
    fn the_gate_names_findings_at_or_over_the_threshold() {
        let summary = ScanSummary::from_trivy_json(REPORT.as_bytes()).unwrap();
        let high = Gate {
            fail_on: Severity::High,
            ignore_unfixed: false,
        };
        let ids: Vec<_> = high.offending(&summary).iter().map(|f| &f.id).collect();
        assert_eq!(ids, ["CVE-2099-0003", "CVE-2099-0001"]);
        let fixable_only = Gate {
            ignore_unfixed: true,
            ..high
        };
        let ids: Vec<_> = fixable_only
            .offending(&summary)
            .iter()
            .map(|f| &f.id)
            .collect();
        assert_eq!(ids, ["CVE-2099-0001"]);
        let critical_fixable = Gate {
            fail_on: Severity::Critical,
            ignore_unfixed: true,
        };
        assert!(critical_fixable.offending(&summary).is_empty());
    }

    #[test]
    fn a_clean_image_and_an_image_without_an_os() {
        let clean =
            r#"{"SchemaVersion": 2, "Metadata": {}, "Results": [{"Target": "x (debian 12.5)"}]}"#;
        let summary = ScanSummary::from_trivy_json(clean.as_bytes()).unwrap();
        assert_eq!(summary.os, None);
        assert_eq!(summary.counts().total(), 0);
        let gate = Gate {
            fail_on: Severity::Low,
            ignore_unfixed: false,
        };
        assert!(gate.offending(&summary).is_empty());
    }

    #[test]
    fn what_is_not_a_trivy_report_is_refused() {
        let err = ScanSummary::from_trivy_json(b"<html>").unwrap_err();
        assert!(matches!(err, ReportError::Unreadable(_)), "{err}");
        let err = ScanSummary::from_trivy_json(br#"{"SchemaVersion": 1}"#).unwrap_err();
        assert!(err.to_string().contains("SchemaVersion 1"), "{err}");
        let odd = r#"{"SchemaVersion": 2, "Results": [{"Target": "t", "Vulnerabilities": [
            {"VulnerabilityID": "CVE-1", "PkgName": "p", "Severity": "SEVERE"}]}]}"#;
        let err = ScanSummary::from_trivy_json(odd.as_bytes()).unwrap_err();
        assert_eq!(
            err,
            ReportError::Severity {
                id: "CVE-1".into(),
                severity: "SEVERE".into()
            }
        );
    }

    #[test]
    fn severities_order_and_parse_in_any_case() {
        assert!(Severity::Critical > Severity::High && Severity::Low > Severity::Unknown);
        assert_eq!(Severity::parse("high"), Some(Severity::High));
        assert_eq!(Severity::parse("bad"), None);
    }
}
