//! What the pull remembers between runs (the event cursor, the last full walk, how far the
//! event log can be trusted) and the few row-level writes an incremental pull needs.
//!
//! The state lives in `meta` under `pull.*` keys, written inside the pull's transaction so that
//! the cursor moves only together with the mirror rows it describes. This module decides
//! nothing: when to walk and when to replay is `engine::pull`'s business.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::{Result, Store};
use crate::reconcile::{ContactId, ThreadId};

const EVENT_SEQ: &str = "pull.event_seq";
const TEAM_ID: &str = "pull.team_id";
const LAST_FULL_AT: &str = "pull.last_full_at";
const EVENTS_READ_AT: &str = "pull.events_read_at";
const EVENT_LOG: &str = "pull.event_log";

/// How far the Inbox event log has shown it records the changes a pull needs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EventLog {
    /// It has never returned an event: it may be silent (no webhook configured?).
    #[default]
    Unproven,
    /// It has returned events, and no full walk found a change it failed to record.
    Proven,
    /// A full walk found changes the log did not record: use full walks only.
    Incomplete,
}

impl EventLog {
    fn as_str(self) -> &'static str {
        match self {
            EventLog::Unproven => "unproven",
            EventLog::Proven => "proven",
            EventLog::Incomplete => "incomplete",
        }
    }

    fn parse(text: &str) -> EventLog {
        match text {
            "proven" => EventLog::Proven,
            "incomplete" => EventLog::Incomplete,
            _ => EventLog::Unproven,
        }
    }
}

/// The pull's memory between runs. Missing or unreadable values read as `None`, which only
/// ever makes the next pull a full walk.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PullState {
    /// The event `seq` the mirror is current to; `None`: no usable cursor (first pull, or
    /// the event log was unavailable).
    pub event_seq: Option<u64>,
    /// The team (from `GET /team`) the cursor belongs to.
    pub team_id: Option<String>,
    /// When the last complete full walk started (the run's clock).
    pub last_full_at: Option<DateTime<Utc>>,
    /// When the event log was last read up to `event_seq` (the run's clock).
    pub events_read_at: Option<DateTime<Utc>>,
    /// How far the event log can be trusted.
    pub event_log: EventLog,
}

impl Store {
    /// Loads the pull state from `meta`.
    pub fn pull_state(&self) -> Result<PullState> {
        let time = |key: &str| -> Result<Option<DateTime<Utc>>> {
            Ok(self
                .meta(key)?
                .and_then(|text| DateTime::parse_from_rfc3339(&text).ok())
                .map(|t| t.with_timezone(&Utc)))
        };
        Ok(PullState {
            event_seq: self.meta(EVENT_SEQ)?.and_then(|s| s.parse().ok()),
            team_id: self.meta(TEAM_ID)?,
            last_full_at: time(LAST_FULL_AT)?,
            events_read_at: time(EVENTS_READ_AT)?,
            event_log: self
                .meta(EVENT_LOG)?
                .map(|s| EventLog::parse(&s))
                .unwrap_or_default(),
        })
    }

    /// Stores the pull state (`None` values delete their key). Call it inside the pull's
    /// transaction, after the rows it describes.
    pub fn save_pull_state(&self, state: &PullState) -> Result<()> {
        let time = |t: &Option<DateTime<Utc>>| {
            t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        };
        let values = [
            (EVENT_SEQ, state.event_seq.map(|s| s.to_string())),
            (TEAM_ID, state.team_id.clone()),
            (LAST_FULL_AT, time(&state.last_full_at)),
            (EVENTS_READ_AT, time(&state.events_read_at)),
            (EVENT_LOG, Some(state.event_log.as_str().to_owned())),
        ];
        for (key, value) in values {
            match value {
                Some(value) => self.set_meta(key, &value)?,
                None => {
                    self.conn
                        .execute("DELETE FROM meta WHERE key = ?1", [key])?;
                }
            }
        }
        Ok(())
    }

