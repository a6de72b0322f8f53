//! Deterministic seeded data for the fake Inbox v2: the team, X and LinkedIn account links,
//! members, tags, statuses, contacts with one or more profiles (some on both platforms, a few
//! with two X profiles, a few with no thread at all), and their threads, all derived from
//! `FakeConfig::seed` and an anchor time.
//!
//! This module only builds a `Model`; it must not serve requests, emit events, or read the
//! clock (the caller passes the anchor). It must stay fast: 100,000 contacts in a couple of
//! seconds in debug builds.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Number;

use crate::common::{gen_id, letters};

use super::state::{
    AccountLink, Contact, Member, Message, Model, Platform, Profile, Status, Tag, Team, Thread,
};

const DAY_MS: i64 = 86_400_000;

/// The colour palette `GET /colors` lists: `(name, lowercase hex)`.
pub(crate) const PALETTE: &[(&str, &str)] = &[
    ("gray", "#6b7280"),
    ("red", "#ef4444"),
    ("orange", "#f97316"),
    ("amber", "#f59e0b"),
    ("yellow", "#eab308"),
    ("green", "#22c55e"),
    ("emerald", "#10b981"),
    ("teal", "#14b8a6"),
    ("sky", "#0ea5e9"),
    ("blue", "#3b82f6"),
    ("indigo", "#6366f1"),
    ("violet", "#8b5cf6"),
    ("purple", "#a855f7"),
    ("pink", "#ec4899"),
];

const MEMBERS: &[(&str, &str)] = &[
    ("Alice Moreno", "alice"),
    ("Ben Okafor", "ben"),
    ("Chloe Park", "chloe"),
    ("Dev Patel", "dev"),
    ("Eva Lindqvist", "eva"),
    ("Farid Haddad", "farid"),
];

/// Tag names include an accent and a slash, which path refs must URL-encode.
const TAGS: &[(&str, &str)] = &[
    ("VIP", "#ef4444"),
    ("Hot Lead", "#f97316"),
    ("Follow Up", "#f59e0b"),
    ("Partner", "#3b82f6"),
    ("Investor", "#a855f7"),
    ("Churn Risk", "#ec4899"),
    ("Conférence", "#10b981"),
    ("Q3/2026 Pipeline", "#14b8a6"),
];

const STATUSES: &[(&str, Option<&str>)] = &[
    ("Lead", Some("#3b82f6")),
    ("Interested", Some("#f59e0b")),
    ("Negotiating", Some("#8b5cf6")),
    ("Won", Some("#10b981")),
    ("Lost", None),
];

const FIRST_NAMES: &[&str] = &[
    "Jordan", "Maria", "Sam", "Priya", "Lukas", "Aisha", "Tom", "Mei", "Diego", "Hana", "Omar",
    "Sofia", "Kenji", "Zoe", "Ravi", "Léa", "Noah", "Amara", "Ivan", "Chen",
];

const LAST_NAMES: &[&str] = &[
    "Rivera",
    "Schmidt",
    "Nakamura",
    "Okoye",
    "Dubois",
    "Kowalski",
    "Haddad",
    "Silva",
    "Murphy",
    "Tanaka",
    "Novak",
    "Johansson",
    "Adeyemi",
    "García",
    "O'Brien",
    "Ng",
];

const NOTES: &[&str] = &[
    "Decision maker at TechCo.",
    "Met at SaaStr 2025.\nWants a demo in Q3.",
    "Intro via Maria.\nBudget approved, waiting on legal.",
    "Prefers email over DMs.",
    "Café owner — 3 locations ☕",
    "Uses a competitor, contract ends in March.",
];

const MESSAGES: &[&str] = &[
    "Hey! Thanks for reaching out 👋",
    "Sounds great, can you send over pricing?",
    "Let's set up a call next week.",
    "Following up on my last message.",
    "Not right now, maybe next quarter.",
    "Thanks, talk soon!",
];

/// How many account links of each platform to seed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Counts {
    pub contacts: usize,
    pub x_accounts: usize,
    pub linkedin_accounts: usize,
}

/// A name reduced to `[a-z0-9]` (accents folded, other characters dropped).
fn ascii_slug(name: &str) -> String {
    super::state::fold_name(name)
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect()
}

/// `word` with its first letter in upper case.
fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

