//! How answers fail: every error code, the rate-limit windows (minute retried, hour and day
//! not), 5xx retries, request ids in texts and logs, and the token kept out of all of it.

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::*;

/// What a fatal error answer decodes to.
fn check_error(error: &Error, expected: &str) {
    let shape = match error {
        Error::Unauthorized { token_env, .. } => format!("unauthorized {token_env}"),
        Error::Forbidden { code, .. } => format!("forbidden {}", code.as_deref().unwrap_or("-")),
        Error::NotFound { what, .. } => format!("not found {what}"),
        Error::InvalidRequest { issues, .. } => format!(
            "invalid request {}",
            issues
                .iter()
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join("|")
        ),
        Error::InvalidCursor { .. } => "invalid cursor".to_owned(),
        Error::Api { status, code, .. } => format!("api {status} {code:?}"),
        other => format!("{other:?}"),
    };
    assert_eq!(shape, expected);
}

#[tokio::test]
async fn each_error_code_decodes_to_its_variant_without_a_retry() {
    let issues = json!({"issues": [{"path": ["body", "tagIds"], "message": "Unknown key"},
                                   {"path": ["query", "platformId", 3], "message": "Too short"}]});
    let cases = [
        (
            401,
            error_body("unauthorized", Value::Null),
            "unauthorized INBOX_API_TOKEN",
        ),
        (
            403,
            error_body("workspaceLocked", Value::Null),
            "forbidden workspaceLocked",
        ),
        (
            403,
            error_body("planRequired", json!({"feature": "api"})),
            "forbidden planRequired",
        ),
        (
            404,
            error_body("contactNotFound", Value::Null),
            "not found contact",
        ),
        (
            404,
            error_body("threadNotFound", Value::Null),
            "not found thread",
        ),
        (404, error_body("tagNotFound", Value::Null), "not found tag"),
        (
            404,
            error_body("accountLinkNotFound", Value::Null),
            "not found account link",
        ),
        (
            404,
            error_body("widgetNotFound", Value::Null),
            "not found widget",
        ),
        (404, json!({"error": "no route"}), "api 404 None"),
        (
            400,
            error_body("invalidRequest", issues),
            "invalid request body.tagIds: Unknown key|query.platformId.3: Too short",
        ),
        (
            400,
            error_body("invalidCursor", Value::Null),
            "invalid cursor",
        ),
        (
            409,
            error_body("nameTaken", json!({"name": "VIP"})),
            "api 409 Some(\"nameTaken\")",
        ),
        (
            422,
            error_body("tagLimitReached", json!({"max": 100})),
            "api 422 Some(\"tagLimitReached\")",
        ),
        (
            502,
            error_body("sendUnconfirmed", json!({"messageId": "ms1"})),
            "api 502 Some(\"sendUnconfirmed\")",
        ),
        (
            418,
            error_body("somethingNew", Value::Null),
            "api 418 Some(\"somethingNew\")",
        ),
    ];
    for (status, body, expected) in cases {
        let server = Server::start(vec![reply(status, body)]).await;
        let client = server.client();
        let error = client.contact(&ContactId::from("c1")).await.unwrap_err();
        check_error(&error, expected);
        assert!(!error.is_retryable(), "{expected}");
        let request_id = (expected != "api 404 None").then_some("req_body");
        assert_eq!(error.request_id(), request_id, "{expected}");
        if let Some(id) = request_id {
            assert!(error.to_string().contains(id), "{error}");
        }
        assert_eq!(server.seen().len(), 1, "{expected}: not retried");
    }
}

#[tokio::test]
async fn rate_limited_minute_is_retried_after_retry_after_then_succeeds() {
    let limited = error_body(
        "rateLimited",
        json!({"window": "minute", "limit": 300, "resetAt": "2026-10-01T08:01:00.000Z"}),
    );
    let server = Server::start(vec![
        reply(429, limited).header("retry-after", "0"),
        reply(200, contact_json("c1", "2026-10-01T00:00:00.000Z")),
    ])
    .await;
    let client = server.client();
    let contact = client.contact(&ContactId::from("c1")).await.unwrap();
    assert_eq!(contact.id.as_str(), "c1");
    let stats = client.stats();
    assert_eq!(
        (stats.requests, stats.rate_limited, stats.retries),
        (2, 1, 1)
    );
}

#[tokio::test]
async fn rate_limited_minute_every_time_ends_as_a_retryable_rate_limit() {
    let limited = || {
        reply(
            429,
            error_body(
                "rateLimited",
                json!({"window": "minute", "limit": 300, "resetAt": "2026-10-01T08:01:00.000Z"}),
            ),
        )
        .header("retry-after", "0")
        .header("x-request-id", "req_429")
    };
    let server = Server::start(vec![limited(), limited(), limited()]).await;
    let error = server.client().tags().await.unwrap_err();
    assert!(
        matches!(&error, Error::RateLimited { window: RateWindow::Minute, retry_after: Some(d), .. } if d.is_zero()),
        "{error:?}"
    );
    assert!(error.is_retryable() && error.quota_exhausted().is_none());
    assert!(error.to_string().contains("req_429"), "{error}");
    assert_eq!(server.seen().len(), 3);
}

