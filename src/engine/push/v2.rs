//! The Inbox side of the push on API v2, for one contact, in the order the API wants: one
//! `PATCH /contacts/{id}` with the changed fields (status by id, notes, valuation, the default
//! assignee), then one `PUT`/`DELETE /contacts/{id}/tags/{tagId}` per tag added or removed,
//! then the thread PATCHes.
//!
//! v2 has no contact-wide done: a contact's done is written by archiving or unarchiving each
//! thread that differs. Its assignee is the default of its threads: setting it, then clearing
//! the own assignee of each thread that shows another (`assigneeId: null` falls back to the
//! default), reaches all of them, as v1's prospect-wide write did. Each thread's answer says
//! whether it took the value. Every call leaves its receipt first (`receipts`).

use std::collections::HashSet;

use crate::inbox::v2::{self, ContactId, ContactUpdate, ThreadId, ThreadUpdate};
use crate::reconcile::{
    Change, ConflictKind, Field, LinkPlan, Side, ThreadState, Value, thread_account,
};
use crate::store::{ChangeRow, ChangeStatus, ConflictRecord, FanoutMiss};

use crate::engine::inputs::Names;
use crate::engine::receipts::{Receipts, change_row};

use super::{InboxOutcome, PushError, PushSettings, is_refusal_v2};

