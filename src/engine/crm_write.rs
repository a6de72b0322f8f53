//! The CRM write of a run: one batch of updates (and creates) through the adapter, and what
//! became of each: changes for the log, refusals as conflicts, values handed over in an import
//! file as pending.

use std::collections::{HashMap, HashSet};

use anyhow::Context as _;

use crate::crm::{CrmAdapter, CrmWrite, NewRecord, WriteStatus};
use crate::reconcile::{self, ConflictKind, Field, LinkKey, Plan, Side, Value};
use crate::store::{BaseBefore, ChangeRow, ChangeStatus, ConflictField, ConflictRecord, LinkRow};

use super::receipts::Receipts;
use super::receipts::change_row;

/// What the CRM write did.
#[derive(Debug, Default)]
pub(super) struct CrmOutcome {
    /// The status of each write, by record id.
    pub status: HashMap<String, WriteStatus>,
    /// Values handed over in the import file this run (record id, value).
    pub new_pending: Vec<(String, Value)>,
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
    creates: &[(String, NewRecord)],
    unpushed: &HashSet<&str>,
    pending: &HashMap<String, Vec<Value>>,
    receipts: &mut Receipts<'_>,
) -> anyhow::Result<CrmOutcome> {
    let mut out = CrmOutcome::default();
    let prospect_of_record: HashMap<&str, &str> = plan
        .links
        .iter()
        .map(|l| (l.key.crm_id.as_str(), l.key.prospect_id.as_str()))
        .collect();
    let mut writes: Vec<CrmWrite> = plan
        .links
        .iter()
        .filter(|l| !unpushed.contains(l.key.prospect_id.as_str()))
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
    if writes.is_empty() {
        // Nothing handed over: an import file left by an earlier run holds values that no
        // longer wait (the rest of this run dropped them), and must not be imported.
        crm.withdraw_handover()
            .await
            .context("withdrawing the import file")?;
        return Ok(out);
    }
    // Every write's receipt before the batch goes out; each is settled by its status after.
    let key_of = |id: &str| LinkKey {
        prospect_id: prospect_of_record
            .get(id)
            .map_or_else(String::new, |p| p.to_string()),
        crm_id: id.to_string(),
    };
    let prospect_of_create: HashMap<&str, &str> = creates
        .iter()
        .map(|(prospect, record)| (record.id.as_str(), prospect.as_str()))
        .collect();
    let mut tickets = Vec::with_capacity(writes.len());
    for write in &writes {
        let rows: Vec<ChangeRow> = match write {
            // Values handed over again while still waiting for an import are not new changes.
            CrmWrite::Update { id, changes: cs } if is_rewrite(pending, id, cs) => Vec::new(),
            CrmWrite::Update { id, changes: cs } => {
                let key = key_of(id);
                cs.iter()
                    .map(|c| change_row(Side::Crm, id, &key, c, ChangeStatus::Attempted))
                    .collect()
            }
            CrmWrite::Create(record) => vec![ChangeRow {
                side: Side::Crm,
                target: record.id.clone(),
                field: Field::Tags,
                old: "(no record)".into(),
                new: format!("created for @{}", record.username),
                status: ChangeStatus::Attempted,
                prospect_id: prospect_of_create
                    .get(record.id.as_str())
                    .map(|p| p.to_string()),
                crm_id: Some(record.id.clone()),
                old_value: None,
                new_value: None,
                base_before: BaseBefore::NotRecorded,
            }],
        };
        tickets.push(receipts.intend(&rows)?);
    }
    let outcome = crm.write(&writes).await.context("writing the CRM")?;
    for ((write, status), ticket) in writes.iter().zip(outcome.statuses).zip(tickets) {
        receipts.settle(
            ticket,
            match &status {
                WriteStatus::Confirmed => ChangeStatus::Applied,
                WriteStatus::Pending => ChangeStatus::Pending,
                WriteStatus::Failed(_) => ChangeStatus::Failed,
            },
        )?;
        match write {
            CrmWrite::Update { id, changes: cs } => {
                match &status {
                    WriteStatus::Failed(reason) => {
                        let prospect = prospect_of_record.get(id.as_str());
                        let (kind, field, detail) = match status.unmapped_detail() {
                            // A value with no counterpart in the CRM: the detail names the
                            // field and the value.
                            Some(detail) => (
                                ConflictKind::Unmapped,
                                unmapped_field(cs, detail),
                                detail.to_string(),
                            ),
                            None => (
                                ConflictKind::RejectedByApi,
                                cs.first()
                                    .map_or(ConflictField::Record, |c| c.field().into()),
                                format!("the CRM refused the update of {id}: {reason}"),
                            ),
                        };
                        out.conflicts.push(ConflictRecord {
                            prospect_id: prospect.map_or_else(String::new, |p| p.to_string()),
                            username: None,
                            platform_id: None,
                            crm_id: id.clone(),
                            field,
                            kind,
                            inbox: None,
                            crm: None,
                            base: None,
                            detail,
                        });
                    }
                    WriteStatus::Pending if is_rewrite(pending, id, cs) => {
                        out.pending_rewrites += 1;
                    }
                    WriteStatus::Pending | WriteStatus::Confirmed => {}
                }
                if !matches!(status, WriteStatus::Failed(_)) {
                    out.writes += 1;
                }
                if matches!(status, WriteStatus::Pending) {
                    out.handed_over += 1;
                    out.new_pending
                        .extend(cs.iter().map(|c| (id.clone(), c.new.clone())));
                }
            }
            CrmWrite::Create(_) => {
                if !matches!(status, WriteStatus::Failed(_)) {
                    out.writes += 1;
                }
                if matches!(status, WriteStatus::Pending) {
                    out.handed_over += 1;
                }
            }
        }
        out.status.insert(write.id().to_string(), status);
    }
    Ok(out)
}

/// Whether an update only hands over again values already waiting in an import file.
fn is_rewrite(
    pending: &HashMap<String, Vec<Value>>,
    id: &str,
    changes: &[reconcile::Change],
) -> bool {
    pending
        .get(id)
        .is_some_and(|vals| changes.iter().all(|c| vals.contains(&c.new)))
}

/// `pending-import` entries for the values handed over in an import file: visible in the log
/// until the export shows the value.
pub(super) fn pending_import_conflicts(
    new_pending: &[(String, Value)],
    links: &[LinkRow],
    identity_of: &dyn Fn(&str) -> (String, String),
) -> Vec<ConflictRecord> {
    let mut out = Vec::new();
    if new_pending.is_empty() {
        return out;
    }
    let prospect_of: HashMap<&str, &str> = links
        .iter()
        .map(|l| (l.crm_id.as_str(), l.prospect_id.as_str()))
        .collect();
    for (crm_id, values) in
        new_pending
            .iter()
            .fold(HashMap::<&str, Vec<&Value>>::new(), |mut m, (id, v)| {
                m.entry(id.as_str()).or_default().push(v);
                m
            })
    {
        let prospect = prospect_of.get(crm_id).copied().unwrap_or_default();
        let (username, platform_id) = identity_of(prospect);
        for value in values {
            out.push(ConflictRecord {
                prospect_id: prospect.to_string(),
                username: (!username.is_empty()).then(|| username.clone()),
                platform_id: (!platform_id.is_empty()).then(|| platform_id.clone()),
                crm_id: crm_id.to_string(),
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
