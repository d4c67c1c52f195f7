//! Rewrites the image references of a rendered manifest stream in place: to a mirror (the
//! `--to`/`--flatten`/`--map` rules `helm mirror` names images by), pinned to the digests of
//! an images-lock, and checked against it. What the `relocate` post-renderer runs.
//!
//! Only the text of each reference changes. The stream is never re-serialised: every other
//! byte (comments, key order, quoting, indentation, Helm's `postrenderer.helm.sh/...`
//! annotations, hook documents, `---` lines, trailing white space) is copied as it was. A
//! reference is replaced inside its scalar, which may hold more than the reference
//! (`--x-image=REF`, a ConfigMap's text); the scalar stays valid in its style: a plain scalar
//! that the new text would break (an IPv6 registry `[::1]:5000` in it) is single-quoted, and
//! quoted text is escaped as its quotes require.
//!
//! An image an injector composes from the fields of a document embedded in a ConfigMap
//! (`{hub}/{image}:{tag}`, Istio's sidecar) has no bytes that spell it: it is moved by
//! rewriting the `hub` to the mirror's prefix, which moves every image composed from that hub
//! at once. That needs every image composed from one hub to go to the same place (as `--to`
//! and `--flatten` send them); where two would need different hubs, the run fails naming the
//! document, the field and both values. It is pinned by writing `tag@digest` into the `tag`
//! (Istio's injector passes the tag through unchanged when no variant is set), but only where
//! every image composed from that tag is pinned to the same digest and the document sets no
//! variant (`-distroless` would land after the digest); otherwise the tag is left as it is,
//! with a warning, and under `enforce` the run fails saying which image could not be pinned
//! and why. A variant set outside the document (Istio's pod annotation
//! `sidecar.istio.io/proxyImageType`, the mesh config's `defaultConfig.image.imageType`) is
//! not seen. An `image` that is a full reference is rewritten like any other reference.

use crate::destination::Rules;
use crate::inventory::{ComposedSpans, Confidence, Finding, Origin, Span, Spot};
use crate::lock::{Lock, LockedImage};
use crate::manifests::{self, ManifestError};
use crate::reference::Reference;
use crate::yaml::Style;
use std::collections::{HashMap, HashSet};
use std::fmt::{self, Write as _};

/// What to do to each reference.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options<'a> {
    /// Where images go; `None` leaves every image where it is (pinning only).
    pub rules: Option<&'a Rules>,
    /// Only typed image fields (certain findings); references in args, env, ConfigMaps and
    /// other image-named fields are left as they are.
    pub typed_only: bool,
    /// Pin every image to its digest from this lock (`repo:tag@digest`, tag kept).
    pub lock: Option<&'a Lock>,
    /// Every image must be in the lock with a digest: anything else is an error.
    pub enforce: bool,
    /// Pin the patched digest where the lock records a patched image (`--prefer patched`).
    pub prefer_patched: bool,
}

/// A rewritten stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relocated {
    pub text: String,
    /// References whose text changed.
    pub rewritten: usize,
    /// References seen (those the options select), changed or not.
    pub references: usize,
    /// What the user should know but did not stop the run (an image left unpinned because
    /// the lock does not list it, without `enforce`), one line each, each image once.
    pub warnings: Vec<String>,
}

/// An image at fault: why, and every place it appears (template file, resource, container,
/// field), in stream order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The canonical reference.
    pub image: String,
    pub why: String,
    /// The lock does not pin it (not in the lock, or without a usable digest), as opposed to a
    /// rule or the lock that cannot be applied.
    pub unpinned: bool,
    /// Of those, the lock has its digest but the field its tag is composed from cannot
    /// carry it (see the module documentation).
    pub locked: bool,
    pub places: Vec<String>,
}

/// Why a stream cannot be relocated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelocateError {
    /// Nothing but white space on the input.
    EmptyStream,
    /// `enforce` without a lock.
    EnforceWithoutLock,
    /// The stream is not a manifest stream.
    Manifests(ManifestError),
    /// With `enforce`: images the lock does not pin (each problem is `unpinned`).
    NotPinned(Vec<Problem>),
    /// Images that cannot be relocated.
    NotRelocated(Vec<Problem>),
    /// Two rewrites overlap, at bytes `start..end` of the stream: a bug in purser.
    Overlap {
        start: usize,
        end: usize,
        first: String,
        second: String,
    },
}

