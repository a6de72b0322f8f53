//! Behaviour tests of the fake Inbox over real HTTP (reqwest against `127.0.0.1:0`):
//! pagination, strict validation, the context patch and its fan-out, events, auth, rate
//! limits, faults, and seeding.
//!
//! These tests must only talk to the fake through HTTP and its public scripting API; they must
//! not use any Inbox client, which the fake exists to cross-check.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use super::*;

fn config(prospects: usize) -> FakeConfig {
    FakeConfig {
        prospects,
        rate_limit: RateLimit::Off,
        ..FakeConfig::default()
    }
}

async fn start(prospects: usize) -> (FakeInbox, Api) {
    let fake = FakeInbox::start(config(prospects)).await.unwrap();
    let api = Api::new(&fake);
    (fake, api)
}

fn ids(threads: &[Value]) -> Vec<String> {
    threads
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect()
}

fn sort_key(thread: &Value) -> (String, String) {
    let ts = thread["computedSortTimestamp"].as_str().unwrap().to_owned();
    (ts, thread["id"].as_str().unwrap().to_owned())
}

/// A prospect with at least two threads.
fn multi_thread_prospect(fake: &FakeInbox) -> ProspectView {
    fake.prospects()
        .into_iter()
        .find(|p| p.threads.len() >= 2)
        .expect("seed has a multi-thread prospect")
}

#[tokio::test]
async fn pagination_walks_every_view_and_returns_each_thread_exactly_once() {
    let (fake, api) = start(150).await;
    let all: HashSet<String> = fake
        .prospects()
        .iter()
        .flat_map(|p| p.threads.iter().map(|t| t.id.clone()))
        .collect();
    assert_eq!(all.len(), fake.thread_count());
    let mut union = HashSet::new();
    for view in ["default", "requests", "archived"] {
        let threads = api.walk(view, false, 17, false).await;
        let keys: Vec<_> = threads.iter().map(sort_key).collect();
        assert!(
            keys.windows(2).all(|w| w[0] > w[1]),
            "{view} not strictly desc"
        );
        for id in ids(&threads) {
            assert!(union.insert(id), "thread in two views or twice in {view}");
        }
    }
    assert_eq!(union, all);
    let default: HashSet<_> = ids(&api.walk("default", false, 100, false).await)
        .into_iter()
        .collect();
    let no_reply = api.walk("no-reply", false, 100, false).await;
    assert!(!no_reply.is_empty());
    assert!(ids(&no_reply).iter().all(|id| default.contains(id)));
    let requests = api.walk("requests", false, 100, false).await;
    assert!(requests.iter().all(|t| t["isRequest"] == json!(true)));
    let archived = api.walk("archived", false, 100, false).await;
    assert!(archived.iter().all(|t| t["done"] == json!(true)));
}

#[tokio::test]
async fn ascending_walk_is_the_reverse_of_descending_and_the_deprecated_cursor_matches() {
    let (_fake, api) = start(120).await;
    let desc = ids(&api.walk("default", false, 7, false).await);
    let mut asc = ids(&api.walk("default", true, 11, false).await);
    asc.reverse();
    assert_eq!(desc, asc);
    let deprecated = ids(&api.walk("default", false, 7, true).await);
    assert_eq!(desc, deprecated);
    let first = api.ok("/threads").await;
    assert_eq!(
        first["threads"].as_array().unwrap().len(),
        20,
        "default limit"
    );
}

