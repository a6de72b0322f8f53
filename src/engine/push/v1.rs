//! The Inbox side of the push on API v1, for one prospect: one context PATCH with the changed
//! fields, thread PATCHes in per-thread mode, and a read-back of every thread after a
//! fanned-out assignee/done write. Every write leaves its receipt first (`receipts`).

use std::collections::{BTreeSet, HashSet};

use crate::inbox::{self, ContextUpdate, ThreadUpdate};
use crate::reconcile::{Change, ConflictKind, Field, LinkKey, LinkPlan, Side, ThreadState, Value};
use crate::store::{ChangeRow, ChangeStatus, ConflictRecord};

use crate::engine::inputs::Names;
use crate::engine::receipts::{Receipts, change_row};

use super::{InboxOutcome, PushError, PushSettings};

/// Pushes one link's Inbox changes. `threads` are the prospect's threads as pulled.
pub(super) async fn push_link(
    client: &inbox::Client,
    names: &mut Names,
    settings: &PushSettings,
    plan: &LinkPlan,
    threads: &[ThreadState],
    identity: (&str, &str),
    receipts: &mut Receipts<'_>,
) -> Result<InboxOutcome, PushError> {
    let mut out = InboxOutcome::default();
    let conflict = |field: Field, kind: ConflictKind, detail: String| ConflictRecord {
        prospect_id: plan.key.prospect_id.clone(),
        username: Some(identity.0.to_string()),
        platform_id: Some(identity.1.to_string()),
        crm_id: plan.key.crm_id.clone(),
        field: field.into(),
        kind,
        inbox: None,
        crm: None,
        base: None,
        detail,
    };

    if let Some(patch) = &plan.inbox {
        let mut update = ContextUpdate::default();
        let mut fields = Vec::new();
        let mut blocked: HashSet<Field> = HashSet::new();
        for change in &patch.changes {
            match map_change(client, names, settings, change, &mut update).await? {
                Mapped::Ok => fields.push(change),
                Mapped::Unmapped(detail) => {
                    blocked.insert(change.field());
                    out.conflicts
                        .push(conflict(change.field(), ConflictKind::Unmapped, detail));
                }
            }
        }
        if !update.is_empty() {
            let rows: Vec<ChangeRow> = fields
                .iter()
                .map(|change| {
                    change_row(
                        Side::Inbox,
                        &plan.key.prospect_id,
                        &plan.key,
                        change,
                        ChangeStatus::Attempted,
                    )
                })
                .collect();
            let ticket = receipts.intend(&rows)?;
            match client.patch_context(&plan.key.prospect_id, &update).await {
                Ok(_) => {
                    crate::failpoint::hit("inbox-after-patch");
                    receipts.settle(ticket, ChangeStatus::Applied)?;
                    out.writes += 1;
                    for change in fields {
                        if !blocked.contains(&change.field()) {
                            out.confirmed.insert(change.field());
                        }
                    }
                    let fanned: Vec<&Change> = patch
                        .changes
                        .iter()
                        .filter(|c| c.field().is_thread_field())
                        .collect();
                    if !fanned.is_empty() {
                        read_back(
                            client, names, &plan.key, threads, &fanned, &mut out, &conflict,
                        )
                        .await?;
                    }
                }
                Err(err) if is_refusal(&err) => {
                    receipts.settle(ticket, ChangeStatus::Failed)?;
                    for change in fields {
                        out.conflicts.push(conflict(
                            change.field(),
                            ConflictKind::RejectedByApi,
                            format!("Inbox refused {} -> {}: {err}", change.field(), change.new),
                        ));
                    }
                }
                // The answer is lost (network, exhausted retries): the receipt stays
                // `attempted`, since the write may have landed.
                Err(err) => return Err(err.into()),
            }
        }
    }

    for thread_patch in &plan.threads {
        let mut update = ThreadUpdate::default();
        let mut ok = true;
        for change in &thread_patch.changes {
            match &change.new {
                Value::Done(Some(done)) => update.done = Some(*done),
                Value::Assignee(email) => match email {
                    None => update.assignee_id = Some(None),
                    Some(email) => match names.member_id(email) {
                        Some(id) => update.assignee_id = Some(Some(id.to_string())),
                        None => {
                            ok = false;
                            out.conflicts.push(conflict(
                                Field::Assignee,
                                ConflictKind::Unmapped,
                                format!("no Inbox member has the e-mail {email}"),
                            ));
                        }
                    },
                },
                _ => {}
            }
        }
        if !ok || (update.done.is_none() && update.assignee_id.is_none()) {
            continue;
        }
        let rows: Vec<ChangeRow> = thread_patch
            .changes
            .iter()
            .map(|change| {
                change_row(
                    Side::Inbox,
                    &thread_patch.thread_id,
                    &plan.key,
                    change,
                    ChangeStatus::Attempted,
                )
            })
            .collect();
        let ticket = receipts.intend(&rows)?;
        match client.patch_thread(&thread_patch.thread_id, &update).await {
            Ok(thread) => {
                crate::failpoint::hit("inbox-after-thread-patch");
                receipts.settle(ticket, ChangeStatus::Applied)?;
                out.writes += 1;
                for change in &thread_patch.changes {
                    let took = match &change.new {
                        Value::Done(d) => *d == Some(thread.done),
                        Value::Assignee(_) => {
                            names.assignee(thread.assignee_id.as_deref())
                                == match &change.new {
                                    Value::Assignee(e) => e.clone(),
                                    _ => None,
                                }
                        }
                        _ => false,
                    };
                    if took {
                        out.confirmed.insert(change.field());
                    }
                }
            }
            Err(err) if is_refusal(&err) => {
                receipts.settle(ticket, ChangeStatus::Failed)?;
                for change in &thread_patch.changes {
                    out.conflicts.push(conflict(
                        change.field(),
                        ConflictKind::RejectedByApi,
                        format!("Inbox refused thread {}: {err}", thread_patch.thread_id),
                    ));
                }
            }
            Err(err) => return Err(err.into()),
        }
    }
    Ok(out)
}

