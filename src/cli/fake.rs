//! `crmsync fake-inbox`: serve the stateful fake Inbox (API v2, or v1 with `--api v1`) on
//! localhost.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, ValueEnum};
use crmsync_fake::RateLimit;
use crmsync_fake::inbox_v1::{FakeConfig, FakeInbox, Faults};
use crmsync_fake::inbox_v2::{self, FakeInboxV2};

use super::EXIT_OK;
use super::out::say;

/// Which Inbox API the fake serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FakeApi {
    /// API v1 at `/api/v1` (prospects).
    V1,
    /// API v2 at `/api/v2` (contacts with X and LinkedIn profiles).
    V2,
}

/// `fake-inbox` options.
#[derive(Debug, Args)]
pub struct FakeArgs {
    /// The API version to serve (v2, as crmsync speaks by default; v1 while it answers).
    #[arg(long, value_enum, default_value_t = FakeApi::V2)]
    pub api: FakeApi,
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 8765)]
    pub port: u16,
    /// Bearer token the fake accepts.
    #[arg(long, default_value = "fake-token")]
    pub token: String,
    /// Number of seeded contacts (v2), or prospects (v1).
    #[arg(long, visible_alias = "contacts", default_value_t = 50)]
    pub prospects: usize,
    /// Number of connected X accounts (account links).
    #[arg(long, default_value_t = 3)]
    pub accounts: usize,
    /// Number of connected LinkedIn accounts (v2 only).
    #[arg(long, default_value_t = 1)]
    pub linkedin_accounts: usize,
    /// Seed for the generated data.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Rate limits: `documented` (300/min, 10000/h, 100000/day), `off`, or e.g. `100/10s`.
    #[arg(long, default_value = "documented")]
    pub rate_limit: String,
    /// Share of requests answered with a 5xx (0..1).
    #[arg(long, default_value_t = 0.0)]
    pub error_rate: f64,
    /// Delay before every answer, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Share of 200 answers with a malformed JSON body (0..1).
    #[arg(long, default_value_t = 0.0)]
    pub malformed_rate: f64,
}

/// Serves until Ctrl-C.
pub async fn run(args: FakeArgs) -> anyhow::Result<u8> {
    if args.api == FakeApi::V2 {
        return run_v2(args).await;
    }
    let rate_limit = if args.rate_limit == "documented" {
        RateLimit::documented()
    } else {
        args.rate_limit
            .parse::<RateLimit>()
            .map_err(|e| anyhow::anyhow!("--rate-limit {}: {e}", args.rate_limit))?
    };
    let config = FakeConfig {
        token: args.token,
        prospects: args.prospects,
        accounts: args.accounts,
        seed: args.seed,
        rate_limit,
        faults: Faults {
            error_rate: args.error_rate,
            latency: Duration::from_millis(args.latency_ms),
            malformed_rate: args.malformed_rate,
        },
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], args.port));
    let fake = FakeInbox::start_on(addr, config).await?;
    let _ = say!(
        "fake Inbox serving {} prospects and {} threads at {}",
        args.prospects,
        fake.thread_count(),
        fake.base_url()
    );
    let _ = say!(
        "set inbox.base_url to that URL and the token env var to the --token value; Ctrl-C stops it"
    );
    // A server keeps serving when whoever read its first lines goes away (a closed stdout).
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = fake.wait() => {}
    }
    Ok(EXIT_OK)
}

/// Serves the v2 fake until Ctrl-C.
async fn run_v2(args: FakeArgs) -> anyhow::Result<u8> {
    let rate_limit = args
        .rate_limit
        .parse::<RateLimit>()
        .map_err(|e| anyhow::anyhow!("--rate-limit {}: {e}", args.rate_limit))?;
    let config = inbox_v2::FakeConfig {
        token: args.token,
        contacts: args.prospects,
        accounts: inbox_v2::Accounts {
            x: args.accounts,
            linkedin: args.linkedin_accounts,
        },
        seed: args.seed,
        rate_limit,
        faults: inbox_v2::Faults {
            error_rate: args.error_rate,
            latency: Duration::from_millis(args.latency_ms),
            malformed_rate: args.malformed_rate,
        },
        ..inbox_v2::FakeConfig::default()
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], args.port));
    let fake = FakeInboxV2::start_on(addr, config).await?;
    println!(
        "fake Inbox API v2 serving {} contacts and {} threads at {}",
        args.prospects,
        fake.thread_count(),
        fake.base_url()
    );
    println!("use the --token value as the Bearer token; Ctrl-C stops it");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = fake.wait() => {}
    }
    Ok(EXIT_OK)
}