/// Pushes one link's Inbox changes to a v2 contact, into `out`. `threads` are the contact's
/// threads as pulled. On an error `out` holds what was written before it.
#[allow(clippy::too_many_arguments)] // one contact's push: each input used once
pub(super) async fn push_contact(
    client: &v2::Client,
    names: &mut Names,
    settings: &PushSettings,
    plan: &LinkPlan,
    threads: &[ThreadState],
    conflict: &dyn Fn(Field, ConflictKind, String) -> ConflictRecord,
    receipts: &mut Receipts<'_>,
    out: &mut InboxOutcome,
) -> Result<(), PushError> {
    let contact = ContactId::from(plan.key.prospect_id.clone());
    let mut contact_fields: Vec<&Change> = Vec::new();
    let mut update = ContactUpdate::default();
    let mut tags: Option<(&Change, Vec<String>, Vec<String>)> = None;
    let mut fanned: Vec<&Change> = Vec::new();
    for change in plan.inbox.iter().flat_map(|p| &p.changes) {
        match map(client, names, settings, change, &mut update).await? {
            Mapped::Contact => contact_fields.push(change),
            Mapped::Tags(add, remove) => tags = Some((change, add, remove)),
            Mapped::Threads => fanned.push(change),
            Mapped::Unmapped(detail) => {
                out.conflicts
                    .push(conflict(change.field(), ConflictKind::Unmapped, detail));
            }
        }
        if change.field() == Field::Assignee && update.assignee_id.is_some() {
            fanned.push(change);
        }
    }
    let row = |change: &Change| {
        change_row(
            Side::Inbox,
            &plan.key.prospect_id,
            &plan.key,
            change,
            ChangeStatus::Attempted,
        )
    };
    if !update.is_empty() {
        let rows: Vec<ChangeRow> = contact_fields.iter().map(|c| row(c)).collect();
        let ticket = receipts.intend(&rows)?;
        match client.update_contact(&contact, &update).await {
            Ok(_) => {
                crate::failpoint::hit("inbox-after-patch");
                receipts.settle(ticket, ChangeStatus::Applied)?;
                out.writes += 1;
                for change in &contact_fields {
                    if change.field() != Field::Assignee {
                        out.confirmed.insert(change.field());
                    }
                }
            }
            Err(err) if is_refusal_v2(&err) => {
                receipts.settle(ticket, ChangeStatus::Failed)?;
                for change in &contact_fields {
                    out.conflicts.push(conflict(
                        change.field(),
                        ConflictKind::RejectedByApi,
                        format!("Inbox refused {} -> {}: {err}", change.field(), change.new),
                    ));
                }
                // The default assignee did not move: the threads are left as they are.
                fanned.retain(|c| c.field() != Field::Assignee);
            }
            Err(err) => return Err(err.into()),
        }
    }
    if let Some((change, add, remove)) = tags {
        let deltas = (add.as_slice(), remove.as_slice());
        let pushed = push_tags(client, &contact, change, deltas, &row, receipts, out);
        if let Some(err) = pushed.await? {
            let detail = format!("Inbox refused tags -> {}: {err}", change.new);
            out.conflicts
                .push(conflict(Field::Tags, ConflictKind::RejectedByApi, detail));
        }
    }
    if !fanned.is_empty() {
        fan_out(
            client, names, plan, threads, &fanned, conflict, receipts, out,
        )
        .await?;
    }
    // Per-thread mode: a field is confirmed only if none of its threads missed it.
    let mut missed: HashSet<Field> = HashSet::new();
    for patch in &plan.threads {
        let mut update = ThreadUpdate::default();
        for change in &patch.changes {
            match &change.new {
                Value::Done(Some(done)) => update.archived = Some(*done),
                Value::Assignee(None) => update.assignee_id = Some(None),
                Value::Assignee(Some(email)) => match names.member_id(email) {
                    Some(id) => update.assignee_id = Some(Some(id.to_string())),
                    None => out.conflicts.push(conflict(
                        Field::Assignee,
                        ConflictKind::Unmapped,
                        format!("no Inbox member has the e-mail {email}"),
                    )),
                },
                _ => {}
            }
        }
        if update.is_empty() {
            continue;
        }
        let rows: Vec<ChangeRow> = patch
            .changes
            .iter()
            .map(|c| {
                change_row(
                    Side::Inbox,
                    &patch.thread_id,
                    &plan.key,
                    c,
                    ChangeStatus::Attempted,
                )
            })
            .collect();
        let ticket = receipts.intend(&rows)?;
        let id = ThreadId::from(patch.thread_id.clone());
        match client.update_thread(&id, &update).await {
            Ok(thread) => {
                crate::failpoint::hit("inbox-after-thread-patch");
                receipts.settle(ticket, ChangeStatus::Applied)?;
                out.writes += 1;
                let state = threads.iter().find(|t| t.thread_id == patch.thread_id);
                for change in &patch.changes {
                    if took(&thread, &change.new, names) {
                        receipts.fanout_took(&patch.thread_id, change.field())?;
                        out.confirmed.insert(change.field());
                    } else if let Some(thread) = state {
                        missed.insert(change.field());
                        let contact = &plan.key.prospect_id;
                        let miss = Missed {
                            contact,
                            thread,
                            change,
                        };
                        miss.record(conflict, receipts, out)?;
                    }
                }
            }
            Err(err) if is_refusal_v2(&err) => {
                receipts.settle(ticket, ChangeStatus::Failed)?;
                for change in &patch.changes {
                    out.conflicts.push(conflict(
                        change.field(),
                        ConflictKind::RejectedByApi,
                        format!("Inbox refused thread {}: {err}", patch.thread_id),
                    ));
                }
            }
            Err(err) => return Err(err.into()),
        }
    }
    for field in missed {
        out.confirmed.remove(&field);
    }
    Ok(())
}

/// Where a change of the contact goes.
enum Mapped {
    /// Into the contact PATCH.
    Contact,
    /// Tag calls: ids to add, ids to remove.
    Tags(Vec<String>, Vec<String>),
    /// Onto the threads (done).
    Threads,
    /// A value Inbox has no counterpart for.
    Unmapped(String),
}

