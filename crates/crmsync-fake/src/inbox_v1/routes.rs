//! The HTTP side of the fake Inbox: one axum fallback handler that routes `/api/v1/...` by
//! hand (so every error, including unknown routes and bad path ids, uses the documented body),
//! runs the per-request pipeline (stats, hook, auth, scripted failures, rate limit, random
//! faults, latency) and the endpoint handlers.
//!
//! Handlers translate between HTTP and the model; they must not hold the state lock across an
//! `.await`, and must not build JSON shapes themselves (that is `wire.rs`).

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State as AxumState};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use rand::Rng;
use serde::Serialize;
use serde_json::Value;

use super::request::{self, ApiError};
use super::state::{Model, Reject};
use super::wire;
use super::{RequestInfo, Script, Shared, State, WriteRecord};
use crate::common::{bearer_is, now_ms, timestamp, valid_id};
use crate::ratelimit::{Admission, LimitHeaders};

/// Request bodies above this are rejected.
const MAX_BODY_BYTES: usize = 1 << 20;

/// The axum app: everything goes through [`serve`].
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(serve).with_state(shared)
}

/// A routed request.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Endpoint {
    Team,
    AccountLinks,
    Members,
    Member(String),
    Tags,
    CreateTag,
    Tag(String),
    Statuses,
    Status(String),
    Threads,
    Thread(String),
    PatchThread(String),
    Prospect(String),
    PatchContext(String),
    ProspectLookup,
    Events,
}

/// Maps a path to its route template and path parameters; `None` for unknown paths.
fn template(path: &str) -> Option<(&'static str, Vec<String>)> {
    let rest = path.strip_prefix("/api/v1/")?;
    let segments: Vec<&str> = rest.split('/').collect();
    let one = |s: &str| vec![s.to_owned()];
    let found = match segments.as_slice() {
        ["team"] => ("/team", vec![]),
        ["threads"] => ("/threads", vec![]),
        ["threads", "lookup"] => ("/threads/lookup", vec![]),
        ["threads", "lookup-by-username"] => ("/threads/lookup-by-username", vec![]),
        ["threads", "messages"] => ("/threads/messages", vec![]),
        ["threads", id] => ("/threads/{threadId}", one(id)),
        ["threads", id, "typing"] => ("/threads/{threadId}/typing", one(id)),
        ["threads", id, "settings"] => ("/threads/{threadId}/settings", one(id)),
        ["threads", id, "messages", ..] => ("/threads/{threadId}/messages/...", one(id)),
        ["account-links"] => ("/account-links", vec![]),
        ["members"] => ("/members", vec![]),
        ["members", id] => ("/members/{memberId}", one(id)),
        ["prospects", "lookup"] => ("/prospects/lookup", vec![]),
        ["prospects", id] => ("/prospects/{prospectId}", one(id)),
        ["prospects", id, "context"] => ("/prospects/{prospectId}/context", one(id)),
        ["tags"] => ("/tags", vec![]),
        ["tags", "colors"] => ("/tags/colors", vec![]),
        ["tags", id] => ("/tags/{tagId}", one(id)),
        ["statuses"] => ("/statuses", vec![]),
        ["statuses", "colors"] => ("/statuses/colors", vec![]),
        ["statuses", id] => ("/statuses/{statusId}", one(id)),
        ["colors"] => ("/colors", vec![]),
        ["events"] => ("/events", vec![]),
        _ => return None,
    };
    Some(found)
}

/// Resolves method + template into an endpoint, or the error to answer.
fn endpoint(method: &str, route: &'static str, params: Vec<String>) -> Result<Endpoint, ApiError> {
    if let Some(id) = params.first()
        && !valid_id(id)
    {
        return Err(ApiError::bad_request(format!(
            "Invalid id {id:?} in path: must match ^[0-9a-z]+$"
        )));
    }
    let id = params.into_iter().next().unwrap_or_default();
    let found = match (method, route) {
        ("GET", "/team") => Endpoint::Team,
        ("GET", "/account-links") => Endpoint::AccountLinks,
        ("GET", "/members") => Endpoint::Members,
        ("GET", "/members/{memberId}") => Endpoint::Member(id),
        ("GET", "/tags") => Endpoint::Tags,
        ("POST", "/tags") => Endpoint::CreateTag,
        ("GET", "/tags/{tagId}") => Endpoint::Tag(id),
        ("GET", "/statuses") => Endpoint::Statuses,
        ("GET", "/statuses/{statusId}") => Endpoint::Status(id),
        ("GET", "/threads") => Endpoint::Threads,
        ("GET", "/threads/{threadId}") => Endpoint::Thread(id),
        ("PATCH", "/threads/{threadId}") => Endpoint::PatchThread(id),
        ("GET", "/prospects/{prospectId}") => Endpoint::Prospect(id),
        ("PATCH", "/prospects/{prospectId}/context") => Endpoint::PatchContext(id),
        ("GET", "/prospects/lookup") => Endpoint::ProspectLookup,
        ("GET", "/events") => Endpoint::Events,
        _ if documented_elsewhere(method, route) => {
            return Err(ApiError::new(
                501,
                "NOT_IMPLEMENTED",
                format!("{method} {route} is documented but not implemented by the fake"),
            ));
        }
        _ => {
            return Err(ApiError::new(
                405,
                "METHOD_NOT_ALLOWED",
                format!("{method} is not allowed on {route}"),
            ));
        }
    };
    Ok(found)
}

