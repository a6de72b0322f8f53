//! The Inbox client against the fake Inbox: paging, retries, errors.
//!
//! Every test starts its own `crmsync_fake::inbox_v1::FakeInbox` on 127.0.0.1:0 and talks to it over
//! real HTTP with a real `crmsync::inbox::Client` (short backoff, no fixed pacing). Timing is
//! asserted only as a lower bound, and only where `Retry-After` must have been waited out.

use std::collections::{BTreeSet, HashSet};
use std::time::{Duration, Instant};

use crmsync::inbox::{
    Client, ClientOptions, ContextUpdate, Error, SortOrder, ThreadQuery, ThreadUpdate,
    TransientCause, View,
};
use crmsync::reconcile::Amount;
use crmsync_fake::RateLimit;
use crmsync_fake::inbox_v1::{FakeConfig, FakeInbox};
use secrecy::SecretString;

const TOKEN: &str = "it-token-7f3a9c";
const TOKEN_ENV: &str = "INBOX_TEST_TOKEN";

async fn start(prospects: usize, rate_limit: RateLimit) -> FakeInbox {
    FakeInbox::start(FakeConfig {
        token: TOKEN.to_owned(),
        prospects,
        rate_limit,
        ..FakeConfig::default()
    })
    .await
    .expect("start the fake Inbox")
}

fn options(fake: &FakeInbox, token: &str) -> ClientOptions {
    let mut opts = ClientOptions::new(fake.base_url(), SecretString::from(token), TOKEN_ENV);
    opts.backoff_base = Duration::from_millis(10);
    opts.min_interval = None;
    opts.timeout = Duration::from_secs(10);
    opts
}

fn client(fake: &FakeInbox) -> Client {
    Client::new(options(fake, TOKEN)).expect("build the client")
}

fn amount(text: &str) -> Amount {
    text.parse().expect("amount")
}

/// Walks one view to the end, returning the thread ids in the order served.
async fn walk(client: &Client, q: ThreadQuery) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor = None;
    loop {
        let page = client
            .threads_page(&q, cursor.as_ref())
            .await
            .expect("page");
        assert!(page.threads.len() <= usize::from(q.limit));
        ids.extend(page.threads.into_iter().map(|t| t.id));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return ids,
        }
    }
}

#[tokio::test]
async fn full_walk_of_every_view_returns_each_thread_once() {
    let fake = start(120, RateLimit::Off).await;
    let client = client(&fake);
    for (limit, sort) in [(100, SortOrder::Asc), (7, SortOrder::Desc)] {
        let mut all = Vec::new();
        for view in [View::Default, View::Requests, View::Archived] {
            let ids = walk(&client, ThreadQuery { view, sort, limit }).await;
            let unique: HashSet<_> = ids.iter().collect();
            assert_eq!(unique.len(), ids.len(), "{view:?} served a thread twice");
            all.extend(ids);
        }
        let unique: HashSet<_> = all.iter().cloned().collect();
        assert_eq!(unique.len(), all.len(), "a thread is in two views");
        assert_eq!(all.len(), fake.thread_count(), "limit {limit}");
        assert!(fake.thread_count() > 100, "the walk should span pages");

        // No-reply is a subset of the default view.
        let default: HashSet<_> = walk(
            &client,
            ThreadQuery {
                view: View::Default,
                sort,
                limit,
            },
        )
        .await
        .into_iter()
        .collect();
        let no_reply = walk(
            &client,
            ThreadQuery {
                view: View::NoReply,
                sort,
                limit,
            },
        )
        .await;
        assert!(no_reply.iter().all(|id| default.contains(id)));
    }
    assert_eq!(client.stats().retries, 0);
}

#[tokio::test]
async fn walk_sees_a_thread_that_moves_mid_walk() {
    let fake = start(60, RateLimit::Off).await;
    let client = client(&fake);
    let q = ThreadQuery {
        limit: 10,
        ..ThreadQuery::walk(View::Default)
    };
    let first = client.threads_page(&q, None).await.expect("first page");
    let mover = first.threads[0].id.clone();
    fake.new_message(&mover);
    let mut seen: Vec<String> = first.threads.into_iter().map(|t| t.id).collect();
    let mut cursor = first.next_cursor;
    while let Some(c) = cursor {
        let page = client.threads_page(&q, Some(&c)).await.expect("page");
        seen.extend(page.threads.into_iter().map(|t| t.id));
        cursor = page.next_cursor;
    }
    // Ascending order: the thread that got a message lands behind the cursor and is seen again.
    assert_eq!(seen.iter().filter(|id| **id == mover).count(), 2);
}

