//! Deterministic seeded data for the fake Inbox: account links, members, tags, statuses,
//! prospects and their threads, all derived from `FakeConfig::seed` and an anchor time.
//!
//! This module only builds a `Model`; it must not serve requests, emit events, or read the
//! clock (the caller passes the anchor). It must stay fast: 100,000 prospects in well under a
//! second in release builds and a couple of seconds in debug builds.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Number;

use crate::common::{gen_id, letters};

use super::state::{AccountLink, LastMessage, Member, Model, Prospect, Status, Tag, Team, Thread};

const DAY_MS: i64 = 86_400_000;

const MEMBERS: &[(&str, &str)] = &[
    ("Alice Moreno", "alice"),
    ("Ben Okafor", "ben"),
    ("Chloe Park", "chloe"),
    ("Dev Patel", "dev"),
    ("Eva Lindqvist", "eva"),
    ("Farid Haddad", "farid"),
];

const TAGS: &[(&str, &str)] = &[
    ("VIP", "#ef4444"),
    ("Hot Lead", "red"),
    ("Follow Up", "amber"),
    ("Partner", "#3b82f6"),
    ("Investor", "purple"),
    ("Churn Risk", "#f97316"),
    ("Newsletter", "teal"),
    ("Conference", "#10b981"),
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
    "Follow up after the holidays.\n\n- pricing sent\n- asked for SOC2 report",
    "Café owner — 3 locations ☕",
    "Not interested right now; revisit in 6 months.",
    "Uses a competitor, contract ends in March.",
];

const MESSAGES: &[&str] = &[
    "Hey! Thanks for reaching out 👋",
    "Sounds great, can you send over pricing?",
    "Let's set up a call next week.",
    "Following up on my last message.",
    "Not right now, maybe next quarter.",
    "Sure, here is my calendar link.",
    "Can you tell me more about the integration?",
    "Thanks, talk soon!",
];

