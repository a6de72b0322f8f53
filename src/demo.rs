//! The embedded demo world: a fake Inbox, a CRM that matches it (a sample CSV export, or a fake
//! HubSpot with `crmsync demo --crm hubspot`), and scripted edits on both sides, so
//! `crmsync demo` can show the whole loop with no account and no network.
//!
//! It builds data and files only; the CLI runs the engine and prints.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crmsync_fake::RateLimit;
use crmsync_fake::hubspot::{
    FakeHubspot, FakeHubspotConfig, Limits, PROPERTIES_TOML, STATUS_MAP as HUBSPOT_STATUS_MAP,
    Seeded,
};
use crmsync_fake::inbox_v1::{ContextEdit, FakeConfig, FakeInbox, ProspectView};

/// The token the demo's fake Inbox accepts (not a secret: it only opens the local fake).
pub const DEMO_TOKEN: &str = "demo-token";

/// The private-app token the demo's fake HubSpot accepts (not a secret either).
pub const DEMO_HUBSPOT_TOKEN: &str = "demo-hubspot-token";

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

/// The `[crm.csv.columns]` table of the demo export's layout (the columns of [`HEADER`] that
/// crmsync syncs). The integration tests and the benchmarks write their exports the same way.
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

const HEADER: &[&str] = &[
    "Record ID",
    "X User ID",
    "X Handle",
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
    /// The fake Inbox.
    pub fake: FakeInbox,
    /// The config file.
    pub config_path: PathBuf,
    /// The CRM export (in-place mode: it is the CRM).
    pub export_path: PathBuf,
}

/// A running demo world with a fake HubSpot as the CRM.
pub struct HubspotDemo {
    /// The fake Inbox.
    pub fake: FakeInbox,
    /// The fake HubSpot (the CRM).
    pub hubspot: FakeHubspot,
    /// The config file.
    pub config_path: PathBuf,
    /// Which contact was seeded from which prospect.
    pub seeded: Seeded,
}

/// Starts the fake Inbox and writes the config and a matching CRM export into `dir`.
pub async fn setup(dir: &Path, prospects: usize) -> anyhow::Result<Demo> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let fake = start_inbox(prospects).await?;
    let export_path = dir.join("crm_export.csv");
    write_export(&export_path, &fake.prospects())?;
    let config_path = dir.join("sync.toml");
    std::fs::write(&config_path, config_text(&fake.base_url()))
        .with_context(|| format!("writing {}", config_path.display()))?;
    Ok(Demo {
        fake,
        config_path,
        export_path,
    })
}

/// Starts the fake Inbox and a fake HubSpot whose contacts match it, with the blemishes of the
/// CSV export (contacts missing, keyed by handle only, without tags yet, unknown to Inbox,
/// unreadable), and writes the config into `dir`.
pub async fn setup_hubspot(dir: &Path, prospects: usize) -> anyhow::Result<HubspotDemo> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let fake = start_inbox(prospects).await?;
    let hubspot = FakeHubspot::start(FakeHubspotConfig {
        token: DEMO_HUBSPOT_TOKEN.into(),
        contacts: 0,
        owner_emails: fake.members().into_iter().map(|(_, email)| email).collect(),
        limits: Limits::off(),
    })
    .await
    .context("starting the embedded fake HubSpot")?;
    let seeded = hubspot.seed_from_prospects(&fake.prospects(), true);
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
    })
}

