//! [`Plan::merge`] and [`merge_default`]: what `purser images` reports, the findings of the
//! default render (and, with `--all`, of the renders with switches on) merged with what the
//! values walk and annotations declared, dropping the guesses a render answered.

use super::Switch;
use super::plan::{Outcome, Plan};
use crate::inventory::{Finding, Origin};
use std::collections::{BTreeMap, BTreeSet};

impl Plan {
    /// What `--all` reports: the default render's findings; images only renders with switches
    /// on found, marked off with the fewest switches that showed them; and of the values
    /// walk and annotations (`declared`) only what no render reached.
    ///
    /// A values finding of a feature that is on is dropped when the default render found
    /// another image of the same name (the last component of the repository: the render shows
    /// how the templates compose it), and stays otherwise (an image behind a switch of another
    /// kind). One switched off by a switch some render turned on is dropped when a render found
    /// it or named it otherwise; one no render showed stays, marked "values only" (it may need
    /// another value to show), as does one whose switch no render could turn on. Annotations
    /// are declarations: those of features that are on stay; those switched off go the way of
    /// values findings.
    pub fn merge(&self, default_findings: Vec<Finding>, declared: Vec<Finding>) -> Vec<Finding> {
        let mut out = default_findings;
        let default_names = names(&out);
        // Each new image from the smallest successful render that found it.
        let mut best: BTreeMap<String, usize> = BTreeMap::new();
        for (i, r) in self.renders.iter().enumerate() {
            let Some(Outcome::Rendered(findings)) = &r.outcome else {
                continue;
            };
            for f in findings {
                let key = f.reference.canonical();
                if self.default_images.contains(&key) {
                    continue;
                }
                match best.get(&key) {
                    Some(&b) if self.renders[b].on.len() <= r.on.len() => {}
                    _ => {
                        best.insert(key, i);
                    }
                }
            }
        }
        for (i, r) in self.renders.iter().enumerate() {
            let Some(Outcome::Rendered(findings)) = &r.outcome else {
                continue;
            };
            let needs =
                r.on.iter()
                    .map(|&s| self.switches[s].set_arg())
                    .collect::<Vec<_>>()
                    .join(", ");
            for f in findings {
                if best.get(&f.reference.canonical()) != Some(&i) {
                    continue;
                }
                let mut f = f.clone();
                if let Origin::Rendered { needs: n, .. } = &mut f.origin {
                    *n = Some(needs.clone());
                }
                // Its spans point into that render's stream, not the default one.
                f.spot = None;
                out.push(f);
            }
        }
        let failed: BTreeMap<String, String> = self.not_rendered().into_iter().collect();
        let paths: BTreeSet<String> = self.switches.iter().map(Switch::path).collect();
        // What the default render and every other render found.
        let everything = {
            let mut all: Vec<Finding> = out.clone();
            for r in &self.renders {
                if let Some(Outcome::Rendered(findings)) = &r.outcome {
                    all.extend(findings.iter().cloned());
                }
            }
            names(&all)
        };
        for mut f in declared {
            let Some(off) = f.origin.disabled_by().map(str::to_owned) else {
                if !answered(&default_names, &f) {
                    out.push(f);
                }
                continue;
            };
            let guards = switch_paths(&off);
            let known: Vec<&String> = guards.iter().filter(|p| paths.contains(*p)).collect();
            if known.is_empty() {
                // Not a switch the renders turned (an annotation's own condition path, say).
                out.push(f);
                continue;
            }
            let note = match known
                .iter()
                .find_map(|p| failed.get(*p).map(|why| (*p, why)))
            {
                Some((path, why)) => format!("values only: no render with {path}=true ({why})"),
                None => {
                    // Rendered with its switch on. A guess a render named otherwise goes, and
                    // so does what a render already found; one no render showed stays, since
                    // another value may be needed to show it (a service type, a list to fill).
                    if answered(&everything, &f)
                        || everything.images.contains(&f.reference.canonical())
                    {
                        continue;
                    }
                    let switches: Vec<&str> = known.iter().map(|p| p.as_str()).collect();
                    format!(
                        "values only: no render showed it with {}=true (it may need another value)",
                        switches.join("=true, ")
                    )
                }
            };
            match &mut f.origin {
                Origin::Values { disabled_by, .. } | Origin::Annotation { disabled_by, .. } => {
                    *disabled_by = Some(note)
                }
                Origin::Rendered { .. } => {}
            }
            out.push(f);
        }
        out
    }
}

/// What the chart declares for features on by default, less the guesses its default render
/// answered: `purser images CHART` without `--all`.
pub fn merge_default(mut rendered: Vec<Finding>, declared: Vec<Finding>) -> Vec<Finding> {
    let default_names = names(&rendered);
    rendered.extend(
        declared
            .into_iter()
            .filter(|f| !f.enabled() || !answered(&default_names, f)),
    );
    rendered
}

/// What a render found: the images' last path components, and the images.
struct Rendered {
    names: BTreeSet<String>,
    images: BTreeSet<String>,
}

fn names(rendered: &[Finding]) -> Rendered {
    Rendered {
        names: rendered
            .iter()
            .map(|f| last_name(&f.reference).to_owned())
            .collect(),
        images: rendered.iter().map(|f| f.reference.canonical()).collect(),
    }
}

/// A values guess for a feature that is on, which the render answered otherwise: it found an
/// image of the same name but not this one (the templates compose another registry or tag),
/// so the guess goes. One the render confirms stays (it adds where the image is set), and so
/// does one it did not answer (a feature behind another kind of switch).
fn answered(rendered: &Rendered, f: &Finding) -> bool {
    matches!(f.origin, Origin::Values { .. })
        && rendered.names.contains(last_name(&f.reference))
        && !rendered.images.contains(&f.reference.canonical())
}

/// `operator` of `docker.io/library/operator:latest`.
fn last_name(reference: &crate::reference::Reference) -> &str {
    let repository = reference.repository();
    repository.rsplit('/').next().unwrap_or(repository)
}

/// The switch paths a values or annotation finding's `disabled_by` names:
/// `a.b.enabled=false` -> `a.b.enabled`; `sub.tags x, y false` -> `tags.x`, `tags.y`.
fn switch_paths(disabled_by: &str) -> Vec<String> {
    if let Some(path) = disabled_by.strip_suffix("=false") {
        return vec![path.to_owned()];
    }
    if let Some(at) = disabled_by.find("tags ") {
        if let Some(list) = disabled_by[at + 5..].strip_suffix(" false") {
            return list.split(", ").map(|t| format!("tags.{t}")).collect();
        }
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_in_disabled_by_name_tag_switches() {
        assert_eq!(switch_paths("sub.tags a, b false"), ["tags.a", "tags.b"]);
        assert_eq!(switch_paths("x.enabled=false"), ["x.enabled"]);
        assert!(switch_paths("whatever").is_empty());
    }
}
