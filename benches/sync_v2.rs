//! End-to-end sync benchmark on Inbox API v2: the real `crmsync` binary against the in-process
//! v2 fake (`crmsync_fake::inbox_v2`, 3 X accounts and 1 LinkedIn account, rate limits off), so
//! that what is measured is crmsync's own work and its request count.
//!
//! `cargo bench --bench sync_v2` runs 10k contacts; `CRMSYNC_BENCH_SIZES=100000` (or
//! `10000,100000`) other sizes. For each size the export holds one agreeing row per contact
//! that has a thread (X and LinkedIn identities; contacts without a thread are not in a
//! mirror), and the fake gets one Inbox event (a message) before the baseline run, which links
//! every record: the fake's log starts empty, and an empty log leaves no seq to replay from, so
//! without it every night would walk; a real team's log is never empty. Then three nightly
//! syncs: 0, 1 and 5 % of the contacts changed on each side. Each run prints wall time per
//! phase, CPU of the crmsync process and of the fake, the pull mode, requests against the
//! minimum, writes, peak RSS and mirror size; the table is also written as JSON to
//! `target/bench-sync-v2.json` (under `CARGO_TARGET_DIR` when set).
//!
//! The changes of a night with a share `s` of `n` contacts (`k = n * s`):
//! * Inbox side, on `k` rows (every 20th): new notes (`edit_contact`); every 10th of them also
//!   gets a tag it lacks, and every 10th (offset 5), if it has one thread, its thread archived or
//!   unarchived (`edit_thread`). These become CRM writes.
//! * CRM side, on `k` other rows (every 20th, offset 10): a new deal value; every 10th of them
//!   also gets a tag it lacks (a tag name Inbox has), and every 10th (offset 5), if the contact
//!   has one thread, its Done flipped. These become Inbox writes: a contact PATCH each, a tag
//!   call per added tag, a thread PATCH per flipped Done.
//!
//! Only single-thread contacts get archive/Done edits, so that no edit is held back as a
//! fan-out conflict (contacts whose threads disagree are conflicts from the start and stay so).
//!
//! Columns:
//! * `total s` and the phases: wall time as the binary reports it (`--json` `seconds` and
//!   `phases`: on v2 `pull`, `crm_read`, `match`, `reconcile`, `push`, the last covering the
//!   Inbox writes and the CRM export); `rest` is the total less the phases (start-up, the run
//!   lock, recording the run).
//! * `cpu s`: user + system CPU seconds of the crmsync process (all threads, start to exit), read
//!   from `/proc/<pid>/stat` once it has exited but before it is reaped; `fake` is this bench
//!   process (the fake serving the requests) over the same time.
//! * `mode`: `walk` or `incr` (the `--json` `pull.mode`).
//! * `requests`: what the run reports (`--json` `requests`), equal to what the fake counted.
//! * `minimum`, computed by the bench from the fake and its own edits, not from crmsync's plan:
//!   5 reference calls (team, members, account links, tags, statuses), plus for a walk
//!   ⌈threads / 100⌉ `GET /threads` pages, or for an incremental run
//!   max(1, ⌈events after the seq the previous run stored / 1000⌉) `GET /events` pages plus one
//!   `GET /threads/{id}` per thread the Inbox side archived (thread events are thin: the
//!   thread must be read); plus the writes the CRM edits need: one `PATCH /contacts/{id}` per
//!   CRM-edited contact, one tag call per added tag, one `PATCH /threads/{id}` per flipped Done.
//!   Event-log reads of a walk (the head before it, the replay after it) are not in the minimum
//!   (as in the v1 bench), nor are re-reads of threads crmsync wrote itself the night before.
//! * `events`, `reads`: of `requests`, `GET /events` calls and single-object re-reads
//!   (`GET /threads/{id}`, `GET /contacts/{id}`); `w min`/`writes`: Inbox write calls needed
//!   and made (the fake's count); `crm`: CRM records written.
//!
//! `CRMSYNC_BENCH_CHANGES=0,5` picks the change shares (percent); `CRMSYNC_BENCH_FULL=1` runs
//! the nightly syncs with `--full` (a walk every night, as when `[pull] full_every_hours` is
//! due); `CRMSYNC_BENCH_KEEP=1` keeps each size's directory (mirror, export).

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crmsync_fake::RateLimit;
use crmsync_fake::inbox_v2::{
    Accounts, ContactEdit, ContactView, Direction, FakeConfig, FakeInboxV2, Stats, ThreadEdit,
};

const TOKEN: &str = "bench-token";

