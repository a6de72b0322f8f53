//! JSON wire shapes of the fake Inbox v1 API and their rendering from the model.
//!
//! These types follow the vendor OpenAPI `components.schemas` (Team, AccountLink, Member, Tag,
//! Status, Prospect, Thread) field for field, with every required key present. They are the
//! fake's own: this module must not import anything from crmsync's `inbox` (the client), so that
//! the two implementations cross-check each other against the docs. No undocumented keys may be
//! added to REST responses (the schema test rejects them).

use serde::Serialize;
use serde_json::{Number, Value};

use crate::common::{now_ms, timestamp};

use super::state::{AccountLink, EventShapes, Member, Model, Status, Tag};

/// `Team`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireTeam {
    id: String,
    name: String,
    slug: String,
    image: Option<String>,
    created_at: String,
    updated_at: Option<String>,
    currency: &'static str,
    allow_support_access: bool,
}

pub(crate) fn team(model: &Model) -> WireTeam {
    WireTeam {
        id: model.team.id.clone(),
        name: model.team.name.clone(),
        slug: model.team.slug.clone(),
        image: None,
        created_at: timestamp(model.team.created_ms),
        updated_at: None,
        currency: "USD",
        allow_support_access: false,
    }
}

/// `AccountLink`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireAccountLink {
    id: String,
    platform: &'static str,
    platform_id: String,
    name: String,
    username: String,
    image: String,
    created_at: String,
    status: &'static str,
    synced_at: Option<String>,
}

pub(crate) fn account_link(link: &AccountLink) -> WireAccountLink {
    WireAccountLink {
        id: link.id.clone(),
        platform: "twitter",
        platform_id: link.platform_id.clone(),
        name: link.name.clone(),
        username: link.username.clone(),
        image: format!("https://fake.inboxapp.test/avatars/{}.png", link.username),
        created_at: timestamp(link.created_ms),
        status: "active",
        synced_at: link.synced_ms.map(timestamp),
    }
}

/// `Member`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireMember {
    id: String,
    user_id: String,
    name: Option<String>,
    email: String,
    image: Option<String>,
    role: &'static str,
    created_at: String,
    updated_at: Option<String>,
}

pub(crate) fn member(member: &Member) -> WireMember {
    WireMember {
        id: member.id.clone(),
        user_id: member.user_id.clone(),
        name: member.name.clone(),
        email: member.email.clone(),
        image: None,
        role: member.role,
        created_at: timestamp(member.created_ms),
        updated_at: member.updated_ms.map(timestamp),
    }
}

/// `Tag`.
#[derive(Debug, Serialize)]
pub(crate) struct WireTag {
    id: String,
    name: String,
    color: String,
}

pub(crate) fn tag(tag: &Tag) -> WireTag {
    WireTag {
        id: tag.id.clone(),
        name: tag.name.clone(),
        color: tag.color.clone(),
    }
}

/// `Status`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireStatus {
    id: String,
    name: String,
    color: Option<String>,
    created_at: String,
}

pub(crate) fn status(status: &Status) -> WireStatus {
    WireStatus {
        id: status.id.clone(),
        name: status.name.clone(),
        color: status.color.clone(),
        created_at: timestamp(status.created_ms),
    }
}

/// `Prospect.platformData`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct PlatformData {
    is_verified_blue: bool,
    is_verified_gold: bool,
    is_verified_gray: bool,
    professional_category: Option<String>,
    url_entities: Vec<UrlEntity>,
    banner_url: Option<String>,
    tweets_count: u64,
    favorites_count: u64,
    raw_data: Option<Value>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct UrlEntity {
    url: String,
    expanded_url: String,
    display_url: String,
    indices: [u64; 2],
}

/// `Prospect` (profile data, no context).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct WireProspect {
    platform: &'static str,
    platform_id: String,
    external_id: Option<String>,
    document_id: Option<u64>,
    display_name: String,
    username: String,
    handle: String,
    image: Option<String>,
    image_normalized: Option<String>,
    bio: Option<String>,
    location: Option<&'static str>,
    profile_url: String,
    website_url: Option<String>,
    website_domain: Option<String>,
    verified: &'static str,
    profile_type: &'static str,
    is_protected: bool,
    follower_count: u64,
    following_count: u64,
    post_count: u64,
    engagement_count: Option<u64>,
    listed_count: Option<u64>,
    platform_created_at: Option<String>,
    first_seen_at: Option<String>,
    last_updated_at: String,
    last_enriched_at: Option<String>,
    last_active_at: Option<String>,
    source: &'static str,
    is_fresh: bool,
    is_stale: bool,
    confidence: f64,
    platform_data: PlatformData,
}

/// The CRM context: embedded in threads (no `threads`), in ProspectWithContext (with
/// `threads`), and in prospect event payloads (with `assigneeId`, as newer webhook docs show).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct WireContext {
    tags: Vec<String>,
    status_id: Option<String>,
    valuation: Option<Number>,
    notes: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    threads: Option<Vec<ContextThread>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    assignee_id: Option<Option<String>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ContextThread {
    id: String,
    account_link_id: String,
    last_message_timestamp: Option<String>,
    created_at: String,
}

