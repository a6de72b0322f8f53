//! The v2 client's error type, typed by the API's `code` (docs/inbox-api-v2.md §8).
//!
//! Variants are what callers branch on: re-authenticate, restart a walk, skip a gone object,
//! stop the push until a quota window reopens, back off. Every API error carries the server's
//! request id (`X-Request-Id`) and shows it. Nothing here holds or prints the API token: the
//! texts come from the server's response (scrubbed of the token by the client), never from
//! the request.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};

/// A failed Inbox v2 API call.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 401 `unauthorized`: the token is missing, wrong or revoked. Retrying will not help.
    #[error(
        "Inbox v2 rejected the API token (401): check the token in the environment variable \
         {token_env}{}",
        fmt_request(request_id)
    )]
    Unauthorized {
        /// The *name* of the environment variable the token was read from.
        token_env: String,
        /// The server's request id.
        request_id: Option<String>,
    },
    /// 403: `workspaceLocked`, `platformNotAvailable`, `planRequired`, or another refusal.
    #[error(
        "Inbox v2 refused the request (403{}): {message}{}",
        fmt_code(code),
        fmt_request(request_id)
    )]
    Forbidden {
        /// The server's code, e.g. `workspaceLocked`, when it sent one.
        code: Option<String>,
        /// The server's message.
        message: String,
        /// The server's request id.
        request_id: Option<String>,
    },
    /// 404 with a `…NotFound` code: the object the call names does not exist (or no longer).
    /// A 404 without such a code (a proxy, a wrong base URL) is [`Error::Api`] instead, so it
    /// is never mistaken for a deletion.
    #[error(
        "Inbox v2: {what} not found (404): {message}{}",
        fmt_request(request_id)
    )]
    NotFound {
        /// Which kind of object is missing.
        what: Missing,
        /// The server's message.
        message: String,
        /// The server's request id.
        request_id: Option<String>,
    },
    /// 400 `invalidRequest`: the server rejected the parameters or the body.
    #[error(
        "Inbox v2 rejected the request (400 invalidRequest): {message}{}{}",
        fmt_issues(issues),
        fmt_request(request_id)
    )]
    InvalidRequest {
        /// What was wrong, one entry per problem.
        issues: Vec<Issue>,
        /// The server's message.
        message: String,
        /// The server's request id.
        request_id: Option<String>,
    },
    /// 400 `invalidCursor`: the cursor is unknown, expired, or was issued for other filters.
    /// A walk resumed from a stored cursor starts over.
    #[error(
        "Inbox v2 rejected the page cursor (400 invalidCursor): {message}{}",
        fmt_request(request_id)
    )]
    InvalidCursor {
        /// The server's message.
        message: String,
        /// The server's request id.
        request_id: Option<String>,
    },
    /// 429 `rateLimited`. For the `minute` window the client has already retried (after
    /// `Retry-After`) until its attempts ran out or the wait was over a minute. For `hour` and
    /// `day` it does not retry at all: the caller's push ends here, to resume after `reset_at`.
    #[error(
        "Inbox v2 rate limit exceeded (429, {window} window{}){}{}",
        fmt_reset(reset_at),
        fmt_retry_after(retry_after),
        fmt_request(request_id)
    )]
    RateLimited {
        /// Which of the team's windows tripped.
        window: RateWindow,
        /// When it reopens (`details.resetAt`), if the body said.
        reset_at: Option<DateTime<Utc>>,
        /// The server's `Retry-After`, if any.
        retry_after: Option<Duration>,
        /// The server's request id.
        request_id: Option<String>,
    },
    /// No request was sent: the `hour` or `day` window the headers describe is down to the
    /// share kept for people (`[limits] reserve_ratio`), and waiting for it to refill would
    /// take up to a day. Like an `hour`/`day` [`Error::RateLimited`], it ends the push.
    #[error(
        "Inbox v2: the team's {window} window is down to {remaining} of {limit} requests, the share kept for people (limits.reserve_ratio){}",
        fmt_reset(reset_at)
    )]
    WindowSpent {
        /// The window (`hour` or `day`), as the headers' reset and limit suggest.
        window: RateWindow,
        /// Requests left in it.
        remaining: u64,
        /// Its limit.
        limit: u64,
        /// When its `remaining` next grows.
        reset_at: Option<DateTime<Utc>>,
    },
    /// Any other API error: 409 `nameTaken`, 422 `tagLimitReached`, `platformRateLimited`
    /// after every attempt, `sendUnconfirmed`, a code added later, or a status without a code.
    #[error(
        "Inbox v2 API error ({status}{}): {message}{}",
        fmt_code(code),
        fmt_request(request_id)
    )]
    Api {
        /// HTTP status.
        status: u16,
        /// The server's code, when the body had one.
        code: Option<String>,
        /// The server's message, or a short snippet of a body that is not the API's JSON.
        message: String,
        /// `details` as sent (null when there were none).
        details: serde_json::Value,
        /// The server's request id.
        request_id: Option<String>,
    },
    /// The server cannot be reached at all (connection refused, unknown host): not retried,
    /// since only a change of the config or the service helps.
    #[error(
        "cannot reach Inbox at {base_url} ({reason}): is [inbox] base_url right and the service running?"
    )]
    Unreachable {
        /// The configured base URL.
        base_url: String,
        /// Refused or unknown host.
        reason: crate::http::Unreachable,
    },
    /// Network errors, timeouts or 5xx answers that persisted through every attempt.
    #[error("Inbox v2 request {endpoint} failed after {attempts} attempt(s)")]
    Transient {
        /// The call, e.g. `GET /threads`.
        endpoint: &'static str,
        /// Attempts made, counting the first.
        attempts: u32,
        /// The last attempt's failure.
        #[source]
        source: TransientCause,
    },
    /// A success answer whose body does not have the expected shape.
    #[error(
        "Inbox v2 response to {endpoint} could not be decoded: {detail}{}",
        fmt_request(request_id)
    )]
    Decode {
        /// The call, e.g. `GET /threads`.
        endpoint: &'static str,
        /// The decoder's message and a short snippet of the body.
        detail: String,
        /// The server's request id.
        request_id: Option<String>,
    },
    /// The client was misconfigured or called with an argument it will not send (an empty id,
    /// a page size out of range, a bad base URL).
    #[error("Inbox v2 client: {0}")]
    Config(String),
}

