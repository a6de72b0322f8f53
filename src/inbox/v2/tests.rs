//! Tests of the v2 client over real HTTP: a tiny axum server on `127.0.0.1:0` answers from a
//! script and records every request exactly as it arrived (method, raw path, raw query,
//! headers, body), so request shapes, retries and error decoding are checked end to end.
//! The stateful v2 fake is someone else's; nothing here depends on it.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use proptest::prelude::*;
use secrecy::SecretString;
use serde_json::{Value, json};

use super::client::{segment, thread_query_pairs};
use super::*;
use crate::inbox::ClientOptions;
use crate::reconcile::Amount;

const TOKEN: &str = "ibt_s3cret_token_value";

/// One request as the server saw it.
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    /// The path as sent, percent-encoding kept.
    path: String,
    /// The raw query string ("" when none).
    query: String,
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

impl Seen {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// One scripted answer.
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
}

fn reply(status: u16, body: Value) -> Reply {
    Reply {
        status,
        headers: Vec::new(),
        body: if body.is_null() {
            String::new()
        } else {
            body.to_string()
        },
    }
}

impl Reply {
    fn header(mut self, name: &'static str, value: &str) -> Reply {
        self.headers.push((name, value.to_owned()));
        self
    }
}

#[derive(Default)]
struct Script {
    replies: Mutex<VecDeque<Reply>>,
    seen: Mutex<Vec<Seen>>,
}

/// The scripted server; stops when dropped.
struct Server {
    url: String,
    script: Arc<Script>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    async fn start(replies: Vec<Reply>) -> Server {
        let script = Arc::new(Script::default());
        script.replies.lock().unwrap().extend(replies);
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(script.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/api/v2", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Server { url, script, task }
    }

    fn seen(&self) -> Vec<Seen> {
        self.script.seen.lock().unwrap().clone()
    }

    fn client(&self) -> Client {
        let mut opts = ClientOptions::new(
            &self.url,
            SecretString::from(TOKEN.to_string()),
            "INBOX_API_TOKEN",
        );
        opts.min_interval = None;
        opts.backoff_base = Duration::from_millis(1);
        opts.max_attempts = 3;
        opts.timeout = Duration::from_secs(10);
        Client::new(opts).unwrap()
    }
}

async fn answer(
    State(script): State<Arc<Script>>,
    request: axum::extract::Request,
) -> axum::response::Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    script.seen.lock().unwrap().push(Seen {
        method: parts.method.to_string(),
        path: parts
            .uri
            .path()
            .strip_prefix("/api/v2")
            .unwrap_or("")
            .to_owned(),
        query: parts.uri.query().unwrap_or("").to_owned(),
        headers: parts.headers,
        body: body.to_vec(),
    });
    let next = script.replies.lock().unwrap().pop_front();
    let next = next.unwrap_or_else(|| reply(599, json!({"code": "scriptEmpty"})));
    let mut response = axum::response::Response::builder().status(next.status);
    if !next.body.is_empty() {
        response = response.header("content-type", "application/json");
    }
    for (name, value) in next.headers {
        response = response.header(name, value);
    }
    response.body(axum::body::Body::from(next.body)).unwrap()
}

fn contact_json(id: &str, updated_at: &str) -> Value {
    json!({
        "id": id,
        "profiles": [{
            "id": format!("p{id}"), "platform": "twitter", "platformId": "1876543210987654321",
            "username": "jane", "handle": "@jane", "displayName": "Jane", "bio": null,
            "followerCount": 12, "platformData": {"_tag": "twitter", "badge": null}
        }],
        "statusId": "s1",
        "tagIds": ["t1", "t2"],
        "notes": "met at a conference",
        "valuation": 1200.5,
        "assigneeId": null,
        "createdAt": "2026-09-14T10:32:00.000Z",
        "updatedAt": updated_at,
        "somethingNew": {"ignored": true}
    })
}

fn thread_json(id: &str, contact: Value) -> Value {
    json!({
        "id": id,
        "platform": "twitter",
        "platformId": null,
        "accountLinkId": "al1",
        "profileId": "p1",
        "contactId": contact["id"],
        "assigneeId": "m1",
        "isRequest": false,
        "acceptanceState": "notRequired",
        "archived": false,
        "unread": false,
        "restrictions": [],
        "syncing": false,
        "typingIndicators": "teamDefault",
        "lastMessage": null,
        "activity": {"preview": "hi", "direction": "inbound", "at": "2026-10-01T08:00:00.000Z"},
        "createdAt": "2026-09-14T10:32:00.000Z",
        "contact": contact,
    })
}

fn page(data: Vec<Value>, next: Option<&str>) -> Value {
    json!({"data": data, "nextCursor": next})
}

fn error_body(code: &str, details: Value) -> Value {
    json!({"code": code, "message": format!("{code} happened"), "details": details, "requestId": "req_body"})
}

const WALK_QUERY: &str = "folder=all&order=asc&limit=100&expand=contact&expand=profile";

