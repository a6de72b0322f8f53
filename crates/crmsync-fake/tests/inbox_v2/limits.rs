//! Rate limits and their headers, scripted failures and malformed bodies.

use std::time::Duration;

use crmsync_fake::inbox_v2::Faults;
use serde_json::json;

use super::*;

#[tokio::test]
async fn past_a_limit_the_answer_is_429_rate_limited_with_window_and_retry_after() {
    let limited = FakeConfig {
        rate_limit: "3/min,1000/h".parse().unwrap(),
        ..config(5)
    };
    let (fake, api) = start_with(limited).await;
    for remaining in [2, 1, 0] {
        let reply = api.get("/team").await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.header("x-ratelimit-limit").as_deref(), Some("3"));
        assert_eq!(
            reply.header("x-ratelimit-remaining"),
            Some(remaining.to_string())
        );
        assert!(
            reply
                .header("x-ratelimit-reset")
                .unwrap()
                .parse::<u64>()
                .is_ok()
        );
    }
    let reply = api.get("/team").await;
    assert_eq!(reply.error_code(429), "rateLimited");
    let details = reply.json()["details"].clone();
    assert_eq!(details["window"], "minute");
    assert_eq!(details["limit"], 3);
    assert!(
        chrono_like(details["resetAt"].as_str().unwrap()),
        "{details}"
    );
    let retry: u64 = reply.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry));
    assert_eq!(fake.stats().rate_limited, 1);

    fake.set_rate_limit("100/min,2/h".parse().unwrap());
    let reply = api.get("/team").await;
    assert_eq!(reply.json()["details"]["window"], "hour");
    fake.set_rate_limit(RateLimit::Off);
    assert_eq!(api.get("/team").await.status, 200);
}

/// `YYYY-MM-DDTHH:MM:SS.sssZ`.
fn chrono_like(text: &str) -> bool {
    text.len() == 24 && text.ends_with('Z') && text.as_bytes()[10] == b'T'
}

#[tokio::test]
async fn scripted_failures_and_malformed_bodies() {
    let (fake, api) = start(5).await;
    fake.fail_next(1, 503);
    fake.fail_next(1, 500);
    fake.fail_next(1, 429);
    let unavailable = api.get("/team").await;
    assert_eq!(unavailable.error_code(503), "platformUnavailable");
    assert_eq!(
        unavailable.json()["details"],
        json!({ "retryAfterSeconds": null })
    );
    assert_eq!(api.get("/team").await.error_code(500), "internal");
    let limited = api.get("/team").await;
    assert_eq!(limited.error_code(429), "rateLimited");
    assert_eq!(limited.header("retry-after").as_deref(), Some("1"));
    fake.malformed_next(1);
    let broken = api.get("/team").await;
    assert_eq!(broken.status, 200);
    assert!(serde_json::from_str::<Value>(&broken.text).is_err());
    assert_eq!(api.get("/team").await.status, 200);
    fake.set_faults(Faults {
        error_rate: 1.0,
        ..Faults::default()
    });
    assert!(api.get("/team").await.status >= 500);
    fake.set_faults(Faults {
        latency: Duration::from_millis(1),
        ..Faults::default()
    });
    assert_eq!(api.get("/team").await.status, 200);
    assert_eq!(fake.stats().server_errors, 3);
}
