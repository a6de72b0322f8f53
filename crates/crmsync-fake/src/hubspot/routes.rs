//! The HTTP side of the fake HubSpot: one axum fallback handler that routes `/crm/v3/...` by
//! hand (so every error, unknown routes included, has HubSpot's error body), the per-request
//! pipeline (stats, auth, scripted failures, rate limits, malformed answers) and the handlers,
//! which parse requests and call the model; the JSON shapes are `wire.rs`.
//!
//! Handlers never hold the state lock across an `.await` (the whole pipeline is synchronous).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Query, Request, State as AxumState};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::common::now_ms;

use super::state::{BatchOutcome, Filter, Model, Refusal, SearchQuery};
use super::wire::{
    self, CreateIn, IdIn, Inputs, PropertyPatchIn, SearchIn, SortIn, UpdateIn, contact_json,
    error_body, owner_json, property_json, rate_limit_body,
};
use super::{Shared, State};

/// Request bodies above this are refused.
const MAX_BODY_BYTES: usize = 4 << 20;

/// The axum app: everything goes through [`serve`].
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(serve).with_state(shared)
}

/// A routed request.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Endpoint {
    List,
    Get(String),
    BatchRead,
    BatchUpdate,
    BatchCreate,
    Search,
    Owners,
    Owner(String),
    Properties,
    Property(String),
    UpdateProperty(String),
}

/// Maps method and path to an endpoint and its route template (for stats).
fn route(method: &str, path: &str) -> (&'static str, Option<Endpoint>) {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    let (template, endpoint) = match (method, segments.as_slice()) {
        ("GET", ["crm", "v3", "objects", "contacts"]) => {
            ("/crm/v3/objects/contacts", Some(Endpoint::List))
        }
        ("POST", ["crm", "v3", "objects", "contacts", "batch", "read"]) => (
            "/crm/v3/objects/contacts/batch/read",
            Some(Endpoint::BatchRead),
        ),
        ("POST", ["crm", "v3", "objects", "contacts", "batch", "update"]) => (
            "/crm/v3/objects/contacts/batch/update",
            Some(Endpoint::BatchUpdate),
        ),
        ("POST", ["crm", "v3", "objects", "contacts", "batch", "create"]) => (
            "/crm/v3/objects/contacts/batch/create",
            Some(Endpoint::BatchCreate),
        ),
        ("POST", ["crm", "v3", "objects", "contacts", "search"]) => {
            ("/crm/v3/objects/contacts/search", Some(Endpoint::Search))
        }
        ("GET", ["crm", "v3", "objects", "contacts", id]) => (
            "/crm/v3/objects/contacts/{contactId}",
            Some(Endpoint::Get((*id).to_owned())),
        ),
        ("GET", ["crm", "v3", "owners"]) => ("/crm/v3/owners", Some(Endpoint::Owners)),
        ("GET", ["crm", "v3", "owners", id]) => (
            "/crm/v3/owners/{ownerId}",
            Some(Endpoint::Owner((*id).to_owned())),
        ),
        ("GET", ["crm", "v3", "properties", "contacts"]) => {
            ("/crm/v3/properties/contacts", Some(Endpoint::Properties))
        }
        ("GET", ["crm", "v3", "properties", "contacts", name]) => (
            "/crm/v3/properties/contacts/{propertyName}",
            Some(Endpoint::Property((*name).to_owned())),
        ),
        ("PATCH", ["crm", "v3", "properties", "contacts", name]) => (
            "/crm/v3/properties/contacts/{propertyName}",
            Some(Endpoint::UpdateProperty((*name).to_owned())),
        ),
        _ => ("(unmatched)", None),
    };
    (template, endpoint)
}

/// What the pipeline decided to answer.
struct Outcome {
    status: u16,
    body: String,
    headers: Vec<(&'static str, String)>,
    truncate: bool,
}

impl Outcome {
    fn json(status: u16, body: &Value) -> Outcome {
        Outcome {
            status,
            body: body.to_string(),
            headers: Vec::new(),
            truncate: false,
        }
    }

    fn error(status: u16, category: &str, message: &str) -> Outcome {
        Outcome::json(status, &error_body(category, message))
    }

    fn refusal(refusal: &Refusal) -> Outcome {
        Outcome::error(refusal.status, refusal.category, &refusal.message)
    }
}

/// The fallback handler: every request enters here.
async fn serve(AxumState(shared): AxumState<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES).await;
    let outcome = process(
        &shared,
        parts.method.as_str(),
        &parts.uri,
        &parts.headers,
        bytes.as_deref().ok(),
    );
    respond(outcome)
}

