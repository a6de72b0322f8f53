//! The adapter and its client against the stateful fake HubSpot: paging, batching, 207s,
//! refused batches, owners, creates, auth, retries, pacing and the modified-since walk.

use std::time::{Duration, Instant};

use crmsync_fake::hubspot::{FakeHubspot, FakeHubspotConfig, Limits};
use secrecy::SecretString;

use super::{TOKEN, TOKEN_ENV, change, properties};
use crate::crm::hubspot::client::ClientOptions;
use crate::crm::hubspot::{Client, HubspotAdapter};
use crate::crm::{CrmAdapter, CrmWrite, NewRecord, WriteStatus};
use crate::reconcile::{Field, Fields, Value};

async fn start_fake(contacts: usize) -> FakeHubspot {
    FakeHubspot::start(FakeHubspotConfig {
        token: TOKEN.into(),
        contacts,
        limits: Limits::off(),
        ..FakeHubspotConfig::default()
    })
    .await
    .expect("fake starts")
}

fn options(fake: &FakeHubspot) -> ClientOptions {
    ClientOptions {
        max_attempts: 3,
        backoff_base: Duration::from_millis(10),
        requests_per_window: 1_000,
        window: Duration::from_secs(1),
        search_per_second: 100,
        ..ClientOptions::new(fake.base_url(), SecretString::from(TOKEN), TOKEN_ENV)
    }
}

fn adapter(fake: &FakeHubspot) -> HubspotAdapter {
    HubspotAdapter::new(options(fake), properties()).expect("adapter")
}

fn update(id: &str, new: Value) -> CrmWrite {
    let old = Value::empty(new.field());
    CrmWrite::Update {
        id: id.into(),
        changes: vec![change(old, new)],
    }
}

#[tokio::test]
async fn read_walks_every_page_and_rejects_bad_values_individually() {
    let fake = start_fake(250).await;
    let owner = fake.owners()[1].clone();
    let ids: Vec<String> = fake.contacts().into_iter().map(|c| c.id).collect();
    fake.set_property(&ids[0], "hubspot_owner_id", &owner.0);
    fake.set_property(&ids[0], "inbox_done", "true");
    // A value the API would refuse, stored anyway (e.g. before the property's type changed).
    let bad = fake.add_contact(&[("twitter_user_id", "1"), ("inbox_valuation", "n/a")]);
    let mut adapter = adapter(&fake);
    let snapshot = adapter.read().await.expect("read");
    // The unreadable value is refused on its own: the contact still reads, without it.
    assert_eq!(snapshot.records.len(), 251);
    assert_eq!(snapshot.rejects.len(), 1);
    let reject = &snapshot.rejects[0];
    assert_eq!(reject.row, 251);
    assert_eq!(reject.record_id.as_deref(), Some(bad.as_str()));
    assert_eq!(reject.column.as_deref(), Some("inbox_valuation"));
    let unreadable = &snapshot.records[250];
    assert_eq!(unreadable.id, bad);
    assert_eq!(unreadable.x_user_id.as_deref(), Some("1"));
    assert_eq!(
        unreadable.unknown,
        std::collections::BTreeSet::from([crate::reconcile::Field::Valuation])
    );
    assert!(
        reject.reason.contains("inbox_valuation"),
        "{}",
        reject.reason
    );
    let first = &snapshot.records[0];
    assert_eq!(first.id, ids[0]);
    assert_eq!(first.row, 1);
    assert_eq!(first.x_user_id.as_deref(), Some("900000001"));
    assert_eq!(first.username.as_deref(), Some("lead00001"));
    assert_eq!(first.fields.assignee.as_deref(), Some(owner.1.as_str()));
    assert_eq!(first.fields.done, Some(true));
    assert_eq!(first.fields.tags, ["Hot Lead".to_owned()].into());
    assert!(first.updated_at.is_some());
    let stats = fake.stats();
    assert_eq!(stats.count("GET", "/crm/v3/objects/contacts"), 3);
    assert_eq!(stats.count("GET", "/crm/v3/owners"), 2);
    assert_eq!(stats.count("GET", "/crm/v3/properties/contacts"), 1);
}

