//! The Inbox v1 objects as the client sees them: only the fields the engine needs, decoded
//! tolerantly (unknown fields ignored, optional keys defaulted), plus the request types.
//!
//! Shapes follow `docs/inbox-api-v1.md` §4 and the vendor's v1 OpenAPI file. This module does
//! no IO and knows nothing about the mirror or the CRM. Where a missing key would be read as
//! "cleared" (a prospect's tags, status, valuation, notes) the key is required, so a changed
//! wire format fails loudly as a decode error instead of wiping values downstream.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::reconcile::Amount;

/// `GET /team`: the team the token belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Team {
    /// Team id.
    pub id: String,
    /// Team name.
    pub name: String,
    /// Currency of prospect valuations, e.g. `USD`.
    #[serde(default)]
    pub currency: String,
}

/// `GET /account-links`: a connected X account.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountLink {
    /// Account link id (threads name it `accountLinkId`).
    pub id: String,
    /// X username, no `@`.
    #[serde(default)]
    pub username: String,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// `active`, `offline` or `paused`.
    #[serde(default)]
    pub status: String,
}

/// `GET /members`: a team member (assignees are member ids).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    /// Member id, the value of `assigneeId` fields.
    pub id: String,
    /// E-mail address.
    #[serde(default)]
    pub email: String,
    /// Name, if set.
    #[serde(default)]
    pub name: Option<String>,
}

/// A tag (`GET /tags`, `POST /tags`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tag {
    /// Tag id.
    pub id: String,
    /// Tag name, unique in the team.
    pub name: String,
}

/// A pipeline status (`GET /statuses`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// Status id.
    pub id: String,
    /// Status name.
    pub name: String,
}

/// A thread-list cursor: the (id, sort timestamp) of the last thread of a page. Pass it back
/// verbatim; the timestamp is kept as the server's string so no precision is lost.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Cursor {
    /// Thread id.
    pub id: String,
    /// The server's timestamp string, unchanged.
    pub timestamp: String,
}

/// One page of `GET /threads`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThreadPage {
    /// The threads of this page.
    pub threads: Vec<Thread>,
    /// Where the next page starts; `None` on the last page.
    #[serde(default)]
    pub next_cursor: Option<Cursor>,
}

/// A conversation between one of the team's X accounts and a prospect.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Thread {
    /// Thread id.
    pub id: String,
    /// The connected account that owns the thread.
    pub account_link_id: String,
    /// Archived (`true`) or in the inbox (`false`).
    pub done: bool,
    /// Assigned member id.
    #[serde(default)]
    pub assignee_id: Option<String>,
    /// A message request from an unknown sender.
    #[serde(default)]
    pub is_request: bool,
    /// The list's sort key (last message time, else creation time), as sent by the server.
    #[serde(default)]
    pub computed_sort_timestamp: Option<String>,
    /// The prospect with its CRM context.
    pub prospect: Prospect,
}

/// A prospect with its team CRM context (`ProspectWithContext`; threads embed one too).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Prospect {
    /// The prospect's Inbox id, used in `/prospects/{id}` paths; `None` if not imported yet.
    #[serde(default)]
    pub external_id: Option<String>,
    /// X numeric user id: the key shared with the CRM.
    pub platform_id: String,
    /// X username, no `@` (compare case-insensitively).
    #[serde(default)]
    pub username: String,
    /// Display name.
    #[serde(default)]
    pub display_name: String,
    /// "Most recent update timestamp for any data about this prospect".
    #[serde(default)]
    pub last_updated_at: Option<DateTime<Utc>>,
    /// The CRM fields.
    pub context: Context,
}

/// A prospect's CRM context.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Context {
    /// Tag ids.
    pub tags: Vec<String>,
    /// Pipeline status id. The key is required (null allowed).
    #[serde(deserialize_with = "required_option")]
    pub status_id: Option<String>,
    /// Deal value in the team currency. The key is required (null allowed).
    #[serde(deserialize_with = "valuation::deserialize")]
    pub valuation: Option<Amount>,
    /// Free-text notes. The key is required (null allowed).
    #[serde(deserialize_with = "required_option")]
    pub notes: Option<String>,
    /// The prospect's threads across all account links; only sent by the prospect endpoints.
    #[serde(default)]
    pub threads: Option<Vec<ContextThread>>,
    /// Prospect-level assignee; only newer deployments send it.
    #[serde(default)]
    pub assignee_id: Option<String>,
}

/// One entry of [`Context::threads`].
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContextThread {
    /// Thread id.
    pub id: String,
    /// The connected account that owns the thread.
    pub account_link_id: String,
}

