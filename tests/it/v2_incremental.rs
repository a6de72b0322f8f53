//! The incremental pull on Inbox API v2, through the real binary against the v2 fake: a
//! replay of thin events (contact values taken from the events, archived threads re-read),
//! what a quiet night costs, a retention gap, `--full`, the schedule, re-reads dearer than a
//! walk, a new thread and its contact, rows that change during a walk, and a v2 mirror
//! refusing `api = "v1"`.

use crmsync::store::{MirrorProspect, Store};
use crmsync_fake::inbox_v2::{ContactEdit, ContactView, Direction, ThreadEdit};
use serde_json::Value;

use crate::support::{assert_exit, json, stderr};
use crate::v2::V2World;

/// `pull --json` plus `extra`; returns its `pull` object.
async fn pull(world: &V2World, extra: &[&str]) -> Value {
    let mut args = vec!["pull", "--json"];
    args.extend_from_slice(extra);
    let out = world.crmsync(&args).await;
    assert_exit(&out, 0);
    let report = json(&out);
    report["pull"].clone()
}

fn mirror(world: &V2World) -> Vec<MirrorProspect> {
    let path = world.dir.path().join("state").join("mirror.db");
    Store::open(&path).unwrap().load_mirror().unwrap()
}

fn mirrored(world: &V2World, contact_id: &str) -> MirrorProspect {
    let found = mirror(world)
        .into_iter()
        .find(|p| p.prospect.id == contact_id);
    found.unwrap_or_else(|| panic!("contact {contact_id} is not in the mirror"))
}

/// A world of `contacts` contacts whose first pull (a walk) left a seq to replay from: the log gets
/// one event first, since an empty log gives no seq to note.
async fn walked() -> V2World {
    walked_with(40).await
}

async fn walked_with(contacts: usize) -> V2World {
    let world = V2World::start(contacts).await;
    let first = world.fake.threads()[0].id.clone();
    world.fake.new_message(&first, Direction::Inbound);
    let report = pull(&world, &[]).await;
    assert_eq!(report["mode"], "full", "{report}");
    assert_eq!(report["full_reason"], "no-cursor", "{report}");
    assert_eq!(report["event_seq"], world.fake.last_seq(), "{report}");
    // The walk's cost: reference data, a page per 100 threads, the log's end before the walk
    // and its replay after.
    let stats = world.fake.stats();
    let pages = world.fake.thread_count().div_ceil(100) as u64;
    assert_eq!(stats.count("GET", "/threads"), pages, "{stats:?}");
    assert_eq!(stats.count("GET", "/events"), 2, "{stats:?}");
    assert_eq!(stats.requests, 5 + pages + 2, "{stats:?}");
    world
}

/// `status --json`'s `mirror` object.
async fn mirror_counts(world: &V2World) -> Value {
    json(&world.crmsync(&["status", "--json"]).await)["mirror"].clone()
}

