//! Strict parsing of what clients send the fake Inbox: query strings (with the bracket forms
//! the docs describe), path ids, and JSON bodies, into validated inputs for the model.
//!
//! Where the docs leave validation open this module rejects (unknown query parameters or body
//! keys, half cursors, mixed cursor forms, wrong JSON types, out-of-range limits). It must not
//! touch the model; existence checks (unknown tag/status/member ids) happen in `state.rs`.

use serde_json::{Map, Value};

use crate::common::valid_id;

use super::state::{ContextPatch, GroupFilter, ThreadPatch, ThreadQuery, View};

/// An API error, rendered as `{"error":{"code","message","status"}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400 `BAD_REQUEST`: the request is malformed or uses unknown parameters/keys.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(400, "BAD_REQUEST", message)
    }

    /// 422 `VALIDATION_ERROR`: well-formed JSON that references things that do not exist.
    pub fn unprocessable(message: impl Into<String>) -> Self {
        ApiError::new(422, "VALIDATION_ERROR", message)
    }

    /// The documented nested error body.
    pub fn body(&self) -> String {
        serde_json::json!({
            "error": { "code": self.code, "message": self.message, "status": self.status }
        })
        .to_string()
    }
}

/// Parses an RFC 3339 timestamp into epoch milliseconds.
pub(crate) fn parse_timestamp(text: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp_millis())
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// `application/x-www-form-urlencoded` decoding of one key or value.
fn decode(text: &str) -> Result<String, ApiError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut idx = 0;
    while idx < bytes.len() {
        match bytes[idx] {
            b'+' => out.push(b' '),
            b'%' => {
                let pair = bytes
                    .get(idx + 1)
                    .and_then(|&h| hex(h))
                    .zip(bytes.get(idx + 2).and_then(|&l| hex(l)));
                let (high, low) = pair.ok_or_else(|| {
                    ApiError::bad_request(format!("Invalid percent-encoding in query: {text:?}"))
                })?;
                out.push(high * 16 + low);
                idx += 2;
            }
            b => out.push(b),
        }
        idx += 1;
    }
    String::from_utf8(out).map_err(|_| ApiError::bad_request("Query string is not valid UTF-8"))
}

/// Splits and decodes a raw query string into ordered `(key, value)` pairs.
pub(crate) fn query_pairs(raw: Option<&str>) -> Result<Vec<(String, String)>, ApiError> {
    let Some(raw) = raw else {
        return Ok(Vec::new());
    };
    raw.split('&')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (key, value) = part.split_once('=').unwrap_or((part, ""));
            Ok((decode(key)?, decode(value)?))
        })
        .collect()
}

fn unknown_param(key: &str) -> ApiError {
    ApiError::bad_request(format!("Unknown query parameter '{key}'"))
}

/// Rejects any query parameter (for endpoints that take none).
pub(crate) fn no_query(pairs: &[(String, String)]) -> Result<(), ApiError> {
    match pairs.first() {
        Some((key, _)) => Err(unknown_param(key)),
        None => Ok(()),
    }
}

/// Stores a scalar parameter, rejecting repeats.
fn set_once(slot: &mut Option<String>, key: &str, value: &str) -> Result<(), ApiError> {
    if slot.is_some() {
        return Err(ApiError::bad_request(format!(
            "Query parameter '{key}' given more than once"
        )));
    }
    *slot = Some(value.to_owned());
    Ok(())
}

/// Whether `key` is `name`, `name[]` or `name[<digits>]` (the documented array encodings).
fn is_array_key(key: &str, name: &str) -> bool {
    let Some(rest) = key.strip_prefix(name) else {
        return false;
    };
    rest.is_empty()
        || rest
            .strip_prefix('[')
            .and_then(|r| r.strip_suffix(']'))
            .is_some_and(|inner| inner.bytes().all(|b| b.is_ascii_digit()))
}

fn parse_int(key: &str, value: &str, min: u64, max: u64) -> Result<u64, ApiError> {
    let out_of_range = || {
        ApiError::bad_request(format!(
            "Query parameter '{key}' must be an integer between {min} and {max}, got {value:?}"
        ))
    };
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(out_of_range());
    }
    let parsed: u64 = value.parse().map_err(|_| out_of_range())?;
    if !(min..=max).contains(&parsed) {
        return Err(out_of_range());
    }
    Ok(parsed)
}

fn parse_bool(key: &str, value: &str) -> Result<bool, ApiError> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ApiError::bad_request(format!(
            "Query parameter '{key}' must be true or false, got {value:?}"
        ))),
    }
}

fn checked_id(key: &str, value: &str) -> Result<String, ApiError> {
    if valid_id(value) {
        Ok(value.to_owned())
    } else {
        Err(ApiError::bad_request(format!(
            "Query parameter '{key}' must match ^[0-9a-z]+$, got {value:?}"
        )))
    }
}

