//! crmsync on Inbox API v2, through the real binary against the stateful v2 fake
//! (`crmsync_fake::inbox_v2`): the mirror of a walk, one-sided edits crossing both ways, tags as
//! tag calls, done as archived threads, a second sync that writes nothing, and `status --json`.

use std::path::{Path, PathBuf};
use std::process::Output;

use crmsync_fake::RateLimit;
use crmsync_fake::inbox_v2::{Accounts, ContactEdit, ContactView, FakeConfig, FakeInboxV2};

use crate::support::{HEADER, TOKEN, TOKEN_ENV, assert_exit, col, json, stdout};

/// A v2 fake and a working directory whose config points at it (no `api` key: the base URL
/// ends in `/api/v2`).
pub(crate) struct V2World {
    pub(crate) fake: FakeInboxV2,
    pub(crate) dir: tempfile::TempDir,
}

impl V2World {
    pub(crate) async fn start(contacts: usize) -> V2World {
        V2World::start_with(FakeConfig {
            contacts,
            ..FakeConfig::default()
        })
        .await
    }

    /// Starts the fake with `config` (token, accounts, seed and rate limit set for tests).
    pub(crate) async fn start_with(config: FakeConfig) -> V2World {
        let fake = FakeInboxV2::start(FakeConfig {
            token: TOKEN.into(),
            accounts: Accounts { x: 2, linkedin: 1 },
            seed: 5,
            rate_limit: RateLimit::Off,
            ..config
        })
        .await
        .expect("v2 fake starts");
        let dir = tempfile::tempdir().unwrap();
        let world = V2World { fake, dir };
        world.write_config("");
        world
    }

    /// (Re)writes `sync.toml`, with `inbox_extra` added to `[inbox]`.
    pub(crate) fn write_config(&self, inbox_extra: &str) {
        self.write_config_with(inbox_extra, "");
    }

    /// Like `write_config`, with `extra` (more `[limits]` keys, then other sections) appended.
    pub(crate) fn write_config_with(&self, inbox_extra: &str, extra: &str) {
        let config = format!(
            "[inbox]\nbase_url = \"{}\"\ntoken_env = \"{TOKEN_ENV}\"\ntimeout_secs = 10\n{inbox_extra}\n\
             [crm]\nkind = \"csv\"\n\n[crm.csv]\npath = \"crm_export.csv\"\nwrite_mode = \"in-place\"\n\n\
             {}\n[limits]\nmin_interval_ms = 0\nbackoff_base_ms = 50\n{extra}\n",
            self.fake.base_url(),
            crmsync::demo::CSV_COLUMNS_TOML
        );
        std::fs::write(self.config(), config).unwrap();
    }

    pub(crate) fn config(&self) -> PathBuf {
        self.dir.path().join("sync.toml")
    }

    pub(crate) fn export(&self) -> PathBuf {
        self.dir.path().join("crm_export.csv")
    }

    pub(crate) async fn crmsync(&self, args: &[&str]) -> Output {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_crmsync"));
        cmd.arg("--config").arg(self.config()).args(args);
        cmd.env(TOKEN_ENV, TOKEN);
        tokio::task::spawn_blocking(move || cmd.output().expect("binary runs"))
            .await
            .unwrap()
    }

    /// The contacts with an X profile and exactly one thread, in the fake's order.
    pub(crate) fn single_thread_x_contacts(&self) -> Vec<ContactView> {
        self.fake
            .contacts()
            .into_iter()
            .filter(|c| c.thread_ids.len() == 1 && x_profile(c).is_some())
            .collect()
    }
}

pub(crate) fn x_profile(c: &ContactView) -> Option<(String, String)> {
    c.profiles
        .iter()
        .find(|p| p.platform == "twitter")
        .map(|p| (p.platform_id.clone(), p.username.clone()))
}

/// One CSV row that agrees with the contact (record id `r` + index).
pub(crate) fn agreeing_row(world: &V2World, idx: usize, c: &ContactView) -> Vec<String> {
    let (x_id, username) = x_profile(c).unwrap();
    let thread = world.fake.thread(&c.thread_ids[0]).unwrap();
    let mut tags = c.tags.clone();
    tags.sort();
    vec![
        format!("r{idx:05}"),
        x_id,
        username,
        format!("Company {idx}"),
        tags.join(";"),
        c.status.clone().unwrap_or_default(),
        c.valuation
            .as_ref()
            .map(|v| v.to_string())
            .unwrap_or_default(),
        c.notes.clone().unwrap_or_default(),
        thread.assignee_email.unwrap_or_default(),
        thread.archived.to_string(),
    ]
}

