//! `crmsync demo`: the whole loop on an embedded fake Inbox and sample CRM data.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::Args;

use crate::config::Config;
use crate::demo;
use crate::engine::{Context, Progress};
use crate::store::{RunMode, Store};

use super::{EXIT_OK, render, run::execute};

/// `demo` options.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Keep the demo's files (config, CRM export, mirror) in this directory instead of a
    /// temporary one that is removed at the end.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Number of prospects in the fake Inbox.
    #[arg(long, default_value_t = 300)]
    pub prospects: usize,
}

/// Runs the demo.
pub async fn run(args: DemoArgs) -> anyhow::Result<u8> {
    let (dir, temporary) = match args.dir {
        Some(dir) => (dir, false),
        None => (
            std::env::temp_dir().join(format!("crmsync-demo-{}", std::process::id())),
            true,
        ),
    };
    let result = run_in(&dir, args.prospects).await;
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

async fn run_in(dir: &std::path::Path, prospects: usize) -> anyhow::Result<u8> {
    let world = demo::setup(dir, prospects).await?;
    let config = Config::load(&world.config_path)?;
    let progress = Progress::new(std::io::stderr().is_terminal());
    let ctx = Context::with_token(config, demo::DEMO_TOKEN.to_string().into(), progress)?;

    println!(
        "crmsync demo: a fake Inbox with {prospects} prospects on 3 X accounts at {},",
        world.fake.base_url()
    );
    println!(
        "and a CRM export at {} (in-place mode).\n",
        world.export_path.display()
    );

    println!("== 1. First sync: link records, fill what one side lacks, set the base ==");
    let first = execute(&ctx, RunMode::Sync, false, false).await?;
    print!("{}", render::sync(&first));

    println!("\n== 2. Both sides are edited before the next nightly run ==");
    for line in demo::edit_both_sides(&world)? {
        println!("  {line}");
    }

    println!("\n== 3. crmsync plan: what would change (nothing is written) ==");
    let plan = execute(&ctx, RunMode::Plan, false, false).await?;
    print!("{}", render::plan(&plan));

    println!("\n== 4. crmsync sync: push both ways, log the conflicts ==");
    let second = execute(&ctx, RunMode::Sync, false, false).await?;
    print!("{}", render::sync(&second));

    println!("\n== 5. crmsync sync again: nothing left to do ==");
    let third = execute(&ctx, RunMode::Sync, false, false).await?;
    print!("{}", render::sync(&third));

    println!("\n== 6. crmsync conflicts list: what needs a human ==");
    let store = Store::open(&ctx.config.state.dir.join("mirror.db"))?;
    print!("{}", render::conflict_table(&store.conflicts(false)?));
    println!(
        "\nTry it on your data: copy sync.toml.example to sync.toml, set INBOX_API_TOKEN, run `crmsync plan`."
    );
    Ok(EXIT_OK)
}
