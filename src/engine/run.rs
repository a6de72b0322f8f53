//! One run, phase by phase: lock, pull, read the CRM, link, plan, safety, push, record.
//!
//! [`run`] takes the lock, records the run in the mirror and its outcome at the end;
//! `run_inner` is the sequence of phases, each in its own module (called through `Phases`,
//! which holds what they share) and each handing a typed result to the next. A `pull` stops
//! after the pull, a `plan` after the plan, a sync stopped by a safety limit before the push;
//! every way out goes through [`finish`].

use std::time::Instant;

use anyhow::Context as _;
use chrono::Utc;
use serde_json::json;

use crate::crm::{CrmAdapter, CrmRecord, CrmSnapshot};
use crate::reconcile::{Policy, Vocabulary};
use crate::store::{ConflictRecord, RejectRow, RunId, RunMode, RunStatus, Store};

use super::budget::RequestBudget;
use super::inputs::Names;
use super::link::Linked;
use super::plan::{Planned, Planning, Reviewed};
use super::pull::pull;
use super::push::Pushed;
use super::receipts::Receipts;
use super::summary::{PhaseClock, SyncReport, peak_rss_mib};
use super::{Context, RunLock, RunOptions};

/// Runs one pull, plan or sync under the run lock, recording it in the mirror.
pub async fn run<A: CrmAdapter>(
    ctx: &Context,
    crm: Option<&mut A>,
    opts: &RunOptions,
) -> anyhow::Result<SyncReport> {
    let db_path = ctx.prepare_state_dir()?;
    let _lock = RunLock::acquire(&ctx.config.state.dir)?;
    let mut store = Store::open(&db_path)
        .with_context(|| format!("opening the mirror {}", db_path.display()))?;
    let now = opts
        .now
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let abandoned = store.fail_abandoned_runs(&now)?;
    if abandoned > 0 {
        tracing::warn!(
            abandoned,
            "earlier runs were interrupted; this run completes their work"
        );
    }
    let run_id = store.begin_run(opts.mode, &now)?;
    let started = Instant::now();
    // The client may serve several runs (the demo): count this run's requests only.
    let stats_before = ctx.inbox_stats();
    let mut crm = crm;
    let crm_before = crm.as_deref().and_then(|c| c.api_usage());
    let result = run_inner(ctx, crm.as_deref_mut(), opts, &mut store, run_id, &now).await;
    let stats = ctx.inbox_stats();
    let requests = stats.requests - stats_before.requests;
    let rate_limited = stats.rate_limited - stats_before.rate_limited;
    let crm_usage = crm.as_deref().and_then(|c| c.api_usage()).map(|after| {
        let before = crm_before.unwrap_or_default();
        crate::crm::ApiUsage {
            requests: after.requests - before.requests,
            rate_limited: after.rate_limited - before.rate_limited,
        }
    });
    let finished = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    match result {
        Ok(mut report) => {
            report.seconds = started.elapsed().as_secs_f64();
            report.requests = requests;
            report.rate_limited = rate_limited;
            report.crm_requests = crm_usage.map(|u| u.requests);
            report.crm_rate_limited = crm_usage.map(|u| u.rate_limited);
            report.peak_rss_mib = peak_rss_mib();
            store.finish_run(
                run_id,
                report.outcome().status(),
                &finished,
                &report.summary_json(),
                None,
            )?;
            Ok(report)
        }
        Err(err) => {
            let summary = json!({
                "requests": requests,
                "rate_limited": rate_limited,
                "crm_requests": crm_usage.map(|u| u.requests),
            });
            // Recording the failure must not hide the error itself.
            let _ = store.finish_run(
                run_id,
                RunStatus::Failed,
                &finished,
                &summary,
                Some(&format!("{err:#}")),
            );
            Err(err)
        }
    }
}

