//! Properties: written text reads back identically, no input panics the reader, and a write
//! never changes how any other row reads.

use std::collections::BTreeSet;
use std::io::Cursor;

use proptest::prelude::*;

use super::{Fixture, HEADER, config};
use crate::config::CsvWriteMode;
use crate::crm::csv::CsvAdapter;
use crate::crm::csv::read::read_all;
use crate::crm::{CrmSnapshot, CrmWrite, Error, NewRecord, WriteStatus};
use crate::reconcile::{Change, Fields, Value};

/// Cell text that stresses quoting and escaping: quotes, both delimiters, line breaks, formula
/// starts, apostrophes, emoji and right-to-left text.
fn tricky_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "['=+\\-@\t\r\n\",; a-z0-9\u{1F600}\u{05D0}-\u{05EA}\u{202E}]{0,24}",
        "[=+\\-@']{1,3}[a-z0-9(),;\"]{0,8}",
        "-?[0-9]{1,4}(\\.[0-9]{1,2})?",
    ]
}

/// A tag: no separator inside and no surrounding whitespace, so the set round-trips.
fn tag() -> impl Strategy<Value = String> {
    "[=+\\-@'a-z0-9\",\u{1F600}\u{05D0}-\u{05EA}][a-z0-9 \"',=\u{1F600}]{0,6}[a-z0-9\"'=]"
}

fn read_bytes(bytes: &[u8], delimiter: char) -> Result<CrmSnapshot, Error> {
    let dir = std::path::Path::new("/nonexistent/export.csv");
    let adapter = CsvAdapter::new(&config(dir, CsvWriteMode::InPlace, delimiter));
    read_all(&adapter.settings, Cursor::new(bytes))
}

/// One cell of a generated, partly malformed file.
fn messy_cell() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "r[0-9]",
        4 => "[0-9]{0,3}",
        3 => Just(String::new()),
        2 => "[a-z,;'\"\r\n]{0,5}".prop_map(|s| format!("\"{}\"", s.replace('"', "\"\""))),
        1 => "[a-z]\"[a-z]",
        1 => "'[=+@-][a-z]",
        1 => "(yes|no|maybe|2024-01-01|x y)",
    ]
}

/// A row that reads as a record (notes may hold quotes, delimiters and line breaks).
fn sound_row() -> impl Strategy<Value = Vec<String>> {
    (
        "r[0-9]",
        "[0-9]{0,3}",
        "@?[a-z]{0,3}",
        "[a-z ;]{0,6}",
        prop_oneof![messy_cell(), "[0-9]{1,3}(\\.5)?", Just(String::new())],
        "(yes|no|)",
        "[a-z]{0,3}",
    )
        .prop_map(|(id, x_id, handle, tags, notes, done, company)| {
            let notes = if notes.contains(['"', ',', '\r', '\n']) && !notes.starts_with('"') {
                format!("\"{}\"", notes.replace('"', "\"\""))
            } else {
                notes
            };
            vec![
                id,
                x_id,
                handle,
                tags,
                String::new(),
                String::new(),
                notes,
                String::new(),
                done,
                String::new(),
                company,
            ]
        })
}

/// A file body: sound rows mixed with rows of roughly the header's width made of messy cells,
/// with mixed line endings.
fn messy_body() -> impl Strategy<Value = Vec<u8>> {
    let row = (
        prop_oneof![
            6 => sound_row(),
            2 => proptest::collection::vec(messy_cell(), 9..13),
            // A stray quote that never closes.
            1 => (proptest::collection::vec(messy_cell(), 9..13), 0..9usize, "[a-z,\n]{0,3}")
                .prop_map(|(mut cells, idx, text)| { cells[idx] = format!("\"{text}"); cells }),
        ],
        prop_oneof![Just("\n"), Just("\r\n"), Just("\r"), Just("\n\n")],
    );
    proptest::collection::vec(row, 0..12).prop_map(|rows| {
        let mut body = Vec::new();
        for (cells, end) in rows {
            body.extend_from_slice(cells.join(",").as_bytes());
            body.extend_from_slice(end.as_bytes());
        }
        body
    })
}

fn header_then(body: &[u8], bom: bool, crlf: bool) -> Vec<u8> {
    let mut bytes = Vec::new();
    if bom {
        bytes.extend_from_slice(b"\xEF\xBB\xBF");
    }
    bytes.extend_from_slice(HEADER.as_bytes());
    bytes.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
    bytes.extend_from_slice(body);
    bytes
}

