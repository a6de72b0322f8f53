//! The Inbox v2 HTTP client: one method per endpoint a CRM sync uses, the thread [`Walk`],
//! the batched contact finder, the event log and its retention check.
//!
//! It shares with the v1 client what both need: the options ([`ClientOptions`]), the pacing
//! (`inbox::pacing`, driven by the same `X-RateLimit-*` headers), the request counters
//! ([`RequestStats`]) and `crate::http` (reqwest client, bearer header, retry loop). What is
//! its own is the reading of v2 answers: flat errors typed by `code`, `X-Request-Id`, and
//! which `429 rateLimited` windows are worth waiting for.
//!
//! It does no SQL, no printing and no sync logic, and reads no environment variables. The
//! token lives only in a sensitive header value and a [`SecretString`]; it never appears in
//! errors, `Debug` output or log lines, and is scrubbed from what the server says back.

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use tracing::Instrument;

use crate::http::Call;
use crate::inbox::client::Stats;
use crate::inbox::error::{ShortId, snippet};
use crate::inbox::pacing::{Pacer, RateLimitInfo};
use crate::inbox::{ClientOptions, RequestStats};

use super::error::{Error, Missing, RateWindow, TransientCause};
use super::types::{
    AccountLink, Contact, ContactId, ContactUpdate, Cursor, EventPage, IdentityKind, Member, Page,
    Platform, PlatformInfo, Retention, Status, Tag, Team, Thread, ThreadId, ThreadQuery,
    ThreadUpdate,
};
use super::wire;

/// The longest fixed gap between two requests the client accepts (as v1).
const MAX_MIN_INTERVAL: Duration = Duration::from_secs(3600);

/// Tokens at least this long are scrubbed from server-provided text (as v1).
const MIN_SCRUBBED_TOKEN: usize = 8;

/// Identities per `GET /contacts` call (`maxItems: 100`).
pub const FINDER_BATCH: usize = 100;

/// The largest `GET /events` page.
pub const MAX_EVENT_PAGE: u16 = 1000;

/// Pages a listing of reference data (members, account links, tags, statuses) or one finder
/// batch may take before the client decides the server is misbehaving.
const MAX_LIST_PAGES: usize = 1000;

/// The Inbox v2 client. Cheap to clone; clones share pacing and statistics.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    /// Base URL without a trailing slash, e.g. `https://inboxapp.com/api/v2`.
    base_url: String,
    /// `Bearer <token>`, marked sensitive.
    auth: HeaderValue,
    /// The token again, only to scrub it from what the server says back.
    token: SecretString,
    token_env: String,
    max_attempts: u32,
    backoff_base: Duration,
    pacer: Pacer,
    stats: Stats,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("api", &"v2")
            .field("base_url", &self.inner.base_url)
            .field("token", &"[REDACTED]")
            .field("token_env", &self.inner.token_env)
            .field("max_attempts", &self.inner.max_attempts)
            .finish_non_exhaustive()
    }
}

/// What one attempt came to.
type Attempt = crate::http::Attempt<Failure, Error>;

/// A failure another attempt may cure.
enum Failure {
    /// `429 rateLimited` on a window worth waiting for (`minute`, or one not known).
    RateLimited {
        window: RateWindow,
        reset_at: Option<chrono::DateTime<chrono::Utc>>,
        request_id: Option<String>,
    },
    /// `429 platformRateLimited`, or a 429 of another code.
    OtherRateLimit(Box<Error>),
    Network(reqwest::Error),
    Server {
        status: u16,
        code: Option<String>,
        message: String,
        request_id: Option<String>,
    },
}

impl Failure {
    fn into_error(
        self,
        endpoint: &'static str,
        attempts: u32,
        retry_after: Option<Duration>,
    ) -> Error {
        let source = match self {
            Failure::RateLimited {
                window,
                reset_at,
                request_id,
            } => {
                return Error::RateLimited {
                    window,
                    reset_at,
                    retry_after,
                    request_id,
                };
            }
            Failure::OtherRateLimit(error) => return *error,
            Failure::Network(e) => TransientCause::Network(e),
            Failure::Server {
                status,
                code,
                message,
                request_id,
            } => TransientCause::Status {
                status,
                code,
                message,
                request_id,
            },
        };
        Error::Transient {
            endpoint,
            attempts,
            source,
        }
    }
}

