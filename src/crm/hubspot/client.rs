//! The HubSpot CRM v3 HTTP client: Bearer auth, client-side pacing, retries with exponential
//! backoff and `Retry-After`, error mapping, and one method per endpoint the adapter uses.
//!
//! It does no sync logic and no conversion to the core's vocabulary (that is `record.rs`), reads
//! no environment variables (the token is handed in) and never prints. The token lives only in
//! a sensitive header value; it never appears in errors, `Debug` output or logs.
//!
//! Pacing: HubSpot's limits are per account and shared by every app of the account, so the
//! client paces itself evenly below the configured budget (governor, burst 1) instead of
//! bursting into 429s, with a second, stricter limiter for the search endpoint. A 429 is
//! retried after its `Retry-After` (or the backoff when there is none), except the daily limit,
//! which ends the call: waiting until midnight is not a retry.

use std::fmt;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use reqwest::header::HeaderValue;
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde::de::DeserializeOwned;
use tracing::Instrument;

use super::error::{Error, TransientCause, parse_error_body, snippet};
use super::wire::{
    BatchInput, BatchResponse, Contact, CreateInput, OptionsUpdate, Owner, Page,
    PropertyDefinition, PropertyOption, SearchPage, SearchRequest, UpdateInput,
};

/// Page size of the contact listing (HubSpot's maximum).
pub const LIST_LIMIT: u32 = 100;

/// Page size of the owner listing (HubSpot's maximum).
const OWNERS_LIMIT: u32 = 500;

/// Inputs per batch call (HubSpot's maximum).
pub const BATCH_LIMIT: usize = 100;

/// How to reach HubSpot and how patiently.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// API base, e.g. `https://api.hubapi.com` (a trailing slash is fine).
    pub base_url: String,
    /// The private-app token (Debug prints `[REDACTED]`).
    pub token: SecretString,
    /// The *name* of the environment variable that held the token, for the 401 message.
    pub token_env: String,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Attempts per call, the first included; at least 1.
    pub max_attempts: u32,
    /// First retry delay; doubles per retry with jitter, capped at 60 s.
    pub backoff_base: Duration,
    /// Requests allowed per `window` (all endpoints).
    pub requests_per_window: u32,
    /// The rate-limit window.
    pub window: Duration,
    /// Search requests per second (on top of the general budget).
    pub search_per_second: u32,
}

impl ClientOptions {
    /// Options with HubSpot's free/starter budget (100 per 10 s, search 4/s), 5 attempts, a 1 s
    /// first backoff and a 30 s timeout.
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
            requests_per_window: 100,
            window: Duration::from_secs(10),
            search_per_second: 4,
        }
    }
}

/// Counters of one client (shared by its clones).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RequestStats {
    /// HTTP attempts made, retries included.
    pub requests: u64,
    /// Attempts that were retries.
    pub retries: u64,
    /// 429 answers met.
    pub rate_limited: u64,
    /// 5xx answers met.
    pub server_errors: u64,
}

/// The HubSpot client. Cheap to clone; clones share pacing and statistics.
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
    token_env: String,
    max_attempts: u32,
    backoff_base: Duration,
    /// Every request waits here (the account budget, evenly paced).
    limiter: DefaultDirectRateLimiter,
    /// Search requests also wait here.
    search_limiter: DefaultDirectRateLimiter,
    requests: AtomicU64,
    retries: AtomicU64,
    rate_limited: AtomicU64,
    server_errors: AtomicU64,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.inner.base_url)
            .field("token", &"[REDACTED]")
            .field("token_env", &self.inner.token_env)
            .finish_non_exhaustive()
    }
}

/// One API call, with what HubSpot's rules need besides the request.
struct Call {
    request: crate::http::Call,
    /// Whether a failure after the request may have reached HubSpot can be retried (false for
    /// creates: a retry could create the records twice).
    idempotent: bool,
    /// Whether the search limiter applies.
    search: bool,
}

impl Call {
    fn new(request: crate::http::Call) -> Call {
        Call {
            request,
            idempotent: true,
            search: false,
        }
    }

    fn get(endpoint: &'static str, path: impl Into<String>) -> Call {
        Call::new(crate::http::Call::get(endpoint, path))
    }

    fn post(
        endpoint: &'static str,
        path: impl Into<String>,
        body: &impl serde::Serialize,
    ) -> Result<Call, Error> {
        Call::with_body(Method::POST, endpoint, path, body)
    }

