//! Fault soak on Inbox API v2 (issue 17 item 7), as `faults.rs` does for v1: the real binary
//! against the v2 fake failing a share of requests with 5xx, truncating bodies, answering slowly
//! and throwing 429 bursts (minute window, `Retry-After`). Every run either succeeds or fails
//! with one clear error line; once the faults stop, a few runs converge to exactly what one run
//! without faults gives, and then a sync writes nothing. And a sync SIGKILLed at any moment,
//! rerun until quiet, ends where an uninterrupted one ends.

use std::time::{Duration, Instant};

use crmsync_fake::inbox_v2::{ContactEdit, Faults};

use crate::faults::assert_clean_outcome;
use crate::support::{TOKEN, TOKEN_ENV, assert_exit, col, json};
use crate::v2::{V2World, agreeing_row, read_rows, write_rows, x_profile};

/// Contacts the fake seeds; the single-thread X ones among them are linked.
const CONTACTS: usize = 160;

/// What a test compares of Inbox: each contact's fields and each thread's archived and
/// effective assignee (no timestamps).
pub(crate) type InboxState = Vec<String>;

pub(crate) fn inbox_state(world: &V2World) -> InboxState {
    let mut out: Vec<String> = world
        .fake
        .contacts()
        .into_iter()
        .map(|c| {
            format!(
                "{} tags={:?} status={:?} notes={:?} valuation={:?} assignee={:?}",
                c.id,
                c.tags,
                c.status,
                c.notes,
                c.valuation.map(|v| v.to_string()),
                c.assignee_email
            )
        })
        .collect();
    out.extend(world.fake.threads().into_iter().map(|t| {
        format!(
            "{} archived={} assignee={:?}",
            t.id, t.archived, t.assignee_email
        )
    }));
    out
}

/// A baseline-synced world with edits on both sides: Inbox notes and a tag, CRM valuations and
/// tags, an Inbox status next to CRM notes on one contact, and CRM done (a thread archive).
async fn edited_world() -> V2World {
    let world = V2World::start(CONTACTS).await;
    let contacts = world.single_thread_x_contacts();
    assert!(contacts.len() >= 60, "{} linked contacts", contacts.len());
    let rows: Vec<Vec<String>> = contacts
        .iter()
        .enumerate()
        .map(|(i, c)| agreeing_row(&world, i, c))
        .collect();
    write_rows(&world.export(), &rows);
    assert_exit(&world.crmsync(&["sync"]).await, 0);
    let tags: Vec<String> = world.fake.tags().into_iter().map(|(_, n)| n).collect();
    let statuses: Vec<String> = world.fake.statuses().into_iter().map(|(_, n)| n).collect();
    let mut rows = read_rows(&world.export());
    for (idx, c) in contacts.iter().enumerate() {
        let row = &mut rows[idx];
        assert_eq!(
            Some(row[col("X User ID")].clone()),
            x_profile(c).map(|p| p.0)
        );
        match idx % 4 {
            0 => world.fake.edit_contact(
                &c.id,
                ContactEdit {
                    notes: Some(Some(format!("Inbox edit {idx}: called, wants a demo ✓"))),
                    tags_add: tags
                        .iter()
                        .filter(|t| !c.tags.contains(t))
                        .take(1)
                        .cloned()
                        .collect(),
                    ..ContactEdit::default()
                },
            ),
            1 => {
                row[col("Deal Value")] = format!("{}.5", 2000 + idx);
                row[col("Tags")] = tags[..2].join(";");
            }
            2 => {
                let status = statuses.iter().find(|s| c.status.as_ref() != Some(*s));
                world.fake.edit_contact(
                    &c.id,
                    ContactEdit {
                        status: Some(status.cloned()),
                        ..ContactEdit::default()
                    },
                );
                row[col("Notes")] = format!("CRM edit {idx}\nsecond line, \"quoted\"");
            }
            _ => {
                let done = row[col("Done")] == "true";
                row[col("Done")] = (!done).to_string();
            }
        }
    }
    write_rows(&world.export(), &rows);
    world
}

