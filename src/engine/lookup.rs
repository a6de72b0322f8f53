//! The edges of matching that need Inbox: prospects with no thread in any view (found by X id
//! with `GET /prospects/lookup`, or by id for links whose prospect left every view), and the
//! CRM records to create for unlinked prospects.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::config::CreateRecords;
use crate::crm::{CrmRecord, NewRecord};
use crate::inbox::Inbox;
use crate::reconcile::{ContactId, Field, Fields, InboxSide, RecordId, ThreadState};
use crate::store::{LinkRow, MirrorProspect, ProfileRow, ProspectKeys, Store};

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
) -> Vec<(ContactId, NewRecord)> {
    let linkedin = first_linkedin_profiles(profiles);
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
        if !create_wanted(ctx, &side.fields.tags) {
            continue;
        }
        let profile = linkedin.get(&m.prospect.id);
        out.push((
            m.prospect.id.clone(),
            NewRecord {
                id: format!("inbox-{}", m.prospect.id).into(),
                x_user_id: m.prospect.platform_id.clone(),
                username: m.prospect.username.clone(),
                linkedin_id: profile.map(|p| p.platform_id.clone()),
                linkedin_username: profile.map(|p| p.username.clone()),
                fields: record_values(&side, fields, &reverse_status),
            },
        ));
    }
    out
}

/// Each contact's LinkedIn profile, the first by id if it has several.
fn first_linkedin_profiles(profiles: &[ProfileRow]) -> HashMap<&ContactId, &ProfileRow> {
    let mut linkedin: HashMap<&ContactId, &ProfileRow> = HashMap::new();
    for p in profiles.iter().filter(|p| p.platform == LINKEDIN_PLATFORM) {
        linkedin
            .entry(&p.contact_id)
            .and_modify(|first| {
                if p.platform_id < first.platform_id {
                    *first = p;
                }
            })
            .or_insert(p);
    }
    linkedin
}

/// Whether `[crm] create_records` wants a record for a prospect with `tags`.
fn create_wanted(ctx: &Context, tags: &BTreeSet<String>) -> bool {
    match ctx.config.crm.create_records {
        CreateRecords::None => false,
        CreateRecords::All => true,
        CreateRecords::Tagged => ctx
            .config
            .crm
            .create_tag
            .as_ref()
            .is_some_and(|t| tags.iter().any(|x| x.eq_ignore_ascii_case(t))),
    }
}

