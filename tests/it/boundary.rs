//! The Inbox boundary: one scenario run against Inbox API v1 and against v2 holding the same
//! people ends the same way. The engine reads and writes Inbox only through the boundary
//! (`inbox::Inbox`, one half per API version), so everything a user sees — the CRM file, the
//! values in Inbox, the conflicts, the second sync writing nothing — must not depend on which
//! API is behind it.

use std::collections::{BTreeMap, BTreeSet};

use crmsync_fake::inbox_v1::ContextEdit;
use crmsync_fake::inbox_v2::{ContactEdit, FakeConfig, FakeInboxV2, SeedPerson, ThreadEdit};
use serde_json::Value;

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::support::{HEADER, TOKEN_ENV, World, agreeing_rows, assert_exit, col, json};
use crate::v2::V2World;
use crate::v2_upgrade::person;

/// A working directory (`sync.toml`, the export, the state dir) and the real binary in it.
struct Dir(PathBuf);

impl Dir {
    fn export(&self) -> PathBuf {
        self.0.join("crm_export.csv")
    }

    async fn crmsync(&self, args: &[&str]) -> Output {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_crmsync"));
        cmd.arg("--config").arg(self.0.join("sync.toml")).args(args);
        cmd.env(TOKEN_ENV, crate::support::TOKEN);
        tokio::task::spawn_blocking(move || cmd.output().expect("binary runs"))
            .await
            .unwrap()
    }

    fn write_export(&self, rows: &[Vec<String>]) {
        crate::v2::write_rows(&self.export(), rows);
        let _ = HEADER;
    }

    fn read_export(&self) -> Vec<Vec<String>> {
        crate::v2::read_rows(&self.export())
    }
}

fn dir(path: &Path) -> Dir {
    Dir(path.to_path_buf())
}

/// Each person's synced values by X user id: tags, status, valuation, notes, and their threads'
/// (done, assignee) sorted.
type People = BTreeMap<String, Person>;
type Person = (
    Vec<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Vec<(bool, Option<String>)>,
);

fn v1_people(world: &World) -> People {
    (world.fake.prospects().into_iter())
        .map(|p| {
            let mut threads: Vec<_> = (p.threads.iter())
                .map(|t| (t.done, t.assignee_email.clone()))
                .collect();
            threads.sort();
            let valuation = p.valuation.map(|v| v.to_string());
            let person = (p.tags, p.status, valuation, p.notes, threads);
            (p.platform_id, person)
        })
        .collect()
}

fn v2_people(fake: &FakeInboxV2) -> People {
    let x_id = |contact: &str| {
        (fake.profiles().into_iter())
            .find(|p| p.contact_id == contact && p.platform == "twitter")
            .map(|p| p.platform_id)
    };
    (fake.contacts().into_iter())
        .filter_map(|c| {
            let mut threads: Vec<_> = (c.thread_ids.iter())
                .map(|id| fake.thread(id).expect("a listed thread"))
                .map(|t| (t.archived, t.assignee_email))
                .collect();
            threads.sort();
            let valuation = c.valuation.map(|v| v.to_string());
            Some((
                x_id(&c.id)?,
                (c.tags, c.status, valuation, c.notes, threads),
            ))
        })
        .collect()
}

/// The conflicts as (record, field, kind), which do not depend on Inbox's ids.
async fn conflicts(world: &Dir) -> BTreeSet<(String, String, String)> {
    let out = world.crmsync(&["conflicts", "list", "--json"]).await;
    assert_exit(&out, 0);
    let text = |c: &Value, key: &str| c[key].as_str().unwrap_or_default().to_string();
    (json(&out).as_array().unwrap().iter())
        .map(|c| (text(c, "crm_id"), text(c, "field"), text(c, "kind")))
        .collect()
}

async fn sync(world: &Dir) -> Value {
    let out = world.crmsync(&["sync", "--json"]).await;
    assert_exit(&out, 0);
    json(&out)
}

/// The same edit on both sides of the boundary.
struct Twins<'a> {
    v1: &'a World,
    v2: &'a FakeInboxV2,
}

