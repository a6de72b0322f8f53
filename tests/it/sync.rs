//! `crmsync plan` and `sync` end to end: the real binary, the fake Inbox and a CSV export.

use crmsync_fake::inbox_v1::ContextEdit;

use crate::support::{
    World, agreeing_rows, assert_exit, col, json, read_export, stderr, stdout, write_export,
};

/// A world whose export agrees with Inbox for its first `n` prospects, after a baseline sync
/// that linked them all and wrote nothing (checks `support::baseline` does not make).
async fn quiet_baseline(prospects: usize, n: usize, extra: &str) -> World {
    let world = World::start(prospects, extra).await;
    write_export(&world, &agreeing_rows(&world, n));
    let out = world.crmsync(&["sync", "--json"]).await;
    assert_exit(&out, 0);
    let report = json(&out);
    assert_eq!(report["linked"], n as u64, "{report}");
    assert_eq!(report["writes"]["inbox"], 0, "{report}");
    assert_eq!(report["writes"]["crm"], 0, "{report}");
    world
}

fn single_thread_prospect(
    world: &World,
    n: usize,
) -> (usize, crmsync_fake::inbox_v1::ProspectView) {
    world
        .fake
        .prospects()
        .into_iter()
        .take(n)
        .enumerate()
        .find(|(_, p)| p.threads.len() == 1 && p.notes.is_some() && p.status.is_some())
        .expect("a single-thread prospect with notes and status")
}

