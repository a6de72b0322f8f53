//! What a run is asked to do: the mode, the overrides given on the command line and the run's
//! one clock reading. Read by every phase, it depends on none of them.

use chrono::{DateTime, Utc};

use crate::store::{RunId, RunMode};

/// What to run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Pull only, plan, or sync.
    pub mode: RunMode,
    /// Override the safety limit.
    pub force: bool,
    /// Walk every thread even when an incremental pull (events) would do.
    pub full_pull: bool,
    /// Re-baseline after a mapping change: record as agreed only what both sides already hold,
    /// forget the rest of the base, push nothing.
    pub resync: bool,
    /// `plan --out`: save the plan (with the values it was made from) to this file.
    pub save_plan: Option<std::path::PathBuf>,
    /// `sync --plan`: apply exactly this saved plan instead of a fresh one.
    pub apply_plan: Option<std::path::PathBuf>,
    /// `undo RUN_ID`: revert that run's writes instead of syncing (with mode `Plan`: a dry run).
    pub undo: Option<RunId>,
    /// The run's clock reading.
    pub now: DateTime<Utc>,
}

impl RunOptions {
    /// Options for `mode` with everything else off, at the current time.
    pub fn new(mode: RunMode) -> RunOptions {
        RunOptions {
            mode,
            force: false,
            full_pull: false,
            resync: false,
            save_plan: None,
            apply_plan: None,
            undo: None,
            now: Utc::now(),
        }
    }
}
