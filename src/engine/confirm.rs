//! Which agreed values the base may move to: only those confirmed on every side that had to
//! be written. This is the invariant that makes a failed or partial push safe: a value that did
//! not land stays out of the base, so the next run sees the difference again and retries it.
//! Pure: the push outcomes in, the values out.

use std::collections::{HashMap, HashSet};

use crate::crm::WriteStatus;
use crate::reconcile::{ContactId, Field, LinkPlan, Plan, RecordId, Value};

/// The (prospect id, value) pairs of `plan`'s agreed values that are confirmed: a value is
/// confirmed when each side that the plan writes for its field confirmed the write: the Inbox
/// side through `inbox_confirmed` (the fields each prospect's PATCH, and the read-back of
/// fanned-out fields, confirmed), the CRM side through `crm_status` (`Confirmed` only: a value
/// handed over in an import file is `Pending` and does not count). A side the plan does not
/// write for that field already holds the value. Prospects left `unpushed` (the request budget
/// ran out) move nothing.
pub fn confirmed_values(
    plan: &Plan,
    unpushed: &HashSet<&ContactId>,
    inbox_confirmed: &HashMap<ContactId, HashSet<Field>>,
    crm_status: &HashMap<RecordId, WriteStatus>,
) -> Vec<(ContactId, Value)> {
    let mut confirmed = Vec::new();
    for link in plan
        .links
        .iter()
        .filter(|l| !unpushed.contains(&l.key.prospect_id))
    {
        let inbox_done = inbox_confirmed.get(&link.key.prospect_id);
        let crm_ok = link.crm.is_none()
            || matches!(
                crm_status.get(&link.key.crm_id),
                Some(WriteStatus::Confirmed)
            );
        for value in &link.agreed {
            let field = value.field();
            let inbox_ok =
                !writes_inbox(link, field) || inbox_done.is_some_and(|f| f.contains(&field));
            if inbox_ok && (!writes_crm(link, field) || crm_ok) {
                confirmed.push((link.key.prospect_id.clone(), value.clone()));
            }
        }
    }
    confirmed
}

/// For each value handed over in an import file (`pending`: record id, CRM value), the agreed
/// value (Inbox vocabulary) it stands for, when the Inbox side of it is confirmed: the base it
/// moves the link to once the export shows it. (Until then the base stays: the CRM does not
/// hold it yet.)
pub fn pending_bases(
    plan: &Plan,
    pending: &[(RecordId, Value)],
    unpushed: &HashSet<&ContactId>,
    inbox_confirmed: &HashMap<ContactId, HashSet<Field>>,
) -> Vec<(RecordId, Value, Option<Value>)> {
    let by_record: HashMap<&str, &LinkPlan> = plan
        .links
        .iter()
        .map(|l| (l.key.crm_id.as_str(), l))
        .collect();
    pending
        .iter()
        .map(|(crm_id, value)| {
            let field = value.field();
            let base = by_record.get(crm_id.as_str()).and_then(|link| {
                let inbox_ok = !unpushed.contains(&link.key.prospect_id)
                    && (!writes_inbox(link, field)
                        || inbox_confirmed
                            .get(&link.key.prospect_id)
                            .is_some_and(|f| f.contains(&field)));
                link.agreed
                    .iter()
                    .find(|v| v.field() == field)
                    .filter(|_| inbox_ok)
                    .cloned()
            });
            (crm_id.clone(), value.clone(), base)
        })
        .collect()
}

/// The agreed values of `plan` that no side needs a write for: what both sides already hold.
/// A re-baseline (`sync --resync`) records only these.
pub fn already_shared(plan: &Plan) -> Vec<(ContactId, Value)> {
    plan.links
        .iter()
        .flat_map(|link| {
            link.agreed
                .iter()
                .filter(|v| !writes_inbox(link, v.field()) && !writes_crm(link, v.field()))
                .map(|v| (link.key.prospect_id.clone(), v.clone()))
        })
        .collect()
}

/// The plan writes `field` on the Inbox side (the context patch or a thread patch).
fn writes_inbox(link: &LinkPlan, field: Field) -> bool {
    link.inbox
        .as_ref()
        .is_some_and(|p| p.changes.iter().any(|c| c.field() == field))
        || link
            .threads
            .iter()
            .any(|t| t.changes.iter().any(|c| c.field() == field))
}

/// The plan writes `field` on the CRM side.
fn writes_crm(link: &LinkPlan, field: Field) -> bool {
    link.crm
        .as_ref()
        .is_some_and(|p| p.changes.iter().any(|c| c.field() == field))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::{Change, CrmPatch, InboxPatch, LinkKey};

    fn notes(text: &str) -> Value {
        Value::Notes(Some(text.into()))
    }

    /// A link whose notes go to Inbox and whose valuation goes to the CRM; status agreed and
    /// written nowhere.
    fn link(id: &str) -> LinkPlan {
        let valuation = Value::Valuation(Some("10".parse().unwrap()));
        LinkPlan {
            key: LinkKey {
                prospect_id: id.into(),
                crm_id: format!("r-{id}").into(),
            },
            inbox: Some(InboxPatch {
                changes: vec![Change {
                    old: notes("old"),
                    new: notes("new"),
                }],
            }),
            threads: Vec::new(),
            crm: Some(CrmPatch {
                changes: vec![Change {
                    old: Value::Valuation(None),
                    new: valuation.clone(),
                }],
            }),
            agreed: vec![notes("new"), valuation, Value::Status(Some("Won".into()))],
            conflicts: Vec::new(),
        }
    }

    fn fields(list: &[(&str, &[Field])]) -> HashMap<ContactId, HashSet<Field>> {
        list.iter()
            .map(|(id, f)| ((*id).into(), f.iter().copied().collect()))
            .collect()
    }

    fn moved(values: &[(ContactId, Value)]) -> Vec<(&str, Field)> {
        values
            .iter()
            .map(|(p, v)| (p.as_str(), v.field()))
            .collect()
    }

    #[test]
    fn a_value_moves_the_base_only_once_every_side_that_writes_it_confirmed() {
        let plan = Plan {
            links: vec![link("a"), link("b"), link("c"), link("d")],
        };
        let inbox = fields(&[("a", &[Field::Notes]), ("b", &[]), ("c", &[Field::Notes])]);
        let crm: HashMap<RecordId, WriteStatus> = [
            ("r-a".into(), WriteStatus::Confirmed),
            ("r-b".into(), WriteStatus::Confirmed),
            ("r-c".into(), WriteStatus::Pending),
            ("r-d".into(), WriteStatus::Failed("refused".into())),
        ]
        .into();
        let d = ContactId::from("d");
        let unpushed: HashSet<&ContactId> = [&d].into();
        let confirmed = confirmed_values(&plan, &unpushed, &inbox, &crm);
        assert_eq!(
            moved(&confirmed),
            [
                // a: both writes confirmed, and the status needed no write.
                ("a", Field::Notes),
                ("a", Field::Valuation),
                ("a", Field::Status),
                // b: the Inbox PATCH did not confirm the notes.
                ("b", Field::Valuation),
                ("b", Field::Status),
                // c: the CRM value waits in an import file.
                ("c", Field::Notes),
                ("c", Field::Status),
                // d: not pushed at all this run.
            ]
        );
    }

    #[test]
    fn a_re_baseline_keeps_only_the_values_no_side_has_to_write() {
        let plan = Plan {
            links: vec![link("a")],
        };
        assert_eq!(moved(&already_shared(&plan)), [("a", Field::Status)]);
    }
}
