//! Crash safety: SIGKILL the real binary in the middle of pushing, rerun, and compare with a
//! run that was never interrupted.

use std::time::Duration;

use crmsync_fake::inbox_v1::{ContextEdit, Faults};

use crate::support::{
    TOKEN, TOKEN_ENV, World, agreeing_rows, assert_exit, col, inbox_state, json, read_export,
    write_export,
};

/// A baseline-synced world with edits on both sides for many prospects.
async fn edited_world() -> World {
    let world = World::start(120, "").await;
    write_export(&world, &agreeing_rows(&world, 100));
    assert_exit(&world.crmsync(&["sync"]).await, 0);
    let prospects = world.fake.prospects();
    let mut rows = read_export(&world);
    for (idx, p) in prospects.iter().take(100).enumerate() {
        if p.threads.len() != 1 {
            continue;
        }
        if idx % 2 == 0 {
            world.fake.edit_context(
                &p.external_id,
                ContextEdit {
                    notes: Some(Some(format!("Inbox edit {idx}"))),
                    ..ContextEdit::default()
                },
            );
        } else {
            rows[idx][col("Deal Value")] = format!("{}", 1000 + idx);
            rows[idx][col("Tags")] = "Conference;VIP".into();
        }
    }
    write_export(&world, &rows);
    world
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sync_killed_mid_push_converges_to_the_uninterrupted_result() {
    // Reference: never interrupted.
    let reference = edited_world().await;
    let out = reference.crmsync(&["sync", "--force", "--json"]).await;
    assert_exit(&out, 0);
    assert!(json(&out)["writes"]["inbox"].as_u64().unwrap() > 20);
    let expected_inbox = inbox_state(&reference);
    let expected_crm = read_export(&reference);

    for kill_after in [1usize, 7, 19] {
        let world = edited_world().await;
        world.fake.set_faults(Faults {
            latency: Duration::from_millis(15),
            ..Faults::default()
        });
        let writes_before = world.fake.write_log().len();
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_crmsync"))
            .arg("--config")
            .arg(world.config())
            .args(["sync", "--force"])
            .env(TOKEN_ENV, TOKEN)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Wait until the run has made `kill_after` writes, then SIGKILL it.
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while world.fake.write_log().len() < writes_before + kill_after {
            assert!(std::time::Instant::now() < deadline, "the run never wrote");
            if child.try_wait().unwrap().is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        child.kill().unwrap();
        let _ = child.wait();
        world.fake.set_faults(Faults::default());

        let out = world.crmsync(&["sync", "--force", "--json"]).await;
        assert_exit(&out, 0);
        let again = json(&world.crmsync(&["sync", "--json"]).await);
        assert_eq!(
            again["writes"]["inbox"], 0,
            "kill after {kill_after}: {again}"
        );
        assert_eq!(
            again["writes"]["crm"], 0,
            "kill after {kill_after}: {again}"
        );

        assert_eq!(
            inbox_state(&world),
            expected_inbox,
            "kill after {kill_after}"
        );
        assert_eq!(read_export(&world), expected_crm, "kill after {kill_after}");

        // No flapping: every value written to a prospect is its final value.
        let log = world.fake.write_log();
        for write in &log[writes_before..] {
            if let Some(notes) = write.body.get("notes") {
                let target = world.fake.prospect(&write.target_id).unwrap();
                assert_eq!(
                    notes.as_str(),
                    target.notes.as_deref(),
                    "kill after {kill_after}"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_run_is_recorded_as_interrupted_by_the_next_run() {
    let world = edited_world().await;
    world.fake.set_faults(Faults {
        latency: Duration::from_millis(20),
        ..Faults::default()
    });
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_crmsync"))
        .arg("--config")
        .arg(world.config())
        .args(["sync", "--force"])
        .env(TOKEN_ENV, TOKEN)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    child.kill().unwrap();
    let _ = child.wait();
    world.fake.set_faults(Faults::default());
    assert_exit(&world.crmsync(&["sync", "--force"]).await, 0);
    let runs = json(&world.crmsync(&["runs", "--json"]).await);
    let killed = &runs.as_array().unwrap()[1];
    assert_eq!(killed["status"], "failed", "{runs}");
    assert!(
        killed["error"].as_str().unwrap().contains("interrupted"),
        "{runs}"
    );
}