impl Twins<'_> {
    fn contact_of(&self, x_user_id: &str) -> String {
        (self.v2.profiles().into_iter())
            .find(|p| p.platform_id == x_user_id)
            .expect("the twin contact")
            .contact_id
    }

    fn edit(&self, idx: usize, v1: ContextEdit, v2: ContactEdit) {
        let prospect = &self.v1.fake.prospects()[idx];
        self.v1.fake.edit_context(&prospect.external_id, v1);
        self.v2
            .edit_contact(&self.contact_of(&prospect.platform_id), v2);
    }

    fn archive_threads(&self, idx: usize, archived: bool) {
        let prospect = &self.v1.fake.prospects()[idx];
        for thread in &prospect.threads {
            self.v1.fake.set_thread(&thread.id, None, Some(archived));
        }
        let contact = self
            .v2
            .contact(&self.contact_of(&prospect.platform_id))
            .unwrap();
        for thread in &contact.thread_ids {
            let edit = ThreadEdit {
                archived: Some(archived),
                ..ThreadEdit::default()
            };
            self.v2.edit_thread(thread, edit);
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn one_scenario_on_inbox_v1_and_v2_ends_the_same_way() {
    const PEOPLE: usize = 24;
    let v1 = World::start(PEOPLE, "").await;
    let people: Vec<SeedPerson> = v1.fake.prospects().iter().map(person).collect();
    let v2 = V2World::start_with(FakeConfig {
        people: Some(people),
        ..FakeConfig::default()
    })
    .await;
    let fake = &v2.fake;
    // The same config but for the Inbox URL (and so the API version).
    let config = std::fs::read_to_string(v1.config()).unwrap();
    let config = config.replace(&v1.fake.base_url(), &fake.base_url());
    std::fs::write(v2.config(), config).unwrap();
    assert_eq!(v1_people(&v1), v2_people(fake), "the twins start alike");
    let (one, two) = (dir(v1.path()), dir(v2.dir.path()));

    // A first sync of an export that agrees: the same on both.
    let rows = agreeing_rows(&v1, PEOPLE);
    for side in [&one, &two] {
        side.write_export(&rows);
        let report = sync(side).await;
        assert_eq!(report["linked"], PEOPLE as u64, "{report}");
    }
    assert_eq!(
        std::fs::read(one.export()).unwrap(),
        std::fs::read(two.export()).unwrap()
    );
    assert_eq!(conflicts(&one).await, conflicts(&two).await);

    // Then the same edits on both: Inbox notes, a tag, a status, threads archived; CRM value,
    // notes, owner and done; and the same notes edited differently on both sides.
    let twins = Twins { v1: &v1, v2: fake };
    let single: Vec<usize> = (v1.fake.prospects().iter().enumerate())
        .filter(|(_, p)| p.threads.len() == 1)
        .map(|(idx, _)| idx)
        .collect();
    let [a, b, c, d, e, f, g, h] = single[..8] else {
        panic!("the seed has 8 single-thread prospects: {single:?}");
    };
    let tag = v1.fake.tags()[0].1.clone();
    let status = v1.fake.statuses()[1].1.clone();
    let notes = |text: &str| Some(Some(text.to_string()));
    twins.edit(
        a,
        ContextEdit {
            notes: notes("called twice"),
            ..ContextEdit::default()
        },
        {
            ContactEdit {
                notes: notes("called twice"),
                ..ContactEdit::default()
            }
        },
    );
    let tags_add = Some(vec![tag.clone()]);
    twins.edit(
        b,
        ContextEdit {
            tags_add,
            ..ContextEdit::default()
        },
        ContactEdit {
            tags_add: vec![tag],
            ..ContactEdit::default()
        },
    );
    let status = Some(Some(status));
    twins.edit(
        c,
        ContextEdit {
            status: status.clone(),
            ..ContextEdit::default()
        },
        {
            ContactEdit {
                status,
                ..ContactEdit::default()
            }
        },
    );
    let done_now = !v1.fake.prospects()[d].threads[0].done;
    twins.archive_threads(d, done_now);
    twins.edit(
        g,
        ContextEdit {
            notes: notes("Inbox says"),
            ..ContextEdit::default()
        },
        {
            ContactEdit {
                notes: notes("Inbox says"),
                ..ContactEdit::default()
            }
        },
    );
    let mut rows = one.read_export();
    rows[e][col("Deal Value")] = "4321.5".into();
    rows[f][col("Notes")] = "from the CRM".into();
    rows[g][col("Notes")] = "the CRM says".into();
    let owner = v1.fake.members()[1].1.clone();
    rows[h][col("Owner Email")] = if rows[h][col("Owner Email")] == owner {
        v1.fake.members()[0].1.clone()
    } else {
        owner
    };
    let multi = (v1.fake.prospects().iter().take(PEOPLE))
        .position(|p| p.threads.len() > 1 && p.threads.iter().all(|t| !t.done));
    if let Some(m) = multi {
        rows[m][col("Done")] = "true".into();
    }
    one.write_export(&rows);
    two.write_export(&rows);

    let by_v1 = sync(&one).await;
    let by_v2 = sync(&two).await;
    assert_eq!(
        by_v1["conflicts"], by_v2["conflicts"],
        "v1 {by_v1}\nv2 {by_v2}"
    );
    assert_eq!(
        std::fs::read_to_string(one.export()).unwrap(),
        std::fs::read_to_string(two.export()).unwrap(),
        "the CRM file"
    );
    assert_eq!(v1_people(&v1), v2_people(fake), "the values in Inbox");
    assert_eq!(conflicts(&one).await, conflicts(&two).await);
    let notes_of = |idx: usize| one.read_export()[idx][col("Notes")].clone();
    assert_eq!(notes_of(a), "called twice");
    assert_eq!(notes_of(g), "the CRM says", "a conflict writes nothing");
    let g_id = format!("r{g:05}");
    let logged = conflicts(&one).await;
    assert!(
        logged
            .iter()
            .any(|(id, field, _)| *id == g_id && field == "notes"),
        "{logged:?}"
    );

    // And a second sync writes nothing on either.
    for world in [&one, &two] {
        let again = sync(world).await;
        assert_eq!(again["writes"]["inbox"], 0, "{again}");
        assert_eq!(again["writes"]["crm"], 0, "{again}");
    }
}
