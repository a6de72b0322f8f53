//! Hostile input for the Inbox client (issue 10): arbitrary bytes, JSON of the right shape with
//! junk leaves, error bodies, ids, cursors and rate-limit headers. Decoding goes through
//! `serde_json::from_slice` into the client's own types, as `Client::fetch` does; nothing may
//! panic, and every error stays one bounded line.

use std::time::Duration;

use proptest::prelude::*;
use reqwest::header::{HeaderMap, HeaderValue};
use secrecy::SecretString;

use super::client::{check_id, thread_query_pairs};
use super::error::{ShortId, parse_error_body, snippet};
use super::*;
use crate::reconcile::Amount;

/// Decodes `body` as `Client::fetch` does, into the error it would return.
fn decode<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(body).map_err(|e| Error::Decode {
        endpoint: "GET /threads".into(),
        detail: format!("{e}; body: {}", snippet(body)),
    })
}

/// Every response type the client decodes, fed the same body.
fn decode_all(body: &[u8]) -> Vec<Option<Error>> {
    vec![
        decode::<Team>(body).err(),
        decode::<Vec<AccountLink>>(body).err(),
        decode::<Vec<Member>>(body).err(),
        decode::<Vec<Tag>>(body).err(),
        decode::<Tag>(body).err(),
        decode::<Vec<Status>>(body).err(),
        decode::<ThreadPage>(body).err(),
        decode::<Thread>(body).err(),
        decode::<Prospect>(body).err(),
        decode::<Option<Prospect>>(body).err(),
        decode::<EventPage>(body).err(),
    ]
}

/// A decode error is one line of bounded length, whatever the body held.
fn check_decode_errors(body: &[u8]) -> Result<(), TestCaseError> {
    for error in decode_all(body).into_iter().flatten() {
        let message = error.to_string();
        prop_assert!(
            !message.contains(['\n', '\r']),
            "a decode error spans lines: {message:?}"
        );
        // The snippet is at most 200 characters; serde's own message quotes at most one
        // (escaped) value, which the generated bodies keep short.
        prop_assert!(message.chars().count() < 2_000, "{message}");
    }
    Ok(())
}

/// The text of a JSON number, including ones a decimal cannot hold.
fn number_text() -> BoxedStrategy<String> {
    prop_oneof![
        "-?[0-9]{1,30}",
        "-?[0-9]{1,20}\\.[0-9]{1,30}",
        "-?[0-9]{1,3}(\\.[0-9]{1,3})?[eE][+-]?[0-9]{1,4}",
        Just("-0".to_string()),
        Just("1e400".to_string()),
        Just("-1e-400".to_string()),
        Just("79228162514264337593543950336".to_string()),
        Just("0.00000000000000000000000000001".to_string()),
    ]
    .boxed()
}

/// A JSON leaf of any type.
fn leaf() -> BoxedStrategy<String> {
    prop_oneof![
        Just("null".to_string()),
        Just("true".to_string()),
        Just("[]".to_string()),
        Just("{}".to_string()),
        number_text(),
        "[a-z0-9 \\-:.TZ]{0,12}".prop_map(|s| format!("{s:?}")),
        any::<String>().prop_map(|s| serde_json::Value::String(s).to_string()),
        Just("\"2025-01-15T10:30:00.000Z\"".to_string()),
        number_text().prop_map(|n| format!("\"{n}\"")),
    ]
    .boxed()
}

/// A leaf, or the key left out entirely.
fn maybe(key: &'static str) -> BoxedStrategy<Option<String>> {
    proptest::option::weighted(0.85, leaf())
        .prop_map(move |v| v.map(|v| format!("\"{key}\":{v}")))
        .boxed()
}

fn object(fields: Vec<Option<String>>) -> String {
    let fields: Vec<String> = fields.into_iter().flatten().collect();
    format!("{{{}}}", fields.join(","))
}

/// A prospect whose every key may be missing or of the wrong type.
fn prospect_text() -> BoxedStrategy<String> {
    let context = (
        proptest::option::weighted(
            0.8,
            prop_oneof![
                leaf(),
                proptest::collection::vec(leaf(), 0..3).prop_map(|v| format!("[{}]", v.join(","))),
            ],
        ),
        maybe("statusId"),
        maybe("valuation"),
        maybe("notes"),
        maybe("assigneeId"),
    )
        .prop_map(|(tags, status, valuation, notes, assignee)| {
            object(vec![
                tags.map(|t| format!("\"tags\":{t}")),
                status,
                valuation,
                notes,
                assignee,
            ])
        })
        .boxed();
    (
        maybe("externalId"),
        maybe("platformId"),
        maybe("username"),
        maybe("lastUpdatedAt"),
        proptest::option::weighted(0.9, prop_oneof![4 => context, 1 => leaf()]),
    )
        .prop_map(|(id, platform, username, updated, context)| {
            object(vec![
                id,
                platform,
                username,
                updated,
                context.map(|c| format!("\"context\":{c}")),
            ])
        })
        .boxed()
}