impl fmt::Display for RelocateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RelocateError::EmptyStream => f.write_str(
                "the manifest stream is empty: there is nothing to post-render \
                    (pipe the output of `helm template` into it)",
            ),
            RelocateError::EnforceWithoutLock => {
                f.write_str("enforce needs a lock to check images against")
            }
            RelocateError::Manifests(e) => e.fmt(f),
            RelocateError::NotPinned(problems) => f.write_str(&problem_message(problems, true)),
            RelocateError::NotRelocated(problems) => f.write_str(&problem_message(problems, false)),
            RelocateError::Overlap {
                start,
                end,
                first,
                second,
            } => write!(
                f,
                "two references overlap at bytes {start}..{end} of the stream ({first:?} and {second:?}); this is a bug in purser, please report it"
            ),
        }
    }
}

impl std::error::Error for RelocateError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RelocateError::Manifests(e) => Some(e),
            _ => None,
        }
    }
}

/// For callers whose errors are messages: the message.
impl From<RelocateError> for String {
    fn from(e: RelocateError) -> String {
        e.to_string()
    }
}

/// Rewrites `stream`. Errors name the image and where it is (template file, resource,
/// container, field); every image at fault is listed, not only the first.
pub fn relocate(stream: &str, options: &Options<'_>) -> Result<Relocated, RelocateError> {
    if stream.trim().is_empty() {
        return Err(RelocateError::EmptyStream);
    }
    if options.enforce && options.lock.is_none() {
        return Err(RelocateError::EnforceWithoutLock);
    }
    let scan = manifests::scan(stream).map_err(RelocateError::Manifests)?;
    let mut plan = Plan::new(stream, options);
    // Likely references the lock's registries said do not exist: not images, left as written.
    let unresolved: HashSet<&str> = options
        .lock
        .map(|l| l.unresolved.iter().map(|u| u.image.as_str()).collect())
        .unwrap_or_default();
    for finding in &scan.findings {
        if options.typed_only && finding.confidence != Confidence::Certain {
            continue;
        }
        if finding.confidence == Confidence::Likely
            && !unresolved.is_empty()
            && unresolved.contains(finding.reference.canonical().as_str())
        {
            continue;
        }
        plan.finding(finding);
    }
    plan.finish()
}

/// How many places of one image an error lists (the rest are counted).
const PLACES_SHOWN: usize = 5;

/// A replacement of `start..end` of the stream, inside `scalar`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Edit {
    start: usize,
    end: usize,
    text: String,
    scalar: crate::yaml::Source,
}

/// What became of one image (by canonical reference): its new reference, or why not.
#[derive(Debug, Clone)]
enum Outcome {
    /// The new reference, the digest it was pinned to (if pinning applied), and why it was
    /// not pinned where a lock was given but does not pin it (without `enforce`).
    Moved {
        to: Reference,
        pinned: Option<String>,
        unpinned: Option<String>,
        /// `to` is where the image is, to be written in full (placed by `--to`, or the
        /// patched image the lock names); else only the pin is added in place.
        placed: bool,
    },
    /// Not in the lock (or no usable digest in it): why, for the message.
    Unpinned(String),
    /// A rule or the lock cannot be applied.
    Failed(String),
}

struct Plan<'s, 'o, 'l> {
    stream: &'s str,
    options: &'o Options<'l>,
    lock: HashMap<&'l str, &'l LockedImage>,
    outcomes: HashMap<String, Outcome>,
    edits: Vec<Edit>,
    rewritten: usize,
    references: usize,
    /// Findings at fault, grouped by image, in stream order.
    problems: Vec<Problem>,
    warned: HashSet<String>,
    warnings: Vec<String>,
    /// The text each composed image's `hub` field (by its bytes) must take, and the first
    /// image that asked for it.
    hubs: HashMap<(usize, usize), (String, String)>,
    /// Composed images pinned by the lock, waiting for every image composed from the same
    /// tag field to be known.
    pins: Vec<ComposedPin>,
}

/// A composed image the lock pins, pinned through the field that carries its tag once every
/// image composed from that field is known (see [`Plan::pin_composed`]).
#[derive(Debug, Clone)]
struct ComposedPin {
    canonical: String,
    /// The `tag` field, or the `image` field where that carries its own tag or digest.
    holder: Span,
    holder_field: String,
    /// The digest from the lock (`None`: the lock does not pin it, and that was warned of).
    pinned: Option<String>,
    variant: Option<String>,
    quote: bool,
    /// Its hub was rewritten (already counted as rewritten).
    moved: bool,
    finding: Finding,
}

