//! A stateful fake of the Inbox (inboxapp.com) v1 REST API, served over real HTTP.
//!
//! Used in-process by tests (on `127.0.0.1:0`), by `crmsync demo`, and by
//! `crmsync fake-inbox`. It keeps real maps of prospects and threads, a per-team event log with
//! `seq` and retention, sliding-window rate limits and fault knobs, and it follows
//! `docs/inbox-api-v1.md` and the vendor OpenAPI. Where the docs leave behaviour open it is the
//! strict one (it rejects what the real API might reject).
//!
//! It must not share types with the Inbox client (crmsync's `inbox` module): its wire shapes
//! are its own so that the two implementations cross-check each other against the docs (the
//! crate boundary makes that a compile-time fact). It must not print; it logs through
//! `tracing` only.
//!
//! Files: `state.rs` (model and domain operations), `seed.rs` (generated data), `request.rs`
//! (strict parsing), `routes.rs` (the HTTP pipeline and handlers), `wire.rs` (JSON shapes); the
//! limiter and the server lifecycle are the crate root's, shared with the other fakes.

mod request;
mod routes;
mod seed;
mod state;
mod wire;

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::Serialize;

use crate::RateLimit;
use crate::common::now_ms;
use crate::ratelimit::Limiter;
use crate::server::Server;
use state::{ContextPatch, Model, ThreadPatch};

/// How to seed and run a fake Inbox.
#[derive(Debug, Clone)]
pub struct FakeConfig {
    /// The Bearer token the fake accepts.
    pub token: String,
    /// Number of seeded prospects.
    pub prospects: usize,
    /// Number of seeded account links (at least 1 is created).
    pub accounts: usize,
    /// Seed for all generated data and for the random faults.
    pub seed: u64,
    /// Request limits.
    pub rate_limit: RateLimit,
    /// Injected faults.
    pub faults: Faults,
}

impl Default for FakeConfig {
    fn default() -> Self {
        FakeConfig {
            token: "fake-token".to_owned(),
            prospects: 50,
            accounts: 3,
            seed: 1,
            rate_limit: RateLimit::documented(),
            faults: Faults::default(),
        }
    }
}

/// Random faults, drawn per request from an RNG seeded by `FakeConfig::seed`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    /// Share (0..=1) of authenticated, admitted requests answered 500, 502 or 503 before the
    /// handler runs (so nothing is applied).
    pub error_rate: f64,
    /// Fixed delay before every response.
    pub latency: Duration,
    /// Share (0..=1) of 200 answers whose JSON body is truncated (the handler did run, so a
    /// PATCH is applied even though its response is unreadable).
    pub malformed_rate: f64,
}

/// Request counters since start or the last [`FakeInbox::reset_stats`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Every request received.
    pub requests: u64,
    /// Requests by `(method, route template)`, e.g. `("GET", "/threads/{threadId}")`; routes
    /// are relative to `/api/v1`, unknown paths count as `"(unmatched)"`.
    pub by_route: BTreeMap<(String, String), u64>,
    /// 429 answers (limiter or scripted).
    pub rate_limited: u64,
    /// 5xx answers (random or scripted).
    pub server_errors: u64,
    /// 401 answers.
    pub unauthorized: u64,
}

impl Stats {
    /// Requests seen for `method` on `route` (a template such as `"/threads"`).
    pub fn count(&self, method: &str, route: &str) -> u64 {
        self.by_route
            .get(&(method.to_owned(), route.to_owned()))
            .copied()
            .unwrap_or(0)
    }
}

/// What the hook learns about a request before it is handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestInfo {
    /// 1-based number of this request since the server started (not reset by `reset_stats`).
    pub number: u64,
    /// HTTP method, e.g. `"GET"`.
    pub method: String,
    /// Full path, e.g. `"/api/v1/threads"`.
    pub path: String,
    /// Route template relative to `/api/v1`, e.g. `"/threads/{threadId}"`, or `"(unmatched)"`.
    pub route: &'static str,
    /// Raw query string, if any.
    pub query: Option<String>,
}

