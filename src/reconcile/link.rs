//! Reconciling one link, and a whole run: per field, map the values into Inbox vocabulary, read
//! the fan-out, merge, and turn the decision into writes, an agreed value or a conflict.
//!
//! The order of the steps is the safety argument: a field is written only after both sides'
//! values mapped cleanly, the merge settled it, and the value to write reads back as itself. A
//! conflict therefore never comes with a write to its field. No I/O, no clock.

use super::fanout::{InboxView, Target, disagreement, inbox_view};
use super::ids::ThreadId;
use super::merge::{Decision, Sides, Times, decide};
use super::model::{
    Change, Conflict, ConflictKind, CrmPatch, FanoutMode, Field, InboxPatch, LinkInput, LinkPlan,
    Plan, Policy, ThreadPatch, ThreadState, Value, Vocabulary,
};
use super::notes;
use super::vocab::{Unmapped, canonical, check_inbox, crm_equivalent, crm_to_inbox, inbox_to_crm};

/// Reconciles every link and returns a plan entry for each link with something to say: a
/// write, an agreed value (the base to record) or a conflict. The entries are sorted by
/// [`LinkKey`](super::LinkKey), so the plan does not depend on the order of `inputs`.
pub fn plan(inputs: &[LinkInput], policy: &Policy, vocab: &Vocabulary) -> Plan {
    let mut ordered: Vec<&LinkInput> = inputs.iter().collect();
    // Two inputs for one key are an identity problem the matcher reports; the tie-break only
    // keeps the output independent of the input order should they reach the core anyway.
    ordered.sort_by(|a, b| {
        a.key
            .cmp(&b.key)
            .then_with(|| format!("{a:?}").cmp(&format!("{b:?}")))
    });
    let links = ordered
        .into_iter()
        .map(|input| reconcile_link(input, policy, vocab))
        .filter(|link| !link.agreed.is_empty() || !link.is_noop() || !link.conflicts.is_empty())
        .collect();
    Plan { links }
}

/// Reconciles one link: every field in `policy.fields`, in [`Field`] order.
pub fn reconcile_link(input: &LinkInput, policy: &Policy, vocab: &Vocabulary) -> LinkPlan {
    let mut inbox_changes = Vec::new();
    let mut thread_changes: Vec<(ThreadId, Change)> = Vec::new();
    let mut crm_changes = Vec::new();
    let mut agreed = Vec::new();
    let mut conflicts = Vec::new();

    for field in Field::ALL {
        // A field the CRM record could not give is unknown: nothing is compared, written or
        // agreed for it, so neither side and the base change until the CRM value reads.
        if !policy.fields.contains(&field) || input.crm.unknown.contains(&field) {
            continue;
        }
        match reconcile_field(input, policy, vocab, field) {
            Outcome::Skipped => {}
            Outcome::Conflict(conflict) => conflicts.push(*conflict),
            Outcome::Settled(settled) => {
                inbox_changes.extend(settled.inbox);
                thread_changes.extend(settled.threads);
                crm_changes.extend(settled.crm);
                agreed.push(settled.value);
            }
        }
    }

    // One patch per thread, threads by id, changes in field order (fields were visited in
    // order and the sort is stable).
    thread_changes.sort_by(|a, b| a.0.cmp(&b.0));
    let mut threads: Vec<ThreadPatch> = Vec::new();
    for (thread_id, change) in thread_changes {
        match threads.last_mut() {
            Some(patch) if patch.thread_id == thread_id => patch.changes.push(change),
            _ => threads.push(ThreadPatch {
                thread_id,
                changes: vec![change],
            }),
        }
    }

    LinkPlan {
        key: input.key.clone(),
        inbox: (!inbox_changes.is_empty()).then_some(InboxPatch {
            changes: inbox_changes,
        }),
        threads,
        crm: (!crm_changes.is_empty()).then_some(CrmPatch {
            changes: crm_changes,
        }),
        agreed,
        conflicts,
    }
}

/// What became of one field of one link.
enum Outcome {
    /// Not planned and not recorded (no thread to hold it, or fan-out mode `skip`).
    Skipped,
    /// Settled: the agreed value and the writes that get both sides there.
    Settled(Settled),
    /// Not settled: nothing is written to the field on either side.
    Conflict(Box<Conflict>),
}

/// A settled field.
struct Settled {
    /// The value both sides will hold (Inbox vocabulary).
    value: Value,
    /// Prospect-level Inbox change.
    inbox: Option<Change>,
    /// Per-thread Inbox changes.
    threads: Vec<(ThreadId, Change)>,
    /// CRM change (CRM vocabulary).
    crm: Option<Change>,
}

/// The values of one field on one link, once read.
struct FieldView<'a> {
    input: &'a LinkInput,
    field: Field,
    /// The raw CRM value (CRM vocabulary).
    crm_raw: Value,
    /// The canonical base, if any.
    base: Option<Value>,
}

impl FieldView<'_> {
    /// A conflict on this field.
    fn conflict(
        &self,
        kind: ConflictKind,
        inbox: Option<Value>,
        threads: Vec<ThreadState>,
        detail: String,
    ) -> Outcome {
        Outcome::Conflict(Box::new(Conflict {
            key: self.input.key.clone(),
            field: self.field,
            kind,
            inbox,
            crm: Some(self.crm_raw.clone()),
            // Notes compare normalised, but a conflict shows people the texts as stored.
            base: if self.field == Field::Notes {
                self.input.base.get(self.field)
            } else {
                self.base.clone()
            },
            threads,
            detail,
        }))
    }

    /// An `unmapped` conflict on this field.
    fn unmapped(&self, inbox: Option<Value>, detail: Unmapped) -> Outcome {
        self.conflict(ConflictKind::Unmapped, inbox, Vec::new(), detail)
    }
}

