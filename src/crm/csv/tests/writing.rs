//! Writing: in place (byte-exact, atomic, appends) and import files.

use std::collections::BTreeSet;

use super::{Fixture, HEADER, ids, record};
use crate::config::CsvWriteMode;
use crate::crm::csv::write::replace_atomically;
use crate::crm::{CrmWrite, Error, NewRecord, WriteStatus};
use crate::reconcile::{Change, Fields, Value};

fn update(id: &str, values: Vec<Value>) -> CrmWrite {
    CrmWrite::Update {
        id: id.into(),
        changes: values
            .into_iter()
            .map(|new| Change {
                old: Value::empty(new.field()),
                new,
            })
            .collect(),
    }
}

fn notes(text: &str) -> Value {
    Value::Notes(Some(text.into()))
}

fn tags(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

fn create(id: &str, x_user_id: &str, username: &str, fields: Fields) -> CrmWrite {
    CrmWrite::Create(NewRecord {
        id: id.into(),
        x_user_id: x_user_id.into(),
        username: username.into(),
        linkedin_id: None,
        linkedin_username: None,
        fields,
    })
}

/// Splits bytes after each `\n`, keeping the terminators.
fn lines(bytes: &[u8]) -> Vec<&[u8]> {
    bytes.split_inclusive(|&b| b == b'\n').collect()
}

/// A CRLF file with a BOM, an unknown column with odd quoting, and a multi-line note.
const ORIGINAL: &str = "\u{feff}Record ID,X User ID,X Handle,Tags,Lead Status,Deal Value,Notes,Owner Email,Done,Last Modified,Company\r\n\
r1,1,alice,a;b,Open,\"1,000\",\"old\r\nnote\",ana@x.com,Yes,2024-01-01,\"Acme, \"\"Inc\"\"\"\r\n\
r2,2,bob,,,5,,,no,,  spaced  \r\n\
r3,3,carol,x,Won,7,hi,,,,\"q\"\r\n";

#[test]
fn in_place_update_keeps_every_other_byte() {
    let fixture = Fixture::new(ORIGINAL.as_bytes());
    let report = fixture
        .write(&[update(
            "r1",
            vec![
                notes("new, \"quoted\"\nnote"),
                Value::Tags(tags(&["z", "a"])),
                Value::Valuation(None),
            ],
        )])
        .unwrap();
    assert_eq!(report.statuses, [WriteStatus::Confirmed]);

    let after = fixture.bytes();
    let (old_lines, new_lines) = (lines(ORIGINAL.as_bytes()), lines(&after));
    // BOM + header, and the untouched rows, are byte-for-byte the same.
    assert_eq!(new_lines[0], old_lines[0]);
    assert_eq!(new_lines[3..], old_lines[3..]);
    // In the updated row only the changed cells differ: unknown and unchanged cells keep their
    // exact bytes and quoting; the CRLF line ends stay.
    assert_eq!(
        [new_lines[1], new_lines[2]].concat(),
        b"r1,1,alice,a;z,Open,,\"new, \"\"quoted\"\"\nnote\",ana@x.com,Yes,2024-01-01,\"Acme, \"\"Inc\"\"\"\r\n"
    );

    let snapshot = fixture.snapshot();
    assert!(snapshot.rejects.is_empty(), "{:?}", snapshot.rejects);
    let r1 = record(&snapshot, "r1");
    assert_eq!(r1.fields.notes.as_deref(), Some("new, \"quoted\"\nnote"));
    assert_eq!(r1.fields.tags, tags(&["a", "z"]));
    assert_eq!(r1.fields.valuation, None);
    assert_eq!(
        fixture.files(),
        ["export.csv"],
        "no temp file is left behind"
    );
}

#[test]
fn in_place_updates_of_several_rows_and_fields() {
    let fixture = Fixture::new(ORIGINAL.as_bytes());
    let report = fixture
        .write(&[
            update("r3", vec![Value::Status(Some("Lost".into()))]),
            update(
                "r2",
                vec![
                    Value::Done(Some(true)),
                    Value::Assignee(Some("ben@x.com".into())),
                ],
            ),
            update("r3", vec![Value::Valuation(Some("-5".parse().unwrap()))]),
        ])
        .unwrap();
    assert_eq!(report.statuses, [const { WriteStatus::Confirmed }; 3]);
    let after = String::from_utf8(fixture.bytes()).unwrap();
    assert!(
        after.ends_with(
            "r2,2,bob,,,5,,ben@x.com,true,,  spaced  \r\nr3,3,carol,x,Lost,-5,hi,,,,\"q\"\r\n"
        ),
        "{after}"
    );
    let snapshot = fixture.snapshot();
    assert_eq!(record(&snapshot, "r2").fields.done, Some(true));
    assert_eq!(
        record(&snapshot, "r3").fields.status.as_deref(),
        Some("Lost")
    );
}

#[test]
fn in_place_refusals_leave_the_file_alone() {
    let text = format!("{HEADER}\nr1,1,a,,,,,,,,\ndup,2,b,,,,,,,,\ndup,3,c,,,,,,,,\n");
    let fixture = Fixture::new(text.as_bytes());
    let report = fixture
        .write(&[
            update("nope", vec![notes("x")]),
            update("dup", vec![notes("x")]),
            create("r1", "9", "z", Fields::default()),
            create("", "9", "z", Fields::default()),
        ])
        .unwrap();
    assert_eq!(
        report.statuses,
        [
            WriteStatus::Failed(format!("record not found in {}", fixture.path().display())),
            WriteStatus::Failed(format!(
                "record id dup is on 2 rows (lines 3, 4) of {}; not written",
                fixture.path().display()
            )),
            WriteStatus::Failed(format!(
                "record id r1 already exists (line 2) in {}",
                fixture.path().display()
            )),
            WriteStatus::Failed("the new record has an empty id".into()),
        ]
    );
    assert_eq!(fixture.bytes(), text.as_bytes());
}

#[test]
fn an_unmapped_field_fails_that_write_only() {
    let mut fixture = Fixture::new(b"Record ID,X User ID,X Handle,Notes\nr1,1,a,\nr2,2,b,\n");
    fixture.cfg.columns.tags = None;
    fixture.cfg.columns.status = None;
    fixture.cfg.columns.valuation = None;
    fixture.cfg.columns.owner_email = None;
    fixture.cfg.columns.done = None;
    fixture.cfg.columns.updated_at = None;
    let report = fixture
        .write(&[
            update("r1", vec![notes("n"), Value::Done(Some(true))]),
            update("r2", vec![notes("m")]),
        ])
        .unwrap();
    assert_eq!(
        report.statuses,
        [
            WriteStatus::Failed(format!(
                "field done has no column in {}",
                fixture.path().display()
            )),
            WriteStatus::Confirmed,
        ]
    );
    assert_eq!(
        fixture.bytes(),
        b"Record ID,X User ID,X Handle,Notes\nr1,1,a,\nr2,2,b,m\n"
    );
}

#[test]
fn creates_are_appended() {
    let fixture = Fixture::new(ORIGINAL.as_bytes());
    let fields = Fields {
        tags: tags(&["crm", "hot"]),
        status: Some("New".into()),
        valuation: Some("250".parse().unwrap()),
        notes: Some("from Inbox".into()),
        assignee: Some("ana@x.com".into()),
        done: Some(false),
    };
    let report = fixture
        .write(&[
            create("r4", "44", "@dave", fields.clone()),
            create("r4", "45", "eve", Fields::default()),
        ])
        .unwrap();
    assert_eq!(
        report.statuses,
        [
            WriteStatus::Confirmed,
            WriteStatus::Failed("record id r4 is created twice in one batch".into())
        ]
    );
    let after = fixture.bytes();
    assert!(after.starts_with(ORIGINAL.as_bytes()));
    assert_eq!(
        &after[ORIGINAL.len()..],
        b"r4,44,dave,crm;hot,New,250,from Inbox,ana@x.com,false,,\r\n"
    );
    let snapshot = fixture.snapshot();
    let r4 = record(&snapshot, "r4");
    assert_eq!(r4.fields, fields);
    assert_eq!(
        (r4.x_user_id.as_deref(), r4.username.as_deref()),
        (Some("44"), Some("dave"))
    );
}

#[test]
fn create_after_a_last_line_without_terminator() {
    let fixture = Fixture::new(format!("{HEADER}\nr1,1,a,,,,,,,,").as_bytes());
    fixture
        .write(&[create("r2", "2", "b", Fields::default())])
        .unwrap();
    assert_eq!(
        fixture.bytes(),
        format!("{HEADER}\nr1,1,a,,,,,,,,\nr2,2,b,,,,,,,,\n").as_bytes()
    );
    assert_eq!(ids(&fixture.snapshot()), ["r1@2", "r2@3"]);
}

#[test]
fn no_create_into_an_open_quote() {
    let text = format!("{HEADER}\nr1,1,a,,,,\"open");
    let fixture = Fixture::new(text.as_bytes());
    let report = fixture
        .write(&[create("r2", "2", "b", Fields::default())])
        .unwrap();
    assert!(
        matches!(&report.statuses[0], WriteStatus::Failed(r) if r.contains("unterminated quote"))
    );
    assert_eq!(fixture.bytes(), text.as_bytes());
}

#[test]
fn updates_next_to_broken_rows_keep_them_verbatim() {
    let text = format!("{HEADER}\nshort,1\nr1,1,a,,,,,,,,\nr2,2,b,,,,\"open,,,,\nr3,3,c,,,,,,,,\n");
    let fixture = Fixture::new(text.as_bytes());
    let report = fixture
        .write(&[
            update("r1", vec![notes("n1")]),
            update("r3", vec![notes("n3")]),
        ])
        .unwrap();
    // r3 reads (reading resumed after the stray quote), but the file ends inside that quote:
    // a `"` written after it would close it and change how the rows in between read.
    assert_eq!(report.statuses[0], WriteStatus::Confirmed);
    assert!(
        matches!(&report.statuses[1], WriteStatus::Failed(r) if r.contains("unterminated quote in the row at line 4")),
        "{:?}",
        report.statuses[1]
    );
    assert_eq!(
        String::from_utf8(fixture.bytes()).unwrap(),
        format!("{HEADER}\nshort,1\nr1,1,a,,,,n1,,,,\nr2,2,b,,,,\"open,,,,\nr3,3,c,,,,,,,,\n")
    );
}

#[test]
fn formula_escaping_round_trip() {
    let fixture = Fixture::new(format!("{HEADER}\nr1,1,a,,,,,,,,\n").as_bytes());
    fixture
        .write(&[update(
            "r1",
            vec![
                notes("=SUM(A1)"),
                Value::Valuation(Some("-5".parse().unwrap())),
                Value::Status(Some("@risk".into())),
                Value::Tags(tags(&["+1", "-x"])),
            ],
        )])
        .unwrap();
    assert_eq!(
        fixture.bytes(),
        format!("{HEADER}\nr1,1,a,'+1;-x,'@risk,-5,'=SUM(A1),,,,\n").as_bytes()
    );
    let snapshot = fixture.snapshot();
    let r1 = record(&snapshot, "r1");
    assert_eq!(r1.fields.notes.as_deref(), Some("=SUM(A1)"));
    assert_eq!(r1.fields.valuation, Some("-5".parse().unwrap()));
    assert_eq!(r1.fields.status.as_deref(), Some("@risk"));
    assert_eq!(r1.fields.tags, tags(&["+1", "-x"]));
}

#[test]
fn semicolon_file_is_written_with_semicolons() {
    let header = HEADER.replace(',', ";");
    let fixture = Fixture::with(
        format!("{header}\nr1;1;a;;;;;;;;\n").as_bytes(),
        CsvWriteMode::InPlace,
        ';',
    );
    fixture
        .write(&[update(
            "r1",
            vec![notes("a;b, c"), Value::Tags(tags(&["x", "y"]))],
        )])
        .unwrap();
    assert_eq!(
        fixture.bytes(),
        format!("{header}\nr1;1;a;\"x;y\";;;\"a;b, c\";;;;\n").as_bytes()
    );
    assert_eq!(
        record(&fixture.snapshot(), "r1").fields.tags,
        tags(&["x", "y"])
    );
}

#[test]
fn nothing_to_change_does_not_touch_the_file() {
    let fixture = Fixture::new(ORIGINAL.as_bytes());
    let before = std::fs::metadata(fixture.path())
        .unwrap()
        .modified()
        .unwrap();
    let report = fixture.write(&[]).unwrap();
    assert!(report.statuses.is_empty());
    let report = fixture
        .write(&[update("missing", vec![notes("x")])])
        .unwrap();
    assert!(matches!(report.statuses[0], WriteStatus::Failed(_)));
    // A value the cell holds already: confirmed, and the file is not rewritten.
    let report = fixture.write(&[update("r3", vec![notes("hi")])]).unwrap();
    assert_eq!(report.statuses, [WriteStatus::Confirmed]);
    assert_eq!(
        std::fs::metadata(fixture.path())
            .unwrap()
            .modified()
            .unwrap(),
        before
    );
    assert_eq!(std::fs::read(fixture.path()).unwrap(), ORIGINAL.as_bytes());
}

#[test]
fn an_unusable_file_is_not_written() {
    let text = "Record ID,Notes\nr1,x\n";
    let fixture = Fixture::new(text.as_bytes());
    let err = fixture
        .write(&[update("r1", vec![notes("y")])])
        .unwrap_err();
    assert!(matches!(err, Error::Unusable { .. }), "{err:?}");
    assert_eq!(fixture.bytes(), text.as_bytes());
}

#[test]
fn a_failed_replace_leaves_the_target_and_no_temp_file() {
    let dir = tempfile::tempdir().unwrap();
    // Renaming a file over a non-empty directory fails after the temp file is written.
    let target = dir.path().join("export.csv");
    std::fs::create_dir(&target).unwrap();
    std::fs::write(target.join("keep"), b"data").unwrap();
    assert!(replace_atomically(&target, b"new", None).is_err());
    assert_eq!(std::fs::read(target.join("keep")).unwrap(), b"data");
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["export.csv"]);
}

