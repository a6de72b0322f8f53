//! Shape tests against the vendor's v2 OpenAPI document, read at test time from
//! `/work/shared/inboxapp-v2-openapi.json` (or `$CRMSYNC_INBOX_V2_SPEC`) and skipped when it is
//! not there: its licence is unconfirmed, so it must not be copied into the repository.
//!
//! Two directions: every response the fake gives (successes and error bodies) validates against
//! the operation's schema with no undocumented keys; and every request shape the fake accepts
//! (query keys and values, bodies) is allowed by the operation's parameters and body schema.
//! These tests must not patch or relax the spec.

use serde_json::{Value, json};

use crmsync_fake::inbox_v2::{ContactEdit, Direction, ThreadEdit};

use super::schema_check::Validator;
use super::*;

const DEFAULT_SPEC: &str = "/work/shared/inboxapp-v2-openapi.json";

/// The spec, or `None` (and a note on stderr) when it is not on this machine.
fn spec() -> Option<Value> {
    let path = std::env::var("CRMSYNC_INBOX_V2_SPEC").unwrap_or_else(|_| DEFAULT_SPEC.to_owned());
    match std::fs::read_to_string(&path) {
        Ok(text) => Some(serde_json::from_str(&text).expect("the OpenAPI file is JSON")),
        Err(_) => {
            eprintln!("skipped: no v2 OpenAPI document at {path}");
            None
        }
    }
}

fn operation<'a>(spec: &'a Value, method: &str, route: &str) -> &'a Value {
    let pointer = format!(
        "/paths/{}/{method}",
        route.replace('~', "~0").replace('/', "~1")
    );
    spec.pointer(&pointer)
        .unwrap_or_else(|| panic!("no operation {method} {route} in the spec"))
}

/// Asserts `body` validates against the `status` response of `method route`.
fn check_response(spec: &Value, method: &str, route: &str, status: u16, body: &Value) {
    let schema = &operation(spec, method, route)["responses"][status.to_string()]["content"]["application/json"]
        ["schema"];
    assert!(!schema.is_null(), "no {status} schema for {method} {route}");
    let errors = Validator::new(spec).validate(schema, body);
    assert!(
        errors.is_empty(),
        "{} {route} {status} does not match the spec:\n{}",
        method.to_uppercase(),
        errors.join("\n")
    );
}

/// Asserts every query parameter of `query` and the body are allowed by `method route`.
fn check_request(spec: &Value, method: &str, route: &str, query: &str, body: Option<&Value>) {
    let op = operation(spec, method, route);
    let params = op["parameters"].as_array().cloned().unwrap_or_default();
    let validator = Validator::new(spec);
    let mut arrays: Vec<(String, Vec<Value>)> = Vec::new();
    for part in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = part.split_once('=').unwrap_or((part, ""));
        let value = value
            .replace("%20", " ")
            .replace("%2F", "/")
            .replace("%40", "@");
        let param = params
            .iter()
            .find(|p| p["in"] == "query" && p["name"] == key)
            .unwrap_or_else(|| panic!("{method} {route}: the spec has no query parameter {key}"));
        let schema = &param["schema"];
        let typed = |schema: &Value| match schema["type"].as_str() {
            Some("integer") => json!(value.parse::<i64>().expect("an integer")),
            Some("boolean") => json!(value == "true"),
            _ => json!(value),
        };
        if schema["type"] == "array" {
            let item = typed(&schema["items"]);
            match arrays.iter_mut().find(|(k, _)| k == key) {
                Some((_, items)) => items.push(item),
                None => arrays.push((key.to_owned(), vec![item])),
            }
        } else {
            let errors = validator.validate(schema, &typed(schema));
            assert!(
                errors.is_empty(),
                "{method} {route} ?{key}={value}: {errors:?}"
            );
        }
    }
    for (key, items) in arrays {
        let param = params.iter().find(|p| p["name"] == key.as_str()).unwrap();
        let errors = validator.validate(&param["schema"], &Value::Array(items));
        assert!(errors.is_empty(), "{method} {route} {key}: {errors:?}");
    }
    for required in params
        .iter()
        .filter(|p| p["in"] == "query" && p["required"] == true)
    {
        let name = required["name"].as_str().unwrap();
        assert!(
            query.split('&').any(|p| p.split('=').next() == Some(name)),
            "{method} {route}: required {name} missing"
        );
    }
    if let Some(body) = body {
        let schema = &op["requestBody"]["content"]["application/json"]["schema"];
        let errors = validator.validate(schema, body);
        assert!(
            errors.is_empty(),
            "{method} {route} body {body}: {errors:?}"
        );
    }
}

