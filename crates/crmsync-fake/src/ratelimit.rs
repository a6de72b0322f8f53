//! Rate limiting shared by the fakes: the [`RateLimit`] setting, its text form, and the sliding
//! window limiter that decides 429s, which window tripped, and the `X-RateLimit-*` values.
//!
//! This module knows nothing about HTTP routes, error bodies or any data model; it must not read
//! the wall clock except to turn an `Instant` into the Unix time of a reset.

use std::collections::VecDeque;
use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

/// How a fake limits requests. Limits are per team (each fake serves one team) and count every
/// endpoint; requests rejected with 429 do not count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RateLimit {
    /// No limit. Responses still carry `X-RateLimit-*` headers, reporting `u32::MAX`.
    Off,
    /// Sliding windows, all enforced at once: `(limit, window)` pairs.
    Windows(Vec<(u32, Duration)>),
}

impl RateLimit {
    /// The documented Inbox limits (the same in v1 and v2): 300/minute, 10,000/hour,
    /// 100,000/day.
    pub fn documented() -> Self {
        RateLimit::Windows(vec![
            (300, Duration::from_secs(60)),
            (10_000, Duration::from_secs(3_600)),
            (100_000, Duration::from_secs(86_400)),
        ])
    }
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit::documented()
    }
}

/// Why a rate-limit string could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid rate limit {input:?}: expected \"off\", \"documented\" or a comma-separated list like \"300/min,10000/h,100/10s\""
)]
pub struct ParseRateLimitError {
    /// The text that failed to parse.
    pub input: String,
}

impl FromStr for RateLimit {
    type Err = ParseRateLimitError;

    /// Parses `off`, `documented`, or a comma-separated list of `LIMIT/WINDOW` where WINDOW is an optional
    /// count followed by a unit: `ms`, `s`/`sec`, `min`/`m`, `h`/`hour`, `d`/`day`
    /// (e.g. `300/min`, `100/10s`, `10000/h`, `100000/day`).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = || ParseRateLimitError {
            input: text.to_owned(),
        };
        let trimmed = text.trim();
        if trimmed.eq_ignore_ascii_case("off") || trimmed.eq_ignore_ascii_case("none") {
            return Ok(RateLimit::Off);
        }
        if trimmed.eq_ignore_ascii_case("documented") {
            return Ok(RateLimit::documented());
        }
        let mut windows = Vec::new();
        for part in trimmed.split(',') {
            let (limit, window) = part.trim().split_once('/').ok_or_else(error)?;
            let limit: u32 = limit.trim().parse().map_err(|_| error())?;
            let window = parse_window(window.trim()).ok_or_else(error)?;
            if limit == 0 || window.is_zero() {
                return Err(error());
            }
            windows.push((limit, window));
        }
        Ok(RateLimit::Windows(windows))
    }
}

/// Parses `10s`, `min`, `2h`, `day`, `500ms` into a duration.
fn parse_window(text: &str) -> Option<Duration> {
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (count, unit) = text.split_at(digits_end);
    let count: u64 = if count.is_empty() {
        1
    } else {
        count.parse().ok()?
    };
    let unit_ms: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "ms" => 1,
        "s" | "sec" | "secs" | "second" | "seconds" => 1_000,
        "m" | "min" | "mins" | "minute" | "minutes" => 60_000,
        "h" | "hr" | "hour" | "hours" => 3_600_000,
        "d" | "day" | "days" => 86_400_000,
        _ => return None,
    };
    Some(Duration::from_millis(count.checked_mul(unit_ms)?))
}

impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RateLimit::Off => f.write_str("off"),
            RateLimit::Windows(windows) => {
                for (idx, (limit, window)) in windows.iter().enumerate() {
                    if idx > 0 {
                        f.write_str(",")?;
                    }
                    let ms = window.as_millis();
                    if ms % 1_000 == 0 {
                        write!(f, "{limit}/{}s", ms / 1_000)?;
                    } else {
                        write!(f, "{limit}/{ms}ms")?;
                    }
                }
                Ok(())
            }
        }
    }
}

