//! The rate budget (issue 9 item 3): `crmsync pull` against a fake Inbox whose limits are
//! scaled down to a few seconds, over runs that need several windows of requests. It spends
//! the budget without a 429; when the limit drops mid-run, or a second client of the team
//! spends part of it, it slows down, honours `Retry-After` and finishes.
//!
//! These tests assert finished work and 429 counts; time only as a loose upper bound (3× the
//! ideal, so a loaded machine passes). The achieved rate is measured by
//! `cargo bench --bench budget`, and by the `#[ignore]`d test at the end.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::{TOKEN, World, assert_exit, json};

/// A world of `prospects` whose fake enforces `limit`, with `[limits]` settings `extra`
/// (e.g. `reserve_ratio = 0.0`).
async fn world(prospects: usize, limit: &str, extra: &str) -> World {
    let world = World::start(prospects, "").await;
    let text = std::fs::read_to_string(world.config()).unwrap().replace(
        "min_interval_ms = 0",
        &format!("min_interval_ms = 0\n{extra}"),
    );
    std::fs::write(world.config(), text).unwrap();
    world.fake.set_rate_limit(limit.parse().unwrap());
    world
}

/// Runs `crmsync pull --json` and checks that it pulled every prospect and thread.
async fn pull(world: &World, prospects: usize) -> (serde_json::Value, Duration) {
    let started = Instant::now();
    let out = world.crmsync(&["pull", "--json"]).await;
    let took = started.elapsed();
    assert_exit(&out, 0);
    let report = json(&out);
    assert_eq!(report["prospects"], prospects as u64, "{report}");
    assert_eq!(
        report["threads"],
        world.fake.thread_count() as u64,
        "{report}"
    );
    (report, took)
}

fn requests(report: &serde_json::Value) -> u64 {
    report["requests"].as_u64().expect("requests in the report")
}

/// Asserts `took` is under three times `ideal` (plus a second for process start-up).
fn not_absurdly_long(took: Duration, ideal: f64, report: &serde_json::Value) {
    let bound = 3.0 * ideal + 1.0;
    eprintln!("took {took:?}, ideal {ideal:.1} s: {report}");
    assert!(
        took.as_secs_f64() < bound,
        "took {took:?}, ideal {ideal:.1} s: {report}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pull_over_several_windows_spends_the_budget_without_a_429() {
    // 40 requests per 2 s for the whole team; 9,000 prospects take ~140 requests (3.5
    // windows). `reserve_ratio = 0`: crmsync may use the whole limit.
    let world = world(9_000, "40/2s", "reserve_ratio = 0.0").await;
    let (report, took) = pull(&world, 9_000).await;
    assert!(requests(&report) >= 120, "{report}");
    assert_eq!(report["rate_limited"], 0, "{report}");
    assert_eq!(world.fake.stats().rate_limited, 0);
    not_absurdly_long(took, requests(&report) as f64 / 20.0, &report);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_limit_lowered_mid_run_slows_the_run_down_and_it_finishes() {
    // 40 per 2 s until the 40th request, then 20 per 2 s: the window already holds more than
    // the new limit, so one 429 is unavoidable; its Retry-After is honoured (ignoring it would
    // meet a 429 per retry and fail the run) and the rest of the run keeps to the new limit.
    let world = world(6_000, "40/2s", "reserve_ratio = 0.0").await;
    let lowered = AtomicBool::new(false);
    let lower = async {
        while !lowered.load(Ordering::Relaxed) {
            if world.fake.stats().requests >= 40 {
                world.fake.set_rate_limit("20/2s".parse().unwrap());
                lowered.store(true, Ordering::Relaxed);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    let run = async {
        let result = pull(&world, 6_000).await;
        lowered.store(true, Ordering::Relaxed);
        result
    };
    let ((report, took), ()) = tokio::join!(run, lower);
    let rate_limited = report["rate_limited"].as_u64().unwrap();
    assert!(rate_limited <= 2, "{report}");
    assert_eq!(world.fake.stats().rate_limited, rate_limited);
    let ideal = 40.0 / 20.0 + (requests(&report) - 40) as f64 / 10.0;
    not_absurdly_long(took, ideal, &report);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_client_spending_the_team_budget_is_left_room() {
    // Another client of the team sends 5 requests a second (a quarter of 40 per 2 s) for as
    // long as crmsync runs, ignoring the headers. crmsync (default `reserve_ratio`, 20 %)
    // takes what is left, and neither meets a 429.
    let world = world(6_000, "40/2s", "").await;
    let done = AtomicBool::new(false);
    let other_requests = AtomicU64::new(0);
    let other_rejected = AtomicU64::new(0);
    let other = async {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::new();
        let url = format!("{}/team", world.fake.base_url());
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while !done.load(Ordering::Relaxed) {
            tick.tick().await;
            let response = http.get(&url).bearer_auth(TOKEN).send().await;
            other_requests.fetch_add(1, Ordering::Relaxed);
            if response.is_ok_and(|r| r.status() == 429) {
                other_rejected.fetch_add(1, Ordering::Relaxed);
            }
        }
    };
    let run = async {
        // Let the other client fill part of the window first.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let result = pull(&world, 6_000).await;
        done.store(true, Ordering::Relaxed);
        result
    };
    let ((report, took), ()) = tokio::join!(run, other);
    let other_rejected = other_rejected.load(Ordering::Relaxed);
    assert_eq!(report["rate_limited"], 0, "{report}");
    assert_eq!(other_rejected, 0, "{report}");
    assert!(other_requests.load(Ordering::Relaxed) >= 5);
    // 40 per 2 s, less the 20 % reserve, less the other client's 5 a second.
    let ideal = requests(&report) as f64 / (20.0 * 0.8 - 5.0);
    not_absurdly_long(took, ideal, &report);
}

/// Timing: the achieved rate, from the fake's first to its last request, is at least 95 % of
/// 100 requests per 10 s over ~350 requests (~35 s). Ignored: a loaded machine can miss it
/// without anything being wrong; `cargo bench --bench budget` reports the same figure.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "timing (~40 s); run with --ignored on an idle machine"]
async fn a_long_pull_reaches_95_percent_of_the_limit() {
    let world = world(22_000, "100/10s", "reserve_ratio = 0.0").await;
    let seen: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let hook_seen = Arc::clone(&seen);
    world.fake.set_hook(move |_, _| {
        hook_seen.lock().unwrap().push(Instant::now());
    });
    let (report, _) = pull(&world, 22_000).await;
    assert_eq!(report["rate_limited"], 0, "{report}");
    let seen = seen.lock().unwrap();
    let span = (*seen.last().unwrap() - seen[0]).as_secs_f64();
    let rate = (seen.len() - 1) as f64 / span / 10.0;
    eprintln!(
        "{} requests in {span:.1} s: {:.1} % of 100 per 10 s",
        seen.len(),
        rate * 100.0
    );
    assert!(rate >= 0.95, "{:.1} % of the limit", rate * 100.0);
    assert!(rate <= 1.0, "{:.1} % of the limit", rate * 100.0);
}