#[tokio::test]
async fn the_walk_repeats_expand_and_passes_cursors_back_with_identical_filters() {
    let old = contact_json("c1", "2026-10-01T00:00:00.000Z");
    let new = contact_json("c1", "2026-10-02T00:00:00.000Z");
    let server = Server::start(vec![
        reply(
            200,
            page(vec![thread_json("th1", old.clone())], Some("cur/2 =")),
        ),
        reply(200, page(vec![thread_json("th2", new)], Some("cur3"))),
        // th1 moved during the walk and comes back at the end, with the older contact copy.
        reply(200, page(vec![thread_json("th1", old)], None)),
    ])
    .await;
    let client = server.client();
    let mut walk = client.walk();
    let mut merge = WalkMerge::default();
    let mut pages = 0;
    while let Some(threads) = walk.next_page().await.unwrap() {
        pages += 1;
        merge.add_page(threads);
        if pages == 1 {
            assert_eq!(walk.resume_cursor(), Some(&Cursor("cur/2 =".into())));
        }
    }
    assert!(walk.is_done() && walk.resume_cursor().is_none());
    assert_eq!(
        walk.next_page().await.unwrap(),
        None,
        "a finished walk sends nothing"
    );
    let seen = server.seen();
    let queries: Vec<&str> = seen.iter().map(|s| s.query.as_str()).collect();
    assert_eq!(
        queries,
        [
            WALK_QUERY.to_owned(),
            format!("{WALK_QUERY}&cursor=cur%2F2+%3D"),
            format!("{WALK_QUERY}&cursor=cur3"),
        ]
    );
    for request in &seen {
        assert_eq!(
            (request.method.as_str(), request.path.as_str()),
            ("GET", "/threads")
        );
        assert_eq!(request.headers["authorization"], format!("Bearer {TOKEN}"));
        assert_eq!(request.headers["accept"], "application/json");
    }
    let deduped = merge.finish();
    let ids: Vec<&str> = deduped.threads.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["th1", "th2"]);
    assert!(deduped.threads.iter().all(|t| t.contact.is_none()));
    assert_eq!(deduped.contacts.len(), 1);
    assert_eq!(
        deduped.contacts[0].updated_at.to_rfc3339(),
        "2026-10-02T00:00:00+00:00",
        "the copy with the greatest updatedAt wins, whatever the read order"
    );
    assert_eq!(client.stats().requests, 3);
}

#[tokio::test]
async fn a_walk_stops_at_an_empty_or_repeated_cursor_and_resumes_from_a_saved_one() {
    let c = contact_json("c1", "2026-10-01T00:00:00.000Z");
    let server = Server::start(vec![
        reply(200, page(vec![thread_json("th1", c.clone())], Some("same"))),
        reply(200, page(vec![thread_json("th2", c.clone())], Some("same"))),
        reply(200, page(vec![], Some(""))),
    ])
    .await;
    let client = server.client();
    let mut walk = client.walk();
    assert!(walk.next_page().await.unwrap().is_some());
    assert!(walk.next_page().await.unwrap().is_some());
    assert_eq!(
        walk.next_page().await.unwrap(),
        None,
        "a repeated cursor ends it"
    );
    let query = ThreadQuery::of_contact(ContactId::from("c1"));
    let mut resumed = client.walk_from(query, Some(Cursor("saved".into())));
    assert_eq!(resumed.next_page().await.unwrap(), Some(vec![]));
    assert_eq!(
        resumed.next_page().await.unwrap(),
        None,
        "an empty cursor ends it"
    );
    assert_eq!(
        server.seen()[2].query,
        "folder=all&order=asc&limit=100&contactId=c1&cursor=saved"
    );
}

#[tokio::test]
async fn tag_refs_are_one_url_encoded_path_segment_and_answer_204() {
    let server = Server::start(vec![reply(204, Value::Null), reply(204, Value::Null)]).await;
    let client = server.client();
    let contact = ContactId::from("c1");
    client.add_tag(&contact, "VIP / 2026 #1").await.unwrap();
    client.remove_tag(&contact, "Clé ✓?").await.unwrap();
    let seen = server.seen();
    assert_eq!(seen[0].method, "PUT");
    assert_eq!(seen[0].path, "/contacts/c1/tags/VIP%20%2F%202026%20%231");
    assert_eq!(seen[1].method, "DELETE");
    assert_eq!(seen[1].path, "/contacts/c1/tags/Cl%C3%A9%20%E2%9C%93%3F");
    assert!(seen.iter().all(|s| s.body.is_empty() && s.query.is_empty()));
    assert!(matches!(
        client.add_tag(&contact, "").await,
        Err(Error::Config(_))
    ));
    assert_eq!(segment("a-b.c_d~9").unwrap(), "a-b.c_d~9");
}

