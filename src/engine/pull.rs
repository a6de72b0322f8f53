//! Pull: Inbox reference data and every thread (per inbox view) into the mirror.
//!
//! Threads are walked oldest-first (`filters[sortOrder]=asc`): a thread that gets a message
//! during the walk moves *behind* the cursor and is seen again (deduplicated by id) instead of
//! jumping ahead of it and being missed. Each page is stored in its own transaction; prospects
//! and threads not seen by a complete walk are marked absent, never deleted.

use std::collections::HashSet;
use std::time::Instant;

use serde::Serialize;

use crate::inbox::{self, SortOrder, ThreadQuery, View};
use crate::store::{AccountLinkRow, ProspectRow, Reference, RunId, Store, ThreadRow};

use super::{Context, Progress, RunOptions};

/// The views walked by a full pull. `no-reply` is a subset of `default`.
pub const VIEWS: [View; 3] = [View::Default, View::Requests, View::Archived];

/// What a pull did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PullReport {
    /// Distinct prospects seen.
    pub prospects: u64,
    /// Distinct threads seen.
    pub threads: u64,
    /// Thread-list pages fetched.
    pub pages: u64,
    /// Threads whose prospect has no Inbox id (cannot be addressed; skipped).
    pub skipped_without_id: u64,
    /// Threads and prospects marked absent because no view lists them any more.
    pub marked_absent: (u64, u64),
    /// Seconds spent.
    pub seconds: f64,
}

/// Fetches reference data and walks every view into the mirror, in one transaction: a pull
/// that fails half-way leaves the mirror as it was.
pub async fn pull(
    ctx: &Context,
    store: &mut Store,
    run: RunId,
    _opts: &RunOptions,
) -> anyhow::Result<PullReport> {
    store.begin_pull()?;
    match walk(&ctx.client, store, run, &ctx.progress).await {
        Ok(report) => {
            store.commit_pull()?;
            Ok(report)
        }
        Err(err) => {
            store.rollback_pull()?;
            Err(err)
        }
    }
}

async fn walk(
    client: &inbox::Client,
    store: &mut Store,
    run: RunId,
    progress: &Progress,
) -> anyhow::Result<PullReport> {
    let started = Instant::now();
    let reference = fetch_reference(client).await?;
    store.replace_reference(&reference)?;

    let mut report = PullReport::default();
    let mut seen_threads: HashSet<String> = HashSet::new();
    let mut seen_prospects: HashSet<String> = HashSet::new();
    let bar = progress.spinner("pulling threads");
    for view in VIEWS {
        let query = ThreadQuery {
            view,
            sort: SortOrder::Asc,
            limit: 100,
        };
        let mut cursor = None;
        loop {
            let page = client.threads_page(&query, cursor.as_ref()).await?;
            report.pages += 1;
            let mut prospects = Vec::with_capacity(page.threads.len());
            let mut threads = Vec::with_capacity(page.threads.len());
            for thread in page.threads {
                let Some(prospect_id) = thread.prospect.external_id.clone() else {
                    report.skipped_without_id += 1;
                    continue;
                };
                seen_threads.insert(thread.id.clone());
                threads.push(ThreadRow {
                    id: thread.id,
                    prospect_id: prospect_id.clone(),
                    account_link_id: thread.account_link_id,
                    assignee_id: thread.assignee_id,
                    done: thread.done,
                    is_request: thread.is_request,
                    sort_ts: thread.computed_sort_timestamp,
                });
                // Every thread embeds the same prospect context; the latest page wins.
                seen_prospects.insert(prospect_id.clone());
                let p = thread.prospect;
                prospects.push(ProspectRow {
                    id: prospect_id,
                    platform_id: p.platform_id,
                    username: p.username,
                    display_name: Some(p.display_name),
                    tag_ids: p.context.tags,
                    status_id: p.context.status_id,
                    valuation: p.context.valuation,
                    notes: p.context.notes,
                    last_updated_at: p.last_updated_at.map(|t| t.to_rfc3339()),
                });
            }
            store.upsert_page(run, &prospects, &threads)?;
            bar.set_message(format!(
                "pulling threads: {} threads, {} prospects",
                seen_threads.len(),
                seen_prospects.len()
            ));
            bar.tick();
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
    }
    bar.finish_and_clear();
    report.marked_absent = store.mark_unseen_absent(run)?;
    report.threads = seen_threads.len() as u64;
    report.prospects = seen_prospects.len() as u64;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

async fn fetch_reference(client: &inbox::Client) -> anyhow::Result<Reference> {
    // Team first: it is the cheapest check that the token works.
    let _team = client.team().await?;
    let account_links = client
        .account_links()
        .await?
        .into_iter()
        .map(|a| AccountLinkRow {
            id: a.id,
            username: a.username,
            name: Some(a.name),
            status: a.status,
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
    Ok(Reference {
        account_links,
        members,
        tags,
        statuses,
    })
}
