//! The team's hour and day windows on Inbox API v2 (issue 17 item 2), through the real binary
//! against the v2 fake: a `429 rateLimited` for the `hour` or `day` window ends the push at once
//! (exit 0 with an `INCOMPLETE` line naming the window and when it reopens, like the request
//! budget), at a whole contact, with the base moved only for what was confirmed; a long window
//! the headers show nearly spent stops the push before it, instead of waiting for it to
//! refill; the same in the pull stops the run with nothing written. A later run, once the
//! window reopened, finishes, and the run after it writes nothing.

use std::process::Output;
use std::time::Duration;

use crmsync_fake::RateLimit;

use crate::support::{TOKEN, TOKEN_ENV, assert_exit, col, json, stderr};
use crate::v2::{V2World, baseline, read_rows, write_rows};

/// A synced world of `n` contacts whose CRM rows then change notes and gain a tag Inbox has:
/// each contact is pushed as one `PATCH /contacts` and one tag `PUT`.
async fn edited(n: usize) -> V2World {
    let (world, contacts) = baseline(n).await;
    let mut rows = read_rows(&world.export());
    for (idx, (row, contact)) in rows.iter_mut().zip(&contacts).enumerate() {
        let (_, tag) = world
            .fake
            .tags()
            .into_iter()
            .find(|(_, name)| !contact.tags.contains(name))
            .unwrap();
        row[col("Notes")] = format!("CRM notes {idx}");
        let mut tags: Vec<String> = row[col("Tags")]
            .split(';')
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect();
        tags.push(tag);
        row[col("Tags")] = tags.join(";");
    }
    write_rows(&world.export(), &rows);
    world
}

/// (contact PATCHes, tag PUTs) the fake has applied.
fn writes(world: &V2World) -> (usize, usize) {
    let log = world.fake.write_log();
    let count = |prefix: &str| log.iter().filter(|w| w.route.starts_with(prefix)).count();
    (count("PATCH /contacts"), count("PUT /contacts"))
}

/// Every edited contact holds its CRM notes and tags, each written once, and a sync after it
/// writes nothing.
async fn assert_finished(world: &V2World, n: usize) {
    let out = world.crmsync(&["sync", "--json"]).await;
    assert_exit(&out, 0);
    let report = json(&out);
    assert!(report["incomplete"].is_null(), "{report}");
    assert_eq!(writes(world), (n, n), "nothing doubled, nothing lost");
    for row in read_rows(&world.export()) {
        let contact = world
            .fake
            .contacts()
            .into_iter()
            .find(|c| crate::v2::x_profile(c).is_some_and(|(id, _)| id == row[col("X User ID")]))
            .unwrap();
        assert_eq!(contact.notes.as_deref(), Some(row[col("Notes")].as_str()));
        let mut tags = contact.tags.clone();
        tags.sort();
        let mut want: Vec<&str> = row[col("Tags")].split(';').collect();
        want.sort();
        assert_eq!(tags, want);
    }
    let again = json(&world.crmsync(&["sync", "--json"]).await);
    assert_eq!(again["writes"]["inbox"], 0, "{again}");
    assert_eq!(again["writes"]["crm"], 0, "{again}");
}

/// The server answers `429 rateLimited` for the hour (`1/1h`) or the day (`1/2h`, named `day`
/// by the fake) at a contact's tag call, right after its PATCH, with nothing in the headers
/// before to warn (another client spent the window): the push ends there, the contacts after it
/// wait, and the next run finishes without sending the PATCH again.
#[tokio::test(flavor = "multi_thread")]
async fn a_429_for_the_hour_or_day_window_ends_the_push_and_the_next_run_finishes() {
    for (limit, window) in [("1/1h", "hour"), ("1/2h", "day")] {
        let world = edited(5).await;
        world.fake.set_rate_limit("100000/2d".parse().unwrap());
        let mut write_calls = 0;
        let tighter: RateLimit = limit.parse().unwrap();
        world.fake.set_hook(move |script, info| {
            if info.method != "GET" {
                write_calls += 1;
                // The 4th write is the second contact's tag call.
                if write_calls == 4 {
                    script.set_rate_limit(tighter.clone());
                }
            }
        });
        let out = world.crmsync(&["sync"]).await;
        assert_exit(&out, 0);
        let text = crate::support::stdout(&out);
        let line = text
            .lines()
            .find(|l| l.starts_with("INCOMPLETE:"))
            .unwrap_or_else(|| panic!("{window}: no INCOMPLETE line:\n{text}"));
        eprintln!("{line}");
        assert!(line.contains(&format!("{window} window")), "{line}");
        assert!(line.contains("reopens at"), "{line}");
        assert!(line.contains("next run"), "{line}");
        assert_eq!(world.fake.stats().rate_limited, 1, "not retried");
        assert_eq!(writes(&world), (2, 1), "{window}");
        let runs = json(&world.crmsync(&["runs", "--json"]).await);
        assert_eq!(runs[0]["exit"], 0, "{runs}");
        assert_eq!(runs[0]["writes"]["inbox"], 3, "{runs}");

        world.fake.clear_hook();
        world.fake.set_rate_limit(RateLimit::Off);
        assert_finished(&world, 5).await;
    }
}

