//! The fake Inbox v2's data model: one team with its account links (X and LinkedIn), members,
//! tags, statuses, contacts and their profiles, threads in a hidden inbox order, the event log
//! and the write log, with the reads on them (lookups, thread and contact paging, views). The
//! operations that change it are `writes.rs`.
//!
//! This module must not know about HTTP (status codes, headers, query strings, cursors' text)
//! or build response shapes; rendering lives in `wire.rs`. It never reads the clock: callers
//! pass `now_ms`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ops::Bound;

use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::{Number, Value};

use crate::common::{gen_id, timestamp};

use super::{ContactView, ProfileView, ThreadView, WriteRecord};

/// Events older than this are dropped ("Events are kept for 7 days").
pub(crate) const EVENT_RETENTION_MS: i64 = 7 * 86_400_000;

/// The most tags a team can have before `POST /tags` answers `422 tagLimitReached`. The docs
/// give no number; this one is ours.
pub(crate) const TEAM_TAG_LIMIT: usize = 500;

/// A messaging platform. The API treats `platform` as an open string; the fake serves these two.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Platform {
    /// X, whose API value is `twitter`.
    Twitter,
    /// LinkedIn, `linkedin` (the value is not in the vendor's spec; see docs §10).
    LinkedIn,
}

impl Platform {
    /// Every platform the fake's team can use, in `GET /platforms` order.
    pub const ALL: [Platform; 2] = [Platform::Twitter, Platform::LinkedIn];

    /// The API value.
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Twitter => "twitter",
            Platform::LinkedIn => "linkedin",
        }
    }

    /// The platform named by an API value (exact, lowercase).
    pub fn parse(text: &str) -> Option<Platform> {
        Platform::ALL.into_iter().find(|p| p.as_str() == text)
    }

    /// `usernamePrefix`: `@` on X, none on LinkedIn.
    pub fn username_prefix(self) -> &'static str {
        match self {
            Platform::Twitter => "@",
            Platform::LinkedIn => "",
        }
    }
}

/// The team the token belongs to.
#[derive(Debug, Clone)]
pub(crate) struct Team {
    pub id: String,
    pub name: String,
    pub slug: String,
    pub created_ms: i64,
}

/// A connected platform account.
#[derive(Debug, Clone)]
pub(crate) struct AccountLink {
    pub id: String,
    pub platform: Platform,
    pub platform_id: String,
    pub username: Option<String>,
    pub display_name: Option<String>,
    pub created_ms: i64,
    pub synced_ms: Option<i64>,
}

/// A team member (assignee target).
#[derive(Debug, Clone)]
pub(crate) struct Member {
    pub id: String,
    pub name: Option<String>,
    pub email: String,
    pub role: &'static str,
    pub created_ms: i64,
}

/// A tag (many per contact).
#[derive(Debug, Clone)]
pub(crate) struct Tag {
    pub id: String,
    pub name: String,
    /// Lowercase `#rrggbb`.
    pub color: String,
}

/// A pipeline status (at most one per contact).
#[derive(Debug, Clone)]
pub(crate) struct Status {
    pub id: String,
    pub name: String,
    pub color: Option<String>,
    pub created_ms: i64,
}

/// One person's account on one platform.
#[derive(Debug, Clone)]
pub(crate) struct Profile {
    pub id: String,
    pub platform: Platform,
    /// X: a numeric user id as a string; LinkedIn: a non-numeric member id.
    pub platform_id: String,
    /// Without the display prefix: `sarahchen` on X, a slug like `jane-doe-1a2b3c` on LinkedIn.
    pub username: String,
    pub display_name: String,
    /// Index into `Model::contacts`.
    pub contact: usize,
    pub updated_ms: i64,
    pub platform_created_ms: i64,
    /// Seed for the derived, never-changing fields (bio, counts, ...).
    pub detail_seed: u64,
}

