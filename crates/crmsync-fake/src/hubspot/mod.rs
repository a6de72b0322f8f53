//! A stateful fake of HubSpot's CRM v3 API (contacts, owners, contact properties), served over
//! real HTTP on localhost.
//!
//! Used in-process by tests (on `127.0.0.1:0`) and meant for `crmsync demo --crm hubspot` and
//! `crmsync fake-hubspot`. It keeps real maps of contacts, owners and property definitions and
//! behaves as HubSpot documents: Bearer auth, listing with `after` paging, `batch/read`,
//! `batch/update` and `batch/create` (at most 100 inputs; an invalid value refuses the whole
//! batch with 400 `VALIDATION_ERROR`; unknown or deleted ids are per-input errors in a 207),
//! search (filters, sorts, at most 200 per page, 400 past the 10,000th result of a query),
//! `lastmodifieddate` moving on every write, property definitions whose options a `PATCH`
//! replaces, rolling-window rate limits answering 429 with `Retry-After` and a body naming the
//! policy, and fault knobs.
//!
//! It must not share types with the HubSpot adapter (crmsync's `crm::hubspot`): its wire shapes
//! are its own, so the two cross-check each other against HubSpot's docs. It must not print.
//!
//! Files: `state.rs` (model, validation, batch and search rules), `routes.rs` (HTTP pipeline and
//! handlers), `wire.rs` (JSON shapes), `seed.rs` (contacts seeded from fake Inbox prospects).

mod routes;
mod search;
mod seed;
mod state;
mod wire;

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use crate::common::now_ms;
use crate::server::Server;

pub use seed::{PROPERTIES_TOML, STATUS_MAP, Seeded, crm_status};
pub use state::{PropertySpec, WriteRecord};

use state::Model;

/// The rate limits the fake enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `(requests, window)` for every endpoint (HubSpot's `TEN_SECONDLY_ROLLING`); `None`: off.
    pub requests: Option<(u32, Duration)>,
    /// Search requests per second (`SECONDLY`); `None`: off.
    pub search_per_second: Option<u32>,
}

impl Limits {
    /// No limits.
    pub fn off() -> Limits {
        Limits {
            requests: None,
            search_per_second: None,
        }
    }

    /// HubSpot's free/starter private-app limits: 100 requests per 10 s, search 4 per second.
    pub fn hubspot_free() -> Limits {
        Limits {
            requests: Some((100, Duration::from_secs(10))),
            search_per_second: Some(4),
        }
    }
}

/// How to seed and run a fake HubSpot.
#[derive(Debug, Clone)]
pub struct FakeHubspotConfig {
    /// The Bearer token the fake accepts.
    pub token: String,
    /// Number of generated contacts (`twitter_user_id` 900000001.., handle `@lead00001`..).
    pub contacts: usize,
    /// E-mails of the seeded owners (default: the fake Inbox's members, so the demo maps).
    pub owner_emails: Vec<String>,
    /// Rate limits.
    pub limits: Limits,
}

impl Default for FakeHubspotConfig {
    fn default() -> Self {
        FakeHubspotConfig {
            token: "fake-hubspot-token".into(),
            contacts: 0,
            owner_emails: ["alice", "ben", "chloe", "dev", "eva", "farid"]
                .iter()
                .map(|h| format!("{h}@acme-agency.example"))
                .collect(),
            limits: Limits::hubspot_free(),
        }
    }
}

/// Request counters since start or the last [`FakeHubspot::reset_stats`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Every request received.
    pub requests: u64,
    /// Requests by `(method, route template)`, e.g. `("POST",
    /// "/crm/v3/objects/contacts/batch/update")`; unknown paths count as `"(unmatched)"`.
    pub by_route: BTreeMap<(String, String), u64>,
    /// 429 answers (limits or scripted).
    pub rate_limited: u64,
    /// 207 answers.
    pub partial: u64,
    /// 5xx answers.
    pub server_errors: u64,
    /// 401 answers.
    pub unauthorized: u64,
}

impl Stats {
    /// Requests seen for `method` on `route` (a template such as `"/crm/v3/owners"`).
    pub fn count(&self, method: &str, route: &str) -> u64 {
        self.by_route
            .get(&(method.to_owned(), route.to_owned()))
            .copied()
            .unwrap_or(0)
    }

    /// `batch/update` calls seen.
    pub fn batch_updates(&self) -> u64 {
        self.count("POST", "/crm/v3/objects/contacts/batch/update")
    }
}

/// A contact as tests see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactView {
    /// Record id.
    pub id: String,
    /// Stored values (unset properties are absent).
    pub properties: BTreeMap<String, String>,
    /// `lastmodifieddate`, epoch ms.
    pub last_modified_ms: i64,
    /// Archived (deleted).
    pub archived: bool,
}

impl ContactView {
    /// A property's value, `None` when unset.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.properties.get(name).map(String::as_str)
    }
}

