//! JSON wire shapes of the fake Inbox v2 and their rendering from the model, written from the
//! contract (docs/inbox-api-v2.md §3.2): every documented field present, `null` where a value
//! does not apply, timestamps as ISO 8601 UTC with milliseconds.
//!
//! These types are the fake's own: this crate shares nothing with any client, so that the two
//! cross-check each other against the docs. No undocumented keys may be added. An expansion
//! whose reference is null (`assignee` of an unassigned thread, `status` of a contact without
//! one) is left out: the schema types those keys as objects, never null.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde_json::{Number, Value, json};

use crate::common::timestamp;

use super::request::Expand;
use super::state::{AccountLink, Member, Model, Platform, Status, Tag};

/// A `{data, nextCursor}` page.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WirePage<T> {
    pub data: Vec<T>,
    pub next_cursor: Option<String>,
}

/// Capabilities the fake grants per platform (the account links have them all).
fn capabilities(platform: Platform) -> &'static [&'static str] {
    match platform {
        Platform::Twitter => &[
            "message:send",
            "message:edit",
            "message:delete:self",
            "message:react",
            "message:reply",
            "media:image",
            "media:video",
            "media:gif",
            "thread:typing:send",
            "thread:typing:receive",
            "thread:message-requests",
            "directory:typeahead",
            "thread:read:observe",
            "thread:read:mutate",
            "profile:follow",
            "profile:unfollow",
        ],
        Platform::LinkedIn => &[
            "message:send",
            "message:edit",
            "message:unsend",
            "message:react",
            "media:image",
            "media:file",
            "thread:typing:send",
            "thread:typing:receive",
            "thread:archive:observe",
            "thread:archive:mutate",
            "thread:read:observe",
            "thread:read:mutate",
        ],
    }
}

/// `PlatformInfo`.
pub(crate) fn platform_info(platform: Platform) -> Value {
    let (name, characters, archive) = match platform {
        Platform::Twitter => ("X", 10_000, Value::Null),
        Platform::LinkedIn => (
            "LinkedIn",
            8_000,
            json!({ "observe": true, "mutate": true }),
        ),
    };
    json!({
        "platform": platform.as_str(),
        "name": name,
        "usernamePrefix": platform.username_prefix(),
        "capabilities": capabilities(platform),
        "limits": {
            "characters": characters,
            "mediaCount": 1,
            "mediaBytes": 5_242_880,
            "mediaTypes": { "image": ["image/jpeg", "image/png"] },
        },
        "mutationWindows": { "message:edit": 900 },
        "threadState": {
            "archive": archive,
            "read": { "observe": true, "mutate": true },
        },
    })
}

/// `Color`s of the palette.
pub(crate) fn colors() -> Value {
    let colors = super::seed::PALETTE.iter();
    Value::Array(
        colors
            .map(|(name, hex)| json!({ "name": name, "hex": hex }))
            .collect(),
    )
}

/// `Team`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireTeam {
    id: String,
    name: String,
    slug: String,
    image_url: Option<String>,
    currency: &'static str,
    allow_support_access: bool,
    created_at: String,
}

pub(crate) fn team(model: &Model) -> WireTeam {
    WireTeam {
        id: model.team.id.clone(),
        name: model.team.name.clone(),
        slug: model.team.slug.clone(),
        image_url: None,
        currency: "USD",
        allow_support_access: false,
        created_at: timestamp(model.team.created_ms),
    }
}

/// `Member`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireMember {
    id: String,
    name: Option<String>,
    email: String,
    image_url: Option<String>,
    role: &'static str,
    created_at: String,
}

pub(crate) fn member(member: &Member) -> WireMember {
    WireMember {
        id: member.id.clone(),
        name: member.name.clone(),
        email: member.email.clone(),
        image_url: None,
        role: member.role,
        created_at: timestamp(member.created_ms),
    }
}

/// `AccountLink`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireAccountLink {
    id: String,
    platform: &'static str,
    platform_id: String,
    username: Option<String>,
    display_name: Option<String>,
    avatar_url: Option<String>,
    status: &'static str,
    pause_reasons: Vec<String>,
    capabilities: &'static [&'static str],
    synced_at: Option<String>,
    created_at: String,
}

