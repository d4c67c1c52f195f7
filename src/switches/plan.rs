//! [`Plan`]: which renders `--all` runs with which switches on. Every switch at once first;
//! where a render fails or finds images the default render did not, each group, then each
//! switch alone with what it requires; at most a cap of renders ([`DEFAULT_CAP`]). The caller
//! runs each [`Request`] and records how it went.

use super::Switch;
use crate::inventory::Finding;
use std::collections::BTreeSet;

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
pub(super) enum Outcome {
    Rendered(Vec<Finding>),
    Failed(String),
}

#[derive(Debug)]
pub(super) struct Render {
    scope: Scope,
    /// The switches turned on, with what they require; sorted.
    pub(super) on: Vec<usize>,
    /// Asked for only to attribute images to fewer switches (not because a render failed).
    refining: bool,
    started: bool,
    /// Wanted but not run: the cap was reached.
    skipped: bool,
    pub(super) outcome: Option<Outcome>,
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
    pub(super) switches: Vec<Switch>,
    groups: Vec<(String, Vec<usize>)>,
    /// Canonical references the default render found.
    pub(super) default_images: BTreeSet<String>,
    pub(super) cap: usize,
    pub(super) renders: Vec<Render>,
    /// Renders that were wanted but not run: the cap was reached.
    pub(super) over_cap: usize,
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
}