/// The demo's fake Inbox, with three-line notes on a few prospects.
async fn start_inbox(prospects: usize) -> anyhow::Result<FakeInbox> {
    let fake = FakeInbox::start(FakeConfig {
        token: DEMO_TOKEN.into(),
        prospects,
        accounts: 3,
        seed: 7,
        rate_limit: RateLimit::Off,
        ..FakeConfig::default()
    })
    .await
    .context("starting the embedded fake Inbox")?;

    // Notes with three lines on a few prospects, so that edits at the top (CRM) and at the
    // bottom (Inbox) merge cleanly later.
    let all = fake.prospects();
    for p in all.iter().skip(3).step_by(23).take(6) {
        fake.edit_context(
            &p.external_id,
            ContextEdit {
                notes: Some(Some(format!(
                    "Found via the {} thread.\nRuns growth at a fintech.\nAsked about pricing.",
                    p.username
                ))),
                ..ContextEdit::default()
            },
        );
    }
    Ok(fake)
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

{CSV_COLUMNS_TOML}tags_separator = ";"

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
{PROPERTIES_TOML}
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

/// Writes an export that agrees with Inbox for most prospects, with the usual blemishes of a
/// real one: some rows keyed by handle only, some prospects missing, records Inbox does not
/// know, and one row that cannot be read.
fn write_export(path: &Path, prospects: &[ProspectView]) -> anyhow::Result<()> {
    let mut writer =
        csv::Writer::from_path(path).with_context(|| format!("writing {}", path.display()))?;
    writer.write_record(HEADER)?;
    for (idx, p) in prospects.iter().enumerate() {
        // Every 12th prospect has no CRM record yet.
        if idx % 12 == 11 {
            continue;
        }
        let first = p.threads.first();
        let owner = first
            .and_then(|t| t.assignee_email.clone())
            .unwrap_or_default();
        let done = first.map(|t| t.done.to_string()).unwrap_or_default();
        // Every 15th row was typed in by hand: handle only, with an @ and different case.
        let (x_id, handle) = if idx % 15 == 4 {
            (String::new(), format!("@{}", p.username.to_uppercase()))
        } else {
            (p.platform_id.clone(), p.username.clone())
        };
        // Every 20th row has not got its tags yet (the first sync fills them in).
        let tags = if idx % 20 == 7 {
            String::new()
        } else {
            p.tags.join(";")
        };
        writer.write_record([
            format!("r{:05}", idx + 1),
            x_id,
            handle,
            p.display_name.clone(),
            format!("Company {}", idx % 37),
            tags,
            p.status.as_deref().map(crm_status).unwrap_or_default(),
            p.valuation
                .as_ref()
                .map(|v| v.to_string())
                .unwrap_or_default(),
            p.notes.clone().unwrap_or_default(),
            owner,
            done,
        ])?;
    }
    // Records Inbox does not know (they are looked up once, then left alone).
    writer.write_record([
        "r90001",
        "1999000000000000001",
        "not_on_inbox",
        "Pat Offline",
        "Acme",
        "",
        "NEW",
        "500",
        "",
        "",
        "",
    ])?;
    // A row an export tool broke: the deal value is text.
    writer.write_record([
        "r90002",
        "1999000000000000002",
        "typo_row",
        "Kim Typo",
        "Acme",
        "",
        "NEW",
        "ten thousand",
        "",
        "",
        "",
    ])?;
    writer.flush()?;
    Ok(())
}

/// What the scripted edits did, one line each, for the demo's narration.
pub type EditLog = Vec<String>;

/// The CRM side of the demo's scripted edits: where a prospect's record is and how a user
/// changes it there.
trait DemoCrm {
    /// How the narration names the CRM (`the CRM`, `HubSpot`).
    const NAME: &'static str;
    /// A status value the demo's `[mapping.status]` does not know (and the CRM accepts).
    const UNMAPPED_STATUS: &'static str;
    /// Where a prospect's record is.
    type Record;
    /// The prospect's record, if the CRM has one.
    fn locate(&self, p: &ProspectView) -> Option<Self::Record>;
    fn set_notes(&mut self, record: &Self::Record, notes: &str);
    fn set_status(&mut self, record: &Self::Record, status: &str);
    fn drop_first_tag(&mut self, record: &Self::Record);
}

/// The CSV export, as rows of cells, written back by [`CsvRows::save`].
struct CsvRows {
    headers: csv::StringRecord,
    rows: Vec<Vec<String>>,
}

impl CsvRows {
    fn load(path: &Path) -> anyhow::Result<CsvRows> {
        let mut reader = csv::Reader::from_path(path)?;
        let headers = reader.headers()?.clone();
        let rows = reader
            .records()
            .map(|r| r.map(|r| r.iter().map(str::to_string).collect()))
            .collect::<Result<_, _>>()?;
        Ok(CsvRows { headers, rows })
    }

    fn col(&self, name: &str) -> usize {
        self.headers
            .iter()
            .position(|h| h == name)
            .expect("demo header")
    }

    fn cell(&mut self, row: usize, column: &str) -> &mut String {
        let col = self.col(column);
        &mut self.rows[row][col]
    }

    fn save(self, path: &Path) -> anyhow::Result<()> {
        let mut writer = csv::Writer::from_path(path)?;
        writer.write_record(&self.headers)?;
        for row in self.rows {
            writer.write_record(row)?;
        }
        writer.flush()?;
        Ok(())
    }
}

impl DemoCrm for CsvRows {
    const NAME: &'static str = "the CRM";
    const UNMAPPED_STATUS: &'static str = "MAYBE_LATER";
    /// The row index.
    type Record = usize;

    /// The row of the prospect's X id, or of its handle.
    fn locate(&self, p: &ProspectView) -> Option<usize> {
        let (x_id, handle) = (self.col("X User ID"), self.col("X Handle"));
        self.rows.iter().position(|r| {
            r[x_id] == p.platform_id
                || r[handle]
                    .trim_start_matches('@')
                    .eq_ignore_ascii_case(&p.username)
        })
    }

    fn set_notes(&mut self, row: &usize, notes: &str) {
        *self.cell(*row, "Notes") = notes.to_string();
    }

    fn set_status(&mut self, row: &usize, status: &str) {
        *self.cell(*row, "Lead Status") = status.to_string();
    }

    fn drop_first_tag(&mut self, row: &usize) {
        let cell = self.cell(*row, "Tags");
        let kept: Vec<&str> = cell.split(';').skip(1).collect();
        *cell = kept.join(";");
    }
}

/// The fake HubSpot, with the demo's contact of each prospect.
struct HubspotContacts<'a> {
    hubspot: &'a FakeHubspot,
    contact_of: BTreeMap<&'a str, &'a str>,
}