/// Non-data state: limits, faults and counters.
pub(crate) struct Control {
    /// Enforced limits.
    limits: Limits,
    /// Start times of admitted requests inside the general window.
    request_times: VecDeque<Instant>,
    /// Start times of admitted searches inside the last second.
    search_times: VecDeque<Instant>,
    /// Statuses the next authenticated requests answer with, front first.
    fail_next: VecDeque<u16>,
    /// How many upcoming successful answers get a truncated body.
    malformed_next: usize,
    /// Counters.
    stats: Stats,
}

/// Everything behind the lock.
pub(crate) struct State {
    /// The account's data.
    model: Model,
    /// Limits, faults, counters.
    control: Control,
}

/// Shared between the server task and the [`FakeHubspot`] handle.
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

/// A running fake HubSpot. Dropping it stops the server.
pub struct FakeHubspot {
    /// State shared with the server task.
    shared: Arc<Shared>,
    /// The server task.
    server: Server,
}

impl FakeHubspot {
    /// Seeds the account and serves it on `127.0.0.1:0` (a free port).
    pub async fn start(cfg: FakeHubspotConfig) -> std::io::Result<FakeHubspot> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), cfg).await
    }

    /// Seeds the account and serves it on `addr`.
    pub async fn start_on(
        addr: SocketAddr,
        cfg: FakeHubspotConfig,
    ) -> std::io::Result<FakeHubspot> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let mut model = Model::new(&cfg.owner_emails);
        seed_contacts(&mut model, cfg.contacts, now_ms());
        let shared = Arc::new(Shared {
            token: cfg.token,
            state: Mutex::new(State {
                model,
                control: Control {
                    limits: cfg.limits,
                    request_times: VecDeque::new(),
                    search_times: VecDeque::new(),
                    fail_next: VecDeque::new(),
                    malformed_next: 0,
                    stats: Stats::default(),
                },
            }),
        });
        let app = routes::router(Arc::clone(&shared));
        let server = Server::spawn(listener, app, "fake HubSpot")?;
        Ok(FakeHubspot { shared, server })
    }

    /// `http://127.0.0.1:PORT` (HubSpot's base has no path: endpoints start with `/crm/v3`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// Serves until the server task ends (for a CLI that selects this against ctrl-c).
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

    /// Zeroes the request counters.
    pub fn reset_stats(&self) {
        self.lock().control.stats = Stats::default();
    }

    /// Every contact (archived ones included), in id order.
    pub fn contacts(&self) -> Vec<ContactView> {
        let state = self.lock();
        state.model.contacts.values().map(view).collect()
    }

    /// One contact by id.
    pub fn contact(&self, id: &str) -> Option<ContactView> {
        let state = self.lock();
        let id: u64 = id.parse().ok()?;
        state.model.contacts.get(&id).map(view)
    }

    /// Adds a contact with these values (not validated: seed with anything, even values the
    /// API would refuse); returns its id.
    pub fn add_contact<K: AsRef<str>, V: AsRef<str>>(&self, properties: &[(K, V)]) -> String {
        let properties: BTreeMap<String, String> = properties
            .iter()
            .map(|(k, v)| (k.as_ref().to_owned(), v.as_ref().to_owned()))
            .collect();
        self.lock().model.create(&properties, now_ms()).to_string()
    }

    /// Simulates a user editing a contact in HubSpot: sets (or with `""` clears) a property and
    /// moves `lastmodifieddate`. Recorded in the write log as route `ui`.
    ///
    /// # Panics
    /// On an unknown contact or a value the API would refuse (a bug in the test).
    pub fn set_property(&self, id: &str, name: &str, value: &str) {
        let mut state = self.lock();
        if let Err(invalid) = state.model.validate(name, value) {
            panic!("fake HubSpot: set_property({id}, {name}) refused: {invalid:?}");
        }
        let contact_id = state
            .model
            .live(id)
            .map(|c| c.id)
            .unwrap_or_else(|| panic!("fake HubSpot: unknown contact {id:?}"));
        let now = now_ms();
        let contact = state
            .model
            .contacts
            .get_mut(&contact_id)
            .expect("looked up above");
        if value.is_empty() {
            contact.properties.remove(name);
        } else {
            contact.properties.insert(name.to_owned(), value.to_owned());
        }
        contact.modified_ms = now;
        state.model.writes.push(WriteRecord {
            route: "ui".into(),
            id: id.to_owned(),
            properties: [(name.to_owned(), value.to_owned())].into(),
        });
    }

    /// Sets `lastmodifieddate` of contacts (all when `ids` is empty), e.g. to put many contacts
    /// on one timestamp.
    pub fn set_last_modified(&self, ids: &[&str], ms: i64) {
        let mut state = self.lock();
        for contact in state.model.contacts.values_mut() {
            if ids.is_empty() || ids.contains(&contact.id.to_string().as_str()) {
                contact.modified_ms = ms;
            }
        }
    }

    /// Sets how many results a search can page through (HubSpot's is 10,000): past it a page
    /// is refused with HubSpot's 400, as when HubSpot changes the cap.
    pub fn set_search_cap(&self, cap: usize) {
        self.lock().model.search_cap = Some(cap);
    }

    /// Archives (deletes) a contact: reads no longer see it, writes to it fail in a 207.
    pub fn archive(&self, id: &str) {
        let mut state = self.lock();
        if let Some(contact) = id
            .parse::<u64>()
            .ok()
            .and_then(|id| state.model.contacts.get_mut(&id))
        {
            contact.archived = true;
        }
    }

    /// Adds an active owner; returns its id.
    pub fn add_owner(&self, email: &str, first_name: &str, last_name: &str) -> String {
        self.lock().model.add_owner(email, first_name, last_name)
    }

    /// Deactivates an owner (listed with `archived=true` only, no longer assignable).
    pub fn archive_owner(&self, id: &str) {
        let mut state = self.lock();
        if let Some(owner) = state.model.owners.iter_mut().find(|o| o.id == id) {
            owner.archived = true;
        }
    }

    /// `(id, email)` of every active owner.
    pub fn owners(&self) -> Vec<(String, String)> {
        let state = self.lock();
        let owners = state.model.owners.iter().filter(|o| !o.archived);
        owners.map(|o| (o.id.clone(), o.email.clone())).collect()
    }

    /// Adds or replaces a property definition.
    pub fn define_property(&self, spec: PropertySpec) {
        self.lock().model.properties.insert(spec.name.clone(), spec);
    }

    /// Adds an option to an enumeration property.
    ///
    /// # Panics
    /// On an unknown property.
    pub fn add_option(&self, property: &str, value: &str, label: &str) {
        let mut state = self.lock();
        let spec = state
            .model
            .properties
            .get_mut(property)
            .unwrap_or_else(|| panic!("fake HubSpot: unknown property {property:?}"));
        spec.options.push((value.to_owned(), label.to_owned()));
    }

    /// Removes an option (by value) from an enumeration property.
    pub fn remove_option(&self, property: &str, value: &str) {
        let mut state = self.lock();
        if let Some(spec) = state.model.properties.get_mut(property) {
            spec.options.retain(|(v, _)| v != value);
        }
    }

    /// `(value, label)` options of a property.
    pub fn options(&self, property: &str) -> Vec<(String, String)> {
        let state = self.lock();
        let model = &state.model;
        model
            .properties
            .get(property)
            .map(|spec| model.options(spec))
            .unwrap_or_default()
    }

    /// From now on, `batch/update` refuses writes to this contact in a 207 with `message`
    /// (`None` lifts it), as HubSpot does for records it will not change.
    pub fn reject_writes_to(&self, id: &str, message: Option<&str>) {
        let mut state = self.lock();
        match message {
            Some(message) => state
                .model
                .rejections
                .insert(id.to_owned(), message.to_owned()),
            None => state.model.rejections.remove(id),
        };
    }

    /// Replaces the rate limits (request history is kept).
    pub fn set_limits(&self, limits: Limits) {
        self.lock().control.limits = limits;
    }

    /// The next `n` authenticated requests answer `status` with HubSpot's body for it (`429`
    /// adds `Retry-After: 1` and a `TEN_SECONDLY_ROLLING` body); they are not handled and do
    /// not count toward limits.
    pub fn fail_next(&self, n: usize, status: u16) {
        self.lock()
            .control
            .fail_next
            .extend(std::iter::repeat_n(status, n));
    }

    /// The next `n` successful answers are handled normally but their JSON is truncated.
    pub fn malformed_next(&self, n: usize) {
        self.lock().control.malformed_next += n;
    }

    /// Every successful write (batch update/create inputs and simulated UI edits), in order.
    pub fn write_log(&self) -> Vec<WriteRecord> {
        self.lock().model.writes.clone()
    }
}