/// Syncs until a run writes nothing (at most 4), then checks that one more writes nothing.
async fn converge(world: &V2World, what: &str) {
    let mut quiet = false;
    for _ in 0..4 {
        let out = world.crmsync(&["sync", "--force", "--json"]).await;
        assert_exit(&out, 0);
        let report = json(&out);
        if report["writes"]["inbox"] == 0 && report["writes"]["crm"] == 0 {
            quiet = true;
            break;
        }
    }
    assert!(quiet, "{what}: no convergence");
    let last = json(&world.crmsync(&["sync", "--json"]).await);
    assert_eq!(last["writes"]["inbox"], 0, "{what}: {last}");
    assert_eq!(last["writes"]["crm"], 0, "{what}: {last}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_v2_soak_under_random_faults_converges_to_the_fault_free_result() {
    let started = Instant::now();
    let reference = edited_world().await;
    let out = reference.crmsync(&["sync", "--force", "--json"]).await;
    assert_exit(&out, 0);
    let report = json(&out);
    assert!(
        report["writes"]["inbox"].as_u64().unwrap() > 40,
        "the soak should push a lot: {report}"
    );
    let expected_open = report["conflicts"]["open"].clone();
    let expected_inbox = inbox_state(&reference);
    let expected_crm = read_rows(&reference.export());
    drop(reference);

    let world = edited_world().await;
    let writes_before = world.fake.write_log().len();
    // (latency ms, 429 burst at the run's 3rd write)
    let schedule: [(u64, usize); 6] = [(1, 0), (2, 2), (0, 0), (3, 0), (1, 1), (0, 0)];
    let mut failures = Vec::new();
    for (run, &(latency_ms, burst)) in schedule.iter().enumerate() {
        world.fake.set_faults(Faults {
            error_rate: 0.1,
            latency: Duration::from_millis(latency_ms),
            malformed_rate: 0.02,
        });
        let mut writes = 0;
        world.fake.set_hook(move |script, info| {
            if info.method != "GET" {
                writes += 1;
                if writes == 3 && burst > 0 {
                    script.fail_next(burst, 429);
                }
            }
        });
        let out = world.crmsync(&["sync", "--force"]).await;
        if let Some(line) = assert_clean_outcome(&out, run) {
            failures.push(line);
        }
    }
    let faulty_writes = world.fake.write_log().len() - writes_before;
    assert!(faulty_writes > 0, "no write got through the faults");

    // A burst longer than the attempts per request: the run gives up with one line.
    world.fake.clear_hook();
    world.fake.set_faults(Faults::default());
    world.fake.fail_next(5, 429);
    let out = world.crmsync(&["sync", "--force"]).await;
    assert_exit(&out, 1);
    let line = assert_clean_outcome(&out, schedule.len()).unwrap();
    assert!(line.contains("rate limit"), "{line}");

    converge(&world, "after the faults").await;
    let report = json(&world.crmsync(&["sync", "--json"]).await);
    assert_eq!(report["conflicts"]["open"], expected_open, "{report}");
    assert_eq!(inbox_state(&world), expected_inbox);
    assert_eq!(read_rows(&world.export()), expected_crm);

    // No flapping: every notes value written to a contact is its final value.
    for write in &world.fake.write_log()[writes_before..] {
        if let Some(notes) = write.body.get("notes") {
            let target = world.fake.contact(&write.params[0]).unwrap();
            assert_eq!(notes.as_str(), target.notes.as_deref(), "{write:?}");
        }
    }
    let stats = world.fake.stats();
    eprintln!(
        "v2 soak: {} of {} runs failed, {faulty_writes} writes got through the faults, \
         {} requests, {} 5xx, {} 429, {:.1} s; errors: {:?}",
        failures.len(),
        schedule.len(),
        stats.requests,
        stats.server_errors,
        stats.rate_limited,
        started.elapsed().as_secs_f64(),
        failures
    );
    assert!(
        stats.server_errors > 10,
        "the faults did not bite: {stats:?}"
    );
}

/// SIGKILL at fractions of an uninterrupted run's duration (pull, read, push, CRM rewrite,
/// record), then reruns until quiet: both sides end where the uninterrupted run ends.
#[tokio::test(flavor = "multi_thread")]
async fn a_v2_sync_killed_at_any_moment_converges_to_the_fault_free_result() {
    let slow = Faults {
        latency: Duration::from_millis(2),
        ..Faults::default()
    };
    let reference = edited_world().await;
    reference.fake.set_faults(slow.clone());
    let started = Instant::now();
    assert_exit(&reference.crmsync(&["sync", "--force"]).await, 0);
    let duration = started.elapsed();
    let expected_inbox = inbox_state(&reference);
    let expected_crm = read_rows(&reference.export());
    drop(reference);

    for percent in [5u32, 30, 55, 80, 95, 103] {
        let world = edited_world().await;
        world.fake.set_faults(slow.clone());
        let writes_before = world.fake.write_log().len();
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_crmsync"))
            .arg("--config")
            .arg(world.config())
            .args(["sync", "--force"])
            .env(TOKEN_ENV, TOKEN)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        tokio::time::sleep(duration * percent / 100).await;
        child.kill().unwrap();
        let _ = child.wait();
        let pushed = world.fake.write_log().len() - writes_before;
        world.fake.set_faults(Faults::default());
        let at = format!("killed at {percent}% ({pushed} Inbox writes)");
        converge(&world, &at).await;
        assert_eq!(inbox_state(&world), expected_inbox, "{at}");
        assert_eq!(read_rows(&world.export()), expected_crm, "{at}");
        eprintln!("{at}: converged");
    }
}

/// A truncated answer to a read (a proxy cutting the body) is read again, like a 5xx: the
/// sync succeeds. A truncated answer to a write is not: the write was applied, the run stops
/// with one line, and the next run finds the value in place and writes nothing more.
#[tokio::test(flavor = "multi_thread")]
async fn a_truncated_read_is_read_again_and_a_truncated_write_stops_the_run_cleanly() {
    let (world, contacts) = crate::v2::baseline(2).await;
    world.fake.malformed_next(2);
    let out = world.crmsync(&["sync", "--json"]).await;
    assert_exit(&out, 0);
    assert_eq!(json(&out)["linked"], 2);

    let mut rows = read_rows(&world.export());
    rows[0][col("Notes")] = "sent once".into();
    write_rows(&world.export(), &rows);
    let mut patched = false;
    world.fake.set_hook(move |script, info| {
        if info.method == "PATCH" && !patched {
            patched = true;
            script.malformed_next(1);
        }
    });
    let out = world.crmsync(&["sync"]).await;
    assert_exit(&out, 1);
    let line = assert_clean_outcome(&out, 0).unwrap();
    assert!(line.contains("could not be decoded"), "{line}");
    world.fake.clear_hook();
    converge(&world, "after a truncated write").await;
    let patches = world
        .fake
        .write_log()
        .iter()
        .filter(|w| w.route.starts_with("PATCH /contacts"))
        .count();
    assert_eq!(patches, 1, "the PATCH is not sent again");
    let contact = world.fake.contact(&contacts[0].id).unwrap();
    assert_eq!(contact.notes.as_deref(), Some("sent once"));
}
