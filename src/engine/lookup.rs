//! The edges of matching that need Inbox: prospects with no thread in any view (found by X id
//! with `GET /prospects/lookup`, or by id for links whose prospect left every view), and the
//! CRM records to create for unlinked prospects.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::config::CreateRecords;
use crate::crm::{CrmRecord, NewRecord};
use crate::inbox::Inbox;
use crate::reconcile::{Field, Fields};
use crate::store::{MirrorProspect, ProfileRow, ProspectKeys, Store};

use super::budget::RequestBudget;
use super::inputs::{Names, inbox_side};
use super::matching::{
    IdentityKind, LINKEDIN_PLATFORM, X_PLATFORM, normalize_username, record_identities,
};
use super::sorted::SortedCursor;
use super::{Context, RunOptions};

/// How long a lookup miss is trusted before the X id is looked up again.
const LOOKUP_MISS_TTL_DAYS: i64 = 7;

/// CRM records to create for unlinked prospects, per `[crm] create_records`, each with every
/// identity its contact has: the X id and handle the mirror row holds, and the LinkedIn id and
/// slug of its LinkedIn profile in `profiles` (the first by id if it has several).
pub(super) fn planned_creates(
    ctx: &Context,
    unlinked: &[&MirrorProspect],
    profiles: &[ProfileRow],
    names: &Names,
    fields: &BTreeSet<Field>,
) -> Vec<(String, NewRecord)> {
    let mut linkedin: HashMap<&str, &ProfileRow> = HashMap::new();
    for p in profiles.iter().filter(|p| p.platform == LINKEDIN_PLATFORM) {
        linkedin
            .entry(p.contact_id.as_str())
            .and_modify(|first| {
                if p.platform_id < first.platform_id {
                    *first = p;
                }
            })
            .or_insert(p);
    }
    let wanted = |tags: &BTreeSet<String>| match ctx.config.crm.create_records {
        CreateRecords::None => false,
        CreateRecords::All => true,
        CreateRecords::Tagged => ctx
            .config
            .crm
            .create_tag
            .as_ref()
            .is_some_and(|t| tags.iter().any(|x| x.eq_ignore_ascii_case(t))),
    };
    let reverse_status: HashMap<&str, &str> = ctx
        .config
        .mapping
        .status
        .iter()
        .map(|(inbox, crm)| (inbox.as_str(), crm.as_str()))
        .collect();
    let mut out = Vec::new();
    for &m in unlinked {
        let side = inbox_side(m, names);
        if !wanted(&side.fields.tags) {
            continue;
        }
        let mut values = Fields::default();
        for field in fields {
            match field {
                Field::Status => {
                    values.status = side
                        .fields
                        .status
                        .as_deref()
                        .map(|s| reverse_status.get(s).copied().unwrap_or(s).to_string())
                }
                Field::Assignee | Field::Done => {
                    // Only when every thread agrees (one prospect-level value).
                    let first = side.threads.first();
                    let agree = |f: &dyn Fn(&crate::reconcile::ThreadState) -> String| {
                        side.threads.iter().all(|t| Some(f(t)) == first.map(f))
                    };
                    if let Some(first) = first {
                        if *field == Field::Assignee && agree(&|t| format!("{:?}", t.assignee)) {
                            values.assignee = first.assignee.clone();
                        }
                        if *field == Field::Done && agree(&|t| t.done.to_string()) {
                            values.done = Some(first.done);
                        }
                    }
                }
                other => values.set(side.fields.get(*other)),
            }
        }
        out.push((
            m.prospect.id.clone(),
            NewRecord {
                id: format!("inbox-{}", m.prospect.id),
                x_user_id: m.prospect.platform_id.clone(),
                username: m.prospect.username.clone(),
                linkedin_id: linkedin
                    .get(m.prospect.id.as_str())
                    .map(|p| p.platform_id.clone()),
                linkedin_username: linkedin
                    .get(m.prospect.id.as_str())
                    .map(|p| p.username.clone()),
                fields: values,
            },
        ));
    }
    out
}

/// What the look-ups found outside the mirror.
#[derive(Default)]
pub(super) struct Found {
    /// Prospects (v2: contacts) the mirror lacks, without threads.
    pub prospects: Vec<MirrorProspect>,
    /// The profiles of the contacts the v2 finder returned (those in the mirror included: the
    /// identity asked for was not among their stored profiles).
    pub profiles: Vec<ProfileRow>,
}

