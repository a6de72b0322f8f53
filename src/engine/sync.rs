//! One run: `pull`, `plan` or `sync`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Instant;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use serde_json::json;

use crate::config::CreateRecords;
use crate::crm::{CrmAdapter, CrmRecord, WriteStatus};
use crate::reconcile::{self, LinkInput, LinkKey, LinkPlan};
use crate::store::{
    ConflictTally, LinkState, MirrorProspect, ProspectKey, RejectRow, RunId, RunMode, RunStatus,
    Store,
};

use super::clean;
use super::guards::{MAPPING_KEY, RequestBudget, mapping_difference, safety_stop};
use super::inputs::{Names, crm_side, inbox_side};
use super::lookup::{lookup_unknown_x_ids, planned_creates};
use super::matching::match_records;
use super::pull::pull;
use super::push::push_plan;
use super::receipts::Receipts;
use super::report::{
    ConflictCounts, PhaseClock, SyncReport, Writes, conflict_records, peak_rss_mib, render_writes,
};
use super::resolve;
use super::saved_plan::SavedPlan;
use super::undo;
use super::{Context, RunLock};

/// The exit code of a run stopped by a signal (128 + SIGINT's number, as shells report it).
pub const EXIT_INTERRUPTED: i32 = 130;

/// Links reconciled at a time: bounds the memory of inputs and plans.
const RECONCILE_CHUNK: usize = 4096;

/// What to run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Pull only, plan, or sync.
    pub mode: RunMode,
    /// Override the safety limit.
    pub force: bool,
    /// Walk every thread even when an incremental pull (events) would do.
    pub full_pull: bool,
    /// Re-baseline after a mapping change: record as agreed only what both sides already hold,
    /// forget the rest of the base, push nothing.
    pub resync: bool,
    /// `plan --out`: save the plan (with the values it was made from) to this file.
    pub save_plan: Option<std::path::PathBuf>,
    /// `sync --plan`: apply exactly this saved plan instead of a fresh one.
    pub apply_plan: Option<std::path::PathBuf>,
    /// `undo RUN_ID`: revert that run's writes instead of syncing (with mode `Plan`: a dry run).
    pub undo: Option<i64>,
    /// The run's clock reading.
    pub now: DateTime<Utc>,
}