/// Values for the `X-RateLimit-*` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LimitHeaders {
    /// `X-RateLimit-Limit`: the limit of the tightest window.
    pub limit: u32,
    /// `X-RateLimit-Remaining`: requests left in that window.
    pub remaining: u32,
    /// `X-RateLimit-Reset`: Unix seconds, rounded up, when `remaining` next grows: when the
    /// oldest request counted in that window leaves it or, while the window holds more than
    /// `limit` (the limit was lowered), when enough of them have left for one request to fit
    /// (the same moment `Retry-After` names); "now" when the window is empty.
    pub reset_unix: u64,
}

/// The outcome of offering a request to the limiter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Counted and allowed.
    Allowed(LimitHeaders),
    /// Rejected (not counted): answer 429 with `Retry-After: retry_after_secs`.
    Rejected {
        /// Whole seconds until the request would be allowed, at least 1.
        retry_after_secs: u64,
        /// The full window that rejected (the one with the longest wait when several are).
        window: Duration,
        /// That window's limit.
        limit: u32,
        /// Header values (describing the window that rejected).
        headers: LimitHeaders,
    },
}

/// Sliding-window limiter: remembers when each admitted request arrived.
#[derive(Debug)]
pub(crate) struct Limiter {
    /// Current setting; replaced by `set`.
    config: RateLimit,
    /// Arrival times of admitted requests, oldest first, pruned to the longest window.
    hits: VecDeque<Instant>,
}

impl Limiter {
    /// A limiter with no history.
    pub fn new(config: RateLimit) -> Self {
        Limiter {
            config,
            hits: VecDeque::new(),
        }
    }

    /// Replaces the setting; history is kept so a tighter limit applies at once.
    pub fn set(&mut self, config: RateLimit) {
        self.config = config;
    }

    /// Counts the request if every window has room, else rejects it without counting.
    pub fn admit(&mut self, now: Instant) -> Admission {
        let windows = match &self.config {
            RateLimit::Off => return Admission::Allowed(unlimited_headers()),
            RateLimit::Windows(windows) => windows.clone(),
        };
        self.prune(now, &windows);
        let mut worst: Option<(u64, Duration, u32, LimitHeaders)> = None;
        for &(limit, window) in &windows {
            let start = self.window_start(now, window);
            let used = self.hits.len() - start;
            if used >= limit as usize {
                // The request fits once enough of the oldest in-window hits have expired.
                let headers = self.window_headers(now, limit, window);
                let frees_at = self.frees_at(start, used, limit, window).unwrap_or(now);
                let wait = frees_at.saturating_duration_since(now);
                let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                let secs = secs.max(1);
                if worst.is_none_or(|(prev, ..)| secs > prev) {
                    worst = Some((secs, window, limit, headers));
                }
            }
        }
        if let Some((retry_after_secs, window, limit, headers)) = worst {
            return Admission::Rejected {
                retry_after_secs,
                window,
                limit,
                headers,
            };
        }
        self.hits.push_back(now);
        Admission::Allowed(self.headers(now))
    }

    /// Header values for the tightest window without counting anything.
    pub fn headers(&self, now: Instant) -> LimitHeaders {
        let RateLimit::Windows(windows) = &self.config else {
            return unlimited_headers();
        };
        let mut best: Option<LimitHeaders> = None;
        for &(limit, window) in windows {
            let headers = self.window_headers(now, limit, window);
            if best.is_none_or(|b| headers.remaining < b.remaining) {
                best = Some(headers);
            }
        }
        best.unwrap_or_else(unlimited_headers)
    }

    /// Header values for one window.
    fn window_headers(&self, now: Instant, limit: u32, window: Duration) -> LimitHeaders {
        let start = self.window_start(now, window);
        let used = self.hits.len() - start;
        headers_for(now, limit, used, self.frees_at(start, used, limit, window))
    }

    /// When `remaining` of a window holding the `used` hits from index `start` next grows:
    /// when its oldest hit expires, or, if it holds `limit` or more, the hit whose expiry
    /// leaves room for one more request. `None` for an empty window.
    fn frees_at(&self, start: usize, used: usize, limit: u32, window: Duration) -> Option<Instant> {
        let must_expire = (used + 1).saturating_sub(limit as usize).max(1);
        self.hits
            .get(start + must_expire - 1)
            .map(|&hit| hit + window)
    }

    /// Index of the oldest hit inside `(now - window, now]`.
    fn window_start(&self, now: Instant, window: Duration) -> usize {
        self.hits.partition_point(|&hit| hit + window <= now)
    }

