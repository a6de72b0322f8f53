//! The daemon's clock work: when the next run is due, waiting for it, running the job, and
//! stopping cleanly.
//!
//! [`Schedule`] turns a standard 5-field crontab line and an IANA time zone into instants
//! (croner with seconds disallowed, chrono-tz for the zone). [`run`] is the loop, after
//! mini-redis: it sleeps with `tokio::time` until the next tick, awaits the job inline so that
//! runs never overlap, skips (and logs) ticks that a long run overran, and returns when the
//! `shutdown` future completes. A run in progress at shutdown is given [`SHUTDOWN_GRACE`] to
//! finish and is dropped after that; the engine's per-step transactions make dropping safe.
//!
//! It must not know about CRMs, config files, HTTP or how the run lock works: the CLI hands it
//! a closure and it reads [`JobOutcome`]s. It never prints (it logs with `tracing`), reads the
//! time only through a [`Clock`], and spawns no tasks.

use std::fmt;
use std::future::Future;
use std::pin::{Pin, pin};
use std::time::Duration;

use chrono::{DateTime, SubsecRound, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds};
use tracing::Instrument;

#[cfg(test)]
mod tests;

/// How long a run in progress may go on after shutdown was requested before it is dropped.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5 * 60);

/// The longest single sleep. The clock is read again at least this often, so a machine that was
/// suspended, or a wall clock that was stepped, delays a run by at most this much.
const MAX_NAP: Duration = Duration::from_secs(60);

/// At most this many overrun ticks are counted one by one (an every-minute schedule behind by a
/// week); past that the count in the log is a lower bound.
const MAX_COUNTED_MISSES: u64 = 10_000;

/// The crontab fields in order, with what each accepts, for error messages.
const FIELDS: [(&str, &str); 5] = [
    ("minute", "0-59"),
    ("hour", "0-23"),
    ("day-of-month", "1-31"),
    ("month", "1-12 or JAN-DEC"),
    ("day-of-week", "0-7 or SUN-SAT; 0 and 7 are Sunday"),
];

/// When runs are due: a standard 5-field crontab expression read in an IANA time zone.
///
/// Crontab semantics: minute, hour, day of month, month, day of week; weekdays 0 and 7 are
/// Sunday; when both day fields are restricted a day matching either one fires (Vixie cron).
/// Seconds and years are rejected. Across DST changes (croner's documented behaviour): a fixed
/// time that falls into the spring-forward gap fires once, right after the gap; a fixed time in
/// the repeated autumn hour fires once, on its first pass; `*`/step hours or minutes fire on
/// every wall-clock match, in both passes.
#[derive(Clone)]
pub struct Schedule {
    /// The expression as the user wrote it.
    expression: String,
    /// The parsed pattern.
    cron: Cron,
    /// The zone the pattern is read in.
    time_zone: Tz,
}

impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Schedule")
            .field("cron", &self.expression)
            .field("time_zone", &self.time_zone.name())
            .finish()
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` ({})", self.expression, self.time_zone.name())
    }
}

impl Schedule {
    /// Parses `[schedule] cron` and `timezone`. The error says what is wrong, e.g.
    /// "cron `0 2 * *`: expected 5 fields (...), found 4" or
    /// "unknown time zone Europe/Berln (did you mean Europe/Berlin?) ...".
    pub fn parse(cron: &str, timezone: &str) -> Result<Schedule, String> {
        let parsed = parse_cron(cron)?;
        let time_zone = parse_time_zone(timezone)?;
        let schedule = Schedule {
            expression: cron.trim().to_string(),
            cron: parsed,
            time_zone,
        };
        // A pattern such as `0 2 31 2 *` parses but names no real date. Every other 5-field
        // pattern recurs within a few decades, so one search from a fixed instant tells them
        // apart without reading the clock.
        let reference = Utc
            .with_ymd_and_hms(2000, 1, 1, 0, 0, 0)
            .single()
            .expect("a fixed UTC instant is unambiguous");
        if schedule.next_after(reference).is_none() {
            return Err(format!(
                "cron `{}`: never matches a real date (check the day-of-month and month fields)",
                schedule.expression
            ));
        }
        Ok(schedule)
    }

    /// The first tick strictly after `after`, or `None` if there is none (before year 5000).
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        // Ticks fall on whole minutes. Searching from the whole second at or before `after`
        // finds the first tick after that second, which is also the first one after `after`.
        let local = after.trunc_subsecs(0).with_timezone(&self.time_zone);
        let next = self.cron.find_next_occurrence(&local, false).ok()?;
        Some(next.with_timezone(&Utc))
    }

    /// The expression as written (trimmed).
    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// The time zone the expression is read in.
    pub fn time_zone(&self) -> Tz {
        self.time_zone
    }

    /// `at` on the schedule's wall clock, for messages.
    pub fn local(&self, at: DateTime<Utc>) -> DateTime<Tz> {
        at.with_timezone(&self.time_zone)
    }
}

/// Croner set up for crontab syntax: exactly 5 fields, POSIX weekdays, no seconds.
fn crontab_parser() -> CronParser {
    CronParser::builder().seconds(Seconds::Disallowed).build()
}

/// Parses a 5-field expression (or an `@daily`-style nickname), naming the faulty field.
fn parse_cron(expression: &str) -> Result<Cron, String> {
    let trimmed = expression.trim();
    let fields: Vec<&str> = trimmed.split_whitespace().collect();
    let nickname = fields.len() == 1 && fields[0].starts_with('@');
    if nickname {
        return crontab_parser().parse(trimmed).map_err(|_| {
            format!(
                "cron `{trimmed}`: unknown nickname; use @hourly, @daily, @weekly, @monthly, \
                 @yearly or 5 fields"
            )
        });
    }
    if fields.len() != 5 {
        let hint = if fields.len() > 5 {
            "; seconds and years are not supported"
        } else {
            ""
        };
        return Err(format!(
            "cron `{trimmed}`: expected 5 fields (minute hour day-of-month month day-of-week), \
             found {}{hint}",
            fields.len()
        ));
    }
    crontab_parser().parse(trimmed).map_err(|err| {
        // Croner's messages do not say which field is wrong: parse each one alone to find it.
        for (idx, (name, allowed)) in FIELDS.iter().enumerate() {
            let mut alone = ["*"; 5];
            alone[idx] = fields[idx];
            if let Err(field_err) = crontab_parser().parse(&alone.join(" ")) {
                return format!(
                    "cron `{trimmed}`: {name} field `{}`: {} (allowed: {allowed})",
                    fields[idx],
                    croner_reason(&field_err)
                );
            }
        }
        format!("cron `{trimmed}`: {}", croner_reason(&err))
    })
}

/// Croner's message without its category prefix and final full stop.
fn croner_reason(err: &croner::errors::CronError) -> String {
    let text = err.to_string();
    let text = [
        "Component error: ",
        "Invalid pattern: ",
        "Pattern contains illegal characters: ",
    ]
    .iter()
    .find_map(|prefix| text.strip_prefix(prefix))
    .unwrap_or(&text);
    text.trim_end_matches('.').to_string()
}

/// Parses an IANA time zone name (`UTC`, `Europe/Paris`); the error suggests a close name.
pub fn parse_time_zone(name: &str) -> Result<Tz, String> {
    let trimmed = name.trim();
    if let Ok(tz) = trimmed.parse::<Tz>() {
        return Ok(tz);
    }
    let suggestion = closest_time_zone(trimmed)
        .map(|tz| format!(" (did you mean {tz}?)"))
        .unwrap_or_default();
    Err(format!(
        "unknown time zone {trimmed}{suggestion}; use an IANA name such as UTC or Europe/Paris"
    ))
}

/// The known zone name nearest to `name` (case-insensitive edit distance of at most 2).
fn closest_time_zone(name: &str) -> Option<&'static str> {
    let wanted = name.to_ascii_lowercase();
    chrono_tz::TZ_VARIANTS
        .iter()
        .map(|tz| {
            (
                edit_distance(&wanted, &tz.name().to_ascii_lowercase()),
                tz.name(),
            )
        })
        .filter(|(distance, _)| *distance <= 2)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, name)| name)
}

/// Levenshtein distance over chars.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = if ca == *cb {
                diagonal
            } else {
                1 + diagonal.min(above).min(row[j])
            };
            diagonal = above;
        }
    }
    row[b.len()]
}

/// Where the loop reads the time. Sleeping is always `tokio::time`, so tests that pause tokio's
/// clock control both when the loop wakes and (through [`TokioClock`]) what time it sees.
pub trait Clock {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;
}

/// The system's wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that starts at a given instant and then moves with tokio's clock, so that under
/// `tokio::time::pause()` it shows exactly the time the test has advanced to.
#[derive(Clone, Copy, Debug)]
pub struct TokioClock {
    /// The instant shown when the clock was made.
    start: DateTime<Utc>,
    /// Tokio's reading when the clock was made.
    start_instant: tokio::time::Instant,
}

impl TokioClock {
    /// A clock that shows `start` now.
    pub fn starting_at(start: DateTime<Utc>) -> TokioClock {
        TokioClock {
            start,
            start_instant: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = tokio::time::Instant::now() - self.start_instant;
        self.start + chrono::Duration::from_std(elapsed).unwrap_or(chrono::Duration::MAX)
    }
}

/// How one run of the job went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobOutcome {
    /// It ran to the end.
    Done,
    /// It failed (or stopped short); the reason is logged and the loop carries on.
    Failed(String),
    /// It did not run because another run (another process) holds the run lock; logged as
    /// skipped, not as a failure.
    Locked,
}

/// Why the loop returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// Shutdown was requested: while idle, or during a run that then finished.
    Shutdown,
    /// Shutdown was requested during a run that did not finish within the grace period; the
    /// run was dropped.
    Abandoned,
    /// `once`: the one run is over.
    Once,
    /// The schedule has no further tick (before year 5000).
    NoNextTick,
}

/// What the loop did, for the caller's exit code and last words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DaemonSummary {
    /// Runs started.
    pub runs: u64,
    /// Runs that returned [`JobOutcome::Done`].
    pub done: u64,
    /// Runs that returned [`JobOutcome::Failed`].
    pub failed: u64,
    /// Runs that returned [`JobOutcome::Locked`].
    pub locked: u64,
    /// Ticks skipped because a run was still going when they came.
    pub missed_ticks: u64,
    /// The outcome of the last run that finished.
    pub last: Option<JobOutcome>,
    /// Why the loop returned.
    pub ended: Ended,
}

impl DaemonSummary {
    fn new() -> DaemonSummary {
        DaemonSummary {
            runs: 0,
            done: 0,
            failed: 0,
            locked: 0,
            missed_ticks: 0,
            last: None,
            ended: Ended::Shutdown,
        }
    }

    fn record(&mut self, outcome: JobOutcome) {
        match &outcome {
            JobOutcome::Done => {
                self.done += 1;
                tracing::info!("run finished");
            }
            JobOutcome::Failed(reason) => {
                self.failed += 1;
                tracing::error!(%reason, "run failed");
            }
            JobOutcome::Locked => {
                self.locked += 1;
                tracing::warn!("skipped: another run holds the lock");
            }
        }
        self.last = Some(outcome);
    }
}

/// How the loop runs.
#[derive(Clone, Debug)]
pub struct DaemonOptions {
    /// Stop after one run.
    pub once: bool,
    /// Make the first run now instead of at the next tick (then follow the schedule, unless
    /// `once`).
    pub start_now: bool,
    /// How long a run in progress may go on after shutdown was requested.
    pub grace: Duration,
}

impl Default for DaemonOptions {
    fn default() -> DaemonOptions {
        DaemonOptions {
            once: false,
            start_now: false,
            grace: SHUTDOWN_GRACE,
        }
    }
}

/// Runs `job` at every tick of `schedule` until `shutdown` completes.
///
/// Runs never overlap: the job is awaited inline, and a tick that comes while a run is still
/// going is skipped and logged. A failed or locked-out run is logged and the loop carries on.
/// On shutdown while idle it returns at once; during a run it lets the run finish, for up to
/// [`SHUTDOWN_GRACE`], then drops it.
pub async fn run<F, Fut>(
    schedule: &Schedule,
    clock: &impl Clock,
    job: F,
    shutdown: impl Future<Output = ()>,
) -> DaemonSummary
where
    F: FnMut() -> Fut,
    Fut: Future<Output = JobOutcome>,
{
    run_with(schedule, clock, job, shutdown, &DaemonOptions::default()).await
}

/// Waits for the next tick, runs `job` once and returns (`crmsync daemon --once`); shutdown
/// behaves as in [`run`].
pub async fn run_once<F, Fut>(
    schedule: &Schedule,
    clock: &impl Clock,
    job: F,
    shutdown: impl Future<Output = ()>,
) -> DaemonSummary
where
    F: FnMut() -> Fut,
    Fut: Future<Output = JobOutcome>,
{
    let options = DaemonOptions {
        once: true,
        ..DaemonOptions::default()
    };
    run_with(schedule, clock, job, shutdown, &options).await
}

/// [`run`] with explicit options: once, start now, grace period.
pub async fn run_with<F, Fut>(
    schedule: &Schedule,
    clock: &impl Clock,
    mut job: F,
    shutdown: impl Future<Output = ()>,
    options: &DaemonOptions,
) -> DaemonSummary
where
    F: FnMut() -> Fut,
    Fut: Future<Output = JobOutcome>,
{
    let mut shutdown = pin!(shutdown);
    let mut summary = DaemonSummary::new();
    // The tick the last run was started for: the next one is searched from it (croner's advice
    // for DST: search from the exact instant it returned), not from whenever the run ended.
    let mut previous_tick: Option<DateTime<Utc>> = None;
    let mut start_now = options.start_now;
    loop {
        let tick = if start_now {
            start_now = false;
            tracing::info!("running now");
            clock.now()
        } else {
            let Some(tick) = next_tick(schedule, clock.now(), previous_tick, &mut summary) else {
                tracing::warn!(schedule = %schedule, "the schedule has no further run time");
                summary.ended = Ended::NoNextTick;
                return summary;
            };
            tracing::info!(
                next_run = %tick.to_rfc3339(),
                local = %schedule.local(tick).to_rfc3339(),
                "next run at {tick}"
            );
            tokio::select! {
                // Shutdown first when both are ready: a stopping daemon starts no new run.
                biased;
                () = shutdown.as_mut() => {
                    tracing::info!("shutdown requested while idle");
                    summary.ended = Ended::Shutdown;
                    return summary;
                }
                () = sleep_until(clock, tick) => {}
            }
            tick
        };
        if let Some(ended) = run_one(
            job(),
            tick,
            clock,
            shutdown.as_mut(),
            options.grace,
            &mut summary,
        )
        .await
        {
            summary.ended = ended;
            return summary;
        }
        if options.once {
            summary.ended = Ended::Once;
            return summary;
        }
        previous_tick = Some(tick);
    }
}

/// The next tick to wait for. After a run, ticks that passed while it was going are counted
/// and logged as skipped, and the first tick still ahead is returned.
fn next_tick(
    schedule: &Schedule,
    now: DateTime<Utc>,
    previous_tick: Option<DateTime<Utc>>,
    summary: &mut DaemonSummary,
) -> Option<DateTime<Utc>> {
    let Some(previous) = previous_tick else {
        return schedule.next_after(now);
    };
    let mut next = schedule.next_after(previous)?;
    if next >= now {
        return Some(next);
    }
    let first_missed = next;
    let mut missed = 0;
    while next < now && missed < MAX_COUNTED_MISSES {
        missed += 1;
        next = schedule.next_after(next)?;
    }
    if next < now {
        next = schedule.next_after(now)?;
    }
    summary.missed_ticks += missed;
    tracing::warn!(
        missed,
        first_missed = %first_missed.to_rfc3339(),
        "skipped {missed} run(s) from {first_missed}: the previous run was still going"
    );
    Some(next)
}

/// Sleeps until `clock` shows `tick`, in naps of at most [`MAX_NAP`].
async fn sleep_until(clock: &impl Clock, tick: DateTime<Utc>) {
    loop {
        let Ok(remaining) = (tick - clock.now()).to_std() else {
            return; // `tick` is in the past.
        };
        if remaining.is_zero() {
            return;
        }
        tokio::time::sleep(remaining.min(MAX_NAP)).await;
    }
}

/// Runs one job to its end, or, if shutdown comes first, for up to `grace` more. Returns
/// `Some(why)` when the loop must stop.
async fn run_one<Fut, S>(
    run: Fut,
    tick: DateTime<Utc>,
    clock: &impl Clock,
    shutdown: Pin<&mut S>,
    grace: Duration,
    summary: &mut DaemonSummary,
) -> Option<Ended>
where
    Fut: Future<Output = JobOutcome>,
    S: Future<Output = ()>,
{
    summary.runs += 1;
    let late = clock.now() - tick;
    if late > chrono::Duration::from_std(MAX_NAP).unwrap_or(chrono::Duration::MAX) {
        tracing::warn!(
            tick = %tick.to_rfc3339(),
            "running the {tick} run {}s late (was the machine asleep?)",
            late.num_seconds()
        );
    }
    let span = tracing::info_span!("scheduled_run", tick = %tick.to_rfc3339());
    let mut run = pin!(run.instrument(span));
    tokio::select! {
        // The run's own end wins over a shutdown that comes at the same moment.
        biased;
        outcome = run.as_mut() => {
            summary.record(outcome);
            None
        }
        () = shutdown => {
            tracing::info!(
                "shutdown requested during a run: letting it finish (up to {}s)",
                grace.as_secs()
            );
            match tokio::time::timeout(grace, run.as_mut()).await {
                Ok(outcome) => {
                    summary.record(outcome);
                    Some(Ended::Shutdown)
                }
                Err(_) => {
                    tracing::warn!(
                        "the run did not finish within {}s of the shutdown request: dropped it",
                        grace.as_secs()
                    );
                    Some(Ended::Abandoned)
                }
            }
        }
    }
}
