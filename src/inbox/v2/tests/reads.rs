//! What the client reads: typed events and the retention check, reference data, tolerant
//! and strict decoding, and the dedupe property.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;

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
                thread_id: ThreadId::from("th2"),
                new_message: true,
            },
            &Change::ThreadCreated,
            &Change::Other,
            &Change::ContactOther,
        ]
    );
    let named: Vec<(Option<String>, Option<String>)> = got
        .events
        .iter()
        .map(|e| {
            (
                e.contact_id().map(String::from),
                e.thread_id().map(String::from),
            )
        })
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

/// A contact copy for the dedupe property: its notes follow its `updated_at`, so two copies
/// with the same stamp are equal and the result cannot depend on which one is kept.
fn copy(contact: u8, minute: u32) -> Contact {
    let updated_at =
        chrono::DateTime::from_timestamp(1_790_000_000 + i64::from(minute) * 60, 0).unwrap();
    Contact {
        id: ContactId::from(format!("c{contact}")),
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
        id: ThreadId::from(format!("th{}", n % 7)),
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
                .filter(|&&(c, _)| format!("c{c}") == contact.id.as_str())
                .map(|&(c, minute)| copy(c, minute).updated_at)
                .max();
            prop_assert_eq!(Some(contact.updated_at), greatest);
        }
        prop_assert!(got.threads.iter().all(|t| t.contact.is_none()));
        let unique_threads = original.len().min(7);
        prop_assert_eq!(got.threads.len(), unique_threads);
    }
}
