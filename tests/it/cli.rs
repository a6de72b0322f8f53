//! Command-line surface: `--help`, `runs`, `check`, `status`.

use crate::support::{World, agreeing_rows, assert_exit, json, stdout, write_export};

#[tokio::test(flavor = "multi_thread")]
async fn runs_lists_each_run_with_its_figures() {
    let world = World::start(30, "").await;
    write_export(&world, &agreeing_rows(&world, 20));
    assert_exit(&world.crmsync(&["pull"]).await, 0);
    assert_exit(&world.crmsync(&["sync"]).await, 0);
    let runs = json(&world.crmsync(&["runs", "--json", "--limit", "5"]).await);
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0]["mode"], "sync");
    assert_eq!(runs[1]["mode"], "pull");
    assert_eq!(runs[0]["status"], "ok");
    assert_eq!(runs[0]["exit"], 0);
    assert!(runs[0]["requests"].as_u64().unwrap() >= 8);
    assert!(runs[0]["duration_seconds"].as_f64().is_some());
    let table = stdout(&world.crmsync(&["runs"]).await);
    assert!(table.contains("sync") && table.contains("pull"), "{table}");
}

#[tokio::test(flavor = "multi_thread")]
async fn check_passes_when_everything_is_in_place_and_explains_each_failure() {
    let world = World::start(10, "").await;
    write_export(&world, &agreeing_rows(&world, 10));
    let out = world.crmsync(&["check"]).await;
    assert_exit(&out, 0);
    let text = stdout(&out);
    assert!(text.contains("ok    config"), "{text}");
    assert!(text.contains("ok    Inbox: team"), "{text}");
    assert!(text.contains("requests left"), "{text}");
    assert!(text.contains("10 records"), "{text}");

    // A missing column and a wrong token: both reported, exit 1.
    let export = std::fs::read_to_string(world.export()).unwrap();
    std::fs::write(world.export(), export.replacen("Deal Value", "Amount", 1)).unwrap();
    let out = world.crmsync_with_token(&["check"], Some("wrong")).await;
    assert_exit(&out, 1);
    let text = stdout(&out);
    assert!(text.contains("FAIL  Inbox"), "{text}");
    assert!(text.contains("CRMSYNC_TEST_TOKEN"), "{text}");
    assert!(
        text.contains("FAIL  CRM") && text.contains("Deal Value"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn help_lists_every_command() {
    let world = World::start(1, "").await;
    let out = world.crmsync(&["--help"]).await;
    assert_exit(&out, 0);
    let help = stdout(&out);
    for command in [
        "demo",
        "pull",
        "plan",
        "sync",
        "status",
        "runs",
        "check",
        "conflicts",
        "fake-inbox",
    ] {
        assert!(help.contains(command), "--help lacks {command}:\n{help}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn status_before_any_run_says_so() {
    let world = World::start(1, "").await;
    let status = json(&world.crmsync(&["status", "--json"]).await);
    assert_eq!(status["mirror"]["prospects"], 0);
    assert!(status["last_run"].is_null());
}

#[tokio::test(flavor = "multi_thread")]
async fn status_shows_the_next_scheduled_run_and_quiet_keeps_stderr_empty() {
    let world = World::start(
        10,
        "[schedule]\ncron = \"30 3 * * 1-5\"\ntimezone = \"Europe/Paris\"\n",
    )
    .await;
    write_export(&world, &agreeing_rows(&world, 10));
    let out = world.crmsync(&["--quiet", "sync"]).await;
    assert_exit(&out, 0);
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status = json(&world.crmsync(&["status", "--json"]).await);
    let next = status["next_scheduled_run"].as_str().unwrap();
    let next = chrono::DateTime::parse_from_rfc3339(next).unwrap();
    let paris = next.with_timezone(&chrono_tz::Europe::Paris);
    assert_eq!(paris.format("%H:%M").to_string(), "03:30", "{status}");
    assert!(status["mirror_bytes"].as_u64().unwrap() > 0);
    assert_eq!(status["last_run"]["mode"], "sync");
}

/// A sync that dies before it records itself, which leaves a warning for the next run to give.
async fn sync_killed_before_record(world: &World) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_crmsync"));
    cmd.arg("--config")
        .arg(world.config())
        .arg("sync")
        .env(crate::support::TOKEN_ENV, crate::support::TOKEN)
        .env(crmsync::failpoint::ENV, "before-record");
    let killed = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    assert!(!killed.status.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_terminal_stderr_carries_errors_only_unless_verbose() {
    let world = World::start(10, "").await;
    write_export(&world, &agreeing_rows(&world, 10));
    // A run that dies before it records itself leaves a warning for the next run to give.
    sync_killed_before_record(&world).await;

    // Cron: no terminal, no -v: a clean run prints its summary on stdout and nothing on stderr.
    let quiet = world.crmsync(&["sync"]).await;
    assert_exit(&quiet, 0);
    assert!(
        quiet.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&quiet.stderr)
    );

    // The same warning is there with -v, without colour codes (stderr is not a terminal).
    sync_killed_before_record(&world).await;
    let verbose = world.crmsync(&["-v", "sync"]).await;
    assert_exit(&verbose, 0);
    let err = String::from_utf8_lossy(&verbose.stderr);
    assert!(err.contains("earlier runs were interrupted"), "{err}");
    assert!(
        !err.contains('\u{1b}'),
        "no ANSI escapes in a log file: {err}"
    );
}
