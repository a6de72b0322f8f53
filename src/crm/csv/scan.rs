//! Splits a CSV byte stream into raw records: parsed cells plus where each record sits in the
//! file (byte offsets, 1-based line) and whether its quoting is broken.
//!
//! Streaming: the `csv` crate parses, a small window of the bytes it consumed is kept so that
//! each record's raw bytes can be inspected, and nothing else is buffered. This module only
//! finds records; it does not interpret cells, check column counts or know the mapping.
//!
//! Why not just `csv::Position::line()`: after a CRLF terminator the crate has consumed the `\r`
//! but not yet the `\n`, so the next record's position still reports the previous line. Line
//! numbers are therefore counted here from the raw bytes (`\n`, `\r\n` and a lone `\r` each end
//! one line).
//!
//! Broken quoting: the `csv` crate never fails on an unterminated quote; the open quoted cell
//! simply runs to the end of the file. Such a record is flagged [`RawRecord::unterminated`] and
//! reading starts again on the line after the record's first line, so the rows after a stray
//! quote still read. After [`MAX_RESYNCS`] such restarts the remainder is left as one broken
//! record (a file full of stray quotes is not worth a quadratic re-scan).

use std::io::{self, Cursor, Read};

/// UTF-8 byte order mark.
pub(super) const BOM: &[u8] = b"\xEF\xBB\xBF";

/// How many times reading restarts after an unterminated quote before giving up on the rest.
pub(super) const MAX_RESYNCS: usize = 100;

/// One record as found in the file.
#[derive(Debug, Clone)]
pub(super) struct RawRecord {
    /// File offset (BOM included) of the record's first byte.
    pub content_start: u64,
    /// File offset just past the record's last byte, before its line terminator.
    pub content_end: u64,
    /// 1-based line of the record's first byte.
    pub line: u64,
    /// 1-based line of the record's last byte (differs from `line` for quoted newlines).
    pub last_line: u64,
    /// Cells as the `csv` crate parsed them (quotes removed, `""` unescaped).
    pub cells: csv::ByteRecord,
    /// Set when a quoted cell is never closed: the record ran to the end of the file (or of the
    /// resynchronized part). Carries the 0-based index of the cell whose quote is open.
    pub unterminated: Option<usize>,
    /// Set on an unterminated record when reading did resume after it (at the next line).
    pub resumed_at: Option<u64>,
}

/// Streams [`RawRecord`]s out of a reader.
pub(super) struct Scanner<'a> {
    csv: csv::Reader<Tee<'a>>,
    delimiter: u8,
    /// File offset of the `csv` reader's offset 0.
    base: u64,
    /// Line number at the `csv` offset `counted`.
    line: u64,
    /// `csv` offset up to which line breaks have been counted.
    counted: u64,
    /// The last counted byte was `\r` (so a following `\n` is the same line break).
    prev_cr: bool,
    resyncs: usize,
    record: csv::ByteRecord,
    /// Whether the stream started with a UTF-8 BOM (stripped before parsing).
    pub had_bom: bool,
}

/// A reader that remembers the bytes it handed out since `window_start`.
struct Tee<'a> {
    inner: Box<dyn Read + Send + 'a>,
    window: Vec<u8>,
    window_start: u64,
}

impl Read for Tee<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.window.extend_from_slice(&buf[..n]);
        Ok(n)
    }
}

impl Tee<'_> {
    /// The bytes between two stream offsets; both must be inside the window.
    fn slice(&self, from: u64, to: u64) -> &[u8] {
        let lo = (from - self.window_start) as usize;
        let hi = (to - self.window_start) as usize;
        &self.window[lo..hi]
    }

    /// Forgets everything before `offset`.
    fn forget_before(&mut self, offset: u64) {
        let n = (offset - self.window_start) as usize;
        self.window.drain(..n);
        self.window_start = offset;
    }
}