/// Change shares (percent) of the nightly runs, unless `CRMSYNC_BENCH_CHANGES` names others.
const SHARES: &str = "0,1,5";

/// The reference calls of every v2 run (pinned by `tests/it/v2_incremental.rs`).
const REFERENCE_CALLS: u64 = 5;

/// The export's columns.
const HEADER: [&str; 12] = [
    "Record ID",
    "X User ID",
    "X Handle",
    "LinkedIn ID",
    "LinkedIn URL",
    "Company",
    "Tags",
    "Lead Status",
    "Deal Value",
    "Notes",
    "Owner Email",
    "Done",
];
const TAGS: usize = 6;
const VALUATION: usize = 8;
const DONE: usize = 11;

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
{columns}{linkedin}[policy]
valuation = "crm-wins"
[safety]
max_change_ratio = 0.5
[limits]
min_interval_ms = 0
max_requests_per_run = 1000000
"#,
        columns = crmsync::demo::CSV_COLUMNS_TOML,
        linkedin = crmsync::demo::LINKEDIN_COLUMNS_TOML,
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

fn read_rows(path: &Path) -> Vec<Vec<String>> {
    csv::Reader::from_path(path)
        .unwrap()
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect()
}

fn profile(c: &ContactView, platform: &str) -> (String, String) {
    c.profiles
        .iter()
        .find(|p| p.platform == platform)
        .map(|p| (p.platform_id.clone(), p.username.clone()))
        .unwrap_or_default()
}

/// A linked contact: its id and its threads.
struct Linked {
    contact_id: String,
    threads: Vec<String>,
}

/// One agreeing CSV row per contact with a thread (its first thread's owner and done), and the
/// contacts in row order.
fn initial_rows(fake: &FakeInboxV2) -> (Vec<Vec<String>>, Vec<Linked>) {
    let threads: HashMap<String, _> = fake
        .threads()
        .into_iter()
        .map(|t| (t.id.clone(), t))
        .collect();
    let mut rows = Vec::new();
    let mut linked = Vec::new();
    for c in fake.contacts().iter().filter(|c| !c.thread_ids.is_empty()) {
        let idx = rows.len();
        let first = &threads[&c.thread_ids[0]];
        let (x_id, x_handle) = profile(c, "twitter");
        let (li_id, li_slug) = profile(c, "linkedin");
        let mut tags = c.tags.clone();
        tags.sort();
        rows.push(vec![
            format!("r{idx:06}"),
            x_id,
            x_handle,
            li_id,
            li_slug,
            format!("Company {}", idx % 97),
            tags.join(";"),
            c.status.clone().unwrap_or_default(),
            c.valuation
                .as_ref()
                .map(|v| v.to_string())
                .unwrap_or_default(),
            c.notes.clone().unwrap_or_default(),
            first.assignee_email.clone().unwrap_or_default(),
            first.archived.to_string(),
        ]);
        linked.push(Linked {
            contact_id: c.id.clone(),
            threads: c.thread_ids.clone(),
        });
    }
    (rows, linked)
}

/// CPU seconds (user + system) of a process from `/proc/<pid>/stat` (USER_HZ = 100), and its
/// state; `None` off Linux.
fn cpu_seconds(stat_path: &str) -> Option<(f64, char)> {
    let stat = std::fs::read_to_string(stat_path).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some(((utime + stime) / 100.0, state))
}

/// One run of the binary: its `--json` report, wall time, and the CPU seconds of crmsync and
/// of this process (the fake) while it ran.
struct Run {
    report: serde_json::Value,
    wall: f64,
    cpu: Option<f64>,
    fake_cpu: Option<f64>,
}

/// Runs `crmsync sync --json --force` in `dir`, with `--full` when `full`.
fn run(dir: &Path, full: bool) -> Run {
    let stdout = dir.join("report.json");
    let stderr = dir.join("stderr.txt");
    let mut command = Command::new(env!("CARGO_BIN_EXE_crmsync"));
    command
        .arg("--config")
        .arg(dir.join("sync.toml"))
        .args(["sync", "--json", "--force"])
        .args(full.then_some("--full"))
        .env("CRMSYNC_BENCH_TOKEN", TOKEN)
        .stdout(Stdio::from(std::fs::File::create(&stdout).unwrap()))
        .stderr(Stdio::from(std::fs::File::create(&stderr).unwrap()));
    let self_before = cpu_seconds("/proc/self/stat").map(|(s, _)| s);
    let started = Instant::now();
    let mut child = command.spawn().unwrap();
    // A zombie's /proc/<pid>/stat still holds the totals of all its threads.
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

fn mirror_mib(state: &Path) -> f64 {
    let bytes: u64 = std::fs::read_dir(state)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with("mirror.db"))
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0);
    bytes as f64 / 1048576.0
}