/// A simulated edit in the Inbox UI. Names, not ids; `None` = leave unchanged.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContextEdit {
    /// Tag names to add.
    pub tags_add: Option<Vec<String>>,
    /// Tag names to remove.
    pub tags_remove: Option<Vec<String>>,
    /// `Some(None)` clears the status; `Some(Some(name))` sets it.
    pub status: Option<Option<String>>,
    /// `Some(None)` clears the valuation.
    pub valuation: Option<Option<f64>>,
    /// `Some(None)` clears the notes.
    pub notes: Option<Option<String>>,
    /// Member email to assign on every thread; `Some(None)` unassigns them all.
    pub assignee: Option<Option<String>>,
    /// Archive (`true`) or reopen every thread.
    pub done: Option<bool>,
}

/// A prospect as tests see it (names resolved).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProspectView {
    /// Inbox id (`externalId`).
    pub external_id: String,
    /// X user id.
    pub platform_id: String,
    /// Lowercase username, e.g. `lead00042`.
    pub username: String,
    /// Display name.
    pub display_name: String,
    /// Tag names, sorted.
    pub tags: Vec<String>,
    /// Status name.
    pub status: Option<String>,
    /// Valuation exactly as stored (integer or decimal).
    pub valuation: Option<serde_json::Number>,
    /// Notes.
    pub notes: Option<String>,
    /// `lastUpdatedAt` as served.
    pub last_updated_at: String,
    /// The prospect's threads, in creation order.
    pub threads: Vec<ThreadView>,
}

/// A thread as tests see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ThreadView {
    /// Thread id.
    pub id: String,
    /// Owning account link id.
    pub account_link_id: String,
    /// Owning account link username.
    pub account_username: String,
    /// Assigned member id.
    pub assignee_id: Option<String>,
    /// Assigned member email.
    pub assignee_email: Option<String>,
    /// Archived.
    pub done: bool,
    /// Message request.
    pub is_request: bool,
    /// `computedSortTimestamp` as served.
    pub sort_timestamp: String,
}

/// One successful API write, in the order applied.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WriteRecord {
    /// `"PATCH /prospects/{prospectId}/context"`, `"PATCH /threads/{threadId}"` or
    /// `"POST /tags"`.
    pub route: String,
    /// The path id written to (the new tag's id for `POST /tags`).
    pub target_id: String,
    /// The request body (`{}` when it was empty).
    pub body: serde_json::Value,
}

