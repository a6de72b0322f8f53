//! The fake Inbox's data model: one team with its account links, members, tags, statuses,
//! prospects, threads, event log and write log, plus the domain operations on them (context
//! patch with fan-out, per-thread patch, new message, tag creation, thread paging).
//!
//! This module must not know about HTTP (status codes, headers, query strings) or JSON wire
//! shapes beyond handing finished event envelopes to the log; rendering lives in `wire.rs`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ops::Bound;

use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::{Number, Value, json};

use crate::common::{gen_id, same_number, timestamp};

use super::{ProspectView, ThreadView, WriteRecord};

/// Events older than this are dropped ("Events are stored for 7 days").
const EVENT_RETENTION_MS: i64 = 7 * 86_400_000;

/// The team the token belongs to.
#[derive(Debug, Clone)]
pub(crate) struct Team {
    pub id: String,
    pub name: String,
    pub slug: String,
    pub created_ms: i64,
}

/// A connected X account.
#[derive(Debug, Clone)]
pub(crate) struct AccountLink {
    pub id: String,
    pub platform_id: String,
    pub name: String,
    pub username: String,
    pub created_ms: i64,
    pub synced_ms: Option<i64>,
}

/// A team member (assignee target).
#[derive(Debug, Clone)]
pub(crate) struct Member {
    pub id: String,
    pub user_id: String,
    pub name: Option<String>,
    pub email: String,
    pub role: &'static str,
    pub created_ms: i64,
    pub updated_ms: Option<i64>,
}

/// A tag (many per prospect).
#[derive(Debug, Clone)]
pub(crate) struct Tag {
    pub id: String,
    pub name: String,
    pub color: String,
}

/// A pipeline status (at most one per prospect).
#[derive(Debug, Clone)]
pub(crate) struct Status {
    pub id: String,
    pub name: String,
    pub color: Option<String>,
    pub created_ms: i64,
}

/// A prospect: profile basics plus the team-scoped CRM context.
#[derive(Debug, Clone)]
pub(crate) struct Prospect {
    /// The Inbox id (`externalId`), also the `{prospectId}` path parameter.
    pub external_id: String,
    /// X numeric user id.
    pub platform_id: String,
    pub username: String,
    pub display_name: String,
    /// Tag ids in the order they were added.
    pub tag_ids: Vec<String>,
    pub status_id: Option<String>,
    pub valuation: Option<Number>,
    pub notes: Option<String>,
    pub first_seen_ms: i64,
    /// Profile-data stamp; CRM-context edits deliberately do not bump it (docs leave it open).
    pub last_updated_ms: i64,
    pub platform_created_ms: i64,
    /// Seed for the derived, never-changing profile fields (bio, counts, ...).
    pub profile_seed: u64,
    /// Indices into `Model::threads`.
    pub threads: Vec<usize>,
}

/// The last message of a thread (only the preview is modelled).
#[derive(Debug, Clone)]
pub(crate) struct LastMessage {
    pub id: String,
    pub content: String,
    /// Sent by the prospect (true) or by the account link (false).
    pub inbound: bool,
    /// Inbox user id for outbound messages sent from Inbox.
    pub user_id: Option<String>,
    pub created_ms: i64,
}

/// A conversation between one account link and one prospect.
#[derive(Debug, Clone)]
pub(crate) struct Thread {
    pub id: String,
    pub platform_id: String,
    /// Index into `Model::account_links`.
    pub account_link: usize,
    /// Index into `Model::prospects`.
    pub prospect: usize,
    pub done: bool,
    pub assignee_id: Option<String>,
    pub last_message: Option<LastMessage>,
    pub created_ms: i64,
    pub is_request: bool,
    pub is_syncing: bool,
    pub xchat: bool,
    pub typing_indicators: Option<bool>,
    /// `status: "idle"`; idle threads appear in no view.
    pub idle: bool,
}

impl Thread {
    /// `computedSortTimestamp`: the last message time, else the creation time.
    pub fn sort_ms(&self) -> i64 {
        self.last_message
            .as_ref()
            .map_or(self.created_ms, |m| m.created_ms)
    }
}