fn view(contact: &state::Contact) -> ContactView {
    ContactView {
        id: contact.id.to_string(),
        properties: contact.properties.clone(),
        last_modified_ms: contact.modified_ms,
        archived: contact.archived,
    }
}

/// Generated contacts for trying the fake by hand.
fn seed_contacts(model: &mut Model, n: usize, now_ms: i64) {
    let tags = ["vip", "hot_lead", "follow_up", "partner", "investor"];
    let statuses = ["NEW", "OPEN", "IN_PROGRESS", "OPEN_DEAL", "CONNECTED"];
    for idx in 1..=n {
        let mut properties = BTreeMap::new();
        properties.insert("firstname".into(), format!("Lead {idx}"));
        properties.insert("twitter_user_id".into(), (900_000_000 + idx).to_string());
        properties.insert("twitterhandle".into(), format!("@lead{idx:05}"));
        properties.insert("inbox_tags".into(), tags[idx % tags.len()].to_owned());
        properties.insert(
            "hs_lead_status".into(),
            statuses[idx % statuses.len()].to_owned(),
        );
        if idx % 3 == 0 {
            properties.insert("inbox_valuation".into(), (idx * 100).to_string());
        }
        model.create(&properties, now_ms - (n - idx) as i64 * 1_000);
    }
}

impl std::fmt::Debug for FakeHubspot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeHubspot")
            .field("addr", &self.addr())
            .finish_non_exhaustive()
    }
}
