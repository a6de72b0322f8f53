//! The conflict log: open conflicts are updated when seen again, closed when gone.

use std::fmt;

use rusqlite::params;
use serde::Serialize;

use crate::reconcile::{ConflictKind, ContactId, Field, RecordId};

use super::{Result, RunId, Store};

/// What a conflict is about: one field, or the whole record (identity conflicts, writes the
/// CRM refused as a whole). Stored as the field's name, or `record`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ConflictField {
    /// One synced field.
    Field(Field),
    /// The whole record.
    Record,
}

impl ConflictField {
    /// Every value `--field` takes: the synced fields, then `record`.
    pub const ALL: [ConflictField; 7] = [
        ConflictField::Field(Field::Tags),
        ConflictField::Field(Field::Status),
        ConflictField::Field(Field::Valuation),
        ConflictField::Field(Field::Notes),
        ConflictField::Field(Field::Assignee),
        ConflictField::Field(Field::Done),
        ConflictField::Record,
    ];

    /// The stored text (a field's name, or `record`).
    pub fn as_str(self) -> &'static str {
        match self {
            ConflictField::Field(field) => field.as_str(),
            ConflictField::Record => "record",
        }
    }

    /// The value stored as `text`.
    pub fn parse(text: &str) -> Option<ConflictField> {
        ConflictField::ALL.into_iter().find(|f| f.as_str() == text)
    }

    /// The field, unless the conflict is about the whole record.
    pub fn field(self) -> Option<Field> {
        match self {
            ConflictField::Field(field) => Some(field),
            ConflictField::Record => None,
        }
    }
}

impl From<Field> for ConflictField {
    fn from(field: Field) -> ConflictField {
        ConflictField::Field(field)
    }
}

impl fmt::Display for ConflictField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl Serialize for ConflictField {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// A conflict as the engine reports it (values already in human form).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConflictRecord {
    /// Prospect `externalId` (empty for a CRM row that matched nothing uniquely).
    pub prospect_id: ContactId,
    /// Prospect username, for humans.
    pub username: Option<String>,
    /// X user id.
    pub platform_id: Option<String>,
    /// CRM record id (empty when none).
    pub crm_id: RecordId,
    /// The field, or `record` for identity conflicts.
    pub field: ConflictField,
    /// Kind (`both-changed`, `fanout`, ...).
    pub kind: ConflictKind,
    /// Inbox value.
    pub inbox: Option<String>,
    /// CRM value.
    pub crm: Option<String>,
    /// Base value.
    pub base: Option<String>,
    /// One line for humans.
    pub detail: String,
}

/// How a conflict ended (or not). Stored as text in `conflicts.resolution`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Resolution {
    /// Needs a human (or goes away by itself).
    Open,
    /// A human chose the Inbox value; the next sync writes it to the CRM.
    ResolvedInbox,
    /// A human chose the CRM value; the next sync writes it to Inbox.
    ResolvedCrm,
    /// A human gave a value; the next sync writes it to both sides.
    ResolvedValue,
    /// A human chose to leave it; it is not reported again while its values stay the same.
    Dismissed,
    /// The divergence went away without a resolution.
    Closed,
}

impl Resolution {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            Resolution::Open => "open",
            Resolution::ResolvedInbox => "resolved-inbox",
            Resolution::ResolvedCrm => "resolved-crm",
            Resolution::ResolvedValue => "resolved-value",
            Resolution::Dismissed => "dismissed",
            Resolution::Closed => "closed",
        }
    }

    /// The resolution stored as `text`.
    pub fn parse(text: &str) -> Option<Resolution> {
        [
            Resolution::Open,
            Resolution::ResolvedInbox,
            Resolution::ResolvedCrm,
            Resolution::ResolvedValue,
            Resolution::Dismissed,
            Resolution::Closed,
        ]
        .into_iter()
        .find(|r| r.as_str() == text)
    }
}

