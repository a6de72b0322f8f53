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
use serde::Serialize;
use serde_json::{Value, json};

use super::cursor;
use super::request::{
    self, ApiError, CONTACT_EXPAND, Expand, Issue, Page, QueryReader, THREAD_EXPAND,
};
use super::state::{Identity, Model, Platform, Reject, ThreadFilter, take_page};
use super::wire;
use super::{RequestInfo, Script, Shared, State, WriteRecord};
use crate::common::{bearer_is, gen_id, now_ms, timestamp, valid_id};
use crate::ratelimit::{Admission, LimitHeaders};

/// Request bodies above this are rejected.
const MAX_BODY_BYTES: usize = 1 << 20;

/// The axum app: everything goes through [`serve`].
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(serve).with_state(shared)
}

/// A routed request; ids are validated `Cuid2`s, refs are percent-decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Endpoint {
    Platforms,
    Team,
    Members,
    Member(String),
    AccountLinks,
    AccountLink(String),
    Contacts,
    Contact(String),
    PatchContact(String),
    AddTag(String, String),
    RemoveTag(String, String),
    Threads,
    Thread(String),
    PatchThread(String),
    Tags,
    CreateTag,
    Tag(String),
    Statuses,
    Colors,
    Events,
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

/// A handler's successful answer.
struct Reply {
    status: u16,
    /// `None` for 204.
    body: Option<String>,
}

impl Reply {
    fn ok(body: String) -> Self {
        Reply {
            status: 200,
            body: Some(body),
        }
    }
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

fn to_body<T: Serialize>(value: &T) -> Result<String, ApiError> {
    serde_json::to_string(value).map_err(|err| ApiError::new(500, "internal", err.to_string()))
}

fn ok<T: Serialize>(value: &T) -> Result<Reply, ApiError> {
    to_body(value).map(Reply::ok)
}

fn reject(reject: Reject) -> ApiError {
    match reject {
        // The docs list no `memberNotFound` for the PATCH routes, so an unknown member is an
        // invalid request (their open question 10, answered strictly).
        Reject::UnknownMember(field, id) => {
            ApiError::invalid_at(vec![json!(field)], format!("No member with ID '{id}'"))
        }
        Reject::NameTaken(name) => ApiError::new(409, "nameTaken", format!("'{name}' is taken"))
            .with_details(json!({ "name": name })),
        Reject::TagLimitReached(max) => {
            ApiError::new(422, "tagLimitReached", format!("The team has {max} tags"))
                .with_details(json!({ "max": max }))
        }
    }
}

fn not_found(code: &'static str, what: &str, id: &str) -> ApiError {
    ApiError::new(404, code, format!("{what} '{id}' not found"))
}

/// `403 platformNotAvailable` for a platform the team cannot use.
fn platform(name: &str) -> Result<Platform, ApiError> {
    Platform::parse(name).ok_or_else(|| {
        ApiError::new(
            403,
            "platformNotAvailable",
            format!("The platform '{name}' is not available to this team"),
        )
        .with_details(json!({ "platform": name }))
    })
}

/// Everything a handler needs from the request besides the endpoint.
struct Call<'r> {
    query: Option<&'r str>,
    body: &'r [u8],
    content_type: Option<&'r str>,
    /// The key cursors are sealed with.
    secret: u64,
}

impl Call<'_> {
    /// Rejects any query parameter (for routes that take none).
    fn no_query(&self) -> Result<(), ApiError> {
        QueryReader::parse(self.query, &[])?.finish()
    }

    /// Reads only `expand` from the query.
    fn expand(&self, allowed: &[&str]) -> Result<Expand, ApiError> {
        let mut query = QueryReader::parse(self.query, &["expand"])?;
        let expand = query.expand(allowed);
        query.finish()?;
        Ok(expand)
    }

    fn body(&self) -> Result<serde_json::Map<String, Value>, ApiError> {
        request::json_object(self.body, self.content_type)
    }

    /// Opens `page.cursor` for list `scope` under `filters`.
    fn after(
        &self,
        scope: &str,
        filters: &str,
        page: &Page,
    ) -> Result<Option<(i64, String)>, ApiError> {
        match &page.cursor {
            None => Ok(None),
            Some(text) => cursor::decode(self.secret, scope, filters, text)
                .map(Some)
                .ok_or_else(|| {
                    ApiError::new(
                        400,
                        "invalidCursor",
                        "The cursor is not valid with these filters",
                    )
                }),
        }
    }

    /// The `nextCursor` after the item at `key`, when more follow.
    fn next(
        &self,
        scope: &str,
        filters: &str,
        key: Option<(i64, String)>,
        more: bool,
    ) -> Option<String> {
        let (rank, id) = key.filter(|_| more)?;
        Some(cursor::encode(self.secret, scope, filters, rank, &id))
    }
}