#[tokio::test]
async fn rate_limited_then_success_honours_retry_after() {
    let fake = start(5, RateLimit::Off).await;
    let client = client(&fake);
    fake.fail_next(1, 429);
    let started = Instant::now();
    let team = client.team().await.expect("team after one 429");
    assert!(!team.id.is_empty());
    // The fake sends `Retry-After: 1`; the backoff alone would have waited ~10 ms.
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "{:?}",
        started.elapsed()
    );
    let stats = client.stats();
    assert_eq!(
        (stats.requests, stats.retries, stats.rate_limited),
        (2, 1, 1)
    );
    assert_eq!(fake.stats().rate_limited, 1);
}

#[tokio::test]
async fn persistent_rate_limit_ends_in_rate_limited() {
    let fake = start(5, RateLimit::Off).await;
    let mut opts = options(&fake, TOKEN);
    opts.max_attempts = 2;
    let client = Client::new(opts).expect("client");
    fake.fail_next(5, 429);
    let error = client.tags().await.expect_err("429 twice");
    assert!(
        matches!(error, Error::RateLimited { retry_after: Some(d) } if d == Duration::from_secs(1)),
        "{error:?}"
    );
    assert!(error.is_retryable());
    assert_eq!(client.stats().requests, 2);
    assert_eq!(fake.stats().rate_limited, 2);
}

#[tokio::test]
async fn server_errors_are_retried_then_succeed() {
    let fake = start(5, RateLimit::Off).await;
    let client = client(&fake);
    fake.fail_next(1, 500);
    fake.fail_next(1, 502);
    let tags = client.tags().await.expect("tags after two 5xx");
    assert_eq!(tags.len(), fake.tags().len());
    let stats = client.stats();
    assert_eq!(
        (stats.requests, stats.retries, stats.server_errors),
        (3, 2, 2)
    );
    assert_eq!(fake.stats().server_errors, 2);
}

#[tokio::test]
async fn persistent_server_errors_fail_after_max_attempts() {
    let fake = start(5, RateLimit::Off).await;
    let mut opts = options(&fake, TOKEN);
    opts.max_attempts = 3;
    let client = Client::new(opts).expect("client");
    fake.fail_next(10, 503);
    let error = client.members().await.expect_err("503 every time");
    match &error {
        Error::Transient {
            endpoint,
            attempts,
            source: TransientCause::Status { status, .. },
        } => {
            assert_eq!(
                (endpoint.as_str(), *attempts, *status),
                ("GET /members", 3, 503)
            );
        }
        other => panic!("expected Transient after 3 attempts, got {other:?}"),
    }
    assert!(error.is_retryable());
    assert!(error.to_string().contains("3 attempt"), "{error}");
    assert_eq!(fake.stats().server_errors, 3);
    assert_eq!(client.stats().requests, 3);
}

#[tokio::test]
async fn a_refused_connection_is_unreachable_and_not_retried() {
    let fake = start(1, RateLimit::Off).await;
    let mut opts = options(&fake, TOKEN);
    opts.max_attempts = 3;
    let base_url = fake.base_url();
    drop(fake);
    // Give the listener a moment to close; a refused connection is the expected outcome.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let client = Client::new(opts).expect("client");
    let error = client.team().await.expect_err("server is gone");
    assert!(
        matches!(&error, Error::Unreachable { base_url: url, .. } if *url == base_url),
        "{error:?}"
    );
    assert!(!error.is_retryable());
    assert_eq!(client.stats().requests, 1, "one attempt");
    assert!(error.to_string().contains("connection refused"), "{error}");
}

