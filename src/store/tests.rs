//! Unit tests of the mirror store on an in-memory database: upserts, loads, base, conflicts,
//! migrations and dirty stamps. Tests only; no files outside a temp dir.

use super::*;
use crate::reconcile::{ConflictKind, ContactId, Field, Value};

fn prospect(id: &str) -> ProspectRow {
    ProspectRow {
        id: id.into(),
        platform_id: format!("1{id}"),
        username: format!("user_{id}"),
        display_name: None,
        tag_ids: vec!["t1".into()],
        status_id: None,
        valuation: Some("1000.50".parse().unwrap()),
        notes: Some("line 1\nline 2".into()),
        last_updated_at: None,
        default_assignee_id: None,
    }
}

fn thread(id: &str, prospect: &str) -> ThreadRow {
    ThreadRow {
        id: id.into(),
        prospect_id: prospect.into(),
        account_link_id: "a1".into(),
        assignee_id: None,
        done: false,
        is_request: false,
        sort_ts: None,
    }
}

/// A mirror holding p1 and p2 with one thread each (t1, t2), written by a first run of `mode`.
fn two_prospects(mode: RunMode) -> (Store, RunId) {
    let mut store = Store::open_in_memory().unwrap();
    let run = store.begin_run(mode, "t").unwrap();
    store
        .upsert_page(
            run,
            &[prospect("p1"), prospect("p2")],
            &[thread("t1", "p1"), thread("t2", "p2")],
        )
        .unwrap();
    (store, run)
}

#[test]
fn pages_round_trip_and_unseen_become_absent() {
    let (mut store, _) = two_prospects(RunMode::Pull);
    let mirror = store.load_mirror().unwrap();
    assert_eq!(mirror.len(), 2);
    assert_eq!(mirror[0].prospect, prospect("p1"));
    assert_eq!(mirror[0].threads, vec![thread("t1", "p1")]);

    let run2 = store.begin_run(RunMode::Pull, "t").unwrap();
    let mut walk = store.begin_walk(run2).unwrap();
    walk.upsert_page(&[prospect("p1")], &[thread("t1", "p1")])
        .unwrap();
    assert_eq!(walk.finish().unwrap(), (1, 1));
    let counts = store.counts().unwrap();
    assert_eq!((counts.prospects, counts.threads), (1, 1));
}

#[test]
fn upserts_report_changed_synced_values_of_present_rows_only() {
    let mut store = Store::open_in_memory().unwrap();
    let run1 = store.begin_run(RunMode::Pull, "t").unwrap();
    let new = store
        .upsert_page(run1, &[prospect("p1")], &[thread("t1", "p1")])
        .unwrap();
    assert!(new.is_empty(), "rows new to the mirror are not changes");

    let run2 = store.begin_run(RunMode::Pull, "t").unwrap();
    let mut renamed = prospect("p1");
    renamed.display_name = Some("New name".into());
    let same = store
        .upsert_page(run2, &[renamed], &[thread("t1", "p1")])
        .unwrap();
    assert!(same.is_empty(), "a new display name is not a synced value");

    let run3 = store.begin_run(RunMode::Pull, "t").unwrap();
    let mut noted = prospect("p1");
    noted.notes = Some("edited".into());
    let mut done = thread("t1", "p1");
    done.done = true;
    let changed = store.upsert_page(run3, &[noted], &[done]).unwrap();
    assert_eq!(
        changed,
        vec![
            ChangedRow {
                thread: None,
                prospect: "p1".into()
            },
            ChangedRow {
                thread: Some("t1".into()),
                prospect: "p1".into()
            },
        ]
    );
    // Seen again unchanged in the same walk: no second report, and the row keeps its mark.
    let run4 = store.begin_run(RunMode::Pull, "t").unwrap();
    let mut done = thread("t1", "p1");
    done.done = true;
    assert!(store.upsert_page(run4, &[], &[done]).unwrap().is_empty());
}