fn secs(value: Option<f64>) -> String {
    value.map_or_else(|| "-".into(), |v| format!("{v:.2}"))
}

/// The 1-minute load average, from `/proc/loadavg`.
fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "-".into())
}

/// What the bench's edits of one night need on the Inbox side.
#[derive(Default)]
struct Needed {
    /// `GET /threads/{id}` re-reads: threads the Inbox side archived or unarchived.
    thread_reads: u64,
    contact_patches: u64,
    tag_calls: u64,
    thread_patches: u64,
    /// CRM records the Inbox edits need written.
    crm_records: u64,
}

/// Edits `changes` contacts on each side for night `round`; returns what they need.
fn edit(
    fake: &FakeInboxV2,
    export: &Path,
    linked: &[Linked],
    tag_names: &[String],
    round: usize,
    changes: usize,
) -> Needed {
    let mut needed = Needed::default();
    if changes == 0 {
        return needed;
    }
    let lacking = |have: &dyn Fn(&str) -> bool| -> String {
        (tag_names.iter())
            .find(|t| !have(t))
            .expect("a tag the contact lacks")
            .clone()
    };
    // Inbox side: every 20th row.
    for (i, l) in linked.iter().step_by(20).take(changes).enumerate() {
        let contact = fake.contact(&l.contact_id).unwrap();
        let mut edit = ContactEdit {
            notes: Some(Some(format!("bench edit {round} of {}", l.contact_id))),
            ..ContactEdit::default()
        };
        if i % 10 == 0 {
            edit.tags_add = vec![lacking(&|t| contact.tags.iter().any(|c| c == t))];
        }
        fake.edit_contact(&l.contact_id, edit);
        if i % 10 == 5 && l.threads.len() == 1 {
            let thread = fake.thread(&l.threads[0]).unwrap();
            fake.edit_thread(
                &thread.id,
                ThreadEdit {
                    archived: Some(!thread.archived),
                    ..ThreadEdit::default()
                },
            );
            needed.thread_reads += 1;
        }
        needed.crm_records += 1;
    }
    // CRM side: every 20th row, offset 10. The export as crmsync left it.
    let mut rows = read_rows(export);
    let picked = rows
        .iter_mut()
        .zip(linked)
        .skip(10)
        .step_by(20)
        .take(changes);
    for (i, (row, l)) in picked.enumerate() {
        let idx: usize = row[0][1..].parse().unwrap();
        row[VALUATION] = format!("{}", 1000 * (round + 1) + idx);
        needed.contact_patches += 1;
        if i % 10 == 0 {
            let have: Vec<String> = row[TAGS].split(';').map(str::to_string).collect();
            let tag = lacking(&|t| have.iter().any(|h| h == t));
            row[TAGS] = if row[TAGS].is_empty() {
                tag
            } else {
                format!("{};{tag}", row[TAGS])
            };
            needed.tag_calls += 1;
        }
        if i % 10 == 5 && l.threads.len() == 1 {
            row[DONE] = (row[DONE] != "true").to_string();
            needed.thread_patches += 1;
        }
    }
    write_rows(export, &rows);
    needed
}

/// Requests the fake counted by kind: (`GET /threads` pages, `GET /events`, single-object
/// re-reads, contact PATCHes, tag calls, thread PATCHes, all).
fn by_kind(stats: &Stats) -> [u64; 7] {
    let tags = stats.count("PUT", "/contacts/{contactId}/tags/{tagRef}")
        + stats.count("DELETE", "/contacts/{contactId}/tags/{tagRef}");
    [
        stats.count("GET", "/threads"),
        stats.count("GET", "/events"),
        stats.count("GET", "/threads/{threadId}") + stats.count("GET", "/contacts/{contactId}"),
        stats.count("PATCH", "/contacts/{contactId}"),
        tags,
        stats.count("PATCH", "/threads/{threadId}"),
        stats.requests,
    ]
}