impl Client {
    /// Builds a client from the same options as the v1 client (`base_url` is the v2 base,
    /// e.g. `https://inboxapp.com/api/v2`). Fails on a base URL that is not http(s), a token
    /// that cannot be a header value, or options out of range.
    pub fn new(opts: ClientOptions) -> Result<Client, Error> {
        let base_url = crate::http::base_url("Inbox", &opts.base_url).map_err(Error::Config)?;
        if opts.max_attempts == 0 {
            return Err(Error::Config("max_attempts must be at least 1".into()));
        }
        if let Some(interval) = opts.min_interval.filter(|i| *i > MAX_MIN_INTERVAL) {
            return Err(Error::Config(format!(
                "min_interval of {} ms is longer than the maximum of one hour",
                interval.as_millis()
            )));
        }
        if !(0.0..1.0).contains(&opts.reserve_ratio) {
            return Err(Error::Config(format!(
                "reserve_ratio must be at least 0 and below 1, not {}",
                opts.reserve_ratio
            )));
        }
        let auth = crate::http::bearer(&opts.token, &opts.token_env).map_err(Error::Config)?;
        let http = crate::http::json_client(opts.timeout).map_err(Error::Config)?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base_url,
                auth,
                token: SecretString::from(opts.token.expose_secret().trim().to_owned()),
                token_env: opts.token_env,
                max_attempts: opts.max_attempts,
                backoff_base: opts.backoff_base,
                pacer: Pacer::new(opts.min_interval, opts.reserve_ratio),
                stats: Stats::default(),
            }),
        })
    }

    /// Counters since the client was built (shared by clones): what the engine's request
    /// budget reads.
    pub fn stats(&self) -> RequestStats {
        self.inner.stats.snapshot()
    }

    // Reference data.

    /// `GET /platforms`: the platforms the team can use (not paged).
    pub async fn platforms(&self) -> Result<Vec<PlatformInfo>, Error> {
        let call = Call::get("GET /platforms", "/platforms");
        let list: Vec<wire::PlatformInfo> = self.fetch(call).await?;
        Ok(list.into_iter().map(Into::into).collect())
    }

    /// `GET /team`: the token's team (also the connectivity check).
    pub async fn team(&self) -> Result<Team, Error> {
        let team: wire::Team = self.fetch(Call::get("GET /team", "/team")).await?;
        Ok(team.into())
    }

    /// `GET /members`, every page: every team member, oldest first.
    pub async fn members(&self) -> Result<Vec<Member>, Error> {
        let call = || paged(Call::get("GET /members", "/members"));
        self.collect::<wire::Member, _>(call, Member::from).await
    }

    /// `GET /account-links`, every page: every connected platform account, oldest first.
    pub async fn account_links(&self) -> Result<Vec<AccountLink>, Error> {
        let call = || paged(Call::get("GET /account-links", "/account-links"));
        self.collect::<wire::AccountLink, _>(call, AccountLink::from)
            .await
    }

    /// `GET /tags`: every tag, by name (one page; a cursor, if ever sent, is followed).
    pub async fn tags(&self) -> Result<Vec<Tag>, Error> {
        let call = || Call::get("GET /tags", "/tags");
        self.collect::<wire::Tag, _>(call, Tag::from).await
    }

    /// `GET /statuses`: every status, in board order (one page, as tags).
    pub async fn statuses(&self) -> Result<Vec<Status>, Error> {
        let call = || Call::get("GET /statuses", "/statuses");
        self.collect::<wire::Status, _>(call, Status::from).await
    }

    /// `POST /tags`: creates a tag (`color` a palette name or hex; random when `None`). When
    /// Inbox answers `409 nameTaken` (made by someone else since the tags were read, or by an
    /// earlier attempt of this call whose answer was lost), the existing tag is returned.
    pub async fn create_tag(&self, name: &str, color: Option<&str>) -> Result<Tag, Error> {
        if name.trim().is_empty() {
            return Err(Error::Config("empty tag name".into()));
        }
        let body = wire::TagCreate { name, color };
        let call =
            Call::with_body(Method::POST, "POST /tags", "/tags", &body).map_err(Error::Config)?;
        match self.fetch::<wire::Tag>(call).await {
            Ok(tag) => Ok(tag.into()),
            Err(error @ Error::Api { status: 409, .. }) => {
                // Names are unique ignoring case and accents; accents are left to the server,
                // so a name differing from ours only by accents keeps the 409.
                let wanted = name.trim().to_lowercase();
                let tags = self.tags().await?;
                let exact = tags.iter().position(|t| t.name == name);
                let loose = || {
                    tags.iter()
                        .position(|t| t.name.trim().to_lowercase() == wanted)
                };
                match exact.or_else(loose) {
                    Some(found) => Ok(tags[found].clone()),
                    None => Err(error),
                }
            }
            Err(error) => Err(error),
        }
    }

    // Threads.

    /// The full walk ([`ThreadQuery::full_walk`]), from the start.
    pub fn walk(&self) -> Walk {
        self.walk_from(ThreadQuery::full_walk(), None)
    }

    /// A walk of `query` from `cursor` (a [`Walk::resume_cursor`] saved earlier, issued for the
    /// same query), or from the start. A stale cursor fails with [`Error::InvalidCursor`]:
    /// start over.
    pub fn walk_from(&self, query: ThreadQuery, cursor: Option<Cursor>) -> Walk {
        Walk {
            client: self.clone(),
            query,
            cursor,
            done: false,
        }
    }

    /// `GET /threads`: one page of `query` from `cursor`.
    pub async fn threads_page(
        &self,
        query: &ThreadQuery,
        cursor: Option<&Cursor>,
    ) -> Result<Page<Thread>, Error> {
        let mut call = Call::get("GET /threads", "/threads");
        call.query = thread_query_pairs(query, cursor)?;
        let page: wire::Page<wire::Thread> = self.fetch(call).await?;
        Ok(page.convert(Thread::from))
    }

    /// `GET /threads/{id}?expand=contact&expand=profile`: one thread with its contact and
    /// profile, as the walk reads them.
    pub async fn thread(&self, id: &ThreadId) -> Result<Thread, Error> {
        let mut call = Call::get(
            "GET /threads/{id}",
            format!("/threads/{}", segment(id.as_str())?),
        );
        call.query = vec![("expand", "contact".into()), ("expand", "profile".into())];
        let thread: wire::Thread = self.fetch(call).await?;
        Ok(thread.into())
    }

    /// `PATCH /threads/{id}`: archives/unarchives it or sets its own assignee (`null` falls
    /// back to the contact's default). Returns the thread as updated (not expanded).
    pub async fn update_thread(
        &self,
        id: &ThreadId,
        update: &ThreadUpdate,
    ) -> Result<Thread, Error> {
        if let Some(Some(assignee)) = &update.assignee_id {
            check_ref("assignee id", assignee)?;
        }
        let call = Call::with_body(
            Method::PATCH,
            "PATCH /threads/{id}",
            format!("/threads/{}", segment(id.as_str())?),
            &wire::ThreadUpdate::from(update),
        )
        .map_err(Error::Config)?;
        let thread: wire::Thread = self.fetch(call).await?;
        Ok(thread.into())
    }

    // Contacts.

    /// `GET /contacts/{id}`.
    pub async fn contact(&self, id: &ContactId) -> Result<Contact, Error> {
        let path = format!("/contacts/{}", segment(id.as_str())?);
        let contact: wire::Contact = self.fetch(Call::get("GET /contacts/{id}", path)).await?;
        Ok(contact.into())
    }

    /// `GET /contacts`: the contacts with a profile on `platform` matching any of `identities`
    /// (platform ids, or usernames without their display prefix, as `kind` says), asked
    /// [`FINDER_BATCH`] at a time and every page read. Identities are trimmed; empty and
    /// repeated ones are dropped. No match is no contact; a contact found by several batches
    /// is returned once. Which identity matched is for the caller to read from `profiles`
    /// (one username can match several contacts).
    pub async fn find_contacts(
        &self,
        platform: &Platform,
        kind: IdentityKind,
        identities: &[String],
    ) -> Result<Vec<Contact>, Error> {
        if platform.as_str().is_empty() {
            return Err(Error::Config("empty platform for a contact lookup".into()));
        }
        let mut seen = std::collections::HashSet::new();
        let wanted: Vec<&str> = identities
            .iter()
            .map(|i| i.trim())
            .filter(|i| !i.is_empty() && seen.insert(*i))
            .collect();
        let mut found = super::dedupe::Latest::default();
        for batch in wanted.chunks(FINDER_BATCH) {
            let call = || {
                let mut call = Call::get("GET /contacts", "/contacts");
                call.query.push(("platform", platform.as_str().to_owned()));
                for identity in batch {
                    call.query.push((kind.as_str(), (*identity).to_owned()));
                }
                call.query.push(("limit", FINDER_BATCH.to_string()));
                call
            };
            for contact in self
                .collect::<wire::Contact, _>(call, Contact::from)
                .await?
            {
                found.offer(contact);
            }
        }
        Ok(found.into_contacts())
    }

    /// `PATCH /contacts/{id}`: sends only the fields `update` sets (`null` for a clear).
    /// Returns the contact as updated.
    pub async fn update_contact(
        &self,
        id: &ContactId,
        update: &ContactUpdate,
    ) -> Result<Contact, Error> {
        for value in [&update.status, &update.assignee_id] {
            if let Some(Some(reference)) = value {
                check_ref("status or assignee id", reference)?;
            }
        }
        let call = Call::with_body(
            Method::PATCH,
            "PATCH /contacts/{id}",
            format!("/contacts/{}", segment(id.as_str())?),
            &wire::ContactUpdate::from(update),
        )
        .map_err(Error::Config)?;
        let contact: wire::Contact = self.fetch(call).await?;
        Ok(contact.into())
    }

    /// `PUT /contacts/{id}/tags/{tagRef}`: adds a tag (by id; a name works too). Idempotent:
    /// adding a tag the contact has succeeds. A missing tag is `NotFound { what: Tag }`.
    pub async fn add_tag(&self, id: &ContactId, tag_ref: &str) -> Result<(), Error> {
        self.tag_call(Method::PUT, "PUT /contacts/{id}/tags/{tagRef}", id, tag_ref)
            .await
    }

    /// `DELETE /contacts/{id}/tags/{tagRef}`: removes a tag. Idempotent: removing a tag the
    /// contact lacks succeeds.
    pub async fn remove_tag(&self, id: &ContactId, tag_ref: &str) -> Result<(), Error> {
        self.tag_call(
            Method::DELETE,
            "DELETE /contacts/{id}/tags/{tagRef}",
            id,
            tag_ref,
        )
        .await
    }

    async fn tag_call(
        &self,
        method: Method,
        endpoint: &'static str,
        id: &ContactId,
        tag_ref: &str,
    ) -> Result<(), Error> {
        let call = Call {
            method,
            path: format!(
                "/contacts/{}/tags/{}",
                segment(id.as_str())?,
                segment(tag_ref)?
            ),
            endpoint,
            query: Vec::new(),
            body: None,
        };
        self.execute(&call).await.map(drop)
    }

    // Events.

    /// `GET /events`: up to `limit` (1–1000) events after `after_seq` (exclusive; from the
    /// oldest retained when `None`).
    pub async fn events(&self, after_seq: Option<u64>, limit: u16) -> Result<EventPage, Error> {
        if !(1..=MAX_EVENT_PAGE).contains(&limit) {
            return Err(Error::Config(format!(
                "event page size {limit} out of range 1–{MAX_EVENT_PAGE}"
            )));
        }
        let mut call = Call::get("GET /events", "/events");
        if let Some(seq) = after_seq {
            call.query.push(("afterSeq", seq.to_string()));
        }
        call.query.push(("limit", limit.to_string()));
        let (page, request_id): (wire::EventPage, _) = self.fetch_with_id(call).await?;
        let events = page
            .data
            .into_iter()
            .map(wire::Event::into_event)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|detail| Error::Decode {
                endpoint: "GET /events",
                detail: self.scrub(detail),
                request_id,
            })?;
        Ok(EventPage {
            events,
            last_seq: page.last_seq,
            has_more: page.has_more,
        })
    }

    /// The seq of the oldest retained event (`GET /events?limit=1`), `None` when the log is
    /// empty. The docs give no other way to tell how far back the log reaches.
    pub async fn oldest_event_seq(&self) -> Result<Option<u64>, Error> {
        let page = self.events(None, 1).await?;
        Ok(page.events.first().map(|e| e.seq).or(page.last_seq))
    }

    /// Whether replaying from `after_seq` (a stored `last_seq`) would see every event since:
    /// the oldest retained event must be at most `after_seq + 1`. An empty log proves nothing
    /// (everything may have expired), so it is a gap too.
    pub async fn retention(&self, after_seq: u64) -> Result<Retention, Error> {
        Ok(match self.oldest_event_seq().await? {
            Some(oldest) if oldest <= after_seq.saturating_add(1) => Retention::Covered,
            oldest_seq => Retention::Gap { oldest_seq },
        })
    }

    /// The seq of the newest event, read by paging the whole log (at most 25 pages of 1,000):
    /// the bookmark to take before a first walk, when no seq is stored. `None` when the log is
    /// empty.
    pub async fn latest_event_seq(&self) -> Result<Option<u64>, Error> {
        let mut after = None;
        for _ in 0..MAX_LIST_PAGES {
            let page = self.events(after, MAX_EVENT_PAGE).await?;
            let moved = page.last_seq.is_some() && page.last_seq != after;
            if page.last_seq.is_some() {
                after = page.last_seq;
            }
            if !page.has_more || !moved {
                return Ok(after);
            }
        }
        Err(Error::Decode {
            endpoint: "GET /events",
            detail: format!("more than {MAX_LIST_PAGES} pages: the log never ends"),
            request_id: None,
        })
    }

    // Transport.

    /// Reads every page of a list, passing the cursor back with the same query. `call` makes
    /// the request of the first page, its `limit` included where the endpoint takes one
    /// (`/tags` and `/statuses` take no parameter at all).
    async fn collect<W: DeserializeOwned, T>(
        &self,
        call: impl Fn() -> Call,
        convert: impl Fn(W) -> T,
    ) -> Result<Vec<T>, Error> {
        let mut out = Vec::new();
        let mut cursor: Option<Cursor> = None;
        for _ in 0..MAX_LIST_PAGES {
            let mut request = call();
            if let Some(cursor) = &cursor {
                request.query.push(("cursor", cursor.0.clone()));
            }
            let page: wire::Page<W> = self.fetch(request).await?;
            let page = page.convert(&convert);
            out.extend(page.data);
            match page.next_cursor {
                Some(next) if Some(&next) != cursor.as_ref() => cursor = Some(next),
                _ => return Ok(out),
            }
        }
        Err(Error::Decode {
            endpoint: call().endpoint,
            detail: format!("more than {MAX_LIST_PAGES} pages: the server keeps sending cursors"),
            request_id: None,
        })
    }

    /// Runs a call with retries and decodes the body.
    async fn fetch<T: DeserializeOwned>(&self, call: Call) -> Result<T, Error> {
        self.fetch_with_id(call).await.map(|(value, _)| value)
    }

    /// [`Client::fetch`], with the answer's request id.
    async fn fetch_with_id<T: DeserializeOwned>(
        &self,
        call: Call,
    ) -> Result<(T, Option<String>), Error> {
        let (body, request_id) = self.execute(&call).await?;
        match crate::http::decode_json(&body) {
            Ok(value) => Ok((value, request_id)),
            Err(e) => Err(Error::Decode {
                endpoint: call.endpoint,
                detail: self.scrub(format!("{e}; body: {}", snippet(&body))),
                request_id,
            }),
        }
    }

    /// Attempts a call until it succeeds, fails permanently or runs out of attempts; returns
    /// the body and the request id of the answer.
    async fn execute(&self, call: &Call) -> Result<(Vec<u8>, Option<String>), Error> {
        let inner = &*self.inner;
        let retries = crate::http::Retries {
            service: "Inbox v2",
            endpoint: call.endpoint,
            max_attempts: inner.max_attempts,
            backoff_base: inner.backoff_base,
            counter: &inner.stats.retries,
        };
        let request_id = Mutex::new(None);
        let result = crate::http::with_retries(
            retries,
            |attempt| {
                let request_id = &request_id;
                async move {
                    let started = inner.pacer.acquire().await;
                    let span = tracing::debug_span!(
                        "inbox_request",
                        api = "v2",
                        method = %call.method,
                        path = %call.path,
                        attempt,
                        status = tracing::field::Empty,
                        request_id = tracing::field::Empty,
                    );
                    self.attempt(call, started, request_id)
                        .instrument(span)
                        .await
                }
            },
            |failure, attempts, retry_after| {
                failure.into_error(call.endpoint, attempts, retry_after)
            },
        )
        .await;
        match result {
            Ok(body) => Ok((
                body,
                request_id.into_inner().unwrap_or_else(|e| e.into_inner()),
            )),
            Err(error) => {
                tracing::debug!(
                    endpoint = call.endpoint,
                    request_id = error.request_id(),
                    "Inbox v2 call failed: {error}"
                );
                Err(error)
            }
        }
    }

    /// One HTTP attempt, started (by the pacer) at `started`; leaves the answer's request id
    /// in `request_id`.
    async fn attempt(
        &self,
        call: &Call,
        started: tokio::time::Instant,
        request_id: &Mutex<Option<String>>,
    ) -> Attempt {
        let inner = &*self.inner;
        inner.stats.requests.fetch_add(1, Ordering::Relaxed);
        let response =
            match crate::http::send(&inner.http, &inner.base_url, &inner.auth, call).await {
                Ok(response) => response,
                Err(e) => return network_failure(e),
            };
        let status = response.status();
        let header_id = header_request_id(response.headers()).map(|id| self.scrub(id));
        let span = tracing::Span::current();
        span.record("status", status.as_u16());
        if let Some(id) = &header_id {
            span.record("request_id", id.as_str());
        }
        if let Some(info) = RateLimitInfo::from_headers(response.headers()) {
            // As v1: only a success is certainly counted by the server.
            inner.pacer.observe(started, info, status.is_success());
            inner.stats.set_last_limit(info);
        }
        let retry_after = crate::http::retry_after(response.headers());
        let body = match crate::http::read_body(response).await {
            Ok(body) => body,
            Err(e) => return network_failure(e),
        };
        tracing::debug!(
            status = status.as_u16(),
            bytes = body.len(),
            request_id = header_id.as_deref(),
            "Inbox v2 response"
        );
        if status.is_success() {
            *request_id.lock().unwrap_or_else(|e| e.into_inner()) = header_id;
            return Attempt::Success(body);
        }
        self.classify(status, retry_after, header_id, &body)
    }

    /// Maps an error answer to a retry or a permanent error, by its `code`.
    fn classify(
        &self,
        status: StatusCode,
        retry_after: Option<Duration>,
        header_id: Option<String>,
        body: &[u8],
    ) -> Attempt {
        let stats = &self.inner.stats;
        let parsed: wire::ErrorBody = serde_json::from_slice(body).unwrap_or_default();
        let request_id = header_id.or_else(|| parsed.request_id.map(|id| self.scrub(id)));
        let code = parsed.code.map(|code| self.scrub(code));
        let message = match parsed.message.filter(|m| !m.trim().is_empty()) {
            Some(message) => self.scrub(message),
            None => {
                let text = self.scrub(snippet(body));
                if text.is_empty() {
                    format!("HTTP {} with an empty body", status.as_u16())
                } else {
                    text
                }
            }
        };
        let details = parsed.details;
        tracing::debug!(
            status = status.as_u16(),
            code = code.as_deref(),
            request_id = request_id.as_deref(),
            "Inbox v2 error answer"
        );
        let retry_seconds = || {
            serde_json::from_value::<wire::RetryDetails>(details.clone())
                .ok()
                .and_then(|d| d.retry_after_seconds)
                .map(Duration::from_secs)
        };
        if status == StatusCode::TOO_MANY_REQUESTS {
            stats.rate_limited.fetch_add(1, Ordering::Relaxed);
            if code.as_deref().is_some_and(|c| c != "rateLimited") {
                // The platform's own throttle (message routes): retried as the server asks,
                // reported as it is.
                let retry_after = retry_after.or_else(retry_seconds);
                return Attempt::Retry {
                    failure: Failure::OtherRateLimit(Box::new(Error::Api {
                        status: 429,
                        code,
                        message,
                        details,
                        request_id,
                    })),
                    retry_after,
                };
            }
            let limits: wire::RateLimitDetails =
                serde_json::from_value(details).unwrap_or_default();
            // A 429 without a window (a proxy) is taken as the minute window.
            let window = limits
                .window
                .as_deref()
                .map_or(RateWindow::Minute, RateWindow::parse);
            if window.ends_push() {
                return Attempt::Fatal(Error::RateLimited {
                    window,
                    reset_at: limits.reset_at,
                    retry_after,
                    request_id,
                });
            }
            let until_reset = || {
                let at = limits.reset_at?;
                (at - chrono::Utc::now()).to_std().ok()
            };
            return Attempt::Retry {
                retry_after: retry_after.or_else(until_reset),
                failure: Failure::RateLimited {
                    window,
                    reset_at: limits.reset_at,
                    request_id,
                },
            };
        }
        if status.is_server_error() {
            stats.server_errors.fetch_add(1, Ordering::Relaxed);
            // The SDK never retries `sendUnconfirmed`: the message may have gone out.
            if code.as_deref() != Some("sendUnconfirmed") {
                return Attempt::Retry {
                    retry_after: retry_after.or_else(retry_seconds),
                    failure: Failure::Server {
                        status: status.as_u16(),
                        code,
                        message,
                        request_id,
                    },
                };
            }
        }
        let missing = code.as_deref().and_then(Missing::from_code);
        Attempt::Fatal(match (status.as_u16(), code.as_deref(), missing) {
            (401, _, _) => Error::Unauthorized {
                token_env: self.inner.token_env.clone(),
                request_id,
            },
            (403, _, _) => Error::Forbidden {
                code,
                message,
                request_id,
            },
            (404, _, Some(what)) => Error::NotFound {
                what,
                message,
                request_id,
            },
            (400, Some("invalidCursor"), _) => Error::InvalidCursor {
                message,
                request_id,
            },
            (400, Some("invalidRequest"), _) => Error::InvalidRequest {
                issues: serde_json::from_value::<wire::InvalidRequestDetails>(details)
                    .map(wire::InvalidRequestDetails::into_issues)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|mut issue| {
                        issue.message = self.scrub(issue.message);
                        issue
                    })
                    .collect(),
                message,
                request_id,
            },
            _ => Error::Api {
                status: status.as_u16(),
                code,
                message,
                details,
                request_id,
            },
        })
    }

    /// Removes the token from text that came from the server (as v1 does).
    fn scrub(&self, text: String) -> String {
        let token = self.inner.token.expose_secret();
        if token.len() >= MIN_SCRUBBED_TOKEN && text.contains(token) {
            text.replace(token, "[REDACTED]")
        } else {
            text
        }
    }
}