/// One logged event, with its envelope exactly as `/events` serves it.
#[derive(Debug, Clone)]
pub(crate) struct StoredEvent {
    pub seq: u64,
    pub at_ms: i64,
    pub envelope: Value,
}

/// The inbox views of `GET /threads?inbox=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum View {
    Default,
    NoReply,
    Requests,
    Archived,
}

/// An OR-filter group of `GET /threads` (`selectedIds` / `noX`).
#[derive(Debug, Clone, Default)]
pub(crate) struct GroupFilter {
    pub selected: Vec<String>,
    pub none: bool,
}

impl GroupFilter {
    fn matches<'a>(&self, mut values: impl Iterator<Item = &'a str>) -> bool {
        if self.selected.is_empty() && !self.none {
            return true;
        }
        let mut any = false;
        for value in values.by_ref() {
            any = true;
            if self.selected.iter().any(|s| s == value) {
                return true;
            }
        }
        self.none && !any
    }
}

/// A validated `GET /threads` request.
#[derive(Debug, Clone)]
pub(crate) struct ThreadQuery {
    pub view: View,
    pub limit: usize,
    pub ascending: bool,
    /// Exclusive keyset position `(sort ms, id)`.
    pub cursor: Option<(i64, String)>,
    pub account_link_ids: Option<Vec<String>>,
    pub tags: GroupFilter,
    pub statuses: GroupFilter,
    pub assignees: GroupFilter,
    pub campaigns: GroupFilter,
}

/// A validated `PATCH /prospects/{id}/context` (or a UI edit): `None` = keep.
#[derive(Debug, Clone, Default)]
pub(crate) struct ContextPatch {
    pub notes: Option<Option<String>>,
    pub valuation: Option<Option<Number>>,
    pub status_id: Option<Option<String>>,
    pub add_tags: Vec<String>,
    pub remove_tags: Vec<String>,
    pub assignee_id: Option<Option<String>>,
    pub done: Option<bool>,
}

/// A validated `PATCH /threads/{id}` (or a per-thread UI edit): `None` = keep.
#[derive(Debug, Clone, Default)]
pub(crate) struct ThreadPatch {
    pub done: Option<bool>,
    pub assignee_id: Option<Option<String>>,
}

/// Why the model refused a write. Mapped to HTTP statuses by `routes.rs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reject {
    UnknownTag(String),
    UnknownStatus(String),
    UnknownMember(String),
    TagInAddAndRemove(String),
    NegativeValuation,
    DuplicateName(String),
}

/// The JSON of the objects events carry (v1 events embed them as they are at the event). The
/// shapes are `wire.rs`'s, handed in when the model is made (`seed.rs`), so that the model does
/// not depend on how it is rendered.
#[derive(Clone, Copy, Debug)]
pub(crate) struct EventShapes {
    pub prospect: fn(&Model, usize) -> Value,
    pub thread: fn(&Model, usize) -> Value,
    pub message: fn(&Model, usize) -> Value,
    pub tag: fn(&Tag) -> Value,
}

/// The whole fake team.
#[derive(Debug)]
pub(crate) struct Model {
    pub team: Team,
    pub account_links: Vec<AccountLink>,
    pub members: Vec<Member>,
    pub tags: Vec<Tag>,
    pub statuses: Vec<Status>,
    pub prospects: Vec<Prospect>,
    pub threads: Vec<Thread>,
    pub prospect_by_external: HashMap<String, usize>,
    pub prospect_by_platform: HashMap<String, usize>,
    pub thread_by_id: HashMap<String, usize>,
    /// Every thread keyed by `(computedSortTimestamp ms, id)`.
    pub sort_index: BTreeMap<(i64, String), usize>,
    /// Retained events, ascending `seq`.
    pub events: VecDeque<StoredEvent>,
    /// The last `seq` handed out (0 = none yet).
    pub last_seq: u64,
    /// Successful API writes in order.
    pub writes: Vec<WriteRecord>,
    /// Source of new ids (messages, events, tags).
    pub id_rng: StdRng,
    /// Count of messages created by `new_message`, for their content.
    pub messages_created: u64,
    /// How events render the objects they carry.
    pub shapes: EventShapes,
}

