//! The SQLite mirror (`<state.dir>/mirror.db`): Inbox data as last pulled, links, the base,
//! pending imports, runs, changes, conflicts and rejects.
//!
//! This is the only module that writes SQL. Every logical step is one transaction, so a crash
//! leaves the mirror at a step boundary. It knows nothing about HTTP, CSV or merge rules.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};

mod base;
mod changes;
mod conflicts;
pub mod crm_mirror;
mod echoes;
mod fanout;
pub mod history;
mod links;
mod mirror;
mod pending;
pub mod pull_state;
mod runs;
mod text;
mod v2;
mod walk;

pub use changes::{BaseBefore, ChangeRow, ChangeStatus};
pub use conflicts::{ConflictField, ConflictRecord, ConflictRow, ConflictTally, Resolution};
pub use echoes::InboxReceipt;
pub use fanout::Miss as FanoutMiss;
pub use links::{LinkRow, LinkState};
pub use mirror::{
    AccountLinkRow, MirrorCounts, MirrorProspect, ProspectKey, ProspectKeys, ProspectRow,
    Reference, ThreadRow,
};
pub use runs::{LoggedWrites, RejectRow, RunId, RunMode, RunRow, RunStatus};
pub use v2::ProfileRow;
pub use walk::{ChangedRow, Pull, Walk};

#[cfg(test)]
mod tests;

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
    include_str!("schema_10.sql"),
    include_str!("schema_11.sql"),
    include_str!("schema_12.sql"),
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
    /// A caller broke the order of a protocol, such as a walk's (a bug).
    #[error("internal error: {0}; please report it")]
    Protocol(&'static str),
}

type Result<T> = std::result::Result<T, Error>;

/// How many ids one `IN (...)` query binds (SQLite allows 32,766 variables).
const MAX_IDS_PER_QUERY: usize = 4096;

/// The mirror database.
pub struct Store {
    conn: Connection,
    /// The walk in progress, if any (see [`Store::begin_walk`]).
    walk: Option<walk::Seen>,
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
        Ok(Store { conn, walk: None })
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
