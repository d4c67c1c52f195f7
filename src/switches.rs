//! "Everything this chart could pull", by rendering: the chart's feature switches, a plan of
//! renders with them flipped on, and the findings of those renders merged with the default
//! render's. No I/O: the caller runs Helm for each render the plan hands out.
//!
//! A switch is a values path that is false by default and turns something on:
//! - `X.enabled: false` anywhere in the chart's values or a subchart's (not inside lists),
//!   written from the top chart as Helm's `--set` reads it (`sub.metrics.enabled`);
//! - the `condition` of a subchart that is off (its first path that is a boolean);
//! - `tags.T` of a subchart that is off because all of its tags are false.
//!
//! The plan renders every switch at once; where that render fails (charts `fail` on
//! incompatible combinations or ask for values a feature needs), it renders each group (the
//! switches under one top-level values key or subchart, one tag) and, where a group fails, each
//! switch alone with the switches it sits under. A render that finds images the default render
//! did not is split further the same way, so each such image is attributed to the fewest
//! switches that showed it. The number of renders is capped.

use crate::chart::Chart;
use crate::declared::coalesce;
use crate::inventory::{Finding, Origin};
use crate::yaml::{self, Node, Source, Value};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// What a switch turns on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `X.enabled: false` in values.
    Feature,
    /// A subchart's `condition`.
    Condition,
    /// A subchart's tag.
    Tag,
}

/// A values path that is false by default and turns a feature or a subchart on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Switch {
    /// The path's keys from the top chart's values: `["sub", "metrics", "enabled"]`.
    pub keys: Vec<String>,
    pub kind: Kind,
    /// Switches rendered together when all of them at once fail: the first key (a top-level
    /// values key or a subchart), or `tags.T`.
    pub group: String,
    /// The switch this one sits under (an enclosing `enabled: false`, the subchart's own
    /// switch): it has an effect only with that one on too.
    pub requires: Option<usize>,
}

impl Switch {
    /// The path as users write it: `sub.metrics.enabled`.
    pub fn path(&self) -> String {
        self.keys.join(".")
    }

    /// The `--set` argument that turns it on: `sub.metrics.enabled=true`, with `.`, `,`, `=`,
    /// `[` and `\` inside keys escaped as Helm's `--set` parser reads them.
    pub fn set_arg(&self) -> String {
        let mut out = String::new();
        for (i, key) in self.keys.iter().enumerate() {
            if i > 0 {
                out.push('.');
            }
            for c in key.chars() {
                if matches!(c, '.' | ',' | '=' | '[' | ']' | '\\') {
                    out.push('\\');
                }
                out.push(c);
            }
        }
        out.push_str("=true");
        out
    }
}

/// Every switch of `chart` and its subcharts, parents before what sits under them.
pub fn list(chart: &Chart) -> Result<Vec<Switch>, String> {
    let values = parse_values(chart)?;
    let mut lister = Lister {
        switches: Vec::new(),
        tags: values.get("tags").cloned(),
    };
    lister.chart(chart, values, &[], None)?;
    Ok(lister.switches)
}

fn parse_values(chart: &Chart) -> Result<Node<'_>, String> {
    match &chart.values_yaml {
        Some(text) => yaml::parse_one(text, 1)
            .map_err(|e| format!("values.yaml of {}: {e}", chart.metadata.name)),
        None => Ok(Node {
            value: Value::Map(Vec::new()),
            line: 1,
            source: Source::default(),
        }),
    }
}

struct Lister<'a> {
    switches: Vec<Switch>,
    /// The top chart's `tags:`, the only ones Helm reads.
    tags: Option<Node<'a>>,
}

impl<'a> Lister<'a> {
    fn add(&mut self, keys: Vec<String>, kind: Kind, requires: Option<usize>) -> usize {
        if let Some(i) = self.switches.iter().position(|s| s.keys == keys) {
            return i;
        }
        let group = match kind {
            Kind::Tag => keys.join("."),
            _ => keys[0].clone(),
        };
        self.switches.push(Switch {
            keys,
            kind,
            group,
            requires,
        });
        self.switches.len() - 1
    }

