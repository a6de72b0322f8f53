//! `crmsync runs`: the run history.

use std::path::Path;

use clap::Args;
use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};

use crate::config::Config;
use crate::store::{RunRow, Store};

use super::out::{emit, say};
use super::{EXIT_OK, exit};

/// `runs` options.
#[derive(Debug, Args)]
pub struct RunsArgs {
    /// How many runs, newest first.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    /// Print a JSON array.
    #[arg(long)]
    pub json: bool,
}

/// One run as listed: the stored row plus the figures from its summary.
fn entry(run: &RunRow) -> serde_json::Value {
    let s = run.summary.clone().unwrap_or_default();
    let duration = run.finished_at.as_deref().and_then(|end| {
        let start = chrono::DateTime::parse_from_rfc3339(&run.started_at).ok()?;
        let end = chrono::DateTime::parse_from_rfc3339(end).ok()?;
        Some((end - start).num_milliseconds() as f64 / 1000.0)
    });
    serde_json::json!({
        "id": run.id,
        "mode": run.mode,
        "started_at": run.started_at,
        "duration_seconds": duration,
        "status": run.status,
        "exit": exit::of_status(run.status),
        // A run killed before its summary: what its change log holds.
        "writes": if s["writes"].is_null() {
            serde_json::json!({"inbox": run.logged_writes.inbox, "crm": run.logged_writes.crm})
        } else {
            serde_json::json!({"inbox": s["writes"]["inbox"], "crm": s["writes"]["crm"]})
        },
        "conflicts": {"opened": s["conflicts"]["opened"], "closed": s["conflicts"]["closed"]},
        "rejects": s["rejects"],
        "requests": s["requests"],
        "rate_limited": s["rate_limited"],
        "crm_requests": s["crm_requests"],
        "crm_rate_limited": s["crm_rate_limited"],
        "error": run.error,
    })
}

/// Prints the run history.
pub fn run(config_path: &Path, args: RunsArgs) -> anyhow::Result<u8> {
    let config = Config::load(config_path)?;
    let db = config.state.dir.join("mirror.db");
    let runs = if db.exists() {
        Store::open(&db)?.runs(args.limit)?
    } else {
        Vec::new()
    };
    let entries: Vec<serde_json::Value> = runs.iter().map(entry).collect();
    if args.json {
        emit!("{}", serde_json::to_string_pretty(&entries)?)?;
        return Ok(EXIT_OK);
    }
    if entries.is_empty() {
        say!("no runs yet")?;
        return Ok(EXIT_OK);
    }
    let cell = |v: &serde_json::Value| match v {
        serde_json::Value::Null => "-".to_string(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut table = Table::new();
    table
        .load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(vec![
            "run",
            "mode",
            "started",
            "secs",
            "status",
            "exit",
            "inbox",
            "crm",
            "conflicts +/-",
            "rejects",
            "requests",
            "429s",
            "CRM requests",
        ]);
    for e in &entries {
        table.add_row(vec![
            cell(&e["id"]),
            cell(&e["mode"]),
            cell(&e["started_at"]),
            e["duration_seconds"]
                .as_f64()
                .map_or("-".into(), |d| format!("{d:.1}")),
            cell(&e["status"]),
            cell(&e["exit"]),
            cell(&e["writes"]["inbox"]),
            cell(&e["writes"]["crm"]),
            format!(
                "+{} -{}",
                cell(&e["conflicts"]["opened"]),
                cell(&e["conflicts"]["closed"])
            ),
            cell(&e["rejects"]),
            cell(&e["requests"]),
            cell(&e["rate_limited"]),
            match (&e["crm_requests"], &e["crm_rate_limited"]) {
                (serde_json::Value::Null, _) => "-".to_string(),
                (requests, serde_json::Value::Number(n)) if n.as_u64() != Some(0) => {
                    format!("{} ({n} 429s)", cell(requests))
                }
                (requests, _) => cell(requests),
            },
        ]);
    }
    say!("{table}")?;
    for e in entries.iter().filter(|e| !e["error"].is_null()) {
        say!("run {}: {}", cell(&e["id"]), cell(&e["error"]))?;
    }
    Ok(EXIT_OK)
}
