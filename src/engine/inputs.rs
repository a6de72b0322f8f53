//! Translating mirror rows and CRM records into the core's vocabulary, and back.
//!
//! Inbox stores ids (tag ids, status ids, member ids); the core works with names and e-mails.
//! [`Names`] holds the team's reference data for both directions.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::crm::CrmRecord;
use crate::reconcile::{CrmSide, Fields, InboxSide, ThreadState, Vocabulary};
use crate::store::{MirrorProspect, Reference};

/// The team's reference data, indexed both ways.
#[derive(Clone, Debug, Default)]
pub struct Names {
    tag_name: HashMap<String, String>,
    /// Lowercase tag name → (id, canonical name).
    tag_by_name: HashMap<String, (String, String)>,
    status_name: HashMap<String, String>,
    status_by_name: HashMap<String, String>,
    member_email: HashMap<String, String>,
    member_by_email: HashMap<String, String>,
    account_username: HashMap<String, String>,
    account_platform: HashMap<String, String>,
}

impl Names {
    /// Indexes reference data.
    pub fn new(reference: &Reference) -> Names {
        let mut names = Names::default();
        for (id, name) in &reference.tags {
            names.tag_name.insert(id.clone(), name.clone());
            names
                .tag_by_name
                .insert(name.to_lowercase(), (id.clone(), name.clone()));
        }
        for (id, name) in &reference.statuses {
            names.status_name.insert(id.clone(), name.clone());
            names.status_by_name.insert(name.clone(), id.clone());
        }
        for (id, email, _) in &reference.members {
            names.member_email.insert(id.clone(), email.to_lowercase());
            names
                .member_by_email
                .insert(email.to_lowercase(), id.clone());
        }
        for link in &reference.account_links {
            names
                .account_username
                .insert(link.id.clone(), link.username.clone());
            names
                .account_platform
                .insert(link.id.clone(), link.platform.clone());
        }
        names
    }

    /// Tag id for a name (case-insensitive).
    pub fn tag_id(&self, name: &str) -> Option<&str> {
        self.tag_by_name
            .get(&name.to_lowercase())
            .map(|(id, _)| id.as_str())
    }

    /// Registers a tag created during the run.
    pub fn add_tag(&mut self, id: &str, name: &str) {
        self.tag_name.insert(id.to_string(), name.to_string());
        self.tag_by_name
            .insert(name.to_lowercase(), (id.to_string(), name.to_string()));
    }

    /// Status id for a name.
    pub fn status_id(&self, name: &str) -> Option<&str> {
        self.status_by_name.get(name).map(String::as_str)
    }

    /// Member id for an e-mail.
    pub fn member_id(&self, email: &str) -> Option<&str> {
        self.member_by_email
            .get(&email.to_lowercase())
            .map(String::as_str)
    }

    /// Username of an account link (the id itself when unknown).
    pub fn account(&self, account_link_id: &str) -> String {
        self.account_username
            .get(account_link_id)
            .cloned()
            .unwrap_or_else(|| account_link_id.to_string())
    }

    /// Platform of an account link (`twitter`, `linkedin`; empty when unknown).
    pub fn platform(&self, account_link_id: &str) -> String {
        self.account_platform
            .get(account_link_id)
            .cloned()
            .unwrap_or_default()
    }

    /// The member e-mail for an assignee id, or the raw id when it maps to no member.
    pub fn assignee(&self, member_id: Option<&str>) -> Option<String> {
        member_id.map(|id| {
            self.member_email
                .get(id)
                .cloned()
                .unwrap_or_else(|| id.to_string())
        })
    }

    /// Canonical spelling of CRM tag names: an Inbox tag that matches case-insensitively
    /// lends its spelling, so `vip` in the CRM and `VIP` in Inbox are one tag.
    pub fn canonical_tags(&self, tags: &BTreeSet<String>) -> BTreeSet<String> {
        tags.iter()
            .map(|t| {
                self.tag_by_name
                    .get(&t.to_lowercase())
                    .map(|(_, name)| name.clone())
                    .unwrap_or_else(|| t.clone())
            })
            .collect()
    }