impl<'a> Scanner<'a> {
    /// Starts scanning `source`; strips a leading UTF-8 BOM (offsets still count it).
    pub fn new(mut source: impl Read + Send + 'a, delimiter: u8) -> io::Result<Scanner<'a>> {
        let mut head = Vec::with_capacity(3);
        while head.len() < 3 {
            let mut byte = [0u8; 1];
            match source.read(&mut byte) {
                Ok(0) => break,
                Ok(_) => head.push(byte[0]),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
        let had_bom = head == BOM;
        let (base, prefix) = if had_bom { (3, Vec::new()) } else { (0, head) };
        let inner: Box<dyn Read + Send + 'a> = Box::new(Cursor::new(prefix).chain(source));
        Ok(Scanner {
            csv: csv_reader(inner, delimiter),
            delimiter,
            base,
            line: 1,
            counted: 0,
            prev_cr: false,
            resyncs: 0,
            record: csv::ByteRecord::new(),
            had_bom,
        })
    }

    /// The next record, `None` at the end.
    pub fn next_record(&mut self) -> io::Result<Option<RawRecord>> {
        let start = self.csv.position().byte();
        let found = self
            .csv
            .read_byte_record(&mut self.record)
            .map_err(into_io)?;
        if !found {
            return Ok(None);
        }
        let end = self.csv.position().byte();
        let span = self.csv.get_ref().slice(start, end);
        debug_assert_eq!(start, self.counted);

        // Blank lines and the `\n` of a CRLF come before the record's first byte.
        let lead = span
            .iter()
            .take_while(|b| matches!(b, b'\r' | b'\n'))
            .count();
        let trail = span[lead..]
            .iter()
            .rev()
            .take_while(|b| matches!(b, b'\r' | b'\n'))
            .count();
        let content = &span[lead..span.len() - trail];
        let (line, prev_cr) = count_lines(&span[..lead], self.line, self.prev_cr);
        let (last_line, _) = count_lines(content, line, prev_cr);
        let (next_line, next_prev_cr) = count_lines(&span[lead..], line, prev_cr);
        let unterminated = open_quote_cell(content, self.delimiter);

        let mut raw = RawRecord {
            content_start: self.base + start + lead as u64,
            content_end: self.base + end - trail as u64,
            line,
            last_line,
            cells: self.record.clone(),
            unterminated,
            resumed_at: None,
        };

        if unterminated.is_some() && self.resyncs < MAX_RESYNCS {
            // The open quote swallowed the rest of the stream: start again on the line after
            // the record's first line. Everything after `end` is still unread, so the new
            // source is the swallowed bytes followed by that.
            let first_break = content
                .iter()
                .position(|b| matches!(b, b'\r' | b'\n'))
                .unwrap_or(content.len());
            let mut skip = first_break;
            if content.get(skip) == Some(&b'\r') {
                skip += 1;
            }
            if content.get(skip) == Some(&b'\n') {
                skip += 1;
            }
            let rest = span[lead + skip..].to_vec();
            let rest_offset = self.base + start + (lead + skip) as u64;
            if !rest.is_empty() {
                self.resyncs += 1;
                raw.resumed_at = Some(line + 1);
                let old = std::mem::replace(&mut self.csv, csv_reader(Box::new(io::empty()), 0));
                let unread = old.into_inner().inner;
                let inner: Box<dyn Read + Send + 'a> = Box::new(Cursor::new(rest).chain(unread));
                self.csv = csv_reader(inner, self.delimiter);
                self.base = rest_offset;
                self.line = line + 1;
                self.counted = 0;
                self.prev_cr = false;
                return Ok(Some(raw));
            }
        }

        self.line = next_line;
        self.prev_cr = next_prev_cr;
        self.counted = end;
        self.csv.get_mut().forget_before(end);
        Ok(Some(raw))
    }
}

fn csv_reader<'a>(inner: Box<dyn Read + Send + 'a>, delimiter: u8) -> csv::Reader<Tee<'a>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(Tee {
            inner,
            window: Vec::new(),
            window_start: 0,
        })
}

/// `read_byte_record` on a flexible reader fails only on I/O.
fn into_io(err: csv::Error) -> io::Error {
    match err.into_kind() {
        csv::ErrorKind::Io(err) => err,
        other => io::Error::other(format!("{other:?}")),
    }
}

/// Counts line breaks in `bytes` starting at `line`; a `\r\n` is one break.
fn count_lines(bytes: &[u8], mut line: u64, mut prev_cr: bool) -> (u64, bool) {
    for &b in bytes {
        match b {
            b'\n' if prev_cr => {}
            b'\n' | b'\r' => line += 1,
            _ => {}
        }
        prev_cr = b == b'\r';
    }
    (line, prev_cr)
}

/// Quote state of the raw-cell state machine (mirrors `csv-core` with double quotes, no
/// escape character, lenient about text after a closing quote).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Quote {
    /// At the start of a cell.
    Start,
    /// In an unquoted cell (a `"` here is a literal).
    Bare,
    /// Inside a quoted cell.
    Open,
    /// Just read a `"` inside a quoted cell: a close, or the first half of `""`.
    MaybeClosed,
}

/// The 0-based index of the cell whose quote is still open at the end of `content`.
fn open_quote_cell(content: &[u8], delimiter: u8) -> Option<usize> {
    let mut state = Quote::Start;
    let mut cell = 0;
    for &b in content {
        state = match (state, b) {
            (Quote::Start, b'"') => Quote::Open,
            (Quote::Open, b'"') => Quote::MaybeClosed,
            (Quote::Open, _) => Quote::Open,
            (Quote::MaybeClosed, b'"') => Quote::Open,
            (_, b) if b == delimiter => {
                cell += 1;
                Quote::Start
            }
            _ => Quote::Bare,
        };
    }
    (state == Quote::Open).then_some(cell)
}

/// Byte ranges of each cell inside a well-formed record's raw bytes (quotes included), or
/// `None` when the quoting is not strictly regular (text after a closing quote, an open quote,
/// a line break outside quotes).
pub(super) fn raw_cells(content: &[u8], delimiter: u8) -> Option<Vec<std::ops::Range<usize>>> {
    let mut ranges = Vec::new();
    let mut state = Quote::Start;
    let mut cell_start = 0;
    for (idx, &b) in content.iter().enumerate() {
        state = match (state, b) {
            (Quote::Open, b'"') => Quote::MaybeClosed,
            (Quote::Open, _) => Quote::Open,
            (Quote::MaybeClosed, b'"') => Quote::Open,
            (_, b) if b == delimiter => {
                ranges.push(cell_start..idx);
                cell_start = idx + 1;
                Quote::Start
            }
            (_, b'\r' | b'\n') => return None,
            (Quote::Start, b'"') => Quote::Open,
            (Quote::Start | Quote::Bare, _) => Quote::Bare,
            (Quote::MaybeClosed, _) => return None,
        };
    }
    if state == Quote::Open {
        return None;
    }
    ranges.push(cell_start..content.len());
    Some(ranges)
}