/// Every line number a reject or record claims lies inside the file.
fn check_lines(snapshot: &CrmSnapshot, bytes: &[u8]) {
    let n_lines = 1 + bytes.iter().filter(|&&b| b == b'\n' || b == b'\r').count() as u64;
    for row in snapshot
        .records
        .iter()
        .map(|r| r.row)
        .chain(snapshot.rejects.iter().map(|r| r.row))
    {
        assert!((2..=n_lines).contains(&row), "line {row} of {n_lines}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn written_text_reads_back_identically(
        text in tricky_text(),
        tags in proptest::collection::btree_set(tag(), 0..4),
        delimiter in prop_oneof![Just(','), Just(';'), Just('\t')],
        bom in any::<bool>(),
        crlf in any::<bool>(),
    ) {
        let header = HEADER.replace(',', &delimiter.to_string());
        let neighbour = ["r2", "2", "b", "t", "", "", "\"q\"", "", "", "", "k"].join(&delimiter.to_string());
        let first = ["r1", "1", "a", "", "", "", "", "", "", "", ""].join(&delimiter.to_string());
        let end = if crlf { "\r\n" } else { "\n" };
        let bom_text = if bom { "\u{feff}" } else { "" };
        let original = format!("{bom_text}{header}{end}{first}{end}{neighbour}{end}");
        let fixture = Fixture::with(original.as_bytes(), CsvWriteMode::InPlace, delimiter);
        let before = fixture.snapshot();

        let report = fixture.write(&[CrmWrite::Update {
            id: "r1".into(),
            changes: vec![
                Change { old: Value::Notes(None), new: Value::Notes(Some(text.clone())) },
                Change { old: Value::Tags(BTreeSet::new()), new: Value::Tags(tags.clone()) },
            ],
        }]).unwrap();
        prop_assert_eq!(&report.statuses, &[WriteStatus::Confirmed]);

        let after = fixture.snapshot();
        prop_assert!(after.rejects.is_empty(), "{:?}", after.rejects);
        let r1 = after.records.iter().find(|r| r.id == "r1").unwrap();
        prop_assert_eq!(r1.fields.notes.as_deref(), (!text.is_empty()).then_some(text.as_str()));
        prop_assert_eq!(&r1.fields.tags, &tags);
        let r2 = |s: &CrmSnapshot| s.records.iter().find(|r| r.id == "r2").cloned().map(|mut r| { r.row = 0; r });
        prop_assert_eq!(r2(&after), r2(&before));
        let bytes = fixture.bytes();
        let tail = format!("{end}{neighbour}{end}");
        let head = format!("{bom_text}{header}{end}r1{delimiter}1{delimiter}a{delimiter}");
        prop_assert!(bytes.ends_with(tail.as_bytes()));
        prop_assert!(bytes.starts_with(head.as_bytes()));
    }

    #[test]
    fn any_bytes_read_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        match read_bytes(&bytes, ',') {
            Ok(snapshot) => check_lines(&snapshot, &bytes),
            Err(Error::Unusable { .. }) => {}
            Err(err) => prop_assert!(false, "unexpected error {err:?}"),
        }
    }

    #[test]
    fn messy_files_read_without_panicking(body in messy_body(), bom in any::<bool>(), crlf in any::<bool>()) {
        let bytes = header_then(&body, bom, crlf);
        let snapshot = read_bytes(&bytes, ',').unwrap();
        check_lines(&snapshot, &bytes);
        // No id is both a record and a duplicate reject; each row is a record or a rejected
        // row at most once, and a rejected cell is always on a record's row.
        let mut rows: Vec<u64> = snapshot.records.iter().map(|r| r.row).collect();
        rows.extend(snapshot.rejects.iter().filter(|r| r.is_record()).map(|r| r.row));
        let n_rows = rows.len();
        rows.sort_unstable();
        rows.dedup();
        prop_assert_eq!(rows.len(), n_rows);
        for reject in snapshot.rejects.iter().filter(|r| !r.is_record()) {
            let record = snapshot.records.iter().find(|r| r.row == reject.row);
            prop_assert!(record.is_some(), "cell reject without its record: {:?}", reject);
            prop_assert_eq!(record.map(|r| r.id.as_str()), reject.record_id.as_deref());
        }
    }

    #[test]
    fn writes_never_change_how_other_rows_read(
        body in messy_body(),
        bom in any::<bool>(),
        crlf in any::<bool>(),
        note in "[a-z =\",']{0,8}",
    ) {
        let original = header_then(&body, bom, crlf);
        let fixture = Fixture::new(&original);
        let before = fixture.snapshot();
        // A record whose notes are on one line, so that rewriting them shifts no line numbers.
        let target = before
            .records
            .iter()
            .find(|r| !r.fields.notes.as_deref().unwrap_or("").contains(['\r', '\n']))
            .map(|r| r.id.clone());
        let mut writes = vec![CrmWrite::Create(NewRecord {
            id: "zz-new".into(),
            x_user_id: "777".into(),
            username: "newbie".into(),
            linkedin_id: None,
            linkedin_username: None,
            fields: Fields { notes: Some("made, \"here\"".into()), ..Fields::default() },
        })];
        if let Some(id) = &target {
            writes.push(CrmWrite::Update {
                id: id.clone(),
                changes: vec![Change { old: Value::Notes(None), new: Value::Notes(Some(note.clone())) }],
            });
        }
        let report = fixture.write(&writes).unwrap();
        let after = fixture.snapshot();

        // Everything but the updated record and the new one reads exactly as before.
        let others = |s: &CrmSnapshot| {
            let records: Vec<_> = s.records.iter().filter(|r| Some(&r.id) != target.as_ref() && r.id != "zz-new").cloned().collect();
            (records, s.rejects.clone())
        };
        prop_assert_eq!(others(&after), others(&before));
        if let Some(id) = &target {
            let updated = after.records.iter().find(|r| &r.id == id).unwrap();
            let old = before.records.iter().find(|r| &r.id == id).unwrap();
            match &report.statuses[1] {
                WriteStatus::Confirmed => prop_assert_eq!(
                    updated.fields.notes.as_deref(),
                    (!note.is_empty()).then_some(note.as_str())
                ),
                WriteStatus::Failed(reason) => {
                    prop_assert!(reason.contains("unterminated"), "{}", reason);
                    prop_assert_eq!(updated, old);
                }
                WriteStatus::Pending => prop_assert!(false, "in-place writes are never pending"),
            }
        }
        match &report.statuses[0] {
            WriteStatus::Confirmed => {
                let created = after.records.iter().find(|r| r.id == "zz-new").unwrap();
                prop_assert_eq!(created.fields.notes.as_deref(), Some("made, \"here\""));
                if target.is_none() {
                    prop_assert!(fixture.bytes().starts_with(&original));
                }
            }
            WriteStatus::Failed(reason) => prop_assert!(reason.contains("unterminated"), "{}", reason),
            WriteStatus::Pending => prop_assert!(false, "in-place writes are never pending"),
        }
    }
}
