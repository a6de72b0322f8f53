//! Unit tests of the report: assembling, the conflict queries on a `:memory:` mirror, and
//! the HTML (sections, escaping, empty sections).

use super::*;

use crate::reconcile::ContactId;
use crate::store::ConflictRecord;
use crate::store::history::TargetKind;

fn run_row(summary: serde_json::Value) -> RunRow {
    RunRow {
        id: RunId(7),
        mode: RunMode::Sync,
        started_at: "2026-11-01T10:00:00.000Z".into(),
        finished_at: Some("2026-11-01T10:01:30.500Z".into()),
        status: RunStatus::Ok,
        summary: Some(summary),
        error: None,
        logged_writes: Default::default(),
    }
}

fn change(side: &str, target: &str, field: &str, old: &str, new: &str) -> LoggedChange {
    LoggedChange {
        side: Side::parse(side).unwrap(),
        target: target.into(),
        target_kind: if side == "crm" {
            TargetKind::Record
        } else {
            TargetKind::Prospect
        },
        prospect_id: Some("p1".into()),
        username: Some("ada".into()),
        crm_id: Some("r00001".into()),
        field: Field::parse(field).unwrap(),
        old: Some(old.into()),
        new: Some(new.into()),
        status: if side == "crm" {
            ChangeStatus::Pending
        } else {
            ChangeStatus::Applied
        },
    }
}

fn record(prospect: &str, username: &str, field: &str, detail: &str) -> ConflictRecord {
    ConflictRecord {
        prospect_id: prospect.into(),
        username: Some(username.into()),
        platform_id: Some("42".into()),
        crm_id: format!("r-{prospect}").into(),
        field: ConflictField::parse(field).unwrap(),
        kind: ConflictKind::BothChanged,
        inbox: Some("Negotiating".into()),
        crm: Some("Lost".into()),
        base: Some("New".into()),
        detail: detail.into(),
    }
}

/// A mirror with two sync runs: run 1 opens conflicts on p1 and p2, run 2 sees only p1's
/// again (so it closes p2's), then a pull run.
fn two_runs() -> Store {
    let mut store = Store::open_in_memory().unwrap();
    let a = record(
        "p1",
        "grace",
        "status",
        "Inbox says \"Negotiating\", CRM says <b>Lost</b>",
    );
    let b = record("p2", "linus", "valuation", "went away");
    let times = [
        ("2026-11-01T09:00:00.000Z", "2026-11-01T09:00:05.000Z"),
        ("2026-11-01T10:00:00.000Z", "2026-11-01T10:01:30.500Z"),
    ];
    for (idx, (start, end)) in times.into_iter().enumerate() {
        let run = store.begin_run(RunMode::Sync, start).unwrap();
        let seen = if idx == 0 {
            vec![a.clone(), b.clone()]
        } else {
            vec![a.clone()]
        };
        store.record_conflicts(run, start, &seen, true).unwrap();
        let summary = serde_json::json!({"requests": 120, "rate_limited": 3,
            "conflicts": {"found": seen.len(), "open": 1}});
        store
            .finish_run(run, RunStatus::Ok, end, &summary, None)
            .unwrap();
    }
    let pull = store
        .begin_run(RunMode::Pull, "2026-11-01T11:00:00.000Z")
        .unwrap();
    store
        .finish_run(
            pull,
            RunStatus::Ok,
            "2026-11-01T11:00:01.000Z",
            &serde_json::json!({}),
            None,
        )
        .unwrap();
    store
}

fn check(report: &RunReport) -> String {
    let html = render_html(report);
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.ends_with("</html>\n"));
    // Self-contained: no script, no external resource.
    for banned in [
        "<script", "<link", "src=", "http://", "https://", "@import", "url(",
    ] {
        assert!(!html.contains(banned), "{banned} in the page");
    }
    html
}

fn section<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!("<section id=\"{id}\">"))
        .unwrap_or_else(|| panic!("no section {id}"));
    let end = html[start..].find("</section>").expect("section ends") + start;
    &html[start..end]
}

fn full_report() -> RunReport {
    let store = two_runs();
    let opened = store.conflicts_opened_in(RunId(1)).unwrap();
    let closed = store.conflicts_closed_in(RunId(2)).unwrap();
    assemble(
        store.run_by_id(RunId(2)).unwrap().unwrap(),
        vec![
            change("inbox", "p1", "valuation", "100", "4321.5"),
            change(
                "crm",
                "r00001",
                "notes",
                "(empty)",
                "<script>alert('x')</script> & co",
            ),
        ],
        opened,
        closed,
        vec![RejectRow {
            source: "crm_export.csv".into(),
            row: 12,
            record_id: Some("rBAD".into()),
            reason: "column X User ID: not a numeric X user id: \"<x>\"".into(),
        }],
        Some(2000),
        "2026-11-01T10:02:00Z",
    )
}