    /// A chart at `prefix` with its coalesced `values`; `requires` is the switch it is off by.
    fn chart(
        &mut self,
        chart: &'a Chart,
        values: Node<'a>,
        prefix: &[String],
        requires: Option<usize>,
    ) -> Result<(), String> {
        let mut subs = Vec::new();
        for sub in &chart.subcharts {
            let deps: Vec<_> = chart.dependencies_for(sub).collect();
            if deps.is_empty() {
                subs.push((sub, sub.metadata.name.clone(), None));
            }
            for dep in deps {
                let key = dep
                    .alias
                    .clone()
                    .unwrap_or_else(|| sub.metadata.name.clone());
                subs.push((sub, key, Some(dep)));
            }
        }
        // The chart's own features; subchart sections are read with the subchart's values, and
        // `global:` of a subchart as the top chart's (globals flow down).
        let skip: Vec<&str> = subs.iter().map(|(_, k, _)| k.as_str()).collect();
        let top = prefix.is_empty();
        if let Value::Map(entries) = &values.value {
            let mut root_requires = requires;
            if values.get("enabled").and_then(Node::as_bool) == Some(false) {
                root_requires = Some(self.add(with(prefix, "enabled"), Kind::Feature, requires));
            }
            for (k, v) in entries {
                let Some(k) = k.as_str() else { continue };
                if k == "enabled" || skip.contains(&k) {
                    continue;
                }
                let mut keys = if k == "global" && !top {
                    Vec::new()
                } else {
                    prefix.to_vec()
                };
                keys.push(k.to_owned());
                self.features(v, &mut keys, root_requires);
            }
        }
        for (sub, key, dep) in subs {
            let off = match dep {
                Some(dep) => self.dependency_switch(&values, prefix, dep, requires),
                None => None,
            };
            let mut sub_values = parse_values(sub)?;
            if let Some(section) = values.get(&key) {
                sub_values = coalesce(sub_values, section);
            }
            if let Some(global) = values.get("global") {
                let wrapped = Node {
                    value: Value::Map(vec![(
                        Node {
                            value: Value::Scalar(Cow::Borrowed("global"), true),
                            line: 1,
                            source: Source::default(),
                        },
                        global.clone(),
                    )]),
                    line: global.line,
                    source: Source::default(),
                };
                sub_values = coalesce(sub_values, &wrapped);
            }
            let sub_prefix = with(prefix, &key);
            self.chart(sub, sub_values, &sub_prefix, off.or(requires))?;
        }
        Ok(())
    }

    /// `enabled: false` maps below `node` (lists are left alone: `--set` on a list element
    /// replaces the whole list).
    fn features(&mut self, node: &Node<'_>, keys: &mut Vec<String>, requires: Option<usize>) {
        let Value::Map(entries) = &node.value else {
            return;
        };
        let mut requires = requires;
        if node.get("enabled").and_then(Node::as_bool) == Some(false) {
            requires = Some(self.add(with(keys, "enabled"), Kind::Feature, requires));
        }
        for (k, v) in entries {
            let Some(k) = k.as_str() else { continue };
            if k == "enabled" {
                continue;
            }
            keys.push(k.to_owned());
            self.features(v, keys, requires);
            keys.pop();
        }
    }

    /// The switch that turns on a subchart that is off, if it is: the first `condition` path
    /// that is a boolean when that is false; without one, a false tag when all are false.
    fn dependency_switch(
        &mut self,
        values: &Node<'_>,
        prefix: &[String],
        dep: &crate::chart::Dependency,
        requires: Option<usize>,
    ) -> Option<usize> {
        if let Some(condition) = &dep.condition {
            for path in condition
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
            {
                let keys: Vec<&str> = path.split('.').collect();
                if let Some(on) = values.path(&keys).and_then(Node::as_bool) {
                    if on {
                        return None;
                    }
                    let mut full = prefix.to_vec();
                    full.extend(keys.iter().map(|k| (*k).to_owned()));
                    return Some(self.add(full, Kind::Condition, requires));
                }
            }
        }
        let tags = self.tags.as_ref()?;
        let found: Vec<(&String, bool)> = dep
            .tags
            .iter()
            .filter_map(|t| Some((t, tags.get(t)?.as_bool()?)))
            .collect();
        if found.is_empty() || found.iter().any(|(_, on)| *on) {
            return None;
        }
        let keys = vec!["tags".to_owned(), found[0].0.clone()];
        Some(self.add(keys, Kind::Tag, requires))
    }
}

