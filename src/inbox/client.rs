//! The Inbox v1 HTTP client: auth, pacing, retries with backoff and `Retry-After`, error
//! mapping, and one method per endpoint the engine uses.
//!
//! It does no SQL, no printing and no sync logic; it reads no environment variables (the
//! token is handed in). The token lives only in a sensitive header value and a
//! [`SecretString`]; it never appears in errors, `Debug` output or log lines.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::HeaderValue;
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use tracing::Instrument;

use crate::http::Call;

use super::error::{Error, ShortId, TransientCause, parse_error_body, snippet};
use super::pacing::{Pacer, RateLimitInfo};
use super::types::{
    AccountLink, ContextUpdate, Cursor, EventPage, Member, Prospect, Status, Tag, Team, Thread,
    ThreadPage, ThreadQuery, ThreadUpdate,
};

/// The longest fixed gap between two requests the client accepts. Far longer gaps make no
/// sense, and past about 584 years the pacing limiter (u64 nanoseconds) panics.
const MAX_MIN_INTERVAL: Duration = Duration::from_secs(3600);

/// Tokens at least this long are scrubbed from server-provided error text.
const MIN_SCRUBBED_TOKEN: usize = 8;

/// How to reach Inbox and how patiently.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// API base, e.g. `https://inboxapp.com/api/v1` (a trailing slash is fine).
    pub base_url: String,
    /// The API token (Debug prints `[REDACTED]`).
    pub token: SecretString,
    /// The *name* of the environment variable that held the token, for the 401 message.
    pub token_env: String,
    /// Per-request timeout (connect to end of body). Default 30 s.
    pub timeout: Duration,
    /// Attempts per call, counting the first; at least 1. Default 5 (vendor recommendation).
    pub max_attempts: u32,
    /// First retry delay; doubles per retry with jitter, capped at 60 s. Default 1 s.
    pub backoff_base: Duration,
    /// Minimum gap between request starts; default 200 ms (300/min), at most one hour. `None`:
    /// no fixed pacing; the `X-RateLimit-*` headers alone pace the requests.
    pub min_interval: Option<Duration>,
    /// Share (0 ≤ r < 1) of each rate-limit window left unused for the team's people: the
    /// client spreads its requests to use at most `(1 - r) × X-RateLimit-Limit` per window.
    /// Default 0.2, as `[limits] reserve_ratio`.
    pub reserve_ratio: f64,
}

impl ClientOptions {
    /// Refuses options out of range (both API clients build from them): no attempt, a pause
    /// between requests over an hour, a reserve outside [0, 1).
    pub(crate) fn check(&self) -> Result<(), String> {
        if self.max_attempts == 0 {
            return Err("max_attempts must be at least 1".into());
        }
        if let Some(interval) = self.min_interval.filter(|i| *i > MAX_MIN_INTERVAL) {
            return Err(format!(
                "min_interval of {} ms is longer than the maximum of one hour",
                interval.as_millis()
            ));
        }
        if !(0.0..1.0).contains(&self.reserve_ratio) {
            return Err(format!(
                "reserve_ratio must be at least 0 and below 1, not {}",
                self.reserve_ratio
            ));
        }
        Ok(())
    }

    /// Options with the defaults above.
    pub fn new(
        base_url: impl Into<String>,
        token: SecretString,
        token_env: impl Into<String>,
    ) -> ClientOptions {
        ClientOptions {
            base_url: base_url.into(),
            token,
            token_env: token_env.into(),
            timeout: Duration::from_secs(30),
            max_attempts: 5,
            backoff_base: Duration::from_secs(1),
            min_interval: Some(Duration::from_millis(200)),
            reserve_ratio: 0.2,
        }
    }
}

/// Counters of one client (shared by its clones) since it was built.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RequestStats {
    /// HTTP attempts made, retries included.
    pub requests: u64,
    /// Attempts that were retries.
    pub retries: u64,
    /// 429 responses met.
    pub rate_limited: u64,
    /// 5xx responses met.
    pub server_errors: u64,
    /// The `X-RateLimit-*` headers of the latest response that had them.
    pub last_limit: Option<RateLimitInfo>,
}

/// What v1 said about its own retirement: the last `Deprecation` and `Sunset` response headers
/// seen (RFC 9745 and RFC 8594), as sent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Retirement {
    /// `Deprecation`, e.g. `true` or `@1764720000`.
    pub deprecation: Option<String>,
    /// `Sunset`, an HTTP date such as `Thu, 03 Dec 2026 00:00:00 GMT`.
    pub sunset: Option<String>,
}

