//! The SQLite mirror (`<state.dir>/mirror.db`): Inbox data as last pulled, links, the base,
//! pending imports, runs, changes, conflicts and rejects.
//!
//! This is the only module that writes SQL. Every logical step is one transaction, so a crash
//! leaves the mirror at a step boundary. It knows nothing about HTTP, CSV or merge rules.

use std::collections::HashMap;
use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::reconcile::{Amount, BaseValues, Field, Value};

mod changes;
mod conflicts;
pub mod crm_mirror;
mod pending;
mod v2;
pub use changes::{BaseBefore, ChangeRow, ChangeStatus};
pub use conflicts::{ConflictField, ConflictRecord, ConflictRow, ConflictTally, Resolution};
pub use v2::ProfileRow;
pub mod pull_state;
pub mod report;
mod text;
mod walk;

#[cfg(test)]
mod tests;

/// A row of the mirror whose synced values an upsert changed (rows new to the mirror, or back
/// after being absent, are not changes): what a full walk checks the event log against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangedRow {
    /// The thread, when a thread's assignee, done or sort key changed.
    pub thread: Option<String>,
    /// The prospect (of the thread, or whose context changed).
    pub prospect: String,
}

/// Migrations, applied in order; `PRAGMA user_version` is the number applied.
const MIGRATIONS: &[&str] = &[
    include_str!("schema.sql"),
    include_str!("schema_2.sql"),
    include_str!("schema_3.sql"),
    include_str!("schema_4.sql"),
    include_str!("schema_5.sql"),
    include_str!("schema_6.sql"),
    include_str!("schema_7.sql"),
    include_str!("schema_8.sql"),
    include_str!("schema_9.sql"),
];

/// A store error. SQLite errors are bugs or a damaged file: nothing to branch on but the text.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// SQLite failed.
    #[error("mirror database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored value did not decode.
    #[error("mirror database holds an unreadable value in {table}: {detail}")]
    Corrupt {
        /// Table.
        table: &'static str,
        /// What.
        detail: String,
    },
}

type Result<T> = std::result::Result<T, Error>;

/// A run's id (`runs.id`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct RunId(pub i64);

impl std::fmt::Display for RunId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// What a run does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunMode {
    /// Inbox into the mirror only.
    Pull,
    /// Pull, read the CRM, plan; write nothing.
    Plan,
    /// Plan and push.
    Sync,
}

impl RunMode {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            RunMode::Pull => "pull",
            RunMode::Plan => "plan",
            RunMode::Sync => "sync",
        }
    }

    /// The mode stored as `text`.
    pub fn parse(text: &str) -> Option<RunMode> {
        [RunMode::Pull, RunMode::Plan, RunMode::Sync]
            .into_iter()
            .find(|m| m.as_str() == text)
    }
}

impl std::fmt::Display for RunMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunStatus {
    /// Still going (or crashed: a later run sees it never finished).
    Running,
    /// Done.
    Ok,
    /// Failed with an error.
    Failed,
    /// Stopped on purpose before writing (safety limit).
    Stopped,
}

impl RunStatus {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Ok => "ok",
            RunStatus::Failed => "failed",
            RunStatus::Stopped => "stopped",
        }
    }

    /// The status stored as `text`.
    pub fn parse(text: &str) -> Option<RunStatus> {
        [
            RunStatus::Running,
            RunStatus::Ok,
            RunStatus::Failed,
            RunStatus::Stopped,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// An Inbox account link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountLinkRow {
    /// Id.
    pub id: String,
    /// X username.
    pub username: String,
    /// Display name.
    pub name: Option<String>,
    /// active | offline | paused.
    pub status: String,
}

/// Reference data of the team, replaced as a whole on each pull.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reference {
    /// Connected X accounts.
    pub account_links: Vec<AccountLinkRow>,
    /// (id, e-mail, name).
    pub members: Vec<(String, String, Option<String>)>,
    /// (id, name).
    pub tags: Vec<(String, String)>,
    /// (id, name).
    pub statuses: Vec<(String, String)>,
}

