//! Strict parsing of what clients send the fake Inbox v2: query strings (arrays as repeated keys
//! only), path segments (percent-decoded, `Cuid2` ids), and JSON bodies (`additionalProperties:
//! false` on every body), into validated inputs, collecting every problem as an `issues` entry
//! of `400 invalidRequest`.
//!
//! Where the docs are silent this module rejects: unknown query parameters (so the bracket form
//! `tag[]=` the docs rule out fails), a scalar parameter given twice, an empty value, a body
//! without `Content-Type: application/json`. It must not touch the model: whether a tag, status
//! or member exists is decided by the handlers and `state.rs`.

use serde_json::{Map, Number, Value, json};

use crate::common::valid_id;

use super::seed::PALETTE;
use super::state::{Folder, ThreadPatch};

/// One entry of `details.issues`: where (`path`, keys and indices) and what.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Issue {
    pub path: Vec<Value>,
    pub message: String,
}

impl Issue {
    pub fn new(path: Vec<Value>, message: impl Into<String>) -> Self {
        Issue {
            path,
            message: message.into(),
        }
    }
}

/// An API error, rendered flat as `{code, message, details, requestId}`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    /// `null` or the object documented for `code`.
    pub details: Value,
}

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            details: Value::Null,
        }
    }

    /// Adds `details`.
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    /// `400 invalidRequest` with `details.issues`.
    pub fn invalid(issues: Vec<Issue>) -> Self {
        let message = match issues.as_slice() {
            [one] => format!("Invalid request: {}", one.message),
            many => format!("Invalid request: {} issues", many.len()),
        };
        let issues: Vec<Value> = issues
            .into_iter()
            .map(|i| json!({ "path": i.path, "message": i.message }))
            .collect();
        ApiError::new(400, "invalidRequest", message).with_details(json!({ "issues": issues }))
    }

    /// `400 invalidRequest` with one issue.
    pub fn invalid_at(path: Vec<Value>, message: impl Into<String>) -> Self {
        ApiError::invalid(vec![Issue::new(path, message)])
    }

    /// The body, with the request's id.
    pub fn body(&self, request_id: &str) -> String {
        json!({
            "code": self.code,
            "message": self.message,
            "details": self.details,
            "requestId": request_id,
        })
        .to_string()
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decoding; `plus_is_space` for query strings (form encoding), not for paths.
pub(crate) fn percent_decode(text: &str, plus_is_space: bool) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut idx = 0;
    while idx < bytes.len() {
        match bytes[idx] {
            b'+' if plus_is_space => out.push(b' '),
            b'%' => {
                let high = bytes.get(idx + 1).and_then(|&h| hex(h))?;
                let low = bytes.get(idx + 2).and_then(|&l| hex(l))?;
                out.push(high * 16 + low);
                idx += 2;
            }
            b => out.push(b),
        }
        idx += 1;
    }
    String::from_utf8(out).ok()
}

/// Related objects to embed (`expand`), as flags.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Expand {
    pub profile: bool,
    pub contact: bool,
    pub account_link: bool,
    pub assignee: bool,
    pub status: bool,
    pub tags: bool,
}

/// The `expand` values of thread routes.
pub(crate) const THREAD_EXPAND: &[&str] = &["profile", "contact", "accountLink", "assignee"];
/// The `expand` values of contact routes.
pub(crate) const CONTACT_EXPAND: &[&str] = &["status", "tags", "assignee"];

/// `limit` and `cursor` of a paged list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Page {
    pub limit: usize,
    pub cursor: Option<String>,
}

/// A decoded query string being read parameter by parameter, collecting issues.
#[derive(Debug)]
pub(crate) struct QueryReader {
    pairs: Vec<(String, String)>,
    issues: Vec<Issue>,
}

