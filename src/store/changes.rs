//! The change log: every write a run made or attempted, with the base it was made against.
//! Rows are recorded as a write's receipt before it is sent (`engine::receipts`) and settled
//! when it is answered; undo and the report read them back. Unknown stored text is an error,
//! never a default.

use rusqlite::params;
use serde::Serialize;

use crate::reconcile::{ContactId, Field, RecordId, Side, Value};

use super::{Error, Result, RunId, Store};

/// What became of one write in the change log. Stored as text in `changes.status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeStatus {
    /// The side holds the new value.
    Applied,
    /// Handed over in an import file; the CRM shows it once the user imports it.
    Pending,
    /// The side refused or did not take it.
    Failed,
    /// Undone by a later run.
    Reverted,
    /// Recorded before its request went out and never settled: the run stopped before the
    /// answer (killed, or the answer was lost). The side may or may not hold the value.
    Attempted,
}

impl ChangeStatus {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeStatus::Applied => "applied",
            ChangeStatus::Pending => "pending",
            ChangeStatus::Failed => "failed",
            ChangeStatus::Reverted => "reverted",
            ChangeStatus::Attempted => "attempted",
        }
    }

    /// The status stored as `text`.
    pub fn parse(text: &str) -> Option<ChangeStatus> {
        [
            ChangeStatus::Applied,
            ChangeStatus::Pending,
            ChangeStatus::Failed,
            ChangeStatus::Reverted,
            ChangeStatus::Attempted,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// The base a logged change was made against.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum BaseBefore {
    /// Not recorded (a change logged before migration 6).
    NotRecorded,
    /// The link had no base for the field (a first sync).
    Absent,
    /// The base held this value (Inbox vocabulary).
    Held(Value),
}

/// One applied (or attempted) write, for the change log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChangeRow {
    /// The side written.
    pub side: Side,
    /// Prospect, thread or record id.
    pub target: String,
    /// Field.
    pub field: Field,
    /// Old value (human form).
    pub old: String,
    /// New value (human form).
    pub new: String,
    /// What became of the write.
    pub status: ChangeStatus,
    /// The link's prospect, when known.
    pub prospect_id: Option<ContactId>,
    /// The link's CRM record, when known.
    pub crm_id: Option<RecordId>,
    /// Old value, machine-readable (for undo).
    pub old_value: Option<Value>,
    /// New value, machine-readable (for undo).
    pub new_value: Option<Value>,
    /// The base the write was made against. Filled in by the store when the change is logged
    /// (from the base table, which moves only after the run's writes), and read back by undo.
    pub base_before: BaseBefore,
}

impl Store {
    /// Appends to the change log, in one transaction. Each row also records the base of its
    /// link and field as it is now: the base moves only after a run's writes, so this is the
    /// base the write was made against (what `undo` puts back).
    /// Returns the rows' ids, in order.
    pub fn record_changes(&mut self, run: RunId, changes: &[ChangeRow]) -> Result<Vec<i64>> {
        let mut ids = Vec::with_capacity(changes.len());
        if changes.is_empty() {
            return Ok(ids);
        }
        let tx = self.conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO changes (run_id, side, target, field, old, new, status, prospect_id,
                                      crm_id, old_value, new_value, base_before, base_known)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11,
                         (SELECT value FROM base WHERE prospect_id = ?8 AND field = ?4),
                         ?8 IS NOT NULL)",
            )?;
            let json = |v: &Option<Value>| {
                v.as_ref()
                    .map(|v| serde_json::to_string(v).expect("values serialize"))
            };
            for c in changes {
                stmt.execute(params![
                    run.0,
                    c.side,
                    c.target,
                    c.field,
                    c.old,
                    c.new,
                    c.status,
                    c.prospect_id,
                    c.crm_id,
                    json(&c.old_value),
                    json(&c.new_value)
                ])?;
                ids.push(tx.last_insert_rowid());
            }
        }
        tx.commit()?;
        Ok(ids)
    }

    /// Sets the status of logged changes (a write's receipt, once it is answered).
    pub fn settle_changes(&mut self, ids: &[i64], status: ChangeStatus) -> Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached("UPDATE changes SET status = ?1 WHERE id = ?2")?;
            for id in ids {
                stmt.execute(params![status, id])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The logged changes of a run, oldest first.
    pub fn applied_changes(&self, run: RunId) -> Result<Vec<ChangeRow>> {
        let mut stmt = self.conn.prepare(
            "SELECT side, target, field, COALESCE(old, ''), COALESCE(new, ''), status, prospect_id,
                    crm_id, old_value, new_value, base_before, base_known
             FROM changes WHERE run_id = ?1 ORDER BY id",
        )?;
        let mut rows = stmt.query([run.0])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let text = |idx: usize| -> Result<String> { Ok(r.get::<_, String>(idx)?) };
            let value = |idx: usize| -> Result<Option<Value>> {
                r.get::<_, Option<String>>(idx)?
                    .map(|v| serde_json::from_str::<Value>(&v))
                    .transpose()
                    .map_err(|e| Error::Corrupt {
                        table: "changes",
                        detail: format!("a stored value: {e}"),
                    })
            };
            let base_before = match (r.get::<_, bool>(11)?, value(10)?) {
                (false, _) => BaseBefore::NotRecorded,
                (true, None) => BaseBefore::Absent,
                (true, Some(v)) => BaseBefore::Held(v),
            };
            out.push(ChangeRow {
                side: r.get(0)?,
                target: text(1)?,
                field: r.get(2)?,
                old: text(3)?,
                new: text(4)?,
                status: r.get(5)?,
                prospect_id: r.get(6)?,
                crm_id: r.get(7)?,
                old_value: value(8)?,
                new_value: value(9)?,
                base_before,
            });
        }
        Ok(out)
    }
}
