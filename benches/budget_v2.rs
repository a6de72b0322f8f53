//! Rate-budget benchmark on Inbox API v2: how much of the rate limit `crmsync pull` achieves,
//! and how many 429s it meets, against the in-process v2 fake (`crmsync_fake::inbox_v2`, 3 X
//! accounts and 1 LinkedIn account) with its limits scaled down. The v1 counterpart is
//! `benches/budget.rs`; the scenarios and their sizes are the same.
//!
//! `cargo bench --bench budget_v2` runs five scenarios with the real binary (a full pull, which
//! needs several windows of requests) and prints, for each: the limit and its window,
//! crmsync's requests, the seconds from the first to the last request, the achieved rate as a
//! share of the limit, and 429s (crmsync's, and the other client's where there is one):
//!
//! * `alone`: `reserve_ratio = 0`: the target is the whole limit (≥ 95 %).
//! * `reserve`: the default `reserve_ratio = 0.2`: the target is 80 % of the limit.
//! * `second client`: another client of the team spends 30 % of the limit throughout, ignoring
//!   the headers; crmsync's share is what the reserve and the other client leave.
//! * `lowered`: the limit halves a third of the way through the run.
//! * `two windows`: v2 enforces several windows at once (minute, hour, day); here the limit plus
//!   a second window three times as long that allows as many requests, so the long one binds
//!   (a third of the short one's rate) once its first window is spent; the full-size pull spans
//!   about three long windows. The share is against the binding rate, so the first long
//!   window's allowance, spent at the short window's pace, shows as a little over 100 %.
//!
//! `CRMSYNC_BUDGET_LIMIT` (default `100/10s`) and `CRMSYNC_BUDGET_CONTACTS` (default 22000,
//! ~330 requests; `alone` and `two windows` use it, the others half) change the sizes. The table is also written as
//! JSON to `target/bench-budget-v2.json` (under `CARGO_TARGET_DIR` when set).

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crmsync_fake::RateLimit;
use crmsync_fake::inbox_v2::{Accounts, FakeConfig, FakeInboxV2};

const TOKEN: &str = "bench-token";
/// The route the second client calls; crmsync's pull never does.
const OTHER_ROUTE: &str = "/members/{memberId}";

fn config(base_url: &str, reserve_ratio: f64) -> String {
    format!(
        r#"[inbox]
base_url = "{base_url}"
token_env = "CRMSYNC_BENCH_TOKEN"
[crm]
kind = "csv"
[crm.csv]
path = "crm_export.csv"
write_mode = "in-place"
{columns}[limits]
min_interval_ms = 0
reserve_ratio = {reserve_ratio}
"#,
        columns = crmsync::demo::CSV_COLUMNS_TOML
    )
}

/// One scenario's figures.
struct Outcome {
    requests: u64,
    seconds: f64,
    share: f64,
    rate_limited: u64,
    other_requests: u64,
    other_rejected: u64,
}

#[derive(Clone, Copy, PartialEq)]
enum Scenario {
    Alone,
    Reserve,
    SecondClient,
    Lowered,
    TwoWindows,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::Alone => "alone",
            Scenario::Reserve => "reserve",
            Scenario::SecondClient => "second client",
            Scenario::Lowered => "lowered",
            Scenario::TwoWindows => "two windows",
        }
    }

    fn reserve_ratio(self) -> f64 {
        if self == Scenario::Alone { 0.0 } else { 0.2 }
    }

    /// The fake's limit for this scenario, from the bench's one window.
    fn limit(self, max: u32, window: Duration) -> RateLimit {
        let mut windows = vec![(max, window)];
        if self == Scenario::TwoWindows {
            windows.push((max, 3 * window));
        }
        RateLimit::Windows(windows)
    }

    /// Requests per second the scenario's tightest window allows in the long run.
    fn binding_rate(self, max: u32, window: Duration) -> f64 {
        let RateLimit::Windows(windows) = self.limit(max, window) else {
            unreachable!("the bench's limits have windows");
        };
        (windows.iter())
            .map(|(n, w)| f64::from(*n) / w.as_secs_f64())
            .fold(f64::INFINITY, f64::min)
    }
}

