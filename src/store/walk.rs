//! Writing pulled pages into the mirror: the pull's transaction, upserts that skip unchanged
//! rows, and what a full walk has seen.
//!
//! The order is kept by types: [`Store::begin_pull`] opens a [`Pull`], the transaction the
//! whole pull runs in (committed by [`Pull::commit`], rolled back when dropped).
//! [`Store::begin_walk`] opens a [`Walk`] for one run; its pages go through
//! [`Walk::upsert_page`], and only [`Walk::finish`], which consumes it, marks the rows no page
//! held absent. A walk dropped unfinished marks nothing. Between pages and `finish`, the walk
//! hands out the store (re-reads of rows that moved during the walk): their upserts count as
//! seen by the walk.
//!
//! A nightly walk of an unchanged inbox reads every thread and finds nothing new. To make that
//! cheap, every prospect and thread row carries a digest of the values it was written with
//! (`row_digest`), and a walk starts by loading the digests of the present rows: a pulled row
//! with the same digest costs a map lookup instead of an upsert. Rows whose digest differs, or
//! that the index does not know, go through the SQL upsert, which still compares every column,
//! so a stale or missing digest only costs time.

use std::hash::BuildHasher;
use std::ops::{Deref, DerefMut};

use hashbrown::HashTable;

use rusqlite::params;

use super::{Error, ProspectRow, Result, RunId, Store, ThreadRow};
use crate::digest::Digest;
use crate::reconcile::{ContactId, ThreadId};

/// A row of the mirror whose synced values an upsert changed (rows new to the mirror, or back
/// after being absent, are not changes): what a full walk checks the event log against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangedRow {
    /// The thread, when a thread's assignee, done or sort key changed.
    pub thread: Option<ThreadId>,
    /// The prospect (of the thread, or whose context changed).
    pub prospect: ContactId,
}

/// The pull's transaction: every step of a pull runs inside it (as savepoints), so a pull that
/// fails half-way leaves the mirror as it was. Rolled back when dropped uncommitted.
pub struct Pull<'s> {
    store: &'s mut Store,
}

impl Pull<'_> {
    /// Commits the pull.
    pub fn commit(self) -> Result<()> {
        crate::failpoint::hit("pull-before-commit");
        self.store.conn.execute_batch("COMMIT")?;
        Ok(())
    }

    /// Rolls the pull back (as dropping it does, but saying whether that worked).
    pub fn rollback(self) -> Result<()> {
        self.store.rollback_open_transaction()
    }
}

impl Drop for Pull<'_> {
    fn drop(&mut self) {
        // Committed or rolled back already, the connection is back in autocommit: a no-op.
        // Otherwise (an error or a panic left it open) the mirror stays as it was.
        let _ = self.store.rollback_open_transaction();
    }
}

impl Deref for Pull<'_> {
    type Target = Store;
    fn deref(&self) -> &Store {
        self.store
    }
}

impl DerefMut for Pull<'_> {
    fn deref_mut(&mut self) -> &mut Store {
        self.store
    }
}

/// A full walk of one run: its index of the mirror's rows and which of them its pages held.
/// Only [`Walk::finish`] marks the rows it did not see absent.
pub struct Walk<'s> {
    store: &'s mut Store,
    run: RunId,
}

impl Walk<'_> {
    /// Upserts one page of the walk (see [`Store::upsert_page`]).
    pub fn upsert_page(
        &mut self,
        prospects: &[ProspectRow],
        threads: &[ThreadRow],
    ) -> Result<Vec<ChangedRow>> {
        self.store.upsert_page(self.run, prospects, threads)
    }

    /// How many distinct prospects and threads the walk's pages (and re-reads) have held.
    pub fn seen_counts(&self) -> (usize, usize) {
        self.store
            .walk
            .as_ref()
            .map_or((0, 0), |seen| (seen.prospects.seen, seen.threads.seen))
    }

    /// Ends a complete walk: threads and prospects it did not see are marked absent (never
    /// deleted). Returns (threads, prospects) marked absent.
    pub fn finish(self) -> Result<(u64, u64)> {
        let seen = self
            .store
            .walk
            .take()
            .ok_or(Error::Protocol("a walk was finished without its index"))?;
        self.store.mark_unseen_absent(&seen)
    }

    /// Ends a walk that cannot tell what is gone (it may have missed rows that moved): nothing
    /// is marked absent. Dropping the walk does the same.
    pub fn abandon(self) {}
}

impl Drop for Walk<'_> {
    fn drop(&mut self) {
        self.store.walk = None;
    }
}

impl Deref for Walk<'_> {
    type Target = Store;
    fn deref(&self) -> &Store {
        self.store
    }
}

impl DerefMut for Walk<'_> {
    fn deref_mut(&mut self) -> &mut Store {
        self.store
    }
}

