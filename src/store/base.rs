//! The base: per link and field, the value both sides last agreed on (Inbox vocabulary, as
//! JSON). It moves only after a run's writes are confirmed.

use std::collections::HashMap;

use rusqlite::params;

use crate::reconcile::{BaseValues, ContactId, Field, Value};

use super::{Error, MAX_IDS_PER_QUERY, Result, RunId, Store};

impl Store {
    /// The base of every link, by prospect id.
    pub fn load_base(&self) -> Result<HashMap<ContactId, BaseValues>> {
        let mut out = HashMap::new();
        self.load_base_where("", &[], &mut out)?;
        Ok(out)
    }

    /// The base of the given links, by prospect id.
    pub fn load_base_for(
        &self,
        prospect_ids: &[&ContactId],
    ) -> Result<HashMap<ContactId, BaseValues>> {
        let mut out = HashMap::new();
        for chunk in prospect_ids.chunks(MAX_IDS_PER_QUERY) {
            let placeholders = vec!["?"; chunk.len()].join(",");
            self.load_base_where(
                &format!("WHERE prospect_id IN ({placeholders})"),
                chunk,
                &mut out,
            )?;
        }
        Ok(out)
    }

    /// Adds the base rows passing `filter` (a `WHERE` clause, or empty) to `out`.
    fn load_base_where(
        &self,
        filter: &str,
        params: &[&ContactId],
        out: &mut HashMap<ContactId, BaseValues>,
    ) -> Result<()> {
        let mut stmt = self
            .conn
            .prepare(&format!("SELECT prospect_id, value FROM base {filter}"))?;
        let rows = stmt.query_map(rusqlite::params_from_iter(params), |r| {
            Ok((r.get::<_, ContactId>(0)?, r.get::<_, String>(1)?))
        })?;
        for row in rows {
            let (prospect_id, value) = row?;
            let value: Value = serde_json::from_str(&value).map_err(|e| Error::Corrupt {
                table: "base",
                detail: format!("{prospect_id}: {e}"),
            })?;
            out.entry(prospect_id).or_default().set(value);
        }
        Ok(())
    }

    /// Moves the base for confirmed values, in one transaction.
    pub fn save_base(&mut self, run: RunId, confirmed: &[(ContactId, Value)]) -> Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO base (prospect_id, field, value, run_id) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(prospect_id, field) DO UPDATE SET value = excluded.value, run_id = excluded.run_id
                 WHERE base.value <> excluded.value",
            )?;
            for (prospect_id, value) in confirmed {
                let json = serde_json::to_string(value).expect("values serialize");
                stmt.execute(params![prospect_id, value.field().as_str(), json, run.0])?;
            }
        }
        crate::failpoint::hit("base-before-commit");
        tx.commit()?;
        Ok(())
    }

    /// Puts the base of each (prospect, field) back to a value it held before (`None`: no base),
    /// as `undo` does for what it reverted.
    pub fn restore_base(
        &mut self,
        run: RunId,
        restores: &[(ContactId, Field, Option<Value>)],
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut set = tx.prepare_cached(
                "INSERT INTO base (prospect_id, field, value, run_id) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(prospect_id, field) DO UPDATE SET value = excluded.value, run_id = excluded.run_id",
            )?;
            let mut forget =
                tx.prepare_cached("DELETE FROM base WHERE prospect_id = ?1 AND field = ?2")?;
            for (prospect_id, field, value) in restores {
                match value {
                    Some(value) => {
                        let json = serde_json::to_string(value).expect("values serialize");
                        set.execute(params![prospect_id, field.as_str(), json, run.0])?;
                    }
                    None => {
                        forget.execute(params![prospect_id, field.as_str()])?;
                    }
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Replaces the whole base with `agreed` (a re-baseline after a mapping change).
    pub fn replace_base(&mut self, run: RunId, agreed: &[(ContactId, Value)]) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute("DELETE FROM base", [])?;
        // Every link's base moved: none is known clean any more.
        tx.execute("UPDATE links SET clean_crm = NULL", [])?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO base (prospect_id, field, value, run_id) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for (prospect_id, value) in agreed {
                let json = serde_json::to_string(value).expect("values serialize");
                stmt.execute(params![prospect_id, value.field().as_str(), json, run.0])?;
            }
        }
        tx.commit()?;
        Ok(())
    }
}