/// One page of `GET /events`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventPage {
    /// Events in `seq` order.
    pub events: Vec<Event>,
    /// Whether more events follow this page.
    #[serde(default)]
    pub has_more: bool,
    /// The last `seq` of this page: the next `afterSeq`. `None` when the page is empty.
    #[serde(default, deserialize_with = "seq::deserialize_opt")]
    pub last_seq: Option<u64>,
}

/// One replayed webhook event.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// Unique event id, for dedupe.
    pub id: String,
    /// Per-team sequence number.
    #[serde(deserialize_with = "seq::deserialize")]
    pub seq: u64,
    /// `resource.action`, e.g. `prospect.tagsChanged`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// When it happened.
    pub timestamp: DateTime<Utc>,
    /// The payload (`thread`, `prospect`, ...), kept as JSON.
    #[serde(default)]
    pub data: serde_json::Value,
}

/// What one event means for a mirror of prospects and threads. Events are pointers: they say
/// what to re-read, never the values to store (payloads may be trimmed, and a later change may
/// already have overtaken them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventMeaning {
    /// Nothing a mirror holds changed: typing, message edits and reactions, and reference
    /// data that every pull fetches again (tags and statuses created or renamed).
    Nothing,
    /// A tag or status was deleted: Inbox strips it from every prospect, and no per-prospect
    /// event for that is documented.
    ReferenceDeleted,
    /// Objects to re-read. Events of unknown types count by the ids they carry, so a new
    /// event type errs towards a re-read.
    Reread {
        /// Threads (`data.thread.id`, `data.message.threadId`, and the threads a changed
        /// prospect assignee lists).
        threads: Vec<String>,
        /// The prospect (`data.prospect.externalId`).
        prospect: Option<String>,
        /// Every thread of `prospect` too: a prospect-wide assignee change changes thread-level
        /// assignees, and the per-thread events for it are deprecated.
        all_threads: bool,
    },
}

impl Event {
    /// What this event means for the mirror (see [`EventMeaning`]). Ids that are not valid
    /// Inbox ids (`^[0-9a-z]+$`) are left out rather than sent to a URL.
    pub fn meaning(&self) -> EventMeaning {
        let kind = self.event_type.as_str();
        match kind {
            "thread.typing"
            | "message.edited"
            | "message.deleted"
            | "message.reactionAdded"
            | "message.reactionRemoved" => return EventMeaning::Nothing,
            "tag.deleted" | "status.deleted" => return EventMeaning::ReferenceDeleted,
            _ if kind.starts_with("tag.") || kind.starts_with("status.") => {
                return EventMeaning::Nothing;
            }
            _ => {}
        }
        let data = &self.data;
        let thread = id_at(data, "/thread/id").or_else(|| id_at(data, "/message/threadId"));
        let mut threads: Vec<String> = thread.into_iter().collect();
        let prospect = id_at(data, "/prospect/externalId");
        let all_threads = prospect.is_some() && kind == "prospect.assigneeChanged";
        if all_threads {
            // Newer payloads may list the threads; they are re-read either way.
            if let Some(listed) = data.pointer("/prospect/context/threads") {
                let listed = listed.as_array().into_iter().flatten();
                threads.extend(listed.filter_map(|t| id_at(t, "/id")));
            }
        }
        EventMeaning::Reread {
            threads,
            prospect,
            all_threads,
        }
    }
}

/// A string id at `pointer` in an event payload, if it is a valid Inbox id (`^[0-9a-z]+$`).
fn id_at(data: &serde_json::Value, pointer: &str) -> Option<String> {
    let id = data.pointer(pointer)?.as_str()?;
    let valid = !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    valid.then(|| id.to_owned())
}

/// Which inbox view `GET /threads` lists (`inbox=`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum View {
    /// Active threads (`default`).
    #[default]
    Default,
    /// Message requests (`requests`).
    Requests,
    /// Archived threads (`archived`).
    Archived,
    /// Threads awaiting a response (`no-reply`); a subset of `Default`.
    NoReply,
}

impl View {
    /// Every view, in the order a full walk visits them.
    pub const ALL: [View; 4] = [View::Default, View::Requests, View::Archived, View::NoReply];

    /// The `inbox=` query value.
    pub fn as_str(self) -> &'static str {
        match self {
            View::Default => "default",
            View::Requests => "requests",
            View::Archived => "archived",
            View::NoReply => "no-reply",
        }
    }
}

/// Thread-list order (`filters[sortOrder]=`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SortOrder {
    /// Oldest first: threads that move during a walk land behind the cursor and are seen again.
    Asc,
    /// Most recent first (the API's default).
    #[default]
    Desc,
}

impl SortOrder {
    /// The query value.
    pub fn as_str(self) -> &'static str {
        match self {
            SortOrder::Asc => "asc",
            SortOrder::Desc => "desc",
        }
    }
}

