//! Fan-out on Inbox API v2, through the real binary against the v2 fake: a `fanout` conflict
//! names each thread's account, platform and value (in `conflicts list`, `--json` and the HTML
//! report), and a thread that does not take a written done (a sticky thread in the fake) is
//! retried on the next run, then logged as a conflict; one that takes it on the retry is not.

use crmsync::reconcile::BaseValues;
use crmsync::store::Store;
use crmsync_fake::inbox_v2::{ContactView, ThreadEdit, ThreadView};
use serde_json::Value;

use crate::support::{assert_exit, json, stdout};
use crate::v2::{V2World, agreeing_row, write_rows, x_profile};

/// A contact with an X profile and a thread on an X and on a LinkedIn account: the contact,
/// its X thread and its LinkedIn thread.
fn x_and_linkedin_contact(world: &V2World) -> (ContactView, ThreadView, ThreadView) {
    world
        .fake
        .contacts()
        .into_iter()
        .filter(|c| x_profile(c).is_some())
        .find_map(|c| {
            let threads: Vec<ThreadView> = c
                .thread_ids
                .iter()
                .filter_map(|id| world.fake.thread(id))
                .collect();
            let on = |platform: &str| threads.iter().find(|t| t.platform == platform).cloned();
            Some((c.clone(), on("twitter")?, on("linkedin")?))
        })
        .expect("the seed has a contact with X and LinkedIn threads")
}

/// Sets a thread's archived flag, clears its own assignee (so that the threads of a contact
/// agree on it) and makes it sticky or not.
fn set_thread(world: &V2World, id: &str, archived: bool, sticky: bool) {
    let edit = ThreadEdit {
        archived: Some(archived),
        assignee: Some(None),
        sticky: Some(sticky),
        ..ThreadEdit::default()
    };
    world.fake.edit_thread(id, edit);
}

/// The mirror of the world's state directory.
fn store(world: &V2World) -> Store {
    Store::open(&world.dir.path().join("state").join("mirror.db")).unwrap()
}

/// The base of a contact's link.
fn base(world: &V2World, contact_id: &str) -> BaseValues {
    let mut all = store(world).load_base_for(&[&contact_id.into()]).unwrap();
    all.remove(contact_id).unwrap_or_default()
}

/// `@username (Platform)` of an account link, as the mirror holds it.
fn account_label(world: &V2World, account_link_id: &str) -> String {
    let reference = store(world).reference().unwrap();
    let link = reference
        .account_links
        .iter()
        .find(|l| l.id == account_link_id)
        .expect("the account link is mirrored");
    let platform = match link.platform.as_str() {
        "twitter" => "X",
        "linkedin" => "LinkedIn",
        other => panic!("unexpected platform {other}"),
    };
    format!("@{} ({platform})", link.username)
}

async fn sync(world: &V2World) -> Value {
    let out = world.crmsync(&["sync", "--json"]).await;
    assert_exit(&out, 0);
    json(&out)
}

/// The open `fanout` conflicts of a contact.
async fn fanout_conflicts(world: &V2World, contact_id: &str) -> Vec<Value> {
    let out = world
        .crmsync(&["conflicts", "list", "--json", "--kind", "fanout"])
        .await;
    assert_exit(&out, 0);
    let list = json(&out);
    let list = list.as_array().unwrap();
    list.iter()
        .filter(|c| c["prospect_id"] == contact_id)
        .cloned()
        .collect()
}