#[test]
fn conflicts_are_opened_by_their_first_run_and_closed_by_the_run_that_no_longer_sees_them() {
    let store = two_runs();
    let ids = |rows: Vec<ConflictRow>| -> Vec<ContactId> {
        rows.into_iter().map(|c| c.prospect_id).collect()
    };
    assert_eq!(
        ids(store.conflicts_opened_in(RunId(1)).unwrap()),
        ["p1", "p2"]
    );
    assert!(store.conflicts_opened_in(RunId(2)).unwrap().is_empty());
    assert!(store.conflicts_closed_in(RunId(1)).unwrap().is_empty());
    assert_eq!(ids(store.conflicts_closed_in(RunId(2)).unwrap()), ["p2"]);
    assert!(store.conflicts_closed_in(RunId(3)).unwrap().is_empty());
}

#[test]
fn load_defaults_to_the_last_sync_run_and_names_a_missing_run() {
    let store = two_runs();
    let report = load(&store, Which::LastSync, None, "now").unwrap();
    assert_eq!(report.run.id, RunId(2), "the pull run 3 is not a sync");
    assert_eq!(report.conflicts_closed.len(), 1);
    let err = load(&store, Which::Run(RunId(99)), None, "now").unwrap_err();
    assert!(err.to_string().contains("no run 99"), "{err}");
    let empty = Store::open_in_memory().unwrap();
    let err = load(&empty, Which::LastSync, None, "now").unwrap_err();
    assert!(err.to_string().contains("no sync run"), "{err}");
}

#[test]
fn assemble_splits_changes_by_side_and_reads_the_summary() {
    let report = full_report();
    assert_eq!(report.inbox_changes.len(), 1);
    assert_eq!(report.crm_changes.len(), 1);
    assert_eq!(report.run.duration_seconds, Some(90.5));
    assert_eq!(report.run.conflicts_open, Some(1));
    assert_eq!(report.budget.requests, Some(120));
    assert_eq!(report.budget.rate_limited, Some(3));
}

#[test]
fn every_section_has_a_table_when_it_has_rows() {
    let html = check(&full_report());
    for id in [
        "inbox-changes",
        "crm-changes",
        "conflicts-opened",
        "conflicts-closed",
        "rejects",
        "requests",
    ] {
        let part = section(&html, id);
        assert!(part.contains("<table>"), "{id}: {part}");
        assert!(!part.contains("None in this run."), "{id}: {part}");
    }
    assert!(html.contains("<title>crmsync: Sync run 2</title>"));
    assert!(html.contains("1 min 31 s"), "duration");
    assert!(html.contains("2026-11-01 10:00:00 UTC"), "start time");
    let inbox = section(&html, "inbox-changes");
    assert!(inbox.contains("@ada") && inbox.contains("Deal value"));
    assert!(inbox.contains("<span class=\"val old\">100</span>"));
    assert!(inbox.contains("<span class=\"val new\">4321.5</span>"));
    assert!(inbox.contains("applied"));
    assert!(section(&html, "crm-changes").contains("pending import"));
    assert!(section(&html, "requests").contains(">120<"));
    assert!(section(&html, "requests").contains("width:6.0%"));
}

#[test]
fn stored_text_is_escaped() {
    let html = check(&full_report());
    let crm = section(&html, "crm-changes");
    assert!(
        crm.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; co"),
        "{crm}"
    );
    let opened = section(&html, "conflicts-opened");
    assert!(
        opened.contains("Inbox says &quot;Negotiating&quot;, CRM says &lt;b&gt;Lost&lt;/b&gt;"),
        "{opened}"
    );
    assert!(section(&html, "rejects").contains("&quot;&lt;x&gt;&quot;"));
    assert_eq!(escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&#39;");
}

#[test]
fn empty_sections_say_none() {
    let mut run = run_row(serde_json::json!({}));
    run.status = RunStatus::Failed;
    run.error = Some("pushing to Inbox: <timeout>".into());
    let report = assemble(run, vec![], vec![], vec![], vec![], None, "now");
    let html = check(&report);
    for id in [
        "inbox-changes",
        "crm-changes",
        "conflicts-opened",
        "conflicts-closed",
        "rejects",
    ] {
        let part = section(&html, id);
        assert!(part.contains("None in this run."), "{id}: {part}");
        assert!(!part.contains("<table>"), "{id}: {part}");
    }
    assert!(section(&html, "requests").contains("Not recorded"));
    assert!(html.contains("<strong>Error:</strong>"));
    assert!(html.contains("pushing to Inbox: &lt;timeout&gt;"));
    assert!(html.contains("<span class=\"pill bad\">failed</span>"));
}

#[test]
fn a_created_record_reads_as_a_new_record() {
    let mut created = change("crm", "r00009", "tags", "(no record)", "created for @ada");
    created.status = ChangeStatus::Applied;
    let run = run_row(serde_json::json!({}));
    let report = assemble(run, vec![created], vec![], vec![], vec![], None, "now");
    let crm = section(&render_html(&report), "crm-changes").to_string();
    assert!(crm.contains("New record"), "{crm}");
    assert!(crm.contains("created for @ada"), "{crm}");
}
