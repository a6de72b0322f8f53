//! The embedded demo world: a fake Inbox on API v2 (contacts with X and LinkedIn profiles), a
//! CRM that matches it (a sample CSV export, or a fake HubSpot with `crmsync demo --crm
//! hubspot`), and scripted edits on both sides, so `crmsync demo` can show the whole loop with
//! no account and no network. `records.rs` builds the CRM's records, `edits.rs` the day's edits.
//!
//! It builds data and files only; the CLI runs the engine and prints.

mod edits;
mod records;

pub use edits::{edit_both_sides, edit_both_sides_hubspot};
use records::{crm_records, seed_hubspot, summary, write_export};

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crmsync_fake::RateLimit;
use crmsync_fake::hubspot::{
    FakeHubspot, FakeHubspotConfig, Limits, PROPERTIES_TOML, STATUS_MAP as HUBSPOT_STATUS_MAP,
    Seeded,
};
use crmsync_fake::inbox_v2::{Accounts, ContactEdit, ContactView, FakeConfig, FakeInboxV2};

/// The token the demo's fake Inbox accepts (not a secret: it only opens the local fake).
pub const DEMO_TOKEN: &str = "demo-token";

/// The private-app token the demo's fake HubSpot accepts (not a secret either).
pub const DEMO_HUBSPOT_TOKEN: &str = "demo-hubspot-token";

/// The demo's fake Inbox: its seed and accounts (`crmsync fake-inbox --api v2 --accounts 2
/// --linkedin-accounts 1 --seed 7` serves the same data).
pub const DEMO_SEED: u64 = 7;
/// X account links of the demo's team.
pub const DEMO_X_ACCOUNTS: usize = 2;
/// LinkedIn account links of the demo's team.
pub const DEMO_LINKEDIN_ACCOUNTS: usize = 1;

/// How both sides are reconciled in the demo, whatever the CRM.
const POLICY_TOML: &str = r#"[policy]
tags = "merge"
notes = "merge"
status = "crm-wins"
valuation = "inbox-wins"
assignee = "manual"
done = "manual"

[fanout]
mode = "log"

[safety]
max_change_ratio = 0.25

[limits]
min_interval_ms = 0
"#;

/// Inbox status name → the demo CRM's value.
pub const STATUS_MAP: &[(&str, &str)] = &[
    ("Lead", "NEW"),
    ("Interested", "OPEN_DEAL"),
    ("Negotiating", "IN_PROGRESS"),
    ("Won", "CLOSED_WON"),
    ("Lost", "CLOSED_LOST"),
];

/// The `[crm.csv.columns]` table of the X columns of the demo export's layout (the columns of
/// [`HEADER`] that crmsync syncs, but the LinkedIn ones). The integration tests and the
/// benchmarks write their exports the same way.
pub const CSV_COLUMNS_TOML: &str = r#"[crm.csv.columns]
id = "Record ID"
x_user_id = "X User ID"
username = "X Handle"
tags = "Tags"
status = "Lead Status"
valuation = "Deal Value"
notes = "Notes"
owner_email = "Owner Email"
done = "Done"
"#;

/// The LinkedIn columns of the demo export, under `[crm.csv.columns]` (after
/// [`CSV_COLUMNS_TOML`]).
pub const LINKEDIN_COLUMNS_TOML: &str = r#"linkedin_id = "LinkedIn ID"
linkedin_username = "LinkedIn URL"
"#;

const HEADER: &[&str] = &[
    "Record ID",
    "X User ID",
    "X Handle",
    "LinkedIn ID",
    "LinkedIn URL",
    "Full Name",
    "Company",
    "Tags",
    "Lead Status",
    "Deal Value",
    "Notes",
    "Owner Email",
    "Done",
];

/// A running demo world.
pub struct Demo {
    /// The fake Inbox (API v2).
    pub fake: FakeInboxV2,
    /// The config file.
    pub config_path: PathBuf,
    /// The CRM export (in-place mode: it is the CRM).
    pub export_path: PathBuf,
    /// What the CRM's records look like, for the narration.
    pub crm: CrmSummary,
}

