//! The v2 objects as the engine sees them, and the requests it can make: plain Rust types
//! with no serde on them (the wire shapes are in `wire.rs` and stay inside `inbox/`).
//!
//! Only the fields a CRM sync needs are kept. Open values (a platform, an account link's
//! status) keep what they do not know as `Other(String)`, so a new platform never fails a
//! page. This module does no IO.

use std::fmt;

use chrono::{DateTime, Utc};

use crate::reconcile::Amount;

// The ids are the crate's own (`reconcile::ids`): the engine keys its mirror rows by the same
// types the client takes and returns, with no conversion between them.
pub use crate::reconcile::{ContactId, ThreadId};

/// Declares an open enum: known values, and `Other(String)` for the rest.
macro_rules! open_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $wire:literal,)* }) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)*
            /// A value this client does not know, as sent.
            Other(String),
        }

        impl $name {
            /// The wire value.
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $wire,)*
                    $name::Other(other) => other,
                }
            }
        }

        impl From<&str> for $name {
            fn from(text: &str) -> $name {
                match text {
                    $($wire => $name::$variant,)*
                    other => $name::Other(other.to_owned()),
                }
            }
        }

        impl From<String> for $name {
            fn from(text: String) -> $name {
                match text.as_str() {
                    $($wire => $name::$variant,)*
                    _ => $name::Other(text),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

open_enum!(
    /// A platform. Only `twitter` is named by the docs; LinkedIn (probably `linkedin`) and any
    /// later one arrive as `Other`. Read the team's set from `GET /platforms`.
    Platform {
        /// X.
        Twitter => "twitter",
    }
);

open_enum!(
    /// An account link's state.
    AccountLinkStatus {
        /// Sends and syncs.
        Active => "active",
        /// Lost its connection; must be reconnected in Inbox.
        Offline => "offline",
        /// Stopped for the link's `pause_reasons`.
        Paused => "paused",
    }
);

open_enum!(
    /// A member's role.
    MemberRole {
        /// The team's owner.
        Owner => "owner",
        /// Manages the team.
        Admin => "admin",
        /// Cannot change settings, billing or members.
        User => "user",
    }
);

/// An opaque page cursor (`nextCursor`). Valid only with the filters it was issued for; it may
/// be stored and passed back later (for how long is not documented).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Cursor(pub String);

/// One page of a list.
#[derive(Clone, Debug, PartialEq)]
pub struct Page<T> {
    /// The items of this page.
    pub data: Vec<T>,
    /// The cursor of the next page; `None` on the last one (also when the server sent an empty
    /// string).
    pub next_cursor: Option<Cursor>,
}

/// `GET /team`: the team the token belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Team {
    /// Team id.
    pub id: String,
    /// Team name.
    pub name: String,
    /// URL segment in Inbox.
    pub slug: String,
    /// ISO 4217 code of contact valuations, e.g. `USD`.
    pub currency: String,
}

/// `GET /platforms`: a platform the team can use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlatformInfo {
    /// The platform.
    pub platform: Platform,
    /// Display name, e.g. `X`.
    pub name: String,
    /// Put before a username to display it, e.g. `@`; empty when the platform uses none.
    pub username_prefix: String,
    /// The platform's baseline capabilities, e.g. `thread:archive:mutate`.
    pub capabilities: Vec<String>,
    /// Whether archive state is observed from / written to the platform; `None` if the
    /// platform has no such state.
    pub archive_state: Option<StateSync>,
    /// The same for read state.
    pub read_state: Option<StateSync>,
}

/// How a thread state relates to the platform (`threadState.archive`, `.read`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateSync {
    /// Changes made in the platform's own app show up in Inbox.
    pub observe: bool,
    /// Changes made in Inbox are applied on the platform.
    pub mutate: bool,
}

/// `GET /members`: a team member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// The id `assigneeId` fields take.
    pub id: String,
    /// Name, if set.
    pub name: Option<String>,
    /// E-mail address.
    pub email: String,
    /// Role.
    pub role: MemberRole,
}

/// `GET /account-links`: a platform account the team connected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountLink {
    /// Account link id (threads name it `account_link_id`).
    pub id: String,
    /// Its platform.
    pub platform: Platform,
    /// Its id on the platform.
    pub platform_id: String,
    /// Username without prefix, if the platform has one.
    pub username: Option<String>,
    /// Display name.
    pub display_name: Option<String>,
    /// State.
    pub status: AccountLinkStatus,
    /// Why it is paused (`billing`, `unverified`, ...).
    pub pause_reasons: Vec<String>,
    /// What it can do, e.g. `thread:archive:mutate`.
    pub capabilities: Vec<String>,
}

