//! `crmsync daemon`: the sync on the `[schedule]` of `sync.toml`, in one long-lived process.
//!
//! Loads the config and builds the run context once, hands the scheduler a closure that runs one
//! sync and prints one line about it (a daemon's stdout usually goes to a journal), and turns
//! SIGINT/SIGTERM into the scheduler's shutdown future. A second signal stops at once, without
//! waiting for the run in progress.
//!
//! It must not do the scheduler's work (ticks, overlap, grace period) or the engine's (the run
//! lock, the sync itself): it only wires them together and renders.

use std::cell::Cell;
use std::path::Path;

use anyhow::Context as _;
use chrono::{DateTime, SecondsFormat, Utc};
use clap::Args;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::Notify;

use crate::config::Config;
use crate::engine::{Context, Progress, SyncReport};
use crate::scheduler::{
    self, DaemonOptions, DaemonSummary, Ended, JobOutcome, SHUTDOWN_GRACE, Schedule, SystemClock,
};
use crate::store::RunMode;

use super::out::{self, say};
use super::{EXIT_ERROR, EXIT_LOCKED, EXIT_OK, exit, run};

/// `daemon` options.
#[derive(Debug, Args)]
pub struct DaemonArgs {
    /// Run one scheduled sync (waiting for the next tick), then exit with its exit code.
    #[arg(long)]
    pub once: bool,
    /// Make the first sync now instead of at the next tick; with --once, run now and exit.
    #[arg(long)]
    pub now: bool,
}

/// `crmsync daemon`.
pub async fn run(config_path: &Path, args: DaemonArgs) -> anyhow::Result<u8> {
    let config = Config::load(config_path)?;
    let schedule = config.schedule.clone();
    let ctx = Context::new(config, Progress::hidden())?;
    // Installed before the first line is printed, so a signal sent after it is always caught.
    let mut signals = Signals::install()?;

    let started = Utc::now();
    let next = match schedule.next_after(started) {
        Some(next) => format!("next run at {}{}", stamp(next), local_note(&schedule, next)),
        None => "no further run time".to_string(),
    };
    let plan = match (args.once, args.now) {
        (true, true) => "running one sync now".to_string(),
        (true, false) => format!("schedule {schedule}; {next}, then exit"),
        (false, true) => format!("schedule {schedule}; running one sync now, then {next}"),
        (false, false) => format!("schedule {schedule}; {next}"),
    };
    say!("{} daemon: {plan}", stamp(started))?;

    let running = Cell::new(false);
    let last_exit = Cell::new(EXIT_OK);
    // A closed stdout (`crmsync daemon | head -1`) stops the daemon as SIGPIPE would, quietly.
    let stdout_closed = Cell::new(false);
    let stop = Notify::new();
    let (ctx_ref, running_ref, last_exit_ref) = (&ctx, &running, &last_exit);
    let (closed_ref, stop_ref) = (&stdout_closed, &stop);
    let job = move || async move {
        running_ref.set(true);
        let started = Utc::now();
        let result = run::execute(ctx_ref, RunMode::Sync, false, false).await;
        running_ref.set(false);
        let judged = judge(result);
        if out::quiet() && judged.exit != EXIT_OK {
            // -q: a run that did not go through is the one line on stderr.
            eprintln!("{} {}", stamp(started), judged.line);
        } else if say!("{} {}", stamp(started), judged.line).is_err() {
            closed_ref.set(true);
            stop_ref.notify_one();
        }
        last_exit_ref.set(judged.exit);
        judged.outcome
    };

    let first_signal = Cell::new(None);
    let options = DaemonOptions {
        once: args.once,
        start_now: args.now,
        ..DaemonOptions::default()
    };
    let daemon = scheduler::run_with(&schedule, &SystemClock, job, stop.notified(), &options);
    let watcher = async {
        let name = signals.next().await;
        first_signal.set(Some(name));
        let waiting = if running.get() {
            format!(
                "; letting the run in progress finish (up to {} min; send the signal again to stop at once)",
                SHUTDOWN_GRACE.as_secs() / 60
            )
        } else {
            String::new()
        };
        let _ = say!("{} daemon: {name}: stopping{waiting}", stamp(Utc::now()));
        stop.notify_one();
        signals.next().await
    };

    let summary = tokio::select! {
        summary = daemon => summary,
        name = watcher => {
            // The daemon future, and with it the run in progress, is dropped here. The engine
            // commits each step in its own transaction, so the next run picks up from there.
            say!(
                "{} daemon: {name} again: stopped without waiting for the run in progress",
                stamp(Utc::now())
            )?;
            return Ok(if args.once { EXIT_ERROR } else { EXIT_OK });
        }
    };
    if stdout_closed.get() {
        return Err(out::Closed::Pipe.into());
    }
    let signal_name = first_signal.get().unwrap_or("shutdown");
    match summary.ended {
        Ended::Once => Ok(last_exit.get()),
        Ended::Shutdown => {
            say!(
                "{} daemon: stopped by {signal_name}{}",
                stamp(Utc::now()),
                tally(&summary)
            )?;
            // --once stopped after its run finished: that run decides the exit code.
            Ok(if args.once && summary.last.is_some() {
                last_exit.get()
            } else {
                EXIT_OK
            })
        }
        Ended::Abandoned => {
            say!(
                "{} daemon: stopped by {signal_name}; the run in progress did not finish within {} min and was dropped{}",
                stamp(Utc::now()),
                SHUTDOWN_GRACE.as_secs() / 60,
                tally(&summary)
            )?;
            Ok(if args.once { EXIT_ERROR } else { EXIT_OK })
        }
        Ended::NoNextTick => {
            anyhow::bail!("the schedule {schedule} has no further run time")
        }
    }
}