impl<'s, 'o, 'l> Plan<'s, 'o, 'l> {
    fn new(stream: &'s str, options: &'o Options<'l>) -> Self {
        let lock = options
            .lock
            .map(|l| l.images.iter().map(|i| (i.image.as_str(), i)).collect())
            .unwrap_or_default();
        Plan {
            stream,
            options,
            lock,
            outcomes: HashMap::new(),
            edits: Vec::new(),
            rewritten: 0,
            references: 0,
            problems: Vec::new(),
            warned: HashSet::new(),
            warnings: Vec::new(),
            hubs: HashMap::new(),
            pins: Vec::new(),
        }
    }

    fn problem(&mut self, image: &str, why: String, unpinned: bool, finding: &Finding) {
        let place = format!("{}", finding.origin);
        match self.problems.iter_mut().find(|p| p.image == image) {
            Some(p) => p.places.push(place),
            None => self.problems.push(Problem {
                image: image.to_owned(),
                why,
                unpinned,
                locked: false,
                places: vec![place],
            }),
        }
    }

    /// Where the image of `reference` goes, decided once per image.
    fn outcome(&mut self, reference: &Reference) -> (String, Outcome) {
        let canonical = reference.canonical();
        if let Some(o) = self.outcomes.get(&canonical) {
            return (canonical, o.clone());
        }
        let outcome = self.decide(reference, &canonical);
        self.outcomes.insert(canonical.clone(), outcome.clone());
        (canonical, outcome)
    }

    fn decide(&self, reference: &Reference, canonical: &str) -> Outcome {
        let mut pinned = None;
        let mut unpinned = None;
        if self.options.lock.is_some() {
            match self.lock.get(canonical) {
                None => unpinned = Some("not in the lock".to_owned()),
                Some(entry) => match lock_digest(entry, reference, self.options.prefer_patched) {
                    Ok(Some(d)) => pinned = Some(d),
                    Ok(None) => {
                        unpinned = Some(match &entry.missing {
                            Some(why) => format!("in the lock without a digest ({why})"),
                            None => "in the lock without a digest (one per platform and no index digest: lock it again with `helm mirror lock`)".to_owned(),
                        })
                    }
                    Err(e) => return Outcome::Failed(e),
                },
            }
        }
        if let Some(why) = &unpinned {
            if self.options.enforce {
                return Outcome::Unpinned(why.clone());
            }
        }
        // The patched image is only where `helm mirror patch` published it: that place, as
        // the lock names it, whatever --to says.
        let patched = self
            .lock
            .get(canonical)
            .and_then(|e| e.patched.as_ref())
            .filter(|_| self.options.prefer_patched);
        if let Some(p) = patched {
            return match Reference::parse(&p.reference).and_then(|r| r.with_digest(&p.digest)) {
                Ok(to) => Outcome::Moved {
                    to,
                    pinned,
                    unpinned,
                    placed: true,
                },
                Err(e) => Outcome::Failed(format!(
                    "the lock's patched image {}@{}: {e}",
                    p.reference, p.digest
                )),
            };
        }
        let mut to = reference.clone();
        if let Some(d) = &pinned {
            to = match to.with_digest(d) {
                Ok(r) => r,
                Err(e) => return Outcome::Failed(format!("the lock's digest {d:?}: {e}")),
            };
        }
        if let Some(rules) = self.options.rules {
            to = match rules.place(&to) {
                Ok(r) => r,
                Err(e) => return Outcome::Failed(e.to_string()),
            };
        }
        Outcome::Moved {
            to,
            pinned,
            unpinned,
            placed: self.options.rules.is_some(),
        }
    }

