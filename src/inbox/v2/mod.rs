//! The Inbox (inboxapp.com) v2 API client: [`Client`], the thread [`Walk`] and its dedupe
//! ([`WalkMerge`]), the objects it returns ([`Contact`], [`Thread`], [`Event`], ...), the
//! request types ([`ContactUpdate`], [`ThreadUpdate`], [`ThreadQuery`]) and [`Error`].
//!
//! Only this module (with the rest of `inbox/`) knows the v2 wire format; `wire.rs` never
//! leaves it. It does no SQL, no printing and no merging, reads no environment variables and
//! never logs the token. It is built against `docs/inbox-api-v2.md`, and shares options,
//! pacing, statistics and the retry loop with the v1 client.
//!
//! # How the engine should use it
//!
//! One run against v2, in order (docs/inbox-api-v2.md §4, §7, §12):
//!
//! 1. **Reference data**: [`Client::team`] (currency), [`Client::platforms`] (never hard-code
//!    the set; `username_prefix` says what to strip from CRM handles),
//!    [`Client::account_links`], [`Client::members`], [`Client::tags`],
//!    [`Client::statuses`] (map names ↔ ids once; send ids).
//! 2. **Bookmark, then choose walk or replay.** With a stored `last_seq`, ask
//!    [`Client::retention`]`(last_seq)`: `Covered` means the log still reaches back, so replay
//!    it; `Gap` means events were dropped (7 days, or 25,000 events per team): walk. Without a
//!    stored seq (first run), take [`Client::latest_event_seq`] *before* walking.
//! 3. **Walk**: `let mut walk = client.walk();` then `while let Some(page) =
//!    walk.next_page().await? { merge.add_page(page) }` with a [`WalkMerge`]. The walk is
//!    `folder=all&order=asc`, so a thread that moves mid-walk comes back at the end; the merge
//!    keeps each thread once and each contact once, with the greatest `updated_at`. A walk can
//!    be checkpointed ([`Walk::resume_cursor`] + [`Walk::query`]) and resumed with
//!    [`Client::walk_from`]; [`Error::InvalidCursor`] then means start over. Contacts with no
//!    thread are invisible to the walk: only the finder reaches them.
//! 4. **Replay** [`Client::events`] from the bookmark with `limit` 1,000, continuing from
//!    `last_seq` while `has_more` (a `None` `last_seq` keeps the old one). Contact events
//!    carry the new value ([`Change::ContactTags`] is the full set), so the mirror takes it
//!    directly; thread events ([`Event::thread_id`]) mean "re-read [`Client::thread`]"
//!    (`thread.created` is how a new contact appears). There is no contact-created, -deleted
//!    or merge event: a thread whose `contact_id` changed, or a 404 on an old contact, is a
//!    possible merge, not a deletion. Persist the new `last_seq` only with what it covered.
//! 5. **Match** CRM rows: [`Client::find_contacts`] per platform and [`IdentityKind`], with
//!    every unmatched identity at once (the client asks 100 per call). Strip the platform's
//!    `username_prefix` first; a username matching several contacts is an identity conflict.
//!    Then store the contact id and the `(platform, platform_id)` pairs, never usernames.
//! 6. **Push, per contact, in this order**: [`Client::update_contact`] (status by id, notes,
//!    valuation, default assignee; only changed fields, `Some(None)` to clear), then one
//!    [`Client::add_tag`] / [`Client::remove_tag`] per tag (idempotent; create missing tags
//!    first with [`Client::create_tag`]), then one [`Client::update_thread`] per thread whose
//!    `archived` or own assignee must change (v2 has no fan-out: list them with
//!    [`ThreadQuery::of_contact`]). Re-read the contact before pushing (events can be stale),
//!    and keep a write receipt per call: events carry no actor, so echoes are recognised by
//!    value.
//! 7. **Budget**: every call counts in [`Client::stats`]. [`Error::is_retryable`] is false for
//!    an `hour`/`day` [`Error::RateLimited`] ([`Error::quota_exhausted`] gives its
//!    `reset_at`): checkpoint and end the push there; the next run continues.

mod client;
mod dedupe;
mod error;
mod transport;
mod types;
mod wire;

#[cfg(test)]
mod tests;

pub use client::{Client, FINDER_BATCH, MAX_EVENT_PAGE, Walk};
pub use dedupe::{Deduped, WalkMerge, dedupe};
pub use error::{Error, Issue, Missing, RateWindow, TransientCause};
pub use types::{
    AccountLink, AccountLinkStatus, Change, Contact, ContactId, ContactUpdate, Cursor, Event,
    EventPage, Folder, IdentityKind, Member, MemberRole, Order, Page, Platform, PlatformInfo,
    Profile, Retention, StateSync, Status, Tag, Team, Thread, ThreadExpand, ThreadId, ThreadQuery,
    ThreadUpdate,
};