/// A tag (`GET /tags`, `POST /tags`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tag {
    /// Tag id.
    pub id: String,
    /// Name, unique in the team ignoring case and accents.
    pub name: String,
    /// Lowercase hex colour.
    pub color: String,
}

/// A pipeline status (`GET /statuses`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// Status id (what `Contact::status_id` holds).
    pub id: String,
    /// Name, unique in the team ignoring case and accents.
    pub name: String,
    /// Lowercase hex colour, if any.
    pub color: Option<String>,
}

/// A contact: the team's record of a person, grouping their profiles.
#[derive(Clone, Debug, PartialEq)]
pub struct Contact {
    /// Contact id.
    pub id: ContactId,
    /// Pipeline status id.
    pub status_id: Option<String>,
    /// Tag ids (the full set).
    pub tag_ids: Vec<String>,
    /// Free-text notes.
    pub notes: Option<String>,
    /// Deal value in the team's currency.
    pub valuation: Option<Amount>,
    /// The default assignee of the contact's threads that have none of their own.
    pub assignee_id: Option<String>,
    /// When Inbox created the contact.
    pub created_at: DateTime<Utc>,
    /// When Inbox last changed the contact.
    pub updated_at: DateTime<Utc>,
    /// The person's profiles, oldest link first; those on platforms unavailable to the team
    /// are left out, so a missing profile is not an unlinking.
    pub profiles: Vec<Profile>,
}

/// One person's account on one platform. Its key is `(platform, platform_id)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    /// Profile id (threads name it `profile_id`).
    pub id: String,
    /// Platform.
    pub platform: Platform,
    /// The platform's id of the account (X: the numeric user id).
    pub platform_id: String,
    /// Username without its display prefix (the form lookups take).
    pub username: String,
    /// Username as the platform displays it, e.g. `@jane`.
    pub handle: String,
    /// Display name.
    pub display_name: String,
}

/// A conversation between one account link and one profile.
#[derive(Clone, Debug, PartialEq)]
pub struct Thread {
    /// Thread id.
    pub id: ThreadId,
    /// The platform of its account link and profile.
    pub platform: Platform,
    /// The conversation's id on the platform; `None` until the first message.
    pub platform_id: Option<String>,
    /// The team's side of the conversation.
    pub account_link_id: String,
    /// The other side's profile id.
    pub profile_id: String,
    /// The other side's contact.
    pub contact_id: ContactId,
    /// The *effective* assignee: the thread's own, else its contact's default. Which of the
    /// two it is cannot be told when it equals the default.
    pub assignee_id: Option<String>,
    /// Archived.
    pub archived: bool,
    /// An incoming request not yet replied to or accepted.
    pub is_request: bool,
    /// Marked unread in Inbox.
    pub unread: bool,
    /// When the thread was created.
    pub created_at: DateTime<Utc>,
    /// When its latest activity happened, if any.
    pub activity_at: Option<DateTime<Utc>>,
    /// The profile, when expanded (`expand=profile`).
    pub profile: Option<Profile>,
    /// The contact, when expanded (`expand=contact`).
    pub contact: Option<Contact>,
}

impl Thread {
    /// The folder the thread is in, apart from `all` and `noReply` (which needs the latest
    /// activity's direction): archived wins over request.
    pub fn folder(&self) -> Folder {
        if self.archived {
            Folder::Archived
        } else if self.is_request {
            Folder::Requests
        } else {
            Folder::Inbox
        }
    }
}

/// `GET /threads?folder=`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Folder {
    /// Neither archived nor requests (the API's default).
    #[default]
    Inbox,
    /// Inbox threads whose latest activity is inbound.
    NoReply,
    /// Unarchived requests.
    Requests,
    /// Archived threads, requests included.
    Archived,
    /// Every folder: the full walk.
    All,
}

impl Folder {
    /// The query value.
    pub fn as_str(self) -> &'static str {
        match self {
            Folder::Inbox => "inbox",
            Folder::NoReply => "noReply",
            Folder::Requests => "requests",
            Folder::Archived => "archived",
            Folder::All => "all",
        }
    }
}

/// `GET /threads?order=`, by the hidden "inbox order" (activity, reminders).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Order {
    /// Oldest first: a thread that moves during a walk comes back at its end (no loss).
    Asc,
    /// Newest first (the API's default): a thread that moves during a walk can be skipped.
    #[default]
    Desc,
}

