//! What the two API clients (`inbox`, `crm::hubspot`) share: the reqwest client, the bearer
//! header that never prints the token, sending a request, and the retry loop (backoff,
//! `Retry-After`, when to give up). Each client keeps its own endpoints, pacing, the
//! classification of a response and its error types.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use reqwest::Method;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER};
use secrecy::{ExposeSecret, SecretString};

/// The longest wait between two attempts, and the longest `Retry-After` worth waiting for.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// The `Authorization: Bearer` value for `token`, marked sensitive so that reqwest never
/// prints it. The error names `token_env`, never the token.
pub fn bearer(token: &SecretString, token_env: &str) -> Result<HeaderValue, String> {
    let mut auth = HeaderValue::from_str(&format!("Bearer {}", token.expose_secret().trim()))
        .map_err(|_| {
            format!("the token in {token_env} contains characters not allowed in an HTTP header")
        })?;
    auth.set_sensitive(true);
    Ok(auth)
}

/// `raw` without surrounding space or trailing slashes, if it is an http(s) URL; the error
/// names `service` ("Inbox", "HubSpot").
pub fn base_url(service: &str, raw: &str) -> Result<String, String> {
    let base_url = raw.trim().trim_end_matches('/').to_owned();
    let parsed = reqwest::Url::parse(&base_url)
        .map_err(|e| format!("invalid {service} base URL {base_url:?}: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!(
            "invalid {service} base URL {base_url:?}: expected http or https"
        ));
    }
    Ok(base_url)
}

/// A JSON API client: rustls, our user agent, `Accept: application/json`, `timeout` per
/// request and at most 10 s to connect. Installs the process-wide rustls crypto provider
/// (ring) if none is set: reqwest is built without a default one.
pub fn json_client(timeout: Duration) -> Result<reqwest::Client, String> {
    // An error means a provider is installed already, which is just as good.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut headers = HeaderMap::new();
    headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
    reqwest::Client::builder()
        .user_agent(concat!("crmsync/", env!("CARGO_PKG_VERSION")))
        .default_headers(headers)
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// Exponential backoff with jitter from `base`, doubling up to [`MAX_BACKOFF`], unbounded in
/// count (the callers cap attempts themselves).
pub fn backoff(base: Duration) -> ExponentialBackoff {
    ExponentialBuilder::new()
        .with_min_delay(base)
        .with_max_delay(MAX_BACKOFF)
        .with_factor(2.0)
        .with_jitter()
        .without_max_times()
        .build()
}

/// After attempt number `attempt` failed in a way a retry may cure: how long to wait before the
/// next one, or `None` to give up (`max_attempts` are spent, or the server asks for a wait
/// longer than [`MAX_BACKOFF`]). A `Retry-After` wins over the backoff, and never buys attempts.
pub fn next_delay(
    attempt: u32,
    max_attempts: u32,
    retry_after: Option<Duration>,
    backoff: &mut impl Iterator<Item = Duration>,
) -> Option<Duration> {
    if attempt >= max_attempts || retry_after.is_some_and(|d| d > MAX_BACKOFF) {
        return None;
    }
    Some(
        retry_after
            .or_else(|| backoff.next())
            .unwrap_or(MAX_BACKOFF)
            .min(MAX_BACKOFF),
    )
}

/// Why a server cannot be reached at all. No retry cures it: the base URL or the service is
/// wrong, so the run fails at once with one line that says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unreachable {
    /// Nothing listens at the address (`ECONNREFUSED`).
    Refused,
    /// The host name does not resolve.
    UnknownHost,
}

impl std::fmt::Display for Unreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Unreachable::Refused => "connection refused",
            Unreachable::UnknownHost => "host not found",
        })
    }
}

/// Whether a failed request says its server cannot be reached at all: its connection was
/// refused, or its host name does not resolve (asked again here, as the resolver's error has no
/// kind to tell it from other connect errors). Timeouts, resets and the rest are transient.
pub async fn unreachable(err: &reqwest::Error) -> Option<Unreachable> {
    if !err.is_connect() {
        return None;
    }
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(current) = cause {
        if current
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused)
        {
            return Some(Unreachable::Refused);
        }
        cause = current.source();
    }
    let url = err.url()?;
    let host = url
        .host_str()?
        .trim_start_matches('[')
        .trim_end_matches(']');
    let port = url.port_or_known_default()?;
    tokio::net::lookup_host((host, port))
        .await
        .is_err()
        .then_some(Unreachable::UnknownHost)
}

/// A network failure in a few words for a log line: "timed out", or the innermost cause
/// ("connection reset by peer") rather than reqwest's "error sending request for url (..)".
pub fn network_cause(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        return "timed out".to_string();
    }
    let mut innermost: &(dyn std::error::Error + 'static) = err;
    while let Some(next) = innermost.source() {
        innermost = next;
    }
    innermost.to_string()
}