fn respond(outcome: Outcome) -> Response {
    let mut body = outcome.body;
    if outcome.truncate {
        // Cut the JSON in half: the handler ran, the answer is unreadable.
        let cut = (body.len() / 2).max(1).min(body.len());
        let cut = (0..=cut)
            .rev()
            .find(|i| body.is_char_boundary(*i))
            .unwrap_or(0);
        body.truncate(cut);
    }
    let mut response = Response::builder()
        .status(StatusCode::from_u16(outcome.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header(header::CONTENT_TYPE, "application/json;charset=utf-8");
    for (name, value) in outcome.headers {
        response = response.header(name, value);
    }
    response
        .body(Body::from(body))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

/// The synchronous pipeline, under the state lock.
fn process(
    shared: &Shared,
    method: &str,
    uri: &Uri,
    headers: &HeaderMap,
    body: Option<&[u8]>,
) -> Outcome {
    let (template, endpoint) = route(method, uri.path());
    let mut guard = shared.lock();
    let state = &mut *guard;
    {
        let stats = &mut state.control.stats;
        stats.requests += 1;
        *stats
            .by_route
            .entry((method.to_owned(), template.to_owned()))
            .or_default() += 1;
    }
    let outcome = decide(state, shared, endpoint, uri, headers, body);
    let stats = &mut state.control.stats;
    match outcome.status {
        401 => stats.unauthorized += 1,
        429 => stats.rate_limited += 1,
        207 => stats.partial += 1,
        500..=599 => stats.server_errors += 1,
        _ => {}
    }
    outcome
}

fn authorized(shared: &Shared, headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .is_some_and(|(scheme, token)| {
            scheme.eq_ignore_ascii_case("bearer") && token.trim() == shared.token
        })
}

/// Auth, scripted failures and limits, then the endpoint itself.
fn decide(
    state: &mut State,
    shared: &Shared,
    endpoint: Option<Endpoint>,
    uri: &Uri,
    headers: &HeaderMap,
    body: Option<&[u8]>,
) -> Outcome {
    if !authorized(shared, headers) {
        return Outcome::error(
            401,
            "INVALID_AUTHENTICATION",
            "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
        );
    }
    let control = &mut state.control;
    if let Some(status) = control.fail_next.pop_front() {
        return scripted_failure(status);
    }
    let is_search = endpoint == Some(Endpoint::Search);
    let now = Instant::now();
    let limit_headers = match control.admit(now, is_search) {
        Ok(headers) => headers,
        Err(rejected) => return rejected,
    };
    let malformed = control.malformed_next > 0;
    if malformed {
        control.malformed_next -= 1;
    }
    let Some(endpoint) = endpoint else {
        return Outcome::error(
            404,
            "OBJECT_NOT_FOUND",
            &format!(
                "No route for {} (the fake serves contacts, owners and contact properties of CRM v3)",
                uri.path()
            ),
        );
    };
    let Some(body) = body else {
        return Outcome::error(400, "VALIDATION_ERROR", "Request body too large");
    };
    let query = Query::<Vec<(String, String)>>::try_from_uri(uri)
        .map(|q| q.0)
        .unwrap_or_default();
    let mut outcome = handle(&mut state.model, endpoint, &query, body);
    outcome.headers.extend(limit_headers);
    if malformed && (200..300).contains(&outcome.status) {
        outcome.truncate = true;
    }
    outcome
}

/// A scripted failure with HubSpot's body for its status.
fn scripted_failure(status: u16) -> Outcome {
    match status {
        429 => {
            let mut outcome = Outcome::json(429, &rate_limit_body("TEN_SECONDLY_ROLLING"));
            outcome.headers.push(("retry-after", "1".into()));
            outcome
        }
        401 => Outcome::error(
            401,
            "INVALID_AUTHENTICATION",
            "The OAuth token used to make this call expired.",
        ),
        500..=599 => Outcome::error(
            status,
            "INTERNAL_ERROR",
            "internal error (scripted by the fake)",
        ),
        _ => Outcome::error(status, "VALIDATION_ERROR", "scripted failure"),
    }
}

/// Sliding-window admission: `Ok` with the rate-limit headers to send, or the 429 to answer.
impl super::Control {
    fn admit(
        &mut self,
        now: Instant,
        search: bool,
    ) -> Result<Vec<(&'static str, String)>, Outcome> {
        let mut headers = Vec::new();
        if search && let Some(per_second) = self.limits.search_per_second {
            let window = Duration::from_secs(1);
            if let Some(wait) = full(&mut self.search_times, per_second, window, now) {
                return Err(too_many("SECONDLY", wait));
            }
        }
        if let Some((limit, window)) = self.limits.requests {
            if let Some(wait) = full(&mut self.request_times, limit, window, now) {
                return Err(too_many("TEN_SECONDLY_ROLLING", wait));
            }
            self.request_times.push_back(now);
            // Search answers carry no rate-limit headers (as HubSpot's do not).
            if !search {
                let remaining = limit as usize - self.request_times.len().min(limit as usize);
                headers.push(("x-hubspot-ratelimit-max", limit.to_string()));
                headers.push(("x-hubspot-ratelimit-remaining", remaining.to_string()));
                headers.push((
                    "x-hubspot-ratelimit-interval-milliseconds",
                    window.as_millis().to_string(),
                ));
            }
        }
        if search && self.limits.search_per_second.is_some() {
            self.search_times.push_back(now);
        }
        Ok(headers)
    }
}

/// Drops requests older than the window; `Some(wait)` when the window is full.
fn full(
    times: &mut std::collections::VecDeque<Instant>,
    limit: u32,
    window: Duration,
    now: Instant,
) -> Option<Duration> {
    while times
        .front()
        .is_some_and(|t| now.duration_since(*t) >= window)
    {
        times.pop_front();
    }
    if times.len() < limit as usize {
        return None;
    }
    let oldest = *times.front()?;
    Some(window.saturating_sub(now.duration_since(oldest)))
}

fn too_many(policy: &str, wait: Duration) -> Outcome {
    let mut outcome = Outcome::json(429, &rate_limit_body(policy));
    let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
    outcome.headers.push(("retry-after", seconds.to_string()));
    outcome
}

fn handle(
    model: &mut Model,
    endpoint: Endpoint,
    query: &[(String, String)],
    body: &[u8],
) -> Outcome {
    let result = match endpoint {
        Endpoint::List => list(model, query),
        Endpoint::Get(id) => get(model, &id, query),
        Endpoint::BatchRead => batch_read(model, body),
        Endpoint::BatchUpdate => batch_update(model, body),
        Endpoint::BatchCreate => batch_create(model, body),
        Endpoint::Search => search(model, body),
        Endpoint::Owners => owners(model, query),
        Endpoint::Owner(id) => owner(model, &id),
        Endpoint::Properties => Ok(Outcome::json(
            200,
            &json!({ "results": model.properties.values().map(|p| property_json(model, p)).collect::<Vec<_>>() }),
        )),
        Endpoint::Property(name) => match model.properties.get(&name) {
            Some(spec) => Ok(Outcome::json(200, &property_json(model, spec))),
            None => Err(Refusal {
                status: 404,
                category: "OBJECT_NOT_FOUND",
                message: format!("Unable to find property {name}"),
            }),
        },
        Endpoint::UpdateProperty(name) => update_property(model, &name, body),
    };
    result.unwrap_or_else(|refusal| Outcome::refusal(&refusal))
}

/// Values of a repeated or comma-separated query parameter.
fn query_list(query: &[(String, String)], key: &str) -> Option<Vec<String>> {
    let values: Vec<String> = query
        .iter()
        .filter(|(k, _)| k == key)
        .flat_map(|(_, v)| v.split(','))
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .collect();
    (!values.is_empty()).then_some(values)
}

fn query_one<'q>(query: &'q [(String, String)], key: &str) -> Option<&'q str> {
    query
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn parse_limit(query: &[(String, String)], default: usize, max: usize) -> Result<usize, Refusal> {
    match query_one(query, "limit") {
        None => Ok(default),
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(Refusal::validation(format!(
                "limit must be a number between 1 and {max} (got {text:?})"
            ))),
        },
    }
}

fn list(model: &Model, query: &[(String, String)]) -> Result<Outcome, Refusal> {
    let limit = parse_limit(query, 10, 100)?;
    let after =
        match query_one(query, "after") {
            None => None,
            Some(text) => Some(text.parse::<u64>().map_err(|_| {
                Refusal::validation(format!("Invalid paging cursor after={text:?}"))
            })?),
        };
    if query_one(query, "archived") == Some("true") {
        // Archived contacts are not listed by this fake.
        return Ok(Outcome::json(200, &json!({ "results": [] })));
    }
    let requested = query_list(query, "properties");
    let (ids, next) = model.list(limit, after);
    let results: Vec<Value> = ids
        .iter()
        .filter_map(|id| model.contacts.get(id))
        .map(|c| contact_json(model, c, requested.as_deref()))
        .collect();
    let mut body = json!({ "results": results });
    if let Some(next) = next {
        body["paging"] = json!({ "next": {
            "after": next.to_string(),
            "link": format!("?after={next}"),
        }});
    }
    Ok(Outcome::json(200, &body))
}

fn get(model: &Model, id: &str, query: &[(String, String)]) -> Result<Outcome, Refusal> {
    let requested = query_list(query, "properties");
    match model.live(id) {
        Some(contact) => Ok(Outcome::json(
            200,
            &contact_json(model, contact, requested.as_deref()),
        )),
        None => Err(Refusal {
            status: 404,
            category: "OBJECT_NOT_FOUND",
            message: "Object not found.  objectId are usually numeric.".into(),
        }),
    }
}

fn parse_body<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, Refusal> {
    serde_json::from_slice(body)
        .map_err(|e| Refusal::validation(format!("Invalid input JSON: {e}")))
}

/// A property value as sent: strings as they are, numbers and booleans as text, null clears.
fn value_text(value: &Value) -> Result<String, Refusal> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Null => Ok(String::new()),
        other => Err(Refusal::validation(format!(
            "Invalid property value {other}: expected a string"
        ))),
    }
}

