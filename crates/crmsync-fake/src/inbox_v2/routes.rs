//! The HTTP side of the fake Inbox v2: one axum fallback handler that routes `/api/v2/...` by
//! hand (so every answer, including unknown routes and bad path ids, has the flat error body and
//! an `X-Request-Id`), runs the per-request pipeline (stats, hook, auth, scripted failures, rate
//! limit, random faults, latency) and the endpoint handlers.
//!
//! Handlers translate between HTTP and the model; they must not hold the state lock across an
//! `.await`, and must not build JSON shapes themselves beyond page wrappers (that is `wire.rs`).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State as AxumState};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use rand::Rng;
use serde_json::json;

use super::handlers::{Call, Endpoint, handle};
use super::request::{self, ApiError, Issue};
use super::{RequestInfo, Script, Shared, State};
use crate::common::{bearer_is, gen_id, now_ms, timestamp, valid_id};
use crate::ratelimit::{Admission, LimitHeaders};

/// Request bodies above this are rejected.
const MAX_BODY_BYTES: usize = 1 << 20;

/// The axum app: everything goes through [`serve`].
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(serve).with_state(shared)
}

/// Maps a path to its route template and decoded path parameters; `None` for unknown paths.
/// Each segment is split before decoding, so `%2F` in a tag ref stays inside its segment.
fn template(path: &str) -> Option<(&'static str, Vec<String>)> {
    let rest = path.strip_prefix("/api/v2/")?;
    let raw: Vec<&str> = rest.split('/').collect();
    let decoded: Option<Vec<String>> = raw
        .iter()
        .map(|s| request::percent_decode(s, false))
        .collect();
    let segments = decoded?;
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let p = |values: &[&str]| values.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let found = match segments.as_slice() {
        ["platforms"] => ("/platforms", vec![]),
        ["team"] => ("/team", vec![]),
        ["members"] => ("/members", vec![]),
        ["members", id] => ("/members/{memberId}", p(&[id])),
        ["account-links"] => ("/account-links", vec![]),
        ["account-links", id] => ("/account-links/{accountLinkId}", p(&[id])),
        ["contacts"] => ("/contacts", vec![]),
        ["contacts", id] => ("/contacts/{contactId}", p(&[id])),
        ["contacts", id, "tags", tag] => ("/contacts/{contactId}/tags/{tagRef}", p(&[id, tag])),
        ["threads"] => ("/threads", vec![]),
        ["threads", id] => ("/threads/{threadId}", p(&[id])),
        ["threads", id, "typing"] => ("/threads/{threadId}/typing", p(&[id])),
        ["threads", id, "messages"] => ("/threads/{threadId}/messages", p(&[id])),
        ["messages"] => ("/messages", vec![]),
        ["messages", id] => ("/messages/{messageId}", p(&[id])),
        ["messages", id, "history"] => ("/messages/{messageId}/history", p(&[id])),
        ["messages", id, "reactions"] => ("/messages/{messageId}/reactions", p(&[id])),
        ["messages", id, "attachments", index] => {
            ("/messages/{messageId}/attachments/{index}", p(&[id, index]))
        }
        ["tags"] => ("/tags", vec![]),
        ["tags", tag] => ("/tags/{tagRef}", p(&[tag])),
        ["statuses"] => ("/statuses", vec![]),
        ["statuses", status] => ("/statuses/{statusRef}", p(&[status])),
        ["colors"] => ("/colors", vec![]),
        ["events"] => ("/events", vec![]),
        _ => return None,
    };
    Some(found)
}

/// Checks the path parameters against their schemas: ids are `Cuid2`, refs are non-empty.
fn check_params(route: &str, params: &[String]) -> Result<(), ApiError> {
    let names: Vec<&str> = route
        .split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .collect();
    let mut issues = Vec::new();
    for (name, value) in names.iter().zip(params) {
        let ok = if name.ends_with("Id") {
            valid_id(value)
        } else {
            !value.is_empty()
        };
        if !ok {
            let expected = if name.ends_with("Id") {
                "an id matching ^[0-9a-z]+$"
            } else {
                "a non-empty ID or name"
            };
            issues.push(Issue::new(
                vec![json!(name)],
                format!("Path parameter '{name}' must be {expected}, got {value:?}"),
            ));
        }
    }
    if issues.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(issues))
    }
}