impl RunOptions {
    /// Options for `mode` with everything else off, at the current time.
    pub fn new(mode: RunMode) -> RunOptions {
        RunOptions {
            mode,
            force: false,
            full_pull: false,
            resync: false,
            save_plan: None,
            apply_plan: None,
            undo: None,
            now: Utc::now(),
        }
    }
}

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
    let stats_before = ctx.client.stats();
    let mut crm = crm;
    let crm_before = crm.as_deref().and_then(|c| c.api_usage());
    let result = run_inner(ctx, crm.as_deref_mut(), opts, &mut store, run_id, &now).await;
    let stats = ctx.client.stats();
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
            if report.interrupted.is_some() {
                report.exit = EXIT_INTERRUPTED;
            }
            let status = if report.stopped.is_some() || report.interrupted.is_some() {
                RunStatus::Stopped
            } else {
                RunStatus::Ok
            };
            store.finish_run(
                run_id,
                status,
                report.exit,
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
    let stats_at_start = ctx.client.stats();
    let pull_report = pull(ctx, store, run_id, opts).await?;
    let mut report = SyncReport {
        run_id: run_id.0,
        mode: opts.mode,
        pull: pull_report,
        crm_records: 0,
        rejected_rows: Vec::new(),
        linked: 0,
        unlinked_prospects: 0,
        unlinked_records: 0,
        changed_links: 0,
        unchanged_links: 0,
        plan_text: String::new(),
        planned_inbox: 0,
        planned_crm: 0,
        writes: Writes::default(),
        conflicts: ConflictCounts::default(),
        conflict_list: Vec::new(),
        requests: 0,
        rate_limited: 0,
        crm_requests: None,
        crm_rate_limited: None,
        stopped: None,
        incomplete: None,
        interrupted: None,
        warnings: Vec::new(),
        exit: 0,
        seconds: 0.0,
        phases: BTreeMap::new(),
        peak_rss_mib: None,
    };
    clock.lap(&mut report, "pull");
    let Some(crm) = crm else {
        finish_counts(store, &mut report)?;
        return Ok(report);
    };

    // A changed field mapping makes the stored base mean something else: stop, or re-baseline.
    let fingerprint = ctx.config.mapping_fingerprint();
    let stored_fingerprint = store.meta(MAPPING_KEY)?;
    if let Some(stored) = &stored_fingerprint
        && *stored != fingerprint
        && !opts.resync
    {
        report.stopped = Some(format!(
            "the field mapping changed since the last sync ({}); the stored base no longer matches it. Run `crmsync sync --resync` to re-baseline: values both sides already share become the base, the rest is decided like a first sync. Nothing was written.",
            mapping_difference(stored, &fingerprint)
        ));
        report.exit = 3;
        finish_counts(store, &mut report)?;
        return Ok(report);
    }

    // Read the CRM.
    let snapshot = super::crm_read::read_crm(
        crm,
        store,
        opts.full_pull,
        ctx.config.pull.full_every_hours,
        opts.now,
    )
    .await
    .context("reading the CRM")?;
    clock.lap(&mut report, "crm_read");
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

    // Match.
    let reference = store.reference()?;
    let mut names = Names::new(&reference);
    // Matching needs only the prospects' X identity; the rest of the mirror is loaded a chunk
    // of links at a time below, so that the run never holds all of it.
    let prospect_keys = store.load_prospect_keys()?;
    let stored_links = store.links()?;
    let found = lookup_unknown_x_ids(
        ctx,
        store,
        &snapshot.records,
        &stored_links,
        &prospect_keys,
        opts,
    )
    .await?;
    let keys: Vec<ProspectKey<'_>> = prospect_keys
        .iter()
        .chain(found.iter().map(|m| ProspectKey {
            id: &m.prospect.id,
            platform_id: &m.prospect.platform_id,
            username: &m.prospect.username,
        }))
        .collect();
    let matching = match_records(&keys, &snapshot.records, &stored_links);
    drop(keys);
    drop(prospect_keys);
    report.unlinked_prospects = matching.unlinked_prospects.len() as u64;
    report.unlinked_records = matching.unlinked_records.len() as u64;

    // The prospects this run keeps in memory: those found outside the mirror, and (added
    // below) those of links that write, of records to create and of identity conflicts.
    let mut loaded: HashMap<String, MirrorProspect> = found
        .into_iter()
        .map(|m| (m.prospect.id.clone(), m))
        .collect();
    let by_record: foldhash::HashMap<&str, &CrmRecord> = snapshot
        .records
        .iter()
        .map(|r| (r.id.as_str(), r))
        .collect();

    // Pending imports the export now shows are done; the rest stay pending.
    let mut pending = store.load_pending()?;
    for (crm_id, values) in pending.iter_mut() {
        if let Some(record) = by_record.get(crm_id.as_str()) {
            let current = crm_side(record, &names);
            values.retain(|v| {
                current.unknown.contains(&v.field()) || current.fields.get(v.field()) != *v
            });
        }
    }
    pending.retain(|_, v| !v.is_empty());

    // Reconcile.
    // Reconcile in chunks, keeping only what the rest of the run needs: the links that write,
    // conflict or move the base, and the inputs of links that write or that a resolution, a
    // saved plan or an undo refers to. Memory stays bounded by the chunk, not the pipeline.
    let resolutions = store.pending_resolutions()?;
    let saved = opts
        .apply_plan
        .as_deref()
        .map(SavedPlan::load)
        .transpose()?;
    let undo_changes = match opts.undo {
        Some(run) => store.applied_changes(RunId(run))?,
        None => Vec::new(),
    };
    let referenced: HashSet<&str> = resolutions
        .iter()
        .map(|r| r.prospect_id.as_str())
        .chain(
            saved
                .iter()
                .flat_map(|s| s.links.iter().map(|l| l.plan.key.prospect_id.as_str())),
        )
        .chain(undo_changes.iter().filter_map(|c| c.prospect_id.as_deref()))
        .collect();
    let policy = ctx.config.reconcile_policy();
    let vocab = names.vocabulary(&ctx.config);
    // Links under an identity conflict are left alone on both sides until it is settled.
    let disputed = matching.disputed();
    let active: Vec<&crate::store::LinkRow> = matching
        .links
        .iter()
        .filter(|l| l.state == LinkState::Active)
        .filter(|l| by_record.contains_key(l.crm_id.as_str()))
        .filter(|l| !disputed.contains(l))
        .collect();
    report.linked = active.len() as u64;
    // Links whose inputs are what an earlier sync found clean are left out (see `clean`).
    let (stamps_in, mut dirty) = clean::Stamps::select(
        store,
        clean::context_digest(&fingerprint, &reference, &policy, &vocab),
        &active,
        |l| by_record[l.crm_id.as_str()],
        !opts.resync,
        |l| referenced.contains(l.prospect_id.as_str()) || pending.contains_key(&l.crm_id),
    )?;
    report.unchanged_links = (active.len() - dirty.len()) as u64;
    clock.lap(&mut report, "match");
    let mut inputs: Vec<LinkInput> = Vec::new();
    let mut plan = reconcile::Plan::default();
    // For each link reconciled: the digest of its record if it came out clean.
    let mut stamps: Vec<(&str, Option<u64>)> = Vec::with_capacity(dirty.len());
    // One chunk of links with their prospects: reconciled, then only what the rest of the run
    // needs is kept (the links that write, conflict or move the base; the prospects of links
    // that write, for the push, and of links with conflicts, which the log names; the inputs
    // of links that a resolution, a saved plan or an undo names, and with `plan --out` of
    // every link that writes).
    let mut reconcile_chunk = chunk_reconciler(|batch, loaded| {
        let ids: Vec<&str> = batch.iter().map(|(l, _)| l.prospect_id.as_str()).collect();
        let mut base = store.load_base_for(&ids)?;
        let chunk_inputs: Vec<LinkInput> = batch
            .iter()
            .map(|(link, prospect)| LinkInput {
                key: LinkKey {
                    prospect_id: link.prospect_id.clone(),
                    crm_id: link.crm_id.clone(),
                },
                inbox: inbox_side(prospect, &names),
                crm: crm_side(by_record[link.crm_id.as_str()], &names),
                base: if opts.resync {
                    Default::default()
                } else {
                    base.remove(&link.prospect_id).unwrap_or_default()
                },
            })
            .collect();
        let chunk_plan = reconcile::plan(&chunk_inputs, &policy, &vocab);
        let by_key: HashMap<&LinkKey, &LinkInput> =
            chunk_inputs.iter().map(|i| (&i.key, i)).collect();
        let mut keep_inputs: HashSet<LinkKey> = HashSet::new();
        let mut keep_loaded: HashSet<String> = HashSet::new();
        // Links that write or conflict: not clean. (Those that only move the base are clean
        // once it moved: `clean::keep_confirmed_stamps`.)
        let mut unclean: HashSet<String> = HashSet::new();
        for mut link in chunk_plan.links {
            let input = by_key[&link.key];
            // Agreed values the base already holds need no saving.
            link.agreed
                .retain(|v| input.base.get(v.field()).as_ref() != Some(v));
            let named = referenced.contains(link.key.prospect_id.as_str());
            let writes_or_conflicts = !link.is_noop() || !link.conflicts.is_empty();
            // A link's inputs serve a resolution, a reviewed plan or an undo that names it,
            // and `plan --out`, which saves those of every link that writes.
            if named || (!link.is_noop() && opts.save_plan.is_some()) {
                keep_inputs.insert(link.key.clone());
            }
            // The push needs the prospects (and their threads) of the links that write; the
            // conflict log names those of links in conflict.
            if named || writes_or_conflicts {
                keep_loaded.insert(link.key.prospect_id.clone());
            }
            if writes_or_conflicts {
                unclean.insert(link.key.prospect_id.clone());
            }
            if !link.is_noop() || !link.conflicts.is_empty() || !link.agreed.is_empty() {
                plan.links.push(link);
            }
        }
        inputs.extend(chunk_inputs.into_iter().filter(|i| {
            keep_inputs.contains(&i.key) || referenced.contains(i.key.prospect_id.as_str())
        }));
        for (link, prospect) in batch {
            let id = link.prospect_id.as_str();
            let clean = !unclean.contains(id) && !referenced.contains(id);
            stamps.push(stamps_in.stamp(link, by_record[link.crm_id.as_str()], clean));
            if keep_loaded.contains(id) {
                loaded.insert(link.prospect_id.clone(), prospect);
            }
        }
        Ok(())
    });
    // Prospects found outside the mirror first, then the mirror's, a chunk at a time in id
    // order.
    let outside: Vec<_> = dirty
        .iter()
        .filter_map(|l| loaded.remove(&l.prospect_id).map(|m| (*l, m)))
        .collect();
    reconcile_chunk(outside, &mut loaded)?;
    dirty.sort_unstable_by(|a, b| a.prospect_id.cmp(&b.prospect_id));
    for chunk in dirty.chunks(RECONCILE_CHUNK) {
        let link_of: HashMap<&str, &crate::store::LinkRow> =
            chunk.iter().map(|l| (l.prospect_id.as_str(), *l)).collect();
        let ids: Vec<&str> = chunk.iter().map(|l| l.prospect_id.as_str()).collect();
        let batch = store
            .load_mirror_for(&ids)?
            .into_iter()
            .map(|m| (link_of[m.prospect.id.as_str()], m))
            .collect();
        reconcile_chunk(batch, &mut loaded)?;
    }
    inputs.sort_by(|a, b| a.key.cmp(&b.key));
    plan.links.sort_by(|a, b| a.key.cmp(&b.key));
    // Humans' resolutions replace their conflicts with writes of the chosen value.
    let mut applied = resolve::apply_resolutions(&mut plan, &inputs, &resolutions, &vocab);
    report.warnings.extend(applied.problems.iter().cloned());
    if let Some(path) = &opts.save_plan {
        SavedPlan::new(
            &inputs,
            &plan,
            ctx.config.mapping_fingerprint(),
            now.to_string(),
        )
        .save(path)?;
    }
    if let (Some(path), Some(saved)) = (&opts.apply_plan, &saved) {
        // Exactly the reviewed plan: nothing new, and nothing whose target moved since.
        anyhow::ensure!(
            saved.mapping == ctx.config.mapping_fingerprint(),
            "{} was made under another field mapping; make a new plan",
            path.display()
        );
        let (reviewed, skipped) = saved.still_valid(&inputs);
        plan = reviewed;
        applied = Default::default();
        report.warnings.extend(skipped);
    }
    let mut base_restores = Vec::new();
    if let Some(undo_run) = opts.undo {
        anyhow::ensure!(
            undo_changes.iter().any(undo::revertible),
            "run {undo_run} applied no write that can be undone"
        );
        let undo = undo::plan_undo(undo_run, &undo_changes, &inputs, &vocab);
        plan = undo.plan;
        base_restores = undo.base;
        applied = Default::default();
    }
    // Tags Inbox does not have are not written there (unless they may be created): the plan
    // says so, as the sync will.
    super::inputs::hold_back_unknown_tags(&mut plan, &names, ctx.config.safety.create_missing_tags);
    // A reviewed plan or an undo is not a full reconciliation: it neither creates records nor
    // closes conflicts it did not look at.
    let partial_run = opts.apply_plan.is_some() || opts.undo.is_some();
    clock.lap(&mut report, "reconcile");

    // Load what the rest of the run reads: the prospects that may get a CRM record, and the
    // first prospect of each identity conflict (its name goes into the log).
    let creating = !partial_run && ctx.config.crm.create_records != CreateRecords::None;
    let wanted: Vec<&str> = matching
        .unlinked_prospects
        .iter()
        .filter(|_| creating)
        .chain(
            matching
                .identity
                .iter()
                .filter_map(|c| c.prospect_ids.first()),
        )
        .map(String::as_str)
        .filter(|id| !loaded.contains_key(*id))
        .collect();
    for m in store.load_mirror_for(&wanted)? {
        loaded.insert(m.prospect.id.clone(), m);
    }
    let creates = if creating {
        let unlinked: Vec<&MirrorProspect> = matching
            .unlinked_prospects
            .iter()
            .filter_map(|id| loaded.get(id))
            .collect();
        planned_creates(ctx, &unlinked, &names, &policy.fields)
    } else {
        Vec::new()
    };

    // Conflicts found by matching and by the core.
    let identity_of = |prospect_id: &str| -> (String, String) {
        loaded
            .get(prospect_id)
            .map(|m| (m.prospect.username.clone(), m.prospect.platform_id.clone()))
            .unwrap_or_default()
    };
    let mut conflicts = conflict_records(&matching.identity, &plan, &identity_of);

    report.plan_text = render_writes(&plan, &identity_of);

    // Pending imports are re-handed, not new writes.
    let is_pending_rewrite = |link: &LinkPlan| -> bool {
        let Some(crm_patch) = &link.crm else {
            return false;
        };
        let Some(values) = pending.get(&link.key.crm_id) else {
            return false;
        };
        crm_patch.changes.iter().all(|c| values.contains(&c.new))
    };
    report.planned_inbox = plan
        .links
        .iter()
        .map(|l| u64::from(l.inbox.is_some()) + l.threads.len() as u64)
        .sum();
    report.planned_crm =
        plan.links.iter().filter(|l| l.crm.is_some()).count() as u64 + creates.len() as u64;
    report.changed_links = plan
        .links
        .iter()
        .filter(|l| {
            let only_pending_rewrite =
                l.inbox.is_none() && l.threads.is_empty() && is_pending_rewrite(l);
            !l.is_noop() && !only_pending_rewrite
        })
        .count() as u64;

    if opts.mode == RunMode::Sync && opts.resync {
        // Only what both sides already hold becomes the base; nothing is pushed.
        let agreed = super::confirm::already_shared(&plan);
        store.replace_base(run_id, &agreed)?;
        store.save_links(run_id, &matching.links)?;
        store.set_meta(MAPPING_KEY, &fingerprint)?;
        report.stopped = None;
        report.incomplete = None;
        show_conflicts(store, &mut report, conflicts)?;
        finish_counts(store, &mut report)?;
        return Ok(report);
    }

    if opts.mode != RunMode::Sync {
        show_conflicts(store, &mut report, conflicts)?;
        finish_counts(store, &mut report)?;
        return Ok(report);
    }

    // Safety limit: a bad export must not wipe the pipeline.
    if !opts.force
        && let Some(message) = safety_stop(
            &plan,
            plan.links
                .iter()
                .filter(|l| super::guards::overwrites(l) && !is_pending_rewrite(l))
                .count() as u64,
            report.linked,
            &ctx.config.safety,
        )
    {
        report.stopped = Some(message);
        report.exit = 3;
        show_conflicts(store, &mut report, conflicts)?;
        finish_counts(store, &mut report)?;
        return Ok(report);
    }

    // Push to Inbox. From here to the end of the record phase a stop request (Ctrl-C) waits
    // for the next write boundary: what is written stays written and recorded.
    let _writing = ctx.interrupt.writing();
    let mut budget = RequestBudget::new(ctx, stats_at_start.requests);
    let mut receipts = Receipts::new(store, run_id);
    let pushed = push_plan(ctx, &mut names, &plan, &loaded, &mut budget, &mut receipts).await;
    report.writes.inbox += pushed.writes;
    report.incomplete = pushed.incomplete;
    report.interrupted = pushed.interrupted;
    conflicts.extend(pushed.conflicts);
    let inbox_confirmed = pushed.confirmed;
    let unpushed = pushed.unpushed;
    let push_error = pushed.error;

    clock.lap(&mut report, "push_inbox");
    crate::failpoint::hit("between-inbox-and-crm");

    // Write the CRM (skipped when the Inbox push failed or was stopped: the rerun redoes it
    // from the mirror).
    let crm_outcome = if push_error.is_none() && report.interrupted.is_none() {
        super::crm_write::write_crm(crm, &plan, &creates, &unpushed, &pending, &mut receipts)
            .await?
    } else {
        Default::default()
    };
    report.writes.crm += crm_outcome.writes;
    report.writes.crm_pending += crm_outcome.pending_rewrites;
    conflicts.extend(crm_outcome.conflicts);
    let crm_status = crm_outcome.status;
    let new_pending = crm_outcome.new_pending;
    conflicts.extend(super::crm_write::pending_import_conflicts(
        &new_pending,
        &matching.links,
    ));

    clock.lap(&mut report, "push_crm");
    crate::failpoint::hit("before-record");

    // Move the base for values confirmed on both sides; save links; record everything.
    let mut confirmed =
        super::confirm::confirmed_values(&plan, &unpushed, &inbox_confirmed, &crm_status);
    // Only new links and links whose state changed are written.
    let mut links: Vec<crate::store::LinkRow> =
        super::matching::changed_links(&stored_links, &matching.links)
            .cloned()
            .collect();
    for (prospect_id, record) in &creates {
        if matches!(crm_status.get(&record.id), Some(WriteStatus::Confirmed)) {
            links.push(crate::store::LinkRow {
                prospect_id: prospect_id.clone(),
                crm_id: record.id.clone(),
                state: LinkState::Active,
            });
            if let Some(m) = loaded.get(prospect_id.as_str()) {
                let side = inbox_side(m, &names);
                for field in &policy.fields {
                    if !field.is_thread_field() {
                        confirmed.push((prospect_id.clone(), side.fields.get(*field)));
                    }
                }
            }
        }
    }
    store.save_links(run_id, &links)?;
    store.save_base(run_id, &confirmed)?;
    // An undo puts the base of what it reverted back to what it was before the undone run.
    base_restores.retain(|(prospect_id, _, _)| !unpushed.contains(prospect_id.as_str()));
    store.restore_base(run_id, &base_restores)?;
    store.set_meta(MAPPING_KEY, &fingerprint)?;
    if push_error.is_none() {
        store.replace_pending(run_id, &new_pending)?;
    }
    store.record_rejects(run_id, &report.rejected_rows)?;
    if let Some(err) = push_error {
        return Err(
            anyhow::Error::new(err).context("pushing to Inbox (the next run continues from here)")
        );
    }
    if report.incomplete.is_none() {
        store.mark_resolutions_applied(run_id, &applied.conflict_ids)?;
    }
    let tally: ConflictTally = store.record_conflicts(run_id, now, &conflicts, !partial_run)?;
    stamps_in.record(store, stamps, partial_run, &plan, &confirmed)?;
    report.conflicts.opened = tally.opened;
    report.conflicts.closed = tally.closed;
    show_conflicts(store, &mut report, conflicts)?;
    finish_counts(store, &mut report)?;
    clock.lap(&mut report, "record");
    Ok(report)
}

/// Gives a reconcile-chunk closure its signature, with the run's lifetime for the links (a
/// closure's own `&LinkRow` parameter would be valid only inside it, and the stamps it pushes
/// borrow the links' ids).
fn chunk_reconciler<'a, F>(f: F) -> F
where
    F: FnMut(
        Vec<(&'a crate::store::LinkRow, MirrorProspect)>,
        &mut HashMap<String, MirrorProspect>,
    ) -> anyhow::Result<()>,
{
    f
}

/// Puts the conflicts a run found into its report, but those a human dismissed with the same
/// values: they stay quiet until something changes.
fn show_conflicts(
    store: &Store,
    report: &mut SyncReport,
    conflicts: Vec<crate::store::ConflictRecord>,
) -> anyhow::Result<()> {
    let dismissed = store.dismissed(&conflicts)?;
    report.conflict_list = conflicts
        .into_iter()
        .zip(dismissed)
        .filter_map(|(c, dismissed)| (!dismissed).then_some(c))
        .collect();
    report.conflicts.found = report.conflict_list.len() as u64;
    Ok(())
}

fn finish_counts(store: &Store, report: &mut SyncReport) -> anyhow::Result<()> {
    report.conflicts.open = store.open_conflict_count()?;
    Ok(())
}
