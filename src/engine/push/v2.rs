//! The Inbox side of the push on API v2, for one contact, in the order the API wants: one
//! `PATCH /contacts/{id}` with the changed fields (status by id, notes, valuation, the default
//! assignee), then one `PUT`/`DELETE /contacts/{id}/tags/{tagId}` per tag added or removed,
//! then the thread PATCHes.
//!
//! v2 has no contact-wide done: a contact's done is written by archiving or unarchiving each
//! thread that differs. Its assignee is the default of its threads: setting it, then clearing
//! the own assignee of each thread that shows another (`assigneeId: null` falls back to the
//! default), reaches all of them, as v1's prospect-wide write did. Each thread's answer says
//! whether it took the value. Every call leaves its receipt first (`receipts`); a thread's own
//! assignee that the fan-out clears has its own receipt, so that an undo gives it back.

use std::collections::HashSet;

use crate::inbox::v2::{self, ContactUpdate, ThreadUpdate};
use crate::reconcile::{
    Change, ConflictKind, ContactId, Field, LinkPlan, Side, ThreadPatch, ThreadState, Value,
    canonical, thread_account, thread_value,
};
use crate::store::{ChangeRow, ChangeStatus, ConflictRecord, FanoutMiss};

use crate::engine::inputs::Names;
use crate::engine::receipts::{Receipts, change_row};

use super::{InboxOutcome, PushError, PushSettings, is_refusal_v2};

/// A contact as the mirror holds it, for its push.
pub(super) struct Mirrored<'a> {
    /// Its threads as pulled.
    pub(super) threads: &'a [ThreadState],
    /// Its default assignee (member id).
    pub(super) default_assignee_id: Option<&'a str>,
}

/// Pushes one link's Inbox changes to a v2 contact, into `out`. On an error `out` holds what
/// was written before it.
#[allow(clippy::too_many_arguments)] // one contact's push: each input used once
pub(super) async fn push_contact(
    client: &v2::Client,
    names: &mut Names,
    settings: &PushSettings,
    plan: &LinkPlan,
    mirrored: Mirrored<'_>,
    conflict: &dyn Fn(Field, ConflictKind, String) -> ConflictRecord,
    receipts: &mut Receipts<'_>,
    out: &mut InboxOutcome,
) -> Result<(), PushError> {
    // Canonical, as the plan's values and `thread_value` are, so that the two compare.
    let old_default = canonical(Value::Assignee(
        names.assignee(mirrored.default_assignee_id),
    ));
    let mut push = ContactPush {
        client,
        names,
        plan,
        threads: mirrored.threads,
        old_default,
        conflict,
        receipts,
        out,
    };
    let mut changes = push.map_changes(settings).await?;
    if !changes.update.is_empty() {
        push.contact_patch(&mut changes).await?;
    }
    if let Some((change, add, remove)) = &changes.tags {
        push.tags(change, (add.as_slice(), remove.as_slice()))
            .await?;
    }
    if !changes.fanned.is_empty() {
        push.fan_out(&changes.fanned).await?;
    }
    push.thread_patches().await
}

/// The state of one contact's push: its inputs, and `out`, what it did so far.
struct ContactPush<'a, 'r> {
    client: &'a v2::Client,
    names: &'a mut Names,
    plan: &'a LinkPlan,
    threads: &'a [ThreadState],
    /// The contact's default assignee before this push, as the mirror holds it.
    old_default: Value,
    conflict: &'a dyn Fn(Field, ConflictKind, String) -> ConflictRecord,
    receipts: &'a mut Receipts<'r>,
    out: &'a mut InboxOutcome,
}

/// The contact's changes, by where each goes ([`Mapped`]).
struct ContactChanges<'p> {
    /// The contact PATCH.
    update: ContactUpdate,
    /// The changes the contact PATCH carries.
    fields: Vec<&'p Change>,
    /// The tags change, with the tag ids to add and to remove.
    tags: Option<(&'p Change, Vec<String>, Vec<String>)>,
    /// The changes written onto every thread (done, and the default assignee).
    fanned: Vec<&'p Change>,
}

