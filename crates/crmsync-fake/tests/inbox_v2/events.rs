//! The event log: `lastSeq` counting filtered events, message events, retention and the gap
//! check.

use crmsync_fake::inbox_v2::{ContactEdit, Direction};
use serde_json::json;

use super::*;

#[tokio::test]
async fn last_seq_counts_the_events_a_type_filter_leaves_out() {
    let (fake, api) = start(20).await;
    let empty = api.ok("/events").await;
    assert_eq!(
        empty,
        json!({ "data": [], "lastSeq": null, "hasMore": false })
    );
    let start_seq = fake.last_seq();
    assert!(start_seq > 1, "the log does not start at seq 1");
    let threads = fake.threads();
    let contact = threads[0].contact_id.clone();
    fake.new_message(&threads[0].id, Direction::Inbound);
    fake.new_message(&threads[1].id, Direction::Outbound);
    fake.edit_contact(
        &contact,
        ContactEdit {
            notes: Some(Some("x".into())),
            ..ContactEdit::default()
        },
    );
    fake.new_message(&threads[2].id, Direction::Inbound);
    let page = api
        .ok(&format!(
            "/events?afterSeq={start_seq}&type=contact.notesChanged&limit=2"
        ))
        .await;
    assert_eq!(page["data"], json!([]), "two read, none of the type");
    assert_eq!(page["lastSeq"], json!(start_seq + 2));
    assert_eq!(page["hasMore"], true);
    let page = api
        .ok(&format!(
            "/events?afterSeq={}&type=contact.notesChanged&limit=2",
            start_seq + 2
        ))
        .await;
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    assert_eq!(page["lastSeq"], json!(start_seq + 4));
    assert_eq!(page["hasMore"], false);
    let all = api.ok(&format!("/events?afterSeq={start_seq}")).await;
    let kinds: Vec<&str> = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "message.received",
            "message.sent",
            "contact.notesChanged",
            "message.received"
        ]
    );
    let message = &all["data"][0];
    assert_eq!(message["object"]["type"], "message");
    assert_eq!(message["data"], json!({ "threadId": threads[0].id }));
    let after_end = api.ok(&format!("/events?afterSeq={}", start_seq + 4)).await;
    assert!(after_end["lastSeq"].is_null());
    assert_eq!(
        api.get("/events?type=contact.created").await.issue_paths(),
        [json!(["type", 0])]
    );
    assert_eq!(
        api.get("/events?limit=1001").await.issue_paths(),
        [json!(["limit"])]
    );
    assert_eq!(
        api.ok("/events?limit=1000").await["data"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
}

#[tokio::test]
async fn retention_drops_the_oldest_events_and_the_oldest_seq_tells_the_gap() {
    let (fake, api) = start_with(FakeConfig {
        event_cap: 3,
        ..config(10)
    })
    .await;
    let threads = fake.threads();
    let bookmark = fake.last_seq();
    for _ in 0..5 {
        fake.new_message(&threads[0].id, Direction::Inbound);
    }
    assert_eq!(fake.events().len(), 3);
    // Reading from the bookmark is not an error: it starts at the oldest retained event...
    let page = api.ok(&format!("/events?afterSeq={bookmark}")).await;
    assert_eq!(page["data"][0]["seq"], json!(bookmark + 3));
    // ...and the documented gap check sees that events were lost.
    let oldest = api.ok("/events?limit=1").await;
    let oldest_seq = oldest["data"][0]["seq"].as_u64().unwrap();
    assert!(oldest_seq > bookmark + 1);
    fake.expire_events_through(bookmark + 4);
    assert_eq!(
        api.ok("/events?limit=1").await["data"][0]["seq"],
        json!(bookmark + 5)
    );
}
