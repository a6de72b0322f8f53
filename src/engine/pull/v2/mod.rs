//! Phase 2 of a run on Inbox API v2, pull: reference data, then either a replay of
//! `GET /events` from the stored seq (incremental, `replay`) or a walk of every thread
//! (`walk`), in the pull's one transaction.
//!
//! **Which one.** Incremental when a seq from a v2 pull of this team is stored, the last full
//! walk is younger than `[pull] full_every_hours`, `--full` was not given, the log still
//! reaches back to the seq, no tag or status was deleted, and re-reading what the events name
//! costs fewer requests than a walk. Whether the log reaches back is decided by its oldest
//! retained event (`Client::retention`), never by a jump in `seq`: `lastSeq` counts events a
//! page leaves out, and retention (7 days, or 25,000 events per team, message events
//! included) drops events without a trace. [`FullReason`] says why a pull walked.
//!
//! **Full walk.** The seq is noted *before* the walk (the replay's end when the decision read
//! one, else `Client::latest_event_seq`); after it the events since then are replayed and what
//! they name re-read, which catches rows that changed behind the cursor without moving (tags,
//! status, notes). Rows no thread lists any more are marked absent, never deleted. An empty log
//! gives no seq to note: the next pull walks again.
//!
//! The first v2 pull of a v1 mirror walks, then re-keys its links, base and conflicts from each
//! prospect to the contact holding its X user id. This module does not print; SQL stays in
//! `store`.

mod replay;
mod walk;

use std::time::Instant;

use anyhow::Context as _;
use chrono::{DateTime, Utc};

use crate::inbox::v2::{self, Retention};
use crate::store::pull_state::PullState;
use crate::store::{AccountLinkRow, Reference, RunId, Store};

use super::{FullReason, PullMode, PullReport};
use crate::engine::{Context, RunOptions};
use replay::Replay;

pub(in crate::engine) use walk::{contact_row, profile_rows};

/// `meta` key of the API the mirror was pulled from (absent: v1).
pub(super) const API_KEY: &str = "inbox_api";

/// What every step of one pull needs.
struct Job<'a> {
    ctx: &'a Context,
    client: &'a v2::Client,
    run: RunId,
    opts: &'a RunOptions,
    /// The state the previous pull stored.
    state: PullState,
    /// The team the token belongs to now.
    team_id: String,
}

/// A walk or a replay, and what the decision already read.
enum Choice {
    /// Bring in what this replay from the stored seq names.
    Incremental(Replay),
    /// Walk; the replay from the stored seq, when the decision read one (its end is the seq
    /// to note before the walk).
    Full(FullReason, Option<Replay>),
}

