//! `pull`, `plan` and `sync`.

use std::io::IsTerminal;
use std::path::Path;

use clap::Args;

use crate::config::{Config, CrmAdapterConfig};
use crate::crm::csv::CsvAdapter;
use crate::engine::{self, Context, Progress, RunOptions, SyncReport};
use crate::store::RunMode;

use super::out::{self, emit, say};
use super::{EXIT_OK, exit, render};

/// `--json` alone.
#[derive(Debug, Args)]
pub struct JsonArg {
    /// Print one JSON object instead of the human summary.
    #[arg(long)]
    pub json: bool,
}

/// `pull` options.
#[derive(Debug, Args)]
pub struct PullArgs {
    /// Walk every thread instead of replaying the event log since the last run.
    #[arg(long)]
    pub full: bool,
    /// Print one JSON object instead of the human summary.
    #[arg(long)]
    pub json: bool,
}

/// `plan` options.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Walk every thread instead of replaying the event log since the last run.
    #[arg(long)]
    pub full: bool,
    /// Save the plan, with the values it was made from, for `crmsync sync --plan FILE`.
    #[arg(long, value_name = "FILE")]
    pub out: Option<std::path::PathBuf>,
    /// Print one JSON object instead of the human summary.
    #[arg(long)]
    pub json: bool,
}

/// `sync` options.
#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Apply even when more than safety.max_change_ratio of linked records would change.
    #[arg(long)]
    pub force: bool,
    /// Walk every thread instead of replaying the event log since the last run.
    #[arg(long)]
    pub full: bool,
    /// After a change of the field mapping: take what both sides already share as the new
    /// base, forget the rest of it, and push nothing.
    #[arg(long)]
    pub resync: bool,
    /// Apply exactly this plan (from `crmsync plan --out FILE`); writes whose target changed
    /// on either side since are skipped and reported.
    #[arg(long, value_name = "FILE", conflicts_with = "resync")]
    pub plan: Option<std::path::PathBuf>,
    /// Print one JSON object instead of the human summary.
    #[arg(long)]
    pub json: bool,
}

fn context(config_path: &Path, json: bool) -> anyhow::Result<Context> {
    let config = Config::load(config_path)?;
    let progress = Progress::new(!json && !out::quiet() && std::io::stderr().is_terminal());
    Context::new(config, progress)
}

/// Runs one engine pass with the configured CRM adapter.
pub async fn execute(
    ctx: &Context,
    mode: RunMode,
    force: bool,
    full_pull: bool,
) -> anyhow::Result<SyncReport> {
    let opts = RunOptions {
        force,
        full_pull,
        ..RunOptions::new(mode)
    };
    execute_with(ctx, &opts).await
}

/// Runs one engine pass of a one-off command (`pull`, `plan`, `sync`, `undo`). Ctrl-C or
/// SIGTERM stop it: at once while it has written nothing, else at the next write boundary,
/// with what was written recorded; the run then ends as an [`Interrupted`] error (exit 130).
/// (The daemon and the demo handle signals their own way and call [`execute_with`].)
async fn execute_one_off(ctx: &Context, opts: &RunOptions) -> anyhow::Result<SyncReport> {
    let listener = super::interrupt::listen(ctx.interrupt.clone())?;
    let result = execute_with(ctx, opts).await;
    listener.abort();
    let report = result?;
    match report.interrupted {
        Some(signal) => Err(Interrupted {
            signal,
            run_id: report.run_id,
            inbox_writes: report.writes.inbox,
        }
        .into()),
        None => Ok(report),
    }
}

/// A run stopped by a signal after it had written something.
#[derive(Debug, thiserror::Error)]
#[error(
    "stopped by {signal} after {inbox_writes} Inbox write(s), each recorded in run {run_id} (`crmsync undo {run_id}` reverts them); the next sync continues from here"
)]
pub struct Interrupted {
    /// `SIGINT` or `SIGTERM`.
    pub signal: &'static str,
    /// The run.
    pub run_id: crate::store::RunId,
    /// Inbox write requests that were answered before the stop.
    pub inbox_writes: u64,
}

/// Runs one engine pass with explicit options.
pub async fn execute_with(ctx: &Context, opts: &RunOptions) -> anyhow::Result<SyncReport> {
    if opts.mode == RunMode::Pull {
        return engine::run::<CsvAdapter>(ctx, None, opts).await;
    }
    match &ctx.config.crm.adapter {
        CrmAdapterConfig::Csv(csv) => {
            let mut adapter = CsvAdapter::new(csv);
            engine::run(ctx, Some(&mut adapter), opts).await
        }
        CrmAdapterConfig::Hubspot(_) => {
            let token = ctx.config.hubspot_token()?;
            let mut adapter = crate::crm::hubspot::HubspotAdapter::from_config(&ctx.config, token)?;
            engine::run(ctx, Some(&mut adapter), opts).await
        }
    }
}