/// Where the requests above the minimum went: event-log reads beyond the pages the events
/// need (an incremental run's gap check; a walk's reads of the head before it and the replay
/// after it), and re-reads beyond the threads the Inbox side edited (threads crmsync wrote the
/// night before come back as thin thread events: `echoes`).
fn explain_extra(
    incremental: bool,
    event_pages_needed: u64,
    rereads_needed: u64,
    echoes: u64,
    counted: &[u64; 7],
) -> String {
    let mut parts = Vec::new();
    let events_needed = if incremental { event_pages_needed } else { 0 };
    let events = counted[1].saturating_sub(events_needed);
    if events > 0 {
        parts.push(if incremental {
            format!("{events} event read(s) beyond the {events_needed} page(s) the events need")
        } else {
            format!("{events} event-log read(s) around the walk")
        });
    }
    let rereads_needed = if incremental { rereads_needed } else { 0 };
    let rereads = counted[2].saturating_sub(rereads_needed);
    if rereads > 0 {
        parts.push(format!(
            "{rereads} re-read(s) beyond the {rereads_needed} Inbox-edited thread(s) \
             ({echoes} thread PATCHes last run)"
        ));
    }
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join("; ")
    }
}

fn print_header() {
    println!(
        "{:>7} {:>4} {:>5} {:>7} {:>5} {:>6} {:>5} {:>5} {:>5} {:>5} {:>7} {:>5} {:>4} {:>8} {:>7} {:>6} {:>5} {:>5} {:>10} {:>5} {:>5} {:>5}",
        "size",
        "chg",
        "load",
        "total s",
        "pull",
        "crm_rd",
        "match",
        "recon",
        "push",
        "rest",
        "cpu s",
        "fake",
        "mode",
        "requests",
        "minimum",
        "events",
        "reads",
        "w min",
        "writes",
        "crm",
        "rss",
        "db"
    );
    println!(
        "{:>7} {:>4} {:>5} {:>7} {:>5} {:>6} {:>5} {:>5} {:>5} {:>5} {:>7} {:>5} {:>4} {:>8} {:>7} {:>6} {:>5} {:>5} {:>10} {:>5} {:>5} {:>5}",
        "",
        "",
        "1 min",
        "(wall)",
        "",
        "",
        "",
        "",
        "",
        "",
        "crmsync",
        "cpu s",
        "",
        "",
        "",
        "",
        "",
        "",
        "patch/tag/thr",
        "",
        "MiB",
        "MiB"
    );
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
    let full = std::env::var_os("CRMSYNC_BENCH_FULL").is_some();
    let mut results = Vec::new();
    print_header();
    for &size in &sizes {
        let fake = FakeInboxV2::start(FakeConfig {
            token: TOKEN.into(),
            contacts: size,
            accounts: Accounts { x: 3, linkedin: 1 },
            seed: 42,
            rate_limit: RateLimit::Off,
            ..FakeConfig::default()
        })
        .await
        .unwrap();
        let dir =
            std::env::temp_dir().join(format!("crmsync-bench-v2-{}-{size}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("sync.toml"), config(&fake.base_url())).unwrap();
        let export = dir.join("crm_export.csv");
        let (rows, linked) = initial_rows(&fake);
        write_rows(&export, &rows);
        let tag_names: Vec<String> = fake.tags().into_iter().map(|(_, name)| name).collect();
        let thread_count = fake.thread_count() as u64;

        // One event, so that the baseline walk leaves a seq to replay from.
        let first = fake.threads()[0].id.clone();
        fake.new_message(&first, Direction::Inbound);
        let dir_for_run = dir.clone();
        let baseline = tokio::task::spawn_blocking(move || run(&dir_for_run, false))
            .await
            .unwrap();
        // The seq the last run's pull stored, and the thread PATCHes that run made.
        let mut stored_seq = baseline.report["pull"]["event_seq"].as_u64().unwrap_or(0);
        let mut last_thread_patches = 0;
        println!(
            "{size}: {} rows, {thread_count} threads; baseline: {} requests, mode {}, {:.1} s, \
             {} conflicts open",
            linked.len(),
            baseline.report["requests"],
            baseline.report["pull"]["mode"],
            baseline.wall,
            baseline.report["conflicts"]["open"],
        );

        for (round, share) in shares.iter().copied().enumerate() {
            let changes = (linked.len() as f64 * share) as usize;
            let needed = edit(&fake, &export, &linked, &tag_names, round, changes);
            let events_since = fake.last_seq().saturating_sub(stored_seq);
            fake.reset_stats();
            let load_before = load();
            let dir_for_run = dir.clone();
            let run = tokio::task::spawn_blocking(move || run(&dir_for_run, full))
                .await
                .unwrap();
            let report = &run.report;
            let stats = fake.stats();
            let counted = by_kind(&stats);
            let by_route: serde_json::Map<String, serde_json::Value> = (stats.by_route.iter())
                .map(|((method, route), n)| (format!("{method} {route}"), (*n).into()))
                .collect();
            let echoes = last_thread_patches;
            stored_seq = report["pull"]["event_seq"].as_u64().unwrap_or(0);
            last_thread_patches = counted[5];
            let incremental = report["pull"]["mode"] == "incremental";
            let writes_needed = needed.contact_patches + needed.tag_calls + needed.thread_patches;
            let minimum = REFERENCE_CALLS
                + writes_needed
                + if incremental {
                    events_since.div_ceil(1000).max(1) + needed.thread_reads
                } else {
                    thread_count.div_ceil(100)
                };
            let inbox_writes = counted[3] + counted[4] + counted[5];
            let extra = explain_extra(
                incremental,
                events_since.div_ceil(1000).max(1),
                needed.thread_reads,
                echoes,
                &counted,
            );
            let phase = |name: &str| report["phases"][name].as_f64().unwrap_or(0.0);
            let db_mib = mirror_mib(&dir.join("state"));
            let phases_sum: f64 = (report["phases"].as_object().iter())
                .flat_map(|o| o.values())
                .filter_map(serde_json::Value::as_f64)
                .sum();
            let total = report["seconds"].as_f64().unwrap_or(0.0);
            let rest = (total - phases_sum).max(0.0);
            println!(
                "{:>7} {:>4} {:>5} {:>7.2} {:>5.2} {:>6.2} {:>5.2} {:>5.2} {:>5.2} {:>5.2} {:>7} {:>5} {:>4} {:>8} {:>7} {:>6} {:>5} {:>5} {:>10} {:>5} {:>5.0} {:>5.1}",
                size,
                format!("{}%", (share * 100.0) as u32),
                load_before,
                report["seconds"].as_f64().unwrap_or(0.0),
                phase("pull"),
                phase("crm_read"),
                phase("match"),
                phase("reconcile"),
                phase("push"),
                rest,
                secs(run.cpu),
                secs(run.fake_cpu),
                if incremental { "incr" } else { "walk" },
                report["requests"].as_u64().unwrap_or(0),
                minimum,
                counted[1],
                counted[2],
                writes_needed,
                format!("{}/{}/{}", counted[3], counted[4], counted[5]),
                report["writes"]["crm"].as_u64().unwrap_or(0),
                report["peak_rss_mib"].as_f64().unwrap_or(0.0),
                db_mib,
            );
            println!("  extra {}: {extra}", counted[6].saturating_sub(minimum));
            if report["requests"] != counted[6] || inbox_writes != writes_needed {
                println!(
                    "  note: crmsync reports {} requests, the fake counted {}; writes needed \
                     {writes_needed} ({} PATCH, {} tag, {} thread), made {inbox_writes}; \
                     crm records needed {}",
                    report["requests"],
                    counted[6],
                    needed.contact_patches,
                    needed.tag_calls,
                    needed.thread_patches,
                    needed.crm_records,
                );
            }
            results.push(serde_json::json!({
                "size": size,
                "changed_share": share,
                "load_1min_before": load_before,
                "contacts_linked": linked.len(),
                "threads": thread_count,
                "baseline_seconds": baseline.wall,
                "baseline_requests": baseline.report["requests"],
                "wall_seconds": run.wall,
                "cpu_seconds": run.cpu,
                "fake_cpu_seconds": run.fake_cpu,
                "mode": if incremental { "incremental" } else { "walk" },
                "events_since_previous_run": events_since,
                "minimum_requests": minimum,
                "extra": extra,
                "thread_patches_previous_run": echoes,
                "requests_by_kind": {
                    "thread_pages": counted[0],
                    "event_pages": counted[1],
                    "rereads": counted[2],
                    "contact_patches": counted[3],
                    "tag_calls": counted[4],
                    "thread_patches": counted[5],
                    "all": counted[6],
                },
                "requests_by_route": by_route,
                "needed": {
                    "thread_rereads": needed.thread_reads,
                    "contact_patches": needed.contact_patches,
                    "tag_calls": needed.tag_calls,
                    "thread_patches": needed.thread_patches,
                    "crm_records": needed.crm_records,
                },
                "report": report.as_object().map(|o| {
                    let mut o = o.clone();
                    o.remove("conflict_list");
                    o.remove("rejected_rows");
                    o
                }),
                "mirror_mib": db_mib,
            }));
        }
        if std::env::var_os("CRMSYNC_BENCH_KEEP").is_some() {
            println!("kept {}", dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    std::fs::create_dir_all(&target).unwrap();
    let path = target.join("bench-sync-v2.json");
    std::fs::write(&path, serde_json::to_string_pretty(&results).unwrap()).unwrap();
    println!("written to {}", path.display());
}
