//! `crmsync pull` and `status` through the real binary against the fake Inbox.

use crate::support::{World, assert_exit, json, stderr, stdout};

#[tokio::test(flavor = "multi_thread")]
async fn pull_fills_the_mirror_with_exactly_the_fakes_prospects_and_threads() {
    let world = World::start(700, "").await;
    let out = world.crmsync(&["pull", "--json"]).await;
    assert_exit(&out, 0);
    let report = json(&out);
    assert_eq!(report["prospects"], 700);
    assert_eq!(report["threads"], world.fake.thread_count() as u64);

    let status = json(&world.crmsync(&["status", "--json"]).await);
    assert_eq!(status["mirror"]["prospects"], 700);
    assert_eq!(
        status["mirror"]["threads"],
        world.fake.thread_count() as u64
    );
    assert_eq!(status["last_run"]["mode"], "pull");
    assert_eq!(status["last_run"]["status"], "ok");

    // A second pull leaves the same counts.
    let again = json(&world.crmsync(&["pull", "--json"]).await);
    assert_eq!(again["prospects"], 700);
    assert_eq!(again["threads"], report["threads"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn pull_requests_are_the_minimum() {
    let world = World::start(1200, "").await;
    let out = world.crmsync(&["pull", "--json"]).await;
    assert_exit(&out, 0);
    let report = json(&out);
    // Reference calls (team, account-links, members, tags, statuses) + one list call per 100
    // threads per view, plus the last (possibly short or empty) page of each view.
    let prospects = world.fake.prospects();
    let threads: Vec<_> = prospects.iter().flat_map(|p| p.threads.iter()).collect();
    let default = threads.iter().filter(|t| !t.done && !t.is_request).count();
    let requests = threads.iter().filter(|t| !t.done && t.is_request).count();
    let archived = threads.iter().filter(|t| t.done).count();
    let pages = |n: usize| n.div_ceil(100).max(1) as u64;
    let minimum = 5 + pages(default) + pages(requests) + pages(archived);
    let made = report["requests"].as_u64().unwrap();
    assert!(
        made <= minimum + 3,
        "pull made {made} requests, minimum is {minimum} (+1 per view for an empty last page)"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_thread_that_gets_a_message_mid_walk_is_neither_lost_nor_doubled() {
    let world = World::start(900, "").await;
    // On the 3rd thread-list page, the oldest thread of the default view gets a new message:
    // it jumps to the newest end of the sort order while the walk is under way.
    let mover = {
        let prospects = world.fake.prospects();
        let mut threads: Vec<_> = prospects
            .iter()
            .flat_map(|p| p.threads.iter().cloned())
            .filter(|t| !t.done && !t.is_request)
            .collect();
        threads.sort_by(|a, b| a.sort_timestamp.cmp(&b.sort_timestamp));
        threads[0].id.clone()
    };
    let mut list_calls = 0;
    world.fake.set_hook(move |script, info| {
        if info.route == "/threads" && info.method == "GET" {
            list_calls += 1;
            if list_calls == 3 {
                script.new_message(&mover);
            }
        }
    });
    let out = world.crmsync(&["pull", "--json"]).await;
    assert_exit(&out, 0);
    let report = json(&out);
    assert_eq!(report["prospects"], 900);
    assert_eq!(report["threads"], world.fake.thread_count() as u64);
    let status = json(&world.crmsync(&["status", "--json"]).await);
    assert_eq!(
        status["mirror"]["threads"],
        world.fake.thread_count() as u64
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limits_and_server_errors_are_retried() {
    let world = World::start(300, "").await;
    world.fake.fail_next(1, 429);
    let out = world.crmsync(&["pull", "--json"]).await;
    assert_exit(&out, 0);
    let report = json(&out);
    assert_eq!(report["rate_limited"], 1);
    assert_eq!(report["prospects"], 300);

    world.fake.fail_next(2, 503);
    let out = world.crmsync(&["pull", "--json"]).await;
    assert_exit(&out, 0);
    assert_eq!(json(&out)["prospects"], 300);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_body_fails_clearly_and_leaves_the_mirror_as_it_was() {
    let world = World::start(400, "").await;
    assert_exit(&world.crmsync(&["pull"]).await, 0);
    let before = json(&world.crmsync(&["status", "--json"]).await);

    // Change Inbox so that a completed pull would change the mirror, then break page 3.
    let gone = world.fake.prospects()[0].threads[0].id.clone();
    world.fake.set_thread(&gone, None, Some(true));
    let mut list_calls = 0;
    world.fake.set_hook(move |script, info| {
        if info.route == "/threads" {
            list_calls += 1;
            if list_calls == 3 {
                script.malformed_next(1);
            }
        }
    });
    let out = world.crmsync(&["pull", "--full"]).await;
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("/threads"),
        "the error names the endpoint: {err}"
    );

    let after = json(&world.crmsync(&["status", "--json"]).await);
    assert_eq!(after["mirror"], before["mirror"]);
    assert_eq!(after["last_run"]["status"], "failed");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_token_names_the_env_var_and_never_shows_the_token() {
    let world = World::start(10, "").await;
    let out = world
        .crmsync_with_token(&["pull"], Some("wrong-token-value-123"))
        .await;
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(err.contains("CRMSYNC_TEST_TOKEN"), "{err}");
    assert!(!err.contains("wrong-token-value-123"), "{err}");
    assert!(!stdout(&out).contains("wrong-token-value-123"));

    let out = world.crmsync_with_token(&["pull"], None).await;
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("CRMSYNC_TEST_TOKEN"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_config_names_file_key_and_line_and_exits_2() {
    let world = World::start(1, "[safety]\nmax_change_ratoi = 0.5\n").await;
    let out = world.crmsync(&["pull"]).await;
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(err.contains("sync.toml:"), "{err}");
    assert!(err.contains("max_change_ratoi"), "{err}");
}