/// The filter groups of `GET /threads` and their `no…` flags.
const GROUPS: &[(&str, &str)] = &[
    ("tags", "noTags"),
    ("statuses", "noStatus"),
    ("assignees", "noAssignee"),
    ("campaigns", "noCampaign"),
];

/// Validates the query of `GET /threads`.
pub(crate) fn thread_query(pairs: &[(String, String)]) -> Result<ThreadQuery, ApiError> {
    let mut inbox = None;
    let mut limit = None;
    let mut sort_order = None;
    let (mut flat_id, mut flat_ts, mut obj_id, mut obj_ts) = (None, None, None, None);
    let mut account_link_ids: Option<Vec<String>> = None;
    let mut groups: [GroupFilter; 4] = Default::default();
    let mut group_flags: [Option<String>; 4] = Default::default();
    'pairs: for (key, value) in pairs {
        match key.as_str() {
            "inbox" => set_once(&mut inbox, key, value)?,
            "limit" => set_once(&mut limit, key, value)?,
            "cursorId" => set_once(&mut flat_id, key, value)?,
            "cursorTimestamp" => set_once(&mut flat_ts, key, value)?,
            "cursor[id]" => set_once(&mut obj_id, key, value)?,
            "cursor[timestamp]" => set_once(&mut obj_ts, key, value)?,
            "filters[sortOrder]" => set_once(&mut sort_order, key, value)?,
            _ if is_array_key(key, "accountLinkIds") => account_link_ids
                .get_or_insert_with(Vec::new)
                .push(checked_id(key, value)?),
            _ => {
                for (idx, (group, flag)) in GROUPS.iter().enumerate() {
                    let prefix = format!("filters[{group}]");
                    let Some(rest) = key.strip_prefix(&prefix) else {
                        continue;
                    };
                    if is_array_key(rest, "[selectedIds]") {
                        groups[idx].selected.push(checked_id(key, value)?);
                        continue 'pairs;
                    }
                    if rest == format!("[{flag}]") {
                        set_once(&mut group_flags[idx], key, value)?;
                        continue 'pairs;
                    }
                }
                return Err(unknown_param(key));
            }
        }
    }
    for (idx, flag) in group_flags.iter().enumerate() {
        if let Some(flag) = flag {
            groups[idx].none = parse_bool(GROUPS[idx].1, flag)?;
        }
    }
    let view = match inbox.as_deref() {
        None | Some("default") => View::Default,
        Some("no-reply") => View::NoReply,
        Some("requests") => View::Requests,
        Some("archived") => View::Archived,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "Invalid inbox {other:?}: expected default, no-reply, requests or archived"
            )));
        }
    };
    let limit = match limit {
        Some(text) => parse_int("limit", &text, 1, 100)? as usize,
        None => 20,
    };
    let ascending = match sort_order.as_deref() {
        None | Some("desc") => false,
        Some("asc") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "Invalid filters[sortOrder] {other:?}: expected asc or desc"
            )));
        }
    };
    let flat = flat_id.is_some() || flat_ts.is_some();
    let object = obj_id.is_some() || obj_ts.is_some();
    if flat && object {
        return Err(ApiError::bad_request(
            "cursorId/cursorTimestamp cannot be combined with cursor[id]/cursor[timestamp]",
        ));
    }
    let cursor = match (flat_id.or(obj_id), flat_ts.or(obj_ts)) {
        (None, None) => None,
        (Some(id), Some(ts)) => {
            let id = checked_id("cursorId", &id)?;
            let ms = parse_timestamp(&ts).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "Cursor timestamp {ts:?} is not an RFC 3339 date-time"
                ))
            })?;
            Some((ms, id))
        }
        _ => {
            return Err(ApiError::bad_request(
                "The cursor id and timestamp must be sent together",
            ));
        }
    };
    let [tags, statuses, assignees, campaigns] = groups;
    Ok(ThreadQuery {
        view,
        limit,
        ascending,
        cursor,
        account_link_ids,
        tags,
        statuses,
        assignees,
        campaigns,
    })
}

/// Validates the query of `GET /events`: `(afterSeq, limit)`.
pub(crate) fn events_query(pairs: &[(String, String)]) -> Result<(Option<u64>, usize), ApiError> {
    let (mut after, mut limit) = (None, None);
    for (key, value) in pairs {
        match key.as_str() {
            "afterSeq" => set_once(&mut after, key, value)?,
            "limit" => set_once(&mut limit, key, value)?,
            _ => return Err(unknown_param(key)),
        }
    }
    let after = after
        .map(|text| parse_int("afterSeq", &text, 0, 9_007_199_254_740_991))
        .transpose()?;
    let limit = match limit {
        Some(text) => parse_int("limit", &text, 1, 1000)? as usize,
        None => 100,
    };
    Ok((after, limit))
}

