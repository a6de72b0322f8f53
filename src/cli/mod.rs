//! The command line: parse, build options, call the engine, render. The only module that prints.
//!
//! Exit codes (docs/design.md §7) are decided in `exit.rs`, from how a run ended or what caused
//! its error.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

mod check;
mod conflicts;
mod daemon;
mod demo;
mod exit;
mod fake;
mod fake_hubspot;
mod interrupt;
pub mod out;
mod render;
mod report;
mod run;
mod runs;
mod status;

pub use exit::{EXIT_CONFIG, EXIT_ERROR, EXIT_INTERRUPTED, EXIT_LOCKED, EXIT_OK, EXIT_SAFETY};

/// Keeps Inbox (inboxapp.com) prospects and a CRM in step: tags, pipeline status, valuation,
/// notes, assignee and done, with a three-way merge and a conflict log.
#[derive(Debug, Parser)]
#[command(name = "crmsync", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Config file.
    #[arg(
        long,
        short = 'c',
        global = true,
        default_value = "sync.toml",
        value_name = "PATH"
    )]
    pub config: PathBuf,

    /// More log output on stderr (-v info, -vv debug).
    #[arg(long, short = 'v', global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// For cron: print nothing on success, and one line on stderr when the command fails;
    /// --json output is still printed. Overrides -v.
    #[arg(long, short = 'q', global = true)]
    pub quiet: bool,

    /// Log line format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Log line formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the whole loop on an embedded fake Inbox and sample CRM data (no account, no network).
    Demo(demo::DemoArgs),
    /// Pull Inbox prospects and threads into the local mirror.
    Pull(run::PullArgs),
    /// Show what a sync would change on each side, and every conflict; change nothing.
    Plan(run::PlanArgs),
    /// Pull, reconcile and push the changes to both sides.
    Sync(run::SyncArgs),
    /// Sync on the `[schedule]` of the config until SIGINT/SIGTERM (or once, with --once).
    Daemon(daemon::DaemonArgs),
    /// Mirror size, last run and open conflicts.
    Status(run::JsonArg),
    /// Revert the writes of a run on both sides, where the field still holds what it wrote.
    Undo(run::UndoArgs),
    /// Run history: mode, duration, writes per side, conflicts, rejects, requests, 429s.
    Runs(runs::RunsArgs),
    /// One run as a readable report (changes per side, conflicts, rejects, requests): HTML or JSON.
    Report(report::ReportArgs),
    /// Check the config, the Inbox API in use (v2: platforms; v1: its retirement), token and
    /// rate-limit headroom, and the CRM source.
    Check,
    /// The conflict log.
    #[command(subcommand)]
    Conflicts(conflicts::ConflictsCommand),
    /// Serve a stateful fake Inbox API on localhost, for trying crmsync and for tests.
    FakeInbox(fake::FakeArgs),
    /// Serve a stateful fake HubSpot API on localhost, its contacts matching `fake-inbox`'s
    /// prospects, for trying `[crm] kind = "hubspot"`.
    FakeHubspot(fake_hubspot::FakeHubspotArgs),
}

/// Parses the process arguments, runs the command and returns its exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // Usage errors under -q are one line too (clap's own take several).
        Err(err) if err.use_stderr() && quiet_in_args() => {
            eprintln!("{}", one_line(&err.render().to_string()));
            return ExitCode::from(EXIT_CONFIG);
        }
        Err(err) => err.exit(),
    };
    out::set_quiet(cli.quiet);
    // The daemon is a service: its stderr is its journal, warnings included.
    let service = matches!(cli.command, Command::Daemon(_));
    init_tracing(
        if cli.quiet { None } else { Some(cli.verbose) },
        cli.log_format,
        service,
    );
    // Commands that serve HTTP (the fakes, the demo's embedded fake) or run as a service get
    // worker threads. A one-off run is a single client whose CPU work (decoding pages, SQLite)
    // runs between awaits: on one thread it saves the hand-off of every response chunk from a
    // worker to the main thread (~5 % of a 100k run's CPU; see BENCHMARKS.md).
    let serves = matches!(
        cli.command,
        Command::Demo(_) | Command::Daemon(_) | Command::FakeInbox(_) | Command::FakeHubspot(_)
    );
    let mut builder = if serves {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::from(EXIT_ERROR);
        }
    };
    let result = runtime.block_on(dispatch(cli));
    match result {
        Ok(code) => ExitCode::from(code),
        // `crmsync runs --json | head -1`: the reader has what it wanted.
        Err(err) if out::Closed::in_chain(&err) => ExitCode::from(EXIT_OK),
        Err(err) => {
            eprintln!("error: {}", error_line(&err));
            ExitCode::from(exit::of_error(&err))
        }
    }
}

