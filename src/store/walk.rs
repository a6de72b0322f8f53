//! Writing pulled pages into the mirror: upserts that skip unchanged rows, and what a full walk
//! has seen.
//!
//! A nightly walk of an unchanged inbox reads every thread and finds nothing new. To make that
//! cheap, every prospect and thread row carries a digest of the values it was written with
//! (`row_digest`), and a walk starts by loading the digests of the present rows
//! ([`Store::index_for_walk`]): a pulled row with the same digest costs a map lookup instead of
//! an upsert. Rows whose digest differs, or that the index does not know, go through the SQL
//! upsert, which still compares every column, so a stale or missing digest only costs time.

use foldhash::HashMap;

use rusqlite::params;

use super::{ChangedRow, ProspectRow, Result, RunId, Store, ThreadRow};
use crate::digest::Digest;

/// What a pull knows of the mirror's rows during one run.
#[derive(Default)]
pub(super) struct Seen {
    run: Option<RunId>,
    prospects: Marks,
    threads: Marks,
    /// Whether the digests in the marks may be trusted to skip an upsert: rows marked absent
    /// behind their back (a 404 on a re-read) make them stale.
    trusted: bool,
    /// Whether [`Store::index_for_walk`] loaded every present row with a digest.
    indexed: bool,
}

/// Rows of one table, by id.
#[derive(Default)]
struct Marks {
    rows: HashMap<String, Mark>,
    /// How many of `rows` this run's pages held.
    seen: usize,
}

#[derive(Clone, Copy, Default)]
struct Mark {
    /// The digest of the present row as stored (`None`: not known).
    digest: Option<u64>,
    /// Whether this run's pages held the row.
    seen: bool,
}

impl Seen {
    /// The marks for `run`, emptied if they belonged to another run.
    fn for_run(&mut self, run: RunId) -> &mut Seen {
        if self.run != Some(run) {
            *self = Seen {
                run: Some(run),
                trusted: true,
                ..Seen::default()
            };
        }
        self
    }
}

impl Marks {
    /// Notes a row held by this run's pages, to be stored with `digest` (one map lookup per
    /// pulled row); returns whether the stored row held that digest already.
    fn see(&mut self, id: &str, digest: u64) -> bool {
        let mark = match self.rows.get_mut(id) {
            Some(mark) => mark,
            None => self.rows.entry(id.to_owned()).or_default(),
        };
        let unchanged = mark.digest == Some(digest);
        mark.digest = Some(digest);
        if !mark.seen {
            mark.seen = true;
            self.seen += 1;
        }
        unchanged
    }

    fn was_seen(&self, id: &str) -> bool {
        self.rows.get(id).is_some_and(|m| m.seen)
    }
}

/// The digest of everything a prospect row stores. `scratch` is a buffer for the valuation's
/// text, so that an unchanged row costs no allocation.
fn prospect_digest(p: &ProspectRow, scratch: &mut String) -> u64 {
    use std::fmt::Write as _;
    let mut d = Digest::new();
    d.str(&p.id);
    d.str(&p.platform_id);
    d.str(&p.username);
    d.opt(p.display_name.as_deref());
    d.u64(p.tag_ids.len() as u64);
    for tag in &p.tag_ids {
        d.str(tag);
    }
    d.opt(p.status_id.as_deref());
    let valuation = p.valuation.map(|v| {
        scratch.clear();
        write!(scratch, "{v}").expect("writing to a String");
        scratch.as_str()
    });
    d.opt(valuation);
    d.opt(p.notes.as_deref());
    d.opt(p.last_updated_at.as_deref());
    d.finish()
}

/// The digest of everything a thread row stores.
fn thread_digest(t: &ThreadRow) -> u64 {
    let mut d = Digest::new();
    d.str(&t.id);
    d.str(&t.prospect_id);
    d.str(&t.account_link_id);
    d.opt(t.assignee_id.as_deref());
    d.bool(t.done);
    d.bool(t.is_request);
    d.opt(t.sort_ts.as_deref());
    d.finish()
}

/// Writes the rows of one table that the marks do not show unchanged, and marks every row
/// seen. `key` gives a row's id and digest; `upsert` writes it and says whether that changed a
/// synced value (a [`ChangedRow`] for `changed`).
fn write_changed<'r, R>(
    rows: &'r [R],
    marks: &mut Marks,
    trusted: bool,
    mut key: impl FnMut(&'r R) -> (&'r str, u64),
    mut upsert: impl FnMut(&'r R, u64) -> Result<Option<ChangedRow>>,
    changed: &mut Vec<ChangedRow>,
) -> Result<()> {
    for row in rows {
        let (id, digest) = key(row);
        // Marked before the upsert: if it fails, the pull is rolled back and the marks with it.
        let unchanged = marks.see(id, digest);
        if !(trusted && unchanged) {
            changed.extend(upsert(row, digest)?);
        }
    }
    Ok(())
}

