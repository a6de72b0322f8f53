//! Domain types of the reconcile core: field values, one link's inputs, policies and the plan.
//!
//! Everything here is plain data. Nothing in this file (or anywhere under `reconcile/`) may do
//! I/O, read the clock, or depend on tokio, reqwest, rusqlite or csv.

use std::collections::BTreeSet;
use std::fmt;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::ids::{ContactId, RecordId, ThreadId};

/// A synced field of a prospect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Field {
    /// Tag names (a set).
    Tags,
    /// Pipeline status (Inbox status name; the CRM's value is mapped through `[mapping.status]`).
    Status,
    /// Deal value in the team currency.
    Valuation,
    /// Free text.
    Notes,
    /// Assignee, as a member e-mail (lowercase). Lives on threads in Inbox.
    Assignee,
    /// Done (archived). Lives on threads in Inbox.
    Done,
}

impl Field {
    /// Every field, in canonical order.
    pub const ALL: [Field; 6] = [
        Field::Tags,
        Field::Status,
        Field::Valuation,
        Field::Notes,
        Field::Assignee,
        Field::Done,
    ];

    /// The name used in config, logs and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Tags => "tags",
            Field::Status => "status",
            Field::Valuation => "valuation",
            Field::Notes => "notes",
            Field::Assignee => "assignee",
            Field::Done => "done",
        }
    }

    /// The field named `text` (as `as_str` writes it).
    pub fn parse(text: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.as_str() == text)
    }

    /// Whether the field lives on threads in Inbox (so writes to it fan out).
    pub fn is_thread_field(self) -> bool {
        matches!(self, Field::Assignee | Field::Done)
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A side of a link: Inbox or the CRM.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// Inbox (the prospect or contact, and its threads).
    Inbox,
    /// The CRM record.
    Crm,
}

impl Side {
    /// The name stored in the mirror and used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Inbox => "inbox",
            Side::Crm => "crm",
        }
    }

    /// The side named `text` (`inbox` or `crm`).
    pub fn parse(text: &str) -> Option<Side> {
        match text {
            "inbox" => Some(Side::Inbox),
            "crm" => Some(Side::Crm),
            _ => None,
        }
    }

    /// The name people read.
    pub fn label(self) -> &'static str {
        match self {
            Side::Inbox => "Inbox",
            Side::Crm => "CRM",
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A money amount compared as a decimal: `1000`, `1000.0` and `1000.00` are equal.
///
/// The value is normalized on construction (trailing zeros stripped), so the derived
/// `PartialEq` is decimal equality.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Amount(Decimal);

impl Amount {
    /// Wraps a decimal, normalizing it.
    pub fn new(value: Decimal) -> Amount {
        Amount(value.normalize())
    }

    /// The decimal value.
    pub fn value(self) -> Decimal {
        self.0
    }
}

impl std::str::FromStr for Amount {
    type Err = rust_decimal::Error;

    /// Parses `1000`, `1000.50`, `-3`, `1e3` (scientific notation as JSON numbers may carry).
    fn from_str(s: &str) -> Result<Amount, Self::Err> {
        let s = s.trim();
        let parsed = if s.contains(['e', 'E']) {
            Decimal::from_scientific(s)?
        } else {
            s.parse::<Decimal>()?
        };
        Ok(Amount::new(parsed))
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl From<Amount> for String {
    fn from(a: Amount) -> String {
        a.to_string()
    }
}

impl TryFrom<String> for Amount {
    type Error = rust_decimal::Error;
    fn try_from(s: String) -> Result<Amount, Self::Error> {
        s.parse()
    }
}

/// One field's value. `None`/empty means "no value" (cleared), never "unknown".
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "field", content = "value", rename_all = "kebab-case")]
pub enum Value {
    /// Tag names.
    Tags(BTreeSet<String>),
    /// Status name (Inbox vocabulary) or CRM status value (CRM vocabulary).
    Status(Option<String>),
    /// Deal value.
    Valuation(Option<Amount>),
    /// Notes text; an empty text is `None`.
    Notes(Option<String>),
    /// Assignee e-mail (lowercase).
    Assignee(Option<String>),
    /// Done flag.
    Done(Option<bool>),
}

impl Value {
    /// The field this value belongs to.
    pub fn field(&self) -> Field {
        match self {
            Value::Tags(_) => Field::Tags,
            Value::Status(_) => Field::Status,
            Value::Valuation(_) => Field::Valuation,
            Value::Notes(_) => Field::Notes,
            Value::Assignee(_) => Field::Assignee,
            Value::Done(_) => Field::Done,
        }
    }

    /// The empty value of a field (no tags, no text, no amount...).
    pub fn empty(field: Field) -> Value {
        match field {
            Field::Tags => Value::Tags(BTreeSet::new()),
            Field::Status => Value::Status(None),
            Field::Valuation => Value::Valuation(None),
            Field::Notes => Value::Notes(None),
            Field::Assignee => Value::Assignee(None),
            Field::Done => Value::Done(None),
        }
    }

    /// Whether the value is empty (no tags, no text, no amount...).
    pub fn is_empty(&self) -> bool {
        match self {
            Value::Tags(t) => t.is_empty(),
            Value::Status(v) | Value::Notes(v) | Value::Assignee(v) => v.is_none(),
            Value::Valuation(v) => v.is_none(),
            Value::Done(v) => v.is_none(),
        }
    }
}

impl fmt::Display for Value {
    /// Human form: tags joined by `; `, empty values as `(empty)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn opt<T: fmt::Display>(f: &mut fmt::Formatter<'_>, v: &Option<T>) -> fmt::Result {
            match v {
                Some(v) => write!(f, "{v}"),
                None => f.write_str("(empty)"),
            }
        }
        match self {
            Value::Tags(t) if t.is_empty() => f.write_str("(empty)"),
            Value::Tags(t) => {
                let names: Vec<&str> = t.iter().map(String::as_str).collect();
                f.write_str(&names.join("; "))
            }
            Value::Status(v) | Value::Notes(v) | Value::Assignee(v) => opt(f, v),
            Value::Valuation(v) => opt(f, v),
            Value::Done(v) => opt(f, v),
        }
    }
}