#[tokio::test]
async fn thread_query_validation_is_strict() {
    let (_fake, api) = start(10).await;
    let ts = "2025-01-15T10:30:00.000Z";
    for bad in [
        "/threads?cursorId=abc".to_owned(),
        format!("/threads?cursorTimestamp={ts}"),
        "/threads?cursor[id]=abc".to_owned(),
        format!("/threads?cursorId=abc&cursor[timestamp]={ts}"),
        format!("/threads?cursorId=abc&cursorTimestamp={ts}&cursor[id]=abc&cursor[timestamp]={ts}"),
        format!("/threads?cursorId=ABC&cursorTimestamp={ts}"),
        "/threads?cursorId=abc&cursorTimestamp=yesterday".to_owned(),
        "/threads?limit=101".to_owned(),
        "/threads?limit=0".to_owned(),
        "/threads?limit=ten".to_owned(),
        "/threads?limit=5&limit=6".to_owned(),
        "/threads?inbox=all".to_owned(),
        "/threads?inboxView=default".to_owned(),
        "/threads?filters[sortOrder]=up".to_owned(),
        "/threads?filter[tagIds][0]=abc".to_owned(),
        "/threads?filters[tags][noTags]=yes".to_owned(),
        "/threads?accountLinkId=abc".to_owned(),
        "/team?verbose=true".to_owned(),
        "/events?limit=1001".to_owned(),
        "/events?afterSeq=-1".to_owned(),
        "/prospects/lookup".to_owned(),
    ] {
        let reply = api.get(&bad).await;
        assert_eq!(reply.error_code(400), "BAD_REQUEST", "{bad}");
    }
    let ok = api.get("/threads?limit=100&inbox=default").await;
    assert_eq!(ok.status, 200);
}

#[tokio::test]
async fn thread_filters_select_by_tag_status_assignee_and_account() {
    let (fake, api) = start(200).await;
    let (tag_id, tag_name) = fake.tags()[0].clone();
    let tagged = api
        .walk_filtered(&format!("filters[tags][selectedIds][0]={tag_id}"))
        .await;
    assert!(!tagged.is_empty());
    for thread in &tagged {
        assert!(
            thread["prospect"]["context"]["tags"]
                .as_array()
                .unwrap()
                .contains(&json!(tag_id))
        );
    }
    let untagged = api.walk_filtered("filters[tags][noTags]=true").await;
    assert!(
        untagged
            .iter()
            .all(|t| t["prospect"]["context"]["tags"] == json!([]))
    );
    let (link_id, _) = fake.account_links()[1].clone();
    let by_link = api
        .walk_filtered(&format!("accountLinkIds[]={link_id}"))
        .await;
    assert!(!by_link.is_empty());
    assert!(by_link.iter().all(|t| t["accountLinkId"] == json!(link_id)));
    let unassigned = api
        .walk_filtered("filters[assignees][noAssignee]=true")
        .await;
    assert!(unassigned.iter().all(|t| t["assigneeId"].is_null()));
    let campaigns = api
        .walk_filtered("filters[campaigns][selectedIds][]=abc")
        .await;
    assert!(campaigns.is_empty());
    assert!(!tag_name.is_empty());
}

#[tokio::test]
async fn new_message_mid_walk_moves_the_thread_to_the_front() {
    let (fake, api) = start(60).await;
    let first_page = api.ok("/threads?limit=5").await;
    let newest_before = sort_key(&first_page["threads"][0]);
    let last = api.walk("default", false, 100, false).await;
    let mover = last.last().unwrap()["id"].as_str().unwrap().to_owned();
    let mover_for_hook = mover.clone();
    let mut seen = 0;
    fake.set_hook(move |script, req| {
        if req.method == "GET" && req.route == "/threads" {
            seen += 1;
            if seen == 2 {
                script.new_message(&mover_for_hook);
            }
        }
    });
    // A descending walk already past the front misses the mover (documented keyset behaviour).
    let walked = ids(&api.walk("default", false, 10, false).await);
    assert!(!walked.contains(&mover));
    fake.clear_hook();
    let front = api.ok("/threads?limit=1").await;
    assert_eq!(front["threads"][0]["id"], json!(mover));
    assert!(sort_key(&front["threads"][0]).0 > newest_before.0);
    assert_eq!(
        front["threads"][0]["lastMessageTimestamp"],
        front["threads"][0]["computedSortTimestamp"]
    );
    let created: Vec<_> = fake
        .events()
        .into_iter()
        .filter(|e| e["type"] == "message.created")
        .collect();
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["data"]["thread"]["id"], json!(mover));
}

