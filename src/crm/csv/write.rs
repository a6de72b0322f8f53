//! Writing changes: `in-place` rewrites the export atomically, `import-file` writes an
//! import-ready CSV beside it.
//!
//! In place, every byte the engine does not own is copied verbatim: untouched rows, unknown
//! columns, quoting, the BOM and the line terminators. In an updated row only the changed cells
//! are replaced; the others keep their exact bytes, and a cell that does not read (the reader
//! refused it) is never replaced: its write fails instead. New records are appended at the end. This
//! module never deletes a row, never reorders rows and never decides what to write.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, Cursor, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::Settings;
use super::cell::{escape_formula, parse_field, unescape_formula, value_text};
use super::read::Layout;
use super::scan::{BOM, Scanner, raw_cells};
use crate::crm::{CrmWrite, Error, NewRecord, WriteReport, WriteStatus};
use crate::reconcile::{Change, Field};

/// The export as it is on disk now, split into records. Only the rows of the records the
/// writes name keep their parsed cells and an entry in the id index: a 100k-row export is
/// rewritten without holding 100k parsed rows.
struct Export {
    /// The file's bytes.
    bytes: Vec<u8>,
    /// Whether it starts with a UTF-8 BOM.
    had_bom: bool,
    /// Where the mapped columns are.
    layout: Layout,
    /// The header's line terminator (`\n` when the file is only a header without one).
    terminator: &'static str,
    /// Data rows in file order.
    rows: Vec<Row>,
    /// Row indices per record id (sound rows only), for the ids the writes name.
    by_id: HashMap<String, Vec<usize>>,
    /// The first row with an unterminated quote. The file ends inside that quote, so nothing
    /// after its start may be written: a `"` written there would close it and change how every
    /// row in between reads.
    first_open: Option<usize>,
}

/// Where a data row is in the file, and its cells when a write names its record.
struct Row {
    /// File offset of the record's first byte.
    content_start: u64,
    /// File offset just past the record's last byte.
    content_end: u64,
    /// 1-based line of the record's first byte.
    line: u64,
    /// A quoted cell is never closed.
    unterminated: bool,
    /// The parsed cells, kept only for rows of records that the writes name.
    cells: Option<csv::ByteRecord>,
}

impl Export {
    /// Loads the export at `path`, keeping the cells of the rows whose record id is in
    /// `wanted`.
    fn load(settings: &Settings, path: &Path, wanted: &HashSet<&str>) -> Result<Export, Error> {
        let bytes = fs::read(path).map_err(|e| settings.io(e))?;
        let mut scanner = Scanner::new(Cursor::new(&bytes[..]), settings.delimiter)
            .map_err(|e| settings.io(e))?;
        let Some(header) = scanner.next_record().map_err(|e| settings.io(e))? else {
            return Err(settings.unusable("the file is empty: no header row".into()));
        };
        let layout = Layout::resolve(settings, &header)?;
        let after_header = &bytes[header.content_end as usize..];
        let terminator = if after_header.starts_with(b"\r\n") {
            "\r\n"
        } else if after_header.starts_with(b"\r") {
            "\r"
        } else {
            "\n"
        };
        let mut rows = Vec::new();
        let mut by_id: HashMap<String, Vec<usize>> = HashMap::new();
        while let Some(raw) = scanner.next_record().map_err(|e| settings.io(e))? {
            let id = layout
                .record_id(&raw)
                .filter(|id| wanted.contains(id.as_str()));
            let keep = id.is_some();
            if let Some(id) = id {
                by_id.entry(id).or_default().push(rows.len());
            }
            rows.push(Row {
                content_start: raw.content_start,
                content_end: raw.content_end,
                line: raw.line,
                unterminated: raw.unterminated.is_some(),
                cells: keep.then_some(raw.cells),
            });
        }
        let had_bom = scanner.had_bom;
        drop(scanner);
        let first_open = rows.iter().position(|r| r.unterminated);
        Ok(Export {
            first_open,
            had_bom,
            bytes,
            layout,
            terminator,
            rows,
            by_id,
        })
    }

    /// The parsed cells of a row the writes name.
    fn cells(&self, idx: usize) -> &csv::ByteRecord {
        self.rows[idx]
            .cells
            .as_ref()
            .expect("rows of the records the writes name keep their cells")
    }

