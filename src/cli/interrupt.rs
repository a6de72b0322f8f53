//! Ctrl-C and SIGTERM during a one-off run (`sync`, `plan`, `pull`, `undo`).
//!
//! A run that has written nothing stops at once (the pull's transaction rolls back, the OS
//! releases the lock). A run that is writing is asked to stop at the next write boundary
//! (see `engine::interrupt`): it records what it wrote and ends with one line naming it. A
//! second signal stops at once: every write already left its receipt, so `runs` and `undo`
//! still see it. The daemon has its own handling (`cli::daemon`).

use std::sync::Arc;

use anyhow::Context as _;
use tokio::signal::unix::{SignalKind, signal};
use tokio::task::JoinHandle;

use crate::engine::{Interrupt, StopNow};

use super::EXIT_INTERRUPTED;

/// Starts listening for SIGINT and SIGTERM on behalf of `interrupt`. Abort the handle when the
/// run is over.
pub fn listen(interrupt: Arc<Interrupt>) -> anyhow::Result<JoinHandle<()>> {
    let mut sigint = signal(SignalKind::interrupt()).context("listening for SIGINT")?;
    let mut sigterm = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    Ok(tokio::spawn(async move {
        loop {
            let name = tokio::select! {
                _ = sigint.recv() => "SIGINT",
                _ = sigterm.recv() => "SIGTERM",
            };
            match interrupt.request(name) {
                StopNow::Deferred => {
                    tracing::warn!(
                        signal = name,
                        "stopping after the write in progress (send it again to stop at once)"
                    );
                }
                StopNow::NotWriting => {
                    eprintln!("error: stopped by {name} before writing anything");
                    std::process::exit(i32::from(EXIT_INTERRUPTED));
                }
                StopNow::Again => {
                    eprintln!(
                        "error: stopped by {name} at once; every write made so far is recorded (`crmsync runs`), and the next sync continues from here"
                    );
                    std::process::exit(i32::from(EXIT_INTERRUPTED));
                }
            }
        }
    }))
}