impl DemoCrm for HubspotContacts<'_> {
    const NAME: &'static str = "HubSpot";
    const UNMAPPED_STATUS: &'static str = "BAD_TIMING";
    /// The contact id.
    type Record = String;

    fn locate(&self, p: &ProspectView) -> Option<String> {
        self.contact_of
            .get(p.external_id.as_str())
            .map(|id| id.to_string())
    }

    fn set_notes(&mut self, record: &String, notes: &str) {
        self.hubspot.set_property(record, "inbox_notes", notes);
    }

    fn set_status(&mut self, record: &String, status: &str) {
        self.hubspot.set_property(record, "hs_lead_status", status);
    }

    fn drop_first_tag(&mut self, record: &String) {
        let current = self
            .hubspot
            .contact(record)
            .and_then(|c| c.get("inbox_tags").map(str::to_owned))
            .unwrap_or_default();
        let kept: Vec<&str> = current.split(';').skip(1).collect();
        self.hubspot
            .set_property(record, "inbox_tags", &kept.join(";"));
    }
}

/// Edits both sides the way a sales team does between two nightly runs.
pub fn edit_both_sides(demo: &Demo) -> anyhow::Result<EditLog> {
    let mut crm = CsvRows::load(&demo.export_path)?;
    let log = scripted_edits(&demo.fake, &mut crm);
    crm.save(&demo.export_path)?;
    Ok(log)
}

/// Edits both sides the way a sales team does between two nightly runs, with HubSpot as the
/// CRM: the same edits as [`edit_both_sides`], made through the fake HubSpot as a user would.
pub fn edit_both_sides_hubspot(demo: &HubspotDemo) -> anyhow::Result<EditLog> {
    let mut crm = HubspotContacts {
        hubspot: &demo.hubspot,
        contact_of: demo
            .seeded
            .contacts
            .iter()
            .map(|(prospect, contact)| (prospect.as_str(), contact.as_str()))
            .collect(),
    };
    Ok(scripted_edits(&demo.fake, &mut crm))
}

