//! The fake Inbox v2's domain operations that change its model: the event log (emit, retention),
//! the contact patch, tag set operations, the thread patch with the assignee fallback, new
//! messages and reminders that move a thread, tag creation.
//!
//! Like `state.rs`, this module must not know about HTTP or read the clock: callers pass `now_ms`.

use serde_json::{Value, json};

use crate::common::{same_number, timestamp};

use super::state::{
    ContactPatch, EVENT_RETENTION_MS, Message, Model, Reject, StoredEvent, TEAM_TAG_LIMIT, Tag,
    Thread, ThreadPatch, fold_name,
};

impl Model {
    /// Appends an event with the next `seq`, then applies retention.
    pub fn emit(&mut self, kind: &'static str, object: (&str, &str), data: Value, now_ms: i64) {
        self.last_seq += 1;
        let (object_type, object_id) = object;
        let url = match object_type {
            "status" => format!("/statuses/{object_id}"),
            other => format!("/{other}s/{object_id}"),
        };
        let envelope = json!({
            "id": self.new_id(),
            "seq": self.last_seq,
            "type": kind,
            "apiVersion": "2",
            "createdAt": timestamp(now_ms),
            "object": { "type": object_type, "id": object_id, "url": url },
            "data": data,
        });
        self.events.push_back(StoredEvent {
            seq: self.last_seq,
            at_ms: now_ms,
            kind,
            envelope,
        });
        self.prune_events(now_ms);
    }

    /// Drops events past the 7-day retention or beyond the cap, oldest first.
    pub fn prune_events(&mut self, now_ms: i64) {
        while self.events.len() > self.event_cap
            || self
                .events
                .front()
                .is_some_and(|e| e.at_ms < now_ms - EVENT_RETENTION_MS)
        {
            self.events.pop_front();
        }
    }

    /// Drops events with `seq <= through` (simulated retention).
    pub fn expire_events_through(&mut self, through: u64) {
        while self.events.front().is_some_and(|e| e.seq <= through) {
            self.events.pop_front();
        }
    }

    fn check_member(&self, field: &'static str, id: &Option<Option<String>>) -> Result<(), Reject> {
        match id {
            Some(Some(id)) if self.member_by_id(id).is_none() => {
                Err(Reject::UnknownMember(field, id.clone()))
            }
            _ => Ok(()),
        }
    }

    /// Marks a CRM edit of contact `c` (moves `updatedAt` only when configured to).
    fn touch_contact(&mut self, c: usize, now_ms: i64) {
        if self.crm_edits_touch_contact {
            self.contacts[c].updated_ms = now_ms;
        }
    }