/// `Prospect` + `context`.
#[derive(Debug, Serialize)]
pub(crate) struct WireProspectWithContext {
    #[serde(flatten)]
    prospect: WireProspect,
    context: WireContext,
}

/// Cheap deterministic mixing for the derived profile fields.
fn mix(seed: u64, salt: u64) -> u64 {
    let mut z = seed ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

const LOCATIONS: &[&str] = &[
    "San Francisco, CA",
    "New York",
    "London, UK",
    "Berlin",
    "Austin, TX",
    "Remote",
    "São Paulo",
    "Toronto",
];

fn profile(model: &Model, p: usize, now_ms: i64) -> WireProspect {
    let prospect = &model.prospects[p];
    let seed = prospect.profile_seed;
    let r = |salt: u64, modulo: u64| mix(seed, salt) % modulo;
    let has_site = r(1, 3) == 0;
    let site_domain = format!("{}.example.com", prospect.username);
    let age_ms = now_ms - prospect.last_updated_ms;
    let is_fresh = age_ms <= 7 * 86_400_000;
    let is_stale = age_ms > 30 * 86_400_000;
    let followers = r(2, 50_000);
    let posts = r(3, 20_000);
    let favorites = r(4, 40_000);
    let avatar = format!(
        "https://pbs.twimg.com/profile_images/{}/avatar.jpg",
        prospect.platform_id
    );
    let (verified, blue, gold) = match r(5, 20) {
        0 => ("verified", true, false),
        1 => ("business", false, true),
        _ => ("none", false, false),
    };
    WireProspect {
        platform: "twitter",
        platform_id: prospect.platform_id.clone(),
        external_id: Some(prospect.external_id.clone()),
        document_id: (r(6, 5) != 0).then(|| 100_000_000 + r(7, 900_000_000)),
        display_name: prospect.display_name.clone(),
        username: prospect.username.clone(),
        handle: format!("@{}", prospect.username),
        image: Some(format!("{avatar}_normal")),
        image_normalized: Some(avatar),
        bio: (r(8, 4) != 0)
            .then(|| format!("Building things at {}. Opinions my own.", site_domain)),
        location: (r(9, 3) != 0).then(|| LOCATIONS[r(10, LOCATIONS.len() as u64) as usize]),
        profile_url: format!("https://x.com/{}", prospect.username),
        website_url: has_site.then(|| format!("https://{site_domain}")),
        website_domain: has_site.then(|| site_domain.clone()),
        verified,
        profile_type: if gold { "business" } else { "personal" },
        is_protected: r(11, 25) == 0,
        follower_count: followers,
        following_count: r(12, 3_000),
        post_count: posts,
        engagement_count: Some(favorites),
        listed_count: Some(r(13, 200)),
        platform_created_at: Some(timestamp(prospect.platform_created_ms)),
        first_seen_at: Some(timestamp(prospect.first_seen_ms)),
        last_updated_at: timestamp(prospect.last_updated_ms),
        last_enriched_at: Some(timestamp(prospect.last_updated_ms)),
        last_active_at: (r(14, 4) != 0).then(|| timestamp(prospect.last_updated_ms - 3_600_000)),
        source: "cached",
        is_fresh,
        is_stale,
        confidence: if is_fresh {
            0.95
        } else if is_stale {
            0.45
        } else {
            0.8
        },
        platform_data: PlatformData {
            is_verified_blue: blue,
            is_verified_gold: gold,
            is_verified_gray: false,
            professional_category: gold.then(|| "986".to_owned()),
            url_entities: if has_site {
                vec![UrlEntity {
                    url: format!("https://t.co/{}", &prospect.external_id[..10]),
                    expanded_url: format!("https://{site_domain}"),
                    display_url: site_domain.clone(),
                    indices: [0, 23],
                }]
            } else {
                Vec::new()
            },
            banner_url: None,
            tweets_count: posts,
            favorites_count: favorites,
            raw_data: None,
        },
    }
}

fn context(model: &Model, p: usize) -> WireContext {
    let prospect = &model.prospects[p];
    WireContext {
        tags: prospect.tag_ids.clone(),
        status_id: prospect.status_id.clone(),
        valuation: prospect.valuation.clone(),
        notes: prospect.notes.clone(),
        threads: None,
        assignee_id: None,
    }
}

/// `ProspectWithContext` including `context.threads` (GET/PATCH prospect, lookup).
pub(crate) fn prospect_with_context(model: &Model, p: usize) -> WireProspectWithContext {
    let mut context = context(model, p);
    let threads = model.prospects[p]
        .threads
        .iter()
        .map(|&t| {
            let thread = &model.threads[t];
            ContextThread {
                id: thread.id.clone(),
                account_link_id: model.account_links[thread.account_link].id.clone(),
                last_message_timestamp: thread
                    .last_message
                    .as_ref()
                    .map(|m| timestamp(m.created_ms)),
                created_at: timestamp(thread.created_ms),
            }
        })
        .collect();
    context.threads = Some(threads);
    WireProspectWithContext {
        prospect: profile(model, p, now_ms()),
        context,
    }
}

/// The prospect as carried by `prospect.*` event payloads: context after the change, plus
/// `assigneeId` = the assignee shared by all its threads, or null when none or they disagree.
pub(crate) fn event_prospect(model: &Model, p: usize) -> WireProspectWithContext {
    let mut context = context(model, p);
    let mut assignees = model.prospects[p]
        .threads
        .iter()
        .map(|&t| model.threads[t].assignee_id.clone());
    let first = assignees.next().flatten();
    let shared = if assignees.all(|a| a == first) {
        first
    } else {
        None
    };
    context.assignee_id = Some(shared);
    WireProspectWithContext {
        prospect: profile(model, p, now_ms()),
        context,
    }
}

/// `Thread.lastMessage`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct WireLastMessage {
    id: String,
    content: String,
    author_id: String,
    created_at: String,
    user_id: Option<String>,
    campaign_id: Option<String>,
}