/// All synced values of one record on one side. `None`/empty = no value.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fields {
    /// Tag names.
    pub tags: BTreeSet<String>,
    /// Status name / CRM status value.
    pub status: Option<String>,
    /// Deal value.
    pub valuation: Option<Amount>,
    /// Notes (never `Some("")`).
    pub notes: Option<String>,
    /// Assignee e-mail, lowercase.
    pub assignee: Option<String>,
    /// Done flag.
    pub done: Option<bool>,
}

impl Fields {
    /// The value of one field.
    pub fn get(&self, field: Field) -> Value {
        match field {
            Field::Tags => Value::Tags(self.tags.clone()),
            Field::Status => Value::Status(self.status.clone()),
            Field::Valuation => Value::Valuation(self.valuation),
            Field::Notes => Value::Notes(self.notes.clone()),
            Field::Assignee => Value::Assignee(self.assignee.clone()),
            Field::Done => Value::Done(self.done),
        }
    }

    /// Sets one field from a value (the value carries its field).
    pub fn set(&mut self, value: Value) {
        match value {
            Value::Tags(v) => self.tags = v,
            Value::Status(v) => self.status = v,
            Value::Valuation(v) => self.valuation = v,
            Value::Notes(v) => self.notes = v.filter(|s| !s.is_empty()),
            Value::Assignee(v) => self.assignee = v.map(|s| s.to_lowercase()),
            Value::Done(v) => self.done = v,
        }
    }
}

/// Identifies a link: one Inbox prospect ↔ one CRM record.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LinkKey {
    /// Inbox prospect id (`externalId`) on API v1, contact id on API v2.
    pub prospect_id: ContactId,
    /// CRM record id.
    pub crm_id: RecordId,
}

/// One Inbox thread of a prospect, as far as fan-out is concerned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadState {
    /// Inbox thread id.
    pub thread_id: ThreadId,
    /// Account link id that owns the thread.
    pub account_link_id: String,
    /// Username of that account link (for humans).
    pub account: String,
    /// Platform of that account link as the API names it (`twitter`, `linkedin`); empty when
    /// the account link is not known.
    #[serde(default)]
    pub platform: String,
    /// Assignee e-mail (lowercase), or the raw member id when it maps to no member.
    pub assignee: Option<String>,
    /// Done flag of this thread.
    pub done: bool,
}

/// The Inbox side of a link.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxSide {
    /// Prospect-level values (tags, status name, valuation, notes). `assignee`/`done` here are
    /// ignored: they are derived from `threads`.
    pub fields: Fields,
    /// The prospect's threads on the team (one per account link).
    pub threads: Vec<ThreadState>,
    /// The prospect's `lastUpdatedAt`, for the `newest` policy.
    pub updated_at: Option<DateTime<Utc>>,
    /// Thread fields a thread did not take on the last push (API v2): while the threads
    /// disagree on one, the CRM value is written to the threads that differ again (a retry)
    /// rather than logged as a `fanout` conflict, except in `per-thread` mode.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub retry: BTreeSet<Field>,
}

