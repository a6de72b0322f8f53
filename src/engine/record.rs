//! Phase 8 of a run, record: move the base for the values confirmed on both sides, save the
//! links, the pending imports, the rejects and the conflicts, and stamp the links found clean.
//!
//! The change log is not written here: each write left its receipt when it was made
//! (`receipts`). The base never moves to a value only one side confirmed (`confirm`); an
//! undo puts it back to what the undone run's writes were made against.

use std::collections::{BTreeSet, HashSet};

use crate::crm::WriteStatus;
use crate::reconcile::{ContactId, Field, Value};
use crate::store::{ConflictRecord, LinkRow, LinkState, RunId, Store};

use super::inputs::{Names, inbox_side};
use super::link::Linked;
use super::plan::{Planned, Reviewed};
use super::push::Pushed;
use super::safety::MAPPING_KEY;

/// Records what a sync did. Returns the conflict tally; the error that stopped the Inbox push,
/// if one did, comes back once everything else is recorded.
#[allow(clippy::too_many_arguments)] // the phase's inputs, each used once
pub(super) fn record(
    store: &mut Store,
    run: RunId,
    now: &str,
    fingerprint: &str,
    (names, synced): (&Names, &BTreeSet<Field>),
    linked: &Linked,
    planned: Planned,
    reviewed: Reviewed,
    pushed: Pushed,
    report: &mut super::SyncReport,
) -> anyhow::Result<Vec<ConflictRecord>> {
    let plan = &planned.plan;
    let unpushed: HashSet<&ContactId> = pushed.unpushed.iter().collect();
    let mut confirmed = super::confirm::confirmed_values(
        plan,
        &unpushed,
        &pushed.inbox_confirmed,
        &pushed.crm_status,
    );
    // Only new links and links whose state changed are written; a record created for a
    // prospect links them, and what the prospect holds is the base (the CRM took all of it).
    let mut links: Vec<LinkRow> =
        super::matching::changed_links(&linked.stored_links, &linked.matching.links)
            .cloned()
            .collect();
    let (created, created_bases) = created_links(&reviewed.creates, &pushed, linked, names, synced);
    links.extend(created);
    confirmed.extend(created_bases);
    store.save_links(run, &links)?;
    // Values the export now shows from an import file: both sides confirmed them.
    store.save_base(run, &linked.imported)?;
    store.save_base(run, &confirmed)?;
    // An undo puts the base of what it reverted back to what it was before the undone run.
    let restores: Vec<_> = planned
        .base_restores
        .iter()
        .filter(|(prospect_id, _, _)| !pushed.unpushed.contains(prospect_id))
        .cloned()
        .collect();
    store.restore_base(run, &restores)?;
    store.set_meta(MAPPING_KEY, fingerprint)?;
    if pushed.error.is_none() {
        let pending = super::confirm::pending_bases(
            plan,
            &pushed.new_pending,
            &unpushed,
            &pushed.inbox_confirmed,
        );
        store.replace_pending(run, &pending)?;
    }
    store.record_rejects(run, &report.rejected_rows)?;
    if let Some(err) = pushed.error {
        return Err(
            anyhow::Error::new(err).context("pushing to Inbox (the next run continues from here)")
        );
    }
    let mut conflicts = reviewed.conflicts;
    conflicts.extend(pushed.conflicts);
    record_conflicts(store, run, now, planned, &confirmed, conflicts, report)
}

/// The links of the records created for prospects that the CRM confirmed, and the base each
/// starts from (see [`created_base`]).
fn created_links(
    creates: &[(ContactId, crate::crm::NewRecord)],
    pushed: &Pushed,
    linked: &Linked,
    names: &Names,
    synced: &BTreeSet<Field>,
) -> (Vec<LinkRow>, Vec<(ContactId, Value)>) {
    let mut links = Vec::new();
    let mut bases = Vec::new();
    for (prospect_id, record) in creates {
        if matches!(
            pushed.crm_status.get(&record.id),
            Some(WriteStatus::Confirmed)
        ) {
            links.push(LinkRow {
                prospect_id: prospect_id.clone(),
                crm_id: record.id.clone(),
                state: LinkState::Active,
            });
            if let Some(m) = linked.loaded.get(prospect_id) {
                bases.extend(created_base(prospect_id, m, names, synced));
            }
        }
    }
    (links, bases)
}

/// Settles the conflicts of a sync that pushed all it could: the resolutions it carried out
/// are applied (once the push is complete), stale ones open again, the conflicts found are
/// logged and the links found clean stamped.
fn record_conflicts(
    store: &mut Store,
    run: RunId,
    now: &str,
    planned: Planned,
    confirmed: &[(ContactId, Value)],
    conflicts: Vec<ConflictRecord>,
    report: &mut super::SyncReport,
) -> anyhow::Result<Vec<ConflictRecord>> {
    if report.incomplete.is_none() {
        store.mark_resolutions_applied(run, &planned.applied.conflict_ids)?;
    }
    store.reopen_conflicts(&planned.applied.stale)?;
    let tally = store.record_conflicts(run, now, &conflicts, !planned.partial)?;
    let stamps: Vec<(&ContactId, Option<u64>)> = planned
        .stamps
        .iter()
        .map(|(id, digest)| (id, *digest))
        .collect();
    (planned.stamps_in).record(store, stamps, planned.partial, &planned.plan, confirmed)?;
    report.conflicts.opened = tally.opened;
    report.conflicts.closed = tally.closed;
    Ok(conflicts)
}

/// The base of a link to a record just created for a prospect: the prospect's values of the
/// fields the record was created with (thread fields live on threads: not a prospect's).
fn created_base(
    prospect_id: &ContactId,
    prospect: &crate::store::MirrorProspect,
    names: &Names,
    fields: &BTreeSet<Field>,
) -> Vec<(ContactId, Value)> {
    let side = inbox_side(prospect, names);
    fields
        .iter()
        .filter(|f| !f.is_thread_field())
        .map(|f| (prospect_id.clone(), side.fields.get(*f)))
        .collect()
}

/// `sync --resync`: only what both sides already hold becomes the base, and the links and the
/// mapping are saved; nothing is pushed.
pub(super) fn rebaseline(
    store: &mut Store,
    run: RunId,
    fingerprint: &str,
    plan: &crate::reconcile::Plan,
    links: &[LinkRow],
) -> anyhow::Result<()> {
    let agreed = super::confirm::already_shared(plan);
    store.replace_base(run, &agreed)?;
    store.save_links(run, links)?;
    store.set_meta(MAPPING_KEY, fingerprint)?;
    Ok(())
}
