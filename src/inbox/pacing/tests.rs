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
            retry_after: Duration::from_secs((frees_at - now).as_secs_f64().ceil().max(1.0) as u64),
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

/// An hour window (reset far ahead) is a budget: requests go at once while more than the
/// reserve is left, and once it is down to the reserve the pacer reports it spent instead of
/// waiting for it; a minute window near its end is waited for, never reported spent.
#[test]
fn a_long_window_is_spent_not_waited_for() {
    let t0 = Instant::now();
    let mut state = State::default();
    let hour = |remaining: u64| RateLimitInfo {
        limit: 10,
        remaining,
        reset_unix: 0,
    };
    let mut t = t0;
    for remaining in (2..10).rev() {
        let at = state.next_start(t, None, 0.2);
        assert_eq!(at, t, "{remaining} left of the hour: no wait");
        assert_eq!(state.spent(t, 0.2), None);
        state.reserve(at);
        t += Duration::from_millis(5);
        state.record(
            at,
            t,
            hour(remaining),
            t0 + Duration::from_secs(3_600),
            true,
        );
    }
    let spent = state.spent(t, 0.2).expect("down to the reserve: spent");
    assert_eq!((spent.limit, spent.remaining), (10, 2));
    assert_eq!(spent.window_name(0), "hour");
    // A day's limit without bounds is named a day.
    let day = Spent {
        limit: 100_000,
        remaining: 3,
        refills_unix: 10,
        window: None,
    };
    assert_eq!(day.window_name(0), "day");

    let mut minute = State::default();
    let info = RateLimitInfo {
        limit: 300,
        remaining: 0,
        reset_unix: 0,
    };
    minute.record(t0, t0, info, t0 + Duration::from_secs(30), true);
    assert_eq!(minute.spent(t0, 0.2), None);
    assert!(
        minute.next_start(t0, None, 0.2) > t0,
        "the minute window is waited for"
    );
}