/// A walk over `GET /threads`: yields the pages of one query, passing each `nextCursor` back
/// with the same filters, until a page has no cursor (or repeats the last one). The caller
/// dedupes what it yields ([`super::WalkMerge`]): with `order=asc`, a thread that moves during
/// the walk comes back near its end.
#[derive(Debug)]
pub struct Walk {
    client: Client,
    query: ThreadQuery,
    /// The cursor of the next page; `None` before the first.
    cursor: Option<Cursor>,
    done: bool,
}

impl Walk {
    /// The next page's threads, or `None` once the walk is over.
    pub async fn next_page(&mut self) -> Result<Option<Vec<Thread>>, Error> {
        if self.done {
            return Ok(None);
        }
        let page = self
            .client
            .threads_page(&self.query, self.cursor.as_ref())
            .await?;
        match page.next_cursor {
            Some(next) if Some(&next) != self.cursor.as_ref() => self.cursor = Some(next),
            _ => self.done = true,
        }
        Ok(Some(page.data))
    }

    /// Where the walk would continue: save it with [`Walk::query`] to resume later with
    /// [`Client::walk_from`]. `None` before the first page and once the walk is over.
    pub fn resume_cursor(&self) -> Option<&Cursor> {
        self.cursor.as_ref().filter(|_| !self.done)
    }