/// What one run means for the scheduler, the exit code and the journal.
struct Judged {
    outcome: JobOutcome,
    exit: u8,
    line: String,
}

/// Classifies one sync's result: a safety stop counts as a failure, a held lock as skipped.
fn judge(result: anyhow::Result<SyncReport>) -> Judged {
    match result {
        Ok(report) => {
            if let Some(reason) = &report.stopped {
                return Judged {
                    outcome: JobOutcome::Failed(format!("run {} stopped: {reason}", report.run_id)),
                    exit: exit::of_outcome(report.outcome()),
                    line: format!("sync stopped (run {}): {reason}", report.run_id),
                };
            }
            let counts = format!(
                "{} inbox, {} crm writes, {} conflicts (run {})",
                report.writes.inbox, report.writes.crm, report.conflicts.found, report.run_id
            );
            let line = match &report.incomplete {
                Some(why) => format!("sync incomplete: {counts}: {why}"),
                None => format!("sync ok: {counts}"),
            };
            Judged {
                outcome: JobOutcome::Done,
                exit: exit::of_outcome(report.outcome()),
                line,
            }
        }
        Err(err) => {
            let exit = exit::of_error(&err);
            if exit == EXIT_LOCKED {
                return Judged {
                    outcome: JobOutcome::Locked,
                    exit,
                    line: format!("sync skipped: {err:#}"),
                };
            }
            Judged {
                outcome: JobOutcome::Failed(format!("{err:#}")),
                exit,
                line: format!("sync failed: {err:#}"),
            }
        }
    }
}

/// ", after N runs (a ok, b failed, c skipped)" or "" when nothing ran.
fn tally(summary: &DaemonSummary) -> String {
    if summary.runs == 0 {
        return String::new();
    }
    let mut parts = vec![format!("{} ok", summary.done)];
    if summary.failed > 0 {
        parts.push(format!("{} failed", summary.failed));
    }
    if summary.locked > 0 {
        parts.push(format!("{} skipped (locked)", summary.locked));
    }
    if summary.missed_ticks > 0 {
        parts.push(format!("{} ticks missed", summary.missed_ticks));
    }
    format!(" after {} run(s): {}", summary.runs, parts.join(", "))
}

/// An instant as `2026-11-26T02:00:00Z`.
fn stamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// " (03:00 Europe/Paris)" when the schedule's zone is not UTC.
fn local_note(schedule: &Schedule, at: DateTime<Utc>) -> String {
    if schedule.time_zone() == chrono_tz::UTC {
        return String::new();
    }
    format!(
        " ({} {})",
        schedule.local(at).format("%Y-%m-%d %H:%M"),
        schedule.time_zone().name()
    )
}

/// SIGTERM and SIGINT listeners.
struct Signals {
    terminate: Signal,
    interrupt: Signal,
}

impl Signals {
    fn install() -> anyhow::Result<Signals> {
        let listen = |kind: SignalKind, name: &str| {
            signal(kind).with_context(|| format!("listening for {name}"))
        };
        Ok(Signals {
            terminate: listen(SignalKind::terminate(), "SIGTERM")?,
            interrupt: listen(SignalKind::interrupt(), "SIGINT")?,
        })
    }

    /// Waits for the next SIGTERM or SIGINT and names it.
    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.terminate.recv() => "SIGTERM",
            _ = self.interrupt.recv() => "SIGINT",
        }
    }
}
