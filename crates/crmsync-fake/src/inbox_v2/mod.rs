//! A stateful fake of the Inbox (inboxapp.com) API v2, served over real HTTP at `/api/v2`.
//!
//! Started in-process by tests (on `127.0.0.1:0`) and by `crmsync fake-inbox --api v2`. It keeps
//! real maps of contacts, their X and LinkedIn profiles and their threads, a hidden inbox order
//! that moves a thread with new activity to the newest end, opaque cursors bound to their
//! filters, a per-team event log with `seq`, a 7-day / 25,000-event retention and thin payloads,
//! sliding-window rate limits per minute/hour/day, and fault knobs. It follows the contract
//! (`docs/inbox-api-v2.md`); where the docs are silent it is the strict one (it rejects what the
//! real API might reject), and each such choice says so where it is made.
//!
//! Files: `state.rs` (the model and its reads), `writes.rs` (the operations that change it),
//! `seed.rs` (generated data), `script.rs` (what tests and hooks change by hand), `request.rs`
//! (strict parsing), `cursor.rs` (opaque cursors), `routes.rs` (the HTTP pipeline),
//! `handlers.rs` (one function per endpoint), `wire.rs` (JSON shapes). It must not print; it logs through `tracing` only.

mod cursor;
mod handlers;
mod request;
mod routes;
mod script;
mod seed;
mod state;
mod wire;
mod writes;

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde_json::Number;

use crate::RateLimit;
use crate::common::now_ms;
use crate::ratelimit::Limiter;
use crate::server::Server;
pub use script::Script;
pub use seed::{SeedPerson, SeedThread};
use state::Model;

/// How many account links of each platform the fake seeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accounts {
    /// X account links (`platform: "twitter"`).
    pub x: usize,
    /// LinkedIn account links (`platform: "linkedin"`).
    pub linkedin: usize,
}

/// How to seed and run a fake Inbox v2.
#[derive(Debug, Clone)]
pub struct FakeConfig {
    /// The Bearer token the fake accepts.
    pub token: String,
    /// Number of seeded contacts (each with one or more profiles and usually a thread or two).
    pub contacts: usize,
    /// Account links per platform. A platform without one still gets profiles, but they have
    /// no threads there.
    pub accounts: Accounts,
    /// Seed for all generated data, ids, cursors and the random faults.
    pub seed: u64,
    /// Request limits.
    pub rate_limit: RateLimit,
    /// Injected faults.
    pub faults: Faults,
    /// At most this many events are retained (the docs' 25,000 per team); lower it in tests.
    pub event_cap: usize,
    /// Whether CRM edits (status, tags, notes, valuation, default assignee) move
    /// `contact.updatedAt`. The docs leave it open; the default `false` is the strict reading
    /// (a client must not take `updatedAt` for a CRM change stamp).
    pub crm_edits_touch_contact: bool,
    /// Seed these people instead of `contacts` generated ones (the team, account links,
    /// members, tags and statuses are generated as usual; missing names are added).
    pub people: Option<Vec<SeedPerson>>,
}

impl Default for FakeConfig {
    fn default() -> Self {
        FakeConfig {
            token: "fake-token".to_owned(),
            contacts: 50,
            accounts: Accounts { x: 2, linkedin: 1 },
            seed: 1,
            rate_limit: RateLimit::documented(),
            faults: Faults::default(),
            event_cap: 25_000,
            crm_edits_touch_contact: false,
            people: None,
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
    /// Share (0..=1) of 2xx answers with a body whose JSON is truncated (the handler did run, so
    /// a write is applied even though its response is unreadable).
    pub malformed_rate: f64,
}

/// Request counters since start or the last [`FakeInboxV2::reset_stats`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Every request received.
    pub requests: u64,
    /// Requests by `(method, route template)`, e.g. `("GET", "/threads/{threadId}")`; routes
    /// are relative to `/api/v2`, unknown paths count as `"(unmatched)"`.
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
    /// Full path as sent (still percent-encoded), e.g. `"/api/v2/threads"`.
    pub path: String,
    /// Route template relative to `/api/v2`, e.g. `"/threads/{threadId}"`, or `"(unmatched)"`.
    pub route: &'static str,
    /// Raw query string, if any.
    pub query: Option<String>,
}

/// Who sent a message: the profile (`Inbound`) or the account link (`Outbound`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Received from the profile (`message.received`).
    Inbound,
    /// Sent by the account link (`message.sent`); it also answers a message request.
    Outbound,
}

