//! LinkedIn identities on Inbox API v2, through the real binary against the v2 fake: records
//! matched by a LinkedIn profile URL or id and synced both ways, an X id and a LinkedIn id of
//! two contacts (an identity conflict that writes nothing), X handles written as URLs, the
//! finder for a contact no thread lists, and new records carrying every identity.

use std::path::{Path, PathBuf};
use std::process::Output;

use crmsync_fake::RateLimit;
use crmsync_fake::inbox_v2::{Accounts, ContactEdit, ContactView, FakeConfig, FakeInboxV2};

use crate::support::{TOKEN, TOKEN_ENV, assert_exit, json};

/// The export's header: the demo's columns plus the two LinkedIn ones.
const HEADER: [&str; 12] = [
    "Record ID",
    "X User ID",
    "X Handle",
    "LinkedIn ID",
    "LinkedIn URL",
    "Company",
    "Tags",
    "Lead Status",
    "Deal Value",
    "Notes",
    "Owner Email",
    "Done",
];

fn col(name: &str) -> usize {
    HEADER
        .iter()
        .position(|h| *h == name)
        .expect("known column")
}

struct World {
    fake: FakeInboxV2,
    dir: tempfile::TempDir,
}

impl World {
    async fn start(contacts: usize, extra: &str) -> World {
        let fake = FakeInboxV2::start(FakeConfig {
            token: TOKEN.into(),
            contacts,
            accounts: Accounts { x: 2, linkedin: 1 },
            seed: 5,
            rate_limit: RateLimit::Off,
            ..FakeConfig::default()
        })
        .await
        .expect("v2 fake starts");
        let dir = tempfile::tempdir().unwrap();
        let world = World { fake, dir };
        let config = format!(
            "[inbox]\nbase_url = \"{}\"\ntoken_env = \"{TOKEN_ENV}\"\ntimeout_secs = 10\n\n\
             [crm]\nkind = \"csv\"\n{extra}\n[crm.csv]\npath = \"crm_export.csv\"\n\
             write_mode = \"in-place\"\n\n{}linkedin_id = \"LinkedIn ID\"\n\
             linkedin_username = \"LinkedIn URL\"\n\n[limits]\nmin_interval_ms = 0\n\
             backoff_base_ms = 50\n",
            world.fake.base_url(),
            crmsync::demo::CSV_COLUMNS_TOML
        );
        std::fs::write(world.dir.path().join("sync.toml"), config).unwrap();
        world
    }

    fn export(&self) -> PathBuf {
        self.dir.path().join("crm_export.csv")
    }

    async fn crmsync(&self, args: &[&str]) -> Output {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_crmsync"));
        cmd.arg("--config")
            .arg(self.dir.path().join("sync.toml"))
            .args(args);
        cmd.env(TOKEN_ENV, TOKEN);
        tokio::task::spawn_blocking(move || cmd.output().expect("binary runs"))
            .await
            .unwrap()
    }

    async fn sync(&self) -> serde_json::Value {
        let out = self.crmsync(&["sync", "--json"]).await;
        assert_exit(&out, 0);
        json(&out)
    }

    /// Contacts whose profiles are on exactly `platforms` (in any order), with one thread.
    fn single_thread(&self, platforms: &[&str]) -> Vec<ContactView> {
        self.fake
            .contacts()
            .into_iter()
            .filter(|c| {
                let mut mine: Vec<&str> = c.profiles.iter().map(|p| p.platform.as_str()).collect();
                mine.sort_unstable();
                let mut wanted = platforms.to_vec();
                wanted.sort_unstable();
                c.thread_ids.len() == 1 && mine == wanted
            })
            .collect()
    }
}

fn profile<'a>(c: &'a ContactView, platform: &str) -> &'a crmsync_fake::inbox_v2::ProfileView {
    c.profiles
        .iter()
        .find(|p| p.platform == platform)
        .expect("the contact has a profile there")
}

