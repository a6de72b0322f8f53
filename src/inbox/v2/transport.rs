//! The v2 client's transport: one call attempted until it succeeds (pacing, the shared retry
//! loop, the rate-limit headers and request counters), and the reading of an error answer by
//! its `code`: which failures are retried (a `minute` rate limit, 5xx, network) and which end
//! the call (an `hour`/`day` rate limit, every 4xx).
//!
//! It knows no endpoint. The token is only in the sensitive header; what the server says back
//! is scrubbed of it before it reaches an error or a log line.

use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use secrecy::ExposeSecret;
use serde::de::DeserializeOwned;
use tracing::Instrument;

use crate::http::Call;
use crate::inbox::error::snippet;
use crate::inbox::pacing::RateLimitInfo;

use super::client::{Client, MAX_LIST_PAGES, MIN_SCRUBBED_TOKEN};
use super::error::{Error, Missing, RateWindow, TransientCause};
use super::types::Cursor;
use super::wire;

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

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::RateLimited { window, .. } => write!(f, "rate limited ({window:?} window)"),
            Failure::OtherRateLimit(error) => write!(f, "{error}"),
            Failure::Network(e) if e.is_timeout() => f.write_str("timed out"),
            Failure::Network(e) => write!(f, "network error: {e}"),
            Failure::Server {
                status,
                code,
                message,
                ..
            } => match code {
                Some(code) => write!(f, "server error {status} ({code}): {message}"),
                None => write!(f, "server error {status}: {message}"),
            },
        }
    }
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
    /// Reads every page of a list, passing the cursor back with the same query. `call` makes
    /// the request of the first page, its `limit` included where the endpoint takes one
    /// (`/tags` and `/statuses` take no parameter at all).
    pub(super) async fn collect<W: DeserializeOwned, T>(
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
    pub(super) async fn fetch<T: DeserializeOwned>(&self, call: Call) -> Result<T, Error> {
        self.fetch_with_id(call).await.map(|(value, _)| value)
    }

    /// [`Client::fetch`], with the answer's request id.
    pub(super) async fn fetch_with_id<T: DeserializeOwned>(
        &self,
        call: Call,
    ) -> Result<(T, Option<String>), Error> {
        let mut reads = 1;
        loop {
            let (body, request_id) = self.execute(&call).await?;
            let error = match crate::http::decode_json(&body) {
                Ok(value) => return Ok((value, request_id)),
                Err(e) => e,
            };
            // A body cut short (a proxy, a dropped connection) of a read is read again, as a
            // 5xx would be; a write's answer is not: the write was applied. Well-formed JSON of
            // the wrong shape is not transient.
            let cut = error.is_eof() || error.is_syntax();
            if cut && call.method == reqwest::Method::GET && reads < self.inner.max_attempts {
                tracing::warn!(
                    endpoint = call.endpoint,
                    "Inbox v2 {}: the answer could not be read ({error}); reading again (attempt {} of {})",
                    call.endpoint,
                    reads + 1,
                    self.inner.max_attempts
                );
                reads += 1;
                continue;
            }
            return Err(Error::Decode {
                endpoint: call.endpoint,
                detail: self.scrub(format!("{error}; body: {}", snippet(&body))),
                request_id,
            });
        }
    }

    /// Attempts a call until it succeeds, fails permanently or runs out of attempts; returns
    /// the body and the request id of the answer.
    pub(super) async fn execute(&self, call: &Call) -> Result<(Vec<u8>, Option<String>), Error> {
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
                    if let Some(spent) = inner.pacer.spent() {
                        return Attempt::Fatal(spent_error(spent));
                    }
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
                Err(e) => {
                    // Refused or unknown host: only a change of the config or the service
                    // helps, so it is not retried.
                    if let Some(reason) = crate::http::unreachable(&e).await {
                        tracing::debug!("Inbox v2 request failed: {e}");
                        return Attempt::Fatal(Error::Unreachable {
                            base_url: inner.base_url.clone(),
                            reason,
                        });
                    }
                    return network_failure(e);
                }
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
        let answer = self.read_error_answer(status, header_id, body);
        if status == StatusCode::TOO_MANY_REQUESTS {
            stats.rate_limited.fetch_add(1, Ordering::Relaxed);
            return rate_limited(answer, retry_after);
        }
        if status.is_server_error() {
            stats.server_errors.fetch_add(1, Ordering::Relaxed);
            // The SDK never retries `sendUnconfirmed`: the message may have gone out.
            if answer.code.as_deref() != Some("sendUnconfirmed") {
                return Attempt::Retry {
                    retry_after: retry_after.or_else(|| answer.retry_seconds()),
                    failure: Failure::Server {
                        status: status.as_u16(),
                        code: answer.code,
                        message: answer.message,
                        request_id: answer.request_id,
                    },
                };
            }
        }
        Attempt::Fatal(self.permanent_error(status, answer))
    }

    /// The error answer in `body`, scrubbed of the token: its `code`, a message (the body's
    /// text when it has none), `details` and the request id (the header's, else the body's).
    fn read_error_answer(
        &self,
        status: StatusCode,
        header_id: Option<String>,
        body: &[u8],
    ) -> ErrorAnswer {
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
        let details = self.scrub_json(parsed.details);
        tracing::debug!(
            status = status.as_u16(),
            code = code.as_deref(),
            request_id = request_id.as_deref(),
            "Inbox v2 error answer"
        );
        ErrorAnswer {
            code,
            message,
            details,
            request_id,
        }
    }

    /// The error an answer that no retry cures ends the call with, by status and `code`.
    fn permanent_error(&self, status: StatusCode, answer: ErrorAnswer) -> Error {
        let ErrorAnswer {
            code,
            message,
            details,
            request_id,
        } = answer;
        let missing = code.as_deref().and_then(Missing::from_code);
        match (status.as_u16(), code.as_deref(), missing) {
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
        }
    }

    /// [`Client::scrub`] for a JSON value (an error's `details`, kept in [`Error::Api`]).
    fn scrub_json(&self, value: serde_json::Value) -> serde_json::Value {
        let token = self.inner.token.expose_secret();
        if token.len() < MIN_SCRUBBED_TOKEN || !value.to_string().contains(token) {
            return value;
        }
        let text = self.scrub(value.to_string());
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null)
    }

    /// Removes the token from text that came from the server (as v1 does).
    pub(super) fn scrub(&self, text: String) -> String {
        let token = self.inner.token.expose_secret();
        if token.len() >= MIN_SCRUBBED_TOKEN && text.contains(token) {
            text.replace(token, "[REDACTED]")
        } else {
            text
        }
    }
}

