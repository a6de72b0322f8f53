//! Links left out of reconciliation because nothing changed since a sync found them clean
//! (`engine::clean`): every kind of change brings a link back, on either side, through any
//! command, and a change of context brings them all back.

use std::collections::HashSet;

use crmsync_fake::inbox_v1::ContextEdit;

use crate::support::{
    World, agreeing_rows, assert_exit, col, json, read_export, stdout, write_export,
};

async fn sync(world: &World) -> serde_json::Value {
    let out = world.crmsync(&["sync", "--json"]).await;
    assert_exit(&out, 0);
    json(&out)
}

/// Linked records that keep a conflict open: those are reconciled every run.
fn conflicted(report: &serde_json::Value) -> usize {
    report["conflict_list"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["prospect_id"].as_str())
        .collect::<HashSet<_>>()
        .len()
}

#[tokio::test(flavor = "multi_thread")]
async fn unchanged_links_are_left_out_until_a_side_or_the_context_changes() {
    let world = World::start(60, "").await;
    write_export(&world, &agreeing_rows(&world, 50));
    let first = sync(&world).await;
    assert_eq!(first["linked"], 50, "{first}");
    assert_eq!(
        first["unchanged_links"], 0,
        "the first sync reconciles everything"
    );

    // Nothing changed: only the links in conflict are reconciled again.
    let quiet = sync(&world).await;
    let steady = 50 - conflicted(&quiet) as u64;
    assert!(steady >= 40, "{quiet}");
    assert_eq!(quiet["unchanged_links"], steady, "{quiet}");
    assert_eq!(quiet["writes"]["inbox"], 0, "{quiet}");
    assert_eq!(quiet["writes"]["crm"], 0, "{quiet}");
    let human = world.crmsync(&["sync"]).await;
    assert_exit(&human, 0);
    assert!(
        stdout(&human).contains(&format!(
            "{steady} linked record(s) unchanged on both sides since a sync found them in step"
        )),
        "{}",
        stdout(&human)
    );

    // Prospects without a conflict, with one thread: each gets one change.
    let open: HashSet<String> = quiet["conflict_list"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["prospect_id"].as_str().map(str::to_owned))
        .collect();
    let calm: Vec<(usize, crmsync_fake::inbox_v1::ProspectView)> = world
        .fake
        .prospects()
        .into_iter()
        .take(50)
        .enumerate()
        .filter(|(_, p)| p.threads.len() == 1 && !open.contains(&p.external_id))
        .take(4)
        .collect();
    assert_eq!(calm.len(), 4, "four calm prospects");
    let (crm_edit, notes_edit, thread_edit, pulled_edit) = (&calm[0], &calm[1], &calm[2], &calm[3]);
    // CRM side: a deal value.
    let mut rows = read_export(&world);
    rows[crm_edit.0][col("Deal Value")] = "777.25".into();
    write_export(&world, &rows);
    // Inbox side: notes on a prospect, done on a thread.
    world.fake.edit_context(
        &notes_edit.1.external_id,
        ContextEdit {
            notes: Some(Some("changed in Inbox".into())),
            ..ContextEdit::default()
        },
    );
    let done = !thread_edit.1.threads[0].done;
    world
        .fake
        .set_thread(&thread_edit.1.threads[0].id, None, Some(done));
    // And one pulled by `crmsync pull` before the sync: the mirror holds it already.
    world.fake.edit_context(
        &pulled_edit.1.external_id,
        ContextEdit {
            notes: Some(Some("pulled first".into())),
            ..ContextEdit::default()
        },
    );
    assert_exit(&world.crmsync(&["pull", "--full"]).await, 0);

    let changed = sync(&world).await;
    assert_eq!(changed["unchanged_links"], steady - 4, "{changed}");
    assert_eq!(changed["writes"]["inbox"], 1, "{changed}");
    assert_eq!(changed["writes"]["crm"], 3, "{changed}");
    let rows = read_export(&world);
    assert_eq!(rows[notes_edit.0][col("Notes")], "changed in Inbox");
    assert_eq!(rows[pulled_edit.0][col("Notes")], "pulled first");
    assert_eq!(rows[thread_edit.0][col("Done")], done.to_string());
    let valuation = world
        .fake
        .prospect(&crm_edit.1.external_id)
        .unwrap()
        .valuation
        .map(|v| v.to_string());
    assert_eq!(valuation.as_deref(), Some("777.25"));

    // The written links are reconciled once more (to confirm), then left out again.
    let confirm = sync(&world).await;
    assert_eq!(confirm["writes"]["inbox"], 0, "{confirm}");
    assert_eq!(confirm["writes"]["crm"], 0, "{confirm}");
    assert_eq!(sync(&world).await["unchanged_links"], steady);

    // Another policy is another context: every link is reconciled once.
    world.write_config("[policy]\nvaluation = \"inbox-wins\"\n");
    let new_context = sync(&world).await;
    assert_eq!(new_context["unchanged_links"], 0, "{new_context}");
    assert_eq!(sync(&world).await["unchanged_links"], steady);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_prospect_outside_every_view_is_reconciled_every_run() {
    let world = World::start(60, "").await;
    write_export(&world, &agreeing_rows(&world, 50));
    sync(&world).await;
    let quiet = sync(&world).await;
    let open: HashSet<&str> = quiet["conflict_list"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["prospect_id"].as_str())
        .collect();
    let (row, idle) = world
        .fake
        .prospects()
        .into_iter()
        .take(50)
        .enumerate()
        .find(|(_, p)| p.threads.len() == 1 && !open.contains(p.external_id.as_str()))
        .expect("a calm prospect with one thread");

    // Its only thread goes idle: walks no longer list the prospect; a sync reads it by id.
    world.fake.set_idle(&idle.threads[0].id, true);
    assert_exit(&world.crmsync(&["pull", "--full"]).await, 0);
    let outside = sync(&world).await;
    assert_eq!(outside["linked"], 50, "{outside}");
    sync(&world).await;

    // Edited in Inbox while outside every view: the mirror never sees it, the read by id does.
    world.fake.edit_context(
        &idle.external_id,
        ContextEdit {
            notes: Some(Some("edited while idle".into())),
            ..ContextEdit::default()
        },
    );
    assert_exit(&world.crmsync(&["pull", "--full"]).await, 0);
    let edited = sync(&world).await;
    assert_eq!(edited["writes"]["crm"], 1, "{edited}");
    assert_eq!(read_export(&world)[row][col("Notes")], "edited while idle");
}

/// What both sides hold, without timestamps: each prospect's synced values and threads, the
/// export's rows, and the open conflicts.
async fn sides(world: &World) -> (String, Vec<Vec<String>>, Vec<(String, String, String)>) {
    let inbox: Vec<String> = world
        .fake
        .prospects()
        .iter()
        .map(|p| {
            let threads: Vec<String> = p
                .threads
                .iter()
                .map(|t| format!("{}:{:?}:{}", t.id, t.assignee_email, t.done))
                .collect();
            format!(
                "{} {:?} {:?} {:?} {:?} {threads:?}",
                p.external_id, p.tags, p.status, p.valuation, p.notes
            )
        })
        .collect();
    let list = json(&world.crmsync(&["conflicts", "list", "--json"]).await);
    let mut conflicts: Vec<(String, String, String)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let field = |k: &str| c[k].as_str().unwrap_or_default().to_owned();
            (field("prospect_id"), field("field"), field("kind"))
        })
        .collect();
    conflicts.sort();
    (inbox.join("\n"), read_export(world), conflicts)
}