impl Model {
    /// An empty model for `team`; `seed.rs` fills it.
    pub fn empty(team: Team, seed: u64, shapes: EventShapes) -> Self {
        Model {
            team,
            account_links: Vec::new(),
            members: Vec::new(),
            tags: Vec::new(),
            statuses: Vec::new(),
            prospects: Vec::new(),
            threads: Vec::new(),
            prospect_by_external: HashMap::new(),
            prospect_by_platform: HashMap::new(),
            thread_by_id: HashMap::new(),
            sort_index: BTreeMap::new(),
            events: VecDeque::new(),
            last_seq: 0,
            writes: Vec::new(),
            id_rng: StdRng::seed_from_u64(seed ^ 0x1d50_f1d5),
            messages_created: 0,
            shapes,
        }
    }

    /// A fresh random id.
    pub fn new_id(&mut self) -> String {
        gen_id(&mut self.id_rng)
    }

    /// Adds a thread to every index.
    pub fn push_thread(&mut self, thread: Thread) -> usize {
        let idx = self.threads.len();
        self.thread_by_id.insert(thread.id.clone(), idx);
        self.sort_index
            .insert((thread.sort_ms(), thread.id.clone()), idx);
        self.prospects[thread.prospect].threads.push(idx);
        self.threads.push(thread);
        idx
    }