    /// Why nothing may be written at or after row `idx`, if so.
    fn after_open_quote(&self, settings: &Settings, idx: usize) -> Option<String> {
        let open = self.first_open.filter(|&open| open <= idx)?;
        Some(format!(
            "{} has an unterminated quote in the row at line {} that runs to the end of the \
             file; fix that row first",
            settings.source, self.rows[open].line
        ))
    }

    /// The one sound row holding `id`, or why there is none.
    fn row_of(&self, settings: &Settings, id: &str) -> Result<usize, String> {
        match self.by_id.get(id.trim()).map(Vec::as_slice) {
            None | Some([]) => Err(format!("record not found in {}", settings.source)),
            Some([idx]) => Ok(*idx),
            Some(many) => Err(format!(
                "record id {id} is on {} rows (lines {}) of {}; not written",
                many.len(),
                lines_of(&self.rows, many),
                settings.source
            )),
        }
    }

    /// `Ok` when the cell of `field` in row `idx` reads as the reader reads it. A cell that
    /// does not is unknown to the engine and is never overwritten: what the CRM holds there is
    /// kept byte for byte.
    fn check_readable(
        &self,
        settings: &Settings,
        idx: usize,
        field: Field,
        column: usize,
    ) -> Result<(), String> {
        let bytes = self.cells(idx).get(column).unwrap_or_default();
        let name = &self.layout.names[column];
        let cell = std::str::from_utf8(bytes)
            .map_err(|_| format!("column {name}: the cell is not valid UTF-8; not overwritten"))?;
        parse_field(
            field,
            unescape_formula(cell),
            &settings.columns,
            settings.formats,
        )
        .map(drop)
        .map_err(|why| format!("column {name}: the cell does not read ({why}); not overwritten"))
    }

    /// The column of a synced field.
    fn column_of(&self, settings: &Settings, field: Field) -> Result<usize, String> {
        self.layout
            .fields
            .get(&field)
            .copied()
            .ok_or_else(|| format!("field {field} has no column in {}", settings.source))
    }
}