    fn finding(&mut self, finding: &Finding) {
        self.references += 1;
        let (canonical, outcome) = self.outcome(&finding.reference);
        let (to, pinned, relocating) = match outcome {
            Outcome::Failed(message) => {
                self.problem(&canonical, message, false, finding);
                return;
            }
            Outcome::Unpinned(why) => {
                self.problem(&canonical, why, true, finding);
                return;
            }
            Outcome::Moved {
                to,
                pinned,
                unpinned,
                placed,
            } => {
                if let Some(why) = unpinned {
                    // Not enforced: relocated, left unpinned, and said so once.
                    if self.warned.insert(canonical.clone()) {
                        self.warnings.push(format!(
                            "{canonical}: {why}; left unpinned (at {})",
                            finding.origin
                        ));
                    }
                }
                (to, pinned, placed)
            }
        };
        let before = self.edits.len();
        match &finding.spot {
            Some(Spot::Text(span)) => {
                let text = if relocating {
                    spelled(&to)
                } else {
                    // Pinned in place: the name and tag as the chart wrote them.
                    let written = finding.written.trim();
                    match &pinned {
                        Some(d) => {
                            let name = written.split('@').next().unwrap_or(written);
                            format!("{name}@{d}")
                        }
                        None => written.to_owned(),
                    }
                };
                self.edit(span, text);
            }
            Some(Spot::Map(parts)) => {
                let current = |s: &Span| self.stream[s.start..s.end].to_owned();
                let mut registry = parts.registry.as_ref().map(current);
                let mut repository = current(&parts.repository);
                let mut tag = parts.tag.as_ref().map(current);
                let mut digest = parts.digest.as_ref().map(current);
                if relocating {
                    match &mut registry {
                        Some(r) => {
                            *r = to.registry().to_owned();
                            repository = to.repository().to_owned();
                        }
                        None => repository = to.name(),
                    }
                }
                if let Some(d) = &pinned {
                    // Where the map has no digest, the pin goes where a chart composing
                    // `repository:tag` will carry it along.
                    match (&mut digest, &mut tag) {
                        (Some(old), _) => *old = d.clone(),
                        (None, Some(t)) => *t = format!("{}@{d}", to.tag().unwrap_or(t)),
                        (None, None) => repository = format!("{repository}@{d}"),
                    }
                }
                for (span, text) in [
                    (parts.registry, registry),
                    (Some(parts.repository), Some(repository)),
                    (parts.tag, tag),
                    (parts.digest, digest),
                ] {
                    if let (Some(span), Some(text)) = (span, text) {
                        self.edit(&span, text);
                    }
                }
            }
            Some(Spot::Composed(spans)) => {
                self.composed(finding, &canonical, &to, pinned, spans);
                return;
            }
            None => {
                let unchanged = to == finding.reference && pinned.is_none();
                if !unchanged {
                    self.problem(
                        &canonical,
                        "cannot be rewritten in place: the manifest spells it with escape \
                         sequences (a double-quoted string with \\ in it); write it plainly \
                         in the chart, or pass --typed-only if it is not an image field"
                            .to_owned(),
                        false,
                        finding,
                    );
                }
                return;
            }
        }
        if self.edits.len() > before {
            self.rewritten += 1;
        }
    }

    /// An image composed from an embedded document's `hub`, `image` and `tag`: moved by
    /// rewriting the hub (the same text for every image composed from it, or an error naming
    /// both), pinned later through its tag (see [`Plan::pin_composed`]).
    fn composed(
        &mut self,
        finding: &Finding,
        canonical: &str,
        to: &Reference,
        pinned: Option<String>,
        c: &ComposedSpans,
    ) {
        let current = self.stream[c.hub.start..c.hub.end].to_owned();
        let mut hub = current.clone();
        if to.name() != finding.reference.name() {
            let image = &self.stream[c.image.start..c.image.end];
            let name = image.split([':', '@']).next().unwrap_or(image);
            let to_name = to.name();
            match to_name.strip_suffix(name).and_then(|h| h.strip_suffix('/')) {
                Some(h) => hub = h.to_owned(),
                None => {
                    self.problem(
                        canonical,
                        format!(
                            "cannot be rewritten in place: {} composes it as {{hub}}/{name} from {}, \
                             but its name in the mirror, {to_name}, does not end in /{name}",
                            document(&finding.origin),
                            c.hub_field
                        ),
                        false,
                        finding,
                    );
                    return;
                }
            }
        }
        match self.hubs.get(&(c.hub.start, c.hub.end)) {
            Some((other, other_image)) if *other != hub => {
                let why = format!(
                    "cannot be rewritten in place: {} composes it from the hub {}, which would \
                     have to be both {other:?} (for {other_image}) and {hub:?} (for this image); \
                     send the images composed from one hub to one place (one --to, or one --map \
                     rule for all of them), or set the hub through the chart's values",
                    document(&finding.origin),
                    c.hub_field
                );
                self.problem(canonical, why, false, finding);
                return;
            }
            Some(_) => {}
            None => {
                self.hubs.insert(
                    (c.hub.start, c.hub.end),
                    (hub.clone(), canonical.to_owned()),
                );
            }
        }
        let moved = hub != current;
        if moved {
            self.edit(&c.hub, hub);
            self.rewritten += 1;
        }
        if self.options.lock.is_some() {
            let (holder, holder_field) = match (&c.tag, &c.tag_field) {
                (Some(tag), Some(field)) => (*tag, field.clone()),
                _ => (c.image, origin_field(&finding.origin)),
            };
            self.pins.push(ComposedPin {
                canonical: canonical.to_owned(),
                holder,
                holder_field,
                pinned,
                variant: c.variant.clone(),
                quote: c.tag.is_some() && c.tag_plain_in_json,
                moved,
                finding: finding.clone(),
            });
        }
    }