/// Validates the query of `GET /prospects/lookup`: the required `platformId`.
pub(crate) fn lookup_query(pairs: &[(String, String)]) -> Result<String, ApiError> {
    let mut platform_id = None;
    for (key, value) in pairs {
        match key.as_str() {
            "platformId" => set_once(&mut platform_id, key, value)?,
            _ => return Err(unknown_param(key)),
        }
    }
    match platform_id {
        Some(id) if !id.is_empty() => Ok(id),
        _ => Err(ApiError::bad_request(
            "Query parameter 'platformId' is required",
        )),
    }
}

/// Parses a JSON body that must be an object. An empty body is `None` (allowed only where the
/// spec marks the body optional); a non-empty body needs `Content-Type: application/json`.
pub(crate) fn json_object(
    body: &[u8],
    content_type: Option<&str>,
    required: bool,
) -> Result<Option<Map<String, Value>>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return if required {
            Err(ApiError::bad_request("A JSON body is required"))
        } else {
            Ok(None)
        };
    }
    let is_json = content_type.is_some_and(|ct| {
        ct.split(';')
            .next()
            .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
    });
    if !is_json {
        return Err(ApiError::bad_request(
            "Content-Type must be application/json",
        ));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(Some(map)),
        Ok(_) => Err(ApiError::bad_request("The JSON body must be an object")),
        Err(err) => Err(ApiError::bad_request(format!("Malformed JSON body: {err}"))),
    }
}

fn check_keys(map: &Map<String, Value>, allowed: &[&str]) -> Result<(), ApiError> {
    match map.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(key) => Err(ApiError::bad_request(format!(
            "Unknown field '{key}' (allowed: {})",
            allowed.join(", ")
        ))),
        None => Ok(()),
    }
}

fn wrong_type(key: &str, expected: &str) -> ApiError {
    ApiError::bad_request(format!("Field '{key}' must be {expected}"))
}

/// `absent` → None, `null` → Some(None), string → Some(Some).
fn nullable_string(
    map: &Map<String, Value>,
    key: &str,
    id: bool,
) -> Result<Option<Option<String>>, ApiError> {
    match map.get(key) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(s)) if !id || valid_id(s) => Ok(Some(Some(s.clone()))),
        Some(Value::String(_)) => Err(wrong_type(key, "an id matching ^[0-9a-z]+$ or null")),
        Some(_) => Err(wrong_type(key, "a string or null")),
    }
}

fn id_array(map: &Map<String, Value>, key: &str) -> Result<Vec<String>, ApiError> {
    let Some(value) = map.get(key) else {
        return Ok(Vec::new());
    };
    let items = value
        .as_array()
        .ok_or_else(|| wrong_type(key, "an array of ids"))?;
    items
        .iter()
        .map(|item| match item.as_str() {
            Some(id) if valid_id(id) => Ok(id.to_owned()),
            _ => Err(wrong_type(key, "an array of ids matching ^[0-9a-z]+$")),
        })
        .collect()
}

fn optional_bool(map: &Map<String, Value>, key: &str) -> Result<Option<bool>, ApiError> {
    match map.get(key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(wrong_type(key, "a boolean")),
    }
}

/// Validates the body of `PATCH /prospects/{id}/context` (no `tags` key; ids by pattern).
pub(crate) fn context_patch(map: &Map<String, Value>) -> Result<ContextPatch, ApiError> {
    check_keys(
        map,
        &[
            "notes",
            "valuation",
            "statusId",
            "addTags",
            "removeTags",
            "assigneeId",
            "done",
        ],
    )?;
    let valuation = match map.get("valuation") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::Number(n)) => Some(Some(n.clone())),
        Some(_) => return Err(wrong_type("valuation", "a number or null")),
    };
    Ok(ContextPatch {
        notes: nullable_string(map, "notes", false)?,
        valuation,
        status_id: nullable_string(map, "statusId", true)?,
        add_tags: id_array(map, "addTags")?,
        remove_tags: id_array(map, "removeTags")?,
        assignee_id: nullable_string(map, "assigneeId", true)?,
        done: optional_bool(map, "done")?,
    })
}

/// Validates the body of `PATCH /threads/{id}`.
pub(crate) fn thread_patch(map: &Map<String, Value>) -> Result<ThreadPatch, ApiError> {
    check_keys(map, &["done", "assigneeId"])?;
    Ok(ThreadPatch {
        done: optional_bool(map, "done")?,
        assignee_id: nullable_string(map, "assigneeId", true)?,
    })
}

/// Validates the body of `POST /tags`: `(name, color)`.
pub(crate) fn new_tag(map: &Map<String, Value>) -> Result<(String, Option<String>), ApiError> {
    check_keys(map, &["name", "color"])?;
    let name = match map.get("name") {
        Some(Value::String(name)) => name.clone(),
        Some(_) => return Err(wrong_type("name", "a string")),
        None => return Err(ApiError::bad_request("Field 'name' is required")),
    };
    let chars = name.chars().count();
    if !(1..=255).contains(&chars) || name.trim().is_empty() {
        return Err(ApiError::bad_request(
            "Field 'name' must be 1 to 255 characters and not blank",
        ));
    }
    let color = nullable_string(map, "color", false)?.flatten();
    Ok((name, color))
}
