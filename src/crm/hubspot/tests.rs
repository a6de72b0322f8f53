//! Unit tests of the HubSpot adapter: wire parsing, value conversion and batching as pure
//! functions, then the adapter and client against the stateful fake HubSpot.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use secrecy::SecretString;
use serde_json::json;

use super::client::{ClientOptions, parse_retry_after};
use super::error::{Error as ApiError, parse_error_body};
use super::record::{self, Lookups, Owners, TagOptions};
use super::wire::{
    BatchResponse, Contact, CreateInput, Owner, Page, PropertyDefinition, UpdateInput,
};
use super::write::{chunk_updates, create_statuses, update_statuses};
use super::{HubspotAdapter, validate};
use crate::config::HubspotProperties;
use crate::crm::{CrmAdapter, CrmWrite, NewRecord, WriteStatus};
use crate::fake::hubspot::{FakeHubspot, FakeHubspotConfig, Limits};
use crate::reconcile::{Amount, Change, Fields, Value};

const TOKEN: &str = "hs-unit-token-s3cr3t";
const TOKEN_ENV: &str = "HS_UNIT_TOKEN";

fn properties() -> HubspotProperties {
    HubspotProperties {
        x_user_id: Some("twitter_user_id".into()),
        username: Some("twitterhandle".into()),
        tags: Some("inbox_tags".into()),
        status: Some("hs_lead_status".into()),
        valuation: Some("inbox_valuation".into()),
        notes: Some("inbox_notes".into()),
        owner: Some("hubspot_owner_id".into()),
        done: Some("inbox_done".into()),
    }
}

fn tags_definition() -> PropertyDefinition {
    serde_json::from_value(json!({
        "name": "inbox_tags", "label": "Inbox Tags", "type": "enumeration",
        "fieldType": "checkbox",
        "options": [
            {"label": "Hot Lead", "value": "hot_lead", "displayOrder": 0, "hidden": false},
            {"label": "VIP", "value": "vip", "displayOrder": 1, "hidden": false}
        ],
        "modificationMetadata": {"archivable": true, "readOnlyDefinition": false, "readOnlyValue": false}
    }))
    .unwrap()
}

fn lookups() -> Lookups {
    let owner = |id: &str, email: &str| Owner {
        id: id.into(),
        email: Some(email.into()),
        first_name: None,
        last_name: None,
        archived: false,
    };
    Lookups {
        owners: Owners::new(
            &[owner("11", "Ana@Example.com")],
            &[owner("12", "gone@example.com")],
        ),
        tag_options: Some(TagOptions::new(&tags_definition())),
    }
}

fn contact(id: &str, properties: &[(&str, &str)]) -> Contact {
    Contact {
        id: id.into(),
        properties: properties
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Some((*v).to_owned())))
            .collect(),
        created_at: None,
        updated_at: None,
        archived: false,
    }
}

/// Converts one contact and renders the outcome as one line.
fn check_record(properties_in: &[(&str, &str)], expected: &str) {
    let got = match record::to_record(&contact("7", properties_in), 3, &properties(), &lookups()) {
        Ok(r) => format!(
            "ok id={} x={:?} user={:?} tags={:?} status={:?} valuation={:?} notes={:?} assignee={:?} done={:?} updated={:?}",
            r.id,
            r.x_user_id,
            r.username,
            r.fields.tags,
            r.fields.status,
            r.fields.valuation.map(|a| a.to_string()),
            r.fields.notes,
            r.fields.assignee,
            r.fields.done,
            r.updated_at.map(|t| t.to_rfc3339()),
        ),
        Err(reject) => format!(
            "reject {}:{} {:?}: {}",
            reject.source, reject.row, reject.record_id, reject.reason
        ),
    };
    assert_eq!(got, expected);
}

#[test]
fn a_listing_page_parses_with_null_properties_and_the_next_cursor() {
    let page: Page<Contact> = serde_json::from_value(json!({
        "results": [{
            "id": "512",
            "properties": {
                "createdate": "2019-10-30T03:30:17.883Z",
                "hs_object_id": "512",
                "inbox_notes": null,
                "lastmodifieddate": "2019-12-07T16:50:06.678Z",
                "inbox_tags": "hot_lead;vip"
            },
            "createdAt": "2019-10-30T03:30:17.883Z",
            "updatedAt": "2019-12-07T16:50:06.678Z",
            "archived": false
        }],
        "paging": {"next": {"after": "NTI1Cg%3D%3D", "link": "?after=NTI1Cg%3D%3D"}}
    }))
    .unwrap();
    assert_eq!(page.next_after(), Some("NTI1Cg%3D%3D"));
    let c = &page.results[0];
    assert_eq!(c.property("inbox_notes"), None);
    assert_eq!(c.property("inbox_tags"), Some("hot_lead;vip"));
    let last: Page<Contact> = serde_json::from_value(json!({"results": []})).unwrap();
    assert_eq!(last.next_after(), None);
}