/// A tag name the contact lacks.
fn new_tag_for(world: &V2World, c: &ContactView) -> (String, String) {
    let tags = world.fake.tags().into_iter();
    tags.into_iter()
        .find(|(_, name)| !c.tags.contains(name))
        .expect("a tag the contact lacks")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_v2_incremental_pull_takes_contact_values_from_events_and_re_reads_threads() {
    let world = walked().await;

    // A quiet night: reference data and the event log, no walk.
    world.fake.reset_stats();
    let quiet = pull(&world, &[]).await;
    assert_eq!(quiet["mode"], "incremental", "{quiet}");
    assert_eq!(quiet["pages"], 0, "{quiet}");
    assert_eq!(quiet["events_replayed"], 0, "{quiet}");
    assert_eq!(quiet["event_pages"], 2, "{quiet}");
    let stats = world.fake.stats();
    assert_eq!(stats.count("GET", "/threads"), 0, "{stats:?}");
    assert_eq!(stats.count("GET", "/events"), 2, "{stats:?}");
    assert_eq!(
        stats.requests,
        5 + 2,
        "reference data + 2 event pages: {stats:?}"
    );

    // Inbox edits: notes and a tag on one contact, one archived thread of another.
    let singles = world.single_thread_x_contacts();
    let (a, b) = (&singles[0], &singles[1]);
    let (tag_id, tag_name) = new_tag_for(&world, a);
    world.fake.edit_contact(
        &a.id,
        ContactEdit {
            notes: Some(Some("edited in the Inbox UI".into())),
            tags_add: vec![tag_name],
            ..ContactEdit::default()
        },
    );
    let b_thread = world.fake.thread(&b.thread_ids[0]).unwrap();
    world.fake.edit_thread(
        &b_thread.id,
        ThreadEdit {
            archived: Some(!b_thread.archived),
            ..ThreadEdit::default()
        },
    );
    world.fake.reset_stats();
    let report = pull(&world, &[]).await;
    assert_eq!(report["mode"], "incremental", "{report}");
    assert!(report["full_reason"].is_null(), "{report}");
    assert_eq!(report["events_replayed"], 3, "{report}");
    assert_eq!(report["reread_threads"], 1, "{report}");
    assert_eq!(report["reread_prospects"], 0, "{report}");
    assert_eq!(report["event_seq"], world.fake.last_seq(), "{report}");
    let stats = world.fake.stats();
    assert_eq!(stats.count("GET", "/threads"), 0, "{stats:?}");
    assert_eq!(stats.count("GET", "/threads/{threadId}"), 1, "{stats:?}");
    assert_eq!(stats.count("GET", "/contacts/{contactId}"), 0, "{stats:?}");
    assert_eq!(stats.requests, 5 + 2 + 1, "{stats:?}");

    let a_row = mirrored(&world, &a.id);
    assert_eq!(
        a_row.prospect.notes.as_deref(),
        Some("edited in the Inbox UI")
    );
    assert!(a_row.prospect.tag_ids.contains(&tag_id), "{a_row:?}");
    let b_row = mirrored(&world, &b.id);
    assert_eq!(b_row.threads[0].done, !b_thread.archived, "{b_row:?}");
    // The mirror holds what a walk would read.
    let walk = pull(&world, &["--full"]).await;
    assert_eq!(walk["mode"], "full", "{walk}");
    assert_eq!(walk["full_reason"], "requested", "{walk}");
    assert_eq!(mirrored(&world, &a.id), a_row);
    assert_eq!(mirrored(&world, &b.id), b_row);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_v2_thread_brings_its_contact_and_profiles_into_the_mirror() {
    let world = walked_with(120).await;
    let before = mirror_counts(&world).await;
    let contacts = world.fake.contacts();
    let imported = (contacts.iter())
        .find(|c| c.thread_ids.is_empty())
        .expect("the seed has a contact without a thread");
    let talked_to = (contacts.iter())
        .find(|c| c.thread_ids.len() == 1)
        .expect("a contact with one thread");
    let new_for_imported = world.fake.new_thread(&imported.id);
    let second = world.fake.new_thread(&talked_to.id);
    world.fake.reset_stats();
    let report = pull(&world, &[]).await;
    assert_eq!(report["mode"], "incremental", "{report}");
    assert_eq!(report["events_replayed"], 4, "{report}");
    assert_eq!(report["reread_threads"], 2, "{report}");
    assert_eq!(world.fake.stats().count("GET", "/threads/{threadId}"), 2);
    let after = mirror_counts(&world).await;
    let n = |v: &Value, k: &str| v[k].as_u64().unwrap();
    assert_eq!(n(&after, "contacts"), n(&before, "contacts") + 1, "{after}");
    assert_eq!(n(&after, "threads"), n(&before, "threads") + 2, "{after}");
    let profiles = imported.profiles.len() as u64;
    assert_eq!(
        n(&after, "profiles"),
        n(&before, "profiles") + profiles,
        "{after}"
    );
    let row = mirrored(&world, &imported.id);
    assert_eq!(row.threads.len(), 1, "{row:?}");
    assert_eq!(row.threads[0].id, new_for_imported);
    let row = mirrored(&world, &talked_to.id);
    assert!(row.threads.iter().any(|t| t.id == second), "{row:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_v2_log_that_no_longer_reaches_back_means_a_walk() {
    let world = walked().await;
    let stored = world.fake.last_seq();
    let c = &world.single_thread_x_contacts()[0];
    for text in ["first", "second"] {
        let edit = ContactEdit {
            notes: Some(Some(text.into())),
            ..ContactEdit::default()
        };
        world.fake.edit_contact(&c.id, edit);
    }
    // The event right after the stored seq expires: the oldest retained is stored + 2.
    world.fake.expire_events_through(stored + 1);
    let report = pull(&world, &[]).await;
    assert_eq!(report["mode"], "full", "{report}");
    assert_eq!(report["full_reason"], "gap", "{report}");
    assert_eq!(report["event_seq"], world.fake.last_seq(), "{report}");
    assert_eq!(
        mirrored(&world, &c.id).prospect.notes.as_deref(),
        Some("second")
    );
    // The walk noted the seq: the next night replays again.
    let next = pull(&world, &[]).await;
    assert_eq!(next["mode"], "incremental", "{next}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_v2_walk_is_due_every_full_every_hours() {
    let world = walked().await;
    let mut config = std::fs::read_to_string(world.config()).unwrap();
    config.push_str("\n[pull]\nfull_every_hours = 0\n");
    std::fs::write(world.config(), config).unwrap();
    let report = pull(&world, &[]).await;
    assert_eq!(report["mode"], "full", "{report}");
    assert_eq!(report["full_reason"], "schedule", "{report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn v2_re_reads_dearer_than_a_walk_mean_a_walk() {
    // 40 contacts hold about 55 threads: one page. Three re-reads cost more than it (+1).
    let world = walked().await;
    for t in world.fake.threads().into_iter().take(3) {
        let edit = ThreadEdit {
            archived: Some(!t.archived),
            ..ThreadEdit::default()
        };
        world.fake.edit_thread(&t.id, edit);
    }
    let report = pull(&world, &[]).await;
    assert_eq!(report["mode"], "full", "{report}");
    assert_eq!(report["full_reason"], "cheaper-than-replay", "{report}");
    assert_eq!(report["events_replayed"], 3, "{report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_v2_walk_replays_what_changed_behind_its_cursor() {
    // About 370 threads: four pages. The oldest thread is on the first page.
    let world = V2World::start(250).await;
    let mut threads = world.fake.threads();
    threads.sort_by_key(|t| {
        t.activity_at
            .clone()
            .unwrap_or_else(|| t.created_at.clone())
    });
    let oldest = threads[0].clone();
    let mover = threads[1].clone();
    let (thread_id, mover_id, contact_id) = (
        oldest.id.clone(),
        mover.id.clone(),
        oldest.contact_id.clone(),
    );
    let archived = !oldest.archived;
    let mut pages = 0;
    world.fake.set_hook(move |script, req| {
        if req.method == "GET" && req.route == "/threads" {
            pages += 1;
            if pages == 3 {
                // Changes that move nothing, to rows the walk read already...
                let edit = ThreadEdit {
                    archived: Some(archived),
                    ..ThreadEdit::default()
                };
                script.edit_thread(&thread_id, edit);
                let notes = ContactEdit {
                    notes: Some(Some("changed during the walk".into())),
                    ..ContactEdit::default()
                };
                script.edit_contact(&contact_id, notes);
                // ... and a thread that moves behind the cursor.
                script.new_message(&mover_id, Direction::Inbound);
            }
        }
    });
    let report = pull(&world, &[]).await;
    world.fake.clear_hook();
    assert_eq!(report["mode"], "full", "{report}");
    assert!(report["pages"].as_u64().unwrap() >= 4, "{report}");
    assert_eq!(report["events_replayed"], 3, "{report}");
    assert!(report["reread_threads"].as_u64().unwrap() >= 2, "{report}");
    assert_eq!(report["event_seq"], world.fake.last_seq(), "{report}");
    let row = mirrored(&world, &oldest.contact_id);
    assert_eq!(
        row.prospect.notes.as_deref(),
        Some("changed during the walk")
    );
    let thread = row.threads.iter().find(|t| t.id == oldest.id).unwrap();
    assert_eq!(thread.done, archived, "{row:?}");
    let status = json(&world.crmsync(&["status", "--json"]).await);
    assert_eq!(
        status["mirror"]["threads"],
        world.fake.thread_count() as u64,
        "{status}"
    );
    let next = pull(&world, &[]).await;
    assert_eq!(next["mode"], "incremental", "{next}");
    assert_eq!(next["events_replayed"], 0, "{next}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_v2_mirror_refuses_a_v1_pull_in_one_line() {
    let world = walked().await;
    // The same host as v1 would have it (a base URL naming the other version is refused).
    world.write_config("api = \"v1\"");
    let config = std::fs::read_to_string(world.config()).unwrap();
    std::fs::write(world.config(), config.replace("/api/v2", "/api/v1")).unwrap();
    world.fake.reset_stats();
    let out = world.crmsync(&["pull"]).await;
    assert_exit(&out, 1);
    let text = stderr(&out);
    let line = text
        .lines()
        .find(|l| l.contains("was pulled from Inbox API v2"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        line.contains("set [inbox] api = \"v2\" (or start a new [state] dir)"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 1, "{text}");
    assert_eq!(world.fake.stats().requests, 0, "no request on v1");
}
