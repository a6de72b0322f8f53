//! The request budget of a run's push: `[limits] max_requests_per_run`, and what the team's
//! rate-limit window leaves after `[limits] reserve_ratio` is kept for people. The push writes
//! whole prospects only while the budget allows; the next run continues with the rest. Pure
//! apart from reading the client's request counters.

use crate::reconcile::LinkPlan;

use super::Context;

/// Requests one link's Inbox push costs: the context PATCH, thread PATCHes, and the read-back
/// of every thread after a fanned-out assignee/done write.
pub(super) fn link_cost(link: &LinkPlan, n_threads: usize) -> u64 {
    let fans_out = link
        .inbox
        .as_ref()
        .is_some_and(|p| p.changes.iter().any(|c| c.field().is_thread_field()));
    u64::from(link.inbox.is_some())
        + link.threads.len() as u64
        + if fans_out { n_threads as u64 } else { 0 }
}

/// Requests one contact's push costs on API v2: the contact PATCH (when a field other than
/// tags and done changes), one call per tag added or removed, one PATCH per thread for a
/// fanned-out done or assignee (at most every thread), and the per-thread PATCHes.
pub(super) fn link_cost_v2(link: &LinkPlan, n_threads: usize) -> u64 {
    use crate::reconcile::{Field, Value};
    let changes = link.inbox.iter().flat_map(|p| &p.changes);
    let patch = changes
        .clone()
        .any(|c| !matches!(c.field(), Field::Tags | Field::Done));
    let tag_calls: u64 = changes
        .clone()
        .map(|c| match (&c.old, &c.new) {
            (Value::Tags(old), Value::Tags(new)) => {
                (new.difference(old).count() + old.difference(new).count()) as u64
            }
            _ => 0,
        })
        .sum();
    let fans_out = changes.clone().any(|c| c.field().is_thread_field());
    u64::from(patch)
        + tag_calls
        + if fans_out { n_threads as u64 } else { 0 }
        + link.threads.len() as u64
}

/// The requests this run may still make: `[limits] max_requests_per_run`, and, when the
/// `X-RateLimit-*` headers describe a long window (hour or day: a limit of 1,000 or more, or a
/// reset minutes away), what is left of it after `[limits] reserve_ratio` is kept for the team's
/// people.
pub(super) struct RequestBudget {
    run_start_requests: u64,
    max_per_run: u64,
    reserve_ratio: f64,
    reason: String,
}

impl RequestBudget {
    pub(super) fn new(ctx: &Context, run_start_requests: u64) -> RequestBudget {
        RequestBudget {
            run_start_requests,
            max_per_run: ctx.config.limits.max_requests_per_run,
            reserve_ratio: ctx.config.limits.reserve_ratio,
            reason: String::new(),
        }
    }

    pub(super) fn fits(&mut self, ctx: &Context, cost: u64) -> bool {
        let stats = ctx.inbox_stats();
        let used = stats.requests.saturating_sub(self.run_start_requests);
        if used + cost > self.max_per_run {
            self.reason = format!(
                "this run reached limits.max_requests_per_run = {} ({} used)",
                self.max_per_run, used
            );
            return false;
        }
        let now_unix = u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0);
        if let Some(limit) = stats.last_limit
            && limit.is_long_window(now_unix)
        {
            let reserve = (limit.limit as f64 * self.reserve_ratio).ceil() as u64;
            let available = limit.remaining.saturating_sub(reserve);
            if cost > available {
                let refills = i64::try_from(limit.reset_unix)
                    .ok()
                    .and_then(|secs| chrono::DateTime::from_timestamp(secs, 0))
                    .map(|at| format!(", it refills from {}", at.format("%H:%M:%SZ")))
                    .unwrap_or_default();
                self.reason = format!(
                    "the team's API budget is down to {} of {} requests and {:.0}% is kept for people (limits.reserve_ratio){refills}",
                    limit.remaining,
                    limit.limit,
                    self.reserve_ratio * 100.0
                );
                return false;
            }
        }
        true
    }

    /// Why the budget ran out, in a few words.
    pub(super) fn reason(&self) -> &str {
        &self.reason
    }

    pub(super) fn message(&self) -> String {
        format!(
            "stopped pushing: {}; the prospects not pushed are left for the next run",
            self.reason
        )
    }
}