#[test]
fn the_validator_supports_every_keyword_in_the_spec() {
    let Some(spec) = spec() else { return };
    for schema in spec["components"]["schemas"].as_object().unwrap().values() {
        Validator::check_keywords(schema);
    }
}

/// One accepted request: `(method, spec route, concrete path, query, body)`.
type Sample = (&'static str, &'static str, String, String, Option<Value>);

#[tokio::test]
async fn responses_and_accepted_requests_match_the_spec() {
    let Some(spec) = spec() else { return };
    let (fake, api) = start(80).await;
    let contacts = fake.contacts();
    let threads = fake.threads();
    let contact = contacts
        .iter()
        .find(|c| !c.thread_ids.is_empty() && c.status_id.is_some())
        .unwrap();
    let thread = &threads[0];
    let (member, _) = fake.members()[0].clone();
    let (link, _) = fake.account_links()[0].clone();
    let profile = &contact.profiles[0];
    // Activity so that /events holds every kind the fake emits.
    fake.new_message(&thread.id, Direction::Inbound);
    fake.new_message(&thread.id, Direction::Outbound);
    fake.edit_contact(
        &contact.id,
        ContactEdit {
            tags_add: vec!["VIP".into()],
            status: Some(None),
            notes: Some(Some("n".into())),
            valuation: Some(Some(2.5)),
            assignee: Some(Some(fake.members()[1].1.clone())),
            ..ContactEdit::default()
        },
    );
    fake.edit_thread(
        &thread.id,
        ThreadEdit {
            archived: Some(true),
            assignee: Some(Some(fake.members()[2].1.clone())),
            ..ThreadEdit::default()
        },
    );
    fake.edit_thread(
        &thread.id,
        ThreadEdit {
            archived: Some(false),
            assignee: Some(None),
            ..ThreadEdit::default()
        },
    );

    let samples: Vec<Sample> = vec![
        ("get", "/platforms", "/platforms".into(), String::new(), None),
        ("get", "/team", "/team".into(), String::new(), None),
        ("get", "/members", "/members".into(), "limit=2".into(), None),
        ("get", "/members/{memberId}", format!("/members/{member}"), String::new(), None),
        ("get", "/account-links", "/account-links".into(), "platform=linkedin&status=active&limit=5".into(), None),
        ("get", "/account-links/{accountLinkId}", format!("/account-links/{link}"), String::new(), None),
        ("get", "/contacts", "/contacts".into(), format!("platform={}&platformId={}&expand=status&expand=tags&expand=assignee", profile.platform, profile.platform_id), None),
        ("get", "/contacts", "/contacts".into(), format!("platform={}&username={}&limit=10", profile.platform, profile.username), None),
        ("get", "/contacts/{contactId}", format!("/contacts/{}", contact.id), "expand=status&expand=tags&expand=assignee".into(), None),
        ("get", "/threads", "/threads".into(), "folder=all&order=asc&limit=100&expand=contact&expand=profile&expand=accountLink&expand=assignee".into(), None),
        ("get", "/threads", "/threads".into(), format!("folder=archived&platform=twitter&tag=VIP&status=Won&assigneeId={member}&q=a&accountLinkId={link}&contactId={}", contact.id), None),
        ("get", "/threads", "/threads".into(), "folder=noReply&unassigned=true&campaignId=abc".into(), None),
        ("get", "/threads/{threadId}", format!("/threads/{}", thread.id), "expand=contact&expand=assignee".into(), None),
        ("get", "/tags", "/tags".into(), String::new(), None),
        ("get", "/tags/{tagRef}", "/tags/vip".into(), String::new(), None),
        ("get", "/statuses", "/statuses".into(), String::new(), None),
        ("get", "/colors", "/colors".into(), String::new(), None),
        ("get", "/events", "/events".into(), String::new(), None),
        ("get", "/events", "/events".into(), "afterSeq=0&type=message.sent&type=contact.tagsChanged&limit=1000".into(), None),
        ("patch", "/contacts/{contactId}", format!("/contacts/{}", contact.id), String::new(), Some(json!({ "status": "Lost", "notes": null, "valuation": 10.5, "assigneeId": member }))),
        ("patch", "/threads/{threadId}", format!("/threads/{}", thread.id), String::new(), Some(json!({ "archived": true, "unread": false, "assigneeId": null, "typingIndicators": "disabled" }))),
        ("post", "/tags", "/tags".into(), String::new(), Some(json!({ "name": "Brand new", "color": "#AABBCC" }))),
    ];
    for (method, route, path, query, body) in samples {
        check_request(&spec, method, route, &query, body.as_ref());
        let full = if query.is_empty() {
            path
        } else {
            format!("{path}?{query}")
        };
        let verb = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let reply = api.send(verb, &full, body).await;
        assert!(
            (200..300).contains(&reply.status),
            "{method} {full}: {}",
            reply.text
        );
        check_response(&spec, method, route, reply.status, &reply.json());
    }
    // The tag routes take no query and no body; their refs are the documented path strings.
    check_request(
        &spec,
        "put",
        "/contacts/{contactId}/tags/{tagRef}",
        "",
        None,
    );
    assert_eq!(
        api.put(&format!(
            "/contacts/{}/tags/Q3%2F2026%20Pipeline",
            contact.id
        ))
        .await
        .status,
        204
    );

    // Error bodies, each against its documented schema.
    let cursor = api.ok("/threads?limit=1").await["nextCursor"]
        .as_str()
        .unwrap()
        .to_owned();
    let errors: Vec<(&str, &str, u16, Reply)> = vec![
        ("get", "/threads", 400, api.get("/threads?limit=0").await),
        (
            "get",
            "/threads",
            400,
            api.get(&format!("/threads?folder=all&cursor={cursor}"))
                .await,
        ),
        (
            "get",
            "/team",
            401,
            Api::new(&fake).with_token(None).get("/team").await,
        ),
        (
            "get",
            "/contacts/{contactId}",
            404,
            api.get("/contacts/abc").await,
        ),
        (
            "get",
            "/contacts",
            403,
            api.get("/contacts?platform=mastodon&username=a").await,
        ),
        (
            "put",
            "/contacts/{contactId}/tags/{tagRef}",
            404,
            api.put(&format!("/contacts/{}/tags/nope", contact.id))
                .await,
        ),
        (
            "post",
            "/tags",
            409,
            api.send(
                reqwest::Method::POST,
                "/tags",
                Some(json!({ "name": "vip" })),
            )
            .await,
        ),
    ];
    for (method, route, status, reply) in errors {
        assert_eq!(reply.status, status, "{}", reply.text);
        check_response(&spec, method, route, status, &reply.json());
    }
    fake.set_rate_limit("1/min".parse().unwrap());
    api.get("/team").await;
    let limited = api.get("/team").await;
    assert_eq!(limited.status, 429);
    check_response(&spec, "get", "/team", 429, &limited.json());
    fake.fail_next(1, 500);
    fake.set_rate_limit(RateLimit::Off);
    check_response(&spec, "get", "/team", 500, &api.get("/team").await.json());
}
