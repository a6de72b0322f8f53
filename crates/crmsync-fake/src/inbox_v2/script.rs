//! What tests and hooks change in the fake Inbox v2 by hand, as a person in the Inbox app would:
//! new messages and threads, reminders, contact and thread edits, scripted failures. [`Script`]
//! is the facade a hook gets while the state lock is held; the same operations on [`State`] back
//! the [`super::FakeInboxV2`] methods.

use serde_json::Number;

use super::state::{ContactPatch, ThreadPatch};
use super::{ContactEdit, ContactView, Direction, RateLimit, State, ThreadEdit, ThreadView};
use crate::common::now_ms;

/// Mutable access to the fake from inside a hook (the state lock is held, so a hook must use
/// this facade rather than the [`FakeInboxV2`] methods, which would deadlock).
pub struct Script<'a> {
    pub(super) state: &'a mut State,
}

impl Script<'_> {
    /// See [`FakeInboxV2::new_message`].
    pub fn new_message(&mut self, thread_id: &str, direction: Direction) -> String {
        self.state.new_message(thread_id, direction)
    }

    /// See [`FakeInboxV2::new_thread`].
    pub fn new_thread(&mut self, contact_id: &str) -> String {
        self.state.new_thread(contact_id)
    }

    /// See [`FakeInboxV2::remind`].
    pub fn remind(&mut self, thread_id: &str) {
        self.state.remind(thread_id);
    }

    /// See [`FakeInboxV2::edit_contact`].
    pub fn edit_contact(&mut self, contact_id: &str, edit: ContactEdit) {
        self.state.edit_contact(contact_id, edit);
    }

    /// See [`FakeInboxV2::edit_thread`].
    pub fn edit_thread(&mut self, thread_id: &str, edit: ThreadEdit) {
        self.state.edit_thread(thread_id, edit);
    }

    /// See [`FakeInboxV2::contact`].
    pub fn contact(&self, contact_id: &str) -> Option<ContactView> {
        self.state.contact(contact_id)
    }

    /// See [`FakeInboxV2::thread`].
    pub fn thread(&self, thread_id: &str) -> Option<ThreadView> {
        self.state.thread(thread_id)
    }

    /// See [`FakeInboxV2::fail_next`]; called from a hook it also affects the current request.
    pub fn fail_next(&mut self, n: usize, status: u16) {
        self.state.fail_next(n, status);
    }

    /// See [`FakeInboxV2::set_rate_limit`]; from a hook it also decides the current request
    /// (as another client of the team spending the budget would).
    pub fn set_rate_limit(&mut self, rate_limit: RateLimit) {
        self.state.control.limiter.set(rate_limit);
    }

    /// See [`FakeInboxV2::malformed_next`]; from a hook it also affects the current request.
    pub fn malformed_next(&mut self, n: usize) {
        self.state.control.malformed_next += n;
    }

    /// See [`FakeInboxV2::expire_events_through`].
    pub fn expire_events_through(&mut self, seq: u64) {
        self.state.model.expire_events_through(seq);
    }
}

impl State {
    pub(super) fn contact_index(&self, contact_id: &str) -> usize {
        // Scripting with an unknown id is a bug in the calling test.
        *self
            .model
            .contact_by_id
            .get(contact_id)
            .unwrap_or_else(|| panic!("fake inbox v2: unknown contact {contact_id:?}"))
    }

    pub(super) fn thread_index(&self, thread_id: &str) -> usize {
        *self
            .model
            .thread_by_id
            .get(thread_id)
            .unwrap_or_else(|| panic!("fake inbox v2: unknown thread {thread_id:?}"))
    }

    pub(super) fn member_id_by_email(&self, email: &str) -> String {
        self.model
            .members
            .iter()
            .find(|m| m.email.eq_ignore_ascii_case(email))
            .map(|m| m.id.clone())
            .unwrap_or_else(|| panic!("fake inbox v2: unknown member email {email:?}"))
    }