impl QueryReader {
    /// Decodes `raw` and flags every key not in `allowed`.
    pub fn parse(raw: Option<&str>, allowed: &[&str]) -> Result<QueryReader, ApiError> {
        let mut pairs = Vec::new();
        for part in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (key, value) = part.split_once('=').unwrap_or((part, ""));
            let decoded = percent_decode(key, true).zip(percent_decode(value, true));
            let Some(pair) = decoded else {
                return Err(ApiError::invalid_at(
                    vec![],
                    format!("Invalid percent-encoding in the query: {part:?}"),
                ));
            };
            pairs.push(pair);
        }
        let mut issues = Vec::new();
        let mut flagged: Vec<&str> = Vec::new();
        for (key, _) in &pairs {
            if allowed.contains(&key.as_str()) || flagged.contains(&key.as_str()) {
                continue;
            }
            flagged.push(key);
            let message = if key.ends_with(']') {
                format!(
                    "Unknown query parameter '{key}': repeat the key for arrays, without brackets"
                )
            } else {
                format!("Unknown query parameter '{key}'")
            };
            issues.push(Issue::new(vec![json!(key)], message));
        }
        Ok(QueryReader { pairs, issues })
    }

    fn values(&self, key: &str) -> Vec<String> {
        let pairs = self.pairs.iter().filter(|(k, _)| k == key);
        pairs.map(|(_, v)| v.clone()).collect()
    }

    /// Records an issue.
    pub fn issue(&mut self, path: Vec<Value>, message: impl Into<String>) {
        self.issues.push(Issue::new(path, message));
    }

    /// A parameter given at most once.
    pub fn scalar(&mut self, key: &str) -> Option<String> {
        let mut values = self.values(key);
        if values.len() > 1 {
            self.issue(
                vec![json!(key)],
                format!(
                    "Query parameter '{key}' takes one value, got {}",
                    values.len()
                ),
            );
            return None;
        }
        values.pop()
    }

    /// A repeated-key array of non-empty strings with at most `max` items.
    pub fn array(&mut self, key: &str, max: Option<usize>) -> Vec<String> {
        let values = self.values(key);
        if let Some(max) = max
            && values.len() > max
        {
            self.issue(
                vec![json!(key)],
                format!("At most {max} values of '{key}', got {}", values.len()),
            );
        }
        for (idx, value) in values.iter().enumerate() {
            if value.is_empty() {
                self.issue(vec![json!(key), json!(idx)], "Must not be empty");
            }
        }
        values
    }

    /// A repeated-key array of `Cuid2` ids.
    pub fn ids(&mut self, key: &str) -> Vec<String> {
        let values = self.values(key);
        for (idx, value) in values.iter().enumerate() {
            if !valid_id(value) {
                self.issue(
                    vec![json!(key), json!(idx)],
                    format!("Must match ^[0-9a-z]+$, got {value:?}"),
                );
            }
        }
        values
    }

    /// An integer in `min..=max`.
    pub fn int(&mut self, key: &str, min: u64, max: u64) -> Option<u64> {
        let text = self.scalar(key)?;
        match text.parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) && text.bytes().all(|b| b.is_ascii_digit()) => {
                Some(n)
            }
            _ => {
                self.issue(
                    vec![json!(key)],
                    format!("Must be an integer from {min} to {max}, got {text:?}"),
                );
                None
            }
        }
    }

    /// `true` or `false`.
    pub fn boolean(&mut self, key: &str) -> Option<bool> {
        match self.scalar(key)?.as_str() {
            "true" => Some(true),
            "false" => Some(false),
            other => {
                self.issue(
                    vec![json!(key)],
                    format!("Must be true or false, got {other:?}"),
                );
                None
            }
        }
    }

    /// One value of a closed enum.
    pub fn one_of(&mut self, key: &str, allowed: &[&'static str]) -> Option<&'static str> {
        let text = self.scalar(key)?;
        let found = allowed.iter().copied().find(|a| *a == text);
        if found.is_none() {
            self.issue(
                vec![json!(key)],
                format!("Must be one of {}, got {text:?}", allowed.join(", ")),
            );
        }
        found
    }

    /// `expand`: values from `allowed`, at most 4.
    pub fn expand(&mut self, allowed: &[&str]) -> Expand {
        let mut expand = Expand::default();
        for (idx, value) in self.array("expand", Some(4)).into_iter().enumerate() {
            if !allowed.contains(&value.as_str()) {
                self.issue(
                    vec![json!("expand"), json!(idx)],
                    format!("Must be one of {}, got {value:?}", allowed.join(", ")),
                );
                continue;
            }
            match value.as_str() {
                "profile" => expand.profile = true,
                "contact" => expand.contact = true,
                "accountLink" => expand.account_link = true,
                "assignee" => expand.assignee = true,
                "status" => expand.status = true,
                _ => expand.tags = true,
            }
        }
        expand
    }

    /// `limit` (1–100, default 50) and `cursor`.
    pub fn page(&mut self) -> Page {
        let limit = self.int("limit", 1, 100).unwrap_or(50) as usize;
        let cursor = self.scalar("cursor");
        if cursor.as_deref() == Some("") {
            self.issue(vec![json!("cursor")], "Must not be empty");
        }
        Page { limit, cursor }
    }

    /// Fails with every issue collected, if any.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.issues.is_empty() {
            Ok(())
        } else {
            Err(ApiError::invalid(self.issues))
        }
    }
}