fn lines_of(rows: &[Row], indices: &[usize]) -> String {
    indices
        .iter()
        .map(|&idx| rows[idx].line.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `in-place`: applies the writes to the export and replaces it atomically.
pub(super) fn write_in_place(
    settings: &Settings,
    writes: &[CrmWrite],
) -> Result<WriteReport, Error> {
    // Write through a symlink to the file it points at, rather than replacing the link.
    let target = fs::canonicalize(&settings.path).map_err(|e| settings.io(e))?;
    let before = fs::metadata(&target).map_err(|e| settings.io(e))?;
    let wanted: HashSet<&str> = writes.iter().map(|w| w.id().as_str().trim()).collect();
    let export = Export::load(settings, &target, &wanted)?;
    let width = export.layout.width;

    // New cell text (already formula-escaped) per row and column.
    let mut edits: BTreeMap<usize, BTreeMap<usize, String>> = BTreeMap::new();
    let mut appended: Vec<Vec<String>> = Vec::new();
    let mut created: HashSet<String> = HashSet::new();
    let mut statuses = Vec::with_capacity(writes.len());
    for write in writes {
        let status = match write {
            CrmWrite::Update { id, changes } => {
                match planned_update(settings, &export, id.as_str(), changes) {
                    Ok((row, cells)) => {
                        edits.entry(row).or_default().extend(cells);
                        WriteStatus::Confirmed
                    }
                    Err(reason) => WriteStatus::Failed(reason),
                }
            }
            CrmWrite::Create(record) => {
                let id = record.id.as_str().trim();
                if id.is_empty() {
                    WriteStatus::Failed("the new record has an empty id".into())
                } else if let Some(rows) = export.by_id.get(id) {
                    WriteStatus::Failed(format!(
                        "record id {id} already exists (line {}) in {}",
                        lines_of(&export.rows, rows),
                        settings.source
                    ))
                } else if created.contains(id) {
                    WriteStatus::Failed(format!("record id {id} is created twice in one batch"))
                } else if let Some(reason) = export.after_open_quote(settings, export.rows.len()) {
                    WriteStatus::Failed(reason)
                } else {
                    created.insert(id.to_string());
                    appended.push(new_row(settings, &export.layout, record, width));
                    WriteStatus::Confirmed
                }
            }
        };
        statuses.push(status);
    }
    if edits.is_empty() && appended.is_empty() {
        return Ok(WriteReport { statuses });
    }

    // Only the edited rows are built in memory; the file is streamed from the original bytes
    // into the temp file (an export of 100k rows is not held twice).
    let rows = edited_rows(settings, &export, &edits);
    if !rows.is_empty() || !appended.is_empty() {
        let after = fs::metadata(&target).map_err(|e| settings.io(e))?;
        if after.len() != before.len() || after.modified().ok() != before.modified().ok() {
            return Err(settings.unusable(
                "the file changed on disk while crmsync was updating it; nothing was written \
                 (run again)"
                    .into(),
            ));
        }
        replace_atomically_with(&target, Some(before.permissions()), |out| {
            rewrite(out, settings, &export, &rows, &appended)
        })
        .map_err(|e| settings.io(e))?;
    }
    Ok(WriteReport { statuses })
}

/// The row and escaped cells of one update, or why it cannot be applied.
fn planned_update(
    settings: &Settings,
    export: &Export,
    id: &str,
    changes: &[Change],
) -> Result<(usize, Vec<(usize, String)>), String> {
    let row = export.row_of(settings, id)?;
    if let Some(reason) = export.after_open_quote(settings, row) {
        return Err(reason);
    }
    let mut cells = Vec::with_capacity(changes.len());
    for change in changes {
        let column = export.column_of(settings, change.field())?;
        export.check_readable(settings, row, change.field(), column)?;
        let text = value_text(
            &change.new,
            &settings.columns.tags_separator,
            settings.formats.decimal,
        );
        cells.push((column, escape_formula(&text).into_owned()));
    }
    Ok((row, cells))
}

/// The escaped cells of a new record: its id, X id, username, LinkedIn id and slug and mapped
/// fields; other columns
/// empty.
fn new_row(settings: &Settings, layout: &Layout, record: &NewRecord, width: usize) -> Vec<String> {
    let mut cells = vec![String::new(); width];
    let escaped = |text: &str| escape_formula(text).into_owned();
    cells[layout.id] = escaped(record.id.as_str().trim());
    if let Some(idx) = layout.x_user_id {
        cells[idx] = escaped(record.x_user_id.trim());
    }
    if let Some(idx) = layout.username {
        cells[idx] = escaped(record.username.trim().trim_start_matches('@'));
    }
    if let Some(idx) = layout.linkedin_id {
        cells[idx] = escaped(record.linkedin_id.as_deref().unwrap_or_default().trim());
    }
    if let Some(idx) = layout.linkedin_username {
        cells[idx] = escaped(
            record
                .linkedin_username
                .as_deref()
                .unwrap_or_default()
                .trim(),
        );
    }
    for (&field, &idx) in &layout.fields {
        let text = value_text(
            &record.fields.get(field),
            &settings.columns.tags_separator,
            settings.formats.decimal,
        );
        cells[idx] = escaped(&text);
    }
    cells
}

/// The new bytes of each edited row (without its line terminator), in file order; rows whose
/// edits leave their bytes as they were are left out.
fn edited_rows(
    settings: &Settings,
    export: &Export,
    edits: &BTreeMap<usize, BTreeMap<usize, String>>,
) -> Vec<(usize, Vec<u8>)> {
    let delimiter = settings.delimiter;
    let original = &export.bytes;
    let mut rows = Vec::with_capacity(edits.len());
    for (&row_idx, cells) in edits {
        let row = &export.rows[row_idx];
        let content = &original[row.content_start as usize..row.content_end as usize];
        let mut out = Vec::with_capacity(content.len() + 64);
        match raw_cells(content, delimiter).filter(|r| r.len() == export.layout.width) {
            // Unchanged cells keep their exact bytes, quoting included.
            Some(ranges) => {
                for (idx, range) in ranges.into_iter().enumerate() {
                    if idx > 0 {
                        out.push(delimiter);
                    }
                    match cells.get(&idx) {
                        Some(text) => push_cell(&mut out, text.as_bytes(), delimiter, false),
                        None => out.extend_from_slice(&content[range]),
                    }
                }
            }
            // Irregular quoting that the parser tolerated: re-serialize the parsed cells.
            None => {
                for (idx, parsed) in export.cells(row_idx).iter().enumerate() {
                    if idx > 0 {
                        out.push(delimiter);
                    }
                    let cell = cells.get(&idx).map_or(parsed, |text| text.as_bytes());
                    push_cell(&mut out, cell, delimiter, false);
                }
            }
        }
        if out != content {
            rows.push((row_idx, out));
        }
    }
    rows
}

/// Writes the new file to `out`: the original bytes with the edited `rows` spliced in and new
/// rows appended.
fn rewrite(
    out: &mut impl Write,
    settings: &Settings,
    export: &Export,
    rows: &[(usize, Vec<u8>)],
    appended: &[Vec<String>],
) -> io::Result<()> {
    let original = &export.bytes;
    let mut out = Tally {
        out,
        written: 0,
        last: None,
    };
    let mut copied = 0usize;
    for (row_idx, bytes) in rows {
        let row = &export.rows[*row_idx];
        out.put(&original[copied..row.content_start as usize])?;
        out.put(bytes)?;
        copied = row.content_end as usize;
    }
    out.put(&original[copied..])?;

    if !appended.is_empty() {
        let has_content = out.written > if export.had_bom { BOM.len() } else { 0 };
        if has_content && !matches!(out.last, Some(b'\r' | b'\n')) {
            out.put(export.terminator.as_bytes())?;
        }
        let mut row_bytes = Vec::new();
        for row in appended {
            row_bytes.clear();
            push_row(&mut row_bytes, row, settings.delimiter, export.terminator);
            out.put(&row_bytes)?;
        }
    }
    Ok(())
}

/// A writer that remembers how many bytes it wrote and the last one (whether the file so far
/// ends with a line break).
struct Tally<'w, W> {
    out: &'w mut W,
    written: usize,
    last: Option<u8>,
}

impl<W: Write> Tally<'_, W> {
    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        if let Some(&byte) = bytes.last() {
            self.last = Some(byte);
        }
        self.written += bytes.len();
        self.out.write_all(bytes)
    }
}