pub(crate) fn account_link(link: &AccountLink) -> WireAccountLink {
    WireAccountLink {
        id: link.id.clone(),
        platform: link.platform.as_str(),
        platform_id: link.platform_id.clone(),
        username: link.username.clone(),
        display_name: link.display_name.clone(),
        avatar_url: None,
        status: "active",
        pause_reasons: Vec::new(),
        capabilities: capabilities(link.platform),
        synced_at: link.synced_ms.map(timestamp),
        created_at: timestamp(link.created_ms),
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

/// `Profile`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireProfile {
    id: String,
    platform: &'static str,
    platform_id: String,
    username: String,
    handle: String,
    display_name: String,
    avatar_url: Option<String>,
    bio: Option<String>,
    location: Option<String>,
    website_url: Option<String>,
    website_domain: Option<String>,
    verified: bool,
    is_organization: bool,
    is_protected: bool,
    follower_count: Option<u64>,
    following_count: Option<u64>,
    post_count: Option<u64>,
    engagement_count: Option<u64>,
    listed_count: Option<u64>,
    account_status: &'static str,
    platform_created_at: Option<String>,
    profile_url: Option<String>,
    updated_at: String,
    platform_data: Value,
}

const BIOS: &[&str] = &[
    "Founder @ a SaaS you haven't heard of yet.",
    "Growth, GTM and too much coffee.",
    "Building in public. DMs open.",
    "VP Sales. Opinions my own.",
];

pub(crate) fn profile(model: &Model, p: usize) -> WireProfile {
    let profile = &model.profiles[p];
    let mut rng = StdRng::seed_from_u64(profile.detail_seed);
    let x = profile.platform == Platform::Twitter;
    let website = rng.random_bool(0.4).then(|| {
        format!(
            "{}.example",
            profile.username.to_lowercase().replace('_', "-")
        )
    });
    let count = |rng: &mut StdRng, max: u64| Some(rng.random_range(0..max));
    let (followers, following, posts) = (
        count(&mut rng, 50_000),
        count(&mut rng, 5_000),
        count(&mut rng, 20_000),
    );
    let verified = rng.random_bool(0.1);
    let profile_url = match profile.platform {
        Platform::Twitter => format!("https://x.com/{}", profile.username),
        Platform::LinkedIn => format!("https://www.linkedin.com/in/{}", profile.username),
    };
    let platform_data = match profile.platform {
        Platform::Twitter => json!({
            "_tag": "twitter",
            "badge": if verified { json!("blue") } else { Value::Null },
            "profileType": "personal",
            "professionalCategory": null,
            "urlEntities": [],
            "bannerUrl": null,
            "rawData": null,
        }),
        Platform::LinkedIn => json!({ "_tag": "linkedin" }),
    };
    WireProfile {
        id: profile.id.clone(),
        platform: profile.platform.as_str(),
        platform_id: profile.platform_id.clone(),
        username: profile.username.clone(),
        handle: format!("{}{}", profile.platform.username_prefix(), profile.username),
        display_name: profile.display_name.clone(),
        avatar_url: Some(format!(
            "https://fake.inboxapp.test/avatars/{}.png",
            profile.id
        )),
        bio: rng
            .random_bool(0.7)
            .then(|| BIOS[rng.random_range(0..BIOS.len())].to_owned()),
        location: rng.random_bool(0.5).then(|| "Berlin, Germany".to_owned()),
        website_url: website.as_ref().map(|w| format!("https://{w}")),
        website_domain: website,
        verified,
        is_organization: false,
        is_protected: x && rng.random_bool(0.03),
        follower_count: followers,
        following_count: following,
        post_count: if x { posts } else { None },
        engagement_count: if x { count(&mut rng, 30_000) } else { None },
        listed_count: if x { count(&mut rng, 200) } else { None },
        account_status: "active",
        platform_created_at: Some(timestamp(profile.platform_created_ms)),
        profile_url: Some(profile_url),
        updated_at: timestamp(profile.updated_ms),
        platform_data,
    }
}

/// `Contact`, with the expansions asked for.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireContact {
    id: String,
    profiles: Vec<WireProfile>,
    status_id: Option<String>,
    tag_ids: Vec<String>,
    notes: Option<String>,
    valuation: Option<Number>,
    assignee_id: Option<String>,
    created_at: String,
    updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<WireStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tags: Option<Vec<WireTag>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    assignee: Option<WireMember>,
}