/// The phases of one run after the lock is taken, in order. Each phase hands a typed result to
/// the next; a run that stops early (no CRM, a changed mapping, `pull`, `plan`, `--resync`, a
/// safety limit) leaves the block with the conflicts found so far, and every way out that did
/// not fail goes through [`finish`] once.
async fn run_inner<A: CrmAdapter>(
    ctx: &Context,
    crm: Option<&mut A>,
    opts: &RunOptions,
    store: &mut Store,
    run_id: RunId,
    now: &str,
) -> anyhow::Result<SyncReport> {
    let mut phases = Phases::start(ctx, opts, run_id, now);
    let mut report = phases.pull(store).await?;
    // From the first write to the end of the run a stop request (Ctrl-C) waits for the next
    // write boundary: what is written stays written and recorded.
    let mut writing = None;
    let conflicts = 'run: {
        let Some(crm) = crm else {
            break 'run Vec::new();
        };
        let fingerprint = ctx.config.mapping_fingerprint();
        if let Some(stop) = super::safety::mapping_changed(store, &fingerprint, opts)? {
            report.stopped = Some(stop);
            break 'run Vec::new();
        }
        let snapshot = phases.read_crm(crm, store, &mut report).await?;
        let records = &snapshot.records;
        let mut matched = phases.link(store, records, &mut report).await?;
        let (planned, reviewed) =
            phases.plan(store, &fingerprint, records, &mut matched, &mut report)?;
        if phases.stops_before_push(
            store,
            &fingerprint,
            &planned,
            &reviewed,
            &matched,
            &mut report,
        )? {
            break 'run reviewed.conflicts;
        }
        writing = Some(ctx.interrupt.writing());
        let pushed = phases
            .push(crm, store, &mut matched, &planned, &reviewed, &mut report)
            .await?;
        let recorded = (planned, reviewed, pushed);
        phases.record(store, &fingerprint, &matched, recorded, &mut report)?
    };
    let report = finish(store, report, conflicts)?;
    drop(writing);
    Ok(report)
}

/// What the phases of one run share: its options and clock, the time it started, and the
/// Inbox requests made before it (the request budget counts from there).
struct Phases<'r> {
    ctx: &'r Context,
    opts: &'r RunOptions,
    run_id: RunId,
    now: &'r str,
    clock: PhaseClock,
    requests_at_start: u64,
}

/// What the link phase hands on: the links, and the names, policy and vocabulary the plan
/// reconciles with (and the push writes with).
struct Matched {
    linked: Linked,
    names: Names,
    policy: Policy,
    vocab: Vocabulary,
}

