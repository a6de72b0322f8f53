//! Phase 5 of a run, plan: reconcile the linked records that may have changed, then let a
//! human's decisions reshape the plan (resolutions, a reviewed plan, an undo) and hold back
//! what Inbox cannot take (tags it lacks).
//!
//! Reconciliation runs in chunks of [`CHUNK`] links, reading their prospects and base from the
//! mirror a chunk at a time and keeping only what the rest of the run needs (the links that
//! write, conflict or move the base; the prospects of those that write or conflict; the
//! inputs a resolution, a saved plan or an undo names). Memory follows the changes, not the
//! team's size. This phase writes nothing, to either side or to the mirror.

use std::collections::{HashMap, HashSet};

use crate::crm::CrmRecord;
use crate::reconcile::{
    self, ContactId, Field, InboxSide, LinkInput, LinkKey, Policy, RecordId, Value, Vocabulary,
};
use crate::store::{ChangeRow, ConflictRow, LinkRow, LinkState, MirrorProspect, Store};

use super::RunOptions;
use super::clean;
use super::inputs::{Names, crm_side, inbox_side};
use super::link::Linked;
use super::matching::Matching;
use super::resolve::{self, Applied};
use super::saved_plan::SavedPlan;
use super::undo;

/// Links reconciled at a time: bounds the memory of inputs and plans.
pub(super) const CHUNK: usize = 4096;

/// What the plan phase hands to the rest of the run.
pub(super) struct Planned {
    /// The plan, after resolutions, a reviewed plan or an undo, and the tags held back.
    pub plan: reconcile::Plan,
    /// Resolutions applied (their conflicts are marked applied once the push is complete).
    pub applied: Applied,
    /// What an undo puts the base back to (see [`undo::Undo::base`]).
    pub base_restores: Vec<(ContactId, Field, Option<Value>)>,
    /// A reviewed plan or an undo: not a full reconciliation (it creates no records and
    /// closes no conflicts it did not look at).
    pub partial: bool,
    /// The clean stamps in force, and the stamp of each link reconciled this run.
    pub stamps_in: clean::Stamps,
    /// For each link reconciled: its prospect and the digest of its record if it came out
    /// clean.
    pub stamps: Vec<(ContactId, Option<u64>)>,
    /// Active links, and those of them left out as unchanged since a sync found them clean.
    pub linked: u64,
    /// See `linked`.
    pub unchanged: u64,
    /// Warnings for the report (resolutions that could not be applied, plan writes skipped).
    pub warnings: Vec<String>,
}

/// The inputs of planning that do not change while it runs.
pub(super) struct Planning<'r> {
    pub names: &'r Names,
    pub policy: &'r Policy,
    pub vocab: &'r Vocabulary,
    pub fingerprint: &'r str,
    pub create_missing_tags: bool,
}

/// Reconciles the active links of `linked` and reshapes the plan as the options say. Moves the
/// prospects the rest of the run needs into `linked.loaded`.
pub(super) fn plan(
    store: &Store,
    opts: &RunOptions,
    now: &str,
    planning: &Planning<'_>,
    records: &[CrmRecord],
    linked: &mut Linked,
) -> anyhow::Result<Planned> {
    let Linked {
        reference,
        matching,
        loaded,
        pending,
        imported,
        ..
    } = linked;
    let by_record: foldhash::HashMap<&RecordId, &CrmRecord> =
        records.iter().map(|r| (&r.id, r)).collect();
    let imported_base = imported_base(imported);
    let decisions = Decisions::load(store, opts)?;
    let referenced = decisions.named(&imported_base);
    let active = active_links(matching, &by_record);
    // Links whose inputs are what an earlier sync found clean are left out (see `clean`).
    let (stamps_in, dirty) = clean::Stamps::select(
        store,
        clean::context_digest(
            planning.fingerprint,
            reference,
            planning.policy,
            planning.vocab,
        ),
        &active,
        |l| by_record[&l.crm_id],
        !opts.resync,
        |l| referenced.contains(&l.prospect_id) || pending.contains_key(&l.crm_id),
    )?;
    let dirty_links = dirty.len();
    let reconciler = Reconciler {
        store,
        opts,
        planning,
        by_record: &by_record,
        referenced: &referenced,
        imported_base: &imported_base,
        stamps_in: &stamps_in,
        out: Reconciled::default(),
    };
    let reconciled = reconciler.reconcile_all(dirty, loaded)?;
    let reshaped = decisions.reshape(opts, now, planning, &reconciled.inputs, reconciled.plan)?;
    Ok(Planned {
        plan: reshaped.plan,
        applied: reshaped.applied,
        base_restores: reshaped.base_restores,
        partial: opts.apply_plan.is_some() || opts.undo.is_some(),
        stamps_in,
        linked: active.len() as u64,
        unchanged: (active.len() - dirty_links) as u64,
        stamps: reconciled.stamps,
        warnings: reshaped.warnings,
    })
}