    /// The largest `computedSortTimestamp` of any thread, in ms.
    pub fn max_sort_ms(&self) -> i64 {
        self.sort_index
            .last_key_value()
            .map_or(i64::MIN, |((ms, _), _)| *ms)
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

    /// Whether a thread belongs in `view` (see docs/inbox-api-v1.md §8).
    fn in_view(&self, thread: &Thread, view: View) -> bool {
        if thread.idle {
            return false;
        }
        let default = !thread.done && !thread.is_request;
        match view {
            View::Default => default,
            View::NoReply => default && thread.last_message.as_ref().is_some_and(|m| m.inbound),
            View::Requests => thread.is_request && !thread.done,
            View::Archived => thread.done,
        }
    }

    fn matches(&self, thread: &Thread, query: &ThreadQuery) -> bool {
        if !self.in_view(thread, query.view) {
            return false;
        }
        if let Some(ids) = &query.account_link_ids
            && !ids.contains(&self.account_links[thread.account_link].id)
        {
            return false;
        }
        let prospect = &self.prospects[thread.prospect];
        query
            .tags
            .matches(prospect.tag_ids.iter().map(String::as_str))
            && query
                .statuses
                .matches(prospect.status_id.as_deref().into_iter())
            && query
                .assignees
                .matches(thread.assignee_id.as_deref().into_iter())
            && query.campaigns.matches(std::iter::empty())
    }

    /// One keyset page: thread indices in order, and whether more follow.
    pub fn page(&self, query: &ThreadQuery) -> (Vec<usize>, bool) {
        let mut out = Vec::with_capacity(query.limit);
        let mut more = false;
        let mut take = |idx: usize| -> bool {
            if !self.matches(&self.threads[idx], query) {
                return true;
            }
            if out.len() == query.limit {
                more = true;
                return false;
            }
            out.push(idx);
            true
        };
        match (&query.cursor, query.ascending) {
            (None, true) => {
                for &idx in self.sort_index.values() {
                    if !take(idx) {
                        break;
                    }
                }
            }
            (None, false) => {
                for &idx in self.sort_index.values().rev() {
                    if !take(idx) {
                        break;
                    }
                }
            }
            (Some(key), true) => {
                let range = (Bound::Excluded(key.clone()), Bound::Unbounded);
                for (_, &idx) in self.sort_index.range(range) {
                    if !take(idx) {
                        break;
                    }
                }
            }
            (Some(key), false) => {
                let range = (Bound::Unbounded, Bound::Excluded(key.clone()));
                for (_, &idx) in self.sort_index.range(range).rev() {
                    if !take(idx) {
                        break;
                    }
                }
            }
        }
        (out, more)
    }

    /// Appends an event with the next `seq`.
    pub fn emit(&mut self, kind: &str, data: Value, now_ms: i64) {
        self.prune_events(now_ms);
        self.last_seq += 1;
        let envelope = json!({
            "id": self.new_id(),
            "seq": self.last_seq,
            "teamId": self.team.id,
            "type": kind,
            "timestamp": timestamp(now_ms),
            "version": "1.0",
            "data": data,
        });
        self.events.push_back(StoredEvent {
            seq: self.last_seq,
            at_ms: now_ms,
            envelope,
        });
    }

    /// Drops events past the 7-day retention.
    pub fn prune_events(&mut self, now_ms: i64) {
        while self
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

    fn check_member(&self, assignee: &Option<Option<String>>) -> Result<(), Reject> {
        if let Some(Some(id)) = assignee
            && self.member_by_id(id).is_none()
        {
            return Err(Reject::UnknownMember(id.clone()));
        }
        Ok(())
    }

    /// Validates then applies a context patch to prospect `p`, fanning `assigneeId`/`done`
    /// out to all its threads and emitting events only for values that changed.
    pub fn patch_context(
        &mut self,
        p: usize,
        patch: &ContextPatch,
        now_ms: i64,
    ) -> Result<(), Reject> {
        if let Some(id) = patch
            .add_tags
            .iter()
            .find(|id| patch.remove_tags.contains(id))
        {
            return Err(Reject::TagInAddAndRemove(id.clone()));
        }
        if let Some(id) = patch
            .add_tags
            .iter()
            .chain(&patch.remove_tags)
            .find(|id| self.tag_by_id(id).is_none())
        {
            return Err(Reject::UnknownTag(id.clone()));
        }
        if let Some(Some(id)) = &patch.status_id
            && self.status_by_id(id).is_none()
        {
            return Err(Reject::UnknownStatus(id.clone()));
        }
        if let Some(Some(valuation)) = &patch.valuation
            && valuation.as_f64().is_some_and(|v| v < 0.0)
        {
            return Err(Reject::NegativeValuation);
        }
        self.check_member(&patch.assignee_id)?;

        let prospect = &mut self.prospects[p];
        let mut kinds = Vec::new();
        let old_tags = prospect.tag_ids.clone();
        for id in &patch.add_tags {
            if !prospect.tag_ids.contains(id) {
                prospect.tag_ids.push(id.clone());
            }
        }
        prospect
            .tag_ids
            .retain(|id| !patch.remove_tags.contains(id));
        if prospect.tag_ids != old_tags {
            kinds.push("prospect.tagsChanged");
        }
        if let Some(status) = &patch.status_id
            && prospect.status_id != *status
        {
            prospect.status_id = status.clone();
            kinds.push("prospect.statusChanged");
        }
        if let Some(notes) = &patch.notes
            && prospect.notes != *notes
        {
            prospect.notes = notes.clone();
            kinds.push("prospect.notesChanged");
        }
        if let Some(valuation) = &patch.valuation
            && !same_number(&prospect.valuation, valuation)
        {
            prospect.valuation = valuation.clone();
            kinds.push("prospect.valuationChanged");
        }
        let thread_ids = prospect.threads.clone();
        let thread_patch = ThreadPatch {
            done: patch.done,
            assignee_id: patch.assignee_id.clone(),
        };
        let mut thread_events = Vec::new();
        for &t in &thread_ids {
            thread_events.extend(self.apply_thread_patch(t, &thread_patch));
        }
        if thread_events
            .iter()
            .any(|(_, kind)| kind.contains("assigned"))
        {
            kinds.push("prospect.assigneeChanged");
        }
        for kind in kinds {
            let data = json!({ "prospect": (self.shapes.prospect)(self, p) });
            self.emit(kind, data, now_ms);
        }
        self.emit_thread_events(&thread_events, now_ms);
        Ok(())
    }

    /// Validates then applies a per-thread patch.
    pub fn patch_thread(
        &mut self,
        t: usize,
        patch: &ThreadPatch,
        now_ms: i64,
    ) -> Result<(), Reject> {
        self.check_member(&patch.assignee_id)?;
        let events = self.apply_thread_patch(t, patch);
        self.emit_thread_events(&events, now_ms);
        Ok(())
    }

    /// Applies a thread patch; returns the per-thread event kinds for values that changed.
    fn apply_thread_patch(&mut self, t: usize, patch: &ThreadPatch) -> Vec<(usize, &'static str)> {
        let thread = &mut self.threads[t];
        let mut events = Vec::new();
        if let Some(assignee) = &patch.assignee_id
            && thread.assignee_id != *assignee
        {
            thread.assignee_id = assignee.clone();
            let kind = if assignee.is_some() {
                "thread.assigned"
            } else {
                "thread.unassigned"
            };
            events.push((t, kind));
        }
        if let Some(done) = patch.done
            && thread.done != done
        {
            thread.done = done;
            let kind = if done {
                "thread.archived"
            } else {
                "thread.unarchived"
            };
            events.push((t, kind));
        }
        events
    }

    fn emit_thread_events(&mut self, events: &[(usize, &'static str)], now_ms: i64) {
        for &(t, kind) in events {
            let data = json!({ "thread": (self.shapes.thread)(self, t) });
            self.emit(kind, data, now_ms);
        }
    }

    /// An inbound message arrives on thread `t`: its sort timestamp becomes `now_ms`, or 1 ms
    /// after the latest sort timestamp of any thread if that is later, so it moves to the front.
    pub fn new_message(&mut self, t: usize, now_ms: i64) {
        let at_ms = now_ms.max(self.max_sort_ms().saturating_add(1));
        let old_key = (self.threads[t].sort_ms(), self.threads[t].id.clone());
        self.sort_index.remove(&old_key);
        self.messages_created += 1;
        let message = LastMessage {
            id: self.new_id(),
            content: format!("New message #{} from the fake", self.messages_created),
            inbound: true,
            user_id: None,
            created_ms: at_ms,
        };
        self.threads[t].last_message = Some(message);
        self.sort_index
            .insert((at_ms, self.threads[t].id.clone()), t);
        let data = json!({
            "thread": (self.shapes.thread)(self, t),
            "message": (self.shapes.message)(self, t),
        });
        self.emit("message.created", data, now_ms);
    }

    /// Creates a tag; names are unique case-insensitively.
    pub fn create_tag(
        &mut self,
        name: String,
        color: Option<String>,
        now_ms: i64,
    ) -> Result<usize, Reject> {
        if self.tags.iter().any(|t| t.name.eq_ignore_ascii_case(&name)) {
            return Err(Reject::DuplicateName(name));
        }
        let tag = Tag {
            id: self.new_id(),
            name,
            color: color.unwrap_or_else(|| "gray".to_owned()),
        };
        self.tags.push(tag);
        let idx = self.tags.len() - 1;
        let data = json!({ "tag": (self.shapes.tag)(&self.tags[idx]) });
        self.emit("tag.created", data, now_ms);
        Ok(idx)
    }

    /// The test-facing view of prospect `p`.
    pub fn prospect_view(&self, p: usize) -> ProspectView {
        let prospect = &self.prospects[p];
        let mut tags: Vec<String> = prospect
            .tag_ids
            .iter()
            .filter_map(|id| self.tag_by_id(id).map(|t| t.name.clone()))
            .collect();
        tags.sort();
        let threads = prospect
            .threads
            .iter()
            .map(|&t| {
                let thread = &self.threads[t];
                let link = &self.account_links[thread.account_link];
                ThreadView {
                    id: thread.id.clone(),
                    account_link_id: link.id.clone(),
                    account_username: link.username.clone(),
                    assignee_id: thread.assignee_id.clone(),
                    assignee_email: thread
                        .assignee_id
                        .as_deref()
                        .and_then(|id| self.member_by_id(id))
                        .map(|m| m.email.clone()),
                    done: thread.done,
                    is_request: thread.is_request,
                    sort_timestamp: timestamp(thread.sort_ms()),
                }
            })
            .collect();
        ProspectView {
            external_id: prospect.external_id.clone(),
            platform_id: prospect.platform_id.clone(),
            username: prospect.username.clone(),
            display_name: prospect.display_name.clone(),
            tags,
            status: prospect
                .status_id
                .as_deref()
                .and_then(|id| self.status_by_id(id))
                .map(|s| s.name.clone()),
            valuation: prospect.valuation.clone(),
            notes: prospect.notes.clone(),
            last_updated_at: timestamp(prospect.last_updated_ms),
            threads,
        }
    }
}