/// Prospects that exist in Inbox but have no thread in any view: the identities of CRM records
/// the mirror does not know are looked up once (misses are remembered for a week), and linked
/// prospects missing from the walk are fetched by id. The prospects found are returned, to join
/// this run's view of the mirror without threads (so assignee and done are not synced for them).
///
/// On API v1 only X ids are looked up (`/prospects/lookup`, one per request). On v2 every
/// identity [`record_identities`] gives (X id, else X handle; LinkedIn id, else LinkedIn slug)
/// goes to the finder (`GET /contacts`), per platform and kind, 100 per request.
///
/// Every look-up counts against the run's request budget (`[limits] max_requests_per_run`,
/// `reserve_ratio`): the ones left when it runs out wait for the next run, with a warning.
#[allow(clippy::too_many_arguments)]
pub(super) async fn lookup_unknown(
    ctx: &Context,
    store: &mut Store,
    records: &[CrmRecord],
    stored_links: &[crate::store::LinkRow],
    (keys, profiles): (&ProspectKeys, &[ProfileRow]),
    (opts, budget): (&RunOptions, &mut RequestBudget),
    warnings: &mut Vec<String>,
) -> anyhow::Result<Found> {
    let mut found = Found::default();
    let linked_records: foldhash::HashSet<&str> =
        stored_links.iter().map(|l| l.crm_id.as_str()).collect();
    // The keys and the stored links both come in prospect order: one merge finds the links
    // whose prospect the mirror lacks. (Out of order it could only take a prospect for
    // missing, never the other way: an extra read, not a lost link.)
    debug_assert!(
        stored_links.is_sorted_by_key(|l| l.prospect_id.as_str()),
        "the store's links are not in Rust's string order"
    );
    let mut in_mirror = SortedCursor::new(keys.iter());
    let mut left = 0usize;
    for link in stored_links {
        if in_mirror
            .seek(link.prospect_id.as_str(), |k| k.id)
            .is_some()
        {
            continue;
        }
        if !budget.fits(ctx, 1) {
            left += 1;
            continue;
        }
        if let Some(prospect) = read_by_id(ctx, &link.prospect_id).await? {
            found.prospects.push(prospect);
        }
    }
    let mut known: HashSet<(String, IdentityKind, String)> = HashSet::new();
    let remember = |known: &mut HashSet<_>, platform: &str, id: &str, username: &str| {
        if !id.is_empty() {
            known.insert((
                platform.to_string(),
                IdentityKind::PlatformId,
                id.to_string(),
            ));
        }
        if !username.is_empty() {
            known.insert((
                platform.to_string(),
                IdentityKind::Username,
                normalize_username(username),
            ));
        }
    };
    for p in &found.prospects {
        remember(
            &mut known,
            X_PLATFORM,
            &p.prospect.platform_id,
            &p.prospect.username,
        );
    }
    // Built only if a record needs it: a nightly run's records are all linked.
    let mut known_in_mirror: Option<HashSet<(String, IdentityKind, String)>> = None;
    let now = opts
        .now
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let fresh_after = (opts.now - chrono::Duration::days(LOOKUP_MISS_TTL_DAYS))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    // What to ask, per platform and kind, in the order first met.
    let mut to_ask: BTreeMap<(&'static str, IdentityKind), Vec<String>> = BTreeMap::new();
    let mut asked: HashSet<(&'static str, IdentityKind, String)> = HashSet::new();
    for record in records {
        if linked_records.contains(record.id.as_str()) {
            continue;
        }
        for (platform, kind, value) in record_identities(record) {
            // v1 looks up X ids only.
            if !ctx.inbox.is_v2() && (platform, kind) != (X_PLATFORM, IdentityKind::PlatformId) {
                continue;
            }
            let value = match kind {
                IdentityKind::PlatformId => value.trim().to_string(),
                IdentityKind::Username => normalize_username(value),
            };
            let in_mirror = known_in_mirror.get_or_insert_with(|| {
                let mut set = HashSet::new();
                for k in keys.iter() {
                    remember(&mut set, X_PLATFORM, k.platform_id, k.username);
                }
                for p in profiles {
                    remember(&mut set, &p.platform, &p.platform_id, &p.username);
                }
                set
            });
            let key = (platform.to_string(), kind, value.clone());
            if value.is_empty()
                || in_mirror.contains(&key)
                || known.contains(&key)
                || !asked.insert((platform, kind, value.clone()))
            {
                continue;
            }
            if store.lookup(&cache_key(platform, kind, &value), &fresh_after)? == Some(None) {
                continue;
            }
            to_ask.entry((platform, kind)).or_default().push(value);
        }
    }
    let batch = if ctx.inbox.is_v2() {
        crate::inbox::v2::FINDER_BATCH
    } else {
        1
    };
    let mut mirror_ids: Option<HashSet<&str>> = None;
    let mut found_ids: HashSet<String> = found
        .prospects
        .iter()
        .map(|m| m.prospect.id.clone())
        .collect();
    let mut out_of_budget = false;
    for ((platform, kind), values) in &to_ask {
        for chunk in values.chunks(batch) {
            if out_of_budget || !budget.fits(ctx, 1) {
                out_of_budget = true;
                left += chunk.len();
                continue;
            }
            for (value, contact) in look_up(ctx, platform, *kind, chunk).await? {
                let id = contact.as_ref().map(|c| c.prospect.prospect.id.clone());
                store.save_lookup(&cache_key(platform, *kind, value), id.as_deref(), &now)?;
                let Some(contact) = contact else { continue };
                let in_mirror = mirror_ids
                    .get_or_insert_with(|| keys.iter().map(|k| k.id).collect())
                    .contains(contact.prospect.prospect.id.as_str());
                if !found_ids.insert(contact.prospect.prospect.id.clone()) {
                    continue;
                }
                for p in &contact.profiles {
                    remember(&mut known, &p.platform, &p.platform_id, &p.username);
                }
                found.profiles.extend(contact.profiles);
                if !in_mirror {
                    found.prospects.push(contact.prospect);
                }
            }
        }
    }
    if left > 0 {
        warnings.push(format!(
            "{left} look-up(s) of records Inbox may know wait for the next run: {}",
            budget.reason()
        ));
    }
    Ok(found)
}

/// The `lookups` key of an identity: an X id as itself (as before other identities were
/// looked up), anything else as `platform:kind:value`.
fn cache_key(platform: &str, kind: IdentityKind, value: &str) -> String {
    match (platform, kind) {
        (X_PLATFORM, IdentityKind::PlatformId) => value.to_string(),
        (_, IdentityKind::PlatformId) => format!("{platform}:id:{value}"),
        (_, IdentityKind::Username) => format!("{platform}:username:{value}"),
    }
}

/// A contact the finder returned: its mirror row and its profiles.
struct FoundContact {
    prospect: MirrorProspect,
    profiles: Vec<ProfileRow>,
}

/// A linked prospect (v2: contact) missing from the walk, read by id; `None` if Inbox has it
/// no more.
async fn read_by_id(ctx: &Context, id: &str) -> anyhow::Result<Option<MirrorProspect>> {
    let client = match &ctx.inbox {
        Inbox::V1(client) => client,
        Inbox::V2(v2) => {
            return match v2
                .contact(&crate::inbox::v2::ContactId::from(id.to_string()))
                .await
            {
                Ok(c) => Ok(Some(MirrorProspect {
                    prospect: super::pull::v2::contact_row(&c),
                    threads: Vec::new(),
                })),
                Err(crate::inbox::v2::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e.into()),
            };
        }
    };
    match client.prospect(id).await {
        Ok(p) => Ok(Some(mirror_prospect(id.to_string(), p))),
        Err(crate::inbox::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Looks up identities of one platform and kind (one request: one X id on v1, up to 100
/// identities on v2): each with a contact (v1: prospect) that has it, if any. A username
/// several contacts have gives the first; matching sees them all through the profiles.
async fn look_up<'a>(
    ctx: &Context,
    platform: &str,
    kind: IdentityKind,
    values: &'a [String],
) -> anyhow::Result<Vec<(&'a str, Option<FoundContact>)>> {
    let v1 = match &ctx.inbox {
        Inbox::V1(client) => client,
        Inbox::V2(client) => return find_on_v2(client, platform, kind, values).await,
    };
    let mut out = Vec::with_capacity(values.len());
    for id in values {
        let found = v1.lookup_prospect(id).await?;
        let prospect = found.and_then(|p| {
            p.external_id.clone().map(|external| FoundContact {
                prospect: mirror_prospect(external, p),
                profiles: Vec::new(),
            })
        });
        out.push((id.as_str(), prospect));
    }
    Ok(out)
}

/// [`look_up`] on v2: one finder request for up to 100 identities.
async fn find_on_v2<'a>(
    client: &crate::inbox::v2::Client,
    platform: &str,
    kind: IdentityKind,
    values: &'a [String],
) -> anyhow::Result<Vec<(&'a str, Option<FoundContact>)>> {
    use crate::inbox::v2;
    let v2_kind = match kind {
        IdentityKind::PlatformId => v2::IdentityKind::PlatformId,
        IdentityKind::Username => v2::IdentityKind::Username,
    };
    let contacts = client
        .find_contacts(&v2::Platform::from(platform), v2_kind, values)
        .await?;
    let has = |c: &v2::Contact, value: &str| {
        c.profiles.iter().any(|p| {
            p.platform.as_str() == platform
                && match kind {
                    IdentityKind::PlatformId => p.platform_id == value,
                    IdentityKind::Username => normalize_username(&p.username) == value,
                }
        })
    };
    let found = |c: &v2::Contact| FoundContact {
        prospect: MirrorProspect {
            prospect: super::pull::v2::contact_row(c),
            threads: Vec::new(),
        },
        profiles: super::pull::v2::profile_rows(c).collect(),
    };
    Ok(values
        .iter()
        .map(|value| {
            let contact = contacts.iter().find(|c| has(c, value)).map(found);
            (value.as_str(), contact)
        })
        .collect())
}

fn mirror_prospect(id: String, p: crate::inbox::Prospect) -> MirrorProspect {
    MirrorProspect {
        prospect: super::pull::v1::prospect_row(id, p),
        threads: Vec::new(),
    }
}