/// The CRM side of a link, in the CRM's vocabulary (status is the CRM value, assignee the owner
/// e-mail).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrmSide {
    /// The record's values.
    pub fields: Fields,
    /// Fields whose CRM value could not be read (a cell or property that does not parse):
    /// unknown for this record, so they are neither compared, written on either side, nor
    /// agreed on. Their value in `fields` is empty and means nothing.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub unknown: BTreeSet<Field>,
    /// Per-record modified time, where the CRM gives one (for the `newest` policy).
    pub updated_at: Option<DateTime<Utc>>,
}

/// Everything the core needs to reconcile one link.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkInput {
    /// Which prospect and record.
    pub key: LinkKey,
    /// Inbox values.
    pub inbox: InboxSide,
    /// CRM values.
    pub crm: CrmSide,
    /// Values both sides agreed on at the last confirmed sync (Inbox vocabulary), per field;
    /// `None` for a field never agreed (first sync).
    pub base: BaseValues,
}

/// The base, per field: `None` = no agreed value yet for that field.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaseValues {
    /// Agreed tags.
    pub tags: Option<BTreeSet<String>>,
    /// Agreed status name.
    pub status: Option<Option<String>>,
    /// Agreed valuation.
    pub valuation: Option<Option<Amount>>,
    /// Agreed notes.
    pub notes: Option<Option<String>>,
    /// Agreed assignee e-mail.
    pub assignee: Option<Option<String>>,
    /// Agreed done flag.
    pub done: Option<Option<bool>>,
}

impl BaseValues {
    /// The agreed value of one field, if any.
    pub fn get(&self, field: Field) -> Option<Value> {
        match field {
            Field::Tags => self.tags.clone().map(Value::Tags),
            Field::Status => self.status.clone().map(Value::Status),
            Field::Valuation => self.valuation.map(Value::Valuation),
            Field::Notes => self.notes.clone().map(Value::Notes),
            Field::Assignee => self.assignee.clone().map(Value::Assignee),
            Field::Done => self.done.map(Value::Done),
        }
    }

    /// Records an agreed value.
    pub fn set(&mut self, value: Value) {
        match value {
            Value::Tags(v) => self.tags = Some(v),
            Value::Status(v) => self.status = Some(v),
            Value::Valuation(v) => self.valuation = Some(v),
            Value::Notes(v) => self.notes = Some(v.filter(|s| !s.is_empty())),
            Value::Assignee(v) => self.assignee = Some(v.map(|s| s.to_lowercase())),
            Value::Done(v) => self.done = Some(v),
        }
    }
}

/// How a field whose two sides changed differently is decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// Set merge for tags, three-way text merge for notes; for other fields the same as
    /// `Manual`.
    Merge,
    /// Leave both sides, record a conflict.
    Manual,
    /// The Inbox value wins.
    InboxWins,
    /// The CRM value wins.
    CrmWins,
    /// The side with the newer modified time wins; without both times, as `Manual`.
    Newest,
}

/// What to do with assignee/done when a prospect has several threads.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FanoutMode {
    /// Disagreeing threads: record a `fanout` conflict, push nothing for that field.
    Log,
    /// Disagreeing threads: push nothing for that field, record nothing.
    Skip,
    /// Write the prospect-level value to every thread, even when they disagree.
    Force,
    /// Only the thread on this account link (username) counts and is written, per thread.
    PerThread {
        /// Username of the chosen account link.
        account: String,
    },
}

/// Field policies and fan-out mode.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// Fields that are synced (mapped on the CRM side). Others are never compared or written.
    pub fields: BTreeSet<Field>,
    /// Rule per field; missing = `Manual` (tags and notes: `Merge`).
    pub rules: std::collections::BTreeMap<Field, Rule>,
    /// Fan-out handling for assignee/done.
    pub fanout: FanoutMode,
}

impl Policy {
    /// The rule for a field: the configured one, else `Merge` for tags and notes and `Manual`
    /// for the others.
    pub fn rule(&self, field: Field) -> Rule {
        match self.rules.get(&field) {
            Some(rule) => *rule,
            None if matches!(field, Field::Tags | Field::Notes) => Rule::Merge,
            None => Rule::Manual,
        }
    }
}

