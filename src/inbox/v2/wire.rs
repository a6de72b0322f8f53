//! The v2 wire format: serde shapes of what the client sends and reads, converted to and from
//! the types in `types.rs`. Nothing here leaves `inbox/`.
//!
//! Decoding is tolerant where it can be: unknown fields are ignored, unknown enum values kept
//! as text, display fields defaulted. It is strict where a missing key would be read as a
//! cleared value (a contact's status, tags, notes, valuation and assignee, a thread's assignee
//! and `archived`, an event's new value): those keys are required, so a changed wire format
//! fails loudly as a decode error instead of wiping values downstream.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

use crate::inbox::types::{seq, valuation};
use crate::reconcile::Amount;

use super::error::Issue;
use super::types;

/// An `Option` that must be present as a key (but may be `null`).
fn required<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer)
}

/// `{data, nextCursor}`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Page<T> {
    pub data: Vec<T>,
    #[serde(default)]
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Converts the items; an empty cursor counts as none (the SDK stops there too).
    pub fn convert<U>(self, f: impl FnMut(T) -> U) -> types::Page<U> {
        types::Page {
            data: self.data.into_iter().map(f).collect(),
            next_cursor: self
                .next_cursor
                .filter(|c| !c.is_empty())
                .map(types::Cursor),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Team {
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    slug: String,
    #[serde(default)]
    currency: String,
}

impl From<Team> for types::Team {
    fn from(w: Team) -> types::Team {
        types::Team {
            id: w.id,
            name: w.name,
            slug: w.slug,
            currency: w.currency,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PlatformInfo {
    platform: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    username_prefix: String,
    #[serde(default)]
    capabilities: Vec<String>,
    #[serde(default)]
    thread_state: ThreadState,
}

#[derive(Default, Deserialize)]
struct ThreadState {
    #[serde(default)]
    archive: Option<StateSync>,
    #[serde(default)]
    read: Option<StateSync>,
}

#[derive(Deserialize)]
struct StateSync {
    #[serde(default)]
    observe: bool,
    #[serde(default)]
    mutate: bool,
}

impl From<StateSync> for types::StateSync {
    fn from(w: StateSync) -> types::StateSync {
        types::StateSync {
            observe: w.observe,
            mutate: w.mutate,
        }
    }
}

impl From<PlatformInfo> for types::PlatformInfo {
    fn from(w: PlatformInfo) -> types::PlatformInfo {
        types::PlatformInfo {
            platform: w.platform.into(),
            name: w.name,
            username_prefix: w.username_prefix,
            capabilities: w.capabilities,
            archive_state: w.thread_state.archive.map(Into::into),
            read_state: w.thread_state.read.map(Into::into),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Member {
    id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
}

impl From<Member> for types::Member {
    fn from(w: Member) -> types::Member {
        types::Member {
            id: w.id,
            name: w.name,
            email: w.email,
            role: w.role.into(),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AccountLink {
    id: String,
    platform: String,
    #[serde(default)]
    platform_id: String,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    status: String,
    #[serde(default)]
    pause_reasons: Vec<String>,
    #[serde(default)]
    capabilities: Vec<String>,
}

impl From<AccountLink> for types::AccountLink {
    fn from(w: AccountLink) -> types::AccountLink {
        types::AccountLink {
            id: w.id,
            platform: w.platform.into(),
            platform_id: w.platform_id,
            username: w.username,
            display_name: w.display_name,
            status: w.status.into(),
            pause_reasons: w.pause_reasons,
            capabilities: w.capabilities,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Tag {
    id: String,
    name: String,
    #[serde(default)]
    color: String,
}

impl From<Tag> for types::Tag {
    fn from(w: Tag) -> types::Tag {
        types::Tag {
            id: w.id,
            name: w.name,
            color: w.color,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Status {
    id: String,
    name: String,
    #[serde(default)]
    color: Option<String>,
}

impl From<Status> for types::Status {
    fn from(w: Status) -> types::Status {
        types::Status {
            id: w.id,
            name: w.name,
            color: w.color,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Profile {
    id: String,
    platform: String,
    platform_id: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    handle: String,
    #[serde(default)]
    display_name: Option<String>,
}

impl From<Profile> for types::Profile {
    fn from(w: Profile) -> types::Profile {
        types::Profile {
            id: w.id,
            platform: w.platform.into(),
            platform_id: w.platform_id,
            username: w.username,
            handle: w.handle,
            display_name: w.display_name.unwrap_or_default(),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Contact {
    id: String,
    #[serde(default)]
    profiles: Vec<Profile>,
    #[serde(deserialize_with = "required")]
    status_id: Option<String>,
    tag_ids: Vec<String>,
    #[serde(deserialize_with = "required")]
    notes: Option<String>,
    #[serde(deserialize_with = "valuation::deserialize")]
    valuation: Option<Amount>,
    #[serde(deserialize_with = "required")]
    assignee_id: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Contact> for types::Contact {
    fn from(w: Contact) -> types::Contact {
        types::Contact {
            id: types::ContactId::from(w.id),
            status_id: w.status_id,
            tag_ids: w.tag_ids,
            notes: w.notes,
            valuation: w.valuation,
            assignee_id: w.assignee_id,
            created_at: w.created_at,
            updated_at: w.updated_at,
            profiles: w.profiles.into_iter().map(Into::into).collect(),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Thread {
    id: String,
    platform: String,
    #[serde(default)]
    platform_id: Option<String>,
    account_link_id: String,
    #[serde(default)]
    profile_id: String,
    contact_id: String,
    #[serde(deserialize_with = "required")]
    assignee_id: Option<String>,
    archived: bool,
    #[serde(default)]
    is_request: bool,
    #[serde(default)]
    unread: bool,
    created_at: DateTime<Utc>,
    #[serde(default)]
    activity: Option<Activity>,
    #[serde(default)]
    profile: Option<Profile>,
    #[serde(default)]
    contact: Option<Contact>,
}

#[derive(Deserialize)]
struct Activity {
    #[serde(default)]
    at: Option<DateTime<Utc>>,
}

impl From<Thread> for types::Thread {
    fn from(w: Thread) -> types::Thread {
        types::Thread {
            id: types::ThreadId::from(w.id),
            platform: w.platform.into(),
            platform_id: w.platform_id,
            account_link_id: w.account_link_id,
            profile_id: w.profile_id,
            contact_id: types::ContactId::from(w.contact_id),
            assignee_id: w.assignee_id,
            archived: w.archived,
            is_request: w.is_request,
            unread: w.unread,
            created_at: w.created_at,
            activity_at: w.activity.and_then(|a| a.at),
            profile: w.profile.map(Into::into),
            contact: w.contact.map(Into::into),
        }
    }
}

/// `GET /events`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct EventPage {
    pub data: Vec<Event>,
    #[serde(deserialize_with = "seq::deserialize_opt")]
    pub last_seq: Option<u64>,
    #[serde(default)]
    pub has_more: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Event {
    id: String,
    #[serde(deserialize_with = "seq::deserialize")]
    pub seq: u64,
    #[serde(rename = "type")]
    event_type: String,
    created_at: DateTime<Utc>,
    object: EventObject,
    #[serde(default)]
    data: serde_json::Value,
}

#[derive(Deserialize)]
struct EventObject {
    #[serde(rename = "type", default)]
    object_type: String,
    id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StatusData {
    #[serde(deserialize_with = "required")]
    status_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TagsData {
    tag_ids: Vec<String>,
}

#[derive(Deserialize)]
struct NotesData {
    #[serde(deserialize_with = "required")]
    notes: Option<String>,
}

#[derive(Deserialize)]
struct ValuationData {
    #[serde(deserialize_with = "valuation::deserialize")]
    valuation: Option<Amount>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AssigneeData {
    #[serde(deserialize_with = "required")]
    assignee_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ThreadDeletedData {
    #[serde(default)]
    account_link_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MessageData {
    thread_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TargetData {
    thread_id: String,
    #[serde(default)]
    contact_id: Option<String>,
}

impl Event {
    /// The typed event. A known type whose `data` lacks what it must carry is an error (the
    /// value would otherwise be read as cleared); an unknown type is [`types::Change::Other`].
    pub fn into_event(self) -> Result<types::Event, String> {
        fn data<T: serde::de::DeserializeOwned>(
            event_type: &str,
            value: serde_json::Value,
        ) -> Result<T, String> {
            serde_json::from_value(value).map_err(|e| format!("{event_type} event data: {e}"))
        }
        use types::Change;
        let value = self.data;
        let kind = self.event_type.as_str();
        let change = match kind {
            "thread.created" => Change::ThreadCreated,
            "thread.deleted" => Change::ThreadDeleted {
                account_link_id: data::<ThreadDeletedData>(kind, value)?.account_link_id,
            },
            "thread.assigned" | "thread.unassigned" => Change::ThreadAssignee {
                assignee_id: data::<AssigneeData>(kind, value)?.assignee_id,
            },
            "thread.archived" => Change::ThreadArchived { archived: true },
            "thread.unarchived" => Change::ThreadArchived { archived: false },
            _ if kind.starts_with("message.") => Change::Message {
                thread_id: types::ThreadId::from(data::<MessageData>(kind, value)?.thread_id),
                new_message: matches!(kind, "message.sent" | "message.received"),
            },
            "contact.statusChanged" => Change::ContactStatus {
                status_id: data::<StatusData>(kind, value)?.status_id,
            },
            "contact.tagsChanged" => Change::ContactTags {
                tag_ids: data::<TagsData>(kind, value)?.tag_ids,
            },
            "contact.notesChanged" => Change::ContactNotes {
                notes: data::<NotesData>(kind, value)?.notes,
            },
            "contact.valuationChanged" => Change::ContactValuation {
                valuation: data::<ValuationData>(kind, value)?.valuation,
            },
            "contact.assigneeChanged" => Change::ContactAssignee {
                assignee_id: data::<AssigneeData>(kind, value)?.assignee_id,
            },
            _ if kind.starts_with("tag.") => Change::Tag {
                deleted: kind == "tag.deleted",
            },
            _ if kind.starts_with("status.") => Change::Status {
                deleted: kind == "status.deleted",
            },
            _ if kind.starts_with("target.") => {
                let target = data::<TargetData>(kind, value)?;
                Change::Target {
                    thread_id: types::ThreadId::from(target.thread_id),
                    contact_id: target.contact_id.map(types::ContactId::from),
                }
            }
            _ if self.object.object_type == "contact" => Change::ContactOther,
            _ => Change::Other,
        };
        Ok(types::Event {
            id: self.id,
            seq: self.seq,
            event_type: self.event_type,
            created_at: self.created_at,
            object_type: self.object.object_type,
            object_id: self.object.id,
            change,
        })
    }
}

/// The flat error body `{code, message, details, requestId}`, read tolerantly: every key may
/// be missing (a proxy's JSON), and `details` is kept as JSON until the code says its shape.
#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ErrorBody {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub details: serde_json::Value,
    #[serde(default)]
    pub request_id: Option<String>,
}

/// `details` of `429 rateLimited`.
#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RateLimitDetails {
    #[serde(default)]
    pub window: Option<String>,
    #[serde(default)]
    pub reset_at: Option<DateTime<Utc>>,
}

/// `details` of `429 platformRateLimited` and `503 platformUnavailable`.
#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RetryDetails {
    #[serde(default)]
    pub retry_after_seconds: Option<u64>,
}

/// `details` of `400 invalidRequest`.
#[derive(Default, Deserialize)]
pub(super) struct InvalidRequestDetails {
    #[serde(default)]
    issues: Vec<WireIssue>,
}

#[derive(Deserialize)]
struct WireIssue {
    #[serde(default)]
    path: Vec<serde_json::Value>,
    #[serde(default)]
    message: String,
}

impl InvalidRequestDetails {
    pub fn into_issues(self) -> Vec<Issue> {
        self.issues
            .into_iter()
            .map(|issue| Issue {
                path: issue
                    .path
                    .into_iter()
                    .map(|step| match step {
                        serde_json::Value::String(s) => s,
                        other => other.to_string(),
                    })
                    .collect(),
                message: issue.message,
            })
            .collect()
    }
}

/// Body of `PATCH /contacts/{id}`: only the keys the update sets, `null` to clear.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ContactUpdate<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<Option<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    notes: Option<Option<&'a str>>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "valuation::serialize"
    )]
    valuation: Option<Option<Amount>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    assignee_id: Option<Option<&'a str>>,
}

impl<'a> From<&'a types::ContactUpdate> for ContactUpdate<'a> {
    fn from(update: &'a types::ContactUpdate) -> ContactUpdate<'a> {
        let text = |field: &'a Option<Option<String>>| field.as_ref().map(|v| v.as_deref());
        ContactUpdate {
            status: text(&update.status),
            notes: text(&update.notes),
            valuation: update.valuation,
            assignee_id: text(&update.assignee_id),
        }
    }
}

/// Body of `PATCH /threads/{id}`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ThreadUpdate<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    archived: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    assignee_id: Option<Option<&'a str>>,
}

impl<'a> From<&'a types::ThreadUpdate> for ThreadUpdate<'a> {
    fn from(update: &'a types::ThreadUpdate) -> ThreadUpdate<'a> {
        ThreadUpdate {
            archived: update.archived,
            assignee_id: update.assignee_id.as_ref().map(|v| v.as_deref()),
        }
    }
}

/// Body of `POST /tags`.
#[derive(Serialize)]
pub(super) struct TagCreate<'a> {
    pub name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub color: Option<&'a str>,
}
