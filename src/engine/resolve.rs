//! Humans' conflict resolutions (`crmsync conflicts resolve`) turned into writes of the next
//! sync: the chosen value replaces the conflict in that link's plan and is written to whichever
//! side does not hold it yet.
//!
//! Pure: plan, inputs and resolutions in, a changed plan out. No I/O.

use std::collections::BTreeSet;

use crate::reconcile::{
    Amount, Change, CrmPatch, Field, InboxPatch, LinkInput, LinkKey, LinkPlan, Plan, Value,
    Vocabulary,
};
use crate::store::{ConflictRow, Resolution};

/// The outcome of applying resolutions to a plan.
#[derive(Debug, Default)]
pub struct Applied {
    /// Conflicts whose resolution is now part of the plan.
    pub conflict_ids: Vec<i64>,
    /// Resolutions that could not be applied, with why (they stay pending).
    pub problems: Vec<String>,
    /// Resolutions whose values moved on either side since the human made them: not applied,
    /// and opened again by a sync, so that the person decides with what the sides hold now.
    pub stale: Vec<i64>,
}

/// Parses a value given on the command line for a field (`--take value V`).
pub fn parse_value(field: Field, text: &str) -> Result<Value, String> {
    let text = text.trim();
    let opt = |t: &str| (!t.is_empty()).then(|| t.to_string());
    Ok(match field {
        Field::Tags => Value::Tags(
            text.split(';')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_string)
                .collect(),
        ),
        Field::Status => Value::Status(opt(text)),
        Field::Valuation => Value::Valuation(if text.is_empty() {
            None
        } else {
            Some(
                text.parse::<Amount>()
                    .map_err(|e| format!("not a number: {text:?} ({e})"))?,
            )
        }),
        Field::Notes => Value::Notes(opt(text)),
        Field::Assignee => Value::Assignee(opt(text).map(|e| e.to_lowercase())),
        Field::Done => Value::Done(match text.to_lowercase().as_str() {
            "" => None,
            "true" | "yes" | "1" => Some(true),
            "false" | "no" | "0" => Some(false),
            _ => return Err(format!("not true/false: {text:?}")),
        }),
    })
}

/// The Inbox value of a field: thread fields only when every thread agrees.
fn inbox_value(input: &LinkInput, field: Field) -> Option<Value> {
    match field {
        Field::Assignee => {
            let values: BTreeSet<Option<String>> = input
                .inbox
                .threads
                .iter()
                .map(|t| t.assignee.clone())
                .collect();
            (values.len() == 1).then(|| Value::Assignee(values.into_iter().next().flatten()))
        }
        Field::Done => {
            let values: BTreeSet<bool> = input.inbox.threads.iter().map(|t| t.done).collect();
            (values.len() == 1).then(|| Value::Done(values.into_iter().next()))
        }
        other => Some(input.inbox.fields.get(other)),
    }
}

/// The CRM value of a field in Inbox vocabulary (status mapped to an Inbox name).
fn crm_value_as_inbox(
    input: &LinkInput,
    field: Field,
    vocab: &Vocabulary,
) -> Result<Value, String> {
    let value = input.crm.fields.get(field);
    match value {
        Value::Status(Some(crm)) => match vocab.status_candidates(&crm).as_slice() {
            [name] => Ok(Value::Status(Some(name.to_string()))),
            [] => Err(format!(
                "the CRM status {crm:?} maps to no Inbox status: add it to [mapping.status] or resolve with a value"
            )),
            _ => Err(format!(
                "the CRM status {crm:?} maps to several Inbox statuses: resolve with a value"
            )),
        },
        Value::Assignee(Some(email)) if !vocab.is_member(&email) => Err(format!(
            "the CRM owner {email} is no Inbox member: resolve with a value"
        )),
        other => Ok(other),
    }
}

