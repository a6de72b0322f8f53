//! `crmsync conflicts list|show|resolve|export`: the conflict log and its resolutions.

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::path::Path;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Subcommand, ValueEnum};

use crate::config::Config;
use crate::engine::resolve::parse_value;
use crate::reconcile::{ConflictKind, Field};
use crate::store::{ConflictField, ConflictRow, Resolution, Store};

use super::out::{self, emit, say};
use super::render::{self, People};
use super::{EXIT_CONFIG, EXIT_ERROR, EXIT_OK};

/// Conflict log commands.
#[derive(Debug, Subcommand)]
pub enum ConflictsCommand {
    /// List conflicts that need a human (with --all, also resolved and closed ones).
    List(ListArgs),
    /// Show one conflict with the Inbox, CRM and base values side by side.
    Show(ShowArgs),
    /// Decide a conflict (or every conflict matching --kind/--field); the next sync applies it.
    Resolve(ResolveArgs),
    /// Export conflicts as CSV or JSON.
    Export(ExportArgs),
}

/// Filters shared by list, resolve and export.
#[derive(Debug, Args, Default)]
pub struct Filters {
    /// Only this kind.
    #[arg(long, value_parser = kinds())]
    pub kind: Option<ConflictKind>,
    /// Only this field (`record` for conflicts about a whole record).
    #[arg(long, value_parser = fields())]
    pub field: Option<ConflictField>,
    /// Only conflicts first seen at least this many days ago.
    #[arg(long, value_name = "DAYS")]
    pub older_than: Option<u32>,
}

/// The conflict kinds `--kind` takes: a typo is refused with this list, not answered with
/// "no open conflicts".
fn kinds() -> impl TypedValueParser<Value = ConflictKind> {
    PossibleValuesParser::new(ConflictKind::ALL.map(ConflictKind::as_str))
        .try_map(|kind| ConflictKind::parse(&kind).ok_or("not a conflict kind"))
}

/// The fields `--field` takes: the synced fields, and `record` (identity, rejected writes).
fn fields() -> impl TypedValueParser<Value = ConflictField> {
    PossibleValuesParser::new(ConflictField::ALL.map(ConflictField::as_str))
        .try_map(|field| ConflictField::parse(&field).ok_or("not a conflict field"))
}

impl Filters {
    fn keep(&self, c: &ConflictRow, now: chrono::DateTime<chrono::Utc>) -> bool {
        self.kind.is_none_or(|k| c.kind == k)
            && self.field.is_none_or(|f| c.field == f)
            && self.older_than.is_none_or(|days| {
                chrono::DateTime::parse_from_rfc3339(&c.first_seen).is_ok_and(|t| {
                    now - t.with_timezone(&chrono::Utc) >= chrono::Duration::days(days.into())
                })
            })
    }
}

/// `conflicts list` options.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Include resolved and closed conflicts.
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub filters: Filters,
    /// Print a JSON array.
    #[arg(long)]
    pub json: bool,
}

/// `conflicts show` options.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Conflict id (from `conflicts list`).
    pub id: i64,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `conflicts resolve` options.
#[derive(Debug, Args)]
pub struct ResolveArgs {
    /// Conflict id; omit it and give --kind and/or --field to resolve in bulk.
    pub id: Option<i64>,
    /// Which value wins: `inbox`, `crm`, or `value V`.
    #[arg(long, num_args = 1..=2, value_names = ["inbox|crm|value", "V"])]
    pub take: Option<Vec<String>>,
    /// Leave both sides as they are and stop reporting this divergence.
    #[arg(long, conflicts_with = "take")]
    pub dismiss: bool,
    #[command(flatten)]
    pub filters: Filters,
    /// With bulk resolution: apply without asking (the count is still printed).
    #[arg(long)]
    pub yes: bool,
}

/// Export formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Comma-separated values.
    Csv,
    /// A JSON array.
    Json,
}

/// `conflicts export` options.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Csv)]
    pub format: Format,
    /// Include resolved and closed conflicts.
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub filters: Filters,
}

/// The mirror, if any run made one, and what the API in use calls the Inbox side's people.
fn open_store(config_path: &Path) -> anyhow::Result<(Option<Store>, People)> {
    let config = Config::load(config_path)?;
    let db = config.state.dir.join("mirror.db");
    let store = if db.exists() {
        Some(Store::open(&db)?)
    } else {
        None
    };
    Ok((store, People::of(config.inbox.api())))
}

