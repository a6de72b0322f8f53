//! Which links a run may leave out of reconciliation: those whose inputs are exactly what an
//! earlier sync found clean.
//!
//! Reconciliation is a pure function of a link's inputs (the prospect and its threads in the
//! mirror, the CRM record, the base) and of the run's context (reference data, policy,
//! vocabulary, field mapping). A link is *clean* when its plan writes nothing and logs no
//! conflict, and whatever agreed values it had are in the base by the end of the sync (then
//! the same inputs plan nothing at all). A sync stores, for each clean link, a digest of its CRM
//! record (`links.clean_crm`) and clears the prospect's `inbox_dirty` flag, which triggers in
//! the mirror set again on any change to the prospect or its threads. The base of a clean link
//! moves only through a resolution, a saved plan, an undo or `--resync`, and those links are
//! reconciled whatever their stamp. So when the stamp is there, the prospect is not dirty, the
//! record's digest matches and the context is the one the stamp was made under, reconciling the
//! link again would give the same empty plan: the run skips it without loading it. A nightly
//! run with few changes then reads and reconciles only the links that moved or stay in
//! conflict.

use foldhash::HashMap;

use crate::crm::CrmRecord;
use crate::digest::Digest;
use crate::reconcile::{ContactId, Plan, Policy, Value, Vocabulary};
use crate::store::{LinkRow, Reference, Store};

use super::sorted::SortedCursor;

/// Meta key of the context digest the stored stamps were made under.
pub const CONTEXT_KEY: &str = "clean_context";

/// The digest of everything reconciliation reads from a CRM record.
pub fn record_digest(record: &CrmRecord) -> u64 {
    let f = &record.fields;
    let mut d = Digest::new();
    d.u64(f.tags.len() as u64);
    for tag in &f.tags {
        d.str(tag);
    }
    d.opt(f.status.as_deref());
    d.opt(f.valuation.map(|v| v.to_string()).as_deref());
    d.opt(f.notes.as_deref());
    d.opt(f.assignee.as_deref());
    d.opt(f.done.map(|b| if b { "true" } else { "false" }));
    d.opt(record.updated_at.map(|t| t.to_rfc3339()).as_deref());
    // Only a record with unknown fields digests them, so the digests of all other records are
    // those earlier builds stored.
    if !record.unknown.is_empty() {
        d.u64(record.unknown.len() as u64);
        for field in &record.unknown {
            d.str(field.as_str());
        }
    }
    d.finish()
}

/// The digest of a run's context: what reconciliation reads besides the link itself. A
/// change of crmsync's version counts too, so that a new build never trusts stamps an older
/// one made.
pub fn context_digest(
    mapping_fingerprint: &str,
    reference: &Reference,
    policy: &Policy,
    vocabulary: &Vocabulary,
) -> String {
    let mut d = Digest::new();
    d.str(env!("CARGO_PKG_VERSION"));
    d.str(mapping_fingerprint);
    // Debug output of these types is deterministic (vectors and B-tree collections only).
    d.str(&format!("{reference:?}"));
    d.str(&format!("{policy:?}"));
    d.str(&format!("{vocabulary:?}"));
    format!("{:016x}", d.finish())
}

/// One run's use of the stamps: which links it reconciles, and what it stores afterwards.
pub(super) struct Stamps {
    /// This run's context digest.
    context: String,
    /// Whether the stored stamps were made under it.
    same_context: bool,
}

impl Stamps {
    /// The active links to reconcile: all but those whose stamp matches their record's digest
    /// and whose prospect is unchanged since. Stamps count only under the same context and
    /// when `trust` (not on `--resync`); links `named` by a resolution, plan, undo or pending
    /// import are always reconciled.
    pub(super) fn select<'a>(
        store: &Store,
        context: String,
        active: &[&'a LinkRow],
        record_of: impl Fn(&LinkRow) -> &'a CrmRecord,
        trust: bool,
        named: impl Fn(&LinkRow) -> bool,
    ) -> anyhow::Result<(Stamps, Vec<&'a LinkRow>)> {
        let same_context = store.meta(CONTEXT_KEY)?.as_deref() == Some(context.as_str());
        let mut unchanged = vec![false; active.len()];
        if same_context && trust {
            // The links and the stamps, both in prospect order, merged: no map of 100k ids,
            // and a record is digested only where a stamp waits for it.
            let mut order: Vec<usize> = (0..active.len()).collect();
            if !active.is_sorted_by_key(|l| l.prospect_id.as_str()) {
                order.sort_unstable_by_key(|&i| active[i].prospect_id.as_str());
            }
            let mut links = SortedCursor::new(order);
            #[cfg(debug_assertions)]
            let mut previous = String::new();
            store.visit_clean_links(|prospect_id, stamp| {
                #[cfg(debug_assertions)]
                {
                    debug_assert!(
                        previous.as_str() <= prospect_id,
                        "the store's clean stamps are not in Rust's string order"
                    );
                    previous.clear();
                    previous.push_str(prospect_id);
                }
                if let Some(&i) = links.seek(prospect_id, |&i| active[i].prospect_id.as_str()) {
                    unchanged[i] = record_digest(record_of(active[i])) == stamp;
                }
            })?;
        }
        let dirty = active
            .iter()
            .zip(unchanged)
            .filter(|&(l, unchanged)| !unchanged || named(l))
            .map(|(l, _)| *l)
            .collect();
        Ok((
            Stamps {
                context,
                same_context,
            },
            dirty,
        ))
    }

