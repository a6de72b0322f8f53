//! The receipt of every write, in the change log, before the write is sent.
//!
//! A write's rows are recorded as `attempted` before its request goes out and settled
//! (`applied`, `pending`, `failed`) when it is answered. A run stopped or killed anywhere
//! therefore leaves in the change log every write it may have made: `runs`, the report and
//! `undo` see them, and `undo` reverts an `attempted` one only where the side holds the value
//! it would have written (so a write that never landed is left alone). A write whose answer
//! was lost (a timeout after retries) stays `attempted` for the same reason.
//!
//! Each receipt is its own small transaction: one per write request, not one per run.

use std::collections::HashSet;

use crate::reconcile::{Change, ContactId, Field, LinkKey, Side, ThreadId};
use crate::store::{BaseBefore, ChangeRow, ChangeStatus, FanoutMiss, RunId, Store};

/// Where a run's writes leave their receipts.
pub(super) struct Receipts<'s> {
    store: &'s mut Store,
    run: RunId,
}

/// The rows of one write, recorded as attempted, waiting to be settled.
#[must_use = "settle the receipt once the write is answered"]
pub(super) struct Ticket(Vec<i64>);

impl<'s> Receipts<'s> {
    /// Receipts of `run` in `store`.
    pub fn new(store: &'s mut Store, run: RunId) -> Receipts<'s> {
        Receipts { store, run }
    }

    /// Records the rows of a write about to be sent; they come marked `attempted` (the callers
    /// build them so).
    pub fn intend(&mut self, rows: &[ChangeRow]) -> Result<Ticket, crate::store::Error> {
        debug_assert!(rows.iter().all(|r| r.status == ChangeStatus::Attempted));
        Ok(Ticket(self.store.record_changes(self.run, rows)?))
    }

    /// Settles a write's rows once it is answered.
    pub fn settle(
        &mut self,
        ticket: Ticket,
        status: ChangeStatus,
    ) -> Result<(), crate::store::Error> {
        if ticket.0.is_empty() {
            return Ok(());
        }
        self.store.settle_changes(&ticket.0, status)
    }

    /// Records that a thread of a contact (`(contact, thread)`) answered a fanned-out write
    /// without taking `value`: whether it missed that value on the push before too.
    pub fn fanout_miss(
        &mut self,
        key: (&ContactId, &ThreadId),
        field: Field,
        value: &str,
    ) -> Result<FanoutMiss, crate::store::Error> {
        self.store.note_fanout_miss(self.run, key, field, value)
    }

    /// A thread took a fanned-out value: its earlier miss, if any, is forgotten.
    pub fn fanout_took(
        &mut self,
        thread_id: &ThreadId,
        field: Field,
    ) -> Result<(), crate::store::Error> {
        self.store.clear_fanout_miss(thread_id, field)
    }

    /// At the end of a push: forgets the misses of earlier runs it did not retry, except those
    /// of the contacts in `kept` (left for the next run).
    pub fn forget_stale_fanout_misses(
        &mut self,
        kept: &HashSet<&ContactId>,
    ) -> Result<(), crate::store::Error> {
        self.store.forget_stale_fanout_misses(self.run, kept)
    }
}

/// A change-log row for one field of a link.
pub(super) fn change_row(
    side: Side,
    target: &str,
    key: &LinkKey,
    change: &Change,
    status: ChangeStatus,
) -> ChangeRow {
    ChangeRow {
        side,
        target: target.to_string(),
        field: change.field(),
        old: change.old.to_string(),
        new: change.new.to_string(),
        status,
        prospect_id: Some(key.prospect_id.clone()),
        crm_id: Some(key.crm_id.clone()),
        old_value: Some(change.old.clone()),
        new_value: Some(change.new.clone()),
        base_before: BaseBefore::NotRecorded,
    }
}