/// Allowed parameters of `GET /threads`.
const THREADS_PARAMS: &[&str] = &[
    "accountLinkId",
    "platform",
    "contactId",
    "folder",
    "tag",
    "status",
    "assigneeId",
    "unassigned",
    "campaignId",
    "q",
    "order",
    "expand",
    "limit",
    "cursor",
];

/// `GET /threads`, parsed but with tag and status refs and platforms not yet resolved.
#[derive(Debug, Clone)]
pub(crate) struct ThreadsQuery {
    pub folder: Folder,
    pub ascending: bool,
    pub account_link_ids: Vec<String>,
    pub platforms: Vec<String>,
    pub contact_ids: Vec<String>,
    pub tag_refs: Vec<String>,
    pub status_refs: Vec<String>,
    pub assignee_ids: Vec<String>,
    pub unassigned: Option<bool>,
    pub campaign_ids: Vec<String>,
    pub q: Option<String>,
    pub expand: Expand,
    pub page: Page,
}

/// Reads the query of `GET /threads`.
pub(crate) fn threads_query(raw: Option<&str>) -> Result<ThreadsQuery, ApiError> {
    let mut query = QueryReader::parse(raw, THREADS_PARAMS)?;
    let folder = match query.one_of(
        "folder",
        &["inbox", "noReply", "requests", "archived", "all"],
    ) {
        Some("noReply") => Folder::NoReply,
        Some("requests") => Folder::Requests,
        Some("archived") => Folder::Archived,
        Some("all") => Folder::All,
        _ => Folder::Inbox,
    };
    let ascending = query.one_of("order", &["desc", "asc"]) == Some("asc");
    let assignee_ids = query.ids("assigneeId");
    let unassigned = query.boolean("unassigned");
    if unassigned.is_some() && !assignee_ids.is_empty() {
        query.issue(
            vec![json!("unassigned")],
            "'unassigned' cannot be combined with 'assigneeId'",
        );
    }
    let q = query.scalar("q");
    if q.as_deref() == Some("") {
        query.issue(vec![json!("q")], "Must not be empty");
    }
    let parsed = ThreadsQuery {
        folder,
        ascending,
        account_link_ids: query.ids("accountLinkId"),
        platforms: query.array("platform", None),
        contact_ids: query.ids("contactId"),
        tag_refs: query.array("tag", None),
        status_refs: query.array("status", None),
        assignee_ids,
        unassigned,
        campaign_ids: query.ids("campaignId"),
        q: q.map(|q| q.to_lowercase()),
        expand: query.expand(THREAD_EXPAND),
        page: query.page(),
    };
    query.finish()?;
    Ok(parsed)
}

/// `GET /contacts`, parsed; the platform is not yet checked against the team's.
#[derive(Debug, Clone)]
pub(crate) struct ContactsQuery {
    pub platform: String,
    /// `true`: `platformId` values; `false`: `username` values.
    pub by_platform_id: bool,
    pub values: Vec<String>,
    pub expand: Expand,
    pub page: Page,
}

/// Reads the query of `GET /contacts`. Exactly one identity filter is required: the docs say
/// "give this or the other", and leave open whether both may be combined, so the fake rejects
/// both together.
pub(crate) fn contacts_query(raw: Option<&str>) -> Result<ContactsQuery, ApiError> {
    let mut query = QueryReader::parse(
        raw,
        &[
            "platform",
            "platformId",
            "username",
            "expand",
            "limit",
            "cursor",
        ],
    )?;
    let platform = query.scalar("platform");
    if platform.is_none() {
        query.issue(
            vec![json!("platform")],
            "Query parameter 'platform' is required",
        );
    }
    let platform_ids = query.array("platformId", Some(100));
    let usernames = query.array("username", Some(100));
    let by_platform_id = !platform_ids.is_empty();
    match (platform_ids.is_empty(), usernames.is_empty()) {
        (true, true) => query.issue(vec![], "Give 'platformId' or 'username'"),
        (false, false) => query.issue(
            vec![json!("username")],
            "Give 'platformId' or 'username', not both",
        ),
        _ => {}
    }
    let values = if by_platform_id {
        platform_ids
    } else {
        usernames
    };
    let parsed = ContactsQuery {
        platform: platform.unwrap_or_default(),
        by_platform_id,
        values,
        expand: query.expand(CONTACT_EXPAND),
        page: query.page(),
    };
    query.finish()?;
    Ok(parsed)
}