    /// Pins composed images through the fields that carry their tags: `tag@digest` where
    /// every image composed from that field is pinned to the same digest and no variant is
    /// appended to it; otherwise the field is left as it is, each image said so (a warning,
    /// or under `enforce` an error).
    fn pin_composed(&mut self) {
        let pins = std::mem::take(&mut self.pins);
        let mut groups: Vec<((usize, usize), Vec<&ComposedPin>)> = Vec::new();
        for pin in &pins {
            let key = (pin.holder.start, pin.holder.end);
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, g)) => g.push(pin),
                None => groups.push((key, vec![pin])),
            }
        }
        for (_, group) in groups {
            let first = group[0];
            let variant = group.iter().find_map(|p| p.variant.as_deref());
            let digest = first.pinned.as_deref();
            let shared = digest.is_some() && group.iter().all(|p| p.pinned.as_deref() == digest);
            if let (true, None, Some(d)) = (shared, variant, digest) {
                let current = &self.stream[first.holder.start..first.holder.end];
                let base = current.split('@').next().unwrap_or(current);
                let mut text = format!("{base}@{d}");
                if first.quote {
                    text = format!("\"{text}\"");
                }
                if text != current {
                    self.edit(&first.holder, text);
                    self.rewritten += group.iter().filter(|p| !p.moved).count();
                }
                continue;
            }
            for pin in &group {
                let Some(d) = &pin.pinned else { continue };
                let (reason, remedy) = match variant {
                    Some(v) => (
                        format!(
                            "the injector appends the variant {v:?} to the tag it composes from \
                             {}, so a digest cannot go there",
                            pin.holder_field
                        ),
                        format!(
                            "write the variant into the tag through the chart's values (tag \
                             TAG-{v}, variant empty) and lock that image"
                        ),
                    ),
                    None => {
                        let other = group
                            .iter()
                            .find(|o| o.pinned.as_deref() != Some(d.as_str()))
                            .map(|o| match &o.pinned {
                                Some(od) => format!("{}, which the lock pins to {od}", o.canonical),
                                None => format!("{}, which the lock does not pin", o.canonical),
                            })
                            .unwrap_or_default();
                        (
                            format!(
                                "its tag is composed from {}, which is also the tag of {other}; \
                                 one field cannot carry both",
                                pin.holder_field
                            ),
                            "give the images their own tags through the chart's values, or \
                             lock them all"
                                .to_owned(),
                        )
                    }
                };
                if self.options.enforce {
                    let new = !self.problems.iter().any(|p| p.image == pin.canonical);
                    self.problem(
                        &pin.canonical,
                        format!(
                            "in the lock ({d}) but cannot be pinned in place, so it would be \
                             pulled by tag: {reason}; {remedy}"
                        ),
                        true,
                        &pin.finding,
                    );
                    if new {
                        if let Some(p) = self.problems.last_mut() {
                            p.locked = true;
                        }
                    }
                } else if self.warned.insert(pin.canonical.clone()) {
                    self.warnings.push(format!(
                        "{}: in the lock ({d}) but left unpinned: {reason} (at {})",
                        pin.canonical, pin.finding.origin
                    ));
                }
            }
        }
    }

    /// Records a replacement of `span`'s text, unless it changes nothing.
    fn edit(&mut self, span: &Span, text: String) {
        if self.stream.get(span.start..span.end) == Some(text.as_str()) {
            return;
        }
        self.edits.push(Edit {
            start: span.start,
            end: span.end,
            text,
            scalar: span.scalar,
        });
    }

    fn finish(mut self) -> Result<Relocated, RelocateError> {
        self.pin_composed();
        if !self.problems.is_empty() {
            let enforce = self.options.enforce && self.problems.iter().all(|p| p.unpinned);
            return Err(if enforce {
                RelocateError::NotPinned(self.problems)
            } else {
                RelocateError::NotRelocated(self.problems)
            });
        }
        let stream = self.stream;
        self.edits.sort_by_key(|e| (e.scalar.start, e.start, e.end));
        self.edits.dedup();
        for pair in self.edits.windows(2) {
            if pair[1].start < pair[0].end {
                return Err(RelocateError::Overlap {
                    start: pair[1].start,
                    end: pair[0].end,
                    first: pair[0].text.clone(),
                    second: pair[1].text.clone(),
                });
            }
        }
        let mut text = String::with_capacity(stream.len() + self.edits.len() * 64);
        let mut copied = 0;
        let mut i = 0;
        while i < self.edits.len() {
            let scalar = self.edits[i].scalar;
            let mut j = i;
            while j < self.edits.len() && self.edits[j].scalar == scalar {
                j += 1;
            }
            text.push_str(&stream[copied..scalar.start]);
            rewrite_scalar(stream, scalar, &self.edits[i..j], &mut text);
            copied = scalar.end;
            i = j;
        }
        text.push_str(&stream[copied..]);
        Ok(Relocated {
            text,
            rewritten: self.rewritten,
            references: self.references,
            warnings: self.warnings,
        })
    }
}

