//! Incremental pull (issue 6 item 2): after a full walk, `pull` replays `GET /events` and
//! re-reads only what the events name; it falls back to a full walk for `--full`, a gap in the
//! retained log, a refused seq, the `full_every_hours` schedule and an event log that missed
//! changes. Also the request counts of both modes (run the 10,000-prospect measurement with
//! `cargo test --release --test it incremental::measure -- --ignored --nocapture`).

use crmsync::store::{MirrorProspect, Store};
use crmsync_fake::inbox_v1::{ContextEdit, ProspectView};
use serde_json::Value;

use crate::support::{World, agreeing_rows, assert_exit, col, json, read_export, write_export};

/// Runs `crmsync <args>` (which must include `--json`), expects exit 0, returns the report.
async fn run_json(world: &World, args: &[&str]) -> Value {
    let out = world.crmsync(args).await;
    assert_exit(&out, 0);
    json(&out)
}

/// The `pull` object of a `--json` report.
fn pull_of(report: &Value) -> &Value {
    report.get("pull").unwrap_or_else(|| {
        panic!("the --json report must carry the PullReport as `pull` (src/cli/run.rs): {report}")
    })
}

/// `pull --json` (plus `extra` args); returns (report, its `pull` object).
async fn pull(world: &World, extra: &[&str]) -> (Value, Value) {
    let mut args = vec!["pull", "--json"];
    args.extend_from_slice(extra);
    let report = run_json(world, &args).await;
    let pull = pull_of(&report).clone();
    (report, pull)
}

fn mirror(world: &World) -> Vec<MirrorProspect> {
    let path = world.path().join("state").join("mirror.db");
    Store::open(&path)
        .expect("mirror opens")
        .load_mirror()
        .expect("mirror loads")
}

fn mirror_prospect(world: &World, id: &str) -> Option<MirrorProspect> {
    mirror(world).into_iter().find(|p| p.prospect.id == id)
}

fn id_of(pairs: &[(String, String)], name: &str) -> String {
    pairs
        .iter()
        .find(|(_, n)| n == name)
        .map(|(id, _)| id.clone())
        .unwrap_or_else(|| panic!("unknown name {name}"))
}

/// Prospects with exactly one thread.
fn single_thread(world: &World) -> Vec<ProspectView> {
    let prospects = world.fake.prospects();
    let single = crate::support::single_thread(world, prospects.len());
    single
        .into_iter()
        .map(|idx| prospects[idx].clone())
        .collect()
}

/// A tag name the prospect does not have.
fn new_tag_for(world: &World, p: &ProspectView) -> String {
    let tags = world.fake.tags().into_iter().map(|(_, name)| name);
    tags.into_iter()
        .find(|name| !p.tags.contains(name))
        .expect("a tag the prospect lacks")
}

/// A status name other than the prospect's.
fn other_status(world: &World, p: &ProspectView) -> String {
    let statuses = world.fake.statuses().into_iter().map(|(_, name)| name);
    statuses
        .into_iter()
        .find(|name| p.status.as_ref() != Some(name))
        .expect("another status")
}