impl Order {
    /// The query value.
    pub fn as_str(self) -> &'static str {
        match self {
            Order::Asc => "asc",
            Order::Desc => "desc",
        }
    }
}

/// What `GET /threads` may embed (`expand=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ThreadExpand {
    /// The thread's profile.
    Profile,
    /// The thread's contact (with tags, status, notes...).
    Contact,
    /// The account link.
    AccountLink,
    /// The assignee member.
    Assignee,
}

impl ThreadExpand {
    /// The query value.
    pub fn as_str(self) -> &'static str {
        match self {
            ThreadExpand::Profile => "profile",
            ThreadExpand::Contact => "contact",
            ThreadExpand::AccountLink => "accountLink",
            ThreadExpand::Assignee => "assignee",
        }
    }
}

/// What `GET /threads` lists. Every page of one listing must use the same query: the cursor
/// is valid only with the filters it was issued for.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ThreadQuery {
    /// Folder.
    pub folder: Folder,
    /// Order.
    pub order: Order,
    /// Page size, 1–100.
    pub limit: u8,
    /// Embedded objects, at most 4.
    pub expand: Vec<ThreadExpand>,
    /// Only threads of these contacts (any of them).
    pub contact_ids: Vec<ContactId>,
    /// Only threads of these account links (any of them).
    pub account_link_ids: Vec<String>,
}

impl ThreadQuery {
    /// The full walk: `folder=all&order=asc&limit=100&expand=contact&expand=profile`.
    pub fn full_walk() -> ThreadQuery {
        ThreadQuery {
            folder: Folder::All,
            order: Order::Asc,
            limit: 100,
            expand: vec![ThreadExpand::Contact, ThreadExpand::Profile],
            contact_ids: Vec::new(),
            account_link_ids: Vec::new(),
        }
    }

    /// Every thread of one contact, across account links and platforms (the fan-out check
    /// before archiving or assigning its threads).
    pub fn of_contact(contact_id: ContactId) -> ThreadQuery {
        ThreadQuery {
            contact_ids: vec![contact_id],
            expand: Vec::new(),
            ..ThreadQuery::full_walk()
        }
    }
}

/// How `GET /contacts` finds contacts on one platform.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IdentityKind {
    /// By the profile's `platformId` (a stable key).
    PlatformId,
    /// By the profile's username, without its display prefix (one may match several
    /// contacts: an identity conflict for the caller, not a pick).
    Username,
}

impl IdentityKind {
    /// The query key.
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityKind::PlatformId => "platformId",
            IdentityKind::Username => "username",
        }
    }
}

/// Body of `PATCH /contacts/{id}`. `None` leaves a field as it is (the key is not sent);
/// `Some(None)` clears it (sends `null`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContactUpdate {
    /// Status by id (the API also takes a name; send ids so a status named like another's id
    /// cannot be hit).
    pub status: Option<Option<String>>,
    /// Notes.
    pub notes: Option<Option<String>>,
    /// Deal value, sent as a JSON number.
    pub valuation: Option<Option<Amount>>,
    /// The contact's *default* assignee: it reaches every thread without its own.
    pub assignee_id: Option<Option<String>>,
}

impl ContactUpdate {
    /// Whether the update would change nothing.
    pub fn is_empty(&self) -> bool {
        *self == ContactUpdate::default()
    }
}

/// Body of `PATCH /threads/{id}`. `None` fields are not sent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ThreadUpdate {
    /// Archive (`true`) or unarchive; applied on the platform too when the account link can.
    pub archived: Option<bool>,
    /// The thread's *own* assignee; `Some(None)` sends `null`, which falls back to the
    /// contact's default (it does not unassign when the contact has one).
    pub assignee_id: Option<Option<String>>,
}

impl ThreadUpdate {
    /// Whether the update would change nothing.
    pub fn is_empty(&self) -> bool {
        *self == ThreadUpdate::default()
    }
}

/// One page of `GET /events`.
#[derive(Clone, Debug, PartialEq)]
pub struct EventPage {
    /// Events in `seq` order (fewer than the limit when a type filter left some out).
    pub events: Vec<Event>,
    /// The last seq *read*, filtered events included: the next `afterSeq`. `None` when nothing
    /// was read (keep the previous one).
    pub last_seq: Option<u64>,
    /// Whether more events follow.
    pub has_more: bool,
}