/// Why the last attempt of an [`Error::Transient`] call failed.
#[derive(Debug, thiserror::Error)]
pub enum TransientCause {
    /// Connection, TLS, timeout or body-read failure.
    #[error(transparent)]
    Network(#[from] reqwest::Error),
    /// A 5xx answer.
    #[error(
        "server error ({status}{}): {message}{}",
        fmt_code(code),
        fmt_request(request_id)
    )]
    Status {
        /// HTTP status.
        status: u16,
        /// The server's code (`internal`, `platformError`, ...), when it sent one.
        code: Option<String>,
        /// The server's message, or a snippet of the body.
        message: String,
        /// The server's request id.
        request_id: Option<String>,
    },
}

impl Error {
    /// Whether the same call may succeed later without any change: a `minute` rate limit,
    /// 5xx and network trouble. An `hour` or `day` rate limit is not: it lasts longer than a
    /// run should wait. Auth, validation, not-found and decode errors are permanent.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::RateLimited { window, .. } => !window.ends_push(),
            Error::Transient { .. } => true,
            _ => false,
        }
    }

    /// When an `hour` or `day` window is exhausted: the caller stops pushing (checkpoint, end
    /// the run) until `reset_at`. `Some(None)` when the server did not say when it reopens.
    pub fn quota_exhausted(&self) -> Option<Option<DateTime<Utc>>> {
        match self {
            Error::RateLimited {
                window, reset_at, ..
            } if window.ends_push() => Some(*reset_at),
            Error::WindowSpent { reset_at, .. } => Some(*reset_at),
            _ => None,
        }
    }

    /// The server's request id, when the error came from an answer.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Error::Unauthorized { request_id, .. }
            | Error::Forbidden { request_id, .. }
            | Error::NotFound { request_id, .. }
            | Error::InvalidRequest { request_id, .. }
            | Error::InvalidCursor { request_id, .. }
            | Error::RateLimited { request_id, .. }
            | Error::Api { request_id, .. }
            | Error::Decode { request_id, .. } => request_id.as_deref(),
            Error::Transient {
                source: TransientCause::Status { request_id, .. },
                ..
            } => request_id.as_deref(),
            Error::Transient { .. }
            | Error::Unreachable { .. }
            | Error::WindowSpent { .. }
            | Error::Config(_) => None,
        }
    }
}

