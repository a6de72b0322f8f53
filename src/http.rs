//! What the two API clients (`inbox`, `crm::hubspot`) share: the reqwest client, the bearer
//! header that never prints the token, the retry backoff and `Retry-After`. Each client keeps
//! its own endpoints, pacing and error types.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use reqwest::header::{ACCEPT, HeaderMap, HeaderValue, RETRY_AFTER};
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

/// `Retry-After` in seconds (whole or fractional); `None` when absent or unreadable (an HTTP
/// date is not used by either API).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let seconds: f64 = text.parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