/// The Inbox-vocabulary value in CRM vocabulary.
fn to_crm(value: &Value, vocab: &Vocabulary) -> Value {
    match value {
        Value::Status(Some(name)) => Value::Status(Some(vocab.status_to_crm(name).to_string())),
        other => other.clone(),
    }
}

/// Replaces the conflicts that humans resolved with writes of the chosen value.
pub fn apply_resolutions(
    plan: &mut Plan,
    inputs: &[LinkInput],
    resolutions: &[ConflictRow],
    vocab: &Vocabulary,
) -> Applied {
    let mut applied = Applied::default();
    for resolution in resolutions {
        match verdict(resolution, inputs, vocab) {
            Verdict::Settled => applied.conflict_ids.push(resolution.id),
            Verdict::Write {
                input,
                field,
                target,
            } => {
                set_field(plan, input, field, &target, vocab);
                applied.conflict_ids.push(resolution.id);
            }
            Verdict::Refused(why) => applied.problems.push(why),
            Verdict::Stale(why) => {
                applied.problems.push(why);
                applied.stale.push(resolution.id);
            }
            Verdict::NotResolved => {}
        }
    }
    plan.links.sort_by(|a, b| a.key.cmp(&b.key));
    applied
}

/// What one resolution comes to.
enum Verdict<'i> {
    /// Settled without a write: identity conflicts (field `record`) are settled by fixing the
    /// records.
    Settled,
    /// The chosen value, to write to one field of the link of `input`.
    Write {
        input: &'i LinkInput,
        field: Field,
        target: Value,
    },
    /// Not applied, with why: it stays pending.
    Refused(String),
    /// Not applied because the values moved since the human decided, with why: open again.
    Stale(String),
    /// Not a resolution (open, dismissed, closed): nothing to apply.
    NotResolved,
}

/// Decides what `resolution` comes to against the link's current inputs.
fn verdict<'i>(
    resolution: &ConflictRow,
    inputs: &'i [LinkInput],
    vocab: &Vocabulary,
) -> Verdict<'i> {
    let Some(field) = resolution.field.field() else {
        return Verdict::Settled;
    };
    let Some(input) = inputs
        .iter()
        .find(|i| i.key.prospect_id == resolution.prospect_id && i.key.crm_id == resolution.crm_id)
    else {
        return Verdict::Refused(format!(
            "conflict {}: the link @{} <-> {} is not active any more",
            resolution.id,
            resolution.username.as_deref().unwrap_or("?"),
            resolution.crm_id
        ));
    };
    if input.crm.unknown.contains(&field) {
        // Writing either side would act on a CRM value nobody can read; it stays pending.
        return Verdict::Refused(format!(
            "conflict {}: the CRM's {field} of record {} does not read (see the run's \
             rejects); fix it in the CRM first",
            resolution.id, resolution.crm_id
        ));
    }
    if let Some(why) = moved_since_resolved(resolution, input, field) {
        return Verdict::Stale(why);
    }
    let chosen = match resolution.resolution {
        Resolution::ResolvedInbox => inbox_value(input, field).ok_or_else(|| {
            "the prospect's threads disagree, so there is no single Inbox value: resolve with --take crm or --take value".to_string()
        }),
        Resolution::ResolvedCrm => crm_value_as_inbox(input, field, vocab),
        Resolution::ResolvedValue => parse_value(field, resolution.resolution_value.as_deref().unwrap_or("")),
        Resolution::Open | Resolution::Dismissed | Resolution::Closed => return Verdict::NotResolved,
    };
    match chosen {
        Ok(target) => Verdict::Write {
            input,
            field,
            target,
        },
        Err(why) => Verdict::Refused(format!("conflict {}: {why}", resolution.id)),
    }
}