#[tokio::test]
async fn a_missing_mapped_property_stops_the_read() {
    let fake = start_fake(1).await;
    let mut props = properties();
    props.done = Some("no_such_property".into());
    let mut adapter = HubspotAdapter::new(options(&fake), props).unwrap();
    let err = adapter.read().await.unwrap_err().to_string();
    assert!(
        err.contains("crm.hubspot.properties.done = \"no_such_property\""),
        "{err}"
    );
    assert_eq!(fake.stats().count("GET", "/crm/v3/objects/contacts"), 0);
}

#[tokio::test]
async fn writes_go_in_batches_of_100_and_are_confirmed() {
    let fake = start_fake(150).await;
    let ids: Vec<String> = fake.contacts().into_iter().map(|c| c.id).collect();
    let mut adapter = adapter(&fake);
    adapter.read().await.unwrap();
    fake.reset_stats();
    let writes: Vec<CrmWrite> = ids
        .iter()
        .map(|id| update(id, Value::Notes(Some(format!("note {id}")))))
        .collect();
    let report = adapter.write(&writes).await.unwrap();
    assert!(report.statuses.iter().all(|s| *s == WriteStatus::Confirmed));
    assert_eq!(fake.stats().batch_updates(), 2);
    assert_eq!(fake.stats().requests, 2);
    let last = fake.contact(&ids[149]).unwrap();
    assert_eq!(
        last.get("inbox_notes"),
        Some(format!("note {}", ids[149]).as_str())
    );
}

