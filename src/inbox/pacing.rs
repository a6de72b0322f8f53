//! Client-side pacing for the Inbox API: a fixed minimum interval between requests (governor,
//! burst 1), slowed further when the server's `X-RateLimit-*` headers say the team's shared
//! budget is nearly spent.
//!
//! This module only decides *when* a request may start; it sends nothing and knows no
//! endpoints. The team budget is shared with other clients (the Inbox UI's integrations, other
//! tokens), which is why the headers, not our own count, decide the slow-down.

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use reqwest::header::HeaderMap;
use tokio::time::Instant;

/// When `remaining` falls to this share of `limit` (or below), requests are spread over the
/// time left until the window resets.
const LOW_BUDGET_RATIO: f64 = 0.05;

/// The longest a single request is held back for budget reasons; past that, a 429 and its
/// `Retry-After` are the better signal.
const MAX_BUDGET_WAIT: Duration = Duration::from_secs(60);

/// The `X-RateLimit-*` headers of one response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimitInfo {
    /// `X-RateLimit-Limit`: requests allowed in the window.
    pub limit: u64,
    /// `X-RateLimit-Remaining`: requests left in the window.
    pub remaining: u64,
    /// `X-RateLimit-Reset`: when the window resets, Unix seconds.
    pub reset_unix: u64,
}

impl RateLimitInfo {
    /// Reads the three headers; `None` unless all three are present and numeric.
    pub fn from_headers(headers: &HeaderMap) -> Option<RateLimitInfo> {
        let number =
            |name: &str| -> Option<u64> { headers.get(name)?.to_str().ok()?.trim().parse().ok() };
        Some(RateLimitInfo {
            limit: number("x-ratelimit-limit")?,
            remaining: number("x-ratelimit-remaining")?,
            reset_unix: number("x-ratelimit-reset")?,
        })
    }

    /// Whether the budget is low enough to slow down.
    fn is_low(&self) -> bool {
        (self.remaining as f64) <= (self.limit as f64) * LOW_BUDGET_RATIO
    }

    /// The gap to leave between requests so that the remaining budget lasts until the reset,
    /// or `None` when the budget is not low. `now_unix` is the current Unix time in seconds.
    pub(crate) fn spread_interval(&self, now_unix: u64) -> Option<Duration> {
        if !self.is_low() {
            return None;
        }
        let until_reset = Duration::from_secs(self.reset_unix.saturating_sub(now_unix));
        let interval = if self.remaining == 0 {
            until_reset
        } else {
            until_reset / u32::try_from(self.remaining).unwrap_or(u32::MAX)
        };
        Some(interval.min(MAX_BUDGET_WAIT))
    }
}

/// Decides when the next request may start.
pub(crate) struct Pacer {
    /// Fixed pacing (`min_interval`, burst 1); `None` = unpaced.
    limiter: Option<DefaultDirectRateLimiter>,
    /// Budget-driven pacing state.
    budget: Mutex<Budget>,
}

#[derive(Default)]
struct Budget {
    /// The most recent headers.
    last: Option<RateLimitInfo>,
    /// The earliest start of the next request while the budget is low; requests reserve
    /// consecutive slots so concurrent callers are spread, not released together.
    next_slot: Option<Instant>,
}

impl Pacer {
    /// A pacer allowing one request per `min_interval` (none if `None` or zero).
    pub fn new(min_interval: Option<Duration>) -> Pacer {
        let limiter = min_interval
            .and_then(Quota::with_period)
            .map(|quota| RateLimiter::direct(quota.allow_burst(NonZeroU32::MIN)));
        Pacer {
            limiter,
            budget: Mutex::new(Budget::default()),
        }
    }

    /// Waits until a request may start.
    pub async fn acquire(&self) {
        if let Some(limiter) = &self.limiter {
            limiter.until_ready().await;
        }
        let wait_until = {
            let mut budget = self.budget.lock().unwrap_or_else(|e| e.into_inner());
            let interval = budget
                .last
                .and_then(|info| info.spread_interval(unix_now()));
            match interval {
                None => {
                    budget.next_slot = None;
                    None
                }
                Some(interval) => {
                    // Entering low-budget mode, the first request waits one interval too:
                    // with nothing left (`remaining == 0`) it must wait for the reset.
                    let now = Instant::now();
                    let slot = budget.next_slot.unwrap_or(now + interval).max(now);
                    budget.next_slot = Some(slot + interval);
                    (slot > now).then_some(slot)
                }
            }
        };
        if let Some(at) = wait_until {
            tracing::debug!(
                wait_ms = (at - Instant::now()).as_millis() as u64,
                "Inbox rate-limit budget low; spacing requests"
            );
            tokio::time::sleep_until(at).await;
        }
    }

    /// Records the headers of a response.
    pub fn observe(&self, info: RateLimitInfo) {
        let mut budget = self.budget.lock().unwrap_or_else(|e| e.into_inner());
        budget.last = Some(info);
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
