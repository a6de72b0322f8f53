//! Pull on Inbox API v1: reference data and threads into the mirror, by a full walk (`walk`)
//! or incrementally by replaying the event log (`replay`).
//!
//! **Full walk.** Every thread of every view (`VIEWS`), oldest first (`filters[sortOrder]=asc`):
//! a thread that gets a message during the walk moves *behind* the cursor and is seen again
//! (deduplicated by id) instead of jumping ahead of it and being missed. The event seq is noted
//! *before* the walk; afterwards the events since then are replayed and the threads and
//! prospects they name are re-read, which catches threads that changed view during the walk
//! (archived or reopened behind the cursor). Rows no view lists any more are marked absent,
//! never deleted.
//!
//! **Incremental.** `GET /events?afterSeq=<stored seq>` is paged to its end; the threads
//! (`data.thread.id`) and prospects (`data.prospect.externalId`) it names are re-read with
//! `GET /threads/{id}` (which embeds the prospect and its context) and `GET /prospects/{id}`
//! (for prospects no re-read thread covered; its `context.threads` reveals threads the mirror
//! does not know yet). A 404 marks a row absent; nothing else is marked absent.
//!
//! **Which one.** Incremental when a seq is stored for this team, the last full walk is
//! younger than `[pull] full_every_hours`, the log was read less than 7 days ago, and `--full`
//! was not given. A full walk instead when the log no longer reaches back to the stored seq
//! (first retained event after `seq + 1`, or a 4xx from `/events`), when a tag or status was
//! deleted, when the log's trust is not established (below), or when re-reading what the events
//! name would take more requests than the walk (one request per changed thread or prospect
//! against one per 100 threads per view: a walk is cheaper once more than about 1% of the
//! threads changed). [`FullReason`] says which. Reading the log and re-reading what it names
//! live in `replay`.
//!
//! **Cost of learning the head.** `GET /events` has no "latest seq" call, so a full walk pages the
//! log from the stored seq (or, on the first pull, from the oldest retained event) to its end:
//! `ceil(events / 1000)` requests, at most 7 days of events (the v2 docs cap retention at 25,000
//! events per team, i.e. 25 requests: docs/inbox-api-v2.md §7.1). Against ~1 request per 100
//! threads per view for the walk itself this is small; it is paid once, later pulls start from the
//! stored seq.
//!
//! **The event log may be silent.** Whether `/events` records anything when no webhook is
//! configured is not documented (docs/inbox-api-v1.md §2.7, §9 item 8). The periodic full walk is
//! the safety net: nothing an incremental pull misses outlives `full_every_hours`. On top, the log
//! must earn trust: while it has never returned an event, every pull with an empty replay walks;
//! and each full walk compares what it reads with the mirror: a changed row that no event since the
//! stored seq named means the log is incomplete, and only full walks follow until a later walk
//! finds changes that the log did explain.
//!
//! Everything happens in one transaction: a pull that fails half-way leaves the mirror (and the
//! stored seq) as they were. This module does not print; SQL stays in `store`.

mod replay;
mod rows;
mod walk;

use std::time::Instant;

use anyhow::Context as _;
use chrono::{DateTime, Utc};

use crate::inbox;
use crate::store::pull_state::{EventLog, PullState};
use crate::store::{AccountLinkRow, ChangedRow, Reference, RunId, Store};

use super::{FullReason, PullMode, PullReport};
use crate::engine::{Context, RunOptions};
use replay::{Replay, Touched, reread, rereads_cost_more};
use walk::{RunBudget, walk_views};

pub(in crate::engine) use rows::prospect_row;

/// Events are stored for 7 days: a seq last read longer ago may have lost events after it.
const EVENT_RETENTION_DAYS: i64 = 7;

/// What every step of one pull needs.
struct Job<'a> {
    ctx: &'a Context,
    client: &'a inbox::Client,
    run: RunId,
    opts: &'a RunOptions,
    /// The state the previous pull stored.
    state: PullState,
    /// The team the token belongs to now.
    team_id: String,
}

