//! The CRM side as last read (`crm_records` and `crm.*` keys in `meta`), so that a CRM that can
//! read only its changed records (HubSpot's search by modified time) still gives the engine
//! every record: stored + changed.
//!
//! A full read replaces the copy; an incremental read upserts the records it saw, after
//! replaying onto the copy the CRM writes this mirror's change log confirmed since the copy was
//! made (a CRM's search index may lag our own writes by seconds). Each is one transaction
//! together with the watermark it moves. A record keeps its unknown fields and the rejects of
//! its unreadable values (in its `fields` JSON), so every run reports them as a full read would. Values stay in the CRM's vocabulary, exactly as the
//! adapter reported them. This module decides nothing: when to read in full is
//! `engine::crm_read`'s business, and it never talks to a CRM.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};

use crate::crm::{CrmRecord, CrmSnapshot, Reject};
use crate::reconcile::{Field, Fields, Value};

use super::{Error, Result, Store};

/// `meta` key: the adapter's incremental key the copy was read under.
const KEY: &str = "crm.mirror_key";
/// `meta` key: where the next incremental read starts (the run's clock when the last read began).
const WATERMARK: &str = "crm.watermark";
/// `meta` key: when the last full read began (the run's clock).
const LAST_FULL_AT: &str = "crm.last_full_at";
/// `meta` key: the last change-log id whose CRM writes the copy includes.
const CHANGE_ID: &str = "crm.change_id";

/// What the stored copy is. Missing or unreadable values read as `None`, which only ever makes
/// the next read a full one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CrmMirrorState {
    /// The adapter's incremental key the copy was read under.
    pub key: Option<String>,
    /// Where the next incremental read starts (before any safety overlap).
    pub watermark: Option<DateTime<Utc>>,
    /// When the last full read began.
    pub last_full_at: Option<DateTime<Utc>>,
    /// Records in the copy.
    pub records: u64,
}

impl Store {
    /// The state of the stored CRM copy.
    pub fn crm_mirror_state(&self) -> Result<CrmMirrorState> {
        let time = |key: &str| -> Result<Option<DateTime<Utc>>> {
            Ok(self.meta(key)?.as_deref().and_then(parse_time))
        };
        let records: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM crm_records", [], |r| r.get(0))?;
        Ok(CrmMirrorState {
            key: self.meta(KEY)?,
            watermark: time(WATERMARK)?,
            last_full_at: time(LAST_FULL_AT)?,
            records: records as u64,
        })
    }

    /// Replaces the copy with a full read that began at `read_at`, under `key`.
    pub fn replace_crm_mirror(
        &mut self,
        key: &str,
        snapshot: &CrmSnapshot,
        read_at: DateTime<Utc>,
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute("DELETE FROM crm_records", [])?;
        upsert(&tx, snapshot)?;
        let at = format_time(read_at);
        set(&tx, KEY, key)?;
        set(&tx, WATERMARK, &at)?;
        set(&tx, LAST_FULL_AT, &at)?;
        set(&tx, CHANGE_ID, &last_change_id(&tx)?.to_string())?;
        tx.commit()?;
        Ok(())
    }

    /// Merges an incremental read that began at `read_at` into the copy: first the CRM writes
    /// confirmed since the copy was made, then the records read (which win: they are newer).
    pub fn merge_crm_mirror(
        &mut self,
        changed: &CrmSnapshot,
        read_at: DateTime<Utc>,
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        let since: i64 = get(&tx, CHANGE_ID)?
            .and_then(|v| v.parse().ok())
            .unwrap_or(i64::MAX);
        replay_crm_writes(&tx, since)?;
        upsert(&tx, changed)?;
        set(&tx, WATERMARK, &format_time(read_at))?;
        set(&tx, CHANGE_ID, &last_change_id(&tx)?.to_string())?;
        tx.commit()?;
        Ok(())
    }