fn property_map(raw: &BTreeMap<String, Value>) -> Result<BTreeMap<String, String>, Refusal> {
    raw.iter()
        .map(|(k, v)| Ok((k.clone(), value_text(v)?)))
        .collect()
}

fn id_text(id: &Value) -> Result<String, Refusal> {
    match id {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(Refusal::validation(format!("Invalid id {other}"))),
    }
}

/// A 200/201 or, with errors, a 207 batch answer.
fn batch_outcome(
    model: &Model,
    ok_status: u16,
    outcome: &BatchOutcome,
    requested: impl Fn(u64) -> Option<Vec<String>>,
) -> Outcome {
    let status = if outcome.errors.is_empty() {
        ok_status
    } else {
        207
    };
    Outcome::json(status, &wire::batch_json(model, outcome, requested))
}

fn batch_read(model: &Model, body: &[u8]) -> Result<Outcome, Refusal> {
    let parsed: Inputs<IdIn> = parse_body(body)?;
    let ids: Vec<String> = parsed
        .inputs
        .iter()
        .map(|i| id_text(&i.id))
        .collect::<Result<_, _>>()?;
    let outcome = model.batch_read(&ids)?;
    let requested = parsed.properties.clone();
    Ok(batch_outcome(model, 200, &outcome, |_| requested.clone()))
}

