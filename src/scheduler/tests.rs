//! Scheduler tests: schedule arithmetic on fixed instants, and the loop under tokio's paused
//! clock (`start_paused`), where sleeps auto-advance and nothing really waits.

use std::cell::{Cell, RefCell};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};

use super::*;

/// A UTC instant.
fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
}

/// The next `n` ticks after `from`, each searched from the previous one.
fn ticks(cron: &str, tz: &str, from: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
    let schedule = Schedule::parse(cron, tz).unwrap();
    let mut out = Vec::new();
    let mut cursor = from;
    for _ in 0..n {
        cursor = schedule.next_after(cursor).expect("a next tick");
        out.push(cursor);
    }
    out
}

fn parse_err(cron: &str, tz: &str) -> String {
    Schedule::parse(cron, tz).expect_err("should not parse")
}

fn hours(n: u64) -> Duration {
    Duration::from_secs(n * 3600)
}

fn minutes(n: u64) -> Duration {
    Duration::from_secs(n * 60)
}

#[test]
fn daily_at_two_in_utc() {
    assert_eq!(
        ticks("0 2 * * *", "UTC", at(2026, 11, 25, 10, 0), 3),
        [
            at(2026, 11, 26, 2, 0),
            at(2026, 11, 27, 2, 0),
            at(2026, 11, 28, 2, 0)
        ]
    );
    let schedule = Schedule::parse("0 2 * * *", "UTC").unwrap();
    // Strictly after: a tick is not its own successor.
    assert_eq!(
        schedule.next_after(at(2026, 11, 26, 2, 0)),
        Some(at(2026, 11, 27, 2, 0))
    );
    // Sub-second readings on either side of a tick.
    let just_before = at(2026, 11, 26, 1, 59) + chrono::Duration::milliseconds(59_500);
    assert_eq!(
        schedule.next_after(just_before),
        Some(at(2026, 11, 26, 2, 0))
    );
    let just_after = at(2026, 11, 26, 2, 0) + chrono::Duration::milliseconds(500);
    assert_eq!(
        schedule.next_after(just_after),
        Some(at(2026, 11, 27, 2, 0))
    );
}

#[test]
fn daily_at_two_in_paris_across_both_dst_changes() {
    // 2026-03-29: 02:00 CET jumps to 03:00 CEST, so 02:00 does not exist that day and the run
    // comes right after the gap (03:00 CEST = 01:00Z), once.
    assert_eq!(
        ticks("0 2 * * *", "Europe/Paris", at(2026, 3, 27, 12, 0), 3),
        [
            at(2026, 3, 28, 1, 0), // 02:00 CET
            at(2026, 3, 29, 1, 0), // 03:00 CEST, just after the gap
            at(2026, 3, 30, 0, 0), // 02:00 CEST
        ]
    );
    // 2026-10-25: 03:00 CEST falls back to 02:00 CET, so 02:00 happens twice; a fixed-time job
    // runs once, on the first pass.
    assert_eq!(
        ticks("0 2 * * *", "Europe/Paris", at(2026, 10, 24, 12, 0), 3),
        [
            at(2026, 10, 25, 0, 0), // 02:00 CEST
            at(2026, 10, 26, 1, 0), // 02:00 CET
            at(2026, 10, 27, 1, 0),
        ]
    );
    // Searching from inside the repeated hour (after a run that took 20 minutes) does not
    // find the second 02:00.
    let schedule = Schedule::parse("0 2 * * *", "Europe/Paris").unwrap();
    assert_eq!(
        schedule.next_after(at(2026, 10, 25, 0, 20)),
        Some(at(2026, 10, 26, 1, 0))
    );
}

#[test]
fn weekdays_follow_crontab_numbering() {
    // 2026-11-27 is a Friday.
    assert_eq!(
        ticks("0 9 * * 1-5", "UTC", at(2026, 11, 27, 10, 0), 2),
        [at(2026, 11, 30, 9, 0), at(2026, 12, 1, 9, 0)]
    );
    assert_eq!(
        ticks("0 9 * * MON-FRI", "UTC", at(2026, 11, 27, 10, 0), 1),
        [at(2026, 11, 30, 9, 0)]
    );
    // 0 and 7 are both Sunday (2026-11-29).
    for sunday in ["0", "7", "SUN"] {
        assert_eq!(
            ticks(
                &format!("0 9 * * {sunday}"),
                "UTC",
                at(2026, 11, 25, 0, 0),
                1
            ),
            [at(2026, 11, 29, 9, 0)],
            "{sunday}"
        );
    }
    // Both day fields restricted: either one matches (Vixie cron), here the 1st or a Monday.
    assert_eq!(
        ticks("0 0 1 * 1", "UTC", at(2026, 11, 24, 12, 0), 3),
        [
            at(2026, 11, 30, 0, 0),
            at(2026, 12, 1, 0, 0),
            at(2026, 12, 7, 0, 0)
        ]
    );
}

