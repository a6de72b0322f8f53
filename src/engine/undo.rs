//! `crmsync undo RUN_ID`: a plan that reverts the writes a run made, on both sides, where the
//! field still holds the value that run wrote. A field changed since is a conflict and is left
//! alone. The plan then goes through the normal push path (and `--dry-run` through `plan`).
//!
//! The base of each reverted field goes back to what it was before the run (recorded with
//! each change), never to a value only one side holds.
//!
//! Pure: the run's change log and the current values in, a plan and base restorations out.

use std::collections::{BTreeMap, BTreeSet};

use crate::reconcile::{
    Change, Conflict, ConflictKind, ContactId, CrmPatch, Field, InboxPatch, LinkInput, LinkKey,
    LinkPlan, Plan, Side, ThreadPatch, Value, Vocabulary, thread_value,
};
use crate::store::{BaseBefore, ChangeRow, ChangeStatus, RunId};

/// The Inbox value a change's target holds now: the prospect field, one thread's value, or
/// (for a fanned-out write to a prospect) the value all its threads share.
fn inbox_now(input: &LinkInput, target: &str, field: Field) -> Option<Value> {
    let thread_value = |t| thread_value(field, t);
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

/// What undoing a run does: the writes that revert it, and where the base goes back to.
#[derive(Debug, Default)]
pub struct Undo {
    /// The reverting writes (through the normal push path).
    pub plan: Plan,
    /// For each (prospect, field) the undo reverts on every side the run wrote it: the base it
    /// returns to, the one the run's writes were made against (`None`: no base). Never a value
    /// only one side holds: after an undo of a run that wrote both sides (a resolution, a policy
    /// decision), each side holds its own value again and the next sync sees both changed; a
    /// field the undo must leave on one side (changed since) keeps the base the run set.
    pub base: Vec<(ContactId, Field, Option<Value>)>,
}

/// Builds the plan that undoes `changes` (one run's change log).
pub fn plan_undo(
    run: RunId,
    changes: &[ChangeRow],
    inputs: &[LinkInput],
    vocab: &Vocabulary,
) -> Undo {
    let mut undoing = Undoing {
        run,
        vocab,
        inputs: inputs
            .iter()
            .map(|i| ((i.key.prospect_id.as_str(), i.key.crm_id.as_str()), i))
            .collect(),
        written: sides_written(changes),
        links: BTreeMap::new(),
        base: BTreeMap::new(),
        kept: BTreeSet::new(),
    };
    // Newest first, so that a field written twice returns to its oldest value.
    for change in changes.iter().rev().filter(|c| revertible(c)) {
        undoing.undo(change);
    }
    undoing.finish()
}

/// The sides each (prospect, field) was written on by the run.
fn sides_written(changes: &[ChangeRow]) -> BTreeMap<(&str, Field), Vec<Side>> {
    let mut written: BTreeMap<(&str, Field), Vec<Side>> = BTreeMap::new();
    for change in changes.iter().filter(|c| revertible(c)) {
        if let Some(prospect_id) = &change.prospect_id {
            written
                .entry((prospect_id.as_str(), change.field))
                .or_default()
                .push(change.side);
        }
    }
    written
}

/// An undo being built, one logged change at a time (newest first).
struct Undoing<'c> {
    run: RunId,
    vocab: &'c Vocabulary,
    /// The current inputs of the active links, by (prospect, record).
    inputs: BTreeMap<(&'c str, &'c str), &'c LinkInput>,
    /// The sides each (prospect, field) was written on by the run.
    written: BTreeMap<(&'c str, Field), Vec<Side>>,
    /// The reverting writes and the conflicts so far, by link.
    links: BTreeMap<LinkKey, LinkPlan>,
    /// Where the base of each reverted field goes.
    base: BTreeMap<(ContactId, Field), Option<Value>>,
    /// Fields the undo leaves on one side at least: their base does not go back.
    kept: BTreeSet<(ContactId, Field)>,
}

impl<'c> Undoing<'c> {
    /// Reverts one logged change where its target still holds the value the run wrote; a
    /// conflict where it does not (or where the link is gone).
    fn undo(&mut self, change: &'c ChangeRow) {
        let (Some(prospect_id), Some(crm_id), Some(old), Some(new)) = (
            &change.prospect_id,
            &change.crm_id,
            &change.old_value,
            &change.new_value,
        ) else {
            return;
        };
        let key = LinkKey {
            prospect_id: prospect_id.clone(),
            crm_id: crm_id.clone(),
        };
        let link = self.links.entry(key.clone()).or_insert_with(|| LinkPlan {
            key: key.clone(),
            inbox: None,
            threads: Vec::new(),
            crm: None,
            agreed: Vec::new(),
            conflicts: Vec::new(),
        });
        let Some(input) = self.inputs.get(&(prospect_id.as_str(), crm_id.as_str())) else {
            let gone = "the link is not active any more";
            link.conflicts
                .push(conflict(&key, change, None, None, gone));
            return;
        };
        let field = change.field;
        let now = value_now(input, change);
        if now.as_ref() != Some(new) {
            link.conflicts
                .push(moved_since(self.run, &key, change, (old, new), now));
            // A side the undo leaves as it is: the base stays where the run put it, since the
            // restored one would now be held by one side only (or by neither).
            self.kept.insert((prospect_id.clone(), field));
            return;
        }
        let revert = Change {
            old: new.clone(),
            new: old.clone(),
        };
        add_revert(link, change, revert);
        let sides = self
            .written
            .get(&(prospect_id.as_str(), field))
            .map_or(&[][..], Vec::as_slice);
        if let Some(value) = base_to_restore(change, sides, self.vocab) {
            // The oldest change of the field comes last and wins.
            self.base.insert((prospect_id.clone(), field), value);
        }
    }

    /// The undo: the plan, one change per field and side, and the bases to restore (but of
    /// the fields it leaves on a side).
    fn finish(self) -> Undo {
        let mut plan = Plan {
            links: self.links.into_values().collect(),
        };
        for link in &mut plan.links {
            keep_oldest(link);
        }
        let kept = self.kept;
        Undo {
            plan,
            base: (self.base.into_iter())
                .filter(|(key, _)| !kept.contains(key))
                .map(|((prospect_id, field), value)| (prospect_id, field, value))
                .collect(),
        }
    }
}

/// The value a change's target holds now, on the side the change wrote.
fn value_now(input: &LinkInput, change: &ChangeRow) -> Option<Value> {
    let field = change.field;
    match change.side {
        Side::Inbox => inbox_now(input, &change.target, field),
        // A CRM value that does not read is not the value the run wrote.
        Side::Crm => (!input.crm.unknown.contains(&field)).then(|| input.crm.fields.get(field)),
    }
}

/// The conflict of a change whose target no longer holds what the run wrote (`now`): changed
/// since, or still waiting in an import file. Undo leaves it.
fn moved_since(
    run: RunId,
    key: &LinkKey,
    change: &ChangeRow,
    (old, new): (&Value, &Value),
    now: Option<Value>,
) -> Conflict {
    let field = change.field;
    let (inbox, crm) = match change.side {
        Side::Inbox => (now.clone(), None),
        Side::Crm => (None, now.clone()),
    };
    let detail = if change.status == ChangeStatus::Pending && now.as_ref() == Some(old) {
        format!(
            "{field} = {new} from run {run} is still waiting in the import file, not in the CRM; undo leaves it (do not import that row)"
        )
    } else {
        format!(
            "{field} changed on the {} side since run {run} wrote {new}; undo leaves it",
            change.side.label()
        )
    };
    conflict(key, change, inbox, crm, &detail)
}

/// Adds `revert` to the patch of the side and target that `change` wrote: the CRM record,
/// one thread, or the prospect (a prospect field, or a thread field fanned out to all).
fn add_revert(link: &mut LinkPlan, change: &ChangeRow, revert: Change) {
    if change.side == Side::Crm {
        link.crm
            .get_or_insert_with(|| CrmPatch {
                changes: Vec::new(),
            })
            .changes
            .push(revert);
    } else if change.field.is_thread_field() && link.key.prospect_id != change.target.as_str() {
        match link
            .threads
            .iter_mut()
            .find(|t| t.thread_id == change.target.as_str())
        {
            Some(patch) => patch.changes.push(revert),
            None => link.threads.push(ThreadPatch {
                thread_id: change.target.as_str().into(),
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
}

/// One change per field and side: the oldest value wins (it was pushed last).
fn keep_oldest(link: &mut LinkPlan) {
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

/// A logged write that an undo may revert: one that reached its side, or that was handed over
/// in an import file (the CRM holds it once imported), or one whose run stopped before its
/// answer came (it may have landed). Undo checks that the side holds the written value.
pub fn revertible(change: &ChangeRow) -> bool {
    matches!(
        change.status,
        ChangeStatus::Applied | ChangeStatus::Pending | ChangeStatus::Attempted
    )
}

/// Where the base of a reverted field goes: the base the run's write was made against. For a
/// change logged before that was recorded, the value the written side held before, but only
/// when the run wrote that one side (a one-sided copy, where that value was the base); when it
/// wrote both sides, neither side's old value was confirmed by the other, and the base stays.
/// `None` outside: leave the base as it is; `Some(None)`: the field had no base.
fn base_to_restore(
    change: &ChangeRow,
    sides_written: &[Side],
    vocab: &Vocabulary,
) -> Option<Option<Value>> {
    match &change.base_before {
        BaseBefore::Held(value) => Some(Some(value.clone())),
        BaseBefore::Absent => Some(None),
        BaseBefore::NotRecorded => {
            let one_sided = sides_written.iter().all(|s| *s == change.side);
            if !one_sided {
                return None;
            }
            let old = change.old_value.as_ref()?;
            match change.side {
                Side::Inbox => Some(Some(old.clone())),
                Side::Crm => crm_to_inbox(old, vocab).map(Some),
            }
        }
    }
}

/// A both-changed conflict of one logged change that undo leaves, saying why in `detail`.
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
