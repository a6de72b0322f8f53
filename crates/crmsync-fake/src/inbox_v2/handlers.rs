//! The fake Inbox v2's endpoint handlers: one [`Endpoint`] run against the model, its answer
//! a [`Reply`] or an [`ApiError`]. Routing and the per-request pipeline are `routes.rs`.
//!
//! Handlers must not build JSON shapes themselves beyond page wrappers (that is `wire.rs`).

use rand::Rng;
use serde::Serialize;
use serde_json::{Value, json};

use super::WriteRecord;
use super::cursor;
use super::request::{
    self, ApiError, CONTACT_EXPAND, Expand, Issue, Page, QueryReader, THREAD_EXPAND,
};
use super::state::{Identity, Model, Platform, Reject, ThreadFilter, take_page};
use super::wire;
use crate::common::now_ms;

/// A routed request; ids are validated `Cuid2`s, refs are percent-decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Endpoint {
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

/// A handler's successful answer.
pub(super) struct Reply {
    pub(super) status: u16,
    /// `None` for 204.
    pub(super) body: Option<String>,
}

impl Reply {
    fn ok(body: String) -> Self {
        Reply {
            status: 200,
            body: Some(body),
        }
    }
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
pub(super) struct Call<'r> {
    pub(super) query: Option<&'r str>,
    pub(super) body: &'r [u8],
    pub(super) content_type: Option<&'r str>,
    /// The key cursors are sealed with.
    pub(super) secret: u64,
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
pub(super) fn handle(
    model: &mut Model,
    endpoint: Endpoint,
    call: &Call<'_>,
) -> Result<Reply, ApiError> {
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
        Endpoint::Members => members(model, call),
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
        Endpoint::PatchThread(id) => patch_thread(model, call, &id),
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
        Endpoint::CreateTag => create_tag(model, call),
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

fn members(model: &Model, call: &Call<'_>) -> Result<Reply, ApiError> {
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

fn patch_thread(model: &mut Model, call: &Call<'_>, id: &str) -> Result<Reply, ApiError> {
    call.no_query()?;
    let t = thread_index(model, id)?;
    let map = call.body()?;
    let patch = request::thread_update(&map)?;
    // A sticky thread (a test knob) answers as if written and keeps its values.
    if !model.threads[t].sticky {
        model.patch_thread(t, &patch, now_ms()).map_err(reject)?;
    }
    record(
        model,
        "PATCH /threads/{threadId}",
        &[id],
        Value::Object(map),
    );
    ok(&wire::thread(model, t, Expand::default()))
}

fn create_tag(model: &mut Model, call: &Call<'_>) -> Result<Reply, ApiError> {
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