/// A LinkedIn-style member id: `ACoAA` and 34 base-62 characters (never numeric).
fn linkedin_member_id(rng: &mut StdRng) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut id = String::from("ACoAA");
    for _ in 0..34 {
        id.push(char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]));
    }
    id
}

/// One person to seed instead of generated contacts ([`super::FakeConfig::people`]): a contact
/// with one X profile, its CRM fields by name, and its threads. Tags, statuses and member
/// e-mails the fake does not have are created.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SeedPerson {
    /// The X user id (the profile's `platformId`).
    pub x_user_id: String,
    /// The X username, without `@`.
    pub username: String,
    /// Display name.
    pub display_name: String,
    /// Tag names.
    pub tags: Vec<String>,
    /// Status name.
    pub status: Option<String>,
    /// Notes.
    pub notes: Option<String>,
    /// Valuation.
    pub valuation: Option<Number>,
    /// The threads, each on an X account link (round robin).
    pub threads: Vec<SeedThread>,
}

/// One thread of a [`SeedPerson`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeedThread {
    /// Archived.
    pub archived: bool,
    /// A message request.
    pub is_request: bool,
    /// E-mail of the thread's own assignee.
    pub assignee_email: Option<String>,
}

/// Builds the seeded model.
pub(crate) fn generate(counts: Counts, seed: u64, anchor_ms: i64, event_cap: usize) -> Model {
    let mut rng = StdRng::seed_from_u64(seed);
    let team = Team {
        id: gen_id(&mut rng),
        name: "Acme Agency (fake)".to_owned(),
        slug: "acme-agency-fake".to_owned(),
        created_ms: anchor_ms - 400 * DAY_MS,
    };
    // A team's log has been running for a while: its first retained event is far from seq 1.
    let first_seq = rng.random_range(10_000..50_000u64);
    let mut model = Model::empty(team, seed, event_cap, first_seq);

    let links = (0..counts.x_accounts)
        .map(|i| (Platform::Twitter, i))
        .chain((0..counts.linkedin_accounts).map(|i| (Platform::LinkedIn, i)));
    for (n, (platform, idx)) in links.enumerate() {
        let suffix = letters(idx);
        let (platform_id, username, display_name) = match platform {
            Platform::Twitter => (
                (1_566_123_362_161_725_440u64 + idx as u64 * 7_919).to_string(),
                format!("sales_{suffix}"),
                format!("Acme Sales {}", suffix.to_uppercase()),
            ),
            Platform::LinkedIn => (
                linkedin_member_id(&mut rng),
                format!("acme-sales-{suffix}"),
                format!("Acme Sales {} (LinkedIn)", suffix.to_uppercase()),
            ),
        };
        model.account_links.push(AccountLink {
            id: gen_id(&mut rng),
            platform,
            platform_id,
            username: Some(username),
            display_name: Some(display_name),
            created_ms: anchor_ms - (300 - n as i64 % 200) * DAY_MS,
            synced_ms: Some(anchor_ms - (299 - n as i64 % 200) * DAY_MS),
        });
    }

    let n_members = rng.random_range(4..=6usize);
    for (idx, (name, handle)) in MEMBERS.iter().take(n_members).enumerate() {
        model.members.push(Member {
            id: gen_id(&mut rng),
            name: Some((*name).to_owned()),
            email: format!("{handle}@acme-agency.example"),
            role: match idx {
                0 => "owner",
                1 => "admin",
                _ => "user",
            },
            created_ms: anchor_ms - (390 - idx as i64 * 20) * DAY_MS,
        });
    }
    for (name, color) in TAGS {
        model.tags.push(Tag {
            id: gen_id(&mut rng),
            name: (*name).to_owned(),
            color: (*color).to_owned(),
        });
    }
    for (idx, (name, color)) in STATUSES.iter().enumerate() {
        model.statuses.push(Status {
            id: gen_id(&mut rng),
            name: (*name).to_owned(),
            color: color.map(str::to_owned),
            created_ms: anchor_ms - (380 - idx as i64) * DAY_MS,
        });
    }

    model.contacts.reserve(counts.contacts);
    model.profiles.reserve(counts.contacts * 5 / 4 + 1);
    model.threads.reserve(counts.contacts * 3 / 2 + 1);
    let mut last_x_username: Option<String> = None;
    for idx in 0..counts.contacts {
        seed_contact(&mut rng, &mut model, idx, anchor_ms, &mut last_x_username);
    }
    model
}

