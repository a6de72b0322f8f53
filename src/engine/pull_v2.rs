//! Phase 2 of a run on Inbox API v2, pull: reference data, then one walk of every thread
//! (`GET /threads?folder=all&order=asc&expand=contact&expand=profile`) into the mirror.
//!
//! A contact is stored as a `prospects` row (its X profile's id and username for matching),
//! its threads as `threads` rows (`done` = archived, the effective assignee), its profiles in
//! `profiles`. A thread that gets activity during the walk moves behind the cursor and is seen
//! again; a contact embedded in several threads keeps the copy with the greatest `updatedAt`.
//! Rows no thread lists any more are marked absent, never deleted. The first v2 pull of a v1
//! mirror re-keys its links, base and conflicts from each prospect to the contact holding its
//! X user id.
//!
//! Every v2 pull walks: replaying `/events` (thin payloads) is not implemented yet, so
//! `full_every_hours` does not apply on v2. Everything happens in the pull's one transaction.
//! This module does not print; SQL stays in `store`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Instant;

use chrono::{DateTime, Utc};

use crate::inbox::v2::{self, Contact, Platform, Thread};
use crate::store::pull_state::{EventLog, PullState};
use crate::store::{AccountLinkRow, ProfileRow, ProspectRow, Reference, RunId, Store, ThreadRow};

use super::pull::{FullReason, PullMode, PullReport};
use super::{Context, RunOptions};

/// `meta` key of the API the mirror was pulled from (absent: v1).
pub(super) const API_KEY: &str = "inbox_api";