fn thread_text() -> BoxedStrategy<String> {
    (
        maybe("id"),
        maybe("accountLinkId"),
        maybe("done"),
        maybe("assigneeId"),
        maybe("isRequest"),
        maybe("computedSortTimestamp"),
        proptest::option::weighted(0.9, prospect_text()),
    )
        .prop_map(|(id, link, done, assignee, request, sort, prospect)| {
            object(vec![
                id,
                link,
                done,
                assignee,
                request,
                sort,
                prospect.map(|p| format!("\"prospect\":{p}")),
            ])
        })
        .boxed()
}

fn thread_page_text() -> BoxedStrategy<String> {
    (
        proptest::collection::vec(thread_text(), 0..4),
        prop_oneof![
            Just(None),
            leaf().prop_map(Some),
            (leaf(), leaf())
                .prop_map(|(id, ts)| Some(format!("{{\"id\":{id},\"timestamp\":{ts}}}"))),
        ],
    )
        .prop_map(|(threads, cursor)| {
            object(vec![
                Some(format!("\"threads\":[{}]", threads.join(","))),
                cursor.map(|c| format!("\"nextCursor\":{c}")),
            ])
        })
        .boxed()
}

fn event_page_text() -> BoxedStrategy<String> {
    let event = (
        maybe("id"),
        maybe("seq"),
        maybe("type"),
        maybe("timestamp"),
        maybe("data"),
    )
        .prop_map(|(id, seq, kind, ts, data)| object(vec![id, seq, kind, ts, data]))
        .boxed();
    (
        proptest::collection::vec(event, 0..4),
        maybe("hasMore"),
        maybe("lastSeq"),
    )
        .prop_map(|(events, more, last)| {
            object(vec![
                Some(format!("\"events\":[{}]", events.join(","))),
                more,
                last,
            ])
        })
        .boxed()
}

