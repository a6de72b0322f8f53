//! Small helpers the fakes use alike, where the APIs they imitate agree: the wall clock in epoch
//! milliseconds, timestamps as RFC 3339 UTC with milliseconds (Inbox v1 and v2, HubSpot), Inbox
//! ids (24-char cuid2-like, the same in v1 and v2), the Inbox Bearer check, and numeric equality
//! of JSON numbers.
//!
//! Nothing here knows a route, an error body or a data model; each fake keeps those its own.

use axum::http::{HeaderMap, header};
use chrono::{DateTime, SecondsFormat};
use rand::Rng;
use rand::rngs::StdRng;
use serde_json::Number;

/// The wall clock in epoch milliseconds.
pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Formats epoch milliseconds as `YYYY-MM-DDTHH:MM:SS.sssZ`.
pub(crate) fn timestamp(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A 24-char cuid2-like Inbox id: a letter, then 23 of `[0-9a-z]`.
pub(crate) fn gen_id(rng: &mut StdRng) -> String {
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut id = String::with_capacity(24);
    id.push(char::from(b'a' + rng.random_range(0..26u8)));
    for _ in 0..23 {
        id.push(char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]));
    }
    id
}

/// Whether `id` has the shape of an Inbox id: `^[0-9a-z]+$`.
pub(crate) fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
}

/// Whether the request carries `Authorization: Bearer <token>` (the scheme in any case, the
/// token exactly), as both Inbox APIs check it.
pub(crate) fn bearer_is(headers: &HeaderMap, token: &str) -> bool {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some((scheme, given)) = value.split_once(' ') else {
        return false;
    };
    scheme.eq_ignore_ascii_case("bearer") && given == token
}

/// Numeric equality that treats `100` and `100.0` as the same value.
pub(crate) fn same_number(a: &Option<Number>, b: &Option<Number>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => a == b || a.as_f64() == b.as_f64(),
        _ => false,
    }
}

/// Base-26 letter suffix: 0 → "a", 25 → "z", 26 → "aa".
pub(crate) fn letters(mut n: usize) -> String {
    let mut out = Vec::new();
    loop {
        out.push(b'a' + (n % 26) as u8);
        if n < 26 {
            break;
        }
        n = n / 26 - 1;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}
