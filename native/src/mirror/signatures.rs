//! Signatures in the mirror commands: the flags ([`VerifyFlags`]: `--verify POLICY`,
//! [`SignFlags`]: `--sign-key KEY`), the check of every request against the policy before a
//! plan is made ([`check`], giving [`Checked`]), the verdicts written into a report
//! ([`Checked::apply`]) and the mirror's own signatures at the target after a copy
//! ([`sign_report`]). The trust logic itself is [`crate::trust`].

use std::collections::HashMap;
use std::path::PathBuf;

use clap::Args;
use futures_util::StreamExt;
use purser::digest::Digest;
use purser::lock::VerifiedSignature;
use purser::plan::Repository;

use super::charts::{Carried, LoadedChart};
use super::copy_report::{ChartRow, CopyReport, ImageRow};
use crate::copy::ImageRequest;
use crate::store::Store;
use crate::trust::provenance;
use crate::trust::sign::{SignatureFormat, Signer};
use crate::trust::verify::{Verdict, Verifier};

/// Checks on the way in (copy, export, import).
#[derive(Args, Clone, Default)]
pub struct VerifyFlags {
    /// Check every image's and chart's cosign signatures against this signature policy
    /// before copying; what fails its policy is not copied (see the README's "Signatures").
    #[arg(long, value_name = "POLICY")]
    pub verify: Option<PathBuf>,
    /// Check each chart archive's Helm provenance (.prov) against this OpenPGP keyring, as
    /// `helm verify --keyring` does; a chart without one, or not signed by a key of it, is not
    /// copied.
    #[arg(long, value_name = "KEYRING")]
    pub keyring: Option<PathBuf>,
}

impl VerifyFlags {
    /// The policy with its keys, when `--verify` was given.
    pub fn verifier(&self) -> Result<Option<Verifier>, String> {
        self.verify.as_deref().map(Verifier::load).transpose()
    }

    /// The keyring's bytes, when `--keyring` was given.
    pub fn keyring(&self) -> Result<Option<Vec<u8>>, String> {
        self.keyring
            .as_deref()
            .map(|k| std::fs::read(k).map_err(|e| format!("keyring {}: {e}", k.display())))
            .transpose()
    }
}

/// Signing on the way out (copy, import).
#[derive(Args, Clone)]
pub struct SignFlags {
    /// Sign every copied image and chart at the target with this key: cosign.key (its
    /// password from COSIGN_PASSWORD, as cosign reads it) or an unencrypted PEM key.
    #[arg(long, value_name = "KEY")]
    pub sign_key: Option<PathBuf>,
    /// `bundle`: a Sigstore bundle referrer (cosign v3's default); `legacy`: the
    /// `sha256-<hex>.sig` tag (cosign v2's default), added to the signers already there.
    #[arg(long, value_enum, default_value = "bundle", requires = "sign_key")]
    pub signature_format: SignatureFormat,
    /// Also sign each platform manifest of a multi-platform image, not only its index.
    #[arg(long, requires = "sign_key")]
    pub sign_recursive: bool,
}

impl SignFlags {
    /// The signer, when `--sign-key` was given.
    pub fn signer(&self, now_unix: i64) -> Result<Option<Signer>, String> {
        self.sign_key
            .as_deref()
            .map(|k| Signer::load(k, self.signature_format, self.sign_recursive, now_unix))
            .transpose()
    }
}

/// The requests a policy let through, the ones it refused, and every verdict.
#[derive(Default)]
pub struct Checked {
    pub kept: Vec<ImageRequest>,
    /// Refused: the request, the digest checked (when it could be read), why.
    pub refused: Vec<(ImageRequest, Option<Digest>, String)>,
    /// By canonical source reference.
    pub verdicts: HashMap<String, Verdict>,
    /// Source (canonical) by destination (canonical), for chart rows.
    sources: HashMap<String, String>,
    /// Chart archives' provenance, by destination: who signed, or why refused.
    pub provenance: HashMap<String, Result<String, String>>,
    /// Chart archives refused by their provenance: which, and where they were to go.
    pub refused_charts: Vec<(purser::lock::ChartId, String)>,
}

/// The repository name policy patterns match: `registry/repository`.
#[must_use]
pub fn policy_name(r: &purser::reference::Reference) -> String {
    Repository::from_reference(r).to_string()
}

