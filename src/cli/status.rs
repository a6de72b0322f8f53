//! `crmsync status`.

use std::path::Path;

use crate::config::Config;
use crate::store::Store;

use super::{EXIT_OK, run::JsonArg};

/// Prints mirror counts, the last run and open conflicts.
pub fn run(config_path: &Path, args: JsonArg) -> anyhow::Result<u8> {
    let config = Config::load(config_path)?;
    let db = config.state.dir.join("mirror.db");
    if !db.exists() {
        if args.json {
            println!(
                "{}",
                serde_json::json!({"mirror": {"prospects": 0, "threads": 0, "links": 0, "open_conflicts": 0}, "last_run": null})
            );
        } else {
            println!(
                "no mirror yet at {}: run `crmsync pull` or `crmsync sync`",
                db.display()
            );
        }
        return Ok(EXIT_OK);
    }
    let store = Store::open(&db)?;
    let counts = store.counts()?;
    let last = store.runs(1)?.into_iter().next();
    if args.json {
        println!(
            "{}",
            serde_json::json!({"mirror": counts, "last_run": last})
        );
        return Ok(EXIT_OK);
    }
    println!("mirror         {}", db.display());
    println!("prospects      {}", counts.prospects);
    println!("threads        {}", counts.threads);
    println!("linked records {}", counts.links);
    println!("open conflicts {}", counts.open_conflicts);
    match last {
        Some(run) => println!(
            "last run       #{} {} {} at {} (exit {})",
            run.id,
            run.mode,
            run.status,
            run.started_at,
            run.exit_code.map_or("-".to_string(), |c| c.to_string())
        ),
        None => println!("last run       none"),
    }
    Ok(EXIT_OK)
}