fn with(prefix: &[String], key: &str) -> Vec<String> {
    let mut keys = prefix.to_vec();
    keys.push(key.to_owned());
    keys
}

/// How many renders a plan runs at most besides the default one.
pub const DEFAULT_CAP: usize = 64;

/// Which switches a render turns on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    All,
    Group(usize),
    Single(usize),
}

#[derive(Debug)]
enum Outcome {
    Rendered(Vec<Finding>),
    Failed(String),
}

#[derive(Debug)]
struct Render {
    scope: Scope,
    /// The switches turned on, with what they require; sorted.
    on: Vec<usize>,
    /// Asked for only to attribute images to fewer switches (not because a render failed).
    refining: bool,
    started: bool,
    /// Wanted but not run: the cap was reached.
    skipped: bool,
    outcome: Option<Outcome>,
}

/// One render to run: `helm template` with the user's flags and `--set ARG` for each of
/// `sets`, after them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub id: usize,
    pub sets: Vec<String>,
}

/// The renders of a chart with its switches on, planned as their outcomes come in.
#[derive(Debug)]
pub struct Plan {
    switches: Vec<Switch>,
    groups: Vec<(String, Vec<usize>)>,
    /// Canonical references the default render found.
    default_images: BTreeSet<String>,
    cap: usize,
    renders: Vec<Render>,
    /// Renders that were wanted but not run: the cap was reached.
    over_cap: usize,
}

impl Plan {
    /// A plan for `switches`, given what the default render found; at most `cap` renders.
    pub fn new(switches: Vec<Switch>, default_findings: &[Finding], cap: usize) -> Plan {
        let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
        for (i, s) in switches.iter().enumerate() {
            match groups.iter_mut().find(|(g, _)| *g == s.group) {
                Some((_, members)) => members.push(i),
                None => groups.push((s.group.clone(), vec![i])),
            }
        }
        let mut plan = Plan {
            default_images: default_findings
                .iter()
                .map(|f| f.reference.canonical())
                .collect(),
            switches,
            groups,
            cap,
            renders: Vec::new(),
            over_cap: 0,
        };
        if !plan.switches.is_empty() {
            plan.want(Scope::All, false);
        }
        plan
    }

    pub fn switches(&self) -> &[Switch] {
        &self.switches
    }

    /// The switches `scope` turns on, with everything they require.
    fn closure(&self, scope: Scope) -> Vec<usize> {
        let roots: Vec<usize> = match scope {
            Scope::All => (0..self.switches.len()).collect(),
            Scope::Group(g) => self.groups[g].1.clone(),
            Scope::Single(s) => vec![s],
        };
        let mut on = BTreeSet::new();
        for mut at in roots {
            while on.insert(at) {
                match self.switches[at].requires {
                    Some(parent) => at = parent,
                    None => break,
                }
            }
        }
        on.into_iter().collect()
    }

    fn want(&mut self, scope: Scope, refining: bool) {
        let on = self.closure(scope);
        if self.renders.iter().any(|r| r.on == on) {
            return;
        }
        self.renders.push(Render {
            scope,
            on,
            refining,
            started: false,
            skipped: false,
            outcome: None,
        });
    }

