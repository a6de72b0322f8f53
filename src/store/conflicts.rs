//! The conflict log: open conflicts are updated when seen again, closed when gone.

use rusqlite::params;
use serde::Serialize;

use super::{Result, RunId, Store};

/// A conflict as the engine reports it (values already in human form).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConflictRecord {
    /// Prospect `externalId` (empty for a CRM row that matched nothing uniquely).
    pub prospect_id: String,
    /// Prospect username, for humans.
    pub username: Option<String>,
    /// X user id.
    pub platform_id: Option<String>,
    /// CRM record id (empty when none).
    pub crm_id: String,
    /// Field name, or `record` for identity conflicts.
    pub field: String,
    /// Kind (`both-changed`, `fanout`, ...).
    pub kind: String,
    /// Inbox value.
    pub inbox: Option<String>,
    /// CRM value.
    pub crm: Option<String>,
    /// Base value.
    pub base: Option<String>,
    /// One line for humans.
    pub detail: String,
}

/// How a conflict ended (or not).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Resolution {
    /// Needs a human (or goes away by itself).
    Open,
    /// The divergence went away without a resolution.
    Closed,
}

/// A stored conflict.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConflictRow {
    /// Id.
    pub id: i64,
    /// Run that first saw it.
    pub first_run: i64,
    /// Run that last saw it.
    pub last_run: i64,
    /// Prospect id.
    pub prospect_id: String,
    /// Username.
    pub username: Option<String>,
    /// X user id.
    pub platform_id: Option<String>,
    /// CRM record id.
    pub crm_id: String,
    /// Field.
    pub field: String,
    /// Kind.
    pub kind: String,
    /// Inbox value.
    pub inbox: Option<String>,
    /// CRM value.
    pub crm: Option<String>,
    /// Base value.
    pub base: Option<String>,
    /// Detail.
    pub detail: String,
    /// First seen (RFC 3339).
    pub first_seen: String,
    /// Last seen.
    pub last_seen: String,
    /// `open`, `closed`, ...
    pub resolution: String,
}

/// What recording a run's conflicts did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ConflictTally {
    /// New conflicts.
    pub opened: u64,
    /// Open conflicts seen again.
    pub seen_again: u64,
    /// Open conflicts not seen in this run, now closed.
    pub closed: u64,
}

impl Store {
    /// Records the conflicts a full run saw: updates open ones seen again, opens new ones, and
    /// closes open ones this run did not see. One transaction.
    pub fn record_conflicts(
        &mut self,
        run: RunId,
        now: &str,
        conflicts: &[ConflictRecord],
    ) -> Result<ConflictTally> {
        let mut tally = ConflictTally::default();
        let tx = self.conn.transaction()?;
        {
            let mut find = tx.prepare_cached(
                "SELECT id FROM conflicts WHERE resolution = 'open' AND prospect_id = ?1
                 AND crm_id = ?2 AND field = ?3 AND kind = ?4",
            )?;
            let mut update = tx.prepare_cached(
                "UPDATE conflicts SET last_run = ?2, last_seen = ?3, inbox = ?4, crm = ?5, base = ?6,
                        detail = ?7, username = ?8, platform_id = ?9
                 WHERE id = ?1",
            )?;
            let mut insert = tx.prepare_cached(
                "INSERT INTO conflicts (first_run, last_run, prospect_id, username, platform_id, crm_id,
                                        field, kind, inbox, crm, base, detail, first_seen, last_seen)
                 VALUES (?1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12)",
            )?;
            for c in conflicts {
                let existing: Option<i64> = find
                    .query_row(params![c.prospect_id, c.crm_id, c.field, c.kind], |r| {
                        r.get(0)
                    })
                    .map(Some)
                    .or_else(|e| match e {
                        rusqlite::Error::QueryReturnedNoRows => Ok(None),
                        e => Err(e),
                    })?;
                match existing {
                    Some(id) => {
                        update.execute(params![
                            id,
                            run.0,
                            now,
                            c.inbox,
                            c.crm,
                            c.base,
                            c.detail,
                            c.username,
                            c.platform_id
                        ])?;
                        tally.seen_again += 1;
                    }
                    None => {
                        insert.execute(params![
                            run.0,
                            c.prospect_id,
                            c.username,
                            c.platform_id,
                            c.crm_id,
                            c.field,
                            c.kind,
                            c.inbox,
                            c.crm,
                            c.base,
                            c.detail,
                            now
                        ])?;
                        tally.opened += 1;
                    }
                }
            }
            tally.closed = tx.execute(
                "UPDATE conflicts SET resolution = 'closed', resolved_at = ?2, resolved_by = 'crmsync'
                 WHERE resolution = 'open' AND last_run < ?1",
                params![run.0, now],
            )? as u64;
        }
        tx.commit()?;
        Ok(tally)
    }

    /// Conflicts, oldest first; only open ones unless `all`.
    pub fn conflicts(&self, all: bool) -> Result<Vec<ConflictRow>> {
        let sql = format!(
            "SELECT id, first_run, last_run, prospect_id, username, platform_id, crm_id, field, kind,
                    inbox, crm, base, detail, first_seen, last_seen, resolution
             FROM conflicts {} ORDER BY id",
            if all { "" } else { "WHERE resolution = 'open'" }
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map([], |r| {
            Ok(ConflictRow {
                id: r.get(0)?,
                first_run: r.get(1)?,
                last_run: r.get(2)?,
                prospect_id: r.get(3)?,
                username: r.get(4)?,
                platform_id: r.get(5)?,
                crm_id: r.get(6)?,
                field: r.get(7)?,
                kind: r.get(8)?,
                inbox: r.get(9)?,
                crm: r.get(10)?,
                base: r.get(11)?,
                detail: r.get(12)?,
                first_seen: r.get(13)?,
                last_seen: r.get(14)?,
                resolution: r.get(15)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}
