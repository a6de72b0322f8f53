//! End-to-end sync benchmark: the real `crmsync` binary against the in-process fake Inbox with
//! rate limits off, so that what is measured is crmsync's own work and its request count.
//!
//! `cargo bench --bench sync` runs 10k prospects; `CRMSYNC_BENCH_SIZES=10000,100000` adds more.
//! For each size it runs a sync with no changes and one with 5 % of records changed on each side,
//! and prints wall time per phase, requests issued against the minimum, peak RSS and mirror size.
//! The table is also written as JSON to `target/bench-sync.json`.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use crmsync::fake::{ContextEdit, FakeConfig, FakeInbox, RateLimit};

const TOKEN: &str = "bench-token";

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
[crm.csv.columns]
id = "Record ID"
x_user_id = "X User ID"
username = "X Handle"
tags = "Tags"
status = "Lead Status"
valuation = "Deal Value"
notes = "Notes"
owner_email = "Owner Email"
done = "Done"
[policy]
valuation = "crm-wins"
[safety]
max_change_ratio = 0.5
[limits]
min_interval_ms = 0
"#
    )
}

fn write_export(path: &Path, fake: &FakeInbox, crm_changes: usize) {
    let mut writer = csv::Writer::from_path(path).unwrap();
    writer
        .write_record([
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
        ])
        .unwrap();
    for (idx, p) in fake.prospects().iter().enumerate() {
        let first = p.threads.first();
        // Spread the CRM-side changes over the file, away from the Inbox-side ones.
        let changed = crm_changes > 0 && idx % 20 == 10 && idx / 20 < crm_changes;
        let valuation = if changed {
            format!("{}", 777 + idx)
        } else {
            p.valuation
                .as_ref()
                .map(|v| v.to_string())
                .unwrap_or_default()
        };
        writer
            .write_record([
                format!("r{idx:06}"),
                p.platform_id.clone(),
                p.username.clone(),
                format!("Company {}", idx % 97),
                p.tags.join(";"),
                p.status.clone().unwrap_or_default(),
                valuation,
                p.notes.clone().unwrap_or_default(),
                first
                    .and_then(|t| t.assignee_email.clone())
                    .unwrap_or_default(),
                first.map(|t| t.done.to_string()).unwrap_or_default(),
            ])
            .unwrap();
    }
    writer.flush().unwrap();
}

fn run(dir: &Path) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_crmsync"))
        .arg("--config")
        .arg(dir.join("sync.toml"))
        .args(["sync", "--json", "--force"])
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

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let sizes: Vec<usize> = std::env::var("CRMSYNC_BENCH_SIZES")
        .unwrap_or_else(|_| "10000".into())
        .split(',')
        .map(|s| s.trim().parse().expect("sizes are numbers"))
        .collect();
    let mut results = Vec::new();
    println!(
        "{:>8} {:>7} {:>7} {:>6} {:>7} {:>6} {:>6} {:>6} {:>6} {:>6} {:>8} {:>8} {:>6} {:>8}",
        "size",
        "changed",
        "total s",
        "pull",
        "crm_rd",
        "match",
        "recon",
        "push_i",
        "push_c",
        "record",
        "requests",
        "minimum",
        "rss MiB",
        "db MiB"
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
        write_export(&dir.join("crm_export.csv"), &fake, 0);

        // Baseline: links every record and sets the base.
        let baseline_started = Instant::now();
        let dir_for_run = dir.clone();
        let baseline = tokio::task::spawn_blocking(move || run(&dir_for_run))
            .await
            .unwrap();
        let baseline_seconds = baseline_started.elapsed().as_secs_f64();

        let threads: Vec<_> = fake
            .prospects()
            .into_iter()
            .flat_map(|p| p.threads)
            .collect();
        let pages = |n: usize| n.div_ceil(100).max(1) as u64;
        let list_calls = pages(threads.iter().filter(|t| !t.done && !t.is_request).count())
            + pages(threads.iter().filter(|t| !t.done && t.is_request).count())
            + pages(threads.iter().filter(|t| t.done).count());

        for changed_share in [0.0, 0.05] {
            let changes = (size as f64 * changed_share) as usize;
            if changes > 0 {
                // Inbox side: notes on `changes` prospects; CRM side: valuations on as many others.
                for p in fake.prospects().iter().step_by(20).take(changes) {
                    fake.edit_context(
                        &p.external_id,
                        ContextEdit {
                            notes: Some(Some(format!("bench edit of {}", p.username))),
                            ..ContextEdit::default()
                        },
                    );
                }
                // Rewriting the export keeps the records the first run linked.
                let export = dir.join("crm_export.csv");
                let mut rows: Vec<Vec<String>> = csv::Reader::from_path(&export)
                    .unwrap()
                    .records()
                    .map(|r| r.unwrap().iter().map(str::to_string).collect())
                    .collect();
                for row in rows.iter_mut().skip(10).step_by(20).take(changes) {
                    row[6] = format!("{}", 777 + row[0][1..].parse::<usize>().unwrap());
                }
                let mut writer = csv::Writer::from_path(&export).unwrap();
                writer
                    .write_record([
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
                    ])
                    .unwrap();
                for row in rows {
                    writer.write_record(row).unwrap();
                }
                writer.flush().unwrap();
            }
            let dir_for_run = dir.clone();
            let report = tokio::task::spawn_blocking(move || run(&dir_for_run))
                .await
                .unwrap();
            let inbox_writes = report["writes"]["inbox"].as_u64().unwrap();
            let minimum = 5 + list_calls + inbox_writes;
            let phase = |name: &str| report["phases"][name].as_f64().unwrap_or(0.0);
            let db_mib = dir_size(&dir.join("state")) as f64 / 1048576.0;
            println!(
                "{:>8} {:>7} {:>7.2} {:>6.2} {:>7.2} {:>6.2} {:>6.2} {:>6.2} {:>6.2} {:>6.2} {:>8} {:>8} {:>6.0} {:>8.1}",
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
                report["requests"],
                minimum,
                report["peak_rss_mib"].as_f64().unwrap_or(0.0),
                db_mib,
            );
            results.push(serde_json::json!({
                "size": size,
                "changed_share": changed_share,
                "baseline_seconds": baseline_seconds,
                "baseline_requests": baseline["requests"],
                "report": report.as_object().map(|o| {
                    let mut o = o.clone();
                    o.remove("conflict_list");
                    o
                }),
                "minimum_requests": minimum,
                "mirror_mib": db_mib,
            }));
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join("bench-sync.json");
    std::fs::write(&path, serde_json::to_string_pretty(&results).unwrap()).unwrap();
    println!("written to {}", path.display());
}
