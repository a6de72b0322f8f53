//! `crmsync daemon` end to end: the real binary against the fake Inbox; `--once --now` syncs
//! and exits with the run's code, and a waiting daemon stops cleanly on SIGTERM.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crmsync_fake::inbox_v1::ContextEdit;

use crate::support::{
    TOKEN, TOKEN_ENV, World, agreeing_rows, assert_exit, json, stderr, stdout, write_export,
};

/// The one line a daemon run prints, without its leading timestamp.
fn run_line(text: &str) -> &str {
    let (stamp, rest) = text
        .lines()
        .filter_map(|line| line.split_once(' '))
        .find(|(_, rest)| rest.starts_with("sync "))
        .unwrap_or_else(|| panic!("no run line in:\n{text}"));
    let line = format!("{stamp} {rest}");
    assert!(
        chrono::DateTime::parse_from_rfc3339(stamp).is_ok() && stamp.ends_with('Z'),
        "a UTC timestamp first: {line}"
    );
    rest
}

#[tokio::test(flavor = "multi_thread")]
async fn daemon_once_now_syncs_and_exits_zero() {
    let world = World::start(30, "").await;
    write_export(&world, &agreeing_rows(&world, 20));

    let out = world.crmsync(&["daemon", "--once", "--now"]).await;
    assert_exit(&out, 0);
    // Conflicts (threads of one prospect that disagree) are reported, not failures.
    let text = stdout(&out);
    let line = run_line(&text);
    assert!(
        line.starts_with("sync ok: 0 inbox, 0 crm writes, "),
        "{line}"
    );
    assert!(line.ends_with(" conflicts (run 1)"), "{line}");
    let status = json(&world.crmsync(&["status", "--json"]).await);
    assert_eq!(status["last_run"]["mode"], "sync", "{status}");
    assert_eq!(status["last_run"]["status"], "ok", "{status}");
    assert_eq!(status["mirror"]["links"], 20, "{status}");

    // A change on the Inbox side is carried to the CRM by the next daemon run.
    let prospect = world.fake.prospects().into_iter().next().unwrap();
    world.fake.edit_context(
        &prospect.external_id,
        ContextEdit {
            valuation: Some(Some(4321.5)),
            ..ContextEdit::default()
        },
    );
    let out = world.crmsync(&["daemon", "--once", "--now"]).await;
    assert_exit(&out, 0);
    let text = stdout(&out);
    let line = run_line(&text);
    assert!(
        line.starts_with("sync ok: 0 inbox, 1 crm writes, "),
        "{line}"
    );
    assert!(line.ends_with(" conflicts (run 2)"), "{line}");
    let export = std::fs::read_to_string(world.export()).unwrap();
    assert!(export.contains("4321.5"), "{export}");
}

#[tokio::test(flavor = "multi_thread")]
async fn daemon_once_when_another_run_holds_the_lock_exits_4() {
    let world = World::start(10, "").await;
    write_export(&world, &agreeing_rows(&world, 10));
    let state = world.path().join("state");
    crmsync::engine::prepare_state_dir(&state).unwrap();
    let lock = crmsync::engine::RunLock::acquire(&state).unwrap();

    let out = world.crmsync(&["daemon", "--once", "--now"]).await;
    assert_exit(&out, 4);
    let text = stdout(&out);
    let line = run_line(&text);
    assert!(
        line.starts_with("sync skipped: another crmsync run holds the lock"),
        "{line}"
    );
    assert!(
        stderr(&out).contains("skipped: another run holds the lock"),
        "{}",
        stderr(&out)
    );

    drop(lock);
    assert_exit(&world.crmsync(&["daemon", "--once", "--now"]).await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn daemon_with_a_bad_schedule_is_a_config_error() {
    let world = World::start(5, "\n[schedule]\ncron = \"0 2 * *\"\n").await;
    let out = world.crmsync(&["daemon", "--once", "--now"]).await;
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("cron `0 2 * *`: expected 5 fields"),
        "{}",
        stderr(&out)
    );
    // Parsed once, at config load: the message names the file, the line and the key.
    let text = std::fs::read_to_string(world.config()).unwrap();
    let line = 1 + text.lines().position(|l| l.starts_with("cron =")).unwrap();
    let at = format!("{}:{line}: key `schedule.cron`: ", world.config().display());
    assert!(stderr(&out).contains(&at), "{at}\n{}", stderr(&out));

    world.write_config("\n[schedule]\ntimezone = \"Europe/Berln\"\n");
    let out = world.crmsync(&["daemon", "--once", "--now"]).await;
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("unknown time zone Europe/Berln"),
        "{}",
        stderr(&out)
    );
}

/// Kills the child if the test fails before it exits.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn daemon_stops_at_once_on_sigterm_while_waiting() {
    // Midnight on New Year's Day, Paris time: never due during the test.
    let world = World::start(
        5,
        "\n[schedule]\ncron = \"0 0 1 1 *\"\ntimezone = \"Europe/Paris\"\n",
    )
    .await;
    write_export(&world, &agreeing_rows(&world, 5));
    let mut child = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_crmsync"))
            .arg("--config")
            .arg(world.config())
            .arg("daemon")
            .env(TOKEN_ENV, TOKEN)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("binary starts"),
    );
    let pid = child.0.id();
    let mut reader = BufReader::new(child.0.stdout.take().unwrap());

    let (first_line, reader, child) = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        reader.read_line(&mut line).expect("read stdout");
        assert!(line.contains("next run at"), "first line: {line:?}");
        assert!(line.contains("Europe/Paris"), "first line: {line:?}");

        let kill = Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status()
            .expect("kill runs");
        assert!(kill.success());
        let sent = Instant::now();
        let status = loop {
            if let Some(status) = child.0.try_wait().expect("try_wait") {
                break status;
            }
            assert!(
                sent.elapsed() < Duration::from_secs(10),
                "still running 10 s after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(status.code(), Some(0), "exit status {status:?}");
        (line, reader, child)
    })
    .await
    .expect("join");
    let mut child = child;
    let mut rest = String::new();
    let mut reader = reader;
    reader.read_to_string(&mut rest).unwrap();
    let mut errors = String::new();
    child
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut errors)
        .unwrap();
    assert!(
        first_line.contains(" daemon: schedule `0 0 1 1 *`"),
        "{first_line}"
    );
    assert!(
        rest.contains("daemon: SIGTERM: stopping"),
        "{rest}\n{errors}"
    );
    assert!(rest.contains("stopped by SIGTERM"), "{rest}\n{errors}");
    assert!(!rest.contains("Z sync "), "no run happened: {rest}");
}
