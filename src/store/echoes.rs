//! The receipts an incremental pull on Inbox API v2 may find echoed in the event log. Events
//! carry no actor: the events crmsync's own writes cause are told apart by the change log
//! rows those writes left (`engine::receipts`). Only receipts of runs from the one whose pull
//! stored the event seq onwards count: their writes are the ones after that seq. A store that
//! never noted that run (an older crmsync) has none, so every event is re-read as before.

use rusqlite::params;

use crate::reconcile::{Side, Value};

use super::{ChangeStatus, Error, Result, RunId, Store};

/// `meta` key: the run whose pull stored `pull.event_seq`.
const EVENT_SEQ_RUN: &str = "pull.event_seq_run";

/// One Inbox write crmsync made (or attempted) since the stored seq.
#[derive(Clone, Debug, PartialEq)]
pub struct InboxReceipt {
    /// The contact or thread written.
    pub target: String,
    /// The value written (Inbox vocabulary: names and e-mails).
    pub value: Value,
}

impl Store {
    /// Notes that `run`'s pull stores the event seq (call it in the pull's transaction).
    pub fn note_event_seq_run(&self, run: RunId) -> Result<()> {
        self.set_meta(EVENT_SEQ_RUN, &run.0.to_string())
    }

    /// The Inbox writes, applied or attempted, of the run whose pull stored the event seq and
    /// of every run after it, oldest first.
    pub fn echo_receipts(&self) -> Result<Vec<InboxReceipt>> {
        let Some(run) = self
            .meta(EVENT_SEQ_RUN)?
            .and_then(|s| s.parse::<i64>().ok())
        else {
            return Ok(Vec::new());
        };
        let mut stmt = self.conn.prepare_cached(
            "SELECT target, new_value FROM changes
             WHERE run_id >= ?1 AND side = ?2 AND status IN (?3, ?4) AND new_value IS NOT NULL
             ORDER BY id",
        )?;
        let mut rows = stmt.query(params![
            run,
            Side::Inbox,
            ChangeStatus::Applied,
            ChangeStatus::Attempted
        ])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let text: String = r.get(1)?;
            let value = serde_json::from_str(&text).map_err(|e| Error::Corrupt {
                table: "changes",
                detail: format!("a stored value: {e}"),
            })?;
            out.push(InboxReceipt {
                target: r.get(0)?,
                value,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::Field;
    use crate::store::{BaseBefore, ChangeRow, RunMode};

    fn row(target: &str, value: Value, status: ChangeStatus) -> ChangeRow {
        ChangeRow {
            side: Side::Inbox,
            target: target.into(),
            field: value.field(),
            old: String::new(),
            new: String::new(),
            status,
            prospect_id: None,
            crm_id: None,
            old_value: None,
            new_value: Some(value),
            base_before: BaseBefore::Absent,
        }
    }

    #[test]
    fn only_receipts_of_runs_from_the_one_that_stored_the_seq_count() {
        let mut store = Store::open_in_memory().unwrap();
        let old = store
            .begin_run(RunMode::Sync, "2024-01-01T00:00:00Z")
            .unwrap();
        let done = Value::Done(Some(true));
        store
            .record_changes(old, &[row("t0", done.clone(), ChangeStatus::Applied)])
            .unwrap();
        assert_eq!(store.echo_receipts().unwrap(), vec![], "no run noted yet");
        let run = store
            .begin_run(RunMode::Sync, "2024-01-08T00:00:00Z")
            .unwrap();
        store.note_event_seq_run(run).unwrap();
        let rows = [
            row("t1", done.clone(), ChangeStatus::Applied),
            row("t2", done.clone(), ChangeStatus::Attempted),
            row("t3", done.clone(), ChangeStatus::Failed),
        ];
        store.record_changes(run, &rows).unwrap();
        let mut crm = row("r1", Value::Notes(None), ChangeStatus::Applied);
        crm.side = Side::Crm;
        store.record_changes(run, &[crm]).unwrap();
        let later = store
            .begin_run(RunMode::Sync, "2024-01-08T01:00:00Z")
            .unwrap();
        let assignee = Value::Assignee(Some("a@example.com".into()));
        store
            .record_changes(later, &[row("c1", assignee.clone(), ChangeStatus::Applied)])
            .unwrap();
        let got = store.echo_receipts().unwrap();
        let targets: Vec<(&str, Field)> = (got.iter())
            .map(|r| (r.target.as_str(), r.value.field()))
            .collect();
        assert_eq!(
            targets,
            [
                ("t1", Field::Done),
                ("t2", Field::Done),
                ("c1", Field::Assignee)
            ]
        );
        assert_eq!(got[2].value, assignee);
    }
}