/// The hook type: see [`FakeInbox::set_hook`].
pub type Hook = Box<dyn FnMut(&mut Script<'_>, &RequestInfo) + Send>;

/// Non-data state: limits, faults, counters and the hook.
pub(crate) struct Control {
    /// Sliding-window limiter.
    limiter: Limiter,
    /// Random fault settings.
    faults: Faults,
    /// RNG for random faults.
    fault_rng: StdRng,
    /// Statuses the next requests must answer with, front first.
    fail_next: VecDeque<u16>,
    /// How many upcoming requests get a truncated 200 body.
    malformed_next: usize,
    /// Counters.
    stats: Stats,
    /// Requests received since start.
    request_counter: u64,
    /// Called before each request; taken out while it runs.
    hook: Option<Hook>,
    /// Every request answers `410 Gone` (see [`FakeInbox::retire`]).
    retired: bool,
    /// Every response carries `Deprecation: true` and this `Sunset`.
    sunset: Option<String>,
}

/// Everything behind the lock.
pub(crate) struct State {
    /// The team's data.
    model: Model,
    /// Limits, faults, counters.
    control: Control,
}

/// Shared between the server task and the [`FakeInbox`] handle.
pub(crate) struct Shared {
    /// The accepted token.
    token: String,
    /// All mutable state; never held across an `.await`.
    state: Mutex<State>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Mutable access to the fake from inside a hook (the state lock is held, so a hook must use
/// this facade rather than the [`FakeInbox`] methods, which would deadlock).
pub struct Script<'a> {
    state: &'a mut State,
}

impl Script<'_> {
    /// See [`FakeInbox::new_message`].
    pub fn new_message(&mut self, thread_id: &str) {
        self.state.new_message(thread_id);
    }

    /// See [`FakeInbox::edit_context`].
    pub fn edit_context(&mut self, external_id: &str, edit: ContextEdit) {
        self.state.edit_context(external_id, edit);
    }

    /// See [`FakeInbox::set_thread`].
    pub fn set_thread(
        &mut self,
        thread_id: &str,
        assignee_email: Option<Option<String>>,
        done: Option<bool>,
    ) {
        self.state.set_thread(thread_id, assignee_email, done);
    }

    /// See [`FakeInbox::prospect`].
    pub fn prospect(&self, external_id: &str) -> Option<ProspectView> {
        self.state.prospect(external_id)
    }

    /// See [`FakeInbox::fail_next`]; called from a hook it also affects the current request.
    pub fn fail_next(&mut self, n: usize, status: u16) {
        self.state.fail_next(n, status);
    }

    /// See [`FakeInbox::malformed_next`]; called from a hook it also affects the current request.
    pub fn malformed_next(&mut self, n: usize) {
        self.state.control.malformed_next += n;
    }

    /// See [`FakeInbox::expire_events_through`].
    pub fn expire_events_through(&mut self, seq: u64) {
        self.state.model.expire_events_through(seq);
    }
}

impl State {
    fn prospect_index(&self, external_id: &str) -> usize {
        // Scripting with an unknown id is a bug in the calling test.
        *self
            .model
            .prospect_by_external
            .get(external_id)
            .unwrap_or_else(|| panic!("fake inbox: unknown prospect {external_id:?}"))
    }

    fn thread_index(&self, thread_id: &str) -> usize {
        *self
            .model
            .thread_by_id
            .get(thread_id)
            .unwrap_or_else(|| panic!("fake inbox: unknown thread {thread_id:?}"))
    }

    fn member_id_by_email(&self, email: &str) -> String {
        self.model
            .members
            .iter()
            .find(|m| m.email.eq_ignore_ascii_case(email))
            .map(|m| m.id.clone())
            .unwrap_or_else(|| panic!("fake inbox: unknown member email {email:?}"))
    }

    fn tag_id_by_name(&self, name: &str) -> String {
        self.model
            .tags
            .iter()
            .find(|t| t.name == name)
            .map(|t| t.id.clone())
            .unwrap_or_else(|| panic!("fake inbox: unknown tag name {name:?}"))
    }

    fn new_message(&mut self, thread_id: &str) {
        let t = self.thread_index(thread_id);
        self.model.new_message(t, now_ms());
    }

    fn edit_context(&mut self, external_id: &str, edit: ContextEdit) {
        let p = self.prospect_index(external_id);
        let status_id = edit.status.map(|status| {
            status.map(|name| {
                self.model
                    .statuses
                    .iter()
                    .find(|s| s.name == name)
                    .map(|s| s.id.clone())
                    .unwrap_or_else(|| panic!("fake inbox: unknown status name {name:?}"))
            })
        });
        let valuation = edit.valuation.map(|v| v.map(number_from_f64));
        let patch = ContextPatch {
            notes: edit.notes,
            valuation,
            status_id,
            add_tags: edit
                .tags_add
                .unwrap_or_default()
                .iter()
                .map(|n| self.tag_id_by_name(n))
                .collect(),
            remove_tags: edit
                .tags_remove
                .unwrap_or_default()
                .iter()
                .map(|n| self.tag_id_by_name(n))
                .collect(),
            assignee_id: edit
                .assignee
                .map(|a| a.map(|email| self.member_id_by_email(&email))),
            done: edit.done,
        };
        if let Err(reject) = self.model.patch_context(p, &patch, now_ms()) {
            panic!("fake inbox: edit_context rejected: {reject:?}");
        }
    }

    fn set_thread(
        &mut self,
        thread_id: &str,
        assignee_email: Option<Option<String>>,
        done: Option<bool>,
    ) {
        let t = self.thread_index(thread_id);
        let patch = ThreadPatch {
            done,
            assignee_id: assignee_email.map(|a| a.map(|email| self.member_id_by_email(&email))),
        };
        if let Err(reject) = self.model.patch_thread(t, &patch, now_ms()) {
            panic!("fake inbox: set_thread rejected: {reject:?}");
        }
    }

    fn set_idle(&mut self, thread_id: &str, idle: bool) {
        let t = self.thread_index(thread_id);
        self.model.threads[t].idle = idle;
    }

    fn prospect(&self, external_id: &str) -> Option<ProspectView> {
        let p = *self.model.prospect_by_external.get(external_id)?;
        Some(self.model.prospect_view(p))
    }

    fn fail_next(&mut self, n: usize, status: u16) {
        self.control
            .fail_next
            .extend(std::iter::repeat_n(status, n));
    }
}

/// An integral f64 becomes a JSON integer (`5000`, not `5000.0`).
fn number_from_f64(value: f64) -> serde_json::Number {
    if value.fract() == 0.0 && value.abs() < 9e15 {
        serde_json::Number::from(value as i64)
    } else {
        // Non-finite values cannot come from JSON; fall back to 0 rather than panic.
        serde_json::Number::from_f64(value).unwrap_or_else(|| serde_json::Number::from(0))
    }
}

/// A running fake Inbox server. Dropping it stops the server.
pub struct FakeInbox {
    /// State shared with the server task.
    shared: Arc<Shared>,
    /// The server task.
    server: Server,
}

impl FakeInbox {
    /// Seeds the data and serves it on `127.0.0.1:0` (a free port).
    pub async fn start(cfg: FakeConfig) -> std::io::Result<FakeInbox> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), cfg).await
    }

    /// Seeds the data and serves it on `addr`.
    pub async fn start_on(addr: SocketAddr, cfg: FakeConfig) -> std::io::Result<FakeInbox> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let anchor_ms = now_ms() / 1_000 * 1_000;
        let model = seed::generate(cfg.prospects, cfg.accounts, cfg.seed, anchor_ms);
        let control = Control {
            limiter: Limiter::new(cfg.rate_limit),
            faults: cfg.faults,
            fault_rng: StdRng::seed_from_u64(cfg.seed.wrapping_add(0xfa17)),
            fail_next: VecDeque::new(),
            malformed_next: 0,
            stats: Stats::default(),
            request_counter: 0,
            hook: None,
            retired: false,
            sunset: None,
        };
        let shared = Arc::new(Shared {
            token: cfg.token,
            state: Mutex::new(State { model, control }),
        });
        let app = routes::router(Arc::clone(&shared));
        let server = Server::spawn(listener, app, "fake inbox")?;
        Ok(FakeInbox { shared, server })
    }

    /// `http://127.0.0.1:PORT/api/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/api/v1", self.server.addr())
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// Serves until the server task ends (for the CLI, which selects this against ctrl-c).
    pub async fn wait(self) {
        self.server.wait().await;
    }

    /// Stops accepting, lets in-flight requests finish (up to 5 s), then returns.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared.lock()
    }

    /// A snapshot of the request counters.
    pub fn stats(&self) -> Stats {
        self.lock().control.stats.clone()
    }

    /// Zeroes the request counters (the request number seen by hooks keeps counting).
    pub fn reset_stats(&self) {
        self.lock().control.stats = Stats::default();
    }

    /// Every prospect, in seed order.
    pub fn prospects(&self) -> Vec<ProspectView> {
        let state = self.lock();
        (0..state.model.prospects.len())
            .map(|p| state.model.prospect_view(p))
            .collect()
    }

    /// One prospect by its Inbox id.
    pub fn prospect(&self, external_id: &str) -> Option<ProspectView> {
        self.lock().prospect(external_id)
    }

    /// `(id, email)` of every member.
    pub fn members(&self) -> Vec<(String, String)> {
        let state = self.lock();
        let members = state.model.members.iter();
        members.map(|m| (m.id.clone(), m.email.clone())).collect()
    }

    /// `(id, name)` of every tag.
    pub fn tags(&self) -> Vec<(String, String)> {
        let state = self.lock();
        let tags = state.model.tags.iter();
        tags.map(|t| (t.id.clone(), t.name.clone())).collect()
    }

    /// `(id, name)` of every status.
    pub fn statuses(&self) -> Vec<(String, String)> {
        let state = self.lock();
        let statuses = state.model.statuses.iter();
        statuses.map(|s| (s.id.clone(), s.name.clone())).collect()
    }

    /// `(id, username)` of every account link.
    pub fn account_links(&self) -> Vec<(String, String)> {
        let state = self.lock();
        let links = state.model.account_links.iter();
        links.map(|l| (l.id.clone(), l.username.clone())).collect()
    }

    /// Number of threads.
    pub fn thread_count(&self) -> usize {
        self.lock().model.threads.len()
    }

    /// Simulates a user editing the prospect in the Inbox UI: the same semantics and events as
    /// `PATCH /prospects/{id}/context` (but no write-log entry).
    ///
    /// # Panics
    /// On an unknown prospect id, tag/status name or member email (a bug in the test).
    pub fn edit_context(&self, external_id: &str, edit: ContextEdit) {
        self.lock().edit_context(external_id, edit);
    }

    /// Simulates a per-thread UI edit: `assignee_email` `Some(None)` unassigns, `done` archives
    /// or reopens. Same events as `PATCH /threads/{id}`.
    ///
    /// # Panics
    /// On an unknown thread id or member email.
    pub fn set_thread(
        &self,
        thread_id: &str,
        assignee_email: Option<Option<String>>,
        done: Option<bool>,
    ) {
        self.lock().set_thread(thread_id, assignee_email, done);
    }

    /// The thread goes idle (`status: "idle"`, in no view: a walk no longer lists it) or
    /// active again. No event is emitted (the docs list none for it).
    ///
    /// # Panics
    /// On an unknown thread id.
    pub fn set_idle(&self, thread_id: &str, idle: bool) {
        self.lock().set_idle(thread_id, idle);
    }

    /// A message arrives on the thread: `lastMessageTimestamp` and `computedSortTimestamp`
    /// become now, strictly later than every existing sort timestamp, and `message.created`
    /// is emitted. `done` is left unchanged.
    ///
    /// # Panics
    /// On an unknown thread id.
    pub fn new_message(&self, thread_id: &str) {
        self.lock().new_message(thread_id);
    }

    /// Installs a hook called before each request is handled (before auth and limits), with
    /// the state lock held. It gets a [`Script`] to mutate the fake and the [`RequestInfo`].
    /// Example: bump a thread on the 3rd `GET /threads`:
    ///
    /// ```no_run
    /// # use crmsync_fake::inbox_v1::FakeInbox;
    /// # fn demo(fake: &FakeInbox, thread_id: String) {
    /// let mut seen = 0;
    /// fake.set_hook(move |script, req| {
    ///     if req.method == "GET" && req.route == "/threads" {
    ///         seen += 1;
    ///         if seen == 3 {
    ///             script.new_message(&thread_id);
    ///         }
    ///     }
    /// });
    /// # }
    /// ```
    pub fn set_hook(&self, hook: impl FnMut(&mut Script<'_>, &RequestInfo) + Send + 'static) {
        self.lock().control.hook = Some(Box::new(hook));
    }

    /// Removes the hook.
    pub fn clear_hook(&self) {
        self.lock().control.hook = None;
    }

    /// Replaces the random fault settings.
    pub fn set_faults(&self, faults: Faults) {
        self.lock().control.faults = faults;
    }

    /// Replaces the rate limit (request history is kept).
    pub fn set_rate_limit(&self, rate_limit: RateLimit) {
        self.lock().control.limiter.set(rate_limit);
    }

    /// The next `n` authenticated requests answer `status` with the documented error body
    /// (`429` adds `Retry-After: 1`); they are not handled and do not count toward limits.
    pub fn fail_next(&self, n: usize, status: u16) {
        self.lock().fail_next(n, status);
    }

    /// The next `n` authenticated requests are handled normally but answer 200 with a
    /// truncated, invalid JSON body.
    pub fn malformed_next(&self, n: usize) {
        self.lock().control.malformed_next += n;
    }

    /// Drops events with `seq <= seq` (simulates the 7-day retention window passing).
    pub fn expire_events_through(&self, seq: u64) {
        self.lock().model.expire_events_through(seq);
    }

    /// v1 is switched off: from now on every request, authenticated or not, answers
    /// `410 Gone` with the documented error body (code `GONE`) and nothing is handled.
    pub fn retire(&self) {
        self.lock().control.retired = true;
    }

    /// v1 announces its end: every response from now on carries `Deprecation: true` and
    /// `Sunset: <sunset>` (an HTTP date, e.g. `Thu, 03 Dec 2026 00:00:00 GMT`); `None` stops.
    pub fn announce_sunset(&self, sunset: Option<&str>) {
        self.lock().control.sunset = sunset.map(str::to_owned);
    }

    /// The retained event log, envelopes exactly as `GET /events` serves them.
    pub fn events(&self) -> Vec<serde_json::Value> {
        let state = self.lock();
        let events = state.model.events.iter();
        events.map(|e| e.envelope.clone()).collect()
    }

    /// Every successful API write (PATCH, and POST /tags), in order.
    pub fn write_log(&self) -> Vec<WriteRecord> {
        self.lock().model.writes.clone()
    }
}

impl std::fmt::Debug for FakeInbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeInbox")
            .field("addr", &self.addr())
            .finish_non_exhaustive()
    }
}
