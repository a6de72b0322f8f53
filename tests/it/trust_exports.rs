//! The "Trust" issue, what real exports do to it: what a user sees in an export must be what crmsync believes. A value that
//! does not parse is refused on its own (the rest of its record syncs) and `check` says so.

use crmsync_fake::inbox_v1::ContextEdit;

use crate::support::{
    HEADER, World, agreeing_rows, assert_exit, col, json, read_export, stdout, write_export,
};

/// Adds `lines` to the test config's `[crm.csv]` section.
fn add_csv_settings(world: &World, lines: &str) {
    let text = std::fs::read_to_string(world.config()).unwrap().replace(
        "write_mode = \"in-place\"",
        &format!("write_mode = \"in-place\"\n{lines}"),
    );
    std::fs::write(world.config(), text).unwrap();
}

/// Maps a `Last Modified` column in the test config.
fn map_last_modified(world: &World) {
    let text = std::fs::read_to_string(world.config()).unwrap().replace(
        "done = \"Done\"\n",
        "done = \"Done\"\nupdated_at = \"Last Modified\"\n",
    );
    std::fs::write(world.config(), text).unwrap();
}

/// Writes rows with a `Last Modified` column after the test header.
fn write_export_with_times(world: &World, rows: &[Vec<String>], time: &str) {
    let mut writer = csv::Writer::from_path(world.export()).unwrap();
    let mut header: Vec<&str> = HEADER.to_vec();
    header.push("Last Modified");
    writer.write_record(&header).unwrap();
    for row in rows {
        let mut row = row.clone();
        row.push(time.to_string());
        writer.write_record(&row).unwrap();
    }
    writer.flush().unwrap();
}

/// The index of the first of the first `n` prospects with exactly one thread.
fn first_single_thread(world: &World, n: usize) -> usize {
    let found = crate::support::single_thread(world, n).first().copied();
    found.expect("a prospect with one thread")
}