fn record(model: &mut Model, route: &str, params: &[&str], body: Value) {
    model.writes.push(WriteRecord {
        route: route.to_owned(),
        params: params.iter().map(|p| (*p).to_owned()).collect(),
        body,
    });
}

/// A keyset page over items keyed `(createdAt, id)`, oldest first: the page and whether more
/// follow.
fn created_page(
    mut keys: Vec<((i64, String), usize)>,
    after: Option<&(i64, String)>,
    limit: usize,
) -> (Vec<usize>, bool) {
    keys.sort();
    let items = keys
        .into_iter()
        .filter(|(key, _)| after.is_none_or(|a| key > a))
        .map(|(_, idx)| idx);
    take_page(items, limit)
}

/// Runs one endpoint against the model.
fn handle(model: &mut Model, endpoint: Endpoint, call: &Call<'_>) -> Result<Reply, ApiError> {
    match endpoint {
        Endpoint::Platforms => {
            call.no_query()?;
            ok(&Platform::ALL.map(wire::platform_info))
        }
        Endpoint::Team => {
            call.no_query()?;
            ok(&wire::team(model))
        }
        Endpoint::Colors => {
            call.no_query()?;
            ok(&wire::colors())
        }
        Endpoint::Members => {
            let mut query = QueryReader::parse(call.query, &["limit", "cursor"])?;
            let page = query.page();
            query.finish()?;
            let after = call.after("members", "", &page)?;
            let keys = model.members.iter().enumerate();
            let keys = keys
                .map(|(i, m)| ((m.created_ms, m.id.clone()), i))
                .collect();
            let (items, more) = created_page(keys, after.as_ref(), page.limit);
            let last = items
                .last()
                .map(|&i| (model.members[i].created_ms, model.members[i].id.clone()));
            ok(&wire::WirePage {
                data: items
                    .iter()
                    .map(|&i| wire::member(&model.members[i]))
                    .collect(),
                next_cursor: call.next("members", "", last, more),
            })
        }
        Endpoint::Member(id) => {
            call.no_query()?;
            match model.member_by_id(&id) {
                Some(member) => ok(&wire::member(member)),
                None => Err(not_found("memberNotFound", "Member", &id)),
            }
        }
        Endpoint::AccountLinks => account_links(model, call),
        Endpoint::AccountLink(id) => {
            call.no_query()?;
            match model.account_link_by_id(&id) {
                Some(link) => ok(&wire::account_link(link)),
                None => Err(not_found("accountLinkNotFound", "Account link", &id)),
            }
        }
        Endpoint::Contacts => find_contacts(model, call),
        Endpoint::Contact(id) => {
            let expand = call.expand(CONTACT_EXPAND)?;
            let c = contact_index(model, &id)?;
            ok(&wire::contact(model, c, expand))
        }
        Endpoint::PatchContact(id) => patch_contact(model, call, &id),
        Endpoint::AddTag(id, tag_ref) => set_tag(model, call, &id, &tag_ref, true),
        Endpoint::RemoveTag(id, tag_ref) => set_tag(model, call, &id, &tag_ref, false),
        Endpoint::Threads => threads(model, call),
        Endpoint::Thread(id) => {
            let expand = call.expand(THREAD_EXPAND)?;
            let t = thread_index(model, &id)?;
            ok(&wire::thread(model, t, expand))
        }
        Endpoint::PatchThread(id) => {
            call.no_query()?;
            let t = thread_index(model, &id)?;
            let map = call.body()?;
            let patch = request::thread_update(&map)?;
            // A sticky thread (a test knob) answers as if written and keeps its values.
            if !model.threads[t].sticky {
                model.patch_thread(t, &patch, now_ms()).map_err(reject)?;
            }
            record(
                model,
                "PATCH /threads/{threadId}",
                &[&id],
                Value::Object(map),
            );
            ok(&wire::thread(model, t, Expand::default()))
        }
        Endpoint::Tags => {
            call.no_query()?;
            let mut tags: Vec<&super::state::Tag> = model.tags.iter().collect();
            tags.sort_by_key(|t| (super::state::fold_name(&t.name), t.name.clone()));
            ok(&wire::WirePage {
                data: tags.into_iter().map(wire::tag).collect(),
                next_cursor: None,
            })
        }
        Endpoint::Tag(tag_ref) => {
            call.no_query()?;
            match model.tag_by_ref(&tag_ref) {
                Some(t) => ok(&wire::tag(&model.tags[t])),
                None => Err(not_found("tagNotFound", "Tag", &tag_ref)),
            }
        }
        Endpoint::CreateTag => {
            call.no_query()?;
            let map = call.body()?;
            let (name, color) = request::tag_create(&map)?;
            let color = color.unwrap_or_else(|| {
                let palette = super::seed::PALETTE;
                palette[model.id_rng.random_range(0..palette.len())]
                    .1
                    .to_owned()
            });
            let t = model.create_tag(name, color, now_ms()).map_err(reject)?;
            let id = model.tags[t].id.clone();
            record(model, "POST /tags", &[&id], Value::Object(map));
            Ok(Reply {
                status: 201,
                body: Some(to_body(&wire::tag(&model.tags[t]))?),
            })
        }
        Endpoint::Statuses => {
            call.no_query()?;
            ok(&wire::WirePage {
                data: model.statuses.iter().map(wire::status).collect(),
                next_cursor: None,
            })
        }
        Endpoint::Events => events(model, call),
    }
}