/// Every event type of the docs' 32-value enum.
pub(crate) const EVENT_TYPES: &[&str] = &[
    "thread.created",
    "thread.deleted",
    "thread.assigned",
    "thread.unassigned",
    "thread.archived",
    "thread.unarchived",
    "thread.typing",
    "message.sent",
    "message.received",
    "message.edited",
    "message.deleted",
    "message.reactionAdded",
    "message.reactionRemoved",
    "contact.statusChanged",
    "contact.tagsChanged",
    "contact.notesChanged",
    "contact.valuationChanged",
    "contact.assigneeChanged",
    "tag.created",
    "tag.updated",
    "tag.deleted",
    "status.created",
    "status.updated",
    "status.deleted",
    "campaign.created",
    "campaign.started",
    "campaign.paused",
    "campaign.resumed",
    "campaign.completed",
    "target.contacted",
    "target.followUpSent",
    "target.replied",
];

/// `GET /events`: `afterSeq`, `type[]`, `limit`.
#[derive(Debug, Clone)]
pub(crate) struct EventsQuery {
    pub after_seq: Option<u64>,
    pub types: Vec<String>,
    pub limit: usize,
}

/// Reads the query of `GET /events`.
pub(crate) fn events_query(raw: Option<&str>) -> Result<EventsQuery, ApiError> {
    let mut query = QueryReader::parse(raw, &["afterSeq", "type", "limit"])?;
    let after_seq = query.int("afterSeq", 0, 9_007_199_254_740_991);
    let types = query.array("type", None);
    for (idx, kind) in types.iter().enumerate() {
        if !EVENT_TYPES.contains(&kind.as_str()) {
            query.issue(
                vec![json!("type"), json!(idx)],
                format!("Unknown event type {kind:?}"),
            );
        }
    }
    let limit = query.int("limit", 1, 1000).unwrap_or(100) as usize;
    query.finish()?;
    Ok(EventsQuery {
        after_seq,
        types,
        limit,
    })
}

/// Parses a required JSON object body; it needs `Content-Type: application/json`.
pub(crate) fn json_object(
    body: &[u8],
    content_type: Option<&str>,
) -> Result<Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::invalid_at(vec![], "A JSON body is required"));
    }
    let is_json = content_type.is_some_and(|ct| {
        ct.split(';')
            .next()
            .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
    });
    if !is_json {
        return Err(ApiError::invalid_at(
            vec![],
            "Content-Type must be application/json",
        ));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::invalid_at(
            vec![],
            "The body must be a JSON object",
        )),
        Err(err) => Err(ApiError::invalid_at(
            vec![],
            format!("Malformed JSON: {err}"),
        )),
    }
}

/// A body being read field by field, collecting issues.
struct BodyReader<'a> {
    map: &'a Map<String, Value>,
    issues: Vec<Issue>,
}

impl<'a> BodyReader<'a> {
    /// Flags every key not in `allowed` (`additionalProperties: false`).
    fn new(map: &'a Map<String, Value>, allowed: &[&str]) -> Self {
        let issues = map
            .keys()
            .filter(|k| !allowed.contains(&k.as_str()))
            .map(|k| {
                Issue::new(
                    vec![json!(k)],
                    format!("Unknown field '{k}' (allowed: {})", allowed.join(", ")),
                )
            })
            .collect();
        BodyReader { map, issues }
    }

    fn wrong(&mut self, key: &str, expected: &str) {
        self.issues
            .push(Issue::new(vec![json!(key)], format!("Must be {expected}")));
    }

    /// absent → `None`, `null` → `Some(None)`, a string → `Some(Some)`.
    fn nullable_string(&mut self, key: &str) -> Option<Option<String>> {
        match self.map.get(key)? {
            Value::Null => Some(None),
            Value::String(s) => Some(Some(s.clone())),
            _ => {
                self.wrong(key, "a string or null");
                None
            }
        }
    }

    /// A nullable `Cuid2`.
    fn nullable_id(&mut self, key: &str) -> Option<Option<String>> {
        let value = self.nullable_string(key)?;
        if let Some(id) = &value
            && !valid_id(id)
        {
            self.wrong(key, "an id matching ^[0-9a-z]+$, or null");
            return None;
        }
        Some(value)
    }