    pub(super) fn tag_id_by_name(&self, name: &str) -> String {
        self.model
            .tag_by_ref(name)
            .map(|t| self.model.tags[t].id.clone())
            .unwrap_or_else(|| panic!("fake inbox v2: unknown tag {name:?}"))
    }

    pub(super) fn new_message(&mut self, thread_id: &str, direction: Direction) -> String {
        let t = self.thread_index(thread_id);
        let inbound = direction == Direction::Inbound;
        self.model.new_message(t, inbound, now_ms())
    }

    pub(super) fn new_thread(&mut self, contact_id: &str) -> String {
        let c = self.contact_index(contact_id);
        let model = &mut self.model;
        let p = *model.contacts[c]
            .profiles
            .first()
            .expect("the contact has a profile");
        let platform = model.profiles[p].platform;
        let link = (model.account_links.iter())
            .position(|l| l.platform == platform)
            .expect("an account link on the profile's platform");
        let t = model.new_thread(p, link, now_ms());
        model.threads[t].id.clone()
    }

    pub(super) fn remind(&mut self, thread_id: &str) {
        let t = self.thread_index(thread_id);
        self.model.remind(t, now_ms());
    }

    pub(super) fn edit_contact(&mut self, contact_id: &str, edit: ContactEdit) {
        let c = self.contact_index(contact_id);
        let now = now_ms();
        for name in &edit.tags_add {
            let id = self.tag_id_by_name(name);
            self.model.set_tag(c, &id, true, now);
        }
        for name in &edit.tags_remove {
            let id = self.tag_id_by_name(name);
            self.model.set_tag(c, &id, false, now);
        }
        let status_id = edit.status.map(|status| {
            status.map(|name| {
                let s = self
                    .model
                    .status_by_ref(&name)
                    .unwrap_or_else(|| panic!("fake inbox v2: unknown status {name:?}"));
                self.model.statuses[s].id.clone()
            })
        });
        let patch = ContactPatch {
            status_id,
            notes: edit.notes,
            valuation: edit.valuation.map(|v| v.map(number_from_f64)),
            assignee_id: edit
                .assignee
                .map(|a| a.map(|email| self.member_id_by_email(&email))),
        };
        if let Err(reject) = self.model.patch_contact(c, &patch, now) {
            panic!("fake inbox v2: edit_contact rejected: {reject:?}");
        }
    }

    pub(super) fn edit_thread(&mut self, thread_id: &str, edit: ThreadEdit) {
        let t = self.thread_index(thread_id);
        if let Some(sticky) = edit.sticky {
            self.model.threads[t].sticky = sticky;
        }
        let patch = ThreadPatch {
            archived: edit.archived,
            unread: edit.unread,
            assignee_id: edit
                .assignee
                .map(|a| a.map(|email| self.member_id_by_email(&email))),
            typing_indicators: None,
        };
        if let Err(reject) = self.model.patch_thread(t, &patch, now_ms()) {
            panic!("fake inbox v2: edit_thread rejected: {reject:?}");
        }
    }

    pub(super) fn contact(&self, contact_id: &str) -> Option<ContactView> {
        let c = *self.model.contact_by_id.get(contact_id)?;
        Some(self.model.contact_view(c))
    }

    pub(super) fn thread(&self, thread_id: &str) -> Option<ThreadView> {
        let t = *self.model.thread_by_id.get(thread_id)?;
        Some(self.model.thread_view(t))
    }

    pub(super) fn fail_next(&mut self, n: usize, status: u16) {
        self.control
            .fail_next
            .extend(std::iter::repeat_n(status, n));
    }
}

/// An integral f64 becomes a JSON integer (`5000`, not `5000.0`).
fn number_from_f64(value: f64) -> Number {
    if value.fract() == 0.0 && value.abs() < 9e15 {
        Number::from(value as i64)
    } else {
        // Non-finite values cannot come from JSON; fall back to 0 rather than panic.
        Number::from_f64(value).unwrap_or_else(|| Number::from(0))
    }
}