#[test]
fn the_mirror_loads_whole_by_ids_or_as_a_scan_with_the_same_rows() {
    let mut store = Store::open_in_memory().unwrap();
    let run = store.begin_run(RunMode::Pull, "t").unwrap();
    store
        .upsert_page(
            run,
            &[prospect("p2"), prospect("p1"), prospect("p3")],
            &[thread("t9", "p1"), thread("t1", "p1"), thread("t2", "p3")],
        )
        .unwrap();
    let all = store.load_mirror().unwrap();
    let ids: Vec<&str> = all.iter().map(|m| m.prospect.id.as_str()).collect();
    assert_eq!(ids, ["p1", "p2", "p3"]);
    assert_eq!(
        all[0].threads,
        vec![thread("t1", "p1"), thread("t9", "p1")],
        "threads in id order"
    );
    assert!(all[1].threads.is_empty());

    let wanted = ["p3", "nope", "p1", "p3"].map(ContactId::from);
    let some = store
        .load_mirror_for(&wanted.iter().collect::<Vec<_>>())
        .unwrap();
    assert_eq!(some, vec![all[0].clone(), all[2].clone()]);

    let keys = store.load_prospect_keys().unwrap();
    assert_eq!(keys.len(), 3);
    let keys: Vec<ProspectKey<'_>> = keys.iter().collect();
    assert_eq!(
        keys[1],
        ProspectKey {
            id: &ContactId::from("p2"),
            platform_id: "1p2",
            username: "user_p2"
        }
    );
    assert_eq!(keys[2].id, "p3", "{keys:?}");
}

#[test]
fn base_moves_and_reloads() {
    let mut store = Store::open_in_memory().unwrap();
    let run = store.begin_run(RunMode::Sync, "t").unwrap();
    store
        .save_base(
            run,
            &[
                ("p1".into(), Value::Notes(Some("hi".into()))),
                ("p1".into(), Value::Done(Some(true))),
            ],
        )
        .unwrap();
    let base = store.load_base().unwrap();
    assert_eq!(base["p1"].notes, Some(Some("hi".into())));
    assert_eq!(base["p1"].done, Some(Some(true)));
    assert_eq!(base["p1"].tags, None);
}

#[test]
fn conflicts_are_updated_not_duplicated_and_closed_when_gone() {
    let mut store = Store::open_in_memory().unwrap();
    let record = ConflictRecord {
        prospect_id: "p1".into(),
        username: Some("ana".into()),
        platform_id: Some("1".into()),
        crm_id: "r1".into(),
        field: Field::Notes.into(),
        kind: ConflictKind::BothChanged,
        inbox: Some("a".into()),
        crm: Some("b".into()),
        base: None,
        detail: "d".into(),
    };
    let run1 = store.begin_run(RunMode::Sync, "t1").unwrap();
    let tally = store
        .record_conflicts(run1, "t1", std::slice::from_ref(&record), true)
        .unwrap();
    assert_eq!(tally.opened, 1);
    let run2 = store.begin_run(RunMode::Sync, "t2").unwrap();
    let tally = store
        .record_conflicts(run2, "t2", std::slice::from_ref(&record), true)
        .unwrap();
    assert_eq!((tally.opened, tally.seen_again), (0, 1));
    assert_eq!(store.conflicts(false).unwrap().len(), 1);
    let run3 = store.begin_run(RunMode::Sync, "t3").unwrap();
    let tally = store.record_conflicts(run3, "t3", &[], true).unwrap();
    assert_eq!(tally.closed, 1);
    assert!(store.conflicts(false).unwrap().is_empty());
    assert_eq!(
        store.conflicts(true).unwrap()[0].resolution,
        Resolution::Closed
    );
}

#[test]
fn migrations_are_idempotent_on_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mirror.db");
    {
        let store = Store::open(&path).unwrap();
        store.set_meta("k", "v").unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(store.meta("k").unwrap().as_deref(), Some("v"));
    assert_eq!(store.integrity_check().unwrap(), "ok");
}

/// A mirror file with the migrations before `migration` applied and `rows` (SQL) in it.
fn mirror_before(migration: usize, rows: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mirror.db");
    let conn = Connection::open(&path).unwrap();
    for sql in &MIGRATIONS[..migration - 1] {
        conn.execute_batch(sql).unwrap();
    }
    conn.pragma_update(None, "user_version", (migration - 1) as i64)
        .unwrap();
    conn.execute_batch(rows).unwrap();
    (dir, path)
}

#[test]
fn migration_11_keeps_how_each_run_ended_without_its_exit_code() {
    let (_dir, path) = mirror_before(
        11,
        "INSERT INTO runs (mode, started_at, status, exit_code) VALUES
                ('sync', 't1', 'ok', 0), ('sync', 't2', 'stopped', 3),
                ('sync', 't3', 'stopped', 130), ('sync', 't4', 'failed', 1)",
    );
    let store = Store::open(&path).unwrap();
    let statuses: Vec<RunStatus> = store.runs(10).unwrap().iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [
            RunStatus::Failed,
            RunStatus::Interrupted,
            RunStatus::Stopped,
            RunStatus::Ok
        ]
    );
    assert_eq!(store.integrity_check().unwrap(), "ok");
}

