//! The copy engine: [`plan`] walks the source [`Store`] and builds a core
//! [`Plan`](purser::plan::Plan) (index -> manifests -> blobs, referrers, cosign tags, the
//! chart), then [`execute`] moves it to the target store:
//!
//! - each unique blob once: checked at the first target repository (HEAD), streamed from the
//!   source when missing and verified against its digest on the way, then mounted into every
//!   other target repository of that registry (upload when the mount is refused);
//! - manifests as the exact bytes fetched, pushed by digest, children before their index,
//!   referrers after their subject; on a target without the referrers API the
//!   `sha256-<hex>` fallback index is written, merged with what is there;
//! - tags last, and only for images whose every part arrived: an interrupted run never
//!   leaves a tag on an incomplete image, and running again finishes the job, moving only
//!   what is missing.
//!
//! Copy, export and import are this one engine over different stores.

mod execute;
mod plan;

pub use execute::{BlobMode, BlobOutcome, Execution, Executor, LocalBlobs};
pub use plan::{ImageRequest, PlanOptions, Planned, TagsUnlisted, Walked, plan};