    /// The renders to run next (all may run at once); empty when the plan is done. Renders
    /// asked for because another failed come before those that only refine attribution.
    pub fn next_batch(&mut self) -> Vec<Request> {
        let started = self.renders.iter().filter(|r| r.started).count();
        let mut room = self.cap.saturating_sub(started);
        let mut waiting: Vec<usize> = (0..self.renders.len())
            .filter(|&i| !self.renders[i].started)
            .collect();
        waiting.sort_by_key(|&i| (self.renders[i].refining, i));
        let mut batch = Vec::new();
        for i in waiting {
            let render = &mut self.renders[i];
            if room == 0 {
                // Never run: forget it, so the plan ends.
                self.over_cap += 1;
                render.started = true;
                render.skipped = true;
                continue;
            }
            room -= 1;
            render.started = true;
            batch.push(Request {
                id: i,
                sets: render
                    .on
                    .iter()
                    .map(|&s| self.switches[s].set_arg())
                    .collect(),
            });
        }
        batch
    }

    /// Records how render `id` went: the findings of its stream, or the first line of Helm's
    /// error; plans what follows from it.
    pub fn record(&mut self, id: usize, outcome: Result<Vec<Finding>, String>) {
        let scope = self.renders[id].scope;
        let follow = match &outcome {
            Ok(findings) => {
                let new = findings
                    .iter()
                    .any(|f| !self.default_images.contains(&f.reference.canonical()));
                new.then_some(true)
            }
            Err(_) => Some(false),
        };
        self.renders[id].outcome = Some(match outcome {
            Ok(f) => Outcome::Rendered(f),
            Err(e) => Outcome::Failed(e),
        });
        let Some(refining) = follow else { return };
        match scope {
            Scope::All => {
                if self.groups.len() > 1 {
                    for g in 0..self.groups.len() {
                        self.want(Scope::Group(g), refining);
                    }
                } else if let Some((_, members)) = self.groups.first() {
                    for s in members.clone() {
                        self.want(Scope::Single(s), refining);
                    }
                }
            }
            Scope::Group(g) => {
                if self.groups[g].1.len() > 1 {
                    for s in self.groups[g].1.clone() {
                        self.want(Scope::Single(s), refining);
                    }
                }
            }
            Scope::Single(_) => {}
        }
    }

    /// Renders run (besides the default one).
    pub fn renders_run(&self) -> usize {
        self.renders.iter().filter(|r| r.outcome.is_some()).count()
    }

    /// Switches no successful render turned on, each with why: the first line of Helm's error
    /// from the smallest failed render that turned it on, or the cap.
    pub fn not_rendered(&self) -> Vec<(String, String)> {
        let rendered: BTreeSet<usize> = self
            .renders
            .iter()
            .filter(|r| matches!(r.outcome, Some(Outcome::Rendered(_))))
            .flat_map(|r| r.on.iter().copied())
            .collect();
        (0..self.switches.len())
            .filter(|s| !rendered.contains(s))
            .map(|s| {
                let failed = self
                    .renders
                    .iter()
                    .filter(|r| r.on.contains(&s))
                    .filter_map(|r| match &r.outcome {
                        Some(Outcome::Failed(e)) => Some((r.on.len(), e)),
                        _ => None,
                    })
                    .min_by_key(|(n, _)| *n);
                let skipped = self
                    .renders
                    .iter()
                    .filter(|r| r.skipped && r.on.contains(&s))
                    .map(|r| r.on.len())
                    .min();
                let why = match (failed, skipped) {
                    (Some((n, e)), Some(m)) if m < n => {
                        format!("cap of {} renders reached; with others: {e}", self.cap)
                    }
                    (Some((_, e)), _) => e.clone(),
                    (None, _) => format!("cap of {} renders reached", self.cap),
                };
                (self.switches[s].path(), why)
            })
            .collect()
    }

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

    /// The one line `--all` says on stderr.
    pub fn summary(&self) -> Summary {
        Summary {
            switches: self.switches.len(),
            renders: self.renders_run(),
            cap: self.cap,
            over_cap: self.over_cap,
            not_rendered: self.not_rendered(),
        }
    }
}

/// `operator` of `docker.io/library/operator:latest`.
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