/// What a walk knows of the mirror's rows.
pub(super) struct Seen {
    run: RunId,
    prospects: Marks,
    threads: Marks,
    /// Whether the digests in the marks may be trusted to skip an upsert: rows marked absent
    /// behind their back (a 404 on a re-read) make them stale.
    trusted: bool,
}

/// Rows of one table, by id. A walk looks up every pulled row here, ~250k lookups at 100k
/// prospects between pages that have just flushed the caches, so a lookup should touch as
/// little memory as it can: the table holds small entries with the id's hash, the ids live in
/// one arena, and an entry whose digest matches the pulled row's is taken without reading its
/// id (the digest covers the id, see [`prospect_digest`]).
#[derive(Default)]
struct Marks<S = foldhash::fast::RandomState> {
    table: HashTable<Mark>,
    /// The ids of `table`'s entries, back to back.
    ids: String,
    hasher: S,
    /// How many of `table`'s rows this run's pages held.
    seen: usize,
}

#[derive(Clone, Copy)]
struct Mark {
    id_hash: u64,
    /// Where the id is in [`Marks::ids`].
    id_at: u32,
    id_len: u32,
    /// The digest of the row as stored (or as this run is storing it).
    digest: u64,
    /// Whether this run's pages held the row.
    seen: bool,
}

impl Mark {
    /// The mark's id in the arena of ids it was added to.
    fn id_in<'i>(&self, ids: &'i str) -> &'i str {
        &ids[self.id_at as usize..(self.id_at + self.id_len) as usize]
    }
}

impl<S: BuildHasher> Marks<S> {
    fn id(&self, mark: &Mark) -> &str {
        mark.id_in(&self.ids)
    }

    /// Adds a row not in the table yet.
    fn insert(&mut self, id: &str, id_hash: u64, digest: u64, seen: bool) {
        let (Ok(id_at), Ok(id_len)) = (u32::try_from(self.ids.len()), u32::try_from(id.len()))
        else {
            panic!("the walk index outgrew 4 GiB of ids");
        };
        self.ids.push_str(id);
        let mark = Mark {
            id_hash,
            id_at,
            id_len,
            digest,
            seen,
        };
        self.table.insert_unique(id_hash, mark, |m| m.id_hash);
    }

    /// Notes a row held by this run's pages, to be stored with `digest` (one lookup per pulled
    /// row); returns whether the stored row held that digest already.
    fn see(&mut self, id: &str, digest: u64) -> bool {
        let id_hash = self.hasher.hash_one(id);
        let Marks { table, ids, .. } = self;
        // Ids that share a hash are told apart by their text.
        let found = table.find_mut(id_hash, |m| {
            // Equal digests mean equal ids (the digest covers the id): no need to read it.
            m.id_hash == id_hash && (m.digest == digest || m.id_in(ids) == id)
        });
        match found {
            Some(mark) => {
                let unchanged = mark.digest == digest;
                mark.digest = digest;
                let first = !mark.seen;
                mark.seen = true;
                self.seen += usize::from(first);
                unchanged
            }
            None => {
                self.insert(id, id_hash, digest, true);
                self.seen += 1;
                false
            }
        }
    }

    fn was_seen(&self, id: &str) -> bool {
        let id_hash = self.hasher.hash_one(id);
        self.table
            .find(id_hash, |m| m.id_hash == id_hash && self.id(m) == id)
            .is_some_and(|m| m.seen)
    }

    /// The ids of the rows this run's pages did not hold.
    fn unseen(&self) -> impl Iterator<Item = &str> {
        self.table.iter().filter(|m| !m.seen).map(|m| self.id(m))
    }
}

/// The digest of everything a prospect row stores. `scratch` is a buffer for the valuation's
/// text, so that an unchanged row costs no allocation.
fn prospect_digest(p: &ProspectRow, scratch: &mut String) -> u64 {
    use std::fmt::Write as _;
    let mut d = Digest::new();
    d.str(p.id.as_str());
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
    // Only when there is one: a row without (every v1 row) keeps the digest it had before the
    // column existed.
    if let Some(default) = &p.default_assignee_id {
        d.str("default_assignee");
        d.str(default);
    }
    d.finish()
}

/// The digest of everything a thread row stores.
fn thread_digest(t: &ThreadRow) -> u64 {
    let mut d = Digest::new();
    d.str(t.id.as_str());
    d.str(t.prospect_id.as_str());
    d.str(&t.account_link_id);
    d.opt(t.assignee_id.as_deref());
    d.bool(t.done);
    d.bool(t.is_request);
    d.opt(t.sort_ts.as_deref());
    d.finish()
}