/// Whether an upsert's `RETURNING changed_run` row says this run changed a synced value (no
/// row: nothing was written).
fn changed_in(run: RunId, returned: Option<&rusqlite::Row<'_>>) -> Result<bool> {
    Ok(match returned {
        Some(row) => row.get::<_, Option<i64>>(0)? == Some(run.0),
        None => false,
    })
}

impl Store {
    /// Before a full walk: loads the digests of the present rows, so that the walk's upserts
    /// skip the rows it finds unchanged (see the module docs).
    pub fn index_for_walk(&mut self, run: RunId) -> Result<()> {
        let seen = self.seen.for_run(run);
        seen.indexed = true;
        for (table, marks) in [
            ("prospects", &mut seen.prospects),
            ("threads", &mut seen.threads),
        ] {
            let mut stmt = self.conn.prepare(&format!(
                "SELECT id, row_digest FROM {table} WHERE present = 1 AND row_digest IS NOT NULL"
            ))?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            // Sized once: growing a map of 100k+ ids rehashes all of them each time.
            marks.rows.reserve(rows.len());
            for (id, digest) in rows {
                let mark = marks.rows.entry(id).or_default();
                // Digests are stored as SQLite's signed 64-bit integers.
                mark.digest = Some(digest as u64);
            }
        }
        Ok(())
    }

    /// The digests loaded by [`Store::index_for_walk`] no longer match the rows (some were
    /// marked absent): later upserts of this run go to SQL.
    pub(super) fn distrust_digests(&mut self) {
        self.seen.trusted = false;
    }

