//! The queries behind `crmsync report`: one run, its change log with the prospect each change
//! belongs to, the conflicts it opened and closed, and its rejects.
//!
//! Read-only: nothing here writes. It knows nothing about HTML or how a report looks.

use std::collections::HashSet;

use rusqlite::{OptionalExtension, Row};
use serde::Serialize;

use crate::reconcile::{ContactId, Field, RecordId, Side};

use super::{ChangeStatus, ConflictRow, RejectRow, Result, RunId, RunMode, RunRow, Store};

/// What a logged change's target names, as far as the mirror knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    /// An Inbox prospect (or contact).
    Prospect,
    /// An Inbox thread.
    Thread,
    /// A CRM record.
    Record,
    /// An Inbox id the mirror holds no row for.
    Unknown,
}

impl TargetKind {
    /// The word people read.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetKind::Prospect => "prospect",
            TargetKind::Thread => "thread",
            TargetKind::Record => "record",
            TargetKind::Unknown => "unknown",
        }
    }

    /// The kind the report query names `text`.
    fn parse(text: &str) -> Option<TargetKind> {
        [
            TargetKind::Prospect,
            TargetKind::Thread,
            TargetKind::Record,
            TargetKind::Unknown,
        ]
        .into_iter()
        .find(|k| k.as_str() == text)
    }
}

impl std::fmt::Display for TargetKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// One row of the change log, with the prospect it belongs to when the mirror knows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LoggedChange {
    /// The side written.
    pub side: Side,
    /// Prospect, thread or CRM record id, as logged.
    pub target: String,
    /// What `target` names: `prospect`, `thread` or `record` (`unknown` when the mirror has
    /// no row for it).
    pub target_kind: TargetKind,
    /// The prospect's `externalId`, when known.
    pub prospect_id: Option<ContactId>,
    /// The prospect's X username, when known.
    pub username: Option<String>,
    /// The linked CRM record id, when known.
    pub crm_id: Option<RecordId>,
    /// The field.
    pub field: Field,
    /// Value before (human form).
    pub old: Option<String>,
    /// Value written (human form).
    pub new: Option<String>,
    /// What became of the write.
    pub status: ChangeStatus,
}

/// A run's columns, with the targets its change log holds per side (see `LoggedWrites`).
pub(super) const RUN_COLUMNS: &str = "id, mode, started_at, finished_at, status, summary, error,
    (SELECT COUNT(DISTINCT target) FROM changes c
     WHERE c.run_id = runs.id AND c.side = 'inbox' AND c.status IN ('applied', 'attempted')),
    (SELECT COUNT(DISTINCT target) FROM changes c
     WHERE c.run_id = runs.id AND c.side = 'crm' AND c.status IN ('applied', 'attempted', 'pending'))
    FROM runs";

pub(super) fn run_row(row: &Row<'_>) -> rusqlite::Result<RunRow> {
    let summary: Option<String> = row.get(5)?;
    Ok(RunRow {
        id: row.get(0)?,
        mode: row.get(1)?,
        started_at: row.get(2)?,
        finished_at: row.get(3)?,
        status: row.get(4)?,
        summary: summary.and_then(|s| serde_json::from_str(&s).ok()),
        error: row.get(6)?,
        logged_writes: super::LoggedWrites {
            inbox: row.get::<_, i64>(7)?.unsigned_abs(),
            crm: row.get::<_, i64>(8)?.unsigned_abs(),
        },
    })
}