#[tokio::test(flavor = "multi_thread")]
async fn trust_a_bad_valuation_cell_is_left_alone_on_both_sides_and_the_records_notes_still_sync() {
    let world = World::start(20, "").await;
    let mut rows = agreeing_rows(&world, 10);
    let idx = first_single_thread(&world, 10);
    write_export(&world, &rows);
    assert_exit(&world.crmsync(&["sync"]).await, 0);
    let prospect = world.fake.prospects()[idx].external_id.clone();

    // Inbox changes the valuation; the CRM's cell becomes one that does not read with
    // decimal_separator ".", and its notes change.
    world.fake.edit_context(
        &prospect,
        ContextEdit {
            valuation: Some(Some(777.0)),
            ..ContextEdit::default()
        },
    );
    rows[idx][col("Deal Value")] = "90000,00".into();
    rows[idx][col("Notes")] = "CRM note".into();
    write_export(&world, &rows);
    let raw_before = std::fs::read(world.export()).unwrap();

    let out = world.crmsync(&["sync", "--json"]).await;
    assert_exit(&out, 0);
    let report = json(&out);
    let rejected = report["rejected_rows"].as_array().unwrap();
    assert_eq!(rejected.len(), 1, "{report}");
    assert_eq!(rejected[0]["row"], idx as u64 + 2, "{report}");
    let reason = rejected[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("Deal Value") && reason.contains("90000,00"),
        "{reason}"
    );
    assert_eq!(report["linked"], 10, "the record is still linked: {report}");

    // The notes synced; the valuation moved on neither side.
    let after = world.fake.prospect(&prospect).unwrap();
    assert_eq!(after.notes.as_deref(), Some("CRM note"));
    assert_eq!(after.valuation.map(|v| v.to_string()), Some("777".into()));
    assert_eq!(report["writes"]["crm"], 0, "{report}");
    assert_eq!(std::fs::read(world.export()).unwrap(), raw_before);
    assert_eq!(read_export(&world)[idx][col("Deal Value")], "90000,00");

    // The reject is in the run history too, and the next run changes nothing either.
    let runs = json(&world.crmsync(&["runs", "--json", "--limit", "1"]).await);
    assert_eq!(runs[0]["rejects"], 1, "{runs}");
    let report = json(&world.crmsync(&["sync", "--json"]).await);
    assert_eq!(report["writes"]["crm"], 0, "{report}");
    assert_eq!(report["writes"]["inbox"], 0, "{report}");
    assert_eq!(std::fs::read(world.export()).unwrap(), raw_before);

    // Once the cell reads, the base moves again: both changed, differently, so a conflict.
    rows[idx][col("Deal Value")] = "90000".into();
    write_export(&world, &rows);
    let report = json(&world.crmsync(&["sync", "--json"]).await);
    assert_eq!(report["rejects"], 0, "{report}");
    assert_eq!(report["conflicts"]["opened"], 1, "{report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn trust_check_fails_on_a_column_that_does_not_read_and_suggests_the_decimal_separator() {
    let world = World::start(40, "").await;
    let mut rows = agreeing_rows(&world, 35);
    for (idx, row) in rows.iter_mut().enumerate() {
        row[col("Deal Value")] = if idx < 12 {
            format!("{}.500,00", idx + 1)
        } else {
            "90000".into()
        };
    }
    write_export(&world, &rows);
    let out = world.crmsync(&["check"]).await;
    assert_exit(&out, 1);
    let text = stdout(&out);
    assert!(
        text.contains("FAIL  CRM") && text.contains("12 of 35 records have a Deal Value"),
        "{text}"
    );
    assert!(
        text.contains("crm_export.csv:2: column Deal Value") && text.contains("\"1.500,00\""),
        "{text}"
    );
    assert!(
        text.contains("warn  CRM") && text.contains("decimal_separator = \",\""),
        "{text}"
    );

    add_csv_settings(&world, "decimal_separator = \",\"");
    let out = world.crmsync(&["check"]).await;
    assert_exit(&out, 0);
    let text = stdout(&out);
    assert!(
        text.contains("ok    CRM") && text.contains("0 rejected values"),
        "{text}"
    );
    assert!(!text.contains("warn"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn trust_a_hubspot_style_last_modified_reads_and_a_day_first_one_needs_date_format() {
    let world = World::start(40, "").await;
    map_last_modified(&world);
    let rows = agreeing_rows(&world, 35);
    write_export_with_times(&world, &rows, "2026-11-30 14:03");
    let out = world.crmsync(&["check"]).await;
    assert_exit(&out, 0);
    assert!(stdout(&out).contains("35 records, 0 rejected rows, 0 rejected values"));

    write_export_with_times(&world, &rows, "30/11/2026 14:03");
    let out = world.crmsync(&["check"]).await;
    assert_exit(&out, 1);
    let text = stdout(&out);
    assert!(
        text.contains("35 of 35 records have a Last Modified that does not read")
            && text.contains("date_format"),
        "{text}"
    );
    // A sync still reads every record: only the times are left out.
    let report = json(&world.crmsync(&["sync", "--json"]).await);
    assert_eq!(report["linked"], 35, "{report}");
    assert_eq!(report["rejects"], 35, "{report}");

    add_csv_settings(&world, "date_format = \"dmy\"");
    assert_exit(&world.crmsync(&["check"]).await, 0);
}

/// Sets a prospect's notes in Inbox.
fn inbox_notes(world: &World, prospect: &str, text: &str) {
    world.fake.edit_context(
        prospect,
        ContextEdit {
            notes: Some(Some(text.into())),
            ..ContextEdit::default()
        },
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn trust_crlf_notes_are_no_conflict_and_a_merged_note_keeps_the_cells_crlf() {
    let world = World::start(20, "").await;
    let idx = first_single_thread(&world, 10);
    let prospect = world.fake.prospects()[idx].external_id.clone();
    inbox_notes(&world, &prospect, "call monday\nbudget 10k");
    let mut rows = agreeing_rows(&world, 10);
    rows[idx][col("Notes")] = "call monday\r\nbudget 10k".into();
    write_export(&world, &rows);
    let report = json(&world.crmsync(&["sync", "--json"]).await);
    assert_eq!(report["conflicts"]["opened"], 0, "{report}");
    assert_eq!(report["writes"]["crm"], 0, "{report}");
    assert_eq!(report["writes"]["inbox"], 0, "{report}");

    // Line 1 edited in Inbox, a line appended in the CRM: one merged note on both sides, each
    // in its own line breaks.
    inbox_notes(&world, &prospect, "call tuesday\nbudget 10k");
    rows[idx][col("Notes")] = "call monday\r\nbudget 10k\r\nsent the deck".into();
    write_export(&world, &rows);
    let report = json(&world.crmsync(&["sync", "--json"]).await);
    assert_eq!(report["conflicts"]["opened"], 0, "{report}");
    assert_eq!(
        world.fake.prospect(&prospect).unwrap().notes.as_deref(),
        Some("call tuesday\nbudget 10k\nsent the deck")
    );
    assert_eq!(
        read_export(&world)[idx][col("Notes")],
        "call tuesday\r\nbudget 10k\r\nsent the deck"
    );
    let report = json(&world.crmsync(&["sync", "--json"]).await);
    assert_eq!(report["writes"]["crm"], 0, "{report}");
    assert_eq!(report["writes"]["inbox"], 0, "{report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn trust_conflicts_show_labels_the_notes_diff_base_inbox_crm() {
    let world = World::start(20, "").await;
    let idx = first_single_thread(&world, 10);
    let prospect = world.fake.prospects()[idx].external_id.clone();
    inbox_notes(&world, &prospect, "call monday\nbudget 10k");
    let mut rows = agreeing_rows(&world, 10);
    rows[idx][col("Notes")] = "call monday\nbudget 10k".into();
    write_export(&world, &rows);
    assert_exit(&world.crmsync(&["sync"]).await, 0);
    inbox_notes(&world, &prospect, "call tuesday\nbudget 10k");
    rows[idx][col("Notes")] = "call friday\nbudget 10k".into();
    write_export(&world, &rows);
    let report = json(&world.crmsync(&["sync", "--json"]).await);
    assert_eq!(report["conflicts"]["opened"], 1, "{report}");
    let list = json(&world.crmsync(&["conflicts", "list", "--json"]).await);
    let id = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["field"] == "notes")
        .unwrap_or_else(|| panic!("no notes conflict: {list}"))["id"]
        .to_string();
    let shown = stdout(&world.crmsync(&["conflicts", "show", &id]).await);
    for expected in [
        "--- base\n+++ Inbox\n",
        "-call monday\n+call tuesday\n",
        "--- base\n+++ CRM\n",
        "+call friday\n",
    ] {
        assert!(shown.contains(expected), "{expected:?} not in:\n{shown}");
    }
    for unwanted in ["No newline", "original", "modified"] {
        assert!(!shown.contains(unwanted), "{unwanted:?} in:\n{shown}");
    }
}