    /// Drops hits older than the longest window.
    fn prune(&mut self, now: Instant, windows: &[(u32, Duration)]) {
        let longest = windows.iter().map(|&(_, w)| w).max().unwrap_or_default();
        while self.hits.front().is_some_and(|&hit| hit + longest <= now) {
            self.hits.pop_front();
        }
    }
}

fn unlimited_headers() -> LimitHeaders {
    LimitHeaders {
        limit: u32::MAX,
        remaining: u32::MAX,
        reset_unix: unix_now_secs(),
    }
}

/// Header values for a window holding `used` hits whose `remaining` next grows at `frees_at`.
fn headers_for(now: Instant, limit: u32, used: usize, frees_at: Option<Instant>) -> LimitHeaders {
    let remaining = (limit as usize).saturating_sub(used) as u32;
    let until_reset = frees_at
        .map(|at| at.saturating_duration_since(now))
        .unwrap_or_default();
    let reset = SystemTime::now() + until_reset;
    let reset_unix = reset
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() + u64::from(d.subsec_nanos() > 0))
        .unwrap_or(0);
    LimitHeaders {
        limit,
        remaining,
        reset_unix,
    }
}

fn unix_now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// After the limit is lowered below what the window holds, `X-RateLimit-Reset` names the
    /// moment a request fits again (as `Retry-After` does), not the oldest hit's expiry.
    #[test]
    fn a_lowered_limit_resets_when_a_request_fits_again() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut limiter = Limiter::new("10/10s".parse().unwrap());
        for i in 0..8 {
            assert!(matches!(
                limiter.admit(at(i * 1_000)),
                Admission::Allowed(_)
            ));
        }
        let full = limiter.headers(at(7_500));
        let oldest_expiry = SystemTime::now() + Duration::from_millis(2_500);
        let whole = |t: SystemTime| t.duration_since(UNIX_EPOCH).unwrap().as_secs_f64();
        assert!((full.reset_unix as f64 - whole(oldest_expiry)).abs() <= 1.0);

        limiter.set("5/10s".parse().unwrap());
        let Admission::Rejected {
            retry_after_secs,
            headers,
            ..
        } = limiter.admit(at(7_500))
        else {
            panic!("8 in the window, limit 5: rejected");
        };
        // Hits at 0..=7 s: the 4th (at 3 s) must leave, at 13 s.
        assert_eq!(retry_after_secs, 6);
        assert_eq!(headers.remaining, 0);
        let fits_again = SystemTime::now() + Duration::from_millis(5_500);
        assert!(
            (headers.reset_unix as f64 - whole(fits_again)).abs() <= 1.0,
            "{} vs {}",
            headers.reset_unix,
            whole(fits_again)
        );
        assert!(matches!(limiter.admit(at(13_000)), Admission::Allowed(_)));
    }

    #[test]
    fn limiter_enforces_every_sliding_window_and_reports_the_tightest() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut limiter = Limiter::new("2/1s,3/10s".parse().unwrap());
        let Admission::Allowed(first) = limiter.admit(at(0)) else {
            panic!("first request rejected");
        };
        assert_eq!((first.limit, first.remaining), (2, 1));
        assert!(matches!(limiter.admit(at(100)), Admission::Allowed(_)));
        let Admission::Rejected {
            retry_after_secs, ..
        } = limiter.admit(at(200))
        else {
            panic!("third request within 1s allowed");
        };
        assert_eq!(retry_after_secs, 1);
        // After the 1 s window slides past the first hit, the 10 s window still has room for one.
        assert!(matches!(limiter.admit(at(1_000)), Admission::Allowed(_)));
        let Admission::Rejected {
            retry_after_secs,
            headers,
            ..
        } = limiter.admit(at(2_500))
        else {
            panic!("fourth request within 10s allowed");
        };
        assert_eq!(
            retry_after_secs, 8,
            "until the first hit leaves the 10 s window"
        );
        assert_eq!((headers.limit, headers.remaining), (3, 0));
        assert!(matches!(limiter.admit(at(10_000)), Admission::Allowed(_)));
        limiter.set(RateLimit::Off);
        assert!(matches!(limiter.admit(at(10_001)), Admission::Allowed(_)));
    }
}
