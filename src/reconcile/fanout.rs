//! Multi-account fan-out (docs/design.md §5): the Inbox value of a thread field (assignee,
//! done) and where Inbox writes to it go.
//!
//! A prospect-level write of assignee or done lands on every thread of the prospect, so the
//! prospect-level value exists only when the threads agree. This module only reads the threads
//! and the fan-out mode; it decides nothing about the CRM side and does no I/O.

use super::ids::ThreadId;
use super::model::{FanoutMode, Field, ThreadState, Value};
use super::vocab::canonical;

/// The Inbox side of a thread field, as the merge sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum InboxView {
    /// The prospect has no thread: the field does not exist on the Inbox side, so it is skipped
    /// entirely for the link (no write on either side, no conflict).
    Absent,
    /// The threads disagree and the mode is `skip`: nothing planned, nothing recorded.
    Skip,
    /// The threads disagree: a `fanout` conflict listing these threads.
    Disagree(Vec<ThreadState>),
    /// The threads disagree and the mode is `force`: the CRM value goes to every thread. The
    /// threads are listed for the conflict raised when the CRM has no value to force.
    Force(Vec<ThreadState>),
    /// The Inbox value, and where Inbox writes go.
    Value {
        /// The value the counted threads agree on (canonical, Inbox vocabulary).
        value: Value,
        /// Where a write of this field goes.
        target: Target,
    },
}

/// Where an Inbox write of a thread field goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// The prospect-level context patch (fans out to every thread, which all agree).
    Prospect,
    /// Per-thread patches of these threads only (per-thread mode), sorted by id.
    Threads(Vec<ThreadId>),
}

/// Reads a thread field's Inbox value under a fan-out mode.
///
/// In per-thread mode only the threads on the chosen account count, and writes go to them
/// alone; when the prospect has no thread on that account the mode behaves as `log`.
pub(crate) fn inbox_view(field: Field, threads: &[ThreadState], mode: &FanoutMode) -> InboxView {
    if threads.is_empty() {
        return InboxView::Absent;
    }
    let chosen: Vec<&ThreadState> = match mode {
        FanoutMode::PerThread { account } => threads
            .iter()
            .filter(|thread| same_account(&thread.account, account))
            .collect(),
        _ => Vec::new(),
    };
    let per_thread = !chosen.is_empty();
    let counted: Vec<&ThreadState> = if per_thread {
        chosen
    } else {
        threads.iter().collect()
    };

    let first = thread_value(field, counted[0]);
    if counted[1..]
        .iter()
        .all(|thread| thread_value(field, thread) == first)
    {
        let target = if per_thread {
            let mut ids: Vec<ThreadId> = counted.iter().map(|t| t.thread_id.clone()).collect();
            ids.sort();
            Target::Threads(ids)
        } else {
            Target::Prospect
        };
        return InboxView::Value {
            value: first,
            target,
        };
    }
    let mut listed: Vec<ThreadState> = counted.into_iter().cloned().collect();
    listed.sort_by(|a, b| {
        (a.account.to_lowercase(), &a.thread_id).cmp(&(b.account.to_lowercase(), &b.thread_id))
    });
    match mode {
        FanoutMode::Skip => InboxView::Skip,
        FanoutMode::Force => InboxView::Force(listed),
        FanoutMode::Log | FanoutMode::PerThread { .. } => InboxView::Disagree(listed),
    }
}

/// The canonical value of a thread field on one thread.
pub fn thread_value(field: Field, thread: &ThreadState) -> Value {
    match field {
        Field::Assignee => canonical(Value::Assignee(thread.assignee.clone())),
        Field::Done => Value::Done(Some(thread.done)),
        // Only assignee and done live on threads; callers check `Field::is_thread_field`.
        other => Value::empty(other),
    }
}

/// Whether a thread's account username is the configured one (case-insensitive, `@` optional).
fn same_account(username: &str, wanted: &str) -> bool {
    let strip = |name: &str| name.trim().trim_start_matches('@').to_lowercase();
    strip(username) == strip(wanted)
}

/// A thread's account username without a leading `@`.
pub(crate) fn account_name(thread: &ThreadState) -> &str {
    thread.account.trim().trim_start_matches('@')
}

/// How people read a platform the API names `platform`: `X`, `LinkedIn`, or the name itself.
pub fn platform_label(platform: &str) -> &str {
    match platform {
        "twitter" => "X",
        "linkedin" => "LinkedIn",
        other => other,
    }
}

/// A thread's account and platform for people: `@sales_a (X)`, `@jane-li (LinkedIn)`; just
/// `@account` when the platform is not known.
pub fn thread_account(thread: &ThreadState) -> String {
    match thread.platform.as_str() {
        "" => format!("@{}", account_name(thread)),
        platform => format!("@{} ({})", account_name(thread), platform_label(platform)),
    }
}

/// One line naming each thread's account, platform and value of `field`:
/// `threads disagree on done: @sales_a (X): true, @jane-li (LinkedIn): false`.
pub fn disagreement(field: Field, threads: &[ThreadState]) -> String {
    let listed: Vec<String> = threads
        .iter()
        .map(|thread| format!("{}: {}", thread_account(thread), shown(field, thread)))
        .collect();
    format!("threads disagree on {field}: {}", listed.join(", "))
}

/// A thread's value of `field` as a conflict shows it (no assignee reads `(unassigned)`).
fn shown(field: Field, thread: &ThreadState) -> String {
    match thread_value(field, thread) {
        Value::Assignee(None) => "(unassigned)".to_string(),
        value => value.to_string(),
    }
}