impl<'r> Phases<'r> {
    /// Starts the clock of a run's phases.
    fn start(ctx: &'r Context, opts: &'r RunOptions, run_id: RunId, now: &'r str) -> Phases<'r> {
        let clock = PhaseClock::start();
        Phases {
            ctx,
            opts,
            run_id,
            now,
            clock,
            requests_at_start: ctx.inbox_stats().requests,
        }
    }

    /// Pulls Inbox into the mirror; the report starts with what the pull did.
    async fn pull(&mut self, store: &mut Store) -> anyhow::Result<SyncReport> {
        let pulled = pull(self.ctx, store, self.run_id, self.opts)
            .await
            .map_err(before_writing)?;
        let mut report = SyncReport::new(self.run_id, self.opts.mode, pulled);
        report.inbox_api = self.ctx.config.inbox.api().as_str();
        self.clock.lap(&mut report, "pull");
        Ok(report)
    }

    /// Reads the CRM (in full or what changed), noting its records and rejected rows.
    async fn read_crm<A: CrmAdapter>(
        &mut self,
        crm: &mut A,
        store: &mut Store,
        report: &mut SyncReport,
    ) -> anyhow::Result<CrmSnapshot> {
        let (opts, full_every) = (self.opts, self.ctx.config.pull.full_every_hours);
        let snapshot = super::crm_read::read_crm(crm, store, opts.full_pull, full_every, opts.now)
            .await
            .context("reading the CRM")?;
        report.crm_records = snapshot.records.len() as u64;
        report.rejected_rows = snapshot
            .rejects
            .iter()
            .map(|r| RejectRow {
                source: r.source.clone(),
                row: r.row,
                record_id: r.record_id.clone(),
                reason: r.reason.clone(),
            })
            .collect();
        self.clock.lap(report, "crm_read");
        Ok(snapshot)
    }

    /// Links prospects and records, noting what stayed unlinked.
    async fn link(
        &mut self,
        store: &mut Store,
        records: &[CrmRecord],
        report: &mut SyncReport,
    ) -> anyhow::Result<Matched> {
        let ctx = self.ctx;
        let mut linked = super::link::link(ctx, store, records, self.opts, self.requests_at_start)
            .await
            .map_err(before_writing)?;
        report.warnings.append(&mut linked.warnings);
        report.unlinked_prospects = linked.matching.unlinked_prospects.len() as u64;
        report.unlinked_records = linked.matching.unlinked_records.len() as u64;
        report.unmatched = super::summary::Unmatched::of(
            records,
            &linked.matching.unlinked_records,
            ctx.inbox.is_v2(),
        );
        let names = Names::new(&linked.reference);
        let policy = ctx.config.reconcile_policy();
        let vocab = names.vocabulary(&ctx.config);
        self.clock.lap(report, "match");
        Ok(Matched {
            linked,
            names,
            policy,
            vocab,
        })
    }

    /// Plans the writes and reviews the plan (what it creates, the conflicts it logs).
    fn plan(
        &mut self,
        store: &Store,
        fingerprint: &str,
        records: &[CrmRecord],
        matched: &mut Matched,
        report: &mut SyncReport,
    ) -> anyhow::Result<(Planned, Reviewed)> {
        let Matched {
            linked,
            names,
            policy,
            vocab,
        } = matched;
        let planning = Planning {
            names,
            policy,
            vocab,
            fingerprint,
            create_missing_tags: self.ctx.config.safety.create_missing_tags,
        };
        let (opts, now) = (self.opts, self.now);
        let mut planned = super::plan::plan(store, opts, now, &planning, records, linked)?;
        report.linked = planned.linked;
        report.unchanged_links = planned.unchanged;
        report.warnings.append(&mut planned.warnings);
        let reviewed = super::plan::review(self.ctx, store, &planned, linked, names, report)?;
        self.clock.lap(report, "reconcile");
        Ok((planned, reviewed))
    }

    /// Whether the run ends before its push: a `pull` or `plan`, a `sync --resync` (which
    /// saves the base both sides hold first), or a sync a safety limit stops.
    fn stops_before_push(
        &self,
        store: &mut Store,
        fingerprint: &str,
        planned: &Planned,
        reviewed: &Reviewed,
        matched: &Matched,
        report: &mut SyncReport,
    ) -> anyhow::Result<bool> {
        let opts = self.opts;
        if opts.mode == RunMode::Sync && opts.resync {
            let links = &matched.linked.matching.links;
            super::record::rebaseline(store, self.run_id, fingerprint, &planned.plan, links)?;
            return Ok(true);
        }
        if opts.mode != RunMode::Sync {
            return Ok(true);
        }
        if !opts.force
            && let Some(stop) = super::safety::safety_stop(
                &planned.plan,
                reviewed.overwriting,
                report.linked,
                &self.ctx.config.safety,
            )
        {
            report.stopped = Some(stop);
            return Ok(true);
        }
        Ok(false)
    }

    /// Pushes the plan to both sides, each write leaving its receipt.
    async fn push<A: CrmAdapter>(
        &mut self,
        crm: &mut A,
        store: &mut Store,
        matched: &mut Matched,
        planned: &Planned,
        reviewed: &Reviewed,
        report: &mut SyncReport,
    ) -> anyhow::Result<Pushed> {
        let mut budget = RequestBudget::new(self.ctx, self.requests_at_start);
        let mut receipts = Receipts::new(store, self.run_id);
        let pushed = super::push::push(
            self.ctx,
            crm,
            &mut matched.names,
            planned,
            reviewed,
            &matched.linked,
            &mut receipts,
            &mut budget,
            report,
        )
        .await?;
        self.clock.lap(report, "push");
        Ok(pushed)
    }

    /// Records what the sync did (see `record`); returns the conflicts for the report.
    fn record(
        &self,
        store: &mut Store,
        fingerprint: &str,
        matched: &Matched,
        (planned, reviewed, pushed): (Planned, Reviewed, Pushed),
        report: &mut SyncReport,
    ) -> anyhow::Result<Vec<ConflictRecord>> {
        super::record::record(
            store,
            self.run_id,
            self.now,
            fingerprint,
            (&matched.names, &matched.policy.fields),
            &matched.linked,
            planned,
            reviewed,
            pushed,
            report,
        )
    }
}

/// An error that ended a run before its push, said plainly when it is the team's hour or day
/// window (`429 rateLimited`, or the headers showed it spent): nothing was written.
fn before_writing(err: anyhow::Error) -> anyhow::Error {
    let spent = err.chain().any(|cause| {
        cause
            .downcast_ref::<crate::inbox::v2::Error>()
            .is_some_and(|e| e.quota_exhausted().is_some())
    });
    if spent {
        err.context(
            "the team's Inbox rate limit stopped the run before its push, nothing was written; run again once the window reopens",
        )
    } else {
        err
    }
}

/// Every way out of a run that did not fail: the conflicts it found go into its report (but
/// those a human dismissed with the same values: they stay quiet until something changes),
/// with the count of open ones.
fn finish(
    store: &Store,
    mut report: SyncReport,
    conflicts: Vec<ConflictRecord>,
) -> anyhow::Result<SyncReport> {
    let dismissed = store.dismissed(&conflicts)?;
    report.conflict_list = conflicts
        .into_iter()
        .zip(dismissed)
        .filter_map(|(c, dismissed)| (!dismissed).then_some(c))
        .collect();
    // Values waiting for import are listed with the conflicts but decided by nobody.
    report.conflicts.found = (report.conflict_list.iter())
        .filter(|c| c.kind != crate::reconcile::ConflictKind::PendingImport)
        .count() as u64;
    report.conflicts.open = store.open_conflict_count()?;
    Ok(report)
}