#[cfg(unix)]
#[test]
fn in_place_keeps_permissions_and_writes_through_symlinks() {
    use std::os::unix::fs::PermissionsExt;
    let fixture = Fixture::new(format!("{HEADER}\nr1,1,a,,,,,,,,\n").as_bytes());
    std::fs::set_permissions(fixture.path(), std::fs::Permissions::from_mode(0o640)).unwrap();
    let link = fixture.dir.path().join("link.csv");
    std::os::unix::fs::symlink(fixture.path(), &link).unwrap();
    let mut via_link = Fixture::new(b"");
    via_link.cfg.path = link.clone();
    via_link.write(&[update("r1", vec![notes("n")])]).unwrap();
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let mode = std::fs::metadata(fixture.path())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o640);
    assert_eq!(
        record(&fixture.snapshot(), "r1").fields.notes.as_deref(),
        Some("n")
    );
}

#[test]
fn import_file_holds_complete_rows_and_leaves_the_export() {
    let fixture = Fixture::with(ORIGINAL.as_bytes(), CsvWriteMode::ImportFile, ',');
    let report = fixture
        .write(&[
            update("r1", vec![notes("=1+1"), Value::Done(Some(false))]),
            create(
                "r9",
                "99",
                "@zed",
                Fields {
                    tags: tags(&["crm"]),
                    ..Fields::default()
                },
            ),
            update("gone", vec![notes("x")]),
            update("r1", vec![Value::Valuation(Some("-2".parse().unwrap()))]),
        ])
        .unwrap();
    assert_eq!(
        report.statuses,
        [
            WriteStatus::Pending,
            WriteStatus::Pending,
            WriteStatus::Failed(format!("record not found in {}", fixture.path().display())),
            WriteStatus::Pending,
        ]
    );
    assert_eq!(
        fixture.bytes(),
        ORIGINAL.as_bytes(),
        "the export is never touched"
    );
    let import_path = fixture.cfg.import_path.clone().unwrap();
    let import = String::from_utf8(std::fs::read(&import_path).unwrap()).unwrap();
    assert_eq!(
        import,
        "\u{feff}Record ID,X User ID,X Handle,Tags,Lead Status,Deal Value,Notes,Owner Email,Done\r\n\
         r1,1,alice,a;b,Open,-2,'=1+1,ana@x.com,false\r\n\
         r9,99,zed,crm,,,,,\r\n"
    );

    // The import file reads back with the same mapping (what the next export will show).
    let mut reread = Fixture::new(import.as_bytes());
    reread.cfg.columns.updated_at = None;
    let snapshot = reread.snapshot();
    assert!(snapshot.rejects.is_empty(), "{:?}", snapshot.rejects);
    let r1 = record(&snapshot, "r1");
    assert_eq!(r1.fields.notes.as_deref(), Some("=1+1"));
    assert_eq!(r1.fields.valuation, Some("-2".parse().unwrap()));
    assert_eq!(record(&snapshot, "r9").username.as_deref(), Some("zed"));

    // Each run rewrites the file with exactly the writes it is given.
    fixture.write(&[update("r2", vec![notes("only")])]).unwrap();
    let import = String::from_utf8(std::fs::read(&import_path).unwrap()).unwrap();
    assert_eq!(import.lines().count(), 2);
    assert!(import.ends_with("r2,2,bob,,,5,only,,no\r\n"), "{import}");
    let names: Vec<_> = std::fs::read_dir(import_path.parent().unwrap())
        .unwrap()
        .collect();
    assert_eq!(names.len(), 1, "no temp file is left behind");
}