/// Runs `crmsync args`, killed after `secs` seconds: `None` if it had to be (it was waiting).
async fn run_within(world: &V2World, args: &[&str], secs: u64) -> Option<Output> {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_crmsync"));
    cmd.arg("--config")
        .arg(world.config())
        .args(args)
        .env(TOKEN_ENV, TOKEN)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().unwrap();
    let pid = child.id();
    let waiter = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap());
    match tokio::time::timeout(Duration::from_secs(secs), waiter).await {
        Ok(out) => Some(out.unwrap()),
        Err(_) => {
            // The child is ours: stop it by its pid.
            let _ = std::process::Command::new("kill")
                .args(["-9", &pid.to_string()])
                .status();
            None
        }
    }
}

/// A long window (an hour) the headers show nearly spent, with a limit under 1,000 (a test
/// setting): 10 requests, 2 of them kept for people (`reserve_ratio` 0.2). The push stops at
/// the contact that would eat into the reserve, without a 429 and without waiting for the hour
/// to refill; the next run finishes.
#[tokio::test(flavor = "multi_thread")]
async fn a_nearly_spent_long_window_stops_the_push_instead_of_waiting_for_it() {
    let world = edited(6).await;
    let mut writes_seen = 0;
    world.fake.set_hook(move |script, info| {
        if info.method != "GET" {
            writes_seen += 1;
            if writes_seen == 1 {
                script.set_rate_limit("10/1h".parse().unwrap());
            }
        }
    });
    let out = run_within(&world, &["sync", "--json"], 60)
        .await
        .expect("the run waited on the hour window instead of stopping");
    assert_exit(&out, 0);
    let report = json(&out);
    let incomplete = report["incomplete"].as_str().unwrap_or_default();
    eprintln!("{incomplete}");
    assert!(incomplete.contains("reserve_ratio"), "{report}");
    assert_eq!(report["rate_limited"], 0, "{report}");
    // 10 requests, 2 kept: 8, two per contact.
    assert_eq!(writes(&world), (4, 4), "{report}");

    world.fake.clear_hook();
    world.fake.set_rate_limit(RateLimit::Off);
    assert_finished(&world, 6).await;
}

/// The hour window runs out during the pull, by a `429` (`1/1h` set at the run's second
/// request, the window already holding one) or by the headers (`5/1h` set at its first, one
/// request kept for people): the run stops with one error line that names the window and says
/// when to run again, and nothing is written on either side.
#[tokio::test(flavor = "multi_thread")]
async fn an_hour_window_spent_in_the_pull_stops_the_run_with_nothing_written() {
    for (limit, at_request, answered_429) in [("1/1h", 2, 1), ("5/1h", 1, 0)] {
        let world = edited(4).await;
        world.fake.set_rate_limit("100000/2d".parse().unwrap());
        let export_before = std::fs::read(world.export()).unwrap();
        let writes_before = world.fake.write_log().len();
        let mut seen = 0;
        let tighter: RateLimit = limit.parse().unwrap();
        world.fake.set_hook(move |script, _| {
            seen += 1;
            if seen == at_request {
                script.set_rate_limit(tighter.clone());
            }
        });
        let out = run_within(&world, &["sync"], 60)
            .await
            .expect("the run waited on the hour window instead of stopping");
        assert_exit(&out, 1);
        let err = stderr(&out);
        let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error")).collect();
        assert_eq!(errors.len(), 1, "{err}");
        eprintln!("{}", errors[0]);
        assert!(errors[0].contains("hour window"), "{err}");
        assert!(errors[0].contains("reopens at"), "{err}");
        assert!(errors[0].contains("nothing was written"), "{err}");
        assert_eq!(world.fake.stats().rate_limited, answered_429, "{limit}");
        assert_eq!(world.fake.write_log().len(), writes_before);
        assert_eq!(std::fs::read(world.export()).unwrap(), export_before);

        world.fake.clear_hook();
        world.fake.set_rate_limit(RateLimit::Off);
        assert_finished(&world, 4).await;
    }
}
