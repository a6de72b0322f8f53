//! Exit codes: the one place that decides them, from how a run ended ([`RunOutcome`], or the
//! [`RunStatus`] the run history stored) or from what caused an error. The engine and the store
//! know outcomes and statuses only, never a number.
//!
//! 0 done (conflicts are reported, not failures); 1 error; 2 bad config or usage; 3 stopped by
//! a safety limit or a changed field mapping; 4 another run holds the lock; 130 stopped by a
//! signal (128 + SIGINT's number, as shells report it).

use crate::config::ConfigError;
use crate::engine::{LockError, RunOutcome};
use crate::store::RunStatus;

/// Exit code: done.
pub const EXIT_OK: u8 = 0;
/// Exit code: an error.
pub const EXIT_ERROR: u8 = 1;
/// Exit code: bad config or usage.
pub const EXIT_CONFIG: u8 = 2;
/// Exit code: stopped by the safety limit before writing.
pub const EXIT_SAFETY: u8 = 3;
/// Exit code: another run holds the lock.
pub const EXIT_LOCKED: u8 = 4;
/// Stopped by Ctrl-C or SIGTERM (128 + 2, as shells report SIGINT).
pub const EXIT_INTERRUPTED: u8 = 130;

/// The exit code of a run that ended without an error.
pub fn of_outcome(outcome: RunOutcome) -> u8 {
    match outcome {
        RunOutcome::Done => EXIT_OK,
        RunOutcome::Stopped => EXIT_SAFETY,
        RunOutcome::Interrupted => EXIT_INTERRUPTED,
    }
}

/// The exit code a stored run ended with; none while it is still running.
pub fn of_status(status: RunStatus) -> Option<u8> {
    match status {
        RunStatus::Running => None,
        RunStatus::Ok => Some(EXIT_OK),
        RunStatus::Failed => Some(EXIT_ERROR),
        RunStatus::Stopped => Some(EXIT_SAFETY),
        RunStatus::Interrupted => Some(EXIT_INTERRUPTED),
    }
}

/// The exit code of an error, by what caused it.
pub fn of_error(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if cause.downcast_ref::<ConfigError>().is_some() {
            return EXIT_CONFIG;
        }
        if cause.downcast_ref::<super::run::Interrupted>().is_some() {
            return EXIT_INTERRUPTED;
        }
        if cause
            .downcast_ref::<LockError>()
            .is_some_and(|e| matches!(e, LockError::Held { .. }))
        {
            return EXIT_LOCKED;
        }
    }
    EXIT_ERROR
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_run_shows_the_code_its_run_exited_with() {
        for outcome in [
            RunOutcome::Done,
            RunOutcome::Stopped,
            RunOutcome::Interrupted,
        ] {
            assert_eq!(
                of_status(outcome.status()),
                Some(of_outcome(outcome)),
                "{outcome:?}"
            );
        }
        assert_eq!(of_status(RunStatus::Running), None);
        assert_eq!(of_status(RunStatus::Failed), Some(EXIT_ERROR));
    }
}
