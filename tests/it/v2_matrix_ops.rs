//! The run-level guarantees on Inbox API v2, through the real binary against the v2 fake: the
//! safety stops, the run lock, saved plans (`plan --out`, `sync --plan`), `undo`, conflict
//! resolutions, the HTML report and `daemon --once`.

use crmsync_fake::inbox_v2::ContactEdit;

use crate::support::{assert_exit, col, json, stderr, stdout};
use crate::v2::{baseline_in, read_rows};
use crate::v2_matrix::{
    api_writes, archived, assert_second_sync_writes_nothing, assert_writes, cell, edit_crm,
    edit_inbox, open_conflicts, other_status, sync, tags_not_on,
};

fn notes(text: &str) -> ContactEdit {
    ContactEdit {
        notes: Some(Some(text.into())),
        ..ContactEdit::default()
    }
}

fn valuation(value: f64) -> ContactEdit {
    ContactEdit {
        valuation: Some(Some(value)),
        ..ContactEdit::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mass_change_on_either_side_stops_before_writing_anything_on_v2() {
    let (world, c) = baseline_in(60, 14, "").await;
    // Every contact gets notes and a valuation first (filling an empty field is no change).
    for (i, contact) in c.iter().enumerate() {
        let edit = ContactEdit {
            valuation: Some(Some(100.0 + i as f64)),
            ..notes(&format!("notes {i}"))
        };
        edit_inbox(&world, contact, edit);
    }
    assert_writes(&sync(&world, &["--force"]).await, 0, 14);
    // 12 of 14 CRM notes rewritten: over the 20 % share and the 10-record minimum.
    edit_crm(&world, |rows| {
        for row in rows.iter_mut().take(12) {
            row[col("Notes")] = "wiped by a bad export".into();
        }
    });
    let out = world.crmsync(&["sync"]).await;
    assert_exit(&out, 3);
    assert!(stdout(&out).contains("safety limit"), "{}", stdout(&out));
    assert_eq!(api_writes(&world), 0, "nothing was written to Inbox");
    // The other way: 12 contacts edited in Inbox, the export left as it is.
    edit_crm(&world, |rows| {
        for (i, row) in rows.iter_mut().enumerate() {
            row[col("Notes")] = format!("notes {i}");
        }
    });
    for (i, contact) in c[..12].iter().enumerate() {
        edit_inbox(&world, contact, notes(&format!("inbox notes {i}")));
    }
    let export = std::fs::read(world.export()).unwrap();
    let out = world.crmsync(&["sync"]).await;
    assert_exit(&out, 3);
    assert!(stdout(&out).contains("safety limit"), "{}", stdout(&out));
    assert_eq!(std::fs::read(world.export()).unwrap(), export);
    assert_eq!(api_writes(&world), 0);

    let report = sync(&world, &["--force"]).await;
    assert_writes(&report, 0, 12);
    assert_eq!(cell(&world, 0, "Notes"), "inbox notes 0");
    assert_second_sync_writes_nothing(&world).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn emptying_many_notes_on_v2_trips_the_field_guard() {
    let guard = "[safety]\nmax_change_ratio = 1.0\nmin_changed_records = 0\n";
    let (world, c) = baseline_in(60, 14, guard).await;
    let with_notes: Vec<usize> = (0..c.len()).filter(|i| c[*i].notes.is_some()).collect();
    assert!(with_notes.len() >= 2, "the seed has notes");
    for i in &with_notes[..2] {
        edit_inbox(
            &world,
            &c[*i],
            ContactEdit {
                notes: Some(None),
                ..ContactEdit::default()
            },
        );
    }
    let export = std::fs::read(world.export()).unwrap();
    let out = world.crmsync(&["sync"]).await;
    assert_exit(&out, 3);
    assert!(
        stdout(&out).contains("max_emptied_ratio"),
        "{}",
        stdout(&out)
    );
    assert_eq!(std::fs::read(world.export()).unwrap(), export);
    let report = sync(&world, &["--force"]).await;
    assert_writes(&report, 0, 2);
    assert_eq!(cell(&world, with_notes[0], "Notes"), "");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_v2_run_exits_4_while_the_lock_is_held_and_sends_nothing() {
    let (world, c) = baseline_in(40, 4, "").await;
    edit_crm(&world, |rows| {
        rows[0][col("Notes")] = "waits for the lock".into()
    });
    let state = world.dir.path().join("state");
    let lock = crmsync::engine::RunLock::acquire(&state).unwrap();
    world.fake.reset_stats();
    for args in [&["sync"][..], &["daemon", "--once", "--now"]] {
        let out = world.crmsync(args).await;
        assert_exit(&out, 4);
        assert!(stderr(&out).contains("another"), "{}", stderr(&out));
    }
    assert_eq!(
        world.fake.stats().requests,
        0,
        "a locked-out run sends nothing"
    );
    drop(lock);
    let report = sync(&world, &[]).await;
    assert_writes(&report, 1, 0);
    let now = world.fake.contact(&c[0].id).unwrap();
    assert_eq!(now.notes.as_deref(), Some("waits for the lock"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_saved_v2_plan_is_applied_exactly_and_moved_targets_are_skipped() {
    let (world, c) = baseline_in(60, 8, "").await;
    edit_inbox(&world, &c[0], notes("planned from Inbox"));
    edit_inbox(&world, &c[1], notes("planned too"));
    let tag = tags_not_on(&world, &c[2]).remove(0);
    edit_crm(&world, |rows| {
        rows[2][col("Tags")] = format!("{};{tag}", rows[2][col("Tags")]);
    });
    let plan_path = world.dir.path().join("plan.json");
    let plan = plan_path.to_str().unwrap();
    let out = world.crmsync(&["plan", "--out", plan]).await;
    assert_exit(&out, 0);
    assert!(stdout(&out).contains("sync --plan"), "{}", stdout(&out));
    assert_eq!(api_writes(&world), 0, "plan writes nothing");
    assert_eq!(
        cell(&world, 0, "Notes"),
        c[0].notes.clone().unwrap_or_default()
    );

    // After the review: a planned target moves again, and an edit the plan does not hold.
    edit_inbox(&world, &c[1], notes("moved after the plan"));
    edit_inbox(&world, &c[3], notes("not in the plan"));
    let report = sync(&world, &["--plan", plan]).await;
    assert_writes(&report, 1, 1);
    let warnings = report["warnings"].to_string();
    assert!(
        warnings.contains("notes changed since the plan was made"),
        "{report}"
    );
    assert_eq!(cell(&world, 0, "Notes"), "planned from Inbox");
    assert_eq!(
        cell(&world, 1, "Notes"),
        c[1].notes.clone().unwrap_or_default()
    );
    assert_eq!(
        cell(&world, 3, "Notes"),
        c[3].notes.clone().unwrap_or_default()
    );
    assert!(world.fake.contact(&c[2].id).unwrap().tags.contains(&tag));
    // An ordinary sync then brings the rest.
    let report = sync(&world, &[]).await;
    assert_writes(&report, 0, 2);
    assert_eq!(cell(&world, 1, "Notes"), "moved after the plan");
    assert_second_sync_writes_nothing(&world).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn undo_of_a_v2_run_reverts_its_patch_tag_call_thread_write_and_crm_write() {
    let (world, c) = baseline_in(60, 8, "").await;
    let tag = tags_not_on(&world, &c[2]).remove(0);
    let done = !archived(&world, &c[3]);
    edit_crm(&world, |rows| {
        rows[0][col("Notes")] = "bad export 1".into();
        rows[1][col("Notes")] = "bad export 2".into();
        rows[2][col("Tags")] = format!("{};{tag}", rows[2][col("Tags")]);
        rows[3][col("Done")] = done.to_string();
    });
    edit_inbox(&world, &c[4], valuation(5555.0));
    let report = sync(&world, &[]).await;
    assert_writes(&report, 4, 1);
    let run = report["run_id"].as_i64().unwrap().to_string();
    assert!(world.fake.contact(&c[2].id).unwrap().tags.contains(&tag));
    assert_eq!(archived(&world, &c[3]), done);
    // Someone edits one written field again before the undo: undo leaves it.
    edit_inbox(&world, &c[1], notes("edited again"));

    let dry = world.crmsync(&["undo", &run, "--dry-run", "--json"]).await;
    assert_exit(&dry, 0);
    assert_eq!(json(&dry)["planned"]["inbox"], 3, "{}", stdout(&dry));
    let writes = api_writes(&world);
    let undo = world.crmsync(&["undo", &run, "--json"]).await;
    assert_exit(&undo, 0);
    let undo = json(&undo);
    assert_eq!(undo["writes"]["crm"], 1, "{undo}");
    assert_eq!(
        undo["writes"]["inbox"],
        api_writes(&world) - writes,
        "{undo}"
    );
    let now = |i: usize| world.fake.contact(&c[i].id).unwrap();
    assert_eq!(now(0).notes, c[0].notes);
    assert_eq!(now(1).notes.as_deref(), Some("edited again"));
    assert_eq!(now(2).tags, c[2].tags);
    assert_eq!(archived(&world, &c[3]), !done);
    let v4 = c[4]
        .valuation
        .as_ref()
        .map(|v| v.to_string())
        .unwrap_or_default();
    assert_eq!(cell(&world, 4, "Deal Value"), v4);
    assert!(
        undo["conflict_list"].to_string().contains("undo leaves it"),
        "{undo}"
    );
    // Exactly the three reverted writes, one per kind of call.
    let log = world.fake.write_log();
    let routes: Vec<&str> = log[writes as usize..]
        .iter()
        .map(|w| w.route.as_str())
        .collect();
    assert_eq!(routes.len(), 3, "{routes:?}");
    assert!(
        routes.contains(&"PATCH /contacts/{contactId}"),
        "{routes:?}"
    );
    assert!(
        routes.contains(&"DELETE /contacts/{contactId}/tags/{tagRef}"),
        "{routes:?}"
    );
    assert!(routes.contains(&"PATCH /threads/{threadId}"), "{routes:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn v2_conflicts_resolved_by_hand_are_applied_by_the_next_sync_and_closed() {
    let (world, c) = baseline_in(60, 8, "").await;
    let (crm_status, inbox_status) = {
        let crm = other_status(&world, &c[1], &[]);
        (crm.clone(), other_status(&world, &c[1], &[&crm]))
    };
    edit_inbox(
        &world,
        &c[0],
        ContactEdit {
            valuation: Some(Some(111.0)),
            notes: Some(Some("inbox notes".into())),
            ..ContactEdit::default()
        },
    );
    edit_inbox(
        &world,
        &c[1],
        ContactEdit {
            status: Some(Some(inbox_status.clone())),
            ..ContactEdit::default()
        },
    );
    edit_crm(&world, |rows| {
        rows[0][col("Deal Value")] = "222".into();
        rows[0][col("Notes")] = "crm notes".into();
        rows[1][col("Lead Status")] = crm_status.clone();
    });
    assert_writes(&sync(&world, &[]).await, 0, 0);
    let list = json(
        &world
            .crmsync(&["conflicts", "list", "--json", "--kind", "both-changed"])
            .await,
    );
    let id_of = |contact: &str, field: &str| {
        let found = list
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["field"] == field && x["prospect_id"] == contact);
        found.unwrap_or_else(|| panic!("no {field} conflict: {list}"))["id"]
            .as_i64()
            .unwrap()
            .to_string()
    };
    let resolutions: [&[&str]; 3] = [
        &["--take", "crm"],
        &["--take", "value", "merged by hand"],
        &["--take", "inbox"],
    ];
    let ids = [
        id_of(&c[0].id, "valuation"),
        id_of(&c[0].id, "notes"),
        id_of(&c[1].id, "status"),
    ];
    for (id, how) in ids.iter().zip(resolutions) {
        let mut args = vec!["conflicts", "resolve", id.as_str()];
        args.extend_from_slice(how);
        assert_exit(&world.crmsync(&args).await, 0);
    }
    let before = api_writes(&world);
    let report = sync(&world, &[]).await;
    // Inbox: one PATCH of valuation and notes; CRM: the notes of row 0, the status of row 1.
    assert_writes(&report, 1, 2);
    let log = world.fake.write_log();
    let body = &log[before as usize].body;
    assert_eq!(log.len() as u64, before + 1, "{log:?}");
    assert_eq!(body.as_object().unwrap().len(), 2, "{body}");
    let now = world.fake.contact(&c[0].id).unwrap();
    assert_eq!(now.valuation.unwrap().to_string(), "222");
    assert_eq!(now.notes.as_deref(), Some("merged by hand"));
    assert_eq!(cell(&world, 0, "Notes"), "merged by hand");
    assert_eq!(cell(&world, 1, "Lead Status"), inbox_status);
    assert!(open_conflicts(&world, &c[0].id).await.is_empty());
    assert!(open_conflicts(&world, &c[1].id).await.is_empty());
    let all = json(
        &world
            .crmsync(&["conflicts", "list", "--json", "--all"])
            .await,
    );
    let applied = all
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["kind"] == "both-changed");
    assert!(applied.clone().count() >= 3, "{all}");
    assert!(applied.clone().all(|x| x["applied_run"].is_i64()), "{all}");
    assert!(
        applied.clone().any(|x| x["resolution"] == "resolved-value"),
        "{all}"
    );
    assert_second_sync_writes_nothing(&world).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_html_report_of_a_v2_sync_shows_both_sides_changes_and_its_conflicts() {
    let (world, c) = baseline_in(60, 8, "").await;
    let username = |i: usize| crate::v2::x_profile(&c[i]).unwrap().1;
    edit_inbox(&world, &c[0], valuation(4321.5));
    edit_crm(&world, |rows| {
        rows[1][col("Notes")] = "Call back <script>alert(1)</script> & co.".into();
        rows[2][col("Deal Value")] = "1".into();
    });
    edit_inbox(&world, &c[2], valuation(2.0));
    let run = sync(&world, &[]).await["run_id"].to_string();
    let path = world.dir.path().join("report.html");
    let out = world
        .crmsync(&["report", &run, "--html", path.to_str().unwrap()])
        .await;
    assert_exit(&out, 0);
    let html = std::fs::read_to_string(&path).unwrap();
    let section = |id: &str| {
        let start = html.find(&format!("<section id=\"{id}\">")).expect(id);
        let end = html[start..].find("</section>").unwrap() + start;
        html[start..end].to_string()
    };
    let inbox = section("inbox-changes");
    assert!(inbox.contains(&format!("@{}", username(1))), "{inbox}");
    assert!(
        inbox.contains("Call back &lt;script&gt;alert(1)&lt;/script&gt; &amp; co."),
        "{inbox}"
    );
    assert!(!html.contains("<script"), "notes must be escaped");
    let crm = section("crm-changes");
    assert!(crm.contains(&format!("@{}", username(0))), "{crm}");
    assert!(crm.contains(">4321.5<"), "{crm}");
    let opened = section("conflicts-opened");
    assert!(opened.contains(&format!("@{}", username(2))), "{opened}");
    assert!(section("requests").contains("Requests to Inbox"));
    let report = json(&world.crmsync(&["report", &run, "--json"]).await);
    let targets = |side: &str| -> Vec<String> {
        let changes = report[side].as_array().unwrap().iter();
        changes
            .map(|x| x["prospect_id"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    assert!(targets("inbox_changes").contains(&c[1].id), "{report}");
    assert!(targets("crm_changes").contains(&c[0].id), "{report}");
}

/// The one line a daemon run prints, without its timestamp.
fn run_line(text: &str) -> String {
    let line = text
        .lines()
        .find_map(|l| l.split_once(' ').filter(|(_, r)| r.starts_with("sync ")));
    line.unwrap_or_else(|| panic!("no run line in:\n{text}"))
        .1
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn daemon_once_on_v2_syncs_then_carries_the_next_change() {
    let (world, c) = baseline_in(60, 8, "").await;
    let out = world.crmsync(&["daemon", "--once", "--now"]).await;
    assert_exit(&out, 0);
    let line = run_line(&stdout(&out));
    assert!(
        line.starts_with("sync ok: 0 inbox, 0 crm writes, "),
        "{line}"
    );
    edit_inbox(&world, &c[0], valuation(4321.5));
    edit_crm(&world, |rows| {
        rows[1][col("Notes")] = "from the daemon".into()
    });
    let out = world.crmsync(&["daemon", "--once", "--now"]).await;
    assert_exit(&out, 0);
    let line = run_line(&stdout(&out));
    assert!(
        line.starts_with("sync ok: 1 inbox, 1 crm writes, "),
        "{line}"
    );
    assert_eq!(read_rows(&world.export())[0][col("Deal Value")], "4321.5");
    let now = world.fake.contact(&c[1].id).unwrap();
    assert_eq!(now.notes.as_deref(), Some("from the daemon"));
    let status = json(&world.crmsync(&["status", "--json"]).await);
    assert_eq!(status["last_run"]["status"], "ok", "{status}");
    assert_eq!(status["inbox_api"], "v2", "{status}");
}
