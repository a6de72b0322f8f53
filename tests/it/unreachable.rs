//! An API that cannot be reached (nothing listens, the host does not resolve) fails the run at
//! once with one line naming the URL, where it retried five times in silence and then printed
//! reqwest's whole chain; retries of transient errors are logged as warnings.

use std::process::Output;

use crate::support::{World, agreeing_rows, assert_exit, stderr, stdout, write_export};

/// A world whose config points Inbox at `base_url` instead of the fake.
async fn world_pointing_at(base_url: &str) -> World {
    let world = World::start(5, "").await;
    write_export(&world, &agreeing_rows(&world, 5));
    let config = std::fs::read_to_string(world.config()).unwrap();
    let config = config.replace(&world.fake.base_url(), base_url);
    std::fs::write(world.config(), config).unwrap();
    world
}

/// The one stderr line of a failed command.
fn one_line(out: &Output) -> String {
    assert_exit(out, 1);
    let err = stderr(out);
    assert_eq!(err.lines().count(), 1, "not one line on stderr:\n{err}");
    err.trim_end().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_inbox_that_refuses_connections_fails_at_once_with_one_line_naming_the_url() {
    let url = "http://127.0.0.1:1/api/v1";
    let world = world_pointing_at(url).await;
    let line = one_line(&world.crmsync(&["sync"]).await);
    assert_eq!(
        line,
        format!(
            "error: cannot reach Inbox at {url} (connection refused): is [inbox] base_url right and the service running?"
        )
    );
    // One attempt, not five: the debug log has one failed request and no retry.
    let out = world.crmsync(&["-vv", "sync"]).await;
    assert_exit(&out, 1);
    let log = stderr(&out);
    assert_eq!(log.matches("Inbox request failed").count(), 1, "{log}");
    assert!(!log.contains("retrying"), "{log}");
    // `check` says why, not only "failed after 5 attempts".
    let out = world.crmsync(&["check"]).await;
    assert_exit(&out, 1);
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "FAIL  Inbox: cannot reach Inbox at {url} (connection refused)"
        )),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_inbox_host_that_does_not_resolve_fails_at_once_with_one_line_naming_the_url() {
    // RFC 2606: `.invalid` resolves nowhere.
    let url = "http://crmsync-test.invalid/api/v1";
    let world = world_pointing_at(url).await;
    let line = one_line(&world.crmsync(&["sync"]).await);
    assert!(
        line.contains(&format!("cannot reach Inbox at {url} (host not found)"))
            && line.contains("base_url"),
        "{line}"
    );
    let out = world.crmsync(&["check"]).await;
    assert_exit(&out, 1);
    assert!(
        stdout(&out).contains("(host not found)"),
        "{}",
        stdout(&out)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn retries_of_transient_errors_are_warnings_that_name_the_cause() {
    let world = World::start(5, "").await;
    write_export(&world, &agreeing_rows(&world, 5));
    world.fake.fail_next(2, 503);
    let out = world.crmsync(&["-v", "sync"]).await;
    assert_exit(&out, 0);
    let log = stderr(&out);
    let retries: Vec<&str> = log.lines().filter(|l| l.contains("retrying in")).collect();
    assert_eq!(retries.len(), 2, "{log}");
    assert!(
        retries
            .iter()
            .all(|l| l.contains("WARN") && l.contains("server error (503)")),
        "{log}"
    );
    assert!(retries[1].contains("attempt 3 of"), "{log}");
}