/// Runs a conflicts subcommand.
pub fn run(config_path: &Path, cmd: ConflictsCommand) -> anyhow::Result<u8> {
    let (store, people) = open_store(config_path)?;
    let now = chrono::Utc::now();
    match cmd {
        ConflictsCommand::List(args) => {
            let rows = list(store.as_ref(), args.all, &args.filters, now)?;
            if args.json {
                emit!("{}", serde_json::to_string_pretty(&rows)?)?;
            } else if rows.is_empty() {
                say!("no {}conflicts", if args.all { "" } else { "open " })?;
            } else {
                out::human(format_args!("{}", render::conflict_table(&rows, people)))?;
            }
            Ok(EXIT_OK)
        }
        ConflictsCommand::Show(args) => {
            let Some(c) = store
                .as_ref()
                .map(|s| s.conflict(args.id))
                .transpose()?
                .flatten()
            else {
                eprintln!("error: no conflict {}", args.id);
                return Ok(EXIT_ERROR);
            };
            if args.json {
                emit!("{}", serde_json::to_string_pretty(&c)?)?;
            } else {
                out::human(format_args!("{}", show(&c, people)))?;
            }
            Ok(EXIT_OK)
        }
        ConflictsCommand::Resolve(args) => resolve(store, args, now),
        ConflictsCommand::Export(args) => {
            let rows = list(store.as_ref(), args.all, &args.filters, now)?;
            match args.format {
                Format::Json => emit!("{}", serde_json::to_string_pretty(&rows)?)?,
                Format::Csv => {
                    let mut writer = csv::Writer::from_writer(out::Stdout);
                    for row in &rows {
                        writer.serialize(row)?;
                    }
                    writer.flush()?;
                }
            }
            Ok(EXIT_OK)
        }
    }
}