impl Retirement {
    /// Whether either header was seen.
    pub fn announced(&self) -> bool {
        self.deprecation.is_some() || self.sunset.is_some()
    }

    /// Records the headers of `headers` that are present (a response without them keeps
    /// what an earlier one said).
    fn observe(&mut self, headers: &reqwest::header::HeaderMap) {
        let text = |name: &str| {
            let value = headers.get(name)?.to_str().ok()?.trim();
            (!value.is_empty()).then(|| snippet(value.as_bytes()))
        };
        if let Some(value) = text("deprecation") {
            self.deprecation = Some(value);
        }
        if let Some(value) = text("sunset") {
            self.sunset = Some(value);
        }
    }
}

/// The Inbox v1 client. Cheap to clone; clones share pacing and statistics.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    /// Base URL without a trailing slash.
    base_url: String,
    /// `Bearer <token>`, marked sensitive.
    auth: HeaderValue,
    /// The token again, only to scrub it from what the server says back: some servers and
    /// proxies echo request headers in their error pages.
    token: SecretString,
    token_env: String,
    max_attempts: u32,
    backoff_base: Duration,
    pacer: Pacer,
    stats: Stats,
    /// The `Deprecation` / `Sunset` headers seen.
    retirement: Mutex<Retirement>,
}

/// The live counters behind [`RequestStats`], shared by the v1 and v2 clients.
#[derive(Default)]
pub(crate) struct Stats {
    pub(crate) requests: AtomicU64,
    pub(crate) retries: AtomicU64,
    pub(crate) rate_limited: AtomicU64,
    pub(crate) server_errors: AtomicU64,
    pub(crate) last_limit: Mutex<Option<RateLimitInfo>>,
}

impl Stats {
    /// The counters as they are now.
    pub(crate) fn snapshot(&self) -> RequestStats {
        RequestStats {
            requests: self.requests.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            rate_limited: self.rate_limited.load(Ordering::Relaxed),
            server_errors: self.server_errors.load(Ordering::Relaxed),
            last_limit: *self.last_limit.lock().unwrap_or_else(|e| e.into_inner()),
        }
    }

    /// Remembers the rate-limit headers of the latest response that had them.
    pub(crate) fn set_last_limit(&self, info: RateLimitInfo) {
        *self.last_limit.lock().unwrap_or_else(|e| e.into_inner()) = Some(info);
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.inner.base_url)
            .field("token", &"[REDACTED]")
            .field("token_env", &self.inner.token_env)
            .field("max_attempts", &self.inner.max_attempts)
            .finish_non_exhaustive()
    }
}

/// What one attempt came to.
type Attempt = crate::http::Attempt<RetryableFailure, Error>;

enum RetryableFailure {
    RateLimited,
    Network(reqwest::Error),
    Server {
        status: u16,
        code: Option<String>,
        message: String,
    },
}

impl std::fmt::Display for RetryableFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RetryableFailure::RateLimited => f.write_str("rate limited (429)"),
            RetryableFailure::Network(e) => f.write_str(&crate::http::network_cause(e)),
            RetryableFailure::Server {
                status, message, ..
            } => write!(f, "server error ({status}): {message}"),
        }
    }
}