/// A prospect in the mirror (raw Inbox ids).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProspectRow {
    /// `externalId`.
    pub id: String,
    /// X user id.
    pub platform_id: String,
    /// X username.
    pub username: String,
    /// Display name.
    pub display_name: Option<String>,
    /// Tag ids.
    pub tag_ids: Vec<String>,
    /// Status id.
    pub status_id: Option<String>,
    /// Valuation.
    pub valuation: Option<Amount>,
    /// Notes.
    pub notes: Option<String>,
    /// `lastUpdatedAt` as sent.
    pub last_updated_at: Option<String>,
}

/// A thread in the mirror.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThreadRow {
    /// Thread id.
    pub id: String,
    /// Prospect `externalId`.
    pub prospect_id: String,
    /// Owning account link.
    pub account_link_id: String,
    /// Assignee member id.
    pub assignee_id: Option<String>,
    /// Done.
    pub done: bool,
    /// A message request.
    pub is_request: bool,
    /// Sort timestamp as sent.
    pub sort_ts: Option<String>,
}

/// How many ids one `IN (...)` query binds (SQLite allows 32,766 variables).
const MAX_IDS_PER_QUERY: usize = 4096;

/// The identity of an Inbox prospect, as far as matching needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProspectKey<'a> {
    /// Inbox id (`externalId`).
    pub id: &'a str,
    /// X user id.
    pub platform_id: &'a str,
    /// X username.
    pub username: &'a str,
}

/// The identity of every present prospect, in id order, with its text in one buffer: 100k
/// prospects make a few allocations rather than 300k strings, and a run that walks them in
/// order reads memory in order.
#[derive(Debug, Default)]
pub struct ProspectKeys {
    text: String,
    /// Where each prospect's id, X user id and username end in `text` (each starts where the
    /// one before it ends).
    ends: Vec<[u32; 3]>,
}

impl ProspectKeys {
    /// How many prospects.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The prospects, in id order.
    pub fn iter(&self) -> impl Iterator<Item = ProspectKey<'_>> + '_ {
        let mut start = 0;
        self.ends.iter().map(move |ends| {
            let [id, platform_id, username] = ends.map(|end| end as usize);
            let key = ProspectKey {
                id: &self.text[start..id],
                platform_id: &self.text[id..platform_id],
                username: &self.text[platform_id..username],
            };
            start = username;
            key
        })
    }

    fn push(&mut self, key: ProspectKey<'_>) {
        let mut ends = [0; 3];
        for (end, part) in ends.iter_mut().zip([key.id, key.platform_id, key.username]) {
            self.text.push_str(part);
            *end = u32::try_from(self.text.len()).expect("under 4 GiB of prospect ids and names");
        }
        self.ends.push(ends);
    }
}

/// A prospect with its threads, as loaded for a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MirrorProspect {
    /// The prospect.
    pub prospect: ProspectRow,
    /// Its present threads.
    pub threads: Vec<ThreadRow>,
}

/// The state of a link.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LinkState {
    /// Both sides present.
    Active,
    /// The CRM record is missing from the source (never deleted on the other side).
    MissingCrm,
    /// The prospect has no thread any more.
    MissingInbox,
}

impl LinkState {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            LinkState::Active => "active",
            LinkState::MissingCrm => "missing-crm",
            LinkState::MissingInbox => "missing-inbox",
        }
    }

    /// The state stored as `text`.
    pub fn parse(text: &str) -> Option<LinkState> {
        [
            LinkState::Active,
            LinkState::MissingCrm,
            LinkState::MissingInbox,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// A stored link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkRow {
    /// Prospect `externalId`.
    pub prospect_id: String,
    /// CRM record id.
    pub crm_id: String,
    /// State.
    pub state: LinkState,
}

/// A rejected CRM row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RejectRow {
    /// File.
    pub source: String,
    /// Row.
    pub row: u64,
    /// Record id, if read.
    pub record_id: Option<String>,
    /// Why.
    pub reason: String,
}

