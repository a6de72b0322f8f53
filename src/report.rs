//! `crmsync report`: one run as a document a sales manager can read. [`load`] gathers the run,
//! its change log, the conflicts it opened and closed, its rejects and its request budget into a
//! [`RunReport`]; [`render_html`] turns that into one self-contained, printable HTML page.
//!
//! Rendering is pure: no IO, no clock (the caller passes the time). The page has inline CSS
//! only: no script, no external resource, and every stored text is escaped, since notes and
//! CRM cells are user input. This module never prints and writes no SQL (`store` does).

use std::fmt::Write as _;

use anyhow::Context as _;
use serde::Serialize;

use crate::reconcile::{ConflictKind, Field, Side};
use crate::store::history::LoggedChange;
use crate::store::{
    ChangeStatus, ConflictField, ConflictRow, RejectRow, Resolution, RunId, RunMode, RunRow,
    RunStatus, Store,
};

/// Everything the report shows about one run; also the `--json` output.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunReport {
    /// The run itself.
    pub run: RunHeader,
    /// Writes to Inbox (prospects and threads).
    pub inbox_changes: Vec<LoggedChange>,
    /// Writes to the CRM (records).
    pub crm_changes: Vec<LoggedChange>,
    /// Conflicts this run saw first.
    pub conflicts_opened: Vec<ConflictRow>,
    /// Conflicts this run closed because they went away.
    pub conflicts_closed: Vec<ConflictRow>,
    /// CRM rows this run could not read.
    pub rejects: Vec<RejectRow>,
    /// CRM records that matched no Inbox contact or prospect: (record, id or handle, why).
    pub unmatched: Vec<(String, String, String)>,
    /// Requests to Inbox.
    pub budget: RequestBudget,
    /// When the report was made (RFC 3339).
    pub generated_at: String,
}

/// The run's header facts, from `runs` and its JSON summary.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunHeader {
    /// Run id.
    pub id: RunId,
    /// What the run did.
    pub mode: RunMode,
    /// Start (RFC 3339).
    pub started_at: String,
    /// End (RFC 3339), unless the run never finished.
    pub finished_at: Option<String>,
    /// Seconds from start to end.
    pub duration_seconds: Option<f64>,
    /// How it ended (or `running`).
    pub status: RunStatus,
    /// Exit code: the CLI decides it from the status (`cli/exit.rs`) and fills it in.
    pub exit_code: Option<u8>,
    /// Error text of a failed run.
    pub error: Option<String>,
    /// Why the run stopped before writing.
    pub stopped: Option<String>,
    /// Why the run pushed only part of its plan.
    pub incomplete: Option<String>,
    /// Conflicts the run found (opened or seen again).
    pub conflicts_found: Option<u64>,
    /// Conflicts still open after the run.
    pub conflicts_open: Option<u64>,
}

/// The Inbox request budget a run used.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RequestBudget {
    /// Requests made to Inbox (`None` when the summary does not say).
    pub requests: Option<u64>,
    /// 429 answers met.
    pub rate_limited: Option<u64>,
    /// `[limits] max_requests_per_run` of the current config, for scale.
    pub max_per_run: Option<u64>,
}

/// Which run to report on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    /// The newest sync run.
    LastSync,
    /// This run.
    Run(RunId),
}

/// Reads one run and what belongs to it from the mirror.
pub fn load(
    store: &Store,
    which: Which,
    max_per_run: Option<u64>,
    now: &str,
) -> anyhow::Result<RunReport> {
    let run = match which {
        Which::LastSync => store
            .last_run_of(RunMode::Sync)?
            .context("the mirror has no sync run yet: run `crmsync sync` first, or name a run")?,
        Which::Run(id) => store
            .run_by_id(id)?
            .with_context(|| format!("the mirror has no run {id} (see `crmsync runs`)"))?,
    };
    let id = run.id;
    let changes = store.report_changes(id)?;
    let opened = store.conflicts_opened_in(id)?;
    let closed = store.conflicts_closed_in(id)?;
    let rejects = store.run_rejects(id)?;
    Ok(assemble(
        run,
        changes,
        opened,
        closed,
        rejects,
        max_per_run,
        now,
    ))
}