/// A simulated edit of a contact in the Inbox UI. Names, not ids; `None` = leave unchanged.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContactEdit {
    /// Tag names to add.
    pub tags_add: Vec<String>,
    /// Tag names to remove.
    pub tags_remove: Vec<String>,
    /// `Some(None)` clears the status; `Some(Some(name))` sets it.
    pub status: Option<Option<String>>,
    /// `Some(None)` clears the valuation.
    pub valuation: Option<Option<f64>>,
    /// `Some(None)` clears the notes.
    pub notes: Option<Option<String>>,
    /// Member email of the contact's default assignee; `Some(None)` clears it.
    pub assignee: Option<Option<String>>,
}

/// A simulated edit of one thread in the Inbox UI; `None` = leave unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ThreadEdit {
    /// Archive (`true`) or unarchive.
    pub archived: Option<bool>,
    /// Mark unread or read.
    pub unread: Option<bool>,
    /// Member email of the thread's own assignee; `Some(None)` clears it, so the thread falls
    /// back to its contact's default.
    pub assignee: Option<Option<String>>,
    /// Make the thread sticky (`true`): from now on `PATCH /threads/{id}` answers 200 with the
    /// thread as it was and changes nothing (edits through the fake still apply).
    pub sticky: Option<bool>,
}

/// A profile as tests see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProfileView {
    /// Profile id.
    pub id: String,
    /// The contact it belongs to.
    pub contact_id: String,
    /// `twitter` or `linkedin`.
    pub platform: String,
    /// The platform's id: numeric on X, not on LinkedIn.
    pub platform_id: String,
    /// Without prefix: `sarahchen` on X, a slug like `jane-doe-1a2b3c` on LinkedIn.
    pub username: String,
    /// As displayed: `@sarahchen` on X, the bare slug on LinkedIn.
    pub handle: String,
    /// Display name.
    pub display_name: String,
}

/// A contact as tests see it (names resolved).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContactView {
    /// Contact id.
    pub id: String,
    /// Its profiles, oldest link first.
    pub profiles: Vec<ProfileView>,
    /// Tag ids in the order they were added (as `tagIds` serves them).
    pub tag_ids: Vec<String>,
    /// Tag names, sorted.
    pub tags: Vec<String>,
    /// Status id.
    pub status_id: Option<String>,
    /// Status name.
    pub status: Option<String>,
    /// Notes.
    pub notes: Option<String>,
    /// Valuation exactly as stored (integer or decimal).
    pub valuation: Option<Number>,
    /// The default assignee of its threads.
    pub assignee_id: Option<String>,
    /// That member's email.
    pub assignee_email: Option<String>,
    /// Its threads' ids, in creation order.
    pub thread_ids: Vec<String>,
    /// `createdAt` as served.
    pub created_at: String,
    /// `updatedAt` as served.
    pub updated_at: String,
}

/// A thread as tests see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ThreadView {
    /// Thread id.
    pub id: String,
    /// The platform of its account link and profile.
    pub platform: String,
    /// Its account link.
    pub account_link_id: String,
    /// Its profile.
    pub profile_id: String,
    /// The contact of that profile.
    pub contact_id: String,
    /// The thread's own assignee (not served as such: the API shows only the effective one).
    pub own_assignee_id: Option<String>,
    /// The effective `assigneeId`: own, else the contact's default.
    pub assignee_id: Option<String>,
    /// That member's email.
    pub assignee_email: Option<String>,
    /// Archived.
    pub archived: bool,
    /// A message request.
    pub is_request: bool,
    /// Marked unread.
    pub unread: bool,
    /// `activity.at` as served.
    pub activity_at: Option<String>,
    /// `createdAt` as served.
    pub created_at: String,
}

/// One successful API write, in the order applied.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WriteRecord {
    /// Method and route template, e.g. `"PUT /contacts/{contactId}/tags/{tagRef}"`.
    pub route: String,
    /// The decoded path parameters, e.g. `[contact id, "hot lead/2026"]` (for `POST /tags`,
    /// the new tag's id).
    pub params: Vec<String>,
    /// The request body (`null` when the route takes none).
    pub body: serde_json::Value,
}

