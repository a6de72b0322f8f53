//! The full walk on Inbox API v1: every thread of every view (`VIEWS`), oldest first, into the
//! mirror, 100 a page, bounded by the run's request budget and stopped when the server keeps
//! handing back cursors without new threads. It does not decide whether to walk (`v1` does).

use std::collections::HashSet;

use crate::engine::Progress;
use crate::engine::pull::PullReport;
use crate::inbox::{self, SortOrder, ThreadQuery, View};
use crate::store::{ChangedRow, Walk};

use super::rows::rows;

/// The views walked by a full pull. `no-reply` is a subset of `default`.
pub const VIEWS: [View; 3] = [View::Default, View::Requests, View::Archived];

/// The requests a run may make (`[limits] max_requests_per_run`); bounds a walk that a
/// misbehaving server keeps feeding.
pub(super) struct RunBudget {
    /// The client's request count when the pull started.
    pub start: u64,
    /// The cap.
    pub max: u64,
}

/// Pages in a row that bring no thread new to the walk before it is called endless: movers
/// (threads that got a message during the walk) are seen twice, but not thousands of them.
const MAX_PAGES_WITHOUT_NEW_THREADS: u32 = 50;

/// Walks every view into the mirror; returns the rows whose synced values it changed.
pub(super) async fn walk_views(
    client: &inbox::Client,
    walk: &mut Walk<'_>,
    progress: &Progress,
    report: &mut PullReport,
    budget: &RunBudget,
) -> anyhow::Result<Vec<ChangedRow>> {
    let mut changes = Vec::new();
    let bar = progress.spinner("pulling threads");
    for view in VIEWS {
        let query = ThreadQuery {
            view,
            sort: SortOrder::Asc,
            limit: 100,
        };
        let mut cursor = None;
        // A server that hands back a cursor it already gave would make the walk endless.
        let mut used = HashSet::new();
        let mut pages_without_new = 0;
        loop {
            let used_requests = client.stats().requests.saturating_sub(budget.start);
            anyhow::ensure!(
                used_requests < budget.max,
                "GET /threads (view {}) was still paging after {used_requests} requests, \
                 limits.max_requests_per_run = {}; stopping (does the API keep returning new cursors?)",
                view.as_str(),
                budget.max
            );
            let page = client.threads_page(&query, cursor.as_ref()).await?;
            report.pages += 1;
            let seen_before = walk.seen_counts().1;
            let mut prospects = Vec::with_capacity(page.threads.len());
            let mut threads = Vec::with_capacity(page.threads.len());
            for thread in page.threads {
                let Some((prospect, thread)) = rows(thread) else {
                    report.skipped_without_id += 1;
                    continue;
                };
                // Every thread embeds the same prospect context; the latest page wins.
                prospects.push(prospect);
                threads.push(thread);
            }
            changes.extend(walk.upsert_page(&prospects, &threads)?);
            let (seen_prospects, seen_threads) = walk.seen_counts();
            pages_without_new = if seen_threads > seen_before {
                0
            } else {
                pages_without_new + 1
            };
            anyhow::ensure!(
                page.next_cursor.is_none() || pages_without_new < MAX_PAGES_WITHOUT_NEW_THREADS,
                "GET /threads (view {}) returned {MAX_PAGES_WITHOUT_NEW_THREADS} pages in a row \
                 without a new thread; the walk does not advance",
                view.as_str()
            );
            bar.set_message(format!(
                "pulling threads: {seen_threads} threads, {seen_prospects} prospects"
            ));
            bar.tick();
            match page.next_cursor {
                Some(next) if !used.insert(next.clone()) => anyhow::bail!(
                    "GET /threads (view {}) returned a cursor it had already returned; \
                     the walk would never end",
                    view.as_str()
                ),
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
    }
    bar.finish_and_clear();
    Ok(changes)
}
