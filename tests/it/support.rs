//! Shared test plumbing: a fake Inbox in-process, a temp dir with a config, and the real binary.

use std::path::{Path, PathBuf};
use std::process::Output;

use crmsync_fake::RateLimit;
use crmsync_fake::inbox_v1::{FakeConfig, FakeInbox};

/// The env var the test configs name for the token.
pub const TOKEN_ENV: &str = "CRMSYNC_TEST_TOKEN";
/// The fake's token.
pub const TOKEN: &str = "test-token-s3cr3t-value";

/// A fake Inbox plus a working directory with `sync.toml`.
pub struct World {
    pub fake: FakeInbox,
    pub dir: tempfile::TempDir,
}

impl World {
    /// Starts a fake with `prospects` prospects (rate limits off) and writes a config whose CRM
    /// is `crm_export.csv` in the temp dir, with `extra` TOML appended.
    pub async fn start(prospects: usize, extra: &str) -> World {
        let fake = FakeInbox::start(FakeConfig {
            token: TOKEN.into(),
            prospects,
            accounts: 3,
            seed: 11,
            rate_limit: RateLimit::Off,
            ..FakeConfig::default()
        })
        .await
        .expect("fake starts");
        let dir = tempfile::tempdir().expect("temp dir");
        let world = World { fake, dir };
        world.write_config(extra);
        world
    }

    /// (Re)writes `sync.toml`.
    pub fn write_config(&self, extra: &str) {
        let text = format!(
            r#"[inbox]
base_url = "{}"
token_env = "{TOKEN_ENV}"
timeout_secs = 10

[crm]
kind = "csv"

[crm.csv]
path = "crm_export.csv"
write_mode = "in-place"

{columns}
[limits]
min_interval_ms = 0
backoff_base_ms = 50
{extra}
"#,
            self.fake.base_url(),
            columns = crmsync::demo::CSV_COLUMNS_TOML,
        );
        std::fs::write(self.config(), text).expect("write config");
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("sync.toml")
    }

    pub fn export(&self) -> PathBuf {
        self.dir.path().join("crm_export.csv")
    }

    /// Runs the real binary with `args` (after `--config`), off the async runtime so the
    /// in-process fake keeps serving.
    pub async fn crmsync(&self, args: &[&str]) -> Output {
        self.crmsync_with_token(args, Some(TOKEN)).await
    }

    /// Like `crmsync`, with another token (or none).
    pub async fn crmsync_with_token(&self, args: &[&str], token: Option<&str>) -> Output {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_crmsync"));
        cmd.arg("--config").arg(self.config()).args(args);
        cmd.env_remove(TOKEN_ENV);
        if let Some(token) = token {
            cmd.env(TOKEN_ENV, token);
        }
        tokio::task::spawn_blocking(move || cmd.output().expect("binary runs"))
            .await
            .expect("join")
    }
}

/// stdout as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// stderr as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Parses stdout as one JSON object.
pub fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\nstderr: {}",
            stdout(out),
            stderr(out)
        )
    })
}

/// Asserts an exit code, showing the output when it differs.
pub fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        stdout(out),
        stderr(out)
    );
}

/// The export's header, matching the test config's columns, plus a column crmsync does not own.
pub const HEADER: [&str; 10] = [
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

/// One CSV row per fake prospect that agrees with Inbox (record id `r` + index), for the first
/// `n` prospects. Threads that disagree get the first thread's values.
pub fn agreeing_rows(world: &World, n: usize) -> Vec<Vec<String>> {
    world
        .fake
        .prospects()
        .iter()
        .take(n)
        .enumerate()
        .map(|(idx, p)| {
            let first = p.threads.first();
            vec![
                format!("r{idx:05}"),
                p.platform_id.clone(),
                p.username.clone(),
                format!("Company {idx}"),
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

/// Writes rows (with `HEADER`) to the export.
pub fn write_export(world: &World, rows: &[Vec<String>]) {
    let mut writer = csv::Writer::from_path(world.export()).expect("export");
    writer.write_record(HEADER).unwrap();
    for row in rows {
        writer.write_record(row).unwrap();
    }
    writer.flush().unwrap();
}

/// Reads the export back as rows (without the header).
pub fn read_export(world: &World) -> Vec<Vec<String>> {
    let mut reader = csv::Reader::from_path(world.export()).expect("export");
    reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect()
}

/// Column index by header name.
pub fn col(name: &str) -> usize {
    HEADER
        .iter()
        .position(|h| *h == name)
        .expect("known column")
}

/// Each prospect's synced Inbox values: (id, tags, status, valuation, notes).
pub type InboxState = Vec<(
    String,
    Vec<String>,
    Option<String>,
    Option<String>,
    Option<String>,
)>;

pub fn inbox_state(world: &World) -> InboxState {
    world
        .fake
        .prospects()
        .into_iter()
        .map(|p| {
            (
                p.external_id,
                p.tags,
                p.status,
                p.valuation.map(|v| v.to_string()),
                p.notes,
            )
        })
        .collect()
}