async fn dispatch(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Demo(args) => demo::run(args).await,
        Command::Pull(args) => run::pull(&cli.config, args).await,
        Command::Plan(args) => run::plan(&cli.config, args).await,
        Command::Sync(args) => run::sync(&cli.config, args).await,
        Command::Daemon(args) => daemon::run(&cli.config, args).await,
        Command::Status(args) => status::run(&cli.config, args),
        Command::Runs(args) => runs::run(&cli.config, args),
        Command::Undo(args) => run::undo(&cli.config, args).await,
        Command::Report(args) => report::run(&cli.config, args),
        Command::Check => check::run(&cli.config).await,
        Command::Conflicts(cmd) => conflicts::run(&cli.config, cmd),
        Command::FakeInbox(args) => fake::run(args).await,
        Command::FakeHubspot(args) => fake_hubspot::run(args).await,
    }
}

/// The error and its causes as printed by `main`; under `-q` on exactly one line (cron mails
/// it), however many lines a cause's message has.
fn error_line(err: &anyhow::Error) -> String {
    // A retired v1 fails every call alike: what the run was doing says nothing more.
    let retired = err.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<crate::inbox::Error>(),
            Some(crate::inbox::Error::Retired)
        )
    });
    if retired {
        return crate::inbox::RETIRED.to_owned();
    }
    let text = format!("{err:#}");
    if !out::quiet() {
        return text;
    }
    one_line(&text)
}

/// `text` with its lines joined by spaces.
fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether the raw arguments ask for -q, for when clap could not parse them.
fn quiet_in_args() -> bool {
    std::env::args_os()
        .skip(1)
        .take_while(|arg| arg != "--")
        .any(|arg| arg == "-q" || arg == "--quiet")
}

/// `verbose`: `None` = quiet (errors only), else the number of `-v`.
fn init_tracing(verbose: Option<u8>, format: LogFormat, service: bool) {
    use std::io::IsTerminal as _;
    use tracing_subscriber::EnvFilter;
    let terminal = std::io::stderr().is_terminal();
    let default = match verbose {
        // The command itself prints the one line a failure gets: a log line would be a second.
        None => "off",
        // Without a terminal (cron), only errors unless asked: the summary is on stdout.
        Some(0) if terminal || service => "warn",
        Some(0) => "error",
        Some(1) => "info",
        Some(_) => "debug",
    };
    let filter = crate::config::env::log_filter()
        .and_then(|directives| EnvFilter::builder().parse(directives).ok())
        .unwrap_or_else(|| EnvFilter::new(format!("{default},hyper=warn,reqwest=warn,h2=warn")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(terminal)
        .with_target(false);
    // A second init (tests calling main twice) is harmless: keep the first subscriber.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

#[cfg(test)]
mod tests {
    /// An error that prints its I/O reason does not also return it as its source: printed as a
    /// chain (`{:#}`, as `main` and the daemon do) the reason appears once.
    #[test]
    fn an_io_reason_is_printed_once_in_an_error_chain() {
        let io = || std::io::Error::new(std::io::ErrorKind::NotFound, "gone");
        let errors = [
            anyhow::Error::new(crate::crm::Error::Io {
                path: "x.csv".into(),
                reason: io(),
            }),
            anyhow::Error::new(crate::config::ConfigError::Read {
                path: "sync.toml".into(),
                reason: io(),
            }),
            anyhow::Error::new(crate::engine::LockError::Io {
                path: "crmsync.lock".into(),
                reason: io(),
            }),
        ];
        for err in errors {
            let text = format!("{:#}", err.context("doing it"));
            assert_eq!(text.matches("gone").count(), 1, "{text}");
        }
    }
}
