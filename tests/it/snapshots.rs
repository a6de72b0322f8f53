//! Snapshot tests (insta) of what people read: `--help`, and the human output of `plan`,
//! `sync`, `conflicts list` and `status` on a seeded world. Review a changed snapshot with
//! `cargo insta review` (or `INSTA_UPDATE=always cargo test` and read the diff in git).

use crmsync_fake::inbox_v1::ContextEdit;

use crate::support::{World, agreeing_rows, assert_exit, col, read_export, stdout, write_export};

/// Output with what changes from run to run (temp paths, timings, times of day) masked.
fn masked(text: &str, world: &World) -> String {
    let path = world.path().display().to_string();
    let mut out = String::new();
    for line in text.replace(&path, "<dir>").lines() {
        let mut line = line.to_string();
        if let Some(i) = line.find(" requests in ") {
            line.truncate(i + " requests in ".len());
            line.push_str("<secs>");
        }
        // RFC 3339 times (conflicts list, status).
        let mut masked_line = String::new();
        for word in line.split(' ') {
            if word.len() >= 20 && word.as_bytes().get(4) == Some(&b'-') && word.contains('T') {
                masked_line.push_str("<time>");
            } else {
                masked_line.push_str(word);
            }
            masked_line.push(' ');
        }
        out.push_str(masked_line.trim_end());
        out.push('\n');
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn help_snapshot() {
    let world = World::start(1, "").await;
    let out = world.crmsync(&["--help"]).await;
    assert_exit(&out, 0);
    insta::assert_snapshot!("help", stdout(&out));
    let out = world.crmsync(&["sync", "--help"]).await;
    assert_exit(&out, 0);
    insta::assert_snapshot!("sync_help", stdout(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_sync_and_conflicts_snapshots() {
    let world = World::start(12, "").await;
    write_export(&world, &agreeing_rows(&world, 10));
    assert_exit(&world.crmsync(&["sync"]).await, 0);
    let prospects = world.fake.prospects();
    let mut rows = read_export(&world);
    rows[0][col("Notes")] = "edited in the CRM".into();
    rows[1][col("Deal Value")] = "777".into();
    write_export(&world, &rows);
    world.fake.edit_context(
        &prospects[1].external_id,
        ContextEdit {
            valuation: Some(Some(888.0)),
            ..ContextEdit::default()
        },
    );
    world.fake.edit_context(
        &prospects[2].external_id,
        ContextEdit {
            notes: Some(Some("edited in Inbox".into())),
            ..ContextEdit::default()
        },
    );
    let plan = world.crmsync(&["plan"]).await;
    assert_exit(&plan, 0);
    insta::assert_snapshot!("plan", masked(&stdout(&plan), &world));
    let sync = world.crmsync(&["sync"]).await;
    assert_exit(&sync, 0);
    insta::assert_snapshot!("sync", masked(&stdout(&sync), &world));
    let list = world.crmsync(&["conflicts", "list"]).await;
    assert_exit(&list, 0);
    insta::assert_snapshot!("conflicts_list", masked(&stdout(&list), &world));
}