/// A running demo world with a fake HubSpot as the CRM.
pub struct HubspotDemo {
    /// The fake Inbox (API v2).
    pub fake: FakeInboxV2,
    /// The fake HubSpot (the CRM).
    pub hubspot: FakeHubspot,
    /// The config file.
    pub config_path: PathBuf,
    /// Which HubSpot contact was seeded from which Inbox contact.
    pub seeded: Seeded,
    /// What the CRM's records look like, for the narration.
    pub crm: CrmSummary,
}

/// The counts the demo's introduction tells.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CrmSummary {
    /// Records of Inbox contacts.
    pub records: usize,
    /// Of which keyed by an X handle only.
    pub by_handle: usize,
    /// Of which keyed by a LinkedIn id.
    pub by_linkedin_id: usize,
    /// Of which keyed by a LinkedIn profile URL only.
    pub by_linkedin_url: usize,
}

/// The X and LinkedIn accounts of the demo's team, for the narration.
pub fn accounts_line(contacts: usize) -> String {
    format!(
        "{contacts} contacts on {DEMO_X_ACCOUNTS} X accounts and {DEMO_LINKEDIN_ACCOUNTS} LinkedIn account"
    )
}

/// Starts the fake Inbox and writes the config and a matching CRM export into `dir`.
pub async fn setup(dir: &Path, contacts: usize) -> anyhow::Result<Demo> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let fake = start_inbox(contacts).await?;
    let export_path = dir.join("crm_export.csv");
    let records = crm_records(&fake, true);
    write_export(&export_path, &records)?;
    let config_path = dir.join("sync.toml");
    std::fs::write(&config_path, config_text(&fake.base_url()))
        .with_context(|| format!("writing {}", config_path.display()))?;
    Ok(Demo {
        fake,
        config_path,
        export_path,
        crm: summary(&records),
    })
}

/// Starts the fake Inbox and a fake HubSpot whose contacts match it, with the blemishes of the
/// CSV export (contacts missing, keyed by handle or profile URL only, without tags yet, unknown
/// to Inbox, unreadable), and writes the config into `dir`.
pub async fn setup_hubspot(dir: &Path, contacts: usize) -> anyhow::Result<HubspotDemo> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let fake = start_inbox(contacts).await?;
    let hubspot = FakeHubspot::start(FakeHubspotConfig {
        token: DEMO_HUBSPOT_TOKEN.into(),
        contacts: 0,
        owner_emails: fake.members().into_iter().map(|(_, email)| email).collect(),
        limits: Limits::off(),
    })
    .await
    .context("starting the embedded fake HubSpot")?;
    let records = crm_records(&fake, true);
    let seeded = seed_hubspot(&hubspot, &fake, &records);
    // The contacts were last edited yesterday, not at the demo's start: later runs then search
    // only the contacts the demo edits.
    let yesterday = chrono::Utc::now() - chrono::Duration::days(1);
    hubspot.set_last_modified(&[], yesterday.timestamp_millis());
    let config_path = dir.join("sync.toml");
    std::fs::write(
        &config_path,
        hubspot_config_text(&fake.base_url(), &hubspot.base_url()),
    )
    .with_context(|| format!("writing {}", config_path.display()))?;
    Ok(HubspotDemo {
        fake,
        hubspot,
        config_path,
        seeded,
        crm: summary(&records),
    })
}

