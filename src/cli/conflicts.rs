//! `crmsync conflicts list`.

use std::path::Path;

use clap::{Args, Subcommand};

use crate::config::Config;
use crate::store::Store;

use super::{EXIT_OK, render};

/// Conflict log commands.
#[derive(Debug, Subcommand)]
pub enum ConflictsCommand {
    /// List open conflicts (with --all, also closed ones).
    List(ListArgs),
}

/// `conflicts list` options.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Include resolved and closed conflicts.
    #[arg(long)]
    pub all: bool,
    /// Only this kind (both-changed, fanout, identity, unmapped, rejected-by-api, pending-import).
    #[arg(long)]
    pub kind: Option<String>,
    /// Only this field (tags, status, valuation, notes, assignee, done, record).
    #[arg(long)]
    pub field: Option<String>,
    /// Print a JSON array.
    #[arg(long)]
    pub json: bool,
}

/// Runs a conflicts subcommand.
pub fn run(config_path: &Path, cmd: ConflictsCommand) -> anyhow::Result<u8> {
    let config = Config::load(config_path)?;
    let db = config.state.dir.join("mirror.db");
    let ConflictsCommand::List(args) = cmd;
    let rows = if db.exists() {
        Store::open(&db)?.conflicts(args.all)?
    } else {
        Vec::new()
    };
    let rows: Vec<_> = rows
        .into_iter()
        .filter(|c| args.kind.as_ref().is_none_or(|k| &c.kind == k))
        .filter(|c| args.field.as_ref().is_none_or(|f| &c.field == f))
        .collect();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else if rows.is_empty() {
        println!("no {}conflicts", if args.all { "" } else { "open " });
    } else {
        print!("{}", render::conflict_table(&rows));
    }
    Ok(EXIT_OK)
}