impl Client {
    /// Builds a client. Fails on a base URL that is not http(s) or a token that cannot be a
    /// header value. Installs the process-wide rustls crypto provider (ring) if none is set.
    pub fn new(opts: ClientOptions) -> Result<Client, Error> {
        let base_url = crate::http::base_url("Inbox", &opts.base_url).map_err(Error::Config)?;
        opts.check().map_err(Error::Config)?;
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
                retirement: Mutex::default(),
            }),
        })
    }

    /// `GET /team`: the token's team (also the connectivity check).
    pub async fn team(&self) -> Result<Team, Error> {
        self.fetch(Call::get("GET /team", "/team")).await
    }

    /// `GET /account-links`: every connected X account.
    pub async fn account_links(&self) -> Result<Vec<AccountLink>, Error> {
        self.fetch(Call::get("GET /account-links", "/account-links"))
            .await
    }

    /// `GET /members`: every team member.
    pub async fn members(&self) -> Result<Vec<Member>, Error> {
        self.fetch(Call::get("GET /members", "/members")).await
    }

    /// `GET /tags`: every tag.
    pub async fn tags(&self) -> Result<Vec<Tag>, Error> {
        self.fetch(Call::get("GET /tags", "/tags")).await
    }

    /// `POST /tags`: creates a tag. Names are unique per team: when Inbox answers 409 because
    /// the name exists (made by someone else since the tags were read, or by an earlier attempt
    /// of this call whose answer was lost), the existing tag is returned instead.
    pub async fn create_tag(&self, name: &str) -> Result<Tag, Error> {
        if name.trim().is_empty() || name.chars().count() > 255 {
            return Err(Error::Config(format!(
                "invalid tag name {}: expected 1–255 characters",
                ShortId(name)
            )));
        }
        let body = serde_json::json!({ "name": name });
        let call =
            Call::with_body(Method::POST, "POST /tags", "/tags", &body).map_err(Error::Config)?;
        match self.fetch::<Tag>(call).await {
            Err(Error::Api {
                status: 409,
                code,
                message,
            }) => {
                let tags = self.tags().await?;
                let exact = tags.iter().position(|t| t.name == name);
                let loose = || {
                    let wanted = name.trim().to_lowercase();
                    tags.iter()
                        .position(|t| t.name.trim().to_lowercase() == wanted)
                };
                match exact.or_else(loose) {
                    Some(found) => Ok(tags[found].clone()),
                    None => Err(Error::Api {
                        status: 409,
                        code,
                        message,
                    }),
                }
            }
            other => other,
        }
    }

    /// `GET /statuses`: every pipeline status.
    pub async fn statuses(&self) -> Result<Vec<Status>, Error> {
        self.fetch(Call::get("GET /statuses", "/statuses")).await
    }

    /// `GET /threads`: one page of a view. Pass the previous page's `next_cursor` (and the
    /// same query) for the next page.
    pub async fn threads_page(
        &self,
        q: &ThreadQuery,
        cursor: Option<&Cursor>,
    ) -> Result<ThreadPage, Error> {
        let mut call = Call::get("GET /threads", "/threads");
        call.query = thread_query_pairs(q, cursor)?;
        self.fetch(call).await
    }

    /// `GET /threads/{id}`.
    pub async fn thread(&self, id: &str) -> Result<Thread, Error> {
        check_id("thread id", id)?;
        self.fetch(Call::get("GET /threads/{id}", format!("/threads/{id}")))
            .await
    }

    /// `PATCH /threads/{id}`: sets `done` and/or the assignee of this one thread.
    pub async fn patch_thread(&self, id: &str, patch: &ThreadUpdate) -> Result<Thread, Error> {
        check_id("thread id", id)?;
        if let Some(Some(assignee)) = &patch.assignee_id {
            check_id("assignee id", assignee)?;
        }
        let call = Call::with_body(
            Method::PATCH,
            "PATCH /threads/{id}",
            format!("/threads/{id}"),
            patch,
        )
        .map_err(Error::Config)?;
        self.fetch(call).await
    }

    /// `GET /prospects/{id}` by the prospect's `externalId`.
    pub async fn prospect(&self, id: &str) -> Result<Prospect, Error> {
        check_id("prospect id", id)?;
        self.fetch(Call::get("GET /prospects/{id}", format!("/prospects/{id}")))
            .await
    }

    /// `GET /prospects/lookup?platformId=`: the prospect with this X user id, or `None` when
    /// Inbox does not know them (the API answers `200 null`).
    pub async fn lookup_prospect(&self, platform_id: &str) -> Result<Option<Prospect>, Error> {
        let platform_id = platform_id.trim();
        if platform_id.is_empty() {
            return Err(Error::Config(
                "empty platform id for a prospect lookup".into(),
            ));
        }
        let mut call = Call::get("GET /prospects/lookup", "/prospects/lookup");
        call.query = vec![("platformId", platform_id.to_owned())];
        self.fetch(call).await
    }

    /// `PATCH /prospects/{id}/context`: changes the prospect's CRM fields; `assignee_id` and
    /// `done` fan out to every thread of the prospect. Returns the prospect as updated.
    pub async fn patch_context(&self, id: &str, patch: &ContextUpdate) -> Result<Prospect, Error> {
        check_id("prospect id", id)?;
        for field_id in patch.ids() {
            check_id("id in the context update", field_id)?;
        }
        let call = Call::with_body(
            Method::PATCH,
            "PATCH /prospects/{id}/context",
            format!("/prospects/{id}/context"),
            patch,
        )
        .map_err(Error::Config)?;
        self.fetch(call).await
    }

    /// `GET /events`: up to `limit` (1–1000) events after `after_seq` (from the oldest retained
    /// when `None`).
    pub async fn events(&self, after_seq: Option<u64>, limit: u16) -> Result<EventPage, Error> {
        if !(1..=1000).contains(&limit) {
            return Err(Error::Config(format!(
                "event page size {limit} out of range 1–1000"
            )));
        }
        let mut call = Call::get("GET /events", "/events");
        if let Some(seq) = after_seq {
            call.query.push(("afterSeq", seq.to_string()));
        }
        call.query.push(("limit", limit.to_string()));
        self.fetch(call).await
    }

    /// Counters since the client was built (shared by clones).
    pub fn stats(&self) -> RequestStats {
        self.inner.stats.snapshot()
    }

    /// The last `Deprecation` / `Sunset` headers Inbox sent (shared by clones).
    pub fn retirement(&self) -> Retirement {
        let seen = self.inner.retirement.lock();
        seen.unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Runs a call with retries and decodes the body.
    async fn fetch<T: DeserializeOwned>(&self, call: Call) -> Result<T, Error> {
        let body = self.execute(&call).await?;
        crate::http::decode_json(&body).map_err(|e| Error::Decode {
            endpoint: call.endpoint.to_owned(),
            detail: self.scrub(format!("{e}; body: {}", snippet(&body))),
        })
    }

    /// Removes the token from text that came from the server (error messages, body snippets),
    /// so that an echoing server cannot get it printed or stored. Tokens shorter than
    /// [`MIN_SCRUBBED_TOKEN`] are left alone: no real token is that short, and replacing every
    /// occurrence of a two-letter string would garble the message.
    fn scrub(&self, text: String) -> String {
        let token = self.inner.token.expose_secret();
        if token.len() >= MIN_SCRUBBED_TOKEN && text.contains(token) {
            text.replace(token, "[REDACTED]")
        } else {
            text
        }
    }

    /// Attempts a call until it succeeds, fails permanently or runs out of attempts.
    async fn execute(&self, call: &Call) -> Result<Vec<u8>, Error> {
        let inner = &*self.inner;
        let retries = crate::http::Retries {
            service: "Inbox",
            endpoint: call.endpoint,
            max_attempts: inner.max_attempts,
            backoff_base: inner.backoff_base,
            counter: &inner.stats.retries,
        };
        crate::http::with_retries(
            retries,
            move |attempt| async move {
                let started = inner.pacer.acquire().await;
                let span = tracing::debug_span!(
                    "inbox_request",
                    method = %call.method,
                    path = %call.path,
                    attempt,
                    status = tracing::field::Empty,
                );
                self.attempt(call, started).instrument(span).await
            },
            |failure, attempts, retry_after| {
                failure.into_error(call.endpoint, attempts, retry_after)
            },
        )
        .await
    }

    /// One HTTP attempt, started (by the pacer) at `started`.
    async fn attempt(&self, call: &Call, started: tokio::time::Instant) -> Attempt {
        let inner = &*self.inner;
        inner.stats.requests.fetch_add(1, Ordering::Relaxed);
        let response =
            match crate::http::send(&inner.http, &inner.base_url, &inner.auth, call).await {
                Ok(response) => response,
                Err(e) => {
                    if let Some(reason) = crate::http::unreachable(&e).await {
                        tracing::debug!("Inbox request failed: {e}");
                        return Attempt::Fatal(Error::Unreachable {
                            base_url: inner.base_url.clone(),
                            reason,
                        });
                    }
                    return network_failure(e);
                }
            };
        let status = response.status();
        tracing::Span::current().record("status", status.as_u16());
        if let Some(info) = RateLimitInfo::from_headers(response.headers()) {
            // Only a success is certainly counted by the server (a 429 is not; some errors
            // are answered before counting): the pacer dates the window by counted requests.
            inner.pacer.observe(started, info, status.is_success());
            inner.stats.set_last_limit(info);
        }
        if ["deprecation", "sunset"]
            .iter()
            .any(|name| response.headers().contains_key(*name))
        {
            let mut seen = inner.retirement.lock().unwrap_or_else(|e| e.into_inner());
            seen.observe(response.headers());
        }
        let retry_after = crate::http::retry_after(response.headers());
        let body = match crate::http::read_body(response).await {
            Ok(body) => body,
            Err(e) => return network_failure(e),
        };
        tracing::debug!(
            status = status.as_u16(),
            bytes = body.len(),
            "Inbox response"
        );
        if status.is_success() {
            return Attempt::Success(body);
        }
        self.classify(status, retry_after, &body)
    }

    /// Maps a non-success response to a retry or a permanent error.
    fn classify(&self, status: StatusCode, retry_after: Option<Duration>, body: &[u8]) -> Attempt {
        let stats = &self.inner.stats;
        if status == StatusCode::TOO_MANY_REQUESTS {
            stats.rate_limited.fetch_add(1, Ordering::Relaxed);
            return Attempt::Retry {
                failure: RetryableFailure::RateLimited,
                retry_after,
            };
        }
        let mut parsed = parse_error_body(status.as_u16(), body);
        parsed.code = parsed.code.map(|code| self.scrub(code));
        parsed.message = self.scrub(parsed.message);
        if status == StatusCode::GONE || says_retired(parsed.code.as_deref()) {
            return Attempt::Fatal(Error::Retired);
        }
        if status.is_server_error() {
            stats.server_errors.fetch_add(1, Ordering::Relaxed);
            return Attempt::Retry {
                failure: RetryableFailure::Server {
                    status: status.as_u16(),
                    code: parsed.code,
                    message: parsed.message,
                },
                retry_after,
            };
        }
        Attempt::Fatal(match status {
            StatusCode::UNAUTHORIZED => Error::Unauthorized {
                token_env: self.inner.token_env.clone(),
            },
            StatusCode::FORBIDDEN => Error::Forbidden {
                message: parsed.message,
            },
            StatusCode::NOT_FOUND => Error::NotFound {
                code: parsed.code,
                message: parsed.message,
            },
            _ => Error::Api {
                status: status.as_u16(),
                code: parsed.code,
                message: parsed.message,
            },
        })
    }
}