    fn boolean(&mut self, key: &str) -> Option<bool> {
        match self.map.get(key)? {
            Value::Bool(b) => Some(*b),
            _ => {
                self.wrong(key, "a boolean");
                None
            }
        }
    }

    fn finish<T>(self, value: T) -> Result<T, ApiError> {
        if self.issues.is_empty() {
            Ok(value)
        } else {
            Err(ApiError::invalid(self.issues))
        }
    }
}

/// `ContactUpdate`, with the status still a ref (ID or name).
#[derive(Debug, Clone, Default)]
pub(crate) struct ContactUpdate {
    pub status_ref: Option<Option<String>>,
    pub notes: Option<Option<String>>,
    pub valuation: Option<Option<Number>>,
    pub assignee_id: Option<Option<String>>,
}

/// Reads a `PATCH /contacts/{id}` body. A negative valuation is rejected: the docs set no
/// bound, and a deal value below zero is the kind of input a real API may refuse.
pub(crate) fn contact_update(map: &Map<String, Value>) -> Result<ContactUpdate, ApiError> {
    let mut body = BodyReader::new(map, &["status", "notes", "valuation", "assigneeId"]);
    let status_ref = body.nullable_string("status");
    if let Some(Some(status)) = &status_ref
        && status.is_empty()
    {
        body.wrong("status", "a status id or name, or null");
    }
    let valuation = match map.get("valuation") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::Number(n)) if n.as_f64().is_some_and(|v| v < 0.0) => {
            body.wrong("valuation", "zero or more");
            None
        }
        Some(Value::Number(n)) => Some(Some(n.clone())),
        Some(_) => {
            body.wrong("valuation", "a number or null");
            None
        }
    };
    let update = ContactUpdate {
        status_ref,
        notes: body.nullable_string("notes"),
        valuation,
        assignee_id: body.nullable_id("assigneeId"),
    };
    body.finish(update)
}

/// Reads a `PATCH /threads/{id}` body.
pub(crate) fn thread_update(map: &Map<String, Value>) -> Result<ThreadPatch, ApiError> {
    let mut body = BodyReader::new(
        map,
        &["archived", "unread", "assigneeId", "typingIndicators"],
    );
    let typing_indicators = match map.get("typingIndicators") {
        None => None,
        Some(Value::String(s)) if s == "enabled" => Some("enabled"),
        Some(Value::String(s)) if s == "disabled" => Some("disabled"),
        Some(Value::String(s)) if s == "teamDefault" => Some("teamDefault"),
        Some(_) => {
            body.wrong("typingIndicators", "enabled, disabled or teamDefault");
            None
        }
    };
    let patch = ThreadPatch {
        archived: body.boolean("archived"),
        unread: body.boolean("unread"),
        assignee_id: body.nullable_id("assigneeId"),
        typing_indicators,
    };
    body.finish(patch)
}

/// Reads a `POST /tags` body: `(name, colour as lowercase hex if given)`. A colour is a palette
/// name (any case) or `#` and 6 hex digits; the docs say "a 6-digit hex value" without saying
/// whether the `#` is part of it, so the fake takes only the form with it.
pub(crate) fn tag_create(map: &Map<String, Value>) -> Result<(String, Option<String>), ApiError> {
    let mut body = BodyReader::new(map, &["name", "color"]);
    let name = match map.get("name") {
        Some(Value::String(name)) if !name.trim().is_empty() => Some(name.clone()),
        Some(Value::String(_)) => {
            body.wrong("name", "a non-blank string");
            None
        }
        Some(_) => {
            body.wrong("name", "a string");
            None
        }
        None => {
            body.issues
                .push(Issue::new(vec![json!("name")], "Field 'name' is required"));
            None
        }
    };
    let color = match map.get("color") {
        None => None,
        Some(Value::String(text)) => {
            let palette = PALETTE
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(text))
                .map(|(_, hex)| (*hex).to_owned());
            let hex = text
                .strip_prefix('#')
                .filter(|h| h.len() == 6 && h.bytes().all(|b| b.is_ascii_hexdigit()))
                .map(|h| format!("#{}", h.to_ascii_lowercase()));
            let color = palette.or(hex);
            if color.is_none() {
                body.wrong("color", "a colour name from GET /colors or #rrggbb");
            }
            color
        }
        Some(_) => {
            body.wrong("color", "a string");
            None
        }
    };
    let created = (name.clone().unwrap_or_default(), color);
    body.finish(created)
}