/// One API call, ready to be attempted several times.
pub struct Call {
    pub method: Method,
    /// Path after the base URL, e.g. `/threads/abc`.
    pub path: String,
    /// Method and path template for errors and logs, e.g. `GET /threads/{id}`.
    pub endpoint: &'static str,
    pub query: Vec<(&'static str, String)>,
    /// Pre-serialized JSON body.
    pub body: Option<Vec<u8>>,
}

impl Call {
    /// A `GET` without query parameters (push them onto `query`).
    pub fn get(endpoint: &'static str, path: impl Into<String>) -> Call {
        Call {
            method: Method::GET,
            path: path.into(),
            endpoint,
            query: Vec::new(),
            body: None,
        }
    }

    /// A call with `body` as its JSON body; the error says which endpoint's body failed.
    pub fn with_body(
        method: Method,
        endpoint: &'static str,
        path: impl Into<String>,
        body: &impl serde::Serialize,
    ) -> Result<Call, String> {
        let body = serde_json::to_vec(body)
            .map_err(|e| format!("cannot encode the body of {endpoint}: {e}"))?;
        Ok(Call {
            method,
            path: path.into(),
            endpoint,
            query: Vec::new(),
            body: Some(body),
        })
    }
}

/// Sends `call` to `base_url` with the bearer header `auth`.
pub async fn send(
    http: &reqwest::Client,
    base_url: &str,
    auth: &HeaderValue,
    call: &Call,
) -> Result<reqwest::Response, reqwest::Error> {
    let mut builder = http
        .request(call.method.clone(), format!("{base_url}{}", call.path))
        .header(AUTHORIZATION, auth.clone());
    if !call.query.is_empty() {
        builder = builder.query(&call.query);
    }
    if let Some(body) = &call.body {
        builder = builder
            .header(CONTENT_TYPE, "application/json")
            .body(body.clone());
    }
    builder.send().await
}

/// The whole body of `response`, handed over rather than copied (`to_vec` would copy the
/// 300 MB of thread pages a 100k walk reads).
pub async fn read_body(response: reqwest::Response) -> Result<Vec<u8>, reqwest::Error> {
    Ok(Vec::from(response.bytes().await?))
}

/// What one attempt of a call came to.
pub enum Attempt<F, E> {
    /// The response body.
    Success(Vec<u8>),
    /// A permanent failure: returned as it is.
    Fatal(E),
    /// A failure that another attempt may cure, and how long the server asked to wait.
    Retry {
        failure: F,
        retry_after: Option<Duration>,
    },
}

/// How a client retries: its attempts, backoff and retry counter, and its name for logs.
pub struct Retries<'a> {
    pub service: &'static str,
    pub endpoint: &'static str,
    pub max_attempts: u32,
    pub backoff_base: Duration,
    pub counter: &'a AtomicU64,
}

/// Runs `attempt` (with the attempt number, from 1) until it succeeds, fails permanently or
/// the attempts run out; between attempts waits as [`next_delay`] says. `give_up` turns the
/// last retryable failure into the error (with the attempts made and the last `Retry-After`).
pub async fn with_retries<F, E, Fut>(
    retries: Retries<'_>,
    mut attempt: impl FnMut(u32) -> Fut,
    give_up: impl FnOnce(F, u32, Option<Duration>) -> E,
) -> Result<Vec<u8>, E>
where
    F: std::fmt::Display,
    Fut: Future<Output = Attempt<F, E>>,
{
    let mut backoff = backoff(retries.backoff_base);
    let mut number = 1;
    loop {
        let (failure, retry_after) = match attempt(number).await {
            Attempt::Success(body) => return Ok(body),
            Attempt::Fatal(error) => return Err(error),
            Attempt::Retry {
                failure,
                retry_after,
            } => (failure, retry_after),
        };
        let Some(delay) = next_delay(number, retries.max_attempts, retry_after, &mut backoff)
        else {
            return Err(give_up(failure, number, retry_after));
        };
        // A retry is worth a warning: on a terminal (and in the daemon's journal) it explains a
        // run that is slower than usual; cron's stderr, at errors only, stays clean.
        tracing::warn!(
            endpoint = retries.endpoint,
            attempt = number,
            delay_ms = delay.as_millis() as u64,
            "{} {}: {failure}; retrying in {:.1} s (attempt {} of {})",
            retries.service,
            retries.endpoint,
            delay.as_secs_f64(),
            number + 1,
            retries.max_attempts
        );
        tokio::time::sleep(delay).await;
        retries.counter.fetch_add(1, Ordering::Relaxed);
        number += 1;
    }
}

/// `Retry-After` in seconds (whole or fractional); `None` when absent or unreadable (an HTTP
/// date is not used by either API).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let seconds: f64 = text.parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds))
}

