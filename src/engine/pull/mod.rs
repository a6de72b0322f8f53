//! Phase 2 of a run, pull: Inbox reference data and threads (v1) or contacts (v2) into the
//! mirror, by a full walk or by replaying the event log, in one transaction: a pull that fails
//! half-way leaves the mirror (and the stored seq) as they were.
//!
//! [`pull`] dispatches once on the API in use (`inbox::Inbox`) to its half, `v1` or `v2`; both
//! hand back the same [`PullReport`], so no phase after the pull knows which API ran. Each half
//! decides between a walk and a replay and says why it walked ([`FullReason`]). This module
//! does not print; SQL stays in `store`.

pub(super) mod v1;
pub(super) mod v2;

use serde::Serialize;

use crate::inbox;
use crate::store::{RunId, Store};

use super::{Context, RunOptions};

/// How a pull read Inbox.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PullMode {
    /// Every thread of every view.
    #[default]
    Full,
    /// Only what the event log named since the stored seq.
    Incremental,
}

/// Why a pull walked every thread instead of replaying the event log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FullReason {
    /// `--full`.
    Requested,
    /// No event seq stored: the first pull, or the event log was unavailable last time.
    NoCursor,
    /// The stored seq belongs to another team (the token changed).
    TeamChanged,
    /// The last full walk is older than `[pull] full_every_hours`.
    Schedule,
    /// The event log was last read more than 7 days ago: events after the seq may be gone.
    Retention,
    /// The first retained event comes after the stored seq + 1: events were dropped.
    Gap,
    /// `GET /events` refused the stored seq (a 4xx).
    EventsRefused,
    /// A tag or status was deleted; Inbox strips it from prospects without per-prospect events.
    ReferenceDeleted,
    /// The event log has never returned an event (and returned none now): it may be silent.
    LogUnproven,
    /// A full walk found changes the event log did not record.
    LogIncomplete,
    /// Re-reading what the events name would take more requests than walking every view.
    CheaperThanReplay,
    /// The stored seq is Inbox API v1's: the first pull from API v2 walks.
    V1Mirror,
}

impl FullReason {
    /// One line for humans.
    pub fn describe(self) -> &'static str {
        match self {
            FullReason::Requested => "--full was given",
            FullReason::NoCursor => "no event seq stored yet",
            FullReason::TeamChanged => "the stored event seq belongs to another team",
            FullReason::Schedule => "the last full walk is older than pull.full_every_hours",
            FullReason::Retention => "the event log was last read more than 7 days ago",
            FullReason::Gap => "the stored event seq fell out of the retained event log",
            FullReason::EventsRefused => "the event log refused the stored seq",
            FullReason::ReferenceDeleted => "a tag or status was deleted",
            FullReason::LogUnproven => "the event log has not returned any event yet",
            FullReason::LogIncomplete => "the event log missed changes a full walk found",
            FullReason::CheaperThanReplay => {
                "re-reading what the events name would take more requests than a walk"
            }
            FullReason::V1Mirror => "the mirror was pulled from Inbox API v1 until now",
        }
    }
}

/// What a pull did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PullReport {
    /// `full` or `incremental`.
    pub mode: PullMode,
    /// Why a full walk was chosen (`None` for an incremental pull).
    pub full_reason: Option<FullReason>,
    /// Prospects present in the mirror after the pull.
    pub prospects: u64,
    /// Threads present in the mirror after the pull.
    pub threads: u64,
    /// Thread-list pages fetched (0 when incremental).
    pub pages: u64,
    /// Events replayed (before and after a full walk, or since the stored seq).
    pub events_replayed: u64,
    /// `GET /events` requests.
    pub event_pages: u64,
    /// The event seq stored for the next pull (`None`: the log was unavailable).
    pub event_seq: Option<u64>,
    /// Threads re-read with `GET /threads/{id}`.
    pub reread_threads: u64,
    /// Prospects re-read with `GET /prospects/{id}` (v2: contacts with `GET /contacts/{id}`).
    pub reread_prospects: u64,
    /// v2: events recognised by their receipts as the echo of crmsync's own writes (their
    /// values taken without a re-read).
    pub echoes: u64,
    /// Full walk only: rows that changed since the last pull without any event naming them.
    pub unexplained_changes: u64,
    /// Threads whose prospect has no Inbox id (cannot be addressed; skipped).
    pub skipped_without_id: u64,
    /// Threads and prospects marked absent (no view lists them any more, or a 404).
    pub marked_absent: (u64, u64),
    /// Seconds spent.
    pub seconds: f64,
}

/// Fetches reference data, then walks every view or replays the event log (see the module
/// docs), in one transaction: a pull that fails half-way leaves the mirror as it was.
pub async fn pull(
    ctx: &Context,
    store: &mut Store,
    run: RunId,
    opts: &RunOptions,
) -> anyhow::Result<PullReport> {
    let mut tx = store.begin_pull()?;
    let pulled = match &ctx.inbox {
        inbox::Inbox::V2(client) => v2::pull(ctx, client, &mut tx, run, opts).await,
        inbox::Inbox::V1(client) => v1::pull(ctx, client, &mut tx, run, opts).await,
    };
    match pulled {
        Ok(report) => {
            tx.commit()?;
            Ok(report)
        }
        Err(err) => {
            tx.rollback()?;
            Err(err)
        }
    }
}