/// Imports the export now shows, by prospect: the base they stand for replaces the stored one.
fn imported_base(imported: &[(ContactId, Value)]) -> HashMap<&ContactId, Vec<Value>> {
    let mut imported_base: HashMap<&ContactId, Vec<Value>> = HashMap::new();
    for (prospect_id, value) in imported {
        imported_base
            .entry(prospect_id)
            .or_default()
            .push(value.clone());
    }
    imported_base
}

/// The links to reconcile: active ones whose record the CRM read shows. Links under an
/// identity conflict are left alone on both sides until it is settled.
fn active_links<'m>(
    matching: &'m Matching,
    by_record: &foldhash::HashMap<&RecordId, &CrmRecord>,
) -> Vec<&'m LinkRow> {
    let disputed = matching.disputed();
    matching
        .links
        .iter()
        .filter(|l| l.state == LinkState::Active)
        .filter(|l| by_record.contains_key(&l.crm_id))
        .filter(|l| !disputed.contains(l))
        .collect()
}

/// The decisions of humans that reshape this run's plan: the resolutions waiting, the reviewed
/// plan `--apply-plan` names, the change log of the run an undo reverts.
struct Decisions {
    /// Resolutions waiting to be applied.
    resolutions: Vec<ConflictRow>,
    /// The reviewed plan, with `--apply-plan`.
    saved: Option<SavedPlan>,
    /// The change log of the run to undo (empty when not undoing).
    undo_changes: Vec<ChangeRow>,
}

/// The plan once the humans' decisions reshaped it.
struct Reshaped {
    plan: reconcile::Plan,
    applied: Applied,
    base_restores: Vec<(ContactId, Field, Option<Value>)>,
    warnings: Vec<String>,
}

impl Decisions {
    /// Reads the decisions the options and the mirror hold.
    fn load(store: &Store, opts: &RunOptions) -> anyhow::Result<Decisions> {
        let resolutions = store.pending_resolutions()?;
        let saved = opts
            .apply_plan
            .as_deref()
            .map(SavedPlan::load)
            .transpose()?;
        let undo_changes = match opts.undo {
            Some(run) => store.applied_changes(run)?,
            None => Vec::new(),
        };
        Ok(Decisions {
            resolutions,
            saved,
            undo_changes,
        })
    }

