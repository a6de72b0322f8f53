//! Reading an export: the header is resolved against the column mapping, then every row becomes
//! a [`CrmRecord`] (with a [`Reject`] for each of its cells that does not parse) or, when it
//! cannot be identified, a [`Reject`] naming its line and column.
//!
//! A bad row never stops the read and never hides the other rows, and a bad cell never hides
//! the rest of its row; only a file that cannot be read at all (I/O) or whose header lacks a
//! mapped column is an [`Error`]. This module does not
//! match records to prospects, merge values or write anything.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;

use chrono::{DateTime, Utc};
use foldhash::HashMap;

use super::AmountSurvey;
use super::Settings;
use super::cell::{parse_amount, parse_field, parse_time, unescape_formula};
use super::scan::{RawRecord, Scanner};
use crate::config::DateFormat;
use crate::crm::{CrmRecord, CrmSnapshot, Error, Reject};
use crate::reconcile::{Field, Fields};

/// Where each mapped column sits in the header.
#[derive(Debug, Clone)]
pub(super) struct Layout {
    /// Number of columns in the header.
    pub width: usize,
    /// Header names (trimmed), for messages.
    pub names: Vec<String>,
    /// Record id column.
    pub id: usize,
    /// X user id column.
    pub x_user_id: Option<usize>,
    /// Username column.
    pub username: Option<usize>,
    /// LinkedIn member id column.
    pub linkedin_id: Option<usize>,
    /// LinkedIn slug (or profile URL) column.
    pub linkedin_username: Option<usize>,
    /// Synced fields' columns.
    pub fields: BTreeMap<Field, usize>,
    /// Last-modified column.
    pub updated_at: Option<usize>,
}