impl fmt::Display for Resolution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// A stored conflict.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConflictRow {
    /// Id.
    pub id: i64,
    /// Run that first saw it.
    pub first_run: RunId,
    /// Run that last saw it.
    pub last_run: RunId,
    /// Prospect id.
    pub prospect_id: ContactId,
    /// Username.
    pub username: Option<String>,
    /// X user id.
    pub platform_id: Option<String>,
    /// CRM record id.
    pub crm_id: RecordId,
    /// Field.
    pub field: ConflictField,
    /// Kind.
    pub kind: ConflictKind,
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
    /// How it ended (or not).
    pub resolution: Resolution,
    /// The value given with `resolved-value`.
    pub resolution_value: Option<String>,
    /// Who resolved it (`$USER`, or `crmsync` for closed).
    pub resolved_by: Option<String>,
    /// When.
    pub resolved_at: Option<String>,
    /// The sync that applied the resolution.
    pub applied_run: Option<RunId>,
    /// The contact's name as the mirror holds it now, for people (a LinkedIn-only contact has
    /// no X username to show). Last, so that the export's earlier columns keep their place.
    pub display_name: Option<String>,
    /// The (Inbox, CRM) values the human resolved it against (`None` for older rows): a
    /// resolution is not applied once either side moved since. Internal: not exported.
    #[serde(skip)]
    pub resolved_against: Option<(Option<String>, Option<String>)>,
}

const COLUMNS: &str = "id, first_run, last_run, prospect_id, username, platform_id, crm_id, field,
    kind, inbox, crm, base, detail, first_seen, last_seen, resolution, resolution_value,
    resolved_by, resolved_at, applied_run, resolved_known, resolved_inbox, resolved_crm,
    (SELECT display_name FROM prospects p WHERE p.id = conflicts.prospect_id)";