#[tokio::test]
async fn rate_limited_hour_or_day_is_not_retried_and_ends_the_push() {
    for window in ["hour", "day"] {
        let limited = error_body(
            "rateLimited",
            json!({"window": window, "limit": 10000, "resetAt": "2026-10-01T09:00:00.000Z"}),
        );
        let server = Server::start(vec![
            reply(429, limited)
                .header("retry-after", "0")
                .header("x-request-id", "req_hour"),
            reply(204, Value::Null),
        ])
        .await;
        let client = server.client();
        let error = client
            .add_tag(&ContactId::from("c1"), "t1")
            .await
            .unwrap_err();
        let Error::RateLimited {
            window: got,
            reset_at,
            ..
        } = &error
        else {
            panic!("{error:?}")
        };
        assert_eq!(got.to_string(), window);
        let reset = reset_at.map(|at| at.to_rfc3339());
        assert_eq!(reset.as_deref(), Some("2026-10-01T09:00:00+00:00"));
        assert!(!error.is_retryable());
        assert_eq!(error.quota_exhausted(), Some(*reset_at));
        let text = error.to_string();
        assert!(
            text.contains(&format!("{window} window")) && text.contains("req_hour"),
            "{text}"
        );
        assert_eq!(server.seen().len(), 1, "{window}: not retried");
        assert_eq!(client.stats().rate_limited, 1);
    }
}

#[tokio::test]
async fn server_errors_are_retried_then_transient_with_the_cause() {
    let html = Reply {
        status: 502,
        headers: vec![("x-request-id", "req_5xx".into())],
        body: "<html><h1>502 Bad Gateway</h1></html>".into(),
    };
    let server = Server::start(vec![
        reply(500, error_body("internal", Value::Null)),
        reply(
            503,
            error_body("platformUnavailable", json!({"retryAfterSeconds": 0})),
        ),
        html,
    ])
    .await;
    let client = server.client();
    let error = client.team().await.unwrap_err();
    let Error::Transient {
        endpoint,
        attempts,
        source,
    } = &error
    else {
        panic!("{error:?}")
    };
    assert_eq!((*endpoint, *attempts), ("GET /team", 3));
    let cause = source.to_string();
    assert!(
        cause.contains("502") && cause.contains("Bad Gateway") && cause.contains("req_5xx"),
        "{cause}"
    );
    assert!(std::error::Error::source(&error).is_some());
    assert!(error.is_retryable());
    assert_eq!(error.request_id(), Some("req_5xx"));
    assert_eq!(client.stats().server_errors, 3);
}

#[tokio::test]
async fn the_token_never_shows_in_debug_display_or_errors() {
    let echo = json!({"code": format!("x{TOKEN}"), "message": format!("bad header Bearer {TOKEN}"),
                      "details": {"header": format!("Bearer {TOKEN}")}, "requestId": TOKEN});
    let server = Server::start(vec![
        reply(418, echo.clone()),
        reply(401, echo.clone()),
        reply(
            400,
            json!({"code": "invalidRequest", "message": "m", "requestId": "r",
            "details": {"issues": [{"path": [], "message": format!("saw {TOKEN}")}]}}),
        ),
        // A body that fails to decode is quoted in the error: scrubbed too.
        reply(200, json!({"id": 5, "echo": TOKEN})),
    ])
    .await;
    let client = server.client();
    let debug = format!("{client:?}");
    assert!(
        !debug.contains(TOKEN) && debug.contains("[REDACTED]"),
        "{debug}"
    );
    let id = ContactId::from("c1");
    for _ in 0..3 {
        let error = client.contact(&id).await.unwrap_err();
        for text in [
            format!("{error}"),
            format!("{error:?}"),
            format!("{error:#}"),
        ] {
            assert!(!text.contains(TOKEN), "{text}");
        }
    }
    let error = client.team().await.unwrap_err();
    assert!(matches!(error, Error::Decode { .. }), "{error:?}");
    let text = format!("{error} {error:?}");
    assert!(
        !text.contains(TOKEN) && text.contains("[REDACTED]"),
        "{text}"
    );
    let walk = client.walk();
    assert!(!format!("{walk:?}").contains(TOKEN));
}

#[test]
fn error_texts_name_the_window_and_request() {
    let error = Error::NotFound {
        what: Missing::Contact,
        message: "No contact c1".into(),
        request_id: Some("req_1".into()),
    };
    assert_eq!(
        error.to_string(),
        "Inbox v2: contact not found (404): No contact c1 [request req_1]"
    );
    assert_eq!(Missing::from_code("notFound"), None);
    assert_eq!(Missing::from_code("internal"), None);
    assert_eq!(RateWindow::parse("week"), RateWindow::Other("week".into()));
    assert!(!RateWindow::Other("week".into()).ends_push());
}

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn logs_carry_the_request_id_and_never_the_token() {
    let _exclusive = LOG_CAPTURE.write().await;
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // The test runtime is single-threaded: the client and the server run under this default.
    let _guard = tracing::subscriber::set_default(subscriber);
    // Other tests' threads may have registered the client's callsites first, with no
    // subscriber: recompute their interest now that this one exists.
    tracing::callsite::rebuild_interest_cache();
    let echo = json!({"code": "contactNotFound", "message": format!("no {TOKEN}"),
                      "details": null, "requestId": "req_log"});
    let server =
        Server::start_unshared(vec![reply(404, echo).header("x-request-id", "req_log")]).await;
    let error = server
        .client()
        .contact(&ContactId::from("c1"))
        .await
        .unwrap_err();
    assert!(matches!(
        error,
        Error::NotFound {
            what: Missing::Contact,
            ..
        }
    ));
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("req_log"), "{logs}");
    assert!(logs.contains("Inbox v2 call failed"), "{logs}");
    assert!(!logs.contains(TOKEN), "{logs}");
}