fn contact_index(model: &Model, id: &str) -> Result<usize, ApiError> {
    model
        .contact_by_id
        .get(id)
        .copied()
        .ok_or_else(|| not_found("contactNotFound", "Contact", id))
}

fn thread_index(model: &Model, id: &str) -> Result<usize, ApiError> {
    model
        .thread_by_id
        .get(id)
        .copied()
        .ok_or_else(|| not_found("threadNotFound", "Thread", id))
}

/// `GET /account-links`: `platform[]`, `status[]`, paged oldest first.
fn account_links(model: &Model, call: &Call<'_>) -> Result<Reply, ApiError> {
    let mut query = QueryReader::parse(call.query, &["platform", "status", "limit", "cursor"])?;
    let platforms = query.array("platform", None);
    let statuses = query.array("status", None);
    for (idx, status) in statuses.iter().enumerate() {
        if !["active", "offline", "paused"].contains(&status.as_str()) {
            query.issue(
                vec![json!("status"), json!(idx)],
                format!("Must be one of active, offline, paused, got {status:?}"),
            );
        }
    }
    let page = query.page();
    query.finish()?;
    let mut wanted: Vec<Platform> = platforms
        .iter()
        .map(|p| platform(p))
        .collect::<Result<_, _>>()?;
    wanted.sort();
    wanted.dedup();
    let mut status_filter = statuses.clone();
    status_filter.sort();
    status_filter.dedup();
    let filters = format!("{wanted:?}|{status_filter:?}");
    let after = call.after("account-links", &filters, &page)?;
    let links = model.account_links.iter().enumerate();
    let keys = links
        .filter(|(_, l)| wanted.is_empty() || wanted.contains(&l.platform))
        // Every seeded account link is `active`.
        .filter(|_| status_filter.is_empty() || status_filter.iter().any(|s| s == "active"))
        .map(|(i, l)| ((l.created_ms, l.id.clone()), i))
        .collect();
    let (items, more) = created_page(keys, after.as_ref(), page.limit);
    let key = |i: usize| {
        (
            model.account_links[i].created_ms,
            model.account_links[i].id.clone(),
        )
    };
    ok(&wire::WirePage {
        data: items
            .iter()
            .map(|&i| wire::account_link(&model.account_links[i]))
            .collect(),
        next_cursor: call.next(
            "account-links",
            &filters,
            items.last().map(|&i| key(i)),
            more,
        ),
    })
}

