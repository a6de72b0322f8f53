//! Deduplicating what a walk yields: a thread can come twice (it moved during an `asc` walk)
//! and a contact once per thread (`expand=contact`), its copies differing when it changed
//! mid-walk.
//!
//! Pure: no IO, no clock. Threads keep the copy read last (threads have no change stamp, and
//! the later read is the fresher). Contacts keep the copy with the greatest `updated_at`; on a
//! tie, the one read last.

use std::collections::HashMap;

use super::types::{Contact, ContactId, Thread, ThreadId};

/// The deduplicated result of a walk (or of any pages of threads).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Deduped {
    /// Each thread once, by id, without its embedded `contact` (see `contacts`); its
    /// `profile` is kept.
    pub threads: Vec<Thread>,
    /// Each contact once, by id, the copy with the greatest `updated_at`.
    pub contacts: Vec<Contact>,
}

/// Collects pages of a walk and dedupes them as they come.
#[derive(Debug, Default)]
pub struct WalkMerge {
    threads: HashMap<ThreadId, Thread>,
    contacts: Latest,
}

impl WalkMerge {
    /// Adds one page's threads (their embedded contacts go to the contact set).
    pub fn add_page(&mut self, threads: Vec<Thread>) {
        for mut thread in threads {
            if let Some(contact) = thread.contact.take() {
                self.contacts.offer(contact);
            }
            self.threads.insert(thread.id.clone(), thread);
        }
    }

    /// Adds a contact read on its own (`GET /contacts/{id}`, the finder).
    pub fn add_contact(&mut self, contact: Contact) {
        self.contacts.offer(contact);
    }

    /// Threads seen so far.
    pub fn thread_count(&self) -> usize {
        self.threads.len()
    }

    /// The result, threads and contacts each sorted by id.
    pub fn finish(self) -> Deduped {
        let mut threads: Vec<Thread> = self.threads.into_values().collect();
        threads.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        let mut contacts = self.contacts.into_contacts();
        contacts.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        Deduped { threads, contacts }
    }
}

/// Dedupes the pages of a walk in one go (see [`WalkMerge`]).
pub fn dedupe(pages: impl IntoIterator<Item = Vec<Thread>>) -> Deduped {
    let mut merge = WalkMerge::default();
    for page in pages {
        merge.add_page(page);
    }
    merge.finish()
}

/// Contacts by id, keeping the greatest `updated_at`, in order of first appearance.
#[derive(Debug, Default)]
pub(crate) struct Latest {
    index: HashMap<ContactId, usize>,
    contacts: Vec<Contact>,
}

impl Latest {
    /// Keeps `contact` unless a copy with a later `updated_at` is already there.
    pub fn offer(&mut self, contact: Contact) {
        match self.index.get(&contact.id) {
            Some(&at) => {
                if contact.updated_at >= self.contacts[at].updated_at {
                    self.contacts[at] = contact;
                }
            }
            None => {
                self.index.insert(contact.id.clone(), self.contacts.len());
                self.contacts.push(contact);
            }
        }
    }

    pub fn into_contacts(self) -> Vec<Contact> {
        self.contacts
    }
}
