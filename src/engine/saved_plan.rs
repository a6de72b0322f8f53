//! Reviewed plans, as terraform does them: `crmsync plan --out plan.json` saves the plan with
//! the values it was made from; `crmsync sync --plan plan.json` applies exactly that plan, and
//! skips (and reports) every field whose value changed on either side since.
//!
//! Pure apart from reading and writing the file.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use crate::reconcile::{Field, LinkInput, LinkKey, LinkPlan, Plan, ThreadId, ThreadState, Value};

/// The file format version.
const VERSION: u32 = 1;

/// One saved link: the values the plan was made from, and its writes.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SavedLink {
    /// Both sides and the base, as they were.
    pub input: LinkInput,
    /// The writes planned for them.
    pub plan: LinkPlan,
}

/// A saved plan.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SavedPlan {
    /// File format version.
    pub version: u32,
    /// When the plan was made (RFC 3339).
    pub created_at: String,
    /// The field mapping it was made under (see `Config::mapping_fingerprint`).
    pub mapping: String,
    /// Links with writes.
    pub links: Vec<SavedLink>,
}

impl SavedPlan {
    /// Keeps the links of `plan` that write something, with their inputs.
    pub fn new(
        inputs: &[LinkInput],
        plan: &Plan,
        mapping: String,
        created_at: String,
    ) -> SavedPlan {
        let by_key: HashMap<&LinkKey, &LinkInput> = inputs.iter().map(|i| (&i.key, i)).collect();
        let links = plan
            .links
            .iter()
            .filter(|l| !l.is_noop())
            .filter_map(|l| {
                by_key.get(&l.key).map(|input| SavedLink {
                    input: (*input).clone(),
                    plan: LinkPlan {
                        conflicts: Vec::new(),
                        ..l.clone()
                    },
                })
            })
            .collect();
        SavedPlan {
            version: VERSION,
            created_at,
            mapping,
            links,
        }
    }

    /// Writes the plan as JSON.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(self).expect("plans serialize");
        std::fs::write(path, text).with_context(|| format!("writing the plan {}", path.display()))
    }

    /// Reads a plan written by [`SavedPlan::save`].
    pub fn load(path: &Path) -> anyhow::Result<SavedPlan> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the plan {}", path.display()))?;
        let plan: SavedPlan = serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is not a plan written by `crmsync plan --out`",
                path.display()
            )
        })?;
        anyhow::ensure!(
            plan.version == VERSION,
            "{} has plan format {}, this crmsync reads {VERSION}",
            path.display(),
            plan.version
        );
        Ok(plan)
    }

    /// The saved writes whose targets still hold the values the plan was made from, and a line
    /// for each write skipped because a side changed since.
    pub fn still_valid(&self, current: &[LinkInput]) -> (Plan, Vec<String>) {
        let by_key: HashMap<&LinkKey, &LinkInput> = current.iter().map(|i| (&i.key, i)).collect();
        let mut plan = Plan::default();
        let mut skipped = Vec::new();
        for saved in &self.links {
            let key = &saved.plan.key;
            let Some(now) = by_key.get(key) else {
                skipped.push(format!(
                    "prospect {} <-> record {}: the link is not active any more; all its writes skipped",
                    key.prospect_id, key.crm_id
                ));
                continue;
            };
            let unchanged = |field: Field| {
                side_value(&saved.input, field) == side_value(now, field)
                    && saved.input.crm.fields.get(field) == now.crm.fields.get(field)
                    && !now.crm.unknown.contains(&field)
            };
            let mut link = saved.plan.clone();
            let mut dropped: Vec<Field> = Vec::new();
            let mut keep = |changes: &mut Vec<crate::reconcile::Change>| {
                changes.retain(|c| {
                    let ok = unchanged(c.field());
                    if !ok && !dropped.contains(&c.field()) {
                        dropped.push(c.field());
                    }
                    ok
                });
            };
            if let Some(p) = link.inbox.as_mut() {
                keep(&mut p.changes);
            }
            for t in link.threads.iter_mut() {
                keep(&mut t.changes);
            }
            if let Some(p) = link.crm.as_mut() {
                keep(&mut p.changes);
            }
            link.inbox = link.inbox.filter(|p| !p.changes.is_empty());
            link.crm = link.crm.filter(|p| !p.changes.is_empty());
            link.threads.retain(|t| !t.changes.is_empty());
            link.agreed.retain(|v| unchanged(v.field()));
            for field in dropped {
                skipped.push(format!(
                    "prospect {} <-> record {}: {field} changed since the plan was made; its writes skipped",
                    key.prospect_id, key.crm_id
                ));
            }
            if !link.is_noop() {
                plan.links.push(link);
            }
        }
        plan.links.sort_by(|a, b| a.key.cmp(&b.key));
        (plan, skipped)
    }
}

/// What the Inbox side holds for a field, for comparing then and now.
#[derive(PartialEq)]
enum InboxValue {
    /// A prospect-level field.
    Prospect(Value),
    /// Assignee/done: every thread's (id, assignee, done).
    Threads(Vec<(ThreadId, Option<String>, bool)>),
}

/// The Inbox side's value of a field.
fn side_value(input: &LinkInput, field: Field) -> InboxValue {
    if field.is_thread_field() {
        InboxValue::Threads(
            input
                .inbox
                .threads
                .iter()
                .map(|t: &ThreadState| (t.thread_id.clone(), t.assignee.clone(), t.done))
                .collect(),
        )
    } else {
        InboxValue::Prospect(input.inbox.fields.get(field))
    }
}