fn row_of(r: &rusqlite::Row<'_>) -> rusqlite::Result<ConflictRow> {
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
        resolution_value: r.get(16)?,
        resolved_by: r.get(17)?,
        resolved_at: r.get(18)?,
        applied_run: r.get(19)?,
        resolved_against: if r.get::<_, bool>(20)? {
            Some((r.get(21)?, r.get(22)?))
        } else {
            None
        },
        display_name: r.get(23)?,
    })
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
    /// For each conflict, whether a human dismissed that very divergence (same field, kind and
    /// values) and it is still dismissed.
    pub fn dismissed(&self, conflicts: &[ConflictRecord]) -> Result<Vec<bool>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM conflicts WHERE prospect_id = ?1 AND crm_id = ?2
                 AND field = ?3 AND kind = ?4 AND resolution = 'dismissed'
                 AND inbox IS ?5 AND crm IS ?6 AND base IS ?7)",
        )?;
        let mut out = Vec::with_capacity(conflicts.len());
        for c in conflicts {
            out.push(stmt.query_row(
                params![
                    c.prospect_id,
                    c.crm_id,
                    c.field,
                    c.kind,
                    c.inbox,
                    c.crm,
                    c.base
                ],
                |r| r.get::<_, bool>(0),
            )?);
        }
        Ok(out)
    }

    /// Records the conflicts a run saw: updates open ones seen again, opens new ones, and, when
    /// `close_unseen` (a run that looked at every link), closes open ones it did not see. One
    /// transaction.
    pub fn record_conflicts(
        &mut self,
        run: RunId,
        now: &str,
        conflicts: &[ConflictRecord],
        close_unseen: bool,
    ) -> Result<ConflictTally> {
        let mut tally = ConflictTally::default();
        let tx = self.conn.transaction()?;
        {
            // An open conflict, a resolution waiting for its sync, or a dismissal of the very
            // same divergence all absorb a conflict seen again.
            let mut find = tx.prepare_cached(
                "SELECT id FROM conflicts WHERE prospect_id = ?1 AND crm_id = ?2 AND field = ?3
                 AND kind = ?4
                 AND (resolution = 'open'
                      OR (resolution LIKE 'resolved-%' AND applied_run IS NULL)
                      OR (resolution = 'dismissed' AND inbox IS ?5 AND crm IS ?6 AND base IS ?7))
                 ORDER BY id DESC LIMIT 1",
            )?;
            let mut update = tx.prepare_cached(
                "UPDATE conflicts SET last_run = ?2, last_seen = ?3, inbox = ?4, crm = ?5, base = ?6,
                        detail = ?7, username = ?8, platform_id = ?9
                 WHERE id = ?1",
            )?;
            let mut is_open =
                tx.prepare_cached("SELECT resolution = 'open' FROM conflicts WHERE id = ?1")?;
            let mut insert = tx.prepare_cached(
                "INSERT INTO conflicts (first_run, last_run, prospect_id, username, platform_id, crm_id,
                                        field, kind, inbox, crm, base, detail, first_seen, last_seen)
                 VALUES (?1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12)",
            )?;
            for c in conflicts {
                let existing: Option<i64> = find
                    .query_row(
                        params![
                            c.prospect_id,
                            c.crm_id,
                            c.field,
                            c.kind,
                            c.inbox,
                            c.crm,
                            c.base
                        ],
                        |r| r.get(0),
                    )
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
                        if is_open.query_row([id], |r| r.get::<_, bool>(0))? {
                            tally.seen_again += 1;
                        }
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
                        // A value waiting for import is listed, but it is nobody's decision.
                        if c.kind != ConflictKind::PendingImport {
                            tally.opened += 1;
                        }
                    }
                }
            }
            if close_unseen {
                // Values that waited for import and now show are settled, not counted.
                tx.execute(
                    "UPDATE conflicts SET resolution = 'closed', resolved_at = ?2,
                            resolved_by = 'crmsync'
                     WHERE resolution = 'open' AND last_run < ?1 AND kind = 'pending-import'",
                    params![run.0, now],
                )?;
                tally.closed = tx.execute(
                    "UPDATE conflicts SET resolution = 'closed', resolved_at = ?2,
                            resolved_by = 'crmsync'
                     WHERE resolution = 'open' AND last_run < ?1",
                    params![run.0, now],
                )? as u64;
                // A resolution whose divergence went away needs no applying any more.
                tally.closed += tx.execute(
                    "UPDATE conflicts SET applied_run = ?1
                     WHERE resolution LIKE 'resolved-%' AND applied_run IS NULL AND last_run < ?1",
                    params![run.0],
                )? as u64;
            }
        }
        tx.commit()?;
        Ok(tally)
    }

    /// Conflicts, oldest first: unless `all`, only those that still need something (open, or
    /// resolved and waiting for the next sync).
    pub fn conflicts(&self, all: bool) -> Result<Vec<ConflictRow>> {
        let filter = if all {
            ""
        } else {
            "WHERE resolution = 'open' OR (resolution LIKE 'resolved-%' AND applied_run IS NULL)"
        };
        let sql = format!("SELECT {COLUMNS} FROM conflicts {filter} ORDER BY id");
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map([], row_of)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// One conflict.
    pub fn conflict(&self, id: i64) -> Result<Option<ConflictRow>> {
        let sql = format!("SELECT {COLUMNS} FROM conflicts WHERE id = ?1");
        let mut stmt = self.conn.prepare(&sql)?;
        let mut rows = stmt.query_map([id], row_of)?;
        Ok(rows.next().transpose()?)
    }

    /// Records a human's resolution of an open conflict; returns false when the conflict is not
    /// open (already resolved or closed).
    pub fn resolve_conflict(
        &self,
        id: i64,
        resolution: Resolution,
        value: Option<&str>,
        by: &str,
        at: &str,
    ) -> Result<bool> {
        let n = self.conn.execute(
            "UPDATE conflicts SET resolution = ?2, resolution_value = ?3, resolved_by = ?4,
                    resolved_at = ?5, resolved_known = 1, resolved_inbox = inbox,
                    resolved_crm = crm
             WHERE id = ?1 AND resolution = 'open'",
            params![id, resolution, value, by, at],
        )?;
        Ok(n == 1)
    }

    /// Resolutions the next sync must apply.
    pub fn pending_resolutions(&self) -> Result<Vec<ConflictRow>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM conflicts
             WHERE resolution LIKE 'resolved-%' AND applied_run IS NULL ORDER BY id"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map([], row_of)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Opens resolved conflicts again whose values moved since the human resolved them: the
    /// person decides again with what the sides hold now.
    pub fn reopen_conflicts(&mut self, ids: &[i64]) -> Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "UPDATE conflicts SET resolution = 'open', resolution_value = NULL,
                        resolved_by = NULL, resolved_at = NULL, resolved_known = 0
                 WHERE id = ?1 AND resolution LIKE 'resolved-%' AND applied_run IS NULL",
            )?;
            for id in ids {
                stmt.execute([id])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Marks resolutions as applied by `run`.
    pub fn mark_resolutions_applied(&mut self, run: RunId, ids: &[i64]) -> Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut stmt =
                tx.prepare_cached("UPDATE conflicts SET applied_run = ?1 WHERE id = ?2")?;
            for id in ids {
                stmt.execute(params![run.0, id])?;
            }
        }
        tx.commit()?;
        Ok(())
    }
}