/// A row that agrees with the contact's values, with no identity filled in.
fn agreeing_row(world: &World, id: &str, c: &ContactView) -> Vec<String> {
    let thread = world.fake.thread(&c.thread_ids[0]).unwrap();
    let mut row = vec![String::new(); HEADER.len()];
    row[col("Record ID")] = id.into();
    row[col("Company")] = "Acme".into();
    row[col("Tags")] = c.tags.join(";");
    row[col("Lead Status")] = c.status.clone().unwrap_or_default();
    row[col("Deal Value")] = c
        .valuation
        .as_ref()
        .map(|v| v.to_string())
        .unwrap_or_default();
    row[col("Notes")] = c.notes.clone().unwrap_or_default();
    row[col("Owner Email")] = thread.assignee_email.unwrap_or_default();
    row[col("Done")] = thread.archived.to_string();
    row
}

fn write_rows(path: &Path, rows: &[Vec<String>]) {
    let mut writer = csv::Writer::from_path(path).unwrap();
    writer.write_record(HEADER).unwrap();
    for row in rows {
        writer.write_record(row).unwrap();
    }
    writer.flush().unwrap();
}

fn read_rows(path: &Path) -> Vec<Vec<String>> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn v2_a_linkedin_only_contact_matched_by_its_profile_url_syncs_both_ways() {
    let world = World::start(40, "").await;
    let contacts = world.single_thread(&["linkedin"]);
    let (a, b) = (&contacts[0], &contacts[1]);
    let url_a = format!(
        "HTTPS://WWW.LinkedIn.com/in/{}/?utm_source=share",
        profile(a, "linkedin").username
    );
    let url_b = format!("linkedin.com/in/{}", profile(b, "linkedin").username);
    let mut rows = vec![agreeing_row(&world, "r1", a), agreeing_row(&world, "r2", b)];
    rows[0][col("LinkedIn URL")] = url_a.clone();
    rows[1][col("LinkedIn URL")] = url_b;
    write_rows(&world.export(), &rows);
    let first = world.sync().await;
    assert_eq!(first["linked"], 2, "{first}");
    assert_eq!(first["writes"]["inbox"], 0, "{first}");
    assert_eq!(first["writes"]["crm"], 0, "{first}");

    // The CRM edits a's notes, Inbox b's valuation: each crosses to the other side.
    let mut rows = read_rows(&world.export());
    rows[0][col("Notes")] = "Met at the LinkedIn event.".into();
    write_rows(&world.export(), &rows);
    world.fake.edit_contact(
        &b.id,
        ContactEdit {
            valuation: Some(Some(7250.0)),
            ..ContactEdit::default()
        },
    );
    // The plan names a contact without an X handle by its name.
    let plan = world.crmsync(&["plan"]).await;
    let plan = String::from_utf8_lossy(&plan.stdout);
    let named = format!(
        "{} (Inbox {}) <-> CRM record r1",
        profile(a, "linkedin").display_name,
        a.id
    );
    assert!(plan.contains(&named), "{plan}");
    let second = world.sync().await;
    assert_eq!(second["writes"]["inbox"], 1, "{second}");
    assert_eq!(second["writes"]["crm"], 1, "{second}");
    assert_eq!(
        world.fake.contact(&a.id).unwrap().notes.as_deref(),
        Some("Met at the LinkedIn event.")
    );
    let rows = read_rows(&world.export());
    assert_eq!(rows[1][col("Deal Value")], "7250");
    // The URL the CRM wrote is its own: kept as written.
    assert_eq!(rows[0][col("LinkedIn URL")], url_a);
    let third = world.sync().await;
    assert_eq!(third["writes"]["inbox"], 0, "{third}");
    assert_eq!(third["writes"]["crm"], 0, "{third}");
}