/// The resource a finding sits in, for messages: `ConfigMap rel-injector (chart/templates/x.yaml)`.
fn document(origin: &Origin) -> String {
    match origin {
        Origin::Rendered {
            template,
            kind,
            name,
            ..
        } => {
            let mut s = kind.clone();
            if let Some(n) = name {
                s.push(' ');
                s.push_str(n);
            }
            if let Some(t) = template {
                let _ = write!(s, " ({t})");
            }
            s
        }
        other => other.to_string(),
    }
}

/// The field path of a rendered finding.
fn origin_field(origin: &Origin) -> String {
    match origin {
        Origin::Rendered { field, .. } => field.clone(),
        other => other.to_string(),
    }
}

/// The message listing `problems`: those the lock does not pin under `--enforce` when
/// `enforce`, else those that cannot be relocated.
fn problem_message(problems: &[Problem], enforce: bool) -> String {
    let mut m = String::new();
    let n = problems.len();
    if enforce {
        let _ = writeln!(
            m,
            "{n} image{} the lock does not pin (--enforce):",
            if n == 1 { "" } else { "s" }
        );
    } else {
        let _ = writeln!(
            m,
            "{n} image{} cannot be relocated:",
            if n == 1 { "" } else { "s" }
        );
    }
    for Problem {
        image, why, places, ..
    } in problems
    {
        let _ = writeln!(m, "  {image}: {why}");
        let mut seen = HashSet::new();
        let distinct: Vec<&String> = places.iter().filter(|p| seen.insert(*p)).collect();
        for place in distinct.iter().take(PLACES_SHOWN) {
            let _ = writeln!(m, "    at {place}");
        }
        if distinct.len() > PLACES_SHOWN {
            let _ = writeln!(m, "    and {} more places", distinct.len() - PLACES_SHOWN);
        }
    }
    if enforce && problems.iter().any(|p| !p.locked) {
        m.push_str(
            "lock them (helm mirror lock CHART -o FILE, with the values you install with), or remove them from the release",
        );
    }
    m.trim_end().to_owned()
}

/// The digest to pin `reference` to from its lock entry: the entry's `digest` (the index
/// where there is one), else the digest the reference already names, else the only platform
/// digest; with `prefer_patched`, the patched image's digest where the lock records one. A
/// reference that names a digest the lock contradicts is an error.
fn lock_digest(
    entry: &LockedImage,
    reference: &Reference,
    prefer_patched: bool,
) -> Result<Option<String>, String> {
    if prefer_patched && let Some(patched) = &entry.patched {
        return Ok(Some(patched.digest.clone()));
    }
    let named = reference.digest();
    if let Some(d) = &entry.digest {
        if let Some(n) = named {
            if n != d {
                return Err(format!(
                    "the chart pins it to {n} but the lock says {d}; lock it again (helm mirror lock) or fix the chart"
                ));
            }
        }
        return Ok(Some(d.clone()));
    }
    if let Some(n) = named {
        return Ok(Some(n.to_owned()));
    }
    match entry.digests.as_slice() {
        [only] => Ok(Some(only.digest.clone())),
        _ => Ok(None),
    }
}

