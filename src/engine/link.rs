//! Phase 4 of a run, link: match the CRM's records to Inbox prospects (stored links first,
//! then each profile's id, then usernames, looking up identities the mirror lacks), and settle
//! the pending imports the export now shows.
//!
//! The matching itself is pure (`matching`); this phase reads the mirror, asks Inbox about
//! unknown X ids (`lookup`) and hands the result on. It writes nothing to either side.

use std::collections::HashMap;

use crate::crm::CrmRecord;
use crate::reconcile::{ContactId, RecordId, Value};
use crate::store::{LinkRow, MirrorProspect, ProfileRow, ProspectKey, Reference, Store};

use super::Context;
use super::RunOptions;
use super::budget::RequestBudget;
use super::inputs::{Names, crm_side};
use super::lookup::lookup_unknown;
use super::matching::{Matching, match_records};

/// Values waiting in an import file, by record id.
type Pending = HashMap<RecordId, Vec<Value>>;

/// What the link phase hands to the rest of the run.
pub(super) struct Linked {
    /// The reference data (tags, statuses, members, accounts) as pulled.
    pub reference: Reference,
    /// The links as stored before this run.
    pub stored_links: Vec<LinkRow>,
    /// Every link with its state this run, the identity conflicts, and what is unlinked.
    pub matching: Matching,
    /// The prospects this run keeps in memory: those found outside the mirror now, and (added
    /// by later phases) those of links that write, of records to create and of identity
    /// conflicts.
    pub loaded: HashMap<ContactId, MirrorProspect>,
    /// The v2 contacts' profiles on every platform, those the look-ups found included (none
    /// on v1): what new CRM records take their LinkedIn identity from.
    pub profiles: Vec<ProfileRow>,
    /// Values still waiting in an import file (the export does not show them yet), by record.
    pub pending: HashMap<RecordId, Vec<Value>>,
    /// Look-ups the request budget left for the next run, and the like.
    pub warnings: Vec<String>,
    /// Values an import file handed over that the export now shows: (prospect, the base they
    /// stand for). Both sides confirmed them, so the plan reads them as the base (and a sync
    /// saves them), even if Inbox changed again since.
    pub imported: Vec<(ContactId, Value)>,
}

/// Matches `records` to the mirror's prospects.
pub(super) async fn link(
    ctx: &Context,
    store: &mut Store,
    records: &[CrmRecord],
    opts: &RunOptions,
    run_start_requests: u64,
) -> anyhow::Result<Linked> {
    let reference = store.reference()?;
    let names = Names::new(&reference);
    // Matching needs only the prospects' identities (their X identity, and on v2 every
    // profile); the rest of the mirror is loaded a chunk of links at a time by the plan phase,
    // so that the run never holds all of it.
    let prospect_keys = store.load_prospect_keys()?;
    let mut profiles = store.load_profiles()?;
    let stored_links = store.links()?;
    let mut budget = RequestBudget::new(ctx, run_start_requests);
    let mut warnings = Vec::new();
    let found = lookup_unknown(
        ctx,
        store,
        records,
        &stored_links,
        (&prospect_keys, &profiles),
        (opts, &mut budget),
        &mut warnings,
    )
    .await?;
    profiles.extend(found.profiles);
    let keys: Vec<ProspectKey<'_>> = prospect_keys
        .iter()
        .chain(found.prospects.iter().map(|m| ProspectKey {
            id: &m.prospect.id,
            platform_id: &m.prospect.platform_id,
            username: &m.prospect.username,
        }))
        .collect();
    let matching = match_records(&keys, &profiles, records, &stored_links);
    drop(keys);
    drop(prospect_keys);
    let loaded = found
        .prospects
        .into_iter()
        .map(|m| (m.prospect.id.clone(), m))
        .collect();
    let (pending, imported) = pending_imports(store, records, &names, &matching)?;
    Ok(Linked {
        reference,
        stored_links,
        matching,
        loaded,
        profiles,
        pending,
        warnings,
        imported,
    })
}

/// The values waiting in an import file that the export does not show yet (an unreadable cell
/// shows nothing: its value stays pending), and the bases of those it shows now, by prospect.
fn pending_imports(
    store: &Store,
    records: &[CrmRecord],
    names: &Names,
    matching: &Matching,
) -> anyhow::Result<(Pending, Vec<(ContactId, Value)>)> {
    let mut pending = store.load_pending()?;
    if pending.is_empty() {
        return Ok((pending, Vec::new()));
    }
    let bases = store.load_pending_bases()?;
    let by_record: foldhash::HashMap<&RecordId, &CrmRecord> =
        records.iter().map(|r| (&r.id, r)).collect();
    let prospect_of: HashMap<&RecordId, &ContactId> = matching
        .links
        .iter()
        .map(|l| (&l.crm_id, &l.prospect_id))
        .collect();
    let mut imported = Vec::new();
    for (crm_id, values) in pending.iter_mut() {
        let Some(record) = by_record.get(crm_id) else {
            continue;
        };
        let current = crm_side(record, names);
        values.retain(|v| {
            let waits = current.unknown.contains(&v.field()) || current.fields.get(v.field()) != *v;
            if !waits
                && let (Some(base), Some(prospect)) = (
                    bases.get(&(crm_id.clone(), v.field())),
                    prospect_of.get(crm_id),
                )
            {
                imported.push(((*prospect).clone(), base.clone()));
            }
            waits
        });
    }
    pending.retain(|_, v| !v.is_empty());
    Ok((pending, imported))
}
