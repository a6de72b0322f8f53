//! The CSV adapter: any CRM's export file, read as records and written back either in place or
//! as an import file.
//!
//! Reading streams the file and validates each row on its own: a bad row becomes a [`Reject`]
//! with its line and column, never an error for the whole file, and never hides other rows.
//! Writing in place copies every byte it does not own verbatim and replaces the file
//! atomically; `import-file` mode leaves the export alone. The adapter does not match records to
//! prospects, does not merge values, and never deletes or reorders a row.
//!
//! Layout: `scan` finds raw records (offsets, lines, broken quotes), `cell` parses and formats
//! one cell (formula escaping included), `read` turns rows into records, `write` applies writes.
//!
//! Rules worth knowing:
//! * A record's `row` is the file line where it starts (header = line 1), counted from the raw
//!   bytes, so quoted line breaks, CRLF and blank lines are accounted for.
//! * Rows whose cells are all empty (`,,,,` padding) are skipped, not rejected.
//! * Two rows with one record id are both rejected: neither is trusted.
//! * An unterminated quote rejects its row and reading resumes on the next line. In place,
//!   nothing after such a row is written (the file ends inside that quote, and a `"` written
//!   there would re-pair it), so those rows' updates and all creates fail until it is fixed.
//! * A written cell that starts like a formula gets a leading `'`, read back without it; plain
//!   numbers such as `-3` are left alone.
//! * `updated_at` is never written: it is the CRM's own bookkeeping, not a synced field.
//! * A cell that does not parse (an amount, a yes/no, a date) refuses only that value: the
//!   record is read without it (the field is [unknown]) and a [`Reject`] names the line, the
//!   column and the value. Only a row that cannot be identified (its record id, X user id or
//!   shape) is refused whole. In place, such a cell is never rewritten.
//! * Amounts follow `decimal_separator` (the other of `.` and `,` may group thousands) and
//!   are written back with it; numeric dates follow `date_format`.
//!
//! [unknown]: crate::crm::CrmRecord::unknown
//!
//! [`Reject`]: crate::crm::Reject

use std::collections::BTreeSet;
use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;

use crate::config::{CsvColumns, CsvConfig, CsvWriteMode, DecimalSeparator};
use crate::crm::{CrmAdapter, CrmSnapshot, CrmWrite, Error, WriteReport};
use crate::reconcile::Field;
use cell::Formats;

mod cell;
mod read;
mod scan;
mod write;

#[cfg(test)]
mod tests;

/// A CSV export acting as the CRM.
#[derive(Debug, Clone)]
pub struct CsvAdapter {
    settings: Settings,
}

/// What the adapter needs from the config, resolved once.
#[derive(Debug, Clone)]
struct Settings {
    /// The export file.
    path: PathBuf,
    /// The path as given in the config, for messages and rejects.
    source: String,
    /// Field delimiter byte.
    delimiter: u8,
    /// Column mapping.
    columns: CsvColumns,
    /// How numbers and dates are written.
    formats: Formats,
    /// Write mode.
    write_mode: CsvWriteMode,
    /// Import file (`import-file` mode).
    import_path: Option<PathBuf>,
}

impl Settings {
    fn unusable(&self, message: String) -> Error {
        Error::Unusable {
            source_name: self.source.clone(),
            message,
        }
    }

    fn io(&self, reason: std::io::Error) -> Error {
        Error::Io {
            path: self.source.clone(),
            reason,
        }
    }

    /// Opens the export; a missing file says which key names it.
    fn open_export(&self) -> Result<File, Error> {
        File::open(&self.path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                self.unusable(
                    "no such file: check [crm.csv] path (a relative path is read from the directory of the config file)"
                        .to_owned(),
                )
            } else {
                self.io(e)
            }
        })
    }
}

impl CsvAdapter {
    /// An adapter for the `[crm.csv]` config. The delimiter must be an ASCII character (config
    /// validation allows `,`, `;` and tab); anything else falls back to `,`.
    pub fn new(cfg: &CsvConfig) -> CsvAdapter {
        let delimiter = u8::try_from(cfg.delimiter)
            .ok()
            .filter(u8::is_ascii)
            .unwrap_or(b',');
        CsvAdapter {
            settings: Settings {
                path: cfg.path.clone(),
                source: cfg.path.display().to_string(),
                delimiter,
                columns: cfg.columns.clone(),
                formats: Formats {
                    decimal: cfg.decimal_separator,
                    dates: cfg.date_format,
                },
                write_mode: cfg.write_mode,
                import_path: cfg.import_path.clone(),
            },
        }
    }
}

/// How the export's amounts read under each decimal convention (for `crmsync check`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AmountSurvey {
    /// The configured decimal separator.
    pub configured: DecimalSeparator,
    /// Valuation cells that read only with the configured separator.
    pub only_configured: u64,
    /// Valuation cells that read only with the other separator.
    pub only_other: u64,
}

impl AmountSurvey {
    /// The other separator, when more valuations read only with it than with the configured
    /// one.
    pub fn suggestion(&self) -> Option<DecimalSeparator> {
        (self.only_other > self.only_configured).then(|| self.configured.other())
    }
}

impl CsvAdapter {
    /// Reads the valuation column under both decimal conventions; `None` when valuation is
    /// not mapped.
    pub fn survey_amounts(&self) -> Result<Option<AmountSurvey>, Error> {
        let file = self.settings.open_export()?;
        read::survey_amounts(&self.settings, BufReader::new(file))
    }
}

impl CrmAdapter for CsvAdapter {
    fn name(&self) -> String {
        let file = self.settings.path.file_name().map_or_else(
            || self.settings.source.clone(),
            |n| n.to_string_lossy().into_owned(),
        );
        format!("csv:{file}")
    }

    fn fields(&self) -> BTreeSet<Field> {
        Field::ALL
            .into_iter()
            .filter(|&field| self.settings.columns.column(field).is_some())
            .collect()
    }

    async fn read(&mut self) -> Result<CrmSnapshot, Error> {
        let file = self.settings.open_export()?;
        read::read_all(&self.settings, BufReader::new(file))
    }

    async fn write(&mut self, writes: &[CrmWrite]) -> Result<WriteReport, Error> {
        match self.settings.write_mode {
            CsvWriteMode::InPlace => write::write_in_place(&self.settings, writes),
            CsvWriteMode::ImportFile => write::write_import_file(&self.settings, writes),
        }
    }

    async fn withdraw_handover(&mut self) -> Result<(), Error> {
        let (CsvWriteMode::ImportFile, Some(path)) =
            (self.settings.write_mode, self.settings.import_path.as_ref())
        else {
            return Ok(());
        };
        match std::fs::remove_file(path) {
            Ok(()) => {
                tracing::info!(
                    "removed {}: nothing waits for import any more",
                    path.display()
                );
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(reason) => Err(Error::Io {
                path: path.display().to_string(),
                reason,
            }),
        }
    }
}