#[tokio::test]
async fn patch_bodies_carry_only_the_changed_keys_and_explicit_nulls() {
    let contact = contact_json("c1", "2026-10-01T00:00:00.000Z");
    let thread = thread_json("th1", contact.clone());
    let server = Server::start(vec![
        reply(200, contact.clone()),
        reply(200, contact),
        reply(200, thread.clone()),
        reply(200, thread),
    ])
    .await;
    let client = server.client();
    let id = ContactId::from("c1");
    let update = ContactUpdate {
        status: Some(Some("s2".into())),
        notes: Some(None),
        ..ContactUpdate::default()
    };
    let updated = client.update_contact(&id, &update).await.unwrap();
    assert_eq!(updated.id, id);
    let update = ContactUpdate {
        valuation: Some(Some("12000.50".parse::<Amount>().unwrap())),
        assignee_id: Some(None),
        ..ContactUpdate::default()
    };
    client.update_contact(&id, &update).await.unwrap();
    let thread_id = ThreadId::from("th1");
    let update = ThreadUpdate {
        archived: Some(true),
        assignee_id: Some(None),
    };
    client.update_thread(&thread_id, &update).await.unwrap();
    let update = ThreadUpdate {
        assignee_id: Some(Some("m2".into())),
        ..ThreadUpdate::default()
    };
    client.update_thread(&thread_id, &update).await.unwrap();
    let seen = server.seen();
    assert_eq!(seen[0].json(), json!({"status": "s2", "notes": null}));
    assert_eq!(
        String::from_utf8_lossy(&seen[1].body),
        r#"{"valuation":12000.5,"assigneeId":null}"#
    );
    assert_eq!(
        seen[2].json(),
        json!({"archived": true, "assigneeId": null})
    );
    assert_eq!(seen[3].json(), json!({"assigneeId": "m2"}));
    for (request, path) in seen.iter().zip([
        "/contacts/c1",
        "/contacts/c1",
        "/threads/th1",
        "/threads/th1",
    ]) {
        assert_eq!(
            (request.method.as_str(), request.path.as_str()),
            ("PATCH", path)
        );
        assert_eq!(request.headers["content-type"], "application/json");
    }
}

#[tokio::test]
async fn the_finder_asks_100_identities_a_call_and_reads_every_page() {
    let mut identities: Vec<String> = (0..150).map(|n| format!("{}", 1000 + n)).collect();
    identities.push(" 1000 ".into()); // a repeat, once trimmed
    identities.push("  ".into()); // empty: dropped
    let c1 = contact_json("c1", "2026-10-01T00:00:00.000Z");
    let c2 = contact_json("c2", "2026-10-01T00:00:00.000Z");
    let c1_newer = contact_json("c1", "2026-10-03T00:00:00.000Z");
    let server = Server::start(vec![
        reply(200, page(vec![c1], Some("more"))),
        reply(200, page(vec![c2], None)),
        reply(200, page(vec![c1_newer], None)),
    ])
    .await;
    let client = server.client();
    let found = client
        .find_contacts(&Platform::Twitter, IdentityKind::PlatformId, &identities)
        .await
        .unwrap();
    let ids: Vec<(&str, String)> = found
        .iter()
        .map(|c| (c.id.as_str(), c.updated_at.to_rfc3339()))
        .collect();
    assert_eq!(
        ids,
        [
            ("c1", "2026-10-03T00:00:00+00:00".to_owned()),
            ("c2", "2026-10-01T00:00:00+00:00".to_owned())
        ]
    );
    let seen = server.seen();
    assert_eq!(seen.len(), 3);
    let first: Vec<String> = (1000..1100).map(|n| format!("platformId={n}")).collect();
    let first = format!("platform=twitter&{}&limit=100", first.join("&"));
    assert_eq!(seen[0].query, first);
    assert_eq!(
        seen[1].query,
        format!("{first}&cursor=more"),
        "same filters, then the cursor"
    );
    let second: Vec<String> = (1100..1150).map(|n| format!("platformId={n}")).collect();
    assert_eq!(
        seen[2].query,
        format!("platform=twitter&{}&limit=100", second.join("&"))
    );
    assert!(seen.iter().all(|s| s.path == "/contacts"));

    // By username, on a platform this client does not know.
    let server = Server::start(vec![reply(200, page(vec![], None))]).await;
    let platform = Platform::from("linkedin");
    assert_eq!(platform, Platform::Other("linkedin".into()));
    let none = server
        .client()
        .find_contacts(
            &platform,
            IdentityKind::Username,
            &["jane-doe".into(), "j d".into()],
        )
        .await
        .unwrap();
    assert!(none.is_empty());
    assert_eq!(
        server.seen()[0].query,
        "platform=linkedin&username=jane-doe&username=j+d&limit=100"
    );
}

