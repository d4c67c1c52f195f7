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
//!
//! The work is split by job: `listing` finds the switches, `plan` decides the renders,
//! `merge` merges their findings with the declared ones, and `summary` says how it went.

mod listing;
mod merge;
mod plan;
mod summary;
#[cfg(test)]
mod tests;

pub use listing::{Kind, Switch, list};
pub use merge::merge_default;
pub use plan::{DEFAULT_CAP, Plan, Request};
pub use summary::{Summary, first_error_line};
