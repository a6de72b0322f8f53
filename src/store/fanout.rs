//! Threads that did not take a fanned-out write (API v2): remembered for the next push, so
//! that a thread is retried once before its miss becomes a `fanout` conflict.
//!
//! A row is (thread, field) -> the value it did not take, the contact and the run that wrote
//! it. A thread that takes the value clears its row; a push that ran to its end forgets the
//! rows it did not retry (their misses are no longer consecutive).

use std::collections::{BTreeSet, HashMap, HashSet};

use rusqlite::{OptionalExtension, params};

use crate::reconcile::{ContactId, Field, ThreadId};

use super::{MAX_IDS_PER_QUERY, Result, RunId, Store};

/// What a thread's miss of a value is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Miss {
    /// The first one (or the first of this value): retried on the next run.
    First,
    /// The thread missed the same value on the push before: a conflict.
    Again,
}

impl Store {
    /// Records that `thread_id` of `prospect_id` did not take `value` for `field` in `run`,
    /// and says whether it missed that value on an earlier push too.
    pub fn note_fanout_miss(
        &mut self,
        run: RunId,
        (prospect_id, thread_id): (&ContactId, &ThreadId),
        field: Field,
        value: &str,
    ) -> Result<Miss> {
        let tx = self.conn.savepoint()?;
        let before: Option<String> = tx
            .query_row(
                "SELECT value FROM fanout_misses WHERE thread_id = ?1 AND field = ?2",
                params![thread_id, field.as_str()],
                |r| r.get(0),
            )
            .optional()?;
        tx.execute(
            "INSERT INTO fanout_misses (thread_id, field, prospect_id, value, run_id)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (thread_id, field) DO UPDATE SET
                prospect_id = excluded.prospect_id, value = excluded.value,
                run_id = excluded.run_id",
            params![thread_id, field.as_str(), prospect_id, value, run],
        )?;
        tx.commit()?;
        Ok(if before.as_deref() == Some(value) {
            Miss::Again
        } else {
            Miss::First
        })
    }

    /// Forgets a thread's miss of `field`: it took the value.
    pub fn clear_fanout_miss(&mut self, thread_id: &ThreadId, field: Field) -> Result<()> {
        self.conn.execute(
            "DELETE FROM fanout_misses WHERE thread_id = ?1 AND field = ?2",
            params![thread_id, field.as_str()],
        )?;
        Ok(())
    }

    /// Forgets the misses of earlier runs that `run`'s push did not retry, except those of
    /// the contacts it left for the next run.
    pub fn forget_stale_fanout_misses(
        &mut self,
        run: RunId,
        kept: &HashSet<&ContactId>,
    ) -> Result<()> {
        let tx = self.conn.savepoint()?;
        let stale: Vec<(String, String)> = {
            let mut stmt = tx.prepare(
                "SELECT thread_id, field, prospect_id FROM fanout_misses WHERE run_id <> ?1",
            )?;
            stmt.query_map(params![run], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, ContactId>(2)?,
                ))
            })?
            .filter(|row| !matches!(row, Ok((_, _, p)) if kept.contains(p)))
            .map(|row| row.map(|(thread, field, _)| (thread, field)))
            .collect::<rusqlite::Result<_>>()?
        };
        for (thread, field) in stale {
            tx.execute(
                "DELETE FROM fanout_misses WHERE thread_id = ?1 AND field = ?2",
                params![thread, field],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The fields with a thread to retry, per prospect, of `prospect_ids`.
    pub fn fanout_retries_for(
        &self,
        prospect_ids: &[&ContactId],
    ) -> Result<HashMap<ContactId, BTreeSet<Field>>> {
        let mut out: HashMap<ContactId, BTreeSet<Field>> = HashMap::new();
        for chunk in prospect_ids.chunks(MAX_IDS_PER_QUERY) {
            let placeholders = vec!["?"; chunk.len()].join(",");
            let mut stmt = self.conn.prepare(&format!(
                "SELECT prospect_id, field FROM fanout_misses WHERE prospect_id IN ({placeholders})"
            ))?;
            let rows = stmt.query_map(rusqlite::params_from_iter(chunk), |r| {
                Ok((r.get::<_, ContactId>(0)?, r.get::<_, String>(1)?))
            })?;
            for row in rows {
                let (prospect, field) = row?;
                // A field this build does not know cannot be retried: skip it.
                if let Some(field) = Field::parse(&field) {
                    out.entry(prospect).or_default().insert(field);
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_miss_of_the_same_value_is_again_and_a_take_or_a_stale_push_forgets() {
        let mut store = Store::open_in_memory().unwrap();
        let (c1, c2, t1) = (
            ContactId::from("c1"),
            ContactId::from("c2"),
            ThreadId::from("t1"),
        );
        let key = (&c1, &t1);
        let first = store.note_fanout_miss(RunId(1), key, Field::Done, "true");
        assert_eq!(first.unwrap(), Miss::First);
        let retries = store.fanout_retries_for(&[&c1, &c2]).unwrap();
        assert_eq!(retries["c1"], BTreeSet::from([Field::Done]));
        assert!(!retries.contains_key("c2"));
        // Another value is a first miss again; the same one twice is not.
        let other = store.note_fanout_miss(RunId(2), key, Field::Done, "false");
        assert_eq!(other.unwrap(), Miss::First);
        let again = store.note_fanout_miss(RunId(3), key, Field::Done, "false");
        assert_eq!(again.unwrap(), Miss::Again);
        store.clear_fanout_miss(&t1, Field::Done).unwrap();
        let after = store.note_fanout_miss(RunId(4), key, Field::Done, "false");
        assert_eq!(after.unwrap(), Miss::First);
        // Run 5 did not retry it: forgotten, unless its contact was left for the next run.
        store
            .forget_stale_fanout_misses(RunId(5), &HashSet::from([&c1]))
            .unwrap();
        assert!(!store.fanout_retries_for(&[&c1]).unwrap().is_empty());
        store
            .forget_stale_fanout_misses(RunId(5), &HashSet::new())
            .unwrap();
        assert!(store.fanout_retries_for(&[&c1]).unwrap().is_empty());
    }
}