/// One run, as listed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunRow {
    /// Id.
    pub id: i64,
    /// What the run did.
    pub mode: RunMode,
    /// Start (RFC 3339).
    pub started_at: String,
    /// End, if it ended.
    pub finished_at: Option<String>,
    /// How it ended (or `running`).
    pub status: RunStatus,
    /// Exit code.
    pub exit_code: Option<i64>,
    /// The run's JSON summary.
    pub summary: Option<serde_json::Value>,
    /// Error text, for failed runs.
    pub error: Option<String>,
    /// Writes the change log holds for the run (targets written or attempted, per side): what
    /// a run that was killed before its summary did.
    pub logged_writes: LoggedWrites,
}

/// Targets (prospects, threads, records) a run wrote or attempted to, from its change log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LoggedWrites {
    /// On the Inbox side.
    pub inbox: u64,
    /// On the CRM side.
    pub crm: u64,
}

/// Counts for `crmsync status`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MirrorCounts {
    /// Present prospects.
    pub prospects: u64,
    /// Present threads.
    pub threads: u64,
    /// Active links.
    pub links: u64,
    /// Open conflicts.
    pub open_conflicts: u64,
}

/// The mirror database.
pub struct Store {
    conn: Connection,
    /// Ids the pull upserted in the current run (see [`Store::upsert_page`]).
    seen: walk::Seen,
}