#[tokio::test]
async fn a_207_fails_only_the_named_contacts() {
    let fake = start_fake(5).await;
    let ids: Vec<String> = fake.contacts().into_iter().map(|c| c.id).collect();
    let mut adapter = adapter(&fake);
    adapter.read().await.unwrap();
    fake.archive(&ids[1]);
    fake.reject_writes_to(&ids[3], Some("This contact is locked"));
    let writes: Vec<CrmWrite> = ids
        .iter()
        .map(|id| update(id, Value::Done(Some(true))))
        .collect();
    let report = adapter.write(&writes).await.unwrap();
    let failed: Vec<(usize, &str)> = report
        .statuses
        .iter()
        .enumerate()
        .filter_map(|(i, s)| match s {
            WriteStatus::Failed(reason) => Some((i, reason.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert_eq!(failed[0].0, 1);
    assert!(
        failed[0].1.starts_with("OBJECT_NOT_FOUND"),
        "{}",
        failed[0].1
    );
    assert_eq!(failed[1], (3, "VALIDATION_ERROR: This contact is locked"));
    assert_eq!(
        fake.contact(&ids[4]).unwrap().get("inbox_done"),
        Some("true")
    );
    assert_eq!(fake.stats().batch_updates(), 1);
}

#[tokio::test]
async fn a_batch_refused_for_one_value_is_narrowed_down_to_that_write() {
    let fake = start_fake(40).await;
    let ids: Vec<String> = fake.contacts().into_iter().map(|c| c.id).collect();
    let mut adapter = adapter(&fake);
    adapter.read().await.unwrap();
    fake.reset_stats();
    let mut writes: Vec<CrmWrite> = ids
        .iter()
        .map(|id| update(id, Value::Status(Some("CONNECTED".into()))))
        .collect();
    // A status value HubSpot has no option for (a [mapping.status] typo, say).
    writes[17] = update(&ids[17], Value::Status(Some("CLOSED_WON".into())));
    let report = adapter.write(&writes).await.unwrap();
    for (idx, status) in report.statuses.iter().enumerate() {
        if idx == 17 {
            let WriteStatus::Failed(reason) = status else {
                panic!("{status:?}")
            };
            assert!(reason.contains("VALIDATION_ERROR"), "{reason}");
            assert!(reason.contains("CLOSED_WON"), "{reason}");
        } else {
            assert_eq!(*status, WriteStatus::Confirmed, "write {idx}");
        }
    }
    assert_eq!(
        fake.contact(&ids[16]).unwrap().get("hs_lead_status"),
        Some("CONNECTED")
    );
    // 1 refused batch of 40, then halves down to the bad one: 40 → 20 → 10 → 5 → 3 → 2 → 1.
    let calls = fake.stats().batch_updates();
    assert!(calls <= 1 + 2 * 6, "{calls} calls");
}

#[tokio::test]
async fn an_owner_without_an_active_hubspot_user_fails_that_write_only() {
    let fake = start_fake(2).await;
    let ids: Vec<String> = fake.contacts().into_iter().map(|c| c.id).collect();
    let owner_email = fake.owners()[0].1.clone();
    let mut adapter = adapter(&fake);
    adapter.read().await.unwrap();
    let report = adapter
        .write(&[
            update(&ids[0], Value::Assignee(Some("nobody@example.com".into()))),
            update(&ids[1], Value::Assignee(Some(owner_email.to_uppercase()))),
        ])
        .await
        .unwrap();
    assert_eq!(
        report.statuses,
        [
            WriteStatus::unmapped("no active HubSpot owner has the e-mail nobody@example.com"),
            WriteStatus::Confirmed
        ]
    );
    let owner_id = fake.owners()[0].0.clone();
    assert_eq!(
        fake.contact(&ids[1]).unwrap().get("hubspot_owner_id"),
        Some(owner_id.as_str())
    );
}

#[tokio::test]
async fn creates_are_pending_until_the_next_read_links_them() {
    let fake = start_fake(0).await;
    let mut adapter = adapter(&fake);
    let fields = Fields {
        tags: ["VIP".to_owned()].into(),
        notes: Some("new".into()),
        ..Fields::default()
    };
    let report = adapter
        .write(&[CrmWrite::Create(NewRecord {
            id: "inbox-abc".into(),
            x_user_id: "4242".into(),
            username: "newbie".into(),
            linkedin_id: None,
            linkedin_username: None,
            fields,
        })])
        .await
        .unwrap();
    assert_eq!(report.statuses, [WriteStatus::Pending]);
    let created = &fake.contacts()[0];
    assert_eq!(created.get("twitter_user_id"), Some("4242"));
    assert_eq!(created.get("inbox_tags"), Some("vip"));
    let snapshot = adapter.read().await.unwrap();
    assert_eq!(snapshot.records[0].x_user_id.as_deref(), Some("4242"));
}

#[tokio::test]
async fn a_401_names_the_token_variable_and_never_the_token() {
    let fake = start_fake(1).await;
    let mut opts = options(&fake);
    opts.token = SecretString::from("wrong-token-value");
    let mut adapter = HubspotAdapter::new(opts, properties()).unwrap();
    let err = adapter.read().await.unwrap_err();
    let text = format!("{err:#} {err:?}");
    assert!(text.contains(TOKEN_ENV), "{text}");
    assert!(text.contains("401"), "{text}");
    assert!(!text.contains("wrong-token-value"), "{text}");
    assert!(!format!("{adapter:?}").contains("wrong-token-value"));
    // One attempt: a 401 is not retried.
    assert_eq!(fake.stats().unauthorized, 1);
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_retried_then_reported() {
    let fake = start_fake(3).await;
    let mut adapter = adapter(&fake);
    fake.fail_next(1, 429);
    fake.fail_next(1, 503);
    let snapshot = adapter.read().await.expect("read succeeds after retries");
    assert_eq!(snapshot.records.len(), 3);
    let stats = adapter.client().stats();
    assert_eq!(
        (stats.rate_limited, stats.server_errors, stats.retries),
        (1, 1, 2)
    );

    fake.fail_next(3, 502);
    let chain = adapter.read().await.unwrap_err().to_string();
    assert!(chain.contains("after 3 attempt(s)"), "{chain}");
    assert!(
        chain.contains("server error (502 INTERNAL_ERROR)"),
        "{chain}"
    );
}

#[tokio::test]
async fn a_real_429_waits_for_retry_after() {
    let fake = start_fake(1).await;
    fake.set_limits(Limits {
        requests: Some((2, Duration::from_secs(1))),
        search_per_second: None,
    });
    let mut opts = options(&fake);
    opts.max_attempts = 4;
    let mut adapter = HubspotAdapter::new(opts, properties()).unwrap();
    let started = Instant::now();
    // properties + 2 owner listings + 1 contact page = 4 requests through a 2-per-second limit.
    adapter.read().await.expect("read");
    assert!(fake.stats().rate_limited >= 1);
    assert!(started.elapsed() >= Duration::from_millis(900));
}

#[tokio::test]
async fn requests_are_paced_evenly_below_the_configured_budget() {
    let fake = start_fake(1).await;
    let mut opts = options(&fake);
    opts.requests_per_window = 10;
    opts.window = Duration::from_secs(1);
    let client = Client::new(opts).unwrap();
    let started = Instant::now();
    for _ in 0..5 {
        client.owners(false).await.unwrap();
    }
    // Burst 1, one request per 100 ms: the 5th starts about 400 ms after the first.
    assert!(
        started.elapsed() >= Duration::from_millis(380),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn an_unreadable_batch_answer_fails_its_writes_without_failing_the_run() {
    let fake = start_fake(2).await;
    let ids: Vec<String> = fake.contacts().into_iter().map(|c| c.id).collect();
    let mut adapter = adapter(&fake);
    adapter.read().await.unwrap();
    fake.malformed_next(1);
    let report = adapter
        .write(&[update(&ids[0], Value::Notes(Some("n".into())))])
        .await
        .unwrap();
    let WriteStatus::Failed(reason) = &report.statuses[0] else {
        panic!("{:?}", report.statuses)
    };
    assert!(reason.contains("may have been written"), "{reason}");
}

#[tokio::test]
async fn the_modified_since_walk_passes_the_10000_cap_without_skipping_ties() {
    let fake = start_fake(0).await;
    for idx in 0..10_450 {
        fake.add_contact(&[("twitter_user_id", format!("{}", 1_000_000 + idx))]);
    }
    let ids: Vec<String> = fake.contacts().into_iter().map(|c| c.id).collect();
    let (old, rest) = ids.split_at(50);
    let (tied, later) = rest.split_at(10_200);
    fn refs(ids: &[String]) -> Vec<&str> {
        ids.iter().map(String::as_str).collect()
    }
    fake.set_last_modified(&refs(old), 1_000);
    fake.set_last_modified(&refs(tied), 5_000);
    for (idx, id) in later.iter().enumerate() {
        fake.set_last_modified(&[id.as_str()], 6_000 + idx as i64 / 50);
    }
    let mut adapter = adapter(&fake);
    let since = chrono::DateTime::from_timestamp_millis(5_000).unwrap();
    let snapshot = adapter.read_modified_since(since).await.unwrap();
    let mut got: Vec<&str> = snapshot.records.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(got.len(), 10_400, "each modified contact exactly once");
    got.sort_by_key(|id| id.parse::<u64>().unwrap());
    let mut want: Vec<&str> = refs(tied);
    want.extend(refs(later));
    assert_eq!(got, want);
    // 50 capped pages, the tie walk (51 + 1 pages), then the rest: a few pages over the minimum
    // of ⌈10,400 / 200⌉ = 52.
    let searches = fake
        .stats()
        .count("POST", "/crm/v3/objects/contacts/search");
    assert!((52..=110).contains(&searches), "{searches} searches");
}

#[tokio::test]
async fn a_400_for_paging_past_a_lowered_search_cap_is_taken_as_the_cap() {
    // HubSpot lowers its cap to 1,000: the computed offset (10,000) is never reached, and the
    // 400 HubSpot answers past the cap must end the window, not the run.
    let fake = start_fake(0).await;
    fake.set_search_cap(1_000);
    for idx in 0..1_450 {
        fake.add_contact(&[("twitter_user_id", format!("{}", 1_000_000 + idx))]);
    }
    let ids: Vec<String> = fake.contacts().into_iter().map(|c| c.id).collect();
    let (old, rest) = ids.split_at(50);
    let (tied, later) = rest.split_at(1_200);
    fn refs(ids: &[String]) -> Vec<&str> {
        ids.iter().map(String::as_str).collect()
    }
    fake.set_last_modified(&refs(old), 1_000);
    fake.set_last_modified(&refs(tied), 5_000);
    for (idx, id) in later.iter().enumerate() {
        fake.set_last_modified(&[id.as_str()], 6_000 + idx as i64 / 50);
    }
    let mut adapter = adapter(&fake);
    let since = chrono::DateTime::from_timestamp_millis(5_000).unwrap();
    let snapshot = adapter.read_modified_since(since).await.unwrap();
    let mut got: Vec<&str> = snapshot.records.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(got.len(), 1_400, "each modified contact exactly once");
    got.sort_by_key(|id| id.parse::<u64>().unwrap());
    let mut want: Vec<&str> = refs(tied);
    want.extend(refs(later));
    assert_eq!(got, want);
}

#[tokio::test]
async fn a_sync_of_10000_contacts_with_500_changes_costs_108_requests() {
    let fake = start_fake(10_000).await;
    let mut adapter = adapter(&fake);
    let snapshot = adapter.read().await.unwrap();
    assert_eq!(snapshot.records.len(), 10_000);
    let writes: Vec<CrmWrite> = snapshot
        .records
        .iter()
        .step_by(20)
        .map(|r| update(r.id.as_str(), Value::Notes(Some("changed".into()))))
        .collect();
    assert_eq!(writes.len(), 500);
    let report = adapter.write(&writes).await.unwrap();
    assert!(report.statuses.iter().all(|s| *s == WriteStatus::Confirmed));
    // The minimum is 100 listing pages + ⌈500 / 100⌉ batch updates = 105; the adapter adds the
    // property definitions and the two owner listings (active, deactivated).
    let stats = fake.stats();
    assert_eq!(stats.count("GET", "/crm/v3/objects/contacts"), 100);
    assert_eq!(stats.batch_updates(), 5);
    assert_eq!(stats.requests, 108);
}

#[tokio::test]
async fn a_tag_without_an_option_is_unmapped_unless_the_adapter_may_add_options() {
    let fake = start_fake(2).await;
    let ids: Vec<String> = fake.contacts().into_iter().map(|c| c.id).collect();
    let tags = |names: &[&str]| Value::Tags(names.iter().map(|n| (*n).to_owned()).collect());
    let writes = [
        update(&ids[0], tags(&["VIP", "Webinar", "Q3 Summit!"])),
        update(&ids[1], tags(&["VIP"])),
    ];
    let mut adapter = adapter(&fake);
    let report = adapter.write(&writes).await.unwrap();
    let Some(detail) = report.statuses[0].unmapped_detail() else {
        panic!("{:?}", report.statuses)
    };
    assert!(
        detail.contains("\"Q3 Summit!\" is not an option"),
        "{detail}"
    );
    assert_eq!(report.statuses[1], WriteStatus::Confirmed);
    let patch = ("PATCH", "/crm/v3/properties/contacts/{propertyName}");
    assert_eq!(fake.stats().count(patch.0, patch.1), 0);

    adapter.set_create_missing_options(true);
    let before = fake.options("inbox_tags");
    let report = adapter.write(&writes).await.unwrap();
    assert_eq!(
        report.statuses,
        [WriteStatus::Confirmed, WriteStatus::Confirmed]
    );
    assert_eq!(fake.stats().count(patch.0, patch.1), 1);
    let after = fake.options("inbox_tags");
    assert_eq!(after[..before.len()], before[..], "existing options kept");
    assert_eq!(
        after[before.len()..],
        [
            ("q3_summit".to_owned(), "Q3 Summit!".to_owned()),
            ("webinar".to_owned(), "Webinar".to_owned())
        ]
    );
    assert_eq!(
        fake.contact(&ids[0]).unwrap().get("inbox_tags"),
        Some("q3_summit;vip;webinar")
    );
    // Read back by label; written again without another property update.
    let snapshot = adapter.read().await.unwrap();
    let first = snapshot.records.iter().find(|r| r.id == ids[0]).unwrap();
    assert_eq!(first.fields.get(Field::Tags), writes_tags(&writes[0]));
    adapter.write(&writes).await.unwrap();
    assert_eq!(fake.stats().count(patch.0, patch.1), 1);
}

fn writes_tags(write: &CrmWrite) -> Value {
    match write {
        CrmWrite::Update { changes, .. } => changes[0].new.clone(),
        CrmWrite::Create(record) => record.fields.get(Field::Tags),
    }
}

#[tokio::test]
async fn options_that_cannot_be_added_leave_the_write_unmapped_with_the_reason() {
    let fake = start_fake(1).await;
    let id = fake.contacts()[0].id.clone();
    let mut adapter = adapter(&fake);
    adapter.set_create_missing_options(true);
    adapter.read().await.unwrap();
    // The property update is refused (e.g. the token lacks crm.schemas.contacts.write).
    fake.fail_next(1, 403);
    let write = update(&id, Value::Tags(["Webinar".to_owned()].into()));
    let report = adapter.write(std::slice::from_ref(&write)).await.unwrap();
    let Some(detail) = report.statuses[0].unmapped_detail() else {
        panic!("{:?}", report.statuses)
    };
    assert!(detail.contains("adding the option failed"), "{detail}");
    assert!(detail.contains("403"), "{detail}");
}

#[tokio::test]
async fn an_incremental_sync_of_10000_contacts_with_500_changes_costs_11_requests() {
    let fake = start_fake(10_000).await;
    let mut adapter = adapter(&fake);
    let snapshot = adapter.read().await.unwrap();
    // Everything was modified a day ago; then 500 contacts are edited in HubSpot.
    let day_ago = chrono::Utc::now() - chrono::Duration::days(1);
    fake.set_last_modified(&[], day_ago.timestamp_millis());
    let since = chrono::Utc::now() - chrono::Duration::minutes(5);
    let edited: Vec<&str> = snapshot
        .records
        .iter()
        .step_by(20)
        .map(|r| r.id.as_str())
        .collect();
    for id in &edited {
        fake.set_property(id, "inbox_notes", "edited in HubSpot");
    }
    fake.reset_stats();
    let changed = adapter
        .read_changed_since(since)
        .await
        .unwrap()
        .expect("HubSpot reads incrementally");
    assert_eq!(changed.records.len(), 500);
    // And 500 writes back (as a sync writing 500 changes would).
    let writes: Vec<CrmWrite> = changed
        .records
        .iter()
        .map(|r| update(r.id.as_str(), Value::Notes(Some("changed".into()))))
        .collect();
    adapter.write(&writes).await.unwrap();
    // The minimum is ⌈500 / 200⌉ = 3 search pages + ⌈500 / 100⌉ = 5 batch updates = 8; the
    // adapter adds the property definitions and the two owner listings.
    let stats = fake.stats();
    assert_eq!(stats.count("POST", "/crm/v3/objects/contacts/search"), 3);
    assert_eq!(stats.count("GET", "/crm/v3/objects/contacts"), 0);
    assert_eq!(stats.batch_updates(), 5);
    assert_eq!(stats.requests, 11);
}
