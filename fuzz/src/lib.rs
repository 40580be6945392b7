//! ocb's parsers, compiled for fuzzing without the rest of the crate: the
//! modules below are ocb's own source files (by path, so the fuzzed code is
//! exactly what ships), and none of them needs polars or Chromium, whose
//! instrumented build would take longer than the fuzzing itself.

#[path = "../../src/attribute.rs"]
pub mod attribute;
#[path = "../../src/charge.rs"]
pub mod charge;
#[path = "../../src/close.rs"]
pub mod close;
#[path = "../../src/config.rs"]
pub mod config;
#[path = "../../src/discover.rs"]
pub mod discover;
#[path = "../../src/flag.rs"]
pub mod flag;
#[path = "../../src/focus.rs"]
pub mod focus;
#[path = "../../src/interrupt.rs"]
pub mod interrupt;
#[path = "../../src/load.rs"]
pub mod load;
#[path = "../../src/lock.rs"]
pub mod lock;
#[path = "../../src/money.rs"]
pub mod money;
#[path = "../../src/period.rs"]
pub mod period;
#[path = "../../src/precision.rs"]
pub mod precision;
#[path = "../../src/problem.rs"]
pub mod problem;
#[path = "../../src/projects.rs"]
pub mod projects;
#[path = "../../src/review.rs"]
pub mod review;
#[path = "../../src/write.rs"]
pub mod write;

#[path = "../../src/convert/sacct.rs"]
#[doc(hidden)]
pub mod convert_sacct;
#[path = "../../src/convert/snapshots.rs"]
#[doc(hidden)]
pub mod convert_snapshots;

/// The same paths as in ocb: `ocb::convert::sacct`.
pub mod convert {
    pub use super::convert_sacct as sacct;
    pub use super::convert_snapshots as snapshots;
}