/// The synced `fields` of a record to create, from the prospect's Inbox side: the status in
/// CRM vocabulary (`reverse_status`), assignee and done only when every thread agrees.
fn record_values(
    side: &InboxSide,
    fields: &BTreeSet<Field>,
    reverse_status: &HashMap<&str, &str>,
) -> Fields {
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
                let agree = |f: &dyn Fn(&ThreadState) -> String| {
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
    values
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
    stored_links: &[LinkRow],
    (keys, profiles): (&ProspectKeys, &[ProfileRow]),
    (opts, budget): (&RunOptions, &mut RequestBudget),
    warnings: &mut Vec<String>,
) -> anyhow::Result<Found> {
    let mut lookups = Lookups {
        ctx,
        store,
        keys,
        budget,
        found: Found::default(),
        known: HashSet::new(),
        left: 0,
    };
    lookups.read_missing_linked(stored_links).await?;
    for p in &lookups.found.prospects {
        let (id, username) = (&p.prospect.platform_id, &p.prospect.username);
        remember(&mut lookups.known, X_PLATFORM, id, username);
    }
    let now = opts
        .now
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let fresh_after = (opts.now - chrono::Duration::days(LOOKUP_MISS_TTL_DAYS))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let to_ask = lookups.identities_to_ask(records, stored_links, profiles, &fresh_after)?;
    lookups.ask(&to_ask, &now).await?;
    if lookups.left > 0 {
        warnings.push(format!(
            "{} look-up(s) of records Inbox may know wait for the next run: {}",
            lookups.left,
            lookups.budget.reason()
        ));
    }
    Ok(lookups.found)
}

/// An identity of a profile: platform, kind, value (a username normalized).
type Identity = (String, IdentityKind, String);

/// Adds a profile's identities (those it has) to `set`.
fn remember(set: &mut HashSet<Identity>, platform: &str, id: &str, username: &str) {
    if !id.is_empty() {
        set.insert((
            platform.to_string(),
            IdentityKind::PlatformId,
            id.to_string(),
        ));
    }
    if !username.is_empty() {
        set.insert((
            platform.to_string(),
            IdentityKind::Username,
            normalize_username(username),
        ));
    }
}

/// The identities to ask for, per platform and kind, in the order first met.
type ToAsk = BTreeMap<(&'static str, IdentityKind), Vec<String>>;

/// One run's look-ups, and what they found so far.
struct Lookups<'a> {
    ctx: &'a Context,
    store: &'a mut Store,
    /// The prospects (v2: contacts) in the mirror.
    keys: &'a ProspectKeys,
    budget: &'a mut RequestBudget,
    found: Found,
    /// The identities of the prospects found: not asked for.
    known: HashSet<Identity>,
    /// Look-ups left for the next run (the budget ran out).
    left: usize,
}

impl<'a> Lookups<'a> {
    /// Reads by id the linked prospects the mirror lacks, while the budget allows.
    async fn read_missing_linked(&mut self, stored_links: &[LinkRow]) -> anyhow::Result<()> {
        // The keys and the stored links both come in prospect order: one merge finds the links
        // whose prospect the mirror lacks. (Out of order it could only take a prospect for
        // missing, never the other way: an extra read, not a lost link.)
        debug_assert!(
            stored_links.is_sorted_by_key(|l| &l.prospect_id),
            "the store's links are not in Rust's string order"
        );
        let keys = self.keys;
        let mut in_mirror = SortedCursor::new(keys.iter());
        for link in stored_links {
            if in_mirror.seek(&link.prospect_id, |k| k.id).is_some() {
                continue;
            }
            if !self.budget.fits(self.ctx, 1) {
                self.left += 1;
                continue;
            }
            if let Some(prospect) = read_by_id(self.ctx, &link.prospect_id).await? {
                self.found.prospects.push(prospect);
            }
        }
        Ok(())
    }

    /// The identities of unlinked `records` that no prospect in the mirror (or found) has, not
    /// asked for already, and not a miss fresher than `fresh_after`. v1 looks up X ids only.
    fn identities_to_ask(
        &mut self,
        records: &[CrmRecord],
        stored_links: &[LinkRow],
        profiles: &[ProfileRow],
        fresh_after: &str,
    ) -> anyhow::Result<ToAsk> {
        let linked_records: foldhash::HashSet<&RecordId> =
            stored_links.iter().map(|l| &l.crm_id).collect();
        // Built only if a record needs it: a nightly run's records are all linked.
        let mut known_in_mirror: Option<HashSet<Identity>> = None;
        let mut to_ask = ToAsk::new();
        let mut asked: HashSet<(&'static str, IdentityKind, String)> = HashSet::new();
        let unlinked = records.iter().filter(|r| !linked_records.contains(&r.id));
        for record in unlinked {
            for (platform, kind, value) in record_identities(record) {
                if !self.ctx.inbox.is_v2()
                    && (platform, kind) != (X_PLATFORM, IdentityKind::PlatformId)
                {
                    continue;
                }
                let value = match kind {
                    IdentityKind::PlatformId => value.trim().to_string(),
                    IdentityKind::Username => normalize_username(value),
                };
                let in_mirror =
                    known_in_mirror.get_or_insert_with(|| mirror_identities(self.keys, profiles));
                let key = (platform.to_string(), kind, value.clone());
                if value.is_empty()
                    || in_mirror.contains(&key)
                    || self.known.contains(&key)
                    || !asked.insert((platform, kind, value.clone()))
                {
                    continue;
                }
                let cached = self
                    .store
                    .lookup(&cache_key(platform, kind, &value), fresh_after)?;
                if cached == Some(None) {
                    continue;
                }
                to_ask.entry((platform, kind)).or_default().push(value);
            }
        }
        Ok(to_ask)
    }

    /// Asks for `to_ask` (one request per batch: 100 on v2, one on v1) while the budget
    /// allows, remembering each answer at `now`.
    async fn ask(&mut self, to_ask: &ToAsk, now: &str) -> anyhow::Result<()> {
        let batch = if self.ctx.inbox.is_v2() {
            crate::inbox::v2::FINDER_BATCH
        } else {
            1
        };
        let mut mirror_ids: Option<HashSet<&'a ContactId>> = None;
        let mut found_ids: HashSet<ContactId> = (self.found.prospects.iter())
            .map(|m| m.prospect.id.clone())
            .collect();
        let mut out_of_budget = false;
        for ((platform, kind), values) in to_ask {
            for chunk in values.chunks(batch) {
                if out_of_budget || !self.budget.fits(self.ctx, 1) {
                    out_of_budget = true;
                    self.left += chunk.len();
                    continue;
                }
                for (value, contact) in look_up(self.ctx, platform, *kind, chunk).await? {
                    let id = contact.as_ref().map(|c| c.prospect.prospect.id.clone());
                    let key = cache_key(platform, *kind, value);
                    self.store.save_lookup(&key, id.as_ref(), now)?;
                    if let Some(contact) = contact {
                        self.take(contact, &mut mirror_ids, &mut found_ids);
                    }
                }
            }
        }
        Ok(())
    }

    /// Takes a contact the finder returned, unless found already: its profiles, and itself if
    /// the mirror lacks it (`mirror_ids`, built at the first).
    fn take(
        &mut self,
        contact: FoundContact,
        mirror_ids: &mut Option<HashSet<&'a ContactId>>,
        found_ids: &mut HashSet<ContactId>,
    ) {
        let keys = self.keys;
        let in_mirror = mirror_ids
            .get_or_insert_with(|| keys.iter().map(|k| k.id).collect())
            .contains(&contact.prospect.prospect.id);
        if !found_ids.insert(contact.prospect.prospect.id.clone()) {
            return;
        }
        for p in &contact.profiles {
            remember(&mut self.known, &p.platform, &p.platform_id, &p.username);
        }
        self.found.profiles.extend(contact.profiles);
        if !in_mirror {
            self.found.prospects.push(contact.prospect);
        }
    }
}

/// The identities of the prospects in the mirror (`keys`) and of their `profiles`.
fn mirror_identities(keys: &ProspectKeys, profiles: &[ProfileRow]) -> HashSet<Identity> {
    let mut set = HashSet::new();
    for k in keys.iter() {
        remember(&mut set, X_PLATFORM, k.platform_id, k.username);
    }
    for p in profiles {
        remember(&mut set, &p.platform, &p.platform_id, &p.username);
    }
    set
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
async fn read_by_id(ctx: &Context, id: &ContactId) -> anyhow::Result<Option<MirrorProspect>> {
    let client = match &ctx.inbox {
        Inbox::V1(client) => client,
        Inbox::V2(v2) => {
            return match v2.contact(id).await {
                Ok(c) => Ok(Some(MirrorProspect {
                    prospect: super::pull::v2::contact_row(&c),
                    threads: Vec::new(),
                })),
                Err(crate::inbox::v2::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e.into()),
            };
        }
    };
    match client.prospect(id.as_str()).await {
        Ok(p) => Ok(Some(mirror_prospect(id.clone(), p))),
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
                prospect: mirror_prospect(external.into(), p),
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

fn mirror_prospect(id: ContactId, p: crate::inbox::Prospect) -> MirrorProspect {
    MirrorProspect {
        prospect: super::pull::v1::prospect_row(id, p),
        threads: Vec::new(),
    }
}