/// A client error that is about this request (4xx but auth/rate limit): skip it, go on.
fn is_refusal(err: &inbox::Error) -> bool {
    matches!(
        err,
        inbox::Error::Api { status, .. } if (400..500).contains(status)
    ) || matches!(
        err,
        // `Config`: the client refused to send (e.g. an id that is not `^[0-9a-z]+$`): that
        // prospect is skipped, the others are pushed.
        inbox::Error::NotFound { .. } | inbox::Error::Forbidden { .. } | inbox::Error::Config(_)
    )
}

enum Mapped {
    Ok,
    Unmapped(String),
}

async fn map_change(
    client: &inbox::Client,
    names: &mut Names,
    settings: &PushSettings,
    change: &Change,
    update: &mut ContextUpdate,
) -> Result<Mapped, inbox::Error> {
    match (&change.old, &change.new) {
        (Value::Tags(old), Value::Tags(new)) => {
            let mut missing = Vec::new();
            for name in new.difference(old) {
                let id = match names.tag_id(name) {
                    Some(id) => Some(id.to_string()),
                    None if settings.create_missing_tags => {
                        let tag = client.create_tag(name).await?;
                        names.add_tag(&tag.id, &tag.name);
                        Some(tag.id)
                    }
                    None => None,
                };
                match id {
                    Some(id) => update.add_tags.push(id),
                    None => missing.push(name.clone()),
                }
            }
            for name in old.difference(new) {
                if let Some(id) = names.tag_id(name) {
                    update.remove_tags.push(id.to_string());
                }
            }
            if !missing.is_empty() {
                return Ok(Mapped::Unmapped(format!(
                    "tag(s) {} do not exist in Inbox (set safety.create_missing_tags = true to create them)",
                    missing.join(", ")
                )));
            }
        }
        (_, Value::Status(name)) => match name {
            None => update.status_id = Some(None),
            Some(name) => match names.status_id(name) {
                Some(id) => update.status_id = Some(Some(id.to_string())),
                None => {
                    return Ok(Mapped::Unmapped(format!(
                        "no Inbox status is named {name:?}"
                    )));
                }
            },
        },
        (_, Value::Valuation(v)) => update.valuation = Some(*v),
        (_, Value::Notes(n)) => update.notes = Some(n.clone()),
        (_, Value::Assignee(email)) => match email {
            None => update.assignee_id = Some(None),
            Some(email) => match names.member_id(email) {
                Some(id) => update.assignee_id = Some(Some(id.to_string())),
                None => {
                    return Ok(Mapped::Unmapped(format!(
                        "no Inbox member has the e-mail {email}"
                    )));
                }
            },
        },
        (_, Value::Done(d)) => update.done = *d,
        _ => {}
    }
    Ok(Mapped::Ok)
}

/// Reads back every thread of a prospect after a fanned-out assignee/done write; a thread that
/// did not take the value (offline or paused account) is a conflict and the field stays
/// unconfirmed.
async fn read_back(
    client: &inbox::Client,
    names: &Names,
    key: &LinkKey,
    threads: &[ThreadState],
    fanned: &[&Change],
    out: &mut InboxOutcome,
    conflict: &impl Fn(Field, ConflictKind, String) -> ConflictRecord,
) -> Result<(), inbox::Error> {
    let mut failed: BTreeSet<Field> = BTreeSet::new();
    for thread in threads {
        let fresh = match client.thread(&thread.thread_id).await {
            Ok(t) => t,
            Err(inbox::Error::NotFound { .. }) => continue,
            Err(e) => return Err(e),
        };
        for change in fanned {
            let took = match &change.new {
                Value::Done(Some(d)) => fresh.done == *d,
                Value::Assignee(email) => names.assignee(fresh.assignee_id.as_deref()) == *email,
                _ => true,
            };
            if !took {
                failed.insert(change.field());
                out.conflicts.push(conflict(
                    change.field(),
                    ConflictKind::Fanout,
                    format!(
                        "thread {} on {} did not take {} = {} (prospect {})",
                        thread.thread_id,
                        crate::reconcile::thread_account(thread),
                        change.field(),
                        change.new,
                        key.prospect_id
                    ),
                ));
            }
        }
    }
    for field in failed {
        out.confirmed.remove(&field);
    }
    Ok(())
}