#[test]
fn a_207_answer_parses_and_maps_errors_back_to_the_inputs() {
    let response: BatchResponse = serde_json::from_value(json!({
        "status": "COMPLETE",
        "results": [{"id": "1", "properties": {}}, {"id": "4", "properties": {}}],
        "numErrors": 2,
        "errors": [
            {"status": "error", "category": "OBJECT_NOT_FOUND",
             "message": "Could not get some CONTACT objects", "context": {"ids": ["2"]}},
            {"status": "error", "category": "VALIDATION_ERROR", "message": "locked",
             "context": {"ids": ["3"]}}
        ],
        "startedAt": "2024-01-01T00:00:00Z", "completedAt": "2024-01-01T00:00:01Z"
    }))
    .unwrap();
    let statuses = update_statuses(&["1", "2", "3", "4", "5"], &response);
    assert_eq!(
        statuses,
        [
            WriteStatus::Confirmed,
            WriteStatus::Failed("OBJECT_NOT_FOUND: Could not get some CONTACT objects".into()),
            WriteStatus::Failed("VALIDATION_ERROR: locked".into()),
            WriteStatus::Confirmed,
            WriteStatus::Failed("HubSpot's answer did not confirm contact 5".into()),
        ]
    );
}

#[test]
fn created_contacts_are_pending_and_matched_by_their_x_id() {
    let input = |x: &str| CreateInput {
        properties: [("twitter_user_id".to_owned(), x.to_owned())].into(),
    };
    let (a, b) = (input("100"), input("200"));
    let response: BatchResponse = serde_json::from_value(json!({
        "status": "COMPLETE",
        "results": [{"id": "9", "properties": {"twitter_user_id": "200"}}],
        "errors": [{"status": "error", "category": "CONFLICT", "message": "Contact already exists"}]
    }))
    .unwrap();
    assert_eq!(
        create_statuses(&[&a, &b], Some("twitter_user_id"), &response),
        [
            WriteStatus::Failed("CONFLICT: Contact already exists".into()),
            WriteStatus::Pending
        ]
    );
}

#[test]
fn error_bodies_name_the_category_and_the_rate_limit_policy() {
    let limited = parse_error_body(
        429,
        br#"{"status":"error","message":"You have reached your ten_secondly_rolling limit.","errorType":"RATE_LIMIT","correlationId":"c","policyName":"TEN_SECONDLY_ROLLING","groupName":"g"}"#,
    );
    assert_eq!(limited.policy.as_deref(), Some("TEN_SECONDLY_ROLLING"));
    assert_eq!(limited.category.as_deref(), Some("RATE_LIMIT"));
    let invalid = parse_error_body(
        400,
        br#"{"status":"error","message":"Property values were not valid","correlationId":"c","category":"VALIDATION_ERROR"}"#,
    );
    assert_eq!(invalid.category.as_deref(), Some("VALIDATION_ERROR"));
    assert_eq!(invalid.message, "Property values were not valid");
    let html = parse_error_body(502, b"<html>\n  <body>Bad   gateway</body></html>");
    assert_eq!(html.message, "<html> <body>Bad gateway</body></html>");
    assert_eq!(
        parse_error_body(500, b"").message,
        "HTTP 500 with an empty body"
    );
}

#[test]
fn retry_after_is_read_in_seconds() {
    let mut headers = reqwest::header::HeaderMap::new();
    assert_eq!(parse_retry_after(&headers), None);
    headers.insert("retry-after", "2".parse().unwrap());
    assert_eq!(parse_retry_after(&headers), Some(Duration::from_secs(2)));
    headers.insert("retry-after", "0.5".parse().unwrap());
    assert_eq!(
        parse_retry_after(&headers),
        Some(Duration::from_millis(500))
    );
    headers.insert(
        "retry-after",
        "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
    );
    assert_eq!(parse_retry_after(&headers), None);
}

