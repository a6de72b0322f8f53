//! Human-readable output for runs and conflicts.

use std::fmt::Write;

use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};

use crate::config::InboxApi;
use crate::engine::SyncReport;
use crate::reconcile::ConflictKind;
use crate::store::{ConflictRecord, ConflictRow};

fn shorten(text: &str, max: usize) -> String {
    let one_line = text.replace('\n', " ⏎ ");
    if one_line.chars().count() <= max {
        one_line
    } else {
        let cut: String = one_line.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

/// Who the people on the Inbox side are: contacts (with X and LinkedIn profiles) on API v2,
/// prospects on v1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct People {
    /// One of them.
    pub one: &'static str,
    /// More than one.
    pub many: &'static str,
}

impl People {
    /// The people of `api`.
    pub fn of(api: InboxApi) -> People {
        match api {
            InboxApi::V2 => People {
                one: "contact",
                many: "contacts",
            },
            InboxApi::V1 => People {
                one: "prospect",
                many: "prospects",
            },
        }
    }

    /// The people of the API a run spoke.
    fn of_run(report: &SyncReport) -> People {
        People::of(if report.inbox_api == "v1" {
            InboxApi::V1
        } else {
            InboxApi::V2
        })
    }
}

/// `n` and the noun, singular for one: "1 record", "2 records".
pub fn count(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

fn header(out: &mut String, report: &SyncReport) {
    let people = People::of_run(report);
    let person = people.one;
    let _ = writeln!(
        out,
        "Inbox: {}, {} | CRM: {}, {} rejected | {} linked, {} without a CRM record, {} without a {person}",
        count(report.pull.prospects, people.one, people.many),
        count(report.pull.threads, "thread", "threads"),
        count(report.crm_records, "record", "records"),
        report.rejected_rows.len(),
        report.linked,
        count(report.unlinked_prospects, people.one, people.many),
        count(report.unlinked_records, "record", "records"),
    );
    if report.unchanged_links > 0 {
        let _ = writeln!(
            out,
            "  {} linked record(s) unchanged on both sides since a sync found them in step: not re-checked",
            report.unchanged_links
        );
    }
    for reject in &report.rejected_rows {
        let _ = writeln!(
            out,
            "  rejected {}:{}: {}",
            reject.source, reject.row, reject.reason
        );
    }
    for u in report.unmatched.iter().take(SHOWN_PER_KIND) {
        let _ = writeln!(
            out,
            "  no {person} for record {}{}: {}",
            u.record,
            if u.handle.is_empty() {
                String::new()
            } else {
                format!(" ({})", u.handle)
            },
            u.reason
        );
    }
    if report.unmatched.len() > SHOWN_PER_KIND {
        let more = (report.unmatched.len() - SHOWN_PER_KIND) as u64;
        let _ = writeln!(
            out,
            "  … and {} more without a {person} (`--json`: \"unmatched\")",
            count(more, "record", "records")
        );
    }
}

/// How many conflicts of one kind the run summary lists before pointing at `conflicts list`.
const SHOWN_PER_KIND: usize = 6;

/// Kinds in the order a human should look at them.
const KIND_ORDER: [ConflictKind; 6] = [
    ConflictKind::BothChanged,
    ConflictKind::Unmapped,
    ConflictKind::Identity,
    ConflictKind::RejectedByApi,
    ConflictKind::Fanout,
    ConflictKind::PendingImport,
];

fn conflicts(out: &mut String, all: &[ConflictRecord]) {
    // Values waiting in the import file are not conflicts: they are listed apart.
    let (waiting, list): (Vec<&ConflictRecord>, Vec<&ConflictRecord>) = all
        .iter()
        .partition(|c| c.kind == ConflictKind::PendingImport);
    if !waiting.is_empty() {
        let _ = writeln!(
            out,
            "\nWaiting for import ({}): they count once the CRM export shows them",
            waiting.len()
        );
        for c in waiting.iter().take(SHOWN_PER_KIND) {
            let who = c
                .username
                .as_ref()
                .map(|u| format!("@{u}"))
                .unwrap_or_else(|| c.prospect_id.to_string());
            let _ = writeln!(
                out,
                "  {who} -> record {}: {} = {}",
                c.crm_id,
                c.field,
                c.crm.as_deref().unwrap_or("")
            );
        }
        if waiting.len() > SHOWN_PER_KIND {
            let _ = writeln!(
                out,
                "  … and {} more (crmsync conflicts list --kind pending-import)",
                waiting.len() - SHOWN_PER_KIND
            );
        }
    }
    if list.is_empty() {
        return;
    }
    let list: Vec<ConflictRecord> = list.into_iter().cloned().collect();
    let _ = writeln!(out, "\nConflicts ({}):", list.len());
    for kind in KIND_ORDER {
        let of_kind: Vec<&ConflictRecord> = list.iter().filter(|c| c.kind == kind).collect();
        for c in of_kind.iter().take(SHOWN_PER_KIND) {
            conflict_line(out, c);
        }
        if of_kind.len() > SHOWN_PER_KIND {
            let _ = writeln!(
                out,
                "  … and {} more {kind} conflicts (crmsync conflicts list --kind {kind})",
                of_kind.len() - SHOWN_PER_KIND
            );
        }
    }
}

fn conflict_line(out: &mut String, c: &ConflictRecord) {
    {
        let who = c
            .username
            .as_ref()
            .map(|u| format!("@{u}"))
            .unwrap_or_else(|| c.prospect_id.to_string());
        let _ = writeln!(
            out,
            "  {:<15} {:<9} {who} <-> {}: {}",
            c.kind.as_str(),
            c.field.as_str(),
            if c.crm_id.is_empty() {
                "-"
            } else {
                c.crm_id.as_str()
            },
            shorten(&c.detail, 140)
        );
    }
}

/// `crmsync plan` output.
pub fn plan(report: &SyncReport) -> String {
    let mut out = String::new();
    header(&mut out, report);
    let waiting = match report.planned_crm_pending {
        0 => String::new(),
        n => format!(" ({n} of them already waiting in the import file)"),
    };
    let _ = writeln!(
        out,
        "Plan: {} Inbox write(s), {} CRM write(s){waiting} on {} linked record(s); nothing has been changed.",
        report.planned_inbox, report.planned_crm, report.changed_links
    );
    if !report.plan_text.is_empty() {
        let _ = writeln!(out);
        out.push_str(&report.plan_text);
        if !report.plan_text.ends_with('\n') {
            out.push('\n');
        }
    }
    conflicts(&mut out, &report.conflict_list);
    out
}

/// `crmsync sync` output.
pub fn sync(report: &SyncReport) -> String {
    let mut out = String::new();
    header(&mut out, report);
    if let Some(stopped) = &report.stopped {
        let _ = writeln!(out, "STOPPED: {stopped}");
        return out;
    }
    // In import-file mode nothing reached the CRM: say where the records are and what to do.
    let crm = match &report.import_file {
        Some(path) => format!(
            "{} CRM record(s) to {path}: import it into your CRM{}{}",
            report.writes.to_import,
            if report.writes.crm_pending > 0 {
                format!(
                    " ({} of them were already waiting for import)",
                    report.writes.crm_pending
                )
            } else {
                String::new()
            },
            match report.writes.crm - report.writes.to_import {
                0 => String::new(),
                n => format!(", and wrote {n} CRM record(s)"),
            }
        ),
        None => format!("{} CRM record(s)", report.writes.crm),
    };
    let _ = writeln!(
        out,
        "Wrote {} Inbox update(s) and {crm}; {} conflict(s) found ({} new, {} closed, {} open in the log); {} requests{} in {:.1}s.",
        report.writes.inbox,
        report
            .conflict_list
            .iter()
            .filter(|c| c.kind != ConflictKind::PendingImport)
            .count(),
        report.conflicts.opened,
        report.conflicts.closed,
        report.conflicts.open,
        report.requests,
        match report.crm_requests {
            Some(crm) => format!(" to Inbox and {crm} to the CRM"),
            None => String::new(),
        },
        report.seconds,
    );
    if let Some(incomplete) = &report.incomplete {
        let _ = writeln!(out, "INCOMPLETE: {incomplete}");
    }
    for warning in &report.warnings {
        let _ = writeln!(out, "warning: {warning}");
    }
    conflicts(&mut out, &report.conflict_list);
    out
}

/// Who a stored conflict is about, for people: the X handle, else the contact's name, else
/// its Inbox id.
pub fn who(c: &ConflictRow) -> String {
    match (&c.username, &c.display_name) {
        (Some(username), _) => format!("@{username}"),
        (None, Some(name)) if !name.is_empty() => name.clone(),
        _ => c.prospect_id.to_string(),
    }
}

/// A table of stored conflicts, its people named as `people` (the API in use) call them.
pub fn conflict_table(rows: &[ConflictRow], people: People) -> String {
    let mut table = Table::new();
    table
        .load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(vec![
            "id",
            "kind",
            "field",
            people.one,
            "record",
            "inbox",
            "crm",
            "base",
            "last seen",
        ]);
    for c in rows {
        table.add_row(vec![
            c.id.to_string(),
            c.kind.to_string(),
            c.field.to_string(),
            who(c),
            c.crm_id.to_string(),
            shorten(c.inbox.as_deref().unwrap_or(&c.detail), 40),
            shorten(c.crm.as_deref().unwrap_or("-"), 40),
            shorten(c.base.as_deref().unwrap_or("-"), 40),
            c.last_seen.clone(),
        ]);
    }
    format!("{table}\n")
}
