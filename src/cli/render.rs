//! Human-readable output for runs and conflicts.

use std::fmt::Write;

use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};

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

fn header(out: &mut String, report: &SyncReport) {
    // On Inbox API v2 the people are contacts (with X and LinkedIn profiles).
    let (people, person) = if report.inbox_api == "v2" {
        ("contacts", "contact")
    } else {
        ("prospects", "prospect")
    };
    let _ = writeln!(
        out,
        "Inbox: {} {people}, {} threads | CRM: {} records, {} rejected | {} linked, {} {people} without a CRM record, {} records without a {person}",
        report.pull.prospects,
        report.pull.threads,
        report.crm_records,
        report.rejected_rows.len(),
        report.linked,
        report.unlinked_prospects,
        report.unlinked_records,
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
        let _ = writeln!(
            out,
            "  … and {} more records without a {person} (`--json`: \"unmatched\")",
            report.unmatched.len() - SHOWN_PER_KIND
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

/// A table of stored conflicts.
pub fn conflict_table(rows: &[ConflictRow]) -> String {
    let mut table = Table::new();
    table
        .load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(vec![
            "id",
            "kind",
            "field",
            "prospect",
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
            c.username
                .as_ref()
                .map(|u| format!("@{u}"))
                .unwrap_or_else(|| c.prospect_id.to_string()),
            c.crm_id.to_string(),
            shorten(c.inbox.as_deref().unwrap_or(&c.detail), 40),
            shorten(c.crm.as_deref().unwrap_or("-"), 40),
            shorten(c.base.as_deref().unwrap_or("-"), 40),
            c.last_seen.clone(),
        ]);
    }
    format!("{table}\n")
}
