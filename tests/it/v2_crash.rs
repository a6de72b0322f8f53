//! The crash matrix on Inbox API v2 (issue 17 items 1 and 7), as `crash_matrix.rs` does for v1:
//! the real binary aborted at each kill point of a v2 sync (after a contact's PATCH and before
//! its tag calls, between two tag calls, between the thread PATCHes of one contact's fan-out,
//! between the Inbox push and the CRM write, around the export's rename, before the base and
//! the record commit), then rerun until quiet. Every rerun ends where an uninterrupted sync
//! ends, on both sides, and no write request is sent twice. And `undo` of a run killed inside
//! a fan-out reverts exactly the threads it wrote.
use std::collections::BTreeMap;

use crmsync_fake::inbox_v2::ContactEdit;

use crate::support::{TOKEN, TOKEN_ENV, assert_exit, col, json};
use crate::v2::{V2World, agreeing_row, read_rows, write_rows, x_profile};
use crate::v2_faults::inbox_state;

/// Contacts the fake seeds; every one with an X profile is linked, whatever its thread count.
const CONTACTS: usize = 60;

/// The kill points of a v2 sync and the hit at which each aborts.
const POINTS: &[&str] = &[
    "inbox-after-patch:1",
    "inbox-after-patch:4",
    "inbox-after-tag-call:1",
    "inbox-after-tag-call:3",
    "inbox-after-thread-patch:1",
    "inbox-after-thread-patch:2",
    "inbox-after-thread-patch:5",
    "between-inbox-and-crm:1",
    "csv-before-rename:1",
    "csv-after-rename:1",
    "base-before-commit:1",
    "before-record:1",
    "stamps-before-commit:1",
];

/// A synced world (fan-out `force`, so that done reaches every thread of a contact; no safety
/// stop for the share of records edited) with edits
/// on both sides: CRM done flipped on contacts with several threads (one thread PATCH each),
/// CRM notes and a tag (a contact PATCH, then a tag call), Inbox notes and a tag (CRM writes).
async fn edited_world() -> V2World {
    let world = V2World::start(CONTACTS).await;
    world.write_config_with(
        "",
        "\n[fanout]\nmode = \"force\"\n\n[safety]\nmax_change_ratio = 1.0\nmax_field_change_ratio = 1.0\n",
    );
    let contacts: Vec<_> = world
        .fake
        .contacts()
        .into_iter()
        .filter(|c| x_profile(c).is_some() && !c.thread_ids.is_empty())
        .collect();
    let rows: Vec<Vec<String>> = contacts
        .iter()
        .enumerate()
        .map(|(i, c)| agreeing_row(&world, i, c))
        .collect();
    write_rows(&world.export(), &rows);
    for _ in 0..3 {
        assert_exit(&world.crmsync(&["sync", "--force"]).await, 0);
    }
    let quiet = json(&world.crmsync(&["sync", "--json"]).await);
    assert_eq!(quiet["writes"]["inbox"], 0, "baseline converged: {quiet}");
    let tags: Vec<String> = world.fake.tags().into_iter().map(|(_, n)| n).collect();
    let mut rows = read_rows(&world.export());
    let mut multi = 0;
    for (idx, c) in contacts.iter().enumerate() {
        let row = &mut rows[idx];
        assert_eq!(
            Some(row[col("X User ID")].clone()),
            x_profile(c).map(|p| p.0)
        );
        if c.thread_ids.len() > 1 && multi < 4 {
            multi += 1;
            let done = row[col("Done")] == "true";
            row[col("Done")] = (!done).to_string();
        } else if idx % 3 == 0 {
            row[col("Notes")] = format!("CRM notes {idx}");
            let mut have: Vec<String> = row[col("Tags")]
                .split(';')
                .filter(|t| !t.is_empty())
                .map(str::to_string)
                .collect();
            if let Some(extra) = tags.iter().find(|t| !have.contains(t)) {
                have.push(extra.clone());
            }
            row[col("Tags")] = have.join(";");
        } else if idx % 3 == 1 {
            world.fake.edit_contact(
                &c.id,
                ContactEdit {
                    notes: Some(Some(format!("Inbox notes {idx}"))),
                    tags_add: tags
                        .iter()
                        .filter(|t| !c.tags.contains(t))
                        .take(1)
                        .cloned()
                        .collect(),
                    ..ContactEdit::default()
                },
            );
        }
    }
    assert!(multi >= 2, "contacts with several threads: {multi}");
    write_rows(&world.export(), &rows);
    world
}

