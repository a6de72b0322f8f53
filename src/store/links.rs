//! Links (a prospect and the CRM record it is matched with, and the link's state) and the
//! clean stamps a sync leaves on them (see `engine::clean`).

use rusqlite::params;
use serde::Serialize;

use crate::reconcile::{ContactId, RecordId};

use super::{Result, RunId, Store};

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
    /// Prospect `externalId` (v1), contact id (v2).
    pub prospect_id: ContactId,
    /// CRM record id.
    pub crm_id: RecordId,
    /// State.
    pub state: LinkState,
}

impl Store {
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
    pub fn stamp_links(
        &mut self,
        stamps: &[(&ContactId, Option<u64>)],
        void_others: bool,
    ) -> Result<()> {
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
}