/// `"{smaller}:{larger}"` of two numeric X user ids.
fn conversation_id(a: &str, b: &str) -> String {
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

/// Thread state for one thread: (done, is_request).
fn pick_category(rng: &mut StdRng) -> (bool, bool) {
    let roll: f64 = rng.random();
    if roll < 0.08 {
        (false, true)
    } else if roll < 0.23 {
        (true, false)
    } else {
        (false, false)
    }
}

/// Builds the seeded model. `accounts` is at least 1.
pub(crate) fn generate(prospects: usize, accounts: usize, seed: u64, anchor_ms: i64) -> Model {
    let mut rng = StdRng::seed_from_u64(seed);
    let accounts = accounts.max(1);
    let team = Team {
        id: gen_id(&mut rng),
        name: "Acme Agency (fake)".to_owned(),
        slug: "acme-agency-fake".to_owned(),
        created_ms: anchor_ms - 400 * DAY_MS,
    };
    let mut model = Model::empty(team, seed, super::wire::EVENT_SHAPES);

    for idx in 0..accounts {
        let suffix = letters(idx);
        model.account_links.push(AccountLink {
            id: gen_id(&mut rng),
            platform_id: (1_566_123_362_161_725_440u64 + idx as u64 * 7_919).to_string(),
            name: format!("Sales {}", suffix.to_uppercase()),
            username: format!("sales_{suffix}"),
            created_ms: anchor_ms - (300 - idx as i64 % 200) * DAY_MS,
            synced_ms: Some(anchor_ms - (299 - idx as i64 % 200) * DAY_MS),
        });
    }

    let n_members = rng.random_range(4..=6usize);
    for (idx, (name, handle)) in MEMBERS.iter().take(n_members).enumerate() {
        model.members.push(Member {
            id: gen_id(&mut rng),
            user_id: gen_id(&mut rng),
            name: Some((*name).to_owned()),
            email: format!("{handle}@acme-agency.example"),
            role: match idx {
                0 => "owner",
                1 => "admin",
                _ => "user",
            },
            created_ms: anchor_ms - (390 - idx as i64 * 20) * DAY_MS,
            updated_ms: (idx % 2 == 0).then_some(anchor_ms - 30 * DAY_MS),
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

    model.prospects.reserve(prospects);
    model.threads.reserve(prospects * 3 / 2 + 1);
    let mut previous_sort_ms: Option<i64> = None;
    for idx in 0..prospects {
        let prospect = seed_prospect(&mut rng, &model, idx, anchor_ms);
        let p = model.prospects.len();
        model
            .prospect_by_external
            .insert(prospect.external_id.clone(), p);
        model
            .prospect_by_platform
            .insert(prospect.platform_id.clone(), p);
        model.prospects.push(prospect);
        seed_threads(&mut rng, &mut model, p, anchor_ms, &mut previous_sort_ms);
    }
    model
}

fn seed_prospect(rng: &mut StdRng, model: &Model, idx: usize, anchor_ms: i64) -> Prospect {
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
    let platform_id = (17_000_000_000_000u64 * (idx as u64 + 1)
        + rng.random_range(0..1_000_000_000_000u64))
    .to_string();
    Prospect {
        external_id: gen_id(rng),
        platform_id,
        username: format!("lead{idx:05}"),
        display_name: format!("{first} {last}"),
        tag_ids,
        status_id,
        valuation,
        notes,
        first_seen_ms: anchor_ms,
        last_updated_ms: anchor_ms - rng.random_range(0..60 * DAY_MS),
        platform_created_ms: anchor_ms - rng.random_range(400 * DAY_MS..4_000 * DAY_MS),
        profile_seed: rng.random(),
        threads: Vec::new(),
    }
}

fn seed_threads(
    rng: &mut StdRng,
    model: &mut Model,
    p: usize,
    anchor_ms: i64,
    previous_sort_ms: &mut Option<i64>,
) {
    let accounts = model.account_links.len();
    let wanted = if rng.random_bool(0.35) {
        rng.random_range(2..=3usize)
    } else {
        1
    };
    let n_threads = wanted.min(accounts);
    // Distinct account links: a random start and stride-1 walk.
    let start = rng.random_range(0..accounts);
    // Multi-thread prospects mostly agree (the fan-out keeps them aligned); some disagree.
    let disagree = n_threads > 1 && rng.random_bool(0.25);
    let (shared_done, shared_request) = pick_category(rng);
    let shared_assignee = rng.random_bool(0.55).then(|| {
        model.members[rng.random_range(0..model.members.len())]
            .id
            .clone()
    });
    for k in 0..n_threads {
        let link = (start + k) % accounts;
        let (done, is_request, assignee_id) = if disagree {
            let (done, is_request) = pick_category(rng);
            let assignee = rng.random_bool(0.5).then(|| {
                model.members[rng.random_range(0..model.members.len())]
                    .id
                    .clone()
            });
            (done, is_request, assignee)
        } else {
            (shared_done, shared_request, shared_assignee.clone())
        };
        let assignee_id = if is_request { None } else { assignee_id };
        let sort_ms = match *previous_sort_ms {
            // A few exact ties exercise the id tie-breaker of the keyset.
            Some(prev) if rng.random_bool(0.02) => prev,
            _ => anchor_ms - rng.random_range(DAY_MS / 24..180 * DAY_MS),
        };
        *previous_sort_ms = Some(sort_ms);
        let has_messages = !rng.random_bool(0.03);
        let created_ms = if has_messages {
            sort_ms - rng.random_range(0..90 * DAY_MS)
        } else {
            sort_ms
        };
        let last_message = has_messages.then(|| {
            let inbound = is_request || rng.random_bool(0.5);
            LastMessage {
                id: gen_id(rng),
                content: MESSAGES[rng.random_range(0..MESSAGES.len())].to_owned(),
                inbound,
                user_id: (!inbound && rng.random_bool(0.7)).then(|| {
                    model.members[rng.random_range(0..model.members.len())]
                        .user_id
                        .clone()
                }),
                created_ms: sort_ms,
            }
        });
        let prospect = &mut model.prospects[p];
        prospect.first_seen_ms = prospect.first_seen_ms.min(created_ms);
        let platform_id = conversation_id(
            &model.account_links[link].platform_id,
            &model.prospects[p].platform_id,
        );
        let thread = Thread {
            id: gen_id(rng),
            platform_id,
            account_link: link,
            prospect: p,
            done,
            assignee_id,
            last_message,
            created_ms,
            is_request,
            is_syncing: rng.random_bool(0.02),
            xchat: rng.random_bool(0.7),
            typing_indicators: None,
            idle: false,
        };
        model.push_thread(thread);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::time::{Duration, Instant};

    use super::*;

    #[test]
    fn seeding_is_deterministic_and_realistic() {
        let anchor = 1_760_000_000_000;
        let a = generate(2_000, 3, 7, anchor);
        let b = generate(2_000, 3, 7, anchor);
        let c = generate(2_000, 3, 8, anchor);
        let key = |m: &Model| -> Vec<String> { m.threads.iter().map(|t| t.id.clone()).collect() };
        assert_eq!(key(&a), key(&b));
        assert_ne!(key(&a), key(&c));
        let n = a.threads.len() as f64;
        let per_prospect = n / 2_000.0;
        assert!((1.3..1.7).contains(&per_prospect), "{per_prospect}");
        let requests = a.threads.iter().filter(|t| t.is_request && !t.done).count() as f64 / n;
        let archived = a.threads.iter().filter(|t| t.done).count() as f64 / n;
        assert!((0.05..0.12).contains(&requests), "{requests}");
        assert!((0.10..0.20).contains(&archived), "{archived}");
        let disagree = a.prospects.iter().any(|p| {
            let first = &a.threads[p.threads[0]];
            p.threads[1..].iter().any(|&t| {
                a.threads[t].assignee_id != first.assignee_id || a.threads[t].done != first.done
            })
        });
        assert!(disagree);
        for p in &a.prospects {
            let links: HashSet<_> = p
                .threads
                .iter()
                .map(|&t| a.threads[t].account_link)
                .collect();
            assert_eq!(
                links.len(),
                p.threads.len(),
                "threads on distinct account links"
            );
            assert_eq!(p.username, p.username.to_lowercase());
            assert!(p.platform_id.bytes().all(|b| b.is_ascii_digit()));
        }
        assert!(
            a.prospects
                .iter()
                .any(|p| p.notes.as_deref().is_some_and(|n| n.contains('\n')))
        );
        assert!(
            a.prospects
                .iter()
                .any(|p| p.valuation.as_ref().is_some_and(|v| v.is_f64()))
        );
        assert_eq!(a.prospects[42].username, "lead00042");
        assert!((4..=6).contains(&a.members.len()));
        assert_eq!(a.statuses.len(), 5);
    }

    #[test]
    fn seeding_100k_prospects_is_fast() {
        let started = Instant::now();
        let model = generate(100_000, 3, 1, 1_760_000_000_000);
        assert_eq!(model.prospects.len(), 100_000);
        // Debug builds are ~10x slower than release; this bound is for the debug test profile.
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
    }
}