/// The demo's fake Inbox (API v2), with three-line notes on a few contacts.
async fn start_inbox(contacts: usize) -> anyhow::Result<FakeInboxV2> {
    let fake = FakeInboxV2::start(FakeConfig {
        token: DEMO_TOKEN.into(),
        contacts,
        accounts: Accounts {
            x: DEMO_X_ACCOUNTS,
            linkedin: DEMO_LINKEDIN_ACCOUNTS,
        },
        seed: DEMO_SEED,
        rate_limit: RateLimit::Off,
        ..FakeConfig::default()
    })
    .await
    .context("starting the embedded fake Inbox")?;

    // Notes with three lines on a few contacts, so that edits at the top (CRM) and at the
    // bottom (Inbox) merge cleanly later.
    let all = fake.contacts();
    for c in all
        .iter()
        .filter(|c| !c.thread_ids.is_empty())
        .skip(3)
        .step_by(23)
        .take(6)
    {
        fake.edit_contact(
            &c.id,
            ContactEdit {
                notes: Some(Some(format!(
                    "Found via {}.\nRuns growth at a fintech.\nAsked about pricing.",
                    label(c)
                ))),
                ..ContactEdit::default()
            },
        );
    }
    Ok(fake)
}

/// Seeds `hubspot` with one contact per contact of `fake` (the way the demo does: a LinkedIn id
/// and URL property, every Inbox tag an option), agreeing with it, or with the demo's
/// blemishes. For `crmsync fake-hubspot`.
pub fn seed_hubspot_from(hubspot: &FakeHubspot, fake: &FakeInboxV2, blemishes: bool) -> Seeded {
    seed_hubspot(hubspot, fake, &crm_records(fake, blemishes))
}

/// How the narration names a contact: `@handle` on X, else its LinkedIn slug.
fn label(c: &ContactView) -> String {
    match (profile(c, "twitter"), profile(c, "linkedin")) {
        (Some(x), _) => format!("@{}", x.username),
        (None, Some(li)) => format!("linkedin.com/in/{}", li.username),
        (None, None) => c.id.clone(),
    }
}

fn profile<'a>(
    c: &'a ContactView,
    platform: &str,
) -> Option<&'a crmsync_fake::inbox_v2::ProfileView> {
    c.profiles.iter().find(|p| p.platform == platform)
}

fn config_text(base_url: &str) -> String {
    let mut mapping = String::new();
    for (inbox, crm) in STATUS_MAP {
        mapping.push_str(&format!("\"{inbox}\" = \"{crm}\"\n"));
    }
    format!(
        r#"# Written by `crmsync demo`.
[inbox]
base_url = "{base_url}"
token_env = "CRMSYNC_DEMO_TOKEN"

[state]
dir = "state"

[crm]
kind = "csv"

[crm.csv]
path = "crm_export.csv"
write_mode = "in-place"

{CSV_COLUMNS_TOML}{LINKEDIN_COLUMNS_TOML}tags_separator = ";"

[mapping.status]
{mapping}
{POLICY_TOML}"#
    )
}

fn hubspot_config_text(base_url: &str, hubspot_url: &str) -> String {
    let mut mapping = String::new();
    for (inbox, crm) in HUBSPOT_STATUS_MAP {
        mapping.push_str(&format!("\"{inbox}\" = \"{crm}\"\n"));
    }
    format!(
        r#"# Written by `crmsync demo --crm hubspot`.
[inbox]
base_url = "{base_url}"
token_env = "CRMSYNC_DEMO_TOKEN"

[state]
dir = "state"

[crm]
kind = "hubspot"

[crm.hubspot]
base_url = "{hubspot_url}"
token_env = "CRMSYNC_DEMO_HUBSPOT_TOKEN"
requests_per_window = 1000
window_secs = 1
search_per_second = 100

[crm.hubspot.properties]
{PROPERTIES_TOML}linkedin_id = "linkedin_id"
linkedin_username = "linkedin_url"

[mapping.status]
{mapping}
{POLICY_TOML}"#
    )
}

fn crm_status(inbox: &str) -> String {
    STATUS_MAP
        .iter()
        .find(|(name, _)| *name == inbox)
        .map_or_else(|| inbox.to_string(), |(_, crm)| crm.to_string())
}

/// What the scripted edits did, one line each, for the demo's narration.
pub type EditLog = Vec<String>;