/// The day's edits on both sides: in Inbox through the fake, in the CRM through `crm`.
fn scripted_edits<C: DemoCrm>(inbox: &FakeInbox, crm: &mut C) -> EditLog {
    let mut log = EditLog::new();
    let prospects = inbox.prospects();
    let tag_names: Vec<String> = inbox.tags().into_iter().map(|(_, n)| n).collect();
    let crm_name = C::NAME;
    let edit = |p: &ProspectView, change: ContextEdit| inbox.edit_context(&p.external_id, change);

    // 1. Notes edited on both sides, in different places: merges cleanly.
    let three_line: Vec<(&ProspectView, C::Record)> = prospects
        .iter()
        .filter(|p| p.notes.as_deref().is_some_and(|n| n.lines().count() == 3))
        .filter_map(|p| crm.locate(p).map(|record| (p, record)))
        .collect();
    for (p, record) in three_line.iter().take(3) {
        let notes = p.notes.clone().unwrap_or_default();
        edit(
            p,
            ContextEdit {
                notes: Some(Some(format!("{notes}\nCall booked for Tuesday."))),
                ..ContextEdit::default()
            },
        );
        crm.set_notes(
            record,
            &notes.replacen("Found via", "VIP intro. Found via", 1),
        );
        log.push(format!(
            "@{}: notes edited in Inbox (last line) and in {crm_name} (first line)",
            p.username
        ));
    }
    // 2. The same line of notes edited differently on both sides: a conflict, all texts kept.
    if let Some((p, record)) = three_line.get(3) {
        let notes = p.notes.clone().unwrap_or_default();
        edit(
            p,
            ContextEdit {
                notes: Some(Some(notes.replace(
                    "Asked about pricing.",
                    "Asked about pricing: wants 20 seats.",
                ))),
                ..ContextEdit::default()
            },
        );
        crm.set_notes(
            record,
            &notes.replace("Asked about pricing.", "Asked about pricing: budget is 5k."),
        );
        log.push(format!(
            "@{}: the same line of notes edited differently on both sides",
            p.username
        ));
    }
    // 3. Inbox: tags added and valuations changed; CRM: statuses moved and a tag removed.
    let single: Vec<(&ProspectView, C::Record)> = prospects
        .iter()
        .filter(|p| p.threads.len() == 1)
        .filter_map(|p| crm.locate(p).map(|record| (p, record)))
        .collect();
    for (n, (p, record)) in single.iter().take(12).enumerate() {
        match n % 4 {
            0 => {
                let tag = &tag_names[n % tag_names.len()];
                edit(
                    p,
                    ContextEdit {
                        tags_add: Some(vec![tag.clone()]),
                        ..ContextEdit::default()
                    },
                );
                log.push(format!("@{}: tag {tag:?} added in Inbox", p.username));
            }
            1 => {
                edit(
                    p,
                    ContextEdit {
                        valuation: Some(Some(12500.0 + n as f64)),
                        ..ContextEdit::default()
                    },
                );
                log.push(format!(
                    "@{}: valuation set to {} in Inbox",
                    p.username,
                    12500 + n
                ));
            }
            2 => {
                crm.set_status(record, "IN_PROGRESS");
                log.push(format!(
                    "@{}: lead status set to IN_PROGRESS in {crm_name}",
                    p.username
                ));
            }
            _ => {
                crm.drop_first_tag(record);
                log.push(format!("@{}: first tag removed in {crm_name}", p.username));
            }
        }
    }
    // 4. A CRM status nobody mapped: an `unmapped` conflict, never a guess.
    if let Some((p, record)) = single.get(13) {
        crm.set_status(record, C::UNMAPPED_STATUS);
        log.push(format!(
            "@{}: lead status {} (not in [mapping.status]) in {crm_name}",
            p.username,
            C::UNMAPPED_STATUS
        ));
    }
    // 5. A prospect talking to two of our accounts: one thread gets archived.
    if let Some(p) = prospects
        .iter()
        .find(|p| p.threads.len() >= 2 && p.threads.iter().all(|t| !t.done))
    {
        inbox.set_thread(&p.threads[0].id, None, Some(true));
        log.push(format!(
            "@{}: thread on @{} archived, thread on @{} still open",
            p.username, p.threads[0].account_username, p.threads[1].account_username
        ));
    }
    log
}
