//! `helm mirror verify-signatures CHART... --policy POLICY`: what `copy --verify` would let
//! through, without copying — every image of the charts (and oci:// charts themselves)
//! checked against the signature policy at its source, chart archives against `--keyring`.
//!
//! [`VerifySignaturesArgs`] is what the user typed; [`run`] returns a
//! [`SignaturesReport`]; [`print`] is the text form, [`command`] picks JSON or text.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use serde::Serialize;

use super::args::{RegistryArgs, SelectArgs};
use super::charts::{Carried, load};
use super::signatures::{self, Checked};
use crate::render::RenderFlags;
use crate::store::RegistryStore;
use crate::trust::verify::{Verdict, Verifier};

#[derive(Args)]
pub struct VerifySignaturesArgs {
    /// Charts: directories, .tgz files, repo/name, oci:// or https:// references.
    #[arg(required = true, value_name = "CHART")]
    pub charts: Vec<String>,
    /// The signature policy (see the README's "Signatures").
    #[arg(long, value_name = "POLICY")]
    pub policy: PathBuf,
    /// Also check chart archives' Helm provenance (.prov) against this OpenPGP keyring.
    #[arg(long, value_name = "KEYRING")]
    pub keyring: Option<PathBuf>,
    /// Release name used to render.
    #[arg(long, default_value = "release")]
    pub release: String,
    #[command(flatten)]
    pub render: RenderFlags,
    #[command(flatten)]
    pub select: SelectArgs,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// One image's or chart's verdict.
#[derive(Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct VerdictRow {
    /// The image (or oci:// chart) reference, or `chart NAME-VERSION.tgz`.
    pub subject: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// `verified`, `unsigned` (allowed by if-signed), `skipped`, `unchecked` (no rule, or
    /// not found at its source), `refused`.
    pub state: &'static str,
    pub detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub signatures: Vec<purser::lock::VerifiedSignature>,
}

#[derive(Serialize, Debug)]
pub struct SignaturesReport {
    /// Nothing refused.
    pub passed: bool,
    pub policy: String,
    pub rows: Vec<VerdictRow>,
}

pub async fn run(args: VerifySignaturesArgs) -> Result<SignaturesReport, String> {
    let verifier = Verifier::load(&args.policy)?;
    let loaded = load(
        &args.charts,
        &args.release,
        &args.render,
        &args.select,
        &args.registry,
        |id| {
            purser::reference::Reference::parse(&format!("localhost/charts/{}", id.name))
                .map_err(|e| e.reason().to_owned())
        },
    )?;
    let mut loaded = loaded;
    for chart in &mut loaded.charts {
        if let Carried::Oci(r) = &chart.carried {
            chart.destination = r.clone();
        }
    }
    let (requests, _) = loaded.requests(|r| Ok(r.clone()), None)?;
    let source = Arc::new(RegistryStore::source(args.registry.client()?));
    let mut checked = signatures::check(
        &verifier,
        source.as_ref(),
        requests.clone(),
        args.registry.concurrency,
    )
    .await;
    if let Some(path) = &args.keyring {
        let keyring =
            std::fs::read(path).map_err(|e| format!("keyring {}: {e}", path.display()))?;
        signatures::check_provenance(&mut checked, std::mem::take(&mut loaded.charts), &keyring);
    }
    Ok(report(&verifier, &requests, &checked))
}

/// One row per request (in order), then one per chart archive checked.
fn report(
    verifier: &Verifier,
    requests: &[crate::copy::ImageRequest],
    checked: &Checked,
) -> SignaturesReport {
    let mut rows = Vec::new();
    for request in requests {
        let subject = request.source.canonical();
        let refused = checked
            .refused
            .iter()
            .find(|(r, _, _)| r.source == request.source);
        let row = match (checked.verdicts.get(&subject), refused) {
            (_, Some((_, digest, reason))) => VerdictRow {
                subject,
                digest: digest.as_ref().map(ToString::to_string),
                state: "refused",
                detail: reason.clone(),
                signatures: Vec::new(),
            },
            (Some(v), None) => VerdictRow {
                subject,
                digest: v.signatures().first().map(|s| s.digest.clone()),
                state: match v {
                    Verdict::Verified { .. } => "verified",
                    Verdict::Unsigned { .. } => "unsigned",
                    Verdict::Skipped { .. } => "skipped",
                    Verdict::NoRule | Verdict::Refused { .. } => "unchecked",
                },
                detail: v.summary(),
                signatures: v.signatures().to_vec(),
            },
            (None, None) => VerdictRow {
                subject,
                digest: None,
                state: "unchecked",
                detail: "not found at its source".to_owned(),
                signatures: Vec::new(),
            },
        };
        rows.push(row);
    }
    let mut provenance: Vec<_> = checked.provenance.iter().collect();
    provenance.sort();
    for (destination, verdict) in provenance {
        let name = destination
            .rsplit('/')
            .next()
            .unwrap_or(destination)
            .to_owned();
        rows.push(VerdictRow {
            subject: format!("chart {name}"),
            digest: None,
            state: if verdict.is_ok() {
                "verified"
            } else {
                "refused"
            },
            detail: match verdict {
                Ok(s) | Err(s) => s.clone(),
            },
            signatures: Vec::new(),
        });
    }
    SignaturesReport {
        passed: rows.iter().all(|r| r.state != "refused"),
        policy: verifier.source().to_owned(),
        rows,
    }
}

/// `STATE SUBJECT@DIGEST` then the detail, one image a line pair, then the count.
pub fn print(report: &SignaturesReport) {
    for r in &report.rows {
        println!(
            "{:9} {}{}\n          {}",
            r.state,
            r.subject,
            r.digest
                .as_deref()
                .map(|d| format!("@{d}"))
                .unwrap_or_default(),
            r.detail
        );
    }
    let refused = report.rows.iter().filter(|r| r.state == "refused").count();
    println!(
        "{} checked against {}: {} verified, {} refused",
        report.rows.len(),
        report.policy,
        report.rows.iter().filter(|r| r.state == "verified").count(),
        refused
    );
}

/// `helm mirror verify-signatures`: the run, then its report as JSON or text; exit 1 if any
/// is refused.
pub async fn command(args: VerifySignaturesArgs) -> Result<ExitCode, String> {
    let json = args.json;
    let report = run(args).await?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("report serialises")
        );
    } else {
        print(&report);
    }
    Ok(if report.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
