//! The per-field three-way merge (docs/design.md §3): the merge table, the field rules, the tag
//! set merge and the notes text merge.
//!
//! Works on canonical values in Inbox vocabulary only; mapping and fan-out happen before, and
//! turning a decision into writes happens after (in `link`). No I/O, no clock: the `newest`
//! rule compares the modified times it is given.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use super::model::{Field, Rule, Value};
use super::notes;

/// The three canonical values of one field on one link.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sides<'a> {
    /// The Inbox value.
    pub(crate) inbox: &'a Value,
    /// The CRM value, mapped into Inbox vocabulary.
    pub(crate) crm: &'a Value,
    /// The value agreed at the last confirmed sync, if any.
    pub(crate) base: Option<&'a Value>,
    /// Whether the CRM holds no value. Usually `crm.is_empty()`, but an empty done cell
    /// compares as `false` (an Inbox thread is always done or not) and still counts as empty
    /// when a first sync fills the empty side.
    pub(crate) crm_empty: bool,
}

/// Modified times of the two sides, for the `newest` rule.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Times {
    /// The prospect's last update in Inbox.
    pub(crate) inbox: Option<DateTime<Utc>>,
    /// The record's last modification in the CRM.
    pub(crate) crm: Option<DateTime<Utc>>,
}

/// What the merge decided for one field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Both sides end up holding this value (Inbox vocabulary).
    Settled(Value),
    /// Both sides changed differently and the rule did not decide: a `both-changed` conflict,
    /// with one line for humans.
    BothChanged(String),
}

/// Merges one field according to its rule.
pub(crate) fn decide(field: Field, sides: Sides<'_>, rule: Rule, times: Times) -> Decision {
    match (rule, sides.inbox, sides.crm) {
        (Rule::Merge, Value::Tags(inbox), Value::Tags(crm)) => {
            let base = match sides.base {
                Some(Value::Tags(base)) => Some(base),
                _ => None,
            };
            Decision::Settled(Value::Tags(merge_tags(inbox, crm, base)))
        }
        (Rule::Merge, Value::Notes(_), Value::Notes(_)) => table(sides, |base| match base {
            Some(Value::Notes(base)) => merge_notes(base.as_deref(), sides),
            _ => Decision::BothChanged(
                "first sync: the notes differ on the two sides and there is no common version"
                    .to_owned(),
            ),
        }),
        _ => table(sides, |_| by_rule(field, sides, rule, times)),
    }
}

/// The merge table; `both_differ` decides the last row (both changed differently, or no base
/// and both set differently).
fn table(sides: Sides<'_>, both_differ: impl FnOnce(Option<&Value>) -> Decision) -> Decision {
    let Sides {
        inbox,
        crm,
        base,
        crm_empty,
    } = sides;
    if inbox == crm {
        // All equal, both changed to the same value, or a first sync that already agrees.
        return Decision::Settled(inbox.clone());
    }
    match base {
        Some(base) if base == inbox => Decision::Settled(crm.clone()),
        Some(base) if base == crm => Decision::Settled(inbox.clone()),
        None if inbox.is_empty() => Decision::Settled(crm.clone()),
        None if crm_empty => Decision::Settled(inbox.clone()),
        _ => both_differ(base),
    }
}

/// Decides a field both sides changed differently by its rule.
fn by_rule(field: Field, sides: Sides<'_>, rule: Rule, times: Times) -> Decision {
    let what = if sides.base.is_some() {
        format!("both sides changed {field} since the last sync")
    } else {
        format!("first sync: {field} differs on the two sides")
    };
    match rule {
        Rule::InboxWins => Decision::Settled(sides.inbox.clone()),
        Rule::CrmWins => Decision::Settled(sides.crm.clone()),
        Rule::Newest => match (times.inbox, times.crm) {
            (Some(inbox), Some(crm)) if inbox > crm => Decision::Settled(sides.inbox.clone()),
            (Some(inbox), Some(crm)) if crm > inbox => Decision::Settled(sides.crm.clone()),
            (Some(_), Some(_)) => {
                Decision::BothChanged(format!("{what} (rule newest: same modified time)"))
            }
            _ => Decision::BothChanged(format!("{what} (rule newest: no modified time)")),
        },
        Rule::Merge | Rule::Manual => Decision::BothChanged(format!("{what} (rule manual)")),
    }
}

/// Set merge: the base, plus what either side added, minus what either side removed. With no
/// base, the union.
pub(crate) fn merge_tags(
    inbox: &BTreeSet<String>,
    crm: &BTreeSet<String>,
    base: Option<&BTreeSet<String>>,
) -> BTreeSet<String> {
    let Some(base) = base else {
        return inbox.union(crm).cloned().collect();
    };
    inbox
        .union(crm)
        // A tag in the base survives only if neither side removed it; any other tag was added
        // by at least one side and is kept.
        .filter(|tag| !base.contains(*tag) || (inbox.contains(*tag) && crm.contains(*tag)))
        .cloned()
        .collect()
}

/// Three-way text merge of notes that both sides changed (normalised texts, see
/// [`notes`](super::notes)).
///
/// The merge must come out the same whichever side is taken as "ours": two insertions at the
/// same place could be ordered by side, and a result that depends on that order would break
/// the symmetry of the plan, so it is treated as overlapping edits.
fn merge_notes(base: Option<&str>, sides: Sides<'_>) -> Decision {
    let text = |value: &Value| match value {
        Value::Notes(Some(text)) => text.clone(),
        _ => String::new(),
    };
    let (inbox, crm) = (text(sides.inbox), text(sides.crm));
    match notes::merge(base.unwrap_or_default(), &inbox, &crm) {
        Some(merged) => Decision::Settled(Value::Notes(Some(merged).filter(|t| !t.is_empty()))),
        None => Decision::BothChanged(
            "both sides edited the same part of the notes since the last sync".to_owned(),
        ),
    }
}
