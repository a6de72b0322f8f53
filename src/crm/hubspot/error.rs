//! The HubSpot client's error type, and the tolerant parsing of HubSpot error bodies.
//!
//! Variants are what callers branch on (fix the token, back off, give up on one record, give up
//! on the run), not a catalogue of statuses. Nothing here may hold or print the token: bodies and
//! snippets come from HubSpot's responses, never from request headers.

use std::time::Duration;

/// How many characters of a response body an error may quote.
const SNIPPET_CHARS: usize = 300;

/// A failed HubSpot API call.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 401: the token is missing, wrong, expired or revoked. Retrying will not help.
    #[error(
        "HubSpot rejected the private-app token (401): check the token in the environment variable {token_env} (named by crm.hubspot.token_env)"
    )]
    Unauthorized {
        /// The *name* of the environment variable the token was read from.
        token_env: String,
    },
    /// 403: the token lacks a scope (e.g. `crm.objects.contacts.write`) or the portal lacks the
    /// feature.
    #[error("HubSpot refused the request (403): {message}")]
    Forbidden {
        /// HubSpot's message (it names the missing scopes).
        message: String,
    },
    /// 429 on every attempt, a daily limit (waiting until midnight is not an option), or a
    /// `Retry-After` longer than the client is willing to wait.
    #[error("HubSpot rate limit {} reached (429){}", policy.as_deref().unwrap_or("(unnamed)"), fmt_retry_after(retry_after))]
    RateLimited {
        /// HubSpot's `policyName`, e.g. `TEN_SECONDLY_ROLLING`, `SECONDLY` or `DAILY`.
        policy: Option<String>,
        /// The last `Retry-After`, if HubSpot sent one.
        retry_after: Option<Duration>,
    },
    /// Any other non-success status (400, 404, 409, ...). Not retried.
    #[error("HubSpot API error ({status}{}): {message}", fmt_category(category))]
    Api {
        /// HTTP status.
        status: u16,
        /// HubSpot's `category`, e.g. `VALIDATION_ERROR`, `OBJECT_NOT_FOUND`.
        category: Option<String>,
        /// HubSpot's message, or a snippet of a non-JSON body.
        message: String,
    },
    /// Network errors, timeouts or 5xx statuses that persisted through every attempt.
    #[error("HubSpot request {endpoint} failed after {attempts} attempt(s)")]
    Transient {
        /// The call, e.g. `POST /crm/v3/objects/contacts/batch/update`.
        endpoint: String,
        /// Attempts made, the first included.
        attempts: u32,
        /// Why the last attempt failed.
        #[source]
        source: TransientCause,
    },
    /// The server cannot be reached at all (connection refused, unknown host): not retried,
    /// since only a change of the config or the service helps.
    #[error(
        "cannot reach HubSpot at {base_url} ({reason}): is [crm.hubspot] base_url right and the service running?"
    )]
    Unreachable {
        /// The configured base URL.
        base_url: String,
        /// Refused or unknown host. (reqwest's error is logged at debug level, not kept: its
        /// chain would say the URL three times on the one line an operator reads.)
        reason: crate::http::Unreachable,
    },
    /// A success response whose body does not have the expected shape.
    #[error("HubSpot response to {endpoint} could not be decoded: {detail}")]
    Decode {
        /// The call.
        endpoint: String,
        /// The decoder's message and a short snippet of the body.
        detail: String,
    },
    /// The client was misconfigured or asked to send something it will not send.
    #[error("HubSpot client: {0}")]
    Config(String),
}

/// Why the last attempt of an [`Error::Transient`] call failed.
#[derive(Debug, thiserror::Error)]
pub enum TransientCause {
    /// Connection, TLS, timeout or body-read failure.
    #[error(transparent)]
    Network(#[from] reqwest::Error),
    /// A 5xx response.
    #[error("server error ({status}{}): {message}", fmt_category(category))]
    Status {
        /// HTTP status.
        status: u16,
        /// HubSpot's `category`, when it sent one.
        category: Option<String>,
        /// HubSpot's message, or a snippet of the body.
        message: String,
    },
}

impl Error {
    /// Whether the same call may succeed later without any change (rate limits other than the
    /// daily one, 5xx, network trouble).
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::RateLimited { policy, .. } => policy.as_deref() != Some("DAILY"),
            Error::Transient { .. } => true,
            _ => false,
        }
    }

    /// Whether the error concerns the request's content (a 4xx other than auth and rate
    /// limits): in a batch, one bad input makes HubSpot refuse the whole batch this way.
    pub fn is_input_error(&self) -> bool {
        matches!(self, Error::Api { status, .. } if (400..500).contains(status))
    }
}

fn fmt_category(category: &Option<String>) -> String {
    category
        .as_deref()
        .map(|c| format!(" {c}"))
        .unwrap_or_default()
}

fn fmt_retry_after(retry_after: &Option<Duration>) -> String {
    match retry_after {
        Some(d) => format!("; retry after {} s", d.as_secs()),
        None => String::new(),
    }
}

/// An error body reduced to what the client reports.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct ErrorBody {
    /// `category` (`VALIDATION_ERROR`, `INVALID_AUTHENTICATION`...) or, for 429s, `errorType`.
    pub category: Option<String>,
    /// `policyName` of a 429 (`TEN_SECONDLY_ROLLING`, `SECONDLY`, `DAILY`).
    pub policy: Option<String>,
    /// The human message; for non-JSON bodies a snippet; never empty.
    pub message: String,
}

/// Parses HubSpot's error body, `{"status":"error","message":..,"category":..,
/// "correlationId":..}` (429s carry `errorType` and `policyName` instead of `category`).
/// Anything else (HTML from a proxy, empty) becomes a snippet.
pub(crate) fn parse_error_body(status: u16, body: &[u8]) -> ErrorBody {
    let fallback = || {
        let text = snippet(body);
        if text.is_empty() {
            format!("HTTP {status} with an empty body")
        } else {
            text
        }
    };
    let Ok(serde_json::Value::Object(map)) = serde_json::from_slice::<serde_json::Value>(body)
    else {
        return ErrorBody {
            message: fallback(),
            ..ErrorBody::default()
        };
    };
    let text = |key: &str| {
        map.get(key)
            .and_then(|v| v.as_str())
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(truncate)
    };
    ErrorBody {
        category: text("category").or_else(|| text("errorType")),
        policy: text("policyName"),
        message: text("message").unwrap_or_else(fallback),
    }
}

/// A short single-line excerpt of a body: whitespace collapsed, truncated, lossy UTF-8.
pub(crate) fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    truncate(&text.split_whitespace().collect::<Vec<_>>().join(" "))
}

fn truncate(text: &str) -> String {
    match text.char_indices().nth(SNIPPET_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}
