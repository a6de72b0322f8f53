//! Reading exports: formats, values, and every reject with its line.

use std::collections::BTreeSet;

use chrono::{TimeZone, Utc};

use super::{Fixture, HEADER, ids, record, rejects};
use crate::config::CsvWriteMode;
use crate::crm::{CrmAdapter, Error};
use crate::reconcile::{Amount, Field};

fn tags(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

fn amount(text: &str) -> Option<Amount> {
    Some(text.parse().unwrap())
}

#[test]
fn reads_every_mapped_value() {
    let fixture = Fixture::new(
        format!(
            "{HEADER}\n r1 ,123, @Alice_X ,hot; warm ;;vip, Open ,\"$1,000.50\",  two  spaces  ,\
             Ana@Example.COM,Yes,2024-03-01 10:20:30,Acme\n"
        )
        .as_bytes(),
    );
    let snapshot = fixture.snapshot();
    assert_eq!(rejects(&snapshot), Vec::<String>::new());
    let r1 = record(&snapshot, "r1");
    assert_eq!(r1.row, 2);
    assert_eq!(r1.x_user_id.as_deref(), Some("123"));
    assert_eq!(r1.username.as_deref(), Some("Alice_X"));
    assert_eq!(r1.fields.tags, tags(&["hot", "warm", "vip"]));
    assert_eq!(r1.fields.status.as_deref(), Some("Open"));
    assert_eq!(r1.fields.valuation, amount("1000.5"));
    assert_eq!(r1.fields.notes.as_deref(), Some("  two  spaces  "));
    assert_eq!(r1.fields.assignee.as_deref(), Some("ana@example.com"));
    assert_eq!(r1.fields.done, Some(true));
    assert_eq!(
        r1.updated_at,
        Some(Utc.with_ymd_and_hms(2024, 3, 1, 10, 20, 30).unwrap())
    );
}

#[test]
fn empty_cells_are_no_value() {
    let fixture = Fixture::new(format!("{HEADER}\nr1,,,,,,,,,,\n").as_bytes());
    let snapshot = fixture.snapshot();
    let r1 = record(&snapshot, "r1");
    assert_eq!(r1.x_user_id, None);
    assert_eq!(r1.username, None);
    assert_eq!(r1.fields, Default::default());
    assert_eq!(r1.updated_at, None);
}

#[test]
fn bom_is_stripped() {
    let fixture = Fixture::new(format!("\u{feff}{HEADER}\nr1,1,a,,,,,,,,\n").as_bytes());
    let snapshot = fixture.snapshot();
    assert_eq!(ids(&snapshot), ["r1@2"]);
}

#[test]
fn crlf_rows_have_their_line_numbers() {
    let fixture = Fixture::new(
        format!("{HEADER}\r\nr1,1,a,,,,,,,,\r\n\r\nr2,2,b,,,,\"x\r\ny\",,,,\r\nr3,3,c,,,,,,,,\r\n")
            .as_bytes(),
    );
    let snapshot = fixture.snapshot();
    assert_eq!(ids(&snapshot), ["r1@2", "r2@4", "r3@6"]);
    assert_eq!(
        record(&snapshot, "r2").fields.notes.as_deref(),
        Some("x\r\ny")
    );
}

#[test]
fn lone_cr_line_endings_are_lines() {
    let fixture = Fixture::new(format!("{HEADER}\rr1,1,a,,,,,,,,\rr2,2,b,,,,,,,,\r").as_bytes());
    assert_eq!(ids(&fixture.snapshot()), ["r1@2", "r2@3"]);
}

#[test]
fn quoted_newlines_and_doubled_quotes_in_notes() {
    let fixture = Fixture::new(
        format!("{HEADER}\nr1,1,a,,,,\"He said \"\"hi\"\"\nthen, left\n\",,,,\nr2,2,b,,,,,,,,\n")
            .as_bytes(),
    );
    let snapshot = fixture.snapshot();
    assert_eq!(ids(&snapshot), ["r1@2", "r2@5"]);
    assert_eq!(
        record(&snapshot, "r1").fields.notes.as_deref(),
        Some("He said \"hi\"\nthen, left\n")
    );
}

#[test]
fn semicolon_delimiter() {
    let header = HEADER.replace(',', ";");
    let fixture = Fixture::with(
        format!("{header}\nr1;1;a;x, y;;\"1 000,00\";a;b;;;\nr2;2;b;\"p;q\";;1 000;\"n;o\";;;;\n")
            .as_bytes(),
        CsvWriteMode::InPlace,
        ';',
    );
    let snapshot = fixture.snapshot();
    // `1 000,00` is a decimal comma: ambiguous, so refused rather than guessed.
    assert_eq!(
        rejects(&snapshot),
        [
            "2: column Deal Value: not a number with decimal separator \".\": \"1 000,00\" (it \
             reads with \",\": if the export writes amounts so, set [crm.csv] decimal_separator = \
             \",\"); the field is not synced until the cell reads"
        ]
    );
    let r2 = record(&snapshot, "r2");
    assert_eq!(r2.fields.tags, tags(&["p", "q"]));
    assert_eq!(r2.fields.valuation, amount("1000"));
    assert_eq!(r2.fields.notes.as_deref(), Some("n;o"));
}

#[test]
fn tab_delimiter() {
    let header = HEADER.replace(',', "\t");
    let fixture = Fixture::with(
        format!("{header}\nr1\t1\ta\tx;y\t\t5\tsome, text\t\t\t\t\n").as_bytes(),
        CsvWriteMode::InPlace,
        '\t',
    );
    let snapshot = fixture.snapshot();
    let r1 = record(&snapshot, "r1");
    assert_eq!(r1.fields.tags, tags(&["x", "y"]));
    assert_eq!(r1.fields.notes.as_deref(), Some("some, text"));
}

#[test]
fn tags_are_split_trimmed_and_deduplicated() {
    let mut fixture =
        Fixture::new(format!("{HEADER}\nr1,,a,\" b |a|  | c  |b\",,,,,,,\n").as_bytes());
    fixture.cfg.columns.tags_separator = "|".into();
    let snapshot = fixture.snapshot();
    assert_eq!(record(&snapshot, "r1").fields.tags, tags(&["a", "b", "c"]));
}

#[test]
fn formula_escapes_are_undone() {
    let fixture = Fixture::new(
        format!("{HEADER}\nr1,,a,'@x;b,'+st,'-5,'=SUM(A1),,,,\nr2,,b,,,,'plain,,,,\n").as_bytes(),
    );
    let snapshot = fixture.snapshot();
    let r1 = record(&snapshot, "r1");
    assert_eq!(r1.fields.tags, tags(&["@x", "b"]));
    assert_eq!(r1.fields.status.as_deref(), Some("+st"));
    assert_eq!(r1.fields.valuation, amount("-5"));
    assert_eq!(r1.fields.notes.as_deref(), Some("=SUM(A1)"));
    // Only an escape is removed: a `'` before ordinary text is the CRM's own.
    assert_eq!(
        record(&snapshot, "r2").fields.notes.as_deref(),
        Some("'plain")
    );
}

#[test]
fn every_reject_names_line_and_column_and_other_rows_still_read() {
    let text = format!(
        "{HEADER}\n\
         ok1,1,a,,,100,,,,,\n\
         bad-val,2,b,,,ten,,,,,\n\
         bad-done,3,c,,,,,,maybe,,\n\
         bad-xid,@12,d,,,,,,,,\n\
         dup,4,e,,,,,,,,\n\
         short,5,f\n\
         ,6,g,,,,,,,,\n\
         bad-date,7,h,,,,,,,yesterday,\n\
         ok2,8,i,,,,\"multi\nline\",,,,\n\
         dup,9,j,,,,,,,,\n\
         dup,10,k,,,1.2.3,,,,,\n\
         ok3,11,l,,,,,,,,\n\
         bad-quote,12,m,,,,\"never closed,,,,\n\
         ok4,13,n,,,,,,,,\n\
         ok5,14,o,,,,,,,,\n"
    );
    let fixture = Fixture::new(text.as_bytes());
    let snapshot = fixture.snapshot();
    // A bad value refuses only itself; the rows it sits on are still records.
    assert_eq!(
        ids(&snapshot),
        [
            "ok1@2",
            "bad-val@3",
            "bad-done@4",
            "bad-date@9",
            "ok2@10",
            "ok3@14",
            "ok4@16",
            "ok5@17"
        ]
    );
    assert_eq!(
        rejects(&snapshot),
        [
            "3: column Deal Value: not a number with decimal separator \".\": \"ten\"; the field \
             is not synced until the cell reads",
            "4: column Done: not a yes/no value: \"maybe\" (one of true/false, yes/no, y/n, 1/0, \
             any case); the field is not synced until the cell reads",
            "5: column X User ID: not a numeric X user id: \"@12\"",
            "6: duplicate Record ID dup, also at lines 12, 13",
            "7: the row has 3 fields, the header has 11",
            "8: column Record ID: empty record id",
            "9: column Last Modified: not a date/time: \"yesterday\"; the record is read without it",
            "12: duplicate Record ID dup, also at lines 6, 13",
            "13: duplicate Record ID dup, also at lines 6, 12",
            "15: column Notes: unterminated quote (a quoted cell is never closed); \
             reading resumed at line 16",
        ]
    );
    let by_row = |row: u64| snapshot.rejects.iter().find(|r| r.row == row).unwrap();
    assert_eq!(by_row(3).record_id.as_deref(), Some("bad-val"));
    assert_eq!(by_row(6).record_id.as_deref(), Some("dup"));
    assert_eq!(by_row(7).record_id, None);
    assert_eq!(by_row(15).record_id, None);
    assert!(
        snapshot
            .rejects
            .iter()
            .all(|r| r.source == fixture.path().display().to_string())
    );
}

#[test]
fn unterminated_quote_on_the_last_row() {
    let fixture = Fixture::new(format!("{HEADER}\nr1,1,a,,,,,,,,\nr2,2,b,,,,\"oops").as_bytes());
    let snapshot = fixture.snapshot();
    assert_eq!(ids(&snapshot), ["r1@2"]);
    assert_eq!(
        rejects(&snapshot),
        [
            "3: column Notes: unterminated quote (a quoted cell is never closed); \
          the rest of the file (lines 3-3) is unreadable"
        ]
    );
}

#[test]
fn stray_quotes_that_pair_up_swallow_rows_into_one_reject() {
    // The second stray quote closes the first: lines 3-5 are one malformed row, and the
    // reject says where to look.
    let fixture = Fixture::new(
        format!("{HEADER}\nr1,1,a,,,,\"x,,,,\nr2,2,b,,,,,,,,\nr3,3,c,y\",,,,,,,\nr4,4,d,,,,,,,,\n")
            .as_bytes(),
    );
    let snapshot = fixture.snapshot();
    assert_eq!(ids(&snapshot), ["r4@5"]);
    assert_eq!(
        rejects(&snapshot),
        [
            "2: the row has 14 fields, the header has 11 (the row spans lines 2-4: look for a stray quote)"
        ]
    );
}

#[test]
fn blank_lines_and_empty_rows_are_skipped() {
    let fixture = Fixture::new(
        format!("\n{HEADER}\n\n,,,,,,,,,,\nr1,1,a,,,,,,,,\n \t, ,,,,,,,,,\n\n").as_bytes(),
    );
    let snapshot = fixture.snapshot();
    assert_eq!(ids(&snapshot), ["r1@5"]);
    assert!(snapshot.rejects.is_empty());
}

#[test]
fn missing_mapped_columns_make_the_file_unusable() {
    let fixture = Fixture::new(b"Record ID,X User ID,Tags,Notes,Company\nr1,1,,,\n");
    let err = fixture.read().unwrap_err();
    let Error::Unusable {
        source_name,
        message,
    } = &err
    else {
        panic!("{err:?}");
    };
    assert_eq!(source_name, &fixture.path().display().to_string());
    assert!(
        message.starts_with(
            "mapped columns are \"X Handle\", \"Lead Status\", \"Deal Value\", \"Owner Email\", \
             \"Done\", \"Last Modified\" not in the header (line 1)"
        ),
        "{message}"
    );
    assert!(
        message.ends_with(
            "under [crm.csv.columns] name each column as the export spells it, or delete the \
             line of a column the CRM does not export"
        ),
        "{message}"
    );
    assert!(err.to_string().contains("export.csv"));
}

#[test]
fn a_mapped_column_twice_is_unusable() {
    let fixture = Fixture::new(format!("{HEADER},Notes\n").as_bytes());
    let message = fixture.read().unwrap_err().to_string();
    assert!(message.contains("\"Notes\" more than once"), "{message}");
}

#[test]
fn header_only_and_empty_files() {
    assert!(
        Fixture::new(HEADER.as_bytes())
            .snapshot()
            .records
            .is_empty()
    );
    let message = Fixture::new(b"").read().unwrap_err().to_string();
    assert!(message.contains("empty"), "{message}");
    let missing = Fixture::new(b"");
    std::fs::remove_file(missing.path()).unwrap();
    // A missing export names the key that points at it.
    let message = missing.read().unwrap_err().to_string();
    assert!(
        message.contains("no such file: check [crm.csv] path"),
        "{message}"
    );
}

#[test]
fn non_utf8_in_a_mapped_column_rejects_that_cell_elsewhere_ignored() {
    let mut bytes = format!("{HEADER}\nr1,1,a,,,,").into_bytes();
    bytes.extend_from_slice(b"caf\xe9,,,,\nr2,2,b,,,,,,,,caf\xe9\n");
    let snapshot = Fixture::new(&bytes).snapshot();
    assert_eq!(
        rejects(&snapshot),
        ["2: column Notes: not valid UTF-8 text; the field is not synced until the cell reads"]
    );
    assert_eq!(ids(&snapshot), ["r1@2", "r2@3"]);
}

#[test]
fn only_mapped_columns_are_required() {
    let mut fixture = Fixture::new(b"id,handle\nr1,@bob\n");
    fixture.cfg.columns = crate::config::CsvColumns {
        id: "id".into(),
        x_user_id: None,
        username: Some("handle".into()),
        linkedin_id: None,
        linkedin_username: None,
        tags: None,
        tags_separator: ";".into(),
        status: None,
        valuation: None,
        notes: None,
        owner_email: None,
        done: None,
        updated_at: None,
    };
    let adapter = fixture.adapter();
    assert!(adapter.fields().is_empty());
    let snapshot = fixture.snapshot();
    assert_eq!(record(&snapshot, "r1").username.as_deref(), Some("bob"));
}

#[test]
fn name_and_fields() {
    let fixture = Fixture::new(b"");
    let adapter = fixture.adapter();
    assert_eq!(adapter.name(), "csv:export.csv");
    assert_eq!(adapter.fields(), Field::ALL.into_iter().collect());
}

#[test]
fn twenty_thousand_rows() {
    let mut text = format!("{HEADER}\r\n");
    for n in 0..20_000 {
        text.push_str(&format!(
            "r{n},{n},user{n},a;b,Open,{n}.5,\"note {n}\nsecond line\",o{n}@x.com,no,2024-01-01,Co\r\n"
        ));
    }
    let snapshot = Fixture::new(text.as_bytes()).snapshot();
    assert!(snapshot.rejects.is_empty());
    assert_eq!(snapshot.records.len(), 20_000);
    let last = &snapshot.records[19_999];
    assert_eq!((last.id.as_str(), last.row), ("r19999", 2 + 2 * 19_999));
}

#[test]
fn trust_a_bad_cell_refuses_that_field_only_and_the_record_still_reads() {
    let fixture = Fixture::new(
        format!(
            "{HEADER}\nr1,1,a,vip,Open,\"90000,00\",call back,ana@acme.io,maybe,30/11/2026,Acme\n"
        )
        .as_bytes(),
    );
    let snapshot = fixture.snapshot();
    let r1 = record(&snapshot, "r1");
    assert_eq!(
        r1.unknown,
        BTreeSet::from([Field::Valuation, Field::Done]),
        "{r1:?}"
    );
    assert_eq!(r1.fields.valuation, None);
    assert_eq!(r1.fields.notes.as_deref(), Some("call back"));
    assert_eq!(r1.fields.tags, tags(&["vip"]));
    assert_eq!(r1.fields.status.as_deref(), Some("Open"));
    assert_eq!(r1.fields.assignee.as_deref(), Some("ana@acme.io"));
    assert_eq!(r1.updated_at, None);
    let cells: Vec<(u64, Option<&str>, Option<&str>)> = snapshot
        .rejects
        .iter()
        .map(|r| (r.row, r.column.as_deref(), r.record_id.as_deref()))
        .collect();
    assert_eq!(
        cells,
        [
            (2, Some("Deal Value"), Some("r1")),
            (2, Some("Done"), Some("r1")),
            (2, Some("Last Modified"), Some("r1")),
        ]
    );
    assert_eq!(
        rejects(&snapshot)[2],
        "2: column Last Modified: not a date/time: \"30/11/2026\" (day-first or month-first \
         dates need [crm.csv] date_format); the record is read without it"
    );
}

#[test]
fn trust_hubspot_export_last_modified_without_seconds_reads() {
    let fixture = Fixture::new(format!("{HEADER}\nr1,1,a,,,,,,,2026-11-30 14:03,\n").as_bytes());
    let snapshot = fixture.snapshot();
    assert_eq!(rejects(&snapshot), Vec::<String>::new());
    assert_eq!(
        record(&snapshot, "r1").updated_at,
        Some(Utc.with_ymd_and_hms(2026, 11, 30, 14, 3, 0).unwrap())
    );
}

#[test]
fn trust_decimal_separator_comma_reads_european_amounts_and_dmy_dates() {
    let mut fixture = Fixture::with(
        format!(
            "{}\nr1;1;a;;;90000,00;;;;30/11/2026 14:03;\nr2;2;b;;;2.500,00;;;;;\n\
             r3;3;c;;;€ 20 000,00;;;;;\nr4;4;d;;;1,234.50;;;;;\n",
            HEADER.replace(',', ";"),
        )
        .as_bytes(),
        CsvWriteMode::InPlace,
        ';',
    );
    fixture.cfg.decimal_separator = crate::config::DecimalSeparator::Comma;
    fixture.cfg.date_format = crate::config::DateFormat::Dmy;
    let snapshot = fixture.snapshot();
    assert_eq!(record(&snapshot, "r1").fields.valuation, amount("90000"));
    assert_eq!(
        record(&snapshot, "r1").updated_at,
        Some(Utc.with_ymd_and_hms(2026, 11, 30, 14, 3, 0).unwrap())
    );
    assert_eq!(record(&snapshot, "r2").fields.valuation, amount("2500"));
    assert_eq!(record(&snapshot, "r3").fields.valuation, amount("20000"));
    // The other convention is refused, not guessed.
    assert_eq!(
        record(&snapshot, "r4").unknown,
        BTreeSet::from([Field::Valuation])
    );
    assert_eq!(
        rejects(&snapshot),
        [
            "5: column Deal Value: not a number with decimal separator \",\": \"1,234.50\" (it \
             reads with \".\": if the export writes amounts so, set [crm.csv] decimal_separator = \
             \".\"); the field is not synced until the cell reads"
        ]
    );
}

#[test]
fn a_semicolon_header_read_with_commas_names_the_delimiter_to_set() {
    let fixture = Fixture::new("Record ID;X User ID;Tags\r\nr1;1;\r\n".as_bytes());
    let message = fixture.read().unwrap_err().to_string();
    assert!(
        message.ends_with("the file looks ';'-separated: set [crm.csv] delimiter = \";\""),
        "{message}"
    );
}