/// Decodes a JSON response body. The body is checked to be UTF-8 once, as a whole, so that the
/// decoder does not check every key and value it reads again (a fifth of the time to decode a
/// thread page). A body that is not all UTF-8 goes to the byte decoder, as before: it fails
/// only if the bad bytes are in a value it reads.
pub(crate) fn decode_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> serde_json::Result<T> {
    match std::str::from_utf8(body) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_json_reads_text_and_tolerates_bad_bytes_it_does_not_read() {
        #[derive(serde::Deserialize, Debug, PartialEq)]
        struct Page {
            id: String,
        }
        let page = |body: &[u8]| decode_json::<Page>(body).map_err(|e| e.to_string());
        assert_eq!(page(br#"{"id":"\u00e9t\u00e9","x":1}"#).unwrap().id, "été");
        assert_eq!(page("{\"id\":\"été\"}".as_bytes()).unwrap().id, "été");
        // Not UTF-8 in a value nobody reads: decoded as before.
        assert_eq!(page(b"{\"id\":\"a\",\"bio\":\"\xff\"}").unwrap().id, "a");
        // Not UTF-8 in a value read: an error, not a panic or a replacement character.
        assert!(page(b"{\"id\":\"\xff\"}").is_err());
        assert!(page(b"{\"id\":").is_err());
    }

    #[test]
    fn retry_after_reads_whole_and_fractional_seconds_only() {
        let headers = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(RETRY_AFTER, HeaderValue::from_str(v).unwrap());
            h
        };
        assert_eq!(retry_after(&headers("2")), Some(Duration::from_secs(2)));
        assert_eq!(
            retry_after(&headers(" 0.5 ")),
            Some(Duration::from_millis(500))
        );
        assert_eq!(retry_after(&headers("-1")), None);
        assert_eq!(retry_after(&headers("Wed, 21 Oct 2015 07:28:00 GMT")), None);
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }

    #[test]
    fn retries_follow_retry_after_then_the_backoff_and_stop_at_the_cap() {
        let mut steps = [Duration::from_millis(100), Duration::from_secs(600)].into_iter();
        let wait = Duration::from_secs(3);
        assert_eq!(next_delay(1, 3, Some(wait), &mut steps), Some(wait));
        assert_eq!(
            next_delay(1, 3, None, &mut steps),
            Some(Duration::from_millis(100))
        );
        assert_eq!(next_delay(2, 3, None, &mut steps), Some(MAX_BACKOFF));
        assert_eq!(
            next_delay(3, 3, Some(wait), &mut steps),
            None,
            "attempts spent"
        );
        let too_long = MAX_BACKOFF + Duration::from_secs(1);
        assert_eq!(next_delay(1, 3, Some(too_long), &mut steps), None);
    }

    #[test]
    fn the_bearer_header_is_sensitive_and_errors_name_the_variable_only() {
        let token = SecretString::from(" s3cret ".to_string());
        let auth = bearer(&token, "MY_TOKEN").unwrap();
        assert!(auth.is_sensitive());
        assert_eq!(auth.to_str().unwrap(), "Bearer s3cret");
        let bad = SecretString::from("bad\ntoken".to_string());
        let err = bearer(&bad, "MY_TOKEN").unwrap_err();
        assert!(err.contains("MY_TOKEN") && !err.contains("bad"), "{err}");
    }

    #[tokio::test(start_paused = true)]
    async fn with_retries_stops_at_success_fatal_or_the_last_attempt() {
        let counter = AtomicU64::new(0);
        let retries = |max_attempts| Retries {
            service: "Test",
            endpoint: "GET /x",
            max_attempts,
            backoff_base: Duration::from_millis(10),
            counter: &counter,
        };
        // Two retryable failures, then the body.
        let calls = std::cell::Cell::new(0);
        let got = with_retries(
            retries(5),
            |n| {
                calls.set(n);
                async move {
                    if n < 3 {
                        Attempt::Retry {
                            failure: n,
                            retry_after: Some(Duration::from_secs(1)),
                        }
                    } else {
                        Attempt::Success(b"ok".to_vec())
                    }
                }
            },
            |_: u32, _, _| "gave up",
        )
        .await;
        assert_eq!(got.as_deref(), Ok(&b"ok"[..]));
        assert_eq!((calls.get(), counter.load(Ordering::Relaxed)), (3, 2));
        // Out of attempts: the last failure, the attempts made and its Retry-After.
        let got = with_retries(
            retries(2),
            |n| async move {
                Attempt::<u32, String>::Retry {
                    failure: n,
                    retry_after: None,
                }
            },
            |failure, attempts, after| format!("{failure} after {attempts} {after:?}"),
        )
        .await;
        assert_eq!(got, Err("2 after 2 None".to_string()));
        // A fatal error ends it at once; a Retry-After above the cap too.
        let got = with_retries(
            retries(5),
            |_| async { Attempt::<u32, &str>::Fatal("fatal") },
            |_, _, _| "gave up",
        )
        .await;
        assert_eq!(got, Err("fatal"));
        let got = with_retries(
            retries(5),
            |n| async move {
                Attempt::<u32, String>::Retry {
                    failure: n,
                    retry_after: Some(MAX_BACKOFF * 2),
                }
            },
            |failure, attempts, _| format!("{failure}/{attempts}"),
        )
        .await;
        assert_eq!(got, Err("1/1".to_string()));
    }
}