#[tokio::test]
async fn network_errors_after_connecting_are_transient() {
    // A server that accepts connections and closes them before answering.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            drop(socket);
        }
    });
    let mut opts = ClientOptions::new(
        format!("http://{addr}/api/v1"),
        SecretString::from(TOKEN),
        TOKEN_ENV,
    );
    opts.backoff_base = Duration::from_millis(10);
    opts.min_interval = None;
    opts.max_attempts = 2;
    let client = Client::new(opts).expect("client");
    let error = client.team().await.expect_err("no answer");
    server.abort();
    assert!(
        matches!(
            error,
            Error::Transient {
                attempts: 2,
                source: TransientCause::Network(_),
                ..
            }
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn malformed_body_is_a_decode_error_naming_the_endpoint() {
    let fake = start(20, RateLimit::Off).await;
    let client = client(&fake);
    fake.malformed_next(1);
    let error = client
        .threads_page(&ThreadQuery::walk(View::Default), None)
        .await
        .expect_err("truncated JSON");
    match &error {
        Error::Decode { endpoint, .. } => assert_eq!(endpoint, "GET /threads"),
        other => panic!("expected Decode, got {other:?}"),
    }
    assert!(error.to_string().contains("GET /threads"), "{error}");
    assert!(!error.is_retryable());
    assert_eq!(client.stats().requests, 1, "decode errors are not retried");
}

#[tokio::test]
async fn wrong_token_is_unauthorized_and_never_shown() {
    let fake = start(5, RateLimit::Off).await;
    let wrong = "wrong-token-d41d8cd98f";
    let client = Client::new(options(&fake, wrong)).expect("client");
    let error = client.team().await.expect_err("401");
    assert!(
        matches!(&error, Error::Unauthorized { token_env } if token_env == TOKEN_ENV),
        "{error:?}"
    );
    let shown = format!("{error} {error:?} {client:?}");
    assert!(shown.contains(TOKEN_ENV), "{shown}");
    assert!(!shown.contains(wrong), "{shown}");
    assert!(!error.is_retryable());
    assert_eq!(client.stats().requests, 1);
    assert_eq!(fake.stats().unauthorized, 1);
}

#[tokio::test]
async fn reference_data_and_create_tag() {
    let fake = start(10, RateLimit::documented()).await;
    let client = client(&fake);
    let team = client.team().await.expect("team");
    assert!(!team.currency.is_empty());
    let links = client.account_links().await.expect("account links");
    assert_eq!(links.len(), fake.account_links().len());
    let members = client.members().await.expect("members");
    let emails: BTreeSet<_> = members.iter().map(|m| m.email.clone()).collect();
    let expected: BTreeSet<_> = fake.members().into_iter().map(|(_, e)| e).collect();
    assert_eq!(emails, expected);
    assert_eq!(
        client.statuses().await.expect("statuses").len(),
        fake.statuses().len()
    );

    let tag = client.create_tag("From CRM").await.expect("create tag");
    assert_eq!(tag.name, "From CRM");
    let tags = client.tags().await.expect("tags");
    assert!(tags.iter().any(|t| t.id == tag.id && t.name == "From CRM"));

    // Creating it again (another client did, or our answer was lost) yields the same tag.
    let again = client.create_tag("From CRM").await.expect("existing tag");
    assert_eq!(again, tag);
    assert_eq!(fake.stats().count("POST", "/tags"), 2);
    assert_eq!(
        fake.tags().iter().filter(|(_, n)| n == "From CRM").count(),
        1
    );

    // The fake reports its budget on every response; the client keeps the last one.
    let limit = client.stats().last_limit.expect("X-RateLimit-* recorded");
    assert_eq!(limit.limit, 300);
    assert!(limit.remaining < 300);
}

#[tokio::test]
async fn lookup_prospect_known_and_unknown() {
    let fake = start(10, RateLimit::Off).await;
    let client = client(&fake);
    assert_eq!(
        client
            .lookup_prospect("999999999999")
            .await
            .expect("lookup"),
        None
    );
    let known = &fake.prospects()[3];
    let found = client
        .lookup_prospect(&known.platform_id)
        .await
        .expect("lookup")
        .expect("known prospect");
    assert_eq!(
        found.external_id.as_deref(),
        Some(known.external_id.as_str())
    );
    assert_eq!(found.username, known.username);
    let threads = found
        .context
        .threads
        .expect("lookup carries context.threads");
    assert_eq!(threads.len(), known.threads.len());
}

#[tokio::test]
async fn not_found_and_invalid_ids() {
    let fake = start(5, RateLimit::Off).await;
    let client = client(&fake);
    let error = client
        .prospect("zzzzzzzzzzzzzzzzzzzzzzzz")
        .await
        .expect_err("404");
    assert!(matches!(error, Error::NotFound { .. }), "{error:?}");
    let error = client
        .thread("zzzzzzzzzzzzzzzzzzzzzzzz")
        .await
        .expect_err("404");
    assert!(matches!(error, Error::NotFound { .. }), "{error:?}");
    assert_eq!(client.stats().retries, 0);

    let before = fake.stats().requests;
    for bad in ["../team", "ABC", "", "a?b"] {
        let error = client.thread(bad).await.expect_err("invalid id");
        assert!(matches!(error, Error::Config(_)), "{error:?}");
    }
    let error = client
        .patch_context(
            &fake.prospects()[0].external_id,
            &ContextUpdate {
                add_tags: vec!["Not An Id".into()],
                ..ContextUpdate::default()
            },
        )
        .await
        .expect_err("invalid tag id");
    assert!(matches!(error, Error::Config(_)), "{error:?}");
    assert_eq!(fake.stats().requests, before, "nothing malformed was sent");
}

#[tokio::test]
async fn patch_context_then_prospect_shows_the_change() {
    let fake = start(10, RateLimit::Off).await;
    let client = client(&fake);
    let target = fake.prospects()[1].clone();
    let id = target.external_id.clone();
    let before = client.prospect(&id).await.expect("prospect");
    let tags = fake.tags();
    let add = tags
        .iter()
        .find(|(tag_id, _)| !before.context.tags.contains(tag_id))
        .expect("a tag the prospect lacks")
        .0
        .clone();
    let status = fake.statuses()[0].0.clone();
    let patch = ContextUpdate {
        notes: Some(Some("Met at the conference.".into())),
        valuation: Some(Some(amount("1000.50"))),
        status_id: Some(Some(status.clone())),
        add_tags: vec![add.clone()],
        remove_tags: before.context.tags.clone(),
        ..ContextUpdate::default()
    };
    let returned = client.patch_context(&id, &patch).await.expect("patch");
    let fetched = client.prospect(&id).await.expect("prospect after");
    for prospect in [&returned, &fetched] {
        assert_eq!(prospect.context.tags, vec![add.clone()]);
        assert_eq!(prospect.context.status_id.as_deref(), Some(status.as_str()));
        assert_eq!(prospect.context.valuation, Some(amount("1000.5")));
        assert_eq!(
            prospect.context.notes.as_deref(),
            Some("Met at the conference.")
        );
    }
    // On the wire the valuation was a JSON number.
    let write = fake.write_log().pop().expect("the PATCH was logged");
    assert_eq!(write.body["valuation"], serde_json::json!(1000.5));

    // Absent fields are kept, null clears.
    let clear = ContextUpdate {
        valuation: Some(None),
        notes: Some(None),
        ..ContextUpdate::default()
    };
    let cleared = client.patch_context(&id, &clear).await.expect("clear");
    assert_eq!(cleared.context.valuation, None);
    assert_eq!(cleared.context.notes, None);
    assert_eq!(cleared.context.status_id.as_deref(), Some(status.as_str()));
    assert_eq!(fake.prospect(&id).expect("fake prospect").valuation, None);
}

#[tokio::test]
async fn patch_thread_sets_done_and_assignee() {
    let fake = start(10, RateLimit::Off).await;
    let client = client(&fake);
    let thread_id = fake.prospects()[2].threads[0].id.clone();
    let member = fake.members()[0].0.clone();
    let patch = ThreadUpdate {
        done: Some(true),
        assignee_id: Some(Some(member.clone())),
    };
    let returned = client
        .patch_thread(&thread_id, &patch)
        .await
        .expect("patch thread");
    assert!(returned.done);
    assert_eq!(returned.assignee_id.as_deref(), Some(member.as_str()));
    let fetched = client.thread(&thread_id).await.expect("thread");
    assert!(fetched.done);
    let unassign = ThreadUpdate {
        done: None,
        assignee_id: Some(None),
    };
    let returned = client
        .patch_thread(&thread_id, &unassign)
        .await
        .expect("unassign");
    assert_eq!(returned.assignee_id, None);
    assert!(returned.done, "absent `done` is kept");
}

#[tokio::test]
async fn events_page_by_seq() {
    let fake = start(10, RateLimit::Off).await;
    let client = client(&fake);
    let start_seq = client.events(None, 1000).await.expect("events").last_seq;
    let id = fake.prospects()[0].external_id.clone();
    for note in ["one", "two", "three"] {
        let patch = ContextUpdate {
            notes: Some(Some(note.into())),
            ..ContextUpdate::default()
        };
        client.patch_context(&id, &patch).await.expect("patch");
    }
    let mut after = start_seq;
    let mut seen = Vec::new();
    loop {
        let page = client.events(after, 2).await.expect("events page");
        assert!(page.events.len() <= 2);
        seen.extend(page.events.iter().map(|e| (e.seq, e.event_type.clone())));
        if page.last_seq.is_some() {
            after = page.last_seq;
        }
        if !page.has_more {
            break;
        }
    }
    let notes = seen
        .iter()
        .filter(|(_, t)| t == "prospect.notesChanged")
        .count();
    assert_eq!(notes, 3, "{seen:?}");
    assert!(
        seen.windows(2).all(|w| w[0].0 < w[1].0),
        "seq increases: {seen:?}"
    );
}

#[tokio::test]
async fn small_rate_limit_window_is_survived() {
    // 8 requests per second for the whole team: the client must slow down on the
    // `X-RateLimit-*` headers, and every call must still succeed.
    let fake = start(5, RateLimit::Windows(vec![(8, Duration::from_secs(1))])).await;
    let client = client(&fake);
    for _ in 0..12 {
        client.tags().await.expect("tags under a tight limit");
    }
    let stats = client.stats();
    let limit = stats.last_limit.expect("headers recorded");
    assert_eq!(limit.limit, 8);
    // With nothing left the client waits for `X-RateLimit-Reset` instead of meeting a 429.
    assert_eq!(stats.rate_limited, 0, "{stats:?}");
    assert_eq!(fake.stats().rate_limited, 0);
}