/// Leaving links out must never change an outcome: two identical worlds get the same random
/// edits on both sides, night after night; one syncs with its stamps, the other has them
/// voided before every sync (so it reconciles every link). Both sides and the conflict log
/// must end up the same after every night.
#[tokio::test(flavor = "multi_thread")]
async fn leaving_unchanged_links_out_never_changes_an_outcome() {
    use rand::{Rng, SeedableRng};
    let stamped = World::start(60, "").await;
    let full = World::start(60, "").await;
    for world in [&stamped, &full] {
        write_export(world, &agreeing_rows(world, 50));
    }
    let void_stamps = |world: &World| {
        let path = world.path().join("state/mirror.db");
        if path.exists() {
            let db = rusqlite::Connection::open(path).unwrap();
            db.execute("UPDATE links SET clean_crm = NULL", []).unwrap();
        }
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let prospects = stamped.fake.prospects();
    // A few prospects with one thread: half the edits go to them, so that edits meet, and
    // their thread may go idle, taking the prospect out of every view.
    let few: Vec<usize> = (0..50)
        .filter(|&i| prospects[i].threads.len() == 1)
        .take(6)
        .collect();
    let mut left_out = 0;
    for night in 0..16 {
        // The same edits for both worlds: a few prospects in Inbox, a few records in the CRM.
        let mut inbox_edits = Vec::new();
        let mut idle_edits = Vec::new();
        // One of the few may go idle (the walk stops listing it) or active again.
        if rng.random_bool(0.5) {
            let p = &prospects[few[rng.random_range(0..few.len())]];
            idle_edits.push((p.threads[0].id.clone(), rng.random_bool(0.8)));
        }
        for _ in 0..rng.random_range(0..4) {
            let p = if rng.random() {
                &prospects[few[rng.random_range(0..few.len())]]
            } else {
                &prospects[rng.random_range(0..50)]
            };
            let edit = match rng.random_range(0..4) {
                0 => ContextEdit {
                    notes: Some(Some(format!("night {night}: inbox note"))),
                    ..ContextEdit::default()
                },
                1 => ContextEdit {
                    tags_add: Some(vec!["Investor".into()]),
                    ..ContextEdit::default()
                },
                2 => ContextEdit {
                    valuation: Some(Some(f64::from(rng.random_range(1..900)))),
                    ..ContextEdit::default()
                },
                _ => ContextEdit {
                    done: Some(rng.random()),
                    ..ContextEdit::default()
                },
            };
            inbox_edits.push((p.external_id.clone(), edit));
        }
        let mut rows = read_export(&stamped);
        for _ in 0..rng.random_range(0..4) {
            let idx = rng.random_range(0..50);
            match rng.random_range(0..3) {
                0 => rows[idx][col("Notes")] = format!("night {night}: crm note"),
                1 => rows[idx][col("Deal Value")] = rng.random_range(1..900).to_string(),
                _ => rows[idx][col("Lead Status")] = "Won".into(),
            }
        }
        for world in [&stamped, &full] {
            for (id, edit) in &inbox_edits {
                world.fake.edit_context(id, edit.clone());
            }
            for (thread, idle) in &idle_edits {
                world.fake.set_idle(thread, *idle);
            }
            write_export(world, &rows);
            // Idle threads emit no event: on two nights of three a walk finds them gone (and
            // moves past the events of the edits); on the third the sync replays the events.
            if night % 3 != 2 {
                assert_exit(&world.crmsync(&["pull", "--full"]).await, 0);
            }
        }
        void_stamps(&full);
        let report = sync(&stamped).await;
        left_out += report["unchanged_links"].as_u64().unwrap();
        sync(&full).await;
        assert_eq!(
            sides(&stamped).await,
            sides(&full).await,
            "night {night}: the worlds differ"
        );
    }
    assert!(left_out > 0, "the stamped world never left a link out");
}