#[test]
fn contact_values_become_fields() {
    check_record(
        &[
            ("twitter_user_id", " 12345 "),
            ("twitterhandle", "@Jordan_X"),
            ("inbox_tags", "hot_lead;;vip;legacy_value"),
            ("hs_lead_status", "OPEN_DEAL"),
            ("inbox_valuation", "1500.50"),
            ("inbox_notes", "Met at the conference."),
            ("hubspot_owner_id", "11"),
            ("inbox_done", "false"),
            ("lastmodifieddate", "2024-05-01T10:00:00.123Z"),
        ],
        "ok id=7 x=Some(\"12345\") user=Some(\"Jordan_X\") tags={\"Hot Lead\", \"VIP\", \"legacy_value\"} status=Some(\"OPEN_DEAL\") valuation=Some(\"1500.5\") notes=Some(\"Met at the conference.\") assignee=Some(\"ana@example.com\") done=Some(false) updated=Some(\"2024-05-01T10:00:00.123+00:00\")",
    );
    // Empty values are no values; a deactivated owner still maps to their e-mail.
    check_record(
        &[
            ("inbox_tags", ""),
            ("inbox_valuation", ""),
            ("hubspot_owner_id", "12"),
            ("inbox_done", "TRUE"),
        ],
        "ok id=7 x=None user=None tags={} status=None valuation=None notes=None assignee=Some(\"gone@example.com\") done=Some(true) updated=None",
    );
}

#[test]
fn an_unreadable_value_rejects_the_contact_naming_the_property_and_id() {
    check_record(
        &[("inbox_valuation", "12k")],
        "reject hubspot:3 Some(\"7\"): contact 7: property inbox_valuation: \"12k\" is not a number",
    );
    check_record(
        &[("inbox_done", "maybe")],
        "reject hubspot:3 Some(\"7\"): contact 7: property inbox_done: \"maybe\" is not true/false",
    );
    check_record(
        &[("hubspot_owner_id", "999")],
        "reject hubspot:3 Some(\"7\"): contact 7: property hubspot_owner_id: owner \"999\" is not a HubSpot owner with an e-mail",
    );
}

fn change(old: Value, new: Value) -> Change {
    Change { old, new }
}