/// Appends one cell, quoted when needed: a delimiter, quote or line break inside, or an empty
/// lone cell (which would otherwise read as a blank line).
fn push_cell(out: &mut Vec<u8>, cell: &[u8], delimiter: u8, lone: bool) {
    let needs_quotes = cell
        .iter()
        .any(|&b| b == delimiter || matches!(b, b'"' | b'\r' | b'\n'))
        || (lone && cell.is_empty());
    if !needs_quotes {
        out.extend_from_slice(cell);
        return;
    }
    out.push(b'"');
    for &b in cell {
        if b == b'"' {
            out.push(b'"');
        }
        out.push(b);
    }
    out.push(b'"');
}

/// Appends a row of cells and a terminator.
fn push_row(out: &mut Vec<u8>, cells: &[String], delimiter: u8, terminator: &str) {
    for (idx, cell) in cells.iter().enumerate() {
        if idx > 0 {
            out.push(delimiter);
        }
        push_cell(out, cell.as_bytes(), delimiter, cells.len() == 1);
    }
    out.extend_from_slice(terminator.as_bytes());
}

/// `import-file`: writes every write as a complete row of an import CSV; the export is only
/// read. The file holds exactly these writes (the engine re-passes still-pending ones).
pub(super) fn write_import_file(
    settings: &Settings,
    writes: &[CrmWrite],
) -> Result<WriteReport, Error> {
    let Some(import_path) = settings.import_path.clone() else {
        return Err(settings.unusable("import-file mode needs [crm.csv] import_path".into()));
    };
    let export_path = fs::canonicalize(&settings.path).map_err(|e| settings.io(e))?;
    if fs::canonicalize(&import_path).ok().as_ref() == Some(&export_path) {
        return Err(settings.unusable(format!(
            "import_path {} is the export itself; it must be another file",
            import_path.display()
        )));
    }
    let wanted: HashSet<&str> = writes.iter().map(|w| w.id().as_str().trim()).collect();
    let export = Export::load(settings, &export_path, &wanted)?;
    let columns = import_columns(&export.layout);

    // One row per record id, in first-write order; later writes to the same id apply on top.
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut row_of_id: HashMap<String, usize> = HashMap::new();
    let mut statuses = Vec::with_capacity(writes.len());
    for write in writes {
        let id = write.id().as_str().trim().to_string();
        let status = match import_row(
            settings,
            &export,
            &columns,
            write,
            row_of_id.get(&id).map(|&i| &rows[i]),
        ) {
            Ok(row) => {
                match row_of_id.get(&id) {
                    Some(&idx) => rows[idx] = row,
                    None => {
                        row_of_id.insert(id, rows.len());
                        rows.push(row);
                    }
                }
                WriteStatus::Pending
            }
            Err(reason) => WriteStatus::Failed(reason),
        };
        statuses.push(status);
    }

    let delimiter = settings.delimiter;
    let mut out = Vec::new();
    if export.had_bom {
        out.extend_from_slice(BOM);
    }
    let header: Vec<String> = columns
        .iter()
        .map(|&(_, idx)| export.layout.names[idx].clone())
        .collect();
    push_row(&mut out, &header, delimiter, export.terminator);
    for row in &rows {
        push_row(&mut out, row, delimiter, export.terminator);
    }

    let import_io = |reason: io::Error| Error::Io {
        path: import_path.display().to_string(),
        reason,
    };
    if let Some(dir) = import_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(import_io)?;
    }
    let permissions = fs::metadata(&import_path).ok().map(|m| m.permissions());
    replace_atomically(&import_path, &out, permissions).map_err(import_io)?;
    Ok(WriteReport { statuses })
}