/// The hook type: see [`FakeInboxV2::set_hook`].
pub type Hook = Box<dyn FnMut(&mut Script<'_>, &RequestInfo) + Send>;

/// Non-data state: limits, faults, counters and the hook.
pub(crate) struct Control {
    /// Sliding-window limiter.
    limiter: Limiter,
    /// Random fault settings.
    faults: Faults,
    /// RNG for random faults.
    fault_rng: StdRng,
    /// RNG for `requestId`s.
    request_rng: StdRng,
    /// Statuses the next requests must answer with, front first.
    fail_next: VecDeque<u16>,
    /// How many upcoming requests get a truncated body.
    malformed_next: usize,
    /// Counters.
    stats: Stats,
    /// Requests received since start.
    request_counter: u64,
    /// Called before each request; taken out while it runs.
    hook: Option<Hook>,
}

/// Everything behind the lock.
pub(crate) struct State {
    /// The team's data.
    model: Model,
    /// Limits, faults, counters.
    control: Control,
}

/// Shared between the server task and the [`FakeInboxV2`] handle.
pub(crate) struct Shared {
    /// The accepted token.
    token: String,
    /// The key cursors are sealed with (derived from the seed).
    cursor_secret: u64,
    /// All mutable state; never held across an `.await`.
    state: Mutex<State>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running fake Inbox v2 server. Dropping it stops the server.
pub struct FakeInboxV2 {
    /// State shared with the server task.
    shared: Arc<Shared>,
    /// The server task.
    server: Server,
}

impl FakeInboxV2 {
    /// Seeds the data and serves it on `127.0.0.1:0` (a free port).
    pub async fn start(config: FakeConfig) -> std::io::Result<FakeInboxV2> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), config).await
    }

    /// Seeds the data and serves it on `addr`.
    pub async fn start_on(addr: SocketAddr, config: FakeConfig) -> std::io::Result<FakeInboxV2> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let anchor_ms = now_ms() / 1_000 * 1_000;
        let counts = seed::Counts {
            contacts: config.contacts,
            x_accounts: config.accounts.x,
            linkedin_accounts: config.accounts.linkedin,
        };
        let mut model = seed::generate(counts, config.seed, anchor_ms, config.event_cap);
        model.crm_edits_touch_contact = config.crm_edits_touch_contact;
        if let Some(people) = &config.people {
            seed::seed_people(&mut model, people, anchor_ms);
        }
        let control = Control {
            limiter: Limiter::new(config.rate_limit),
            faults: config.faults,
            fault_rng: StdRng::seed_from_u64(config.seed.wrapping_add(0xfa17)),
            request_rng: StdRng::seed_from_u64(config.seed.wrapping_add(0x4e9)),
            fail_next: VecDeque::new(),
            malformed_next: 0,
            stats: Stats::default(),
            request_counter: 0,
            hook: None,
        };
        let shared = Arc::new(Shared {
            token: config.token,
            cursor_secret: StdRng::seed_from_u64(config.seed ^ 0xc0_5e).random(),
            state: Mutex::new(State { model, control }),
        });
        let app = routes::router(Arc::clone(&shared));
        let server = Server::spawn(listener, app, "fake inbox v2")?;
        Ok(FakeInboxV2 { shared, server })
    }

    /// `http://127.0.0.1:PORT/api/v2`.
    pub fn base_url(&self) -> String {
        format!("http://{}/api/v2", self.server.addr())
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

    /// Every contact, in seed order.
    pub fn contacts(&self) -> Vec<ContactView> {
        let state = self.lock();
        (0..state.model.contacts.len())
            .map(|c| state.model.contact_view(c))
            .collect()
    }

    /// One contact by id.
    pub fn contact(&self, contact_id: &str) -> Option<ContactView> {
        self.lock().contact(contact_id)
    }

    /// Every profile, in seed order.
    pub fn profiles(&self) -> Vec<ProfileView> {
        let state = self.lock();
        (0..state.model.profiles.len())
            .map(|p| state.model.profile_view(p))
            .collect()
    }

    /// Every thread, in seed order.
    pub fn threads(&self) -> Vec<ThreadView> {
        let state = self.lock();
        (0..state.model.threads.len())
            .map(|t| state.model.thread_view(t))
            .collect()
    }

    /// One thread by id.
    pub fn thread(&self, thread_id: &str) -> Option<ThreadView> {
        self.lock().thread(thread_id)
    }

    /// Number of threads.
    pub fn thread_count(&self) -> usize {
        self.lock().model.threads.len()
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

    /// `(id, platform)` of every account link.
    pub fn account_links(&self) -> Vec<(String, String)> {
        let state = self.lock();
        let links = state.model.account_links.iter();
        links
            .map(|l| (l.id.clone(), l.platform.as_str().to_owned()))
            .collect()
    }

    /// Simulates a user editing the contact in the Inbox UI: the same semantics and events as
    /// `PATCH /contacts/{id}` and the tag routes (but no write-log entry).
    ///
    /// # Panics
    /// On an unknown contact id, tag or status name, or member email (a bug in the test).
    pub fn edit_contact(&self, contact_id: &str, edit: ContactEdit) {
        self.lock().edit_contact(contact_id, edit);
    }

    /// Simulates a per-thread UI edit; same events as `PATCH /threads/{id}`.
    ///
    /// # Panics
    /// On an unknown thread id or member email.
    pub fn edit_thread(&self, thread_id: &str, edit: ThreadEdit) {
        self.lock().edit_thread(thread_id, edit);
    }

    /// A message arrives on (or is sent from) the thread: it becomes the thread's activity, the
    /// thread moves to the newest end of the inbox order (strictly after every other), and
    /// `message.received` (or `message.sent`) is emitted. Returns the message id.
    ///
    /// # Panics
    /// On an unknown thread id.
    pub fn new_message(&self, thread_id: &str, direction: Direction) -> String {
        self.lock().new_message(thread_id, direction)
    }

    /// Someone on the team writes to the contact's first profile from the first account link
    /// of its platform: a new thread (`thread.created`, then `message.sent`). Returns its id.
    ///
    /// # Panics
    /// On an unknown contact id, or a contact without a profile or an account link for it.
    pub fn new_thread(&self, contact_id: &str) -> String {
        self.lock().new_thread(contact_id)
    }

    /// A reminder fires: the thread moves to the newest end without any change to its fields
    /// (`activity.at` stays), and no event is emitted.
    ///
    /// # Panics
    /// On an unknown thread id.
    pub fn remind(&self, thread_id: &str) {
        self.lock().remind(thread_id);
    }

    /// Installs a hook called before each request is handled (before auth and limits), with
    /// the state lock held. It gets a [`Script`] to mutate the fake and the [`RequestInfo`].
    /// Example: a message arrives on a thread during the 3rd `GET /threads`:
    ///
    /// ```no_run
    /// # use crmsync_fake::inbox_v2::{Direction, FakeInboxV2};
    /// # fn demo(fake: &FakeInboxV2, thread_id: String) {
    /// let mut seen = 0;
    /// fake.set_hook(move |script, req| {
    ///     if req.method == "GET" && req.route == "/threads" {
    ///         seen += 1;
    ///         if seen == 3 {
    ///             script.new_message(&thread_id, Direction::Inbound);
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
    /// (`500 internal`, `502 platformError`, `503 platformUnavailable`, `429 rateLimited` with
    /// `Retry-After: 1`, ...); they are not handled and do not count toward limits.
    pub fn fail_next(&self, n: usize, status: u16) {
        self.lock().fail_next(n, status);
    }

    /// The next `n` authenticated requests are handled normally but answer with a truncated,
    /// invalid JSON body (a 204 gets a body it should not have).
    pub fn malformed_next(&self, n: usize) {
        self.lock().control.malformed_next += n;
    }

    /// Drops events with `seq <= seq` (simulates the retention window passing).
    pub fn expire_events_through(&self, seq: u64) {
        self.lock().model.expire_events_through(seq);
    }

    /// The last `seq` handed out (events start well above 0: older ones have expired).
    pub fn last_seq(&self) -> u64 {
        self.lock().model.last_seq
    }

    /// The retained event log, envelopes exactly as `GET /events` serves them.
    pub fn events(&self) -> Vec<serde_json::Value> {
        let state = self.lock();
        let events = state.model.events.iter();
        events.map(|e| e.envelope.clone()).collect()
    }

    /// Every successful API write (PATCH, PUT, DELETE, POST), in order.
    pub fn write_log(&self) -> Vec<WriteRecord> {
        self.lock().model.writes.clone()
    }
}

impl std::fmt::Debug for FakeInboxV2 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeInboxV2")
            .field("addr", &self.addr())
            .finish_non_exhaustive()
    }
}
