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
                let why = self
                    .renders
                    .iter()
                    .filter(|r| r.on.contains(&s))
                    .filter_map(|r| match &r.outcome {
                        Some(Outcome::Failed(e)) => Some((r.on.len(), e)),
                        _ => None,
                    })
                    .min_by_key(|(n, _)| *n)
                    .map(|(_, e)| e.clone())
                    .unwrap_or_else(|| format!("cap of {} renders reached", self.cap));
                (self.switches[s].path(), why)
            })
            .collect()
    }

    /// What `--all` reports: the default render's findings; images only renders with switches
    /// on found, marked off with the fewest switches that showed them; and of the values
    /// walk and annotations (`declared`) only what no render reached.
    ///
    /// A values finding of a feature that is on is dropped (the default render shows what
    /// that feature pulls), as is one switched off by a switch some render turned on; one
    /// whose switch no render could turn on stays, marked "values only". Annotations are
    /// declarations: those of features that are on stay; those switched off go the way of
    /// values findings.
    pub fn merge(&self, default_findings: Vec<Finding>, declared: Vec<Finding>) -> Vec<Finding> {
        let mut out = default_findings;
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
        for mut f in declared {
            let is_values = matches!(f.origin, Origin::Values { .. });
            let Some(off) = f.origin.disabled_by().map(str::to_owned) else {
                if !is_values {
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
            let Some((path, why)) = known
                .iter()
                .find_map(|p| failed.get(*p).map(|why| (*p, why)))
            else {
                continue;
            };
            let note = format!("values only: no render with {path}=true ({why})");
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

/// The first line of what Helm printed on failure, without its `Error: ` prefix; a line that
/// ends in `:` runs on into the next (`fail` messages that start on a new line).
pub fn first_error_line(stderr: &str) -> String {
    let mut lines = stderr.lines().map(str::trim).filter(|l| !l.is_empty());
    let Some(first) = lines.next() else {
        return "helm failed without a message".to_owned();
    };
    let mut out = first.strip_prefix("Error: ").unwrap_or(first).to_owned();
    for line in lines.take(3) {
        if !out.ends_with(':') {
            break;
        }
        out.push(' ');
        out.push_str(line);
    }
    out
}