#[test]
fn every_fifteen_minutes() {
    assert_eq!(
        ticks("*/15 * * * *", "UTC", at(2026, 11, 25, 10, 7), 4),
        [
            at(2026, 11, 25, 10, 15),
            at(2026, 11, 25, 10, 30),
            at(2026, 11, 25, 10, 45),
            at(2026, 11, 25, 11, 0)
        ]
    );
}

#[test]
fn nicknames_are_accepted() {
    assert_eq!(
        ticks("@daily", "UTC", at(2026, 11, 25, 10, 0), 1),
        [at(2026, 11, 26, 0, 0)]
    );
}

#[test]
fn bad_cron_says_what_is_wrong() {
    let err = parse_err("0 2 * *", "UTC");
    assert!(
        err.starts_with("cron `0 2 * *`: expected 5 fields"),
        "{err}"
    );
    assert!(err.contains("found 4"), "{err}");
    let err = parse_err("0 0 2 * * *", "UTC");
    assert!(err.contains("seconds and years are not supported"), "{err}");
    assert!(parse_err("", "UTC").contains("found 0"));
    let err = parse_err("61 2 * * *", "UTC");
    assert!(err.contains("minute field `61`"), "{err}");
    assert!(err.contains("0-59"), "{err}");
    let err = parse_err("0 2 * * 8", "UTC");
    assert!(err.contains("day-of-week field `8`"), "{err}");
    let err = parse_err("0 x * * *", "UTC");
    assert!(err.contains("hour field `x`"), "{err}");
    let err = parse_err("5/5 * * * *", "UTC");
    assert!(err.contains("minute field `5/5`"), "{err}");
    let err = parse_err("0 2 31 2 *", "UTC");
    assert!(err.contains("never matches"), "{err}");
    let err = parse_err("@sometimes", "UTC");
    assert!(err.contains("unknown nickname"), "{err}");
}

#[test]
fn bad_time_zone_says_what_is_wrong() {
    let err = parse_err("0 2 * * *", "Europe/Berln");
    assert!(err.starts_with("unknown time zone Europe/Berln"), "{err}");
    assert!(err.contains("did you mean Europe/Berlin?"), "{err}");
    let err = parse_err("0 2 * * *", "utc");
    assert!(err.contains("did you mean UTC?"), "{err}");
    let err = parse_err("0 2 * * *", "Mars/Olympus_Mons");
    assert!(!err.contains("did you mean"), "{err}");
    // The cron is checked first.
    assert!(parse_err("0 2 * *", "Nowhere").starts_with("cron"));
}

#[test]
fn schedule_shows_itself() {
    let schedule = Schedule::parse(" 0 2 * * * ", "Europe/Paris").unwrap();
    assert_eq!(schedule.to_string(), "`0 2 * * *` (Europe/Paris)");
    assert_eq!(schedule.expression(), "0 2 * * *");
    assert_eq!(schedule.time_zone(), chrono_tz::Europe::Paris);
}

#[tokio::test(start_paused = true)]
async fn tokio_clock_follows_paused_time() {
    let clock = TokioClock::starting_at(at(2026, 11, 25, 12, 0));
    assert_eq!(clock.now(), at(2026, 11, 25, 12, 0));
    tokio::time::advance(hours(3)).await;
    assert_eq!(clock.now(), at(2026, 11, 25, 15, 0));
}

#[tokio::test(start_paused = true)]
async fn runs_the_job_at_each_tick() {
    let clock = TokioClock::starting_at(at(2026, 11, 25, 12, 0));
    let schedule = Schedule::parse("0 2 * * *", "UTC").unwrap();
    let seen = RefCell::new(Vec::new());
    let (seen_ref, clock_ref) = (&seen, &clock);
    let summary = run(
        &schedule,
        &clock,
        move || {
            seen_ref.borrow_mut().push(clock_ref.now());
            async { JobOutcome::Done }
        },
        tokio::time::sleep(hours(10 * 24)),
    )
    .await;
    let expected: Vec<_> = (0..10)
        .map(|day| at(2026, 11, 26, 2, 0) + chrono::Duration::days(day))
        .collect();
    assert_eq!(*seen.borrow(), expected);
    assert_eq!(summary.runs, 10);
    assert_eq!(summary.done, 10);
    assert_eq!(summary.last, Some(JobOutcome::Done));
    assert_eq!(summary.ended, Ended::Shutdown);
    assert_eq!(clock.now(), at(2026, 12, 5, 12, 0));
}