/// The team's record of a person, grouping one or more profiles.
#[derive(Debug, Clone)]
pub(crate) struct Contact {
    pub id: String,
    /// Indices into `Model::profiles`, oldest link first.
    pub profiles: Vec<usize>,
    /// Tag ids in the order they were added.
    pub tag_ids: Vec<String>,
    pub status_id: Option<String>,
    pub notes: Option<String>,
    pub valuation: Option<Number>,
    /// The default assignee of the contact's threads that have none of their own.
    pub assignee_id: Option<String>,
    pub created_ms: i64,
    pub updated_ms: i64,
    /// Indices into `Model::threads`, in creation order.
    pub threads: Vec<usize>,
}

/// The latest message of a thread (only what `lastMessage` and `activity` show is modelled).
#[derive(Debug, Clone)]
pub(crate) struct Message {
    pub id: String,
    /// Received from the profile (true) or sent by the account link (false).
    pub inbound: bool,
    pub preview: String,
    pub created_ms: i64,
}

/// A conversation between one account link and one profile.
#[derive(Debug, Clone)]
pub(crate) struct Thread {
    pub id: String,
    /// The conversation id on the platform; `None` until the first message.
    pub platform_id: Option<String>,
    /// Index into `Model::account_links`.
    pub account_link: usize,
    /// Index into `Model::profiles`.
    pub profile: usize,
    /// The thread's own assignee; the effective one falls back to the contact's default.
    pub own_assignee: Option<String>,
    pub is_request: bool,
    pub acceptance_state: &'static str,
    pub archived: bool,
    pub unread: bool,
    pub syncing: bool,
    pub typing_indicators: &'static str,
    /// A test knob: API writes answer 200 and change nothing (a thread that does not take a
    /// value, as on an offline account).
    pub sticky: bool,
    pub last_message: Option<Message>,
    pub created_ms: i64,
    /// The hidden inbox-order position: the activity time when the thread was last moved, or
    /// later (a reminder moves a thread without changing `activity.at`). Ties break by id.
    pub rank: i64,
}

impl Thread {
    /// `activity.at`, if the thread has any activity.
    pub fn activity_ms(&self) -> Option<i64> {
        self.last_message.as_ref().map(|m| m.created_ms)
    }
}

/// One logged event with its envelope exactly as `GET /events` serves it.
#[derive(Debug, Clone)]
pub(crate) struct StoredEvent {
    pub seq: u64,
    pub at_ms: i64,
    pub kind: &'static str,
    pub envelope: Value,
}

/// The folders of `GET /threads?folder=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Folder {
    Inbox,
    NoReply,
    Requests,
    Archived,
    All,
}

/// A validated `GET /threads` filter with refs resolved to ids. Empty lists do not filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ThreadFilter {
    pub folder: Folder,
    pub ascending: bool,
    pub account_link_ids: Vec<String>,
    pub platforms: Vec<Platform>,
    pub contact_ids: Vec<String>,
    pub tag_ids: Vec<String>,
    pub status_ids: Vec<String>,
    pub assignee_ids: Vec<String>,
    pub unassigned: Option<bool>,
    pub campaign_ids: Vec<String>,
    /// Lowercased search text.
    pub q: Option<String>,
}

impl ThreadFilter {
    /// A stable text of the filter for binding cursors: list order and refs by name or id do
    /// not change it.
    pub fn canonical(&self) -> String {
        let mut normal = self.clone();
        for list in [
            &mut normal.account_link_ids,
            &mut normal.contact_ids,
            &mut normal.tag_ids,
            &mut normal.status_ids,
            &mut normal.assignee_ids,
            &mut normal.campaign_ids,
        ] {
            list.sort();
            list.dedup();
        }
        normal.platforms.sort();
        normal.platforms.dedup();
        format!("{normal:?}")
    }
}

/// Which identity `GET /contacts` matches on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Identity {
    PlatformIds(Vec<String>),
    Usernames(Vec<String>),
}

