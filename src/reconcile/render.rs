//! A stable, human-readable text form of a [`Plan`], for `crmsync plan` and snapshot tests.
//!
//! Builds a `String` only: printing it is the CLI's job, never this module's.

use std::fmt::Write as _;

use super::fanout::{thread_account, thread_value};
use super::model::{Change, Conflict, ConflictKind, LinkPlan, Plan, Value};

/// Renders a plan as text: one block per link that writes something or has a conflict, then a
/// summary line.
///
/// ```text
/// prospect p1 <-> record r1
///   inbox  status: Lead -> Won
///   crm    tags: a; b -> a; b; c
///   conflict both-changed notes: inbox "x" crm "y" base "z"
/// 1 link to update (1 inbox, 0 thread, 1 crm patches), 1 conflict, 0 links unchanged
/// ```
///
/// Notes are quoted with escapes (`\n`), so every change stays on one line. Links whose only
/// news is the agreed value are counted as unchanged, not listed.
pub fn render_plan(plan: &Plan) -> String {
    let mut out = String::new();
    for link in &plan.links {
        if !link.is_noop() || !link.conflicts.is_empty() {
            render_link(&mut out, link);
        }
    }
    let count = |pred: fn(&LinkPlan) -> bool| plan.links.iter().filter(|l| pred(l)).count();
    let to_update = count(|l| !l.is_noop());
    let unchanged = count(|l| l.is_noop() && l.conflicts.is_empty());
    let n_inbox = count(|l| l.inbox.is_some());
    let n_crm = count(|l| l.crm.is_some());
    let n_threads: usize = plan.links.iter().map(|l| l.threads.len()).sum();
    let n_conflicts: usize = plan.links.iter().map(|l| l.conflicts.len()).sum();
    // Writing to a String cannot fail.
    let _ = writeln!(
        out,
        "{to_update} {} to update ({n_inbox} inbox, {n_threads} thread, {n_crm} crm patches), \
         {n_conflicts} {}, {unchanged} {} unchanged",
        plural(to_update, "link", "links"),
        plural(n_conflicts, "conflict", "conflicts"),
        plural(unchanged, "link", "links"),
    );
    out
}

/// `one` for 1, else `many`.
fn plural(n: usize, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 { one } else { many }
}

/// One link's block.
fn render_link(out: &mut String, link: &LinkPlan) {
    let _ = writeln!(
        out,
        "prospect {} <-> record {}",
        link.key.prospect_id, link.key.crm_id
    );
    if let Some(patch) = &link.inbox {
        for change in &patch.changes {
            render_change(out, "inbox ", change);
        }
    }
    for patch in &link.threads {
        for change in &patch.changes {
            render_change(out, &format!("thread {}", patch.thread_id), change);
        }
    }
    if let Some(patch) = &link.crm {
        for change in &patch.changes {
            render_change(out, "crm   ", change);
        }
    }
    for conflict in &link.conflicts {
        render_conflict(out, conflict);
    }
}

/// `  <side> <field>: <old> -> <new>`.
fn render_change(out: &mut String, side: &str, change: &Change) {
    let _ = writeln!(
        out,
        "  {side} {}: {} -> {}",
        change.field(),
        plain(&change.old),
        plain(&change.new)
    );
}

/// One conflict line.
fn render_conflict(out: &mut String, conflict: &Conflict) {
    let _ = write!(out, "  conflict {} {}: ", conflict.kind, conflict.field);
    if conflict.kind == ConflictKind::Fanout && !conflict.threads.is_empty() {
        let listed: Vec<String> = conflict
            .threads
            .iter()
            .map(|thread| {
                let value = thread_value(conflict.field, thread).to_string();
                format!("{} {value:?}", thread_account(thread))
            })
            .collect();
        let _ = write!(out, "{}", listed.join(", "));
        if let Some(crm) = &conflict.crm {
            let _ = write!(out, "; crm {}", quoted(Some(crm)));
        }
    } else {
        let _ = write!(
            out,
            "inbox {} crm {} base {}",
            quoted(conflict.inbox.as_ref()),
            quoted(conflict.crm.as_ref()),
            quoted(conflict.base.as_ref())
        );
    }
    if conflict.kind != ConflictKind::BothChanged && conflict.kind != ConflictKind::Fanout {
        let _ = write!(out, " ({})", conflict.detail);
    }
    out.push('\n');
}

/// A value in a change line: plain, except notes, which are quoted and escaped.
fn plain(value: &Value) -> String {
    match value {
        Value::Notes(Some(_)) => format!("{:?}", value.to_string()),
        _ => value.to_string(),
    }
}

/// A value in a conflict line: quoted and escaped; `(empty)` and `(none)` stay bare.
fn quoted(value: Option<&Value>) -> String {
    match value {
        None => "(none)".to_owned(),
        Some(value) if value.is_empty() => "(empty)".to_owned(),
        Some(value) => format!("{:?}", value.to_string()),
    }
}