    /// Upserts one page of pulled threads and their prospects, in one transaction. Rows that
    /// hold these values already are not rewritten (a nightly walk of an unchanged inbox writes
    /// nothing); the ids are remembered for [`Store::mark_unseen_absent`].
    pub fn upsert_page(
        &mut self,
        run: RunId,
        prospects: &[ProspectRow],
        threads: &[ThreadRow],
    ) -> Result<Vec<ChangedRow>> {
        let mut changed = Vec::new();
        let seen = self.seen.for_run(run);
        let trusted = seen.trusted;
        let tx = self.conn.savepoint()?;
        {
            // `RETURNING changed_run` yields a row only when the row was inserted (NULL) or
            // updated; it holds this run only when a synced value of a row the mirror held as
            // present changed.
            let mut upsert_prospect = tx.prepare_cached(
                "INSERT INTO prospects (id, platform_id, username, display_name, tag_ids, status_id,
                                        valuation, notes, last_updated_at, present, seen_run,
                                        changed_run, row_digest)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 1, ?10, NULL, ?11)
                 ON CONFLICT(id) DO UPDATE SET
                    platform_id = excluded.platform_id, username = excluded.username,
                    display_name = excluded.display_name, tag_ids = excluded.tag_ids,
                    status_id = excluded.status_id, valuation = excluded.valuation,
                    notes = excluded.notes, last_updated_at = excluded.last_updated_at,
                    present = 1, seen_run = excluded.seen_run, row_digest = excluded.row_digest,
                    changed_run = CASE WHEN prospects.present = 1
                        AND (prospects.tag_ids IS NOT excluded.tag_ids
                            OR prospects.status_id IS NOT excluded.status_id
                            OR prospects.valuation IS NOT excluded.valuation
                            OR prospects.notes IS NOT excluded.notes)
                        THEN excluded.seen_run ELSE prospects.changed_run END
                 WHERE prospects.present = 0
                    OR prospects.platform_id IS NOT excluded.platform_id
                    OR prospects.username IS NOT excluded.username
                    OR prospects.display_name IS NOT excluded.display_name
                    OR prospects.tag_ids IS NOT excluded.tag_ids
                    OR prospects.status_id IS NOT excluded.status_id
                    OR prospects.valuation IS NOT excluded.valuation
                    OR prospects.notes IS NOT excluded.notes
                    OR prospects.last_updated_at IS NOT excluded.last_updated_at
                    OR prospects.row_digest IS NOT excluded.row_digest
                 RETURNING changed_run",
            )?;
            let mut scratch = String::new();
            write_changed(
                prospects,
                &mut seen.prospects,
                trusted,
                |p| (p.id.as_str(), prospect_digest(p, &mut scratch)),
                |p, digest| {
                    let tag_ids = serde_json::to_string(&p.tag_ids).expect("strings serialize");
                    let mut rows = upsert_prospect.query(params![
                        p.id,
                        p.platform_id,
                        p.username,
                        p.display_name,
                        tag_ids,
                        p.status_id,
                        p.valuation.map(|v| v.to_string()),
                        p.notes,
                        p.last_updated_at,
                        run.0,
                        digest as i64
                    ])?;
                    Ok(changed_in(run, rows.next()?)?.then(|| ChangedRow {
                        thread: None,
                        prospect: p.id.clone(),
                    }))
                },
                &mut changed,
            )?;
            let mut upsert_thread = tx.prepare_cached(
                "INSERT INTO threads (id, prospect_id, account_link_id, assignee_id, done, is_request,
                                      sort_ts, present, seen_run, changed_run, row_digest)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1, ?8, NULL, ?9)
                 ON CONFLICT(id) DO UPDATE SET
                    prospect_id = excluded.prospect_id, account_link_id = excluded.account_link_id,
                    assignee_id = excluded.assignee_id, done = excluded.done,
                    is_request = excluded.is_request, sort_ts = excluded.sort_ts,
                    present = 1, seen_run = excluded.seen_run, row_digest = excluded.row_digest,
                    changed_run = CASE WHEN threads.present = 1
                        AND (threads.assignee_id IS NOT excluded.assignee_id
                            OR threads.done IS NOT excluded.done
                            OR threads.sort_ts IS NOT excluded.sort_ts)
                        THEN excluded.seen_run ELSE threads.changed_run END
                 WHERE threads.present = 0
                    OR threads.prospect_id IS NOT excluded.prospect_id
                    OR threads.account_link_id IS NOT excluded.account_link_id
                    OR threads.assignee_id IS NOT excluded.assignee_id
                    OR threads.done IS NOT excluded.done
                    OR threads.is_request IS NOT excluded.is_request
                    OR threads.sort_ts IS NOT excluded.sort_ts
                    OR threads.row_digest IS NOT excluded.row_digest
                 RETURNING changed_run",
            )?;
            write_changed(
                threads,
                &mut seen.threads,
                trusted,
                |t| (t.id.as_str(), thread_digest(t)),
                |t, digest| {
                    let mut rows = upsert_thread.query(params![
                        t.id,
                        t.prospect_id,
                        t.account_link_id,
                        t.assignee_id,
                        t.done,
                        t.is_request,
                        t.sort_ts,
                        run.0,
                        digest as i64
                    ])?;
                    Ok(changed_in(run, rows.next()?)?.then(|| ChangedRow {
                        thread: Some(t.id.clone()),
                        prospect: t.prospect_id.clone(),
                    }))
                },
                &mut changed,
            )?;
        }
        tx.commit()?;
        Ok(changed)
    }

    /// How many distinct prospects and threads the pages of `run` have held so far.
    pub fn seen_counts(&self, run: RunId) -> (usize, usize) {
        if self.seen.run == Some(run) {
            (self.seen.prospects.seen, self.seen.threads.seen)
        } else {
            (0, 0)
        }
    }

    /// After a complete full walk: threads and prospects not seen by `run` are marked absent
    /// (never deleted). Returns (threads, prospects) marked absent.
    pub fn mark_unseen_absent(&mut self, run: RunId) -> Result<(u64, u64)> {
        let seen = std::mem::take(self.seen.for_run(run));
        let tx = self.conn.savepoint()?;
        let mark = |table: &str, marks: &Marks| -> Result<u64> {
            // Rows written this run carry its `seen_run`; unchanged rows it saw are marked seen.
            // After `index_for_walk` the marks hold every present row with a digest, so only
            // rows without one (none after the first walk) need to be looked for in SQL.
            let mut unseen: Vec<String> = Vec::new();
            if seen.indexed {
                unseen.extend(
                    marks
                        .rows
                        .iter()
                        .filter(|(_, m)| !m.seen)
                        .map(|(id, _)| id.clone()),
                );
            }
            let candidates = if seen.indexed {
                "AND row_digest IS NULL"
            } else {
                ""
            };
            let mut stmt = tx.prepare(&format!(
                "SELECT id FROM {table} WHERE present = 1 AND seen_run < ?1 {candidates}"
            ))?;
            for id in stmt.query_map([run.0], |r| r.get::<_, String>(0))? {
                let id = id?;
                if !marks.was_seen(&id) {
                    unseen.push(id);
                }
            }
            let mut stmt = tx.prepare(&format!(
                "UPDATE {table} SET present = 0 WHERE id = ?1 AND present = 1"
            ))?;
            let mut marked = 0;
            for id in &unseen {
                marked += stmt.execute([id])? as u64;
            }
            Ok(marked)
        };
        let threads = mark("threads", &seen.threads)?;
        let prospects = mark("prospects", &seen.prospects)?;
        tx.commit()?;
        Ok((threads, prospects))
    }
}
