//! Tests of the CSV adapter against real files in temp dirs; `check_*` helpers per area.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use super::CsvAdapter;
use crate::config::{CsvColumns, CsvConfig, CsvWriteMode};
use crate::crm::{CrmAdapter, CrmRecord, CrmSnapshot, CrmWrite, Error, Reject, WriteReport};

mod cells;
mod props;
mod reading;
mod writing;

/// The header of the full mapping plus an unmapped `Company` column.
const HEADER: &str = "Record ID,X User ID,X Handle,Tags,Lead Status,Deal Value,Notes,Owner Email,Done,Last Modified,Company";

/// The adapter's futures do synchronous I/O and never wait: poll once.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the CSV adapter never waits"),
    }
}

fn columns() -> CsvColumns {
    CsvColumns {
        id: "Record ID".into(),
        x_user_id: Some("X User ID".into()),
        username: Some("X Handle".into()),
        linkedin_id: None,
        linkedin_username: None,
        tags: Some("Tags".into()),
        tags_separator: ";".into(),
        status: Some("Lead Status".into()),
        valuation: Some("Deal Value".into()),
        notes: Some("Notes".into()),
        owner_email: Some("Owner Email".into()),
        done: Some("Done".into()),
        updated_at: Some("Last Modified".into()),
    }
}

fn config(path: &Path, write_mode: CsvWriteMode, delimiter: char) -> CsvConfig {
    CsvConfig {
        path: path.to_path_buf(),
        write_mode,
        import_path: Some(path.with_file_name("import").join("crm_import.csv")),
        delimiter,
        decimal_separator: Default::default(),
        date_format: Default::default(),
        columns: columns(),
    }
}

/// A temp dir holding `export.csv` with the given bytes.
struct Fixture {
    dir: tempfile::TempDir,
    cfg: CsvConfig,
}

impl Fixture {
    fn new(contents: &[u8]) -> Fixture {
        Fixture::with(contents, CsvWriteMode::InPlace, ',')
    }

    fn with(contents: &[u8], mode: CsvWriteMode, delimiter: char) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("export.csv");
        std::fs::write(&path, contents).unwrap();
        let cfg = config(&path, mode, delimiter);
        Fixture { dir, cfg }
    }

    fn path(&self) -> &PathBuf {
        &self.cfg.path
    }

    fn adapter(&self) -> CsvAdapter {
        CsvAdapter::new(&self.cfg)
    }

    fn read(&self) -> Result<CrmSnapshot, Error> {
        block_on(self.adapter().read())
    }

    fn snapshot(&self) -> CrmSnapshot {
        self.read().unwrap()
    }

    fn write(&self, writes: &[CrmWrite]) -> Result<WriteReport, Error> {
        block_on(self.adapter().write(writes))
    }

    fn bytes(&self) -> Vec<u8> {
        std::fs::read(self.path()).unwrap()
    }

    /// Names of the files in the fixture dir, sorted.
    fn files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

/// The record with this id.
fn record<'a>(snapshot: &'a CrmSnapshot, id: &str) -> &'a CrmRecord {
    snapshot
        .records
        .iter()
        .find(|r| r.id == id)
        .unwrap_or_else(|| panic!("no record {id} in {snapshot:#?}"))
}

/// Rejects as `line: reason` lines.
fn rejects(snapshot: &CrmSnapshot) -> Vec<String> {
    snapshot
        .rejects
        .iter()
        .map(|Reject { row, reason, .. }| format!("{row}: {reason}"))
        .collect()
}

/// Record ids with their lines, in file order.
fn ids(snapshot: &CrmSnapshot) -> Vec<String> {
    snapshot
        .records
        .iter()
        .map(|r| format!("{}@{}", r.id, r.row))
        .collect()
}