#[tokio::test(start_paused = true)]
async fn a_failing_job_does_not_stop_the_loop() {
    let clock = TokioClock::starting_at(at(2026, 11, 25, 12, 0));
    let schedule = Schedule::parse("0 2 * * *", "UTC").unwrap();
    let calls = Cell::new(0);
    let calls_ref = &calls;
    let summary = run(
        &schedule,
        &clock,
        move || {
            calls_ref.set(calls_ref.get() + 1);
            let n = calls_ref.get();
            async move {
                if n % 2 == 1 {
                    JobOutcome::Failed(format!("boom {n}"))
                } else {
                    JobOutcome::Done
                }
            }
        },
        tokio::time::sleep(hours(6 * 24)),
    )
    .await;
    assert_eq!(calls.get(), 6);
    assert_eq!(summary.failed, 3);
    assert_eq!(summary.done, 3);
    assert_eq!(summary.ended, Ended::Shutdown);
}

#[tokio::test(start_paused = true)]
async fn a_locked_out_run_is_skipped_and_the_loop_carries_on() {
    let clock = TokioClock::starting_at(at(2026, 11, 25, 12, 0));
    let schedule = Schedule::parse("0 2 * * *", "UTC").unwrap();
    let summary = run(
        &schedule,
        &clock,
        || async { JobOutcome::Locked },
        tokio::time::sleep(hours(3 * 24)),
    )
    .await;
    assert_eq!(summary.runs, 3);
    assert_eq!(summary.locked, 3);
    assert_eq!(summary.failed, 0);
    assert_eq!(summary.last, Some(JobOutcome::Locked));
}

#[tokio::test(start_paused = true)]
async fn shutdown_while_idle_returns_at_once() {
    let clock = TokioClock::starting_at(at(2026, 11, 25, 12, 0));
    let schedule = Schedule::parse("0 2 * * *", "UTC").unwrap();
    let summary = run(
        &schedule,
        &clock,
        || async { panic!("no tick is due") },
        tokio::time::sleep(hours(1)),
    )
    .await;
    assert_eq!(summary.runs, 0);
    assert_eq!(summary.ended, Ended::Shutdown);
    // It returned when shutdown came, not at the next tick.
    assert_eq!(clock.now(), at(2026, 11, 25, 13, 0));

    // A shutdown that is already complete stops it without any wait.
    let summary = run(
        &schedule,
        &clock,
        || async { panic!("no tick is due") },
        std::future::ready(()),
    )
    .await;
    assert_eq!(summary.runs, 0);
    assert_eq!(clock.now(), at(2026, 11, 25, 13, 0));
}

#[tokio::test(start_paused = true)]
async fn shutdown_during_a_run_waits_for_the_run() {
    let clock = TokioClock::starting_at(at(2026, 11, 25, 1, 59));
    let schedule = Schedule::parse("0 2 * * *", "UTC").unwrap();
    let finished = Cell::new(false);
    let finished_ref = &finished;
    let summary = run(
        &schedule,
        &clock,
        move || async move {
            tokio::time::sleep(minutes(14)).await;
            finished_ref.set(true);
            JobOutcome::Done
        },
        // Shutdown at 02:10, in the middle of the 02:00 run, which ends within the grace
        // period.
        tokio::time::sleep(minutes(11)),
    )
    .await;
    assert!(finished.get());
    assert_eq!(summary.runs, 1);
    assert_eq!(summary.done, 1);
    assert_eq!(summary.ended, Ended::Shutdown);
    assert_eq!(clock.now(), at(2026, 11, 25, 2, 14));
}

#[tokio::test(start_paused = true)]
async fn a_run_that_outlasts_the_grace_period_is_dropped() {
    let clock = TokioClock::starting_at(at(2026, 11, 25, 1, 59));
    let schedule = Schedule::parse("0 2 * * *", "UTC").unwrap();
    let finished = Cell::new(false);
    let finished_ref = &finished;
    let options = DaemonOptions {
        grace: minutes(5),
        ..DaemonOptions::default()
    };
    let summary = run_with(
        &schedule,
        &clock,
        move || async move {
            tokio::time::sleep(hours(2)).await;
            finished_ref.set(true);
            JobOutcome::Done
        },
        tokio::time::sleep(minutes(11)),
        &options,
    )
    .await;
    assert!(!finished.get());
    assert_eq!(summary.runs, 1);
    assert_eq!(summary.done, 0);
    assert_eq!(summary.last, None);
    assert_eq!(summary.ended, Ended::Abandoned);
    assert_eq!(clock.now(), at(2026, 11, 25, 2, 15));
}

