//! The Inbox side of the push on API v1, for one prospect: one context PATCH with the changed
//! fields, thread PATCHes in per-thread mode, and a read-back of every thread after a
//! fanned-out assignee/done write. Every write leaves its receipt first (`receipts`).

use std::collections::{BTreeSet, HashSet};

use crate::inbox::{self, ContextUpdate, ThreadUpdate};
use crate::reconcile::{
    Change, ConflictKind, Field, InboxPatch, LinkPlan, Side, ThreadPatch, ThreadState, Value,
    thread_value,
};
use crate::store::{ChangeRow, ChangeStatus, ConflictRecord};

use crate::engine::inputs::Names;
use crate::engine::receipts::{Receipts, Ticket, change_row};

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
    let mut push = LinkPush {
        client,
        names,
        settings,
        plan,
        threads,
        identity,
        receipts,
        out: InboxOutcome::default(),
    };
    if let Some(patch) = &plan.inbox {
        push.context(patch).await?;
    }
    for thread_patch in &plan.threads {
        push.thread(thread_patch).await?;
    }
    Ok(push.out)
}

/// The state of one prospect's push: its inputs and what it did so far.
struct LinkPush<'a, 'r> {
    client: &'a inbox::Client,
    names: &'a mut Names,
    settings: &'a PushSettings,
    plan: &'a LinkPlan,
    threads: &'a [ThreadState],
    /// The prospect's username and platform id, for its conflicts.
    identity: (&'a str, &'a str),
    receipts: &'a mut Receipts<'r>,
    out: InboxOutcome,
}

/// A prospect's context PATCH as mapped: the update, the changes it carries, and the fields
/// that had a change Inbox has no counterpart for.
struct MappedContext<'p> {
    update: ContextUpdate,
    fields: Vec<&'p Change>,
    blocked: HashSet<Field>,
}

