//! Unit tests of the HubSpot adapter: wire parsing, value conversion and batching as pure
//! functions here, the adapter and client against the stateful fake HubSpot in `fake.rs`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;

use super::error::{Error as ApiError, parse_error_body};
use super::record::{self, Lookups, Owners, TagOptions};
use super::validate;
use super::wire::{
    BatchResponse, Contact, CreateInput, Owner, Page, PropertyDefinition, UpdateInput,
};
use super::write::{chunk_updates, create_statuses, update_statuses};
use crate::config::HubspotProperties;
use crate::crm::WriteStatus;
use crate::http::retry_after as parse_retry_after;
use crate::reconcile::{Amount, Change, Value};

const TOKEN: &str = "hs-unit-token-s3cr3t";
const TOKEN_ENV: &str = "HS_UNIT_TOKEN";

fn properties() -> HubspotProperties {
    HubspotProperties {
        x_user_id: Some("twitter_user_id".into()),
        username: Some("twitterhandle".into()),
        linkedin_id: None,
        linkedin_username: None,
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
    let (r, rejects) =
        record::to_record(&contact("7", properties_in), 3, &properties(), &lookups());
    let mut got = format!(
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
    );
    if !r.unknown.is_empty() {
        got.push_str(&format!(" unknown={:?}", r.unknown));
    }
    for reject in rejects {
        got.push_str(&format!(
            "\nreject {}:{} {:?} {:?}: {}",
            reject.source, reject.row, reject.record_id, reject.column, reject.reason
        ));
    }
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
fn trust_an_unreadable_value_rejects_only_that_property_and_the_contact_still_reads() {
    let empty = "ok id=7 x=None user=None tags={} status=None valuation=None notes=None";
    check_record(
        &[("inbox_valuation", "12k"), ("inbox_notes", "call back")],
        "ok id=7 x=None user=None tags={} status=None valuation=None notes=Some(\"call back\") \
             assignee=None done=None updated=None unknown={Valuation}\n\
             reject hubspot:3 Some(\"7\") Some(\"inbox_valuation\"): contact 7: property \
             inbox_valuation: \"12k\" is not a number; the field is not synced until the value reads",
    );
    check_record(
        &[("inbox_done", "maybe")],
        &format!(
            "{empty} assignee=None done=None updated=None unknown={{Done}}\n\
             reject hubspot:3 Some(\"7\") Some(\"inbox_done\"): contact 7: property inbox_done: \
             \"maybe\" is not true/false; the field is not synced until the value reads"
        ),
    );
    check_record(
        &[("hubspot_owner_id", "999")],
        &format!(
            "{empty} assignee=None done=None updated=None unknown={{Assignee}}\n\
             reject hubspot:3 Some(\"7\") Some(\"hubspot_owner_id\"): contact 7: property \
             hubspot_owner_id: owner \"999\" is not a HubSpot owner with an e-mail; the field is \
             not synced until the value reads"
        ),
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
        "unmapped: tag \"Investor\" is not an option of the HubSpot property inbox_tags; add it there, or set crm.hubspot.create_missing_options = true"
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
        "unmapped: no active HubSpot owner has the e-mail gone@example.com"
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

mod fake;

#[test]
fn missing_tags_become_new_options_with_unique_snake_case_values() {
    let definition = tags_definition();
    let names = |list: &[&str]| -> std::collections::BTreeSet<String> {
        list.iter().map(|n| (*n).to_owned()).collect()
    };
    let tags = |list: &[&str]| Value::Tags(names(list));
    // Known labels and values (any case) are not missing.
    assert_eq!(
        record::with_new_options(&definition, &names(&["vip", "HOT LEAD", "hot_lead"])),
        None
    );
    let options =
        record::with_new_options(&definition, &names(&["Hot-Lead!", "  Über Deal ", "???"]))
            .expect("new options");
    let added: Vec<(&str, &str, Option<i64>)> = options[2..]
        .iter()
        .map(|o| (o.label.as_str(), o.value.as_str(), o.display_order))
        .collect();
    assert_eq!(
        added,
        [
            ("Über Deal", "ber_deal", Some(2)),
            ("???", "tag", Some(3)),
            ("Hot-Lead!", "hot_lead_2", Some(4)),
        ]
    );
    assert_eq!(options[..2], definition.options[..]);
    let lookups = Lookups {
        tag_options: Some(TagOptions::new(&PropertyDefinition {
            options: options.clone(),
            ..definition.clone()
        })),
        ..lookups()
    };
    let props = record::update_properties(
        &[change(tags(&[]), tags(&["Hot-Lead!", "VIP"]))],
        &properties(),
        &lookups,
    )
    .unwrap();
    assert_eq!(props["inbox_tags"], "hot_lead_2;vip");
}
