//! `crmsync report`: a sync with changes on both sides, a conflict opened and later closed, and
//! a rejected row, reported as HTML and JSON by the real binary; then the page rendered by a
//! real headless Chromium (screenshot and DOM).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crmsync_fake::inbox_v1::{ContextEdit, ProspectView};

use crate::support::{
    World, agreeing_rows, assert_exit, col, json, read_export, stderr, write_export,
};

/// What the scenario changed, for the assertions.
struct Scenario {
    world: World,
    /// Changed in Inbox (valuation, a tag): copied to the CRM in run 2.
    inbox_edited: ProspectView,
    /// Changed in the CRM (notes, status): copied to Inbox in run 2.
    crm_edited: ProspectView,
    /// Status changed differently on both sides: a conflict opened in run 2, closed in run 3.
    conflicted: ProspectView,
}

/// Notes written in the CRM: markup that must come out as text.
const CRM_NOTES: &str = "Call back <script>alert(1)</script> & co.\nSecond line.";

/// Run 1: a baseline sync. Run 2: a sync with changes on both sides, a conflict and a rejected
/// row. Run 3: the CRM agrees with Inbox again, so the conflict closes.
async fn scenario() -> Scenario {
    let world = World::start(60, "").await;
    write_export(&world, &agreeing_rows(&world, 50));
    assert_exit(&world.crmsync(&["sync"]).await, 0);

    let candidates: Vec<(usize, ProspectView)> = world
        .fake
        .prospects()
        .into_iter()
        .take(50)
        .enumerate()
        .filter(|(_, p)| p.threads.len() == 1 && p.notes.is_some() && p.status.is_some())
        .collect();
    let (_, inbox_edited) = candidates[0].clone();
    let (idx_crm, crm_edited) = candidates[1].clone();
    let (idx_conflict, conflicted) = candidates
        .iter()
        .skip(2)
        .find(|(_, p)| !matches!(p.status.as_deref(), Some("Negotiating" | "Lost")))
        .cloned()
        .expect("a prospect to put in conflict");

    world.fake.edit_context(
        &inbox_edited.external_id,
        ContextEdit {
            valuation: Some(Some(4321.5)),
            tags_add: Some(vec!["Investor".into()]),
            ..ContextEdit::default()
        },
    );
    world.fake.edit_context(
        &conflicted.external_id,
        ContextEdit {
            status: Some(Some("Negotiating".into())),
            ..ContextEdit::default()
        },
    );
    let mut rows = read_export(&world);
    rows[idx_crm][col("Notes")] = CRM_NOTES.into();
    rows[idx_crm][col("Lead Status")] = "Won".into();
    rows[idx_conflict][col("Lead Status")] = "Lost".into();
    rows.push(vec![
        "rBAD".into(),
        String::new(),
        "nobody".into(),
        "Bad Row Inc".into(),
        String::new(),
        String::new(),
        "ten thousand".into(),
        String::new(),
        String::new(),
        String::new(),
    ]);
    write_export(&world, &rows);
    let run2 = json(&world.crmsync(&["sync", "--json"]).await);
    assert_eq!(run2["run_id"], 2, "{run2}");
    assert_eq!(run2["exit"], 0, "{run2}");
    assert_eq!(run2["writes"]["inbox"], 1, "{run2}");
    assert_eq!(run2["writes"]["crm"], 1, "{run2}");
    assert!(run2["conflicts"]["opened"].as_u64().unwrap() >= 1, "{run2}");
    assert_eq!(run2["rejects"], 1, "{run2}");

    let mut rows = read_export(&world);
    rows[idx_conflict][col("Lead Status")] = "Negotiating".into();
    write_export(&world, &rows);
    let run3 = json(&world.crmsync(&["sync", "--json"]).await);
    assert_eq!(run3["run_id"], 3, "{run3}");
    assert!(run3["conflicts"]["closed"].as_u64().unwrap() >= 1, "{run3}");

    Scenario {
        world,
        inbox_edited,
        crm_edited,
        conflicted,
    }
}