#[test]
fn import_file_copies_the_crm_s_own_cells_as_they_are_and_escapes_only_what_it_writes() {
    let export = "Record ID,X User ID,X Handle,Tags,Lead Status,Deal Value,Notes,Owner Email,Done,Last Modified\n\
                  r1,,@noah,+vip,Open,5,old,,no,2026-01-01\n";
    let fixture = Fixture::with(export.as_bytes(), CsvWriteMode::ImportFile, ',');
    fixture
        .write(&[update("r1", vec![notes("@here: call back")])])
        .unwrap();
    let import_path = fixture.cfg.import_path.clone().unwrap();
    let import = String::from_utf8(std::fs::read(&import_path).unwrap()).unwrap();
    assert_eq!(
        import.lines().nth(1),
        Some("r1,,@noah,+vip,Open,5,'@here: call back,,no"),
        "{import}"
    );
}

#[test]
fn import_file_must_not_be_the_export() {
    let mut fixture = Fixture::with(ORIGINAL.as_bytes(), CsvWriteMode::ImportFile, ',');
    fixture.cfg.import_path = Some(fixture.path().clone());
    assert!(matches!(
        fixture.write(&[update("r1", vec![notes("x")])]),
        Err(Error::Unusable { .. })
    ));
    fixture.cfg.import_path = None;
    assert!(matches!(fixture.write(&[]), Err(Error::Unusable { .. })));
    assert_eq!(fixture.bytes(), ORIGINAL.as_bytes());
}