/// What an import column holds.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ImportColumn {
    Id,
    XUserId,
    Username,
    LinkedinId,
    LinkedinUsername,
    Field(Field),
}

/// The import file's columns with their index in the export: the id, the identities and every
/// synced field (not the last-modified column: it is the CRM's own bookkeeping, and imports
/// often refuse to set it).
fn import_columns(layout: &Layout) -> Vec<(ImportColumn, usize)> {
    let mut columns = vec![(ImportColumn::Id, layout.id)];
    columns.extend(layout.x_user_id.map(|idx| (ImportColumn::XUserId, idx)));
    columns.extend(layout.username.map(|idx| (ImportColumn::Username, idx)));
    columns.extend(
        layout
            .linkedin_id
            .map(|idx| (ImportColumn::LinkedinId, idx)),
    );
    columns.extend(
        layout
            .linkedin_username
            .map(|idx| (ImportColumn::LinkedinUsername, idx)),
    );
    columns.extend(
        layout
            .fields
            .iter()
            .map(|(&f, &idx)| (ImportColumn::Field(f), idx)),
    );
    columns
}

/// The cells of one import row as written: the current row (`so_far`, or the export's row for
/// an update, copied as it is, or the new record) with the write applied, each cell crmsync
/// wrote escaped against formulas.
fn import_row(
    settings: &Settings,
    export: &Export,
    columns: &[(ImportColumn, usize)],
    write: &CrmWrite,
    so_far: Option<&Vec<String>>,
) -> Result<Vec<String>, String> {
    let separator = &settings.columns.tags_separator;
    let position = |wanted: ImportColumn| columns.iter().position(|&(c, _)| c == wanted);
    match write {
        CrmWrite::Update { id, changes } => {
            let mut row = match so_far {
                Some(row) => row.clone(),
                None => {
                    let cells = export.cells(export.row_of(settings, id.as_str())?);
                    columns
                        .iter()
                        // The CRM's own cells, exactly as its export has them: a handle
                        // such as `@jane` is not a formula crmsync wrote.
                        .map(|&(_, idx)| {
                            String::from_utf8_lossy(cells.get(idx).unwrap_or_default()).into_owned()
                        })
                        .collect()
                }
            };
            for change in changes {
                let field = change.field();
                let pos = position(ImportColumn::Field(field))
                    .ok_or_else(|| format!("field {field} has no column in {}", settings.source))?;
                let text = value_text(&change.new, separator, settings.formats.decimal);
                row[pos] = escape_formula(&text).into_owned();
            }
            Ok(row)
        }
        CrmWrite::Create(record) => {
            if record.id.as_str().trim().is_empty() {
                return Err("the new record has an empty id".into());
            }
            let row = columns
                .iter()
                .map(|&(column, _)| match column {
                    ImportColumn::Id => record.id.as_str().trim().to_string(),
                    ImportColumn::XUserId => record.x_user_id.trim().to_string(),
                    ImportColumn::Username => {
                        record.username.trim().trim_start_matches('@').to_string()
                    }
                    ImportColumn::LinkedinId => record
                        .linkedin_id
                        .as_deref()
                        .unwrap_or_default()
                        .trim()
                        .to_string(),
                    ImportColumn::LinkedinUsername => record
                        .linkedin_username
                        .as_deref()
                        .unwrap_or_default()
                        .trim()
                        .to_string(),
                    ImportColumn::Field(field) => value_text(
                        &record.fields.get(field),
                        separator,
                        settings.formats.decimal,
                    ),
                })
                .map(|text| escape_formula(&text).into_owned())
                .collect();
            Ok(row)
        }
    }
}