/// A validated `PATCH /contacts/{id}` (or a UI edit), refs resolved: `None` = keep.
#[derive(Debug, Clone, Default)]
pub(crate) struct ContactPatch {
    pub status_id: Option<Option<String>>,
    pub notes: Option<Option<String>>,
    pub valuation: Option<Option<Number>>,
    pub assignee_id: Option<Option<String>>,
}

/// A validated `PATCH /threads/{id}` (or a UI edit): `None` = keep.
#[derive(Debug, Clone, Default)]
pub(crate) struct ThreadPatch {
    pub archived: Option<bool>,
    pub unread: Option<bool>,
    /// `Some(None)` clears the thread's own assignee (back to the contact default).
    pub assignee_id: Option<Option<String>>,
    pub typing_indicators: Option<&'static str>,
}

/// Why the model refused a write. Mapped to HTTP answers by `routes.rs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reject {
    /// A member id that is no member of the team, in the body field named.
    UnknownMember(&'static str, String),
    NameTaken(String),
    TagLimitReached(usize),
}

/// The whole fake team.
#[derive(Debug)]
pub(crate) struct Model {
    pub team: Team,
    pub account_links: Vec<AccountLink>,
    pub members: Vec<Member>,
    pub tags: Vec<Tag>,
    pub statuses: Vec<Status>,
    pub profiles: Vec<Profile>,
    pub contacts: Vec<Contact>,
    pub threads: Vec<Thread>,
    pub contact_by_id: HashMap<String, usize>,
    pub thread_by_id: HashMap<String, usize>,
    /// `(platform, platformId)` → profile.
    pub profile_by_platform_id: HashMap<(Platform, String), usize>,
    /// `(platform, lowercase username)` → profiles (usernames are not unique).
    pub profiles_by_username: HashMap<(Platform, String), Vec<usize>>,
    /// Every thread keyed by its hidden inbox position `(rank, id)`.
    pub inbox_order: BTreeMap<(i64, String), usize>,
    /// Retained events, ascending `seq`.
    pub events: VecDeque<StoredEvent>,
    /// The last `seq` handed out; starts well above 0 (older events have expired).
    pub last_seq: u64,
    /// At most this many events are kept ("up to 25,000 per team").
    pub event_cap: usize,
    /// Whether CRM edits (status, tags, notes, valuation, assignee) move `contact.updatedAt`.
    pub crm_edits_touch_contact: bool,
    /// Successful API writes in order.
    pub writes: Vec<WriteRecord>,
    /// Source of new ids (messages, events, tags).
    pub id_rng: StdRng,
    /// Count of messages created by `new_message`, for their previews.
    pub messages_created: u64,
}

/// A name folded the way the API compares tag and status names: "ignoring case and accents".
pub(crate) fn fold_name(name: &str) -> String {
    name.chars()
        .flat_map(char::to_lowercase)
        // Combining diacritical marks (a decomposed accent) are dropped.
        .filter(|c| !('\u{300}'..='\u{36f}').contains(c))
        .map(strip_accent)
        .collect()
}

/// The base letter of a precomposed accented Latin letter (lowercase input).
fn strip_accent(c: char) -> char {
    match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => 'a',
        'ç' | 'ć' | 'č' => 'c',
        'ď' | 'đ' => 'd',
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ė' | 'ę' | 'ě' => 'e',
        'ì' | 'í' | 'î' | 'ï' | 'ī' | 'į' => 'i',
        'ł' => 'l',
        'ñ' | 'ń' | 'ň' => 'n',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ő' => 'o',
        'ř' => 'r',
        'ś' | 'š' | 'ş' => 's',
        'ť' | 'ţ' => 't',
        'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' | 'ű' => 'u',
        'ý' | 'ÿ' => 'y',
        'ź' | 'ż' | 'ž' => 'z',
        other => other,
    }
}