#[tokio::test]
async fn patch_context_applies_fields_and_fans_out_to_every_thread() {
    let (fake, api) = start(80).await;
    let prospect = multi_thread_prospect(&fake);
    let (member_id, member_email) = fake.members()[1].clone();
    let tags = fake.tags();
    let statuses = fake.statuses();
    let add: Vec<_> = tags
        .iter()
        .filter(|(_, name)| !prospect.tags.contains(name))
        .take(2)
        .map(|(id, _)| id.clone())
        .collect();
    let body = json!({
        "addTags": add,
        "statusId": statuses[2].0,
        "valuation": 1234.5,
        "notes": "line one\nline two",
        "assigneeId": member_id,
        "done": true,
    });
    let path = format!("/prospects/{}/context", prospect.external_id);
    let reply = api.patch(&path, body.clone()).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let fresh = reply.json();
    assert_eq!(fresh["externalId"], json!(prospect.external_id));
    assert_eq!(fresh["context"]["valuation"], json!(1234.5));
    assert_eq!(fresh["context"]["statusId"], json!(statuses[2].0));
    assert_eq!(fresh["context"]["notes"], json!("line one\nline two"));
    for id in &add {
        assert!(
            fresh["context"]["tags"]
                .as_array()
                .unwrap()
                .contains(&json!(id))
        );
    }
    assert_eq!(
        fresh["context"]["threads"].as_array().unwrap().len(),
        prospect.threads.len()
    );
    let got = api
        .ok(&format!("/prospects/{}", prospect.external_id))
        .await;
    assert_eq!(got["context"], fresh["context"]);
    let view = fake.prospect(&prospect.external_id).unwrap();
    assert_eq!(view.status.as_deref(), Some(statuses[2].1.as_str()));
    for thread in &view.threads {
        assert!(thread.done);
        assert_eq!(
            thread.assignee_email.as_deref(),
            Some(member_email.as_str())
        );
        let wire = api.ok(&format!("/threads/{}", thread.id)).await;
        assert_eq!(wire["done"], json!(true));
        assert_eq!(wire["assigneeId"], json!(member_id));
        assert_eq!(wire["prospect"]["context"]["valuation"], json!(1234.5));
    }
    let archived = ids(&api.walk("archived", false, 100, false).await);
    assert!(view.threads.iter().all(|t| archived.contains(&t.id)));
    let log = fake.write_log();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].route, "PATCH /prospects/{prospectId}/context");
    assert_eq!(log[0].target_id, prospect.external_id);
    assert_eq!(log[0].body, body);
    // null clears; absent keeps.
    let cleared = api
        .patch(
            &path,
            json!({"notes": null, "valuation": null, "statusId": null}),
        )
        .await
        .json();
    assert_eq!(cleared["context"]["notes"], Value::Null);
    assert_eq!(cleared["context"]["valuation"], Value::Null);
    assert_eq!(cleared["context"]["statusId"], Value::Null);
    assert_eq!(cleared["context"]["tags"], fresh["context"]["tags"]);
    // An empty body is a no-op.
    let same = api.send(Method::PATCH, &path, None).await;
    assert_eq!(same.status, 200);
    assert_eq!(same.json()["context"], cleared["context"]);
}

