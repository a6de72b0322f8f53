//! The Inbox client's error type, and the tolerant parsing of Inbox error bodies.
//!
//! Variants are what callers branch on (re-authenticate, skip, back off, give up), not a
//! catalogue of HTTP statuses. Nothing here may hold or print the API token: error bodies and
//! snippets come from the server's response, never from the request headers.

use std::fmt;
use std::time::Duration;

/// What a run or `check` says when Inbox answers that v1 is retired (`410 Gone`).
pub const RETIRED: &str = "Inbox API v1 is retired: set [inbox] api = \"v2\"";

/// How many characters of a response body an error may quote.
const SNIPPET_CHARS: usize = 200;

/// A failed Inbox API call.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 401: the token is missing, wrong or revoked. Retrying will not help.
    #[error(
        "Inbox rejected the API token (401): check the token in the environment variable {token_env}"
    )]
    Unauthorized {
        /// The *name* of the environment variable the token was read from.
        token_env: String,
    },
    /// 403: the resource belongs to another team, the plan lacks the feature, or the action
    /// needs an admin.
    #[error("Inbox refused the request (403): {message}")]
    Forbidden {
        /// The server's message.
        message: String,
    },
    /// 404: no such thread, prospect, tag... (lookups answer `200 null` instead).
    #[error("Inbox: not found (404{}): {message}", fmt_code(code))]
    NotFound {
        /// The server's error code, e.g. `THREAD_NOT_FOUND`, when it sent one.
        code: Option<String>,
        /// The server's message.
        message: String,
    },
    /// 429 on every attempt, or a `Retry-After` longer than the client is willing to wait.
    #[error("Inbox rate limit exceeded (429){}", fmt_retry_after(retry_after))]
    RateLimited {
        /// The server's last `Retry-After`, if any.
        retry_after: Option<Duration>,
    },
    /// 410, or an error whose code says the API version is retired: v1 no longer answers, and
    /// only moving to v2 helps. Not retried; printed as the one line an operator reads.
    #[error("{RETIRED}")]
    Retired,
    /// Any other non-success status (400, 409, 422, ...). Not retried.
    #[error("Inbox API error ({status}{}): {message}", fmt_code(code))]
    Api {
        /// HTTP status.
        status: u16,
        /// The server's error code, when it sent one.
        code: Option<String>,
        /// The server's message, or a short snippet of a non-JSON body.
        message: String,
    },
    /// Network errors, timeouts or 5xx statuses that persisted through every attempt.
    #[error("Inbox request {endpoint} failed after {attempts} attempt(s)")]
    Transient {
        /// The call, e.g. `GET /threads`.
        endpoint: String,
        /// Attempts made, counting the first.
        attempts: u32,
        /// The last attempt's failure.
        #[source]
        source: TransientCause,
    },
    /// The server cannot be reached at all (connection refused, unknown host): not retried,
    /// since only a change of the config or the service helps.
    #[error(
        "cannot reach Inbox at {base_url} ({reason}): is [inbox] base_url right and the service running?"
    )]
    Unreachable {
        /// The configured base URL.
        base_url: String,
        /// Refused or unknown host. (reqwest's error is logged at debug level, not kept: its
        /// chain would say the URL three times on the one line an operator reads.)
        reason: crate::http::Unreachable,
    },
    /// A success response whose body does not have the expected shape.
    #[error("Inbox response to {endpoint} could not be decoded: {detail}")]
    Decode {
        /// The call, e.g. `GET /threads`.
        endpoint: String,
        /// The decoder's message and a short, truncated snippet of the body.
        detail: String,
    },
    /// The client was misconfigured or called with an argument it will not send (a malformed
    /// id, a page size out of range, a bad base URL).
    #[error("Inbox client: {0}")]
    Config(String),
}

/// Why the last attempt of a [`Error::Transient`] call failed.
#[derive(Debug, thiserror::Error)]
pub enum TransientCause {
    /// Connection, TLS, timeout or body-read failure.
    #[error(transparent)]
    Network(#[from] reqwest::Error),
    /// A 5xx response.
    #[error("server error ({status}{}): {message}", fmt_code(code))]
    Status {
        /// HTTP status.
        status: u16,
        /// The server's error code, when it sent one.
        code: Option<String>,
        /// The server's message, or a snippet of the body.
        message: String,
    },
}

impl Error {
    /// Whether the same call may succeed later without any change: rate limits, 5xx and
    /// network trouble. Auth, validation, not-found and decode errors are permanent.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::RateLimited { .. } | Error::Transient { .. })
    }
}

fn fmt_code(code: &Option<String>) -> String {
    code.as_deref().map(|c| format!(" {c}")).unwrap_or_default()
}

fn fmt_retry_after(retry_after: &Option<Duration>) -> String {
    match retry_after {
        Some(d) => format!(": retry after {} s", d.as_secs()),
        None => String::new(),
    }
}

/// An error body reduced to what the client reports: an optional code and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ErrorBody {
    /// `error.code` (nested form), `error` (flat form) or `code` (v2-like form).
    pub code: Option<String>,
    /// The human message; for non-JSON bodies a truncated snippet; never empty.
    pub message: String,
}

/// Parses an error body tolerantly. Accepted forms, tried in order:
/// nested `{"error":{"code","message","status"}}`, flat `{"error":"Unauthorized","message":".."}`,
/// top-level `{"code","message"}`; anything else (HTML, text, empty) becomes a snippet.
pub(crate) fn parse_error_body(status: u16, body: &[u8]) -> ErrorBody {
    let fallback_message = || {
        let snippet = snippet(body);
        if snippet.is_empty() {
            format!("HTTP {status} with an empty body")
        } else {
            snippet
        }
    };
    let Ok(serde_json::Value::Object(map)) = serde_json::from_slice::<serde_json::Value>(body)
    else {
        return ErrorBody {
            code: None,
            message: fallback_message(),
        };
    };
    let text = |v: Option<&serde_json::Value>| {
        v.and_then(|v| v.as_str())
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(truncate)
    };
    let (code, message) = match map.get("error") {
        Some(serde_json::Value::Object(inner)) => (
            text(inner.get("code")),
            text(inner.get("message")).or_else(|| text(map.get("message"))),
        ),
        Some(serde_json::Value::String(_)) => (text(map.get("error")), text(map.get("message"))),
        _ => (text(map.get("code")), text(map.get("message"))),
    };
    let message = message
        .or_else(|| code.clone())
        .unwrap_or_else(fallback_message);
    ErrorBody { code, message }
}

/// A short single-line excerpt of a body for error messages: whitespace collapsed, at most
/// [`SNIPPET_CHARS`] characters, invalid UTF-8 replaced.
pub(crate) fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    truncate(&collapsed)
}

fn truncate(text: &str) -> String {
    match text.char_indices().nth(SNIPPET_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// Formats an id for an error message without letting an arbitrary string run on.
pub(crate) struct ShortId<'a>(pub &'a str);

impl fmt::Display for ShortId<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MAX: usize = 40;
        match self.0.char_indices().nth(MAX) {
            Some((cut, _)) => write!(f, "{:?}…", &self.0[..cut]),
            None => write!(f, "{:?}", self.0),
        }
    }
}