/// Checks each request's source digest (the lock's pin, else what its tag names now) in
/// `store` against the policy. A request whose digest cannot be found is kept: the plan
/// reports it missing.
pub async fn check<S: Store>(
    verifier: &Verifier,
    store: &S,
    requests: Vec<ImageRequest>,
    concurrency: usize,
) -> Checked {
    let verdicts: Vec<_> =
        futures_util::stream::iter(requests.into_iter().map(|request| async move {
            let repo = Repository::from_reference(&request.source);
            let name = policy_name(&request.source);
            let digest = match &request.locked {
                Some(d) => Ok(Some(d.clone())),
                None => {
                    let reference = request
                        .source
                        .digest()
                        .or(request.source.tag())
                        .unwrap_or("latest");
                    store.manifest_head(&repo, reference).await
                }
            };
            let verdict = match digest {
                Ok(Some(d)) => {
                    let v = verifier.check(store, &repo, &name, &d).await;
                    Some((Some(d), v))
                }
                // Not there: the plan reports it missing.
                Ok(None) => None,
                // Unreadable now: what the policy checks is not copied unchecked.
                Err(e) => verifier.rule_index(&name).map(|rule| {
                    (
                        None,
                        Verdict::Refused {
                            rule,
                            reason: format!(
                                "its digest cannot be read to check its signatures: {e}"
                            ),
                        },
                    )
                }),
            };
            (request, verdict)
        }))
        .buffered(concurrency.max(1))
        .collect()
        .await;
    let mut out = Checked::default();
    for (request, verdict) in verdicts {
        out.sources
            .insert(request.destination.canonical(), request.source.canonical());
        match verdict {
            Some((digest, Verdict::Refused { reason, rule })) => {
                out.verdicts.insert(
                    request.source.canonical(),
                    Verdict::Refused {
                        reason: reason.clone(),
                        rule,
                    },
                );
                out.refused.push((request, digest, reason));
            }
            Some((_, v)) => {
                out.verdicts.insert(request.source.canonical(), v);
                out.kept.push(request);
            }
            None => out.kept.push(request),
        }
    }
    out
}

/// Checks every chart archive's `.prov` against `keyring`; the charts that pass (and the
/// oci:// ones, which `--verify` checks as images) are returned, the verdicts kept in
/// `checked`.
pub fn check_provenance(
    checked: &mut Checked,
    charts: Vec<LoadedChart>,
    keyring: &[u8],
) -> Vec<LoadedChart> {
    let mut kept = Vec::new();
    for chart in charts {
        let Carried::Archive(_, archive, prov) = &chart.carried else {
            kept.push(chart);
            continue;
        };
        let name = format!("{}-{}.tgz", chart.id.name, chart.id.version);
        let verdict = match prov {
            None => Err(format!(
                "chart {name}: no provenance file ({name}.prov) to check against --keyring; sign it with `helm package --sign` or leave out --keyring"
            )),
            Some(prov) => provenance::verify_provenance(archive, &name, prov, keyring)
                .map(|s| format!("provenance signed by {} (key {})", s.user_id, s.fingerprint))
                .map_err(|e| format!("chart {name}: {e}")),
        };
        let pass = verdict.is_ok();
        checked
            .provenance
            .insert(chart.destination.canonical(), verdict);
        if pass {
            kept.push(chart);
        } else {
            checked
                .refused_charts
                .push((chart.id.clone(), chart.destination.canonical()));
        }
    }
    kept
}

/// The requests `verifier` (if any) lets through, and what it made of all of them.
pub async fn let_through<S: Store>(
    verifier: Option<&Verifier>,
    store: &S,
    requests: Vec<ImageRequest>,
    concurrency: usize,
) -> (Vec<ImageRequest>, Checked) {
    match verifier {
        Some(v) => {
            let mut checked = check(v, store, requests, concurrency).await;
            (std::mem::take(&mut checked.kept), checked)
        }
        None => (requests, Checked::default()),
    }
}