#[tokio::test]
async fn events_have_increasing_seq_and_only_report_changes() {
    let (fake, api) = start(40).await;
    let prospect = multi_thread_prospect(&fake);
    let path = format!("/prospects/{}/context", prospect.external_id);
    let empty = api.ok("/events").await;
    assert_eq!(
        empty,
        json!({"events": [], "hasMore": false, "lastSeq": null})
    );
    let (member_id, _) = fake.members()[0].clone();
    let body =
        json!({"notes": "changed", "valuation": 777, "assigneeId": member_id, "done": false});
    api.patch(&path, body.clone()).await;
    let events = api.ok("/events").await;
    let list = events["events"].as_array().unwrap();
    let types: Vec<&str> = list.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert!(types.contains(&"prospect.notesChanged"), "{types:?}");
    assert!(types.contains(&"prospect.valuationChanged"), "{types:?}");
    let seqs: Vec<u64> = list.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1));
    assert_eq!(events["lastSeq"], json!(seqs.last().unwrap()));
    for event in list {
        assert_eq!(event["version"], "1.0");
        assert_eq!(event["teamId"], api.ok("/team").await["id"]);
    }
    let notes = list
        .iter()
        .find(|e| e["type"] == "prospect.notesChanged")
        .unwrap();
    assert_eq!(notes["data"]["prospect"]["context"]["notes"], "changed");
    // Re-applying the same values changes nothing and emits nothing.
    api.patch(&path, body).await;
    assert_eq!(fake.events().len(), list.len());
    // Paging with afterSeq/limit.
    let first = api.ok("/events?limit=1").await;
    assert_eq!(first["hasMore"], json!(list.len() > 1));
    assert_eq!(first["lastSeq"], json!(seqs[0]));
    let rest = api.ok(&format!("/events?afterSeq={}", seqs[0])).await;
    assert_eq!(rest["events"].as_array().unwrap().len(), list.len() - 1);
    // Retention: expired events are gone, seq keeps counting.
    fake.expire_events_through(seqs[0]);
    let kept = api.ok("/events?afterSeq=0").await;
    assert_eq!(kept["events"][0]["seq"], json!(seqs[0] + 1));
}

#[tokio::test]
async fn done_and_assignee_changes_emit_thread_and_prospect_events() {
    let (fake, api) = start(40).await;
    let prospect = multi_thread_prospect(&fake);
    let (_, email) = fake.members()[2].clone();
    fake.edit_context(
        &prospect.external_id,
        ContextEdit {
            assignee: Some(Some(email.clone())),
            done: Some(true),
            tags_add: Some(vec!["VIP".to_owned()]),
            ..ContextEdit::default()
        },
    );
    let view = fake.prospect(&prospect.external_id).unwrap();
    assert!(view.tags.contains(&"VIP".to_owned()));
    assert!(
        view.threads
            .iter()
            .all(|t| t.done && t.assignee_email == Some(email.clone()))
    );
    let types: Vec<String> = fake
        .events()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect();
    let changed_done = prospect.threads.iter().filter(|t| !t.done).count();
    assert_eq!(
        types.iter().filter(|t| *t == "thread.archived").count(),
        changed_done
    );
    let reassigned = prospect
        .threads
        .iter()
        .filter(|t| t.assignee_email.as_deref() != Some(email.as_str()))
        .count();
    assert_eq!(
        types
            .iter()
            .filter(|t| *t == "prospect.assigneeChanged")
            .count(),
        usize::from(reassigned > 0)
    );
    let thread_id = view.threads[0].id.clone();
    fake.set_thread(&thread_id, Some(None), Some(false));
    let thread = api.ok(&format!("/threads/{thread_id}")).await;
    assert_eq!(thread["done"], json!(false));
    assert_eq!(thread["assigneeId"], Value::Null);
    let last_two: Vec<String> = fake.events()[fake.events().len() - 2..]
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(last_two, ["thread.unassigned", "thread.unarchived"]);
}