/// What `GET /threads` lists; the same query must be used for every page of a walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ThreadQuery {
    /// The inbox view.
    pub view: View,
    /// The order.
    pub sort: SortOrder,
    /// Page size, 1–100.
    pub limit: u8,
}

impl ThreadQuery {
    /// The full-walk query for one view: oldest first, 100 per page.
    pub fn walk(view: View) -> ThreadQuery {
        ThreadQuery {
            view,
            sort: SortOrder::Asc,
            limit: 100,
        }
    }
}

/// Body of `PATCH /threads/{id}`. `None` fields are not sent.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ThreadUpdate {
    /// Archive (`true`) or reopen (`false`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub done: Option<bool>,
    /// `Some(Some(member))` assigns, `Some(None)` unassigns (sends `null`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assignee_id: Option<Option<String>>,
}

/// Body of `PATCH /prospects/{id}/context`. `None` fields are not sent (kept as they are);
/// `Some(None)` sends `null` (clears). Empty tag lists are not sent.
///
/// `assignee_id` and `done` are written by Inbox to *every* thread of the prospect.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContextUpdate {
    /// Notes text, or `Some(None)` to clear.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<Option<String>>,
    /// Deal value, sent as a JSON number, or `Some(None)` to clear.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "valuation::serialize"
    )]
    pub valuation: Option<Option<Amount>>,
    /// Status id, or `Some(None)` to clear.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_id: Option<Option<String>>,
    /// Tag ids to add.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub add_tags: Vec<String>,
    /// Tag ids to remove.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub remove_tags: Vec<String>,
    /// Member id to assign every thread to, or `Some(None)` to unassign them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assignee_id: Option<Option<String>>,
    /// Archive (`true`) or reopen (`false`) every thread.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub done: Option<bool>,
}

impl ContextUpdate {
    /// Whether the update would change nothing.
    pub fn is_empty(&self) -> bool {
        *self == ContextUpdate::default()
    }

    /// Every id the body carries, for validation before sending.
    pub(crate) fn ids(&self) -> impl Iterator<Item = &str> {
        let single = [&self.status_id, &self.assignee_id]
            .into_iter()
            .filter_map(|id| id.as_ref().and_then(|id| id.as_deref()));
        single.chain(
            self.add_tags
                .iter()
                .chain(&self.remove_tags)
                .map(String::as_str),
        )
    }
}

/// An `Option` that must be present as a key (but may be `null`).
fn required_option<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer)
}

/// Valuations: a JSON number on the wire, an exact decimal in the client.
pub(crate) mod valuation {
    use super::*;

    /// Reads a number (or, tolerantly, a numeric string) or `null`. The number's JSON text is
    /// parsed as a decimal, so `1000.50` becomes `1000.5` with no binary rounding on our side.
    pub fn deserialize<'de, D>(deserializer: D) -> Result<Option<Amount>, D::Error>
    where
        D: Deserializer<'de>,
    {
        use serde::de::Error as _;
        let text = match serde_json::Value::deserialize(deserializer)? {
            serde_json::Value::Null => return Ok(None),
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::String(s) => s,
            other => {
                return Err(D::Error::custom(format!(
                    "valuation: expected a number or null, got {other}"
                )));
            }
        };
        Amount::from_str(&text)
            .map(Some)
            .map_err(|e| D::Error::custom(format!("valuation {text:?}: {e}")))
    }

    /// Writes `Some(Some(amount))` as a JSON number, `Some(None)` as `null`.
    pub fn serialize<S>(value: &Option<Option<Amount>>, serializer: S) -> Result<S::Ok, S::Error>
    where
        S: Serializer,
    {
        use serde::ser::Error as _;
        match value {
            Some(Some(amount)) => {
                let number = serde_json::Number::from_str(&amount.to_string())
                    .map_err(|e| S::Error::custom(format!("valuation {amount}: {e}")))?;
                number.serialize(serializer)
            }
            _ => serializer.serialize_none(),
        }
    }
}

/// Event sequence numbers: the spec types them as JSON `number`, so accept `42` and `42.0`.
/// The v2 client reads its `seq` and `lastSeq` with it too.
pub(crate) mod seq {
    use super::*;

    fn from_number<E: serde::de::Error>(n: &serde_json::Number) -> Result<u64, E> {
        if let Some(v) = n.as_u64() {
            return Ok(v);
        }
        match n.as_f64() {
            Some(f) if f >= 0.0 && f.fract() == 0.0 && f < 2f64.powi(53) => Ok(f as u64),
            _ => Err(E::custom(format!(
                "seq: expected a non-negative integer, got {n}"
            ))),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
        let n = serde_json::Number::deserialize(deserializer)?;
        from_number(&n)
    }

    pub fn deserialize_opt<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<u64>, D::Error> {
        Option::<serde_json::Number>::deserialize(deserializer)?
            .map(|n| from_number(&n))
            .transpose()
    }
}
