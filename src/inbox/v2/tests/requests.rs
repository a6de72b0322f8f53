//! What the client sends: the walk's query and cursors, URL-encoded tag refs, PATCH bodies
//! with only the changed keys, the finder's batches, tag creation.

use serde_json::{Value, json};

use super::*;
use crate::inbox::v2::client::{segment, thread_query_pairs};
use crate::reconcile::Amount;

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
async fn a_walk_ends_at_an_empty_cursor_fails_at_a_repeated_one_and_resumes_from_a_saved_one() {
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
    let repeated = walk.next_page().await;
    assert!(
        matches!(&repeated, Err(Error::Decode { detail, .. }) if detail.contains("does not advance")),
        "a repeated cursor is an error, not the end: {repeated:?}"
    );
    assert_eq!(walk.next_page().await.unwrap(), None, "and ends the walk");
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
    // Path steps: `/contacts/..` would be `/` once the URL is parsed, encoded or not.
    for step in [".", ".."] {
        assert!(matches!(segment(step), Err(Error::Config(_))), "{step}");
        let update = ContactUpdate {
            notes: Some(Some("x".into())),
            ..ContactUpdate::default()
        };
        let id = ContactId::from(step);
        let refused = client.update_contact(&id, &update).await;
        assert!(matches!(refused, Err(Error::Config(_))), "{step}");
    }
    assert_eq!(server.seen().len(), 2, "nothing more was sent");
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
