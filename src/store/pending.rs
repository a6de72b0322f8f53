//! The values handed to the CRM in an import file and not yet seen in the export, with the
//! base each stands for once the export shows it.

use std::collections::HashMap;

use rusqlite::params;

use crate::reconcile::{Field, RecordId, Value};

use super::{Error, Result, RunId, Store};

impl Store {
    /// Values waiting in an import file, by CRM record id.
    pub fn load_pending(&self) -> Result<HashMap<RecordId, Vec<Value>>> {
        let mut out: HashMap<RecordId, Vec<Value>> = HashMap::new();
        let mut stmt = self
            .conn
            .prepare("SELECT crm_id, value FROM pending ORDER BY crm_id, field")?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get::<_, RecordId>(0)?, r.get::<_, String>(1)?))
        })?;
        for row in rows {
            let (crm_id, value) = row?;
            let value: Value = serde_json::from_str(&value).map_err(|e| Error::Corrupt {
                table: "pending",
                detail: format!("{crm_id}: {e}"),
            })?;
            out.entry(crm_id).or_default().push(value);
        }
        Ok(out)
    }

    /// Replaces the pending set with `pending` (crm id, value, and the base the value moves the
    /// link to once the export shows it), in one transaction.
    pub fn replace_pending(
        &mut self,
        run: RunId,
        pending: &[(RecordId, Value, Option<Value>)],
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute("DELETE FROM pending", [])?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT OR REPLACE INTO pending (crm_id, field, value, run_id, base_value)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            let json = |v: &Value| serde_json::to_string(v).expect("values serialize");
            for (crm_id, value, base) in pending {
                stmt.execute(params![
                    crm_id,
                    value.field().as_str(),
                    json(value),
                    run.0,
                    base.as_ref().map(json)
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The bases the pending values stand for, by (crm id, field) (see `replace_pending`).
    pub fn load_pending_bases(&self) -> Result<HashMap<(RecordId, Field), Value>> {
        let mut stmt = self.conn.prepare(
            "SELECT crm_id, field, base_value FROM pending WHERE base_value IS NOT NULL",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, RecordId>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        let mut out = HashMap::new();
        for row in rows {
            let (crm_id, field, value) = row?;
            let corrupt = |detail: String| Error::Corrupt {
                table: "pending",
                detail,
            };
            let field = Field::parse(&field).ok_or_else(|| corrupt(format!("field {field:?}")))?;
            let value: Value =
                serde_json::from_str(&value).map_err(|e| corrupt(format!("{crm_id}: {e}")))?;
            out.insert((crm_id, field), value);
        }
        Ok(out)
    }
}
