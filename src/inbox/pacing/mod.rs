//! Client-side pacing for the Inbox API: spends the team's rate budget evenly, as the server's
//! `X-RateLimit-*` headers announce it, never faster than an optional fixed minimum interval,
//! and keeps `[limits] reserve_ratio` of every window for the team's people.
//!
//! This module only decides *when* a request may start; it sends nothing and knows no
//! endpoints. The budget is shared by every token and client of the team
//! (docs/inbox-api-v1.md §3.2), so the headers, not our own count, say how much of it is left.
//!
//! **The model.** Inbox enforces sliding windows; the headers describe the tightest one:
//! `limit`, `remaining` after this request, and `reset`, the Unix second (rounded up) at which
//! the oldest request the window counts leaves it, so that `remaining` grows again. The pacer
//! spreads the `remaining - reserve` requests it may use evenly over the time until `reset`.
//! Once the window is full that time is short and `remaining` small, and the rule replays the
//! window: each request starts when the oldest one expires, which holds the window one short
//! of `limit - reserve` (about `(limit - reserve - 1) / window` requests per second).
//!
//! **Whole seconds.** `reset` has a resolution of one second, which is a tenth of a 10 s window.
//! The pacer sharpens it with what it knows of its own requests: the request the window counts
//! as its oldest is, when this client is alone, its own `limit - remaining`-th most recent
//! counted one, so every response bounds the window's length: at most `reset - start` of that
//! request (an upper bound even when other clients' requests are counted too), and, when alone,
//! more than `reset - 1 s - start - round trip`. The window is taken as the whole number of
//! seconds inside those bounds when there is one (Inbox's windows are a minute, an hour and a
//! day), else as the upper bound. The expiry of the oldest request is then placed within the
//! second the header names.
//!
//! **No 429 of our own making.** A request starts while `remaining > 0`; with nothing left it
//! waits for the oldest request's expiry placed by the *upper* bound, which is never early for
//! a sliding window. Other clients can still take the last slot first; then the 429 and its
//! `Retry-After`, handled by the client, are the signal. Concurrent callers reserve
//! consecutive start times and count themselves off `remaining`; the bounds assume requests
//! are counted in the order they start, exact for one caller at a time (the engine), close
//! otherwise.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::HeaderMap;
use tokio::time::Instant;

/// When `remaining` falls to this share of `limit` (or below), [`RateLimitInfo::spread_interval`]
/// spreads requests over the time left until the window resets.
const LOW_BUDGET_RATIO: f64 = 0.05;

/// The longest a single request is held back for budget reasons; past that, a 429 and its
/// `Retry-After` are the better signal.
const MAX_BUDGET_WAIT: Duration = Duration::from_secs(60);

/// How many of its own counted requests the pacer remembers to find the window's oldest one.
/// Windows with a larger `limit` (the hourly and daily ones) fall back to the header's whole
/// second, which is a small error on such windows.
const LOG_CAPACITY: usize = 4096;

/// How many distinct `limit` values (windows) have their length tracked at once.
const TRACKED_WINDOWS: usize = 8;

/// The resolution of `X-RateLimit-Reset`.
const ONE_SECOND: Duration = Duration::from_secs(1);

/// A window whose `remaining` grows again only this far ahead or later is a long one (the hour
/// or the day: a minute window's reset is at most a minute and a second away). The pacer does
/// not spread requests over such a window nor wait for it: it is a budget, spent at the pace of
/// the minute window and then [`Pacer::spent`].
const LONG_WINDOW: Duration = Duration::from_secs(120);

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

    /// Whether these headers describe a long window (an hour or a day) at `now_unix`: a limit
    /// of 1,000 or more, or a `reset` more than [`LONG_WINDOW`] ahead.
    pub fn is_long_window(&self, now_unix: u64) -> bool {
        self.limit >= 1000 || self.reset_unix > now_unix.saturating_add(LONG_WINDOW.as_secs())
    }

    /// Whether the budget is low enough to slow down.
    fn is_low(&self) -> bool {
        (self.remaining as f64) <= (self.limit as f64) * LOW_BUDGET_RATIO
    }

    /// The headers-only rule of thumb: when `remaining` is at most 5 % of `limit`, the gap to
    /// leave between requests so that it lasts until the reset (whole seconds, at most 60 s);
    /// `None` while the budget is not low. `now_unix` is the current Unix time in seconds.
    ///
    /// The client's own pacing is finer than this (it spreads the budget all along and places
    /// the reset within its second); this is for a caller that has one response to go by.
    pub fn spread_interval(&self, now_unix: u64) -> Option<Duration> {
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

/// A long window spent down to the share kept for people: what [`Pacer::spent`] reports
/// instead of waiting for it to refill.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Spent {
    /// `X-RateLimit-Limit` of the window.
    pub limit: u64,
    /// Requests left in it (at most the reserve).
    pub remaining: u64,
    /// When its `remaining` next grows, Unix seconds.
    pub refills_unix: u64,
    /// Its length as the responses bound it, when they do.
    window: Option<Duration>,
}

