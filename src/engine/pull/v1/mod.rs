//! Pull: Inbox reference data and threads into the mirror, by a full walk or incrementally by
//! replaying the event log.
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
//! live in `events`.
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

use std::collections::HashSet;
use std::time::Instant;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::inbox::{self, SortOrder, ThreadQuery, View};
use crate::store::pull_state::{EventLog, PullState};
use crate::store::{
    AccountLinkRow, ChangedRow, ProspectRow, Reference, RunId, Store, ThreadRow, Walk,
};

use super::events::{self, Replay, Touched, reread, rereads_cost_more};
use super::{Context, Progress, RunOptions};

/// The views walked by a full pull. `no-reply` is a subset of `default`.
pub const VIEWS: [View; 3] = [View::Default, View::Requests, View::Archived];

/// Events are stored for 7 days: a seq last read longer ago may have lost events after it.
const EVENT_RETENTION_DAYS: i64 = 7;

/// How a pull read Inbox.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PullMode {
    /// Every thread of every view.
    #[default]
    Full,
    /// Only what the event log named since the stored seq.
    Incremental,
}

/// Why a pull walked every thread instead of replaying the event log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FullReason {
    /// `--full`.
    Requested,
    /// No event seq stored: the first pull, or the event log was unavailable last time.
    NoCursor,
    /// The stored seq belongs to another team (the token changed).
    TeamChanged,
    /// The last full walk is older than `[pull] full_every_hours`.
    Schedule,
    /// The event log was last read more than 7 days ago: events after the seq may be gone.
    Retention,
    /// The first retained event comes after the stored seq + 1: events were dropped.
    Gap,
    /// `GET /events` refused the stored seq (a 4xx).
    EventsRefused,
    /// A tag or status was deleted; Inbox strips it from prospects without per-prospect events.
    ReferenceDeleted,
    /// The event log has never returned an event (and returned none now): it may be silent.
    LogUnproven,
    /// A full walk found changes the event log did not record.
    LogIncomplete,
    /// Re-reading what the events name would take more requests than walking every view.
    CheaperThanReplay,
    /// The stored seq is Inbox API v1's: the first pull from API v2 walks.
    V1Mirror,
}

impl FullReason {
    /// One line for humans.
    pub fn describe(self) -> &'static str {
        match self {
            FullReason::Requested => "--full was given",
            FullReason::NoCursor => "no event seq stored yet",
            FullReason::TeamChanged => "the stored event seq belongs to another team",
            FullReason::Schedule => "the last full walk is older than pull.full_every_hours",
            FullReason::Retention => "the event log was last read more than 7 days ago",
            FullReason::Gap => "the stored event seq fell out of the retained event log",
            FullReason::EventsRefused => "the event log refused the stored seq",
            FullReason::ReferenceDeleted => "a tag or status was deleted",
            FullReason::LogUnproven => "the event log has not returned any event yet",
            FullReason::LogIncomplete => "the event log missed changes a full walk found",
            FullReason::CheaperThanReplay => {
                "re-reading what the events name would take more requests than a walk"
            }
            FullReason::V1Mirror => "the mirror was pulled from Inbox API v1 until now",
        }
    }
}

/// What a pull did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PullReport {
    /// `full` or `incremental`.
    pub mode: PullMode,
    /// Why a full walk was chosen (`None` for an incremental pull).
    pub full_reason: Option<FullReason>,
    /// Prospects present in the mirror after the pull.
    pub prospects: u64,
    /// Threads present in the mirror after the pull.
    pub threads: u64,
    /// Thread-list pages fetched (0 when incremental).
    pub pages: u64,
    /// Events replayed (before and after a full walk, or since the stored seq).
    pub events_replayed: u64,
    /// `GET /events` requests.
    pub event_pages: u64,
    /// The event seq stored for the next pull (`None`: the log was unavailable).
    pub event_seq: Option<u64>,
    /// Threads re-read with `GET /threads/{id}`.
    pub reread_threads: u64,
    /// Prospects re-read with `GET /prospects/{id}` (v2: contacts with `GET /contacts/{id}`).
    pub reread_prospects: u64,
    /// Full walk only: rows that changed since the last pull without any event naming them.
    pub unexplained_changes: u64,
    /// Threads whose prospect has no Inbox id (cannot be addressed; skipped).
    pub skipped_without_id: u64,
    /// Threads and prospects marked absent (no view lists them any more, or a 404).
    pub marked_absent: (u64, u64),
    /// Seconds spent.
    pub seconds: f64,
}

