//! Echo suppression on Inbox API v2, through the real binary against the v2 fake: the events
//! crmsync's own writes leave in the log carry no actor, so the pull after a sync recognises
//! them by their receipts (the change log). An echo costs no re-read; a person's edit on the
//! same thread right after crmsync's write is still re-read and synced.

use crmsync_fake::inbox_v2::{ContactView, Direction, ThreadEdit};
use serde_json::Value;

use crate::support::{assert_exit, col, json};
use crate::v2::{V2World, agreeing_row, read_rows, write_rows};

/// A world of `size` contacts whose first `n` single-thread X contacts are linked to CSV rows,
/// synced once with a seq stored (the log gets a message first: an empty log gives no seq).
async fn linked(size: usize, n: usize) -> (V2World, Vec<ContactView>) {
    let world = V2World::start(size).await;
    let contacts: Vec<ContactView> = (world.single_thread_x_contacts().into_iter())
        .take(n)
        .collect();
    assert_eq!(
        contacts.len(),
        n,
        "the seed has enough single-thread contacts"
    );
    let rows: Vec<Vec<String>> = (contacts.iter().enumerate())
        .map(|(i, c)| agreeing_row(&world, i, c))
        .collect();
    write_rows(&world.export(), &rows);
    world
        .fake
        .new_message(&contacts[0].thread_ids[0], Direction::Inbound);
    let report = sync(&world).await;
    assert_eq!(report["linked"], n as u64, "{report}");
    assert_eq!(report["writes"]["inbox"], 0, "{report}");
    assert_eq!(
        report["pull"]["event_seq"],
        world.fake.last_seq(),
        "{report}"
    );
    (world, contacts)
}

async fn sync(world: &V2World) -> Value {
    let out = world.crmsync(&["sync", "--json"]).await;
    assert_exit(&out, 0);
    json(&out)
}

/// Flips Done in the CSV for the first `n` rows; returns the values written.
fn flip_done(world: &V2World, n: usize) -> Vec<bool> {
    let mut rows = read_rows(&world.export());
    let mut flipped = Vec::new();
    for row in rows.iter_mut().take(n) {
        let done = row[col("Done")] != "true";
        row[col("Done")] = done.to_string();
        flipped.push(done);
    }
    write_rows(&world.export(), &rows);
    flipped
}

/// Sets the notes of CSV row `idx`.
fn set_notes(world: &V2World, idx: usize, notes: &str) {
    let mut rows = read_rows(&world.export());
    rows[idx][col("Notes")] = notes.into();
    write_rows(&world.export(), &rows);
}

/// A linked world in which a sync flipped done on the first five threads and wrote notes to
/// the sixth contact (the thread count is such that five re-reads cost less than a walk).
async fn synced_own_writes() -> (V2World, Vec<ContactView>, Vec<bool>) {
    synced_own_writes_in(400).await
}