/// A sync with the failpoint armed.
async fn killed_sync(world: &V2World, point: &str) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_crmsync"));
    cmd.arg("--config")
        .arg(world.config())
        .args(["sync"])
        .env(TOKEN_ENV, TOKEN)
        .env("CRMSYNC_FAILPOINT", point);
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

/// Each write request since `from` in the fake's log, with how often it was sent.
fn writes_since(world: &V2World, from: usize) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for w in world.fake.write_log().into_iter().skip(from) {
        let key = format!("{} {:?} {}", w.route, w.params, w.body);
        *out.entry(key).or_insert(0) += 1;
    }
    out
}

/// Syncs until a run writes nothing on either side (at most 4 runs).
async fn rerun_until_quiet(world: &V2World, what: &str) {
    for _ in 0..4 {
        let report = json(&world.crmsync(&["sync", "--json"]).await);
        assert_eq!(report["exit"], 0, "{what}: {report}");
        if report["writes"]["inbox"] == 0 && report["writes"]["crm"] == 0 {
            return;
        }
    }
    panic!("{what}: no quiet sync after 4 reruns");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_v2_sync_killed_at_every_kill_point_converges_without_a_doubled_write() {
    let reference = edited_world().await;
    let before = reference.fake.write_log().len();
    assert_exit(&reference.crmsync(&["sync"]).await, 0);
    let expected_writes = writes_since(&reference, before);
    let routes: Vec<&str> = expected_writes
        .keys()
        .map(|k| k.split(' ').take(2).last().unwrap_or(""))
        .collect();
    assert!(
        routes.iter().filter(|r| r.starts_with("/threads")).count() >= 5,
        "the reference writes several threads: {expected_writes:#?}"
    );
    assert!(
        routes.iter().any(|r| r.contains("/tags/")),
        "{expected_writes:#?}"
    );
    let expected_inbox = inbox_state(&reference);
    let expected_crm = read_rows(&reference.export());
    drop(reference);

    for point in POINTS {
        let world = edited_world().await;
        let before = world.fake.write_log().len();
        let out = killed_sync(&world, point).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains("failpoint"),
            "{point}: the run reaches the kill point: {stderr}"
        );
        rerun_until_quiet(&world, point).await;
        assert_eq!(inbox_state(&world), expected_inbox, "{point}: Inbox");
        assert_eq!(read_rows(&world.export()), expected_crm, "{point}: CRM");
        let sent = writes_since(&world, before);
        let doubled: Vec<&String> = sent
            .iter()
            .filter(|(_, n)| **n > 1)
            .map(|(k, _)| k)
            .collect();
        assert!(doubled.is_empty(), "{point}: sent twice: {doubled:#?}");
        assert_eq!(
            sent, expected_writes,
            "{point}: the writes of one uninterrupted run"
        );
    }
}

/// Killed between two thread PATCHes of one contact's fan-out: `undo` of that run reverts the
/// thread it wrote (its receipt says `attempted`: the answer never reached the mirror), and
/// touches nothing else; the next sync writes the fan-out again, whole.
#[tokio::test(flavor = "multi_thread")]
async fn undo_of_a_run_killed_mid_fan_out_reverts_the_thread_it_wrote() {
    let world = edited_world().await;
    let inbox_before = inbox_state(&world);
    let before = world.fake.write_log().len();
    let out = killed_sync(&world, "inbox-after-thread-patch:1").await;
    assert!(!out.status.success());
    let sent = world.fake.write_log()[before..].to_vec();
    let threads: Vec<_> = sent
        .iter()
        .filter(|w| w.route.contains("/threads/"))
        .collect();
    assert_eq!(threads.len(), 1, "{sent:?}");
    let runs = json(&world.crmsync(&["runs", "--json"]).await);
    let run = runs[0]["id"].as_i64().unwrap().to_string();
    let undo = world.crmsync(&["undo", &run, "--json"]).await;
    assert_exit(&undo, 0);
    let after = inbox_state(&world);
    let differ: Vec<(&String, &String)> = inbox_before
        .iter()
        .zip(&after)
        .filter(|(a, b)| a != b)
        .collect();
    assert!(
        differ.is_empty(),
        "undo reverts what the killed run wrote, nothing else: {differ:#?}\n{}",
        json(&undo)
    );
    rerun_until_quiet(&world, "after undo").await;
}
