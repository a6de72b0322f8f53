//! `crmsync status`.

use std::path::Path;

use crate::config::Config;
use crate::store::Store;

use super::out::{emit, say};
use super::{EXIT_OK, exit, run::JsonArg};

/// Prints mirror counts, the last run and open conflicts.
pub fn run(config_path: &Path, args: JsonArg) -> anyhow::Result<u8> {
    let config = Config::load(config_path)?;
    let db = config.state.dir.join("mirror.db");
    if !db.exists() {
        if args.json {
            emit!(
                "{}",
                serde_json::json!({"mirror": {"prospects": 0, "threads": 0, "links": 0, "open_conflicts": 0}, "last_run": null})
            )?;
        } else {
            say!(
                "no mirror yet at {}: run `crmsync pull` or `crmsync sync`",
                db.display()
            )?;
        }
        return Ok(EXIT_OK);
    }
    let store = Store::open(&db)?;
    let counts = store.counts()?;
    let last = store.runs(1)?.into_iter().next();
    let schedule = &config.schedule;
    let next_run = schedule
        .next_after(chrono::Utc::now())
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    let mirror_bytes: u64 = ["mirror.db", "mirror.db-wal"]
        .iter()
        .filter_map(|f| std::fs::metadata(config.state.dir.join(f)).ok())
        .map(|m| m.len())
        .sum();
    // On v2 a mirror row of `prospects` is a contact, with its profiles beside it.
    let v2 = store.meta("inbox_api")?.as_deref() == Some("v2");
    let api = if v2 { "v2" } else { "v1" };
    let mut mirror = serde_json::to_value(&counts)?;
    if v2 {
        mirror["contacts"] = mirror["prospects"].take();
        if let Some(m) = mirror.as_object_mut() {
            m.remove("prospects");
        }
        mirror["profiles"] = store.profile_count()?.into();
    }
    if args.json {
        emit!(
            "{}",
            serde_json::json!({
                "inbox_api": api,
                "mirror": mirror,
                "mirror_bytes": mirror_bytes,
                "last_run": last,
                "next_scheduled_run": next_run,
                "schedule": {"cron": schedule.expression(), "timezone": schedule.time_zone().name()},
            })
        )?;
        return Ok(EXIT_OK);
    }
    say!(
        "mirror         {} ({:.1} MiB)",
        db.display(),
        mirror_bytes as f64 / 1048576.0
    )?;
    say!("inbox api      {api}")?;
    if v2 {
        say!("contacts       {}", counts.prospects)?;
        say!("profiles       {}", store.profile_count()?)?;
    } else {
        say!("prospects      {}", counts.prospects)?;
    }
    say!("threads        {}", counts.threads)?;
    say!("linked records {}", counts.links)?;
    say!("open conflicts {}", counts.open_conflicts)?;
    match last {
        Some(run) => say!(
            "last run       #{} {} {} at {} (exit {})",
            run.id,
            run.mode,
            run.status,
            run.started_at,
            exit::of_status(run.status).map_or("-".to_string(), |c| c.to_string())
        )?,
        None => say!("last run       none")?,
    }
    say!(
        "next run       {} (`{}` in {}, for `crmsync daemon`)",
        next_run.as_deref().unwrap_or("-"),
        schedule.expression(),
        schedule.time_zone().name()
    )?;
    Ok(EXIT_OK)
}
