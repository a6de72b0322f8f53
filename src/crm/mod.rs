//! CRM adapters behind one trait: read records, write changes, say what was confirmed.
//!
//! Adapters speak the core's vocabulary (`reconcile::Fields` in the CRM's own values: the CRM
//! status value, the owner e-mail). They do not match, merge or decide anything, and they never
//! delete a record.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

use chrono::{DateTime, Utc};

use crate::reconcile::{Change, Field, Fields, RecordId};

pub mod csv;
pub mod hubspot;
pub mod identity;

/// One CRM record as read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrmRecord {
    /// The CRM's record id.
    pub id: RecordId,
    /// X numeric user id (= Inbox prospect `platformId`), if the CRM has it.
    pub x_user_id: Option<String>,
    /// X username without `@` (a profile URL reduced to its handle, see [`identity::x_handle`]).
    pub username: Option<String>,
    /// LinkedIn member id (= the `platformId` of an Inbox v2 LinkedIn profile), if the CRM has it.
    pub linkedin_id: Option<String>,
    /// LinkedIn public-profile slug (a profile URL reduced to it, see
    /// [`identity::linkedin_slug`]).
    pub linkedin_username: Option<String>,
    /// Synced values in the CRM's vocabulary.
    pub fields: Fields,
    /// Fields whose value could not be read (each has a [`Reject`] naming its column): unknown
    /// for this record, never written or agreed on. Their value in `fields` is empty.
    pub unknown: BTreeSet<Field>,
    /// Per-record modified time, if the CRM gives one.
    pub updated_at: Option<DateTime<Utc>>,
    /// Where it came from, for messages: for a CSV file, the 1-based line where the record
    /// starts (the header is line 1).
    pub row: u64,
}

/// A record, or one value of a record, that the adapter refused to read. A whole record is
/// refused only when it cannot be identified (its id, X id or handle, or the row's shape); it
/// is skipped and the rest still syncs. A value that does not parse refuses only that value:
/// the record is read without it (see [`CrmRecord::unknown`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reject {
    /// File or source name.
    pub source: String,
    /// 1-based row (CSV: the line of the record's first line in the file).
    pub row: u64,
    /// The record id when it could be read.
    pub record_id: Option<String>,
    /// The column (CSV) or property (HubSpot) refused when only that value was, `None` when the
    /// whole record was.
    pub column: Option<String>,
    /// Why, for humans (names the column and the value).
    pub reason: String,
}

impl Reject {
    /// Whether the whole record was refused (not only one of its values).
    pub fn is_record(&self) -> bool {
        self.column.is_none()
    }
}

/// Everything read from the CRM in one run.
#[derive(Clone, Debug, Default)]
pub struct CrmSnapshot {
    /// Valid records, in source order.
    pub records: Vec<CrmRecord>,
    /// Rejected rows.
    pub rejects: Vec<Reject>,
}

/// How much of a read was refused: whole records, and values per column.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RejectShares {
    /// Records read plus records refused whole.
    pub rows: u64,
    /// Records refused whole.
    pub rejected_rows: u64,
    /// Records read.
    pub records: u64,
    /// Refused values per column (CSV) or property (HubSpot).
    pub cells: BTreeMap<String, u64>,
}

impl RejectShares {
    /// Counts a snapshot's rejects.
    pub fn of(snapshot: &CrmSnapshot) -> RejectShares {
        let mut shares = RejectShares {
            records: snapshot.records.len() as u64,
            ..RejectShares::default()
        };
        for reject in &snapshot.rejects {
            match &reject.column {
                None => shares.rejected_rows += 1,
                Some(column) => *shares.cells.entry(column.clone()).or_default() += 1,
            }
        }
        shares.rows = shares.records + shares.rejected_rows;
        shares
    }

    /// What exceeds `percent` % (of rows, or of records for one column), one phrase each.
    pub fn over(&self, percent: u64) -> Vec<String> {
        let over = |part: u64, whole: u64| part > 0 && part * 100 > whole * percent;
        let mut found = Vec::new();
        if over(self.rejected_rows, self.rows) {
            found.push(format!(
                "{} of {} rows are rejected",
                self.rejected_rows, self.rows
            ));
        }
        for (column, &count) in &self.cells {
            if over(count, self.records) {
                found.push(format!(
                    "{count} of {} records have a {column} that does not read",
                    self.records
                ));
            }
        }
        found
    }
}

/// A new CRM record for an Inbox prospect that has none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewRecord {
    /// The id to give the record (in-place mode) — adapters whose CRM assigns ids may ignore it.
    pub id: RecordId,
    /// X numeric user id (empty when the contact has no X profile).
    pub x_user_id: String,
    /// X username (empty when the contact has no X profile).
    pub username: String,
    /// LinkedIn member id, when the contact has a LinkedIn profile.
    pub linkedin_id: Option<String>,
    /// LinkedIn public-profile slug, when the contact has a LinkedIn profile.
    pub linkedin_username: Option<String>,
    /// Values in the CRM's vocabulary.
    pub fields: Fields,
}

/// One write to the CRM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CrmWrite {
    /// Change fields of an existing record (CRM vocabulary; `old` is what the CRM held).
    Update {
        /// Record id.
        id: RecordId,
        /// Field changes.
        changes: Vec<Change>,
    },
    /// Create a record.
    Create(NewRecord),
}

impl CrmWrite {
    /// The record id the write targets.
    pub fn id(&self) -> &RecordId {
        match self {
            CrmWrite::Update { id, .. } => id,
            CrmWrite::Create(record) => &record.id,
        }
    }
}

