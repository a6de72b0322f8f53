//! `crmsync undo RUN_ID`: a plan that reverts the writes a run made, on both sides, where the
//! field still holds the value that run wrote. A field changed since is a conflict and is left
//! alone. The plan then goes through the normal push path (and `--dry-run` through `plan`).
//!
//! Pure: the run's change log and the current values in, a plan out.

use std::collections::BTreeMap;

use crate::reconcile::{
    Change, Conflict, ConflictKind, CrmPatch, Field, InboxPatch, LinkInput, LinkKey, LinkPlan,
    Plan, ThreadPatch, Value, Vocabulary,
};
use crate::store::ChangeRow;

/// The Inbox value a change's target holds now: the prospect field, one thread's value, or
/// (for a fanned-out write to a prospect) the value all its threads share.
fn inbox_now(input: &LinkInput, target: &str, field: Field) -> Option<Value> {
    let thread_value = |t: &crate::reconcile::ThreadState| match field {
        Field::Assignee => Value::Assignee(t.assignee.clone()),
        _ => Value::Done(Some(t.done)),
    };
    if !field.is_thread_field() {
        return Some(input.inbox.fields.get(field));
    }
    if let Some(thread) = input.inbox.threads.iter().find(|t| t.thread_id == target) {
        return Some(thread_value(thread));
    }
    let mut values = input.inbox.threads.iter().map(thread_value);
    let first = values.next()?;
    values.all(|v| v == first).then_some(first)
}

/// A CRM value in Inbox vocabulary, for the base.
fn crm_to_inbox(value: &Value, vocab: &Vocabulary) -> Option<Value> {
    match value {
        Value::Status(Some(crm)) => match vocab.status_candidates(crm).as_slice() {
            [name] => Some(Value::Status(Some(name.to_string()))),
            _ => None,
        },
        other => Some(other.clone()),
    }
}

/// Builds the plan that undoes `changes` (one run's change log).
pub fn plan_undo(
    run: i64,
    changes: &[ChangeRow],
    inputs: &[LinkInput],
    vocab: &Vocabulary,
) -> Plan {
    let by_key: BTreeMap<(&str, &str), &LinkInput> = inputs
        .iter()
        .map(|i| ((i.key.prospect_id.as_str(), i.key.crm_id.as_str()), i))
        .collect();
    let mut links: BTreeMap<LinkKey, LinkPlan> = BTreeMap::new();
    // Newest first, so that a field written twice returns to its oldest value.
    for change in changes.iter().rev().filter(|c| c.status == "applied") {
        let (Some(prospect_id), Some(crm_id), Some(old), Some(new)) = (
            &change.prospect_id,
            &change.crm_id,
            &change.old_value,
            &change.new_value,
        ) else {
            continue;
        };
        let key = LinkKey {
            prospect_id: prospect_id.clone(),
            crm_id: crm_id.clone(),
        };
        let link = links.entry(key.clone()).or_insert_with(|| LinkPlan {
            key: key.clone(),
            inbox: None,
            threads: Vec::new(),
            crm: None,
            agreed: Vec::new(),
            conflicts: Vec::new(),
        });
        let Some(input) = by_key.get(&(prospect_id.as_str(), crm_id.as_str())) else {
            link.conflicts.push(conflict(
                &key,
                change,
                None,
                None,
                "the link is not active any more",
            ));
            continue;
        };
        let field = change.field;
        let (now, revert_to_inbox_vocab) = if change.side == "inbox" {
            (inbox_now(input, &change.target, field), Some(old.clone()))
        } else {
            // A CRM value that does not read is not the value the run wrote.
            let now = (!input.crm.unknown.contains(&field)).then(|| input.crm.fields.get(field));
            (now, crm_to_inbox(old, vocab))
        };
        if now.as_ref() != Some(new) {
            let (inbox, crm) = if change.side == "inbox" {
                (now.clone(), None)
            } else {
                (None, now.clone())
            };
            link.conflicts.push(conflict(
                &key,
                change,
                inbox,
                crm,
                &format!(
                    "{} changed on the {} side since run {run} wrote {}; undo leaves it",
                    field,
                    if change.side == "inbox" {
                        "Inbox"
                    } else {
                        "CRM"
                    },
                    new
                ),
            ));
            continue;
        }
        let revert = Change {
            old: new.clone(),
            new: old.clone(),
        };
        if change.side == "crm" {
            link.crm
                .get_or_insert_with(|| CrmPatch {
                    changes: Vec::new(),
                })
                .changes
                .push(revert);
        } else if field.is_thread_field() && change.target != *prospect_id {
            match link
                .threads
                .iter_mut()
                .find(|t| t.thread_id == change.target)
            {
                Some(patch) => patch.changes.push(revert),
                None => link.threads.push(ThreadPatch {
                    thread_id: change.target.clone(),
                    changes: vec![revert],
                }),
            }
        } else {
            link.inbox
                .get_or_insert_with(|| InboxPatch {
                    changes: Vec::new(),
                })
                .changes
                .push(revert);
        }
        if let Some(value) = revert_to_inbox_vocab {
            link.agreed.retain(|v| v.field() != field);
            link.agreed.push(value);
        }
    }
    let mut plan = Plan {
        links: links.into_values().collect(),
    };
    for link in &mut plan.links {
        // One change per field and side: the oldest value wins (it was pushed last above).
        for changes in link
            .inbox
            .iter_mut()
            .map(|p| &mut p.changes)
            .chain(link.crm.iter_mut().map(|p| &mut p.changes))
            .chain(link.threads.iter_mut().map(|t| &mut t.changes))
        {
            let mut seen: Vec<Field> = Vec::new();
            let mut kept: Vec<Change> = Vec::new();
            for c in changes.drain(..).rev() {
                if !seen.contains(&c.field()) {
                    seen.push(c.field());
                    kept.push(c);
                }
            }
            kept.sort_by_key(Change::field);
            *changes = kept;
        }
    }
    plan
}

fn conflict(
    key: &LinkKey,
    change: &ChangeRow,
    inbox: Option<Value>,
    crm: Option<Value>,
    detail: &str,
) -> Conflict {
    Conflict {
        key: key.clone(),
        field: change.field,
        kind: ConflictKind::BothChanged,
        inbox,
        crm,
        base: change.new_value.clone(),
        threads: Vec::new(),
        detail: detail.to_string(),
    }
}
