//! One cell at a time: amounts, yes/no, times, formula escaping.

use chrono::{TimeZone, Utc};

use crate::config::{DateFormat, DecimalSeparator};
use crate::crm::csv::cell::{
    escape_formula, parse_amount, parse_done, parse_time, unescape_formula, value_text,
};
use crate::reconcile::Value;

#[track_caller]
fn check_amount(cell: &str, expected: Option<&str>) {
    let got = parse_amount(cell, DecimalSeparator::Dot).map(|a| a.to_string());
    assert_eq!(got.as_deref(), expected, "parsing {cell:?}");
}

#[track_caller]
fn check_comma_amount(cell: &str, expected: Option<&str>) {
    let got = parse_amount(cell, DecimalSeparator::Comma).map(|a| a.to_string());
    assert_eq!(
        got.as_deref(),
        expected,
        "parsing {cell:?} with decimal separator ','"
    );
}

#[test]
fn amounts_in_the_accepted_forms() {
    for (cell, value) in [
        ("1000", "1000"),
        ("1000.50", "1000.5"),
        ("-3", "-3"),
        ("+3", "3"),
        (".5", "0.5"),
        ("0.00", "0"),
        ("1 000", "1000"),
        ("1\u{a0}000\u{a0}000", "1000000"),
        ("1,000.50", "1000.5"),
        ("12,345,678", "12345678"),
        ("$1000", "1000"),
        ("$ 1,000", "1000"),
        ("-$5", "-5"),
        ("$-5", "-5"),
        ("US$5", "5"),
        ("1000 USD", "1000"),
        ("EUR 12.5", "12.5"),
        ("1000€", "1000"),
        ("€ 1 000", "1000"),
        ("£7", "7"),
        ("$20,000.00", "20000"),
        ("20 000.00", "20000"),
        ("20\u{202f}000.00 EUR", "20000"),
    ] {
        check_amount(cell, Some(value));
    }
}

#[test]
fn amounts_with_decimal_separator_comma_group_thousands_with_dots_or_spaces() {
    for (cell, value) in [
        ("90000,00", "90000"),
        ("2.500,00", "2500"),
        ("1.234,50", "1234.5"),
        ("20 000,00", "20000"),
        ("20\u{a0}000,00", "20000"),
        ("20\u{202f}000,00", "20000"),
        ("1.000.000", "1000000"),
        ("-1,5", "-1.5"),
        (",5", "0.5"),
        ("€ 1.234,50", "1234.5"),
        ("1.234,50 EUR", "1234.5"),
        ("USD 7,25", "7.25"),
        ("£3", "3"),
        ("1000", "1000"),
    ] {
        check_comma_amount(cell, Some(value));
    }
    for cell in [
        "1,234.50", "1.5", "1,2,3", "1.00.000", "1 000.5", "5,", "ten",
    ] {
        check_comma_amount(cell, None);
    }
}

#[test]
fn amounts_that_are_refused() {
    for cell in [
        "ten",
        "1.2.3",
        "1,5",
        "1,50",
        "1.000,50",
        "10K",
        "1e3",
        "abc1000",
        "--5",
        "-$-5",
        "1 00",
        "1,00,000",
        "$",
        "USD",
        "-",
        ".",
        "5.",
        "(100)",
        "1_000",
        "12,345 678",
        "99999999999999999999999999999999",
    ] {
        check_amount(cell, None);
    }
}

#[test]
fn done_values() {
    for (cell, value) in [
        ("true", Some(true)),
        ("YES", Some(true)),
        (" y ", Some(true)),
        ("1", Some(true)),
        ("False", Some(false)),
        ("no", Some(false)),
        ("N", Some(false)),
        ("0", Some(false)),
        ("", None),
    ] {
        assert_eq!(parse_done(cell), Ok(value), "{cell:?}");
    }
    assert_eq!(parse_done("maybe"), Err(()));
    assert_eq!(parse_done("2"), Err(()));
}