    /// The prospects a decision or an import names: always reconciled, their inputs kept.
    fn named<'a>(
        &'a self,
        imported_base: &HashMap<&'a ContactId, Vec<Value>>,
    ) -> HashSet<&'a ContactId> {
        self.resolutions
            .iter()
            .map(|r| &r.prospect_id)
            .chain(
                self.saved
                    .iter()
                    .flat_map(|s| s.links.iter().map(|l| &l.plan.key.prospect_id)),
            )
            .chain(
                self.undo_changes
                    .iter()
                    .filter_map(|c| c.prospect_id.as_ref()),
            )
            .chain(imported_base.keys().copied())
            .collect()
    }

    /// Applies the resolutions, saves the plan (`plan --out`), then replaces it with the
    /// reviewed plan or the undo, as the options say; last, holds back the tags Inbox lacks.
    fn reshape(
        &self,
        opts: &RunOptions,
        now: &str,
        planning: &Planning<'_>,
        inputs: &[LinkInput],
        mut plan: reconcile::Plan,
    ) -> anyhow::Result<Reshaped> {
        // Humans' resolutions replace their conflicts with writes of the chosen value.
        let mut applied =
            resolve::apply_resolutions(&mut plan, inputs, &self.resolutions, planning.vocab);
        let mut warnings = applied.problems.clone();
        if let Some(path) = &opts.save_plan {
            let (mapping, created_at) = (planning.fingerprint.to_string(), now.to_string());
            SavedPlan::new(inputs, &plan, mapping, created_at).save(path)?;
        }
        if let (Some(path), Some(saved)) = (&opts.apply_plan, &self.saved) {
            // Exactly the reviewed plan: nothing new, and nothing whose target moved since.
            anyhow::ensure!(
                saved.mapping == planning.fingerprint,
                "{} was made under another field mapping; make a new plan",
                path.display()
            );
            let (reviewed, skipped) = saved.still_valid(inputs);
            plan = reviewed;
            self.keep_carried_out(&plan, &mut applied);
            warnings.extend(skipped);
        }
        let mut base_restores = Vec::new();
        if let Some(undo_run) = opts.undo {
            anyhow::ensure!(
                self.undo_changes.iter().any(undo::revertible),
                "run {undo_run} applied no write that can be undone"
            );
            let undo = undo::plan_undo(undo_run, &self.undo_changes, inputs, planning.vocab);
            plan = undo.plan;
            base_restores = undo.base;
            applied = Default::default();
        }
        // Tags Inbox does not have are not written there (unless they may be created): the
        // plan says so, as the sync will.
        let create_missing_tags = planning.create_missing_tags;
        super::inputs::hold_back_unknown_tags(&mut plan, planning.names, create_missing_tags);
        Ok(Reshaped {
            plan,
            applied,
            base_restores,
            warnings,
        })
    }

    /// Under a reviewed plan: a waiting resolution the plan carries out is applied by this sync
    /// (else it would stay waiting and be applied again, over a later edit); one it does not
    /// carry out still waits.
    fn keep_carried_out(&self, plan: &reconcile::Plan, applied: &mut Applied) {
        let carried: HashSet<(&str, Field)> = plan
            .links
            .iter()
            .flat_map(|l| {
                let fields = l
                    .inbox
                    .iter()
                    .flat_map(|p| &p.changes)
                    .chain(l.crm.iter().flat_map(|p| &p.changes))
                    .chain(l.threads.iter().flat_map(|t| &t.changes))
                    .map(reconcile::Change::field)
                    .chain(l.agreed.iter().map(Value::field));
                fields.map(|f| (l.key.prospect_id.as_str(), f))
            })
            .collect();
        applied.conflict_ids.retain(|id| {
            self.resolutions.iter().any(|r| {
                r.id == *id
                    && (r.field.field())
                        .is_some_and(|f| carried.contains(&(r.prospect_id.as_str(), f)))
            })
        });
        applied.problems.clear();
    }
}

/// What the chunks reconciled so far keep.
#[derive(Default)]
struct Reconciled {
    /// Inputs of the links a resolution, a reviewed plan or an undo names (and with
    /// `plan --out`, of every link that writes).
    inputs: Vec<LinkInput>,
    /// The links that write, conflict or move the base.
    plan: reconcile::Plan,
    /// Each reconciled link's stamp.
    stamps: Vec<(ContactId, Option<u64>)>,
}

/// Reconciles chunks of links with their prospects.
struct Reconciler<'a, 'r> {
    store: &'r Store,
    opts: &'r RunOptions,
    planning: &'r Planning<'r>,
    by_record: &'r foldhash::HashMap<&'a RecordId, &'a CrmRecord>,
    referenced: &'r HashSet<&'r ContactId>,
    imported_base: &'r HashMap<&'r ContactId, Vec<Value>>,
    stamps_in: &'r clean::Stamps,
    out: Reconciled,
}