/// An error answer as read: every text in it scrubbed of the token.
struct ErrorAnswer {
    code: Option<String>,
    message: String,
    details: serde_json::Value,
    request_id: Option<String>,
}

impl ErrorAnswer {
    /// The wait `details.retryAfterSeconds` asks for, if any.
    fn retry_seconds(&self) -> Option<Duration> {
        serde_json::from_value::<wire::RetryDetails>(self.details.clone())
            .ok()
            .and_then(|d| d.retry_after_seconds)
            .map(Duration::from_secs)
    }
}

/// A `429`: the platform's own throttle and the minute window are retried, a spent `hour` or
/// `day` window ends the call.
fn rate_limited(answer: ErrorAnswer, retry_after: Option<Duration>) -> Attempt {
    if answer.code.as_deref().is_some_and(|c| c != "rateLimited") {
        // The platform's own throttle (message routes): retried as the server asks,
        // reported as it is.
        let retry_after = retry_after.or_else(|| answer.retry_seconds());
        return Attempt::Retry {
            failure: Failure::OtherRateLimit(Box::new(Error::Api {
                status: 429,
                code: answer.code,
                message: answer.message,
                details: answer.details,
                request_id: answer.request_id,
            })),
            retry_after,
        };
    }
    let limits: wire::RateLimitDetails = serde_json::from_value(answer.details).unwrap_or_default();
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
            request_id: answer.request_id,
        });
    }
    let until_reset = || {
        let at = limits.reset_at?;
        (at - chrono::Utc::now()).to_std().ok()
    };
    Attempt::Retry {
        retry_after: retry_after.or_else(until_reset),
        failure: Failure::RateLimited {
            window,
            reset_at: limits.reset_at,
            request_id: answer.request_id,
        },
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

/// The error of a request not sent because its long window is spent (see [`Pacer::spent`]).
///
/// [`Pacer::spent`]: crate::inbox::pacing::Pacer::spent
fn spent_error(spent: crate::inbox::pacing::Spent) -> Error {
    let now = chrono::Utc::now();
    let now_unix = u64::try_from(now.timestamp()).unwrap_or(0);
    Error::WindowSpent {
        window: RateWindow::parse(spent.window_name(now_unix)),
        remaining: spent.remaining,
        limit: spent.limit,
        reset_at: i64::try_from(spent.refills_unix)
            .ok()
            .and_then(|secs| chrono::DateTime::from_timestamp(secs, 0)),
    }
}

/// `X-Request-Id`, if present and text.
fn header_request_id(headers: &HeaderMap) -> Option<String> {
    let id = headers.get("x-request-id")?.to_str().ok()?.trim();
    (!id.is_empty()).then(|| id.to_owned())
}