/// `registry/repository[:tag][@digest]`, without the `:latest` a canonical form would add.
fn spelled(r: &Reference) -> String {
    let mut s = r.name();
    if let Some(t) = r.tag() {
        s.push(':');
        s.push_str(t);
    }
    if let Some(d) = r.digest() {
        s.push('@');
        s.push_str(d);
    }
    s
}

/// Writes `scalar` with `edits` (sorted, inside it) applied, keeping it valid in its style.
fn rewrite_scalar(stream: &str, scalar: crate::yaml::Source, edits: &[Edit], out: &mut String) {
    let mut body = String::with_capacity(scalar.end - scalar.start + 64);
    let mut copied = scalar.start;
    for e in edits {
        body.push_str(&stream[copied..e.start]);
        escape_into(&e.text, scalar.style, &mut body);
        copied = e.end;
    }
    body.push_str(&stream[copied..scalar.end]);
    if scalar.style == Style::Plain {
        let properties = properties_len(&body);
        let content = &body[properties..];
        if plain_needs_quotes(content, edits) {
            out.push_str(&body[..properties]);
            if content.contains('\n') {
                // Quoted scalars must indent their continuation lines, plain ones in flow
                // context need not: write the folded value on one line instead.
                out.push('"');
                escape_into(&fold_plain(content), Style::DoubleQuoted, out);
                out.push('"');
            } else {
                out.push('\'');
                escape_into(content, Style::SingleQuoted, out);
                out.push('\'');
            }
            return;
        }
    }
    out.push_str(&body);
}

/// `text` written inside a scalar of `style`.
fn escape_into(text: &str, style: Style, out: &mut String) {
    match style {
        Style::DoubleQuoted => {
            for c in text.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    c if c.is_control() => {
                        let _ = write!(out, "\\u{:04x}", c as u32);
                    }
                    c => out.push(c),
                }
            }
        }
        Style::SingleQuoted => {
            for c in text.chars() {
                if c == '\'' {
                    out.push('\'');
                }
                out.push(c);
            }
        }
        Style::Plain | Style::Literal | Style::Folded => out.push_str(text),
    }
}

/// The value of a multi-line plain scalar: lines trimmed, a single line break read as a
/// space, each further one as a newline.
fn fold_plain(content: &str) -> String {
    let mut out = String::with_capacity(content.len());
    let mut breaks = 0;
    for (i, line) in content.split('\n').enumerate() {
        let line = line.trim_matches([' ', '\t', '\r']);
        if i == 0 {
            out.push_str(line);
        } else if line.is_empty() {
            breaks += 1;
        } else {
            if breaks == 0 {
                out.push(' ');
            }
            for _ in 0..breaks {
                out.push('\n');
            }
            breaks = 0;
            out.push_str(line);
        }
    }
    out
}

/// The length of a scalar's anchor and tag (`&a !!str `) in front of its text.
fn properties_len(text: &str) -> usize {
    let mut at = 0;
    while text[at..].starts_with(['&', '!']) {
        let rest = &text[at..];
        let word = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let after = &rest[word..];
        let spaces = after.len() - after.trim_start().len();
        at += word + spaces;
    }
    at
}

/// Whether a plain scalar with new text in it must be quoted to read back the same: the new
/// text brings flow indicators (`[::1]` registries: a plain scalar inside `[...]` or `{...}`
/// may not hold them) or starts the scalar with an indicator.
fn plain_needs_quotes(content: &str, edits: &[Edit]) -> bool {
    let brings_flow = edits.iter().any(|e| {
        e.text.contains(['[', ']', '{', '}', ',', '#', '\'', '"']) || e.text.contains(": ")
    });
    let starts_badly = content.starts_with([
        '[', ']', '{', '}', ',', '#', '&', '*', '!', '|', '>', '\'', '"', '%', '@', '`',
    ]) || content.starts_with("- ")
        || content.starts_with("? ")
        || content.starts_with(": ");
    brings_flow || starts_badly
}

#[cfg(test)]
mod tests;
