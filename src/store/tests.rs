use super::*;
use crate::reconcile::Value;

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

#[test]
fn pages_round_trip_and_unseen_become_absent() {
    let mut store = Store::open_in_memory().unwrap();
    let run1 = store.begin_run(RunMode::Pull, "t").unwrap();
    store
        .upsert_page(
            run1,
            &[prospect("p1"), prospect("p2")],
            &[thread("t1", "p1"), thread("t2", "p2")],
        )
        .unwrap();
    let mirror = store.load_mirror().unwrap();
    assert_eq!(mirror.len(), 2);
    assert_eq!(mirror[0].prospect, prospect("p1"));
    assert_eq!(mirror[0].threads, vec![thread("t1", "p1")]);

    let run2 = store.begin_run(RunMode::Pull, "t").unwrap();
    store
        .upsert_page(run2, &[prospect("p1")], &[thread("t1", "p1")])
        .unwrap();
    assert_eq!(store.mark_unseen_absent(run2).unwrap(), (1, 1));
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

    let mut scanned = Vec::new();
    store
        .scan_mirror(|m| {
            scanned.push(m);
            Ok::<(), Error>(())
        })
        .unwrap();
    assert_eq!(scanned, all);

    let some = store.load_mirror_for(&["p3", "nope", "p1", "p3"]).unwrap();
    assert_eq!(some, vec![all[0].clone(), all[2].clone()]);

    let keys = store.load_prospect_keys().unwrap();
    assert_eq!(keys.len(), 3);
    assert_eq!(keys[1].id, "p2");
    assert_eq!(keys[1].platform_id, "1p2");
    assert_eq!(keys[1].username, "user_p2");
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
        field: "notes".into(),
        kind: "both-changed".into(),
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
    assert_eq!(store.conflicts(true).unwrap()[0].resolution, "closed");
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