#[test]
fn migration_12_forgets_the_last_walk_so_that_the_next_pull_fills_in_contact_defaults() {
    let (_dir, path) = mirror_before(
        12,
        "INSERT INTO meta (key, value) VALUES ('pull.last_full_at', '2026-12-01T00:00:00Z'),
                                                  ('pull.event_seq', '7')",
    );
    let store = Store::open(&path).unwrap();
    assert_eq!(store.meta("pull.last_full_at").unwrap(), None);
    assert_eq!(store.meta("pull.event_seq").unwrap().as_deref(), Some("7"));
}

/// The prospect's `inbox_dirty` flag, as the triggers left it.
fn dirty(store: &Store, id: &str) -> bool {
    store
        .conn
        .query_row(
            "SELECT inbox_dirty FROM prospects WHERE id = ?1",
            [id],
            |r| r.get::<_, bool>(0),
        )
        .unwrap()
}

/// Links p1 and p2 and stamps both clean, as a sync that found them so does.
fn stamped_store() -> Store {
    let (mut store, run) = two_prospects(RunMode::Sync);
    let links: Vec<LinkRow> = ["p1", "p2"]
        .iter()
        .map(|p| LinkRow {
            prospect_id: (*p).into(),
            crm_id: format!("r-{p}").into(),
            state: LinkState::Active,
        })
        .collect();
    store.save_links(run, &links).unwrap();
    assert!(dirty(&store, "p1"), "a new prospect is dirty");
    store
        .stamp_links(
            &[
                (&ContactId::from("p1"), Some(11)),
                (&ContactId::from("p2"), Some(22)),
            ],
            false,
        )
        .unwrap();
    store
}

#[test]
fn a_stamped_link_stays_clean_until_its_prospect_or_threads_change() {
    let mut store = stamped_store();
    let clean = store.clean_links().unwrap();
    assert_eq!(clean.get("p1"), Some(&11));
    assert_eq!(clean.get("p2"), Some(&22));

    // The same values pulled again change nothing.
    let run = store.begin_run(RunMode::Pull, "t").unwrap();
    store
        .upsert_page(run, &[prospect("p1")], &[thread("t1", "p1")])
        .unwrap();
    assert_eq!(store.clean_links().unwrap().len(), 2);

    // A thread's done flag, a new thread, a prospect's notes, absence: each one dirties.
    let mut done = thread("t1", "p1");
    done.done = true;
    store.upsert_page(run, &[], &[done]).unwrap();
    assert!(dirty(&store, "p1"));
    assert!(!dirty(&store, "p2"));
    store
        .stamp_links(&[(&ContactId::from("p1"), Some(11))], false)
        .unwrap();
    store.upsert_page(run, &[], &[thread("t3", "p2")]).unwrap();
    assert!(dirty(&store, "p2"));
    store
        .stamp_links(&[(&ContactId::from("p2"), Some(22))], false)
        .unwrap();
    let mut noted = prospect("p1");
    noted.notes = None;
    store.upsert_page(run, &[noted], &[]).unwrap();
    assert!(dirty(&store, "p1"));
    store
        .stamp_links(&[(&ContactId::from("p1"), Some(11))], false)
        .unwrap();
    store.mark_threads_absent(&["t2".into()]).unwrap();
    assert!(dirty(&store, "p2"));
    assert!(store.clean_links().unwrap().contains_key("p1"));
    assert!(!store.clean_links().unwrap().contains_key("p2"));

    // A link found unclean loses its stamp; a link that moves to another record too.
    store
        .stamp_links(&[(&ContactId::from("p1"), None)], false)
        .unwrap();
    assert!(store.clean_links().unwrap().is_empty());
}

#[test]
fn moving_the_base_or_the_link_voids_the_stamp() {
    let mut store = stamped_store();
    let run = store.begin_run(RunMode::Sync, "t").unwrap();
    store
        .save_links(
            run,
            &[LinkRow {
                prospect_id: "p1".into(),
                crm_id: "r-other".into(),
                state: LinkState::Active,
            }],
        )
        .unwrap();
    assert_eq!(
        store.clean_links().unwrap().keys().collect::<Vec<_>>(),
        ["p2"]
    );
    store.replace_base(run, &[]).unwrap();
    assert!(store.clean_links().unwrap().is_empty());
    let mut store = stamped_store();
    store.stamp_links(&[], true).unwrap();
    assert!(store.clean_links().unwrap().is_empty(), "another context");
}