/// Runs `crmsync pull --json --full` in `dir`.
fn pull(dir: &Path) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_crmsync"))
        .arg("--config")
        .arg(dir.join("sync.toml"))
        .args(["pull", "--json", "--full"])
        .env("CRMSYNC_BENCH_TOKEN", TOKEN)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

async fn run(scenario: Scenario, limit: &RateLimit, contacts: usize) -> Outcome {
    let RateLimit::Windows(windows) = limit else {
        panic!("the benchmark needs a limit, not {limit}");
    };
    let (max, window) = windows[0];
    let limit = scenario.limit(max, window);
    let fake = Arc::new(
        FakeInboxV2::start(FakeConfig {
            token: TOKEN.into(),
            contacts,
            accounts: Accounts { x: 3, linkedin: 1 },
            seed: 42,
            rate_limit: limit,
            ..FakeConfig::default()
        })
        .await
        .unwrap(),
    );
    let dir = std::env::temp_dir().join(format!(
        "crmsync-bench-budget-v2-{}-{}",
        std::process::id(),
        scenario.name().replace(' ', "-")
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("sync.toml"),
        config(&fake.base_url(), scenario.reserve_ratio()),
    )
    .unwrap();
    std::fs::write(
        dir.join("crm_export.csv"),
        "Record ID,X User ID,X Handle,Tags,Lead Status,Deal Value,Notes,Owner Email,Done\n",
    )
    .unwrap();

    // Arrival times of crmsync's requests (everything but the second client's route).
    let seen: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let hook_seen = Arc::clone(&seen);
    fake.set_hook(move |_, info| {
        if info.route != OTHER_ROUTE {
            hook_seen.lock().unwrap().push(Instant::now());
        }
    });

    let done = Arc::new(AtomicBool::new(false));
    let other_requests = Arc::new(AtomicU64::new(0));
    let other_rejected = Arc::new(AtomicU64::new(0));
    let background = match scenario {
        Scenario::SecondClient => {
            let (done, sent, rejected) = (
                Arc::clone(&done),
                Arc::clone(&other_requests),
                Arc::clone(&other_rejected),
            );
            let member = fake.members()[0].0.clone();
            let url = format!("{}/members/{member}", fake.base_url());
            // 30 % of the limit.
            let every = window.mul_f64(1.0 / (0.3 * f64::from(max)));
            Some(tokio::spawn(async move {
                let http = reqwest::Client::new();
                let mut tick = tokio::time::interval(every);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                while !done.load(Ordering::Relaxed) {
                    tick.tick().await;
                    let response = http.get(&url).bearer_auth(TOKEN).send().await;
                    sent.fetch_add(1, Ordering::Relaxed);
                    if response.is_ok_and(|r| r.status() == 429) {
                        rejected.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }))
        }
        Scenario::Lowered => {
            let (done, fake, seen) = (Arc::clone(&done), Arc::clone(&fake), Arc::clone(&seen));
            let expected = estimated_requests(&fake);
            let halved = RateLimit::Windows(vec![(max / 2, window)]);
            Some(tokio::spawn(async move {
                while !done.load(Ordering::Relaxed) {
                    if seen.lock().unwrap().len() as u64 >= expected / 3 {
                        fake.set_rate_limit(halved);
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }))
        }
        _ => None,
    };
    if scenario == Scenario::SecondClient {
        // Let the other client fill its part of the window first.
        tokio::time::sleep(window).await;
    }

    let dir_for_run = dir.clone();
    let report = tokio::task::spawn_blocking(move || pull(&dir_for_run))
        .await
        .unwrap();
    done.store(true, Ordering::Relaxed);
    if let Some(task) = background {
        let _ = task.await;
    }
    let _ = std::fs::remove_dir_all(&dir);

    let seen = seen.lock().unwrap();
    let seconds = match (seen.first(), seen.last()) {
        (Some(first), Some(last)) => (*last - *first).as_secs_f64(),
        _ => 0.0,
    };
    let rate_limited = report["rate_limited"].as_u64().unwrap_or(0);
    let admitted = (seen.len() as u64).saturating_sub(rate_limited);
    let per_second = scenario.binding_rate(max, window);
    Outcome {
        requests: report["requests"].as_u64().unwrap_or(0),
        seconds,
        share: admitted.saturating_sub(1) as f64 / seconds.max(1e-9) / per_second,
        rate_limited,
        other_requests: other_requests.load(Ordering::Relaxed),
        other_rejected: other_rejected.load(Ordering::Relaxed),
    }
}

/// The requests a full pull of the fake needs: reference calls and thread pages.
fn estimated_requests(fake: &FakeInboxV2) -> u64 {
    5 + fake.thread_count().div_ceil(100).max(1) as u64
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let limit: RateLimit = std::env::var("CRMSYNC_BUDGET_LIMIT")
        .unwrap_or_else(|_| "100/10s".into())
        .parse()
        .expect("CRMSYNC_BUDGET_LIMIT is a rate limit such as 100/10s");
    let contacts: usize = std::env::var("CRMSYNC_BUDGET_CONTACTS")
        .map(|s| s.trim().parse().expect("a number of contacts"))
        .unwrap_or(22_000);
    let RateLimit::Windows(windows) = &limit else {
        panic!("CRMSYNC_BUDGET_LIMIT must set a limit");
    };
    assert_eq!(windows.len(), 1, "one window, e.g. 100/10s");
    let (max, window) = windows[0];
    println!(
        "{:<14} {:>15} {:>7} {:>9} {:>8} {:>9} {:>6} {:>7}",
        "scenario", "limit", "reserve", "requests", "seconds", "% limit", "429s", "other"
    );
    let mut results = Vec::new();
    for scenario in [
        Scenario::Alone,
        Scenario::Reserve,
        Scenario::SecondClient,
        Scenario::Lowered,
        Scenario::TwoWindows,
    ] {
        let size = if matches!(scenario, Scenario::Alone | Scenario::TwoWindows) {
            contacts
        } else {
            contacts / 2
        };
        let outcome = run(scenario, &limit, size).await;
        let other = if scenario == Scenario::SecondClient {
            format!("{}/{}", outcome.other_rejected, outcome.other_requests)
        } else {
            "-".into()
        };
        println!(
            "{:<14} {:>15} {:>7.2} {:>9} {:>8.1} {:>8.1}% {:>6} {:>7}",
            scenario.name(),
            scenario.limit(max, window).to_string(),
            scenario.reserve_ratio(),
            outcome.requests,
            outcome.seconds,
            outcome.share * 100.0,
            outcome.rate_limited,
            other,
        );
        results.push(serde_json::json!({
            "scenario": scenario.name(),
            "limit": scenario.limit(max, window).to_string(),
            "binding_per_second": scenario.binding_rate(max, window),
            "reserve_ratio": scenario.reserve_ratio(),
            "contacts": size,
            "requests": outcome.requests,
            "seconds": outcome.seconds,
            "share_of_limit": outcome.share,
            "rate_limited": outcome.rate_limited,
            "other_requests": outcome.other_requests,
            "other_rate_limited": outcome.other_rejected,
        }));
    }
    println!(
        "other = the second client's 429s / requests; % limit = crmsync's admitted requests per \
         second from its first to its last request, against the limit ({max} per {:.0} s; two \
         windows: against the binding one, {max} per {:.0} s)",
        window.as_secs_f64(),
        3.0 * window.as_secs_f64()
    );
    // Cargo's target directory, wherever `CARGO_TARGET_DIR` puts it (it may not be `target/`).
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    std::fs::create_dir_all(&target).unwrap();
    let path = target.join("bench-budget-v2.json");
    std::fs::write(&path, serde_json::to_string_pretty(&results).unwrap()).unwrap();
    println!("written to {}", path.display());
}