impl Store {
    /// Opens (creating if needed) the mirror at `path`, with WAL, foreign keys and migrations.
    pub fn open(path: &Path) -> Result<Store> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        // A run reads every row, by key, a chunk at a time: a 16 MiB page cache (the default is
        // 2 MiB) keeps the b-trees' inner pages in memory instead of re-reading them from the OS.
        conn.pragma_update(None, "cache_size", -16_384)?;
        Store::setup(conn)
    }

    /// An in-memory mirror, for tests.
    pub fn open_in_memory() -> Result<Store> {
        Store::setup(Connection::open_in_memory()?)
    }

    fn setup(mut conn: Connection) -> Result<Store> {
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        // Off while migrating (the bundled SQLite turns them on by default).
        conn.pragma_update(None, "foreign_keys", "OFF")?;
        migrate(&mut conn)?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        Ok(Store {
            conn,
            seen: walk::Seen::default(),
        })
    }

    /// Starts a run record.
    pub fn begin_run(&self, mode: RunMode, started_at: &str) -> Result<RunId> {
        self.conn.execute(
            "INSERT INTO runs (mode, started_at, status) VALUES (?1, ?2, 'running')",
            params![mode, started_at],
        )?;
        Ok(RunId(self.conn.last_insert_rowid()))
    }

    /// Marks runs still recorded as running as failed: called under the run lock, so their
    /// process is gone (killed, or stopped by a second signal). Returns how many.
    pub fn fail_abandoned_runs(&self, at: &str) -> Result<u64> {
        Ok(self.conn.execute(
            "UPDATE runs SET status = 'failed', exit_code = 1, finished_at = ?1,
                    error = 'the run was interrupted (process killed or stopped) before it finished'
             WHERE status = 'running'",
            [at],
        )? as u64)
    }

    /// Ends a run record with its summary.
    pub fn finish_run(
        &self,
        run: RunId,
        status: RunStatus,
        exit_code: i32,
        finished_at: &str,
        summary: &serde_json::Value,
        error: Option<&str>,
    ) -> Result<()> {
        self.conn.execute(
            "UPDATE runs SET status = ?2, exit_code = ?3, finished_at = ?4, summary = ?5, error = ?6
             WHERE id = ?1",
            params![
                run.0,
                status,
                exit_code,
                finished_at,
                summary.to_string(),
                error
            ],
        )?;
        Ok(())
    }

    /// Runs, newest first.
    pub fn runs(&self, limit: usize) -> Result<Vec<RunRow>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {} ORDER BY id DESC LIMIT ?1",
            report::RUN_COLUMNS
        ))?;
        let rows = stmt.query_map([limit as i64], report::run_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Opens the transaction that holds a whole pull, so that a pull that fails half-way
    /// leaves the mirror as it was. The per-step methods nest inside it as savepoints.
    pub fn begin_pull(&mut self) -> Result<()> {
        self.seen = walk::Seen::default();
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        Ok(())
    }

    /// Commits the pull transaction.
    pub fn commit_pull(&mut self) -> Result<()> {
        self.seen = walk::Seen::default();
        crate::failpoint::hit("pull-before-commit");
        self.conn.execute_batch("COMMIT")?;
        Ok(())
    }

    /// Rolls the pull transaction back.
    pub fn rollback_pull(&mut self) -> Result<()> {
        self.seen = walk::Seen::default();
        if !self.conn.is_autocommit() {
            self.conn.execute_batch("ROLLBACK")?;
        }
        Ok(())
    }

    /// Replaces the team's reference data.
    pub fn replace_reference(&mut self, reference: &Reference) -> Result<()> {
        let tx = self.conn.savepoint()?;
        tx.execute_batch(
            "DELETE FROM account_links; DELETE FROM members; DELETE FROM tags; DELETE FROM statuses;",
        )?;
        {
            let mut stmt = tx.prepare(
                "INSERT INTO account_links (id, username, name, status) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for link in &reference.account_links {
                stmt.execute(params![link.id, link.username, link.name, link.status])?;
            }
            let mut stmt =
                tx.prepare("INSERT INTO members (id, email, name) VALUES (?1, ?2, ?3)")?;
            for (id, email, name) in &reference.members {
                stmt.execute(params![id, email, name])?;
            }
            let mut stmt = tx.prepare("INSERT INTO tags (id, name) VALUES (?1, ?2)")?;
            for (id, name) in &reference.tags {
                stmt.execute(params![id, name])?;
            }
            let mut stmt = tx.prepare("INSERT INTO statuses (id, name) VALUES (?1, ?2)")?;
            for (id, name) in &reference.statuses {
                stmt.execute(params![id, name])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Loads the reference data.
    pub fn reference(&self) -> Result<Reference> {
        let mut reference = Reference::default();
        let mut stmt = self
            .conn
            .prepare("SELECT id, username, name, status FROM account_links ORDER BY username")?;
        reference.account_links = stmt
            .query_map([], |r| {
                Ok(AccountLinkRow {
                    id: r.get(0)?,
                    username: r.get(1)?,
                    name: r.get(2)?,
                    status: r.get(3)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        let mut stmt = self
            .conn
            .prepare("SELECT id, email, name FROM members ORDER BY email")?;
        reference.members = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let mut stmt = self
            .conn
            .prepare("SELECT id, name FROM tags ORDER BY name")?;
        reference.tags = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let mut stmt = self
            .conn
            .prepare("SELECT id, name FROM statuses ORDER BY name")?;
        reference.statuses = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(reference)
    }

    /// Adds one tag to the reference data (after creating it in Inbox).
    pub fn add_tag(&self, id: &str, name: &str) -> Result<()> {
        self.conn.execute(
            "INSERT OR REPLACE INTO tags (id, name) VALUES (?1, ?2)",
            params![id, name],
        )?;
        Ok(())
    }

    /// Every present prospect with its present threads, sorted by id.
    pub fn load_mirror(&self) -> Result<Vec<MirrorProspect>> {
        let mut out = self.load_mirror_where("", &[])?;
        out.shrink_to_fit();
        Ok(out)
    }

    /// The present prospects among `ids`, with their present threads, sorted by id. A run
    /// loads the mirror this way, a chunk of links at a time, instead of all of it at once.
    pub fn load_mirror_for(&self, ids: &[&str]) -> Result<Vec<MirrorProspect>> {
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(MAX_IDS_PER_QUERY) {
            let placeholders = vec!["?"; chunk.len()].join(",");
            out.extend(self.load_mirror_where(&format!("AND {{id}} IN ({placeholders})"), chunk)?);
        }
        Ok(out)
    }

    /// The X identity of every present prospect (id, X user id, username), sorted by id: what
    /// matching needs, without the rest of the mirror.
    pub fn load_prospect_keys(&self) -> Result<ProspectKeys> {
        let mut stmt = self.conn.prepare(
            "SELECT id, platform_id, username FROM prospects WHERE present = 1 ORDER BY id",
        )?;
        let mut out = ProspectKeys::default();
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let text = |idx| -> Result<&str> {
                Ok(row.get_ref(idx)?.as_str().map_err(rusqlite::Error::from)?)
            };
            out.push(ProspectKey {
                id: text(0)?,
                platform_id: text(1)?,
                username: text(2)?,
            });
        }
        out.text.shrink_to_fit();
        out.ends.shrink_to_fit();
        Ok(out)
    }

    /// Present prospects (and their present threads) passing `filter`, a condition on the
    /// prospect id written with `{id}` for the column, sorted by id.
    fn load_mirror_where(&self, filter: &str, params: &[&str]) -> Result<Vec<MirrorProspect>> {
        let mut out = Vec::new();
        // Threads in prospect order, walked beside the prospects (a merge join): no map keyed
        // by prospect id, and each prospect's vector sized exactly.
        let mut thread_stmt = self.conn.prepare(&format!(
            "SELECT id, prospect_id, account_link_id, assignee_id, done, is_request, sort_ts
             FROM threads WHERE present = 1 {} ORDER BY prospect_id, id",
            filter.replace("{id}", "prospect_id")
        ))?;
        let mut threads = thread_stmt
            .query_map(rusqlite::params_from_iter(params), |r| {
                Ok(ThreadRow {
                    id: r.get(0)?,
                    prospect_id: r.get(1)?,
                    account_link_id: r.get(2)?,
                    assignee_id: r.get(3)?,
                    done: r.get(4)?,
                    is_request: r.get(5)?,
                    sort_ts: r.get(6)?,
                })
            })?
            .peekable();
        let mut stmt = self.conn.prepare(&format!(
            "SELECT id, platform_id, username, display_name, tag_ids, status_id, valuation, notes,
                    last_updated_at
             FROM prospects WHERE present = 1 {} ORDER BY id",
            filter.replace("{id}", "id")
        ))?;
        let rows = stmt.query_map(rusqlite::params_from_iter(params), |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, Option<String>>(5)?,
                r.get::<_, Option<String>>(6)?,
                r.get::<_, Option<String>>(7)?,
                r.get::<_, Option<String>>(8)?,
            ))
        })?;
        for row in rows {
            let (
                id,
                platform_id,
                username,
                display_name,
                tag_ids,
                status_id,
                valuation,
                notes,
                last,
            ) = row?;
            let tag_ids: Vec<String> =
                serde_json::from_str(&tag_ids).map_err(|e| Error::Corrupt {
                    table: "prospects",
                    detail: format!("tag_ids of {id}: {e}"),
                })?;
            let valuation = valuation
                .map(|v| v.parse::<Amount>())
                .transpose()
                .map_err(|e| Error::Corrupt {
                    table: "prospects",
                    detail: format!("valuation of {id}: {e}"),
                })?;
            let mut own = Vec::new();
            while let Some(next) = threads.peek() {
                let order = match next {
                    Ok(thread) => thread.prospect_id.as_str().cmp(id.as_str()),
                    Err(_) => std::cmp::Ordering::Equal,
                };
                match order {
                    // A thread whose prospect is absent: not part of the mirror.
                    std::cmp::Ordering::Less => {
                        threads.next().transpose()?;
                    }
                    std::cmp::Ordering::Equal => own.push(threads.next().expect("peeked")?),
                    std::cmp::Ordering::Greater => break,
                }
            }
            own.shrink_to_fit();
            out.push(MirrorProspect {
                prospect: ProspectRow {
                    id,
                    platform_id,
                    username,
                    display_name,
                    tag_ids,
                    status_id,
                    valuation,
                    notes,
                    last_updated_at: last,
                },
                threads: own,
            });
        }
        Ok(out)
    }

    /// Mirror counts for `status`.
    pub fn counts(&self) -> Result<MirrorCounts> {
        let count = |sql: &str| -> Result<u64> {
            Ok(self.conn.query_row(sql, [], |r| r.get::<_, i64>(0))? as u64)
        };
        Ok(MirrorCounts {
            prospects: count("SELECT COUNT(*) FROM prospects WHERE present = 1")?,
            threads: count("SELECT COUNT(*) FROM threads WHERE present = 1")?,
            links: count("SELECT COUNT(*) FROM links WHERE state = 'active'")?,
            open_conflicts: count("SELECT COUNT(*) FROM conflicts WHERE resolution = 'open'")?,
        })
    }

    /// Open conflicts in the log.
    pub fn open_conflict_count(&self) -> Result<u64> {
        Ok(self.conn.query_row(
            "SELECT COUNT(*) FROM conflicts WHERE resolution = 'open'",
            [],
            |r| r.get::<_, i64>(0),
        )? as u64)
    }

    /// Every stored link, in prospect id order (matching merges them with the prospects).
    pub fn links(&self) -> Result<Vec<LinkRow>> {
        let mut stmt = self
            .conn
            .prepare("SELECT prospect_id, crm_id, state FROM links ORDER BY prospect_id")?;
        let rows = stmt.query_map([], |r| {
            Ok(LinkRow {
                prospect_id: r.get(0)?,
                crm_id: r.get(1)?,
                state: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Links a sync found clean whose prospect has not changed since, with the digest of the
    /// CRM record they were found clean with, by prospect id (see `engine::clean`). For tests;
    /// a run uses [`Store::visit_clean_links`].
    #[cfg(test)]
    pub(crate) fn clean_links(&self) -> Result<foldhash::HashMap<String, u64>> {
        let mut out = foldhash::HashMap::default();
        self.visit_clean_links(|id, digest| {
            out.insert(id.to_owned(), digest);
        })?;
        Ok(out)
    }

    /// Hands `visit` each link a sync found clean whose prospect has not changed since, with
    /// the digest of the CRM record it was found clean with, in prospect id order (see
    /// `engine::clean`). Only
    /// prospects the walk lists count: one outside every view is read by id each run, and
    /// the mirror's dirty flag does not see what that read brings.
    pub fn visit_clean_links(&self, mut visit: impl FnMut(&str, u64)) -> Result<()> {
        let mut stmt = self.conn.prepare(
            "SELECT l.prospect_id, l.clean_crm FROM links l JOIN prospects p ON p.id = l.prospect_id
             WHERE l.clean_crm IS NOT NULL AND p.inbox_dirty = 0 AND p.present = 1
             ORDER BY p.id",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let id = row.get_ref(0)?.as_str().map_err(rusqlite::Error::from)?;
            // Digests are stored as SQLite's signed 64-bit integers.
            visit(id, row.get::<_, i64>(1)? as u64);
        }
        Ok(())
    }

    /// After a sync: for each link it reconciled, `Some(digest)` if the link was clean (its
    /// prospect is then marked unchanged), `None` if not; `void_others` first clears every
    /// stamp (they were made under another context). In one transaction.
    pub fn stamp_links(&mut self, stamps: &[(&str, Option<u64>)], void_others: bool) -> Result<()> {
        let tx = self.conn.transaction()?;
        if void_others {
            tx.execute(
                "UPDATE links SET clean_crm = NULL WHERE clean_crm IS NOT NULL",
                [],
            )?;
        }
        {
            let mut link = tx.prepare_cached(
                "UPDATE links SET clean_crm = ?2 WHERE prospect_id = ?1 AND clean_crm IS NOT ?2",
            )?;
            let mut prospect = tx.prepare_cached(
                "UPDATE prospects SET inbox_dirty = 0 WHERE id = ?1 AND inbox_dirty = 1",
            )?;
            for (prospect_id, digest) in stamps {
                link.execute(params![prospect_id, digest.map(|d| d as i64)])?;
                if digest.is_some() {
                    prospect.execute([prospect_id])?;
                }
            }
        }
        crate::failpoint::hit("stamps-before-commit");
        tx.commit()?;
        Ok(())
    }

    /// Stores the links of this run (insert or update state) in one transaction.
    pub fn save_links(&mut self, run: RunId, links: &[LinkRow]) -> Result<()> {
        let tx = self.conn.transaction()?;
        {
            // Unchanged links are not rewritten: a nightly run touches only what moved.
            let mut stmt = tx.prepare_cached(
                "INSERT INTO links (prospect_id, crm_id, state, created_run) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(prospect_id) DO UPDATE SET crm_id = excluded.crm_id, state = excluded.state,
                    clean_crm = NULL
                 WHERE links.crm_id <> excluded.crm_id OR links.state <> excluded.state",
            )?;
            for link in links {
                stmt.execute(params![link.prospect_id, link.crm_id, link.state, run.0])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The base of every link, by prospect id.
    pub fn load_base(&self) -> Result<HashMap<String, BaseValues>> {
        let mut out = HashMap::new();
        self.load_base_where("", &[], &mut out)?;
        Ok(out)
    }

    /// The base of the given links, by prospect id.
    pub fn load_base_for(&self, prospect_ids: &[&str]) -> Result<HashMap<String, BaseValues>> {
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
        params: &[&str],
        out: &mut HashMap<String, BaseValues>,
    ) -> Result<()> {
        let mut stmt = self
            .conn
            .prepare(&format!("SELECT prospect_id, value FROM base {filter}"))?;
        let rows = stmt.query_map(rusqlite::params_from_iter(params), |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
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
    pub fn save_base(&mut self, run: RunId, confirmed: &[(String, Value)]) -> Result<()> {
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
        restores: &[(String, Field, Option<Value>)],
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
    pub fn replace_base(&mut self, run: RunId, agreed: &[(String, Value)]) -> Result<()> {
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

    /// Records the CRM rows rejected in a run.
    pub fn record_rejects(&mut self, run: RunId, rejects: &[RejectRow]) -> Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO rejects (run_id, source, row, record_id, reason) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for r in rejects {
                stmt.execute(params![
                    run.0,
                    r.source,
                    r.row as i64,
                    r.record_id,
                    r.reason
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// A stored lookup of an X user id: `Some(Some(id))` found, `Some(None)` a miss checked at or
    /// after `fresh_after`, `None` never looked up (or the miss is older than `fresh_after`).
    pub fn lookup(&self, platform_id: &str, fresh_after: &str) -> Result<Option<Option<String>>> {
        let row: Option<(Option<String>, String)> = self
            .conn
            .query_row(
                "SELECT prospect_id, checked_at FROM lookups WHERE platform_id = ?1",
                [platform_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        Ok(match row {
            Some((Some(id), _)) => Some(Some(id)),
            Some((None, checked_at)) if checked_at.as_str() >= fresh_after => Some(None),
            _ => None,
        })
    }

    /// Remembers the result of a lookup.
    pub fn save_lookup(
        &self,
        platform_id: &str,
        prospect_id: Option<&str>,
        now: &str,
    ) -> Result<()> {
        self.conn.execute(
            "INSERT INTO lookups (platform_id, prospect_id, checked_at) VALUES (?1, ?2, ?3)
             ON CONFLICT(platform_id) DO UPDATE SET prospect_id = excluded.prospect_id,
                                                    checked_at = excluded.checked_at",
            params![platform_id, prospect_id, now],
        )?;
        Ok(())
    }

    /// A value from `meta`.
    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    /// Sets a value in `meta`.
    pub fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }

    /// `PRAGMA integrity_check` result (`ok` when healthy).
    pub fn integrity_check(&self) -> Result<String> {
        Ok(self
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))?)
    }
}

/// Applies the migrations not applied yet, each in its own transaction. Runs with foreign keys
/// off (a migration may rebuild a table others refer to, as SQLite's ALTER TABLE guide does);
/// each migration must leave no violation behind, or it is rolled back.
fn migrate(conn: &mut Connection) -> Result<()> {
    let applied: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    for (idx, sql) in MIGRATIONS.iter().enumerate().skip(applied as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        let violation: Option<String> = tx
            .query_row("PRAGMA foreign_key_check", [], |r| r.get(0))
            .optional()?;
        if let Some(table) = violation {
            return Err(Error::Corrupt {
                table: "migrations",
                detail: format!(
                    "migration {} left a foreign key violation in {table}",
                    idx + 1
                ),
            });
        }
        tx.pragma_update(None, "user_version", (idx + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}