async fn synced_own_writes_in(size: usize) -> (V2World, Vec<ContactView>, Vec<bool>) {
    let (world, contacts) = linked(size, 7).await;
    let flipped = flip_done(&world, 5);
    set_notes(&world, 5, "written by the CRM");
    let report = sync(&world).await;
    assert_eq!(report["writes"]["inbox"], 6, "{report}");
    for (c, done) in contacts.iter().zip(&flipped) {
        assert_eq!(world.fake.thread(&c.thread_ids[0]).unwrap().archived, *done);
    }
    let notes = world.fake.contact(&contacts[5].id).unwrap().notes;
    assert_eq!(notes.as_deref(), Some("written by the CRM"));
    (world, contacts, flipped)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_run_after_a_sync_that_archived_threads_re_reads_none_of_them() {
    let (world, _, _) = synced_own_writes().await;
    let seq = world.fake.last_seq();
    world.fake.reset_stats();
    let writes = world.fake.write_log().len();

    let report = sync(&world).await;
    let pull = &report["pull"];
    assert_eq!(pull["mode"], "incremental", "{report}");
    assert_eq!(pull["events_replayed"], 6, "{report}");
    assert_eq!(pull["echoes"], 6, "{report}");
    assert_eq!(pull["reread_threads"], 0, "{report}");
    assert_eq!(pull["event_seq"], seq, "{report}");
    let stats = world.fake.stats();
    assert_eq!(stats.count("GET", "/threads/{threadId}"), 0, "{stats:?}");
    assert_eq!(
        stats.requests,
        5 + 2,
        "reference data + 2 event pages: {stats:?}"
    );
    assert_eq!(report["writes"]["inbox"], 0, "{report}");
    assert_eq!(report["writes"]["crm"], 0, "{report}");
    assert_eq!(world.fake.write_log().len(), writes);
    // The mirror took the values: a walk finds nothing the replay missed.
    let out = world.crmsync(&["pull", "--full", "--json"]).await;
    assert_exit(&out, 0);
    let walk = json(&out);
    assert_eq!(walk["pull"]["unexplained_changes"], 0, "{walk}");
}

#[tokio::test(flavor = "multi_thread")]
async fn on_a_small_mirror_echoes_no_longer_make_the_pull_after_a_sync_a_walk() {
    // 58 threads: a walk is 1 page (+ 1 event page); 5 re-reads used to cost more.
    let (world, _, _) = synced_own_writes_in(40).await;
    world.fake.reset_stats();
    let report = sync(&world).await;
    assert_eq!(report["pull"]["mode"], "incremental", "{report}");
    assert_eq!(report["pull"]["echoes"], 6, "{report}");
    let stats = world.fake.stats();
    assert_eq!(stats.count("GET", "/threads"), 0, "{stats:?}");
    assert_eq!(
        stats.requests,
        5 + 2,
        "reference data + 2 event pages: {stats:?}"
    );
    assert_eq!(report["writes"]["inbox"], 0, "{report}");
    assert_eq!(report["writes"]["crm"], 0, "{report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_persons_edit_right_after_crmsyncs_write_on_the_same_thread_is_re_read_and_synced() {
    let (world, contacts, flipped) = synced_own_writes().await;
    // A person puts thread 0 back, assigns thread 1 and edits the notes crmsync just wrote.
    let thread = |i: usize| contacts[i].thread_ids[0].clone();
    let back = ThreadEdit {
        archived: Some(!flipped[0]),
        ..ThreadEdit::default()
    };
    world.fake.edit_thread(&thread(0), back);
    let assigned = world.fake.thread(&thread(1)).unwrap().assignee_email;
    let (_, email) = (world.fake.members().into_iter())
        .find(|(_, email)| Some(email) != assigned.as_ref())
        .expect("a member the thread is not assigned to");
    let assign = ThreadEdit {
        assignee: Some(Some(email.clone())),
        ..ThreadEdit::default()
    };
    world.fake.edit_thread(&thread(1), assign);
    world.fake.edit_contact(
        &contacts[5].id,
        crmsync_fake::inbox_v2::ContactEdit {
            notes: Some(Some("a person's notes".into())),
            ..Default::default()
        },
    );
    world.fake.reset_stats();

    let report = sync(&world).await;
    let pull = &report["pull"];
    assert_eq!(pull["mode"], "incremental", "{report}");
    assert_eq!(pull["events_replayed"], 9, "{report}");
    // Threads 2..5 and the notes crmsync wrote are echoes; 0 and 1 had a person's event too.
    assert_eq!(pull["echoes"], 4, "{report}");
    assert_eq!(pull["reread_threads"], 2, "{report}");
    let stats = world.fake.stats();
    assert_eq!(stats.count("GET", "/threads/{threadId}"), 2, "{stats:?}");
    assert_eq!(report["writes"]["inbox"], 0, "{report}");
    assert_eq!(report["writes"]["crm"], 3, "{report}");
    let rows = read_rows(&world.export());
    assert_eq!(rows[0][col("Done")], (!flipped[0]).to_string());
    assert_eq!(rows[1][col("Owner Email")], email);
    assert_eq!(rows[5][col("Notes")], "a person's notes");
    for (i, done) in flipped.iter().enumerate().skip(1) {
        assert_eq!(rows[i][col("Done")], done.to_string(), "row {i}");
    }
    // And nothing is left to write.
    let again = sync(&world).await;
    assert_eq!(again["writes"]["inbox"], 0, "{again}");
    assert_eq!(again["writes"]["crm"], 0, "{again}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_receipt_of_an_older_run_explains_no_event() {
    let (world, contacts, flipped) = synced_own_writes().await;
    let echoed = sync(&world).await;
    assert_eq!(echoed["pull"]["echoes"], 6, "{echoed}");
    // A person unarchives (or archives) thread 0, the CRM takes it; then puts crmsync's value
    // back. That event equals a receipt of two runs ago: it is a person's, and is re-read.
    let thread = contacts[0].thread_ids[0].clone();
    let edit = |archived: bool| ThreadEdit {
        archived: Some(archived),
        ..ThreadEdit::default()
    };
    world.fake.edit_thread(&thread, edit(!flipped[0]));
    let taken = sync(&world).await;
    assert_eq!(taken["pull"]["echoes"], 0, "{taken}");
    assert_eq!(taken["pull"]["reread_threads"], 1, "{taken}");
    assert_eq!(taken["writes"]["crm"], 1, "{taken}");
    world.fake.edit_thread(&thread, edit(flipped[0]));
    let report = sync(&world).await;
    assert_eq!(report["pull"]["mode"], "incremental", "{report}");
    assert_eq!(report["pull"]["echoes"], 0, "{report}");
    assert_eq!(report["pull"]["reread_threads"], 1, "{report}");
    assert_eq!(report["writes"]["crm"], 1, "{report}");
    assert_eq!(
        read_rows(&world.export())[0][col("Done")],
        flipped[0].to_string()
    );
}
