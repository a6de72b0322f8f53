//! Unit tests of the Inbox client's pure parts: error bodies, request encoding, tolerant
//! decoding, pacing arithmetic. Anything that needs a server is in `tests/it/inbox.rs`.

use std::time::Duration;

use secrecy::SecretString;
use serde_json::json;

use super::client::{check_id, thread_query_pairs};
use super::error::{ErrorBody, parse_error_body};
use super::pacing::RateLimitInfo;
use super::*;
use crate::reconcile::Amount;

fn amount(text: &str) -> Amount {
    text.parse().unwrap()
}

fn check_error_body(status: u16, body: &str, code: Option<&str>, message: &str) {
    let parsed = parse_error_body(status, body.as_bytes());
    assert_eq!(
        parsed,
        ErrorBody {
            code: code.map(str::to_owned),
            message: message.to_owned()
        },
        "body: {body}"
    );
}

#[test]
fn error_body_nested() {
    check_error_body(
        404,
        r#"{"error":{"code":"THREAD_NOT_FOUND","message":"Thread with ID 'x' not found","status":404}}"#,
        Some("THREAD_NOT_FOUND"),
        "Thread with ID 'x' not found",
    );
}

#[test]
fn error_body_flat() {
    check_error_body(
        401,
        r#"{"error":"Unauthorized","message":"Invalid or missing authentication token"}"#,
        Some("Unauthorized"),
        "Invalid or missing authentication token",
    );
    // Flat with no message: the error string doubles as the message.
    check_error_body(
        400,
        r#"{"error":"Bad Request"}"#,
        Some("Bad Request"),
        "Bad Request",
    );
}

#[test]
fn error_body_top_level_code() {
    check_error_body(
        404,
        r#"{"code":"threadNotFound","message":"No thread","details":null}"#,
        Some("threadNotFound"),
        "No thread",
    );
}

#[test]
fn error_body_html_is_a_truncated_snippet() {
    let html = format!(
        "<html>\n  <body><h1>502 Bad Gateway</h1>{}</body>\n</html>",
        "x".repeat(1000)
    );
    let parsed = parse_error_body(502, html.as_bytes());
    assert_eq!(parsed.code, None);
    assert!(
        parsed
            .message
            .starts_with("<html> <body><h1>502 Bad Gateway</h1>"),
        "{}",
        parsed.message
    );
    assert!(parsed.message.chars().count() <= 201, "{}", parsed.message);
    assert!(parsed.message.ends_with('…'));
}

#[test]
fn error_body_empty_or_odd_json() {
    check_error_body(500, "", None, "HTTP 500 with an empty body");
    check_error_body(500, "[1,2]", None, "[1,2]");
    check_error_body(
        400,
        r#"{"error":{"status":400}}"#,
        None,
        r#"{"error":{"status":400}}"#,
    );
}

#[test]
fn unauthorized_names_the_env_var() {
    let error = Error::Unauthorized {
        token_env: "INBOX_API_TOKEN".into(),
    };
    assert_eq!(
        error.to_string(),
        "Inbox rejected the API token (401): check the token in the environment variable INBOX_API_TOKEN"
    );
    assert!(!error.is_retryable());
    assert!(Error::RateLimited { retry_after: None }.is_retryable());
}

#[test]
fn error_display_includes_code() {
    let error = Error::NotFound {
        code: Some("PROSPECT_NOT_FOUND".into()),
        message: "gone".into(),
    };
    assert_eq!(
        error.to_string(),
        "Inbox: not found (404 PROSPECT_NOT_FOUND): gone"
    );
    let error = Error::RateLimited {
        retry_after: Some(Duration::from_secs(90)),
    };
    assert_eq!(
        error.to_string(),
        "Inbox rate limit exceeded (429): retry after 90 s"
    );
}

#[test]
fn context_update_absent_fields_are_not_sent() {
    let body = serde_json::to_value(ContextUpdate::default()).unwrap();
    assert_eq!(body, json!({}));
    assert!(ContextUpdate::default().is_empty());
}

#[test]
fn context_update_null_clears_and_tags_are_incremental() {
    let update = ContextUpdate {
        notes: Some(None),
        valuation: Some(None),
        status_id: Some(Some("s1".into())),
        add_tags: vec!["t1".into(), "t2".into()],
        remove_tags: vec![],
        assignee_id: Some(None),
        done: Some(false),
    };
    let body = serde_json::to_value(&update).unwrap();
    assert_eq!(
        body,
        json!({
            "notes": null,
            "valuation": null,
            "statusId": "s1",
            "addTags": ["t1", "t2"],
            "assigneeId": null,
            "done": false,
        })
    );
}

