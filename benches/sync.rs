//! End-to-end sync benchmark: the real `crmsync` binary against the in-process fake Inbox with
//! rate limits off, so that what is measured is crmsync's own work and its request count.
//!
//! `cargo bench --bench sync` runs 10k prospects; `CRMSYNC_BENCH_SIZES=10000,100000` adds more.
//! For each size it links every record once (the baseline run), then runs three nightly syncs:
//! no changes, 1 % and 5 % of records changed on each side (notes in Inbox, deal values in the
//! CRM). For each it prints wall time per phase, the CPU time of the crmsync process and of the
//! fake, requests issued against the minimum, writes against a generic flow, peak RSS and
//! mirror size. The table is also written as JSON to `target/bench-sync.json`.
//!
//! Columns:
//! * `total s` and the phases: wall time as the binary reports it (`--json` `phases`).
//! * `cpu s`: user + system CPU seconds of the crmsync process (all threads, start to exit), read
//!   from `/proc/<pid>/stat` once it has exited. That is the local work, whatever the network
//!   or the fake take; `fake cpu` is the bench process (the fake Inbox serving the requests).
//! * `requests` / `minimum`: requests issued against reference calls (5) + ⌈threads per
//!   view / 100⌉ list calls + one PATCH per changed prospect; `events` is how many of the
//!   requests read the event log to decide between a walk and an incremental pull.
//! * `writes`: Inbox PATCHes + CRM records written by crmsync; `generic`: what a generic
//!   automation flow writes on the same night (it reads every prospect and writes every record
//!   back: one write per linked record, whatever changed).
//!
//! `CRMSYNC_BENCH_CHANGES=0,5` picks the change shares (percent) of the nightly runs.
//! `CRMSYNC_BENCH_KEEP=1` keeps each size's directory (mirror, export) for inspection.
//! `CRMSYNC_BENCH_WRAP="perf record -g -o /tmp/sync.data --"` runs the measured syncs (not the
//! baseline) under that command, for profiling (`cpu s` then counts the wrapper too).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crmsync_fake::RateLimit;
use crmsync_fake::inbox_v1::{ContextEdit, FakeConfig, FakeInbox};

const TOKEN: &str = "bench-token";

/// Change shares (percent) of the nightly runs after the baseline, unless
/// `CRMSYNC_BENCH_CHANGES` (e.g. `0,5`) names others.
const SHARES: &str = "0,1,5";

/// The export's columns.
const HEADER: [&str; 10] = [
    "Record ID",
    "X User ID",
    "X Handle",
    "Company",
    "Tags",
    "Lead Status",
    "Deal Value",
    "Notes",
    "Owner Email",
    "Done",
];

/// Index of "Deal Value" in [`HEADER`].
const VALUATION: usize = 6;

fn config(base_url: &str) -> String {
    format!(
        r#"[inbox]
base_url = "{base_url}"
token_env = "CRMSYNC_BENCH_TOKEN"
[crm]
kind = "csv"
[crm.csv]
path = "crm_export.csv"
write_mode = "in-place"
{columns}[policy]
valuation = "crm-wins"
[safety]
max_change_ratio = 0.5
[limits]
min_interval_ms = 0
"#,
        columns = crmsync::demo::CSV_COLUMNS_TOML
    )
}

fn write_rows(path: &Path, rows: &[Vec<String>]) {
    let mut writer = csv::Writer::from_path(path).unwrap();
    writer.write_record(HEADER).unwrap();
    for row in rows {
        writer.write_record(row).unwrap();
    }
    writer.flush().unwrap();
}

/// The export as a CRM would have it before the first sync: every prospect, same values.
fn initial_rows(fake: &FakeInbox) -> Vec<Vec<String>> {
    fake.prospects()
        .iter()
        .enumerate()
        .map(|(idx, p)| {
            let first = p.threads.first();
            vec![
                format!("r{idx:06}"),
                p.platform_id.clone(),
                p.username.clone(),
                format!("Company {}", idx % 97),
                p.tags.join(";"),
                p.status.clone().unwrap_or_default(),
                p.valuation
                    .as_ref()
                    .map(|v| v.to_string())
                    .unwrap_or_default(),
                p.notes.clone().unwrap_or_default(),
                first
                    .and_then(|t| t.assignee_email.clone())
                    .unwrap_or_default(),
                first.map(|t| t.done.to_string()).unwrap_or_default(),
            ]
        })
        .collect()
}

/// CPU seconds (user + system) of a process from `/proc/<pid>/stat`, in clock ticks of 1/100 s
/// (Linux's USER_HZ); `None` off Linux.
fn cpu_seconds(stat_path: &str) -> Option<(f64, char)> {
    let stat = std::fs::read_to_string(stat_path).ok()?;
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some(((utime + stime) / 100.0, state))
}

/// One run of the binary, its `--json` report, and the CPU seconds of crmsync and of this
/// process (the fake) while it ran.
struct Run {
    report: serde_json::Value,
    wall: f64,
    cpu: Option<f64>,
    fake_cpu: Option<f64>,
}