/// The rate-limit window a `429 rateLimited` names (`details.window`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RateWindow {
    /// 300 requests per minute: wait and retry.
    Minute,
    /// 10,000 requests per hour: stop the push.
    Hour,
    /// 100,000 requests per day: stop the push.
    Day,
    /// A window this client does not know; treated like `minute` (retried while the server
    /// asks for at most a minute's wait).
    Other(String),
}

impl RateWindow {
    /// Reads the wire value; an absent or unknown window is kept as it is.
    pub(crate) fn parse(text: &str) -> RateWindow {
        match text {
            "minute" => RateWindow::Minute,
            "hour" => RateWindow::Hour,
            "day" => RateWindow::Day,
            other => RateWindow::Other(other.to_owned()),
        }
    }

    /// Whether hitting this window ends the caller's push instead of being retried.
    pub fn ends_push(&self) -> bool {
        matches!(self, RateWindow::Hour | RateWindow::Day)
    }
}

impl fmt::Display for RateWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RateWindow::Minute => "minute",
            RateWindow::Hour => "hour",
            RateWindow::Day => "day",
            RateWindow::Other(other) if other.is_empty() => "unknown",
            RateWindow::Other(other) => other,
        })
    }
}

/// What a `…NotFound` code says is missing.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Missing {
    /// `threadNotFound`.
    Thread,
    /// `contactNotFound`.
    Contact,
    /// `tagNotFound`.
    Tag,
    /// `statusNotFound`.
    Status,
    /// `memberNotFound`.
    Member,
    /// `messageNotFound`.
    Message,
    /// `accountLinkNotFound`.
    AccountLink,
    /// Another `…NotFound` code: the part before `NotFound`.
    Other(String),
}

impl Missing {
    /// The kind a `code` names, if it is a `…NotFound` code.
    pub(crate) fn from_code(code: &str) -> Option<Missing> {
        let kind = code.strip_suffix("NotFound").filter(|k| !k.is_empty())?;
        Some(match kind {
            "thread" => Missing::Thread,
            "contact" => Missing::Contact,
            "tag" => Missing::Tag,
            "status" => Missing::Status,
            "member" => Missing::Member,
            "message" => Missing::Message,
            "accountLink" => Missing::AccountLink,
            other => Missing::Other(other.to_owned()),
        })
    }
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Missing::Thread => "thread",
            Missing::Contact => "contact",
            Missing::Tag => "tag",
            Missing::Status => "status",
            Missing::Member => "member",
            Missing::Message => "message",
            Missing::AccountLink => "account link",
            Missing::Other(other) => other,
        })
    }
}

/// One problem of a `400 invalidRequest` (`details.issues[]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issue {
    /// Where, e.g. `["body", "valuation"]` or `["query", "limit"]`; array indices as text.
    pub path: Vec<String>,
    /// What is wrong there.
    pub message: String,
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path.join("."), self.message)
        }
    }
}

fn fmt_request(request_id: &Option<String>) -> String {
    request_id
        .as_deref()
        .map(|id| format!(" [request {id}]"))
        .unwrap_or_default()
}

fn fmt_code(code: &Option<String>) -> String {
    code.as_deref().map(|c| format!(" {c}")).unwrap_or_default()
}

fn fmt_issues(issues: &[Issue]) -> String {
    if issues.is_empty() {
        return String::new();
    }
    let listed: Vec<String> = issues.iter().map(Issue::to_string).collect();
    format!(" ({})", listed.join("; "))
}

fn fmt_reset(reset_at: &Option<DateTime<Utc>>) -> String {
    reset_at
        .map(|at| format!(", reopens at {}", at.format("%Y-%m-%dT%H:%M:%SZ")))
        .unwrap_or_default()
}

fn fmt_retry_after(retry_after: &Option<Duration>) -> String {
    retry_after
        .map(|d| format!(": retry after {} s", d.as_secs()))
        .unwrap_or_default()
}
