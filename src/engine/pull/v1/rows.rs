//! The mirror rows of what Inbox API v1 answers: a thread with its embedded prospect, or a
//! prospect read on its own. Shared by the walk and the replay; no I/O.

use crate::inbox;
use crate::reconcile::ContactId;
use crate::store::{ProspectRow, ThreadRow};

/// The mirror rows of a thread and its embedded prospect; `None` when the prospect has no
/// Inbox id (it cannot be addressed).
pub(super) fn rows(thread: inbox::Thread) -> Option<(ProspectRow, ThreadRow)> {
    let prospect_id = ContactId::from(thread.prospect.external_id.clone()?);
    let row = ThreadRow {
        id: thread.id.into(),
        prospect_id: prospect_id.clone(),
        account_link_id: thread.account_link_id,
        assignee_id: thread.assignee_id,
        done: thread.done,
        is_request: thread.is_request,
        sort_ts: thread.computed_sort_timestamp,
    };
    Some((prospect_row(prospect_id, thread.prospect), row))
}

/// The mirror row of a prospect read with the Inbox id `id`.
pub(in crate::engine) fn prospect_row(id: ContactId, p: inbox::Prospect) -> ProspectRow {
    ProspectRow {
        id,
        platform_id: p.platform_id,
        username: p.username,
        display_name: Some(p.display_name),
        // Sorted: an equal set is equal text in the mirror.
        tag_ids: {
            let mut tags = p.context.tags;
            tags.sort_unstable();
            tags
        },
        status_id: p.context.status_id,
        valuation: p.context.valuation,
        notes: p.context.notes,
        last_updated_at: p.last_updated_at.map(|t| t.to_rfc3339()),
        default_assignee_id: None,
    }
}
