//! The contact finder, PATCH bodies, the idempotent tag routes, the assignee fallback, tag
//! creation and the write log.

use crmsync_fake::inbox_v2::{ContactView, ThreadEdit};
use serde_json::json;

use super::*;

/// A contact with at least one thread whose own assignee is unset, and its thread.
fn contact_with_thread(fake: &FakeInboxV2) -> (ContactView, String) {
    let threads = fake.threads();
    let thread = threads
        .iter()
        .find(|t| t.own_assignee_id.is_none())
        .unwrap();
    (fake.contact(&thread.contact_id).unwrap(), thread.id.clone())
}

#[tokio::test]
async fn the_contact_finder_matches_identities_in_batches() {
    let (fake, api) = start(200).await;
    let profiles = fake.profiles();
    let x: Vec<_> = profiles
        .iter()
        .filter(|p| p.platform == "twitter")
        .take(3)
        .collect();
    let query: String = x
        .iter()
        .map(|p| format!("&platformId={}", p.platform_id))
        .collect();
    let found = api.ok(&format!("/contacts?platform=twitter{query}")).await;
    let mut got = ids(found["data"].as_array().unwrap());
    let mut expected: Vec<String> = x.iter().map(|p| p.contact_id.clone()).collect();
    got.sort();
    expected.sort();
    expected.dedup();
    assert_eq!(got, expected);

    let linkedin = profiles.iter().find(|p| p.platform == "linkedin").unwrap();
    let by_slug = api
        .ok(&format!(
            "/contacts?platform=linkedin&username={}&expand=tags",
            linkedin.username
        ))
        .await;
    assert_eq!(
        by_slug["data"][0]["id"].as_str(),
        Some(linkedin.contact_id.as_str())
    );
    assert!(by_slug["data"][0]["tags"].is_array());
    let upper = x[0].username.to_uppercase();
    let by_name = api
        .ok(&format!("/contacts?platform=twitter&username={upper}"))
        .await;
    assert!(ids(by_name["data"].as_array().unwrap()).contains(&x[0].contact_id));
    // The LinkedIn platformId is not an X one: no match is an empty page.
    let none = api
        .ok(&format!(
            "/contacts?platform=twitter&platformId={}",
            linkedin.platform_id
        ))
        .await;
    assert_eq!(none["data"], json!([]));
    assert!(none["nextCursor"].is_null());

    let prefixed = api
        .get(&format!(
            "/contacts?platform=twitter&username=%40{}",
            x[0].username
        ))
        .await;
    assert_eq!(prefixed.issue_paths(), [json!(["username", 0])]);
    assert_eq!(
        api.get("/contacts?platform=twitter").await.issue_paths(),
        [json!([])]
    );
    let both = api
        .get("/contacts?platform=twitter&platformId=1&username=a")
        .await;
    assert_eq!(both.issue_paths(), [json!(["username"])]);
    assert_eq!(
        api.get("/contacts?username=a").await.issue_paths(),
        [json!(["platform"])]
    );
    let many: String = (0..101).map(|i| format!("&platformId={i}")).collect();
    let over = api.get(&format!("/contacts?platform=twitter{many}")).await;
    assert_eq!(over.issue_paths(), [json!(["platformId"])]);
    let hundred: String = (0..100).map(|i| format!("&platformId={i}")).collect();
    assert_eq!(
        api.get(&format!("/contacts?platform=twitter{hundred}"))
            .await
            .status,
        200
    );
    let other = api.get("/contacts?platform=mastodon&username=a").await;
    assert_eq!(other.error_code(403), "platformNotAvailable");
}

#[tokio::test]
async fn patch_bodies_reject_unknown_keys_with_issues_and_change_nothing() {
    let (fake, api) = start(20).await;
    let (contact, thread_id) = contact_with_thread(&fake);
    let path = format!("/contacts/{}", contact.id);
    let reply = api
        .patch(&path, json!({ "statusId": "x", "tagIds": [], "notes": 5 }))
        .await;
    let mut paths = reply.issue_paths();
    paths.sort_by_key(|p| p.to_string());
    assert_eq!(
        paths,
        [json!(["notes"]), json!(["statusId"]), json!(["tagIds"])]
    );
    let reply = api
        .patch(&format!("/threads/{thread_id}"), json!({ "done": true }))
        .await;
    assert_eq!(reply.issue_paths(), [json!(["done"])]);
    assert_eq!(
        api.patch(&path, json!({ "status": "No Such" }))
            .await
            .issue_paths(),
        [json!(["status"])]
    );
    let unknown_member = api.patch(&path, json!({ "assigneeId": "nobody" })).await;
    assert_eq!(unknown_member.issue_paths(), [json!(["assigneeId"])]);
    assert_eq!(fake.contact(&contact.id).unwrap(), contact);
    assert!(fake.write_log().is_empty());
    let missing = api.patch("/contacts/abc123", json!({})).await;
    assert_eq!(missing.error_code(404), "contactNotFound");
}

