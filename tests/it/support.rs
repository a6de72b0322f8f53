//! Shared test plumbing: a fake Inbox in-process, a temp dir with a config, and the real binary.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;

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

/// The one `error:` line of a failed run (exit 1), after checking there is exactly one and
/// no panic, backtrace or token.
pub(crate) fn the_error_line(out: &Output) -> String {
    assert_exit(out, 1);
    let err = stderr(out);
    for bad in ["panicked", "stack backtrace", TOKEN] {
        assert!(!err.contains(bad), "{bad:?} in stderr:\n{err}");
    }
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error")).collect();
    assert_eq!(lines.len(), 1, "one error line expected:\n{err}");
    assert!(lines[0].len() < 600, "error line too long: {}", lines[0]);
    lines[0].to_string()
}

pub(crate) const LOGIN_PAGE: &str = "<!DOCTYPE html>\n<html>\n<head><title>Sign in - Corporate Proxy</title></head>\n<body>\n<form action=\"/login\">";

/// A captive portal's login page, about 30 KiB.
pub(crate) fn html_page() -> Vec<u8> {
    let mut page = LOGIN_PAGE.to_string();
    page.push_str(&"<input name=\"x\">\n".repeat(2_000));
    page.push_str("</form></body></html>");
    page.into_bytes()
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

/// A linked world of `prospects`, its export agreeing with Inbox for the first `n`, synced once.
pub async fn baseline(prospects: usize, n: usize, extra: &str) -> World {
    let world = World::start(prospects, extra).await;
    write_export(&world, &agreeing_rows(&world, n));
    assert_exit(&world.crmsync(&["sync"]).await, 0);
    world
}

/// The indices, among the first `n` prospects, of those with exactly one thread (no fan-out
/// in the way).
pub fn single_thread(world: &World, n: usize) -> Vec<usize> {
    let prospects = world.fake.prospects();
    let first = prospects.iter().take(n).enumerate();
    first
        .filter(|(_, p)| p.threads.len() == 1)
        .map(|(idx, _)| idx)
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

// ---------------------------------------------------------------------------------------------
// A hostile Inbox: a proxy in front of a fake that rewrites requests and answers.

/// `(method, path, query, status, body)` -> `(status, body, content type override)`.
pub(crate) type Rewrite = dyn Fn(&str, &str, Option<&str>, u16, Vec<u8>) -> (u16, Vec<u8>, Option<&'static str>)
    + Send
    + Sync;

/// `(path, path and query)` -> the path and query to forward.
pub(crate) type RequestRewrite = dyn Fn(&str, &str) -> String + Send + Sync;

struct ProxyState {
    upstream: SocketAddr,
    /// The API's path, e.g. `/api/v1`.
    api: &'static str,
    http: reqwest::Client,
    request_rewrite: Box<RequestRewrite>,
    rewrite: Box<Rewrite>,
    /// `METHOD path?query` of every request received.
    seen: Mutex<Vec<String>>,
}

/// Forwards everything to a fake, passing each answer through `rewrite`.
pub(crate) struct Proxy {
    addr: SocketAddr,
    state: Arc<ProxyState>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub(crate) async fn start(upstream: &impl Upstream, rewrite: Box<Rewrite>) -> Proxy {
        Proxy::start_with(upstream, Box::new(|_, pq| pq.to_string()), rewrite).await
    }

    /// Like `start`, also rewriting each request's path and query before forwarding it.
    pub(crate) async fn start_with(
        upstream: &impl Upstream,
        request_rewrite: Box<RequestRewrite>,
        rewrite: Box<Rewrite>,
    ) -> Proxy {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let state = Arc::new(ProxyState {
            upstream: upstream.addr(),
            api: upstream.api(),
            http: reqwest::Client::new(),
            request_rewrite,
            rewrite,
            seen: Mutex::new(Vec::new()),
        });
        let app = axum::Router::new()
            .fallback(forward)
            .with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Proxy { addr, state, task }
    }

    pub(crate) fn base_url(&self) -> String {
        format!("http://{}{}", self.addr, self.state.api)
    }

    pub(crate) fn seen(&self) -> Vec<String> {
        self.state.seen.lock().unwrap().clone()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn forward(State(state): State<Arc<ProxyState>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 64 << 20)
        .await
        .unwrap_or_default();
    let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    state
        .seen
        .lock()
        .unwrap()
        .push(format!("{} {path_and_query}", parts.method));
    let forwarded = (state.request_rewrite)(parts.uri.path(), path_and_query);
    let url = format!("http://{}{forwarded}", state.upstream);
    let mut request = state
        .http
        .request(parts.method.clone(), url)
        .body(body.to_vec());
    for (name, value) in &parts.headers {
        if name != header::HOST && name != header::CONTENT_LENGTH {
            request = request.header(name, value);
        }
    }
    let Ok(answer) = request.send().await else {
        return Response::builder()
            .status(StatusCode::BAD_GATEWAY)
            .body(Body::empty())
            .unwrap();
    };
    let status = answer.status().as_u16();
    let headers = answer.headers().clone();
    let bytes = answer.bytes().await.unwrap_or_default().to_vec();
    let (status, bytes, content_type) = (state.rewrite)(
        parts.method.as_str(),
        parts.uri.path(),
        parts.uri.query(),
        status,
        bytes,
    );
    let mut response = Response::builder().status(status);
    for (name, value) in &headers {
        if name != header::CONTENT_LENGTH
            && name != header::TRANSFER_ENCODING
            && !(content_type.is_some() && name == header::CONTENT_TYPE)
        {
            response = response.header(name, value);
        }
    }
    if let Some(content_type) = content_type {
        response = response.header(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    }
    response.body(Body::from(bytes)).unwrap()
}

/// A fake a [`Proxy`] can stand in front of.
pub(crate) trait Upstream {
    fn addr(&self) -> SocketAddr;
    /// The path its API is served under.
    fn api(&self) -> &'static str;
}

impl Upstream for FakeInbox {
    fn addr(&self) -> SocketAddr {
        FakeInbox::addr(self)
    }
    fn api(&self) -> &'static str {
        "/api/v1"
    }
}

impl Upstream for crmsync_fake::inbox_v2::FakeInboxV2 {
    fn addr(&self) -> SocketAddr {
        crmsync_fake::inbox_v2::FakeInboxV2::addr(self)
    }
    fn api(&self) -> &'static str {
        "/api/v2"
    }
}