#[test]
fn times() {
    let at = |h, m, s| Some(Utc.with_ymd_and_hms(2024, 3, 1, h, m, s).unwrap());
    let iso = |cell| parse_time(cell, DateFormat::Iso);
    assert_eq!(iso("2024-03-01T10:20:30Z"), at(10, 20, 30));
    assert_eq!(iso("2024-03-01T12:20:30+02:00"), at(10, 20, 30));
    assert_eq!(iso("2024-03-01 10:20:30"), at(10, 20, 30));
    assert_eq!(iso("2024-03-01T10:20:30"), at(10, 20, 30));
    assert_eq!(iso("2024-03-01"), at(0, 0, 0));
    assert_eq!(iso("01/03/2024"), None);
    assert_eq!(iso("2024-02-30"), None);
}

#[test]
fn hubspot_export_times_without_seconds_read() {
    let at = |h, m| Some(Utc.with_ymd_and_hms(2026, 11, 30, h, m, 0).unwrap());
    assert_eq!(parse_time("2026-11-30 14:03", DateFormat::Iso), at(14, 3));
    assert_eq!(parse_time("2026-11-30T14:03", DateFormat::Iso), at(14, 3));
    assert_eq!(parse_time(" 2026-11-30 14:03 ", DateFormat::Iso), at(14, 3));
}

#[test]
fn day_first_and_month_first_dates_read_only_when_configured() {
    let at = |m, d, h, min| Some(Utc.with_ymd_and_hms(2026, m, d, h, min, 0).unwrap());
    assert_eq!(
        parse_time("30/11/2026 14:03", DateFormat::Dmy),
        at(11, 30, 14, 3)
    );
    assert_eq!(parse_time("30/11/2026", DateFormat::Dmy), at(11, 30, 0, 0));
    assert_eq!(
        parse_time("04/11/2026 08:00:00", DateFormat::Dmy),
        at(11, 4, 8, 0)
    );
    assert_eq!(parse_time("04/11/2026", DateFormat::Mdy), at(4, 11, 0, 0));
    assert_eq!(
        parse_time("11/30/2026 14:03", DateFormat::Mdy),
        at(11, 30, 14, 3)
    );
    // ISO still reads with either.
    assert_eq!(
        parse_time("2026-11-30 14:03", DateFormat::Dmy),
        at(11, 30, 14, 3)
    );
    assert_eq!(parse_time("2026-11-30", DateFormat::Mdy), at(11, 30, 0, 0));
    // Never guessed.
    assert_eq!(parse_time("30/11/2026", DateFormat::Iso), None);
    assert_eq!(parse_time("30/11/2026", DateFormat::Mdy), None);
    assert_eq!(parse_time("11/30/2026", DateFormat::Dmy), None);
}

#[test]
fn formula_escaping() {
    for (text, cell) in [
        ("=SUM(A1)", "'=SUM(A1)"),
        ("+1", "+1"),
        ("+cmd", "'+cmd"),
        ("-5", "-5"),
        ("-5.25", "-5.25"),
        ("-5,25", "-5,25"),
        ("-2+3", "'-2+3"),
        ("@user", "'@user"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("'=x", "''=x"),
        ("'plain", "'plain"),
        ("plain", "plain"),
        ("a=b", "a=b"),
        ("", ""),
    ] {
        assert_eq!(escape_formula(text), cell, "escaping {text:?}");
        assert_eq!(unescape_formula(cell), text, "unescaping {cell:?}");
    }
}

#[test]
fn value_texts() {
    let tags = Value::Tags(["b", "a", "@c"].iter().map(|s| s.to_string()).collect());
    let dot = DecimalSeparator::Dot;
    assert_eq!(value_text(&tags, ";", dot), "@c;a;b");
    let amount = Value::Valuation(Some("-1000.50".parse().unwrap()));
    assert_eq!(value_text(&amount, ";", dot), "-1000.5");
    assert_eq!(value_text(&amount, ";", DecimalSeparator::Comma), "-1000,5");
    assert_eq!(value_text(&Value::Done(Some(false)), ";", dot), "false");
    assert_eq!(value_text(&Value::Notes(None), ";", dot), "");
}