impl Store {
    /// One run by id.
    pub fn run_by_id(&self, run: RunId) -> Result<Option<RunRow>> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {RUN_COLUMNS} WHERE id = ?1"),
                [run.0],
                run_row,
            )
            .optional()?)
    }

    /// The newest run of `mode`.
    pub fn last_run_of(&self, mode: RunMode) -> Result<Option<RunRow>> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {RUN_COLUMNS} WHERE mode = ?1 ORDER BY id DESC LIMIT 1"),
                [mode],
                run_row,
            )
            .optional()?)
    }

    /// The change log of `run`, by side, then username, then target, in logging order within
    /// one target. Inbox targets are prospects or threads; CRM targets are records, named
    /// through their link.
    pub fn report_changes(&self, run: RunId) -> Result<Vec<LoggedChange>> {
        let mut stmt = self.conn.prepare(
            "SELECT ch.side, ch.target,
                    CASE WHEN ch.side = 'crm' THEN 'record'
                         WHEN p.id IS NOT NULL THEN 'prospect'
                         WHEN t.id IS NOT NULL THEN 'thread'
                         ELSE 'unknown' END,
                    COALESCE(p.id, tp.id, lp.id, cp.id),
                    COALESCE(p.username, tp.username, lp.username, cp.username),
                    CASE WHEN ch.side = 'crm' THEN ch.target
                         ELSE COALESCE(pl.crm_id, tl.crm_id) END,
                    ch.field, ch.old, ch.new, ch.status
             FROM changes ch
             LEFT JOIN prospects p  ON ch.side = 'inbox' AND p.id = ch.target
             LEFT JOIN threads t    ON ch.side = 'inbox' AND t.id = ch.target
             LEFT JOIN prospects tp ON tp.id = t.prospect_id
             LEFT JOIN links l      ON ch.side = 'crm' AND l.crm_id = ch.target
             LEFT JOIN prospects lp ON lp.id = l.prospect_id
             LEFT JOIN links pl     ON pl.prospect_id = p.id
             LEFT JOIN links tl     ON tl.prospect_id = tp.id
             LEFT JOIN prospects cp ON ch.side = 'crm' AND cp.id = ch.prospect_id
             WHERE ch.run_id = ?1
             ORDER BY ch.side DESC,
                      COALESCE(p.username, tp.username, lp.username, ch.target) COLLATE NOCASE,
                      ch.target, ch.id",
        )?;
        let rows = stmt.query_map([run.0], |r| {
            Ok(LoggedChange {
                side: r.get(0)?,
                target: r.get(1)?,
                target_kind: {
                    let text = r.get_ref(2)?.as_str()?;
                    TargetKind::parse(text).ok_or_else(|| {
                        rusqlite::Error::FromSqlConversionFailure(
                            2,
                            rusqlite::types::Type::Text,
                            format!("unknown target kind {text:?}").into(),
                        )
                    })?
                },
                prospect_id: r.get(3)?,
                username: r.get(4)?,
                crm_id: r.get(5)?,
                field: r.get(6)?,
                old: r.get(7)?,
                new: r.get(8)?,
                status: r.get(9)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Conflicts first seen by `run` (whatever became of them since), oldest first.
    pub fn conflicts_opened_in(&self, run: RunId) -> Result<Vec<ConflictRow>> {
        self.conflicts_with_ids("SELECT id FROM conflicts WHERE first_run = ?1", run)
    }

    /// Conflicts that `run` closed, oldest first: those it no longer saw (`closed`), and the
    /// human resolutions it applied (`applied_run`).
    ///
    /// The log keeps no closing run for `closed`, so it is worked out: such a conflict is closed
    /// by a run after the last one that saw it, with `resolved_at` inside the run's time span (a
    /// run closes conflicts with its own start time as `resolved_at`). Of several such runs (a
    /// test clock that gives every run the same start), the first one after `last_run` is the
    /// closer.
    pub fn conflicts_closed_in(&self, run: RunId) -> Result<Vec<ConflictRow>> {
        self.conflicts_with_ids(
            "SELECT c.id FROM conflicts c
             WHERE c.applied_run = ?1
                OR (c.resolution = 'closed' AND c.resolved_at IS NOT NULL AND c.last_run < ?1
                    AND ?1 = (SELECT MIN(r.id) FROM runs r
                              WHERE r.id > c.last_run
                                AND r.started_at <= c.resolved_at
                                AND (r.finished_at IS NULL OR c.resolved_at <= r.finished_at)))",
            run,
        )
    }

    /// The stored conflicts whose ids `ids_sql` (with `?1` = `run`) selects, oldest first.
    fn conflicts_with_ids(&self, ids_sql: &str, run: RunId) -> Result<Vec<ConflictRow>> {
        let mut stmt = self.conn.prepare(ids_sql)?;
        let ids: HashSet<i64> = stmt
            .query_map([run.0], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // The conflict log's own reader builds the rows, so they match `conflicts list`.
        let mut rows = self.conflicts(true)?;
        rows.retain(|c| ids.contains(&c.id));
        Ok(rows)
    }

    /// The CRM rows `run` rejected, by source and row.
    pub fn run_rejects(&self, run: RunId) -> Result<Vec<RejectRow>> {
        let mut stmt = self.conn.prepare(
            "SELECT source, row, record_id, reason FROM rejects WHERE run_id = ?1
             ORDER BY source, row",
        )?;
        let rows = stmt.query_map([run.0], |r| {
            Ok(RejectRow {
                source: r.get(0)?,
                row: r.get::<_, i64>(1)? as u64,
                record_id: r.get(2)?,
                reason: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}