/// Writes the rows of one table that the marks (a walk's) do not show unchanged, and marks
/// every row seen. `key` gives a row's id and digest; `upsert` writes it and says whether that
/// changed a synced value (a [`ChangedRow`] for `changed`).
fn write_changed<'r, R>(
    rows: &'r [R],
    mut marks: Option<&mut Marks>,
    trusted: bool,
    mut key: impl FnMut(&'r R) -> (&'r str, u64),
    mut upsert: impl FnMut(&'r R, u64) -> Result<Option<ChangedRow>>,
    changed: &mut Vec<ChangedRow>,
) -> Result<()> {
    for row in rows {
        let (id, digest) = key(row);
        // Marked before the upsert: if it fails, the pull is rolled back and the marks with it.
        let unchanged = marks.as_deref_mut().is_some_and(|m| m.see(id, digest));
        if !(trusted && unchanged) {
            changed.extend(upsert(row, digest)?);
        }
    }
    Ok(())
}

/// Upserts a prospect, with its digest; `RETURNING changed_run` yields a row only when the row
/// was inserted (NULL) or updated, and it holds this run only when a synced value of a row the
/// mirror held as present changed.
const UPSERT_PROSPECT: &str =
    "INSERT INTO prospects (id, platform_id, username, display_name, tag_ids, status_id,
                            valuation, notes, last_updated_at, present, seen_run,
                            changed_run, row_digest, default_assignee_id)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 1, ?10, NULL, ?11, ?12)
     ON CONFLICT(id) DO UPDATE SET
        platform_id = excluded.platform_id, username = excluded.username,
        display_name = excluded.display_name, tag_ids = excluded.tag_ids,
        status_id = excluded.status_id, valuation = excluded.valuation,
        notes = excluded.notes, last_updated_at = excluded.last_updated_at,
        default_assignee_id = excluded.default_assignee_id,
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
        OR prospects.default_assignee_id IS NOT excluded.default_assignee_id
        OR prospects.row_digest IS NOT excluded.row_digest
     RETURNING changed_run";

/// Upserts a thread, with its digest; `RETURNING changed_run` as for [`UPSERT_PROSPECT`].
const UPSERT_THREAD: &str =
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
     RETURNING changed_run";

/// [`Store::upsert_page`]'s prospects, through `conn` (the page's savepoint): the changed ones
/// are pushed to `changed`.
fn upsert_prospects(
    conn: &rusqlite::Connection,
    run: RunId,
    prospects: &[ProspectRow],
    marks: Option<&mut Marks>,
    trusted: bool,
    changed: &mut Vec<ChangedRow>,
) -> Result<()> {
    let mut upsert_prospect = conn.prepare_cached(UPSERT_PROSPECT)?;
    let mut scratch = String::new();
    write_changed(
        prospects,
        marks,
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
                digest as i64,
                p.default_assignee_id
            ])?;
            Ok(changed_in(run, rows.next()?)?.then(|| ChangedRow {
                thread: None,
                prospect: p.id.clone(),
            }))
        },
        changed,
    )
}