/// Pulls from API v2 into the mirror (the caller holds the pull's transaction).
pub(super) async fn pull(
    ctx: &Context,
    client: &v2::Client,
    store: &mut Store,
    run: RunId,
    opts: &RunOptions,
) -> anyhow::Result<PullReport> {
    let started = Instant::now();
    let (team_id, reference) = fetch_reference(client).await?;
    store.replace_reference(&reference)?;
    let v2_mirror = store.meta(API_KEY)?.as_deref() == Some("v2");
    let job = Job {
        ctx,
        client,
        run,
        opts,
        state: store.pull_state()?,
        team_id,
    };
    let mut report = PullReport::default();
    match choose(&job, v2_mirror, store, &mut report).await? {
        Choice::Incremental(replay) => incremental(&job, store, replay, &mut report).await?,
        Choice::Full(reason, replay) => full(&job, store, reason, replay, &mut report).await?,
    }
    if !v2_mirror {
        let moved = store.rekey_v1_prospects_to_contacts()?;
        if moved > 0 {
            tracing::info!(moved, "re-keyed the v1 mirror's links to v2 contacts");
        }
        store.set_meta(API_KEY, "v2")?;
    }
    let counts = store.counts()?;
    report.prospects = counts.prospects;
    report.threads = counts.threads;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Decides between a walk and a replay: the stored state, the log's oldest retained event,
/// then what the replay from the stored seq names.
async fn choose(
    job: &Job<'_>,
    v2_mirror: bool,
    store: &Store,
    report: &mut PullReport,
) -> anyhow::Result<Choice> {
    let hours = job.ctx.config.pull.full_every_hours;
    let checked = precheck(
        &job.state,
        v2_mirror,
        &job.team_id,
        job.opts.full_pull,
        hours,
        job.opts.now,
    );
    let seq = match checked {
        Ok(seq) => seq,
        Err(reason) => return Ok(Choice::Full(reason, None)),
    };
    let client = job.client;
    let retention = match client.retention(seq).await {
        Ok(retention) => retention,
        Err(err) if replay::is_refusal(&err) => return Ok(refused(seq, &err)),
        Err(err) => return Err(err).context("reading the Inbox event log"),
    };
    report.event_pages += 1;
    if let Retention::Gap { oldest_seq } = retention {
        tracing::info!(
            seq,
            ?oldest_seq,
            "the Inbox event log no longer reaches back; walking"
        );
        return Ok(Choice::Full(FullReason::Gap, None));
    }
    let replay = match replay::replay(client, Some(seq)).await {
        Ok(replay) => replay,
        Err(err) if replay::is_refusal(&err) => return Ok(refused(seq, &err)),
        Err(err) => return Err(err).context("reading the Inbox event log"),
    };
    report.event_pages += replay.pages;
    let reason = if replay.touched.reference_deleted {
        Some(FullReason::ReferenceDeleted)
    } else if replay::rereads_cost_more(store, &replay.touched)? {
        Some(FullReason::CheaperThanReplay)
    } else {
        None
    };
    Ok(match reason {
        Some(reason) => Choice::Full(reason, Some(replay)),
        None => Choice::Incremental(replay),
    })
}

fn refused(seq: u64, err: &v2::Error) -> Choice {
    tracing::info!("the Inbox event log refused seq {seq} ({err}); walking");
    Choice::Full(FullReason::EventsRefused, None)
}

/// Whether the stored state allows an incremental pull: `Ok(seq)` to replay from, or why not.
fn precheck(
    state: &PullState,
    v2_mirror: bool,
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
    if !v2_mirror {
        return Err(FullReason::V1Mirror);
    }
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
    Ok(seq)
}

/// Brings in what the replay names, and moves the stored seq to the log's end.
async fn incremental(
    job: &Job<'_>,
    store: &mut Store,
    replay: Replay,
    report: &mut PullReport,
) -> anyhow::Result<()> {
    report.mode = PullMode::Incremental;
    report.events_replayed = replay.events;
    let progress = &job.ctx.progress;
    let fresh = replay::reread(
        job.client,
        store,
        job.run,
        &replay.touched,
        progress,
        report,
    )
    .await?;
    store.replace_contact_profiles(&fresh.contacts, &fresh.profiles)?;
    let next = PullState {
        event_seq: replay.head.or(job.state.event_seq),
        team_id: Some(job.team_id.clone()),
        last_full_at: job.state.last_full_at,
        events_read_at: Some(job.opts.now),
        event_log: job.state.event_log,
    };
    store.save_pull_state(&next)?;
    store.note_event_seq_run(job.run)?;
    report.event_seq = next.event_seq;
    Ok(())
}

/// A full walk, between a seq noted before it and a replay from that seq after it.
async fn full(
    job: &Job<'_>,
    store: &mut Store,
    reason: FullReason,
    before: Option<Replay>,
    report: &mut PullReport,
) -> anyhow::Result<()> {
    let client = job.client;
    report.mode = PullMode::Full;
    report.full_reason = Some(reason);
    let bookmark = match before {
        Some(before) => {
            report.events_replayed += before.events;
            before.head
        }
        None => {
            let start = client.stats().requests;
            let latest = client.latest_event_seq().await;
            report.event_pages += client.stats().requests.saturating_sub(start);
            latest.context("reading where the Inbox event log ends")?
        }
    };
    let mut walk = store.begin_walk(job.run)?;
    let mut profiles = walk::walk(job.ctx, client, &mut walk, report).await?;
    // What changed during the walk, behind the cursor or in rows already read.
    let after = match replay::replay(client, bookmark).await {
        Ok(after) => Some(after),
        Err(err) if replay::is_refusal(&err) => {
            tracing::info!("the Inbox event log refused the seq noted before the walk: {err}");
            None
        }
        Err(err) => return Err(err).context("reading the Inbox event log after the walk"),
    };
    if let Some(after) = &after {
        report.event_pages += after.pages;
        report.events_replayed += after.events;
        let progress = &job.ctx.progress;
        let fresh = replay::reread(client, &mut walk, job.run, &after.touched, progress, report);
        let fresh = fresh.await?;
        profiles.retain(|_, p| !fresh.contacts.contains(&p.contact_id));
        profiles.extend(
            (fresh.profiles.into_iter()).map(|p| ((p.platform.clone(), p.platform_id.clone()), p)),
        );
    }
    let (threads, contacts) = walk.finish()?;
    report.marked_absent.0 += threads;
    report.marked_absent.1 += contacts;
    store.replace_profiles(&profiles.into_values().collect::<Vec<_>>())?;
    // Without a replay after the walk, rows that changed during it may be stale: store no seq,
    // so that the next pull walks again.
    let head = after.as_ref().and_then(|a| a.head.or(bookmark));
    let next = PullState {
        event_seq: head,
        team_id: Some(job.team_id.clone()),
        last_full_at: Some(job.opts.now),
        events_read_at: head.map(|_| job.opts.now),
        event_log: job.state.event_log,
    };
    store.save_pull_state(&next)?;
    store.note_event_seq_run(job.run)?;
    report.event_seq = next.event_seq;
    Ok(())
}

/// Reference data, and the team id the token belongs to.
async fn fetch_reference(client: &v2::Client) -> anyhow::Result<(String, Reference)> {
    // Team first: it is the cheapest check that the token works.
    let team = client.team().await?;
    let account_links = client
        .account_links()
        .await?
        .into_iter()
        .map(|a| AccountLinkRow {
            username: a.username.clone().unwrap_or_else(|| a.platform_id.clone()),
            id: a.id,
            name: a.display_name,
            status: a.status.as_str().to_string(),
            platform: a.platform.as_str().to_string(),
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
    Ok((
        team.id,
        Reference {
            account_links,
            members,
            tags,
            statuses,
        },
    ))
}

#[cfg(test)]
mod tests;