    /// The copy as a snapshot: records and rejects in record-id order (numeric ids numerically),
    /// rows numbered from 1 in that order.
    pub fn load_crm_mirror(&self) -> Result<CrmSnapshot> {
        let mut stmt = self.conn.prepare(
            "SELECT id, x_user_id, username, fields, updated_at, reject, source FROM crm_records
             ORDER BY length(id), id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, Option<String>>(5)?,
                r.get::<_, Option<String>>(6)?,
            ))
        })?;
        let mut snapshot = CrmSnapshot::default();
        for (idx, row) in rows.enumerate() {
            let (id, x_user_id, username, fields, updated_at, reject, source) = row?;
            let row = idx as u64 + 1;
            match (fields, reject) {
                (Some(fields), _) => {
                    let stored = decode_fields(&id, &fields)?;
                    let source = source.unwrap_or_else(|| "crm".into());
                    snapshot
                        .rejects
                        .extend(stored.rejected.into_iter().map(|cell| Reject {
                            source: source.clone(),
                            row,
                            record_id: Some(id.clone()),
                            column: Some(cell.column),
                            reason: cell.reason,
                        }));
                    snapshot.records.push(CrmRecord {
                        fields: stored.fields,
                        unknown: stored.unknown,
                        id: id.into(),
                        x_user_id,
                        username,
                        linkedin_id: stored.linkedin_id,
                        linkedin_username: stored.linkedin_username,
                        updated_at: updated_at.as_deref().and_then(parse_time),
                        row,
                    });
                }
                (None, reason) => snapshot.rejects.push(Reject {
                    source: source.unwrap_or_else(|| "crm".into()),
                    row,
                    record_id: Some(id),
                    column: None,
                    reason: reason.unwrap_or_else(|| "the record could not be read".into()),
                }),
            }
        }
        Ok(snapshot)
    }
}