/// [`Store::upsert_page`]'s threads, through `conn` (the page's savepoint): the changed ones
/// are pushed to `changed`.
fn upsert_threads(
    conn: &rusqlite::Connection,
    run: RunId,
    threads: &[ThreadRow],
    marks: Option<&mut Marks>,
    trusted: bool,
    changed: &mut Vec<ChangedRow>,
) -> Result<()> {
    let mut upsert_thread = conn.prepare_cached(UPSERT_THREAD)?;
    write_changed(
        threads,
        marks,
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
        changed,
    )
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
    /// Opens the transaction that holds a whole pull, so that a pull that fails half-way
    /// leaves the mirror as it was. The per-step methods nest inside it as savepoints.
    pub fn begin_pull(&mut self) -> Result<Pull<'_>> {
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        Ok(Pull { store: self })
    }

    fn rollback_open_transaction(&mut self) -> Result<()> {
        self.walk = None;
        if !self.conn.is_autocommit() {
            self.conn.execute_batch("ROLLBACK")?;
        }
        Ok(())
    }

    /// Starts the full walk of `run`: loads the digests of the present rows, so that the walk's
    /// upserts skip the rows it finds unchanged (see the module docs).
    pub fn begin_walk(&mut self, run: RunId) -> Result<Walk<'_>> {
        if self.walk.is_some() {
            return Err(Error::Protocol("a walk was started inside another walk"));
        }
        let mut seen = Seen {
            run,
            prospects: Marks::default(),
            threads: Marks::default(),
            trusted: true,
        };
        for (table, marks) in [
            ("prospects", &mut seen.prospects),
            ("threads", &mut seen.threads),
        ] {
            let mut stmt = self.conn.prepare(&format!(
                "SELECT id, row_digest FROM {table} WHERE present = 1 AND row_digest IS NOT NULL"
            ))?;
            // Not sized up front (counting would read the table twice): growing moves entries
            // that carry their hash, no id is hashed again.
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                let id = row.get_ref(0)?.as_str().map_err(|e| Error::Corrupt {
                    table,
                    detail: format!("an id is not text: {e}"),
                })?;
                // Digests are stored as SQLite's signed 64-bit integers.
                let digest = row.get::<_, i64>(1)? as u64;
                let id_hash = marks.hasher.hash_one(id);
                // A row id is its table's primary key: each id comes once.
                marks.insert(id, id_hash, digest, false);
            }
        }
        self.walk = Some(seen);
        Ok(Walk { store: self, run })
    }

    /// The digests a walk loaded no longer match the rows (some were marked absent): its later
    /// upserts go to SQL.
    pub(super) fn distrust_digests(&mut self) {
        if let Some(seen) = &mut self.walk {
            seen.trusted = false;
        }
    }

    /// Upserts one page of pulled threads and their prospects, in one transaction. Rows that
    /// hold these values already are not rewritten (a nightly walk of an unchanged inbox writes
    /// nothing). During a walk (of the same run: anything else is refused), the rows count as
    /// seen by it, and rows its index shows unchanged are not even sent to SQL.
    pub fn upsert_page(
        &mut self,
        run: RunId,
        prospects: &[ProspectRow],
        threads: &[ThreadRow],
    ) -> Result<Vec<ChangedRow>> {
        let mut changed = Vec::new();
        let (prospect_marks, thread_marks, trusted) = match &mut self.walk {
            Some(seen) if seen.run != run => {
                return Err(Error::Protocol(
                    "a page of another run was upserted during a walk",
                ));
            }
            Some(seen) => (
                Some(&mut seen.prospects),
                Some(&mut seen.threads),
                seen.trusted,
            ),
            None => (None, None, false),
        };
        let tx = self.conn.savepoint()?;
        upsert_prospects(&tx, run, prospects, prospect_marks, trusted, &mut changed)?;
        upsert_threads(&tx, run, threads, thread_marks, trusted, &mut changed)?;
        tx.commit()?;
        Ok(changed)
    }

    /// After a complete walk: threads and prospects `seen` does not hold are marked absent.
    /// Returns (threads, prospects) marked absent.
    fn mark_unseen_absent(&mut self, seen: &Seen) -> Result<(u64, u64)> {
        let tx = self.conn.savepoint()?;
        let mark = |table: &str, marks: &Marks| -> Result<u64> {
            // The marks hold every present row with a digest; only rows without one (none after
            // the first walk) need to be looked for in SQL. Rows written this run carry its
            // `seen_run`; unchanged rows it saw are marked seen.
            let mut unseen: Vec<String> = marks.unseen().map(str::to_owned).collect();
            let mut stmt = tx.prepare(&format!(
                "SELECT id FROM {table}
                 WHERE present = 1 AND seen_run < ?1 AND row_digest IS NULL"
            ))?;
            for id in stmt.query_map([seen.run.0], |r| r.get::<_, String>(0))? {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Hashes every id to the same value: each lookup must tell the ids apart by their text.
    #[derive(Default)]
    struct OneBucket;

    impl BuildHasher for OneBucket {
        type Hasher = std::hash::DefaultHasher;
        fn build_hasher(&self) -> Self::Hasher {
            std::hash::DefaultHasher::new()
        }
        fn hash_one<T: std::hash::Hash>(&self, _: T) -> u64 {
            7
        }
    }

    #[test]
    fn ids_that_share_a_hash_keep_their_own_marks() {
        let mut marks = Marks::<OneBucket>::default();
        marks.insert("a", 7, 1, false);
        marks.insert("b", 7, 2, false);
        // Unchanged rows are found by their digest, changed and new ones by their id.
        assert!(marks.see("a", 1));
        assert!(!marks.see("b", 3));
        assert!(marks.see("b", 3));
        assert!(!marks.see("c", 5));
        assert_eq!(marks.seen, 3);
        assert_eq!(marks.table.len(), 3);
        assert!(marks.was_seen("a") && marks.was_seen("b") && marks.was_seen("c"));
        assert!(!marks.was_seen("d"));
        assert_eq!(marks.unseen().count(), 0);
        marks.insert("d", 7, 4, false);
        assert_eq!(marks.unseen().collect::<Vec<_>>(), ["d"]);
    }

    #[test]
    fn a_row_seen_twice_counts_once_and_keeps_the_last_digest() {
        let mut marks = Marks::<foldhash::fast::RandomState>::default();
        assert!(
            !marks.see("x", 1),
            "a row the index does not know is written"
        );
        assert!(marks.see("x", 1), "the same values again are not");
        assert!(!marks.see("x", 2));
        assert!(marks.see("x", 2));
        assert_eq!(marks.seen, 1);
    }
}