    /// The stamp for a reconciled link: its record's digest if it came out clean.
    pub(super) fn stamp<'a>(
        &self,
        link: &'a LinkRow,
        record: &CrmRecord,
        clean: bool,
    ) -> (&'a ContactId, Option<u64>) {
        (&link.prospect_id, clean.then(|| record_digest(record)))
    }

    /// At the end of a sync: stores the stamps of the links it reconciled (stamps made under
    /// another context are voided first), or, after a reviewed plan or an undo, which wrote
    /// without reconciling, voids the stamps of the links it touched.
    pub(super) fn record(
        self,
        store: &mut Store,
        mut stamps: Vec<(&ContactId, Option<u64>)>,
        partial_run: bool,
        plan: &Plan,
        confirmed: &[(ContactId, Value)],
    ) -> anyhow::Result<()> {
        if partial_run {
            let touched: Vec<(&ContactId, Option<u64>)> = plan
                .links
                .iter()
                .map(|l| (&l.key.prospect_id, None))
                .collect();
            store.stamp_links(&touched, false)?;
        } else {
            keep_confirmed_stamps(&mut stamps, plan, confirmed);
            store.stamp_links(&stamps, !self.same_context)?;
            store.set_meta(CONTEXT_KEY, &self.context)?;
        }
        Ok(())
    }
}