/// Operations in the v1 spec that the fake does not implement.
fn documented_elsewhere(method: &str, route: &str) -> bool {
    matches!(
        (method, route),
        ("POST", "/threads")
            | ("GET", "/threads/lookup")
            | ("GET", "/threads/lookup-by-username")
            | ("POST", "/threads/messages")
            | ("DELETE", "/threads/{threadId}")
            | ("POST", "/threads/{threadId}/typing")
            | ("PATCH", "/threads/{threadId}/settings")
            | (
                "GET" | "POST" | "PATCH" | "DELETE",
                "/threads/{threadId}/messages/..."
            )
            | ("PATCH" | "DELETE", "/tags/{tagId}" | "/statuses/{statusId}")
            | ("POST", "/statuses")
            | ("GET", "/tags/colors" | "/statuses/colors" | "/colors")
    )
}

/// What the pipeline decided to answer.
struct Outcome {
    status: u16,
    body: String,
    limits: LimitHeaders,
    retry_after: Option<u64>,
    truncate: bool,
    latency: std::time::Duration,
    /// `Sunset` to send along with `Deprecation: true` (see `FakeInbox::announce_sunset`).
    sunset: Option<String>,
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

fn error_outcome(err: &ApiError, limits: LimitHeaders) -> Outcome {
    Outcome {
        status: err.status,
        body: err.body(),
        limits,
        retry_after: None,
        truncate: false,
        latency: std::time::Duration::ZERO,
        sunset: None,
    }
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
    let latency = state.control.faults.latency;
    let mut outcome = if state.control.retired {
        // A retired version answers nothing else, whoever asks.
        let gone = ApiError::new(
            410,
            "GONE",
            "API v1 has been retired. Use https://inboxapp.com/api/v2",
        );
        error_outcome(
            &gone,
            state.control.limiter.headers(tokio::time::Instant::now()),
        )
    } else {
        decide(state, shared, req, routed)
    };
    outcome.latency = latency;
    outcome.sunset = state.control.sunset.clone();
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

/// Auth, scripted failures, limits and random faults, then the endpoint itself.
fn decide(
    state: &mut State,
    shared: &Shared,
    req: &Incoming<'_>,
    routed: Option<(&'static str, Vec<String>)>,
) -> Outcome {
    let now = tokio::time::Instant::now();
    let control = &mut state.control;
    if !bearer_is(req.headers, &shared.token) {
        let err = ApiError::new(
            401,
            "UNAUTHORIZED",
            "Invalid or missing authentication token",
        );
        return error_outcome(&err, control.limiter.headers(now));
    }
    if let Some(status) = control.fail_next.pop_front() {
        return scripted_failure(status, control.limiter.headers(now));
    }
    let limits = match control.limiter.admit(now) {
        Admission::Allowed(limits) => limits,
        Admission::Rejected {
            retry_after_secs,
            headers,
            ..
        } => {
            let err = rate_limited(retry_after_secs);
            let mut outcome = error_outcome(&err, headers);
            outcome.retry_after = Some(retry_after_secs);
            return outcome;
        }
    };
    let faults = control.faults.clone();
    if faults.error_rate > 0.0 && control.fault_rng.random::<f64>() < faults.error_rate {
        let status = [500, 502, 503][control.fault_rng.random_range(0..3)];
        return scripted_failure(status, limits);
    }
    let forced_malformed = control.malformed_next > 0;
    if forced_malformed {
        control.malformed_next -= 1;
    }
    let random_malformed =
        faults.malformed_rate > 0.0 && control.fault_rng.random::<f64>() < faults.malformed_rate;

    let result = match (routed, req.body) {
        (None, _) => Err(ApiError::new(404, "NOT_FOUND", "Route not found")),
        (Some(_), None) => Err(ApiError::bad_request(
            "Request body too large or unreadable",
        )),
        (Some((route, params)), Some(body)) => endpoint(req.method, route, params).and_then(|ep| {
            let content_type = req
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok());
            handle(state, ep, req.query, body, content_type)
        }),
    };
    let mut outcome = match result {
        Ok(body) => Outcome {
            status: 200,
            body,
            limits,
            retry_after: None,
            truncate: random_malformed,
            latency: std::time::Duration::ZERO,
            sunset: None,
        },
        Err(err) => error_outcome(&err, limits),
    };
    if forced_malformed {
        outcome.status = 200;
        outcome.truncate = true;
    }
    outcome
}

fn rate_limited(retry_after_secs: u64) -> ApiError {
    ApiError::new(
        429,
        "RATE_LIMITED",
        format!("Rate limit exceeded. Try again in {retry_after_secs} seconds."),
    )
}

fn scripted_failure(status: u16, limits: LimitHeaders) -> Outcome {
    let err = match status {
        429 => rate_limited(1),
        401 => ApiError::new(
            401,
            "UNAUTHORIZED",
            "Invalid or missing authentication token",
        ),
        403 => ApiError::new(
            403,
            "FORBIDDEN",
            "Insufficient permissions to access this resource",
        ),
        500 => ApiError::new(500, "INTERNAL_SERVER_ERROR", "Internal server error"),
        502 => ApiError::new(502, "BAD_GATEWAY", "Bad gateway"),
        503 => ApiError::new(
            503,
            "SERVICE_UNAVAILABLE",
            "Service temporarily unavailable",
        ),
        other => ApiError::new(other, "INJECTED_FAILURE", "Failure injected by the fake"),
    };
    let mut outcome = error_outcome(&err, limits);
    if status == 429 {
        outcome.retry_after = Some(1);
    }
    outcome
}

fn respond(outcome: Outcome) -> Response {
    let mut body = outcome.body;
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
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let limits = outcome.limits;
    headers.insert("x-ratelimit-limit", HeaderValue::from(limits.limit));
    headers.insert("x-ratelimit-remaining", HeaderValue::from(limits.remaining));
    headers.insert("x-ratelimit-reset", HeaderValue::from(limits.reset_unix));
    if let Some(secs) = outcome.retry_after {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    if let Some(sunset) = outcome.sunset.and_then(|s| HeaderValue::from_str(&s).ok()) {
        headers.insert("deprecation", HeaderValue::from_static("true"));
        headers.insert("sunset", sunset);
    }
    response
}

fn to_body<T: Serialize>(value: &T) -> Result<String, ApiError> {
    serde_json::to_string(value)
        .map_err(|err| ApiError::new(500, "INTERNAL_SERVER_ERROR", err.to_string()))
}

fn reject(reject: Reject) -> ApiError {
    match reject {
        Reject::UnknownTag(id) => ApiError::unprocessable(format!("Tag with ID '{id}' not found")),
        Reject::UnknownStatus(id) => {
            ApiError::unprocessable(format!("Status with ID '{id}' not found"))
        }
        Reject::UnknownMember(id) => {
            ApiError::unprocessable(format!("Member with ID '{id}' not found"))
        }
        Reject::TagInAddAndRemove(id) => ApiError::bad_request(format!(
            "Tag '{id}' cannot be in both addTags and removeTags"
        )),
        Reject::NegativeValuation => ApiError::unprocessable("valuation must not be negative"),
        Reject::DuplicateName(name) => ApiError::new(
            409,
            "CONFLICT",
            format!("A tag named '{name}' already exists"),
        ),
    }
}

fn not_found(code: &'static str, kind: &str, id: &str) -> ApiError {
    ApiError::new(404, code, format!("{kind} with ID '{id}' not found"))
}

/// `GET /threads`: one page in the inbox order.
fn threads(model: &Model, pairs: &[(String, String)]) -> Result<String, ApiError> {
    let query = request::thread_query(pairs)?;
    let (indices, more) = model.page(&query);
    let now = now_ms();
    let next_cursor = match indices.last() {
        Some(&last) if more => Some(wire::WireCursor {
            timestamp: timestamp(model.threads[last].sort_ms()),
            id: model.threads[last].id.clone(),
        }),
        _ => None,
    };
    let threads = indices
        .iter()
        .map(|&t| wire::thread_at(model, t, now))
        .collect();
    to_body(&wire::WireThreadPage {
        threads,
        next_cursor,
    })
}

/// `GET /events`: the events after `afterSeq`, retention applied first.
fn events(model: &mut Model, pairs: &[(String, String)]) -> Result<String, ApiError> {
    let (after, limit) = request::events_query(pairs)?;
    model.prune_events(now_ms());
    let after = after.unwrap_or(0);
    let mut page = model.events.iter().filter(|e| e.seq > after);
    let events: Vec<&Value> = page.by_ref().take(limit).map(|e| &e.envelope).collect();
    let has_more = page.next().is_some();
    let last_seq = events.last().and_then(|e| e.get("seq")).cloned();
    to_body(&serde_json::json!({
        "events": events,
        "hasMore": has_more,
        "lastSeq": last_seq,
    }))
}

/// Runs one endpoint against the model.
fn handle(
    state: &mut State,
    endpoint: Endpoint,
    query: Option<&str>,
    body: &[u8],
    content_type: Option<&str>,
) -> Result<String, ApiError> {
    let pairs = request::query_pairs(query)?;
    let model = &mut state.model;
    if !matches!(
        endpoint,
        Endpoint::Threads | Endpoint::Events | Endpoint::ProspectLookup
    ) {
        request::no_query(&pairs)?;
    }
    match endpoint {
        Endpoint::Team => to_body(&wire::team(model)),
        Endpoint::AccountLinks => to_body(
            &model
                .account_links
                .iter()
                .map(wire::account_link)
                .collect::<Vec<_>>(),
        ),
        Endpoint::Members => to_body(&model.members.iter().map(wire::member).collect::<Vec<_>>()),
        Endpoint::Member(id) => match model.member_by_id(&id) {
            Some(member) => to_body(&wire::member(member)),
            None => Err(not_found("MEMBER_NOT_FOUND", "Member", &id)),
        },
        Endpoint::Tags => to_body(&model.tags.iter().map(wire::tag).collect::<Vec<_>>()),
        Endpoint::Tag(id) => match model.tag_by_id(&id) {
            Some(tag) => to_body(&wire::tag(tag)),
            None => Err(not_found("TAG_NOT_FOUND", "Tag", &id)),
        },
        Endpoint::CreateTag => {
            let map = request::json_object(body, content_type, true)?.unwrap_or_default();
            let (name, color) = request::new_tag(&map)?;
            let idx = model.create_tag(name, color, now_ms()).map_err(reject)?;
            let tag = wire::tag(&model.tags[idx]);
            model.writes.push(WriteRecord {
                route: "POST /tags".to_owned(),
                target_id: model.tags[idx].id.clone(),
                body: Value::Object(map),
            });
            to_body(&tag)
        }
        Endpoint::Statuses => to_body(&model.statuses.iter().map(wire::status).collect::<Vec<_>>()),
        Endpoint::Status(id) => match model.status_by_id(&id) {
            Some(status) => to_body(&wire::status(status)),
            None => Err(not_found("STATUS_NOT_FOUND", "Status", &id)),
        },
        Endpoint::Threads => threads(model, &pairs),
        Endpoint::Thread(id) => match model.thread_by_id.get(&id) {
            Some(&t) => to_body(&wire::thread(model, t)),
            None => Err(not_found("THREAD_NOT_FOUND", "Thread", &id)),
        },
        Endpoint::PatchThread(id) => {
            let t = *model
                .thread_by_id
                .get(&id)
                .ok_or_else(|| not_found("THREAD_NOT_FOUND", "Thread", &id))?;
            let map = request::json_object(body, content_type, false)?.unwrap_or_default();
            let patch = request::thread_patch(&map)?;
            model.patch_thread(t, &patch, now_ms()).map_err(reject)?;
            model.writes.push(WriteRecord {
                route: "PATCH /threads/{threadId}".to_owned(),
                target_id: id,
                body: Value::Object(map),
            });
            to_body(&wire::thread(model, t))
        }
        Endpoint::Prospect(id) => match model.prospect_by_external.get(&id) {
            Some(&p) => to_body(&wire::prospect_with_context(model, p)),
            None => Err(not_found("PROSPECT_NOT_FOUND", "Prospect", &id)),
        },
        Endpoint::PatchContext(id) => {
            let p = *model
                .prospect_by_external
                .get(&id)
                .ok_or_else(|| not_found("PROSPECT_NOT_FOUND", "Prospect", &id))?;
            let map = request::json_object(body, content_type, false)?.unwrap_or_default();
            let patch = request::context_patch(&map)?;
            model.patch_context(p, &patch, now_ms()).map_err(reject)?;
            model.writes.push(WriteRecord {
                route: "PATCH /prospects/{prospectId}/context".to_owned(),
                target_id: id,
                body: Value::Object(map),
            });
            to_body(&wire::prospect_with_context(model, p))
        }
        Endpoint::ProspectLookup => {
            let platform_id = request::lookup_query(&pairs)?;
            match model.prospect_by_platform.get(&platform_id) {
                Some(&p) => to_body(&wire::prospect_with_context(model, p)),
                None => Ok("null".to_owned()),
            }
        }
        Endpoint::Events => events(model, &pairs),
    }
}