/// `Thread`, with the embedded prospect (context without `threads`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireThread {
    id: String,
    platform: &'static str,
    platform_id: String,
    done: bool,
    assignee_id: Option<String>,
    last_message_timestamp: Option<String>,
    computed_sort_timestamp: Option<String>,
    created_at: String,
    status: &'static str,
    variant: &'static str,
    account_link_id: String,
    is_syncing: bool,
    is_request: bool,
    typing_indicators_enabled: Option<bool>,
    last_message: Option<WireLastMessage>,
    prospect: WireProspectWithContext,
}

/// Renders thread `t`.
pub(crate) fn thread(model: &Model, t: usize) -> WireThread {
    thread_at(model, t, now_ms())
}

/// Renders thread `t` with a caller-supplied "now" (for the freshness flags).
pub(crate) fn thread_at(model: &Model, t: usize, now_ms: i64) -> WireThread {
    let thread = &model.threads[t];
    let link = &model.account_links[thread.account_link];
    let prospect = &model.prospects[thread.prospect];
    let last_message = thread.last_message.as_ref().map(|m| WireLastMessage {
        id: m.id.clone(),
        content: m.content.clone(),
        author_id: if m.inbound {
            prospect.external_id.clone()
        } else {
            link.id.clone()
        },
        created_at: timestamp(m.created_ms),
        user_id: m.user_id.clone(),
        campaign_id: None,
    });
    WireThread {
        id: thread.id.clone(),
        platform: "twitter",
        platform_id: thread.platform_id.clone(),
        done: thread.done,
        assignee_id: thread.assignee_id.clone(),
        last_message_timestamp: thread
            .last_message
            .as_ref()
            .map(|m| timestamp(m.created_ms)),
        computed_sort_timestamp: Some(timestamp(thread.sort_ms())),
        created_at: timestamp(thread.created_ms),
        status: if thread.idle { "idle" } else { "active" },
        variant: if thread.xchat { "xChat" } else { "unencrypted" },
        account_link_id: link.id.clone(),
        is_syncing: thread.is_syncing,
        is_request: thread.is_request,
        typing_indicators_enabled: thread.typing_indicators,
        last_message,
        prospect: WireProspectWithContext {
            prospect: profile(model, thread.prospect, now_ms),
            context: context(model, thread.prospect),
        },
    }
}

/// `GET /threads` response.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireThreadPage {
    pub threads: Vec<WireThread>,
    pub next_cursor: Option<WireCursor>,
}

/// `nextCursor`.
#[derive(Debug, Serialize)]
pub(crate) struct WireCursor {
    pub timestamp: String,
    pub id: String,
}

/// The last message of thread `t` as a full `Message` (for `message.created` payloads).
pub(crate) fn message(model: &Model, t: usize) -> Value {
    let thread = &model.threads[t];
    let prospect = &model.prospects[thread.prospect];
    let Some(m) = &thread.last_message else {
        return Value::Null;
    };
    serde_json::json!({
        "platform": "twitter",
        "teamId": model.team.id,
        "threadId": thread.id,
        "id": m.id,
        "userId": m.user_id,
        "createdAt": timestamp(m.created_ms),
        "updatedAt": null,
        "platformId": format!("{}", 1_900_000_000_000_000_000u64 + (m.created_ms as u64 % 1_000_000_000)),
        "content": m.content,
        "campaignId": null,
        "authorId": if m.inbound { prospect.external_id.clone() } else { model.account_links[thread.account_link].id.clone() },
        "origin": "external",
        "replyData": null,
        "forwardData": null,
        "entities": null,
        "attachment": null,
        "reactions": [],
        "isEncrypted": thread.xchat,
        "isEdited": false,
        "deletedAt": null,
        "platformDeletedAt": null,
    })
}

/// The shapes the model's events carry ([`Model::empty`]).
pub(crate) const EVENT_SHAPES: EventShapes = EventShapes {
    prospect: |model, p| to_value(event_prospect(model, p)),
    thread: |model, t| to_value(thread(model, t)),
    message,
    tag: |t| to_value(tag(t)),
};

/// A wire shape as a JSON value (these shapes always serialize).
fn to_value(shape: impl Serialize) -> Value {
    serde_json::to_value(shape).unwrap_or(Value::Null)
}
