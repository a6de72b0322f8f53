//! Phase 6 of a run, safety: what stops a run before it writes. A changed field mapping (the
//! stored base no longer means what it meant), the per-field guards (emptied tags or notes,
//! changed valuations or statuses) and the share of linked records that would change. Pure:
//! it reads the plan and the config, and writes nothing.

use std::collections::BTreeSet;

use crate::reconcile::{self, Field, LinkPlan};
use crate::store::Store;

use super::RunOptions;

/// `meta` key of the field mapping the base was recorded under.
pub(super) const MAPPING_KEY: &str = "mapping";

/// Which top-level parts of two mapping fingerprints differ, for the stop message.
pub(super) fn mapping_difference(old: &str, new: &str) -> String {
    let parse = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap_or_default();
    let (old, new) = (parse(old), parse(new));
    let mut changed = Vec::new();
    if old["status"] != new["status"] {
        changed.push("[mapping.status]".to_string());
    }
    if let (Some(o), Some(n)) = (old["columns"].as_object(), new["columns"].as_object()) {
        for key in o.keys().chain(n.keys()).collect::<BTreeSet<_>>() {
            if o.get(key) != n.get(key) {
                changed.push(format!("crm.csv.columns.{key}"));
            }
        }
    }
    if changed.is_empty() {
        "the CRM adapter".to_string()
    } else {
        changed.join(", ")
    }
}

/// The per-field guards: too many tag sets or notes emptied, or too many valuations or
/// statuses changed. Returns the message naming the field and the counts.
fn field_guard(
    plan: &reconcile::Plan,
    linked: u64,
    safety: &crate::config::SafetyConfig,
) -> Option<String> {
    let linked = linked.max(1);
    let count = |pred: &dyn Fn(&reconcile::Change) -> bool| -> u64 {
        plan.links
            .iter()
            .filter(|l| {
                l.inbox.iter().flat_map(|p| &p.changes).any(pred)
                    || l.crm.iter().flat_map(|p| &p.changes).any(pred)
            })
            .count() as u64
    };
    let min = safety.min_changed_records;
    for field in [Field::Tags, Field::Notes] {
        let emptied = count(&|c| c.field() == field && !c.old.is_empty() && c.new.is_empty());
        if emptied > min && emptied as f64 / linked as f64 > safety.max_emptied_ratio {
            return Some(format!(
                "safety guard: {emptied} of {linked} linked records would have their {field} emptied, more than safety.max_emptied_ratio = {}",
                safety.max_emptied_ratio
            ));
        }
    }
    for field in [Field::Valuation, Field::Status] {
        // Filling an empty field overwrites nothing.
        let changed = count(&|c| c.field() == field && !c.old.is_empty());
        if changed > min && changed as f64 / linked as f64 > safety.max_field_change_ratio {
            return Some(format!(
                "safety guard: {changed} of {linked} linked records would have their {field} changed, more than safety.max_field_change_ratio = {}",
                safety.max_field_change_ratio
            ));
        }
    }
    None
}

/// Whether a link's plan overwrites a value on either side (rather than only filling empty
/// fields, which loses nothing): what the safety limit counts.
pub(super) fn overwrites(link: &LinkPlan) -> bool {
    link.inbox
        .iter()
        .flat_map(|p| &p.changes)
        .chain(link.crm.iter().flat_map(|p| &p.changes))
        .chain(link.threads.iter().flat_map(|t| &t.changes))
        .any(|c| !c.old.is_empty())
}

/// Why the run must stop before writing, unless `--force`: a per-field guard (emptied tags or
/// notes, changed valuations or statuses), or more than `safety.max_change_ratio` of the
/// linked records changing. `changed_links` counts the links that overwrite a value; each
/// limit stops only past `safety.min_changed_records` records as well.
pub(super) fn safety_stop(
    plan: &reconcile::Plan,
    changed_links: u64,
    linked: u64,
    safety: &crate::config::SafetyConfig,
) -> Option<String> {
    const ADVICE: &str =
        "nothing was written. Check the CRM export, then rerun with --force to apply.";
    if let Some(message) = field_guard(plan, linked, safety) {
        return Some(format!("{message}; {ADVICE}"));
    }
    let max_ratio = safety.max_change_ratio;
    let ratio = changed_links as f64 / linked.max(1) as f64;
    (changed_links > safety.min_changed_records && ratio > max_ratio).then(|| {
        format!(
            "safety limit: {changed_links} of {linked} linked records ({:.0}%) would change, more than safety.max_change_ratio = {max_ratio} ({:.0}%); {ADVICE}",
            ratio * 100.0,
            max_ratio * 100.0
        )
    })
}

/// Why the run must stop before reading the CRM: the field mapping changed since the last sync
/// (unless `--resync`, which re-baselines).
pub(super) fn mapping_changed(
    store: &Store,
    fingerprint: &str,
    opts: &RunOptions,
) -> anyhow::Result<Option<String>> {
    let stored = store.meta(MAPPING_KEY)?;
    Ok(match stored {
        Some(stored) if stored != fingerprint && !opts.resync => Some(format!(
            "the field mapping changed since the last sync ({}); the stored base no longer matches it. Run `crmsync sync --resync` to re-baseline: values both sides already share become the base, the rest is decided like a first sync. Nothing was written.",
            mapping_difference(&stored, fingerprint)
        )),
        _ => None,
    })
}