/// Resolves method + template into an endpoint, or the error to answer.
fn endpoint(method: &str, route: &'static str, params: Vec<String>) -> Result<Endpoint, ApiError> {
    check_params(route, &params)?;
    let mut params = params.into_iter();
    let mut next = || params.next().unwrap_or_default();
    let found = match (method, route) {
        ("GET", "/platforms") => Endpoint::Platforms,
        ("GET", "/team") => Endpoint::Team,
        ("GET", "/members") => Endpoint::Members,
        ("GET", "/members/{memberId}") => Endpoint::Member(next()),
        ("GET", "/account-links") => Endpoint::AccountLinks,
        ("GET", "/account-links/{accountLinkId}") => Endpoint::AccountLink(next()),
        ("GET", "/contacts") => Endpoint::Contacts,
        ("GET", "/contacts/{contactId}") => Endpoint::Contact(next()),
        ("PATCH", "/contacts/{contactId}") => Endpoint::PatchContact(next()),
        ("PUT", "/contacts/{contactId}/tags/{tagRef}") => Endpoint::AddTag(next(), next()),
        ("DELETE", "/contacts/{contactId}/tags/{tagRef}") => Endpoint::RemoveTag(next(), next()),
        ("GET", "/threads") => Endpoint::Threads,
        ("GET", "/threads/{threadId}") => Endpoint::Thread(next()),
        ("PATCH", "/threads/{threadId}") => Endpoint::PatchThread(next()),
        ("GET", "/tags") => Endpoint::Tags,
        ("POST", "/tags") => Endpoint::CreateTag,
        ("GET", "/tags/{tagRef}") => Endpoint::Tag(next()),
        ("GET", "/statuses") => Endpoint::Statuses,
        ("GET", "/colors") => Endpoint::Colors,
        ("GET", "/events") => Endpoint::Events,
        _ if documented_elsewhere(method, route) => {
            return Err(ApiError::new(
                501,
                "notImplemented",
                format!("{method} {route} is documented but not implemented by the fake"),
            ));
        }
        _ => {
            return Err(ApiError::new(
                405,
                "methodNotAllowed",
                format!("{method} is not allowed on {route}"),
            ));
        }
    };
    Ok(found)
}

/// Operations in the v2 catalogue that the fake does not implement.
fn documented_elsewhere(method: &str, route: &str) -> bool {
    matches!(
        (method, route),
        ("DELETE", "/threads/{threadId}")
            | ("POST", "/threads/{threadId}/typing")
            | ("GET", "/threads/{threadId}/messages")
            | ("POST", "/messages")
            | ("GET" | "PATCH" | "DELETE", "/messages/{messageId}")
            | ("GET", "/messages/{messageId}/history")
            | ("POST" | "DELETE", "/messages/{messageId}/reactions")
            | ("GET", "/messages/{messageId}/attachments/{index}")
            | ("PATCH" | "DELETE", "/tags/{tagRef}")
            | ("POST", "/statuses")
            | ("GET" | "PATCH" | "DELETE", "/statuses/{statusRef}")
    )
}

/// What the pipeline decided to answer.
struct Outcome {
    status: u16,
    body: Option<String>,
    request_id: String,
    limits: LimitHeaders,
    retry_after: Option<u64>,
    truncate: bool,
    latency: Duration,
}

/// The parts of a request the pipeline looks at.
struct Incoming<'r> {
    method: &'r str,
    path: &'r str,
    query: Option<&'r str>,
    headers: &'r HeaderMap,
    /// `None` when the body could not be read (too large).
    body: Option<&'r [u8]>,
}

