//! Stopping a run at a write boundary when the user asks (Ctrl-C, SIGTERM).
//!
//! While a run writes (from the first Inbox write to the end of the record phase), a request
//! to stop is deferred: the push finishes the prospect it is writing, writes nothing more, and
//! the record phase keeps what was written (each write already left its receipt in the change
//! log). Outside that window nothing was written and the caller may stop the process at once.
//!
//! This module only keeps the flags; listening for signals is the CLI's job, and it must not
//! print.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// A run's stop request, shared between the run and whoever listens for signals.
#[derive(Debug, Default)]
pub struct Interrupt {
    /// The run is between its first write and the end of its record phase.
    writing: AtomicBool,
    /// The name of the signal that asked to stop (`SIGINT`, `SIGTERM`), once one did.
    requested: Mutex<Option<&'static str>>,
}

/// What the listener should do with a stop request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopNow {
    /// The run is not writing: stop the process now, nothing is lost.
    NotWriting,
    /// The run is writing: it stops at the next write boundary and reports what it wrote.
    Deferred,
    /// A second request while writing: stop now (each write so far left its receipt).
    Again,
}

impl Interrupt {
    /// Asks the run to stop, because of `signal`.
    pub fn request(&self, signal: &'static str) -> StopNow {
        let mut requested = self
            .requested
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let again = requested.is_some();
        *requested = Some(signal);
        match (self.writing.load(Ordering::SeqCst), again) {
            (false, _) => StopNow::NotWriting,
            (true, false) => StopNow::Deferred,
            (true, true) => StopNow::Again,
        }
    }

    /// The signal that asked the run to stop, if one did.
    pub fn requested(&self) -> Option<&'static str> {
        *self
            .requested
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Marks the run as writing until the guard is dropped.
    pub(crate) fn writing(&self) -> WritingGuard<'_> {
        self.writing.store(true, Ordering::SeqCst);
        WritingGuard(self)
    }
}

/// See [`Interrupt::writing`].
pub(crate) struct WritingGuard<'a>(&'a Interrupt);

impl Drop for WritingGuard<'_> {
    fn drop(&mut self) {
        self.0.writing.store(false, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_while_writing_is_deferred_once_and_a_second_one_stops_at_once() {
        let interrupt = Interrupt::default();
        assert_eq!(interrupt.requested(), None);
        {
            let _writing = interrupt.writing();
            assert_eq!(interrupt.request("SIGINT"), StopNow::Deferred);
            assert_eq!(interrupt.requested(), Some("SIGINT"));
            assert_eq!(interrupt.request("SIGINT"), StopNow::Again);
        }
        let idle = Interrupt::default();
        assert_eq!(idle.request("SIGTERM"), StopNow::NotWriting);
    }
}