impl<'a> Reconciler<'a, '_> {
    /// Reconciles the links in `dirty`: those whose prospect was found outside the mirror
    /// first, then the mirror's, a chunk at a time in id order. The inputs and the plan come
    /// out in link order.
    fn reconcile_all(
        mut self,
        mut dirty: Vec<&'a LinkRow>,
        loaded: &mut HashMap<ContactId, MirrorProspect>,
    ) -> anyhow::Result<Reconciled> {
        let outside: Vec<_> = dirty
            .iter()
            .filter_map(|l| loaded.remove(&l.prospect_id).map(|m| (*l, m)))
            .collect();
        self.reconcile(outside, loaded)?;
        dirty.sort_unstable_by(|a, b| a.prospect_id.cmp(&b.prospect_id));
        for chunk in dirty.chunks(CHUNK) {
            let link_of: HashMap<&ContactId, &LinkRow> =
                chunk.iter().map(|l| (&l.prospect_id, *l)).collect();
            let ids: Vec<&ContactId> = chunk.iter().map(|l| &l.prospect_id).collect();
            let batch = self
                .store
                .load_mirror_for(&ids)?
                .into_iter()
                .map(|m| (link_of[&m.prospect.id], m))
                .collect();
            self.reconcile(batch, loaded)?;
        }
        self.out.inputs.sort_by(|a, b| a.key.cmp(&b.key));
        self.out.plan.links.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(self.out)
    }

    /// Reconciles one chunk, then keeps only what the rest of the run needs: the links that
    /// write, conflict or move the base; the prospects of links that write (for the push) and
    /// of links in conflict (the log names them), moved into `loaded`; the inputs of links a
    /// resolution, a saved plan or an undo names, and with `plan --out` of every link that
    /// writes.
    fn reconcile(
        &mut self,
        batch: Vec<(&'a LinkRow, MirrorProspect)>,
        loaded: &mut HashMap<ContactId, MirrorProspect>,
    ) -> anyhow::Result<()> {
        let names = self.planning.names;
        let ids: Vec<&ContactId> = batch.iter().map(|(l, _)| &l.prospect_id).collect();
        let mut base = self.store.load_base_for(&ids)?;
        let mut retries = self.store.fanout_retries_for(&ids)?;
        let chunk_inputs: Vec<LinkInput> = batch
            .iter()
            .map(|(link, prospect)| LinkInput {
                key: LinkKey {
                    prospect_id: link.prospect_id.clone(),
                    crm_id: link.crm_id.clone(),
                },
                inbox: InboxSide {
                    retry: retries.remove(&link.prospect_id).unwrap_or_default(),
                    ..inbox_side(prospect, names)
                },
                crm: crm_side(self.by_record[&link.crm_id], names),
                base: if self.opts.resync {
                    Default::default()
                } else {
                    let mut base = base.remove(&link.prospect_id).unwrap_or_default();
                    for value in self
                        .imported_base
                        .get(&link.prospect_id)
                        .into_iter()
                        .flatten()
                    {
                        base.set(value.clone());
                    }
                    base
                },
            })
            .collect();
        let chunk_plan = reconcile::plan(&chunk_inputs, self.planning.policy, self.planning.vocab);
        let by_key: HashMap<&LinkKey, &LinkInput> =
            chunk_inputs.iter().map(|i| (&i.key, i)).collect();
        let mut keep_inputs: HashSet<LinkKey> = HashSet::new();
        let mut keep_loaded: HashSet<ContactId> = HashSet::new();
        // Links that write or conflict: not clean. (Those that only move the base are clean
        // once it moved: `clean::keep_confirmed_stamps`.)
        let mut unclean: HashSet<ContactId> = HashSet::new();
        for mut link in chunk_plan.links {
            let input = by_key[&link.key];
            // Agreed values the base already holds need no saving.
            link.agreed
                .retain(|v| input.base.get(v.field()).as_ref() != Some(v));
            let named = self.referenced.contains(&link.key.prospect_id);
            let writes_or_conflicts = !link.is_noop() || !link.conflicts.is_empty();
            if named || (!link.is_noop() && self.opts.save_plan.is_some()) {
                keep_inputs.insert(link.key.clone());
            }
            if named || writes_or_conflicts {
                keep_loaded.insert(link.key.prospect_id.clone());
            }
            if writes_or_conflicts {
                unclean.insert(link.key.prospect_id.clone());
            }
            if writes_or_conflicts || !link.agreed.is_empty() {
                self.out.plan.links.push(link);
            }
        }
        self.out.inputs.extend(chunk_inputs.into_iter().filter(|i| {
            keep_inputs.contains(&i.key) || self.referenced.contains(&i.key.prospect_id)
        }));
        for (link, prospect) in batch {
            let id = &link.prospect_id;
            let clean = !unclean.contains(id) && !self.referenced.contains(id);
            let record = self.by_record[&link.crm_id];
            let (id, digest) = self.stamps_in.stamp(link, record, clean);
            self.out.stamps.push((id.clone(), digest));
            if keep_loaded.contains(id) {
                loaded.insert(link.prospect_id.clone(), prospect);
            }
        }
        Ok(())
    }
}