/// The fallback handler: every request enters here.
async fn serve(AxumState(shared): AxumState<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES).await;
    let incoming = Incoming {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query(),
        headers: &parts.headers,
        body: bytes.as_deref().ok(),
    };
    let outcome = process(&shared, &incoming);
    if !outcome.latency.is_zero() {
        tokio::time::sleep(outcome.latency).await;
    }
    respond(outcome)
}

/// The synchronous pipeline, under the state lock.
fn process(shared: &Shared, req: &Incoming<'_>) -> Outcome {
    let routed = template(req.path);
    let route = routed.as_ref().map_or("(unmatched)", |(route, _)| *route);
    let mut guard = shared.lock();
    let state = &mut *guard;
    state.control.request_counter += 1;
    let stats = &mut state.control.stats;
    stats.requests += 1;
    *stats
        .by_route
        .entry((req.method.to_owned(), route.to_owned()))
        .or_default() += 1;
    run_hook(state, req, route);
    let request_id = format!("req_{}", gen_id(&mut state.control.request_rng));
    let latency = state.control.faults.latency;
    let mut outcome = decide(state, shared, req, routed, request_id);
    outcome.latency = latency;
    let stats = &mut state.control.stats;
    match outcome.status {
        401 => stats.unauthorized += 1,
        429 => stats.rate_limited += 1,
        500..=599 => stats.server_errors += 1,
        _ => {}
    }
    outcome
}

fn run_hook(state: &mut State, req: &Incoming<'_>, route: &'static str) {
    let Some(mut hook) = state.control.hook.take() else {
        return;
    };
    let info = RequestInfo {
        number: state.control.request_counter,
        method: req.method.to_owned(),
        path: req.path.to_owned(),
        route,
        query: req.query.map(str::to_owned),
    };
    hook(&mut Script { state }, &info);
    // Keep a hook the callback installed for itself; otherwise put this one back.
    if state.control.hook.is_none() {
        state.control.hook = Some(hook);
    }
}

fn error_outcome(err: &ApiError, request_id: String, limits: LimitHeaders) -> Outcome {
    Outcome {
        status: err.status,
        body: Some(err.body(&request_id)),
        request_id,
        limits,
        retry_after: None,
        truncate: false,
        latency: Duration::ZERO,
    }
}

/// The `details.window` name of a limiter window. The docs name only `minute`, `hour` and
/// `day`; a custom window (e.g. `100/10s` in tests) is named by the smallest that holds it.
fn window_name(window: Duration) -> &'static str {
    match window.as_secs() {
        0..=60 => "minute",
        61..=3_600 => "hour",
        _ => "day",
    }
}

/// `429 rateLimited` with `{window, limit, resetAt}`.
fn rate_limited(retry_after_secs: u64, window: Duration, limit: u32) -> ApiError {
    let reset_ms = now_ms() + i64::try_from(retry_after_secs).unwrap_or(i64::MAX / 2) * 1_000;
    ApiError::new(
        429,
        "rateLimited",
        format!("Rate limit exceeded. Try again in {retry_after_secs} seconds."),
    )
    .with_details(json!({
        "window": window_name(window),
        "limit": limit,
        "resetAt": timestamp(reset_ms),
    }))
}