/// Whether the event log still holds every event after a stored seq.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retention {
    /// The oldest retained event is at most `after_seq + 1`: replaying loses nothing.
    Covered,
    /// Events after the stored seq were dropped (7 days or 25,000 events per team), or the log
    /// is empty so nothing proves otherwise: run a full walk.
    Gap {
        /// The oldest retained seq, `None` when the log is empty.
        oldest_seq: Option<u64>,
    },
}

/// One event of the log (or of a webhook): thin, it names what changed and carries the new
/// values of contact fields only.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// Unique event id, for dedupe with webhooks.
    pub id: String,
    /// Per-team sequence number.
    pub seq: u64,
    /// The wire type, e.g. `contact.tagsChanged`.
    pub event_type: String,
    /// When it happened.
    pub created_at: DateTime<Utc>,
    /// The object's kind (`object.type`): `thread`, `contact`, `message`, `tag`, ...
    pub object_type: String,
    /// The object's id (`object.id`).
    pub object_id: String,
    /// What changed.
    pub change: Change,
}

impl Event {
    /// The contact this event concerns, if it names one.
    pub fn contact_id(&self) -> Option<ContactId> {
        match &self.change {
            Change::ContactStatus { .. }
            | Change::ContactTags { .. }
            | Change::ContactNotes { .. }
            | Change::ContactValuation { .. }
            | Change::ContactAssignee { .. } => Some(ContactId::from(self.object_id.clone())),
            Change::Target { contact_id, .. } => contact_id.clone(),
            _ => None,
        }
    }

    /// The thread this event concerns, if it names one.
    pub fn thread_id(&self) -> Option<ThreadId> {
        match &self.change {
            Change::ThreadCreated
            | Change::ThreadDeleted { .. }
            | Change::ThreadAssignee { .. }
            | Change::ThreadArchived { .. } => Some(ThreadId::from(self.object_id.clone())),
            Change::Message { thread_id, .. } | Change::Target { thread_id, .. } => {
                Some(thread_id.clone())
            }
            _ => None,
        }
    }
}

/// What an [`Event`] says changed. Contact changes carry the new value; thread changes mean
/// "re-read the thread" (`thread.created` is how a new contact shows up: read the thread for
/// its `contact_id`).
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    /// `thread.created`.
    ThreadCreated,
    /// `thread.deleted`.
    ThreadDeleted {
        /// The thread's account link.
        account_link_id: Option<String>,
    },
    /// `thread.assigned` / `thread.unassigned`: the thread's new effective assignee.
    ThreadAssignee {
        /// The new assignee; `None` for `thread.unassigned`.
        assignee_id: Option<String>,
    },
    /// `thread.archived` / `thread.unarchived`.
    ThreadArchived {
        /// `true` for `thread.archived`.
        archived: bool,
    },
    /// `message.*`: activity in a thread.
    Message {
        /// The message's thread.
        thread_id: ThreadId,
        /// `message.sent` / `message.received`: the thread moved in inbox order and may have
        /// left the requests folder; `false` for edits, deletions and reactions, which change
        /// nothing a mirror holds.
        new_message: bool,
    },
    /// `contact.statusChanged`.
    ContactStatus {
        /// The new status id.
        status_id: Option<String>,
    },
    /// `contact.tagsChanged`.
    ContactTags {
        /// The new full set of tag ids.
        tag_ids: Vec<String>,
    },
    /// `contact.notesChanged`.
    ContactNotes {
        /// The new notes.
        notes: Option<String>,
    },
    /// `contact.valuationChanged`.
    ContactValuation {
        /// The new valuation.
        valuation: Option<Amount>,
    },
    /// `contact.assigneeChanged`: the contact's default assignee.
    ContactAssignee {
        /// The new default.
        assignee_id: Option<String>,
    },
    /// `tag.created` / `tag.updated` / `tag.deleted`: re-read `GET /tags`.
    Tag {
        /// `tag.deleted`: Inbox strips the tag from contacts, maybe without an event each.
        deleted: bool,
    },
    /// `status.created` / `status.updated` / `status.deleted`: re-read `GET /statuses`.
    Status {
        /// `status.deleted`: Inbox clears the status on contacts, maybe without an event each.
        deleted: bool,
    },
    /// A `contact.*` event of a type this client does not know: re-read the contact.
    ContactOther,
    /// `target.*`: a campaign contacted, followed up or got a reply.
    Target {
        /// The thread.
        thread_id: ThreadId,
        /// The contact, when there is one.
        contact_id: Option<ContactId>,
    },
    /// `thread.typing`, `campaign.*`, or a type added later that is not about a contact:
    /// nothing to sync.
    Other,
}
