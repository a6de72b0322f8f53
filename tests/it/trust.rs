//! Regression tests of the "Trust" issue: what a new user broke in the first hour. Each test
//! is named after the broken promise it pins.

use crmsync_fake::inbox_v1::{ContextEdit, ProspectView};

use crate::support::{
    World, agreeing_rows, assert_exit, baseline, col, json, read_export, stdout, write_export,
};

/// Switches the test config to `import-file` mode (import file `crm_import.csv`).
fn import_file_mode(world: &World) {
    let text = std::fs::read_to_string(world.config()).unwrap().replace(
        "write_mode = \"in-place\"",
        "write_mode = \"import-file\"\nimport_path = \"crm_import.csv\"",
    );
    std::fs::write(world.config(), text).unwrap();
}

/// Does what a user does with the import file: imports its notes into the CRM, which then
/// exports them.
fn import_notes(world: &World) {
    let path = world.path().join("crm_import.csv");
    let Ok(mut import) = csv::Reader::from_path(&path) else {
        return;
    };
    let headers = import.headers().unwrap().clone();
    let notes_col = headers.iter().position(|h| h == "Notes").unwrap();
    let id_col = headers.iter().position(|h| h == "Record ID").unwrap();
    let mut rows = read_export(world);
    for record in import.records() {
        let record = record.unwrap();
        let row = rows
            .iter_mut()
            .find(|r| r[col("Record ID")] == record[id_col])
            .unwrap();
        row[col("Notes")] = record[notes_col].to_string();
    }
    write_export(world, &rows);
    std::fs::remove_file(path).unwrap();
}

fn set_inbox_notes(world: &World, p: &ProspectView, text: &str) {
    world.fake.edit_context(
        &p.external_id,
        ContextEdit {
            notes: Some(Some(text.into())),
            ..ContextEdit::default()
        },
    );
}

fn set_crm_notes(world: &World, idx: usize, text: &str) {
    let mut rows = read_export(world);
    rows[idx][col("Notes")] = text.into();
    write_export(world, &rows);
}

fn inbox_notes(world: &World, p: &ProspectView) -> Option<String> {
    world.fake.prospect(&p.external_id).unwrap().notes
}

fn crm_notes(world: &World, idx: usize) -> String {
    read_export(world)[idx][col("Notes")].clone()
}

/// The open conflicts of `p` as (kind, field).
async fn open_conflicts(world: &World, p: &ProspectView) -> Vec<(String, String, i64)> {
    let list = json(&world.crmsync(&["conflicts", "list", "--json"]).await);
    list.as_array()
        .unwrap()
        .iter()
        .filter(|c| c["prospect_id"] == p.external_id.as_str())
        .map(|c| {
            (
                c["kind"].as_str().unwrap().to_string(),
                c["field"].as_str().unwrap().to_string(),
                c["id"].as_i64().unwrap(),
            )
        })
        .collect()
}