#[test]
fn context_update_valuation_is_a_json_number() {
    let update = |v: &str| ContextUpdate {
        valuation: Some(Some(amount(v))),
        ..ContextUpdate::default()
    };
    assert_eq!(
        serde_json::to_string(&update("1000.50")).unwrap(),
        r#"{"valuation":1000.5}"#
    );
    assert_eq!(
        serde_json::to_string(&update("50000")).unwrap(),
        r#"{"valuation":50000}"#
    );
    assert_eq!(
        serde_json::to_string(&update("-0.10")).unwrap(),
        r#"{"valuation":-0.1}"#
    );
    let removal = ContextUpdate {
        remove_tags: vec!["t9".into()],
        ..ContextUpdate::default()
    };
    assert_eq!(
        serde_json::to_string(&removal).unwrap(),
        r#"{"removeTags":["t9"]}"#
    );
}

#[test]
fn thread_update_serialization() {
    let body = serde_json::to_value(ThreadUpdate {
        done: Some(true),
        assignee_id: None,
    })
    .unwrap();
    assert_eq!(body, json!({ "done": true }));
    let body = serde_json::to_value(ThreadUpdate {
        done: None,
        assignee_id: Some(None),
    })
    .unwrap();
    assert_eq!(body, json!({ "assigneeId": null }));
}

/// Encodes the query pairs exactly as the client does (reqwest's `query`).
fn encoded_thread_query(q: &ThreadQuery, cursor: Option<&Cursor>) -> String {
    let pairs = thread_query_pairs(q, cursor).unwrap();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let request = reqwest::Client::new()
        .get("http://127.0.0.1:1/api/v1/threads")
        .query(&pairs)
        .build()
        .unwrap();
    request.url().query().unwrap().to_owned()
}

#[test]
fn thread_query_encoding_first_page() {
    let q = ThreadQuery::walk(View::Requests);
    assert_eq!(
        encoded_thread_query(&q, None),
        "inbox=requests&filters%5BsortOrder%5D=asc&limit=100"
    );
}

#[test]
fn thread_query_encoding_with_cursor() {
    let q = ThreadQuery {
        view: View::NoReply,
        sort: SortOrder::Desc,
        limit: 20,
    };
    let cursor = Cursor {
        id: "m55f26jsep5ec41j88dhqiiy".into(),
        timestamp: "2025-01-15T10:30:00.000Z".into(),
    };
    assert_eq!(
        encoded_thread_query(&q, Some(&cursor)),
        "inbox=no-reply&filters%5BsortOrder%5D=desc&limit=20\
         &cursorId=m55f26jsep5ec41j88dhqiiy&cursorTimestamp=2025-01-15T10%3A30%3A00.000Z"
    );
    // A timestamp with an offset keeps its `+` (encoded), verbatim otherwise.
    let cursor = Cursor {
        id: "abc".into(),
        timestamp: "2025-01-15T10:30:00+01:00".into(),
    };
    assert!(
        encoded_thread_query(&q, Some(&cursor))
            .ends_with("cursorTimestamp=2025-01-15T10%3A30%3A00%2B01%3A00")
    );
}

#[test]
fn thread_query_rejects_bad_limits_and_cursor_ids() {
    let mut q = ThreadQuery::walk(View::Default);
    q.limit = 0;
    assert!(matches!(
        thread_query_pairs(&q, None),
        Err(Error::Config(_))
    ));
    q.limit = 101;
    assert!(matches!(
        thread_query_pairs(&q, None),
        Err(Error::Config(_))
    ));
    q.limit = 100;
    let cursor = Cursor {
        id: "../team".into(),
        timestamp: "x".into(),
    };
    assert!(matches!(
        thread_query_pairs(&q, Some(&cursor)),
        Err(Error::Config(_))
    ));
}

#[test]
fn ids_are_validated() {
    assert!(check_id("thread id", "l44e15irdq4db30i77cgphhx").is_ok());
    for bad in ["", "ABC", "a/b", "a b", "../x", "a?b=c", "é"] {
        let error = check_id("thread id", bad).unwrap_err();
        assert!(matches!(error, Error::Config(_)), "{bad:?}");
        assert!(error.to_string().contains("invalid thread id"), "{error}");
    }
    let long = "A".repeat(500);
    let message = check_id("thread id", &long).unwrap_err().to_string();
    assert!(message.len() < 150, "{message}");
}

fn prospect_json() -> serde_json::Value {
    json!({
        "platform": "twitter",
        "platformId": "1876543210987654321",
        "externalId": "p1",
        "documentId": null,
        "displayName": "Jordan Rivera",
        "username": "jordanrivera",
        "lastUpdatedAt": "2025-01-15T10:30:00.000Z",
        "somethingNew": {"nested": true},
        "context": {
            "tags": ["t1"],
            "statusId": null,
            "valuation": 1000.50,
            "notes": "hi",
            "threads": [{"id": "th1", "accountLinkId": "a1", "lastMessageTimestamp": null,
                         "createdAt": "2025-01-10T10:00:00.000Z"}]
        }
    })
}