/// Why a resolution is stale, if it is: a side it overwrites changed since the human resolved
/// it. Only a side the resolution overwrites matters: taking Inbox's value takes its latest
/// one; an edit on the side it overwrites would be lost.
fn moved_since_resolved(
    resolution: &ConflictRow,
    input: &LinkInput,
    field: Field,
) -> Option<String> {
    let (inbox_then, crm_then) = resolution.resolved_against.as_ref()?;
    let inbox_now = inbox_value(input, field).map(|v| v.to_string());
    let crm_now = Some(input.crm.fields.get(field).to_string());
    let (check_inbox, check_crm) = match resolution.resolution {
        Resolution::ResolvedInbox => (false, true),
        Resolution::ResolvedCrm => (true, false),
        _ => (true, true),
    };
    let (side, then, now) = [
        ("Inbox", check_inbox, inbox_then, &inbox_now),
        ("CRM", check_crm, crm_then, &crm_now),
    ]
    .into_iter()
    .find(|(_, check, then, now)| *check && then.is_some() && *then != *now)
    .map(|(side, _, then, now)| (side, then, now))?;
    Some(format!(
        "conflict {}: the {side}'s {field} changed since it was resolved ({} -> {}); it is open again: resolve it with what the sides hold now",
        resolution.id,
        then.as_deref().unwrap_or(""),
        now.as_deref().unwrap_or("")
    ))
}