fn batch_update(model: &mut Model, body: &[u8]) -> Result<Outcome, Refusal> {
    let parsed: Inputs<UpdateIn> = parse_body(body)?;
    let mut inputs = Vec::with_capacity(parsed.inputs.len());
    for input in &parsed.inputs {
        if let Some(property) = &input.id_property {
            return Err(Refusal::validation(format!(
                "idProperty {property} is not supported by the fake; use record ids"
            )));
        }
        inputs.push((id_text(&input.id)?, property_map(&input.properties)?));
    }
    let outcome = model.batch_update(&inputs, now_ms())?;
    let written: BTreeMap<u64, Vec<String>> = inputs
        .iter()
        .filter_map(|(id, props)| Some((id.parse().ok()?, props.keys().cloned().collect())))
        .collect();
    Ok(batch_outcome(model, 200, &outcome, |id| {
        written.get(&id).cloned()
    }))
}

fn batch_create(model: &mut Model, body: &[u8]) -> Result<Outcome, Refusal> {
    let parsed: Inputs<CreateIn> = parse_body(body)?;
    let inputs: Vec<BTreeMap<String, String>> = parsed
        .inputs
        .iter()
        .map(|i| property_map(&i.properties))
        .collect::<Result<_, _>>()?;
    let outcome = model.batch_create(&inputs, now_ms())?;
    let sent: BTreeMap<u64, Vec<String>> = outcome
        .results
        .iter()
        .zip(&inputs)
        .map(|(id, props)| (*id, props.keys().cloned().collect()))
        .collect();
    Ok(batch_outcome(model, 201, &outcome, |id| {
        sent.get(&id).cloned()
    }))
}