/// What the plan will write and what it logs, ready for the safety check and the push.
pub(super) struct Reviewed {
    /// Records to create in the CRM, with the prospect each is for.
    pub creates: Vec<(ContactId, crate::crm::NewRecord)>,
    /// The conflicts found by matching and by the core.
    pub conflicts: Vec<crate::store::ConflictRecord>,
    /// Links that overwrite a value somewhere (the safety limit's count).
    pub overwriting: u64,
}

/// Reviews a plan: the records to create (loading their prospects), the conflicts to log
/// (loading the first prospect of each identity conflict, which the log names), the text and
/// counts of the report.
pub(super) fn review(
    ctx: &super::Context,
    store: &Store,
    planned: &Planned,
    linked: &mut Linked,
    names: &Names,
    report: &mut super::SyncReport,
) -> anyhow::Result<Reviewed> {
    use crate::config::CreateRecords;
    let Linked {
        matching,
        loaded,
        profiles,
        pending,
        ..
    } = linked;
    let plan = &planned.plan;
    let creating = !planned.partial && ctx.config.crm.create_records != CreateRecords::None;
    let wanted: Vec<&ContactId> = matching
        .unlinked_prospects
        .iter()
        .filter(|_| creating)
        .chain(
            matching
                .identity
                .iter()
                .filter_map(|c| c.prospect_ids.first()),
        )
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
        let fields = &ctx.config.reconcile_policy().fields;
        super::lookup::planned_creates(ctx, &unlinked, profiles, names, fields)
    } else {
        Vec::new()
    };
    let identity_of = |prospect_id: &ContactId| -> (String, String) {
        loaded
            .get(prospect_id)
            .map(|m| (m.prospect.username.clone(), m.prospect.platform_id.clone()))
            .unwrap_or_default()
    };
    let conflicts = super::summary::conflict_records(&matching.identity, plan, &identity_of);
    // Who a contact is, for people: its X handle, else (a LinkedIn-only contact) its name.
    let label_of = |prospect_id: &ContactId| -> String {
        let Some(m) = loaded.get(prospect_id) else {
            return String::new();
        };
        match (&m.prospect.username, &m.prospect.display_name) {
            (username, _) if !username.is_empty() => format!("@{username}"),
            (_, Some(name)) => name.clone(),
            _ => String::new(),
        }
    };
    report.plan_text = super::summary::render_writes(plan, &label_of);
    count_planned(plan, pending, creates.len() as u64, report);
    let overwriting = plan
        .links
        .iter()
        .filter(|l| super::safety::overwrites(l) && !is_pending_rewrite(l, pending))
        .count() as u64;
    Ok(Reviewed {
        creates,
        conflicts,
        overwriting,
    })
}

/// The plan's counts in the report: writes per side (`creates` records to create among the
/// CRM's), links written, and the CRM writes that only hand over again what waits for import.
fn count_planned(
    plan: &reconcile::Plan,
    pending: &HashMap<RecordId, Vec<Value>>,
    creates: u64,
    report: &mut super::SyncReport,
) {
    // Pending imports handed over again are not new writes.
    let only_pending_rewrite = |l: &reconcile::LinkPlan| {
        l.inbox.is_none() && l.threads.is_empty() && is_pending_rewrite(l, pending)
    };
    report.planned_inbox = plan
        .links
        .iter()
        .map(|l| u64::from(l.inbox.is_some()) + l.threads.len() as u64)
        .sum();
    report.planned_crm = plan.links.iter().filter(|l| l.crm.is_some()).count() as u64 + creates;
    report.planned_crm_pending = plan
        .links
        .iter()
        .filter(|l| only_pending_rewrite(l))
        .count() as u64;
    report.changed_links = plan.links.iter().filter(|l| !l.is_noop()).count() as u64;
}

/// Whether a link's CRM patch only hands over again values already waiting in an import file.
fn is_pending_rewrite(link: &reconcile::LinkPlan, pending: &HashMap<RecordId, Vec<Value>>) -> bool {
    let Some(crm_patch) = &link.crm else {
        return false;
    };
    let Some(values) = pending.get(&link.key.crm_id) else {
        return false;
    };
    crm_patch.changes.iter().all(|c| values.contains(&c.new))
}