/// Makes `target` the plan's outcome for one field of one link.
fn set_field(plan: &mut Plan, input: &LinkInput, field: Field, target: &Value, vocab: &Vocabulary) {
    let link = match plan.links.iter().position(|l| l.key == input.key) {
        Some(idx) => &mut plan.links[idx],
        None => {
            plan.links.push(LinkPlan {
                key: LinkKey {
                    prospect_id: input.key.prospect_id.clone(),
                    crm_id: input.key.crm_id.clone(),
                },
                inbox: None,
                threads: Vec::new(),
                crm: None,
                agreed: Vec::new(),
                conflicts: Vec::new(),
            });
            plan.links.last_mut().expect("just pushed")
        }
    };
    link.conflicts.retain(|c| c.field != field);
    link.agreed.retain(|v| v.field() != field);
    link.agreed.push(target.clone());
    for patch in link.threads.iter_mut() {
        patch.changes.retain(|c| c.field() != field);
    }
    link.threads.retain(|t| !t.changes.is_empty());

    let inbox_now = inbox_value(input, field);
    let mut inbox_changes: Vec<Change> = link.inbox.take().map(|p| p.changes).unwrap_or_default();
    inbox_changes.retain(|c| c.field() != field);
    if inbox_now.as_ref() != Some(target) {
        inbox_changes.push(Change {
            old: inbox_now.unwrap_or_else(|| Value::empty(field)),
            new: target.clone(),
        });
    }
    inbox_changes.sort_by_key(Change::field);
    link.inbox = (!inbox_changes.is_empty()).then_some(InboxPatch {
        changes: inbox_changes,
    });

    let crm_now = input.crm.fields.get(field);
    let crm_target = to_crm(target, vocab);
    let mut crm_changes: Vec<Change> = link.crm.take().map(|p| p.changes).unwrap_or_default();
    crm_changes.retain(|c| c.field() != field);
    if crm_now != crm_target {
        crm_changes.push(Change {
            old: crm_now,
            new: crm_target,
        });
    }
    crm_changes.sort_by_key(Change::field);
    link.crm = (!crm_changes.is_empty()).then_some(CrmPatch {
        changes: crm_changes,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::{ConflictKind, CrmSide, Fields, InboxSide, ThreadState};

    fn input() -> LinkInput {
        LinkInput {
            key: LinkKey {
                prospect_id: "p1".into(),
                crm_id: "r1".into(),
            },
            inbox: InboxSide {
                fields: Fields {
                    notes: Some("inbox text".into()),
                    ..Fields::default()
                },
                threads: vec![
                    ThreadState {
                        thread_id: "t1".into(),
                        account_link_id: "a1".into(),
                        account: "sales_a".into(),
                        platform: "twitter".into(),
                        assignee: None,
                        done: true,
                    },
                    ThreadState {
                        thread_id: "t2".into(),
                        account_link_id: "a2".into(),
                        account: "sales_b".into(),
                        platform: "linkedin".into(),
                        assignee: None,
                        done: false,
                    },
                ],
                updated_at: None,
                retry: Default::default(),
            },
            crm: CrmSide {
                fields: Fields {
                    notes: Some("crm text".into()),
                    done: Some(true),
                    ..Fields::default()
                },
                unknown: Default::default(),
                updated_at: None,
            },
            base: Default::default(),
        }
    }

    fn resolution(field: Field, how: Resolution, value: Option<&str>) -> ConflictRow {
        ConflictRow {
            id: 7,
            first_run: crate::store::RunId(1),
            last_run: crate::store::RunId(1),
            prospect_id: "p1".into(),
            username: Some("ana".into()),
            platform_id: None,
            display_name: None,
            crm_id: "r1".into(),
            field: field.into(),
            kind: ConflictKind::BothChanged,
            inbox: None,
            crm: None,
            base: None,
            detail: String::new(),
            first_seen: String::new(),
            last_seen: String::new(),
            resolution: how,
            resolution_value: value.map(Into::into),
            resolved_by: None,
            resolved_at: None,
            applied_run: None,
            resolved_against: None,
        }
    }

    #[test]
    fn take_inbox_writes_the_crm_and_agrees() {
        let mut plan = Plan::default();
        let applied = apply_resolutions(
            &mut plan,
            &[input()],
            &[resolution(Field::Notes, Resolution::ResolvedInbox, None)],
            &Vocabulary::default(),
        );
        assert_eq!(applied.conflict_ids, vec![7]);
        let link = &plan.links[0];
        assert!(link.inbox.is_none());
        assert_eq!(
            link.crm.as_ref().unwrap().changes[0].new,
            Value::Notes(Some("inbox text".into()))
        );
        assert_eq!(link.agreed, vec![Value::Notes(Some("inbox text".into()))]);
    }

    #[test]
    fn a_value_is_written_to_both_sides() {
        let mut plan = Plan::default();
        apply_resolutions(
            &mut plan,
            &[input()],
            &[resolution(
                Field::Notes,
                Resolution::ResolvedValue,
                Some("agreed text"),
            )],
            &Vocabulary::default(),
        );
        let link = &plan.links[0];
        assert_eq!(link.inbox.as_ref().unwrap().changes.len(), 1);
        assert_eq!(link.crm.as_ref().unwrap().changes.len(), 1);
    }

    #[test]
    fn take_inbox_on_disagreeing_threads_is_refused_and_stays_pending() {
        let mut plan = Plan::default();
        let applied = apply_resolutions(
            &mut plan,
            &[input()],
            &[resolution(Field::Done, Resolution::ResolvedInbox, None)],
            &Vocabulary::default(),
        );
        assert!(applied.conflict_ids.is_empty());
        assert!(applied.problems[0].contains("threads disagree"));
        // take crm: every thread gets the CRM value.
        let applied = apply_resolutions(
            &mut plan,
            &[input()],
            &[resolution(Field::Done, Resolution::ResolvedCrm, None)],
            &Vocabulary::default(),
        );
        assert_eq!(applied.conflict_ids, vec![7]);
        let change = &plan.links[0].inbox.as_ref().unwrap().changes[0];
        assert_eq!(change.new, Value::Done(Some(true)));
    }

    #[test]
    fn values_parse_per_field() {
        assert_eq!(
            parse_value(Field::Tags, "a; b ;").unwrap(),
            Value::Tags(["a".to_string(), "b".to_string()].into_iter().collect())
        );
        assert!(parse_value(Field::Valuation, "ten").is_err());
        assert_eq!(
            parse_value(Field::Done, "yes").unwrap(),
            Value::Done(Some(true))
        );
    }
}