impl Model {
    /// An empty model for `team`; `seed.rs` fills it.
    pub fn empty(team: Team, seed: u64, event_cap: usize, first_seq: u64) -> Self {
        Model {
            team,
            account_links: Vec::new(),
            members: Vec::new(),
            tags: Vec::new(),
            statuses: Vec::new(),
            profiles: Vec::new(),
            contacts: Vec::new(),
            threads: Vec::new(),
            contact_by_id: HashMap::new(),
            thread_by_id: HashMap::new(),
            profile_by_platform_id: HashMap::new(),
            profiles_by_username: HashMap::new(),
            inbox_order: BTreeMap::new(),
            events: VecDeque::new(),
            last_seq: first_seq,
            event_cap,
            crm_edits_touch_contact: false,
            writes: Vec::new(),
            id_rng: StdRng::seed_from_u64(seed ^ 0x2d50_f1d5),
            messages_created: 0,
        }
    }

    /// A fresh random id.
    pub fn new_id(&mut self) -> String {
        gen_id(&mut self.id_rng)
    }

    /// Adds a contact to the indices.
    pub fn push_contact(&mut self, contact: Contact) -> usize {
        let idx = self.contacts.len();
        self.contact_by_id.insert(contact.id.clone(), idx);
        self.contacts.push(contact);
        idx
    }

    /// Adds a profile to contact `profile.contact` (as its newest link) and to the indices.
    pub fn push_profile(&mut self, profile: Profile) -> usize {
        let idx = self.profiles.len();
        let platform = profile.platform;
        self.profile_by_platform_id
            .insert((platform, profile.platform_id.clone()), idx);
        self.profiles_by_username
            .entry((platform, profile.username.to_lowercase()))
            .or_default()
            .push(idx);
        self.contacts[profile.contact].profiles.push(idx);
        self.profiles.push(profile);
        idx
    }

    /// Adds a thread to the indices and to its contact.
    pub fn push_thread(&mut self, thread: Thread) -> usize {
        let idx = self.threads.len();
        self.thread_by_id.insert(thread.id.clone(), idx);
        self.inbox_order
            .insert((thread.rank, thread.id.clone()), idx);
        let contact = self.profiles[thread.profile].contact;
        self.contacts[contact].threads.push(idx);
        self.threads.push(thread);
        idx
    }