/// Puts the parts together: splits the change log by side and reads the figures the run's
/// summary holds.
pub fn assemble(
    run: RunRow,
    changes: Vec<LoggedChange>,
    conflicts_opened: Vec<ConflictRow>,
    conflicts_closed: Vec<ConflictRow>,
    rejects: Vec<RejectRow>,
    max_per_run: Option<u64>,
    now: &str,
) -> RunReport {
    let summary = run.summary.clone().unwrap_or_default();
    let text = |key: &str| summary[key].as_str().map(str::to_string);
    let duration_seconds = run.finished_at.as_deref().and_then(|end| {
        let start = chrono::DateTime::parse_from_rfc3339(&run.started_at).ok()?;
        let end = chrono::DateTime::parse_from_rfc3339(end).ok()?;
        Some((end - start).num_milliseconds() as f64 / 1000.0)
    });
    let (inbox_changes, crm_changes) = changes.into_iter().partition(|c| c.side != Side::Crm);
    RunReport {
        run: RunHeader {
            id: run.id,
            mode: run.mode,
            started_at: run.started_at,
            finished_at: run.finished_at,
            duration_seconds,
            status: run.status,
            exit_code: None,
            error: run.error,
            stopped: text("stopped"),
            incomplete: text("incomplete"),
            conflicts_found: summary["conflicts"]["found"].as_u64(),
            conflicts_open: summary["conflicts"]["open"].as_u64(),
        },
        inbox_changes,
        crm_changes,
        conflicts_opened,
        conflicts_closed,
        rejects,
        unmatched: summary["unmatched"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|u| {
                let field = |key: &str| u[key].as_str().unwrap_or_default().to_string();
                (field("record"), field("handle"), field("reason"))
            })
            .collect(),
        budget: RequestBudget {
            requests: summary["requests"].as_u64(),
            rate_limited: summary["rate_limited"].as_u64(),
            max_per_run,
        },
        generated_at: now.to_string(),
    }
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

/// The page's style sheet: screen and print, no external fonts or images.
const STYLE: &str = r#"
:root { --ink:#1f2933; --muted:#616e7c; --line:#d9e2ec; --soft:#f0f4f8;
  --ok:#1e6b30; --okbg:#e3f9e5; --warn:#7a4f01; --warnbg:#fff3c4; --bad:#9b1c1c; --badbg:#ffe3e3;
  --accent:#2457a6; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff;
  font: 14px/1.45 "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans", "DejaVu Sans", sans-serif; }
main { max-width: 1120px; margin: 0 auto; padding: 28px 32px 40px; }
h1 { font-size: 26px; margin: 0 0 2px; }
h2 { font-size: 18px; margin: 30px 0 4px; padding-bottom: 5px; border-bottom: 2px solid var(--line); }
.sub { color: var(--muted); margin: 0 0 16px; }
.count { display: inline-block; min-width: 1.8em; padding: 0 7px; margin-left: 6px; border-radius: 10px;
  background: var(--soft); color: var(--muted); font-size: 13px; text-align: center; vertical-align: 2px; }
.hint { color: var(--muted); margin: 4px 0 10px; }
.none { color: var(--muted); font-style: italic; margin: 6px 0; }
dl.facts { display: grid; grid-template-columns: max-content 1fr max-content 1fr max-content 1fr;
  gap: 4px 14px; margin: 0 0 14px; padding: 12px 16px; background: var(--soft); border-radius: 8px; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; font-weight: 600; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; margin: 16px 0 4px; }
.card { flex: 1 1 120px; border: 1px solid var(--line); border-radius: 8px; padding: 8px 12px; }
.card .n { display: block; font-size: 24px; font-weight: 650; }
.card .l { display: block; color: var(--muted); font-size: 12px; }
.card.attention { border-color: #f0b429; background: var(--warnbg); }
.notice { border-left: 4px solid; border-radius: 4px; padding: 8px 12px; margin: 10px 0; }
.notice.bad { border-color: var(--bad); background: var(--badbg); }
.notice.warn { border-color: #f0b429; background: var(--warnbg); }
table { width: 100%; border-collapse: collapse; font-size: 13px; }
th { text-align: left; font-weight: 600; color: var(--muted); background: var(--soft);
  border-bottom: 1px solid var(--line); padding: 6px 8px; }
td { border-bottom: 1px solid var(--line); padding: 6px 8px; vertical-align: top; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.who { font-weight: 600; }
.id { display: block; color: var(--muted); font-size: 11.5px; font-family: ui-monospace, "DejaVu Sans Mono", monospace;
  overflow-wrap: anywhere; }
td.detail { min-width: 14em; }
.val { white-space: pre-wrap; overflow-wrap: break-word; }
.old { color: var(--muted); }
.arrow { color: var(--muted); padding: 0 5px; }
.new { font-weight: 600; }
.blank { color: var(--muted); font-style: italic; }
.pill { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600;
  white-space: nowrap; background: var(--soft); color: var(--muted); }
.pill.ok { background: var(--okbg); color: var(--ok); }
.pill.warn { background: var(--warnbg); color: var(--warn); }
.pill.bad { background: var(--badbg); color: var(--bad); }
h1 .pill { font-size: 14px; vertical-align: 4px; margin-left: 8px; }
.bar { height: 10px; background: var(--soft); border-radius: 5px; overflow: hidden; max-width: 360px; margin-top: 4px; }
.bar span { display: block; height: 100%; background: var(--accent); }
footer { margin-top: 36px; color: var(--muted); font-size: 12px; border-top: 1px solid var(--line); padding-top: 8px; }
@page { size: A4; margin: 14mm; }
@media print {
  main { max-width: none; padding: 0; }
  body { font-size: 11px; }
  h2, .hint { break-after: avoid; page-break-after: avoid; }
  .card { flex-basis: 70px; padding: 6px 8px; }
  .card .n { font-size: 18px; }
  tr { break-inside: avoid; }
  thead { display: table-header-group; }
  dl.facts, .card, .pill, .notice, .bar, .bar span, th { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"#;

/// The whole report as one HTML page.
pub fn render_html(report: &RunReport) -> String {
    let mut out = String::with_capacity(16 * 1024);
    let run = &report.run;
    let title = format!("{} run {}", capitalized(run.mode.as_str()), run.id);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>crmsync: {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n",
        escape(&title)
    );
    header(&mut out, report, &title);
    cards(&mut out, report);
    changes_section(
        &mut out,
        "inbox-changes",
        "Changed in Inbox",
        "Values crmsync wrote to Inbox prospects and threads in this run.",
        &report.inbox_changes,
        false,
    );
    changes_section(
        &mut out,
        "crm-changes",
        "Changed in the CRM",
        "Values crmsync wrote to CRM records in this run. “Pending import” means the value is \
         in the import file and counts once the CRM export shows it.",
        &report.crm_changes,
        true,
    );
    opened_section(&mut out, &report.conflicts_opened);
    closed_section(&mut out, &report.conflicts_closed);
    rejects_section(&mut out, &report.rejects);
    unmatched_section(&mut out, &report.unmatched);
    budget_section(&mut out, &report.budget);
    let _ = write!(
        out,
        "<footer>Generated by crmsync {} on {}.</footer>\n</main>\n</body>\n</html>\n",
        escape(env!("CARGO_PKG_VERSION")),
        escape(&human_time(&report.generated_at))
    );
    out
}

fn header(out: &mut String, report: &RunReport, title: &str) {
    let run = &report.run;
    let (status_class, status_text) = match run.status {
        RunStatus::Ok => ("ok", "completed"),
        RunStatus::Stopped => ("warn", "stopped before writing"),
        RunStatus::Interrupted => ("warn", "stopped by a signal"),
        RunStatus::Failed => ("bad", "failed"),
        RunStatus::Running => ("warn", "running or interrupted"),
    };
    let _ = write!(
        out,
        "<header>\n<h1>{}<span class=\"pill {status_class}\">{}</span></h1>\n\
         <p class=\"sub\">crmsync run report: Inbox ⇄ CRM</p>\n<dl class=\"facts\">",
        escape(title),
        escape(status_text)
    );
    let duration = run
        .duration_seconds
        .map_or_else(|| "not finished".to_string(), human_duration);
    let exit = run
        .exit_code
        .map_or_else(|| "none".to_string(), |c| c.to_string());
    let facts = [
        ("Run", run.id.to_string()),
        ("Mode", run.mode.to_string()),
        ("Status", run.status.to_string()),
        ("Started", human_time(&run.started_at)),
        ("Duration", duration),
        ("Exit code", exit),
    ];
    for (label, value) in facts {
        let _ = write!(out, "<dt>{label}</dt><dd>{}</dd>", escape(&value));
    }
    out.push_str("</dl>\n");
    let notices = [
        ("bad", "Error", &run.error),
        ("warn", "Stopped", &run.stopped),
        ("warn", "Incomplete", &run.incomplete),
    ];
    for (class, label, text) in notices {
        if let Some(text) = text {
            let _ = writeln!(
                out,
                "<p class=\"notice {class}\"><strong>{label}:</strong> <span class=\"val\">{}</span></p>",
                escape(text)
            );
        }
    }
    out.push_str("</header>\n");
}

fn cards(out: &mut String, report: &RunReport) {
    let count = |n: usize| n.to_string();
    let maybe = |n: Option<u64>| n.map_or_else(|| "–".to_string(), |n| n.to_string());
    let cards = [
        ("Inbox changes", count(report.inbox_changes.len()), false),
        ("CRM changes", count(report.crm_changes.len()), false),
        (
            "Conflicts opened",
            count(report.conflicts_opened.len()),
            !report.conflicts_opened.is_empty(),
        ),
        (
            "Conflicts closed",
            count(report.conflicts_closed.len()),
            false,
        ),
        (
            "Open after the run",
            maybe(report.run.conflicts_open),
            report.run.conflicts_open.unwrap_or(0) > 0,
        ),
        (
            "Rejected CRM rows",
            count(report.rejects.len()),
            !report.rejects.is_empty(),
        ),
        ("Inbox requests", maybe(report.budget.requests), false),
    ];
    out.push_str("<section class=\"cards\">\n");
    for (label, value, attention) in cards {
        let class = if attention { "card attention" } else { "card" };
        let _ = writeln!(
            out,
            "<div class=\"{class}\"><span class=\"n\">{}</span><span class=\"l\">{label}</span></div>",
            escape(&value)
        );
    }
    out.push_str("</section>\n");
}

fn section_start(out: &mut String, id: &str, title: &str, n: usize, hint: &str) {
    let _ = write!(
        out,
        "<section id=\"{id}\">\n<h2>{}<span class=\"count\">{n}</span></h2>\n<p class=\"hint\">{}</p>\n",
        escape(title),
        escape(hint)
    );
}

fn none(out: &mut String) {
    out.push_str("<p class=\"none\">None in this run.</p>\n</section>\n");
}

fn changes_section(
    out: &mut String,
    id: &str,
    title: &str,
    hint: &str,
    changes: &[LoggedChange],
    crm: bool,
) {
    section_start(out, id, title, changes.len(), hint);
    if changes.is_empty() {
        return none(out);
    }
    let first = if crm { "Record" } else { "Prospect" };
    let _ = write!(
        out,
        "<table>\n<thead><tr><th>{first}</th><th>Field</th><th>Before → after</th><th>Status</th></tr></thead>\n<tbody>\n"
    );
    for change in changes {
        out.push_str("<tr><td>");
        if crm {
            let _ = write!(out, "<span class=\"who\">{}</span>", escape(&change.target));
            if let Some(username) = &change.username {
                let _ = write!(out, "<span class=\"id\">@{}</span>", escape(username));
            }
        } else {
            who(
                out,
                change.username.as_deref(),
                &format!("{} {}", change.target_kind, change.target),
            );
        }
        // A created record is logged as a `tags` change from "(no record)".
        let field = if change.old.as_deref() == Some("(no record)") {
            "New record"
        } else {
            field_label(ConflictField::Field(change.field))
        };
        let (class, label) = match change.status {
            ChangeStatus::Applied => ("ok", "applied"),
            ChangeStatus::Pending => ("warn", "pending import"),
            ChangeStatus::Failed => ("bad", "failed"),
            other @ (ChangeStatus::Reverted | ChangeStatus::Attempted) => ("", other.as_str()),
        };
        let _ = write!(out, "</td><td>{}</td><td>", escape(field));
        value(out, "old", change.old.as_deref());
        out.push_str("<span class=\"arrow\">→</span>");
        value(out, "new", change.new.as_deref());
        let _ = writeln!(
            out,
            "</td><td><span class=\"pill {class}\">{}</span></td></tr>",
            escape(label)
        );
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

fn opened_section(out: &mut String, conflicts: &[ConflictRow]) {
    section_start(
        out,
        "conflicts-opened",
        "Conflicts opened",
        conflicts.len(),
        "New disagreements this run found and did not decide: a person picks the value \
         with crmsync conflicts.",
    );
    if conflicts.is_empty() {
        return none(out);
    }
    out.push_str(
        "<table>\n<thead><tr><th>Prospect</th><th>Field</th><th>Kind</th><th>Inbox</th><th>CRM</th>\
         <th>Last agreed</th><th>Details</th><th>Now</th></tr></thead>\n<tbody>\n",
    );
    for c in conflicts {
        out.push_str("<tr><td>");
        conflict_who(out, c);
        let _ = write!(
            out,
            "</td><td>{}</td><td>{}</td><td>",
            escape(field_label(c.field)),
            escape(kind_label(c.kind))
        );
        value(out, "", c.inbox.as_deref());
        out.push_str("</td><td>");
        value(out, "", c.crm.as_deref());
        out.push_str("</td><td>");
        value(out, "old", c.base.as_deref());
        let (class, now) = resolution_label(c.resolution);
        let _ = writeln!(
            out,
            "</td><td class=\"val detail\">{}</td><td><span class=\"pill {class}\">{}</span></td></tr>",
            escape(&c.detail),
            escape(now)
        );
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

fn closed_section(out: &mut String, conflicts: &[ConflictRow]) {
    section_start(
        out,
        "conflicts-closed",
        "Conflicts closed",
        conflicts.len(),
        "Earlier disagreements this run no longer saw: the two sides agree again.",
    );
    if conflicts.is_empty() {
        return none(out);
    }
    out.push_str(
        "<table>\n<thead><tr><th>Prospect</th><th>Field</th><th>Kind</th><th>Open since</th>\
         <th>Last seen</th><th>Details</th></tr></thead>\n<tbody>\n",
    );
    for c in conflicts {
        out.push_str("<tr><td>");
        conflict_who(out, c);
        let _ = writeln!(
            out,
            "</td><td>{}</td><td>{}</td><td>run {}<span class=\"id\">{}</span></td>\
             <td>run {}<span class=\"id\">{}</span></td><td class=\"val detail\">{}</td></tr>",
            escape(field_label(c.field)),
            escape(kind_label(c.kind)),
            c.first_run,
            escape(&human_time(&c.first_seen)),
            c.last_run,
            escape(&human_time(&c.last_seen)),
            escape(&c.detail)
        );
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

fn rejects_section(out: &mut String, rejects: &[RejectRow]) {
    section_start(
        out,
        "rejects",
        "Rejected CRM rows",
        rejects.len(),
        "Rows of the CRM export crmsync could not read; they were left out of the sync.",
    );
    if rejects.is_empty() {
        return none(out);
    }
    out.push_str(
        "<table>\n<thead><tr><th>File</th><th class=\"num\">Row</th><th>Record</th><th>Reason</th></tr></thead>\n<tbody>\n",
    );
    for r in rejects {
        let _ = write!(
            out,
            "<tr><td>{}</td><td class=\"num\">{}</td><td>",
            escape(&r.source),
            r.row
        );
        value(out, "", r.record_id.as_deref());
        let _ = writeln!(
            out,
            "</td><td class=\"val\">{}</td></tr>",
            escape(&r.reason)
        );
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

fn unmatched_section(out: &mut String, unmatched: &[(String, String, String)]) {
    section_start(
        out,
        "unmatched",
        "CRM records without an Inbox match",
        unmatched.len(),
        "Records no Inbox contact matches: by X user id, handle or LinkedIn profile. They are \
         left as they are.",
    );
    if unmatched.is_empty() {
        return none(out);
    }
    out.push_str(
        "<table>\n<thead><tr><th>Record</th><th>Matched by</th><th>Why</th></tr></thead>\n<tbody>\n",
    );
    for (record, handle, reason) in unmatched {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td class=\"val\">{}</td><td>{}</td></tr>",
            escape(record),
            escape(handle),
            escape(reason)
        );
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

fn budget_section(out: &mut String, budget: &RequestBudget) {
    out.push_str(
        "<section id=\"requests\">\n<h2>Request budget</h2>\n<p class=\"hint\">Calls to the \
         Inbox API this run made; the team's people share the same rate limit.</p>\n",
    );
    let Some(requests) = budget.requests else {
        out.push_str("<p class=\"none\">Not recorded for this run.</p>\n</section>\n");
        return;
    };
    out.push_str("<table>\n<tbody>\n");
    let _ = writeln!(
        out,
        "<tr><td>Requests to Inbox</td><td class=\"num\">{requests}</td></tr>"
    );
    let limited = budget
        .rate_limited
        .map_or_else(|| "–".to_string(), |n| n.to_string());
    let _ = writeln!(
        out,
        "<tr><td>Rate-limited answers (HTTP 429), waited out and retried</td><td class=\"num\">{limited}</td></tr>"
    );
    if let Some(max) = budget.max_per_run.filter(|&max| max > 0) {
        let share = (requests as f64 / max as f64 * 100.0).min(100.0);
        let _ = writeln!(
            out,
            "<tr><td>Share of the per-run limit ({max} requests, current config)\
             <div class=\"bar\"><span style=\"width:{share:.1}%\"></span></div></td>\
             <td class=\"num\">{share:.1}%</td></tr>"
        );
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

/// A person's cell: `@username` in bold, the id below it.
fn who(out: &mut String, username: Option<&str>, id_line: &str) {
    match username {
        Some(username) => {
            let _ = write!(out, "<span class=\"who\">@{}</span>", escape(username));
        }
        None => out.push_str("<span class=\"who blank\">unknown prospect</span>"),
    }
    let _ = write!(out, "<span class=\"id\">{}</span>", escape(id_line));
}

fn conflict_who(out: &mut String, c: &ConflictRow) {
    let mut ids = Vec::new();
    if !c.prospect_id.is_empty() {
        ids.push(format!("prospect {}", c.prospect_id));
    }
    if !c.crm_id.is_empty() {
        ids.push(format!("record {}", c.crm_id));
    }
    let username = c.username.as_deref().filter(|u| !u.is_empty());
    who(out, username, &ids.join(" · "));
}

/// A stored value; empty values are shown as such rather than as blank space.
fn value(out: &mut String, class: &str, text: Option<&str>) {
    match text {
        None | Some("") | Some("(empty)") => out.push_str("<span class=\"blank\">(empty)</span>"),
        Some(text) => {
            let _ = write!(out, "<span class=\"val {class}\">{}</span>", escape(text));
        }
    }
}

fn field_label(field: ConflictField) -> &'static str {
    match field {
        ConflictField::Field(Field::Tags) => "Tags",
        ConflictField::Field(Field::Status) => "Pipeline status",
        ConflictField::Field(Field::Valuation) => "Deal value",
        ConflictField::Field(Field::Notes) => "Notes",
        ConflictField::Field(Field::Assignee) => "Assignee",
        ConflictField::Field(Field::Done) => "Done",
        ConflictField::Record => "Record",
    }
}

fn kind_label(kind: ConflictKind) -> &'static str {
    match kind {
        ConflictKind::BothChanged => "Changed on both sides",
        ConflictKind::Fanout => "Threads disagree",
        ConflictKind::Identity => "Ambiguous match",
        ConflictKind::Unmapped => "No mapping for the value",
        ConflictKind::RejectedByApi => "Refused by the CRM",
        ConflictKind::PendingImport => "Waiting for the CRM import",
    }
}

fn resolution_label(resolution: Resolution) -> (&'static str, &'static str) {
    match resolution {
        Resolution::Open => ("warn", "still open"),
        Resolution::Closed => ("ok", "gone"),
        Resolution::ResolvedInbox => ("ok", "resolved: Inbox kept"),
        Resolution::ResolvedCrm => ("ok", "resolved: CRM kept"),
        Resolution::ResolvedValue => ("ok", "resolved: value set"),
        Resolution::Dismissed => ("", "dismissed"),
    }
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// `2026-11-01T10:04:05.123Z` as `2026-11-01 10:04:05 UTC`; other text as it is.
fn human_time(rfc3339: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc3339).map_or_else(
        |_| rfc3339.to_string(),
        |t| {
            t.with_timezone(&chrono::Utc)
                .format("%Y-%m-%d %H:%M:%S UTC")
                .to_string()
        },
    )
}

fn human_duration(seconds: f64) -> String {
    if seconds < 10.0 {
        format!("{seconds:.2} s")
    } else if seconds < 60.0 {
        format!("{seconds:.1} s")
    } else {
        let whole = seconds.round() as u64;
        format!("{} min {} s", whole / 60, whole % 60)
    }
}

#[cfg(test)]
mod tests;