/// The platforms of one contact's profiles, oldest link first.
fn pick_platforms(rng: &mut StdRng, model: &Model) -> Vec<Platform> {
    let has = |p: Platform| model.account_links.iter().any(|l| l.platform == p);
    let (x, linkedin) = (has(Platform::Twitter), has(Platform::LinkedIn));
    let roll: f64 = rng.random();
    let wanted = if roll < 0.60 {
        vec![Platform::Twitter]
    } else if roll < 0.78 {
        vec![Platform::LinkedIn]
    } else if roll < 0.96 {
        vec![Platform::Twitter, Platform::LinkedIn]
    } else {
        // One person with two X accounts, grouped in one contact.
        vec![Platform::Twitter, Platform::Twitter]
    };
    match (x, linkedin) {
        (true, false) => wanted.iter().map(|_| Platform::Twitter).take(1).collect(),
        (false, true) => vec![Platform::LinkedIn],
        _ => wanted,
    }
}

fn seed_contact(
    rng: &mut StdRng,
    model: &mut Model,
    idx: usize,
    anchor_ms: i64,
    last_x_username: &mut Option<String>,
) {
    let first = FIRST_NAMES[rng.random_range(0..FIRST_NAMES.len())];
    let last = LAST_NAMES[rng.random_range(0..LAST_NAMES.len())];
    let n_tags = [0, 0, 1, 1, 1, 2, 2, 3][rng.random_range(0..8)];
    let mut tag_ids: Vec<String> = Vec::with_capacity(n_tags);
    while tag_ids.len() < n_tags {
        let tag = &model.tags[rng.random_range(0..model.tags.len())];
        if !tag_ids.contains(&tag.id) {
            tag_ids.push(tag.id.clone());
        }
    }
    let status_id = rng.random_bool(0.7).then(|| {
        model.statuses[rng.random_range(0..model.statuses.len())]
            .id
            .clone()
    });
    let valuation = match rng.random_range(0..10) {
        0..=3 => None,
        4 | 5 => Number::from_f64(rng.random_range(10_000..5_000_000u64) as f64 / 100.0),
        _ => Some(Number::from(rng.random_range(1..200u64) * 500)),
    };
    let notes = rng
        .random_bool(0.5)
        .then(|| NOTES[rng.random_range(0..NOTES.len())].to_owned());
    let assignee_id = rng.random_bool(0.45).then(|| {
        model.members[rng.random_range(0..model.members.len())]
            .id
            .clone()
    });
    let created_ms = anchor_ms - rng.random_range(30 * DAY_MS..360 * DAY_MS);
    let contact = Contact {
        id: gen_id(rng),
        profiles: Vec::new(),
        tag_ids,
        status_id,
        notes,
        valuation,
        assignee_id,
        created_ms,
        updated_ms: created_ms + rng.random_range(0..20 * DAY_MS),
        threads: Vec::new(),
    };
    let c = model.push_contact(contact);

    let platforms = pick_platforms(rng, model);
    // A few contacts were imported and never talked to: profiles, no thread.
    let imported = rng.random_bool(0.03);
    for (k, platform) in platforms.into_iter().enumerate() {
        let display_name = format!("{first} {last}");
        let (platform_id, username) = match platform {
            Platform::Twitter => {
                let (first_slug, last_slug) = (ascii_slug(first), ascii_slug(last));
                let mut username = if rng.random_bool(0.2) {
                    // X keeps the case its user chose.
                    format!(
                        "{}{}{idx}",
                        capitalized(&first_slug),
                        capitalized(&last_slug)
                    )
                } else {
                    format!("{first_slug}{last_slug}{idx}")
                };
                if k > 0 {
                    username.push_str("_alt");
                }
                // Stale profile data: now and then two profiles carry one username.
                if let Some(previous) = last_x_username.as_ref()
                    && rng.random_bool(0.01)
                {
                    username = previous.clone();
                }
                *last_x_username = Some(username.clone());
                let platform_id = (17_000_000_000_000u64 * (idx as u64 + 1)
                    + k as u64 * 7
                    + rng.random_range(0..1_000_000_000_000u64))
                .to_string();
                (platform_id, username)
            }
            Platform::LinkedIn => {
                let slug = format!(
                    "{}-{}-{:06x}",
                    ascii_slug(first),
                    ascii_slug(last),
                    rng.random_range(0..0x100_0000u32)
                );
                (linkedin_member_id(rng), slug)
            }
        };
        let profile = Profile {
            id: gen_id(rng),
            platform,
            platform_id,
            username,
            display_name,
            contact: c,
            updated_ms: anchor_ms - rng.random_range(0..60 * DAY_MS),
            platform_created_ms: anchor_ms - rng.random_range(400 * DAY_MS..4_000 * DAY_MS),
            detail_seed: rng.random(),
        };
        let p = model.push_profile(profile);
        if !imported {
            seed_threads(rng, model, p, created_ms, anchor_ms);
        }
    }
}