#[test]
fn changes_become_property_values() {
    let tags = |names: &[&str]| Value::Tags(names.iter().map(|s| (*s).to_owned()).collect());
    let props = record::update_properties(
        &[
            change(tags(&["VIP"]), tags(&["vip", "HOT LEAD"])),
            change(Value::Status(Some("NEW".into())), Value::Status(None)),
            change(
                Value::Valuation(None),
                Value::Valuation(Some(Amount::new("2500.00".parse().unwrap()))),
            ),
            change(Value::Notes(Some("x".into())), Value::Notes(None)),
            change(
                Value::Assignee(None),
                Value::Assignee(Some("ANA@example.com".into())),
            ),
            change(Value::Done(None), Value::Done(Some(true))),
        ],
        &properties(),
        &lookups(),
    )
    .unwrap();
    let expected: BTreeMap<String, String> = [
        ("inbox_tags", "hot_lead;vip"),
        ("hs_lead_status", ""),
        ("inbox_valuation", "2500"),
        ("inbox_notes", ""),
        ("hubspot_owner_id", "11"),
        ("inbox_done", "true"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    assert_eq!(props, expected);

    let unknown_tag = record::update_properties(
        &[change(tags(&[]), tags(&["Investor"]))],
        &properties(),
        &lookups(),
    );
    assert_eq!(
        unknown_tag.unwrap_err(),
        "tag \"Investor\" is not an option of the HubSpot property inbox_tags; add it there"
    );
    // Only active owners can own records.
    let gone = record::update_properties(
        &[change(
            Value::Assignee(None),
            Value::Assignee(Some("gone@example.com".into())),
        )],
        &properties(),
        &lookups(),
    );
    assert_eq!(
        gone.unwrap_err(),
        "no active HubSpot owner has the e-mail gone@example.com"
    );
}

#[test]
fn updates_are_chunked_by_100_and_an_id_never_repeats_in_a_chunk() {
    let input = |i: usize| {
        (
            i,
            UpdateInput {
                id: format!("{}", if i == 120 { 110 } else { i }),
                properties: BTreeMap::new(),
            },
        )
    };
    let chunks = chunk_updates((0..250).map(input).collect());
    let sizes: Vec<usize> = chunks.iter().map(Vec::len).collect();
    // 0..100, 100..120 (id 110 repeats at 120), 120..220, 220..250.
    assert_eq!(sizes, [100, 20, 100, 30]);
    assert!(chunks.iter().all(|c| c.len() <= 100));
    assert_eq!(chunks[1][0].0, 100);
}

#[test]
fn mapped_properties_must_exist_with_a_usable_type() {
    let definitions: Vec<PropertyDefinition> = serde_json::from_value(json!([
        {"name": "twitterhandle", "type": "string", "fieldType": "text"},
        {"name": "hs_lead_status", "type": "enumeration", "fieldType": "select"},
        {"name": "inbox_tags", "type": "enumeration", "fieldType": "select"},
        {"name": "hubspot_owner_id", "type": "enumeration", "fieldType": "select"},
        {"name": "inbox_notes", "type": "number", "fieldType": "number"}
    ]))
    .unwrap();
    let only = |set: fn(&mut HubspotProperties)| {
        let mut p = HubspotProperties::default();
        set(&mut p);
        validate(&p, &definitions)
    };
    assert_eq!(
        only(|_| {}).unwrap(),
        [
            (
                "username".to_owned(),
                "twitterhandle".to_owned(),
                "string".to_owned()
            ),
            (
                "status".into(),
                "hs_lead_status".into(),
                "enumeration".into()
            ),
            (
                "owner".into(),
                "hubspot_owner_id".into(),
                "enumeration".into()
            ),
        ]
    );
    assert_eq!(
        only(|p| p.done = Some("inbox_done".into())).unwrap_err(),
        "crm.hubspot.properties.done = \"inbox_done\": HubSpot has no contact property inbox_done"
    );
    assert_eq!(
        only(|p| p.notes = Some("inbox_notes".into())).unwrap_err(),
        "crm.hubspot.properties.notes = \"inbox_notes\": the property has type number, expected string"
    );
    assert!(
        only(|p| p.tags = Some("inbox_tags".into()))
            .unwrap_err()
            .contains("expected multiple checkboxes")
    );
}

// --- Against the fake HubSpot -------------------------------------------------------------

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
async fn read_walks_every_page_and_rejects_bad_contacts_individually() {
    let fake = start_fake(250).await;
    let owner = fake.owners()[1].clone();
    let ids: Vec<String> = fake.contacts().into_iter().map(|c| c.id).collect();
    fake.set_property(&ids[0], "hubspot_owner_id", &owner.0);
    fake.set_property(&ids[0], "inbox_done", "true");
    // A value the API would refuse, stored anyway (e.g. before the property's type changed).
    let bad = fake.add_contact(&[("twitter_user_id", "1"), ("inbox_valuation", "n/a")]);
    let mut adapter = adapter(&fake);
    let snapshot = adapter.read().await.expect("read");
    assert_eq!(snapshot.records.len(), 250);
    assert_eq!(snapshot.rejects.len(), 1);
    let reject = &snapshot.rejects[0];
    assert_eq!(reject.row, 251);
    assert_eq!(reject.record_id.as_deref(), Some(bad.as_str()));
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
            WriteStatus::Failed("no active HubSpot owner has the e-mail nobody@example.com".into()),
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
    let err = adapter.read().await.unwrap_err();
    let mut chain = vec![err.to_string()];
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        chain.push(cause.to_string());
        source = cause.source();
    }
    let chain = chain.join(": ");
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
    let client = super::Client::new(opts).unwrap();
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

#[test]
fn client_errors_say_whether_a_retry_can_help() {
    let daily = ApiError::RateLimited {
        policy: Some("DAILY".into()),
        retry_after: None,
    };
    assert!(!daily.is_retryable());
    let rolling = ApiError::RateLimited {
        policy: Some("TEN_SECONDLY_ROLLING".into()),
        retry_after: Some(Duration::from_secs(1)),
    };
    assert!(rolling.is_retryable());
    assert_eq!(
        rolling.to_string(),
        "HubSpot rate limit TEN_SECONDLY_ROLLING reached (429); retry after 1 s"
    );
    let invalid = ApiError::Api {
        status: 400,
        category: Some("VALIDATION_ERROR".into()),
        message: "bad".into(),
    };
    assert!(invalid.is_input_error() && !invalid.is_retryable());
}