/// A walk or a replay, and what the decision already read.
enum Choice {
    /// Re-read what this replay from the stored seq names.
    Incremental(Replay),
    /// Walk; the replay from the stored seq, when the decision read one.
    Full(FullReason, Option<Replay>),
}

pub(super) async fn pull(
    ctx: &Context,
    client: &inbox::Client,
    store: &mut Store,
    run: RunId,
    opts: &RunOptions,
) -> anyhow::Result<PullReport> {
    let started = Instant::now();
    if store.meta(super::v2::API_KEY)?.as_deref() == Some("v2") {
        anyhow::bail!(
            "the mirror in {} was pulled from Inbox API v2; set [inbox] api = \"v2\" (or start a new [state] dir)",
            ctx.config.state.dir.display()
        );
    }
    let (team_id, reference) = fetch_reference(client).await?;
    store.replace_reference(&reference)?;
    let job = Job {
        ctx,
        client,
        run,
        opts,
        state: store.pull_state()?,
        team_id,
    };
    let mut report = PullReport::default();
    match choose(&job, store, &mut report).await? {
        Choice::Incremental(replay) => incremental(&job, store, replay, &mut report).await?,
        Choice::Full(reason, replay) => full(&job, store, reason, replay, &mut report).await?,
    }
    finish(store, report, started)
}

/// Decides between a walk and a replay: the stored state first, then what the replay from the
/// stored seq shows.
async fn choose(job: &Job<'_>, store: &Store, report: &mut PullReport) -> anyhow::Result<Choice> {
    let hours = job.ctx.config.pull.full_every_hours;
    let full_pull = job.opts.full_pull;
    let seq = match precheck(&job.state, &job.team_id, full_pull, hours, job.opts.now) {
        Ok(seq) => seq,
        Err(reason) => return Ok(Choice::Full(reason, None)),
    };
    let replay = match replay::replay(job.client, Some(seq)).await {
        Ok(replay) => replay,
        Err(err) if replay::is_refusal(&err) => {
            tracing::info!("the Inbox event log refused seq {seq} ({err}); walking");
            return Ok(Choice::Full(FullReason::EventsRefused, None));
        }
        Err(err) => return Err(err).context("reading the Inbox event log"),
    };
    report.event_pages += replay.pages;
    let reason = match replay_verdict(&job.state, &replay) {
        None if rereads_cost_more(store, &replay.touched)? => Some(FullReason::CheaperThanReplay),
        verdict => verdict,
    };
    Ok(match reason {
        Some(reason) => Choice::Full(reason, Some(replay)),
        None => Choice::Incremental(replay),
    })
}