#[test]
fn prospect_decodes_tolerantly() {
    let prospect: Prospect = serde_json::from_value(prospect_json()).unwrap();
    assert_eq!(prospect.external_id.as_deref(), Some("p1"));
    assert_eq!(prospect.context.valuation, Some(amount("1000.5")));
    assert_eq!(prospect.context.status_id, None);
    assert_eq!(prospect.context.assignee_id, None);
    assert_eq!(
        prospect.context.threads,
        Some(vec![ContextThread {
            id: "th1".into(),
            account_link_id: "a1".into()
        }])
    );
    assert!(prospect.last_updated_at.is_some());

    let mut value = prospect_json();
    value["context"]["valuation"] = json!(599);
    value["context"]["assigneeId"] = json!("m1");
    let prospect: Prospect = serde_json::from_value(value).unwrap();
    assert_eq!(prospect.context.valuation, Some(amount("599")));
    assert_eq!(prospect.context.assignee_id.as_deref(), Some("m1"));
}

#[test]
fn prospect_context_keys_are_required() {
    // A context missing `notes` must not silently read as "notes cleared".
    let mut value = prospect_json();
    value["context"].as_object_mut().unwrap().remove("notes");
    let error = serde_json::from_value::<Prospect>(value).unwrap_err();
    assert!(error.to_string().contains("notes"), "{error}");
}

#[test]
fn lookup_null_is_none() {
    let found: Option<Prospect> = serde_json::from_str("null").unwrap();
    assert!(found.is_none());
}

#[test]
fn event_page_decodes() {
    let page: EventPage = serde_json::from_value(json!({
        "events": [{"id": "e1", "seq": 42.0, "teamId": "t", "type": "prospect.tagsChanged",
                    "timestamp": "2025-01-15T10:30:00Z", "version": "1.0",
                    "data": {"prospect": {"platformId": "1"}}}],
        "hasMore": false,
        "lastSeq": 42
    }))
    .unwrap();
    assert_eq!(page.events[0].seq, 42);
    assert_eq!(page.events[0].event_type, "prospect.tagsChanged");
    assert_eq!(page.last_seq, Some(42));
    let empty: EventPage =
        serde_json::from_str(r#"{"events":[],"hasMore":false,"lastSeq":null}"#).unwrap();
    assert_eq!(empty.last_seq, None);
}

#[test]
fn options_and_client_debug_hide_the_token() {
    let token = "ibt_secret_token_value_123";
    let opts = ClientOptions::new(
        "http://127.0.0.1:9/api/v1/",
        SecretString::from(token),
        "INBOX_API_TOKEN",
    );
    assert!(!format!("{opts:?}").contains(token));
    let client = Client::new(opts).unwrap();
    let debug = format!("{client:?}");
    assert!(!debug.contains(token), "{debug}");
    assert!(debug.contains("http://127.0.0.1:9/api/v1\""), "{debug}");
}

#[test]
fn bad_options_are_config_errors() {
    let opts = |url: &str| ClientOptions::new(url, SecretString::from("t"), "TOKEN");
    assert!(matches!(
        Client::new(opts("ftp://x")),
        Err(Error::Config(_))
    ));
    assert!(matches!(
        Client::new(opts("not a url")),
        Err(Error::Config(_))
    ));
    let mut zero = opts("http://localhost");
    zero.max_attempts = 0;
    assert!(matches!(Client::new(zero), Err(Error::Config(_))));
    let newline = ClientOptions::new("http://localhost", SecretString::from("a\nb"), "TOKEN");
    let error = Client::new(newline).unwrap_err().to_string();
    assert!(
        error.contains("TOKEN") && !error.contains("a\nb"),
        "{error}"
    );
}

#[test]
fn budget_spreads_only_when_low() {
    let now = 1_000_000;
    let plenty = RateLimitInfo {
        limit: 300,
        remaining: 200,
        reset_unix: now + 30,
    };
    assert_eq!(plenty.spread_interval(now), None);
    let low = RateLimitInfo {
        remaining: 10,
        ..plenty
    };
    assert_eq!(low.spread_interval(now), Some(Duration::from_secs(3)));
    let empty = RateLimitInfo {
        remaining: 0,
        ..plenty
    };
    assert_eq!(empty.spread_interval(now), Some(Duration::from_secs(30)));
    let far = RateLimitInfo {
        remaining: 0,
        reset_unix: now + 3600,
        ..plenty
    };
    assert_eq!(far.spread_interval(now), Some(Duration::from_secs(60)));
    let stale = RateLimitInfo {
        reset_unix: now - 5,
        ..low
    };
    assert_eq!(stale.spread_interval(now), Some(Duration::ZERO));
}

#[test]
fn rate_limit_headers_parse() {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("X-RateLimit-Limit", "300".parse().unwrap());
    headers.insert("X-RateLimit-Remaining", "299".parse().unwrap());
    assert_eq!(RateLimitInfo::from_headers(&headers), None);
    headers.insert("X-RateLimit-Reset", "1736937000".parse().unwrap());
    assert_eq!(
        RateLimitInfo::from_headers(&headers),
        Some(RateLimitInfo {
            limit: 300,
            remaining: 299,
            reset_unix: 1_736_937_000
        })
    );
}
