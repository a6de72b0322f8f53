//! Fault soak (issue 10): the real binary against a fake Inbox that fails 10% of requests,
//! truncates 2% of bodies, answers slowly and throws 429 bursts with `Retry-After`. Every run
//! either succeeds or fails with one clear error line; once the faults stop, a few runs
//! converge to exactly what one run without faults gives, and then nothing is written.

use std::process::Output;
use std::time::{Duration, Instant};

use crmsync_fake::inbox_v1::{ContextEdit, Faults};

use crate::support::{
    TOKEN, World, agreeing_rows, assert_exit, col, inbox_state, json, read_export, stderr,
    write_export,
};

const PROSPECTS: usize = 240;
const LINKED: usize = 200;
/// The test config sets `[limits] backoff_base_ms = 50` (20x faster than the 1 s default), so
/// the soak's retries fit in seconds; `Retry-After` (1 s) is still honoured. Nothing to add.
const LIMITS: &str = "";

/// A baseline-synced world with edits on both sides: Inbox notes and tags, CRM valuations,
/// tags and notes, and Inbox status changes next to CRM notes changes on one prospect.
async fn edited_world() -> World {
    let world = World::start(PROSPECTS, LIMITS).await;
    write_export(&world, &agreeing_rows(&world, LINKED));
    assert_exit(&world.crmsync(&["sync"]).await, 0);
    let prospects = world.fake.prospects();
    let mut rows = read_export(&world);
    for (idx, p) in prospects.iter().take(LINKED).enumerate() {
        if p.threads.len() != 1 {
            continue;
        }
        match idx % 4 {
            0 => world.fake.edit_context(
                &p.external_id,
                ContextEdit {
                    notes: Some(Some(format!("Inbox edit {idx}: called, wants a demo ✓"))),
                    tags_add: Some(vec!["Follow Up".into()]),
                    ..ContextEdit::default()
                },
            ),
            1 => {
                rows[idx][col("Deal Value")] = format!("{}.5", 2000 + idx);
                rows[idx][col("Tags")] = "Conference;VIP".into();
            }
            2 => {
                world.fake.edit_context(
                    &p.external_id,
                    ContextEdit {
                        status: Some(Some("Negotiating".into())),
                        ..ContextEdit::default()
                    },
                );
                rows[idx][col("Notes")] = format!("CRM edit {idx}\nsecond line, \"quoted\"");
            }
            _ => {}
        }
    }
    write_export(&world, &rows);
    world
}

