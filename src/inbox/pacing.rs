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
mod tests {
    //! The pacer against a simulated sliding-window server on virtual time: the same rule as
    //! the fake Inbox (`X-RateLimit-Reset` = the whole second, rounded up, at which
    //! `remaining` next grows), with jittered latencies and a random phase of the wall clock.

    use super::*;

    /// A small deterministic generator (xorshift64*).
    struct Rng(u64);

    impl Rng {
        fn unit(&mut self) -> f64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
        }

        fn between_ms(&mut self, lo: f64, hi: f64) -> Duration {
            Duration::from_secs_f64((lo + (hi - lo) * self.unit()) / 1000.0)
        }
    }

    /// Sliding windows of `limit` requests per `window`; counts admitted requests only.
    struct Server {
        t0: Instant,
        /// Fraction of a second the wall clock is ahead of a whole second at `t0`.
        phase: f64,
        limit: u64,
        window: Duration,
        hits: VecDeque<Instant>,
        rejected: u64,
    }

    struct Answer {
        admitted: bool,
        remaining: u64,
        reset_at: Instant,
        retry_after: Duration,
    }

    impl Server {
        fn new(t0: Instant, phase: f64, limit: u64, window: Duration) -> Server {
            Server {
                t0,
                phase,
                limit,
                window,
                hits: VecDeque::new(),
                rejected: 0,
            }
        }

        /// The instant of the wall-clock second at or after `t`.
        fn whole_second_after(&self, t: Instant) -> Instant {
            let wall = (t - self.t0).as_secs_f64() + self.phase;
            self.t0 + Duration::from_secs_f64(wall.ceil() - self.phase)
        }

        fn admit(&mut self, now: Instant) -> Answer {
            while self.hits.front().is_some_and(|&h| h + self.window <= now) {
                self.hits.pop_front();
            }
            let used = self.hits.len() as u64;
            let admitted = used < self.limit;
            if admitted {
                self.hits.push_back(now);
            } else {
                self.rejected += 1;
            }
            let used = self.hits.len() as u64;
            // `remaining` grows when enough of the oldest hits have expired.
            let must_expire = (used + 1).saturating_sub(self.limit).max(1) as usize;
            let frees_at = self
                .hits
                .get(must_expire - 1)
                .map_or(now, |&h| h + self.window);
            Answer {
                admitted,
                remaining: self.limit.saturating_sub(used),
                reset_at: self.whole_second_after(frees_at),
                retry_after: Duration::from_secs(
                    (frees_at - now).as_secs_f64().ceil().max(1.0) as u64
                ),
            }
        }
    }

    /// Another client of the same team: one request every `every`, from `from`, ignoring
    /// the headers.
    struct Other {
        next: Instant,
        every: Duration,
        rejected: u64,
    }

    struct Run {
        /// Requests per second achieved, as a share of `limit / window`.
        rate: f64,
        /// Our 429s.
        rejected: u64,
        /// The other client's 429s.
        other_rejected: u64,
        /// The shortest gap between two of our request starts.
        min_gap: Duration,
    }

    struct Setup {
        limit: u64,
        window: Duration,
        requests: u64,
        reserve: f64,
        min_interval: Option<Duration>,
        seed: u64,
        /// `(every, from)` of another client.
        other: Option<(Duration, Duration)>,
        /// `(after this many of our requests, new limit)`.
        lower: Option<(u64, u64)>,
    }

    impl Setup {
        fn new(limit: u64, window_secs: u64, requests: u64) -> Setup {
            Setup {
                limit,
                window: Duration::from_secs(window_secs),
                requests,
                reserve: 0.0,
                min_interval: None,
                seed: 1,
                other: None,
                lower: None,
            }
        }

        /// Runs our sequential client (pacer, request, response, a little local work) until
        /// `requests` were admitted; a 429 waits its `Retry-After`, as the client does.
        fn run(&self) -> Run {
            let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ self.seed.wrapping_mul(0x1234_5678_9abc));
            let t0 = Instant::now();
            let mut server = Server::new(t0, rng.unit(), self.limit, self.window);
            let mut other = self.other.map(|(every, from)| Other {
                next: t0 + from,
                every,
                rejected: 0,
            });
            let mut state = State::default();
            let mut t = t0;
            let mut done = 0;
            let mut first = None;
            let mut last_start: Option<Instant> = None;
            let mut min_gap = Duration::MAX;
            while done < self.requests {
                if let Some((after, limit)) = self.lower
                    && done == after
                {
                    server.limit = limit;
                }
                let at = state.next_start(t, self.min_interval, self.reserve);
                assert!(at >= t && at <= t + Duration::from_secs(3600));
                state.reserve(at);
                let start = at;
                if let Some(prev) = last_start {
                    min_gap = min_gap.min(start - prev);
                }
                last_start = Some(start);
                first.get_or_insert(start);
                let arrival = start + rng.between_ms(0.5, 4.0);
                if let Some(o) = &mut other {
                    while o.next <= arrival {
                        if !server.admit(o.next).admitted {
                            o.rejected += 1;
                            server.rejected -= 1;
                        }
                        o.next += o.every;
                    }
                }
                let answer = server.admit(arrival);
                t = arrival + rng.between_ms(0.5, 4.0);
                let info = RateLimitInfo {
                    limit: server.limit,
                    remaining: answer.remaining,
                    reset_unix: 0,
                };
                state.record(start, t, info, answer.reset_at, answer.admitted);
                if answer.admitted {
                    done += 1;
                    t += rng.between_ms(0.2, 3.0);
                } else {
                    t += answer.retry_after;
                }
            }
            let elapsed = (t - first.unwrap_or(t0)).as_secs_f64();
            let limit_rate = self.limit as f64 / self.window.as_secs_f64();
            Run {
                rate: self.requests as f64 / elapsed / limit_rate,
                rejected: server.rejected,
                other_rejected: other.map_or(0, |o| o.rejected),
                min_gap,
            }
        }
    }

    #[test]
    fn alone_it_uses_the_whole_window_without_a_429() {
        for (limit, window) in [(100, 10), (300, 60), (50, 5), (100, 5)] {
            for seed in 0..6 {
                let setup = Setup {
                    seed,
                    ..Setup::new(limit, window, limit * 7 / 2)
                };
                let run = setup.run();
                assert_eq!(run.rejected, 0, "{limit}/{window}s seed {seed}");
                assert!(
                    run.rate >= 0.97 && run.rate <= 1.0,
                    "{limit}/{window}s seed {seed}: {:.3} of the limit",
                    run.rate
                );
            }
        }
    }

    #[test]
    fn requests_are_spread_not_burst() {
        let run = Setup::new(100, 10, 350).run();
        // The window is 100 per 10 s: never two requests closer than ~1/4 of the even gap.
        assert!(
            run.min_gap >= Duration::from_millis(25),
            "{:?}",
            run.min_gap
        );
    }

    #[test]
    fn the_reserve_is_left_to_the_team() {
        for seed in 0..4 {
            let setup = Setup {
                reserve: 0.2,
                seed,
                ..Setup::new(100, 10, 300)
            };
            let run = setup.run();
            assert_eq!(run.rejected, 0);
            assert!(
                run.rate >= 0.75 && run.rate <= 0.81,
                "seed {seed}: {:.3}",
                run.rate
            );
        }
    }

    #[test]
    fn a_second_client_is_left_room_and_neither_meets_a_429() {
        for seed in 0..4 {
            let setup = Setup {
                reserve: 0.2,
                seed,
                // 30 % of the limit, starting after 3 s.
                other: Some((Duration::from_millis(333), Duration::from_secs(3))),
                ..Setup::new(100, 10, 300)
            };
            let run = setup.run();
            assert_eq!((run.rejected, run.other_rejected), (0, 0), "seed {seed}");
            // What is left after the other client and the reserve: about 50 % of the limit.
            assert!(
                run.rate >= 0.45 && run.rate <= 0.65,
                "seed {seed}: {:.3}",
                run.rate
            );
        }
    }

    #[test]
    fn a_lowered_limit_costs_at_most_one_429_and_the_run_finishes() {
        for reserve in [0.0, 0.2] {
            for seed in 0..4 {
                let setup = Setup {
                    reserve,
                    seed,
                    lower: Some((150, 50)),
                    ..Setup::new(100, 10, 350)
                };
                let run = setup.run();
                assert!(run.rejected <= 1, "seed {seed}: {} 429s", run.rejected);
            }
        }
    }

    #[test]
    fn min_interval_is_a_floor() {
        let setup = Setup {
            min_interval: Some(Duration::from_millis(200)),
            ..Setup::new(1000, 10, 50)
        };
        let run = setup.run();
        assert!(
            run.min_gap >= Duration::from_millis(200),
            "{:?}",
            run.min_gap
        );
        assert_eq!(run.rejected, 0);
    }

    #[test]
    fn unlimited_headers_do_not_pace() {
        let mut state = State::default();
        let t0 = Instant::now();
        let mut t = t0;
        for _ in 0..1000 {
            let at = state.next_start(t, None, 0.2);
            assert_eq!(at, t);
            state.reserve(at);
            t += Duration::from_millis(1);
            let info = RateLimitInfo {
                limit: u64::from(u32::MAX),
                remaining: u64::from(u32::MAX),
                reset_unix: 0,
            };
            state.record(at, t, info, t, true);
        }
    }

    #[test]
    fn any_headers_give_a_bounded_wait_and_no_panic() {
        let mut rng = Rng(7);
        let mut state = State::default();
        let t0 = Instant::now();
        let mut t = t0;
        let pick = |rng: &mut Rng| -> u64 {
            match (rng.unit() * 6.0) as u32 {
                0 => 0,
                1 => 1,
                2 => u64::MAX,
                3 => u64::from(u32::MAX) + 1,
                _ => (rng.unit() * 500.0) as u64,
            }
        };
        for _ in 0..5000 {
            let ratio = [0.0, 0.2, 0.99][(rng.unit() * 3.0) as usize % 3];
            let at = state.next_start(t, None, ratio);
            assert!(at >= t && at <= t + MAX_BUDGET_WAIT, "{:?}", at - t);
            state.reserve(at);
            t = at + Duration::from_millis(2);
            let info = RateLimitInfo {
                limit: pick(&mut rng),
                remaining: pick(&mut rng),
                reset_unix: 0,
            };
            let reset_at = t + Duration::from_secs(pick(&mut rng).min(86_400));
            state.record(at, t, info, reset_at, rng.unit() < 0.8);
        }
    }

    #[test]
    fn reserve_and_window_guess() {
        assert_eq!(reserved(100, 0.2), 20);
        assert_eq!(reserved(300, 0.2), 60);
        assert_eq!(reserved(100, 0.0), 0);
        assert_eq!(reserved(5, 0.99), 4);
        assert_eq!(reserved(1, 0.5), 0);
        assert_eq!(reserved(u64::MAX, 0.5), u64::MAX / 2 + 1);
        let bounds = |lower: f64, upper: f64| WindowBounds {
            limit: 1,
            lower: Duration::from_secs_f64(lower),
            upper: Duration::from_secs_f64(upper),
        };
        assert_eq!(bounds(9.2, 10.8).guess(), Duration::from_secs(10));
        assert_eq!(bounds(10.1, 10.8).guess(), Duration::from_secs_f64(10.8));
        assert_eq!(bounds(0.0, 0.4).guess(), Duration::from_secs_f64(0.4));
    }

    #[test]
    fn the_reset_moves_to_the_monotonic_clock() {
        let now = Instant::now();
        let wall = UNIX_EPOCH + Duration::from_secs(1_000);
        assert_eq!(
            reset_instant(1_010, now, wall),
            now + Duration::from_secs(10)
        );
        assert_eq!(reset_instant(990, now, wall), now);
        assert_eq!(
            reset_instant(u64::MAX, now, wall),
            now + Duration::from_secs(86_400)
        );
    }
}
