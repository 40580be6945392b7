//! One build at a time for `ocb serve`: the file watcher and the desk's
//! actions both rebuild through here, and a change already covered by a
//! build that started after it is not built twice.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// What a build found: nothing (ok), or the problems that kept the previous output.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Outcome {
    pub ok: bool,
    pub problems: Vec<String>,
}

type BuildFn = Box<dyn Fn() -> Outcome + Send + Sync>;

pub struct Builds {
    build: BuildFn,
    /// When the last build started; held while a build runs.
    last_start: Mutex<Option<Instant>>,
    generation: AtomicU64,
}

impl Builds {
    pub fn new(build: BuildFn) -> Builds {
        Builds {
            build,
            last_start: Mutex::new(None),
            generation: AtomicU64::new(0),
        }
    }

    /// Counts successful builds; pages reload when it changes.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    pub fn run(&self) -> Outcome {
        let mut last = self.last_start.lock().unwrap_or_else(|e| e.into_inner());
        *last = Some(Instant::now());
        let outcome = (self.build)();
        if outcome.ok {
            self.generation.fetch_add(1, Ordering::SeqCst);
        }
        outcome
    }

    /// Build for a change seen at `seen`, unless a build started after it
    /// (the desk rebuilds right after its own writes).
    pub fn run_for_change(&self, seen: Instant) -> Option<Outcome> {
        let mut last = self.last_start.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_some_and(|t| t > seen) {
            return None;
        }
        *last = Some(Instant::now());
        let outcome = (self.build)();
        if outcome.ok {
            self.generation.fetch_add(1, Ordering::SeqCst);
        }
        Some(outcome)
    }
}