/// Value vocabularies: how CRM values map to Inbox ones, and which Inbox values exist.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vocabulary {
    /// `[mapping.status]`: (Inbox status name, CRM value) pairs.
    pub status_map: Vec<(String, String)>,
    /// Status names that exist in Inbox.
    pub inbox_statuses: BTreeSet<String>,
    /// E-mails (lowercase) of Inbox members.
    pub member_emails: BTreeSet<String>,
}

/// The kind of a logged conflict (docs/design.md §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConflictKind {
    /// Both sides changed the field differently and the policy did not decide.
    BothChanged,
    /// The prospect's threads disagree on assignee/done.
    Fanout,
    /// Ambiguous matching: two records for one prospect or one record for two prospects.
    Identity,
    /// A value that cannot be mapped (unknown status, owner with no member).
    Unmapped,
    /// The API refused a write.
    RejectedByApi,
    /// A value written to the CRM import file that the export does not show yet.
    PendingImport,
}

impl ConflictKind {
    /// Every kind, in declaration order.
    pub const ALL: [ConflictKind; 6] = [
        ConflictKind::BothChanged,
        ConflictKind::Fanout,
        ConflictKind::Identity,
        ConflictKind::Unmapped,
        ConflictKind::RejectedByApi,
        ConflictKind::PendingImport,
    ];

    /// The name used in the log and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ConflictKind::BothChanged => "both-changed",
            ConflictKind::Fanout => "fanout",
            ConflictKind::Identity => "identity",
            ConflictKind::Unmapped => "unmapped",
            ConflictKind::RejectedByApi => "rejected-by-api",
            ConflictKind::PendingImport => "pending-import",
        }
    }

    /// The kind named `text` (as `as_str` writes it).
    pub fn parse(text: &str) -> Option<ConflictKind> {
        ConflictKind::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

impl fmt::Display for ConflictKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A divergence the core could not (or may not) settle. Conflicts are data, not errors.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conflict {
    /// The link.
    pub key: LinkKey,
    /// The field.
    pub field: Field,
    /// Why it is a conflict.
    pub kind: ConflictKind,
    /// Inbox value (for fan-out: `None`, see `threads`).
    pub inbox: Option<Value>,
    /// CRM value (CRM vocabulary).
    pub crm: Option<Value>,
    /// Base value, if any.
    pub base: Option<Value>,
    /// For fan-out conflicts: each thread's account and value.
    pub threads: Vec<ThreadState>,
    /// One line for humans.
    pub detail: String,
}

/// One field change: what a side holds now and what it will hold.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// Old value on the written side.
    pub old: Value,
    /// New value.
    pub new: Value,
}

impl Change {
    /// The field changed.
    pub fn field(&self) -> Field {
        self.new.field()
    }
}

/// One `PATCH /prospects/{id}/context` carrying every field change of the prospect
/// (Inbox vocabulary; tags as full old/new sets, the engine derives addTags/removeTags).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxPatch {
    /// Changes, in `Field` order.
    pub changes: Vec<Change>,
}

/// One `PATCH /threads/{id}` (per-thread fan-out mode).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadPatch {
    /// The thread.
    pub thread_id: ThreadId,
    /// Assignee/done changes, in `Field` order.
    pub changes: Vec<Change>,
}

/// One CRM record update (CRM vocabulary).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrmPatch {
    /// Changes, in `Field` order.
    pub changes: Vec<Change>,
}

/// The plan for one link.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkPlan {
    /// The link.
    pub key: LinkKey,
    /// Prospect-level context patch, if anything changes there.
    pub inbox: Option<InboxPatch>,
    /// Per-thread patches (per-thread fan-out mode only).
    pub threads: Vec<ThreadPatch>,
    /// CRM update, if anything changes there.
    pub crm: Option<CrmPatch>,
    /// The value both sides will hold for each settled field (Inbox vocabulary): the new base,
    /// to be recorded once both sides confirm it. Conflicted fields are absent.
    pub agreed: Vec<Value>,
    /// Conflicts for this link.
    pub conflicts: Vec<Conflict>,
}

impl LinkPlan {
    /// True when nothing is written on either side.
    pub fn is_noop(&self) -> bool {
        self.inbox.is_none() && self.threads.is_empty() && self.crm.is_none()
    }
}

/// The plan for a whole run: one entry per link that has writes, base moves or conflicts,
/// sorted by `LinkKey`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// Per-link plans, sorted by key.
    pub links: Vec<LinkPlan>,
}
