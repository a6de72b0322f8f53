//! The edges of matching that need Inbox: prospects with no thread in any view (found by X id
//! with `GET /prospects/lookup`, or by id for links whose prospect left every view), and the
//! CRM records to create for unlinked prospects.

use std::collections::{BTreeSet, HashMap, HashSet};

use crate::config::CreateRecords;
use crate::crm::{CrmRecord, NewRecord};
use crate::reconcile::{Field, Fields};
use crate::store::{MirrorProspect, ProspectKeys, Store};

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
pub(super) async fn lookup_unknown_x_ids(
    ctx: &Context,
    store: &mut Store,
    records: &[CrmRecord],
    stored_links: &[crate::store::LinkRow],
    keys: &ProspectKeys,
    opts: &RunOptions,
) -> anyhow::Result<Vec<MirrorProspect>> {
    let mut found_prospects = Vec::new();
    let linked_records: foldhash::HashSet<&str> =
        stored_links.iter().map(|l| l.crm_id.as_str()).collect();
    // The keys and the stored links both come in prospect order: one merge finds the links
    // whose prospect the mirror lacks. (Out of order it could only take a prospect for
    // missing, never the other way: an extra read, not a lost link.)
    let mut in_mirror = SortedCursor::new(keys.iter());
    for link in stored_links {
        if in_mirror
            .seek(link.prospect_id.as_str(), |k| k.id)
            .is_some()
        {
            continue;
        }
        match ctx.client.prospect(&link.prospect_id).await {
            Ok(p) => found_prospects.push(mirror_prospect(link.prospect_id.clone(), p)),
            Err(crate::inbox::Error::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
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
        let found = ctx.client.lookup_prospect(x_id).await?;
        let prospect_id = found.as_ref().and_then(|p| p.external_id.clone());
        store.save_lookup(x_id, prospect_id.as_deref(), &now)?;
        if let (Some(p), Some(id)) = (found, prospect_id) {
            let prospect = mirror_prospect(id, p);
            known.insert(prospect.prospect.platform_id.clone());
            found_prospects.push(prospect);
        }
    }
    Ok(found_prospects)
}

fn mirror_prospect(id: String, p: crate::inbox::Prospect) -> MirrorProspect {
    MirrorProspect {
        prospect: super::pull::prospect_row(id, p),
        threads: Vec::new(),
    }
}
