//! The CRM write of a run: one batch of updates (and creates) through the adapter, and what
//! became of each: changes for the log, refusals as conflicts, values handed over in an import
//! file as pending.

use std::collections::{HashMap, HashSet};

use anyhow::Context as _;

use crate::crm::{CrmAdapter, CrmWrite, NewRecord, WriteStatus};
use crate::reconcile::{
    self, ConflictKind, ContactId, Field, LinkKey, Plan, RecordId, Side, Value,
};
use crate::store::{BaseBefore, ChangeRow, ChangeStatus, ConflictField, ConflictRecord, LinkRow};

use super::receipts::Receipts;
use super::receipts::change_row;

/// What the CRM write did.
#[derive(Debug, Default)]
pub(super) struct CrmOutcome {
    /// The status of each write, by record id.
    pub status: HashMap<RecordId, WriteStatus>,
    /// Values handed over in the import file this run (record id, value).
    pub new_pending: Vec<(RecordId, Value)>,
    /// Refusals: `rejected-by-api` or `unmapped` conflicts.
    pub conflicts: Vec<ConflictRecord>,
    /// Records written (confirmed or handed over).
    pub writes: u64,
    /// Of `writes`, records handed over again while still waiting for an import.
    pub pending_rewrites: u64,
    /// Of `writes`, records handed over in an import file (new or again).
    pub handed_over: u64,
}

/// Writes the plan's CRM patches (but for the prospects left `unpushed` on the Inbox side) and
/// the records to create, in one adapter batch. `pending` holds the values already waiting in
/// an import file, by record id: re-handing them is not a new change.
pub(super) async fn write_crm<A: CrmAdapter>(
    crm: &mut A,
    plan: &Plan,
    creates: &[(ContactId, NewRecord)],
    unpushed: &HashSet<&ContactId>,
    pending: &HashMap<RecordId, Vec<Value>>,
    receipts: &mut Receipts<'_>,
) -> anyhow::Result<CrmOutcome> {
    let mut out = CrmOutcome::default();
    let writes = batch(plan, creates, unpushed);
    if writes.is_empty() {
        // Nothing handed over: an import file left by an earlier run holds values that no
        // longer wait (the rest of this run dropped them), and must not be imported.
        crm.withdraw_handover()
            .await
            .context("withdrawing the import file")?;
        return Ok(out);
    }
    let owners = Owners::new(plan, creates);
    // Every write's receipt before the batch goes out; each is settled by its status after.
    let mut tickets = Vec::with_capacity(writes.len());
    for write in &writes {
        tickets.push(receipts.intend(&owners.receipt_rows(write, pending))?);
    }
    let outcome = crm.write(&writes).await.context("writing the CRM")?;
    for ((write, status), ticket) in writes.iter().zip(outcome.statuses).zip(tickets) {
        receipts.settle(ticket, receipt_status(&status))?;
        out.count(write, &status, pending, &owners);
        out.status.insert(write.id().clone(), status);
    }
    Ok(out)
}

/// The batch: an update per CRM patch of a prospect pushed on the Inbox side, then the creates.
fn batch(
    plan: &Plan,
    creates: &[(ContactId, NewRecord)],
    unpushed: &HashSet<&ContactId>,
) -> Vec<CrmWrite> {
    let mut writes: Vec<CrmWrite> = plan
        .links
        .iter()
        .filter(|l| !unpushed.contains(&l.key.prospect_id))
        .filter_map(|l| {
            l.crm.as_ref().map(|p| CrmWrite::Update {
                id: l.key.crm_id.clone(),
                changes: p.changes.clone(),
            })
        })
        .collect();
    writes.extend(
        creates
            .iter()
            .map(|(_, record)| CrmWrite::Create(record.clone())),
    );
    writes
}

/// The receipt status of a write's answer.
fn receipt_status(status: &WriteStatus) -> ChangeStatus {
    match status {
        WriteStatus::Confirmed => ChangeStatus::Applied,
        WriteStatus::Pending => ChangeStatus::Pending,
        WriteStatus::Failed(_) => ChangeStatus::Failed,
    }
}

/// The prospect each write of the batch is for, by record id.
struct Owners<'p> {
    /// Of the records the plan updates.
    of_record: HashMap<&'p RecordId, &'p ContactId>,
    /// Of the records created.
    of_create: HashMap<&'p RecordId, &'p ContactId>,
}

impl<'p> Owners<'p> {
    fn new(plan: &'p Plan, creates: &'p [(ContactId, NewRecord)]) -> Self {
        Owners {
            of_record: plan
                .links
                .iter()
                .map(|l| (&l.key.crm_id, &l.key.prospect_id))
                .collect(),
            of_create: creates
                .iter()
                .map(|(prospect, record)| (&record.id, prospect))
                .collect(),
        }
    }

    /// The link of an updated record (no prospect id if the plan has none for it).
    fn key_of(&self, id: &RecordId) -> LinkKey {
        LinkKey {
            prospect_id: self.of_record.get(id).copied().cloned().unwrap_or_default(),
            crm_id: id.clone(),
        }
    }