/// An edit that emits exactly one event: new notes.
fn notes(text: String) -> ContextEdit {
    ContextEdit {
        notes: Some(Some(text)),
        ..ContextEdit::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_incremental_pull_re_reads_only_what_changed_and_the_mirror_follows() {
    let world = World::start(300, "").await;
    let (first, first_pull) = pull(&world, &[]).await;
    assert_eq!(first_pull["mode"], "full", "{first}");
    assert_eq!(first_pull["full_reason"], "no-cursor", "{first}");
    assert_eq!(first_pull["prospects"], 300);

    // Two context edits and one per-thread edit on a prospect with several threads.
    let singles = single_thread(&world);
    let (a, b) = (&singles[0], &singles[1]);
    let tag = new_tag_for(&world, a);
    world.fake.edit_context(
        &a.external_id,
        ContextEdit {
            notes: Some(Some("Edited in the Inbox UI".into())),
            valuation: Some(Some(777.0)),
            tags_add: Some(vec![tag.clone()]),
            ..ContextEdit::default()
        },
    );
    let status = other_status(&world, b);
    world.fake.edit_context(
        &b.external_id,
        ContextEdit {
            status: Some(Some(status.clone())),
            ..ContextEdit::default()
        },
    );
    let multi = world
        .fake
        .prospects()
        .into_iter()
        .find(|p| p.threads.len() > 1)
        .expect("a prospect with several threads");
    let thread = multi.threads[0].clone();
    let (member_id, member_email) = world
        .fake
        .members()
        .into_iter()
        .find(|(id, _)| thread.assignee_id.as_ref() != Some(id))
        .unwrap();
    world
        .fake
        .set_thread(&thread.id, Some(Some(member_email)), Some(!thread.done));

    world.fake.reset_stats();
    let (report, pulled) = pull(&world, &[]).await;
    assert_eq!(pulled["mode"], "incremental", "{report}");
    assert_eq!(pulled["full_reason"], Value::Null, "{report}");
    // 3 events for a, 1 for b, 2 for the thread (assigned + archived/unarchived).
    assert_eq!(pulled["events_replayed"], 6, "{report}");
    assert_eq!(pulled["reread_threads"], 1, "{report}");
    assert_eq!(pulled["reread_prospects"], 2, "{report}");
    let stats = world.fake.stats();
    assert_eq!(stats.count("GET", "/threads"), 0, "no thread-list walk");
    assert_eq!(stats.count("GET", "/threads/{threadId}"), 1);
    assert_eq!(stats.count("GET", "/prospects/{prospectId}"), 2);
    assert_eq!(stats.count("GET", "/events"), 1);
    // 5 reference calls + 1 event page + 3 re-reads.
    assert_eq!(report["requests"], 9, "{report}");

    // The mirror holds the edits.
    let tags = world.fake.tags();
    let a_now = mirror_prospect(&world, &a.external_id).unwrap().prospect;
    assert_eq!(a_now.notes.as_deref(), Some("Edited in the Inbox UI"));
    assert_eq!(
        a_now.valuation.map(|v| v.to_string()).as_deref(),
        Some("777")
    );
    assert!(a_now.tag_ids.contains(&id_of(&tags, &tag)), "{a_now:?}");
    let b_now = mirror_prospect(&world, &b.external_id).unwrap().prospect;
    assert_eq!(
        b_now.status_id,
        Some(id_of(&world.fake.statuses(), &status))
    );
    let multi_now = mirror_prospect(&world, &multi.external_id).unwrap();
    let t = multi_now
        .threads
        .iter()
        .find(|t| t.id == thread.id)
        .unwrap();
    assert_eq!(t.done, !thread.done);
    assert_eq!(t.assignee_id.as_deref(), Some(member_id.as_str()));
    // Nothing was marked absent, and status agrees with the fake.
    let status = run_json(&world, &["status", "--json"]).await;
    assert_eq!(status["mirror"]["prospects"], 300, "{status}");
    assert_eq!(
        status["mirror"]["threads"],
        world.fake.thread_count() as u64,
        "{status}"
    );

    // Nothing changed since: an incremental pull with nothing to re-read.
    world.fake.reset_stats();
    let (report, pulled) = pull(&world, &[]).await;
    assert_eq!(pulled["mode"], "incremental", "{report}");
    assert_eq!(pulled["events_replayed"], 0, "{report}");
    assert_eq!(pulled["reread_threads"], 0, "{report}");
    assert_eq!(pulled["reread_prospects"], 0, "{report}");
    assert_eq!(report["requests"], 6, "{report}");
    assert_eq!(pulled["prospects"], 300, "{report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn full_forces_a_walk() {
    let world = World::start(150, "").await;
    pull(&world, &[]).await;
    let a = &single_thread(&world)[0];
    world
        .fake
        .edit_context(&a.external_id, notes("Before --full".into()));
    world.fake.reset_stats();
    let (report, pulled) = pull(&world, &["--full"]).await;
    assert_eq!(pulled["mode"], "full", "{report}");
    assert_eq!(pulled["full_reason"], "requested", "{report}");
    assert!(world.fake.stats().count("GET", "/threads") >= 3);
    let a_now = mirror_prospect(&world, &a.external_id).unwrap().prospect;
    assert_eq!(a_now.notes.as_deref(), Some("Before --full"));
    // The walk stored a seq: the next pull is incremental again.
    let (report, pulled) = pull(&world, &[]).await;
    assert_eq!(pulled["mode"], "incremental", "{report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_seq_that_fell_out_of_the_retained_log_forces_a_full_walk() {
    let world = World::start(150, "").await;
    pull(&world, &[]).await;
    let singles = single_thread(&world);
    world
        .fake
        .edit_context(&singles[0].external_id, notes("First".into()));
    let (report, pulled) = pull(&world, &[]).await;
    assert_eq!(pulled["mode"], "incremental", "{report}");
    let stored = pulled["event_seq"].as_u64().expect("a stored seq");

    // Two more events, and the retention window passes over the first of them.
    let b = &singles[1];
    world.fake.edit_context(
        &b.external_id,
        ContextEdit {
            notes: Some(Some("Lost event".into())),
            valuation: Some(Some(4242.0)),
            ..ContextEdit::default()
        },
    );
    world.fake.expire_events_through(stored + 1);
    let (report, pulled) = pull(&world, &[]).await;
    assert_eq!(pulled["mode"], "full", "{report}");
    assert_eq!(pulled["full_reason"], "gap", "{report}");
    let b_now = mirror_prospect(&world, &b.external_id).unwrap().prospect;
    assert_eq!(b_now.notes.as_deref(), Some("Lost event"));
    assert_eq!(
        b_now.valuation.map(|v| v.to_string()).as_deref(),
        Some("4242")
    );
    assert_eq!(pulled["event_seq"], stored + 2, "{report}");

    // The walk stored the head: back to incremental.
    let (report, pulled) = pull(&world, &[]).await;
    assert_eq!(pulled["mode"], "incremental", "{report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_seq_forces_a_full_walk() {
    let world = World::start(100, "").await;
    pull(&world, &[]).await;
    let a = &single_thread(&world)[0];
    world
        .fake
        .edit_context(&a.external_id, notes("Refused".into()));
    // The first GET /events of the next run answers 400 (as a too-old afterSeq might).
    let mut refused = false;
    world.fake.set_hook(move |script, info| {
        if info.route == "/events" && !refused {
            refused = true;
            script.fail_next(1, 400);
        }
    });
    let (report, pulled) = pull(&world, &[]).await;
    assert_eq!(pulled["mode"], "full", "{report}");
    assert_eq!(pulled["full_reason"], "events-refused", "{report}");
    let a_now = mirror_prospect(&world, &a.external_id).unwrap().prospect;
    assert_eq!(a_now.notes.as_deref(), Some("Refused"));
    world.fake.clear_hook();
    let (report, pulled) = pull(&world, &[]).await;
    assert_eq!(pulled["mode"], "incremental", "{report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn full_every_hours_zero_walks_every_time() {
    let world = World::start(80, "[pull]\nfull_every_hours = 0\n").await;
    let (_, pulled) = pull(&world, &[]).await;
    assert_eq!(pulled["full_reason"], "no-cursor");
    for round in 0..2 {
        let a = &single_thread(&world)[round];
        world
            .fake
            .edit_context(&a.external_id, notes(format!("Round {round}")));
        let (report, pulled) = pull(&world, &[]).await;
        assert_eq!(pulled["mode"], "full", "{report}");
        assert_eq!(pulled["full_reason"], "schedule", "{report}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_thread_that_answers_404_is_marked_absent_and_a_walk_brings_it_back() {
    let world = World::start(120, "").await;
    pull(&world, &[]).await;
    let gone = single_thread(&world)[0].clone();
    world
        .fake
        .set_thread(&gone.threads[0].id, None, Some(!gone.threads[0].done));
    world.fake.set_hook(|script, info| {
        if info.method == "GET" && info.route == "/threads/{threadId}" {
            script.fail_next(1, 404);
        }
    });
    let (report, pulled) = pull(&world, &[]).await;
    assert_eq!(pulled["mode"], "incremental", "{report}");
    assert_eq!(
        pulled["marked_absent"],
        serde_json::json!([1, 1]),
        "{report}"
    );
    assert_eq!(pulled["prospects"], 119, "{report}");
    assert!(mirror_prospect(&world, &gone.external_id).is_none());

    world.fake.clear_hook();
    let (report, pulled) = pull(&world, &["--full"]).await;
    assert_eq!(pulled["prospects"], 120, "{report}");
    let back = mirror_prospect(&world, &gone.external_id).unwrap();
    assert_eq!(back.threads[0].done, !gone.threads[0].done);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_event_log_that_misses_changes_is_caught_by_the_walk_and_distrusted() {
    let world = World::start(120, "").await;
    pull(&world, &[]).await;
    let singles = single_thread(&world);

    // A change whose event is gone before anyone reads it, with nothing after it: the replay
    // sees an empty log, which never proved it records anything, so the pull walks.
    world
        .fake
        .edit_context(&singles[0].external_id, notes("Unrecorded".into()));
    let last = world.fake.events().last().unwrap()["seq"].as_u64().unwrap();
    world.fake.expire_events_through(last);
    let (report, pulled) = pull(&world, &[]).await;
    assert_eq!(pulled["mode"], "full", "{report}");
    assert_eq!(pulled["full_reason"], "log-unproven", "{report}");
    assert_eq!(pulled["unexplained_changes"], 1, "{report}");

    // Now distrusted: walks even though events arrive ...
    world
        .fake
        .edit_context(&singles[1].external_id, notes("Recorded".into()));
    let (report, pulled) = pull(&world, &[]).await;
    assert_eq!(pulled["full_reason"], "log-incomplete", "{report}");
    // ... until a walk finds changes that the log did record.
    assert_eq!(pulled["unexplained_changes"], 0, "{report}");
    let (report, pulled) = pull(&world, &[]).await;
    assert_eq!(pulled["mode"], "incremental", "{report}");
    let recorded = mirror_prospect(&world, &singles[1].external_id).unwrap();
    assert_eq!(recorded.prospect.notes.as_deref(), Some("Recorded"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sync_after_an_incremental_pull_writes_the_change_and_then_nothing() {
    let world = World::start(60, "").await;
    write_export(&world, &agreeing_rows(&world, 50));
    let report = run_json(&world, &["sync", "--json"]).await;
    assert_eq!(report["linked"], 50, "{report}");
    assert_eq!(report["writes"]["crm"], 0, "{report}");

    let prospects: Vec<(usize, ProspectView)> = world
        .fake
        .prospects()
        .into_iter()
        .take(50)
        .enumerate()
        .filter(|(_, p)| p.threads.len() == 1)
        .collect();
    // Inbox side: a new valuation. CRM side, another prospect: new notes.
    let (idx_a, a) = &prospects[0];
    world.fake.edit_context(
        &a.external_id,
        ContextEdit {
            valuation: Some(Some(4321.5)),
            ..ContextEdit::default()
        },
    );
    let (idx_b, b) = &prospects[1];
    let mut rows = read_export(&world);
    rows[*idx_b][col("Notes")] = "Rewritten in the CRM".into();
    write_export(&world, &rows);

    world.fake.reset_stats();
    let report = run_json(&world, &["sync", "--json"]).await;
    assert_eq!(
        world.fake.stats().count("GET", "/threads"),
        0,
        "incremental"
    );
    assert_eq!(report["writes"]["crm"], 1, "{report}");
    assert_eq!(report["writes"]["inbox"], 1, "{report}");
    assert_eq!(read_export(&world)[*idx_a][col("Deal Value")], "4321.5");
    assert_eq!(
        world
            .fake
            .prospect(&b.external_id)
            .unwrap()
            .notes
            .as_deref(),
        Some("Rewritten in the CRM")
    );

    // The next pull replays our own write and re-reads that prospect: nothing more to do.
    world.fake.reset_stats();
    let report = run_json(&world, &["sync", "--json"]).await;
    assert_eq!(
        world.fake.stats().count("GET", "/threads"),
        0,
        "incremental"
    );
    assert_eq!(
        world.fake.stats().count("GET", "/prospects/{prospectId}"),
        1
    );
    assert_eq!(report["writes"]["crm"], 0, "{report}");
    assert_eq!(report["writes"]["inbox"], 0, "{report}");
    let b_now = mirror_prospect(&world, &b.external_id).unwrap().prospect;
    assert_eq!(b_now.notes.as_deref(), Some("Rewritten in the CRM"));
}

/// Request counts of one world: a first full pull, then `changed` prospects edited in Inbox
/// (half a context edit, half a per-thread archive/reopen), then a pull without `--full`, then
/// the same edits again and a `--full` pull.
struct Measurement {
    first_full: u64,
    /// Mode and reason the pull after the edits chose, its requests and its re-reads
    /// (threads, prospects).
    after_edits: (String, Value, u64, (u64, u64)),
    forced_full: u64,
    forced_full_pages: u64,
    seconds: (f64, f64, f64),
}

async fn measure(prospects: usize, changed: usize) -> Measurement {
    let world = World::start(prospects, "").await;
    let (first, first_pull) = pull(&world, &[]).await;
    assert_eq!(first_pull["mode"], "full");

    let edit = |round: usize| {
        for (idx, p) in single_thread(&world).iter().take(changed).enumerate() {
            if idx % 2 == 0 {
                let text = format!("Round {round} edit {idx}");
                world.fake.edit_context(&p.external_id, notes(text));
            } else {
                let thread = &p.threads[0];
                let done = world.fake.prospect(&p.external_id).unwrap().threads[0].done;
                world.fake.set_thread(&thread.id, None, Some(!done));
            }
        }
    };
    edit(1);
    world.fake.reset_stats();
    let (after, after_pull) = pull(&world, &[]).await;
    let requests = after["requests"].as_u64().unwrap();
    assert_eq!(world.fake.stats().requests, requests);
    let count = |key: &str| after_pull[key].as_u64().unwrap();
    // Whichever mode ran, the event log explained every change a walk found.
    assert_eq!(after_pull["unexplained_changes"], 0, "{after}");

    edit(2);
    let (forced, forced_pull) = pull(&world, &["--full"]).await;
    assert_eq!(forced_pull["full_reason"], "requested");
    Measurement {
        first_full: first["requests"].as_u64().unwrap(),
        after_edits: (
            after_pull["mode"].as_str().unwrap().to_owned(),
            after_pull["full_reason"].clone(),
            requests,
            (count("reread_threads"), count("reread_prospects")),
        ),
        forced_full: forced["requests"].as_u64().unwrap(),
        forced_full_pages: forced_pull["pages"].as_u64().unwrap(),
        seconds: (
            first["seconds"].as_f64().unwrap(),
            after["seconds"].as_f64().unwrap(),
            forced["seconds"].as_f64().unwrap(),
        ),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_incremental_pull_costs_one_request_per_changed_row_unless_a_walk_is_cheaper() {
    // 1,000 prospects: a walk is ~20 requests.
    let few = measure(1_000, 6).await;
    // 5 reference calls + 1 event page + 3 thread and 3 prospect re-reads.
    assert_eq!(
        few.after_edits,
        ("incremental".into(), Value::Null, 5 + 1 + 6, (3, 3))
    );
    // A walk: 5 reference calls + the pages + the event pages before and after it (and the
    // re-reads of changes made during the walk: none here).
    assert_eq!(few.forced_full, 5 + few.forced_full_pages + 2);
    assert!(few.first_full <= few.forced_full);

    // 50 changes would cost 56 requests: the pull walks instead.
    let many = measure(1_000, 50).await;
    let (mode, reason, requests, rereads) = &many.after_edits;
    assert_eq!(
        (mode.as_str(), reason),
        ("full", &Value::from("cheaper-than-replay"))
    );
    assert_eq!(*rereads, (0, 0));
    assert_eq!(*requests, 5 + many.forced_full_pages + 2);
}

/// The measurement: 50 changed prospects out of 10,000.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "slow: run with --release -- --ignored --nocapture"]
async fn measure_incremental_against_full_for_10000_prospects() {
    let m = measure(10_000, 50).await;
    let (mode, _, requests, (threads, prospects)) = &m.after_edits;
    println!(
        "10,000 prospects, 50 changed (25 context edits, 25 thread archive/reopen):\n  \
         first full pull: {} requests ({:.2} s)\n  \
         pull after the edits ({mode}): {requests} requests ({threads} thread + {prospects} \
         prospect re-reads) ({:.2} s)\n  \
         --full pull: {} requests ({} thread-list pages) ({:.2} s)",
        m.first_full, m.seconds.0, m.seconds.1, m.forced_full, m.forced_full_pages, m.seconds.2,
    );
    assert_eq!(mode, "incremental");
    assert_eq!(*requests, 5 + 1 + 50);
}