/// `GET /contacts`: the finder by identity (docs §5).
fn find_contacts(model: &Model, call: &Call<'_>) -> Result<Reply, ApiError> {
    let query = request::contacts_query(call.query)?;
    let platform = platform(&query.platform)?;
    let prefix = platform.username_prefix();
    if !query.by_platform_id && !prefix.is_empty() {
        // "without its display prefix": a username sent with it is refused rather than
        // silently matched or missed (the docs do not say which the real API does).
        let issues: Vec<Issue> = query
            .values
            .iter()
            .enumerate()
            .filter(|(_, u)| u.starts_with(prefix))
            .map(|(idx, u)| {
                Issue::new(
                    vec![json!("username"), json!(idx)],
                    format!("Give the username without its display prefix '{prefix}', got {u:?}"),
                )
            })
            .collect();
        if !issues.is_empty() {
            return Err(ApiError::invalid(issues));
        }
    }
    let mut values = query.values.clone();
    let identity = if query.by_platform_id {
        values.sort();
        Identity::PlatformIds(query.values.clone())
    } else {
        values = values.iter().map(|v| v.to_lowercase()).collect();
        values.sort();
        Identity::Usernames(query.values.clone())
    };
    values.dedup();
    let filters = format!("{}|{}|{values:?}", platform.as_str(), query.by_platform_id);
    let after = call.after("contacts", &filters, &query.page)?;
    let keys = model
        .find_contacts(platform, &identity)
        .into_iter()
        .map(|c| (model.contact_key(c), c))
        .collect();
    let (items, more) = created_page(keys, after.as_ref(), query.page.limit);
    ok(&wire::WirePage {
        data: items
            .iter()
            .map(|&c| wire::contact(model, c, query.expand))
            .collect(),
        next_cursor: call.next(
            "contacts",
            &filters,
            items.last().map(|&c| model.contact_key(c)),
            more,
        ),
    })
}

/// `PATCH /contacts/{id}`.
fn patch_contact(model: &mut Model, call: &Call<'_>, id: &str) -> Result<Reply, ApiError> {
    call.no_query()?;
    let c = contact_index(model, id)?;
    let map = call.body()?;
    let update = request::contact_update(&map)?;
    let status_id = match &update.status_ref {
        None => None,
        Some(None) => Some(None),
        // No `statusNotFound` is documented for this route: an unknown status is an invalid
        // request (the docs' open question 10, answered strictly).
        Some(Some(status_ref)) => match model.status_by_ref(status_ref) {
            Some(s) => Some(Some(model.statuses[s].id.clone())),
            None => {
                return Err(ApiError::invalid_at(
                    vec![json!("status")],
                    format!("No status with ID or name '{status_ref}'"),
                ));
            }
        },
    };
    let patch = super::state::ContactPatch {
        status_id,
        notes: update.notes,
        valuation: update.valuation,
        assignee_id: update.assignee_id,
    };
    model.patch_contact(c, &patch, now_ms()).map_err(reject)?;
    record(
        model,
        "PATCH /contacts/{contactId}",
        &[id],
        Value::Object(map),
    );
    ok(&wire::contact(model, c, Expand::default()))
}