impl<'a> ContactPush<'a, '_> {
    /// Records a conflict of this contact.
    fn push_conflict(&mut self, field: Field, kind: ConflictKind, detail: String) {
        self.out
            .conflicts
            .push((self.conflict)(field, kind, detail));
    }

    /// The receipt row of a change written on the contact. A default assignee's receipt holds
    /// the default it replaced, so that an undo restores that one.
    fn contact_row(&self, change: &Change) -> ChangeRow {
        let replaced;
        let change = if change.field() == Field::Assignee {
            replaced = Change {
                old: self.old_default.clone(),
                new: change.new.clone(),
            };
            &replaced
        } else {
            change
        };
        change_row(
            Side::Inbox,
            self.plan.key.prospect_id.as_str(),
            &self.plan.key,
            change,
            ChangeStatus::Attempted,
        )
    }

    /// Sorts the contact's changes by where they go (creating missing tags if `settings`
    /// say so); an unmapped one is a conflict.
    async fn map_changes(
        &mut self,
        settings: &PushSettings,
    ) -> Result<ContactChanges<'a>, PushError> {
        let mut changes = ContactChanges {
            update: ContactUpdate::default(),
            fields: Vec::new(),
            tags: None,
            fanned: Vec::new(),
        };
        let plan = self.plan;
        for change in plan.inbox.iter().flat_map(|p| &p.changes) {
            let names = &mut *self.names;
            match map(self.client, names, settings, change, &mut changes.update).await? {
                Mapped::Contact => changes.fields.push(change),
                Mapped::Tags(add, remove) => changes.tags = Some((change, add, remove)),
                Mapped::Threads => changes.fanned.push(change),
                Mapped::Unmapped(detail) => {
                    self.push_conflict(change.field(), ConflictKind::Unmapped, detail);
                }
            }
            if change.field() == Field::Assignee && changes.update.assignee_id.is_some() {
                changes.fanned.push(change);
            }
        }
        Ok(changes)
    }

    /// The contact PATCH, receipt first. A refusal is a conflict for each of its fields, and a
    /// default assignee that did not move is not fanned out.
    async fn contact_patch(&mut self, changes: &mut ContactChanges<'_>) -> Result<(), PushError> {
        let rows: Vec<ChangeRow> = changes.fields.iter().map(|c| self.contact_row(c)).collect();
        let ticket = self.receipts.intend(&rows)?;
        match self
            .client
            .update_contact(&self.plan.key.prospect_id, &changes.update)
            .await
        {
            Ok(_) => {
                crate::failpoint::hit("inbox-after-patch");
                self.receipts.settle(ticket, ChangeStatus::Applied)?;
                self.out.writes += 1;
                for change in &changes.fields {
                    if change.field() != Field::Assignee {
                        self.out.confirmed.insert(change.field());
                    }
                }
            }
            Err(err) if is_refusal_v2(&err) => {
                self.receipts.settle(ticket, ChangeStatus::Failed)?;
                for change in &changes.fields {
                    self.push_conflict(
                        change.field(),
                        ConflictKind::RejectedByApi,
                        format!("Inbox refused {} -> {}: {err}", change.field(), change.new),
                    );
                }
                // The default assignee did not move: the threads are left as they are.
                changes.fanned.retain(|c| c.field() != Field::Assignee);
            }
            Err(err) => return Err(err.into()),
        }
        Ok(())
    }

    /// The tag calls of the tags change; a refused one is a conflict.
    async fn tags(
        &mut self,
        change: &Change,
        (add, remove): (&[String], &[String]),
    ) -> Result<(), PushError> {
        if let Some(err) = self.push_tags(change, (add, remove)).await? {
            let detail = format!("Inbox refused tags -> {}: {err}", change.new);
            self.push_conflict(Field::Tags, ConflictKind::RejectedByApi, detail);
        }
        Ok(())
    }

    /// One call per tag added or removed (idempotent), under one receipt for the tags change.
    /// A call Inbox refuses (or the client refuses to send) stops the contact's tag calls and
    /// is returned, for a conflict: the other contacts are still pushed.
    async fn push_tags(
        &mut self,
        change: &Change,
        (add, remove): (&[String], &[String]),
    ) -> Result<Option<v2::Error>, PushError> {
        let ticket = self.receipts.intend(&[self.contact_row(change)])?;
        let calls = (add.iter().map(|id| (true, id))).chain(remove.iter().map(|id| (false, id)));
        let mut written = false;
        for (adding, id) in calls {
            let call = if adding {
                self.client.add_tag(&self.plan.key.prospect_id, id).await
            } else {
                self.client.remove_tag(&self.plan.key.prospect_id, id).await
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
                    self.receipts.settle(ticket, status)?;
                    return Ok(Some(err));
                }
                Err(err) => return Err(err.into()),
            }
            written = true;
            self.out.writes += 1;
        }
        self.receipts.settle(ticket, ChangeStatus::Applied)?;
        self.out.confirmed.insert(Field::Tags);
        Ok(None)
    }

    /// Writes done (archive or unarchive) and the assignee (clear each thread's own, so that
    /// it shows the contact's new default) on every thread that differs, and confirms a field
    /// only when every thread took it; a thread that did not is retried next run, then a
    /// conflict ([`Missed`]).
    async fn fan_out(&mut self, fanned: &[&Change]) -> Result<(), PushError> {
        let mut failed: HashSet<Field> = HashSet::new();
        for thread in self.threads {
            self.fan_out_to(thread, fanned, &mut failed).await?;
        }
        for change in fanned {
            if !failed.contains(&change.field()) {
                self.out.confirmed.insert(change.field());
            }
        }
        Ok(())
    }

    /// The fan-out's write to one thread, if it differs; a field the thread refused or did
    /// not take goes into `failed`.
    async fn fan_out_to(
        &mut self,
        thread: &ThreadState,
        fanned: &[&Change],
        failed: &mut HashSet<Field>,
    ) -> Result<(), PushError> {
        let own_patch = self.plan.threads.iter().any(|p| {
            p.thread_id == thread.thread_id
                && p.changes.iter().any(|c| c.field() == Field::Assignee)
        });
        let update = fan_out_update(thread, fanned, own_patch);
        if update.is_empty() {
            return Ok(());
        }
        let rows = self.fan_out_receipts(thread, fanned, &update);
        let ticket = self.receipts.intend(&rows)?;
        let answer = match self.client.update_thread(&thread.thread_id, &update).await {
            Ok(answer) => {
                crate::failpoint::hit("inbox-after-thread-patch");
                self.receipts.settle(ticket, ChangeStatus::Applied)?;
                answer
            }
            Err(err) if is_refusal_v2(&err) => {
                self.receipts.settle(ticket, ChangeStatus::Failed)?;
                for change in fanned {
                    failed.insert(change.field());
                }
                let detail = format!(
                    "Inbox refused thread {} on {}: {err}",
                    thread.thread_id,
                    thread_account(thread)
                );
                self.push_conflict(fanned[0].field(), ConflictKind::RejectedByApi, detail);
                return Ok(());
            }
            Err(err) => return Err(err.into()),
        };
        self.out.writes += 1;
        for change in fanned {
            if took(&answer, &change.new, self.names) {
                self.receipts
                    .fanout_took(&thread.thread_id, change.field())?;
            } else {
                failed.insert(change.field());
                self.missed(thread, change)?;
            }
        }
        Ok(())
    }

    /// The receipts of one thread's fan-out write, each naming the thread and the value it
    /// showed, so that an undo, even of a fan-out cut short, reverts exactly the threads
    /// written: done where it is archived or unarchived; the assignee where the thread's own
    /// is cleared while it showed another than the contact's old default (its own: the undo
    /// gives it back). A thread that showed the default goes back with the default.
    fn fan_out_receipts(
        &self,
        thread: &ThreadState,
        fanned: &[&Change],
        update: &ThreadUpdate,
    ) -> Vec<ChangeRow> {
        fanned
            .iter()
            .filter_map(|c| {
                let old = match c.field() {
                    Field::Done if update.archived.is_some() => Value::Done(Some(thread.done)),
                    Field::Assignee if update.assignee_id.is_some() => {
                        let showed = thread_value(Field::Assignee, thread);
                        if showed == self.old_default {
                            return None;
                        }
                        showed
                    }
                    _ => return None,
                };
                let change = Change {
                    old,
                    new: c.new.clone(),
                };
                let (key, target) = (&self.plan.key, thread.thread_id.as_str());
                Some(change_row(
                    Side::Inbox,
                    target,
                    key,
                    &change,
                    ChangeStatus::Attempted,
                ))
            })
            .collect()
    }

    /// The thread PATCHes of per-thread mode: a field is confirmed only if none of its threads
    /// missed it.
    async fn thread_patches(&mut self) -> Result<(), PushError> {
        let mut missed: HashSet<Field> = HashSet::new();
        let plan = self.plan;
        for patch in &plan.threads {
            self.thread_patch(patch, &mut missed).await?;
        }
        for field in missed {
            self.out.confirmed.remove(&field);
        }
        Ok(())
    }

    /// One thread PATCH, receipt first; a field the thread did not take goes into `missed`.
    async fn thread_patch(
        &mut self,
        patch: &ThreadPatch,
        missed: &mut HashSet<Field>,
    ) -> Result<(), PushError> {
        let update = self.thread_update(patch);
        if update.is_empty() {
            return Ok(());
        }
        let rows: Vec<ChangeRow> = patch
            .changes
            .iter()
            .map(|c| {
                change_row(
                    Side::Inbox,
                    patch.thread_id.as_str(),
                    &self.plan.key,
                    c,
                    ChangeStatus::Attempted,
                )
            })
            .collect();
        let ticket = self.receipts.intend(&rows)?;
        match self.client.update_thread(&patch.thread_id, &update).await {
            Ok(thread) => {
                crate::failpoint::hit("inbox-after-thread-patch");
                self.receipts.settle(ticket, ChangeStatus::Applied)?;
                self.out.writes += 1;
                self.thread_answered(patch, &thread, missed)?;
            }
            Err(err) if is_refusal_v2(&err) => {
                self.receipts.settle(ticket, ChangeStatus::Failed)?;
                for change in &patch.changes {
                    self.push_conflict(
                        change.field(),
                        ConflictKind::RejectedByApi,
                        format!("Inbox refused thread {}: {err}", patch.thread_id),
                    );
                }
            }
            Err(err) => return Err(err.into()),
        }
        Ok(())
    }

    /// A thread patch's update; an assignee with no Inbox member is a conflict, and left out.
    fn thread_update(&mut self, patch: &ThreadPatch) -> ThreadUpdate {
        let mut update = ThreadUpdate::default();
        for change in &patch.changes {
            match &change.new {
                Value::Done(Some(done)) => update.archived = Some(*done),
                Value::Assignee(None) => update.assignee_id = Some(None),
                Value::Assignee(Some(email)) => match self.names.member_id(email) {
                    Some(id) => update.assignee_id = Some(Some(id.to_string())),
                    None => self.push_conflict(
                        Field::Assignee,
                        ConflictKind::Unmapped,
                        format!("no Inbox member has the e-mail {email}"),
                    ),
                },
                _ => {}
            }
        }
        update
    }

    /// Confirms what a thread took of its patch; a field it did not take goes into `missed`
    /// (and is recorded, if the thread was pulled).
    fn thread_answered(
        &mut self,
        patch: &ThreadPatch,
        thread: &v2::Thread,
        missed: &mut HashSet<Field>,
    ) -> Result<(), PushError> {
        let state = self.threads.iter().find(|t| t.thread_id == patch.thread_id);
        for change in &patch.changes {
            if took(thread, &change.new, self.names) {
                self.receipts
                    .fanout_took(&patch.thread_id, change.field())?;
                self.out.confirmed.insert(change.field());
            } else if let Some(state) = state {
                missed.insert(change.field());
                self.missed(state, change)?;
            }
        }
        Ok(())
    }

    /// Records that `thread` answered without taking `change` ([`Missed`]).
    fn missed(&mut self, thread: &ThreadState, change: &Change) -> Result<(), PushError> {
        let miss = Missed {
            contact: &self.plan.key.prospect_id,
            thread,
            change,
        };
        miss.record(self.conflict, self.receipts, self.out)
    }
}

/// The fan-out's update of one thread: what of `fanned` it does not hold yet. A thread whose
/// own assignee a thread patch of the plan sets (an undo giving it back) is not cleared.
fn fan_out_update(thread: &ThreadState, fanned: &[&Change], own_patch: bool) -> ThreadUpdate {
    let mut update = ThreadUpdate::default();
    for change in fanned {
        match &change.new {
            Value::Done(Some(done)) if thread.done != *done => update.archived = Some(*done),
            Value::Assignee(email) if thread.assignee != *email && !own_patch => {
                update.assignee_id = Some(None);
            }
            _ => {}
        }
    }
    update
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

/// A thread that answered a write without taking its value.
struct Missed<'a> {
    contact: &'a ContactId,
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
        let key = (self.contact, &self.thread.thread_id);
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