#[tokio::test]
async fn events_are_typed_and_name_their_contact_or_thread() {
    let event = |seq: u64, kind: &str, object: (&str, &str), data: Value| {
        json!({
            "id": format!("ev{seq}"), "seq": seq, "type": kind, "apiVersion": "2",
            "createdAt": "2026-10-01T08:00:00.000Z",
            "object": {"type": object.0, "id": object.1, "url": format!("/{}s/{}", object.0, object.1)},
            "data": data,
        })
    };
    let body = json!({
        "data": [
            event(11, "contact.tagsChanged", ("contact", "c1"), json!({"tagIds": ["t1", "t9"]})),
            event(12, "contact.valuationChanged", ("contact", "c1"), json!({"valuation": 99.9})),
            event(13, "contact.statusChanged", ("contact", "c2"), json!({"statusId": null})),
            event(14, "thread.unassigned", ("thread", "th1"), json!({"assigneeId": null})),
            event(15, "message.received", ("message", "ms1"), json!({"threadId": "th2"})),
            event(16, "thread.created", ("thread", "th3"), json!({})),
            event(17, "campaign.started", ("campaign", "ca1"), json!({})),
            event(18, "contact.somethingNew", ("contact", "c3"), json!({"x": 1})),
        ],
        "lastSeq": 20.0,
        "hasMore": true,
    });
    let server = Server::start(vec![reply(200, body)]).await;
    let client = server.client();
    let got = client.events(Some(10), 1000).await.unwrap();
    assert_eq!(server.seen()[0].query, "afterSeq=10&limit=1000");
    assert_eq!((got.last_seq, got.has_more), (Some(20), true));
    let changes: Vec<&Change> = got.events.iter().map(|e| &e.change).collect();
    assert_eq!(
        changes,
        [
            &Change::ContactTags {
                tag_ids: vec!["t1".into(), "t9".into()]
            },
            &Change::ContactValuation {
                valuation: Some("99.9".parse().unwrap())
            },
            &Change::ContactStatus { status_id: None },
            &Change::ThreadAssignee { assignee_id: None },
            &Change::Message {
                thread_id: ThreadId::from("th2")
            },
            &Change::ThreadCreated,
            &Change::Other,
            &Change::Other,
        ]
    );
    let named: Vec<(Option<String>, Option<String>)> = got
        .events
        .iter()
        .map(|e| (e.contact_id().map(|c| c.0), e.thread_id().map(|t| t.0)))
        .collect();
    let c = |id: &str| Some(id.to_owned());
    assert_eq!(
        named,
        [
            (c("c1"), None),
            (c("c1"), None),
            (c("c2"), None),
            (None, c("th1")),
            (None, c("th2")),
            (None, c("th3")),
            (None, None),
            (None, None),
        ]
    );
    assert!(matches!(
        client.events(None, 0).await,
        Err(Error::Config(_))
    ));
    assert!(matches!(
        client.events(None, 1001).await,
        Err(Error::Config(_))
    ));
}

#[tokio::test]
async fn a_contact_event_without_its_value_is_a_decode_error_not_a_clear() {
    let body = json!({
        "data": [{"id": "e", "seq": 1, "type": "contact.notesChanged", "apiVersion": "2",
                  "createdAt": "2026-10-01T08:00:00.000Z",
                  "object": {"type": "contact", "id": "c1", "url": "/contacts/c1"}, "data": {}}],
        "lastSeq": 1, "hasMore": false,
    });
    let server = Server::start(vec![reply(200, body).header("x-request-id", "req_ev")]).await;
    let error = server.client().events(None, 10).await.unwrap_err();
    assert!(matches!(error, Error::Decode { .. }), "{error:?}");
    let text = error.to_string();
    assert!(
        text.contains("contact.notesChanged") && text.contains("req_ev"),
        "{text}"
    );
}

#[tokio::test]
async fn retention_compares_the_oldest_retained_event_with_the_stored_seq() {
    let oldest = |seq: u64| {
        json!({"data": [{"id": "e", "seq": seq, "type": "thread.typing", "apiVersion": "2",
                         "createdAt": "2026-10-01T08:00:00.000Z",
                         "object": {"type": "thread", "id": "th1", "url": "/threads/th1"},
                         "data": {}}],
               "lastSeq": seq, "hasMore": true})
    };
    let empty = json!({"data": [], "lastSeq": null, "hasMore": false});
    let server = Server::start(vec![
        reply(200, oldest(101)),
        reply(200, oldest(102)),
        reply(200, empty),
    ])
    .await;
    let client = server.client();
    assert_eq!(client.retention(100).await.unwrap(), Retention::Covered);
    assert_eq!(
        client.retention(100).await.unwrap(),
        Retention::Gap {
            oldest_seq: Some(102)
        }
    );
    assert_eq!(
        client.retention(100).await.unwrap(),
        Retention::Gap { oldest_seq: None }
    );
    assert!(server.seen().iter().all(|s| s.query == "limit=1"));
}

#[tokio::test]
async fn the_latest_seq_pages_the_whole_log() {
    let server = Server::start(vec![
        reply(200, json!({"data": [], "lastSeq": 1000, "hasMore": true})),
        reply(200, json!({"data": [], "lastSeq": 1500, "hasMore": false})),
    ])
    .await;
    assert_eq!(
        server.client().latest_event_seq().await.unwrap(),
        Some(1500)
    );
    let queries: Vec<String> = server.seen().into_iter().map(|s| s.query).collect();
    assert_eq!(queries, ["limit=1000", "afterSeq=1000&limit=1000"]);
}