/// The story of the issue: a both-changed notes conflict resolved by hand, synced, undone,
/// synced again. After the undo each side holds its own edit again, neither is the base, and
/// the next sync must reopen the conflict and write nothing for the notes.
async fn undo_then_sync_keeps_both_edits(import_file: bool) {
    let world = baseline(40, 30, "").await;
    if import_file {
        import_file_mode(&world);
    }
    let (idx, p) = world
        .fake
        .prospects()
        .into_iter()
        .take(30)
        .enumerate()
        .find(|(_, p)| p.threads.len() == 1)
        .unwrap();
    // Both sides agree on A/B/C: that becomes the base.
    set_inbox_notes(&world, &p, "A\nB\nC");
    set_crm_notes(&world, idx, "A\nB\nC");
    let report = json(&world.crmsync(&["sync", "--json"]).await);
    assert_eq!(report["writes"]["inbox"], 0, "{report}");
    assert_eq!(report["writes"]["crm"], 0, "{report}");

    set_inbox_notes(&world, &p, "A\nedited in Inbox\nC");
    set_crm_notes(&world, idx, "A\nedited in CRM\nC");
    assert_exit(&world.crmsync(&["sync"]).await, 0);
    let conflicts = open_conflicts(&world, &p).await;
    let (_, _, id) = conflicts
        .iter()
        .find(|(kind, field, _)| kind == "both-changed" && field == "notes")
        .unwrap_or_else(|| panic!("no notes conflict: {conflicts:?}"))
        .clone();
    assert_exit(
        &world
            .crmsync(&[
                "conflicts",
                "resolve",
                &id.to_string(),
                "--take",
                "value",
                "A\nB merged\nC",
            ])
            .await,
        0,
    );
    let report = json(&world.crmsync(&["sync", "--json"]).await);
    let run = report["run_id"].as_i64().unwrap().to_string();
    if import_file {
        import_notes(&world);
        assert_exit(&world.crmsync(&["sync"]).await, 0);
    }
    assert_eq!(inbox_notes(&world, &p).as_deref(), Some("A\nB merged\nC"));
    assert_eq!(crm_notes(&world, idx), "A\nB merged\nC");

    let out = world.crmsync(&["undo", &run, "--json"]).await;
    assert_exit(&out, 0);
    if import_file {
        // The import file carries the CRM's own edit back, not the resolved value.
        let import = std::fs::read_to_string(world.path().join("crm_import.csv")).unwrap();
        assert!(import.contains("edited in CRM"), "{import}");
        assert!(!import.contains("B merged"), "{import}");
        import_notes(&world);
    }
    assert_eq!(
        inbox_notes(&world, &p).as_deref(),
        Some("A\nedited in Inbox\nC")
    );
    assert_eq!(crm_notes(&world, idx), "A\nedited in CRM\nC");

    let writes_before = world.fake.write_log().len();
    let report = json(&world.crmsync(&["sync", "--json"]).await);
    assert_eq!(report["writes"]["inbox"], 0, "{report}");
    assert_eq!(report["writes"]["crm"], 0, "{report}");
    assert_eq!(world.fake.write_log().len(), writes_before);
    assert_eq!(
        inbox_notes(&world, &p).as_deref(),
        Some("A\nedited in Inbox\nC")
    );
    assert_eq!(crm_notes(&world, idx), "A\nedited in CRM\nC");
    let conflicts = open_conflicts(&world, &p).await;
    assert!(
        conflicts
            .iter()
            .any(|(kind, field, _)| kind == "both-changed" && field == "notes"),
        "the conflict is open again: {conflicts:?}"
    );
    // And it stays so: a second sync writes nothing either.
    let report = json(&world.crmsync(&["sync", "--json"]).await);
    assert_eq!(report["writes"]["inbox"], 0, "{report}");
    assert_eq!(report["writes"]["crm"], 0, "{report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn undo_then_sync_keeps_both_edits_in_place() {
    undo_then_sync_keeps_both_edits(false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn undo_then_sync_keeps_both_edits_with_an_import_file() {
    undo_then_sync_keeps_both_edits(true).await;
}

/// Undoing a run that copied a one-sided CRM edit into Inbox puts the Inbox value back and the
/// base where it was: the CRM still holds the edit, so the next sync copies it again (the
/// documented behaviour: fix the source first), and nothing is lost on either side.
#[tokio::test(flavor = "multi_thread")]
async fn undo_of_a_one_sided_copy_restores_the_base_of_before_the_run() {
    let world = baseline(40, 30, "").await;
    let (idx, p) = world
        .fake
        .prospects()
        .into_iter()
        .take(30)
        .enumerate()
        .find(|(_, p)| p.threads.len() == 1)
        .unwrap();
    let before = inbox_notes(&world, &p);
    set_crm_notes(&world, idx, "bad export");
    let report = json(&world.crmsync(&["sync", "--json"]).await);
    assert_eq!(report["writes"]["inbox"], 1, "{report}");
    let run = report["run_id"].as_i64().unwrap().to_string();
    assert_exit(&world.crmsync(&["undo", &run]).await, 0);
    assert_eq!(inbox_notes(&world, &p), before);
    // The user fixes the export: the fixed value is the Inbox one, so nothing moves.
    set_crm_notes(&world, idx, before.as_deref().unwrap_or(""));
    let report = json(&world.crmsync(&["sync", "--json"]).await);
    assert_eq!(report["writes"]["inbox"], 0, "{report}");
    assert_eq!(report["writes"]["crm"], 0, "{report}");
    assert!(open_conflicts(&world, &p).await.is_empty());
    let _ = stdout;
}

/// Two CSV rows for one prospect: the linked one and a new row with the same X user id. The
/// `identity` conflict is logged and, while it is open, neither record nor the prospect is
/// written, whatever changed on either side (README: "neither is touched").
async fn an_identity_conflict_writes_neither_record_nor_the_prospect(import_file: bool) {
    let world = baseline(40, 30, "").await;
    if import_file {
        import_file_mode(&world);
    }
    let (idx, p) = world
        .fake
        .prospects()
        .into_iter()
        .take(30)
        .enumerate()
        .find(|(_, p)| p.threads.len() == 1)
        .unwrap();
    let mut rows = read_export(&world);
    // A one-sided change on each side that a sync would otherwise copy.
    rows[idx][col("Deal Value")] = "777".into();
    let mut duplicate = rows[idx].clone();
    duplicate[col("Record ID")] = "dup1".into();
    duplicate[col("Notes")] = "the duplicate's notes".into();
    rows.push(duplicate);
    write_export(&world, &rows);
    set_inbox_notes(&world, &p, "edited in Inbox while the duplicate exists");
    let export_before = std::fs::read(world.export()).unwrap();
    let writes_before = world.fake.write_log().len();

    let report = json(&world.crmsync(&["sync", "--json"]).await);
    assert_eq!(report["writes"]["inbox"], 0, "{report}");
    assert_eq!(report["writes"]["crm"], 0, "{report}");
    assert_eq!(world.fake.write_log().len(), writes_before);
    assert_eq!(std::fs::read(world.export()).unwrap(), export_before);
    if import_file {
        let import = world.path().join("crm_import.csv");
        let text = std::fs::read_to_string(&import).unwrap_or_default();
        assert!(!text.contains(&p.platform_id), "{text}");
    }
    let conflicts = open_conflicts(&world, &p).await;
    assert!(
        conflicts.iter().any(|(kind, _, _)| kind == "identity"),
        "{conflicts:?}"
    );
    // `plan` promises the same: nothing for either record or the prospect.
    let plan = json(&world.crmsync(&["plan", "--json"]).await);
    assert_eq!(plan["planned"]["inbox"], 0, "{plan}");
    assert_eq!(plan["planned"]["crm"], 0, "{plan}");

    // Once the duplicate row is gone, the link syncs again: both one-sided changes cross.
    rows.pop();
    write_export(&world, &rows);
    let report = json(&world.crmsync(&["sync", "--json"]).await);
    assert_eq!(report["writes"]["inbox"], 1, "{report}");
    assert_eq!(report["writes"]["crm"], 1, "{report}");
    assert!(
        !open_conflicts(&world, &p)
            .await
            .iter()
            .any(|(kind, _, _)| kind == "identity")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_identity_conflict_writes_neither_record_nor_the_prospect_in_place() {
    an_identity_conflict_writes_neither_record_nor_the_prospect(false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_identity_conflict_writes_neither_record_nor_the_prospect_with_an_import_file() {
    an_identity_conflict_writes_neither_record_nor_the_prospect(true).await;
}

/// Six linked single-thread prospects whose CRM notes changed: a sync writes six Inbox context
/// PATCHes. Returns the world and the six (export row, prospect).
async fn six_one_sided_edits() -> (World, Vec<(usize, ProspectView)>) {
    let world = baseline(40, 30, "").await;
    let edited: Vec<(usize, ProspectView)> = world
        .fake
        .prospects()
        .into_iter()
        .take(30)
        .enumerate()
        .filter(|(_, p)| p.threads.len() == 1)
        .take(6)
        .collect();
    assert_eq!(edited.len(), 6);
    let mut rows = read_export(&world);
    for (idx, _) in &edited {
        rows[*idx][col("Notes")] = format!("edited in the CRM {idx}");
    }
    write_export(&world, &rows);
    (world, edited)
}

fn context_patches(world: &World) -> Vec<String> {
    world
        .fake
        .write_log()
        .into_iter()
        .filter(|w| w.route.ends_with("/context"))
        .map(|w| w.target_id)
        .collect()
}

/// The run's entry in `crmsync runs --json`.
async fn run_entry(world: &World, run: i64) -> serde_json::Value {
    let runs = json(&world.crmsync(&["runs", "--json"]).await);
    runs.as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == run)
        .unwrap_or_else(|| panic!("no run {run}: {runs}"))
        .clone()
}

/// Undoes `run` and checks that exactly the prospects in `written` get their notes back.
async fn undo_reverts_exactly(world: &World, run: i64, written: &[(usize, ProspectView)]) {
    let before = context_patches(world).len();
    let out = world.crmsync(&["undo", &run.to_string(), "--json"]).await;
    assert_exit(&out, 0);
    let undo = json(&out);
    assert_eq!(undo["writes"]["inbox"], written.len() as u64, "{undo}");
    assert_eq!(context_patches(world).len(), before + written.len());
    for (_, p) in written {
        assert_eq!(inbox_notes(world, p), p.notes, "{}", p.external_id);
    }
}

/// A run killed right after an Inbox PATCH was answered, before anything else: every write it
/// made, the last one included, is in the change log, `runs` counts them, and `undo` reverts
/// exactly those.
#[tokio::test(flavor = "multi_thread")]
async fn a_killed_run_leaves_a_receipt_of_every_write_and_undo_reverts_them() {
    let (world, edited) = six_one_sided_edits().await;
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_crmsync"));
    cmd.arg("--config")
        .arg(world.config())
        .args(["sync", "--json"])
        .env(crate::support::TOKEN_ENV, crate::support::TOKEN)
        .env("CRMSYNC_FAILPOINT", "inbox-after-patch:4");
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    assert!(!out.status.success(), "the failpoint aborts the run");
    let written = context_patches(&world);
    assert_eq!(written.len(), 4);
    let run = json(&world.crmsync(&["runs", "--json"]).await)[0]["id"]
        .as_i64()
        .unwrap();
    let entry = run_entry(&world, run).await;
    assert_eq!(entry["writes"]["inbox"], 4, "{entry}");
    let written: Vec<(usize, ProspectView)> = edited
        .into_iter()
        .filter(|(_, p)| written.contains(&p.external_id))
        .collect();
    undo_reverts_exactly(&world, run, &written).await;
}

/// Ctrl-C while a sync writes: the prospect being written is finished, nothing more is
/// written, the run records what it wrote, and one line on stderr says so (exit 130). `runs`
/// and `undo` see the writes; the next sync writes the rest.
#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_during_a_sync_stops_at_a_write_boundary_and_records_the_writes() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};
    let (world, edited) = six_one_sided_edits().await;
    let pid = Arc::new(AtomicU32::new(0));
    let hook_pid = pid.clone();
    let mut patches = 0;
    world.fake.set_hook(move |_, req| {
        if req.method == "PATCH" && req.route.ends_with("/context") {
            patches += 1;
            if patches == 3 {
                let pid = hook_pid.load(Ordering::SeqCst).to_string();
                let _ = std::process::Command::new("kill")
                    .args(["-INT", &pid])
                    .status();
                // The signal is seen by crmsync's signal task, not at once: hold the answer
                // until it is, so that the write boundary after this PATCH is where it stops
                // (without the wait, a loaded machine sometimes let a fourth write start).
                std::thread::sleep(std::time::Duration::from_millis(300));
            }
        }
    });
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_crmsync"));
    cmd.arg("--config")
        .arg(world.config())
        .args(["sync"])
        .env(crate::support::TOKEN_ENV, crate::support::TOKEN)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().unwrap();
    pid.store(child.id(), Ordering::SeqCst);
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    world.fake.clear_hook();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    assert!(
        lines[0].contains("stopped by SIGINT after 3 Inbox write(s)"),
        "{stderr}"
    );
    assert!(lines[0].contains("the next sync continues"), "{stderr}");
    let written = context_patches(&world);
    assert_eq!(written.len(), 3);
    let run = json(&world.crmsync(&["runs", "--json"]).await)[0].clone();
    assert_eq!(run["writes"]["inbox"], 3, "{run}");
    assert_eq!(run["exit"], 130, "{run}");
    assert_eq!(run["status"], "interrupted", "{run}");
    let run_id = run["id"].as_i64().unwrap();
    assert!(lines[0].contains(&format!("run {run_id}")), "{stderr}");
    let written: Vec<(usize, ProspectView)> = edited
        .iter()
        .filter(|(_, p)| written.contains(&p.external_id))
        .cloned()
        .collect();
    // The next sync writes the other three; undoing the stopped run reverts its three only.
    let report = json(&world.crmsync(&["sync", "--json"]).await);
    assert_eq!(report["writes"]["inbox"], 3, "{report}");
    undo_reverts_exactly(&world, run_id, &written).await;
    let _ = stdout;
}

/// A share of a handful of records means nothing: 2 of 5 linked records changing is 40 %, over
/// `max_change_ratio`, but not past `min_changed_records` (10), so the sync goes on. With the
/// minimum at 0 the same sync stops, as before.
#[tokio::test(flavor = "multi_thread")]
async fn a_tiny_export_does_not_trip_the_safety_limit() {
    let world = baseline(8, 5, "").await;
    let mut rows = read_export(&world);
    for row in rows.iter_mut().take(2) {
        row[col("Notes")] = "rewritten in the CRM".into();
        row[col("Deal Value")] = "123".into();
    }
    write_export(&world, &rows);
    let text = std::fs::read_to_string(world.config()).unwrap();
    std::fs::write(
        world.config(),
        format!("{text}\n[safety]\nmin_changed_records = 0\n"),
    )
    .unwrap();
    let out = world.crmsync(&["sync"]).await;
    assert_exit(&out, 3);
    std::fs::write(world.config(), &text).unwrap();
    let report = json(&world.crmsync(&["sync", "--json"]).await);
    assert_eq!(report["exit"], 0, "{report}");
    assert_eq!(report["stopped"], serde_json::Value::Null, "{report}");
    assert_eq!(report["writes"]["inbox"], 2, "{report}");
}

/// A first sync that only fills fields empty on one side overwrites nothing: however many
/// records it fills, no safety limit stops it.
#[tokio::test(flavor = "multi_thread")]
async fn a_first_sync_that_only_fills_empty_fields_is_not_a_mass_change() {
    let world = World::start(80, "").await;
    let mut rows = agreeing_rows(&world, 60);
    let mut filled = 0;
    for (row, p) in rows.iter_mut().zip(world.fake.prospects()) {
        if p.valuation.is_none() {
            row[col("Deal Value")] = "4200".into();
            filled += 1;
        }
    }
    assert!(
        filled > 10,
        "the seed leaves enough valuations empty: {filled}"
    );
    write_export(&world, &rows);
    let report = json(&world.crmsync(&["sync", "--json"]).await);
    assert_eq!(report["stopped"], serde_json::Value::Null, "{report}");
    assert_eq!(report["exit"], 0, "{report}");
}

/// A tag that exists only in the CRM: `plan` shows what `sync` does (an `unmapped` conflict, no
/// Inbox write), `--take crm` on it is refused with the fix, and once dismissed it is not
/// printed again by later syncs.
#[tokio::test(flavor = "multi_thread")]
async fn plan_promises_exactly_what_sync_does_for_a_tag_inbox_lacks() {
    let world = baseline(30, 20, "").await;
    let (idx, p) = world
        .fake
        .prospects()
        .into_iter()
        .take(20)
        .enumerate()
        .find(|(_, p)| p.threads.len() == 1)
        .unwrap();
    let mut rows = read_export(&world);
    let mut tags: Vec<String> = rows[idx][col("Tags")]
        .split(';')
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect();
    tags.push("Only In The CRM".into());
    rows[idx][col("Tags")] = tags.join(";");
    write_export(&world, &rows);

    let plan_out = world.crmsync(&["plan", "--json"]).await;
    assert_exit(&plan_out, 0);
    let plan = json(&plan_out);
    assert_eq!(plan["planned"]["inbox"], 0, "{plan}");
    let unmapped = |report: &serde_json::Value| -> usize {
        report["conflict_list"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["kind"] == "unmapped" && c["field"] == "tags")
            .count()
    };
    assert_eq!(unmapped(&plan), 1, "{plan}");
    let text = stdout(&world.crmsync(&["plan"]).await);
    assert!(!text.contains("+Only In The CRM"), "{text}");
    assert!(
        text.contains("Only In The CRM"),
        "the conflict is shown: {text}"
    );

    let report = json(&world.crmsync(&["sync", "--json"]).await);
    assert_eq!(
        report["writes"]["inbox"], plan["planned"]["inbox"],
        "{report}"
    );
    assert_eq!(unmapped(&report), 1, "{report}");
    assert!(
        !world
            .fake
            .prospect(&p.external_id)
            .unwrap()
            .tags
            .iter()
            .any(|t| t == "Only In The CRM")
    );

    let (_, _, id) = open_conflicts(&world, &p)
        .await
        .into_iter()
        .find(|(kind, field, _)| kind == "unmapped" && field == "tags")
        .unwrap();
    let refused = world
        .crmsync(&["conflicts", "resolve", &id.to_string(), "--take", "crm"])
        .await;
    assert_ne!(refused.status.code(), Some(0));
    let err = crate::support::stderr(&refused);
    assert!(err.contains("create_missing_tags"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    assert_exit(
        &world
            .crmsync(&["conflicts", "resolve", &id.to_string(), "--dismiss"])
            .await,
        0,
    );
    let report = json(&world.crmsync(&["sync", "--json"]).await);
    assert_eq!(unmapped(&report), 0, "dismissed: {report}");
    let text = stdout(&world.crmsync(&["sync"]).await);
    assert!(!text.contains("Only In The CRM"), "{text}");
    let text = stdout(&world.crmsync(&["plan"]).await);
    assert!(!text.contains("Only In The CRM"), "{text}");
}

/// Import-file mode tells the user what to do: the records went to the import file, not the
/// CRM; the values waiting there are listed as waiting, with the prospect's handle, not as
/// conflicts with raw ids.
#[tokio::test(flavor = "multi_thread")]
async fn import_file_mode_says_to_import_the_file_and_lists_what_waits() {
    let world = baseline(30, 20, "").await;
    import_file_mode(&world);
    let (_, p) = world
        .fake
        .prospects()
        .into_iter()
        .take(20)
        .enumerate()
        .find(|(_, p)| p.threads.len() == 1)
        .unwrap();
    set_inbox_notes(&world, &p, "changed in Inbox, waiting for import");
    let out = world.crmsync(&["sync"]).await;
    assert_exit(&out, 0);
    let text = stdout(&out);
    let import = world.path().join("crm_import.csv");
    assert!(
        text.contains(&format!(
            "1 CRM record(s) to {}: import it into your CRM",
            import.display()
        )),
        "{text}"
    );
    assert!(!text.contains("and 1 CRM record(s);"), "{text}");
    assert!(text.contains("Waiting for import (1)"), "{text}");
    assert!(
        text.contains(&format!("@{} -> record", p.username)),
        "{text}"
    );
    assert!(!text.contains("Conflicts (1)"), "{text}");
    // A value waiting for import is no conflict in the counts either.
    assert!(
        text.contains("2 conflict(s) found (0 new, 0 closed, 2 open in the log)"),
        "{text}"
    );
    let status = json(&world.crmsync(&["status", "--json"]).await);
    assert_eq!(status["mirror"]["open_conflicts"], 2, "{status}");
    assert_eq!(
        status["last_run"]["summary"]["conflicts"]["found"], 2,
        "{status}"
    );
    let report = json(&world.crmsync(&["sync", "--json"]).await);
    assert_eq!(
        report["import_file"],
        import.display().to_string(),
        "{report}"
    );

    // Once the CRM's export shows the imported value, it is settled: not a closed conflict.
    let notes = col("Notes");
    let mut rows = read_export(&world);
    let row = rows
        .iter_mut()
        .find(|r| r[col("X User ID")] == p.platform_id)
        .unwrap();
    row[notes] = "changed in Inbox, waiting for import".into();
    write_export(&world, &rows);
    let settled = json(&world.crmsync(&["sync", "--json"]).await);
    assert_eq!(settled["conflicts"]["closed"], 0, "{settled}");
    assert_eq!(settled["writes"]["to_import"], 0, "{settled}");
    let open = json(&world.crmsync(&["conflicts", "list", "--json"]).await);
    assert!(
        (open.as_array().unwrap().iter()).all(|c| c["kind"] != "pending-import"),
        "{open}"
    );
}

/// Records that match nothing are named, not only counted: record id, the id or handle, and
/// why, in the text of `plan` and `sync` and in `--json` as `unmatched`.
#[tokio::test(flavor = "multi_thread")]
async fn records_that_match_nothing_are_listed_with_the_reason() {
    let world = World::start(20, "").await;
    let mut rows = agreeing_rows(&world, 5);
    let mut unknown_id = rows[0].clone();
    unknown_id[col("Record ID")] = "u1".into();
    unknown_id[col("X User ID")] = "999000111".into();
    unknown_id[col("X Handle")] = "nobody_here".into();
    let mut unknown_handle = rows[0].clone();
    unknown_handle[col("Record ID")] = "u2".into();
    unknown_handle[col("X User ID")] = String::new();
    unknown_handle[col("X Handle")] = "no_such_handle".into();
    rows.push(unknown_id);
    rows.push(unknown_handle);
    write_export(&world, &rows);
    let plan = json(&world.crmsync(&["plan", "--json"]).await);
    let unmatched = plan["unmatched"].as_array().unwrap();
    assert_eq!(unmatched.len(), 2, "{plan}");
    assert_eq!(unmatched[0]["record"], "u1");
    assert_eq!(unmatched[0]["handle"], "999000111");
    assert_eq!(unmatched[0]["reason"], "unknown X user id");
    assert_eq!(unmatched[1]["record"], "u2");
    assert_eq!(unmatched[1]["handle"], "@no_such_handle");
    assert_eq!(unmatched[1]["reason"], "handle not found");
    let text = stdout(&world.crmsync(&["sync"]).await);
    assert!(
        text.contains("no prospect for record u1 (999000111): unknown X user id"),
        "{text}"
    );
    assert!(
        text.contains("no prospect for record u2 (@no_such_handle): handle not found"),
        "{text}"
    );
    // And the run's HTML report lists them.
    let html = world.path().join("report.html");
    assert_exit(
        &world
            .crmsync(&["report", "--html", html.to_str().unwrap()])
            .await,
        0,
    );
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains("CRM records without an Inbox match"),
        "{page}"
    );
    assert!(
        page.contains("<td>u1</td>") && page.contains("unknown X user id"),
        "{page}"
    );
}

/// The hard cap on requests is hard: an export with 300 X user ids Inbox does not know, and
/// `max_requests_per_run = 100`: the run stops looking them up at the cap (they wait for the
/// next run, with a warning), and makes at most 100 requests in all.
#[tokio::test(flavor = "multi_thread")]
async fn look_ups_of_unknown_x_ids_count_against_the_request_cap() {
    let world = World::start(20, "").await;
    let text = std::fs::read_to_string(world.config()).unwrap().replace(
        "min_interval_ms = 0",
        "min_interval_ms = 0\nmax_requests_per_run = 100",
    );
    std::fs::write(world.config(), text).unwrap();
    let mut rows = agreeing_rows(&world, 5);
    for i in 0..300 {
        let mut row = rows[0].clone();
        row[col("Record ID")] = format!("u{i:03}");
        row[col("X User ID")] = format!("{}", 900_000_000_000u64 + i);
        row[col("X Handle")] = format!("unknown_{i}");
        rows.push(row);
    }
    write_export(&world, &rows);
    world.fake.reset_stats();
    let out = world.crmsync(&["sync", "--json"]).await;
    assert_exit(&out, 0);
    let report = json(&out);
    let requests = world.fake.stats().requests;
    assert!(requests <= 100, "{requests} requests: {report}");
    assert!(report["requests"].as_u64().unwrap() <= 100, "{report}");
    let warnings = report["warnings"].to_string();
    assert!(
        warnings.contains("wait for the next run"),
        "the look-ups left are said: {report}"
    );
}
