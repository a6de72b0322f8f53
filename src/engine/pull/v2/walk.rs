//! The full walk on Inbox API v2: every thread (`GET /threads?folder=all&order=asc&expand=contact&expand=profile`)
//! into the mirror, and the mirror rows of a thread, a contact and its profiles.
//!
//! A contact is stored as a `prospects` row (its X profile's id and username for matching),
//! its threads as `threads` rows (`done` = archived, the effective assignee), its profiles in
//! `profiles`. A thread that gets activity during the walk moves behind the cursor and is seen
//! again; a contact embedded in several threads keeps the copy with the greatest `updatedAt`.
//! This module does not print, decide walk against replay, or write SQL itself.

use foldhash::{HashMap, HashMapExt as _, HashSet, HashSetExt as _};

use chrono::{DateTime, Utc};

use crate::inbox::v2::{self, Contact, ContactId, Platform, Thread};
use crate::store::{ProfileRow, ProspectRow, ThreadRow, Walk};

use crate::engine::Context;
use crate::engine::pull::PullReport;

/// Profiles by their key, `(platform, platform id)`.
pub(super) type Profiles = HashMap<(String, String), ProfileRow>;

/// Walks every thread into the mirror; returns every profile of the contacts seen.
pub(super) async fn walk(
    ctx: &Context,
    client: &v2::Client,
    walk: &mut Walk<'_>,
    report: &mut PullReport,
) -> anyhow::Result<Profiles> {
    let start = client.stats().requests;
    let max = ctx.config.limits.max_requests_per_run;
    let bar = ctx.progress.spinner("pulling threads");
    // The newest copy of each contact seen so far, and every profile.
    let mut newest: HashMap<ContactId, DateTime<Utc>> = HashMap::new();
    let mut profiles = Profiles::new();
    let mut pages = client.walk();
    while let Some(page) = pages.next_page().await? {
        report.pages += 1;
        let used = client.stats().requests.saturating_sub(start);
        anyhow::ensure!(
            used < max,
            "GET /threads was still paging after {used} requests, limits.max_requests_per_run = {max}; stopping"
        );
        let (prospects, threads) = page_rows(page, &mut newest, &mut profiles, report);
        walk.upsert_page(&prospects, &threads)?;
        let (seen_contacts, seen_threads) = walk.seen_counts();
        bar.set_message(format!(
            "pulling threads: {seen_threads} threads, {seen_contacts} contacts"
        ));
        bar.tick();
    }
    bar.finish_and_clear();
    Ok(profiles)
}

/// The mirror rows of one page: each thread, and each contact the first time it is seen or
/// when this copy is newer than the one stored.
fn page_rows(
    page: Vec<Thread>,
    newest: &mut HashMap<ContactId, DateTime<Utc>>,
    profiles: &mut Profiles,
    report: &mut PullReport,
) -> (Vec<ProspectRow>, Vec<ThreadRow>) {
    let mut contacts: Vec<ProspectRow> = Vec::new();
    let mut in_page: HashSet<ContactId> = HashSet::new();
    let mut threads = Vec::with_capacity(page.len());
    for thread in page {
        let Some(contact) = &thread.contact else {
            report.skipped_without_id += 1;
            continue;
        };
        let id = contact.id.clone();
        let newer = newest.get(&id).is_none_or(|at| contact.updated_at >= *at);
        if newer {
            newest.insert(id.clone(), contact.updated_at);
            for p in profile_rows(contact) {
                profiles.insert((p.platform.clone(), p.platform_id.clone()), p);
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

/// The `profiles` rows of a contact.
pub(in crate::engine) fn profile_rows(contact: &Contact) -> impl Iterator<Item = ProfileRow> + '_ {
    contact.profiles.iter().map(|p| ProfileRow {
        platform: p.platform.as_str().to_string(),
        platform_id: p.platform_id.clone(),
        contact_id: contact.id.clone(),
        username: p.username.clone(),
    })
}

/// A contact as a mirror row: matching reads its X profile (the first, if it has several).
pub(in crate::engine) fn contact_row(contact: &Contact) -> ProspectRow {
    let x = contact
        .profiles
        .iter()
        .find(|p| p.platform == Platform::Twitter);
    let any = x.or(contact.profiles.first());
    let mut tag_ids = contact.tag_ids.clone();
    // Sorted: an equal set is equal text in the mirror.
    tag_ids.sort_unstable();
    ProspectRow {
        id: contact.id.clone(),
        platform_id: x.map(|p| p.platform_id.clone()).unwrap_or_default(),
        username: x.map(|p| p.username.clone()).unwrap_or_default(),
        display_name: any.map(|p| p.display_name.clone()),
        tag_ids,
        status_id: contact.status_id.clone(),
        valuation: contact.valuation,
        notes: contact.notes.clone(),
        last_updated_at: Some(contact.updated_at.to_rfc3339()),
        default_assignee_id: contact.assignee_id.clone(),
    }
}

/// A thread as a mirror row: done is archived, the assignee the effective one.
pub(in crate::engine) fn thread_row(thread: &Thread) -> ThreadRow {
    ThreadRow {
        id: thread.id.clone(),
        prospect_id: thread.contact_id.clone(),
        account_link_id: thread.account_link_id.clone(),
        assignee_id: thread.assignee_id.clone(),
        done: thread.archived,
        is_request: thread.is_request,
        sort_ts: thread.activity_at.map(|t| t.to_rfc3339()),
    }
}