async fn map(
    client: &v2::Client,
    names: &mut Names,
    settings: &PushSettings,
    change: &Change,
    update: &mut ContactUpdate,
) -> Result<Mapped, PushError> {
    Ok(match (&change.old, &change.new) {
        (Value::Tags(old), Value::Tags(new)) => {
            let mut add = Vec::new();
            let mut missing = Vec::new();
            for name in new.difference(old) {
                match names.tag_id(name) {
                    Some(id) => add.push(id.to_string()),
                    None if settings.create_missing_tags => {
                        let tag = client.create_tag(name, None).await?;
                        names.add_tag(&tag.id, &tag.name);
                        add.push(tag.id);
                    }
                    None => missing.push(name.clone()),
                }
            }
            if !missing.is_empty() {
                return Ok(Mapped::Unmapped(format!(
                    "tag(s) {} do not exist in Inbox (set safety.create_missing_tags = true to create them)",
                    missing.join(", ")
                )));
            }
            let remove = old
                .difference(new)
                .filter_map(|name| names.tag_id(name).map(str::to_string))
                .collect();
            Mapped::Tags(add, remove)
        }
        (_, Value::Status(None)) => {
            update.status = Some(None);
            Mapped::Contact
        }
        (_, Value::Status(Some(name))) => match names.status_id(name) {
            Some(id) => {
                update.status = Some(Some(id.to_string()));
                Mapped::Contact
            }
            None => Mapped::Unmapped(format!("no Inbox status is named {name:?}")),
        },
        (_, Value::Valuation(v)) => {
            update.valuation = Some(*v);
            Mapped::Contact
        }
        (_, Value::Notes(n)) => {
            update.notes = Some(n.clone());
            Mapped::Contact
        }
        (_, Value::Assignee(None)) => {
            update.assignee_id = Some(None);
            Mapped::Contact
        }
        (_, Value::Assignee(Some(email))) => match names.member_id(email) {
            Some(id) => {
                update.assignee_id = Some(Some(id.to_string()));
                Mapped::Contact
            }
            None => Mapped::Unmapped(format!("no Inbox member has the e-mail {email}")),
        },
        (_, Value::Done(_)) => Mapped::Threads,
        _ => Mapped::Unmapped(format!("{} cannot be written to Inbox", change.field())),
    })
}

/// One call per tag added or removed (idempotent), under one receipt for the tags change.
/// A call Inbox refuses (or the client refuses to send) stops the contact's tag calls and is
/// returned, for a conflict: the other contacts are still pushed.
async fn push_tags(
    client: &v2::Client,
    contact: &ContactId,
    change: &Change,
    (add, remove): (&[String], &[String]),
    row: &dyn Fn(&Change) -> ChangeRow,
    receipts: &mut Receipts<'_>,
    out: &mut InboxOutcome,
) -> Result<Option<v2::Error>, PushError> {
    let ticket = receipts.intend(&[row(change)])?;
    let calls = (add.iter().map(|id| (true, id))).chain(remove.iter().map(|id| (false, id)));
    let mut written = false;
    for (adding, id) in calls {
        let call = if adding {
            client.add_tag(contact, id).await
        } else {
            client.remove_tag(contact, id).await
        };
        match call {
            Ok(()) => crate::failpoint::hit("inbox-after-tag-call"),
            Err(err) if is_refusal_v2(&err) => {
                // Nothing sent yet: nothing to undo. Otherwise what was sent stays recorded.
                let status = if written {
                    ChangeStatus::Applied
                } else {
                    ChangeStatus::Failed
                };
                receipts.settle(ticket, status)?;
                return Ok(Some(err));
            }
            Err(err) => return Err(err.into()),
        }
        written = true;
        out.writes += 1;
    }
    receipts.settle(ticket, ChangeStatus::Applied)?;
    out.confirmed.insert(Field::Tags);
    Ok(None)
}