impl Spent {
    /// `hour` or `day`, by the window's length when known, else by how far its refill is and
    /// its limit (the documented 10,000 an hour and 100,000 a day).
    pub fn window_name(&self, now_unix: u64) -> &'static str {
        let hour = 3_600 + ONE_SECOND.as_secs();
        let long = match self.window {
            Some(length) => length.as_secs() > hour,
            None => self.refills_unix > now_unix.saturating_add(hour) || self.limit >= 100_000,
        };
        if long { "day" } else { "hour" }
    }
}

/// Decides when the next request may start.
pub(crate) struct Pacer {
    /// The fixed minimum gap between request starts, if any.
    min_interval: Option<Duration>,
    /// Share of each window's `limit` left to the team's people.
    reserve_ratio: f64,
    state: Mutex<State>,
}

impl Pacer {
    /// A pacer that starts requests at least `min_interval` apart (none if `None` or zero)
    /// and leaves `reserve_ratio` (0 ≤ r < 1, else treated as 0) of each window unused.
    pub fn new(min_interval: Option<Duration>, reserve_ratio: f64) -> Pacer {
        let reserve_ratio = if (0.0..1.0).contains(&reserve_ratio) {
            reserve_ratio
        } else {
            0.0
        };
        Pacer {
            min_interval: min_interval.filter(|d| !d.is_zero()),
            reserve_ratio,
            state: Mutex::new(State::default()),
        }
    }

    /// Waits until a request may start; returns the instant it starts, to hand back to
    /// [`Pacer::observe`] with its response.
    pub async fn acquire(&self) -> Instant {
        let (at, pending) = {
            let mut state = self.lock();
            let now = Instant::now();
            let at = state.next_start(now, self.min_interval, self.reserve_ratio);
            state.reserve(at);
            (at, state.latest.map(|o| (o.remaining, o.limit)))
        };
        let now = Instant::now();
        if at > now {
            let wait = at - now;
            if wait >= Duration::from_millis(250) {
                let (remaining, limit) = pending.unwrap_or_default();
                tracing::debug!(
                    wait_ms = wait.as_millis() as u64,
                    remaining,
                    limit,
                    "spacing Inbox requests to the team's rate budget"
                );
            }
            tokio::time::sleep_until(at).await;
        }
        Instant::now()
    }

    /// The long window (hour, day) the latest headers describe, when it is down to the share
    /// kept for people: a request now would wait for it to refill (up to a day), so the caller
    /// stops instead. `None` otherwise, and always for the minute window.
    pub fn spent(&self) -> Option<Spent> {
        self.lock().spent(Instant::now(), self.reserve_ratio)
    }