#[tokio::test(start_paused = true)]
async fn an_overrunning_run_skips_the_missed_tick_and_never_overlaps() {
    let clock = TokioClock::starting_at(at(2026, 11, 25, 1, 30));
    let schedule = Schedule::parse("0 * * * *", "UTC").unwrap();
    let started = RefCell::new(Vec::new());
    let running = Cell::new(false);
    let (started_ref, running_ref, clock_ref) = (&started, &running, &clock);
    let summary = run(
        &schedule,
        &clock,
        move || {
            let first = started_ref.borrow().is_empty();
            started_ref.borrow_mut().push(clock_ref.now());
            async move {
                assert!(!running_ref.replace(true), "runs overlap");
                // The first run takes 90 minutes and so overruns the 03:00 tick.
                let length = if first { minutes(90) } else { minutes(5) };
                tokio::time::sleep(length).await;
                running_ref.set(false);
                JobOutcome::Done
            }
        },
        tokio::time::sleep(hours(4)), // 05:30
    )
    .await;
    assert_eq!(
        *started.borrow(),
        [
            at(2026, 11, 25, 2, 0),
            at(2026, 11, 25, 4, 0),
            at(2026, 11, 25, 5, 0)
        ]
    );
    assert_eq!(summary.missed_ticks, 1);
    assert_eq!(summary.runs, 3);
    assert_eq!(summary.ended, Ended::Shutdown);
}

#[tokio::test(start_paused = true)]
async fn run_once_waits_for_the_next_tick_and_runs_one_job() {
    let clock = TokioClock::starting_at(at(2026, 11, 25, 12, 0));
    let schedule = Schedule::parse("0 2 * * *", "UTC").unwrap();
    let seen = RefCell::new(Vec::new());
    let (seen_ref, clock_ref) = (&seen, &clock);
    let summary = run_once(
        &schedule,
        &clock,
        move || {
            seen_ref.borrow_mut().push(clock_ref.now());
            async { JobOutcome::Failed("CRM export missing".into()) }
        },
        std::future::pending(),
    )
    .await;
    assert_eq!(*seen.borrow(), [at(2026, 11, 26, 2, 0)]);
    assert_eq!(summary.ended, Ended::Once);
    assert_eq!(
        summary.last,
        Some(JobOutcome::Failed("CRM export missing".into()))
    );
    assert_eq!(clock.now(), at(2026, 11, 26, 2, 0));
}

#[tokio::test(start_paused = true)]
async fn run_once_stopped_before_the_tick_runs_nothing() {
    let clock = TokioClock::starting_at(at(2026, 11, 25, 12, 0));
    let schedule = Schedule::parse("0 2 * * *", "UTC").unwrap();
    let summary = run_once(
        &schedule,
        &clock,
        || async { panic!("stopped before the tick") },
        tokio::time::sleep(minutes(1)),
    )
    .await;
    assert_eq!(summary.runs, 0);
    assert_eq!(summary.last, None);
    assert_eq!(summary.ended, Ended::Shutdown);
}

#[tokio::test(start_paused = true)]
async fn start_now_runs_at_once_then_follows_the_schedule() {
    let clock = TokioClock::starting_at(at(2026, 11, 25, 12, 0));
    let schedule = Schedule::parse("0 2 * * *", "UTC").unwrap();
    let seen = RefCell::new(Vec::new());
    let (seen_ref, clock_ref) = (&seen, &clock);
    let job = move || {
        seen_ref.borrow_mut().push(clock_ref.now());
        async { JobOutcome::Done }
    };

    let once_now = DaemonOptions {
        once: true,
        start_now: true,
        ..DaemonOptions::default()
    };
    let summary = run_with(&schedule, &clock, job, std::future::pending(), &once_now).await;
    assert_eq!(*seen.borrow(), [at(2026, 11, 25, 12, 0)]);
    assert_eq!(summary.ended, Ended::Once);
    assert_eq!(clock.now(), at(2026, 11, 25, 12, 0));

    seen.borrow_mut().clear();
    let now_then_schedule = DaemonOptions {
        start_now: true,
        ..DaemonOptions::default()
    };
    let summary = run_with(
        &schedule,
        &clock,
        job,
        tokio::time::sleep(hours(24)),
        &now_then_schedule,
    )
    .await;
    assert_eq!(
        *seen.borrow(),
        [at(2026, 11, 25, 12, 0), at(2026, 11, 26, 2, 0)]
    );
    assert_eq!(summary.runs, 2);
    assert_eq!(summary.missed_ticks, 0);
}
