//! Tests of the fake HubSpot through plain HTTP (reqwest against `127.0.0.1:0`), without the
//! adapter it exists to cross-check.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crmsync_fake::hubspot::{FakeHubspot, FakeHubspotConfig, Limits, PropertySpec};

const TOKEN: &str = "hs-test-token";

/// A response, read fully.
struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    text: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("invalid JSON ({e}): {}", self.text))
    }

    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    }

    /// Asserts HubSpot's error shape and returns its category.
    fn category(&self, status: u16) -> String {
        assert_eq!(self.status, status, "{}", self.text);
        let body = self.json();
        assert_eq!(body["status"], "error", "{body}");
        assert!(body["message"].is_string(), "{body}");
        assert!(body["correlationId"].is_string(), "{body}");
        body["category"].as_str().unwrap_or_default().to_owned()
    }
}

struct Api {
    client: reqwest::Client,
    base: String,
    token: Option<&'static str>,
}

impl Api {
    fn new(fake: &FakeHubspot) -> Api {
        let _ = rustls::crypto::ring::default_provider().install_default();
        Api {
            client: reqwest::Client::new(),
            base: fake.base_url(),
            token: Some(TOKEN),
        }
    }

    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = self.token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("request");
        Reply {
            status: resp.status().as_u16(),
            headers: resp.headers().clone(),
            text: resp.text().await.unwrap(),
        }
    }

    async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(Method::POST, path, Some(body)).await
    }
}

async fn fake(contacts: usize) -> FakeHubspot {
    FakeHubspot::start(FakeHubspotConfig {
        token: TOKEN.into(),
        contacts,
        limits: Limits::off(),
        ..FakeHubspotConfig::default()
    })
    .await
    .expect("fake starts")
}

const UPDATE: &str = "/crm/v3/objects/contacts/batch/update";

#[tokio::test]
async fn requests_without_the_token_are_401_invalid_authentication() {
    let fake = fake(3).await;
    let mut api = Api::new(&fake);
    api.token = None;
    let reply = api.get("/crm/v3/objects/contacts").await;
    assert_eq!(reply.category(401), "INVALID_AUTHENTICATION");
    api.token = Some("wrong");
    assert_eq!(
        api.get("/crm/v3/owners").await.category(401),
        "INVALID_AUTHENTICATION"
    );
    assert_eq!(fake.stats().unauthorized, 2);
}

#[tokio::test]
async fn listing_pages_with_after_and_returns_requested_properties() {
    let fake = fake(250).await;
    let api = Api::new(&fake);
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut path = "/crm/v3/objects/contacts?limit=100&properties=twitter_user_id,inbox_notes&properties=no_such_property".to_owned();
        if let Some(after) = &after {
            path.push_str(&format!("&after={after}"));
        }
        let reply = api.get(&path).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        let page = reply.json();
        pages += 1;
        for contact in page["results"].as_array().unwrap() {
            let props = contact["properties"].as_object().unwrap();
            // Requested, plus what HubSpot always returns; unset ones are null; unknown ones
            // are left out.
            let mut keys: Vec<&str> = props.keys().map(String::as_str).collect();
            keys.sort();
            assert_eq!(
                keys,
                [
                    "createdate",
                    "hs_object_id",
                    "inbox_notes",
                    "lastmodifieddate",
                    "twitter_user_id"
                ]
            );
            assert_eq!(props["inbox_notes"], Value::Null);
            assert_eq!(props["hs_object_id"], contact["id"]);
            seen.push(contact["id"].as_str().unwrap().to_owned());
        }
        match page["paging"]["next"]["after"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 250);
    seen.dedup();
    assert_eq!(seen.len(), 250);
    assert_eq!(
        api.get("/crm/v3/objects/contacts?limit=101")
            .await
            .category(400),
        "VALIDATION_ERROR"
    );
}

#[tokio::test]
async fn property_definitions_have_options_and_owner_options_follow_the_owners() {
    let fake = fake(0).await;
    let api = Api::new(&fake);
    let tags = api
        .get("/crm/v3/properties/contacts/inbox_tags")
        .await
        .json();
    assert_eq!(tags["type"], "enumeration");
    assert_eq!(tags["fieldType"], "checkbox");
    assert!(
        tags["options"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["value"] == "hot_lead" && o["label"] == "Hot Lead")
    );
    let id = fake.add_owner("new@example.com", "New", "Owner");
    let owner = api
        .get("/crm/v3/properties/contacts/hubspot_owner_id")
        .await
        .json();
    assert!(
        owner["options"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["value"] == id.as_str())
    );
    let all = api.get("/crm/v3/properties/contacts").await.json();
    assert!(all["results"].as_array().unwrap().len() >= 14);
    assert_eq!(
        api.get("/crm/v3/properties/contacts/nope")
            .await
            .category(404),
        "OBJECT_NOT_FOUND"
    );
}