#[tokio::test(flavor = "multi_thread")]
async fn json_summary_has_the_documented_keys_and_a_second_sync_writes_nothing() {
    let world = quiet_baseline(60, 50, "").await;
    let out = world.crmsync(&["sync", "--json"]).await;
    assert_exit(&out, 0);
    let report = json(&out);
    for key in ["writes", "conflicts", "rejects", "requests", "exit"] {
        assert!(report.get(key).is_some(), "missing {key}: {report}");
    }
    assert_eq!(report["writes"]["inbox"], 0);
    assert_eq!(report["writes"]["crm"], 0);
    assert!(report["conflicts"]["opened"].is_u64());
    assert!(report["conflicts"]["open"].is_u64());
    assert_eq!(report["exit"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_change_on_one_side_is_copied_to_the_other() {
    let world = quiet_baseline(60, 50, "").await;
    let (idx_a, a) = single_thread_prospect(&world, 50);
    // Inbox side: a tag added and the valuation changed.
    world.fake.edit_context(
        &a.external_id,
        ContextEdit {
            valuation: Some(Some(4321.5)),
            tags_add: Some(vec!["Investor".into()]),
            ..ContextEdit::default()
        },
    );
    // CRM side, another prospect: notes rewritten and status moved.
    let (idx_b, b) = world
        .fake
        .prospects()
        .into_iter()
        .take(50)
        .enumerate()
        .find(|(i, p)| *i != idx_a && p.threads.len() == 1)
        .unwrap();
    let mut rows = read_export(&world);
    rows[idx_b][col("Notes")] = "Rewritten in the CRM.\nSecond line.".into();
    rows[idx_b][col("Lead Status")] = "Won".into();
    write_export(&world, &rows);

    let plan = world.crmsync(&["plan", "--json"]).await;
    assert_exit(&plan, 0);
    let planned = json(&plan);
    assert_eq!(planned["planned"]["inbox"], 1, "{planned}");
    assert_eq!(planned["planned"]["crm"], 1, "{planned}");
    // plan changed nothing on either side.
    assert_eq!(read_export(&world), rows);
    assert_eq!(
        world.fake.prospect(&b.external_id).unwrap().status,
        b.status
    );

    let out = world.crmsync(&["sync", "--json"]).await;
    assert_exit(&out, 0);
    let report = json(&out);
    assert_eq!(report["writes"]["inbox"], 1, "{report}");
    assert_eq!(report["writes"]["crm"], 1, "{report}");

    let rows = read_export(&world);
    assert_eq!(rows[idx_a][col("Deal Value")], "4321.5");
    assert!(rows[idx_a][col("Tags")].split(';').any(|t| t == "Investor"));
    let b_now = world.fake.prospect(&b.external_id).unwrap();
    assert_eq!(
        b_now.notes.as_deref(),
        Some("Rewritten in the CRM.\nSecond line.")
    );
    assert_eq!(b_now.status.as_deref(), Some("Won"));

    let again = json(&world.crmsync(&["sync", "--json"]).await);
    assert_eq!(again["writes"]["inbox"], 0, "{again}");
    assert_eq!(again["writes"]["crm"], 0, "{again}");
}

#[tokio::test(flavor = "multi_thread")]
async fn both_sides_changed_same_value_moves_the_base_and_pushes_nothing() {
    let world = quiet_baseline(40, 30, "").await;
    let (idx, p) = single_thread_prospect(&world, 30);
    world.fake.edit_context(
        &p.external_id,
        ContextEdit {
            notes: Some(Some("Same on both sides".into())),
            ..ContextEdit::default()
        },
    );
    let mut rows = read_export(&world);
    rows[idx][col("Notes")] = "Same on both sides".into();
    write_export(&world, &rows);
    let report = json(&world.crmsync(&["sync", "--json"]).await);
    assert_eq!(report["writes"]["inbox"], 0, "{report}");
    assert_eq!(report["writes"]["crm"], 0, "{report}");
    assert_eq!(report["conflicts"]["opened"], 0, "{report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn both_sides_changed_differently_is_a_conflict_under_manual_and_decided_by_inbox_wins() {
    let world = quiet_baseline(40, 30, "").await;
    let (idx, p) = single_thread_prospect(&world, 30);
    world.fake.edit_context(
        &p.external_id,
        ContextEdit {
            status: Some(Some("Negotiating".into())),
            valuation: Some(Some(111.0)),
            ..ContextEdit::default()
        },
    );
    let mut rows = read_export(&world);
    rows[idx][col("Lead Status")] = "Lost".into();
    rows[idx][col("Deal Value")] = "222".into();
    write_export(&world, &rows);

    // Default policy: manual for both fields.
    let out = world.crmsync(&["sync", "--json"]).await;
    assert_exit(&out, 0);
    let report = json(&out);
    assert_eq!(report["writes"]["inbox"], 0, "{report}");
    assert_eq!(report["writes"]["crm"], 0, "{report}");
    let list = json(&world.crmsync(&["conflicts", "list", "--json"]).await);
    let kinds: Vec<(&str, &str)> = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["prospect_id"] == p.external_id.as_str())
        .map(|c| (c["kind"].as_str().unwrap(), c["field"].as_str().unwrap()))
        .collect();
    assert!(kinds.contains(&("both-changed", "status")), "{list}");
    assert!(kinds.contains(&("both-changed", "valuation")), "{list}");
    // Seen again: updated, not duplicated.
    let again = json(&world.crmsync(&["sync", "--json"]).await);
    assert_eq!(again["conflicts"]["opened"], 0, "{again}");

    // inbox-wins for valuation settles that field.
    world.write_config("[policy]\nvaluation = \"inbox-wins\"\n");
    let report = json(&world.crmsync(&["sync", "--json"]).await);
    assert_eq!(report["writes"]["crm"], 1, "{report}");
    assert_eq!(read_export(&world)[idx][col("Deal Value")], "111");
    assert_eq!(read_export(&world)[idx][col("Lead Status")], "Lost");
}

#[tokio::test(flavor = "multi_thread")]
async fn first_sync_fills_the_empty_side() {
    let world = World::start(30, "").await;
    let mut rows = agreeing_rows(&world, 20);
    let (idx, p) = single_thread_prospect(&world, 20);
    rows[idx][col("Notes")] = String::new();
    rows[idx][col("Tags")] = "Conference".into();
    write_export(&world, &rows);
    let report = json(&world.crmsync(&["sync", "--json", "--force"]).await);
    assert_eq!(report["exit"], 0, "{report}");
    let now = read_export(&world);
    assert_eq!(now[idx][col("Notes")], p.notes.clone().unwrap());
    // Tags: union on first sync.
    let inbox_tags = world.fake.prospect(&p.external_id).unwrap().tags;
    assert!(
        inbox_tags.contains(&"Conference".to_string()),
        "{inbox_tags:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn threads_that_disagree_are_a_fanout_conflict_and_nothing_is_pushed() {
    let world = quiet_baseline(80, 80, "").await;
    let p = world
        .fake
        .prospects()
        .into_iter()
        .find(|p| p.threads.len() >= 2)
        .expect("a multi-thread prospect");
    world.fake.set_thread(&p.threads[0].id, None, Some(true));
    world.fake.set_thread(&p.threads[1].id, None, Some(false));
    let before = world.fake.prospect(&p.external_id).unwrap();
    let writes_before = world.fake.write_log().len();
    let report = json(&world.crmsync(&["sync", "--json"]).await);
    assert_exit_json(&report);
    let list = json(&world.crmsync(&["conflicts", "list", "--json"]).await);
    let fanout = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| {
            c["kind"] == "fanout"
                && c["prospect_id"] == p.external_id.as_str()
                && c["field"] == "done"
        })
        .unwrap_or_else(|| panic!("no fanout conflict for {}: {list}", p.external_id));
    let detail = fanout["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!("@{}", p.threads[0].account_username)),
        "{detail}"
    );
    assert!(
        detail.contains(&format!("@{}", p.threads[1].account_username)),
        "{detail}"
    );
    // Nothing was written to that prospect's threads.
    assert_eq!(
        world.fake.prospect(&p.external_id).unwrap().threads,
        before.threads
    );
    assert!(
        world.fake.write_log()[writes_before..]
            .iter()
            .all(|w| w.target_id != p.external_id),
        "a write reached the prospect"
    );
}

fn assert_exit_json(report: &serde_json::Value) {
    assert_eq!(report["exit"], 0, "{report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_safety_limit_stops_before_writing() {
    let world = quiet_baseline(40, 30, "").await;
    let mut rows = read_export(&world);
    for row in rows.iter_mut().take(20) {
        row[col("Notes")] = "Wiped by a bad export".into();
    }
    write_export(&world, &rows);
    let before = world.fake.prospects();
    let out = world.crmsync(&["sync"]).await;
    assert_exit(&out, 3);
    assert!(stdout(&out).contains("safety limit"), "{}", stdout(&out));
    assert_eq!(
        world.fake.prospects(),
        before,
        "nothing was written to Inbox"
    );

    let out = world.crmsync(&["sync", "--force", "--json"]).await;
    assert_exit(&out, 0);
    assert_eq!(json(&out)["writes"]["inbox"], 20);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_run_exits_4_while_the_lock_is_held() {
    let world = quiet_baseline(10, 10, "").await;
    let lock = std::fs::OpenOptions::new()
        .write(true)
        .open(world.path().join("state").join("crmsync.lock"))
        .unwrap();
    lock.try_lock().unwrap();
    let out = world.crmsync(&["sync"]).await;
    assert_exit(&out, 4);
    assert!(
        stderr(&out).contains("another crmsync run"),
        "{}",
        stderr(&out)
    );
    drop(lock);
    assert_exit(&world.crmsync(&["sync"]).await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_rows_are_rejected_alone_and_the_rest_syncs() {
    let world = World::start(30, "").await;
    let mut rows = agreeing_rows(&world, 20);
    rows[3][col("Deal Value")] = "ten thousand".into();
    let (idx, p) = single_thread_prospect(&world, 20);
    assert_ne!(idx, 3);
    rows[idx][col("Notes")] = String::new();
    write_export(&world, &rows);
    let report = json(&world.crmsync(&["sync", "--json", "--force"]).await);
    assert_eq!(report["rejects"], 1, "{report}");
    let reject = &report["rejected_rows"][0];
    assert_eq!(reject["row"], 5, "{report}");
    assert!(
        reject["reason"].as_str().unwrap().contains("Deal Value"),
        "{report}"
    );
    // The record with the bad value is still linked: only its valuation is left out.
    assert_eq!(report["linked"], 20);
    assert_eq!(read_export(&world)[idx][col("Notes")], p.notes.unwrap());
    // The rejected cell is kept byte for byte.
    assert_eq!(read_export(&world)[3][col("Deal Value")], "ten thousand");
}

#[tokio::test(flavor = "multi_thread")]
async fn import_file_round_trip_leaves_nothing_pending() {
    let world = World::start(30, "").await;
    world.write_config("");
    let text = std::fs::read_to_string(world.config()).unwrap().replace(
        "write_mode = \"in-place\"",
        "write_mode = \"import-file\"\nimport_path = \"crm_import.csv\"",
    );
    std::fs::write(world.config(), text).unwrap();
    write_export(&world, &agreeing_rows(&world, 20));
    assert_exit(&world.crmsync(&["sync"]).await, 0);

    let (idx, p) = single_thread_prospect(&world, 20);
    world.fake.edit_context(
        &p.external_id,
        ContextEdit {
            notes: Some(Some("Changed in Inbox".into())),
            ..ContextEdit::default()
        },
    );
    let report = json(&world.crmsync(&["sync", "--json"]).await);
    assert_eq!(report["writes"]["crm"], 1, "{report}");
    let export_before = read_export(&world);
    assert_eq!(
        export_before[idx][col("Notes")],
        p.notes.clone().unwrap(),
        "export untouched"
    );

    // Not imported yet: the old CRM value is not copied back; the import is still pending.
    let report = json(&world.crmsync(&["sync", "--json"]).await);
    assert_eq!(report["writes"]["inbox"], 0, "{report}");
    assert_eq!(report["writes"]["crm_pending"], 1, "{report}");
    assert_eq!(
        world
            .fake
            .prospect(&p.external_id)
            .unwrap()
            .notes
            .as_deref(),
        Some("Changed in Inbox")
    );

    // `plan` counts that record among the linked ones it writes, and says it already waits.
    let plan = crate::support::stdout(&world.crmsync(&["plan"]).await);
    assert!(
        plan.contains(
            "Plan: 0 Inbox write(s), 1 CRM write(s) (1 of them already waiting in the import file) on 1 linked record(s)"
        ),
        "{plan}"
    );

    // The user imports the file into the CRM, which then exports the new value.
    let mut import = csv::Reader::from_path(world.path().join("crm_import.csv")).unwrap();
    let headers = import.headers().unwrap().clone();
    let notes_col = headers.iter().position(|h| h == "Notes").unwrap();
    let id_col = headers.iter().position(|h| h == "Record ID").unwrap();
    let mut rows = export_before;
    for record in import.records() {
        let record = record.unwrap();
        let row = rows
            .iter_mut()
            .find(|r| r[col("Record ID")] == record[id_col])
            .unwrap();
        row[col("Notes")] = record[notes_col].to_string();
    }
    write_export(&world, &rows);
    let report = json(&world.crmsync(&["sync", "--json"]).await);
    assert_eq!(report["writes"]["inbox"], 0, "{report}");
    assert_eq!(report["writes"]["crm"], 0, "{report}");
    let pending = json(
        &world
            .crmsync(&["conflicts", "list", "--json", "--kind", "pending-import"])
            .await,
    );
    assert_eq!(pending.as_array().unwrap().len(), 0, "{pending}");
}

#[tokio::test(flavor = "multi_thread")]
async fn unlinked_prospects_get_records_with_create_records_all() {
    let world = World::start(30, "").await;
    let text = std::fs::read_to_string(world.config())
        .unwrap()
        .replace("kind = \"csv\"", "kind = \"csv\"\ncreate_records = \"all\"");
    std::fs::write(world.config(), text).unwrap();
    write_export(&world, &agreeing_rows(&world, 25));
    let report = json(&world.crmsync(&["sync", "--json"]).await);
    assert_eq!(report["writes"]["crm"], 5, "{report}");
    let rows = read_export(&world);
    assert_eq!(rows.len(), 30);
    let prospects = world.fake.prospects();
    for p in &prospects[25..] {
        let row = rows
            .iter()
            .find(|r| r[col("X User ID")] == p.platform_id)
            .unwrap_or_else(|| panic!("no record for {}", p.username));
        assert_eq!(row[col("Notes")], p.notes.clone().unwrap_or_default());
    }
    let again = json(&world.crmsync(&["sync", "--json"]).await);
    assert_eq!(again["writes"]["crm"], 0, "{again}");
    assert_eq!(again["linked"], 30, "{again}");
    assert_eq!(again["unlinked"]["prospects"], 0, "{again}");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_records_for_one_prospect_are_an_identity_conflict_and_neither_is_touched() {
    let world = World::start(20, "").await;
    let mut rows = agreeing_rows(&world, 10);
    let mut twin = rows[2].clone();
    twin[col("Record ID")] = "r-twin".into();
    twin[col("Notes")] = "A second record for the same person".into();
    rows.push(twin);
    rows[2][col("Notes")] = String::new();
    write_export(&world, &rows);
    let report = json(&world.crmsync(&["sync", "--json", "--force"]).await);
    assert_eq!(report["linked"], 9, "{report}");
    let identity: Vec<_> = report["conflict_list"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == "identity")
        .collect();
    assert_eq!(identity.len(), 1, "{report}");
    assert!(identity[0]["crm_id"].as_str().unwrap().contains("r-twin"));
    // Neither record was filled from Inbox.
    let now = read_export(&world);
    assert_eq!(now[2][col("Notes")], "");
    assert_eq!(now[10][col("Notes")], "A second record for the same person");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_token_is_in_no_output_and_no_state_file() {
    let world = quiet_baseline(20, 15, "").await;
    let (_, p) = single_thread_prospect(&world, 15);
    world.fake.edit_context(
        &p.external_id,
        ContextEdit {
            notes: Some(Some("x".into())),
            ..ContextEdit::default()
        },
    );
    let mut outputs = vec![
        world.crmsync(&["sync", "--json", "-vv"]).await,
        world
            .crmsync(&["plan", "-vv", "--log-format", "json"])
            .await,
        world.crmsync(&["status", "--json"]).await,
        world.crmsync(&["conflicts", "list", "--json"]).await,
    ];
    world.fake.fail_next(1, 401);
    outputs.push(world.crmsync(&["sync", "-vv"]).await);
    for out in &outputs {
        assert!(!stdout(out).contains(crate::support::TOKEN));
        assert!(!stderr(out).contains(crate::support::TOKEN));
    }
    for entry in std::fs::read_dir(world.path().join("state")).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(
            !bytes
                .windows(crate::support::TOKEN.len())
                .any(|w| w == crate::support::TOKEN.as_bytes()),
            "token found in a state file"
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(world.path().join("state"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "state/ is owner-only");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_changed_mapping_stops_until_resync_rebaselines() {
    let world = quiet_baseline(30, 20, "").await;
    // The CRM's notes column is renamed: the stored base no longer means the same thing.
    let mut rows = read_export(&world);
    let (idx, p) = single_thread_prospect(&world, 20);
    rows[idx][col("Notes")] = "Edited while the mapping changed".into();
    let text = std::fs::read_to_string(world.export()).unwrap();
    std::fs::write(world.export(), text.replacen("Notes", "Remarks", 1)).unwrap();
    let header_fixed = read_export(&world);
    assert_eq!(header_fixed.len(), rows.len());
    let config = std::fs::read_to_string(world.config())
        .unwrap()
        .replace("notes = \"Notes\"", "notes = \"Remarks\"");
    std::fs::write(world.config(), config).unwrap();

    // A plan cannot be made either: it exits as the run history records it.
    let out = world.crmsync(&["plan"]).await;
    assert_exit(&out, 3);
    let runs = json(&world.crmsync(&["runs", "--json"]).await);
    assert_eq!(runs[0]["mode"], "plan", "{runs}");
    assert_eq!(runs[0]["exit"], 3, "{runs}");
    let out = world.crmsync(&["sync"]).await;
    assert_exit(&out, 3);
    assert!(stdout(&out).contains("--resync"), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("crm.csv.columns.notes"),
        "{}",
        stdout(&out)
    );

    let out = world.crmsync(&["sync", "--resync", "--json"]).await;
    assert_exit(&out, 0);
    let report = json(&out);
    assert_eq!(report["writes"]["inbox"], 0, "{report}");
    assert_eq!(report["writes"]["crm"], 0, "{report}");
    let again = json(&world.crmsync(&["sync", "--json"]).await);
    assert_eq!(again["exit"], 0, "{again}");
    assert_eq!(world.fake.prospect(&p.external_id).unwrap().notes, p.notes);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_budget_pushes_whole_prospects_and_the_next_run_finishes() {
    let world = quiet_baseline(60, 50, "").await;
    let mut edited = Vec::new();
    for p in world
        .fake
        .prospects()
        .into_iter()
        .take(50)
        .filter(|p| p.threads.len() == 1)
        .take(8)
    {
        world.fake.edit_context(
            &p.external_id,
            ContextEdit {
                notes: Some(Some(format!("budget {}", p.username))),
                ..ContextEdit::default()
            },
        );
        edited.push(p);
    }
    let mut rows = read_export(&world);
    for row in rows.iter_mut() {
        let id = row[col("X User ID")].clone();
        if let Some(p) = world.fake.prospects().iter().find(|p| p.platform_id == id)
            && !edited.iter().any(|e| e.external_id == p.external_id)
            && p.threads.len() == 1
        {
            row[col("Deal Value")] = "999".into();
        }
    }
    write_export(&world, &rows);
    // The pull costs 5 reference calls + 3 pages; leave room for 3 Inbox PATCHes only.
    world.write_config("[policy]\nvaluation = \"crm-wins\"\n");
    let text = std::fs::read_to_string(world.config()).unwrap().replace(
        "min_interval_ms = 0",
        "min_interval_ms = 0\nmax_requests_per_run = 11",
    );
    std::fs::write(world.config(), text).unwrap();
    let out = world.crmsync(&["sync", "--force", "--json"]).await;
    assert_exit(&out, 0);
    let report = json(&out);
    assert!(
        report["incomplete"]
            .as_str()
            .unwrap()
            .contains("max_requests_per_run"),
        "{report}"
    );
    let written = report["writes"]["inbox"].as_u64().unwrap();
    let planned = report["planned"]["inbox"].as_u64().unwrap();
    assert!(written >= 1 && written < planned, "{report}");
    assert!(report["requests"].as_u64().unwrap() <= 11, "{report}");

    world.write_config("[policy]\nvaluation = \"crm-wins\"\n");
    for _ in 0..2 {
        let out = world.crmsync(&["sync", "--force", "--json"]).await;
        assert_exit(&out, 0);
    }
    let last = json(&world.crmsync(&["sync", "--json"]).await);
    assert_eq!(last["writes"]["inbox"], 0, "{last}");
    assert_eq!(last["writes"]["crm"], 0, "{last}");
    for p in &edited {
        let row = read_export(&world)
            .into_iter()
            .find(|r| r[col("X User ID")] == p.platform_id)
            .unwrap();
        assert_eq!(row[col("Notes")], format!("budget {}", p.username));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_resolved_conflict_is_applied_by_the_next_sync_and_closed() {
    let world = quiet_baseline(40, 30, "").await;
    let (idx, p) = single_thread_prospect(&world, 30);
    world.fake.edit_context(
        &p.external_id,
        ContextEdit {
            valuation: Some(Some(111.0)),
            notes: Some(Some("inbox notes".into())),
            ..ContextEdit::default()
        },
    );
    let mut rows = read_export(&world);
    rows[idx][col("Deal Value")] = "222".into();
    rows[idx][col("Notes")] = "crm notes".into();
    write_export(&world, &rows);
    assert_exit(&world.crmsync(&["sync"]).await, 0);
    let list = json(
        &world
            .crmsync(&["conflicts", "list", "--json", "--kind", "both-changed"])
            .await,
    );
    let id_of = |field: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|c| c["field"] == field && c["prospect_id"] == p.external_id.as_str())
            .unwrap_or_else(|| panic!("no {field} conflict: {list}"))["id"]
            .as_i64()
            .unwrap()
            .to_string()
    };
    let valuation = id_of("valuation");
    let notes = id_of("notes");
    let shown = stdout(&world.crmsync(&["conflicts", "show", &notes]).await);
    assert!(
        shown.contains("Inbox vs base") && shown.contains("+inbox notes"),
        "{shown}"
    );

    assert_exit(
        &world
            .crmsync(&["conflicts", "resolve", &valuation, "--take", "crm"])
            .await,
        0,
    );
    assert_exit(
        &world
            .crmsync(&[
                "conflicts",
                "resolve",
                &notes,
                "--take",
                "value",
                "merged by hand",
            ])
            .await,
        0,
    );
    let report = json(&world.crmsync(&["sync", "--json"]).await);
    assert_eq!(report["writes"]["inbox"], 1, "{report}");
    assert_eq!(report["writes"]["crm"], 1, "{report}");
    let now = world.fake.prospect(&p.external_id).unwrap();
    assert_eq!(now.valuation.unwrap().to_string(), "222");
    assert_eq!(now.notes.as_deref(), Some("merged by hand"));
    assert_eq!(read_export(&world)[idx][col("Notes")], "merged by hand");

    let all = json(
        &world
            .crmsync(&["conflicts", "list", "--json", "--all"])
            .await,
    );
    let resolved: Vec<_> = all
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["prospect_id"] == p.external_id.as_str() && c["kind"] == "both-changed")
        .collect();
    assert!(resolved.iter().all(|c| c["applied_run"].is_i64()), "{all}");
    assert!(
        resolved.iter().any(|c| c["resolution"] == "resolved-crm"),
        "{all}"
    );
    let open = json(
        &world
            .crmsync(&["conflicts", "list", "--json", "--kind", "both-changed"])
            .await,
    );
    assert_eq!(open.as_array().unwrap().len(), 0, "{open}");
    let again = json(&world.crmsync(&["sync", "--json"]).await);
    assert_eq!(again["writes"]["inbox"], 0, "{again}");
    assert_eq!(again["writes"]["crm"], 0, "{again}");
}

#[tokio::test(flavor = "multi_thread")]
async fn bulk_resolution_of_fanout_conflicts_shows_the_count_and_dismissals_stay_quiet() {
    let world = quiet_baseline(80, 80, "").await;
    let open = json(
        &world
            .crmsync(&["conflicts", "list", "--json", "--kind", "fanout"])
            .await,
    );
    let n = open.as_array().unwrap().len();
    assert!(n > 0, "the seed has disagreeing threads");
    let out = world
        .crmsync(&[
            "conflicts",
            "resolve",
            "--kind",
            "fanout",
            "--dismiss",
            "--yes",
        ])
        .await;
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains(&format!("{n} conflict(s) match")),
        "{}",
        stdout(&out)
    );
    let report = json(&world.crmsync(&["sync", "--json"]).await);
    assert_eq!(report["conflicts"]["opened"], 0, "{report}");
    let open = json(
        &world
            .crmsync(&["conflicts", "list", "--json", "--kind", "fanout"])
            .await,
    );
    assert_eq!(open.as_array().unwrap().len(), 0, "{open}");
    let csv = stdout(
        &world
            .crmsync(&["conflicts", "export", "--format", "csv", "--all"])
            .await,
    );
    assert!(csv.lines().count() > n, "{csv}");
    assert!(csv.contains("dismissed"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_field_guard_stops_when_notes_would_be_emptied() {
    // A handful of records: the guard's minimum count is off here, to test its share.
    let world = quiet_baseline(
        40,
        30,
        "[safety]\nmax_change_ratio = 1.0\nmin_changed_records = 0\n",
    )
    .await;
    let mut rows = read_export(&world);
    let mut emptied = 0;
    for row in rows.iter_mut() {
        if !row[col("Notes")].is_empty() && emptied < 4 {
            row[col("Notes")] = String::new();
            emptied += 1;
        }
    }
    assert_eq!(emptied, 4);
    write_export(&world, &rows);
    let before = world.fake.prospects();
    let out = world.crmsync(&["sync"]).await;
    assert_exit(&out, 3);
    let text = stdout(&out);
    assert!(
        text.contains("4 of 30 linked records would have their notes emptied"),
        "{text}"
    );
    assert!(text.contains("max_emptied_ratio"), "{text}");
    assert_eq!(world.fake.prospects(), before);
    let out = world.crmsync(&["sync", "--force", "--json"]).await;
    assert_exit(&out, 0);
    assert_eq!(json(&out)["writes"]["inbox"], 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_saved_plan_is_applied_exactly_and_moved_targets_are_skipped() {
    let world = quiet_baseline(40, 30, "").await;
    let candidates: Vec<_> = world
        .fake
        .prospects()
        .into_iter()
        .take(30)
        .filter(|p| p.threads.len() == 1)
        .take(3)
        .collect();
    for p in &candidates[..2] {
        world.fake.edit_context(
            &p.external_id,
            ContextEdit {
                notes: Some(Some(format!("planned {}", p.username))),
                ..ContextEdit::default()
            },
        );
    }
    let plan_path = world.path().join("plan.json");
    let out = world
        .crmsync(&["plan", "--out", plan_path.to_str().unwrap()])
        .await;
    assert_exit(&out, 0);
    assert!(stdout(&out).contains("sync --plan"), "{}", stdout(&out));

    // After the review: one planned target moves again, and a new edit appears elsewhere.
    world.fake.edit_context(
        &candidates[1].external_id,
        ContextEdit {
            notes: Some(Some("moved after the plan".into())),
            ..ContextEdit::default()
        },
    );
    world.fake.edit_context(
        &candidates[2].external_id,
        ContextEdit {
            notes: Some(Some("not in the plan".into())),
            ..ContextEdit::default()
        },
    );
    let out = world
        .crmsync(&["sync", "--plan", plan_path.to_str().unwrap(), "--json"])
        .await;
    assert_exit(&out, 0);
    let report = json(&out);
    assert_eq!(report["writes"]["crm"], 1, "{report}");
    let warnings = report["warnings"].to_string();
    assert!(
        warnings.contains("notes changed since the plan was made"),
        "{report}"
    );
    let notes_of = |p: &crmsync_fake::inbox_v1::ProspectView| {
        read_export(&world)
            .into_iter()
            .find(|r| r[col("X User ID")] == p.platform_id)
            .unwrap()[col("Notes")]
        .clone()
    };
    assert_eq!(
        notes_of(&candidates[0]),
        format!("planned {}", candidates[0].username)
    );
    assert_ne!(notes_of(&candidates[1]), "moved after the plan");
    assert_ne!(notes_of(&candidates[2]), "not in the plan");
}

#[tokio::test(flavor = "multi_thread")]
async fn undo_reverts_a_runs_writes_where_the_field_still_holds_them() {
    let world = quiet_baseline(40, 30, "").await;
    let singles: Vec<(usize, crmsync_fake::inbox_v1::ProspectView)> = world
        .fake
        .prospects()
        .into_iter()
        .take(30)
        .enumerate()
        .filter(|(_, p)| p.threads.len() == 1)
        .take(3)
        .collect();
    let [(i1, p1), (i2, p2), (i3, p3)] =
        [singles[0].clone(), singles[1].clone(), singles[2].clone()];
    let mut rows = read_export(&world);
    rows[i1][col("Notes")] = "bad export 1".into();
    rows[i2][col("Notes")] = "bad export 2".into();
    write_export(&world, &rows);
    world.fake.edit_context(
        &p3.external_id,
        ContextEdit {
            valuation: Some(Some(5555.0)),
            ..ContextEdit::default()
        },
    );
    let report = json(&world.crmsync(&["sync", "--json"]).await);
    assert_eq!(report["writes"]["inbox"], 2, "{report}");
    assert_eq!(report["writes"]["crm"], 1, "{report}");
    let run = report["run_id"].as_i64().unwrap().to_string();

    // Someone edits one of the written fields again before the undo.
    world.fake.edit_context(
        &p2.external_id,
        ContextEdit {
            notes: Some(Some("edited again".into())),
            ..ContextEdit::default()
        },
    );
    let dry = world.crmsync(&["undo", &run, "--dry-run", "--json"]).await;
    assert_exit(&dry, 0);
    assert_eq!(json(&dry)["planned"]["inbox"], 1, "{}", stdout(&dry));
    assert_eq!(
        world
            .fake
            .prospect(&p1.external_id)
            .unwrap()
            .notes
            .as_deref(),
        Some("bad export 1")
    );

    let out = world.crmsync(&["undo", &run, "--json"]).await;
    assert_exit(&out, 0);
    let undo = json(&out);
    assert_eq!(undo["writes"]["inbox"], 1, "{undo}");
    assert_eq!(undo["writes"]["crm"], 1, "{undo}");
    assert_eq!(
        world.fake.prospect(&p1.external_id).unwrap().notes,
        p1.notes
    );
    assert_eq!(
        world
            .fake
            .prospect(&p2.external_id)
            .unwrap()
            .notes
            .as_deref(),
        Some("edited again")
    );
    assert_eq!(
        read_export(&world)[i3][col("Deal Value")],
        p3.valuation.map(|v| v.to_string()).unwrap_or_default()
    );
    let conflicts = undo["conflict_list"].to_string();
    assert!(conflicts.contains("undo leaves it"), "{undo}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_field_guard_stops_when_too_many_valuations_would_change() {
    let world = quiet_baseline(
        40,
        30,
        "[safety]\nmax_change_ratio = 1.0\nmax_field_change_ratio = 0.1\nmin_changed_records = 0\n[policy]\nvaluation = \"crm-wins\"\n",
    )
    .await;
    let mut rows = read_export(&world);
    // Six valuations overwritten (filling an empty one overwrites nothing).
    for row in rows
        .iter_mut()
        .filter(|r| !r[col("Deal Value")].is_empty())
        .take(6)
    {
        row[col("Deal Value")] = "1".into();
    }
    write_export(&world, &rows);
    let out = world.crmsync(&["sync"]).await;
    assert_exit(&out, 3);
    let text = stdout(&out);
    assert!(
        text.contains("would have their valuation changed"),
        "{text}"
    );
    assert!(text.contains("max_field_change_ratio"), "{text}");
}

/// Undo of a forced fan-out gives each thread back what it held. The threads disagreed, so the
/// prospect had no one value to restore (the plan's old value is empty): each thread's receipt
/// holds its own, and the undo writes each thread back.
#[tokio::test(flavor = "multi_thread")]
async fn undo_of_a_forced_fan_out_gives_each_thread_back_what_it_held() {
    let world = World::start(40, "\n[fanout]\nmode = \"force\"\n").await;
    let (idx, p) = world
        .fake
        .prospects()
        .into_iter()
        .enumerate()
        .find(|(_, p)| p.threads.len() >= 2)
        .expect("a multi-thread prospect");
    let members = world.fake.members();
    let (a, b, crm) = (&members[0].1, &members[1].1, &members[2].1);
    for t in &p.threads {
        world
            .fake
            .set_thread(&t.id, Some(Some(a.clone())), Some(false));
    }
    let mut row = agreeing_rows(&world, idx + 1).remove(idx);
    write_export(&world, std::slice::from_ref(&row));
    assert_exit(&world.crmsync(&["sync"]).await, 0);
    // A person gives the second thread its own assignee and closes it; the CRM's owner changes.
    world
        .fake
        .set_thread(&p.threads[1].id, Some(Some(b.clone())), Some(true));
    row[col("Owner Email")] = crm.clone();
    row[col("Done")] = "false".into();
    write_export(&world, &[row]);
    let run = json(&world.crmsync(&["sync", "--json"]).await);
    let now = world.fake.prospect(&p.external_id).unwrap().threads;
    assert!(
        now.iter()
            .all(|t| t.assignee_email.as_deref() == Some(crm.as_str()) && !t.done),
        "forced onto every thread: {now:?} {run}"
    );

    let undo = world
        .crmsync(&["undo", &run["run_id"].to_string(), "--json"])
        .await;
    assert_exit(&undo, 0);
    let now = world.fake.prospect(&p.external_id).unwrap().threads;
    let held: Vec<(Option<&str>, bool)> = now
        .iter()
        .map(|t| (t.assignee_email.as_deref(), t.done))
        .collect();
    let mut expected = vec![(Some(a.as_str()), false); now.len()];
    expected[1] = (Some(b.as_str()), true);
    assert_eq!(held, expected, "{}", stdout(&undo));
}