/// Writes done (archive or unarchive) and the assignee (clear each thread's own, so that it
/// shows the contact's new default) on every thread that differs, and confirms a field only
/// when every thread took it; a thread that did not is retried next run, then a conflict
/// ([`Missed`]).
#[allow(clippy::too_many_arguments)] // one contact's fan-out: each input used once
async fn fan_out(
    client: &v2::Client,
    names: &Names,
    plan: &LinkPlan,
    threads: &[ThreadState],
    fanned: &[&Change],
    conflict: &dyn Fn(Field, ConflictKind, String) -> ConflictRecord,
    receipts: &mut Receipts<'_>,
    out: &mut InboxOutcome,
) -> Result<(), PushError> {
    // A fanned-out assignee is the contact default the PATCH before wrote: its receipt is that
    // PATCH's. The threads' writes carry done's.
    let rows: Vec<ChangeRow> = fanned
        .iter()
        .filter(|c| c.field() != Field::Assignee)
        .map(|c| {
            change_row(
                Side::Inbox,
                &plan.key.prospect_id,
                &plan.key,
                c,
                ChangeStatus::Attempted,
            )
        })
        .collect();
    let ticket = receipts.intend(&rows)?;
    let mut failed: HashSet<Field> = HashSet::new();
    for thread in threads {
        let mut update = ThreadUpdate::default();
        for change in fanned {
            match &change.new {
                Value::Done(Some(done)) if thread.done != *done => update.archived = Some(*done),
                Value::Assignee(email) if thread.assignee != *email => {
                    update.assignee_id = Some(None);
                }
                _ => {}
            }
        }
        if update.is_empty() {
            continue;
        }
        let id = ThreadId::from(thread.thread_id.clone());
        let answer = match client.update_thread(&id, &update).await {
            Ok(answer) => {
                crate::failpoint::hit("inbox-after-thread-patch");
                answer
            }
            Err(err) if is_refusal_v2(&err) => {
                for change in fanned {
                    failed.insert(change.field());
                }
                out.conflicts.push(conflict(
                    fanned[0].field(),
                    ConflictKind::RejectedByApi,
                    format!(
                        "Inbox refused thread {} on {}: {err}",
                        thread.thread_id,
                        thread_account(thread)
                    ),
                ));
                continue;
            }
            Err(err) => return Err(err.into()),
        };
        out.writes += 1;
        for change in fanned {
            if took(&answer, &change.new, names) {
                receipts.fanout_took(&thread.thread_id, change.field())?;
            } else {
                failed.insert(change.field());
                let miss = Missed {
                    contact: &plan.key.prospect_id,
                    thread,
                    change,
                };
                miss.record(conflict, receipts, out)?;
            }
        }
    }
    receipts.settle(ticket, ChangeStatus::Applied)?;
    for change in fanned {
        if !failed.contains(&change.field()) {
            out.confirmed.insert(change.field());
        }
    }
    Ok(())
}

/// A thread that answered a write without taking its value.
struct Missed<'a> {
    contact: &'a str,
    thread: &'a ThreadState,
    change: &'a Change,
}

impl Missed<'_> {
    /// The first miss of a value is a warning, and the next run retries the thread (the field
    /// is not confirmed, so the base does not move); a second consecutive miss of the same
    /// value is a `fanout` conflict naming the thread.
    fn record(
        &self,
        conflict: &dyn Fn(Field, ConflictKind, String) -> ConflictRecord,
        receipts: &mut Receipts<'_>,
        out: &mut InboxOutcome,
    ) -> Result<(), PushError> {
        let (field, value) = (self.change.field(), &self.change.new);
        let what = format!(
            "thread {} on {} did not take {field} = {value} (contact {})",
            self.thread.thread_id,
            thread_account(self.thread),
            self.contact
        );
        let key = (self.contact, self.thread.thread_id.as_str());
        match receipts.fanout_miss(key, field, &value.to_string())? {
            FanoutMiss::First => out
                .warnings
                .push(format!("{what}; the next run retries it")),
            FanoutMiss::Again => out.conflicts.push(conflict(
                field,
                ConflictKind::Fanout,
                format!("{what}, again after a retry"),
            )),
        }
        Ok(())
    }
}

/// Whether a thread, as answered, holds `value`.
fn took(thread: &v2::Thread, value: &Value, names: &Names) -> bool {
    match value {
        Value::Done(Some(done)) => thread.archived == *done,
        Value::Assignee(email) => names.assignee(thread.assignee_id.as_deref()) == *email,
        _ => true,
    }
}