    fn with_body(
        method: Method,
        endpoint: &'static str,
        path: impl Into<String>,
        body: &impl serde::Serialize,
    ) -> Result<Call, Error> {
        crate::http::Call::with_body(method, endpoint, path, body)
            .map(Call::new)
            .map_err(Error::Config)
    }
}

/// What one attempt came to.
type Attempt = crate::http::Attempt<Failure, Error>;

/// A failure worth another attempt.
enum Failure {
    RateLimited {
        policy: Option<String>,
    },
    Network(reqwest::Error),
    Server {
        status: u16,
        category: Option<String>,
        message: String,
    },
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::RateLimited { policy } => write!(
                f,
                "rate limit {} reached (429)",
                policy.as_deref().unwrap_or("(unnamed)")
            ),
            Failure::Network(e) => f.write_str(&crate::http::network_cause(e)),
            Failure::Server {
                status, message, ..
            } => write!(f, "server error ({status}): {message}"),
        }
    }
}

impl Client {
    /// Builds a client. Fails on a base URL that is not http(s), a token that cannot be a header
    /// value, or a zero budget. Installs the process-wide rustls crypto provider (ring) if none
    /// is set.
    pub fn new(opts: ClientOptions) -> Result<Client, Error> {
        let base_url = crate::http::base_url("HubSpot", &opts.base_url).map_err(Error::Config)?;
        if opts.max_attempts == 0 {
            return Err(Error::Config("max_attempts must be at least 1".into()));
        }
        let limiter = paced(opts.window, opts.requests_per_window).ok_or_else(|| {
            Error::Config(format!(
                "the rate limit of {} requests per {} ms allows no request",
                opts.requests_per_window,
                opts.window.as_millis()
            ))
        })?;
        let search_limiter = paced(Duration::from_secs(1), opts.search_per_second.max(1))
            .ok_or_else(|| Error::Config("the search rate limit allows no request".into()))?;
        let auth = crate::http::bearer(&opts.token, &opts.token_env).map_err(Error::Config)?;
        let http = crate::http::json_client(opts.timeout).map_err(Error::Config)?;

        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base_url,
                auth,
                token_env: opts.token_env,
                max_attempts: opts.max_attempts,
                backoff_base: opts.backoff_base,
                limiter,
                search_limiter,
                requests: AtomicU64::new(0),
                retries: AtomicU64::new(0),
                rate_limited: AtomicU64::new(0),
                server_errors: AtomicU64::new(0),
            }),
        })
    }

    /// The base URL (no trailing slash).
    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    /// `GET /crm/v3/objects/contacts`: one page of the full listing with these properties.
    pub async fn contacts_page(
        &self,
        properties: &[String],
        after: Option<&str>,
    ) -> Result<Page<Contact>, Error> {
        let mut call = Call::get("GET /crm/v3/objects/contacts", "/crm/v3/objects/contacts");
        call.request.query.push(("limit", LIST_LIMIT.to_string()));
        if !properties.is_empty() {
            call.request
                .query
                .push(("properties", properties.join(",")));
        }
        if let Some(after) = after {
            call.request.query.push(("after", after.to_owned()));
        }
        self.fetch(call).await
    }

    /// `GET /crm/v3/owners`, every page: active owners, or the deactivated ones with
    /// `archived`.
    pub async fn owners(&self, archived: bool) -> Result<Vec<Owner>, Error> {
        let mut owners = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut call = Call::get("GET /crm/v3/owners", "/crm/v3/owners");
            call.request.query.push(("limit", OWNERS_LIMIT.to_string()));
            call.request.query.push(("archived", archived.to_string()));
            if let Some(after) = &after {
                call.request.query.push(("after", after.clone()));
            }
            let page: Page<Owner> = self.fetch(call).await?;
            after = page.next_after().map(str::to_owned);
            owners.extend(page.results);
            if after.is_none() {
                return Ok(owners);
            }
        }
    }

    /// `GET /crm/v3/properties/contacts`: every contact property definition.
    pub async fn properties(&self) -> Result<Vec<PropertyDefinition>, Error> {
        let call = Call::get(
            "GET /crm/v3/properties/contacts",
            "/crm/v3/properties/contacts",
        );
        let page: Page<PropertyDefinition> = self.fetch(call).await?;
        Ok(page.results)
    }

    /// `GET /crm/v3/properties/contacts/{name}`; `None` when the property does not exist.
    pub async fn property(&self, name: &str) -> Result<Option<PropertyDefinition>, Error> {
        check_name(name)?;
        let call = Call::get(
            "GET /crm/v3/properties/contacts/{name}",
            format!("/crm/v3/properties/contacts/{name}"),
        );
        match self.fetch(call).await {
            Ok(definition) => Ok(Some(definition)),
            Err(Error::Api { status: 404, .. }) => Ok(None),
            Err(other) => Err(other),
        }
    }

    /// `PATCH /crm/v3/properties/contacts/{name}` with `options`: replaces the options of an
    /// enumeration property with `options` (HubSpot keeps exactly the options sent) and returns
    /// the updated definition. Idempotent: sending the same list again changes nothing.
    pub async fn update_property_options(
        &self,
        name: &str,
        options: Vec<PropertyOption>,
    ) -> Result<PropertyDefinition, Error> {
        check_name(name)?;
        let call = Call::with_body(
            Method::PATCH,
            "PATCH /crm/v3/properties/contacts/{name}",
            format!("/crm/v3/properties/contacts/{name}"),
            &OptionsUpdate { options },
        )?;
        self.fetch(call).await
    }

    /// `POST /crm/v3/objects/contacts/batch/update`: 200 when every input was applied, 207 with
    /// `errors` when some were not. At most [`BATCH_LIMIT`] inputs.
    pub async fn batch_update(&self, inputs: Vec<UpdateInput>) -> Result<BatchResponse, Error> {
        check_batch(inputs.len())?;
        let call = Call::post(
            "POST /crm/v3/objects/contacts/batch/update",
            "/crm/v3/objects/contacts/batch/update",
            &BatchInput { inputs },
        )?;
        self.fetch(call).await
    }

    /// `POST /crm/v3/objects/contacts/batch/create`. Not retried once the request may have
    /// reached HubSpot (a retry could create the contacts twice). At most [`BATCH_LIMIT`].
    pub async fn batch_create(&self, inputs: Vec<CreateInput>) -> Result<BatchResponse, Error> {
        check_batch(inputs.len())?;
        let mut call = Call::post(
            "POST /crm/v3/objects/contacts/batch/create",
            "/crm/v3/objects/contacts/batch/create",
            &BatchInput { inputs },
        )?;
        call.idempotent = false;
        self.fetch(call).await
    }

    /// `POST /crm/v3/objects/contacts/search`: one page (at most 200 results; HubSpot answers
    /// 400 for pages past the 10,000th result of a query).
    pub async fn search(&self, request: &SearchRequest) -> Result<SearchPage, Error> {
        if !(1..=200).contains(&request.limit) {
            return Err(Error::Config(format!(
                "search page size {} out of range 1–200",
                request.limit
            )));
        }
        let mut call = Call::post(
            "POST /crm/v3/objects/contacts/search",
            "/crm/v3/objects/contacts/search",
            request,
        )?;
        call.search = true;
        self.fetch(call).await
    }

    /// Counters since the client was built (shared by clones).
    pub fn stats(&self) -> RequestStats {
        let inner = &self.inner;
        RequestStats {
            requests: inner.requests.load(Ordering::Relaxed),
            retries: inner.retries.load(Ordering::Relaxed),
            rate_limited: inner.rate_limited.load(Ordering::Relaxed),
            server_errors: inner.server_errors.load(Ordering::Relaxed),
        }
    }

    /// Runs a call with retries and decodes the body.
    async fn fetch<T: DeserializeOwned>(&self, call: Call) -> Result<T, Error> {
        let body = self.execute(&call).await?;
        crate::http::decode_json(&body).map_err(|e| Error::Decode {
            endpoint: call.request.endpoint.to_owned(),
            detail: format!("{e}; body: {}", snippet(&body)),
        })
    }

    /// Attempts a call until it succeeds, fails permanently or runs out of attempts.
    async fn execute(&self, call: &Call) -> Result<Vec<u8>, Error> {
        let inner = &*self.inner;
        let retries = crate::http::Retries {
            service: "HubSpot",
            endpoint: call.request.endpoint,
            max_attempts: inner.max_attempts,
            backoff_base: inner.backoff_base,
            counter: &inner.retries,
        };
        crate::http::with_retries(
            retries,
            move |attempt| async move {
                if call.search {
                    inner.search_limiter.until_ready().await;
                }
                inner.limiter.until_ready().await;
                let span = tracing::debug_span!(
                    "hubspot_request",
                    method = %call.request.method,
                    path = %call.request.path,
                    attempt,
                    status = tracing::field::Empty,
                );
                self.attempt(call).instrument(span).await
            },
            |failure, attempts, retry_after| {
                failure.into_error(call.request.endpoint, attempts, retry_after)
            },
        )
        .await
    }

    /// One HTTP attempt.
    async fn attempt(&self, call: &Call) -> Attempt {
        let inner = &*self.inner;
        inner.requests.fetch_add(1, Ordering::Relaxed);
        let response =
            match crate::http::send(&inner.http, &inner.base_url, &inner.auth, &call.request).await
            {
                Ok(response) => response,
                Err(e) => {
                    if let Some(reason) = crate::http::unreachable(&e).await {
                        tracing::debug!("HubSpot request failed: {e}");
                        return Attempt::Fatal(Error::Unreachable {
                            base_url: inner.base_url.clone(),
                            reason,
                        });
                    }
                    return network_failure(call, e);
                }
            };
        let status = response.status();
        tracing::Span::current().record("status", status.as_u16());
        let retry_after = crate::http::retry_after(response.headers());
        let body = match crate::http::read_body(response).await {
            Ok(body) => body,
            Err(e) => return network_failure(call, e),
        };
        if status.is_success() {
            return Attempt::Success(body);
        }
        self.classify(call, status, retry_after, &body)
    }

    /// Maps a non-success response to a retry or a permanent error.
    fn classify(
        &self,
        call: &Call,
        status: StatusCode,
        retry_after: Option<Duration>,
        body: &[u8],
    ) -> Attempt {
        let inner = &*self.inner;
        let parsed = parse_error_body(status.as_u16(), body);
        if status == StatusCode::TOO_MANY_REQUESTS {
            inner.rate_limited.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(policy = ?parsed.policy, "HubSpot rate limit: {}", parsed.message);
            if parsed.policy.as_deref() == Some("DAILY") {
                return Attempt::Fatal(Error::RateLimited {
                    policy: parsed.policy,
                    retry_after,
                });
            }
            // A 429 was refused before it was applied, so even a create may be retried.
            return Attempt::Retry {
                failure: Failure::RateLimited {
                    policy: parsed.policy,
                },
                retry_after,
            };
        }
        if status.is_server_error() {
            inner.server_errors.fetch_add(1, Ordering::Relaxed);
            let failure = Failure::Server {
                status: status.as_u16(),
                category: parsed.category,
                message: parsed.message,
            };
            if !call.idempotent {
                return Attempt::Fatal(failure.into_error(call.request.endpoint, 1, None));
            }
            return Attempt::Retry {
                failure,
                retry_after,
            };
        }
        Attempt::Fatal(match status {
            StatusCode::UNAUTHORIZED => Error::Unauthorized {
                token_env: inner.token_env.clone(),
            },
            StatusCode::FORBIDDEN => Error::Forbidden {
                message: parsed.message,
            },
            _ => Error::Api {
                status: status.as_u16(),
                category: parsed.category,
                message: parsed.message,
            },
        })
    }
}