#[tokio::test]
async fn patch_context_rejects_unknown_ids_unknown_keys_and_wrong_types() {
    let (fake, api) = start(20).await;
    let prospect = fake.prospects()[0].clone();
    let path = format!("/prospects/{}/context", prospect.external_id);
    let (tag_id, _) = fake.tags()[0].clone();
    let cases_422 = [
        json!({"addTags": ["zzzzzzzzzzzzzzzzzzzzzzzz"]}),
        json!({"removeTags": ["zzzzzzzzzzzzzzzzzzzzzzzz"]}),
        json!({"statusId": "zzzzzzzzzzzzzzzzzzzzzzzz"}),
        json!({"assigneeId": "zzzzzzzzzzzzzzzzzzzzzzzz"}),
        json!({"valuation": -5}),
    ];
    for body in cases_422 {
        let code = api.patch(&path, body.clone()).await.error_code(422);
        assert_eq!(code, "VALIDATION_ERROR", "{body}");
    }
    let cases_400 = [
        json!({"tags": [tag_id]}),
        json!({"tagIds": [tag_id]}),
        json!({"addTags": [tag_id], "removeTags": [tag_id]}),
        json!({"valuation": "100"}),
        json!({"notes": 5}),
        json!({"done": null}),
        json!({"done": "true"}),
        json!({"addTags": tag_id}),
        json!({"addTags": null}),
        json!({"statusId": "Not An Id"}),
        json!([1, 2]),
    ];
    for body in cases_400 {
        let code = api.patch(&path, body.clone()).await.error_code(400);
        assert_eq!(code, "BAD_REQUEST", "{body}");
    }
    // Nothing was applied and nothing was logged.
    assert_eq!(fake.prospect(&prospect.external_id).unwrap(), prospect);
    assert!(fake.write_log().is_empty());
    assert!(fake.events().is_empty());
    // Malformed JSON and a non-JSON content type.
    let url = format!("{}{path}", fake.base_url());
    let client = reqwest::Client::new();
    for (ct, body) in [("application/json", "{\"notes\":"), ("text/plain", "{}")] {
        let resp = client
            .patch(&url)
            .bearer_auth("fake-token")
            .header("content-type", ct)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 400);
    }
    let missing = api
        .patch("/prospects/zzzzzzzzzzzzzzzzzzzzzzzz/context", json!({}))
        .await;
    assert_eq!(missing.error_code(404), "PROSPECT_NOT_FOUND");
}

#[tokio::test]
async fn patch_thread_is_strict_and_logged() {
    let (fake, api) = start(20).await;
    let thread_id = fake.prospects()[0].threads[0].id.clone();
    let (member_id, _) = fake.members()[0].clone();
    let path = format!("/threads/{thread_id}");
    let reply = api
        .patch(&path, json!({"done": true, "assigneeId": member_id}))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json()["done"], json!(true));
    assert_eq!(reply.json()["assigneeId"], json!(member_id));
    let unknown = api
        .patch(&path, json!({"assigneeId": "zzzzzzzzzzzzzzzzzzzzzzzz"}))
        .await;
    assert_eq!(unknown.error_code(422), "VALIDATION_ERROR");
    assert_eq!(
        api.patch(&path, json!({"archived": true}))
            .await
            .error_code(400),
        "BAD_REQUEST"
    );
    let missing = api
        .patch("/threads/zzzzzzzzzzzzzzzzzzzzzzzz", json!({"done": true}))
        .await;
    assert_eq!(missing.error_code(404), "THREAD_NOT_FOUND");
    assert_eq!(fake.write_log().len(), 1);
    assert_eq!(fake.write_log()[0].route, "PATCH /threads/{threadId}");
}