/// Replaces `target` with `bytes` atomically: a temp file in the same directory is written,
/// flushed to disk and renamed over the target, so readers see the old or the new file, never a
/// part. On error the temp file is removed and the target is untouched.
pub(super) fn replace_atomically(
    target: &Path,
    bytes: &[u8],
    permissions: Option<Permissions>,
) -> io::Result<()> {
    replace_atomically_with(target, permissions, |out| out.write_all(bytes))
}

/// [`replace_atomically`] with the new content written by `write` (buffered) instead of held
/// in memory.
pub(super) fn replace_atomically_with(
    target: &Path,
    permissions: Option<Permissions>,
    write: impl FnOnce(&mut io::BufWriter<File>) -> io::Result<()>,
) -> io::Result<()> {
    let dir = target
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    remove_stale_temps(dir, target);
    let (file, temp) = create_temp(dir, target)?;
    let guard = RemoveOnDrop(Some(temp));
    let mut out = io::BufWriter::new(file);
    write(&mut out)?;
    let file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
    if let Some(permissions) = permissions {
        file.set_permissions(permissions)?;
    }
    file.sync_all()?;
    drop(file);
    crate::failpoint::hit("csv-before-rename");
    let temp = guard.path();
    fs::rename(temp, target)?;
    crate::failpoint::hit("csv-after-rename");
    guard.disarm();
    // Make the rename itself durable. Some file systems refuse to fsync a directory; the data
    // is already safe then, so that error is not worth failing the write for.
    if let Ok(dir) = File::open(dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// Creates `.<name>.crmsync-tmp.<pid>.<n>` next to `target`, never reusing an existing file.
fn create_temp(dir: &Path, target: &Path) -> io::Result<(File, PathBuf)> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!(".{name}.crmsync-tmp.{}.{n}", std::process::id()));
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(file) => return Ok((file, path)),
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(err) => return Err(err),
        }
    }
}

/// Removes the temp files of `target` that a killed process left behind: a run killed between
/// writing its temp file and the rename cannot remove it itself. Only files of processes that
/// are gone are removed (where `/proc` tells; elsewhere they are left); best effort.
fn remove_stale_temps(dir: &Path, target: &Path) {
    let Some(name) = target.file_name() else {
        return;
    };
    let prefix = format!(".{}.crmsync-tmp.", name.to_string_lossy());
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let procfs = Path::new("/proc/self").exists();
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(pid) = file_name
            .to_str()
            .and_then(|n| n.strip_prefix(&prefix))
            .and_then(|rest| rest.split('.').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        let gone = procfs && !Path::new("/proc").join(pid.to_string()).exists();
        if pid != std::process::id() && gone && fs::remove_file(entry.path()).is_ok() {
            tracing::info!(file = %entry.path().display(), "removed a temp file left by a killed run");
        }
    }
}

/// Deletes the temp file unless the rename took it.
struct RemoveOnDrop(Option<PathBuf>);

impl RemoveOnDrop {
    fn path(&self) -> &Path {
        // Set in `replace_atomically` and only taken by `disarm`, which consumes the guard.
        self.0.as_deref().unwrap_or(Path::new(""))
    }

    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = fs::remove_file(path);
        }
    }
}