pub(crate) fn write_rows(path: &Path, rows: &[Vec<String>]) {
    let mut writer = csv::Writer::from_path(path).unwrap();
    writer.write_record(HEADER).unwrap();
    for row in rows {
        writer.write_record(row).unwrap();
    }
    writer.flush().unwrap();
}

pub(crate) fn read_rows(path: &Path) -> Vec<Vec<String>> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect()
}

/// A world of `n` linked single-thread X contacts, synced once (nothing to write).
pub(crate) async fn baseline(n: usize) -> (V2World, Vec<ContactView>) {
    baseline_in(40, n, "").await
}

/// Like `baseline`, in a fake of `size` contacts, with `extra` appended to the config.
pub(crate) async fn baseline_in(size: usize, n: usize, extra: &str) -> (V2World, Vec<ContactView>) {
    let world = V2World::start(size).await;
    world.write_config_with("", extra);
    let contacts: Vec<ContactView> = world
        .single_thread_x_contacts()
        .into_iter()
        .take(n)
        .collect();
    assert_eq!(
        contacts.len(),
        n,
        "the seed has enough single-thread X contacts"
    );
    let rows: Vec<Vec<String>> = contacts
        .iter()
        .enumerate()
        .map(|(i, c)| agreeing_row(&world, i, c))
        .collect();
    write_rows(&world.export(), &rows);
    let out = world.crmsync(&["sync", "--json"]).await;
    assert_exit(&out, 0);
    let report = json(&out);
    assert_eq!(report["linked"], n as u64, "{report}");
    assert_eq!(report["writes"]["inbox"], 0, "{report}");
    assert_eq!(report["writes"]["crm"], 0, "{report}");
    (world, contacts)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_v2_pull_mirrors_every_contact_profile_and_thread() {
    let world = V2World::start(30).await;
    let out = world.crmsync(&["pull", "--json"]).await;
    assert_exit(&out, 0);
    let status = json(&world.crmsync(&["status", "--json"]).await);
    let with_threads: std::collections::HashSet<String> = world
        .fake
        .threads()
        .into_iter()
        .map(|t| t.contact_id)
        .collect();
    assert_eq!(
        status["mirror"]["contacts"],
        with_threads.len() as u64,
        "{status}"
    );
    assert_eq!(
        status["mirror"]["threads"],
        world.fake.thread_count() as u64,
        "{status}"
    );
    let profiles = world
        .fake
        .profiles()
        .into_iter()
        .filter(|p| with_threads.contains(&p.contact_id))
        .count();
    assert_eq!(status["mirror"]["profiles"], profiles as u64, "{status}");
    assert_eq!(status["inbox_api"], "v2", "{status}");
}

#[tokio::test(flavor = "multi_thread")]
async fn one_sided_edits_cross_both_ways_on_v2_and_a_second_sync_writes_nothing() {
    let (world, contacts) = baseline(6).await;
    // CRM side: notes, valuation and a tag Inbox has.
    let mut rows = read_rows(&world.export());
    rows[0][col("Notes")] = "edited in the CRM".into();
    rows[1][col("Deal Value")] = "4321".into();
    let (_, tag_name) = world.fake.tags().into_iter().next().unwrap();
    let mut tags: Vec<&str> = rows[2][col("Tags")]
        .split(';')
        .filter(|t| !t.is_empty() && *t != tag_name)
        .collect();
    let had_tag = rows[2][col("Tags")].split(';').any(|t| t == tag_name);
    if !had_tag {
        tags.push(&tag_name);
    }
    rows[2][col("Tags")] = tags.join(";");
    rows[3][col("Done")] = (!world
        .fake
        .thread(&contacts[3].thread_ids[0])
        .unwrap()
        .archived)
        .to_string();
    write_rows(&world.export(), &rows);
    // Inbox side: notes of another contact.
    world.fake.edit_contact(
        &contacts[4].id,
        ContactEdit {
            notes: Some(Some("edited in Inbox".into())),
            ..ContactEdit::default()
        },
    );

    let out = world.crmsync(&["sync", "--json"]).await;
    assert_exit(&out, 0);
    let report = json(&out);
    assert_eq!(report["writes"]["crm"], 1, "{report}");
    let contact = |i: usize| world.fake.contact(&contacts[i].id).unwrap();
    assert_eq!(contact(0).notes.as_deref(), Some("edited in the CRM"));
    assert_eq!(contact(1).valuation.unwrap().to_string(), "4321");
    assert_eq!(
        contact(2).tags.contains(&tag_name),
        !had_tag,
        "{:?}",
        contact(2).tags
    );
    let archived = world
        .fake
        .thread(&contacts[3].thread_ids[0])
        .unwrap()
        .archived;
    assert_eq!(archived.to_string(), rows[3][col("Done")]);
    assert_eq!(
        read_rows(&world.export())[4][col("Notes")],
        "edited in Inbox"
    );
    let log = world.fake.write_log();
    let routes: Vec<&str> = log.iter().map(|w| w.route.as_str()).collect();
    assert!(
        routes.contains(&"PATCH /contacts/{contactId}"),
        "{routes:?}"
    );
    assert!(
        routes.iter().any(|r| r.contains("/tags/{tagRef}")),
        "a tag call: {routes:?}"
    );
    assert!(routes.contains(&"PATCH /threads/{threadId}"), "{routes:?}");

    let again = json(&world.crmsync(&["sync", "--json"]).await);
    assert_eq!(again["writes"]["inbox"], 0, "{again}");
    assert_eq!(again["writes"]["crm"], 0, "{again}");
    assert_eq!(world.fake.write_log().len(), log.len());
    let _ = stdout;
}

#[tokio::test(flavor = "multi_thread")]
async fn both_sides_edited_on_v2_is_a_conflict_that_writes_nothing() {
    let (world, contacts) = baseline(3).await;
    let mut rows = read_rows(&world.export());
    rows[0][col("Deal Value")] = "111".into();
    write_rows(&world.export(), &rows);
    world.fake.edit_contact(
        &contacts[0].id,
        ContactEdit {
            valuation: Some(Some(222.0)),
            ..ContactEdit::default()
        },
    );
    let writes = world.fake.write_log().len();
    let report = json(&world.crmsync(&["sync", "--json"]).await);
    assert_eq!(report["writes"]["inbox"], 0, "{report}");
    assert_eq!(report["writes"]["crm"], 0, "{report}");
    assert_eq!(world.fake.write_log().len(), writes);
    let list = json(&world.crmsync(&["conflicts", "list", "--json"]).await);
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|c| c["kind"] == "both-changed"
                && c["field"] == "valuation"
                && c["prospect_id"] == contacts[0].id.as_str()),
        "{list}"
    );
}