#[test]
fn trust_in_place_never_rewrites_a_cell_that_does_not_read() {
    let original =
        format!("{HEADER}\r\nr1,1,a,,,\"90000,00\",old note,,maybe,,Acme\r\nr2,2,b,,,5,,,,,\r\n");
    let fixture = Fixture::new(original.as_bytes());
    // A write of the bad cell fails and leaves the file as it was.
    let amount = Value::Valuation(Some("1".parse().unwrap()));
    let report = fixture
        .write(&[update("r1", vec![amount.clone()])])
        .unwrap();
    assert!(
        matches!(&report.statuses[..], [WriteStatus::Failed(why)]
            if why.contains("Deal Value") && why.contains("not overwritten")),
        "{report:?}"
    );
    assert_eq!(fixture.bytes(), original.as_bytes());
    // Another field of the same record is written; the bad cells keep their bytes.
    let report = fixture.write(&[update("r1", vec![notes("new")])]).unwrap();
    assert_eq!(report.statuses, [WriteStatus::Confirmed]);
    assert_eq!(
        String::from_utf8(fixture.bytes()).unwrap(),
        original.replace("old note", "new")
    );
}

#[test]
fn trust_decimal_separator_comma_is_written_back_with_a_comma() {
    let original = format!("{HEADER}\nr1,1,a,,,\"1,5\",,,,,\n");
    let mut fixture = Fixture::new(original.as_bytes());
    fixture.cfg.decimal_separator = crate::config::DecimalSeparator::Comma;
    let amount = Value::Valuation(Some("-1234.5".parse().unwrap()));
    let report = fixture.write(&[update("r1", vec![amount])]).unwrap();
    assert_eq!(report.statuses, [WriteStatus::Confirmed]);
    assert_eq!(
        String::from_utf8(fixture.bytes()).unwrap(),
        format!("{HEADER}\nr1,1,a,,,\"-1234,5\",,,,,\n")
    );
    let snapshot = fixture.snapshot();
    assert_eq!(
        record(&snapshot, "r1").fields.valuation,
        Some("-1234.5".parse().unwrap())
    );
}
