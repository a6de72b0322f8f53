//! One cell at a time: amounts, yes/no, times, formula escaping.

use chrono::{TimeZone, Utc};

use crate::crm::csv::cell::{
    escape_formula, parse_amount, parse_done, parse_time, unescape_formula, value_text,
};
use crate::reconcile::Value;

#[track_caller]
fn check_amount(cell: &str, expected: Option<&str>) {
    let got = parse_amount(cell).map(|a| a.to_string());
    assert_eq!(got.as_deref(), expected, "parsing {cell:?}");
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
    ] {
        check_amount(cell, Some(value));
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
    assert_eq!(parse_time("2024-03-01T10:20:30Z"), at(10, 20, 30));
    assert_eq!(parse_time("2024-03-01T12:20:30+02:00"), at(10, 20, 30));
    assert_eq!(parse_time("2024-03-01 10:20:30"), at(10, 20, 30));
    assert_eq!(parse_time("2024-03-01T10:20:30"), at(10, 20, 30));
    assert_eq!(parse_time("2024-03-01"), at(0, 0, 0));
    assert_eq!(parse_time("01/03/2024"), None);
    assert_eq!(parse_time("2024-02-30"), None);
}

#[test]
fn formula_escaping() {
    for (text, cell) in [
        ("=SUM(A1)", "'=SUM(A1)"),
        ("+1", "+1"),
        ("+cmd", "'+cmd"),
        ("-5", "-5"),
        ("-5.25", "-5.25"),
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
    assert_eq!(value_text(&tags, ";"), "@c;a;b");
    assert_eq!(
        value_text(&Value::Valuation(Some("-1000.50".parse().unwrap())), ";"),
        "-1000.5"
    );
    assert_eq!(value_text(&Value::Done(Some(false)), ";"), "false");
    assert_eq!(value_text(&Value::Notes(None), ";"), "");
}