fn list(
    store: Option<&Store>,
    all: bool,
    filters: &Filters,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<Vec<ConflictRow>> {
    let rows = match store {
        Some(store) => store.conflicts(all)?,
        None => Vec::new(),
    };
    Ok(rows.into_iter().filter(|c| filters.keep(c, now)).collect())
}

/// One conflict, values side by side; notes as a three-way diff against the base.
fn show(c: &ConflictRow, people: People) -> String {
    let mut out = String::new();
    let who = render::who(c);
    let _ = writeln!(out, "conflict {} ({}, {})", c.id, c.kind, c.field);
    let _ = writeln!(
        out,
        "{:<10} {who} (Inbox {}, X id {})",
        people.one,
        c.prospect_id,
        c.platform_id.as_deref().unwrap_or("-")
    );
    let _ = writeln!(out, "CRM record {}", c.crm_id);
    let _ = writeln!(
        out,
        "seen       {} .. {} (runs {}..{})",
        c.first_seen, c.last_seen, c.first_run, c.last_run
    );
    let _ = writeln!(
        out,
        "status     {}{}",
        c.resolution,
        c.resolved_by
            .as_ref()
            .map(|by| format!(" by {by} at {}", c.resolved_at.as_deref().unwrap_or("?")))
            .unwrap_or_default()
    );
    let _ = writeln!(out, "detail     {}", c.detail);
    let value = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    if c.field == ConflictField::Field(Field::Notes) {
        let base = c.base.clone().unwrap_or_default();
        for (side, text) in [("Inbox", &c.inbox), ("CRM", &c.crm)] {
            let _ = writeln!(out, "\n{side} vs base:");
            let diff = crate::reconcile::notes_diff(&base, text.as_deref().unwrap_or(""), side);
            let _ = write!(out, "{diff}");
        }
    } else {
        let _ = writeln!(out, "\n  {:<6} {}", "Inbox", value(&c.inbox));
        let _ = writeln!(out, "  {:<6} {}", "CRM", value(&c.crm));
        let _ = writeln!(out, "  {:<6} {}", "base", value(&c.base));
    }
    let _ = writeln!(
        out,
        "\nresolve: crmsync conflicts resolve {} --take inbox | --take crm | --take value V | --dismiss",
        c.id
    );
    out
}

/// `conflicts resolve`: checks the decision against its targets, asks before a bulk one, then
/// records it for the next sync to apply.
fn resolve(
    store: Option<Store>,
    args: ResolveArgs,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<u8> {
    let Some(store) = store else {
        eprintln!("error: no mirror yet: run `crmsync sync` first");
        return Ok(EXIT_ERROR);
    };
    let Some((resolution, value)) = decision(&args) else {
        eprintln!("error: say --take inbox, --take crm, --take value V, or --dismiss");
        return Ok(EXIT_CONFIG);
    };
    let Some(targets) = targets(&store, &args, now)? else {
        eprintln!("error: give a conflict id, or --kind and/or --field to resolve in bulk");
        return Ok(EXIT_CONFIG);
    };
    if targets.is_empty() {
        eprintln!("error: no open conflict matches");
        return Ok(EXIT_ERROR);
    }
    if let Some(why) = refusal(resolution, value.as_deref(), &targets) {
        eprintln!("error: {why}");
        return Ok(EXIT_CONFIG);
    }
    let by = match Config::current_user() {
        Ok(by) => by,
        Err(why) => {
            eprintln!("error: {why}");
            return Ok(EXIT_CONFIG);
        }
    };
    if args.id.is_none()
        && let Some(exit) = bulk_declined(targets.len(), resolution, args.yes)?
    {
        return Ok(exit);
    }
    record_resolutions(&store, &targets, resolution, value.as_deref(), &by, now)
}

/// The resolution `--take` or `--dismiss` asks for, with the value of `--take value V`; `None`
/// when they say none.
fn decision(args: &ResolveArgs) -> Option<(Resolution, Option<String>)> {
    Some(match (args.dismiss, args.take.as_deref()) {
        (true, _) => (Resolution::Dismissed, None),
        (false, Some([side])) if side == "inbox" => (Resolution::ResolvedInbox, None),
        (false, Some([side])) if side == "crm" => (Resolution::ResolvedCrm, None),
        (false, Some([side, v])) if side == "value" => (Resolution::ResolvedValue, Some(v.clone())),
        _ => return None,
    })
}

/// The conflicts to resolve: the one `args.id` names (if it exists), or the open ones the
/// filters keep; `None` when neither an id nor a `--kind`/`--field` filter is given.
fn targets(
    store: &Store,
    args: &ResolveArgs,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<Option<Vec<ConflictRow>>> {
    Ok(Some(match args.id {
        Some(id) => store.conflict(id)?.into_iter().collect(),
        None => {
            if args.filters.kind.is_none() && args.filters.field.is_none() {
                return Ok(None);
            }
            store
                .conflicts(false)?
                .into_iter()
                .filter(|c| c.resolution == Resolution::Open && args.filters.keep(c, now))
                .collect()
        }
    }))
}

/// Why `resolution` (with `value`) cannot be applied to `targets`, if it cannot: the CRM's
/// tags where Inbox lacks a tag, a value for a conflict that takes none, or a value that does
/// not parse for its field.
fn refusal(resolution: Resolution, value: Option<&str>, targets: &[ConflictRow]) -> Option<String> {
    // Taking the CRM's tags where Inbox lacks one of them cannot be applied: say how to fix it.
    if resolution == Resolution::ResolvedCrm
        && let Some(c) = targets.iter().find(|c| {
            c.kind == ConflictKind::Unmapped && c.field == ConflictField::Field(Field::Tags)
        })
    {
        return Some(format!(
            "conflict {}: Inbox has no such tag, so the CRM's tags cannot be taken; create the tag in Inbox or set [safety] create_missing_tags = true, and the next sync writes it (or --dismiss)",
            c.id
        ));
    }
    let v = value?;
    for c in targets {
        let Some(field) = c.field.field() else {
            return Some(format!(
                "conflict {} ({}) takes no value; fix the records instead",
                c.id, c.field
            ));
        };
        if let Err(why) = parse_value(field, v) {
            return Some(format!("--take value for {}: {why}", c.field));
        }
    }
    None
}

/// Asks before a bulk resolution of `count` conflicts (or only says it, with `--yes`); the
/// exit code to stop with when it is not to be applied.
fn bulk_declined(count: usize, resolution: Resolution, yes: bool) -> anyhow::Result<Option<u8>> {
    let matched = format!("{count} conflict(s) match: {}", describe(&resolution));
    if yes {
        say!("{matched}")?;
        return Ok(None);
    }
    if !std::io::stdin().is_terminal() {
        eprintln!("error: bulk resolution needs --yes when not on a terminal");
        return Ok(Some(EXIT_CONFIG));
    }
    // A question is asked even under -q: it is waiting for an answer.
    out::asked(format_args!("{matched}\napply? [y/N] "))?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    if !matches!(answer.trim(), "y" | "Y" | "yes") {
        say!("nothing changed")?;
        return Ok(Some(EXIT_OK));
    }
    Ok(None)
}

/// Records `resolution` (by `by`, at `now`) on each of `targets` still open, and says how many
/// were; the exit code is an error when some were not open any more.
fn record_resolutions(
    store: &Store,
    targets: &[ConflictRow],
    resolution: Resolution,
    value: Option<&str>,
    by: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<u8> {
    let at = now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut done = 0;
    for c in targets {
        if store.resolve_conflict(c.id, resolution, value, by, &at)? {
            done += 1;
        } else {
            eprintln!(
                "conflict {} is not open ({}); left as it is",
                c.id, c.resolution
            );
        }
    }
    say!(
        "{done} conflict(s) marked {}; {}",
        resolution.as_str(),
        if resolution == Resolution::Dismissed {
            "they are not reported again while their values stay the same"
        } else {
            "the next `crmsync sync` applies them"
        }
    )?;
    Ok(if done == targets.len() {
        EXIT_OK
    } else {
        EXIT_ERROR
    })
}

fn describe(resolution: &Resolution) -> &'static str {
    match resolution {
        Resolution::ResolvedInbox => "the Inbox value will be written to the CRM",
        Resolution::ResolvedCrm => "the CRM value will be written to Inbox",
        Resolution::ResolvedValue => "the given value will be written to both sides",
        Resolution::Dismissed => "they will be dismissed",
        Resolution::Open | Resolution::Closed => "",
    }
}