impl RetryableFailure {
    fn into_error(self, endpoint: &str, attempts: u32, retry_after: Option<Duration>) -> Error {
        let source = match self {
            RetryableFailure::RateLimited => return Error::RateLimited { retry_after },
            RetryableFailure::Network(e) => TransientCause::Network(e),
            RetryableFailure::Server {
                status,
                code,
                message,
            } => TransientCause::Status {
                status,
                code,
                message,
            },
        };
        Error::Transient {
            endpoint: endpoint.to_owned(),
            attempts,
            source,
        }
    }
}

fn network_failure(error: reqwest::Error) -> Attempt {
    tracing::debug!(
        timeout = error.is_timeout(),
        "Inbox request failed: {error}"
    );
    Attempt::Retry {
        failure: RetryableFailure::Network(error),
        retry_after: None,
    }
}

/// Whether an error code says the API version itself is retired (e.g. `API_VERSION_RETIRED`,
/// `API_SUNSET`), whatever the status it came with.
fn says_retired(code: Option<&str>) -> bool {
    code.is_some_and(|code| {
        let code = code.to_ascii_uppercase();
        code.contains("RETIRED") || code.contains("SUNSET")
    })
}

/// Rejects ids that do not match the API's `^[0-9a-z]+$`, so a malformed id never reaches a
/// URL path or a request body.
pub(crate) fn check_id(what: &str, id: &str) -> Result<(), Error> {
    let valid = !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if valid {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "invalid {what} {}: expected lowercase letters and digits only",
            ShortId(id)
        )))
    }
}

/// The query of `GET /threads`: `inbox`, `filters[sortOrder]`, `limit`, and the flat cursor
/// pair `cursorId` + `cursorTimestamp`.
pub(crate) fn thread_query_pairs(
    q: &ThreadQuery,
    cursor: Option<&Cursor>,
) -> Result<Vec<(&'static str, String)>, Error> {
    if !(1..=100).contains(&q.limit) {
        return Err(Error::Config(format!(
            "thread page size {} out of range 1–100",
            q.limit
        )));
    }
    let mut pairs = vec![
        ("inbox", q.view.as_str().to_owned()),
        ("filters[sortOrder]", q.sort.as_str().to_owned()),
        ("limit", q.limit.to_string()),
    ];
    if let Some(cursor) = cursor {
        check_id("cursor id", &cursor.id)?;
        pairs.push(("cursorId", cursor.id.clone()));
        pairs.push(("cursorTimestamp", cursor.timestamp.clone()));
    }
    Ok(pairs)
}