    /// Records the headers of the response to a request that started at `started`;
    /// `counted` says whether the server certainly counted it (a 2xx answer).
    pub fn observe(&self, started: Instant, info: RateLimitInfo, counted: bool) {
        let now = Instant::now();
        let reset_at = reset_instant(info.reset_unix, now, SystemTime::now());
        self.lock().record(started, now, info, reset_at, counted);
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The pacer's memory.
#[derive(Default)]
struct State {
    /// The (scheduled) start of the latest request.
    last_start: Option<Instant>,
    /// The latest headers, with `remaining` lowered by each request started since.
    latest: Option<Observed>,
    /// Our counted requests, oldest first, at most [`LOG_CAPACITY`].
    log: VecDeque<Sent>,
    /// What the responses say about each window's length, by `limit`.
    windows: Vec<WindowBounds>,
}

#[derive(Clone, Copy, Debug)]
struct Observed {
    limit: u64,
    remaining: u64,
    /// `X-RateLimit-Reset` as sent, Unix seconds.
    reset_unix: u64,
    /// `X-RateLimit-Reset` on the monotonic clock (a whole second, rounded up by the server).
    reset_at: Instant,
}

/// One of our requests that the server counted.
#[derive(Clone, Copy, Debug)]
struct Sent {
    start: Instant,
    /// Start to response headers: the request reached the server within this time.
    round_trip: Duration,
}

/// Bounds on the length of the window with this `limit`.
#[derive(Clone, Copy, Debug)]
struct WindowBounds {
    limit: u64,
    /// Longer than this when only we use the budget (others' requests can push it up).
    lower: Duration,
    /// Never shorter than the true length.
    upper: Duration,
}

impl WindowBounds {
    /// The window's best-guess length: the whole number of seconds within the bounds if
    /// there is one, else the upper bound.
    fn guess(&self) -> Duration {
        let whole = Duration::from_secs(self.upper.as_secs());
        if whole >= ONE_SECOND && whole > self.lower {
            whole
        } else {
            self.upper
        }
    }
}

impl State {
    /// The earliest start for the next request.
    fn next_start(
        &self,
        now: Instant,
        min_interval: Option<Duration>,
        reserve_ratio: f64,
    ) -> Instant {
        let last = self.last_start.unwrap_or(now);
        let mut at = now;
        if let (Some(min), Some(last)) = (min_interval, self.last_start) {
            at = at.max(last + min);
        }
        let Some(obs) = self.latest else {
            return at;
        };
        let reserve = reserved(obs.limit, reserve_ratio);
        let bounds = self.bounds(obs.limit);
        // Spacing that holds the window one short of `limit - reserve`.
        let usable_minus_one = obs.limit.saturating_sub(reserve).saturating_sub(1).max(1);
        let base = bounds.map_or(Duration::ZERO, |b| div(b.guess(), usable_minus_one));
        let (expiry_guess, expiry_late) = self.oldest_expiry(&obs, bounds);
        if obs.remaining > reserve && obs.reset_at > now + LONG_WINDOW {
            // A long window is a budget, not a pace: what may be used goes at once.
            return at;
        }
        let budget_at = if obs.remaining > reserve {
            // Spread what may be used over the time until the oldest request expires.
            let left = obs.remaining - reserve;
            let spread = div(expiry_guess.saturating_duration_since(last), left);
            last + spread.max(base)
        } else {
            // Nothing of ours left: wait for the oldest request to expire, and for the reserve
            // to refill at the window's pace. With nothing left at all, use the late estimate.
            let deficit = reserve + 1 - obs.remaining;
            let from = if obs.remaining == 0 {
                expiry_late
            } else {
                expiry_guess
            };
            let refill = mul(base, deficit - 1);
            (last + base).max(from.checked_add(refill).unwrap_or(from))
        };
        at.max(budget_at.min(now + MAX_BUDGET_WAIT))
    }

    /// See [`Pacer::spent`].
    fn spent(&self, now: Instant, reserve_ratio: f64) -> Option<Spent> {
        let obs = self.latest?;
        if obs.remaining > reserved(obs.limit, reserve_ratio) || obs.reset_at <= now + LONG_WINDOW {
            return None;
        }
        Some(Spent {
            limit: obs.limit,
            remaining: obs.remaining,
            refills_unix: obs.reset_unix,
            window: self.bounds(obs.limit).map(|b| b.guess()),
        })
    }

    /// When the oldest request the window counts expires: a best guess, and an estimate that
    /// is never early for a sliding window. Both lie within the header's whole second.
    fn oldest_expiry(&self, obs: &Observed, bounds: Option<WindowBounds>) -> (Instant, Instant) {
        let reset = obs.reset_at;
        let floor = reset.checked_sub(ONE_SECOND).unwrap_or(reset);
        let used = obs.limit.saturating_sub(obs.remaining);
        let oldest = usize::try_from(used)
            .ok()
            .filter(|&n| n >= 1 && n <= self.log.len())
            .map(|n| self.log[self.log.len() - n]);
        match (oldest, bounds) {
            (Some(sent), Some(b)) => {
                let arrived_by = sent.start + sent.round_trip;
                let place = |window: Duration| {
                    arrived_by
                        .checked_add(window)
                        .map_or(reset, |t| t.clamp(floor, reset))
                };
                (place(b.guess()), place(b.upper))
            }
            _ => (reset, reset),
        }
    }

    fn bounds(&self, limit: u64) -> Option<WindowBounds> {
        self.windows.iter().find(|w| w.limit == limit).copied()
    }

    /// Books a request start.
    fn reserve(&mut self, at: Instant) {
        self.last_start = Some(self.last_start.map_or(at, |last| last.max(at)));
        if let Some(obs) = &mut self.latest {
            obs.remaining = obs.remaining.saturating_sub(1);
        }
    }

    /// Takes in a response's headers.
    fn record(
        &mut self,
        started: Instant,
        now: Instant,
        info: RateLimitInfo,
        reset_at: Instant,
        counted: bool,
    ) {
        self.latest = Some(Observed {
            limit: info.limit,
            remaining: info.remaining,
            reset_unix: info.reset_unix,
            reset_at,
        });
        if !counted {
            return;
        }
        let sent = Sent {
            start: started,
            round_trip: now.saturating_duration_since(started),
        };
        let at = self.log.partition_point(|s| s.start <= started);
        self.log.insert(at, sent);
        if self.log.len() > LOG_CAPACITY {
            self.log.pop_front();
        }
        let used = info.limit.saturating_sub(info.remaining);
        let Some(n) = usize::try_from(used)
            .ok()
            .filter(|&n| n >= 1 && n <= self.log.len())
        else {
            return;
        };
        let oldest = self.log[self.log.len() - n];
        let upper = reset_at.saturating_duration_since(oldest.start);
        let lower = reset_at
            .saturating_duration_since(oldest.start + oldest.round_trip)
            .saturating_sub(ONE_SECOND);
        self.learn(info.limit, lower, upper);
    }

    /// Narrows the bounds of the window with `limit`.
    fn learn(&mut self, limit: u64, lower: Duration, upper: Duration) {
        match self.windows.iter_mut().find(|w| w.limit == limit) {
            // A new upper bound below the lower one means the old bounds no longer describe
            // this window (it changed, or other clients' requests skewed the lower bound).
            Some(w) if upper < w.lower => {
                *w = WindowBounds {
                    limit,
                    lower,
                    upper,
                }
            }
            Some(w) => {
                w.upper = w.upper.min(upper);
                w.lower = w.lower.max(lower);
            }
            None => {
                if self.windows.len() >= TRACKED_WINDOWS {
                    self.windows.remove(0);
                }
                self.windows.push(WindowBounds {
                    limit,
                    lower,
                    upper,
                });
            }
        }
    }
}

/// Requests of a window with `limit` left to the team's people: `ceil(limit × ratio)`, less
/// than `limit`.
fn reserved(limit: u64, ratio: f64) -> u64 {
    if limit <= 1 || ratio <= 0.0 {
        return 0;
    }
    // The small tolerance keeps 0.2 × 100 at 20 whatever the float rounding.
    let share = (limit as f64 * ratio - 1e-9).ceil();
    (share as u64).min(limit - 1)
}

/// `d / n` for any `n ≥ 1`.
fn div(d: Duration, n: u64) -> Duration {
    match u32::try_from(n) {
        Ok(n) => d / n.max(1),
        Err(_) => Duration::from_secs_f64(d.as_secs_f64() / n as f64),
    }
}

/// `d × n`, saturating at [`MAX_BUDGET_WAIT`] (longer waits are capped anyway).
fn mul(d: Duration, n: u64) -> Duration {
    let n = u32::try_from(n).unwrap_or(u32::MAX);
    d.saturating_mul(n).min(MAX_BUDGET_WAIT)
}

/// `reset_unix` on the monotonic clock, given the same moment on both clocks. A reset in the
/// past is `now`; one absurdly far ahead is capped a day ahead.
fn reset_instant(reset_unix: u64, now: Instant, now_wall: SystemTime) -> Instant {
    let now_unix = now_wall
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    let ahead = Duration::from_secs(reset_unix)
        .saturating_sub(now_unix)
        .min(Duration::from_secs(86_400));
    now + ahead
}

#[cfg(test)]
mod tests;