/// Auth, scripted failures, limits and random faults, then the endpoint itself.
fn decide(
    state: &mut State,
    shared: &Shared,
    req: &Incoming<'_>,
    routed: Option<(&'static str, Vec<String>)>,
    request_id: String,
) -> Outcome {
    let now = tokio::time::Instant::now();
    let control = &mut state.control;
    if !bearer_is(req.headers, &shared.token) {
        let err = ApiError::new(401, "unauthorized", "Missing or invalid API token");
        return error_outcome(&err, request_id, control.limiter.headers(now));
    }
    if let Some(status) = control.fail_next.pop_front() {
        return scripted_failure(status, request_id, control.limiter.headers(now));
    }
    let limits = match control.limiter.admit(now) {
        Admission::Allowed(limits) => limits,
        Admission::Rejected {
            retry_after_secs,
            window,
            limit,
            headers,
        } => {
            let err = rate_limited(retry_after_secs, window, limit);
            let mut outcome = error_outcome(&err, request_id, headers);
            outcome.retry_after = Some(retry_after_secs);
            return outcome;
        }
    };
    let faults = control.faults.clone();
    if faults.error_rate > 0.0 && control.fault_rng.random::<f64>() < faults.error_rate {
        let status = [500, 502, 503][control.fault_rng.random_range(0..3)];
        return scripted_failure(status, request_id, limits);
    }
    let forced_malformed = control.malformed_next > 0;
    if forced_malformed {
        control.malformed_next -= 1;
    }
    let random_malformed =
        faults.malformed_rate > 0.0 && control.fault_rng.random::<f64>() < faults.malformed_rate;

    let result = match (routed, req.body) {
        (None, _) => Err(ApiError::new(404, "notFound", "No such route")),
        (Some(_), None) => Err(ApiError::invalid_at(
            vec![],
            "Request body too large or unreadable",
        )),
        (Some((route, params)), Some(body)) => endpoint(req.method, route, params).and_then(|ep| {
            let content_type = req
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok());
            let call = Call {
                query: req.query,
                body,
                content_type,
                secret: shared.cursor_secret,
            };
            handle(&mut state.model, ep, &call)
        }),
    };
    let mut outcome = match result {
        Ok(reply) => Outcome {
            status: reply.status,
            body: reply.body,
            request_id,
            limits,
            retry_after: None,
            truncate: random_malformed && (200..300).contains(&reply.status),
            latency: Duration::ZERO,
        },
        Err(err) => error_outcome(&err, request_id, limits),
    };
    if forced_malformed {
        // A malformed answer is a 200 whose body is not the API's JSON (like a proxy's page).
        outcome.status = 200;
        outcome.truncate = true;
        outcome
            .body
            .get_or_insert_with(|| "{\"data\":[]}".to_owned());
    }
    outcome
}

fn scripted_failure(status: u16, request_id: String, limits: LimitHeaders) -> Outcome {
    let err = match status {
        429 => rate_limited(1, Duration::from_secs(60), 300),
        401 => ApiError::new(401, "unauthorized", "Missing or invalid API token"),
        403 => ApiError::new(403, "workspaceLocked", "The workspace is locked"),
        500 => ApiError::new(500, "internal", "Internal error"),
        502 => ApiError::new(502, "platformError", "The platform returned an error"),
        503 => ApiError::new(503, "platformUnavailable", "The platform is unavailable")
            .with_details(json!({ "retryAfterSeconds": null })),
        other => ApiError::new(other, "injectedFailure", "Failure injected by the fake"),
    };
    let mut outcome = error_outcome(&err, request_id, limits);
    if status == 429 {
        outcome.retry_after = Some(1);
    }
    outcome
}

fn respond(outcome: Outcome) -> Response {
    let has_body = outcome.body.is_some();
    let mut body = outcome.body.unwrap_or_default();
    if outcome.truncate {
        // Cutting a JSON object or array before its end always leaves invalid JSON.
        let mut cut = body.len() / 2;
        while !body.is_char_boundary(cut) {
            cut -= 1;
        }
        body.truncate(cut.max(1).min(body.len().saturating_sub(1)));
    }
    let mut response = Response::new(Body::from(body));
    *response.status_mut() =
        StatusCode::from_u16(outcome.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    if has_body {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
    if let Ok(id) = HeaderValue::from_str(&outcome.request_id) {
        headers.insert("x-request-id", id);
    }
    let limits = outcome.limits;
    headers.insert("x-ratelimit-limit", HeaderValue::from(limits.limit));
    headers.insert("x-ratelimit-remaining", HeaderValue::from(limits.remaining));
    headers.insert("x-ratelimit-reset", HeaderValue::from(limits.reset_unix));
    if let Some(secs) = outcome.retry_after {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}