/// Exit 0, or exit 1 with exactly one `error:` line; never a panic or a backtrace, never the
/// token. Returns the error line, if any.
pub(crate) fn assert_clean_outcome(out: &Output, run: usize) -> Option<String> {
    let err = stderr(out);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "run {run}: exit {:?}\n{err}",
        out.status.code()
    );
    for bad in ["panicked", "stack backtrace", "RUST_BACKTRACE", TOKEN] {
        assert!(!err.contains(bad), "run {run}: {bad:?} in stderr:\n{err}");
    }
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error")).collect();
    if out.status.code() == Some(0) {
        assert!(errors.is_empty(), "run {run} exited 0 with:\n{err}");
        return None;
    }
    assert_eq!(
        errors.len(),
        1,
        "run {run}: one error line expected:\n{err}"
    );
    assert!(
        errors[0].len() < 600,
        "run {run}: error line too long:\n{err}"
    );
    Some(errors[0].to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_soak_under_random_faults_converges_to_the_fault_free_result() {
    let started = Instant::now();
    // Reference: the same world and edits, one run, no faults.
    let reference = edited_world().await;
    let out = reference.crmsync(&["sync", "--force", "--json"]).await;
    assert_exit(&out, 0);
    let report = json(&out);
    let planned = report["writes"]["inbox"].as_u64().unwrap();
    assert!(planned > 40, "the soak should push a lot: {report}");
    let expected_open = report["conflicts"]["open"].clone();
    let expected_inbox = inbox_state(&reference);
    let expected_crm = read_export(&reference);
    drop(reference);

    let world = edited_world().await;
    let writes_before = world.fake.write_log().len();
    // (latency ms, 429 burst injected at the 3rd write of the run)
    let schedule: [(u64, usize); 8] = [
        (1, 0),
        (3, 2),
        (0, 0),
        (2, 0),
        (4, 0),
        (1, 3),
        (0, 0),
        (2, 0),
    ];
    let mut failures = Vec::new();
    for (run, &(latency_ms, burst)) in schedule.iter().enumerate() {
        world.fake.set_faults(Faults {
            error_rate: 0.1,
            latency: Duration::from_millis(latency_ms),
            malformed_rate: 0.02,
        });
        let mut patches = 0;
        world.fake.set_hook(move |script, info| {
            if info.method == "PATCH" {
                patches += 1;
                if patches == 3 && burst > 0 {
                    script.fail_next(burst, 429);
                }
            }
        });
        let out = world.crmsync(&["sync", "--force"]).await;
        if let Some(line) = assert_clean_outcome(&out, run) {
            failures.push(line);
        }
    }
    // Failed runs still make progress: what they pushed before failing stays pushed.
    let faulty_writes = world.fake.write_log().len() - writes_before;
    assert!(faulty_writes > 0, "no write got through the faults");

    // A burst longer than the attempts per request: the run gives up cleanly.
    world.fake.clear_hook();
    world.fake.set_faults(Faults::default());
    world.fake.fail_next(5, 429);
    let out = world.crmsync(&["sync", "--force"]).await;
    assert_exit(&out, 1);
    let line = assert_clean_outcome(&out, schedule.len()).unwrap();
    assert!(line.contains("rate limit"), "{line}");
    assert!(
        world.fake.stats().rate_limited >= 5,
        "{:?}",
        world.fake.stats()
    );

    // Faults cleared: a few runs converge, then a run writes nothing.
    let mut converged = false;
    for _ in 0..4 {
        let out = world.crmsync(&["sync", "--force", "--json"]).await;
        assert_exit(&out, 0);
        let report = json(&out);
        if report["writes"]["inbox"] == 0 && report["writes"]["crm"] == 0 {
            converged = true;
            break;
        }
    }
    assert!(converged, "no convergence after the faults stopped");
    let last = world.crmsync(&["sync", "--json"]).await;
    assert_exit(&last, 0);
    let report = json(&last);
    assert_eq!(report["writes"]["inbox"], 0, "{report}");
    assert_eq!(report["writes"]["crm"], 0, "{report}");
    assert_eq!(report["conflicts"]["open"], expected_open, "{report}");

    // Nothing lost, nothing doubled: both sides hold what the fault-free run produced.
    assert_eq!(inbox_state(&world), expected_inbox);
    assert_eq!(read_export(&world), expected_crm);

    // No flapping: every notes value written to a prospect is its final value.
    let log = world.fake.write_log();
    for write in &log[writes_before..] {
        if let Some(notes) = write.body.get("notes") {
            let target = world.fake.prospect(&write.target_id).unwrap();
            assert_eq!(notes.as_str(), target.notes.as_deref(), "{write:?}");
        }
    }
    let stats = world.fake.stats();
    eprintln!(
        "soak: {} of {} runs failed, {faulty_writes} writes got through the faults, \
         {} requests, {} 5xx, {} 429, {:.1} s; errors: {:?}",
        failures.len(),
        schedule.len(),
        stats.requests,
        stats.server_errors,
        stats.rate_limited,
        started.elapsed().as_secs_f64(),
        failures
    );
    assert!(
        stats.server_errors > 10,
        "the faults did not bite: {stats:?}"
    );
}

/// Crash at any point, not only mid-push: the run is SIGKILLed at fractions of its own
/// duration (pull, read, push to Inbox, CRM rewrite, record), then rerun until quiet.
#[tokio::test(flavor = "multi_thread")]
async fn a_sync_killed_at_any_moment_converges_to_the_fault_free_result() {
    let slow = Faults {
        latency: Duration::from_millis(2),
        ..Faults::default()
    };
    let reference = edited_world().await;
    reference.fake.set_faults(slow.clone());
    let started = Instant::now();
    assert_exit(&reference.crmsync(&["sync", "--force"]).await, 0);
    let duration = started.elapsed();
    let expected_inbox = inbox_state(&reference);
    let expected_crm = read_export(&reference);
    drop(reference);

    for percent in [3u32, 20, 45, 70, 90, 99, 102] {
        let world = edited_world().await;
        world.fake.set_faults(slow.clone());
        let writes_before = world.fake.write_log().len();
        let export_before = std::fs::read(world.export()).unwrap();
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_crmsync"))
            .arg("--config")
            .arg(world.config())
            .args(["sync", "--force"])
            .env(crate::support::TOKEN_ENV, TOKEN)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        tokio::time::sleep(duration * percent / 100).await;
        child.kill().unwrap();
        let _ = child.wait();
        let pushed = world.fake.write_log().len() - writes_before;
        let crm_written = std::fs::read(world.export()).unwrap() != export_before;
        world.fake.set_faults(Faults::default());

        let mut quiet = false;
        for _ in 0..3 {
            let out = world.crmsync(&["sync", "--force", "--json"]).await;
            assert_exit(&out, 0);
            let report = json(&out);
            if report["writes"]["inbox"] == 0 && report["writes"]["crm"] == 0 {
                quiet = true;
                break;
            }
        }
        let at =
            format!("killed at {percent}% ({pushed} Inbox writes, CRM written: {crm_written})");
        assert!(quiet, "{at}: no convergence");
        assert_eq!(inbox_state(&world), expected_inbox, "{at}");
        assert_eq!(read_export(&world), expected_crm, "{at}");
        let strays: Vec<String> = std::fs::read_dir(world.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.contains("crmsync-tmp"))
            .collect();
        eprintln!("{at}; stray temp files: {strays:?}");
    }
}