/// Fetches reference data, then walks every view or replays the event log (see the module
/// docs), in one transaction: a pull that fails half-way leaves the mirror as it was.
pub async fn pull(
    ctx: &Context,
    store: &mut Store,
    run: RunId,
    opts: &RunOptions,
) -> anyhow::Result<PullReport> {
    let mut tx = store.begin_pull()?;
    let pulled = match &ctx.inbox {
        inbox::Inbox::V2(client) => super::pull_v2::pull(ctx, client, &mut tx, run, opts).await,
        inbox::Inbox::V1(client) => pull_in_transaction(ctx, client, &mut tx, run, opts).await,
    };
    match pulled {
        Ok(report) => {
            tx.commit()?;
            Ok(report)
        }
        Err(err) => {
            tx.rollback()?;
            Err(err)
        }
    }
}

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

async fn pull_in_transaction(
    ctx: &Context,
    client: &inbox::Client,
    store: &mut Store,
    run: RunId,
    opts: &RunOptions,
) -> anyhow::Result<PullReport> {
    let started = Instant::now();
    if store.meta(super::pull_v2::API_KEY)?.as_deref() == Some("v2") {
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
    let replay = match events::replay(job.client, Some(seq)).await {
        Ok(replay) => replay,
        Err(err) if events::is_refusal(&err) => {
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
    let mut after = None;
    if let Some(before) = &before {
        report.events_replayed += before.events;
        match events::replay(client, before.head).await {
            Ok(replay) => {
                report.event_pages += replay.pages;
                report.events_replayed += replay.events;
                reread(
                    client,
                    &mut walk,
                    run,
                    &replay.touched,
                    &ctx.progress,
                    report,
                )
                .await?;
                after = Some(replay);
            }
            Err(err) if events::is_refusal(&err) => {
                tracing::info!("the Inbox event log refused the seq noted before the walk: {err}");
            }
            Err(err) => return Err(err).context("reading the Inbox event log after the walk"),
        }
    }
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
    let head = after.as_ref().or(before.as_ref()).and_then(|r| r.head);
    // Without a continuous replay after the walk, rows that moved during it may be stale:
    // store no seq, so that the next pull walks again.
    let events_usable = after.as_ref().is_some_and(|r| !r.gap);
    let next = PullState {
        // An empty log has no head yet: replay from its start next time.
        event_seq: events_usable.then(|| head.unwrap_or(0)),
        team_id: Some(job.team_id.clone()),
        last_full_at: Some(job.opts.now),
        events_read_at: events_usable.then_some(job.opts.now),
        event_log,
    };
    store.save_pull_state(&next)?;
    report.event_seq = next.event_seq;
    Ok(())
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
        .filter(|c| !explained.explains(c.thread.as_deref(), &c.prospect))
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
        match events::replay(client, start).await {
            Ok(replay) => {
                report.event_pages += replay.pages;
                return Ok(Some(replay));
            }
            Err(err) if events::is_refusal(&err) && start.is_some() => start = None,
            Err(err) if events::is_refusal(&err) => {
                tracing::info!("the Inbox event log is unavailable ({err}); pulls walk");
                return Ok(None);
            }
            Err(err) => return Err(err).context("reading the Inbox event log"),
        }
    }
}

/// The requests a run may make (`[limits] max_requests_per_run`); bounds a walk that a
/// misbehaving server keeps feeding.
struct RunBudget {
    /// The client's request count when the pull started.
    start: u64,
    /// The cap.
    max: u64,
}

/// Pages in a row that bring no thread new to the walk before it is called endless: movers
/// (threads that got a message during the walk) are seen twice, but not thousands of them.
const MAX_PAGES_WITHOUT_NEW_THREADS: u32 = 50;

/// Walks every view into the mirror; returns the rows whose synced values it changed.
async fn walk_views(
    client: &inbox::Client,
    walk: &mut Walk<'_>,
    progress: &Progress,
    report: &mut PullReport,
    budget: &RunBudget,
) -> anyhow::Result<Vec<ChangedRow>> {
    let mut changes = Vec::new();
    let bar = progress.spinner("pulling threads");
    for view in VIEWS {
        let query = ThreadQuery {
            view,
            sort: SortOrder::Asc,
            limit: 100,
        };
        let mut cursor = None;
        // A server that hands back a cursor it already gave would make the walk endless.
        let mut used = HashSet::new();
        let mut pages_without_new = 0;
        loop {
            let used_requests = client.stats().requests.saturating_sub(budget.start);
            anyhow::ensure!(
                used_requests < budget.max,
                "GET /threads (view {}) was still paging after {used_requests} requests, \
                 limits.max_requests_per_run = {}; stopping (does the API keep returning new cursors?)",
                view.as_str(),
                budget.max
            );
            let page = client.threads_page(&query, cursor.as_ref()).await?;
            report.pages += 1;
            let seen_before = walk.seen_counts().1;
            let mut prospects = Vec::with_capacity(page.threads.len());
            let mut threads = Vec::with_capacity(page.threads.len());
            for thread in page.threads {
                let Some((prospect, thread)) = rows(thread) else {
                    report.skipped_without_id += 1;
                    continue;
                };
                // Every thread embeds the same prospect context; the latest page wins.
                prospects.push(prospect);
                threads.push(thread);
            }
            changes.extend(walk.upsert_page(&prospects, &threads)?);
            let (seen_prospects, seen_threads) = walk.seen_counts();
            pages_without_new = if seen_threads > seen_before {
                0
            } else {
                pages_without_new + 1
            };
            anyhow::ensure!(
                page.next_cursor.is_none() || pages_without_new < MAX_PAGES_WITHOUT_NEW_THREADS,
                "GET /threads (view {}) returned {MAX_PAGES_WITHOUT_NEW_THREADS} pages in a row \
                 without a new thread; the walk does not advance",
                view.as_str()
            );
            bar.set_message(format!(
                "pulling threads: {seen_threads} threads, {seen_prospects} prospects"
            ));
            bar.tick();
            match page.next_cursor {
                Some(next) if !used.insert(next.clone()) => anyhow::bail!(
                    "GET /threads (view {}) returned a cursor it had already returned; \
                     the walk would never end",
                    view.as_str()
                ),
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
    }
    bar.finish_and_clear();
    Ok(changes)
}

/// The mirror rows of a thread and its embedded prospect; `None` when the prospect has no
/// Inbox id (it cannot be addressed).
pub(super) fn rows(thread: inbox::Thread) -> Option<(ProspectRow, ThreadRow)> {
    let prospect_id = thread.prospect.external_id.clone()?;
    let row = ThreadRow {
        id: thread.id,
        prospect_id: prospect_id.clone(),
        account_link_id: thread.account_link_id,
        assignee_id: thread.assignee_id,
        done: thread.done,
        is_request: thread.is_request,
        sort_ts: thread.computed_sort_timestamp,
    };
    Some((prospect_row(prospect_id, thread.prospect), row))
}

/// The mirror row of a prospect read with the Inbox id `id`.
pub(super) fn prospect_row(id: String, p: inbox::Prospect) -> ProspectRow {
    ProspectRow {
        id,
        platform_id: p.platform_id,
        username: p.username,
        display_name: Some(p.display_name),
        // Sorted: an equal set is equal text in the mirror.
        tag_ids: {
            let mut tags = p.context.tags;
            tags.sort_unstable();
            tags
        },
        status_id: p.context.status_id,
        valuation: p.context.valuation,
        notes: p.context.notes,
        last_updated_at: p.last_updated_at.map(|t| t.to_rfc3339()),
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