impl<'a> LinkPush<'a, '_> {
    /// A conflict of this prospect.
    fn conflict(&self, field: Field, kind: ConflictKind, detail: String) -> ConflictRecord {
        super::push_conflict(&self.plan.key, self.identity, field, kind, detail)
    }

    /// Records a conflict of this prospect.
    fn push_conflict(&mut self, field: Field, kind: ConflictKind, detail: String) {
        let conflict = self.conflict(field, kind, detail);
        self.out.conflicts.push(conflict);
    }

    /// The context PATCH (receipt first), then the read-back of a fanned-out value.
    async fn context(&mut self, patch: &'a InboxPatch) -> Result<(), PushError> {
        let mapped = self.map_context(patch).await?;
        if mapped.update.is_empty() {
            return Ok(());
        }
        let plan = self.plan;
        let rows: Vec<ChangeRow> = (mapped.fields.iter())
            .flat_map(|change| self.context_rows(change))
            .collect();
        let ticket = self.receipts.intend(&rows)?;
        let sent = self
            .client
            .patch_context(plan.key.prospect_id.as_str(), &mapped.update);
        match sent.await {
            Ok(_) => self.context_applied(ticket, patch, &mapped).await,
            Err(err) if is_refusal(&err) => {
                self.receipts.settle(ticket, ChangeStatus::Failed)?;
                for change in mapped.fields {
                    self.push_conflict(
                        change.field(),
                        ConflictKind::RejectedByApi,
                        format!("Inbox refused {} -> {}: {err}", change.field(), change.new),
                    );
                }
                Ok(())
            }
            // The answer is lost (network, exhausted retries): the receipt stays
            // `attempted`, since the write may have landed.
            Err(err) => Err(err.into()),
        }
    }

    /// The receipts of one change the context PATCH carries: one for the prospect; for a
    /// thread field its threads disagreed on (a forced write, whose old value is empty), one
    /// per thread it changes, with the value that thread held, so that an undo gives each
    /// thread back its own.
    fn context_rows(&self, change: &Change) -> Vec<ChangeRow> {
        let field = change.field();
        let row = |target: &str, change: &Change| {
            change_row(
                Side::Inbox,
                target,
                &self.plan.key,
                change,
                ChangeStatus::Attempted,
            )
        };
        let agreed = || {
            self.threads
                .iter()
                .all(|t| thread_value(field, t) == change.old)
        };
        if !field.is_thread_field() || agreed() {
            return vec![row(self.plan.key.prospect_id.as_str(), change)];
        }
        (self.threads.iter())
            .map(|t| (t, thread_value(field, t)))
            .filter(|(_, held)| *held != change.new)
            .map(|(t, held)| {
                let change = Change {
                    old: held,
                    new: change.new.clone(),
                };
                row(t.thread_id.as_str(), &change)
            })
            .collect()
    }

    /// Maps the context changes to one update; an unmapped one is a conflict.
    async fn map_context(&mut self, patch: &'a InboxPatch) -> Result<MappedContext<'a>, PushError> {
        let mut mapped = MappedContext {
            update: ContextUpdate::default(),
            fields: Vec::new(),
            blocked: HashSet::new(),
        };
        for change in &patch.changes {
            let names = &mut *self.names;
            match map_change(
                self.client,
                names,
                self.settings,
                change,
                &mut mapped.update,
            )
            .await?
            {
                Mapped::Ok => mapped.fields.push(change),
                Mapped::Unmapped(detail) => {
                    mapped.blocked.insert(change.field());
                    self.push_conflict(change.field(), ConflictKind::Unmapped, detail);
                }
            }
        }
        Ok(mapped)
    }

    /// The context PATCH was applied: its fields are confirmed, and a fanned-out value is read
    /// back from every thread.
    async fn context_applied(
        &mut self,
        ticket: Ticket,
        patch: &InboxPatch,
        mapped: &MappedContext<'_>,
    ) -> Result<(), PushError> {
        crate::failpoint::hit("inbox-after-patch");
        self.receipts.settle(ticket, ChangeStatus::Applied)?;
        self.out.writes += 1;
        for change in &mapped.fields {
            if !mapped.blocked.contains(&change.field()) {
                self.out.confirmed.insert(change.field());
            }
        }
        let fanned: Vec<&Change> = patch
            .changes
            .iter()
            .filter(|c| c.field().is_thread_field())
            .collect();
        if !fanned.is_empty() {
            self.read_back(&fanned).await?;
        }
        Ok(())
    }

    /// One thread PATCH of per-thread mode (receipt first), unless a value is unmapped.
    async fn thread(&mut self, patch: &ThreadPatch) -> Result<(), PushError> {
        let Some(update) = self.thread_update(patch) else {
            return Ok(());
        };
        let rows: Vec<ChangeRow> = patch
            .changes
            .iter()
            .map(|change| {
                change_row(
                    Side::Inbox,
                    patch.thread_id.as_str(),
                    &self.plan.key,
                    change,
                    ChangeStatus::Attempted,
                )
            })
            .collect();
        let ticket = self.receipts.intend(&rows)?;
        match self
            .client
            .patch_thread(patch.thread_id.as_str(), &update)
            .await
        {
            Ok(thread) => {
                crate::failpoint::hit("inbox-after-thread-patch");
                self.receipts.settle(ticket, ChangeStatus::Applied)?;
                self.out.writes += 1;
                for change in &patch.changes {
                    if thread_took(&thread, &change.new, self.names) {
                        self.out.confirmed.insert(change.field());
                    }
                }
            }
            Err(err) if is_refusal(&err) => {
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

    /// A thread patch's update; `None` when there is nothing to send or an assignee has no
    /// Inbox member (a conflict).
    fn thread_update(&mut self, patch: &ThreadPatch) -> Option<ThreadUpdate> {
        let mut update = ThreadUpdate::default();
        let mut ok = true;
        for change in &patch.changes {
            match &change.new {
                Value::Done(Some(done)) => update.done = Some(*done),
                Value::Assignee(None) => update.assignee_id = Some(None),
                Value::Assignee(Some(email)) => match self.names.member_id(email) {
                    Some(id) => update.assignee_id = Some(Some(id.to_string())),
                    None => {
                        ok = false;
                        self.push_conflict(
                            Field::Assignee,
                            ConflictKind::Unmapped,
                            format!("no Inbox member has the e-mail {email}"),
                        );
                    }
                },
                _ => {}
            }
        }
        let empty = update.done.is_none() && update.assignee_id.is_none();
        (ok && !empty).then_some(update)
    }

    /// Reads back every thread of the prospect after a fanned-out assignee/done write; a
    /// thread that did not take the value (offline or paused account) is a conflict and the
    /// field stays unconfirmed.
    async fn read_back(&mut self, fanned: &[&Change]) -> Result<(), inbox::Error> {
        let mut failed: BTreeSet<Field> = BTreeSet::new();
        for thread in self.threads {
            let fresh = match self.client.thread(thread.thread_id.as_str()).await {
                Ok(t) => t,
                Err(inbox::Error::NotFound { .. }) => continue,
                Err(e) => return Err(e),
            };
            for change in fanned {
                let took = match &change.new {
                    Value::Done(Some(d)) => fresh.done == *d,
                    Value::Assignee(email) => {
                        self.names.assignee(fresh.assignee_id.as_deref()) == *email
                    }
                    _ => true,
                };
                if !took {
                    failed.insert(change.field());
                    let detail = format!(
                        "thread {} on {} did not take {} = {} (prospect {})",
                        thread.thread_id,
                        crate::reconcile::thread_account(thread),
                        change.field(),
                        change.new,
                        self.plan.key.prospect_id
                    );
                    self.push_conflict(change.field(), ConflictKind::Fanout, detail);
                }
            }
        }
        for field in failed {
            self.out.confirmed.remove(&field);
        }
        Ok(())
    }
}

/// Whether a thread, as a thread PATCH answered it, holds `value`.
fn thread_took(thread: &inbox::Thread, value: &Value, names: &Names) -> bool {
    match value {
        Value::Done(done) => *done == Some(thread.done),
        Value::Assignee(email) => names.assignee(thread.assignee_id.as_deref()) == *email,
        _ => false,
    }
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
