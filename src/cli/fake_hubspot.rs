//! `crmsync fake-hubspot`: serve the stateful fake HubSpot on localhost, its contacts matching
//! the contacts of `crmsync fake-inbox` with the same seed and accounts (API v2, or the
//! prospects of API v1 with `--api v1`), so the two can be tried together.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, ValueEnum};
use crmsync_fake::RateLimit;
use crmsync_fake::hubspot::{
    FakeHubspot, FakeHubspotConfig, Limits, PROPERTIES_TOML, STATUS_MAP, Seeded,
};
use crmsync_fake::inbox_v1::{FakeConfig, FakeInbox};
use crmsync_fake::inbox_v2::{self, FakeInboxV2};

use super::EXIT_OK;
use super::fake::FakeApi;
use super::out::say;

/// `fake-hubspot` options.
#[derive(Debug, Args)]
pub struct FakeHubspotArgs {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 8766)]
    pub port: u16,
    /// Bearer token (private-app token) the fake accepts.
    #[arg(long, default_value = "fake-hubspot-token")]
    pub token: String,
    /// Number of contacts: one per contact (v1: prospect) of the fake Inbox seeded with --seed
    /// and --accounts, in its order (`crmsync fake-inbox --seed S --contacts N` matches them).
    #[arg(long, default_value_t = 50)]
    pub contacts: usize,
    /// Seed of the fake Inbox the contacts match (`crmsync fake-inbox --seed`).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Which fake Inbox the contacts match: its API version (`crmsync fake-inbox --api`).
    #[arg(long, value_enum, default_value_t = FakeApi::V2)]
    pub api: FakeApi,
    /// X account links of the fake Inbox the contacts match (`crmsync fake-inbox --accounts`).
    #[arg(long, default_value_t = 3)]
    pub accounts: usize,
    /// LinkedIn account links of the fake Inbox the contacts match (v2 only;
    /// `crmsync fake-inbox --linkedin-accounts`).
    #[arg(long, default_value_t = 1)]
    pub linkedin_accounts: usize,
    /// Generated contacts (`@lead00001`.. with X ids 900000001..) instead of ones matching the
    /// fake Inbox.
    #[arg(long)]
    pub unmatched: bool,
    /// Give the contacts a real CRM's blemishes: some missing, some keyed by handle (v2: or
    /// LinkedIn profile URL) only, some without tags, plus one Inbox does not know and one that
    /// cannot be read.
    #[arg(long, conflicts_with = "unmatched")]
    pub blemishes: bool,
    /// Rate limits to enforce.
    #[arg(long, value_enum, default_value_t = FakeLimits::Free)]
    pub rate_limit: FakeLimits,
}

/// Rate limits of the fake HubSpot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FakeLimits {
    /// Free/starter: 100 requests per 10 s, search 4 per second.
    Free,
    /// Professional/enterprise: 190 requests per 10 s, search 5 per second.
    Pro,
    /// No limits.
    Off,
}

impl FakeLimits {
    fn limits(self) -> Limits {
        match self {
            FakeLimits::Free => Limits::hubspot_free(),
            FakeLimits::Pro => Limits {
                requests: Some((190, Duration::from_secs(10))),
                search_per_second: Some(5),
            },
            FakeLimits::Off => Limits::off(),
        }
    }
}

/// Serves until Ctrl-C.
pub async fn run(args: FakeHubspotArgs) -> anyhow::Result<u8> {
    let addr = SocketAddr::from(([127, 0, 0, 1], args.port));
    let config = FakeHubspotConfig {
        token: args.token.clone(),
        contacts: if args.unmatched { args.contacts } else { 0 },
        limits: args.rate_limit.limits(),
        ..FakeHubspotConfig::default()
    };
    let fake = FakeHubspot::start_on(addr, config).await?;
    let mut extra = String::new();
    if !args.unmatched {
        let seeded = seed_matching(&fake, &args).await?;
        extra = match args.api {
            FakeApi::V2 => format!(
                " matching `crmsync fake-inbox --seed {} --accounts {} --linkedin-accounts {}`",
                args.seed, args.accounts, args.linkedin_accounts
            ),
            FakeApi::V1 => format!(
                " matching `crmsync fake-inbox --api v1 --seed {} --accounts {}`",
                args.seed, args.accounts
            ),
        };
        if !seeded.others.is_empty() {
            extra.push_str(&format!(
                " (with blemishes; {} not on Inbox)",
                seeded.others.len()
            ));
        }
    }
    let _ = say!(
        "fake HubSpot serving {} contacts{extra} at {}",
        fake.contacts().len(),
        fake.base_url()
    );
    let _ = say!(
        "set crm.hubspot.base_url to that URL and the token env var (crm.hubspot.token_env) to the --token value; Ctrl-C stops it. Config:\n"
    );
    let _ = say!("{}", config_snippet(&fake.base_url(), args.api));
    // A server keeps serving when whoever read its first lines goes away (a closed stdout).
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = fake.wait() => {}
    }
    Ok(EXIT_OK)
}

/// Seeds one contact per contact (v1: prospect) of a fake Inbox with the same seed, accounts
/// and size (built in-process on a free port, read, and stopped).
async fn seed_matching(fake: &FakeHubspot, args: &FakeHubspotArgs) -> anyhow::Result<Seeded> {
    if args.api == FakeApi::V2 {
        let inbox = FakeInboxV2::start(inbox_v2::FakeConfig {
            contacts: args.contacts,
            accounts: inbox_v2::Accounts {
                x: args.accounts,
                linkedin: args.linkedin_accounts,
            },
            seed: args.seed,
            rate_limit: RateLimit::Off,
            ..inbox_v2::FakeConfig::default()
        })
        .await?;
        let seeded = crate::demo::seed_hubspot_from(fake, &inbox, args.blemishes);
        inbox.shutdown().await;
        return Ok(seeded);
    }
    let inbox = FakeInbox::start(FakeConfig {
        prospects: args.contacts,
        accounts: args.accounts,
        seed: args.seed,
        rate_limit: RateLimit::Off,
        ..FakeConfig::default()
    })
    .await?;
    let prospects = inbox.prospects();
    inbox.shutdown().await;
    Ok(fake.seed_from_prospects(&prospects, args.blemishes))
}

/// The `[crm]` part of a config for this fake.
fn config_snippet(base_url: &str, api: FakeApi) -> String {
    let linkedin = match api {
        FakeApi::V2 => "linkedin_id = \"linkedin_id\"\nlinkedin_username = \"linkedin_url\"\n",
        FakeApi::V1 => "",
    };
    let statuses: String = STATUS_MAP
        .iter()
        .map(|(inbox, crm)| format!("\"{inbox}\" = \"{crm}\"\n"))
        .collect();
    format!(
        "[crm]\nkind = \"hubspot\"\n\n[crm.hubspot]\nbase_url = \"{base_url}\"\ntoken_env = \"HUBSPOT_TOKEN\"\n\n[crm.hubspot.properties]\n{PROPERTIES_TOML}{linkedin}\n[mapping.status]\n{statuses}"
    )
}