    pub fn member_by_id(&self, id: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.id == id)
    }

    pub fn tag_by_id(&self, id: &str) -> Option<&Tag> {
        self.tags.iter().find(|t| t.id == id)
    }

    pub fn status_by_id(&self, id: &str) -> Option<&Status> {
        self.statuses.iter().find(|s| s.id == id)
    }

    pub fn account_link_by_id(&self, id: &str) -> Option<&AccountLink> {
        self.account_links.iter().find(|l| l.id == id)
    }

    /// A tag by ID or name; "when a value is one tag's ID and another's name, the ID wins".
    pub fn tag_by_ref(&self, tag_ref: &str) -> Option<usize> {
        self.tags.iter().position(|t| t.id == tag_ref).or_else(|| {
            let folded = fold_name(tag_ref);
            self.tags.iter().position(|t| fold_name(&t.name) == folded)
        })
    }

    /// A status by ID or name, with the same rule as tags.
    pub fn status_by_ref(&self, status_ref: &str) -> Option<usize> {
        self.statuses
            .iter()
            .position(|s| s.id == status_ref)
            .or_else(|| {
                let folded = fold_name(status_ref);
                self.statuses
                    .iter()
                    .position(|s| fold_name(&s.name) == folded)
            })
    }

    /// The contact of thread `t`.
    pub fn thread_contact(&self, t: usize) -> usize {
        self.profiles[self.threads[t].profile].contact
    }

    /// The thread's `assigneeId`: its own assignee, else its contact's default.
    pub fn effective_assignee(&self, t: usize) -> Option<&str> {
        let thread = &self.threads[t];
        thread
            .own_assignee
            .as_deref()
            .or(self.contacts[self.thread_contact(t)].assignee_id.as_deref())
    }

    /// The largest inbox-order rank of any thread.
    pub(super) fn max_rank(&self) -> i64 {
        self.inbox_order
            .last_key_value()
            .map_or(i64::MIN, |((rank, _), _)| *rank)
    }

    /// Whether thread `t` is in `folder` (docs §4).
    fn in_folder(&self, thread: &Thread, folder: Folder) -> bool {
        let inbox = !thread.archived && !thread.is_request;
        match folder {
            Folder::Inbox => inbox,
            Folder::NoReply => inbox && thread.last_message.as_ref().is_some_and(|m| m.inbound),
            Folder::Requests => !thread.archived && thread.is_request,
            Folder::Archived => thread.archived,
            Folder::All => true,
        }
    }

    fn matches(&self, t: usize, filter: &ThreadFilter) -> bool {
        let thread = &self.threads[t];
        if !self.in_folder(thread, filter.folder) {
            return false;
        }
        let link = &self.account_links[thread.account_link];
        let profile = &self.profiles[thread.profile];
        let contact = &self.contacts[profile.contact];
        let any_of =
            |list: &[String], value: &str| list.is_empty() || list.iter().any(|v| v == value);
        if !any_of(&filter.account_link_ids, &link.id)
            || !any_of(&filter.contact_ids, &contact.id)
            || !(filter.platforms.is_empty() || filter.platforms.contains(&link.platform))
        {
            return false;
        }
        if !filter.tag_ids.is_empty()
            && !contact.tag_ids.iter().any(|id| filter.tag_ids.contains(id))
        {
            return false;
        }
        if !filter.status_ids.is_empty()
            && !contact
                .status_id
                .as_ref()
                .is_some_and(|id| filter.status_ids.contains(id))
        {
            return false;
        }
        let assignee = self.effective_assignee(t);
        if !filter.assignee_ids.is_empty()
            && !assignee.is_some_and(|a| filter.assignee_ids.iter().any(|id| id == a))
        {
            return false;
        }
        if let Some(unassigned) = filter.unassigned
            && unassigned != assignee.is_none()
        {
            return false;
        }
        // The fake runs no campaigns, so a campaign filter matches nothing.
        if !filter.campaign_ids.is_empty() {
            return false;
        }
        if let Some(q) = &filter.q {
            let hit = |text: &str| text.to_lowercase().contains(q.as_str());
            let preview = thread.last_message.as_ref().map(|m| m.preview.as_str());
            if !hit(&profile.display_name) && !hit(&profile.username) && !preview.is_some_and(hit) {
                return false;
            }
        }
        true
    }

    /// One keyset page of threads in inbox order after the exclusive position `after`: thread
    /// indices, and whether more follow.
    pub fn thread_page(
        &self,
        filter: &ThreadFilter,
        after: Option<&(i64, String)>,
        limit: usize,
    ) -> (Vec<usize>, bool) {
        let range = match (after, filter.ascending) {
            (None, _) => (Bound::Unbounded, Bound::Unbounded),
            (Some(key), true) => (Bound::Excluded(key.clone()), Bound::Unbounded),
            (Some(key), false) => (Bound::Unbounded, Bound::Excluded(key.clone())),
        };
        let range = self.inbox_order.range(range);
        let iter: Box<dyn Iterator<Item = usize>> = if filter.ascending {
            Box::new(range.map(|(_, &t)| t))
        } else {
            Box::new(range.rev().map(|(_, &t)| t))
        };
        take_page(iter.filter(|&t| self.matches(t, filter)), limit)
    }

    /// The inbox-order key of thread `t`.
    pub fn thread_key(&self, t: usize) -> (i64, String) {
        (self.threads[t].rank, self.threads[t].id.clone())
    }

    /// Contacts with a profile of `platform` matching `identity`, each once, ordered by
    /// `(createdAt, id)`. Usernames match ignoring ASCII case (X and LinkedIn handles do).
    pub fn find_contacts(&self, platform: Platform, identity: &Identity) -> Vec<usize> {
        let mut found: Vec<usize> = match identity {
            Identity::PlatformIds(ids) => ids
                .iter()
                .filter_map(|id| self.profile_by_platform_id.get(&(platform, id.clone())))
                .map(|&p| self.profiles[p].contact)
                .collect(),
            Identity::Usernames(names) => names
                .iter()
                .filter_map(|name| {
                    self.profiles_by_username
                        .get(&(platform, name.to_lowercase()))
                })
                .flatten()
                .map(|&p| self.profiles[p].contact)
                .collect(),
        };
        found.sort_by_key(|&c| self.contact_key(c));
        found.dedup();
        found
    }

    /// The `(createdAt, id)` order key of contact `c`.
    pub fn contact_key(&self, c: usize) -> (i64, String) {
        (self.contacts[c].created_ms, self.contacts[c].id.clone())
    }

    /// The test-facing view of profile `p`.
    pub fn profile_view(&self, p: usize) -> ProfileView {
        let profile = &self.profiles[p];
        ProfileView {
            id: profile.id.clone(),
            contact_id: self.contacts[profile.contact].id.clone(),
            platform: profile.platform.as_str().to_owned(),
            platform_id: profile.platform_id.clone(),
            username: profile.username.clone(),
            handle: format!("{}{}", profile.platform.username_prefix(), profile.username),
            display_name: profile.display_name.clone(),
        }
    }

    /// The test-facing view of thread `t`.
    pub fn thread_view(&self, t: usize) -> ThreadView {
        let thread = &self.threads[t];
        let link = &self.account_links[thread.account_link];
        let assignee_id = self.effective_assignee(t).map(str::to_owned);
        ThreadView {
            id: thread.id.clone(),
            platform: link.platform.as_str().to_owned(),
            account_link_id: link.id.clone(),
            profile_id: self.profiles[thread.profile].id.clone(),
            contact_id: self.contacts[self.thread_contact(t)].id.clone(),
            own_assignee_id: thread.own_assignee.clone(),
            assignee_email: assignee_id
                .as_deref()
                .and_then(|id| self.member_by_id(id))
                .map(|m| m.email.clone()),
            assignee_id,
            archived: thread.archived,
            is_request: thread.is_request,
            unread: thread.unread,
            activity_at: thread.activity_ms().map(timestamp),
            created_at: timestamp(thread.created_ms),
        }
    }

    /// The test-facing view of contact `c`.
    pub fn contact_view(&self, c: usize) -> ContactView {
        let contact = &self.contacts[c];
        let mut tags: Vec<String> = contact
            .tag_ids
            .iter()
            .filter_map(|id| self.tag_by_id(id).map(|t| t.name.clone()))
            .collect();
        tags.sort();
        ContactView {
            id: contact.id.clone(),
            profiles: contact
                .profiles
                .iter()
                .map(|&p| self.profile_view(p))
                .collect(),
            tag_ids: contact.tag_ids.clone(),
            tags,
            status_id: contact.status_id.clone(),
            status: contact
                .status_id
                .as_deref()
                .and_then(|id| self.status_by_id(id))
                .map(|s| s.name.clone()),
            notes: contact.notes.clone(),
            valuation: contact.valuation.clone(),
            assignee_id: contact.assignee_id.clone(),
            assignee_email: contact
                .assignee_id
                .as_deref()
                .and_then(|id| self.member_by_id(id))
                .map(|m| m.email.clone()),
            thread_ids: contact
                .threads
                .iter()
                .map(|&t| self.threads[t].id.clone())
                .collect(),
            created_at: timestamp(contact.created_ms),
            updated_at: timestamp(contact.updated_ms),
        }
    }
}

/// Takes up to `limit` items and reports whether another one followed.
pub(crate) fn take_page(
    mut items: impl Iterator<Item = usize>,
    limit: usize,
) -> (Vec<usize>, bool) {
    let page: Vec<usize> = items.by_ref().take(limit).collect();
    let more = page.len() == limit && items.next().is_some();
    (page, more)
}