#[tokio::test]
async fn missing_or_wrong_token_is_401_with_documented_body() {
    let (fake, api) = start(5).await;
    for api in [
        Api::new(&fake).with_token(None),
        Api::new(&fake).with_token(Some("wrong")),
    ] {
        let reply = api.get("/team").await;
        assert_eq!(
            reply.json(),
            json!({"error": {"code": "UNAUTHORIZED",
                "message": "Invalid or missing authentication token", "status": 401}})
        );
        assert!(reply.header("x-ratelimit-limit").is_some());
    }
    assert_eq!(api.get("/team").await.status, 200);
    assert_eq!(fake.stats().unauthorized, 2);
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after_and_recovers() {
    let fake = FakeInbox::start(FakeConfig {
        prospects: 5,
        rate_limit: "5/1s".parse().unwrap(),
        ..FakeConfig::default()
    })
    .await
    .unwrap();
    let api = Api::new(&fake);
    let started = Instant::now();
    for expected_remaining in (0..5).rev() {
        let reply = api.get("/team").await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.header("x-ratelimit-limit").as_deref(), Some("5"));
        assert_eq!(
            reply.header("x-ratelimit-remaining"),
            Some(expected_remaining.to_string())
        );
        let reset: u64 = reply.header("x-ratelimit-reset").unwrap().parse().unwrap();
        assert!(reset > 1_700_000_000);
    }
    let limited = api.get("/team").await;
    assert_eq!(limited.error_code(429), "RATE_LIMITED");
    let retry: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!(retry >= 1);
    assert_eq!(
        api.get("/team").await.status,
        429,
        "rejections do not count"
    );
    tokio::time::sleep(Duration::from_millis(1_050).saturating_sub(started.elapsed())).await;
    assert_eq!(api.get("/team").await.status, 200);
    assert_eq!(fake.stats().rate_limited, 2);
    fake.set_rate_limit(RateLimit::Off);
    for _ in 0..10 {
        assert_eq!(api.get("/team").await.status, 200);
    }
}

#[tokio::test]
async fn lookups_return_null_and_by_id_misses_are_404() {
    let (fake, api) = start(10).await;
    let prospect = fake.prospects()[3].clone();
    let found = api
        .ok(&format!(
            "/prospects/lookup?platformId={}",
            prospect.platform_id
        ))
        .await;
    assert_eq!(found["externalId"], json!(prospect.external_id));
    let none = api.get("/prospects/lookup?platformId=42").await;
    assert_eq!((none.status, none.text.as_str()), (200, "null"));
    let missing = "zzzzzzzzzzzzzzzzzzzzzzzz";
    for (path, code, kind) in [
        ("threads", "THREAD_NOT_FOUND", "Thread"),
        ("prospects", "PROSPECT_NOT_FOUND", "Prospect"),
        ("members", "MEMBER_NOT_FOUND", "Member"),
        ("tags", "TAG_NOT_FOUND", "Tag"),
        ("statuses", "STATUS_NOT_FOUND", "Status"),
    ] {
        let reply = api.get(&format!("/{path}/{missing}")).await;
        assert_eq!(reply.error_code(404), code);
        let message = reply.json()["error"]["message"].clone();
        assert_eq!(
            message,
            json!(format!("{kind} with ID '{missing}' not found"))
        );
    }
    assert_eq!(
        api.get("/threads/Not-An-Id").await.error_code(400),
        "BAD_REQUEST"
    );
    assert_eq!(api.get("/nothing/here").await.error_code(404), "NOT_FOUND");
    assert_eq!(
        api.send(Method::POST, "/threads", Some(json!({})))
            .await
            .error_code(501),
        "NOT_IMPLEMENTED"
    );
    assert_eq!(
        api.send(Method::PUT, "/team", None).await.error_code(405),
        "METHOD_NOT_ALLOWED"
    );
}

#[tokio::test]
async fn create_tag_validates_names_and_rejects_duplicates() {
    let (fake, api) = start(5).await;
    let created = api
        .send(
            Method::POST,
            "/tags",
            Some(json!({"name": "Warm", "color": "teal"})),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.text);
    let tag = created.json();
    assert_eq!(tag["name"], "Warm");
    assert_eq!(
        api.ok(&format!("/tags/{}", tag["id"].as_str().unwrap()))
            .await,
        tag
    );
    let dup = api
        .send(Method::POST, "/tags", Some(json!({"name": "warm"})))
        .await;
    assert_eq!(dup.error_code(409), "CONFLICT");
    for body in [
        json!({"name": ""}),
        json!({"name": "x".repeat(256)}),
        json!({"color": "red"}),
    ] {
        let reply = api.send(Method::POST, "/tags", Some(body)).await;
        assert_eq!(reply.error_code(400), "BAD_REQUEST");
    }
    assert_eq!(fake.tags().len(), 9);
    assert_eq!(fake.events().last().unwrap()["type"], "tag.created");
}