    /// The receipt rows of one write, recorded before the batch goes out.
    fn receipt_rows(
        &self,
        write: &CrmWrite,
        pending: &HashMap<RecordId, Vec<Value>>,
    ) -> Vec<ChangeRow> {
        match write {
            // Values handed over again while still waiting for an import are not new changes.
            CrmWrite::Update { id, changes: cs } if is_rewrite(pending, id, cs) => Vec::new(),
            CrmWrite::Update { id, changes: cs } => {
                let key = self.key_of(id);
                cs.iter()
                    .map(|c| change_row(Side::Crm, id.as_str(), &key, c, ChangeStatus::Attempted))
                    .collect()
            }
            CrmWrite::Create(record) => vec![ChangeRow {
                side: Side::Crm,
                target: record.id.to_string(),
                field: Field::Tags,
                old: "(no record)".into(),
                new: format!("created for @{}", record.username),
                status: ChangeStatus::Attempted,
                prospect_id: self.of_create.get(&record.id).copied().cloned(),
                crm_id: Some(record.id.clone()),
                old_value: None,
                new_value: None,
                base_before: BaseBefore::NotRecorded,
            }],
        }
    }
}

impl CrmOutcome {
    /// Counts what became of one write: written, handed over (its values pending), or refused
    /// (a conflict, for updates).
    fn count(
        &mut self,
        write: &CrmWrite,
        status: &WriteStatus,
        pending: &HashMap<RecordId, Vec<Value>>,
        owners: &Owners<'_>,
    ) {
        let handed_over = matches!(status, WriteStatus::Pending);
        if let CrmWrite::Update { id, changes: cs } = write {
            match status {
                WriteStatus::Failed(reason) => {
                    let prospect = owners.of_record.get(id).copied();
                    let conflict = update_refused(id, cs, status, reason, prospect);
                    self.conflicts.push(conflict);
                }
                WriteStatus::Pending if is_rewrite(pending, id, cs) => {
                    self.pending_rewrites += 1;
                }
                WriteStatus::Pending | WriteStatus::Confirmed => {}
            }
            if handed_over {
                self.new_pending
                    .extend(cs.iter().map(|c| (id.clone(), c.new.clone())));
            }
        }
        if !matches!(status, WriteStatus::Failed(_)) {
            self.writes += 1;
        }
        if handed_over {
            self.handed_over += 1;
        }
    }
}

/// The conflict of an update the CRM refused (`status`, for `reason`): `unmapped` for a value
/// with no counterpart in the CRM, else `rejected-by-api`.
fn update_refused(
    id: &RecordId,
    changes: &[reconcile::Change],
    status: &WriteStatus,
    reason: &str,
    prospect: Option<&ContactId>,
) -> ConflictRecord {
    let (kind, field, detail) = match status.unmapped_detail() {
        // A value with no counterpart in the CRM: the detail names the field and the value.
        Some(detail) => (
            ConflictKind::Unmapped,
            unmapped_field(changes, detail),
            detail.to_string(),
        ),
        None => (
            ConflictKind::RejectedByApi,
            changes
                .first()
                .map_or(ConflictField::Record, |c| c.field().into()),
            format!("the CRM refused the update of {id}: {reason}"),
        ),
    };
    ConflictRecord {
        prospect_id: prospect.cloned().unwrap_or_default(),
        username: None,
        platform_id: None,
        crm_id: id.clone(),
        field,
        kind,
        inbox: None,
        crm: None,
        base: None,
        detail,
    }
}

/// Whether an update only hands over again values already waiting in an import file.
fn is_rewrite(
    pending: &HashMap<RecordId, Vec<Value>>,
    id: &RecordId,
    changes: &[reconcile::Change],
) -> bool {
    pending
        .get(id)
        .is_some_and(|vals| changes.iter().all(|c| vals.contains(&c.new)))
}

/// `pending-import` entries for the values handed over in an import file: visible in the log
/// until the export shows the value.
pub(super) fn pending_import_conflicts(
    new_pending: &[(RecordId, Value)],
    links: &[LinkRow],
    identity_of: &dyn Fn(&ContactId) -> (String, String),
) -> Vec<ConflictRecord> {
    let mut out = Vec::new();
    if new_pending.is_empty() {
        return out;
    }
    let prospect_of: HashMap<&RecordId, &ContactId> =
        links.iter().map(|l| (&l.crm_id, &l.prospect_id)).collect();
    for (crm_id, values) in new_pending.iter().fold(
        HashMap::<&RecordId, Vec<&Value>>::new(),
        |mut m, (id, v)| {
            m.entry(id).or_default().push(v);
            m
        },
    ) {
        let prospect = prospect_of
            .get(crm_id)
            .copied()
            .cloned()
            .unwrap_or_default();
        let (username, platform_id) = identity_of(&prospect);
        for value in values {
            out.push(ConflictRecord {
                prospect_id: prospect.clone(),
                username: (!username.is_empty()).then(|| username.clone()),
                platform_id: (!platform_id.is_empty()).then(|| platform_id.clone()),
                crm_id: crm_id.clone(),
                field: value.field().into(),
                kind: ConflictKind::PendingImport,
                inbox: None,
                crm: Some(value.to_string()),
                base: None,
                detail: format!(
                    "{} = {} is in the import file; it counts once the CRM export shows it",
                    value.field(),
                    value
                ),
            });
        }
    }
    out
}

/// The field an unmapped-value refusal is about: the changed field its detail names (the
/// adapter names the field, e.g. "tag \"X\" is not an option…"), else the first change.
fn unmapped_field(changes: &[reconcile::Change], detail: &str) -> ConflictField {
    changes
        .iter()
        .map(|c| c.field())
        .find(|f| {
            let name = f.as_str();
            detail.starts_with(name.strip_suffix('s').unwrap_or(name))
        })
        .or_else(|| changes.first().map(|c| c.field()))
        .map_or(ConflictField::Record, ConflictField::Field)
}