pub(crate) fn contact(model: &Model, c: usize, expand: Expand) -> WireContact {
    let contact = &model.contacts[c];
    WireContact {
        id: contact.id.clone(),
        profiles: contact
            .profiles
            .iter()
            .map(|&p| profile(model, p))
            .collect(),
        status_id: contact.status_id.clone(),
        tag_ids: contact.tag_ids.clone(),
        notes: contact.notes.clone(),
        valuation: contact.valuation.clone(),
        assignee_id: contact.assignee_id.clone(),
        created_at: timestamp(contact.created_ms),
        updated_at: timestamp(contact.updated_ms),
        status: contact
            .status_id
            .as_deref()
            .filter(|_| expand.status)
            .and_then(|id| model.status_by_id(id))
            .map(status),
        tags: expand.tags.then(|| {
            let tags = contact.tag_ids.iter().filter_map(|id| model.tag_by_id(id));
            tags.map(tag).collect()
        }),
        assignee: contact
            .assignee_id
            .as_deref()
            .filter(|_| expand.assignee)
            .and_then(|id| model.member_by_id(id))
            .map(member),
    }
}

/// `LastMessage`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireLastMessage {
    id: String,
    direction: &'static str,
    created_at: String,
}

/// `ThreadActivity`.
#[derive(Debug, Serialize)]
pub(crate) struct WireActivity {
    preview: Option<String>,
    direction: &'static str,
    at: String,
}

/// `Thread`, with the expansions asked for.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireThread {
    id: String,
    platform: &'static str,
    platform_id: Option<String>,
    account_link_id: String,
    profile_id: String,
    contact_id: String,
    assignee_id: Option<String>,
    is_request: bool,
    acceptance_state: &'static str,
    archived: bool,
    unread: bool,
    restrictions: Vec<&'static str>,
    syncing: bool,
    typing_indicators: &'static str,
    last_message: Option<WireLastMessage>,
    activity: Option<WireActivity>,
    created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_link: Option<WireAccountLink>,
    #[serde(skip_serializing_if = "Option::is_none")]
    profile: Option<WireProfile>,
    #[serde(skip_serializing_if = "Option::is_none")]
    contact: Option<WireContact>,
    #[serde(skip_serializing_if = "Option::is_none")]
    assignee: Option<WireMember>,
}

fn direction(inbound: bool) -> &'static str {
    if inbound { "inbound" } else { "outbound" }
}

pub(crate) fn thread(model: &Model, t: usize, expand: Expand) -> WireThread {
    let thread = &model.threads[t];
    let link = &model.account_links[thread.account_link];
    let c = model.thread_contact(t);
    let assignee_id = model.effective_assignee(t).map(str::to_owned);
    WireThread {
        id: thread.id.clone(),
        platform: link.platform.as_str(),
        platform_id: thread.platform_id.clone(),
        account_link_id: link.id.clone(),
        profile_id: model.profiles[thread.profile].id.clone(),
        contact_id: model.contacts[c].id.clone(),
        is_request: thread.is_request,
        acceptance_state: thread.acceptance_state,
        archived: thread.archived,
        unread: thread.unread,
        restrictions: Vec::new(),
        syncing: thread.syncing,
        typing_indicators: thread.typing_indicators,
        last_message: thread.last_message.as_ref().map(|m| WireLastMessage {
            id: m.id.clone(),
            direction: direction(m.inbound),
            created_at: timestamp(m.created_ms),
        }),
        activity: thread.last_message.as_ref().map(|m| WireActivity {
            preview: Some(m.preview.clone()),
            direction: direction(m.inbound),
            at: timestamp(m.created_ms),
        }),
        created_at: timestamp(thread.created_ms),
        account_link: expand.account_link.then(|| account_link(link)),
        profile: expand.profile.then(|| profile(model, thread.profile)),
        // The embedded contact carries no expansions of its own (`expand` takes one level).
        contact: expand.contact.then(|| contact(model, c, Expand::default())),
        assignee: assignee_id
            .as_deref()
            .filter(|_| expand.assignee)
            .and_then(|id| model.member_by_id(id))
            .map(member),
        assignee_id,
    }
}