fn search(model: &Model, body: &[u8]) -> Result<Outcome, Refusal> {
    let parsed: SearchIn = parse_body(body)?;
    if parsed.query.is_some() {
        return Err(Refusal::validation(
            "free-text `query` is not supported by the fake; use filters",
        ));
    }
    if parsed.filter_groups.len() > 5 {
        return Err(Refusal::validation("at most 5 filterGroups are allowed"));
    }
    let mut groups = Vec::new();
    for group in &parsed.filter_groups {
        if group.filters.len() > 10 {
            return Err(Refusal::validation(
                "at most 10 filters are allowed in a filterGroup",
            ));
        }
        let filters = group
            .filters
            .iter()
            .map(|f| {
                Ok(Filter {
                    property: f.property_name.clone(),
                    operator: f.operator.to_ascii_uppercase(),
                    value: f.value.as_ref().map(value_text).transpose()?,
                })
            })
            .collect::<Result<Vec<_>, Refusal>>()?;
        groups.push(filters);
    }
    let sorts = parsed
        .sorts
        .iter()
        .map(|s| match s {
            SortIn::Name(name) => match name.strip_prefix('-') {
                Some(name) => (name.to_owned(), true),
                None => (name.clone(), false),
            },
            SortIn::Object {
                property_name,
                direction,
            } => (
                property_name.clone(),
                direction
                    .as_deref()
                    .is_some_and(|d| d.eq_ignore_ascii_case("DESCENDING")),
            ),
        })
        .collect();
    let offset = match &parsed.after {
        None | Some(Value::Null) => 0,
        Some(value) => {
            let text = value_text(value)?;
            text.trim()
                .parse::<usize>()
                .map_err(|_| Refusal::validation(format!("Invalid paging cursor after={text:?}")))?
        }
    };
    let query = SearchQuery {
        groups,
        sorts,
        limit: parsed.limit.unwrap_or(10),
        offset,
    };
    Model::check_operators(&query)?;
    let (ids, total, next) = model.search(&query)?;
    let requested = parsed.properties.clone();
    let results: Vec<Value> = ids
        .iter()
        .filter_map(|id| model.contacts.get(id))
        .map(|c| contact_json(model, c, requested.as_deref()))
        .collect();
    let mut body = json!({ "total": total, "results": results });
    if let Some(next) = next {
        body["paging"] = json!({ "next": { "after": next.to_string() } });
    }
    Ok(Outcome::json(200, &body))
}

fn update_property(model: &mut Model, name: &str, body: &[u8]) -> Result<Outcome, Refusal> {
    let parsed: PropertyPatchIn = parse_body(body)?;
    let options = parsed
        .options
        .map(|options| options.into_iter().map(|o| (o.value, o.label)).collect());
    let spec = model
        .update_property(name, parsed.label.as_deref(), options)?
        .clone();
    Ok(Outcome::json(200, &property_json(model, &spec)))
}

fn owners(model: &Model, query: &[(String, String)]) -> Result<Outcome, Refusal> {
    let limit = parse_limit(query, 100, 500)?;
    let archived = query_one(query, "archived") == Some("true");
    let email = query_one(query, "email").map(str::to_lowercase);
    let start: usize = match query_one(query, "after") {
        None => 0,
        Some(text) => text
            .parse()
            .map_err(|_| Refusal::validation(format!("Invalid paging cursor after={text:?}")))?,
    };
    let matching: Vec<&super::state::Owner> = model
        .owners
        .iter()
        .filter(|o| o.archived == archived)
        .filter(|o| email.as_ref().is_none_or(|e| o.email.to_lowercase() == *e))
        .collect();
    let end = (start + limit).min(matching.len());
    let page: Vec<Value> = matching
        .get(start.min(end)..end)
        .unwrap_or_default()
        .iter()
        .map(|o| owner_json(o))
        .collect();
    let mut body = json!({ "results": page });
    if end < matching.len() {
        body["paging"] = json!({ "next": { "after": end.to_string() } });
    }
    Ok(Outcome::json(200, &body))
}

fn owner(model: &Model, id: &str) -> Result<Outcome, Refusal> {
    match model.owners.iter().find(|o| o.id == id) {
        Some(owner) => Ok(Outcome::json(200, &owner_json(owner))),
        None => Err(Refusal {
            status: 404,
            category: "OBJECT_NOT_FOUND",
            message: format!("Owner {id} not found"),
        }),
    }
}