#[tokio::test]
async fn batch_update_applies_clears_and_moves_lastmodifieddate() {
    let fake = fake(2).await;
    let api = Api::new(&fake);
    let before = fake.contacts();
    fake.set_last_modified(&[], 1_000);
    let reply = api
        .post(
            UPDATE,
            json!({"inputs": [
                {"id": before[0].id, "properties": {"inbox_tags": "vip;partner", "inbox_notes": "hi"}},
                {"id": before[1].id, "properties": {"hs_lead_status": "", "inbox_valuation": 12.5}},
            ]}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let body = reply.json();
    assert_eq!(body["status"], "COMPLETE");
    assert_eq!(body["results"].as_array().unwrap().len(), 2);
    let after = fake.contacts();
    assert_eq!(after[0].get("inbox_tags"), Some("vip;partner"));
    assert_eq!(after[0].get("inbox_notes"), Some("hi"));
    assert_eq!(after[1].get("hs_lead_status"), None);
    assert_eq!(after[1].get("inbox_valuation"), Some("12.5"));
    assert!(after.iter().all(|c| c.last_modified_ms > 1_000));
    assert_eq!(fake.write_log().len(), 2);
}

#[tokio::test]
async fn an_invalid_value_refuses_the_whole_batch_with_400_validation_error() {
    let fake = fake(2).await;
    let api = Api::new(&fake);
    let ids: Vec<String> = fake.contacts().into_iter().map(|c| c.id).collect();
    for (properties, error) in [
        (json!({"inbox_tags": "vip;no_such_tag"}), "INVALID_OPTION"),
        (json!({"hs_lead_status": "WON"}), "INVALID_OPTION"),
        (json!({"hubspot_owner_id": "1"}), "INVALID_OPTION"),
        (json!({"inbox_valuation": "lots"}), "INVALID_DOUBLE"),
        (json!({"inbox_done": "maybe"}), "INVALID_BOOLEAN"),
        (json!({"lastmodifieddate": "0"}), "READ_ONLY_VALUE"),
        (json!({"nope": "x"}), "PROPERTY_DOESNT_EXIST"),
    ] {
        let reply = api
            .post(
                UPDATE,
                json!({"inputs": [
                    {"id": ids[0], "properties": {"inbox_notes": "ok"}},
                    {"id": ids[1], "properties": properties},
                ]}),
            )
            .await;
        assert_eq!(reply.category(400), "VALIDATION_ERROR");
        assert!(reply.text.contains(error), "{}", reply.text);
    }
    // Nothing of the refused batches was applied.
    assert!(fake.write_log().is_empty());
    assert_eq!(fake.contact(&ids[0]).unwrap().get("inbox_notes"), None);

    let too_many: Vec<Value> = (0..101)
        .map(|_| json!({"id": ids[0], "properties": {}}))
        .collect();
    let reply = api.post(UPDATE, json!({ "inputs": too_many })).await;
    assert_eq!(reply.category(400), "VALIDATION_ERROR");
    let twice =
        json!({"inputs": [{"id": ids[0], "properties": {}}, {"id": ids[0], "properties": {}}]});
    assert!(api.post(UPDATE, twice).await.text.contains("Duplicate IDs"));
}

#[tokio::test]
async fn unknown_archived_and_refused_ids_are_a_207_and_the_rest_is_applied() {
    let fake = fake(4).await;
    let api = Api::new(&fake);
    let ids: Vec<String> = fake.contacts().into_iter().map(|c| c.id).collect();
    fake.archive(&ids[1]);
    fake.reject_writes_to(&ids[2], Some("locked by a workflow"));
    let reply = api
        .post(
            UPDATE,
            json!({"inputs": [
                {"id": ids[0], "properties": {"inbox_notes": "a"}},
                {"id": ids[1], "properties": {"inbox_notes": "b"}},
                {"id": ids[2], "properties": {"inbox_notes": "c"}},
                {"id": "999999", "properties": {"inbox_notes": "d"}},
                {"id": ids[3], "properties": {"inbox_notes": "e"}},
            ]}),
        )
        .await;
    assert_eq!(reply.status, 207, "{}", reply.text);
    let body = reply.json();
    let results: Vec<&str> = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(results, [ids[0].as_str(), ids[3].as_str()]);
    assert_eq!(body["numErrors"], 2);
    let errors = body["errors"].as_array().unwrap();
    assert_eq!(errors[0]["category"], "OBJECT_NOT_FOUND");
    assert_eq!(errors[0]["context"]["ids"], json!([ids[1], "999999"]));
    assert_eq!(errors[1]["context"]["ids"], json!([ids[2]]));
    assert_eq!(errors[1]["message"], "locked by a workflow");
    assert_eq!(fake.contact(&ids[2]).unwrap().get("inbox_notes"), None);
    assert_eq!(fake.stats().partial, 1);
}

#[tokio::test]
async fn batch_create_answers_201_and_batch_read_reports_missing_ids() {
    let fake = fake(1).await;
    let api = Api::new(&fake);
    let reply = api
        .post(
            "/crm/v3/objects/contacts/batch/create",
            json!({"inputs": [{"properties": {"twitter_user_id": "42", "twitterhandle": "someone"}}]}),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let created = reply.json()["results"][0].clone();
    assert_eq!(created["properties"]["twitter_user_id"], "42");
    let id = created["id"].as_str().unwrap().to_owned();
    let reply = api
        .post(
            "/crm/v3/objects/contacts/batch/read",
            json!({"inputs": [{"id": id}, {"id": "5"}], "properties": ["twitterhandle"]}),
        )
        .await;
    assert_eq!(reply.status, 207, "{}", reply.text);
    let body = reply.json();
    assert_eq!(body["results"][0]["properties"]["twitterhandle"], "someone");
    assert_eq!(body["errors"][0]["context"]["ids"], json!(["5"]));
}

#[tokio::test]
async fn search_filters_sorts_and_stops_at_ten_thousand_results() {
    let fake = fake(0).await;
    let api = Api::new(&fake);
    for idx in 0..10_050 {
        fake.add_contact(&[("twitter_user_id", idx.to_string())]);
    }
    let ids: Vec<String> = fake.contacts().into_iter().map(|c| c.id).collect();
    fake.set_last_modified(&[], 5_000);
    fake.set_last_modified(&[ids[0].as_str(), ids[1].as_str()], 4_000);
    fake.set_last_modified(&[ids[2].as_str()], 6_000);
    let search = |after: Option<&str>, limit: u32| {
        let mut body = json!({
            "filterGroups": [{"filters": [
                {"propertyName": "lastmodifieddate", "operator": "GTE", "value": "5000"}
            ]}],
            "sorts": [
                {"propertyName": "lastmodifieddate", "direction": "DESCENDING"},
                {"propertyName": "hs_object_id", "direction": "ASCENDING"}
            ],
            "properties": ["twitter_user_id"],
            "limit": limit,
        });
        if let Some(after) = after {
            body["after"] = json!(after);
        }
        body
    };
    let path = "/crm/v3/objects/contacts/search";
    let first = api.post(path, search(None, 200)).await.json();
    assert_eq!(first["total"], 10_048);
    let results = first["results"].as_array().unwrap();
    assert_eq!(results.len(), 200);
    assert_eq!(results[0]["id"], ids[2].as_str());
    assert_eq!(results[1]["id"], ids[3].as_str());
    assert_eq!(first["paging"]["next"]["after"], "200");
    assert_eq!(
        api.post(path, search(None, 201)).await.category(400),
        "VALIDATION_ERROR"
    );
    let last = api.post(path, search(Some("9800"), 200)).await.json();
    assert_eq!(last["paging"]["next"]["after"], "10000");
    assert_eq!(
        api.post(path, search(Some("10000"), 200))
            .await
            .category(400),
        "VALIDATION_ERROR"
    );
}

#[tokio::test]
async fn owners_page_and_archived_owners_are_listed_separately() {
    let fake = fake(0).await;
    let api = Api::new(&fake);
    let first = fake.owners()[0].0.clone();
    fake.archive_owner(&first);
    let active = api.get("/crm/v3/owners?limit=2").await.json();
    assert_eq!(active["results"].as_array().unwrap().len(), 2);
    assert_eq!(active["paging"]["next"]["after"], "2");
    let archived = api.get("/crm/v3/owners?archived=true").await.json();
    assert_eq!(archived["results"][0]["id"], first.as_str());
    assert_eq!(archived["results"][0]["archived"], true);
}

#[tokio::test]
async fn rate_limits_answer_429_with_retry_after_and_the_policy() {
    let fake = FakeHubspot::start(FakeHubspotConfig {
        token: TOKEN.into(),
        limits: Limits {
            requests: Some((3, Duration::from_secs(2))),
            search_per_second: Some(1),
        },
        ..FakeHubspotConfig::default()
    })
    .await
    .unwrap();
    let api = Api::new(&fake);
    let search = json!({"limit": 1});
    let first = api
        .post("/crm/v3/objects/contacts/search", search.clone())
        .await;
    assert_eq!(first.status, 200);
    assert_eq!(first.header("x-hubspot-ratelimit-remaining"), None);
    let limited = api.post("/crm/v3/objects/contacts/search", search).await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.json()["policyName"], "SECONDLY");
    let ok = api.get("/crm/v3/owners").await;
    assert_eq!(ok.header("x-hubspot-ratelimit-max").as_deref(), Some("3"));
    assert_eq!(
        ok.header("x-hubspot-ratelimit-remaining").as_deref(),
        Some("1")
    );
    assert_eq!(api.get("/crm/v3/owners").await.status, 200);
    let limited = api.get("/crm/v3/owners").await;
    assert_eq!(limited.status, 429);
    let body = limited.json();
    assert_eq!(body["errorType"], "RATE_LIMIT");
    assert_eq!(body["policyName"], "TEN_SECONDLY_ROLLING");
    let retry_after: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    assert_eq!(fake.stats().rate_limited, 2);
}

#[tokio::test]
async fn scripted_failures_and_malformed_answers() {
    let fake = fake(1).await;
    let api = Api::new(&fake);
    fake.fail_next(1, 503);
    fake.fail_next(1, 429);
    assert_eq!(api.get("/crm/v3/owners").await.status, 503);
    let limited = api.get("/crm/v3/owners").await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.header("retry-after").as_deref(), Some("1"));
    fake.malformed_next(1);
    let broken = api.get("/crm/v3/owners").await;
    assert_eq!(broken.status, 200);
    assert!(serde_json::from_str::<Value>(&broken.text).is_err());
    assert_eq!(api.get("/crm/v3/owners").await.status, 200);
    let stats = fake.stats();
    assert_eq!(stats.server_errors, 1);
    assert_eq!(stats.count("GET", "/crm/v3/owners"), 4);
}

#[tokio::test]
async fn user_edits_and_defined_properties() {
    let fake = fake(1).await;
    let id = fake.contacts()[0].id.clone();
    fake.define_property(PropertySpec::checkboxes(
        "colors",
        "Colors",
        &[("red", "Red")],
    ));
    fake.add_option("colors", "blue", "Blue");
    fake.set_property(&id, "colors", "red;blue");
    assert_eq!(fake.contact(&id).unwrap().get("colors"), Some("red;blue"));
    fake.set_property(&id, "colors", "");
    assert_eq!(fake.contact(&id).unwrap().get("colors"), None);
    assert_eq!(fake.write_log().len(), 2);
    assert_eq!(fake.write_log()[0].route, "ui");
}

#[tokio::test]
async fn a_property_patch_replaces_the_options_and_refuses_what_hubspot_refuses() {
    let fake = fake(0).await;
    let api = Api::new(&fake);
    let path = "/crm/v3/properties/contacts/inbox_tags";
    let options = json!({"options": [
        {"label": "VIP", "value": "vip", "displayOrder": 0, "hidden": false},
        {"label": "Webinar", "value": "webinar", "displayOrder": 1, "hidden": false}
    ]});
    let reply = api.send(Method::PATCH, path, Some(options)).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let body = reply.json();
    assert_eq!(body["name"], "inbox_tags");
    assert_eq!(body["options"].as_array().unwrap().len(), 2);
    assert_eq!(
        fake.options("inbox_tags"),
        [
            ("vip".to_owned(), "VIP".to_owned()),
            ("webinar".to_owned(), "Webinar".to_owned())
        ]
    );
    // Values the options allow can be written now; removed ones cannot.
    let id = fake.add_contact(&[("firstname", "Ann")]);
    let write =
        |tags: &str| json!({"inputs": [{"id": id.clone(), "properties": {"inbox_tags": tags}}]});
    let ok = api
        .post(
            "/crm/v3/objects/contacts/batch/update",
            write("vip;webinar"),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    let refused = api
        .post("/crm/v3/objects/contacts/batch/update", write("hot_lead"))
        .await;
    assert_eq!(refused.category(400), "VALIDATION_ERROR");

    let duplicate = json!({"options": [
        {"label": "A", "value": "a"}, {"label": "a", "value": "b"}
    ]});
    let reply = api.send(Method::PATCH, path, Some(duplicate)).await;
    assert_eq!(reply.category(400), "VALIDATION_ERROR");
    let text_options = json!({"options": [{"label": "A", "value": "a"}]});
    let reply = api
        .send(
            Method::PATCH,
            "/crm/v3/properties/contacts/inbox_notes",
            Some(text_options.clone()),
        )
        .await;
    assert_eq!(reply.category(400), "VALIDATION_ERROR");
    let reply = api
        .send(
            Method::PATCH,
            "/crm/v3/properties/contacts/hubspot_owner_id",
            Some(text_options.clone()),
        )
        .await;
    assert_eq!(reply.category(400), "VALIDATION_ERROR");
    let reply = api
        .send(
            Method::PATCH,
            "/crm/v3/properties/contacts/nope",
            Some(text_options),
        )
        .await;
    assert_eq!(reply.category(404), "OBJECT_NOT_FOUND");
    assert_eq!(
        fake.stats()
            .count("PATCH", "/crm/v3/properties/contacts/{propertyName}"),
        5
    );
}