/// A decimal with at most 15 significant digits: what a deal value realistically is, and what
/// an f64 (the JSON number Inbox stores) holds exactly.
fn realistic_amount() -> impl Strategy<Value = Amount> {
    ("-?[1-9][0-9]{0,9}", "[0-9]{0,4}").prop_map(|(int, frac)| {
        let text = if frac.is_empty() {
            int
        } else {
            format!("{int}.{frac}")
        };
        text.parse().expect("generated decimal parses")
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_bytes_decode_without_panicking(body in proptest::collection::vec(any::<u8>(), 0..300)) {
        check_decode_errors(&body)?;
    }

    #[test]
    fn junk_prospects_decode_without_panicking(body in prospect_text()) {
        check_decode_errors(body.as_bytes())?;
        check_decode_errors(format!("[{body}]").as_bytes())?;
    }

    #[test]
    fn junk_thread_pages_decode_without_panicking(body in thread_page_text()) {
        check_decode_errors(body.as_bytes())?;
        // Cut anywhere (a truncated body, as the fake's malformed answers are).
        for cut in [1, body.len() / 2, body.len().saturating_sub(1)] {
            let cut = body.len().min(cut);
            check_decode_errors(&body.as_bytes()[..cut])?;
        }
    }

    #[test]
    fn junk_event_pages_decode_without_panicking(body in event_page_text()) {
        check_decode_errors(body.as_bytes())?;
    }

    /// Whatever valuation Inbox sends, it is a decimal, a clean error, or null, never a panic.
    #[test]
    fn any_valuation_number_decodes_or_fails_cleanly(number in number_text()) {
        let body = format!(r#"{{"tags":[],"statusId":null,"valuation":{number},"notes":null}}"#);
        match serde_json::from_str::<Context>(&body) {
            Ok(context) => prop_assert!(context.valuation.is_some()),
            // serde_json refuses `1e400` itself ("number out of range"); the decimal refuses
            // what it cannot hold. Either is a clean, one-line decode error.
            Err(err) => prop_assert!(!err.to_string().contains('\n'), "{err}"),
        }
    }

    /// A valuation the client sends comes back as the same decimal.
    #[test]
    fn realistic_valuations_round_trip_through_the_wire(amount in realistic_amount()) {
        let update = ContextUpdate { valuation: Some(Some(amount)), ..ContextUpdate::default() };
        let sent: serde_json::Value = serde_json::to_value(&update).unwrap();
        let body = format!(
            r#"{{"tags":[],"statusId":null,"valuation":{},"notes":null}}"#,
            sent["valuation"]
        );
        let context: Context = serde_json::from_str(&body).unwrap();
        prop_assert_eq!(context.valuation, Some(amount));
    }

    #[test]
    fn error_bodies_become_one_short_message(
        status in 400u16..600,
        body in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..2_000),
            (any::<String>(), any::<String>()).prop_map(|(code, message)| {
                serde_json::json!({"error": {"code": code, "message": message}}).to_string().into_bytes()
            }),
            (any::<String>(), any::<String>()).prop_map(|(code, message)| {
                serde_json::json!({"error": code, "message": message}).to_string().into_bytes()
            }),
            "<html><body>[a-z <>/\n]{0,3000}</body></html>".prop_map(String::into_bytes),
        ],
    ) {
        let parsed = parse_error_body(status, &body);
        prop_assert!(!parsed.message.is_empty());
        prop_assert!(parsed.message.chars().count() <= 201, "{}", parsed.message);
        if let Some(code) = &parsed.code {
            prop_assert!(code.chars().count() <= 201);
        }
        let text = snippet(&body);
        prop_assert!(!text.contains(['\n', '\r']), "{text:?}");
    }

    /// Ids reach a URL path only when they match `^[0-9a-z]+$`; refusals are one short line.
    #[test]
    fn ids_are_accepted_exactly_when_lowercase_alphanumeric(
        id in prop_oneof![any::<String>(), "[0-9a-z]{1,30}", "[0-9a-zA-Z/.?#% _-]{0,30}"],
    ) {
        let valid = !id.is_empty() && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        let checked = check_id("prospect id", &id);
        prop_assert_eq!(checked.is_ok(), valid, "{:?}", id);
        if let Err(err) = checked {
            let message = err.to_string();
            prop_assert!(!message.contains(['\n', '\r']), "{message:?}");
            prop_assert!(message.chars().count() < 600, "{message}");
        }
        let cursor = Cursor { id: id.clone(), timestamp: id.clone() };
        let pairs = thread_query_pairs(&ThreadQuery::walk(View::Default), Some(&cursor));
        prop_assert_eq!(pairs.is_ok(), valid);
        let _ = ShortId(&id).to_string();
    }

    #[test]
    fn rate_limit_headers_never_panic(
        limit in prop_oneof![any::<u64>().prop_map(|n| n.to_string()), any::<String>()],
        remaining in prop_oneof![any::<u64>().prop_map(|n| n.to_string()), any::<String>()],
        reset in prop_oneof![any::<u64>().prop_map(|n| n.to_string()), any::<String>()],
        now in any::<u64>(),
    ) {
        let mut headers = HeaderMap::new();
        for (name, value) in [("x-ratelimit-limit", &limit), ("x-ratelimit-remaining", &remaining), ("x-ratelimit-reset", &reset)] {
            if let Ok(value) = HeaderValue::from_str(value) {
                headers.insert(name, value);
            }
        }
        if let Some(info) = RateLimitInfo::from_headers(&headers)
            && let Some(wait) = info.spread_interval(now)
        {
            prop_assert!(wait <= Duration::from_secs(60));
        }
    }

    /// Any pacing interval either builds a client or is refused; none panics.
    #[test]
    fn any_pacing_interval_builds_or_is_refused(ms in any::<u64>()) {
        let mut opts = ClientOptions::new("http://127.0.0.1:9", SecretString::from("t"), "TOKEN");
        opts.min_interval = Some(Duration::from_millis(ms));
        opts.backoff_base = Duration::from_millis(ms);
        match Client::new(opts) {
            Ok(_) => prop_assert!(ms <= 3_600_000),
            Err(err) => prop_assert!(matches!(err, Error::Config(_)), "{err:?}"),
        }
    }
}

/// Regression (issue 10): `[limits] min_interval_ms = 9223372036854775807` panicked inside the
/// pacing limiter ("Duration is longer than 584 years") instead of failing cleanly.
#[test]
fn r10_a_huge_pacing_interval_is_a_config_error_not_a_panic() {
    let mut opts = ClientOptions::new("http://127.0.0.1:9", SecretString::from("t"), "TOKEN");
    opts.min_interval = Some(Duration::from_millis(9_223_372_036_854_775_807));
    let error = Client::new(opts).unwrap_err();
    assert!(matches!(error, Error::Config(_)), "{error:?}");
    assert!(error.to_string().contains("min_interval"), "{error}");
}