/// Threads of profile `p` on one or two account links of its platform.
fn seed_threads(rng: &mut StdRng, model: &mut Model, p: usize, contact_ms: i64, anchor_ms: i64) {
    let platform = model.profiles[p].platform;
    let links: Vec<usize> = (0..model.account_links.len())
        .filter(|&l| model.account_links[l].platform == platform)
        .collect();
    if links.is_empty() {
        return;
    }
    let wanted = if links.len() > 1 && rng.random_bool(0.3) {
        2
    } else {
        1
    };
    let start = rng.random_range(0..links.len());
    for k in 0..wanted {
        let link = links[(start + k) % links.len()];
        let roll: f64 = rng.random();
        let (archived, is_request) = if roll < 0.08 {
            (false, true)
        } else if roll < 0.23 {
            (true, false)
        } else {
            (false, false)
        };
        let own_assignee = (!is_request && rng.random_bool(0.2)).then(|| {
            model.members[rng.random_range(0..model.members.len())]
                .id
                .clone()
        });
        let created_ms = contact_ms.max(anchor_ms - 200 * DAY_MS) + rng.random_range(0..DAY_MS);
        let has_messages = !rng.random_bool(0.03);
        let last_message = has_messages.then(|| Message {
            id: gen_id(rng),
            inbound: is_request || rng.random_bool(0.5),
            preview: MESSAGES[rng.random_range(0..MESSAGES.len())].to_owned(),
            created_ms: (created_ms + rng.random_range(0..60 * DAY_MS)).min(anchor_ms - 60_000),
        });
        let activity_ms = last_message.as_ref().map(|m| m.created_ms);
        // A few threads keep a reminder's boost: their position is ahead of their activity.
        let boost = if rng.random_bool(0.03) {
            rng.random_range(0..DAY_MS)
        } else {
            0
        };
        let rank = activity_ms.unwrap_or(created_ms) + boost;
        let platform_id = last_message.as_ref().map(|_| match platform {
            Platform::Twitter => {
                let (a, b) = (
                    &model.account_links[link].platform_id,
                    &model.profiles[p].platform_id,
                );
                let (x, y) = (
                    a.parse::<u128>().unwrap_or(0),
                    b.parse::<u128>().unwrap_or(0),
                );
                if x <= y {
                    format!("{a}:{b}")
                } else {
                    format!("{b}:{a}")
                }
            }
            Platform::LinkedIn => format!("2-{}", gen_id(rng)),
        });
        let thread = Thread {
            id: gen_id(rng),
            platform_id,
            account_link: link,
            profile: p,
            own_assignee,
            is_request,
            acceptance_state: match (platform, is_request) {
                (Platform::Twitter, true) => "required",
                (Platform::Twitter, false) => "notRequired",
                (Platform::LinkedIn, _) => "unknown",
            },
            archived,
            unread: rng.random_bool(0.1),
            syncing: rng.random_bool(0.02),
            typing_indicators: "teamDefault",
            sticky: false,
            last_message,
            created_ms,
            rank,
        };
        model.push_thread(thread);
    }
}

