//! The edges of matching that need Inbox: prospects with no thread in any view (found by X id
//! with `GET /prospects/lookup`, or by id for links whose prospect left every view), and the
//! CRM records to create for unlinked prospects.

use std::collections::{BTreeSet, HashMap, HashSet};

use crate::config::CreateRecords;
use crate::crm::{CrmRecord, NewRecord};
use crate::reconcile::{Field, Fields};
use crate::store::{MirrorProspect, ProspectKeys, Store};

use super::budget::RequestBudget;
use super::inputs::{Names, inbox_side};
use super::merge::SortedCursor;
use super::{Context, RunOptions};

/// How long a lookup miss is trusted before the X id is looked up again.
const LOOKUP_MISS_TTL_DAYS: i64 = 7;

/// CRM records to create for unlinked prospects, per `[crm] create_records`.
pub(super) fn planned_creates(
    ctx: &Context,
    unlinked: &[&MirrorProspect],
    names: &Names,
    fields: &BTreeSet<Field>,
) -> Vec<(String, NewRecord)> {
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
                fields: values,
            },
        ));
    }
    out
}

/// Prospects that exist in Inbox but have no thread in any view: CRM records whose X id is not
/// in the mirror are looked up once (misses are remembered for a week), and linked prospects
/// missing from the walk are fetched by id. The prospects found are returned, to join this run's
/// view of the mirror without threads (so assignee and done are not synced for them).
///
/// Every look-up counts against the run's request budget (`[limits] max_requests_per_run`,
/// `reserve_ratio`): the ones left when it runs out wait for the next run, with a warning. On
/// API v2 unknown X ids are asked 100 at a time (`GET /contacts`).
pub(super) async fn lookup_unknown_x_ids(
    ctx: &Context,
    store: &mut Store,
    records: &[CrmRecord],
    stored_links: &[crate::store::LinkRow],
    keys: &ProspectKeys,
    (opts, budget): (&RunOptions, &mut RequestBudget),
    warnings: &mut Vec<String>,
) -> anyhow::Result<Vec<MirrorProspect>> {
    let mut found_prospects = Vec::new();
    let linked_records: foldhash::HashSet<&str> =
        stored_links.iter().map(|l| l.crm_id.as_str()).collect();
    // The keys and the stored links both come in prospect order: one merge finds the links
    // whose prospect the mirror lacks. (Out of order it could only take a prospect for
    // missing, never the other way: an extra read, not a lost link.)
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
        if let Some(found) = read_by_id(ctx, &link.prospect_id).await? {
            found_prospects.push(found);
        }
    }
    let mut known: HashSet<String> = found_prospects
        .iter()
        .map(|m| m.prospect.platform_id.clone())
        .collect();
    // Built only if a record needs it: a nightly run's records are all linked.
    let mut known_in_mirror: Option<foldhash::HashSet<&str>> = None;
    let now = opts
        .now
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let fresh_after = (opts.now - chrono::Duration::days(LOOKUP_MISS_TTL_DAYS))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut asked: HashSet<&str> = HashSet::new();
    let mut to_ask: Vec<&str> = Vec::new();
    for record in records {
        let Some(x_id) = record.x_user_id.as_deref() else {
            continue;
        };
        if linked_records.contains(record.id.as_str()) {
            continue;
        }
        let known_in_mirror =
            known_in_mirror.get_or_insert_with(|| keys.iter().map(|k| k.platform_id).collect());
        if known_in_mirror.contains(x_id) || known.contains(x_id) || !asked.insert(x_id) {
            continue;
        }
        if store.lookup(x_id, &fresh_after)? == Some(None) {
            continue;
        }
        to_ask.push(x_id);
    }
    let batch = if ctx.v2.is_some() {
        crate::inbox::v2::FINDER_BATCH
    } else {
        1
    };
    let mut chunks = to_ask.chunks(batch);
    for ids in chunks.by_ref() {
        if !budget.fits(ctx, 1) {
            left += ids.len();
            break;
        }
        for (x_id, found) in look_up(ctx, ids).await? {
            store.save_lookup(x_id, found.as_ref().map(|m| m.prospect.id.as_str()), &now)?;
            if let Some(prospect) = found {
                known.insert(prospect.prospect.platform_id.clone());
                found_prospects.push(prospect);
            }
        }
    }
    left += chunks.map(<[&str]>::len).sum::<usize>();
    if left > 0 {
        warnings.push(format!(
            "{left} look-up(s) of records Inbox may know wait for the next run: {}",
            budget.reason()
        ));
    }
    Ok(found_prospects)
}

/// A linked prospect (v2: contact) missing from the walk, read by id; `None` if Inbox has it
/// no more.
async fn read_by_id(ctx: &Context, id: &str) -> anyhow::Result<Option<MirrorProspect>> {
    if let Some(v2) = &ctx.v2 {
        return match v2
            .contact(&crate::inbox::v2::ContactId::from(id.to_string()))
            .await
        {
            Ok(c) => Ok(Some(MirrorProspect {
                prospect: super::pull_v2::contact_row(&c),
                threads: Vec::new(),
            })),
            Err(crate::inbox::v2::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        };
    }
    match ctx.client.prospect(id).await {
        Ok(p) => Ok(Some(mirror_prospect(id.to_string(), p))),
        Err(crate::inbox::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Looks up X user ids (one request: one id on v1, up to 100 on v2): each id with the prospect
/// or contact that has it, if any.
async fn look_up<'a>(
    ctx: &Context,
    ids: &[&'a str],
) -> anyhow::Result<Vec<(&'a str, Option<MirrorProspect>)>> {
    if let Some(v2) = &ctx.v2 {
        let wanted: Vec<String> = ids.iter().map(|id| id.to_string()).collect();
        let contacts = v2
            .find_contacts(
                &crate::inbox::v2::Platform::Twitter,
                crate::inbox::v2::IdentityKind::PlatformId,
                &wanted,
            )
            .await?;
        return Ok(ids
            .iter()
            .map(|id| {
                let found = contacts
                    .iter()
                    .find(|c| {
                        c.profiles.iter().any(|p| {
                            p.platform == crate::inbox::v2::Platform::Twitter
                                && p.platform_id == *id
                        })
                    })
                    .map(|c| MirrorProspect {
                        prospect: super::pull_v2::contact_row(c),
                        threads: Vec::new(),
                    });
                (*id, found)
            })
            .collect());
    }
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let found = ctx.client.lookup_prospect(id).await?;
        let prospect = found.and_then(|p| {
            p.external_id
                .clone()
                .map(|external| mirror_prospect(external, p))
        });
        out.push((*id, prospect));
    }
    Ok(out)
}

fn mirror_prospect(id: String, p: crate::inbox::Prospect) -> MirrorProspect {
    MirrorProspect {
        prospect: super::pull::prospect_row(id, p),
        threads: Vec::new(),
    }
}