/// `PATCH /threads/{id}` calls the fake answered for `thread_id`.
fn thread_writes(world: &V2World, thread_id: &str) -> usize {
    let log = world.fake.write_log();
    log.iter()
        .filter(|w| w.route == "PATCH /threads/{threadId}" && w.params == [thread_id])
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn v2_a_fanout_conflict_names_each_threads_account_platform_and_value() {
    let world = V2World::start(80).await;
    let (c, x, li) = x_and_linkedin_contact(&world);
    set_thread(&world, &x.id, true, false);
    set_thread(&world, &li.id, false, false);
    write_rows(&world.export(), &[agreeing_row(&world, 0, &c)]);
    sync(&world).await;

    // The mirror keeps each account link's platform, as `GET /account-links` gives it.
    let mirrored = store(&world).reference().unwrap().account_links;
    let mut platforms: Vec<(String, String)> = mirrored
        .iter()
        .map(|l| (l.id.clone(), l.platform.clone()))
        .collect();
    platforms.sort();
    let mut served = world.fake.account_links();
    served.sort();
    assert_eq!(platforms, served);

    // Threads are listed by account name.
    let mut listed = [
        format!("{}: true", account_label(&world, &x.account_link_id)),
        format!("{}: false", account_label(&world, &li.account_link_id)),
    ];
    listed.sort_by_key(|l| l.to_lowercase());
    let expected = format!("threads disagree on done: {}", listed.join(", "));
    let conflicts = fanout_conflicts(&world, &c.id).await;
    let done = conflicts
        .iter()
        .find(|c| c["field"] == "done")
        .unwrap_or_else(|| panic!("no done conflict: {conflicts:?}"));
    assert_eq!(done["detail"], expected.as_str());
    // The same words in the text of `conflicts show`, in `plan` and in the HTML report.
    let id = done["id"].to_string();
    let text = stdout(&world.crmsync(&["conflicts", "show", &id]).await);
    assert!(text.contains(&expected), "{text}");
    // On v2 the Inbox side's people are contacts, counted in the singular for one.
    assert!(text.contains("\ncontact    @"), "{text}");
    let list = stdout(&world.crmsync(&["conflicts", "list"]).await);
    assert!(
        list.contains(" contact ") && !list.contains("prospect"),
        "{list}"
    );
    let plan = stdout(&world.crmsync(&["plan"]).await);
    assert!(plan.contains("| CRM: 1 record, 0 rejected |"), "{plan}");
    assert!(!plan.contains("prospect"), "{plan}");
    for label in [&x, &li].map(|t| account_label(&world, &t.account_link_id)) {
        assert!(plan.contains(&label), "{plan}");
    }
    let html = world.dir.path().join("run.html");
    let out = world
        .crmsync(&["report", "1", "--html", html.to_str().unwrap()])
        .await;
    assert_exit(&out, 0);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains(&expected), "the report shows: {expected}");
}

/// A synced contact with an X and a LinkedIn thread, both not done; then the CRM marks it
/// done and the LinkedIn thread turns sticky. Returns the world, the contact and its threads.
async fn done_in_the_crm_with_a_sticky_thread() -> (V2World, ContactView, ThreadView, ThreadView) {
    let world = V2World::start(80).await;
    let (c, x, li) = x_and_linkedin_contact(&world);
    set_thread(&world, &x.id, false, false);
    set_thread(&world, &li.id, false, false);
    let mut row = agreeing_row(&world, 0, &c);
    write_rows(&world.export(), std::slice::from_ref(&row));
    let first = sync(&world).await;
    assert_eq!(first["writes"]["inbox"], 0, "{first}");
    assert_eq!(base(&world, &c.id).done, Some(Some(false)));

    *row.last_mut().unwrap() = "true".into();
    write_rows(&world.export(), &[row]);
    set_thread(&world, &li.id, false, true);
    (world, c, x, li)
}