fn run(dir: &Path, wrap: bool) -> Run {
    let wrapper: Vec<String> = std::env::var("CRMSYNC_BENCH_WRAP")
        .ok()
        .filter(|_| wrap)
        .map(|w| w.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default();
    let mut command = match wrapper.split_first() {
        Some((program, args)) => {
            let mut c = Command::new(program);
            c.args(args).arg(env!("CARGO_BIN_EXE_crmsync"));
            c
        }
        None => Command::new(env!("CARGO_BIN_EXE_crmsync")),
    };
    let stdout = dir.join("report.json");
    let stderr = dir.join("stderr.txt");
    command
        .arg("--config")
        .arg(dir.join("sync.toml"))
        .args(["sync", "--json", "--force"])
        .env("CRMSYNC_BENCH_TOKEN", TOKEN)
        .stdout(Stdio::from(std::fs::File::create(&stdout).unwrap()))
        .stderr(Stdio::from(std::fs::File::create(&stderr).unwrap()));
    let self_before = cpu_seconds("/proc/self/stat").map(|(s, _)| s);
    let started = Instant::now();
    let mut child = command.spawn().unwrap();
    // Read the child's CPU time once it has exited but before it is reaped: a zombie's
    // /proc/<pid>/stat still holds the totals of all its threads.
    let stat_path = format!("/proc/{}/stat", child.id());
    let mut cpu = None;
    loop {
        match cpu_seconds(&stat_path) {
            Some((seconds, 'Z' | 'X')) => {
                cpu = Some(seconds);
                break;
            }
            Some(_) => std::thread::sleep(Duration::from_millis(2)),
            None => break,
        }
    }
    let status = child.wait().unwrap();
    let wall = started.elapsed().as_secs_f64();
    let fake_cpu = cpu_seconds("/proc/self/stat")
        .map(|(s, _)| s)
        .zip(self_before)
        .map(|(after, before)| after - before);
    assert!(
        status.success(),
        "{}",
        std::fs::read_to_string(&stderr).unwrap_or_default()
    );
    let report = serde_json::from_slice(&std::fs::read(&stdout).unwrap()).unwrap();
    Run {
        report,
        wall,
        cpu,
        fake_cpu,
    }
}

fn dir_size(path: &Path) -> u64 {
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with("mirror.db"))
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

fn secs(value: Option<f64>) -> String {
    value.map_or_else(|| "-".into(), |v| format!("{v:.2}"))
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let sizes: Vec<usize> = std::env::var("CRMSYNC_BENCH_SIZES")
        .unwrap_or_else(|_| "10000".into())
        .split(',')
        .map(|s| s.trim().parse().expect("sizes are numbers"))
        .collect();
    let shares: Vec<f64> = std::env::var("CRMSYNC_BENCH_CHANGES")
        .unwrap_or_else(|_| SHARES.into())
        .split(',')
        .map(|s| s.trim().parse::<f64>().expect("change shares are numbers") / 100.0)
        .collect();
    let mut results = Vec::new();
    println!(
        "{:>7} {:>4} {:>7} {:>5} {:>5} {:>6} {:>5} {:>5} {:>6} {:>6} {:>6} {:>5} {:>5} {:>8} {:>7} {:>6} {:>6} {:>7} {:>5} {:>5}",
        "size",
        "chg",
        "total s",
        "pull",
        "crm_rd",
        "match",
        "recon",
        "push_i",
        "push_c",
        "record",
        "cpu s",
        "fake",
        "pull",
        "requests",
        "minimum",
        "events",
        "writes",
        "generic",
        "rss",
        "db"
    );
    println!(
        "{:>7} {:>4} {:>7} {:>5} {:>5} {:>6} {:>5} {:>5} {:>6} {:>6} {:>6} {:>5} {:>5} {:>8} {:>7} {:>6} {:>6} {:>7} {:>5} {:>5}",
        "",
        "",
        "(wall)",
        "",
        "",
        "",
        "",
        "",
        "",
        "",
        "crmsync",
        "cpu s",
        "mode",
        "",
        "",
        "",
        "",
        "",
        "MiB",
        "MiB"
    );
    for &size in &sizes {
        let fake = FakeInbox::start(FakeConfig {
            token: TOKEN.into(),
            prospects: size,
            accounts: 3,
            seed: 42,
            rate_limit: RateLimit::Off,
            ..FakeConfig::default()
        })
        .await
        .unwrap();
        let dir = std::env::temp_dir().join(format!("crmsync-bench-{}-{size}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("sync.toml"), config(&fake.base_url())).unwrap();
        let export = dir.join("crm_export.csv");
        let mut rows = initial_rows(&fake);
        write_rows(&export, &rows);

        // Baseline: links every record and sets the base.
        let dir_for_run = dir.clone();
        let baseline = tokio::task::spawn_blocking(move || run(&dir_for_run, false))
            .await
            .unwrap();

        let threads: Vec<_> = fake
            .prospects()
            .into_iter()
            .flat_map(|p| p.threads)
            .collect();
        let pages = |n: usize| n.div_ceil(100).max(1) as u64;
        let list_calls = pages(threads.iter().filter(|t| !t.done && !t.is_request).count())
            + pages(threads.iter().filter(|t| !t.done && t.is_request).count())
            + pages(threads.iter().filter(|t| t.done).count());

        for (round, changed_share) in shares.iter().copied().enumerate() {
            let changes = (size as f64 * changed_share) as usize;
            if changes > 0 {
                // Inbox side: notes on `changes` prospects (every 20th); CRM side: deal values
                // on as many other records (every 20th, offset by 10). Each round writes new
                // values, so a round's changes are all real changes.
                for p in fake.prospects().iter().step_by(20).take(changes) {
                    fake.edit_context(
                        &p.external_id,
                        ContextEdit {
                            notes: Some(Some(format!("bench edit {round} of {}", p.username))),
                            ..ContextEdit::default()
                        },
                    );
                }
                // Rewriting the export keeps the records the first run linked (and the values
                // the earlier rounds wrote into it).
                rows = csv::Reader::from_path(&export)
                    .unwrap()
                    .records()
                    .map(|r| r.unwrap().iter().map(str::to_string).collect())
                    .collect();
                for row in rows.iter_mut().skip(10).step_by(20).take(changes) {
                    let idx: usize = row[0][1..].parse().unwrap();
                    row[VALUATION] = format!("{}", 1000 * (round + 1) + idx);
                }
                write_rows(&export, &rows);
            }
            let dir_for_run = dir.clone();
            let run = tokio::task::spawn_blocking(move || run(&dir_for_run, true))
                .await
                .unwrap();
            let report = &run.report;
            let inbox_writes = report["writes"]["inbox"].as_u64().unwrap();
            let crm_writes = report["writes"]["crm"].as_u64().unwrap();
            let event_pages = report["pull"]["event_pages"].as_u64().unwrap_or(0);
            let incremental = report["pull"]["mode"] == "incremental";
            let minimum = if incremental {
                // Reference calls, the event log, one read per prospect or thread it names.
                5 + event_pages
                    + report["pull"]["reread_prospects"].as_u64().unwrap_or(0)
                    + report["pull"]["reread_threads"].as_u64().unwrap_or(0)
                    + inbox_writes
            } else {
                5 + list_calls + inbox_writes
            };
            let linked = report["linked"].as_u64().unwrap_or(0);
            let phase = |name: &str| report["phases"][name].as_f64().unwrap_or(0.0);
            let db_mib = dir_size(&dir.join("state")) as f64 / 1048576.0;
            println!(
                "{:>7} {:>4} {:>7.2} {:>5.2} {:>5.2} {:>6.2} {:>5.2} {:>5.2} {:>6.2} {:>6.2} {:>6} {:>5} {:>5} {:>8} {:>7} {:>6} {:>6} {:>7} {:>5.0} {:>5.1}",
                size,
                format!("{}%", (changed_share * 100.0) as u32),
                report["seconds"].as_f64().unwrap(),
                phase("pull"),
                phase("crm_read"),
                phase("match"),
                phase("reconcile"),
                phase("push_inbox"),
                phase("push_crm"),
                phase("record"),
                secs(run.cpu),
                secs(run.fake_cpu),
                if incremental { "incr" } else { "walk" },
                report["requests"],
                minimum,
                event_pages,
                inbox_writes + crm_writes,
                linked,
                report["peak_rss_mib"].as_f64().unwrap_or(0.0),
                db_mib,
            );
            results.push(serde_json::json!({
                "size": size,
                "changed_share": changed_share,
                "baseline_seconds": baseline.wall,
                "baseline_cpu_seconds": baseline.cpu,
                "baseline_requests": baseline.report["requests"],
                "wall_seconds": run.wall,
                "cpu_seconds": run.cpu,
                "fake_cpu_seconds": run.fake_cpu,
                "report": report.as_object().map(|o| {
                    let mut o = o.clone();
                    o.remove("conflict_list");
                    o.remove("rejected_rows");
                    o
                }),
                "minimum_requests": minimum,
                "event_pages": event_pages,
                "writes": inbox_writes + crm_writes,
                "generic_flow_writes": linked,
                "mirror_mib": db_mib,
            }));
        }
        if std::env::var_os("CRMSYNC_BENCH_KEEP").is_some() {
            println!("kept {}", dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    // Cargo's target directory, wherever `CARGO_TARGET_DIR` puts it (it may not be `target/`).
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    std::fs::create_dir_all(&target).unwrap();
    let path = target.join("bench-sync.json");
    std::fs::write(&path, serde_json::to_string_pretty(&results).unwrap()).unwrap();
    println!("written to {}", path.display());
}