    /// The core's vocabulary.
    pub fn vocabulary(&self, config: &Config) -> Vocabulary {
        Vocabulary {
            status_map: config
                .mapping
                .status
                .iter()
                .map(|(inbox, crm)| (inbox.clone(), crm.clone()))
                .collect(),
            inbox_statuses: self.status_by_name.keys().cloned().collect(),
            member_emails: self.member_by_email.keys().cloned().collect(),
        }
    }
}

/// The Inbox side of a link.
pub fn inbox_side(mirror: &MirrorProspect, names: &Names) -> InboxSide {
    let p = &mirror.prospect;
    let tags = p
        .tag_ids
        .iter()
        .filter_map(|id| names.tag_name.get(id).cloned())
        .collect();
    let fields = Fields {
        tags,
        status: p.status_id.as_ref().map(|id| {
            names
                .status_name
                .get(id)
                .cloned()
                .unwrap_or_else(|| id.clone())
        }),
        valuation: p.valuation,
        notes: p.notes.clone().filter(|n| !n.is_empty()),
        assignee: None,
        done: None,
    };
    let threads = mirror
        .threads
        .iter()
        .map(|t| ThreadState {
            thread_id: t.id.clone(),
            account_link_id: t.account_link_id.clone(),
            account: names.account(&t.account_link_id),
            platform: names.platform(&t.account_link_id),
            assignee: names.assignee(t.assignee_id.as_deref()),
            done: t.done,
        })
        .collect();
    InboxSide {
        fields,
        threads,
        retry: BTreeSet::new(),
        updated_at: p
            .last_updated_at
            .as_deref()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc)),
    }
}

/// The CRM side of a link.
pub fn crm_side(record: &CrmRecord, names: &Names) -> CrmSide {
    let mut fields = record.fields.clone();
    fields.tags = names.canonical_tags(&fields.tags);
    fields.assignee = fields.assignee.map(|e| e.to_lowercase());
    fields.notes = fields.notes.filter(|n| !n.is_empty());
    CrmSide {
        fields,
        unknown: record.unknown.clone(),
        updated_at: record.updated_at,
    }
}

/// Tags the plan would add in Inbox that Inbox does not have, while
/// `[safety] create_missing_tags` is off, cannot be written: they leave the Inbox write and
/// become one `unmapped` conflict per link, and the link's tags do not move the base (Inbox
/// will not hold the merged set). Done on the plan itself, so that `plan` shows exactly what
/// `sync` does. Pure.
pub fn hold_back_unknown_tags(
    plan: &mut crate::reconcile::Plan,
    names: &Names,
    create_missing_tags: bool,
) {
    use crate::reconcile::{Conflict, ConflictKind, Field, Value};
    if create_missing_tags {
        return;
    }
    for link in &mut plan.links {
        let Some(patch) = &mut link.inbox else {
            continue;
        };
        let mut missing: BTreeSet<String> = BTreeSet::new();
        let mut inbox_now = None;
        for change in &mut patch.changes {
            if let (Value::Tags(old), Value::Tags(new)) = (&change.old, &mut change.new) {
                let unknown: Vec<String> = new
                    .difference(old)
                    .filter(|name| names.tag_id(name).is_none())
                    .cloned()
                    .collect();
                for name in unknown {
                    new.remove(&name);
                    missing.insert(name);
                }
                inbox_now = Some(old.clone());
            }
        }
        if missing.is_empty() {
            continue;
        }
        patch.changes.retain(|c| c.old != c.new);
        if patch.changes.is_empty() {
            link.inbox = None;
        }
        link.agreed.retain(|v| v.field() != Field::Tags);
        let list: Vec<&str> = missing.iter().map(String::as_str).collect();
        link.conflicts.push(Conflict {
            key: link.key.clone(),
            field: Field::Tags,
            kind: ConflictKind::Unmapped,
            inbox: inbox_now.map(Value::Tags),
            crm: Some(Value::Tags(missing.clone())),
            base: None,
            threads: Vec::new(),
            detail: format!(
                "tag(s) {} do not exist in Inbox: create them in Inbox, or set [safety] create_missing_tags = true",
                list.join(", ")
            ),
        });
    }
}
