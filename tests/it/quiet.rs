//! `-q` (the README's cron line): nothing on success, conflicts included; on any non-zero exit
//! exactly one line on stderr and nothing on stdout; `--json` is still printed.

use std::process::Output;

use crmsync_fake::inbox_v1::ContextEdit;

use crate::support::{
    World, agreeing_rows, assert_exit, col, json, read_export, stderr, stdout, write_export,
};

/// A synced world with one open both-changed conflict.
async fn world_with_a_conflict() -> World {
    let world = World::start(40, "").await;
    write_export(&world, &agreeing_rows(&world, 30));
    assert_exit(&world.crmsync(&["sync"]).await, 0);
    let (idx, p) = world
        .fake
        .prospects()
        .into_iter()
        .take(30)
        .enumerate()
        .find(|(_, p)| p.threads.len() == 1 && p.status.is_some())
        .expect("a single-thread prospect with a status");
    world.fake.edit_context(
        &p.external_id,
        ContextEdit {
            valuation: Some(Some(111.0)),
            ..ContextEdit::default()
        },
    );
    let mut rows = read_export(&world);
    rows[idx][col("Deal Value")] = "222".into();
    write_export(&world, &rows);
    world
}

fn assert_silent(out: &Output, what: &str) {
    assert_exit(out, 0);
    assert!(
        out.stdout.is_empty() && out.stderr.is_empty(),
        "-q {what} printed:\nstdout:\n{}\nstderr:\n{}",
        stdout(out),
        stderr(out)
    );
}

/// The one stderr line of a failed quiet command, with stdout empty.
fn one_line(out: &Output, code: i32) -> String {
    assert_exit(out, code);
    assert!(out.stdout.is_empty(), "stdout: {}", stdout(out));
    let err = stderr(out);
    assert_eq!(err.lines().count(), 1, "not one line on stderr:\n{err}");
    err.trim_end().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn quiet_prints_nothing_on_success_even_with_conflicts() {
    let world = world_with_a_conflict().await;
    assert_silent(&world.crmsync(&["-q", "sync"]).await, "sync");
    let conflicts = json(&world.crmsync(&["conflicts", "list", "--json"]).await);
    assert!(
        !conflicts.as_array().unwrap().is_empty(),
        "the run found the conflict: {conflicts}"
    );
    for args in [
        &["plan"][..],
        &["pull"],
        &["check"],
        &["status"],
        &["runs"],
        &["conflicts", "list"],
        &["daemon", "--once", "--now"],
    ] {
        let mut quiet = vec!["-q"];
        quiet.extend_from_slice(args);
        assert_silent(&world.crmsync(&quiet).await, &args.join(" "));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn quiet_still_prints_the_json_it_was_asked_for() {
    let world = world_with_a_conflict().await;
    let out = world.crmsync(&["-q", "sync", "--json"]).await;
    assert_exit(&out, 0);
    assert!(out.stderr.is_empty(), "{}", stderr(&out));
    assert!(json(&out)["conflicts"]["found"].as_u64().unwrap() >= 1);
    let out = world.crmsync(&["-q", "runs", "--json"]).await;
    assert_eq!(json(&out).as_array().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn quiet_safety_stop_is_one_line_on_stderr_and_nothing_on_stdout() {
    let world = World::start(40, "").await;
    write_export(&world, &agreeing_rows(&world, 30));
    assert_exit(&world.crmsync(&["sync"]).await, 0);
    let mut rows = read_export(&world);
    for row in rows.iter_mut().take(20) {
        row[col("Notes")] = "Wiped by a bad export".into();
    }
    write_export(&world, &rows);

    let line = one_line(&world.crmsync(&["-q", "sync"]).await, 3);
    assert!(line.contains("safety limit"), "{line}");
    assert!(line.contains("--force"), "says what to do: {line}");
    let line = one_line(
        &world.crmsync(&["-q", "daemon", "--once", "--now"]).await,
        3,
    );
    assert!(line.contains("stopped"), "{line}");
}

#[tokio::test(flavor = "multi_thread")]
async fn quiet_failures_are_one_line_on_stderr_and_nothing_on_stdout() {
    let world = World::start(10, "").await;
    write_export(&world, &agreeing_rows(&world, 10));
    for args in [&["sync"][..], &["check"], &["daemon", "--once", "--now"]] {
        let mut quiet = vec!["-q"];
        quiet.extend_from_slice(args);
        let out = world.crmsync_with_token(&quiet, Some("wrong")).await;
        let line = one_line(&out, 1);
        assert!(line.contains("token"), "{}: {line}", args.join(" "));
    }
    world.write_config("[safety]\nmax_change_ratio = 7\n");
    let line = one_line(&world.crmsync(&["-q", "sync"]).await, 2);
    assert!(line.contains("max_change_ratio"), "{line}");
    let line = one_line(&world.crmsync(&["-q", "check"]).await, 2);
    assert!(line.contains("max_change_ratio"), "{line}");
}