/// Replaces the generated contacts with `people` (see [`SeedPerson`]).
pub(crate) fn seed_people(model: &mut Model, people: &[SeedPerson], anchor_ms: i64) {
    model.contacts.clear();
    model.profiles.clear();
    model.threads.clear();
    model.contact_by_id.clear();
    model.thread_by_id.clear();
    model.profile_by_platform_id.clear();
    model.profiles_by_username.clear();
    model.inbox_order.clear();
    let x_links: Vec<usize> = (0..model.account_links.len())
        .filter(|&l| model.account_links[l].platform == Platform::Twitter)
        .collect();
    assert!(
        !x_links.is_empty(),
        "seeding people needs an X account link"
    );
    let mut next_link = 0;
    for (idx, person) in people.iter().enumerate() {
        let created_ms = anchor_ms - (100 + idx as i64 % 200) * DAY_MS;
        let tag_ids = person.tags.iter().map(|t| tag_id(model, t)).collect();
        let status_id = person
            .status
            .as_ref()
            .map(|s| status_id(model, s, anchor_ms));
        let id = model.new_id();
        let c = model.push_contact(Contact {
            id,
            profiles: Vec::new(),
            tag_ids,
            status_id,
            notes: person.notes.clone(),
            valuation: person.valuation.clone(),
            assignee_id: None,
            created_ms,
            updated_ms: created_ms,
            threads: Vec::new(),
        });
        let profile = Profile {
            id: model.new_id(),
            platform: Platform::Twitter,
            platform_id: person.x_user_id.clone(),
            username: person.username.clone(),
            display_name: person.display_name.clone(),
            contact: c,
            updated_ms: created_ms,
            platform_created_ms: created_ms - 400 * DAY_MS,
            detail_seed: idx as u64,
        };
        let p = model.push_profile(profile);
        for (k, thread) in person.threads.iter().enumerate() {
            let link = x_links[next_link % x_links.len()];
            next_link += 1;
            let own_assignee =
                (thread.assignee_email.as_ref()).map(|e| member_id(model, e, anchor_ms));
            let at_ms = created_ms + (k as i64 + 1) * 60_000;
            let message_id = model.new_id();
            let thread_id = model.new_id();
            model.push_thread(Thread {
                id: thread_id,
                platform_id: Some(format!(
                    "{}:{}",
                    model.account_links[link].platform_id, person.x_user_id
                )),
                account_link: link,
                profile: p,
                own_assignee,
                is_request: thread.is_request,
                acceptance_state: if thread.is_request {
                    "required"
                } else {
                    "notRequired"
                },
                archived: thread.archived,
                unread: false,
                syncing: false,
                typing_indicators: "teamDefault",
                sticky: false,
                last_message: Some(Message {
                    id: message_id,
                    inbound: true,
                    preview: MESSAGES[idx % MESSAGES.len()].to_owned(),
                    created_ms: at_ms,
                }),
                created_ms: at_ms,
                rank: at_ms,
            });
        }
    }
}

/// The id of the tag named `name`, created if the fake has none (one spelled otherwise, say
/// without its accent, takes this spelling).
fn tag_id(model: &mut Model, name: &str) -> String {
    if let Some(t) = model.tag_by_ref(name) {
        name.clone_into(&mut model.tags[t].name);
        return model.tags[t].id.clone();
    }
    let id = model.new_id();
    let color = PALETTE[model.tags.len() % PALETTE.len()].1.to_owned();
    model.tags.push(Tag {
        id: id.clone(),
        name: name.to_owned(),
        color,
    });
    id
}

/// The id of the status named `name`, created if the fake has none (or renamed, as tags).
fn status_id(model: &mut Model, name: &str, anchor_ms: i64) -> String {
    if let Some(s) = model.status_by_ref(name) {
        name.clone_into(&mut model.statuses[s].name);
        return model.statuses[s].id.clone();
    }
    let id = model.new_id();
    model.statuses.push(Status {
        id: id.clone(),
        name: name.to_owned(),
        color: None,
        created_ms: anchor_ms - 300 * DAY_MS,
    });
    id
}

/// The id of the member with `email`, created if the fake has none.
fn member_id(model: &mut Model, email: &str, anchor_ms: i64) -> String {
    if let Some(m) = model
        .members
        .iter()
        .find(|m| m.email.eq_ignore_ascii_case(email))
    {
        return m.id.clone();
    }
    let id = model.new_id();
    model.members.push(Member {
        id: id.clone(),
        name: None,
        email: email.to_owned(),
        role: "user",
        created_ms: anchor_ms - 300 * DAY_MS,
    });
    id
}