/// `PUT` (`add`) or `DELETE /contacts/{id}/tags/{tagRef}`: idempotent, 204. A PUT does not
/// create a missing tag.
fn set_tag(
    model: &mut Model,
    call: &Call<'_>,
    id: &str,
    tag_ref: &str,
    add: bool,
) -> Result<Reply, ApiError> {
    call.no_query()?;
    // The routes take no body; one sent anyway is refused rather than ignored.
    if !call.body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::invalid_at(vec![], "This route takes no body"));
    }
    let c = contact_index(model, id)?;
    let t = model
        .tag_by_ref(tag_ref)
        .ok_or_else(|| not_found("tagNotFound", "Tag", tag_ref))?;
    let tag_id = model.tags[t].id.clone();
    model.set_tag(c, &tag_id, add, now_ms());
    let method = if add { "PUT" } else { "DELETE" };
    let route = format!("{method} /contacts/{{contactId}}/tags/{{tagRef}}");
    record(model, &route, &[id, tag_ref], Value::Null);
    Ok(Reply {
        status: 204,
        body: None,
    })
}

/// `GET /threads`: folders, filters, order, expansions, and filter-bound cursors.
fn threads(model: &Model, call: &Call<'_>) -> Result<Reply, ApiError> {
    let query = request::threads_query(call.query)?;
    let platforms: Vec<Platform> = query
        .platforms
        .iter()
        .map(|p| platform(p))
        .collect::<Result<_, _>>()?;
    let mut issues = Vec::new();
    // An unknown tag or status ref in a filter is refused (the docs list no 404 for this
    // route, and silently matching nothing would hide a client's stale mapping).
    let mut resolve = |key: &str, refs: &[String], find: &dyn Fn(&str) -> Option<String>| {
        let mut ids = Vec::new();
        for (idx, r) in refs.iter().enumerate() {
            match find(r) {
                Some(id) => ids.push(id),
                None => issues.push(Issue::new(
                    vec![json!(key), json!(idx)],
                    format!("No {key} with ID or name '{r}'"),
                )),
            }
        }
        ids
    };
    let tag_ids = resolve("tag", &query.tag_refs, &|r| {
        model.tag_by_ref(r).map(|t| model.tags[t].id.clone())
    });
    let status_ids = resolve("status", &query.status_refs, &|r| {
        model.status_by_ref(r).map(|s| model.statuses[s].id.clone())
    });
    if !issues.is_empty() {
        return Err(ApiError::invalid(issues));
    }
    let filter = ThreadFilter {
        folder: query.folder,
        ascending: query.ascending,
        account_link_ids: query.account_link_ids,
        platforms,
        contact_ids: query.contact_ids,
        tag_ids,
        status_ids,
        assignee_ids: query.assignee_ids,
        unassigned: query.unassigned,
        campaign_ids: query.campaign_ids,
        q: query.q,
    };
    // `limit` and `expand` shape the page, not the set, so they may change between pages.
    let filters = filter.canonical();
    let after = call.after("threads", &filters, &query.page)?;
    let (items, more) = model.thread_page(&filter, after.as_ref(), query.page.limit);
    ok(&wire::WirePage {
        data: items
            .iter()
            .map(|&t| wire::thread(model, t, query.expand))
            .collect(),
        next_cursor: call.next(
            "threads",
            &filters,
            items.last().map(|&t| model.thread_key(t)),
            more,
        ),
    })
}

/// `GET /events`: reads `limit` events after `afterSeq`, then filters them by `type`, so a page
/// can hold fewer than `limit`; `lastSeq` is the last one read, filtered out or not. An
/// `afterSeq` older than the retained log is not an error: the page starts at the oldest
/// retained event, and a client tells the gap from that event's `seq` (docs §7.1).
fn events(model: &mut Model, call: &Call<'_>) -> Result<Reply, ApiError> {
    let query = request::events_query(call.query)?;
    model.prune_events(now_ms());
    let after = query.after_seq.unwrap_or(0);
    let mut read = model.events.iter().filter(|e| e.seq > after);
    let batch: Vec<&super::state::StoredEvent> = read.by_ref().take(query.limit).collect();
    let has_more = read.next().is_some();
    let last_seq = batch.last().map(|e| e.seq);
    let data: Vec<&Value> = batch
        .iter()
        .filter(|e| query.types.is_empty() || query.types.iter().any(|t| t == e.kind))
        .map(|e| &e.envelope)
        .collect();
    ok(&json!({ "data": data, "lastSeq": last_seq, "hasMore": has_more }))
}