impl Layout {
    /// Resolves the mapping against a header row; every mapped column must be there once.
    pub fn resolve(settings: &Settings, header: &RawRecord) -> Result<Layout, Error> {
        if let Some(cell) = header.unterminated {
            return Err(settings.unusable(format!(
                "the header row has an unterminated quote in its cell {}",
                cell + 1
            )));
        }
        let names: Vec<String> = header
            .cells
            .iter()
            .map(|cell| String::from_utf8_lossy(cell).trim().to_string())
            .collect();
        let mut missing = Vec::new();
        let mut repeated = Vec::new();
        let mut find = |column: &str| -> Option<usize> {
            let mut hits = names
                .iter()
                .enumerate()
                .filter(|(_, name)| *name == column.trim());
            let first = hits.next().map(|(idx, _)| idx);
            match first {
                None => missing.push(format!("{column:?}")),
                Some(_) if hits.next().is_some() => repeated.push(format!("{column:?}")),
                Some(_) => {}
            }
            first
        };
        let columns = &settings.columns;
        let id = find(&columns.id);
        let x_user_id = columns.x_user_id.as_deref().and_then(&mut find);
        let username = columns.username.as_deref().and_then(&mut find);
        let linkedin_id = columns.linkedin_id.as_deref().and_then(&mut find);
        let linkedin_username = columns.linkedin_username.as_deref().and_then(&mut find);
        let mut fields = BTreeMap::new();
        for field in Field::ALL {
            if let Some(column) = columns.column(field)
                && let Some(idx) = find(column)
            {
                fields.insert(field, idx);
            }
        }
        let updated_at = columns.updated_at.as_deref().and_then(&mut find);
        if !missing.is_empty() {
            let mut hint = delimiter_hint(&names, settings.delimiter);
            if hint.is_empty() {
                hint = "; under [crm.csv.columns] name each column as the export spells it, or \
                        delete the line of a column the CRM does not export"
                    .to_string();
            }
            return Err(settings.unusable(format!(
                "mapped column{} {} not in the header (line {}); the header has: {}{hint}",
                if missing.len() == 1 { " is" } else { "s are" },
                missing.join(", "),
                header.line,
                names
                    .iter()
                    .map(|n| format!("{n:?}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            )));
        }
        if !repeated.is_empty() {
            return Err(settings.unusable(format!(
                "mapped column{} {} more than once in the header (line {})",
                if repeated.len() == 1 { " is" } else { "s are" },
                repeated.join(", "),
                header.line
            )));
        }
        Ok(Layout {
            width: names.len(),
            names,
            // `find` pushed to `missing` if it was absent, and that returned above.
            id: id.unwrap_or_default(),
            x_user_id,
            username,
            linkedin_id,
            linkedin_username,
            fields,
            updated_at,
        })
    }

    /// `column <name>` for a cell index, for messages.
    pub fn label(&self, cell: usize) -> String {
        match self.names.get(cell) {
            Some(name) => format!("column {name}"),
            None => format!("cell {} (beyond the header)", cell + 1),
        }
    }

    /// The record id of a structurally sound row (trimmed, unescaped), if non-empty.
    pub fn record_id(&self, raw: &RawRecord) -> Option<String> {
        if raw.unterminated.is_some() || raw.cells.len() != self.width {
            return None;
        }
        let cell = std::str::from_utf8(raw.cells.get(self.id)?).ok()?;
        let id = unescape_formula(cell).trim();
        (!id.is_empty()).then(|| id.to_string())
    }
}

/// Reads a whole export from `source`.
pub(super) fn read_all(
    settings: &Settings,
    source: impl Read + Send,
) -> Result<CrmSnapshot, Error> {
    let mut scanner = Scanner::new(source, settings.delimiter).map_err(|e| settings.io(e))?;
    let Some(header) = scanner.next_record().map_err(|e| settings.io(e))? else {
        return Err(settings.unusable("the file is empty: no header row".into()));
    };
    let layout = Layout::resolve(settings, &header)?;

    let mut snapshot = CrmSnapshot::default();
    // The first line each sound record id was seen on, and every line of the ids seen twice,
    // for the duplicate check (a vector per id would cost more than the records).
    let mut first_line: HashMap<String, u64> = HashMap::default();
    let mut id_lines: HashMap<String, Vec<u64>> = HashMap::default();
    while let Some(raw) = scanner.next_record().map_err(|e| settings.io(e))? {
        if is_blank_row(&raw) {
            continue;
        }
        if let Some(id) = layout.record_id(&raw) {
            match first_line.get(&id) {
                Some(&first) => id_lines
                    .entry(id)
                    .or_insert_with(|| vec![first])
                    .push(raw.line),
                None => {
                    first_line.insert(id, raw.line);
                }
            }
        }
        match parse_row(settings, &layout, &raw) {
            Ok((record, cell_rejects)) => {
                snapshot.records.push(record);
                snapshot.rejects.extend(cell_rejects);
            }
            Err(reject) => snapshot.rejects.push(reject),
        }
    }

    drop(first_line);
    snapshot.records.shrink_to_fit();

    // Two rows with one id: neither is trusted, each reject names the other lines.
    let duplicated: HashMap<&str, &Vec<u64>> = id_lines
        .iter()
        .map(|(id, lines)| (id.as_str(), lines))
        .collect();
    if !duplicated.is_empty() {
        // A duplicated row is refused whole: its cells' rejects would only repeat it.
        let duplicate_rows: foldhash::HashSet<u64> = duplicated
            .values()
            .flat_map(|lines| lines.iter().copied())
            .collect();
        snapshot
            .rejects
            .retain(|r| r.is_record() || !duplicate_rows.contains(&r.row));
        let records = std::mem::take(&mut snapshot.records);
        for record in records {
            let Some(lines) = duplicated.get(record.id.as_str()) else {
                snapshot.records.push(record);
                continue;
            };
            let others: Vec<String> = lines
                .iter()
                .filter(|&&line| line != record.row)
                .map(u64::to_string)
                .collect();
            snapshot.rejects.push(Reject {
                source: settings.source.clone(),
                row: record.row,
                reason: format!(
                    "duplicate {} {}, also at line{} {}",
                    settings.columns.id,
                    record.id,
                    if others.len() == 1 { "" } else { "s" },
                    others.join(", ")
                ),
                record_id: Some(record.id.into_string()),
                column: None,
            });
        }
        snapshot.rejects.sort_by_key(|reject| reject.row);
    }
    Ok(snapshot)
}

/// Counts the valuation cells that read only with the configured decimal separator and those
/// that read only with the other one.
pub(super) fn survey_amounts(
    settings: &Settings,
    source: impl Read + Send,
) -> Result<Option<AmountSurvey>, Error> {
    let mut scanner = Scanner::new(source, settings.delimiter).map_err(|e| settings.io(e))?;
    let Some(header) = scanner.next_record().map_err(|e| settings.io(e))? else {
        return Err(settings.unusable("the file is empty: no header row".into()));
    };
    let layout = Layout::resolve(settings, &header)?;
    let Some(&idx) = layout.fields.get(&Field::Valuation) else {
        return Ok(None);
    };
    let configured = settings.formats.decimal;
    let mut survey = AmountSurvey {
        configured,
        ..AmountSurvey::default()
    };
    while let Some(raw) = scanner.next_record().map_err(|e| settings.io(e))? {
        let Some(cell) = raw
            .cells
            .get(idx)
            .and_then(|bytes| std::str::from_utf8(bytes).ok())
            .map(|cell| unescape_formula(cell).trim())
            .filter(|cell| !cell.is_empty())
        else {
            continue;
        };
        match (
            parse_amount(cell, configured).is_some(),
            parse_amount(cell, configured.other()).is_some(),
        ) {
            (true, false) => survey.only_configured += 1,
            (false, true) => survey.only_other += 1,
            _ => {}
        }
    }
    Ok(Some(survey))
}

/// A row whose every cell is empty or blank (spreadsheets pad exports with `,,,,` rows): not a
/// record, skipped silently.
fn is_blank_row(raw: &RawRecord) -> bool {
    raw.unterminated.is_none() && raw.cells.iter().all(|c| c.trim_ascii().is_empty())
}

/// One data row to a record and a reject for each of its cells that does not parse, or the
/// reason the row is not a record at all (it cannot be identified).
fn parse_row(
    settings: &Settings,
    layout: &Layout,
    raw: &RawRecord,
) -> Result<(CrmRecord, Vec<Reject>), Reject> {
    let row = Row {
        settings,
        layout,
        raw,
    };
    if let Some(reject) = row.shape_reject() {
        return Err(reject);
    }
    let id = layout.record_id(raw);
    let columns = &settings.columns;
    let Some(record_id) = id.clone() else {
        row.identity(&id, layout.id, &columns.id)?;
        return Err(row.reject(
            None,
            None,
            format!("column {}: empty record id", columns.id),
        ));
    };
    let identity = row.identity_cells(&id)?;

    // Any other cell that does not parse refuses only its value.
    let mut cell_rejects = Vec::new();
    let (fields, unknown) = row.fields(&id, &mut cell_rejects);
    let updated_at = row.updated_at(&id, &mut cell_rejects);

    let record = CrmRecord {
        id: record_id.into(),
        x_user_id: identity.x_user_id,
        username: identity.username,
        linkedin_id: identity.linkedin_id,
        linkedin_username: identity.linkedin_username,
        fields,
        unknown,
        updated_at,
        row: raw.line,
    };
    Ok((record, cell_rejects))
}

/// One data row being read, with what reading it needs.
struct Row<'a> {
    settings: &'a Settings,
    layout: &'a Layout,
    raw: &'a RawRecord,
}

/// The identities a row's record is matched by.
struct RowIdentity {
    x_user_id: Option<String>,
    username: Option<String>,
    linkedin_id: Option<String>,
    linkedin_username: Option<String>,
}

impl<'a> Row<'a> {
    /// A reject of this row (its record, or one of its cells when `column` is given).
    fn reject(&self, record_id: Option<String>, column: Option<&str>, reason: String) -> Reject {
        Reject {
            source: self.settings.source.clone(),
            row: self.raw.line,
            record_id,
            column: column.map(str::to_string),
            reason,
        }
    }

    /// Why the row's shape makes it unreadable: a quote never closed, or not as many fields as
    /// the header.
    fn shape_reject(&self) -> Option<Reject> {
        let (raw, layout) = (self.raw, self.layout);
        if let Some(cell) = raw.unterminated {
            let column = layout.label(cell);
            let after = match raw.resumed_at {
                Some(line) => format!("reading resumed at line {line}"),
                None => format!(
                    "the rest of the file (lines {}-{}) is unreadable",
                    raw.line, raw.last_line
                ),
            };
            return Some(self.reject(
                None,
                None,
                format!("{column}: unterminated quote (a quoted cell is never closed); {after}"),
            ));
        }
        if raw.cells.len() != layout.width {
            let span = if raw.last_line > raw.line {
                format!(
                    " (the row spans lines {}-{}: look for a stray quote)",
                    raw.line, raw.last_line
                )
            } else {
                String::new()
            };
            return Some(self.reject(
                None,
                None,
                format!(
                    "the row has {} fields, the header has {}{span}",
                    raw.cells.len(),
                    layout.width
                ),
            ));
        }
        None
    }

    /// A cell's text, or why it is not text (the reason names the column).
    fn text(&self, idx: usize, column: &str) -> Result<&'a str, String> {
        let bytes = self.raw.cells.get(idx).unwrap_or_default();
        let cell = std::str::from_utf8(bytes)
            .map_err(|_| format!("column {column}: not valid UTF-8 text"))?;
        Ok(unescape_formula(cell))
    }

    /// An identity cell's text: one that is not text refuses the whole row.
    fn identity(&self, id: &Option<String>, idx: usize, column: &str) -> Result<&'a str, Reject> {
        self.text(idx, column)
            .map_err(|reason| self.reject(id.clone(), None, reason))
    }

    /// The identity cells of the row of record `id`; one that does not read refuses the row.
    fn identity_cells(&self, id: &Option<String>) -> Result<RowIdentity, Reject> {
        let (layout, columns) = (self.layout, &self.settings.columns);
        let x_user_id = match (layout.x_user_id, columns.x_user_id.as_deref()) {
            (Some(idx), Some(column)) => {
                let value = self.identity(id, idx, column)?.trim();
                if !value.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(self.reject(
                        id.clone(),
                        None,
                        format!("column {column}: not a numeric X user id: {value:?}"),
                    ));
                }
                (!value.is_empty()).then(|| value.to_string())
            }
            _ => None,
        };
        let username = match (layout.username, columns.username.as_deref()) {
            (Some(idx), Some(column)) => {
                crate::crm::identity::x_handle(self.identity(id, idx, column)?)
            }
            _ => None,
        };
        let linkedin_id = match (layout.linkedin_id, columns.linkedin_id.as_deref()) {
            (Some(idx), Some(column)) => {
                let value = self.identity(id, idx, column)?.trim();
                (!value.is_empty()).then(|| value.to_string())
            }
            _ => None,
        };
        let linkedin_username = match (
            layout.linkedin_username,
            columns.linkedin_username.as_deref(),
        ) {
            (Some(idx), Some(column)) => {
                crate::crm::identity::linkedin_slug(self.identity(id, idx, column)?)
            }
            _ => None,
        };
        Ok(RowIdentity {
            x_user_id,
            username,
            linkedin_id,
            linkedin_username,
        })
    }

    /// The synced fields of record `id`, and the fields whose cell does not parse (each with
    /// a reject pushed to `cell_rejects`).
    fn fields(
        &self,
        id: &Option<String>,
        cell_rejects: &mut Vec<Reject>,
    ) -> (Fields, BTreeSet<Field>) {
        let columns = &self.settings.columns;
        let mut fields = Fields::default();
        let mut unknown = BTreeSet::new();
        for (&field, &idx) in &self.layout.fields {
            // `layout.fields` only holds mapped fields.
            let column = columns.column(field).unwrap_or_default();
            let value = self.text(idx, column).and_then(|cell| {
                parse_field(field, cell, columns, self.settings.formats)
                    .map_err(|why| format!("column {column}: {why}"))
            });
            match value {
                Ok(value) => fields.set(value),
                Err(reason) => {
                    unknown.insert(field);
                    cell_rejects.push(self.reject(id.clone(), Some(column), field_reason(reason)));
                }
            }
        }
        (fields, unknown)
    }

    /// The modified time of record `id`, if mapped and given; a cell that does not read pushes
    /// a reject to `cell_rejects` and the record is read without it.
    fn updated_at(
        &self,
        id: &Option<String>,
        cell_rejects: &mut Vec<Reject>,
    ) -> Option<DateTime<Utc>> {
        let columns = &self.settings.columns;
        let dates = self.settings.formats.dates;
        match (self.layout.updated_at, columns.updated_at.as_deref()) {
            (Some(idx), Some(column)) => match self.text(idx, column) {
                Ok(value) if value.trim().is_empty() => None,
                Ok(value) => {
                    let time = parse_time(value, dates);
                    if time.is_none() {
                        let hint = match dates {
                            DateFormat::Iso if value.contains('/') => {
                                " (day-first or month-first dates need [crm.csv] date_format)"
                            }
                            _ => "",
                        };
                        cell_rejects.push(self.reject(
                            id.clone(),
                            Some(column),
                            format!(
                                "column {column}: not a date/time: {:?}{hint}; the record is read \
                                 without it",
                                value.trim()
                            ),
                        ));
                    }
                    time
                }
                Err(reason) => {
                    cell_rejects.push(self.reject(
                        id.clone(),
                        Some(column),
                        format!("{reason}; the record is read without it"),
                    ));
                    None
                }
            },
            _ => None,
        }
    }
}

/// The reason of a refused field value: it says what becomes of the field.
fn field_reason(reason: String) -> String {
    format!("{reason}; the field is not synced until the cell reads")
}

/// When the header read as one column holds another usual delimiter, the fix to name.
fn delimiter_hint(names: &[String], delimiter: u8) -> String {
    let [only] = names else {
        return String::new();
    };
    let found = [b';', b',', b'\t']
        .into_iter()
        .filter(|d| *d != delimiter)
        .max_by_key(|d| only.bytes().filter(|b| b == d).count())
        .filter(|d| only.as_bytes().contains(d));
    match found {
        Some(b'\t') => "; the file looks tab-separated: set [crm.csv] delimiter = \"\\t\"".into(),
        Some(d) => format!(
            "; the file looks {:?}-separated: set [crm.csv] delimiter = {:?}",
            d as char,
            (d as char).to_string()
        ),
        None => String::new(),
    }
}
