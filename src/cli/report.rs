//! `crmsync report [RUN_ID] [--html FILE] [--json]`: one run as a readable report (the last
//! sync run unless a run is named). The data and the page come from [`crate::report`]; this
//! file only reads the mirror, writes the file and prints.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;

use crate::config::Config;
use crate::report::{self, RunReport, Which};
use crate::store::{RunId, Store};

use super::out::{self, emit, say};
use super::{EXIT_OK, exit};

/// `report` options.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The run to report on (see `crmsync runs`); the last sync run when left out.
    #[arg(value_name = "RUN_ID")]
    pub run: Option<i64>,
    /// Write the report as a self-contained HTML page to this file.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Print the report data as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Builds the report and writes or prints it.
pub fn run(config_path: &Path, args: ReportArgs) -> anyhow::Result<u8> {
    let config = Config::load(config_path)?;
    let db = config.state.dir.join("mirror.db");
    anyhow::ensure!(
        db.exists(),
        "no mirror at {}: nothing has run yet",
        db.display()
    );
    let store = Store::open(&db).with_context(|| format!("opening the mirror {}", db.display()))?;
    let which = args.run.map_or(Which::LastSync, |id| Which::Run(RunId(id)));
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut data = report::load(
        &store,
        which,
        Some(config.limits.max_requests_per_run),
        &now,
    )?;
    data.run.exit_code = exit::of_status(data.run.status);
    if let Some(path) = &args.html {
        std::fs::write(path, report::render_html(&data))
            .with_context(|| format!("writing the report to {}", path.display()))?;
    }
    if args.json {
        emit!("{}", serde_json::to_string_pretty(&data)?)?;
    } else {
        print_summary(&data, args.html.as_deref())?;
    }
    Ok(EXIT_OK)
}

/// A few lines for the terminal.
fn print_summary(data: &RunReport, html: Option<&Path>) -> Result<(), out::Closed> {
    let run = &data.run;
    let duration = run
        .duration_seconds
        .map_or_else(|| "-".to_string(), |s| format!("{s:.1}s"));
    say!(
        "run {} ({}), started {}, {}, {}, exit {}",
        run.id,
        run.mode,
        run.started_at,
        duration,
        run.status,
        run.exit_code
            .map_or_else(|| "-".to_string(), |c| c.to_string())
    )?;
    say!(
        "changes: {} in Inbox, {} in the CRM | conflicts: {} opened, {} closed | rejects: {} | requests: {}, 429s: {}",
        data.inbox_changes.len(),
        data.crm_changes.len(),
        data.conflicts_opened.len(),
        data.conflicts_closed.len(),
        data.rejects.len(),
        data.budget
            .requests
            .map_or_else(|| "-".to_string(), |n| n.to_string()),
        data.budget
            .rate_limited
            .map_or_else(|| "-".to_string(), |n| n.to_string()),
    )?;
    match html {
        Some(path) => say!("report written to {}", path.display())?,
        None => say!("(--html FILE writes the full report, --json prints it)")?,
    }
    Ok(())
}