/// A link whose plan wrote nothing and logged no conflict but had agreed values for the base
/// is clean only if the base moved to all of them (`confirmed`): otherwise its stamp is
/// dropped, and the next run reconciles it again.
pub fn keep_confirmed_stamps(
    stamps: &mut [(&ContactId, Option<u64>)],
    plan: &Plan,
    confirmed: &[(ContactId, Value)],
) {
    let mut moved: HashMap<&ContactId, usize> = HashMap::default();
    for (prospect_id, _) in confirmed {
        *moved.entry(prospect_id).or_default() += 1;
    }
    let agreed: HashMap<&ContactId, usize> = plan
        .links
        .iter()
        .map(|l| (&l.key.prospect_id, l.agreed.len()))
        .collect();
    for (prospect_id, digest) in stamps.iter_mut() {
        let wanted = agreed.get(prospect_id).copied().unwrap_or(0);
        if moved.get(prospect_id).copied().unwrap_or(0) < wanted {
            *digest = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::{Amount, Fields};

    fn record() -> CrmRecord {
        CrmRecord {
            id: "r1".into(),
            x_user_id: Some("42".into()),
            username: Some("ada".into()),
            linkedin_id: None,
            linkedin_username: None,
            fields: Fields {
                tags: ["Investor".to_string()].into(),
                status: Some("Lead".into()),
                valuation: Some("1200.50".parse::<Amount>().unwrap()),
                notes: Some("met at the conference".into()),
                assignee: Some("ada@example.com".into()),
                done: Some(false),
            },
            unknown: Default::default(),
            updated_at: None,
            row: 2,
        }
    }

    #[test]
    fn select_leaves_out_the_stamped_links_whatever_their_order() {
        use crate::store::{LinkState, ProspectRow, RunMode};
        let mut store = Store::open_in_memory().unwrap();
        let run = store.begin_run(RunMode::Sync, "t").unwrap();
        let ids = ["p1", "p2", "p3", "p4"];
        let rows: Vec<ProspectRow> = ids
            .iter()
            .map(|id| ProspectRow {
                id: (*id).into(),
                platform_id: format!("1{id}"),
                username: format!("user_{id}"),
                display_name: None,
                tag_ids: Vec::new(),
                status_id: None,
                valuation: None,
                notes: None,
                last_updated_at: None,
                default_assignee_id: None,
            })
            .collect();
        store.upsert_page(run, &rows, &[]).unwrap();
        let links: Vec<LinkRow> = ids
            .iter()
            .map(|id| LinkRow {
                prospect_id: (*id).into(),
                crm_id: format!("r-{id}").into(),
                state: LinkState::Active,
            })
            .collect();
        store.save_links(run, &links).unwrap();
        let records: Vec<CrmRecord> = ids
            .iter()
            .map(|id| CrmRecord {
                id: format!("r-{id}").into(),
                ..record()
            })
            .collect();
        let digest = record_digest(&records[0]);
        // p2's stamp is of another record; p4 has none.
        let p = ContactId::from;
        let (p1, p2, p3) = (p("p1"), p("p2"), p("p3"));
        store
            .stamp_links(
                &[
                    (&p1, Some(digest)),
                    (&p2, Some(digest ^ 1)),
                    (&p3, Some(digest)),
                ],
                false,
            )
            .unwrap();
        store.set_meta(CONTEXT_KEY, "ctx").unwrap();
        let reconciled = |active: &[&LinkRow], context: &str, trust: bool, named: &str| {
            let record_of =
                |l: &LinkRow| -> &CrmRecord { records.iter().find(|r| r.id == l.crm_id).unwrap() };
            let (_, dirty) =
                Stamps::select(&store, context.into(), active, record_of, trust, |l| {
                    l.prospect_id == named
                })
                .unwrap();
            dirty
                .iter()
                .map(|l| l.prospect_id.clone())
                .collect::<Vec<ContactId>>()
        };
        let sorted: Vec<&LinkRow> = links.iter().collect();
        let shuffled: Vec<&LinkRow> = [3, 0, 2, 1].iter().map(|&i| &links[i]).collect();
        assert_eq!(reconciled(&sorted, "ctx", true, ""), ["p2", "p4"]);
        assert_eq!(reconciled(&shuffled, "ctx", true, ""), ["p4", "p2"]);
        assert_eq!(reconciled(&shuffled, "ctx", true, "p1"), ["p4", "p1", "p2"]);
        assert_eq!(reconciled(&sorted, "ctx", false, "").len(), 4, "--resync");
        assert_eq!(
            reconciled(&sorted, "other", true, "").len(),
            4,
            "another context"
        );
    }

    #[test]
    fn every_synced_value_changes_the_record_digest() {
        let base = record_digest(&record());
        let edits: [fn(&mut CrmRecord); 11] = [
            |r| {
                r.unknown.insert(crate::reconcile::Field::Done);
            },
            |r| {
                r.fields.tags.insert("VIP".into());
            },
            |r| r.fields.tags.clear(),
            |r| r.fields.status = None,
            |r| r.fields.status = Some("Won".into()),
            |r| r.fields.valuation = Some("1200.5".parse().unwrap()),
            |r| r.fields.notes = Some(String::new()),
            |r| r.fields.assignee = None,
            |r| r.fields.done = Some(true),
            |r| r.fields.done = None,
            |r| r.updated_at = Some(chrono::DateTime::UNIX_EPOCH),
        ];
        for (idx, edit) in edits.iter().enumerate() {
            let mut changed = record();
            edit(&mut changed);
            if changed.fields != record().fields
                || changed.updated_at != record().updated_at
                || changed.unknown != record().unknown
            {
                assert_ne!(record_digest(&changed), base, "edit {idx}");
            }
        }
        // What reconciliation does not read does not count.
        let mut moved = record();
        moved.row = 99;
        moved.username = Some("other".into());
        assert_eq!(record_digest(&moved), base);
    }

    #[test]
    fn a_stamp_needs_every_agreed_value_in_the_base() {
        use crate::reconcile::{LinkKey, LinkPlan};
        let link = |id: &str, agreed: Vec<Value>| LinkPlan {
            key: LinkKey {
                prospect_id: id.into(),
                crm_id: format!("r-{id}").into(),
            },
            inbox: None,
            threads: Vec::new(),
            crm: None,
            agreed,
            conflicts: Vec::new(),
        };
        let plan = Plan {
            links: vec![
                link("moved", vec![Value::Notes(None), Value::Done(Some(true))]),
                link("half", vec![Value::Notes(None), Value::Done(Some(true))]),
            ],
        };
        let id = ContactId::from;
        let confirmed = vec![
            (id("moved"), Value::Notes(None)),
            (id("moved"), Value::Done(Some(true))),
            (id("half"), Value::Notes(None)),
        ];
        let (moved, half, quiet) = (id("moved"), id("half"), id("quiet"));
        let mut stamps = vec![(&moved, Some(1)), (&half, Some(2)), (&quiet, Some(3))];
        keep_confirmed_stamps(&mut stamps, &plan, &confirmed);
        assert_eq!(
            stamps,
            [(&moved, Some(1)), (&half, None), (&quiet, Some(3))]
        );
    }

    #[test]
    fn values_do_not_run_together() {
        let mut a = record();
        a.fields.tags = ["ab".to_string()].into();
        let mut b = record();
        b.fields.tags = ["a".to_string(), "b".to_string()].into();
        assert_ne!(record_digest(&a), record_digest(&b));
        let mut c = record();
        c.fields.notes = Some("x".into());
        c.fields.assignee = None;
        let mut d = record();
        d.fields.notes = None;
        d.fields.assignee = Some("x".into());
        assert_ne!(record_digest(&c), record_digest(&d));
    }
}