/// How the renders of `--all` went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub switches: usize,
    pub renders: usize,
    pub cap: usize,
    pub over_cap: usize,
    /// Switch paths no render could turn on, with the first line of Helm's error.
    pub not_rendered: Vec<(String, String)>,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "--all: {} switch{} off by default, {} extra render{}",
            self.switches,
            if self.switches == 1 { "" } else { "es" },
            self.renders,
            if self.renders == 1 { "" } else { "s" }
        )?;
        if self.over_cap > 0 {
            write!(f, " ({} more skipped: cap {})", self.over_cap, self.cap)?;
        }
        if self.not_rendered.is_empty() {
            return write!(f, "; every switch rendered");
        }
        write!(f, "; could not render: ")?;
        for (i, (path, why)) in self.not_rendered.iter().enumerate() {
            if i > 0 {
                write!(f, "; ")?;
            }
            write!(f, "{path} ({why})")?;
        }
        Ok(())
    }
}

/// The first line of what Helm printed on failure, without its `Error: ` prefix; when it ends
/// in `:` (a `fail` message that starts on a new line), with the three lines after it.
pub fn first_error_line(stderr: &str) -> String {
    let all: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    // Warnings Helm logs come first; the error is the line that says so.
    let at = all
        .iter()
        .position(|l| l.starts_with("Error: "))
        .unwrap_or(0);
    let mut lines = all[at..].iter().copied();
    let Some(first) = lines.next() else {
        return "helm failed without a message".to_owned();
    };
    let mut out = first.strip_prefix("Error: ").unwrap_or(first).to_owned();
    if out.ends_with(':') {
        for line in lines.take(3) {
            out.push(' ');
            out.push_str(line);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chart::{Limits, load_files};
    use crate::inventory::Confidence;
    use crate::reference::Reference;

    fn chart(files: &[(&str, &str)]) -> Chart {
        load_files(
            files
                .iter()
                .map(|(p, t)| ((*p).to_owned(), t.as_bytes().to_vec()))
                .collect(),
            &Limits::default(),
        )
        .unwrap()
    }

    fn paths(switches: &[Switch]) -> Vec<String> {
        switches.iter().map(Switch::path).collect()
    }

    const TOP: &str = "apiVersion: v2\nname: top\nversion: 1.0.0\ndependencies:\n  - name: db\n    version: 1.0.0\n    condition: db.enabled\n  - name: cache\n    version: 1.0.0\n    tags: [cache, backend]\n  - name: cache\n    alias: cache2\n    version: 1.0.0\n    condition: cache2.on,global.cache2.on\n  - name: always\n    version: 1.0.0\n    condition: always.enabled\n";

    fn top() -> Chart {
        chart(&[
            ("Chart.yaml", TOP),
            (
                "values.yaml",
                "global:\n  audit:\n    enabled: false\nmetrics:\n  enabled: false\n  serviceMonitor:\n    enabled: false\nlist:\n  - enabled: false\nweird.key:\n  enabled: false\ndb:\n  enabled: false\n  tls:\n    enabled: true\ntags:\n  cache: false\n  backend: false\ncache2:\n  on: false\nalways:\n  enabled: true\n",
            ),
            (
                "charts/db/Chart.yaml",
                "apiVersion: v2\nname: db\nversion: 1.0.0\n",
            ),
            (
                "charts/db/values.yaml",
                "enabled: true\ntls:\n  enabled: false\nbackup:\n  enabled: false\nglobal:\n  dbonly:\n    enabled: false\n",
            ),
            (
                "charts/cache/Chart.yaml",
                "apiVersion: v2\nname: cache\nversion: 1.0.0\n",
            ),
            (
                "charts/cache/values.yaml",
                "persistence:\n  enabled: false\n",
            ),
            (
                "charts/always/Chart.yaml",
                "apiVersion: v2\nname: always\nversion: 1.0.0\n",
            ),
            ("charts/always/values.yaml", "extra:\n  enabled: false\n"),
        ])
    }

    #[test]
    fn lists_features_conditions_and_tags_from_the_top_chart() {
        let switches = list(&top()).unwrap();
        let got = paths(&switches);
        assert_eq!(
            got,
            [
                "global.audit.enabled",
                "metrics.enabled",
                "metrics.serviceMonitor.enabled",
                "weird.key.enabled",
                "always.extra.enabled",
                "tags.cache",
                "cache.persistence.enabled",
                "cache2.on",
                "cache2.persistence.enabled",
                "db.enabled",
                "db.backup.enabled",
                "global.dbonly.enabled",
            ]
        );
        let by = |p: &str| &switches[got.iter().position(|g| g == p).unwrap()];
        // The parent's values override the subchart's: db.tls is on, the parent says so.
        assert!(!got.contains(&"db.tls.enabled".to_owned()));
        // Nested switches need what they sit under; subchart switches need the subchart's.
        let needs = |p: &str| by(p).requires.map(|r| switches[r].path());
        assert_eq!(
            needs("metrics.serviceMonitor.enabled").as_deref(),
            Some("metrics.enabled")
        );
        assert_eq!(needs("db.backup.enabled").as_deref(), Some("db.enabled"));
        assert_eq!(
            needs("global.dbonly.enabled").as_deref(),
            Some("db.enabled")
        );
        assert_eq!(
            needs("cache.persistence.enabled").as_deref(),
            Some("tags.cache")
        );
        assert_eq!(
            needs("cache2.persistence.enabled").as_deref(),
            Some("cache2.on")
        );
        assert_eq!(needs("always.extra.enabled"), None);
        assert_eq!(by("db.enabled").kind, Kind::Condition);
        assert_eq!(by("tags.cache").kind, Kind::Tag);
        assert_eq!(by("tags.cache").group, "tags.cache");
        assert_eq!(by("db.backup.enabled").group, "db");
        assert_eq!(
            by("weird.key.enabled").set_arg(),
            "weird\\.key.enabled=true"
        );
    }

    #[test]
    fn a_chart_without_values_has_no_switches() {
        let c = chart(&[("Chart.yaml", "apiVersion: v2\nname: x\nversion: 1.0.0\n")]);
        assert!(list(&c).unwrap().is_empty());
    }

    fn rendered(reference: &str, template: &str) -> Finding {
        Finding {
            reference: Reference::parse(reference).unwrap(),
            written: reference.to_owned(),
            origin: Origin::Rendered {
                template: Some(template.to_owned()),
                document: 1,
                line: 1,
                kind: "Deployment".into(),
                namespace: None,
                name: None,
                field: "spec.template.spec.containers[0].image".into(),
                container: None,
                needs: None,
            },
            confidence: Confidence::Certain,
            spot: None,
            kind: crate::inventory::Kind::Image,
        }
    }

    fn values(reference: &str, path: &str, off: Option<&str>) -> Finding {
        Finding {
            reference: Reference::parse(reference).unwrap(),
            written: reference.to_owned(),
            origin: Origin::Values {
                chart: "c".into(),
                path: path.into(),
                disabled_by: off.map(str::to_owned),
            },
            confidence: Confidence::Likely,
            spot: None,
            kind: crate::inventory::Kind::Image,
        }
    }

    /// Without --all: a values guess the default render answered otherwise (same image name,
    /// another registry or tag) goes; one it confirms stays, as do guesses it did not answer
    /// and switched-off ones (left to --all).
    #[test]
    fn default_merge_drops_guesses_the_render_answered() {
        let rendered = vec![rendered(
            "reg.kyverno.io/kyverno/kyverno:v1.14.5",
            "kyverno/templates/deployment.yaml",
        )];
        let declared = vec![
            values("docker.io/kyverno/kyverno:v1.14.5", "admission.image", None),
            values(
                "reg.kyverno.io/kyverno/kyverno:v1.14.5",
                "admission.image",
                None,
            ),
            values("quay.io/prometheus/busybox:latest", "init.image", None),
            values(
                "docker.io/kyverno/kyverno:v1.14.5",
                "extra.image",
                Some("extra.enabled=false"),
            ),
        ];
        let got: Vec<(String, bool)> = merge_default(rendered, declared)
            .iter()
            .map(|f| (f.reference.canonical(), f.enabled()))
            .collect();
        assert_eq!(
            got,
            [
                ("reg.kyverno.io/kyverno/kyverno:v1.14.5".to_owned(), true),
                ("reg.kyverno.io/kyverno/kyverno:v1.14.5".to_owned(), true),
                ("quay.io/prometheus/busybox:latest".to_owned(), true),
                ("docker.io/kyverno/kyverno:v1.14.5".to_owned(), false),
            ]
        );
    }

    fn switch(path: &str, requires: Option<usize>) -> Switch {
        let keys: Vec<String> = path.split('.').map(str::to_owned).collect();
        Switch {
            group: keys[0].clone(),
            keys,
            kind: Kind::Feature,
            requires,
        }
    }

    /// Runs the plan with `helm`: the images a render with those `--set`s shows, or an error.
    fn run(plan: &mut Plan, helm: impl Fn(&[String]) -> Result<Vec<&'static str>, String>) {
        loop {
            let batch = plan.next_batch();
            if batch.is_empty() {
                return;
            }
            for request in batch {
                let outcome = helm(&request.sets)
                    .map(|images| images.iter().map(|i| rendered(i, "t.yaml")).collect());
                plan.record(request.id, outcome);
            }
        }
    }

    fn needs(findings: &[Finding], reference: &str) -> Option<String> {
        findings
            .iter()
            .find(|f| f.reference.canonical() == reference)
            .unwrap_or_else(|| panic!("{reference} missing"))
            .origin
            .disabled_by()
            .map(str::to_owned)
    }

    #[test]
    fn all_at_once_then_groups_then_singles_name_the_fewest_switches() {
        let switches = vec![
            switch("a.x.enabled", None),
            switch("a.y.enabled", None),
            switch("b.enabled", None),
            switch("b.sm.enabled", Some(2)),
        ];
        let default = vec![rendered("web:1", "t.yaml")];
        let mut plan = Plan::new(switches, &default, DEFAULT_CAP);
        run(&mut plan, |sets| {
            let mut out = vec!["web:1"];
            if sets.contains(&"a.y.enabled=true".to_owned()) {
                out.push("ghcr.io/a/y:1");
            }
            if sets.contains(&"b.enabled=true".to_owned()) {
                out.push("ghcr.io/b/b:1");
            }
            Ok(out)
        });
        // all; groups a and b; singles a.x, a.y and b (b.sm needs b: that is group b again).
        assert_eq!(plan.renders_run(), 6);
        let merged = plan.merge(default, vec![]);
        assert_eq!(needs(&merged, "docker.io/library/web:1"), None);
        assert_eq!(
            needs(&merged, "ghcr.io/a/y:1").as_deref(),
            Some("a.y.enabled=true")
        );
        assert_eq!(
            needs(&merged, "ghcr.io/b/b:1").as_deref(),
            Some("b.enabled=true")
        );
        assert_eq!(merged.len(), 3);
        assert!(plan.not_rendered().is_empty());
        assert_eq!(
            plan.summary().to_string(),
            "--all: 4 switches off by default, 6 extra renders; every switch rendered"
        );
    }

    #[test]
    fn nothing_new_means_one_render() {
        let mut plan = Plan::new(
            vec![switch("a.enabled", None), switch("b.enabled", None)],
            &[rendered("web:1", "t.yaml")],
            DEFAULT_CAP,
        );
        run(&mut plan, |_| Ok(vec!["web:1"]));
        assert_eq!(plan.renders_run(), 1);
    }

    #[test]
    fn failures_fall_back_to_groups_then_singles() {
        let switches = vec![
            switch("f.a.enabled", None),
            switch("f.b.enabled", None),
            switch("vault.enabled", None),
        ];
        let mut plan = Plan::new(switches, &[], DEFAULT_CAP);
        run(&mut plan, |sets| {
            let on = |s: &str| sets.contains(&format!("{s}=true"));
            if on("vault.enabled") {
                return Err("execution error: vault.password is required".into());
            }
            if on("f.a.enabled") && on("f.b.enabled") {
                return Err("execution error: a and b cannot both be on".into());
            }
            let mut out = vec![];
            if on("f.a.enabled") {
                out.push("a:1");
            }
            if on("f.b.enabled") {
                out.push("b:2");
            }
            Ok(out)
        });
        // all (fails); groups f (fails) and vault (fails); singles f.a and f.b.
        assert_eq!(plan.renders_run(), 5);
        assert_eq!(
            plan.not_rendered(),
            [(
                "vault.enabled".to_owned(),
                "execution error: vault.password is required".to_owned()
            )]
        );
        let declared = vec![
            values("a:1", "f.a.image", Some("f.a.enabled=false")),
            values(
                "docker.io/library/invented:latest",
                "f.b.image",
                Some("f.b.enabled=false"),
            ),
            values("vault:3", "vault.image", Some("vault.enabled=false")),
            values("web:1", "web.image", None),
            values("init:1", "init.image", None),
            values("other:1", "x.image", Some("elsewhere.enabled=false")),
        ];
        let merged = plan.merge(vec![rendered("ghcr.io/clash/web:1.0", "t.yaml")], declared);
        let got: Vec<(String, Option<String>)> = merged
            .iter()
            .map(|f| {
                (
                    f.reference.canonical(),
                    f.origin.disabled_by().map(str::to_owned),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("ghcr.io/clash/web:1.0".to_owned(), None),
                (
                    "docker.io/library/a:1".to_owned(),
                    Some("f.a.enabled=true".to_owned())
                ),
                (
                    "docker.io/library/b:2".to_owned(),
                    Some("f.b.enabled=true".to_owned())
                ),
                // Rendered with f.b on, yet no render showed it nor named it otherwise: kept,
                // off, saying so (another value may be needed to show it).
                (
                    "docker.io/library/invented:latest".to_owned(),
                    Some(
                        "values only: no render showed it with f.b.enabled=true (it may need another value)"
                            .to_owned()
                    )
                ),
                (
                    "docker.io/library/vault:3".to_owned(),
                    Some(
                        "values only: no render with vault.enabled=true (execution error: vault.password is required)"
                            .to_owned()
                    )
                ),
                // On by default and no rendered image of that name: the render missed it.
                ("docker.io/library/init:1".to_owned(), None),
                (
                    "docker.io/library/other:1".to_owned(),
                    Some("elsewhere.enabled=false".to_owned())
                ),
            ]
        );
    }

    #[test]
    fn the_cap_bounds_the_renders_and_is_named() {
        let switches: Vec<Switch> = (0..10)
            .map(|i| switch(&format!("g.s{i}.enabled"), None))
            .collect();
        let mut plan = Plan::new(switches, &[], 4);
        run(&mut plan, |sets| {
            if sets.len() > 1 {
                Err("too many".into())
            } else {
                Ok(vec![])
            }
        });
        assert_eq!(plan.renders_run(), 4);
        let summary = plan.summary();
        assert_eq!(summary.over_cap, 7);
        assert_eq!(summary.not_rendered.len(), 7);
        assert_eq!(
            summary.not_rendered[0].1,
            "cap of 4 renders reached; with others: too many"
        );
        assert!(summary.to_string().contains("(7 more skipped: cap 4)"));
    }

    #[test]
    fn tags_in_disabled_by_name_tag_switches() {
        assert_eq!(switch_paths("sub.tags a, b false"), ["tags.a", "tags.b"]);
        assert_eq!(switch_paths("x.enabled=false"), ["x.enabled"]);
        assert!(switch_paths("whatever").is_empty());
    }

    #[test]
    fn first_error_line_joins_a_message_that_starts_below() {
        assert_eq!(
            first_error_line("Error: execution error at (c/t.yaml:1:2): boom\n\nUse --debug\n"),
            "execution error at (c/t.yaml:1:2): boom"
        );
        assert_eq!(
            first_error_line(
                "Error: execution error at (c/NOTES.txt:4:4): \nVALUES VALIDATION:\nc: auth.username\n    set it\nmore\n"
            ),
            "execution error at (c/NOTES.txt:4:4): VALUES VALIDATION: c: auth.username set it"
        );
        assert_eq!(
            first_error_line("level=INFO msg=\"warning: x is a table\"\nError: boom\n"),
            "boom"
        );
        assert_eq!(first_error_line(""), "helm failed without a message");
    }
}