/// The first run after the CRM marked the contact done: the X thread takes it, the sticky one
/// does not. A warning, no conflict, the base unmoved.
async fn first_miss(world: &V2World, c: &ContactView, x: &ThreadView, li: &ThreadView) {
    let run = sync(world).await;
    let warnings = run["warnings"].to_string();
    let thread = format!(
        "thread {} on {} did not take done = true",
        li.id,
        account_label(world, &li.account_link_id)
    );
    assert!(warnings.contains(&thread), "{warnings}");
    assert!(warnings.contains("the next run retries it"), "{warnings}");
    assert_eq!(run["conflicts"]["opened"], 0, "{run}");
    assert!(fanout_conflicts(world, &c.id).await.is_empty());
    assert!(world.fake.thread(&x.id).unwrap().archived);
    assert!(!world.fake.thread(&li.id).unwrap().archived);
    assert_eq!(thread_writes(world, &li.id), 1);
    assert_eq!(
        base(world, &c.id).done,
        Some(Some(false)),
        "the base did not move"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn v2_a_thread_that_does_not_take_done_is_retried_next_run_then_a_conflict() {
    let (world, c, x, li) = done_in_the_crm_with_a_sticky_thread().await;
    first_miss(&world, &c, &x, &li).await;

    let second = sync(&world).await;
    assert_eq!(
        thread_writes(&world, &li.id),
        2,
        "the second run retried the thread"
    );
    assert_eq!(
        thread_writes(&world, &x.id),
        1,
        "the thread that took it is left alone"
    );
    assert_eq!(second["conflicts"]["opened"], 1, "{second}");
    let conflicts = fanout_conflicts(&world, &c.id).await;
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    assert_eq!(conflicts[0]["field"], "done");
    let detail = conflicts[0]["detail"].as_str().unwrap();
    let thread = format!(
        "thread {} on {} did not take done = true",
        li.id,
        account_label(&world, &li.account_link_id)
    );
    assert!(detail.contains(&thread), "{detail}");
    assert!(detail.contains("again after a retry"), "{detail}");
    assert_eq!(base(&world, &c.id).done, Some(Some(false)));
}

#[tokio::test(flavor = "multi_thread")]
async fn v2_a_thread_that_takes_done_on_the_retry_moves_the_base_without_a_conflict() {
    let (world, c, x, li) = done_in_the_crm_with_a_sticky_thread().await;
    first_miss(&world, &c, &x, &li).await;
    set_thread(&world, &li.id, false, false);

    let second = sync(&world).await;
    assert_eq!(
        thread_writes(&world, &li.id),
        2,
        "the second run retried the thread"
    );
    assert!(world.fake.thread(&li.id).unwrap().archived);
    assert_eq!(second["conflicts"]["opened"], 0, "{second}");
    assert!(fanout_conflicts(&world, &c.id).await.is_empty());
    assert_eq!(base(&world, &c.id).done, Some(Some(true)), "the base moved");
    let warnings = second["warnings"].to_string();
    assert!(!warnings.contains("did not take"), "{warnings}");

    let third = sync(&world).await;
    assert_eq!(third["writes"]["inbox"], 0, "{third}");
    assert_eq!(third["writes"]["crm"], 0, "{third}");
}

/// The e-mail of the fake's member `n`.
fn member(world: &V2World, n: usize) -> String {
    world.fake.members()[n].1.clone()
}

/// Undo of a forced assignee fan-out puts back what each thread showed: a thread whose own
/// assignee the run cleared (so that it showed the new contact default) gets that own assignee
/// back, not the restored default; a thread that showed the default is left to it.
#[tokio::test(flavor = "multi_thread")]
async fn v2_undo_of_a_forced_assignee_gives_a_thread_back_the_own_assignee_the_run_cleared() {
    let world = V2World::start(80).await;
    world.write_config_with("", "\n[fanout]\nmode = \"force\"\n");
    let (c, x, li) = x_and_linkedin_contact(&world);
    let (a, b, crm) = (member(&world, 0), member(&world, 1), member(&world, 2));
    let default = crmsync_fake::inbox_v2::ContactEdit {
        assignee: Some(Some(a.clone())),
        ..Default::default()
    };
    world.fake.edit_contact(&c.id, default);
    for id in &c.thread_ids {
        set_thread(&world, id, false, false);
    }
    let own = ThreadEdit {
        assignee: Some(Some(b.clone())),
        ..ThreadEdit::default()
    };
    world.fake.edit_thread(&li.id, own);
    let shows = |id: &str| world.fake.thread(id).unwrap().assignee_email;
    assert_eq!(shows(&x.id).as_deref(), Some(a.as_str()));
    assert_eq!(shows(&li.id).as_deref(), Some(b.as_str()));
    let mut row = agreeing_row(&world, 0, &c);
    row[crate::support::col("Owner Email")] = crm.clone();
    write_rows(&world.export(), &[row]);

    let run = sync(&world).await;
    for id in &c.thread_ids {
        assert_eq!(shows(id).as_deref(), Some(crm.as_str()), "{run}");
    }
    let run_id = run["run_id"].to_string();
    let undo = world.crmsync(&["undo", &run_id, "--json"]).await;
    assert_exit(&undo, 0);
    assert_eq!(
        shows(&li.id).as_deref(),
        Some(b.as_str()),
        "the thread's own assignee is back: {}",
        stdout(&undo)
    );
    for id in c.thread_ids.iter().filter(|id| **id != li.id) {
        let thread = world.fake.thread(id).unwrap();
        assert_eq!(thread.assignee_email.as_deref(), Some(a.as_str()));
        assert_eq!(thread.own_assignee_id, None, "left to the restored default");
    }
    assert_eq!(
        world.fake.contact(&c.id).unwrap().assignee_email.as_deref(),
        Some(a.as_str())
    );
}

/// The contact default an undo restores is the one the contact had, as the mirror keeps it
/// (pulled by the walk, moved by `contact.assigneeChanged`), even when every thread shows an
/// own assignee that agrees on another value.
#[tokio::test(flavor = "multi_thread")]
async fn v2_undo_of_a_new_owner_restores_the_contact_default_the_events_said() {
    let world = V2World::start(80).await;
    let (c, _, _) = x_and_linkedin_contact(&world);
    let (a, b, d, crm) = (
        member(&world, 0),
        member(&world, 1),
        member(&world, 2),
        member(&world, 3),
    );
    let default = |email: &str| crmsync_fake::inbox_v2::ContactEdit {
        assignee: Some(Some(email.to_string())),
        ..Default::default()
    };
    world.fake.edit_contact(&c.id, default(&a));
    for id in &c.thread_ids {
        set_thread(&world, id, false, false);
    }
    let row = agreeing_row(&world, 0, &c);
    write_rows(&world.export(), std::slice::from_ref(&row));
    sync(&world).await;
    // In Inbox: every thread gets its own assignee b, and the contact the default d.
    for id in &c.thread_ids {
        let own = ThreadEdit {
            assignee: Some(Some(b.clone())),
            ..ThreadEdit::default()
        };
        world.fake.edit_thread(id, own);
    }
    world.fake.edit_contact(&c.id, default(&d));
    sync(&world).await;
    // The CRM, now showing b, gets a new owner.
    let mut rows = crate::v2::read_rows(&world.export());
    assert_eq!(rows[0][crate::support::col("Owner Email")], b);
    rows[0][crate::support::col("Owner Email")] = crm.clone();
    write_rows(&world.export(), &rows);
    let run = sync(&world).await;
    let shows = |id: &str| world.fake.thread(id).unwrap().assignee_email;
    assert!(
        c.thread_ids.iter().all(|id| shows(id) == Some(crm.clone())),
        "{run}"
    );

    let undo = world
        .crmsync(&["undo", &run["run_id"].to_string(), "--json"])
        .await;
    assert_exit(&undo, 0);
    for id in &c.thread_ids {
        assert_eq!(shows(id).as_deref(), Some(b.as_str()), "{}", stdout(&undo));
    }
    let contact = world.fake.contact(&c.id).unwrap();
    assert_eq!(contact.assignee_email.as_deref(), Some(d.as_str()));
}
