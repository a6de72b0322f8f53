//! A closed stdout (`crmsync runs --json | head -1`) ends any command quietly with exit 0, where
//! `println!` panicked with "failed printing to stdout: Broken pipe" and exit 101.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Output, Stdio};

use crate::support::{TOKEN, TOKEN_ENV, World, agreeing_rows, col, stderr, write_export};

/// Runs the binary with stdout a pipe whose reader reads `lines` lines and then goes away.
async fn with_stdout_closed_after(world: &World, lines: usize, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_crmsync"));
    cmd.arg("--config")
        .arg(world.config())
        .args(args)
        .env(TOKEN_ENV, TOKEN)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    tokio::task::spawn_blocking(move || {
        let mut child = cmd.spawn().expect("binary runs");
        let mut reader = BufReader::new(child.stdout.take().expect("piped"));
        for _ in 0..lines {
            let mut line = String::new();
            if reader.read_line(&mut line).expect("read") == 0 {
                break;
            }
        }
        drop(reader);
        child.wait_with_output().expect("binary ends")
    })
    .await
    .expect("join")
}

fn assert_quiet_exit(out: &Output, what: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(0), "{what}: {err}");
    assert!(
        !err.contains("panicked") && !err.contains("Broken pipe") && err.is_empty(),
        "{what}: {err}"
    );
}

/// A world with a few hundred open conflicts: far more JSON than a pipe buffers (64 KiB), so
/// the reader is gone while the command is still writing.
async fn world_with_many_conflicts() -> World {
    let world = World::start(300, "").await;
    let mut rows = agreeing_rows(&world, 300);
    for row in &mut rows {
        row[col("Lead Status")] = "Not an Inbox status".into();
    }
    write_export(&world, &rows);
    crate::support::assert_exit(&world.crmsync(&["sync"]).await, 0);
    world
}

#[tokio::test(flavor = "multi_thread")]
async fn a_closed_stdout_ends_every_command_quietly_with_exit_0() {
    let world = world_with_many_conflicts().await;
    let listed = world.crmsync(&["conflicts", "list", "--json"]).await;
    assert!(
        listed.stdout.len() > 128 * 1024,
        "enough output to outgrow the pipe: {} bytes",
        listed.stdout.len()
    );
    // The reader reads one line and goes away.
    for args in [
        &["conflicts", "list", "--json"][..],
        &["conflicts", "list"],
        &["conflicts", "export", "--format", "csv"],
        &["conflicts", "export", "--format", "json"],
    ] {
        let out = with_stdout_closed_after(&world, 1, args).await;
        assert_quiet_exit(&out, &args.join(" "));
    }
    // The reader is gone before the first line.
    for args in [
        &["runs", "--json"][..],
        &["runs"],
        &["status", "--json"],
        &["status"],
        &["plan"],
        &["sync", "--json"],
        &["check"],
        &["daemon", "--once", "--now"],
    ] {
        let out = with_stdout_closed_after(&world, 0, args).await;
        assert_quiet_exit(&out, &args.join(" "));
    }
}