/// Inserts or replaces the records and the rejects that name their record.
fn upsert(tx: &Transaction<'_>, snapshot: &CrmSnapshot) -> Result<()> {
    let mut stmt = tx.prepare_cached(
        "INSERT OR REPLACE INTO crm_records
             (id, x_user_id, username, fields, updated_at, reject, source)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    // The rejects of single values belong to their (read) record.
    let mut cell_rejects: HashMap<&str, Vec<(&str, &Reject)>> = HashMap::new();
    for reject in &snapshot.rejects {
        if let (Some(id), Some(column)) = (&reject.record_id, &reject.column) {
            cell_rejects
                .entry(id.as_str())
                .or_default()
                .push((column, reject));
        }
    }
    for record in &snapshot.records {
        let rejects = cell_rejects.remove(record.id.as_str()).unwrap_or_default();
        let source = rejects.first().map(|(_, r)| r.source.clone());
        let stored = StoredFields {
            fields: record.fields.clone(),
            unknown: record.unknown.clone(),
            rejected: rejects
                .into_iter()
                .map(|(column, reject)| StoredReject {
                    column: column.to_owned(),
                    reason: reject.reason.clone(),
                })
                .collect(),
            linkedin_id: record.linkedin_id.clone(),
            linkedin_username: record.linkedin_username.clone(),
        };
        let fields = serde_json::to_string(&stored).expect("fields serialize");
        stmt.execute(params![
            record.id,
            record.x_user_id,
            record.username,
            fields,
            record.updated_at.map(format_time),
            Option::<String>::None,
            source,
        ])?;
    }
    for reject in &snapshot.rejects {
        // A reject without a record id cannot be told apart from others: it is reported by the
        // run that read it only. A value's reject is stored with its record, above.
        let Some(id) = &reject.record_id else {
            continue;
        };
        if reject.column.is_some() {
            continue;
        }
        stmt.execute(params![
            id,
            Option::<String>::None,
            Option::<String>::None,
            Option::<String>::None,
            Option::<String>::None,
            reject.reason,
            reject.source,
        ])?;
    }
    Ok(())
}

/// Applies to the copy the CRM values the change log records as applied after change `since`.
fn replay_crm_writes(tx: &Transaction<'_>, since: i64) -> Result<()> {
    let writes: Vec<(String, String)> = {
        let mut stmt = tx.prepare(
            "SELECT crm_id, new_value FROM changes
             WHERE id > ?1 AND side = 'crm' AND status = 'applied'
               AND crm_id IS NOT NULL AND new_value IS NOT NULL
             ORDER BY id",
        )?;
        let rows = stmt.query_map([since], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for (crm_id, new_value) in writes {
        let stored: Option<Option<String>> = tx
            .query_row(
                "SELECT fields FROM crm_records WHERE id = ?1",
                [&crm_id],
                |r| r.get(0),
            )
            .optional()?;
        let Some(Some(fields)) = stored else {
            continue;
        };
        let mut fields = decode_fields(&crm_id, &fields)?;
        let value: Value = serde_json::from_str(&new_value).map_err(|e| Error::Corrupt {
            table: "changes",
            detail: format!("new value of a write to {crm_id}: {e}"),
        })?;
        // The CRM confirmed the value: the field is known again.
        fields.unknown.remove(&value.field());
        fields.fields.set(value);
        tx.execute(
            "UPDATE crm_records SET fields = ?2 WHERE id = ?1",
            params![
                crm_id,
                serde_json::to_string(&fields).expect("fields serialize")
            ],
        )?;
    }
    Ok(())
}

/// A record's `fields` column: its values, plus its unknown fields, the rejects of its
/// unreadable values and its LinkedIn identity (all absent in rows written before they existed).
#[derive(Debug, Serialize, Deserialize)]
struct StoredFields {
    /// The values read.
    #[serde(flatten)]
    fields: Fields,
    /// Fields whose value could not be read.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    unknown: BTreeSet<Field>,
    /// The rejects of the record's unreadable values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    rejected: Vec<StoredReject>,
    /// The record's LinkedIn id (kept here rather than in a column of its own: absent in rows
    /// written before LinkedIn identities existed, and in records without one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    linkedin_id: Option<String>,
    /// The record's LinkedIn slug.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    linkedin_username: Option<String>,
}

/// One unreadable value of a stored record.
#[derive(Debug, Serialize, Deserialize)]
struct StoredReject {
    /// The property (column).
    column: String,
    /// Why, for humans.
    reason: String,
}

fn decode_fields(id: &str, json: &str) -> Result<StoredFields> {
    serde_json::from_str(json).map_err(|e| Error::Corrupt {
        table: "crm_records",
        detail: format!("fields of {id}: {e}"),
    })
}

fn last_change_id(tx: &Transaction<'_>) -> Result<i64> {
    Ok(tx.query_row("SELECT COALESCE(MAX(id), 0) FROM changes", [], |r| r.get(0))?)
}

fn get(tx: &Transaction<'_>, key: &str) -> Result<Option<String>> {
    Ok(tx
        .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()?)
}

fn set(tx: &Transaction<'_>, key: &str, value: &str) -> Result<()> {
    tx.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}

fn format_time(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::reconcile::Side;
    use crate::reconcile::{Change, Field};
    use crate::store::{BaseBefore, ChangeRow, ChangeStatus, RunMode};

    fn record(id: &str, notes: &str) -> CrmRecord {
        CrmRecord {
            id: id.into(),
            x_user_id: Some(format!("x{id}")),
            username: Some(format!("user{id}")),
            linkedin_id: None,
            linkedin_username: None,
            fields: Fields {
                tags: BTreeSet::from(["VIP".to_owned()]),
                notes: Some(notes.into()),
                ..Fields::default()
            },
            unknown: Default::default(),
            updated_at: Some(at(1_000)),
            row: 0,
        }
    }

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(ms).unwrap()
    }

    fn snapshot(records: Vec<CrmRecord>, rejects: Vec<Reject>) -> CrmSnapshot {
        CrmSnapshot { records, rejects }
    }

    fn ids(snapshot: &CrmSnapshot) -> Vec<&str> {
        snapshot.records.iter().map(|r| r.id.as_str()).collect()
    }

    #[test]
    fn a_full_read_replaces_the_copy_and_an_incremental_one_is_merged_in() {
        let mut store = Store::open_in_memory().unwrap();
        assert_eq!(store.crm_mirror_state().unwrap(), CrmMirrorState::default());
        let bad = Reject {
            source: "hubspot".into(),
            row: 3,
            record_id: Some("12".into()),
            column: None,
            reason: "contact 12: property inbox_done: \"perhaps\" is not true/false".into(),
        };
        let full = snapshot(
            vec![record("101", "a"), record("9", "b"), record("100", "c")],
            vec![bad.clone()],
        );
        store.replace_crm_mirror("k1", &full, at(5_000)).unwrap();
        let state = store.crm_mirror_state().unwrap();
        assert_eq!(state.key.as_deref(), Some("k1"));
        assert_eq!(state.watermark, Some(at(5_000)));
        assert_eq!(state.last_full_at, Some(at(5_000)));
        assert_eq!(state.records, 4);
        let loaded = store.load_crm_mirror().unwrap();
        assert_eq!(ids(&loaded), ["9", "100", "101"]);
        assert_eq!(loaded.records[0].row, 1);
        assert_eq!(loaded.records[0].fields, record("9", "b").fields);
        assert_eq!(loaded.records[0].updated_at, Some(at(1_000)));
        assert_eq!(loaded.rejects.len(), 1);
        assert_eq!(loaded.rejects[0].record_id.as_deref(), Some("12"));
        assert_eq!(loaded.rejects[0].reason, bad.reason);
        assert_eq!(loaded.rejects[0].source, "hubspot");

        // Changed: 100's notes, 12 readable again, 9 unreadable now, 200 new.
        let changed = snapshot(
            vec![record("100", "c2"), record("12", "d"), record("200", "e")],
            vec![Reject {
                record_id: Some("9".into()),
                ..bad.clone()
            }],
        );
        store.merge_crm_mirror(&changed, at(9_000)).unwrap();
        let state = store.crm_mirror_state().unwrap();
        assert_eq!(state.watermark, Some(at(9_000)));
        assert_eq!(state.last_full_at, Some(at(5_000)));
        let loaded = store.load_crm_mirror().unwrap();
        assert_eq!(ids(&loaded), ["12", "100", "101", "200"]);
        assert_eq!(loaded.records[1].fields.notes.as_deref(), Some("c2"));
        assert_eq!(loaded.rejects[0].record_id.as_deref(), Some("9"));
        // The same merge again changes nothing.
        store.merge_crm_mirror(&changed, at(9_000)).unwrap();
        assert_eq!(store.load_crm_mirror().unwrap().records, loaded.records);

        // A full read forgets what it no longer lists.
        store
            .replace_crm_mirror("k1", &snapshot(vec![record("9", "b")], vec![]), at(10_000))
            .unwrap();
        assert_eq!(ids(&store.load_crm_mirror().unwrap()), ["9"]);
    }

    #[test]
    fn crm_writes_confirmed_after_the_copy_was_made_are_replayed_onto_it() {
        let mut store = Store::open_in_memory().unwrap();
        let run = store
            .begin_run(RunMode::Sync, "2024-05-01T00:00:00Z")
            .unwrap();
        let old_change = |value: &str| ChangeRow {
            side: Side::Crm,
            target: "100".into(),
            field: Field::Notes,
            old: String::new(),
            new: value.into(),
            status: ChangeStatus::Applied,
            prospect_id: Some("p1".into()),
            crm_id: Some("100".into()),
            old_value: Some(Value::Notes(None)),
            new_value: Some(Value::Notes(Some(value.into()))),
            base_before: BaseBefore::NotRecorded,
        };
        // Written before the copy was made: the read already shows it.
        store.record_changes(run, &[old_change("before")]).unwrap();
        store
            .replace_crm_mirror(
                "k",
                &snapshot(vec![record("100", "read"), record("101", "x")], vec![]),
                at(5_000),
            )
            .unwrap();
        let tags = Change {
            old: Value::Tags(BTreeSet::from(["VIP".to_owned()])),
            new: Value::Tags(BTreeSet::from(["VIP".to_owned(), "Partner".to_owned()])),
        };
        let failed = ChangeRow {
            status: ChangeStatus::Failed,
            target: "101".into(),
            crm_id: Some("101".into()),
            ..old_change("refused")
        };
        let tag_change = ChangeRow {
            field: Field::Tags,
            new_value: Some(tags.new.clone()),
            old_value: Some(tags.old.clone()),
            ..old_change("")
        };
        store
            .record_changes(run, &[old_change("ours"), tag_change, failed])
            .unwrap();
        // The search index has not caught up: the incremental read sees nothing.
        store
            .merge_crm_mirror(&CrmSnapshot::default(), at(6_000))
            .unwrap();
        let loaded = store.load_crm_mirror().unwrap();
        assert_eq!(loaded.records[0].fields.notes.as_deref(), Some("ours"));
        assert_eq!(loaded.records[0].fields.get(Field::Tags), tags.new);
        assert_eq!(loaded.records[1].fields.notes.as_deref(), Some("x"));
        // Replayed once: a later edit in the CRM, read back, wins.
        store
            .merge_crm_mirror(&snapshot(vec![record("100", "edited")], vec![]), at(7_000))
            .unwrap();
        store
            .merge_crm_mirror(&CrmSnapshot::default(), at(8_000))
            .unwrap();
        let loaded = store.load_crm_mirror().unwrap();
        assert_eq!(loaded.records[0].fields.notes.as_deref(), Some("edited"));
    }

    #[test]
    fn trust_a_records_unreadable_values_are_kept_with_it_and_reported_on_every_load() {
        let mut store = Store::open_in_memory().unwrap();
        let mut bad = record("7", "still syncs");
        bad.unknown = BTreeSet::from([Field::Valuation]);
        let cell = Reject {
            source: "hubspot".into(),
            row: 1,
            record_id: Some("7".into()),
            column: Some("inbox_valuation".into()),
            reason: "contact 7: property inbox_valuation: \"12k\" is not a number".into(),
        };
        let full = snapshot(vec![bad.clone()], vec![cell.clone()]);
        store.replace_crm_mirror("k1", &full, at(5_000)).unwrap();
        let loaded = store.load_crm_mirror().unwrap();
        // The value's reject does not replace its record.
        assert_eq!(ids(&loaded), ["7"]);
        assert_eq!(loaded.records[0].unknown, bad.unknown);
        assert_eq!(loaded.records[0].fields, bad.fields);
        assert_eq!(loaded.rejects, [cell]);
        // Read again with the value fixed: known, no reject.
        let fixed = snapshot(vec![record("7", "still syncs")], Vec::new());
        store.merge_crm_mirror(&fixed, at(9_000)).unwrap();
        let loaded = store.load_crm_mirror().unwrap();
        assert!(loaded.records[0].unknown.is_empty());
        assert!(loaded.rejects.is_empty(), "{:?}", loaded.rejects);
    }
}
