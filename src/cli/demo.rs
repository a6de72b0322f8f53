//! `crmsync demo`: the whole loop on an embedded fake Inbox (API v2) and sample CRM data (a CSV export,
//! or with `--crm hubspot` an embedded fake HubSpot).

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::config::Config;
use crate::crm::hubspot::HubspotAdapter;
use crate::demo;
use crate::engine::{self, Context, Progress, RunOptions, SyncReport};
use crate::store::{RunMode, Store};

use super::out::{self, say};
use super::{EXIT_OK, render, run::execute};

/// The CRM the demo syncs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DemoCrm {
    /// A CRM export file, edited in place.
    Csv,
    /// An embedded fake HubSpot (contacts API v3).
    Hubspot,
}

/// `demo` options.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Keep the demo's files (config, CRM export, mirror) in this directory instead of a
    /// temporary one that is removed at the end.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Number of contacts in the fake Inbox (API v2).
    #[arg(long, alias = "contacts", default_value_t = 300)]
    pub prospects: usize,
    /// The CRM to sync with.
    #[arg(long, value_enum, default_value_t = DemoCrm::Csv)]
    pub crm: DemoCrm,
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
    let result = match args.crm {
        DemoCrm::Csv => run_in(&dir, args.prospects).await,
        DemoCrm::Hubspot => run_hubspot_in(&dir, args.prospects).await,
    };
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

    say!(
        "crmsync demo: a fake Inbox (API v2) with {} at {},",
        demo::accounts_line(prospects),
        world.fake.base_url()
    )?;
    say!(
        "and a CRM export at {} (in-place mode): {}.\n",
        world.export_path.display(),
        crm_line(&world.crm)
    )?;

    say!("== 1. First sync: link records, fill what one side lacks, set the base ==")?;
    let first = execute(&ctx, RunMode::Sync, false, false).await?;
    out::human(format_args!("{}", render::sync(&first)))?;

    say!("\n== 2. Both sides are edited before the next nightly run ==")?;
    for line in demo::edit_both_sides(&world)? {
        say!("  {line}")?;
    }

    say!("\n== 3. crmsync plan: what would change (nothing is written) ==")?;
    let plan = execute(&ctx, RunMode::Plan, false, false).await?;
    out::human(format_args!("{}", render::plan(&plan)))?;

    say!("\n== 4. crmsync sync: push both ways, log the conflicts ==")?;
    let second = execute(&ctx, RunMode::Sync, false, false).await?;
    out::human(format_args!("{}", render::sync(&second)))?;

    say!("\n== 5. crmsync sync again: nothing left to do ==")?;
    let third = execute(&ctx, RunMode::Sync, false, false).await?;
    out::human(format_args!("{}", render::sync(&third)))?;

    say!("\n== 6. crmsync conflicts list: what needs a human ==")?;
    let store = Store::open(&ctx.config.state.dir.join("mirror.db"))?;
    out::human(format_args!(
        "{}",
        render::conflict_table(
            &store.conflicts(false)?,
            render::People::of(ctx.config.inbox.api())
        )
    ))?;
    say!(
        "\nTry it on your data: copy sync.toml.example to sync.toml, set INBOX_API_TOKEN, run `crmsync plan`."
    )?;
    Ok(EXIT_OK)
}

async fn run_hubspot_in(dir: &std::path::Path, prospects: usize) -> anyhow::Result<u8> {
    let world = demo::setup_hubspot(dir, prospects).await?;
    let config = Config::load(&world.config_path)?;
    let mut adapter =
        HubspotAdapter::from_config(&config, demo::DEMO_HUBSPOT_TOKEN.to_string().into())?;
    let progress = Progress::new(std::io::stderr().is_terminal());
    let ctx = Context::with_token(config, demo::DEMO_TOKEN.to_string().into(), progress)?;
    let mut sync = async |mode: RunMode| -> anyhow::Result<SyncReport> {
        engine::run(&ctx, Some(&mut adapter), &RunOptions::new(mode)).await
    };

    say!(
        "crmsync demo: a fake Inbox (API v2) with {} at {},",
        demo::accounts_line(prospects),
        world.fake.base_url()
    )?;
    say!(
        "and a fake HubSpot with {} contacts at {} (contacts API v3): {}.\n",
        world.hubspot.contacts().len(),
        world.hubspot.base_url(),
        crm_line(&world.crm)
    )?;

    say!("== 1. First sync: link records, fill what one side lacks, set the base ==")?;
    let first = sync(RunMode::Sync).await?;
    out::human(format_args!("{}", render::sync(&first)))?;

    say!("\n== 2. Both sides are edited before the next nightly run ==")?;
    for line in demo::edit_both_sides_hubspot(&world)? {
        say!("  {line}")?;
    }

    say!("\n== 3. crmsync plan: what would change (nothing is written) ==")?;
    let plan = sync(RunMode::Plan).await?;
    out::human(format_args!("{}", render::plan(&plan)))?;

    say!("\n== 4. crmsync sync: push both ways, log the conflicts ==")?;
    let second = sync(RunMode::Sync).await?;
    out::human(format_args!("{}", render::sync(&second)))?;

    say!("\n== 5. crmsync sync again: nothing left to do ==")?;
    let third = sync(RunMode::Sync).await?;
    out::human(format_args!("{}", render::sync(&third)))?;

    let stats = world.hubspot.stats();
    say!(
        "\nHubSpot saw {} requests in all: {} listing pages (the first sync reads every contact), {} searches (later runs read only contacts modified since), {} batch updates.",
        stats.requests,
        stats.count("GET", "/crm/v3/objects/contacts"),
        stats.count("POST", "/crm/v3/objects/contacts/search"),
        stats.batch_updates()
    )?;

    say!("\n== 6. crmsync conflicts list: what needs a human ==")?;
    let store = Store::open(&ctx.config.state.dir.join("mirror.db"))?;
    out::human(format_args!(
        "{}",
        render::conflict_table(
            &store.conflicts(false)?,
            render::People::of(ctx.config.inbox.api())
        )
    ))?;
    say!(
        "\nTry it on your HubSpot: copy sync.toml.example to sync.toml, set [crm] kind = \"hubspot\", INBOX_API_TOKEN and HUBSPOT_TOKEN, run `crmsync plan`."
    )?;
    Ok(EXIT_OK)
}

/// What the demo's CRM holds, in one phrase.
fn crm_line(crm: &demo::CrmSummary) -> String {
    format!(
        "{} records of Inbox contacts, {} keyed by X handle only, {} by LinkedIn id, {} by LinkedIn profile URL only",
        crm.records, crm.by_handle, crm.by_linkedin_id, crm.by_linkedin_url
    )
}