impl Checked {
    /// The verdicts into the report's rows; refused requests as `refused` rows (charts among
    /// them, `chart_destinations`, as chart rows); the report is incomplete if any was
    /// refused.
    pub fn apply(&self, report: &mut CopyReport, chart_names: &HashMap<String, (String, String)>) {
        for row in &mut report.images {
            if let Some(v) = self.verdicts.get(&row.source) {
                row.verified = Some(v.summary());
                row.signatures = v.signatures().to_vec();
            }
        }
        for row in &mut report.charts {
            if let Some(Ok(signer)) = self.provenance.get(&row.destination) {
                row.verified = Some(signer.clone());
            }
            if let Some(v) = self
                .sources
                .get(&row.destination)
                .and_then(|s| self.verdicts.get(s))
            {
                row.verified = Some(v.summary());
            }
        }
        for (id, destination) in &self.refused_charts {
            report.charts.push(ChartRow {
                name: id.name.clone(),
                version: id.version.clone(),
                destination: destination.clone(),
                digest: None,
                state: "refused",
                message: self
                    .provenance
                    .get(destination)
                    .and_then(|v| v.clone().err()),
                verified: None,
                signed: None,
            });
        }
        for (request, digest, reason) in &self.refused {
            let destination = request.destination.canonical();
            match chart_names.get(&destination) {
                Some((name, version)) => report.charts.push(ChartRow {
                    name: name.clone(),
                    version: version.clone(),
                    destination,
                    digest: digest.clone(),
                    state: "refused",
                    message: Some(reason.clone()),
                    verified: None,
                    signed: None,
                }),
                None => report.images.push(ImageRow {
                    source_digest: digest.clone(),
                    message: Some(reason.clone()),
                    ..ImageRow::new(request.source.canonical(), destination, "refused")
                }),
            }
        }
        if !self.refused.is_empty() || !self.refused_charts.is_empty() {
            report.complete = false;
        }
    }

    /// The signatures the policy accepted for `source` (canonical), for the lock.
    #[must_use]
    pub fn signatures_of(&self, source: &str) -> &[VerifiedSignature] {
        self.verdicts.get(source).map_or(&[], Verdict::signatures)
    }
}

/// Signs every image and chart the report says is at the target (copied or present) with
/// `signer`, `concurrency` at once; each row says what was signed, and a failure makes the
/// report incomplete.
pub async fn sign_report<S: Store>(
    signer: &Signer,
    target: &S,
    report: &mut CopyReport,
    concurrency: usize,
) {
    let mut jobs: Vec<(bool, usize, String, Digest)> = Vec::new();
    for (i, r) in report.images.iter().enumerate() {
        if matches!(r.state, "copied" | "present")
            && let Some(d) = &r.digest
        {
            jobs.push((false, i, r.destination.clone(), d.clone()));
        }
    }
    for (i, c) in report.charts.iter().enumerate() {
        if matches!(c.state, "copied" | "present")
            && let Some(d) = &c.digest
        {
            jobs.push((true, i, c.destination.clone(), d.clone()));
        }
    }
    let outcomes: Vec<_> = futures_util::stream::iter(jobs.into_iter().map(
        |(chart, i, destination, digest)| async move {
            let outcome = async {
                let r = purser::reference::Reference::parse(&destination)
                    .map_err(|e| format!("{destination}: {}", e.reason()))?;
                signer
                    .sign(target, &Repository::from_reference(&r), &digest)
                    .await
                    .map_err(|e| format!("signing {destination}@{digest}: {e}"))
            }
            .await;
            (chart, i, outcome)
        },
    ))
    .buffer_unordered(concurrency.max(1))
    .collect()
    .await;
    let mut failed = false;
    for (chart, i, outcome) in outcomes {
        let (signed, message) = match outcome {
            Ok(done) => {
                let new = done.iter().filter(|s| s.new).count();
                let text = match (new, done.len()) {
                    (0, _) => "already signed by this key".to_owned(),
                    (1, 1) => "signed".to_owned(),
                    (n, all) if n == all => format!("signed, and its {} manifests", all - 1),
                    (n, all) => format!("signed {n} of {all} manifests (the rest already were)"),
                };
                (Some(text), None)
            }
            Err(e) => {
                failed = true;
                (None, Some(e))
            }
        };
        if chart {
            let c = &mut report.charts[i];
            c.signed = signed;
            if message.is_some() {
                c.message = message;
            }
        } else {
            let r = &mut report.images[i];
            r.signed = signed;
            if message.is_some() {
                r.message = message;
            }
        }
    }
    if failed {
        report.complete = false;
    }
}