/// What became of one write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteStatus {
    /// The CRM holds the new values now.
    Confirmed,
    /// Handed over (e.g. an import file) but not visible in the CRM until imported.
    Pending,
    /// Refused; the reason names the field or value.
    Failed(String),
}

impl WriteStatus {
    /// The prefix of a [`WriteStatus::Failed`] reason that means "this value has no counterpart
    /// in the CRM" (e.g. a tag that is not an option of the tags property): an `unmapped`
    /// conflict, not a refusal by the API.
    pub const UNMAPPED_PREFIX: &'static str = "unmapped: ";

    /// A failure because a value has no counterpart in the CRM; `detail` names the value.
    pub fn unmapped(detail: impl std::fmt::Display) -> WriteStatus {
        WriteStatus::Failed(format!("{}{detail}", Self::UNMAPPED_PREFIX))
    }

    /// The detail of an unmapped-value failure (see [`WriteStatus::unmapped`]), `None` for any
    /// other status.
    pub fn unmapped_detail(&self) -> Option<&str> {
        match self {
            WriteStatus::Failed(reason) => reason.strip_prefix(Self::UNMAPPED_PREFIX),
            WriteStatus::Confirmed | WriteStatus::Pending => None,
        }
    }
}

/// The outcome of a batch of writes, one status per write in input order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteReport {
    /// `statuses[i]` belongs to `writes[i]`.
    pub statuses: Vec<WriteStatus>,
}

/// A CRM adapter error that stops the run (a bad row is a [`Reject`], not an error).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The source could not be read or written.
    // The reason is printed, not also returned as the error's source: a chain printed with
    // `{:#}` would say it twice.
    #[error("{path}: {reason}")]
    Io {
        /// File or resource.
        path: String,
        /// Why.
        reason: std::io::Error,
    },
    /// The source is not usable at all (e.g. a mapped column is missing from the header).
    #[error("{source_name}: {message}")]
    Unusable {
        /// File or resource.
        source_name: String,
        /// What is wrong.
        message: String,
    },
}

/// Requests an adapter made to its CRM's API.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ApiUsage {
    /// HTTP attempts, retries included.
    pub requests: u64,
    /// 429 answers met.
    pub rate_limited: u64,
}

/// A CRM behind crmsync.
pub trait CrmAdapter {
    /// A short name for logs (`csv:crm_export.csv`).
    fn name(&self) -> String;

    /// Fields this CRM maps (others are not synced).
    fn fields(&self) -> BTreeSet<Field>;

    /// Reads every record, rejecting bad ones individually.
    fn read(&mut self) -> impl Future<Output = Result<CrmSnapshot, Error>> + Send;

    /// What incremental reads of this adapter are relative to: the source and the field
    /// mapping, as an opaque text. The engine keeps a copy of the records only for adapters
    /// that return `Some`, and reads in full whenever the text changes (another account, a
    /// renamed property). `None` (the default): the adapter reads in full only.
    fn incremental_key(&self) -> Option<String> {
        None
    }

    /// Reads only the records modified at or after `since` (the CRM's modified time): new and
    /// changed records, and rejects among them. Records deleted since are not reported; only a
    /// full [`read`](CrmAdapter::read) shows them gone. `Ok(None)` (the default): the adapter
    /// cannot read incrementally.
    fn read_changed_since(
        &mut self,
        since: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<CrmSnapshot>, Error>> + Send {
        let _ = since;
        async { Ok(None) }
    }

    /// Requests made to the CRM's API so far and the 429s met, for adapters that call one
    /// (`None`, the default: a file).
    fn api_usage(&self) -> Option<ApiUsage> {
        None
    }

    /// A run that hands nothing over to an import file: whatever file an earlier run left
    /// is withdrawn, so that values no longer waiting are not imported by mistake. Adapters
    /// that write the CRM directly do nothing.
    fn withdraw_handover(&mut self) -> impl Future<Output = Result<(), Error>> + Send {
        async { Ok(()) }
    }

    /// Applies writes. An `Err` means nothing was written; per-write failures are in the report.
    fn write(
        &mut self,
        writes: &[CrmWrite],
    ) -> impl Future<Output = Result<WriteReport, Error>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reject(row: u64, column: Option<&str>) -> Reject {
        Reject {
            source: "export.csv".into(),
            row,
            record_id: column.map(|_| format!("r{row}")),
            column: column.map(str::to_string),
            reason: "bad".into(),
        }
    }

    #[test]
    fn trust_reject_shares_count_rows_and_each_columns_values_apart() {
        let record = |row| CrmRecord {
            id: format!("r{row}").into(),
            x_user_id: None,
            username: None,
            linkedin_id: None,
            linkedin_username: None,
            fields: Fields::default(),
            unknown: BTreeSet::new(),
            updated_at: None,
            row,
        };
        let snapshot = CrmSnapshot {
            records: (2..=41).map(record).collect(),
            rejects: vec![
                reject(3, Some("Deal Value")),
                reject(4, Some("Deal Value")),
                reject(5, Some("Deal Value")),
                reject(6, Some("Done")),
                reject(42, None),
            ],
        };
        let shares = RejectShares::of(&snapshot);
        assert_eq!(
            (shares.rows, shares.rejected_rows, shares.records),
            (41, 1, 40)
        );
        // 1 of 41 rows and 1 of 40 Done values are under 5 %; 3 of 40 Deal Values are not.
        assert_eq!(
            shares.over(5),
            ["3 of 40 records have a Deal Value that does not read"]
        );
        assert_eq!(shares.over(50), Vec::<String>::new());
    }
}