fn finish(store: &Store, mut report: PullReport, started: Instant) -> anyhow::Result<PullReport> {
    let counts = store.counts()?;
    report.prospects = counts.prospects;
    report.threads = counts.threads;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Whether the stored state allows an incremental pull: `Ok(seq)` to replay from, or why not.
fn precheck(
    state: &PullState,
    team_id: &str,
    full_pull: bool,
    full_every_hours: u64,
    now: DateTime<Utc>,
) -> Result<u64, FullReason> {
    if full_pull {
        return Err(FullReason::Requested);
    }
    let Some(seq) = state.event_seq else {
        return Err(FullReason::NoCursor);
    };
    if state.team_id.as_deref() != Some(team_id) {
        return Err(FullReason::TeamChanged);
    }
    let every_secs = i64::try_from(full_every_hours.saturating_mul(3600)).unwrap_or(i64::MAX);
    let due = state
        .last_full_at
        .is_none_or(|at| (now - at).num_seconds() >= every_secs);
    if due {
        return Err(FullReason::Schedule);
    }
    let stale = state
        .events_read_at
        .is_none_or(|at| now - at >= chrono::Duration::days(EVENT_RETENTION_DAYS));
    if stale {
        return Err(FullReason::Retention);
    }
    if state.event_log == EventLog::Incomplete {
        return Err(FullReason::LogIncomplete);
    }
    Ok(seq)
}

/// Whether a replay from the stored seq can stand in for a full walk; `Some(reason)` if not.
fn replay_verdict(state: &PullState, replay: &Replay) -> Option<FullReason> {
    if replay.gap {
        Some(FullReason::Gap)
    } else if replay.touched.reference_deleted {
        Some(FullReason::ReferenceDeleted)
    } else if state.event_log == EventLog::Unproven && replay.events == 0 {
        Some(FullReason::LogUnproven)
    } else {
        None
    }
}

async fn incremental(
    job: &Job<'_>,
    store: &mut Store,
    replay: Replay,
    report: &mut PullReport,
) -> anyhow::Result<()> {
    let (ctx, state) = (job.ctx, &job.state);
    report.mode = PullMode::Incremental;
    report.events_replayed = replay.events;
    let touched = &replay.touched;
    reread(job.client, store, job.run, touched, &ctx.progress, report).await?;
    let event_log = match state.event_log {
        EventLog::Unproven if replay.events > 0 => EventLog::Proven,
        other => other,
    };
    let next = PullState {
        event_seq: replay.head.or(state.event_seq),
        team_id: Some(job.team_id.clone()),
        last_full_at: state.last_full_at,
        events_read_at: Some(job.opts.now),
        event_log,
    };
    store.save_pull_state(&next)?;
    report.event_seq = next.event_seq;
    Ok(())
}

/// A full walk; `replay` is the replay from the stored seq when the decision read one (it
/// tells where the log ends now).
async fn full(
    job: &Job<'_>,
    store: &mut Store,
    reason: FullReason,
    replay: Option<Replay>,
    report: &mut PullReport,
) -> anyhow::Result<()> {
    let (ctx, state, run) = (job.ctx, &job.state, job.run);
    let client = job.client;
    report.mode = PullMode::Full;
    report.full_reason = Some(reason);
    let same_team = state.team_id.as_ref() == Some(&job.team_id);
    let from = state.event_seq.filter(|_| same_team);

    // Note where the log ends before walking.
    let before = match replay {
        Some(replay) => Some(replay),
        None => learn_head(client, from, report).await?,
    };
    // The walk can be checked against the log only if the replay before it starts at the
    // stored seq with no gap, and no deletion of reference data rewrote prospects silently.
    let check = before
        .as_ref()
        .filter(|r| from.is_some() && r.from == from && !r.gap && !r.touched.reference_deleted)
        .map(|r| r.touched.clone());

    let budget = RunBudget {
        start: client.stats().requests,
        max: ctx.config.limits.max_requests_per_run,
    };
    let mut walk = store.begin_walk(run)?;
    let changes = walk_views(client, &mut walk, &ctx.progress, report, &budget).await?;

    // Replay what happened during the walk: threads that changed view behind the cursor.
    let after = replay_during_walk(job, &mut walk, before.as_ref(), report).await?;
    // A gap after the walk may hide a thread that moved between views behind the cursor:
    // it would be wrongly marked absent, so leave absence to the next full walk.
    if after.as_ref().is_some_and(|r| r.gap) {
        walk.abandon();
    } else {
        let (threads, prospects) = walk.finish()?;
        report.marked_absent.0 += threads;
        report.marked_absent.1 += prospects;
    }

    let event_log = judge_log(
        state.event_log,
        [&before, &after],
        check.zip(after.as_ref().filter(|r| !r.gap)),
        &changes,
        report,
    );
    let next = state_after_walk(job, event_log, before.as_ref(), after.as_ref());
    store.save_pull_state(&next)?;
    report.event_seq = next.event_seq;
    Ok(())
}

/// Replays the log from where it ended before the walk (`before`) and re-reads what it names:
/// threads that changed view behind the cursor. `None` without a log before the walk, or
/// when the log refuses that seq now.
async fn replay_during_walk(
    job: &Job<'_>,
    store: &mut Store,
    before: Option<&Replay>,
    report: &mut PullReport,
) -> anyhow::Result<Option<Replay>> {
    let Some(before) = before else {
        return Ok(None);
    };
    let client = job.client;
    report.events_replayed += before.events;
    match replay::replay(client, before.head).await {
        Ok(replay) => {
            report.event_pages += replay.pages;
            report.events_replayed += replay.events;
            let progress = &job.ctx.progress;
            reread(client, store, job.run, &replay.touched, progress, report).await?;
            Ok(Some(replay))
        }
        Err(err) if replay::is_refusal(&err) => {
            tracing::info!("the Inbox event log refused the seq noted before the walk: {err}");
            Ok(None)
        }
        Err(err) => Err(err).context("reading the Inbox event log after the walk"),
    }
}

/// The state a full walk leaves for the next pull, from the replays before and after it.
fn state_after_walk(
    job: &Job<'_>,
    event_log: EventLog,
    before: Option<&Replay>,
    after: Option<&Replay>,
) -> PullState {
    let head = after.or(before).and_then(|r| r.head);
    // Without a continuous replay after the walk, rows that moved during it may be stale:
    // store no seq, so that the next pull walks again.
    let events_usable = after.is_some_and(|r| !r.gap);
    PullState {
        // An empty log has no head yet: replay from its start next time.
        event_seq: events_usable.then(|| head.unwrap_or(0)),
        team_id: Some(job.team_id.clone()),
        last_full_at: Some(job.opts.now),
        events_read_at: events_usable.then_some(job.opts.now),
        event_log,
    }
}

/// The event log's trust after a full walk: proven once it has returned events; incomplete
/// when the walk found a change that no event since the stored seq named; proven again when a
/// walk found changes and the log named them all. `check` holds what the log named before and
/// after the walk, when the walk can be checked at all.
fn judge_log(
    old: EventLog,
    replays: [&Option<Replay>; 2],
    check: Option<(Touched, &Replay)>,
    changes: &[ChangedRow],
    report: &mut PullReport,
) -> EventLog {
    let mut event_log = old;
    let any_events = replays
        .iter()
        .any(|r| r.as_ref().is_some_and(|r| r.events > 0));
    if any_events && event_log == EventLog::Unproven {
        event_log = EventLog::Proven;
    }
    let Some((mut explained, after)) = check else {
        return event_log;
    };
    explained.merge(after.touched.clone());
    let unexplained = changes
        .iter()
        .filter(|c| !explained.explains(c.thread.as_ref(), &c.prospect))
        .count() as u64;
    report.unexplained_changes = unexplained;
    if unexplained > 0 {
        if event_log != EventLog::Incomplete {
            tracing::warn!(
                "the Inbox event log did not record {unexplained} of {} changes a full walk \
                 found; pulls stay full walks until it does",
                changes.len()
            );
        }
        EventLog::Incomplete
    } else if changes.is_empty() {
        event_log
    } else {
        EventLog::Proven
    }
}

/// Pages the log from `from` (the stored seq) to its end to learn where it ends. If the log
/// refuses `from`, it is read from its start; `None` if it refuses that too (no log to use).
async fn learn_head(
    client: &inbox::Client,
    from: Option<u64>,
    report: &mut PullReport,
) -> anyhow::Result<Option<Replay>> {
    let mut start = from;
    loop {
        match replay::replay(client, start).await {
            Ok(replay) => {
                report.event_pages += replay.pages;
                return Ok(Some(replay));
            }
            Err(err) if replay::is_refusal(&err) && start.is_some() => start = None,
            Err(err) if replay::is_refusal(&err) => {
                tracing::info!("the Inbox event log is unavailable ({err}); pulls walk");
                return Ok(None);
            }
            Err(err) => return Err(err).context("reading the Inbox event log"),
        }
    }
}

/// Reference data, and the team id the token belongs to.
async fn fetch_reference(client: &inbox::Client) -> anyhow::Result<(String, Reference)> {
    // Team first: it is the cheapest check that the token works.
    let team = client.team().await?;
    let account_links = client
        .account_links()
        .await?
        .into_iter()
        .map(|a| AccountLinkRow {
            id: a.id,
            username: a.username,
            name: Some(a.name),
            status: a.status,
            // API v1 serves X accounts only.
            platform: "twitter".to_string(),
        })
        .collect();
    let members = client
        .members()
        .await?
        .into_iter()
        .map(|m| (m.id, m.email.to_lowercase(), m.name))
        .collect();
    let tags = client
        .tags()
        .await?
        .into_iter()
        .map(|t| (t.id, t.name))
        .collect();
    let statuses = client
        .statuses()
        .await?
        .into_iter()
        .map(|s| (s.id, s.name))
        .collect();
    let reference = Reference {
        account_links,
        members,
        tags,
        statuses,
    };
    Ok((team.id, reference))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn proven() -> PullState {
        PullState {
            event_seq: Some(40),
            team_id: Some("team".into()),
            last_full_at: Some(at("2026-01-01T00:00:00Z")),
            events_read_at: Some(at("2026-01-01T06:00:00Z")),
            event_log: EventLog::Proven,
        }
    }

    #[test]
    fn incremental_needs_a_seq_of_this_team_a_recent_walk_and_a_trusted_log() {
        let now = at("2026-01-01T12:00:00Z");
        let check =
            |state: &PullState, full: bool, hours: u64| precheck(state, "team", full, hours, now);
        assert_eq!(check(&proven(), false, 24), Ok(40));
        assert_eq!(check(&proven(), true, 24), Err(FullReason::Requested));
        assert_eq!(check(&proven(), false, 12), Err(FullReason::Schedule));
        assert_eq!(check(&proven(), false, 0), Err(FullReason::Schedule));
        let cases = [
            (
                PullState {
                    event_seq: None,
                    ..proven()
                },
                FullReason::NoCursor,
            ),
            (
                PullState {
                    team_id: Some("other".into()),
                    ..proven()
                },
                FullReason::TeamChanged,
            ),
            (
                PullState {
                    last_full_at: None,
                    ..proven()
                },
                FullReason::Schedule,
            ),
            (
                PullState {
                    events_read_at: None,
                    ..proven()
                },
                FullReason::Retention,
            ),
            (
                PullState {
                    event_log: EventLog::Incomplete,
                    ..proven()
                },
                FullReason::LogIncomplete,
            ),
        ];
        for (state, reason) in cases {
            assert_eq!(check(&state, false, 24), Err(reason), "{state:?}");
        }
        // Retention is checked even when walks are rare.
        let long_ago = PullState {
            last_full_at: Some(at("2025-12-20T00:00:00Z")),
            events_read_at: Some(at("2025-12-20T00:00:00Z")),
            ..proven()
        };
        assert_eq!(
            precheck(&long_ago, "team", false, 24 * 30, now),
            Err(FullReason::Retention)
        );
    }

    #[test]
    fn a_replay_stands_in_for_a_walk_unless_it_has_a_gap_a_deletion_or_proves_nothing() {
        let replay = |events, gap, deleted| Replay {
            from: Some(40),
            head: Some(50),
            events,
            pages: 1,
            gap,
            touched: Touched {
                reference_deleted: deleted,
                ..Touched::default()
            },
        };
        assert_eq!(replay_verdict(&proven(), &replay(3, false, false)), None);
        assert_eq!(replay_verdict(&proven(), &replay(0, false, false)), None);
        assert_eq!(
            replay_verdict(&proven(), &replay(3, true, false)),
            Some(FullReason::Gap)
        );
        assert_eq!(
            replay_verdict(&proven(), &replay(3, false, true)),
            Some(FullReason::ReferenceDeleted)
        );
        let unproven = PullState {
            event_log: EventLog::Unproven,
            ..proven()
        };
        assert_eq!(
            replay_verdict(&unproven, &replay(0, false, false)),
            Some(FullReason::LogUnproven)
        );
        assert_eq!(replay_verdict(&unproven, &replay(1, false, false)), None);
    }
}