/// Pulls from API v2 into the mirror (the caller holds the pull's transaction).
pub(super) async fn pull(
    ctx: &Context,
    client: &v2::Client,
    store: &mut Store,
    run: RunId,
    opts: &RunOptions,
) -> anyhow::Result<PullReport> {
    let started = Instant::now();
    let (team_id, reference) = fetch_reference(client).await?;
    store.replace_reference(&reference)?;
    let mut report = PullReport {
        mode: PullMode::Full,
        full_reason: Some(FullReason::EveryV2PullWalks),
        ..PullReport::default()
    };
    let profiles = walk(ctx, client, store, run, &mut report).await?;
    let (threads, prospects) = store.mark_unseen_absent(run)?;
    report.marked_absent = (threads, prospects);
    store.replace_profiles(&profiles)?;
    if store.meta(API_KEY)?.as_deref() != Some("v2") {
        let moved = store.rekey_v1_prospects_to_contacts()?;
        if moved > 0 {
            tracing::info!(moved, "re-keyed the v1 mirror's links to v2 contacts");
        }
        store.set_meta(API_KEY, "v2")?;
    }
    store.save_pull_state(&PullState {
        event_seq: None,
        team_id: Some(team_id),
        last_full_at: Some(opts.now),
        events_read_at: None,
        event_log: EventLog::Unproven,
    })?;
    let counts = store.counts()?;
    report.prospects = counts.prospects;
    report.threads = counts.threads;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Walks every thread into the mirror; returns every profile of the contacts seen.
async fn walk(
    ctx: &Context,
    client: &v2::Client,
    store: &mut Store,
    run: RunId,
    report: &mut PullReport,
) -> anyhow::Result<Vec<ProfileRow>> {
    store.index_for_walk(run)?;
    let start = client.stats().requests;
    let max = ctx.config.limits.max_requests_per_run;
    let bar = ctx.progress.spinner("pulling threads");
    // The newest copy of each contact seen so far, and every profile.
    let mut newest: HashMap<String, DateTime<Utc>> = HashMap::new();
    let mut profiles: BTreeMap<(String, String), ProfileRow> = BTreeMap::new();
    let mut walk = client.walk();
    while let Some(page) = walk.next_page().await? {
        report.pages += 1;
        let used = client.stats().requests.saturating_sub(start);
        anyhow::ensure!(
            used < max,
            "GET /threads was still paging after {used} requests, limits.max_requests_per_run = {max}; stopping"
        );
        let (prospects, threads) = page_rows(page, &mut newest, &mut profiles, report);
        store.upsert_page(run, &prospects, &threads)?;
        let (seen_contacts, seen_threads) = store.seen_counts(run);
        bar.set_message(format!(
            "pulling threads: {seen_threads} threads, {seen_contacts} contacts"
        ));
        bar.tick();
    }
    bar.finish_and_clear();
    Ok(profiles.into_values().collect())
}

/// The mirror rows of one page: each thread, and each contact the first time it is seen or
/// when this copy is newer than the one stored.
fn page_rows(
    page: Vec<Thread>,
    newest: &mut HashMap<String, DateTime<Utc>>,
    profiles: &mut BTreeMap<(String, String), ProfileRow>,
    report: &mut PullReport,
) -> (Vec<ProspectRow>, Vec<ThreadRow>) {
    let mut contacts: Vec<ProspectRow> = Vec::new();
    let mut in_page: HashSet<String> = HashSet::new();
    let mut threads = Vec::with_capacity(page.len());
    for thread in page {
        let Some(contact) = &thread.contact else {
            report.skipped_without_id += 1;
            continue;
        };
        let id = contact.id.as_str().to_string();
        let newer = newest.get(&id).is_none_or(|at| contact.updated_at >= *at);
        if newer {
            newest.insert(id.clone(), contact.updated_at);
            for p in &contact.profiles {
                profiles.insert(
                    (p.platform.as_str().to_string(), p.platform_id.clone()),
                    ProfileRow {
                        platform: p.platform.as_str().to_string(),
                        platform_id: p.platform_id.clone(),
                        contact_id: id.clone(),
                        username: p.username.clone(),
                    },
                );
            }
            let row = contact_row(contact);
            if in_page.insert(id) {
                contacts.push(row);
            } else if let Some(slot) = contacts.iter_mut().find(|c| c.id == row.id) {
                *slot = row;
            }
        }
        threads.push(thread_row(&thread));
    }
    (contacts, threads)
}

/// A contact as a mirror row: matching reads its X profile (the first, if it has several).
pub(super) fn contact_row(contact: &Contact) -> ProspectRow {
    let x = contact
        .profiles
        .iter()
        .find(|p| p.platform == Platform::Twitter);
    let any = x.or(contact.profiles.first());
    let mut tag_ids = contact.tag_ids.clone();
    // Sorted: an equal set is equal text in the mirror.
    tag_ids.sort_unstable();
    ProspectRow {
        id: contact.id.as_str().to_string(),
        platform_id: x.map(|p| p.platform_id.clone()).unwrap_or_default(),
        username: x.map(|p| p.username.clone()).unwrap_or_default(),
        display_name: any.map(|p| p.display_name.clone()),
        tag_ids,
        status_id: contact.status_id.clone(),
        valuation: contact.valuation,
        notes: contact.notes.clone(),
        last_updated_at: Some(contact.updated_at.to_rfc3339()),
    }
}

/// A thread as a mirror row: done is archived, the assignee the effective one.
pub(super) fn thread_row(thread: &Thread) -> ThreadRow {
    ThreadRow {
        id: thread.id.as_str().to_string(),
        prospect_id: thread.contact_id.as_str().to_string(),
        account_link_id: thread.account_link_id.clone(),
        assignee_id: thread.assignee_id.clone(),
        done: thread.archived,
        is_request: thread.is_request,
        sort_ts: thread.activity_at.map(|t| t.to_rfc3339()),
    }
}

/// Reference data, and the team id the token belongs to.
async fn fetch_reference(client: &v2::Client) -> anyhow::Result<(String, Reference)> {
    // Team first: it is the cheapest check that the token works.
    let team = client.team().await?;
    let account_links = client
        .account_links()
        .await?
        .into_iter()
        .map(|a| AccountLinkRow {
            username: a.username.clone().unwrap_or_else(|| a.platform_id.clone()),
            id: a.id,
            name: a.display_name,
            status: a.status.as_str().to_string(),
        })
        .collect();
    let members = client
        .members()
        .await?
        .into_iter()
        .map(|m| (m.id, m.email.to_lowercase(), m.name))
        .collect();
    let tags = client
        .tags()
        .await?
        .into_iter()
        .map(|t| (t.id, t.name))
        .collect();
    let statuses = client
        .statuses()
        .await?
        .into_iter()
        .map(|s| (s.id, s.name))
        .collect();
    Ok((
        team.id,
        Reference {
            account_links,
            members,
            tags,
            statuses,
        },
    ))
}