#[tokio::test]
async fn reference_data_is_read_page_by_page_and_unknown_values_are_kept() {
    let member = |id: &str| {
        json!({"id": id, "name": null, "email": format!("{id}@x.test"), "imageUrl": null,
               "role": "superuser", "createdAt": "2026-09-14T10:32:00.000Z"})
    };
    let link = json!({"id": "al1", "platform": "linkedin", "platformId": "ACoAA", "username": null,
        "displayName": "Sales", "avatarUrl": null, "status": "throttled", "pauseReasons": [],
        "capabilities": ["message:send", "thread:teleport"], "syncedAt": null,
        "createdAt": "2026-09-14T10:32:00.000Z"});
    let platform = json!([{"platform": "twitter", "name": "X", "usernamePrefix": "@",
        "capabilities": ["thread:archive:mutate"], "limits": {"characters": 10000},
        "mutationWindows": {}, "threadState": {"archive": {"observe": true, "mutate": true}, "read": null}}]);
    let server = Server::start(vec![
        reply(200, page(vec![member("m1")], Some("p2"))),
        reply(200, page(vec![member("m2")], None)),
        reply(200, page(vec![link], None)),
        reply(200, page(vec![json!({"id": "t1", "name": "VIP", "color": "#3b82f6"})], None)),
        reply(200, page(vec![json!({"id": "s1", "name": "Won", "color": null, "createdAt": "2026-09-14T10:32:00.000Z"})], None)),
        reply(200, platform),
        reply(200, json!({"id": "team1", "name": "Acme", "slug": "acme", "imageUrl": null,
            "currency": "EUR", "allowSupportAccess": false, "createdAt": "2026-09-14T10:32:00.000Z"})),
    ])
    .await;
    let client = server.client();
    let members = client.members().await.unwrap();
    assert_eq!(members.len(), 2);
    assert_eq!(members[0].role, MemberRole::Other("superuser".into()));
    let links = client.account_links().await.unwrap();
    assert_eq!(links[0].platform, Platform::Other("linkedin".into()));
    assert_eq!(
        links[0].status,
        AccountLinkStatus::Other("throttled".into())
    );
    assert_eq!(client.tags().await.unwrap()[0].name, "VIP");
    assert_eq!(client.statuses().await.unwrap()[0].color, None);
    let platforms = client.platforms().await.unwrap();
    assert_eq!(platforms[0].platform, Platform::Twitter);
    assert_eq!(
        platforms[0].archive_state,
        Some(StateSync {
            observe: true,
            mutate: true
        })
    );
    assert_eq!(platforms[0].read_state, None);
    assert_eq!(client.team().await.unwrap().currency, "EUR");
    let seen = server.seen();
    let asked: Vec<String> = seen
        .iter()
        .map(|s| format!("{} {}", s.path, s.query))
        .collect();
    assert_eq!(
        asked,
        [
            "/members limit=100",
            "/members limit=100&cursor=p2",
            "/account-links limit=100",
            "/tags ",
            "/statuses ",
            "/platforms ",
            "/team ",
        ]
    );
}