#[tokio::test]
async fn patch_contact_sets_status_by_name_and_emits_thin_events() {
    let (fake, api) = start(20).await;
    let (contact, _) = contact_with_thread(&fake);
    let before = fake.last_seq();
    let body = json!({ "status": "WON", "notes": "Signed.", "valuation": 1200 });
    let reply = api
        .patch(&format!("/contacts/{}", contact.id), body.clone())
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let won = fake
        .statuses()
        .into_iter()
        .find(|(_, n)| n == "Won")
        .unwrap()
        .0;
    assert_eq!(reply.json()["statusId"], json!(won));
    assert_eq!(reply.json()["valuation"], json!(1200));
    let events: Vec<_> = fake
        .events()
        .into_iter()
        .filter(|e| e["seq"].as_u64().unwrap() > before)
        .collect();
    let expected_status = contact.status_id.as_deref() != Some(won.as_str());
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"contact.notesChanged"), "{kinds:?}");
    assert_eq!(kinds.contains(&"contact.statusChanged"), expected_status);
    for event in &events {
        assert_eq!(event["apiVersion"], "2");
        assert_eq!(event["object"]["type"], "contact");
        assert_eq!(event["object"]["url"], format!("/contacts/{}", contact.id));
        assert!(event.get("actor").is_none() && event.get("teamId").is_none());
    }
    let notes = events
        .iter()
        .find(|e| e["type"] == "contact.notesChanged")
        .unwrap();
    assert_eq!(notes["data"], json!({ "notes": "Signed." }));
    let log = fake.write_log();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].route, "PATCH /contacts/{contactId}");
    assert_eq!(log[0].params, std::slice::from_ref(&contact.id));
    assert_eq!(log[0].body, body);
    // The same PATCH again changes nothing and emits nothing.
    let seq = fake.last_seq();
    api.patch(&format!("/contacts/{}", contact.id), body).await;
    assert_eq!(fake.last_seq(), seq);
}

#[tokio::test]
async fn tag_routes_are_idempotent_and_answer_204() {
    let (fake, api) = start(30).await;
    let contact = fake
        .contacts()
        .into_iter()
        .find(|c| c.tags.is_empty())
        .unwrap();
    let tag = fake
        .tags()
        .into_iter()
        .find(|(_, n)| n == "Q3/2026 Pipeline")
        .unwrap();
    let path = format!("/contacts/{}/tags/Q3%2F2026%20pipeline", contact.id);
    let seq = fake.last_seq();
    for _ in 0..2 {
        let reply = api.put(&path).await;
        assert_eq!(reply.status, 204, "{}", reply.text);
        assert!(reply.text.is_empty());
    }
    assert_eq!(
        fake.contact(&contact.id).unwrap().tag_ids,
        std::slice::from_ref(&tag.0)
    );
    let events = fake.events();
    let changed: Vec<_> = events
        .iter()
        .filter(|e| e["seq"].as_u64().unwrap() > seq)
        .collect();
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0]["type"], "contact.tagsChanged");
    assert_eq!(changed[0]["data"], json!({ "tagIds": [tag.0] }));

    let vip = format!("/contacts/{}/tags/VIP", contact.id);
    let seq = fake.last_seq();
    assert_eq!(api.delete(&vip).await.status, 204, "not on the contact");
    assert_eq!(fake.last_seq(), seq, "no change, no event");
    assert_eq!(
        api.delete(&format!("/contacts/{}/tags/{}", contact.id, tag.0))
            .await
            .status,
        204
    );
    assert!(fake.contact(&contact.id).unwrap().tag_ids.is_empty());

    let unknown = api
        .put(&format!("/contacts/{}/tags/no%20such%20tag", contact.id))
        .await;
    assert_eq!(unknown.error_code(404), "tagNotFound");
    assert_eq!(
        api.delete(&format!("/contacts/{}/tags/nope", contact.id))
            .await
            .error_code(404),
        "tagNotFound"
    );
    assert_eq!(
        api.put("/contacts/abc123/tags/VIP").await.error_code(404),
        "contactNotFound"
    );
    let log = fake.write_log();
    assert_eq!(log.len(), 4);
    assert_eq!(log[0].route, "PUT /contacts/{contactId}/tags/{tagRef}");
    assert_eq!(
        log[0].params,
        [contact.id.clone(), "Q3/2026 pipeline".to_owned()]
    );
}