#[tokio::test]
async fn scripted_and_random_faults() {
    let (fake, api) = start(5).await;
    fake.fail_next(2, 503);
    assert_eq!(
        api.get("/team").await.error_code(503),
        "SERVICE_UNAVAILABLE"
    );
    assert_eq!(api.get("/team").await.status, 503);
    assert_eq!(api.get("/team").await.status, 200);
    fake.fail_next(1, 401);
    assert_eq!(api.get("/team").await.error_code(401), "UNAUTHORIZED");
    fake.fail_next(1, 429);
    let limited = api.get("/team").await;
    assert_eq!(limited.error_code(429), "RATE_LIMITED");
    assert_eq!(limited.header("retry-after").as_deref(), Some("1"));
    fake.malformed_next(1);
    let broken = api.get("/members").await;
    assert_eq!(broken.status, 200);
    assert!(serde_json::from_str::<Value>(&broken.text).is_err());
    assert!(api.get("/members").await.json().is_array());
    fake.set_faults(Faults {
        error_rate: 1.0,
        ..Faults::default()
    });
    for _ in 0..5 {
        assert!([500, 502, 503].contains(&api.get("/team").await.status));
    }
    fake.set_faults(Faults {
        malformed_rate: 1.0,
        latency: Duration::from_millis(30),
        ..Faults::default()
    });
    let started = Instant::now();
    let reply = api.get("/tags").await;
    assert!(started.elapsed() >= Duration::from_millis(30));
    assert!(serde_json::from_str::<Value>(&reply.text).is_err());
    let stats = fake.stats();
    assert_eq!(stats.server_errors, 7);
    assert_eq!(stats.rate_limited, 1);
    assert_eq!(stats.count("GET", "/team"), 10);
    assert_eq!(stats.unauthorized, 1);
    fake.reset_stats();
    assert_eq!(fake.stats(), Stats::default());
}

#[tokio::test]
async fn dropping_the_fake_stops_serving() {
    let (fake, api) = start(5).await;
    assert_eq!(api.get("/team").await.status, 200);
    let url = format!("{}/team", fake.base_url());
    drop(fake);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let result = reqwest::Client::new().get(url).send().await;
    assert!(result.is_err(), "still serving after drop");
}

#[test]
fn rate_limit_strings_parse_and_display() {
    assert_eq!("off".parse::<RateLimit>().unwrap(), RateLimit::Off);
    let parsed: RateLimit = "300/min, 10000/h,100000/day,100/10s,5/500ms"
        .parse()
        .unwrap();
    assert_eq!(
        parsed,
        RateLimit::Windows(vec![
            (300, Duration::from_secs(60)),
            (10_000, Duration::from_secs(3_600)),
            (100_000, Duration::from_secs(86_400)),
            (100, Duration::from_secs(10)),
            (5, Duration::from_millis(500)),
        ])
    );
    assert_eq!(
        parsed.to_string(),
        "300/60s,10000/3600s,100000/86400s,100/10s,5/500ms"
    );
    assert_eq!(parsed.to_string().parse::<RateLimit>().unwrap(), parsed);
    for bad in ["", "fast", "0/min", "10/0s", "10/fortnight", "10"] {
        assert!(bad.parse::<RateLimit>().is_err(), "{bad}");
    }
    assert_eq!(
        RateLimit::documented(),
        "300/min,10000/h,100000/day".parse().unwrap()
    );
    assert_eq!(RateLimit::documented(), "documented".parse().unwrap());
}
