//! Hostile input on Inbox API v2, through the real binary: a proxy in front of the v2 fake
//! (`support::Proxy`) that answers an HTML page instead of JSON, renames a contact to an id
//! that is a path step, pages a thread list forever, or echoes the token; and CRM tags Inbox
//! does not have. Each case syncs what it can or stops with one clear line, in bounded time,
//! and nothing odd reaches a URL.

use std::process::Output;
use std::time::{Duration, Instant};

use crmsync_fake::inbox_v2::ContactView;

use crate::support::the_error_line;
use crate::support::{Proxy, TOKEN, TOKEN_ENV, assert_exit, col, html_page, json, stdout};
use crate::v2::{V2World, agreeing_row, baseline_in, write_rows};
use crate::v2_matrix::{api_writes, assert_second_sync_writes_nothing, cell, edit_crm, sync};

/// Points the world's config at `proxy`, with `limits` added to `[limits]`.
fn point_at(world: &V2World, proxy: &Proxy, limits: &str) {
    world.write_config_with("", limits);
    let text = std::fs::read_to_string(world.config()).unwrap();
    let text = text.replace(&world.fake.base_url(), &proxy.base_url());
    std::fs::write(world.config(), text).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_html_page_instead_of_json_on_v2_fails_clearly_and_changes_nothing() {
    let (world, _) = baseline_in(40, 6, "").await;
    let before = json(&world.crmsync(&["status", "--json"]).await);
    let proxy = Proxy::start(
        &world.fake,
        Box::new(|method, path, _, status, body| {
            if method == "GET" && path.ends_with("/threads") {
                (200, html_page(), Some("text/html; charset=utf-8"))
            } else {
                (status, body, None)
            }
        }),
    )
    .await;
    point_at(&world, &proxy, "");
    edit_crm(&world, |rows| {
        rows[0][col("Notes")] = "not pushed while Inbox answers HTML".into()
    });
    let line = the_error_line(&world.crmsync(&["sync", "--force", "--full"]).await);
    assert!(line.contains("GET /threads"), "{line}");
    assert!(line.contains("could not be decoded"), "{line}");
    assert!(line.contains("<!DOCTYPE html>"), "{line}");
    assert_eq!(api_writes(&world), 0);
    let after = json(&world.crmsync(&["status", "--json"]).await);
    assert_eq!(after["mirror"], before["mirror"]);

    // A gateway that answers every call with an HTML 502: retried, then one clear line.
    drop(proxy);
    let proxy = Proxy::start(
        &world.fake,
        Box::new(|_, _, _, _, _| (502, html_page(), Some("text/html"))),
    )
    .await;
    point_at(&world, &proxy, "max_attempts = 3\n");
    let line = the_error_line(&world.crmsync(&["pull"]).await);
    assert!(line.contains("502"), "{line}");
    assert!(line.contains("3 attempt"), "{line}");
    assert_eq!(proxy.seen().len(), 3, "{:?}", proxy.seen());
}

/// Whether a request path (without the query) is one of the routes a sync may write to, with
/// one whole segment per id: `/contacts/{id}`, `/contacts/{id}/tags/{ref}` or `/threads/{id}`.
/// An id segment is percent-encoded and not a path step (`.`, `..`).
fn a_contact_or_thread_write(path: &str) -> bool {
    let rest = path.strip_prefix("/api/v2/").unwrap_or("");
    let segments: Vec<&str> = rest.split('/').collect();
    let id = |s: &str| {
        let unreserved = |b: u8| b.is_ascii_alphanumeric() || b"-._~%".contains(&b);
        !s.is_empty() && s != "." && s != ".." && s.bytes().all(unreserved)
    };
    match segments.as_slice() {
        ["contacts", c] | ["threads", c] => id(c),
        ["contacts", c, "tags", t] => id(c) && !t.is_empty(),
        _ => false,
    }
}

/// The proxy serves the first single-thread X contact with a tag (the "victim") under
/// `hostile` in every answer. A sync links it, then the CRM edits the victim's notes and tags
/// and three other contacts' notes. Returns the world, the proxy, the linked contacts, the
/// victim's index and the second sync's output.
async fn sync_with_a_hostile_contact_id(
    hostile: &'static str,
) -> (V2World, Proxy, Vec<ContactView>, usize, Output) {
    let (world, c) = baseline_in(60, 8, "").await;
    let victim = (0..c.len()).find(|i| !c[*i].tags.is_empty()).unwrap();
    let from = format!("\"{}\"", c[victim].id);
    let to = format!("\"{hostile}\"");
    let proxy = Proxy::start(
        &world.fake,
        Box::new(move |_, _, _, status, body| {
            let text = String::from_utf8_lossy(&body).replace(&from, &to);
            (status, text.into_bytes(), None)
        }),
    )
    .await;
    point_at(&world, &proxy, "");
    // A fresh mirror: crmsync only ever learns the victim under the hostile id.
    std::fs::remove_dir_all(world.dir.path().join("state")).unwrap();
    let first = sync(&world, &["--force"]).await;
    assert_eq!(first["linked"], 8, "{first}");
    edit_crm(&world, |rows| {
        rows[victim][col("Tags")] = String::new();
        for (i, row) in rows.iter_mut().enumerate().take(4) {
            row[col("Notes")] = format!("CRM edit {i}");
        }
        rows[victim][col("Notes")] = "CRM edit of the victim".into();
    });
    let out = world.crmsync(&["sync", "--json"]).await;
    (world, proxy, c, victim, out)
}

async fn a_hostile_contact_id_never_reaches_a_url(hostile: &'static str) {
    let (world, proxy, c, victim, out) = sync_with_a_hostile_contact_id(hostile).await;
    for request in proxy.seen() {
        let (method, target) = request.split_once(' ').unwrap();
        let path = target.split('?').next().unwrap();
        if method != "GET" {
            assert!(a_contact_or_thread_write(path), "a write went to {request}");
        }
    }
    let now = world.fake.contact(&c[victim].id).unwrap();
    assert_ne!(now.notes.as_deref(), Some("CRM edit of the victim"));
    assert!(!now.tags.is_empty(), "the victim's tags were not removed");
    // One bad id does not stop the other contacts' pushes: it is a conflict of its own.
    assert_exit(&out, 0);
    let report = json(&out);
    let refused = report["conflict_list"].as_array().unwrap().iter();
    let fields: Vec<&str> = refused
        .filter(|x| x["kind"] == "rejected-by-api")
        .map(|x| x["field"].as_str().unwrap())
        .collect();
    assert!(
        fields.contains(&"notes") && fields.contains(&"tags"),
        "{report}"
    );
    for (i, contact) in c.iter().enumerate().take(4).filter(|(i, _)| *i != victim) {
        let notes = world.fake.contact(&contact.id).unwrap().notes;
        assert_eq!(notes, Some(format!("CRM edit {i}")), "{}", stdout(&out));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_v2_contact_id_that_is_a_parent_step_never_reaches_a_url() {
    a_hostile_contact_id_never_reaches_a_url("..").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_v2_contact_id_that_is_a_current_step_never_reaches_a_url() {
    a_hostile_contact_id_never_reaches_a_url(".").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_v2_contact_id_with_slashes_and_a_query_never_reaches_a_url_unencoded() {
    a_hostile_contact_id_never_reaches_a_url("../../team?x=1#f").await;
}

/// Runs `sync --full` against a thread list of 10 a page that never ends, killing it after
/// 30 s. With `fresh`, the server ignores the cursor it is given (always the first page) and
/// hands out a new cursor each time; otherwise it hands back the cursor it was given. Returns
/// whether the run ended by itself, the requests it made, and its output.
async fn endless_thread_list(fresh: bool) -> (bool, usize, Output) {
    let world = V2World::start(60).await;
    let counter = std::sync::atomic::AtomicU64::new(0);
    let proxy = Proxy::start_with(
        &world.fake,
        Box::new(move |path, path_and_query| {
            if !path.ends_with("/threads") {
                return path_and_query.to_string();
            }
            let (path, query) = path_and_query
                .split_once('?')
                .unwrap_or((path_and_query, ""));
            let kept: Vec<String> = query
                .split('&')
                .filter(|pair| !(fresh && pair.starts_with("cursor=")))
                .map(|pair| {
                    if pair.starts_with("limit=") {
                        "limit=10".into()
                    } else {
                        pair.to_string()
                    }
                })
                .collect();
            format!("{path}?{}", kept.join("&"))
        }),
        Box::new(move |method, path, query, status, body| {
            if method != "GET" || !path.ends_with("/threads") || status != 200 {
                return (status, body, None);
            }
            let mut page: serde_json::Value = serde_json::from_slice(&body).unwrap();
            let asked = query.and_then(|q| q.split('&').find_map(|p| p.strip_prefix("cursor=")));
            let next = if fresh {
                let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Some(serde_json::json!(format!("fresh{n}")))
            } else {
                asked
                    .map(|c| serde_json::json!(c))
                    .or(Some(page["nextCursor"].clone()))
            };
            page["nextCursor"] = next.unwrap();
            (200, serde_json::to_vec(&page).unwrap(), None)
        }),
    )
    .await;
    point_at(&world, &proxy, "max_requests_per_run = 400\n");
    let contacts = world.single_thread_x_contacts();
    let rows: Vec<Vec<String>> = (contacts.iter().enumerate())
        .map(|(i, c)| agreeing_row(&world, i, c))
        .collect();
    write_rows(&world.export(), &rows);
    let started = Instant::now();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_crmsync"))
        .arg("--config")
        .arg(world.config())
        .args(["sync", "--force", "--full"])
        .env(TOKEN_ENV, TOKEN)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = started + Duration::from_secs(30);
    let finished = loop {
        if child.try_wait().unwrap().is_some() {
            break true;
        }
        if Instant::now() > deadline {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    if !finished {
        child.kill().unwrap();
    }
    let out = child.wait_with_output().unwrap();
    (finished, proxy.seen().len(), out)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_v2_thread_cursor_that_repeats_stops_the_run() {
    let (finished, requests, out) = endless_thread_list(false).await;
    assert!(
        finished,
        "still paging after 30 s and {requests} requests (killed)"
    );
    let line = the_error_line(&out);
    assert!(line.contains("/threads"), "{line}");
    assert!(requests <= 50, "{requests} requests");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_v2_thread_list_that_never_advances_stops_the_run_in_bounded_time() {
    let (finished, requests, out) = endless_thread_list(true).await;
    assert!(
        finished,
        "still paging after 30 s and {requests} requests (killed)"
    );
    the_error_line(&out);
    assert!(requests <= 450, "{requests} requests");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_v2_server_that_echoes_the_token_back_does_not_get_it_printed() {
    let (world, _) = baseline_in(40, 4, "").await;
    let echo = format!("Authorization: Bearer {TOKEN}");
    let proxy = Proxy::start(
        &world.fake,
        Box::new(move |_, path, _, status, body| {
            if path.ends_with("/team") {
                let body = serde_json::json!({"error": {"code": "badHeader", "message": format!("rejected header {echo}"), "requestId": echo}});
                (400, body.to_string().into_bytes(), Some("application/json"))
            } else {
                (status, body, None)
            }
        }),
    )
    .await;
    point_at(&world, &proxy, "");
    let out = world.crmsync(&["sync", "-vv"]).await;
    the_error_line(&out);
    assert!(!stdout(&out).contains(TOKEN));
    // The same through the decode path (a 200 that is not JSON), logged as JSON.
    drop(proxy);
    let proxy = Proxy::start(
        &world.fake,
        Box::new(move |_, path, _, status, body| {
            if path.ends_with("/tags") {
                let page = format!("<pre>debug: Authorization: Bearer {TOKEN}</pre>");
                (200, page.into_bytes(), Some("text/html"))
            } else {
                (status, body, None)
            }
        }),
    )
    .await;
    point_at(&world, &proxy, "");
    let out = world
        .crmsync(&["sync", "-vv", "--log-format", "json"])
        .await;
    let line = the_error_line(&out);
    assert!(line.contains("GET /tags"), "{line}");
    let runs = world.crmsync(&["runs", "--json"]).await;
    for text in [stdout(&out), stdout(&runs)] {
        assert!(!text.contains(TOKEN), "{text}");
    }
    let mirror = std::fs::read(world.dir.path().join("state").join("mirror.db")).unwrap();
    assert!(
        !mirror.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()),
        "the token is in the mirror"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_tags_on_v2_are_unmapped_and_created_only_with_create_missing_tags() {
    let (world, c) = baseline_in(40, 6, "").await;
    let new_tag = "Brand New/Tag 🔥";
    let tags_before = world.fake.tags();
    edit_crm(&world, |rows| {
        rows[0][col("Tags")] = format!("{};{new_tag}", rows[0][col("Tags")]);
        rows[0][col("Notes")] = "the notes still cross".into();
    });
    let report = sync(&world, &[]).await;
    let list = report["conflict_list"].as_array().unwrap();
    let unmapped: Vec<_> = list
        .iter()
        .filter(|x| x["kind"] == "unmapped" && x["field"] == "tags")
        .collect();
    assert_eq!(unmapped.len(), 1, "{report}");
    assert!(
        unmapped[0]["detail"].as_str().unwrap().contains(new_tag),
        "{}",
        unmapped[0]
    );
    assert_eq!(world.fake.tags(), tags_before, "no tag was created");
    let now = world.fake.contact(&c[0].id).unwrap();
    assert!(!now.tags.iter().any(|t| t == new_tag));
    assert_eq!(now.tags, c[0].tags, "no tag call for the unmapped set");
    assert_eq!(now.notes.as_deref(), Some("the notes still cross"));
    let again = sync(&world, &[]).await;
    assert_eq!(again["conflicts"]["opened"], 0, "{again}");
    assert_eq!(again["writes"]["inbox"], 0, "{again}");

    // With create_missing_tags the tag is made (once) and set.
    world.write_config_with("", "[safety]\ncreate_missing_tags = true\n");
    let writes = api_writes(&world);
    let report = sync(&world, &[]).await;
    assert_eq!(report["exit"], 0, "{report}");
    let log = world.fake.write_log();
    let routes: Vec<&str> = log[writes as usize..]
        .iter()
        .map(|w| w.route.as_str())
        .collect();
    assert_eq!(
        routes,
        ["POST /tags", "PUT /contacts/{contactId}/tags/{tagRef}"],
        "{routes:?}"
    );
    assert!(world.fake.tags().iter().any(|(_, name)| name == new_tag));
    assert!(
        world
            .fake
            .contact(&c[0].id)
            .unwrap()
            .tags
            .iter()
            .any(|t| t == new_tag)
    );
    assert!(cell(&world, 0, "Tags").contains(new_tag));
    assert_second_sync_writes_nothing(&world).await;
}