/// Reconciles one field of one link.
fn reconcile_field(
    input: &LinkInput,
    policy: &Policy,
    vocab: &Vocabulary,
    field: Field,
) -> Outcome {
    let view = FieldView {
        input,
        field,
        crm_raw: input.crm.fields.get(field),
        base: input.base.get(field).map(canonical),
    };

    let (inbox, target) = if field.is_thread_field() {
        // A thread that did not take the last write is retried: as in `force` mode.
        let retry = input.inbox.retry.contains(&field)
            && !matches!(policy.fanout, FanoutMode::PerThread { .. });
        let mode = if retry {
            &FanoutMode::Force
        } else {
            &policy.fanout
        };
        match inbox_view(field, &input.inbox.threads, mode) {
            InboxView::Absent | InboxView::Skip => return Outcome::Skipped,
            InboxView::Force(threads) => return force(&view, vocab, threads),
            InboxView::Disagree(threads) => {
                let detail = disagreement(field, &threads);
                return view.conflict(ConflictKind::Fanout, None, threads, detail);
            }
            InboxView::Value { value, target } => (value, target),
        }
    } else {
        (canonical(input.inbox.fields.get(field)), Target::Prospect)
    };

    if let Err(detail) = check_inbox(vocab, &inbox) {
        return view.unmapped(Some(inbox), detail);
    }
    let crm = match crm_to_inbox(vocab, &view.crm_raw, &inbox, view.base.as_ref()) {
        Ok(crm) => crm,
        Err(detail) => return view.unmapped(Some(inbox), detail),
    };

    let sides = Sides {
        inbox: &inbox,
        crm: &crm,
        base: view.base.as_ref(),
        crm_empty: crm.is_empty() || view.crm_raw.is_empty(),
    };
    let times = Times {
        inbox: input.inbox.updated_at,
        crm: input.crm.updated_at,
    };
    match decide(field, sides, policy.rule(field), times) {
        Decision::Settled(value) => settle(&view, vocab, value, inbox, &crm, target),
        Decision::BothChanged(detail) => {
            // The conflict keeps the texts as each side holds them.
            let inbox = if field == Field::Notes {
                input.inbox.fields.get(field)
            } else {
                inbox
            };
            view.conflict(ConflictKind::BothChanged, Some(inbox), Vec::new(), detail)
        }
    }
}

/// Turns a settled value into the writes that get both sides there. The value must read back
/// from the CRM as itself, or nothing is written at all (an `unmapped` conflict).
fn settle(
    view: &FieldView<'_>,
    vocab: &Vocabulary,
    value: Value,
    inbox: Value,
    crm: &Value,
    target: Target,
) -> Outcome {
    let inbox_raw = view.input.inbox.fields.get(view.field);
    let crm_change = if value == *crm {
        None
    } else {
        match inbox_to_crm(vocab, &value) {
            // The CRM may already hold a value that stands for the new one (a status that
            // several Inbox statuses map to): nothing to write then.
            Ok(new) if crm_equivalent(&new, &view.crm_raw) => None,
            Ok(new) => Some(Change {
                old: view.crm_raw.clone(),
                new: in_convention_of(new, &view.crm_raw, &inbox_raw),
            }),
            Err(detail) => return view.unmapped(Some(inbox), detail),
        }
    };
    let (inbox_change, thread_changes) = if value == inbox {
        (None, Vec::new())
    } else {
        let change = Change {
            new: in_convention_of(value.clone(), &inbox_raw, &view.crm_raw),
            // Notes are normalised to compare; the change names the text Inbox holds.
            old: if view.field == Field::Notes {
                inbox_raw
            } else {
                inbox
            },
        };
        match target {
            Target::Prospect => (Some(change), Vec::new()),
            Target::Threads(ids) => (
                None,
                ids.into_iter().map(|id| (id, change.clone())).collect(),
            ),
        }
    };
    Outcome::Settled(Settled {
        value,
        inbox: inbox_change,
        threads: thread_changes,
        crm: crm_change,
    })
}

/// A value to write, in the convention of the side's current value (or, when that side has
/// none, of the other side's): notes keep the line breaks (CRLF or LF) and the final line
/// break; other values are written as they are.
fn in_convention_of(value: Value, current: &Value, other: &Value) -> Value {
    match (value, current, other) {
        (Value::Notes(Some(text)), Value::Notes(Some(like)), _)
        | (Value::Notes(Some(text)), _, Value::Notes(Some(like))) => {
            Value::Notes(Some(notes::in_convention_of(&text, like)))
        }
        (value, _, _) => value,
    }
}

/// Force mode with disagreeing threads: the Inbox value is undefined, so the CRM value is
/// written to every thread (the change's `old` is the empty value). With no CRM value there is
/// nothing to force: a `fanout` conflict.
fn force(view: &FieldView<'_>, vocab: &Vocabulary, threads: Vec<ThreadState>) -> Outcome {
    let empty = Value::empty(view.field);
    let crm = match crm_to_inbox(vocab, &view.crm_raw, &empty, view.base.as_ref()) {
        Ok(crm) => crm,
        Err(detail) => return view.unmapped(None, detail),
    };
    if crm.is_empty() {
        let detail = format!(
            "{}; the CRM has no value to force onto them",
            disagreement(view.field, &threads)
        );
        return view.conflict(ConflictKind::Fanout, None, threads, detail);
    }
    Outcome::Settled(Settled {
        inbox: Some(Change {
            old: empty,
            new: crm.clone(),
        }),
        value: crm,
        threads: Vec::new(),
        crm: None,
    })
}