/// `crmsync pull`.
pub async fn pull(config_path: &Path, args: PullArgs) -> anyhow::Result<u8> {
    let ctx = context(config_path, args.json)?;
    let opts = RunOptions {
        full_pull: args.full,
        ..RunOptions::new(RunMode::Pull)
    };
    let report = execute_one_off(&ctx, &opts).await?;
    if args.json {
        emit!(
            "{}",
            serde_json::json!({
                "run_id": report.run_id,
                "prospects": report.pull.prospects,
                "threads": report.pull.threads,
                "pages": report.pull.pages,
                "requests": report.requests,
                "rate_limited": report.rate_limited,
                "seconds": report.seconds,
                "pull": report.pull,
            })
        )?;
    } else {
        let people = render::People::of(ctx.config.inbox.api());
        say!(
            "pulled {}, {} in {:.1}s ({} requests, {} rate-limited)",
            render::count(report.pull.prospects, people.one, people.many),
            render::count(report.pull.threads, "thread", "threads"),
            report.seconds,
            report.requests,
            report.rate_limited
        )?;
    }
    Ok(EXIT_OK)
}

/// `[mapping.status]` names that are not Inbox statuses, checked against the statuses the run
/// just pulled into the mirror.
fn status_typos(ctx: &Context) -> anyhow::Result<Vec<String>> {
    if ctx.config.mapping.status.is_empty() {
        return Ok(Vec::new());
    }
    let store = crate::store::Store::open(&ctx.config.state.dir.join("mirror.db"))?;
    let reference = store.reference()?;
    let names: Vec<&str> = reference.statuses.iter().map(|(_, n)| n.as_str()).collect();
    Ok(ctx.config.unknown_status_names(&names))
}

/// `crmsync plan`.
pub async fn plan(config_path: &Path, args: PlanArgs) -> anyhow::Result<u8> {
    let ctx = context(config_path, args.json)?;
    let opts = RunOptions {
        full_pull: args.full,
        save_plan: args.out.clone(),
        ..RunOptions::new(RunMode::Plan)
    };
    let report = execute_one_off(&ctx, &opts).await?;
    let typos = status_typos(&ctx)?;
    let exit = exit_of(&report);
    if args.json {
        for typo in &typos {
            tracing::warn!("[mapping.status]: {typo}");
        }
        emit!("{}", json_of(&report, exit))?;
    } else {
        for typo in &typos {
            say!("warning: [mapping.status]: {typo}")?;
        }
        out::human(format_args!("{}", render::plan(&report)))?;
        if let Some(out) = &args.out {
            say!(
                "\nSaved the plan to {0}; apply exactly this plan with `crmsync sync --plan {0}`.",
                out.display()
            )?;
        }
    }
    Ok(exit)
}

/// `crmsync sync`.
pub async fn sync(config_path: &Path, args: SyncArgs) -> anyhow::Result<u8> {
    let ctx = context(config_path, args.json)?;
    let opts = RunOptions {
        force: args.force,
        full_pull: args.full,
        resync: args.resync,
        apply_plan: args.plan.clone(),
        ..RunOptions::new(RunMode::Sync)
    };
    let report = execute_one_off(&ctx, &opts).await?;
    let exit = exit_of(&report);
    if args.json {
        emit!("{}", json_of(&report, exit))?;
    } else {
        out::human(format_args!("{}", render::sync(&report)))?;
    }
    Ok(exit)
}

/// A run's exit code (`exit::of_outcome`). Under `-q` a safety stop also gets its one line on
/// stderr (the summary that says it on stdout is silenced): what stopped the run and what to do.
fn exit_of(report: &SyncReport) -> u8 {
    if let Some(reason) = &report.stopped
        && out::quiet()
    {
        eprintln!("stopped (run {}): {reason}", report.run_id);
    }
    exit::of_outcome(report.outcome())
}

/// The `--json` object of a run, with the exit code the command ends with.
fn json_of(report: &SyncReport, exit: u8) -> serde_json::Value {
    let mut json = report.to_json();
    json["exit"] = exit.into();
    json
}

/// `undo` options.
#[derive(Debug, Args)]
pub struct UndoArgs {
    /// The run whose writes to revert (see `crmsync runs`).
    pub run_id: i64,
    /// Show what would be reverted; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Apply even when the revert trips the safety limits.
    #[arg(long)]
    pub force: bool,
    /// Print one JSON object instead of the human summary.
    #[arg(long)]
    pub json: bool,
}

/// `crmsync undo RUN_ID`.
pub async fn undo(config_path: &Path, args: UndoArgs) -> anyhow::Result<u8> {
    let ctx = context(config_path, args.json)?;
    // Before pulling anything: a run id that does not exist is a typo, said at once.
    let db = ctx.config.state.dir.join("mirror.db");
    let known = db.exists()
        && crate::store::Store::open(&db)?
            .run_by_id(crate::store::RunId(args.run_id))?
            .is_some();
    anyhow::ensure!(
        known,
        "there is no run {} in {}: `crmsync runs` lists the run ids",
        args.run_id,
        db.display()
    );
    let mode = if args.dry_run {
        RunMode::Plan
    } else {
        RunMode::Sync
    };
    let opts = RunOptions {
        force: args.force,
        undo: Some(crate::store::RunId(args.run_id)),
        ..RunOptions::new(mode)
    };
    let report = execute_one_off(&ctx, &opts).await?;
    let exit = exit_of(&report);
    if args.json {
        emit!("{}", json_of(&report, exit))?;
    } else if args.dry_run {
        out::human(format_args!("{}", render::plan(&report)))?;
    } else {
        out::human(format_args!("{}", render::sync(&report)))?;
    }
    Ok(exit)
}