    /// The query this walk lists.
    pub fn query(&self) -> &ThreadQuery {
        &self.query
    }

    /// Whether the last page was read.
    pub fn is_done(&self) -> bool {
        self.done
    }
}

fn network_failure(error: reqwest::Error) -> Attempt {
    tracing::debug!(
        timeout = error.is_timeout(),
        "Inbox v2 request failed: {error}"
    );
    Attempt::Retry {
        failure: Failure::Network(error),
        retry_after: None,
    }
}

/// `call` with the largest page size, `limit=100`.
fn paged(mut call: Call) -> Call {
    call.query.push(("limit", "100".into()));
    call
}

/// `X-Request-Id`, if present and text.
fn header_request_id(headers: &HeaderMap) -> Option<String> {
    let id = headers.get("x-request-id")?.to_str().ok()?.trim();
    (!id.is_empty()).then(|| id.to_owned())
}

/// Rejects an empty reference and one with control characters, so that nothing odd reaches a
/// path or a body.
fn check_ref(what: &str, reference: &str) -> Result<(), Error> {
    if reference.is_empty() || reference.chars().any(char::is_control) {
        return Err(Error::Config(format!(
            "invalid {what} {}",
            ShortId(reference)
        )));
    }
    Ok(())
}

/// `reference` as one URL path segment: every byte but the unreserved ones (`A-Z a-z 0-9 - . _
/// ~`) percent-encoded, so a tag named `VIP / 2026 #1` stays one segment and no `?` or `#`
/// ends the path.
pub(crate) fn segment(reference: &str) -> Result<String, Error> {
    check_ref("path reference", reference)?;
    let mut out = String::with_capacity(reference.len());
    for byte in reference.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    Ok(out)
}