#[tokio::test(flavor = "multi_thread")]
async fn v2_a_record_with_only_a_linkedin_id_is_matched_by_it() {
    let world = World::start(40, "").await;
    let c = &world.single_thread(&["linkedin"])[0];
    let mut row = agreeing_row(&world, "r1", c);
    row[col("LinkedIn ID")] = profile(c, "linkedin").platform_id.clone();
    // A slug of someone else is not asked for: the id decides.
    row[col("LinkedIn URL")] = "https://www.linkedin.com/in/someone-else-0000/".into();
    row[col("Notes")] = "From the CRM.".into();
    write_rows(&world.export(), &[row]);
    let report = world.sync().await;
    assert_eq!(report["linked"], 1, "{report}");
    assert_eq!(report["conflicts"]["found"], 0, "{report}");
    let notes = world.fake.contact(&c.id).unwrap().notes;
    // First sync: an empty side is filled, both set and different is the policy's (manual).
    if c.notes.is_none() {
        assert_eq!(notes.as_deref(), Some("From the CRM."));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn v2_a_linkedin_profile_no_contact_has_is_listed_as_unmatched_by_it() {
    let world = World::start(20, "").await;
    let mut row = vec![String::new(); HEADER.len()];
    row[col("Record ID")] = "nobody".into();
    row[col("LinkedIn URL")] = "https://www.linkedin.com/in/no-such-person-9z9z/".into();
    write_rows(&world.export(), &[row]);
    let report = world.sync().await;
    assert_eq!(report["linked"], 0, "{report}");
    let unmatched = &report["unmatched"][0];
    assert_eq!(unmatched["record"], "nobody", "{report}");
    assert_eq!(unmatched["handle"], "no-such-person-9z9z", "{report}");
    assert_eq!(
        unmatched["reason"], "LinkedIn profile not found",
        "{report}"
    );
}

/// On API v1, which has no LinkedIn, a record known only by its LinkedIn profile is unmatched
/// with a reason that says what to change, not "not found".
#[tokio::test(flavor = "multi_thread")]
async fn on_v1_a_linkedin_only_record_is_unmatched_with_the_api_to_set() {
    let world = crate::support::World::start(5, "").await;
    let config = std::fs::read_to_string(world.config()).unwrap().replace(
        crmsync::demo::CSV_COLUMNS_TOML,
        &format!(
            "{}{}",
            crmsync::demo::CSV_COLUMNS_TOML,
            crmsync::demo::LINKEDIN_COLUMNS_TOML
        ),
    );
    std::fs::write(world.config(), config).unwrap();
    let mut header: Vec<String> = crate::support::HEADER
        .iter()
        .map(|h| h.to_string())
        .collect();
    header.extend(["LinkedIn ID".to_string(), "LinkedIn URL".to_string()]);
    let mut row = vec![String::new(); header.len()];
    row[0] = "li-only".into();
    row[header.len() - 1] = "https://www.linkedin.com/in/jane-doe-1a2b3c/".into();
    let mut writer = csv::Writer::from_path(world.export()).unwrap();
    writer.write_record(&header).unwrap();
    writer.write_record(&row).unwrap();
    writer.flush().unwrap();
    let out = world.crmsync(&["sync", "--json"]).await;
    assert_exit(&out, 0);
    let report = json(&out);
    let unmatched = &report["unmatched"][0];
    assert_eq!(unmatched["record"], "li-only", "{report}");
    assert_eq!(unmatched["handle"], "jane-doe-1a2b3c", "{report}");
    assert_eq!(
        unmatched["reason"],
        "Inbox API v1 has no LinkedIn profiles: set [inbox] api = \"v2\" to match it",
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn v2_an_x_id_and_a_linkedin_id_of_two_contacts_is_an_identity_conflict_that_writes_nothing()
{
    let world = World::start(40, "").await;
    let x = &world.single_thread(&["twitter"])[0];
    let li = &world.single_thread(&["linkedin"])[0];
    let mut row = agreeing_row(&world, "r1", x);
    row[col("X User ID")] = profile(x, "twitter").platform_id.clone();
    row[col("LinkedIn ID")] = profile(li, "linkedin").platform_id.clone();
    // Values neither contact has: anything linked would write them.
    row[col("Notes")] = "Written by nobody".into();
    row[col("Deal Value")] = "31337".into();
    write_rows(&world.export(), std::slice::from_ref(&row));
    let before = std::fs::read(world.export()).unwrap();
    let report = world.sync().await;
    assert_eq!(report["linked"], 0, "{report}");
    assert_eq!(report["writes"]["inbox"], 0, "{report}");
    assert_eq!(report["writes"]["crm"], 0, "{report}");
    assert!(
        world.fake.write_log().is_empty(),
        "{:?}",
        world.fake.write_log()
    );
    assert_eq!(std::fs::read(world.export()).unwrap(), before);
    let out = world.crmsync(&["conflicts", "list", "--json"]).await;
    assert_exit(&out, 0);
    let conflicts = json(&out);
    let list = conflicts.as_array().expect("a list");
    assert_eq!(list.len(), 1, "{conflicts}");
    let conflict = &list[0];
    assert_eq!(conflict["kind"], "identity", "{conflict}");
    let text = conflict.to_string();
    assert!(text.contains(&x.id) && text.contains(&li.id), "{text}");
    assert!(text.contains("LinkedIn id"), "{text}");
    // A second run still touches neither.
    let again = world.sync().await;
    assert_eq!(again["writes"]["inbox"], 0, "{again}");
    assert_eq!(again["writes"]["crm"], 0, "{again}");
    assert!(world.fake.write_log().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn v2_x_handles_written_as_profile_urls_match_as_the_handle() {
    let world = World::start(40, "").await;
    let xs = world.single_thread(&["twitter"]);
    let forms = [
        |h: &str| format!("https://x.com/{h}"),
        |h: &str| format!("twitter.com/{h}?s=20"),
        |h: &str| format!("@{}", h.to_uppercase()),
        |h: &str| format!("x.com/{h}/"),
        |h: &str| format!("http://www.twitter.com/{}", h.to_lowercase()),
    ];
    let rows: Vec<Vec<String>> = forms
        .iter()
        .zip(&xs)
        .enumerate()
        .map(|(i, (form, c))| {
            let mut row = agreeing_row(&world, &format!("r{i}"), c);
            row[col("X Handle")] = form(&profile(c, "twitter").username);
            row
        })
        .collect();
    write_rows(&world.export(), &rows);
    let report = world.sync().await;
    assert_eq!(report["linked"], forms.len() as u64, "{report}");
    assert_eq!(report["unlinked"]["records"], 0, "{report}");
    assert_eq!(report["conflicts"]["found"], 0, "{report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn v2_new_records_carry_every_identity_of_their_contact() {
    let world = World::start(30, "create_records = \"all\"\n").await;
    write_rows(&world.export(), &[]);
    let report = world.sync().await;
    assert!(report["writes"]["crm"].as_u64().unwrap() > 0, "{report}");
    let rows = read_rows(&world.export());
    let mut checked = 0;
    for c in world.fake.contacts() {
        if c.thread_ids.is_empty() {
            continue;
        }
        let row = rows
            .iter()
            .find(|r| r[col("Record ID")] == format!("inbox-{}", c.id))
            .unwrap_or_else(|| panic!("a record for {}", c.id));
        let x = c.profiles.iter().find(|p| p.platform == "twitter");
        let li = c.profiles.iter().find(|p| p.platform == "linkedin");
        let cell = |name: &str| row[col(name)].as_str();
        assert_eq!(cell("X User ID"), x.map_or("", |p| p.platform_id.as_str()));
        assert_eq!(cell("X Handle"), x.map_or("", |p| p.username.as_str()));
        assert_eq!(
            cell("LinkedIn ID"),
            li.map_or("", |p| p.platform_id.as_str())
        );
        assert_eq!(cell("LinkedIn URL"), li.map_or("", |p| p.username.as_str()));
        checked += usize::from(li.is_some());
    }
    assert!(checked > 0, "the seed has contacts with a LinkedIn profile");
    // The records it wrote match their contacts by those identities on the next run.
    let again = world.sync().await;
    assert_eq!(again["writes"]["crm"], 0, "{again}");
    assert_eq!(again["unlinked"]["records"], 0, "{again}");
}

#[tokio::test(flavor = "multi_thread")]
async fn v2_a_contact_no_thread_lists_is_found_by_its_linkedin_slug_in_one_finder_call() {
    let world = World::start(200, "").await;
    let imported: Vec<ContactView> = world
        .fake
        .contacts()
        .into_iter()
        .filter(|c| c.thread_ids.is_empty() && c.profiles.iter().any(|p| p.platform == "linkedin"))
        .collect();
    let Some(c) = imported.first() else {
        panic!("the seed has an imported contact with a LinkedIn profile");
    };
    let mut row = vec![String::new(); HEADER.len()];
    row[col("Record ID")] = "r1".into();
    row[col("LinkedIn URL")] = format!(
        "https://www.linkedin.com/in/{}/",
        profile(c, "linkedin").username
    );
    // Unknown to Inbox: looked up too, in the same kind's call.
    let mut unknown = vec![String::new(); HEADER.len()];
    unknown[col("Record ID")] = "r2".into();
    unknown[col("LinkedIn URL")] = "nobody-here-123".into();
    write_rows(&world.export(), &[row, unknown]);
    world.fake.reset_stats();
    let report = world.sync().await;
    assert_eq!(report["linked"], 1, "{report}");
    assert_eq!(report["unlinked"]["records"], 1, "{report}");
    assert_eq!(world.fake.stats().count("GET", "/contacts"), 1);
    // The miss is remembered: the next run asks nothing.
    world.fake.reset_stats();
    let again = world.sync().await;
    assert_eq!(again["linked"], 1, "{again}");
    assert_eq!(world.fake.stats().count("GET", "/contacts"), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn v2_the_demo_runs_on_api_v2_with_x_and_linkedin_contacts() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_crmsync"));
    cmd.args(["demo", "--dir"]).arg(dir.path());
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("binary runs"))
        .await
        .unwrap();
    assert_exit(&out, 0);
    let text = crate::support::stdout(&out);
    assert!(
        text.contains(
            "a fake Inbox (API v2) with 300 contacts on 2 X accounts and 1 LinkedIn account"
        ),
        "{text}"
    );
    assert!(text.contains("by LinkedIn profile URL only"), "{text}");
    let edits = text
        .split("== 2.")
        .nth(1)
        .and_then(|t| t.split("== 3.").next())
        .expect("the demo reaches step 3");
    assert!(
        edits.contains("whose record has only the LinkedIn profile URL"),
        "{edits}"
    );
    assert!(
        edits.contains("thread on X archived, thread on LinkedIn still open"),
        "{edits}"
    );
    // The plan copies the note to the contact the CRM knows by URL only.
    let plan = text.split("== 3.").nth(1).expect("the demo reaches step 3");
    assert!(
        plan.contains("Replied on LinkedIn: send the deck."),
        "{plan}"
    );
    let last = text.split("== 5.").nth(1).expect("the demo reaches step 5");
    assert!(
        last.contains("Wrote 0 Inbox update(s) and 0 CRM record(s)"),
        "{last}"
    );
    let config = std::fs::read_to_string(dir.path().join("sync.toml")).unwrap();
    assert!(config.contains("/api/v2"), "{config}");
    assert!(
        config.contains("linkedin_username = \"LinkedIn URL\""),
        "{config}"
    );
    let export = std::fs::read_to_string(dir.path().join("crm_export.csv")).unwrap();
    assert!(export.contains("https://www.linkedin.com/in/"), "{export}");
}

#[tokio::test(flavor = "multi_thread")]
async fn v2_a_conflict_of_a_linkedin_only_contact_is_listed_by_its_name() {
    let world = World::start(40, "").await;
    let a = world.single_thread(&["linkedin"]).remove(0);
    let mut row = agreeing_row(&world, "r1", &a);
    row[col("LinkedIn URL")] = format!("linkedin.com/in/{}", profile(&a, "linkedin").username);
    write_rows(&world.export(), std::slice::from_ref(&row));
    assert_eq!(world.sync().await["linked"], 1);
    let mut rows = read_rows(&world.export());
    rows[0][col("Notes")] = "CRM: a note".into();
    write_rows(&world.export(), &rows);
    let edit = ContactEdit {
        notes: Some(Some("Inbox: another note".into())),
        ..ContactEdit::default()
    };
    world.fake.edit_contact(&a.id, edit);
    let run = world.sync().await;
    assert_eq!(run["conflicts"]["opened"], 1, "{run}");

    let name = profile(&a, "linkedin").display_name.clone();
    let list = world.crmsync(&["conflicts", "list"]).await;
    let list = String::from_utf8_lossy(&list.stdout);
    assert!(list.contains(&name), "{list}");
    let listed = world.crmsync(&["conflicts", "list", "--json"]).await;
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed[0]["display_name"], name.as_str(), "{listed}");
    assert_eq!(listed[0]["username"], serde_json::Value::Null, "{listed}");
    let id = listed[0]["id"].to_string();
    let show = world.crmsync(&["conflicts", "show", &id]).await;
    let show = String::from_utf8_lossy(&show.stdout);
    assert!(
        show.contains(&format!("contact    {name} (Inbox {}", a.id)),
        "{show}"
    );
}