#[tokio::test]
async fn a_contact_without_a_cleared_looking_key_fails_to_decode() {
    let mut contact = contact_json("c1", "2026-10-01T00:00:00.000Z");
    contact.as_object_mut().unwrap().remove("notes");
    let server = Server::start(vec![reply(200, contact)]).await;
    let error = server
        .client()
        .contact(&ContactId::from("c1"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            Error::Decode {
                endpoint: "GET /contacts/{id}",
                ..
            }
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_thread_reads_with_its_contact_and_profile() {
    let mut thread = thread_json("th1", contact_json("c1", "2026-10-01T00:00:00.000Z"));
    thread["platform"] = json!("linkedin");
    thread["archived"] = json!(true);
    thread["isRequest"] = json!(true);
    thread["profile"] = json!({"id": "p1", "platform": "linkedin", "platformId": "ACoAA",
        "username": "jane-doe", "handle": "jane-doe", "displayName": "Jane"});
    let server = Server::start(vec![reply(200, thread)]).await;
    let thread = server
        .client()
        .thread(&ThreadId::from("th1"))
        .await
        .unwrap();
    assert_eq!(server.seen()[0].query, "expand=contact&expand=profile");
    assert_eq!(thread.platform, Platform::Other("linkedin".into()));
    assert_eq!(thread.folder(), Folder::Archived);
    assert_eq!(thread.contact_id, ContactId::from("c1"));
    assert_eq!(thread.assignee_id.as_deref(), Some("m1"));
    assert_eq!(thread.profile.unwrap().username, "jane-doe");
    let contact = thread.contact.unwrap();
    assert_eq!(contact.tag_ids, ["t1", "t2"]);
    assert_eq!(contact.valuation, Some("1200.5".parse().unwrap()));
    assert_eq!(contact.profiles[0].platform_id, "1876543210987654321");
}

/// What a fatal error answer decodes to.
fn check_error(error: &Error, expected: &str) {
    let shape = match error {
        Error::Unauthorized { token_env, .. } => format!("unauthorized {token_env}"),
        Error::Forbidden { code, .. } => format!("forbidden {}", code.as_deref().unwrap_or("-")),
        Error::NotFound { what, .. } => format!("not found {what}"),
        Error::InvalidRequest { issues, .. } => format!(
            "invalid request {}",
            issues
                .iter()
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join("|")
        ),
        Error::InvalidCursor { .. } => "invalid cursor".to_owned(),
        Error::Api { status, code, .. } => format!("api {status} {code:?}"),
        other => format!("{other:?}"),
    };
    assert_eq!(shape, expected);
}

#[tokio::test]
async fn each_error_code_decodes_to_its_variant_without_a_retry() {
    let issues = json!({"issues": [{"path": ["body", "tagIds"], "message": "Unknown key"},
                                   {"path": ["query", "platformId", 3], "message": "Too short"}]});
    let cases = [
        (
            401,
            error_body("unauthorized", Value::Null),
            "unauthorized INBOX_API_TOKEN",
        ),
        (
            403,
            error_body("workspaceLocked", Value::Null),
            "forbidden workspaceLocked",
        ),
        (
            403,
            error_body("planRequired", json!({"feature": "api"})),
            "forbidden planRequired",
        ),
        (
            404,
            error_body("contactNotFound", Value::Null),
            "not found contact",
        ),
        (
            404,
            error_body("threadNotFound", Value::Null),
            "not found thread",
        ),
        (404, error_body("tagNotFound", Value::Null), "not found tag"),
        (
            404,
            error_body("accountLinkNotFound", Value::Null),
            "not found account link",
        ),
        (
            404,
            error_body("widgetNotFound", Value::Null),
            "not found widget",
        ),
        (404, json!({"error": "no route"}), "api 404 None"),
        (
            400,
            error_body("invalidRequest", issues),
            "invalid request body.tagIds: Unknown key|query.platformId.3: Too short",
        ),
        (
            400,
            error_body("invalidCursor", Value::Null),
            "invalid cursor",
        ),
        (
            409,
            error_body("nameTaken", json!({"name": "VIP"})),
            "api 409 Some(\"nameTaken\")",
        ),
        (
            422,
            error_body("tagLimitReached", json!({"max": 100})),
            "api 422 Some(\"tagLimitReached\")",
        ),
        (
            502,
            error_body("sendUnconfirmed", json!({"messageId": "ms1"})),
            "api 502 Some(\"sendUnconfirmed\")",
        ),
        (
            418,
            error_body("somethingNew", Value::Null),
            "api 418 Some(\"somethingNew\")",
        ),
    ];
    for (status, body, expected) in cases {
        let server = Server::start(vec![reply(status, body)]).await;
        let client = server.client();
        let error = client.contact(&ContactId::from("c1")).await.unwrap_err();
        check_error(&error, expected);
        assert!(!error.is_retryable(), "{expected}");
        let request_id = (expected != "api 404 None").then_some("req_body");
        assert_eq!(error.request_id(), request_id, "{expected}");
        if let Some(id) = request_id {
            assert!(error.to_string().contains(id), "{error}");
        }
        assert_eq!(server.seen().len(), 1, "{expected}: not retried");
    }
}

#[tokio::test]
async fn rate_limited_minute_is_retried_after_retry_after_then_succeeds() {
    let limited = error_body(
        "rateLimited",
        json!({"window": "minute", "limit": 300, "resetAt": "2026-10-01T08:01:00.000Z"}),
    );
    let server = Server::start(vec![
        reply(429, limited).header("retry-after", "0"),
        reply(200, contact_json("c1", "2026-10-01T00:00:00.000Z")),
    ])
    .await;
    let client = server.client();
    let contact = client.contact(&ContactId::from("c1")).await.unwrap();
    assert_eq!(contact.id.as_str(), "c1");
    let stats = client.stats();
    assert_eq!(
        (stats.requests, stats.rate_limited, stats.retries),
        (2, 1, 1)
    );
}

#[tokio::test]
async fn rate_limited_minute_every_time_ends_as_a_retryable_rate_limit() {
    let limited = || {
        reply(
            429,
            error_body(
                "rateLimited",
                json!({"window": "minute", "limit": 300, "resetAt": "2026-10-01T08:01:00.000Z"}),
            ),
        )
        .header("retry-after", "0")
        .header("x-request-id", "req_429")
    };
    let server = Server::start(vec![limited(), limited(), limited()]).await;
    let error = server.client().tags().await.unwrap_err();
    assert!(
        matches!(&error, Error::RateLimited { window: RateWindow::Minute, retry_after: Some(d), .. } if d.is_zero()),
        "{error:?}"
    );
    assert!(error.is_retryable() && error.quota_exhausted().is_none());
    assert!(error.to_string().contains("req_429"), "{error}");
    assert_eq!(server.seen().len(), 3);
}

#[tokio::test]
async fn rate_limited_hour_or_day_is_not_retried_and_ends_the_push() {
    for window in ["hour", "day"] {
        let limited = error_body(
            "rateLimited",
            json!({"window": window, "limit": 10000, "resetAt": "2026-10-01T09:00:00.000Z"}),
        );
        let server = Server::start(vec![
            reply(429, limited)
                .header("retry-after", "0")
                .header("x-request-id", "req_hour"),
            reply(204, Value::Null),
        ])
        .await;
        let client = server.client();
        let error = client
            .add_tag(&ContactId::from("c1"), "t1")
            .await
            .unwrap_err();
        let Error::RateLimited {
            window: got,
            reset_at,
            ..
        } = &error
        else {
            panic!("{error:?}")
        };
        assert_eq!(got.to_string(), window);
        let reset = reset_at.map(|at| at.to_rfc3339());
        assert_eq!(reset.as_deref(), Some("2026-10-01T09:00:00+00:00"));
        assert!(!error.is_retryable());
        assert_eq!(error.quota_exhausted(), Some(*reset_at));
        let text = error.to_string();
        assert!(
            text.contains(&format!("{window} window")) && text.contains("req_hour"),
            "{text}"
        );
        assert_eq!(server.seen().len(), 1, "{window}: not retried");
        assert_eq!(client.stats().rate_limited, 1);
    }
}

#[tokio::test]
async fn server_errors_are_retried_then_transient_with_the_cause() {
    let html = Reply {
        status: 502,
        headers: vec![("x-request-id", "req_5xx".into())],
        body: "<html><h1>502 Bad Gateway</h1></html>".into(),
    };
    let server = Server::start(vec![
        reply(500, error_body("internal", Value::Null)),
        reply(
            503,
            error_body("platformUnavailable", json!({"retryAfterSeconds": 0})),
        ),
        html,
    ])
    .await;
    let client = server.client();
    let error = client.team().await.unwrap_err();
    let Error::Transient {
        endpoint,
        attempts,
        source,
    } = &error
    else {
        panic!("{error:?}")
    };
    assert_eq!((*endpoint, *attempts), ("GET /team", 3));
    let cause = source.to_string();
    assert!(
        cause.contains("502") && cause.contains("Bad Gateway") && cause.contains("req_5xx"),
        "{cause}"
    );
    assert!(std::error::Error::source(&error).is_some());
    assert!(error.is_retryable());
    assert_eq!(error.request_id(), Some("req_5xx"));
    assert_eq!(client.stats().server_errors, 3);
}

#[tokio::test]
async fn the_token_never_shows_in_debug_display_or_errors() {
    let echo = json!({"code": format!("x{TOKEN}"), "message": format!("bad header Bearer {TOKEN}"),
                      "details": null, "requestId": TOKEN});
    let server = Server::start(vec![
        reply(418, echo.clone()),
        reply(401, echo.clone()),
        reply(
            400,
            json!({"code": "invalidRequest", "message": "m", "requestId": "r",
            "details": {"issues": [{"path": [], "message": format!("saw {TOKEN}")}]}}),
        ),
        // A body that fails to decode is quoted in the error: scrubbed too.
        reply(200, json!({"id": 5, "echo": TOKEN})),
    ])
    .await;
    let client = server.client();
    let debug = format!("{client:?}");
    assert!(
        !debug.contains(TOKEN) && debug.contains("[REDACTED]"),
        "{debug}"
    );
    let id = ContactId::from("c1");
    for _ in 0..3 {
        let error = client.contact(&id).await.unwrap_err();
        for text in [
            format!("{error}"),
            format!("{error:?}"),
            format!("{error:#}"),
        ] {
            assert!(!text.contains(TOKEN), "{text}");
        }
    }
    let error = client.team().await.unwrap_err();
    assert!(matches!(error, Error::Decode { .. }), "{error:?}");
    let text = format!("{error} {error:?}");
    assert!(
        !text.contains(TOKEN) && text.contains("[REDACTED]"),
        "{text}"
    );
    let walk = client.walk();
    assert!(!format!("{walk:?}").contains(TOKEN));
}

#[tokio::test]
async fn create_tag_posts_the_name_and_takes_an_existing_tag_on_name_taken() {
    let server = Server::start(vec![
        reply(
            201,
            json!({"id": "t1", "name": "VIP / 2026", "color": "#3b82f6"}),
        ),
        reply(409, error_body("nameTaken", json!({"name": "hot"}))),
        reply(
            200,
            page(
                vec![json!({"id": "t7", "name": "Hot", "color": "#000000"})],
                None,
            ),
        ),
    ])
    .await;
    let client = server.client();
    let tag = client.create_tag("VIP / 2026", Some("blue")).await.unwrap();
    assert_eq!(tag.id, "t1");
    let tag = client.create_tag("hot", None).await.unwrap();
    assert_eq!(tag.id, "t7");
    let seen = server.seen();
    assert_eq!(
        (seen[0].method.as_str(), seen[0].path.as_str()),
        ("POST", "/tags")
    );
    assert_eq!(
        seen[0].json(),
        json!({"name": "VIP / 2026", "color": "blue"})
    );
    assert_eq!(seen[1].json(), json!({"name": "hot"}));
}

#[test]
fn thread_queries_are_checked_and_stable() {
    let walk = ThreadQuery::full_walk();
    let pairs = thread_query_pairs(&walk, None).unwrap();
    let text: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    assert_eq!(text.join("&"), WALK_QUERY);
    let mut bad = walk.clone();
    bad.limit = 0;
    assert!(thread_query_pairs(&bad, None).is_err());
    bad.limit = 101;
    assert!(thread_query_pairs(&bad, None).is_err());
    let mut many = walk.clone();
    many.expand = vec![
        ThreadExpand::Contact,
        ThreadExpand::Contact,
        ThreadExpand::Profile,
        ThreadExpand::AccountLink,
        ThreadExpand::Assignee,
    ];
    assert_eq!(
        thread_query_pairs(&many, None).unwrap().len(),
        3 + 4,
        "repeats dropped"
    );
    assert!(thread_query_pairs(&walk, Some(&Cursor(String::new()))).is_err());
}

#[test]
fn error_texts_name_the_window_and_request() {
    let error = Error::NotFound {
        what: Missing::Contact,
        message: "No contact c1".into(),
        request_id: Some("req_1".into()),
    };
    assert_eq!(
        error.to_string(),
        "Inbox v2: contact not found (404): No contact c1 [request req_1]"
    );
    assert_eq!(Missing::from_code("notFound"), None);
    assert_eq!(Missing::from_code("internal"), None);
    assert_eq!(RateWindow::parse("week"), RateWindow::Other("week".into()));
    assert!(!RateWindow::Other("week".into()).ends_push());
}

/// A contact copy for the dedupe property: its notes follow its `updated_at`, so two copies
/// with the same stamp are equal and the result cannot depend on which one is kept.
fn copy(contact: u8, minute: u32) -> Contact {
    let updated_at =
        chrono::DateTime::from_timestamp(1_790_000_000 + i64::from(minute) * 60, 0).unwrap();
    Contact {
        id: ContactId(format!("c{contact}")),
        status_id: None,
        tag_ids: Vec::new(),
        notes: Some(format!("as of minute {minute}")),
        valuation: None,
        assignee_id: None,
        created_at: updated_at,
        updated_at,
        profiles: Vec::new(),
    }
}

fn thread_with(n: usize, contact: Contact) -> Thread {
    Thread {
        id: ThreadId(format!("th{}", n % 7)),
        platform: Platform::Twitter,
        platform_id: None,
        account_link_id: "al1".into(),
        profile_id: "p1".into(),
        contact_id: contact.id.clone(),
        assignee_id: None,
        archived: false,
        is_request: false,
        unread: false,
        created_at: contact.created_at,
        activity_at: None,
        profile: None,
        contact: Some(contact),
    }
}

proptest! {
    #[test]
    fn dedupe_keeps_the_greatest_updated_at_whatever_the_order(
        copies in prop::collection::vec((0u8..5, 0u32..50), 1..40)
            .prop_flat_map(|copies| (Just(copies.clone()), Just(copies).prop_shuffle())),
        page_size in 1usize..8,
    ) {
        let (original, shuffled) = copies;
        let pages = |copies: &[(u8, u32)]| -> Vec<Vec<Thread>> {
            let threads: Vec<Thread> = copies
                .iter()
                .enumerate()
                .map(|(n, &(contact, minute))| thread_with(n, copy(contact, minute)))
                .collect();
            threads.chunks(page_size).map(<[Thread]>::to_vec).collect()
        };
        let got = dedupe(pages(&shuffled));
        let reference = dedupe(pages(&original));
        prop_assert_eq!(&got.contacts, &reference.contacts);
        let mut ids: Vec<u8> = original.iter().map(|&(c, _)| c).collect();
        ids.sort_unstable();
        ids.dedup();
        prop_assert_eq!(got.contacts.len(), ids.len());
        for contact in &got.contacts {
            let greatest = original
                .iter()
                .filter(|&&(c, _)| format!("c{c}") == contact.id.0)
                .map(|&(c, minute)| copy(c, minute).updated_at)
                .max();
            prop_assert_eq!(Some(contact.updated_at), greatest);
        }
        prop_assert!(got.threads.iter().all(|t| t.contact.is_none()));
        let unique_threads = original.len().min(7);
        prop_assert_eq!(got.threads.len(), unique_threads);
    }
}

#[tokio::test]
async fn rate_limit_headers_reach_the_shared_stats() {
    let server = Server::start(vec![
        reply(200, page(vec![], None))
            .header("x-ratelimit-limit", "300")
            .header("x-ratelimit-remaining", "299")
            .header("x-ratelimit-reset", "1790000060"),
    ])
    .await;
    let client = server.client();
    client.tags().await.unwrap();
    let limit = client.stats().last_limit.unwrap();
    assert_eq!((limit.limit, limit.remaining), (300, 299));
}

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn logs_carry_the_request_id_and_never_the_token() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // The test runtime is single-threaded: the client and the server run under this default.
    let _guard = tracing::subscriber::set_default(subscriber);
    let echo = json!({"code": "contactNotFound", "message": format!("no {TOKEN}"),
                      "details": null, "requestId": "req_log"});
    let server = Server::start(vec![reply(404, echo).header("x-request-id", "req_log")]).await;
    let error = server
        .client()
        .contact(&ContactId::from("c1"))
        .await
        .unwrap_err();
    assert!(matches!(
        error,
        Error::NotFound {
            what: Missing::Contact,
            ..
        }
    ));
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("req_log"), "{logs}");
    assert!(logs.contains("Inbox v2 call failed"), "{logs}");
    assert!(!logs.contains(TOKEN), "{logs}");
}