impl Failure {
    fn into_error(self, endpoint: &str, attempts: u32, retry_after: Option<Duration>) -> Error {
        let source = match self {
            Failure::RateLimited { policy } => {
                return Error::RateLimited {
                    policy,
                    retry_after,
                };
            }
            Failure::Network(e) => TransientCause::Network(e),
            Failure::Server {
                status,
                category,
                message,
            } => TransientCause::Status {
                status,
                category,
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

/// A network failure: retried, except for a non-idempotent call whose request may have been
/// sent (only a failed connect proves it was not).
fn network_failure(call: &Call, error: reqwest::Error) -> Attempt {
    tracing::debug!(
        timeout = error.is_timeout(),
        "HubSpot request failed: {error}"
    );
    let failure = Failure::Network(error);
    if !call.idempotent && !matches!(&failure, Failure::Network(e) if e.is_connect()) {
        return Attempt::Fatal(failure.into_error(call.request.endpoint, 1, None));
    }
    Attempt::Retry {
        failure,
        retry_after: None,
    }
}

/// An evenly paced limiter: `requests` per `window`, burst 1; `None` when it allows nothing.
fn paced(window: Duration, requests: u32) -> Option<DefaultDirectRateLimiter> {
    let period = window.checked_div(requests)?;
    let quota = Quota::with_period(period)?.allow_burst(NonZeroU32::MIN);
    Some(RateLimiter::direct(quota))
}

/// Property names go into a URL path: HubSpot's are lowercase letters, digits and `_`.
fn check_name(name: &str) -> Result<(), Error> {
    let valid = !name.is_empty()
        && name.len() <= 100
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "invalid HubSpot property name {name:?}: expected lowercase letters, digits and _"
        )))
    }
}

fn check_batch(len: usize) -> Result<(), Error> {
    if (1..=BATCH_LIMIT).contains(&len) {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "batch of {len} inputs: HubSpot takes 1–{BATCH_LIMIT}"
        )))
    }
}