/// Killed right after a contact's PATCH was answered, before its tag calls: the rerun ends
/// where an uninterrupted run ends, with the PATCH not sent again and the tag written once,
/// and `runs` counts the killed run's write.
#[tokio::test(flavor = "multi_thread")]
async fn a_run_killed_between_a_contacts_patch_and_its_tag_calls_resumes_without_doubling() {
    let (world, contacts) = baseline(3).await;
    let (_, tag_name) = world
        .fake
        .tags()
        .into_iter()
        .find(|(_, name)| !contacts[0].tags.contains(name))
        .unwrap();
    let mut rows = read_rows(&world.export());
    rows[0][col("Notes")] = "notes and a tag from the CRM".into();
    let mut tags: Vec<String> = rows[0][col("Tags")]
        .split(';')
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect();
    tags.push(tag_name.clone());
    rows[0][col("Tags")] = tags.join(";");
    write_rows(&world.export(), &rows);

    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_crmsync"));
    cmd.arg("--config")
        .arg(world.config())
        .args(["sync"])
        .env(TOKEN_ENV, TOKEN)
        .env("CRMSYNC_FAILPOINT", "inbox-after-patch:1");
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    assert!(!out.status.success(), "the failpoint aborts the run");
    let routes = |world: &V2World| -> Vec<String> {
        world
            .fake
            .write_log()
            .into_iter()
            .map(|w| w.route)
            .collect()
    };
    let patches = |r: &[String]| {
        r.iter()
            .filter(|r| r.starts_with("PATCH /contacts"))
            .count()
    };
    let tag_puts = |r: &[String]| r.iter().filter(|r| r.starts_with("PUT /contacts")).count();
    assert_eq!(patches(&routes(&world)), 1);
    assert_eq!(tag_puts(&routes(&world)), 0);
    let runs = json(&world.crmsync(&["runs", "--json"]).await);
    assert_eq!(runs[0]["writes"]["inbox"], 1, "{runs}");

    let report = json(&world.crmsync(&["sync", "--json"]).await);
    assert_eq!(report["exit"], 0, "{report}");
    let after = routes(&world);
    assert_eq!(patches(&after), 1, "the PATCH is not sent again: {after:?}");
    assert_eq!(tag_puts(&after), 1, "{after:?}");
    let contact = world.fake.contact(&contacts[0].id).unwrap();
    assert_eq!(
        contact.notes.as_deref(),
        Some("notes and a tag from the CRM")
    );
    assert!(contact.tags.contains(&tag_name), "{:?}", contact.tags);
    let again = json(&world.crmsync(&["sync", "--json"]).await);
    assert_eq!(again["writes"]["inbox"], 0, "{again}");
    assert_eq!(again["writes"]["crm"], 0, "{again}");
}
