//! Reading the CRM for a run: in full, or only the records changed since the last read merged
//! into the stored copy (`store::crm_mirror`), so that the rest of the run always sees every
//! record, exactly as after a full read.
//!
//! A full read happens on the first run, on `--full`, when the adapter's incremental key
//! changed (another account, a remapped property), when the last full read is older than
//! `[pull] full_every_hours` (only a full read sees deleted records, and values converted with
//! lookups that changed since, such as a renamed tag option), and for adapters that cannot read
//! incrementally (CSV: nothing is stored for them). Otherwise the adapter reads what changed
//! since the stored watermark minus [`OVERLAP`]: the watermark is the run's own clock, so the
//! overlap absorbs clock skew against the CRM and its search index lag; re-reading a record is
//! harmless because the merge is idempotent.
//!
//! This module decides how to read and keeps the copy current; it does not match, reconcile
//! or write anything to the CRM.

use chrono::{DateTime, Duration, Utc};

use crate::crm::{self, CrmAdapter, CrmSnapshot};
use crate::store::crm_mirror::CrmMirrorState;
use crate::store::{self, Store};

/// How far before the stored watermark an incremental read starts.
pub const OVERLAP: Duration = Duration::minutes(5);

/// A CRM read that failed: nothing was stored.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The adapter failed.
    #[error(transparent)]
    Crm(#[from] crm::Error),
    /// The stored copy could not be read or written.
    #[error(transparent)]
    Store(#[from] store::Error),
}

/// How a run reads the CRM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReadPlan {
    /// Every record; the reason, for the log.
    Full(&'static str),
    /// The records modified at or after `since`, merged into the stored copy.
    Incremental {
        /// Where the read starts (the watermark minus [`OVERLAP`]).
        since: DateTime<Utc>,
    },
}

/// Decides how to read, from the stored copy's state (pure).
pub fn plan_read(
    state: &CrmMirrorState,
    key: &str,
    full: bool,
    full_every_hours: u64,
    now: DateTime<Utc>,
) -> ReadPlan {
    if full {
        return ReadPlan::Full("--full");
    }
    match state.key.as_deref() {
        None => return ReadPlan::Full("first read"),
        Some(stored) if stored != key => {
            return ReadPlan::Full("the CRM or its field mapping changed since the last read");
        }
        Some(_) => {}
    }
    let (Some(watermark), Some(last_full_at)) = (state.watermark, state.last_full_at) else {
        return ReadPlan::Full("no watermark");
    };
    let every = i64::try_from(full_every_hours)
        .ok()
        .and_then(Duration::try_hours)
        .unwrap_or(Duration::MAX);
    if now - last_full_at >= every {
        return ReadPlan::Full("the last full read is older than pull.full_every_hours");
    }
    // A clock that went back must not skip the records changed in between.
    ReadPlan::Incremental {
        since: watermark.min(now) - OVERLAP,
    }
}

/// Reads the CRM for a run that started at `now` and returns every record: a full read, or the
/// stored copy with the changed records merged in (see the module docs). `full` forces a full
/// read; `full_every_hours` bounds the time between two.
pub async fn read_crm<A: CrmAdapter>(
    crm: &mut A,
    store: &mut Store,
    full: bool,
    full_every_hours: u64,
    now: DateTime<Utc>,
) -> Result<CrmSnapshot, ReadError> {
    let Some(key) = crm.incremental_key() else {
        return Ok(crm.read().await?);
    };
    let state = store.crm_mirror_state()?;
    let plan = plan_read(&state, &key, full, full_every_hours, now);
    if let ReadPlan::Incremental { since } = plan
        && let Some(changed) = crm.read_changed_since(since).await?
    {
        store.merge_crm_mirror(&changed, now)?;
        let mut snapshot = store.load_crm_mirror()?;
        // Rejects that name no record cannot be stored; this run reports them.
        snapshot.rejects.extend(
            changed
                .rejects
                .into_iter()
                .filter(|r| r.record_id.is_none()),
        );
        tracing::info!(
            crm = %crm.name(),
            %since,
            changed = changed.records.len(),
            records = snapshot.records.len(),
            "read the CRM records changed since the last read"
        );
        return Ok(snapshot);
    }
    let reason = match plan {
        ReadPlan::Full(reason) => reason,
        ReadPlan::Incremental { .. } => "the adapter cannot read incrementally",
    };
    let snapshot = crm.read().await?;
    store.replace_crm_mirror(&key, &snapshot, now)?;
    tracing::info!(
        crm = %crm.name(),
        reason,
        records = snapshot.records.len(),
        "read the CRM in full"
    );
    Ok(snapshot)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minutes: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).unwrap() + Duration::minutes(minutes)
    }

    fn state(key: &str, watermark: i64, last_full_at: i64) -> CrmMirrorState {
        CrmMirrorState {
            key: Some(key.into()),
            watermark: Some(at(watermark)),
            last_full_at: Some(at(last_full_at)),
            records: 10,
        }
    }

    #[test]
    fn full_reads_come_first_on_demand_on_a_new_key_and_on_schedule() {
        let stored = state("k", 60, 0);
        assert_eq!(
            plan_read(&CrmMirrorState::default(), "k", false, 24, at(61)),
            ReadPlan::Full("first read")
        );
        assert_eq!(
            plan_read(&stored, "k", true, 24, at(61)),
            ReadPlan::Full("--full")
        );
        assert!(matches!(
            plan_read(&stored, "other", false, 24, at(61)),
            ReadPlan::Full(_)
        ));
        assert_eq!(
            plan_read(&stored, "k", false, 24, at(61)),
            ReadPlan::Incremental { since: at(55) }
        );
        assert!(matches!(
            plan_read(&stored, "k", false, 1, at(61)),
            ReadPlan::Full(_)
        ));
        assert!(matches!(
            plan_read(&stored, "k", false, 0, at(1)),
            ReadPlan::Full(_)
        ));
        // The clock went back: start from now, not from the future.
        assert_eq!(
            plan_read(&stored, "k", false, 24, at(30)),
            ReadPlan::Incremental { since: at(25) }
        );
    }
}