    /// Ids of the present threads of a prospect, sorted.
    pub fn present_thread_ids(&self, prospect_id: &ContactId) -> Result<Vec<ThreadId>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id FROM threads WHERE prospect_id = ?1 AND present = 1 ORDER BY id",
        )?;
        let rows = stmt.query_map([prospect_id], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Marks threads absent (Inbox answered 404), then their prospects that have no present
    /// thread left. Never deletes. Returns (threads, prospects) newly marked absent.
    pub fn mark_threads_absent(&mut self, thread_ids: &[ThreadId]) -> Result<(u64, u64)> {
        let tx = self.conn.savepoint()?;
        let (mut threads, mut prospects) = (0, 0);
        {
            let mut absent =
                tx.prepare("UPDATE threads SET present = 0 WHERE id = ?1 AND present = 1")?;
            let mut orphan = tx.prepare(
                "UPDATE prospects SET present = 0
                 WHERE present = 1
                   AND id = (SELECT prospect_id FROM threads WHERE id = ?1)
                   AND NOT EXISTS (SELECT 1 FROM threads t
                                   WHERE t.prospect_id = prospects.id AND t.present = 1)",
            )?;
            for id in thread_ids {
                threads += absent.execute([id])? as u64;
                prospects += orphan.execute([id])? as u64;
            }
        }
        tx.commit()?;
        self.distrust_digests();
        Ok((threads, prospects))
    }

    /// Marks prospects and all their threads absent (Inbox answered 404). Never deletes.
    /// Returns (threads, prospects) newly marked absent.
    pub fn mark_prospects_absent(&mut self, prospect_ids: &[ContactId]) -> Result<(u64, u64)> {
        let tx = self.conn.savepoint()?;
        let (mut threads, mut prospects) = (0, 0);
        {
            let mut thread_stmt = tx
                .prepare("UPDATE threads SET present = 0 WHERE prospect_id = ?1 AND present = 1")?;
            let mut prospect_stmt =
                tx.prepare("UPDATE prospects SET present = 0 WHERE id = ?1 AND present = 1")?;
            for id in prospect_ids {
                threads += thread_stmt.execute(params![id])? as u64;
                prospects += prospect_stmt.execute(params![id])? as u64;
            }
        }
        tx.commit()?;
        self.distrust_digests();
        Ok((threads, prospects))
    }

    /// Present threads per inbox view, as a full walk would list them: `[default, requests,
    /// archived]` (done threads are archived; open requests are requests; the rest default).
    pub fn thread_view_counts(&self) -> Result<[u64; 3]> {
        let counts = self.conn.query_row(
            "SELECT COALESCE(SUM(done = 0 AND is_request = 0), 0),
                    COALESCE(SUM(done = 0 AND is_request = 1), 0),
                    COALESCE(SUM(done = 1), 0)
             FROM threads WHERE present = 1",
            [],
            |r| Ok([r.get::<_, i64>(0)?, r.get(1)?, r.get(2)?]),
        )?;
        Ok(counts.map(|n| n as u64))
    }

    /// The prospect of a thread the mirror holds (present or not).
    pub fn thread_prospect(&self, thread_id: &ThreadId) -> Result<Option<ContactId>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT prospect_id FROM threads WHERE id = ?1")?;
        Ok(stmt.query_row([thread_id], |r| r.get(0)).optional()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{ProspectRow, RunId, ThreadRow};

    fn prospect(id: &str) -> ProspectRow {
        ProspectRow {
            id: id.into(),
            platform_id: format!("x{id}"),
            username: id.into(),
            display_name: None,
            tag_ids: vec![],
            status_id: None,
            valuation: None,
            notes: None,
            last_updated_at: None,
            default_assignee_id: None,
        }
    }

    fn thread(id: &str, prospect_id: &str, done: bool, is_request: bool) -> ThreadRow {
        ThreadRow {
            id: id.into(),
            prospect_id: prospect_id.into(),
            account_link_id: "a".into(),
            assignee_id: None,
            done,
            is_request,
            sort_ts: None,
        }
    }

    #[test]
    fn the_state_round_trips_and_none_deletes_its_key() {
        let store = Store::open_in_memory().unwrap();
        assert_eq!(store.pull_state().unwrap(), PullState::default());
        let at = "2026-01-02T03:04:05.678Z".parse().unwrap();
        let state = PullState {
            event_seq: Some(42),
            team_id: Some("team".into()),
            last_full_at: Some(at),
            events_read_at: Some(at),
            event_log: EventLog::Incomplete,
        };
        store.save_pull_state(&state).unwrap();
        assert_eq!(store.pull_state().unwrap(), state);
        let cleared = PullState {
            event_seq: None,
            events_read_at: None,
            ..state
        };
        store.save_pull_state(&cleared).unwrap();
        assert_eq!(store.pull_state().unwrap(), cleared);
        assert_eq!(store.meta(EVENT_SEQ).unwrap(), None);
    }

    #[test]
    fn a_gone_thread_takes_its_prospect_along_only_when_it_was_the_last() {
        let mut store = Store::open_in_memory().unwrap();
        let prospects = [prospect("p1"), prospect("p2")];
        let threads = [
            thread("t1", "p1", false, false),
            thread("t2", "p2", false, true),
            thread("t3", "p2", true, false),
        ];
        store.upsert_page(RunId(1), &prospects, &threads).unwrap();
        assert_eq!(store.thread_view_counts().unwrap(), [1, 1, 1]);
        let p2 = ContactId::from("p2");
        assert_eq!(store.present_thread_ids(&p2).unwrap(), ["t2", "t3"]);
        assert_eq!(
            store.thread_prospect(&"t3".into()).unwrap(),
            Some(p2.clone())
        );

        let gone = ["t1", "t2", "t9"].map(ThreadId::from);
        assert_eq!(store.mark_threads_absent(&gone).unwrap(), (2, 1));
        assert_eq!(store.counts().unwrap().prospects, 1);
        assert_eq!(store.present_thread_ids(&p2).unwrap(), ["t3"]);
        assert_eq!(
            store
                .mark_prospects_absent(std::slice::from_ref(&p2))
                .unwrap(),
            (1, 1)
        );
        assert_eq!(store.counts().unwrap().threads, 0);
    }
}