/// The part of the page from `<section id="{id}">` to its end.
fn section<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!("<section id=\"{id}\">"))
        .unwrap_or_else(|| panic!("no section {id} in:\n{html}"));
    let end = html[start..].find("</section>").expect("section ends") + start;
    &html[start..end]
}

/// Writes the HTML report of `run` and returns its path and text.
async fn html_report(world: &World, run: &str) -> (PathBuf, String) {
    let path = world.path().join(format!("report-{run}.html"));
    let out = world
        .crmsync(&["report", run, "--html", path.to_str().unwrap()])
        .await;
    assert_exit(&out, 0);
    let html = std::fs::read_to_string(&path).expect("the report file");
    (path, html)
}

#[tokio::test(flavor = "multi_thread")]
async fn report_shows_what_a_sync_changed_on_each_side_its_conflicts_rejects_and_requests() {
    let s = scenario().await;
    let (_, html) = html_report(&s.world, "2").await;

    let inbox = section(&html, "inbox-changes");
    assert!(inbox.contains("<table>"), "{inbox}");
    assert!(
        inbox.contains(&format!("@{}", s.crm_edited.username)),
        "{inbox}"
    );
    assert!(inbox.contains(">Won<"), "{inbox}");
    assert!(
        inbox.contains("Call back &lt;script&gt;alert(1)&lt;/script&gt; &amp; co.\nSecond line."),
        "{inbox}"
    );
    let crm = section(&html, "crm-changes");
    assert!(
        crm.contains(&format!("@{}", s.inbox_edited.username)),
        "{crm}"
    );
    assert!(crm.contains(">4321.5<"), "{crm}");
    assert!(crm.contains("Investor"), "{crm}");
    assert!(!html.contains("<script"), "notes must be escaped");

    let opened = section(&html, "conflicts-opened");
    assert!(
        opened.contains(&format!("@{}", s.conflicted.username)),
        "{opened}"
    );
    assert!(
        opened.contains("Negotiating") && opened.contains("Lost"),
        "{opened}"
    );
    let rejects = section(&html, "rejects");
    assert!(
        rejects.contains("rBAD") && rejects.contains("Deal Value"),
        "{rejects}"
    );
    assert!(section(&html, "conflicts-closed").contains("None in this run."));
    assert!(section(&html, "requests").contains("Requests to Inbox"));

    // JSON: the same data; without a run id, the last sync run (3), which closed the conflict.
    let report2 = json(&s.world.crmsync(&["report", "2", "--json"]).await);
    assert_eq!(report2["run"]["id"], 2);
    assert_eq!(report2["run"]["status"], "ok");
    assert!(
        report2["budget"]["requests"].as_u64().unwrap() > 0,
        "{report2}"
    );
    let targets = |side: &str| -> Vec<String> {
        report2[side]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["prospect_id"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    assert!(
        targets("inbox_changes").contains(&s.crm_edited.external_id),
        "{report2}"
    );
    assert!(
        targets("crm_changes").contains(&s.inbox_edited.external_id),
        "{report2}"
    );

    let last = json(&s.world.crmsync(&["report", "--json"]).await);
    assert_eq!(last["run"]["id"], 3, "{last}");
    let closed: Vec<(&str, &str)> = last["conflicts_closed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["prospect_id"].as_str().unwrap(),
                c["field"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(
        closed.contains(&(s.conflicted.external_id.as_str(), "status")),
        "{last}"
    );
    assert!(
        last["conflicts_opened"].as_array().unwrap().is_empty(),
        "{last}"
    );
    assert!(
        last["inbox_changes"].as_array().unwrap().is_empty(),
        "{last}"
    );

    let missing = s.world.crmsync(&["report", "99"]).await;
    assert_exit(&missing, 1);
    assert!(
        stderr(&missing).contains("no run 99"),
        "{}",
        stderr(&missing)
    );
}

/// The Debian Chromium, if installed.
fn chromium() -> Option<PathBuf> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// Runs headless Chromium on `page` with `args`, in a fresh profile, and returns its stdout.
/// The flags are the ones this machine needs (no sandbox as root, no background networking).
fn headless(chromium: &Path, work: &Path, name: &str, args: &[String], page: &Path) -> String {
    let profile = work.join(format!("profile-{name}"));
    let stdout_path = work.join(format!("{name}.stdout"));
    let stderr_path = work.join(format!("{name}.stderr"));
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout_path).unwrap())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .expect("chromium starts");
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "chromium ({name}) did not finish in 120 s; stderr:\n{}",
                std::fs::read_to_string(&stderr_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        status.success(),
        "chromium ({name}) failed: {status}; stderr:\n{}",
        std::fs::read_to_string(&stderr_path).unwrap_or_default()
    );
    std::fs::read_to_string(&stdout_path).unwrap()
}

/// Takes a 1200×1600 screenshot of `page` and returns the PNG's bytes.
fn screenshot(chromium: &Path, work: &Path, name: &str, page: &Path) -> Vec<u8> {
    let png = work.join(format!("{name}.png"));
    headless(
        chromium,
        work,
        name,
        &[
            format!("--screenshot={}", png.display()),
            "--window-size=1200,1600".into(),
        ],
        page,
    );
    std::fs::read(&png).unwrap_or_else(|e| panic!("no screenshot {}: {e}", png.display()))
}

/// Width and height from a PNG's IHDR chunk.
fn png_size(png: &[u8]) -> (u32, u32) {
    assert!(png.len() > 24, "PNG too short");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    assert_eq!(&png[12..16], b"IHDR", "no IHDR chunk");
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
    (width, height)
}

#[tokio::test(flavor = "multi_thread")]
async fn report_renders_in_a_real_headless_browser() {
    let Some(chromium) = chromium() else {
        let message = "chromium is not installed (/usr/bin/chromium): install the Debian package \
                       `chromium` to run the report's browser test";
        if std::env::var_os("CI").is_some() {
            panic!("{message}; CI must install it (.ci/run)");
        }
        eprintln!("skipped: {message}");
        return;
    };
    let s = scenario().await;
    let (page, _) = html_report(&s.world, "2").await;
    let work = s.world.path().to_path_buf();

    // The DOM as the browser parsed it: the tables and the changed values, and no script
    // element made out of the notes.
    let dom = headless(&chromium, &work, "dom", &["--dump-dom".into()], &page);
    for id in [
        "inbox-changes",
        "crm-changes",
        "conflicts-opened",
        "rejects",
    ] {
        assert!(
            section(&dom, id).contains("<table>"),
            "no table in {id}:\n{dom}"
        );
    }
    assert!(dom.contains(">4321.5<"), "{dom}");
    assert!(dom.contains(">Won<"), "{dom}");
    assert!(dom.contains("Investor"), "{dom}");
    assert!(
        dom.contains(&format!("@{}", s.crm_edited.username)),
        "{dom}"
    );
    assert!(
        dom.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{dom}"
    );
    assert!(
        !dom.contains("<script"),
        "a script element in the DOM:\n{dom}"
    );

    // The screenshot: the right size, and far more detail than a blank page at the same size.
    let shot = screenshot(&chromium, &work, "report", &page);
    let blank_page = work.join("blank.html");
    std::fs::write(&blank_page, "<!DOCTYPE html><html><body></body></html>").unwrap();
    let blank = screenshot(&chromium, &work, "blank", &blank_page);
    assert_eq!(png_size(&shot), (1200, 1600));
    assert_eq!(png_size(&blank), (1200, 1600));
    assert!(
        shot.len() > 20_000 && shot.len() > 5 * blank.len(),
        "the screenshot looks blank: {} bytes, a blank page is {} bytes",
        shot.len(),
        blank.len()
    );

    // Kept for people to look at: target/tmp/report/.
    let keep = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report");
    std::fs::create_dir_all(&keep).unwrap();
    std::fs::write(keep.join("screenshot.png"), &shot).unwrap();
    std::fs::copy(&page, keep.join("report.html")).unwrap();
}