/// The query of `GET /threads`: filters in a fixed order, arrays as repeated keys, then the
/// cursor; the same query gives the same pairs, page after page.
pub(crate) fn thread_query_pairs(
    query: &ThreadQuery,
    cursor: Option<&Cursor>,
) -> Result<Vec<(&'static str, String)>, Error> {
    if !(1..=100).contains(&query.limit) {
        return Err(Error::Config(format!(
            "thread page size {} out of range 1–100",
            query.limit
        )));
    }
    let mut expand = query.expand.clone();
    let mut seen = std::collections::HashSet::new();
    expand.retain(|e| seen.insert(*e));
    if expand.len() > 4 {
        return Err(Error::Config("at most 4 expansions per request".into()));
    }
    let mut pairs = vec![
        ("folder", query.folder.as_str().to_owned()),
        ("order", query.order.as_str().to_owned()),
        ("limit", query.limit.to_string()),
    ];
    pairs.extend(expand.iter().map(|e| ("expand", e.as_str().to_owned())));
    for id in &query.contact_ids {
        check_ref("contact id", id.as_str())?;
        pairs.push(("contactId", id.0.clone()));
    }
    for id in &query.account_link_ids {
        check_ref("account link id", id)?;
        pairs.push(("accountLinkId", id.clone()));
    }
    if let Some(cursor) = cursor {
        if cursor.0.is_empty() {
            return Err(Error::Config("empty page cursor".into()));
        }
        pairs.push(("cursor", cursor.0.clone()));
    }
    Ok(pairs)
}
