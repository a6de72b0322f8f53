//! One run, phase by phase: lock, pull, read the CRM, link, plan, safety, push, record.
//!
//! [`run`] takes the lock, records the run in the mirror and its outcome at the end;
//! `run_inner` is the sequence of phases, each in its own module and each handing a typed
//! result to the next. A `pull` stops after the pull, a `plan` after the plan, a sync stopped
//! by a safety limit before the push; every way out goes through [`finish`].

use std::time::Instant;

use anyhow::Context as _;
use chrono::Utc;
use serde_json::json;

use crate::crm::CrmAdapter;
use crate::store::{ConflictRecord, RejectRow, RunId, RunMode, RunStatus, Store};

use super::budget::RequestBudget;
use super::inputs::Names;
use super::plan::Planning;
use super::pull::pull;
use super::receipts::Receipts;
use super::summary::{PhaseClock, RunOutcome, SyncReport, peak_rss_mib};
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
            let status = match report.outcome() {
                RunOutcome::Done => RunStatus::Ok,
                RunOutcome::Stopped | RunOutcome::Interrupted => RunStatus::Stopped,
            };
            store.finish_run(
                run_id,
                status,
                i32::from(report.outcome().exit_code()),
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
                1,
                &finished,
                &summary,
                Some(&format!("{err:#}")),
            );
            Err(err)
        }
    }
}

async fn run_inner<A: CrmAdapter>(
    ctx: &Context,
    crm: Option<&mut A>,
    opts: &RunOptions,
    store: &mut Store,
    run_id: RunId,
    now: &str,
) -> anyhow::Result<SyncReport> {
    let mut clock = PhaseClock::start();
    let stats_at_start = ctx.inbox_stats();
    let pulled = pull(ctx, store, run_id, opts)
        .await
        .map_err(before_writing)?;
    let mut report = SyncReport::new(run_id, opts.mode, pulled);
    report.inbox_api = ctx.config.inbox.api().as_str();
    clock.lap(&mut report, "pull");
    let Some(crm) = crm else {
        return finish(store, report, Vec::new());
    };
    let fingerprint = ctx.config.mapping_fingerprint();
    if let Some(stop) = super::safety::mapping_changed(store, &fingerprint, opts)? {
        report.stopped = Some(stop);
        return finish(store, report, Vec::new());
    }

    let full_every = ctx.config.pull.full_every_hours;
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
    clock.lap(&mut report, "crm_read");

    let mut linked =
        super::link::link(ctx, store, &snapshot.records, opts, stats_at_start.requests)
            .await
            .map_err(before_writing)?;
    report.warnings.append(&mut linked.warnings);
    report.unlinked_prospects = linked.matching.unlinked_prospects.len() as u64;
    report.unlinked_records = linked.matching.unlinked_records.len() as u64;
    report.unmatched =
        super::summary::Unmatched::of(&snapshot.records, &linked.matching.unlinked_records);
    let mut names = Names::new(&linked.reference);
    let policy = ctx.config.reconcile_policy();
    let vocab = names.vocabulary(&ctx.config);
    clock.lap(&mut report, "match");

    let planning = Planning {
        names: &names,
        policy: &policy,
        vocab: &vocab,
        fingerprint: &fingerprint,
        create_missing_tags: ctx.config.safety.create_missing_tags,
    };
    let mut planned =
        super::plan::plan(store, opts, now, &planning, &snapshot.records, &mut linked)?;
    report.linked = planned.linked;
    report.unchanged_links = planned.unchanged;
    report.warnings.append(&mut planned.warnings);
    let mut reviewed = super::plan::review(ctx, store, &planned, &mut linked, &names, &mut report)?;
    clock.lap(&mut report, "reconcile");
    if opts.mode == RunMode::Sync && opts.resync {
        super::record::rebaseline(
            store,
            run_id,
            &fingerprint,
            &planned.plan,
            &linked.matching.links,
        )?;
        return finish(store, report, reviewed.conflicts);
    }
    if opts.mode != RunMode::Sync {
        return finish(store, report, reviewed.conflicts);
    }
    if !opts.force
        && let Some(stop) = super::safety::safety_stop(
            &planned.plan,
            reviewed.overwriting,
            report.linked,
            &ctx.config.safety,
        )
    {
        report.stopped = Some(stop);
        return finish(store, report, std::mem::take(&mut reviewed.conflicts));
    }

    // From the first write to the end of the record phase a stop request (Ctrl-C) waits for
    // the next write boundary: what is written stays written and recorded.
    let _writing = ctx.interrupt.writing();
    let mut budget = RequestBudget::new(ctx, stats_at_start.requests);
    let mut receipts = Receipts::new(store, run_id);
    let pushed = super::push::push(
        ctx,
        crm,
        &mut names,
        &planned,
        &reviewed,
        &linked,
        &mut receipts,
        &mut budget,
        &mut report,
    )
    .await?;
    clock.lap(&mut report, "push");
    let conflicts = super::record::record(
        store,
        run_id,
        now,
        &fingerprint,
        (&names, &policy.fields),
        &linked,
        planned,
        reviewed,
        pushed,
        &mut report,
    )?;
    let report = finish(store, report, conflicts)?;
    Ok(report)
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