#[tokio::test]
async fn a_thread_shows_its_own_assignee_or_else_the_contact_default() {
    let (fake, api) = start(40).await;
    let members = fake.members();
    let (contact, thread_id) = contact_with_thread(&fake);
    let (default, other) = (&members[0].0, &members[1].0);
    let reply = api
        .patch(
            &format!("/contacts/{}", contact.id),
            json!({ "assigneeId": default }),
        )
        .await;
    assert_eq!(reply.json()["assigneeId"], json!(default));
    let thread_path = format!("/threads/{thread_id}");
    assert_eq!(api.ok(&thread_path).await["assigneeId"], json!(default));

    let seq = fake.last_seq();
    let own = api
        .patch(&thread_path, json!({ "assigneeId": other }))
        .await;
    assert_eq!(own.json()["assigneeId"], json!(other));
    let back = api.patch(&thread_path, json!({ "assigneeId": null })).await;
    assert_eq!(
        back.json()["assigneeId"],
        json!(default),
        "null falls back to the default"
    );
    let events: Vec<_> = fake
        .events()
        .into_iter()
        .filter(|e| e["seq"].as_u64().unwrap() > seq)
        .collect();
    assert_eq!(events.len(), 2);
    assert!(
        events
            .iter()
            .all(|e| e["type"] == "thread.assigned" && e["object"]["type"] == "thread")
    );
    assert_eq!(events[1]["data"], json!({ "assigneeId": default }));

    // Clearing the default unassigns the inheriting thread, with no thread event.
    let seq = fake.last_seq();
    api.patch(
        &format!("/contacts/{}", contact.id),
        json!({ "assigneeId": null }),
    )
    .await;
    assert!(api.ok(&thread_path).await["assigneeId"].is_null());
    let kinds: Vec<_> = fake
        .events()
        .into_iter()
        .filter(|e| e["seq"].as_u64().unwrap() > seq)
        .map(|e| e["type"].clone())
        .collect();
    assert_eq!(kinds, [json!("contact.assigneeChanged")]);
    let expanded = api.ok(&format!("{thread_path}?expand=assignee")).await;
    assert!(expanded.get("assignee").is_none());

    fake.edit_thread(
        &thread_id,
        ThreadEdit {
            archived: Some(true),
            ..ThreadEdit::default()
        },
    );
    let archived = api.ok(&thread_path).await;
    assert_eq!(archived["archived"], true);
    let reply = api
        .patch(&thread_path, json!({ "archived": false, "unread": true }))
        .await;
    assert_eq!(reply.json()["archived"], false);
    assert_eq!(reply.json()["unread"], true);
    assert_eq!(fake.events().last().unwrap()["type"], "thread.unarchived");
}

#[tokio::test]
async fn post_tags_creates_a_tag_and_refuses_a_taken_name() {
    let (fake, api) = start(5).await;
    let reply = api
        .send(
            Method::POST,
            "/tags",
            Some(json!({ "name": "Warm", "color": "Teal" })),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    assert_eq!(reply.json()["color"], "#14b8a6");
    assert_eq!(fake.events().last().unwrap()["type"], "tag.created");
    let taken = api
        .send(Method::POST, "/tags", Some(json!({ "name": "conference" })))
        .await;
    assert_eq!(taken.error_code(409), "nameTaken");
    assert_eq!(taken.json()["details"], json!({ "name": "Conférence" }));
    let bad = api
        .send(
            Method::POST,
            "/tags",
            Some(json!({ "name": "", "colour": "red" })),
        )
        .await;
    assert_eq!(bad.issue_paths().len(), 2);
    assert_eq!(api.ok("/tags/warm").await["name"], "Warm");
}

#[tokio::test]
async fn a_sticky_thread_answers_a_write_with_200_and_keeps_its_values() {
    let (fake, api) = start(20).await;
    let (_, thread_id) = contact_with_thread(&fake);
    let thread_path = format!("/threads/{thread_id}");
    let before = fake.thread(&thread_id).unwrap();
    let sticky = |on: bool| ThreadEdit {
        sticky: Some(on),
        ..ThreadEdit::default()
    };
    fake.edit_thread(&thread_id, sticky(true));
    let (seq, writes) = (fake.last_seq(), fake.write_log().len());
    let reply = api
        .patch(&thread_path, json!({ "archived": !before.archived }))
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.json()["archived"],
        before.archived,
        "the answer shows it kept"
    );
    assert_eq!(fake.thread(&thread_id).unwrap(), before);
    assert_eq!(fake.last_seq(), seq, "nothing changed: no event");
    // The write was answered, so the log has it (a retry shows as a second entry).
    let log = fake.write_log();
    assert_eq!(log.len(), writes + 1);
    assert_eq!(log[writes].route, "PATCH /threads/{threadId}");
    assert_eq!(log[writes].params, [thread_id.as_str()]);

    fake.edit_thread(&thread_id, sticky(false));
    let reply = api
        .patch(&thread_path, json!({ "archived": !before.archived }))
        .await;
    assert_eq!(reply.json()["archived"], !before.archived);
}