    /// Validates then applies a contact patch, emitting one event per value that changed.
    /// A new default assignee emits `contact.assigneeChanged` only: the docs leave open whether
    /// inheriting threads also get `thread.assigned`, and the fake sends none (the strict
    /// reading: a client must re-derive the threads' effective assignee itself).
    pub fn patch_contact(
        &mut self,
        c: usize,
        patch: &ContactPatch,
        now_ms: i64,
    ) -> Result<(), Reject> {
        self.check_member("assigneeId", &patch.assignee_id)?;
        let contact = &mut self.contacts[c];
        let mut events: Vec<(&'static str, Value)> = Vec::new();
        if let Some(status) = &patch.status_id
            && contact.status_id != *status
        {
            contact.status_id = status.clone();
            events.push(("contact.statusChanged", json!({ "statusId": status })));
        }
        if let Some(notes) = &patch.notes
            && contact.notes != *notes
        {
            contact.notes = notes.clone();
            events.push(("contact.notesChanged", json!({ "notes": notes })));
        }
        if let Some(valuation) = &patch.valuation
            && !same_number(&contact.valuation, valuation)
        {
            contact.valuation = valuation.clone();
            events.push((
                "contact.valuationChanged",
                json!({ "valuation": valuation }),
            ));
        }
        if let Some(assignee) = &patch.assignee_id
            && contact.assignee_id != *assignee
        {
            contact.assignee_id = assignee.clone();
            events.push(("contact.assigneeChanged", json!({ "assigneeId": assignee })));
        }
        if !events.is_empty() {
            self.touch_contact(c, now_ms);
        }
        let id = self.contacts[c].id.clone();
        for (kind, data) in events {
            self.emit(kind, ("contact", &id), data, now_ms);
        }
        Ok(())
    }

    /// Adds (`add`) or removes a tag; idempotent. Emits `contact.tagsChanged` with the new full
    /// set when the set changed. Returns whether it changed.
    pub fn set_tag(&mut self, c: usize, tag_id: &str, add: bool, now_ms: i64) -> bool {
        let contact = &mut self.contacts[c];
        let has = contact.tag_ids.iter().any(|id| id == tag_id);
        if has == add {
            return false;
        }
        if add {
            contact.tag_ids.push(tag_id.to_owned());
        } else {
            contact.tag_ids.retain(|id| id != tag_id);
        }
        let data = json!({ "tagIds": contact.tag_ids });
        let id = contact.id.clone();
        self.touch_contact(c, now_ms);
        self.emit("contact.tagsChanged", ("contact", &id), data, now_ms);
        true
    }

    /// Validates then applies a thread patch. `thread.assigned`/`thread.unassigned` are emitted
    /// when the *effective* assignee changes (so clearing an own assignee equal to the contact
    /// default emits nothing); `thread.archived`/`thread.unarchived` on a change of `archived`.
    /// `unread` and `typingIndicators` have no documented event.
    pub fn patch_thread(
        &mut self,
        t: usize,
        patch: &ThreadPatch,
        now_ms: i64,
    ) -> Result<(), Reject> {
        self.check_member("assigneeId", &patch.assignee_id)?;
        let before = self.effective_assignee(t).map(str::to_owned);
        let thread = &mut self.threads[t];
        let mut events: Vec<(&'static str, Value)> = Vec::new();
        if let Some(archived) = patch.archived
            && thread.archived != archived
        {
            thread.archived = archived;
            let kind = if archived {
                "thread.archived"
            } else {
                "thread.unarchived"
            };
            // The data of these events is unspecified (non-null): the fake sends `{}`.
            events.push((kind, json!({})));
        }
        if let Some(unread) = patch.unread {
            thread.unread = unread;
        }
        if let Some(typing) = patch.typing_indicators {
            thread.typing_indicators = typing;
        }
        if let Some(assignee) = &patch.assignee_id {
            thread.own_assignee = assignee.clone();
        }
        let after = self.effective_assignee(t).map(str::to_owned);
        if before != after {
            let kind = if after.is_some() {
                "thread.assigned"
            } else {
                "thread.unassigned"
            };
            events.push((kind, json!({ "assigneeId": after })));
        }
        let id = self.threads[t].id.clone();
        for (kind, data) in events {
            self.emit(kind, ("thread", &id), data, now_ms);
        }
        Ok(())
    }

    /// Moves thread `t` to the newest end of the inbox order (strictly after every other).
    fn move_to_newest(&mut self, t: usize, now_ms: i64) {
        let rank = now_ms.max(self.max_rank().saturating_add(1));
        let old = self.thread_key(t);
        self.inbox_order.remove(&old);
        self.threads[t].rank = rank;
        self.inbox_order.insert(self.thread_key(t), t);
    }

    /// A message arrives on (`inbound`) or is sent from thread `t`: it becomes the latest
    /// activity, the thread moves to the newest end, and `message.received`/`message.sent` is
    /// emitted. An outbound message answers a request (`isRequest` becomes false). `archived`
    /// is left as it is. Returns the message id.
    pub fn new_message(&mut self, t: usize, inbound: bool, now_ms: i64) -> String {
        self.messages_created += 1;
        let id = self.new_id();
        let preview = if inbound {
            format!("New message #{} from the fake", self.messages_created)
        } else {
            format!("Reply #{} from the fake", self.messages_created)
        };
        let conversation = format!("fake-conv-{}", self.threads[t].id);
        let thread = &mut self.threads[t];
        thread.last_message = Some(Message {
            id: id.clone(),
            inbound,
            preview,
            created_ms: now_ms,
        });
        thread.platform_id.get_or_insert(conversation);
        if !inbound {
            thread.is_request = false;
        }
        self.move_to_newest(t, now_ms);
        let kind = if inbound {
            "message.received"
        } else {
            "message.sent"
        };
        let data = json!({ "threadId": self.threads[t].id });
        self.emit(kind, ("message", &id), data, now_ms);
        id
    }

    /// A first message from account link `link` to profile `p` opens a thread: it is added at
    /// the newest end, `thread.created` then `message.sent` are emitted. Returns its index.
    pub fn new_thread(&mut self, p: usize, link: usize, now_ms: i64) -> usize {
        let id = self.new_id();
        let t = self.push_thread(Thread {
            id: id.clone(),
            platform_id: None,
            account_link: link,
            profile: p,
            own_assignee: None,
            is_request: false,
            acceptance_state: "notRequired",
            archived: false,
            unread: false,
            syncing: false,
            typing_indicators: "teamDefault",
            sticky: false,
            last_message: None,
            created_ms: now_ms,
            rank: now_ms,
        });
        self.emit("thread.created", ("thread", &id), json!({}), now_ms);
        self.new_message(t, false, now_ms);
        t
    }

    /// A reminder fires on thread `t`: it moves to the newest end without changing
    /// `activity.at`. No event is emitted (the docs list none for reminders).
    pub fn remind(&mut self, t: usize, now_ms: i64) {
        self.move_to_newest(t, now_ms);
    }

    /// Creates a tag; names are unique ignoring case and accents.
    pub fn create_tag(
        &mut self,
        name: String,
        color: String,
        now_ms: i64,
    ) -> Result<usize, Reject> {
        let folded = fold_name(&name);
        if let Some(tag) = self.tags.iter().find(|t| fold_name(&t.name) == folded) {
            return Err(Reject::NameTaken(tag.name.clone()));
        }
        if self.tags.len() >= TEAM_TAG_LIMIT {
            return Err(Reject::TagLimitReached(TEAM_TAG_LIMIT));
        }
        let id = self.new_id();
        self.tags.push(Tag {
            id: id.clone(),
            name,
            color,
        });
        // The data of `tag.created` is unspecified (non-null): the fake sends `{}`.
        self.emit("tag.created", ("tag", &id), json!({}), now_ms);
        Ok(self.tags.len() - 1)
    }
}