#[test]
fn a_walk_skips_unchanged_rows_but_still_sees_them() {
    let (mut store, run1) = two_prospects(RunMode::Pull);
    let run2 = store.begin_run(RunMode::Pull, "t").unwrap();
    let mut walk = store.begin_walk(run2).unwrap();
    let seen_run = |store: &Store, id: &str| -> i64 {
        store
            .conn
            .query_row("SELECT seen_run FROM threads WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .unwrap()
    };
    let mut done = thread("t2", "p2");
    done.done = true;
    let changed = walk
        .upsert_page(&[prospect("p1")], &[thread("t1", "p1"), done])
        .unwrap();
    assert_eq!(changed.len(), 1, "{changed:?}");
    // The unchanged thread was not written; the changed one was.
    assert_eq!(seen_run(&walk, "t1"), run1.0);
    assert_eq!(seen_run(&walk, "t2"), run2.0);
    assert_eq!(walk.seen_counts(), (1, 2));
    // Seen though not written: not marked absent. p2 was not on any page.
    assert_eq!(walk.finish().unwrap(), (0, 1));
}

#[test]
fn a_row_marked_absent_mid_run_is_written_again_when_a_page_holds_it() {
    let mut store = Store::open_in_memory().unwrap();
    let run1 = store.begin_run(RunMode::Pull, "t").unwrap();
    store
        .upsert_page(run1, &[prospect("p1")], &[thread("t1", "p1")])
        .unwrap();
    let run2 = store.begin_run(RunMode::Pull, "t").unwrap();
    let mut walk = store.begin_walk(run2).unwrap();
    walk.mark_threads_absent(&["t1".into()]).unwrap();
    walk.upsert_page(&[prospect("p1")], &[thread("t1", "p1")])
        .unwrap();
    let counts = walk.counts().unwrap();
    assert_eq!((counts.prospects, counts.threads), (1, 1));
    assert_eq!(walk.finish().unwrap(), (0, 0));
}

#[test]
fn rows_re_read_between_a_walks_pages_and_its_end_count_as_seen() {
    let (mut store, _) = two_prospects(RunMode::Pull);
    let run2 = store.begin_run(RunMode::Pull, "t").unwrap();
    let mut walk = store.begin_walk(run2).unwrap();
    walk.upsert_page(&[prospect("p1")], &[thread("t1", "p1")])
        .unwrap();
    // A re-read of what moved during the walk goes through the store, not the walk.
    let store_in_walk: &mut Store = &mut walk;
    store_in_walk
        .upsert_page(run2, &[prospect("p2")], &[thread("t2", "p2")])
        .unwrap();
    assert_eq!(walk.seen_counts(), (2, 2));
    assert_eq!(walk.finish().unwrap(), (0, 0));
}

#[test]
fn a_walk_keeps_to_its_run_and_marks_nothing_unless_finished() {
    let (mut store, run1) = two_prospects(RunMode::Pull);
    let run2 = store.begin_run(RunMode::Pull, "t").unwrap();
    let mut walk = store.begin_walk(run2).unwrap();
    assert!(matches!(walk.begin_walk(run2), Err(Error::Protocol(_))));
    let err = Store::upsert_page(&mut walk, run1, &[prospect("p1")], &[]).unwrap_err();
    assert!(matches!(err, Error::Protocol(_)), "{err}");
    walk.upsert_page(&[prospect("p1")], &[thread("t1", "p1")])
        .unwrap();
    walk.abandon();
    let counts = store.counts().unwrap();
    assert_eq!(
        (counts.prospects, counts.threads),
        (2, 2),
        "nothing marked absent"
    );
    // The next walk starts from nothing: what the abandoned one saw does not count.
    let run3 = store.begin_run(RunMode::Pull, "t").unwrap();
    let walk = store.begin_walk(run3).unwrap();
    assert_eq!(walk.seen_counts(), (0, 0));
    assert_eq!(walk.finish().unwrap(), (2, 2));
}

#[test]
fn a_pull_dropped_uncommitted_leaves_the_mirror_as_it_was() {
    let (mut store, _) = two_prospects(RunMode::Pull);
    let run2 = store.begin_run(RunMode::Pull, "t").unwrap();
    {
        let mut pull = store.begin_pull().unwrap();
        let walk = pull.begin_walk(run2).unwrap();
        assert_eq!(walk.finish().unwrap(), (2, 2));
        // Dropped: an error left the pull half-way.
    }
    let counts = store.counts().unwrap();
    assert_eq!((counts.prospects, counts.threads), (2, 2));
    let pull = store.begin_pull().unwrap();
    pull.commit().unwrap();
}
