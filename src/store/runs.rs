//! The run log: a row per run (mode, start, end, status, exit code, summary, error), and the
//! CRM rows each run rejected.

use rusqlite::types::{FromSql, FromSqlResult, ToSqlOutput, ValueRef};
use rusqlite::{ToSql, params};
use serde::Serialize;

use super::{Result, Store, history};

/// A run's id (`runs.id`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct RunId(pub i64);

impl std::fmt::Display for RunId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl ToSql for RunId {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.0))
    }
}

impl FromSql for RunId {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        value.as_i64().map(RunId)
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
    /// Stopped on purpose before writing (a safety limit or a changed field mapping).
    Stopped,
    /// Stopped by a signal at a write boundary, with what it wrote recorded.
    Interrupted,
}

impl RunStatus {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Ok => "ok",
            RunStatus::Failed => "failed",
            RunStatus::Stopped => "stopped",
            RunStatus::Interrupted => "interrupted",
        }
    }

    /// The status stored as `text`.
    pub fn parse(text: &str) -> Option<RunStatus> {
        [
            RunStatus::Running,
            RunStatus::Ok,
            RunStatus::Failed,
            RunStatus::Stopped,
            RunStatus::Interrupted,
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

/// One run, as listed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunRow {
    /// Id.
    pub id: RunId,
    /// What the run did.
    pub mode: RunMode,
    /// Start (RFC 3339).
    pub started_at: String,
    /// End, if it ended.
    pub finished_at: Option<String>,
    /// How it ended (or `running`).
    pub status: RunStatus,
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

impl Store {
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
            "UPDATE runs SET status = 'failed', finished_at = ?1,
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
        finished_at: &str,
        summary: &serde_json::Value,
        error: Option<&str>,
    ) -> Result<()> {
        self.conn.execute(
            "UPDATE runs SET status = ?2, finished_at = ?3, summary = ?4, error = ?5
             WHERE id = ?1",
            params![run.0, status, finished_at, summary.to_string(), error],
        )?;
        Ok(())
    }

    /// Runs, newest first.
    pub fn runs(&self, limit: usize) -> Result<Vec<RunRow>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {} ORDER BY id DESC LIMIT ?1",
            history::RUN_COLUMNS
        ))?;
        let rows = stmt.query_map([limit as i64], history::run_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
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
}
