//! One cell's text: parsing a read cell into a value and formatting a value into a cell.
//!
//! Formula escaping lives here: a text cell that crmsync writes and that a spreadsheet would run
//! as a formula gets a leading `'` (OWASP "CSV injection"), and reading takes it off again so
//! values round-trip. This module knows nothing about rows, columns or files.

use std::borrow::Cow;
use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

use crate::config::{CsvColumns, DateFormat, DecimalSeparator};
use crate::reconcile::{Amount, Field, Value};

/// How an export writes numbers and dates (`[crm.csv] decimal_separator` and `date_format`).
/// Reading and writing use the same one, so a value crmsync writes reads back as itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Formats {
    /// Decimal separator of amounts.
    pub decimal: DecimalSeparator,
    /// Numeric dates besides ISO.
    pub dates: DateFormat,
}

/// First characters that make a spreadsheet treat a cell as a formula.
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// Escapes a cell crmsync writes: `'` is put before text that starts with a formula character,
/// or with one or more `'` followed by one (so that reading, which removes exactly one `'` from
/// such text, gives the original back). A plain number such as `-3` or `-1000.5` is not a
/// formula and stays as it is, so a negative deal value is still a number in a spreadsheet.
pub(super) fn escape_formula(text: &str) -> Cow<'_, str> {
    let unquoted = text.trim_start_matches('\'');
    if unquoted.starts_with(FORMULA_STARTS) && !is_plain_number(text) {
        Cow::Owned(format!("'{text}"))
    } else {
        Cow::Borrowed(text)
    }
}

/// Undoes [`escape_formula`]: one leading `'` is removed from text that is one or more `'`
/// followed by a formula character.
pub(super) fn unescape_formula(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.trim_start_matches('\'').starts_with(FORMULA_STARTS) => rest,
        _ => cell,
    }
}

/// The cell text of a value (unescaped): tags joined by `separator` in set order, valuation
/// as a plain decimal with the export's decimal separator, done as `true`/`false`, nothing as
/// the empty string.
pub(super) fn value_text(value: &Value, separator: &str, decimal: DecimalSeparator) -> String {
    match value {
        Value::Tags(tags) => tags
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(separator),
        Value::Status(text) | Value::Notes(text) | Value::Assignee(text) => {
            text.clone().unwrap_or_default()
        }
        Value::Valuation(amount) => amount
            .map(|a| match decimal {
                DecimalSeparator::Dot => a.to_string(),
                DecimalSeparator::Comma => a.to_string().replace('.', ","),
            })
            .unwrap_or_default(),
        Value::Done(done) => done.map(|d| d.to_string()).unwrap_or_default(),
    }
}

/// `-3`, `-1000.5`, `-1000,5`, `+2`: a sign, digits and an optional fraction (after `.` or
/// `,`), nothing else.
fn is_plain_number(text: &str) -> bool {
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (int_part, frac) = digits.split_once(['.', ',']).unwrap_or((digits, "0"));
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    all_digits(int_part) && all_digits(frac)
}

/// The value of one synced field's cell (already unescaped), or why it does not read (the
/// value is quoted in the reason). The reader and the in-place writer both use this, so a cell
/// the reader refused is recognised, and left alone, by the writer.
pub(super) fn parse_field(
    field: Field,
    cell: &str,
    columns: &CsvColumns,
    formats: Formats,
) -> Result<Value, String> {
    let trimmed = cell.trim();
    let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_string());
    Ok(match field {
        Field::Tags => Value::Tags(parse_tags(cell, &columns.tags_separator)),
        Field::Status => Value::Status(non_empty(trimmed)),
        Field::Valuation if trimmed.is_empty() => Value::Valuation(None),
        Field::Valuation => match parse_amount(trimmed, formats.decimal) {
            Some(amount) => Value::Valuation(Some(amount)),
            None => {
                let other = match formats.decimal {
                    DecimalSeparator::Dot => DecimalSeparator::Comma,
                    DecimalSeparator::Comma => DecimalSeparator::Dot,
                };
                let hint = match parse_amount(trimmed, other) {
                    Some(_) => format!(
                        " (it reads with \"{0}\": if the export writes amounts so, set [crm.csv] \
                         decimal_separator = \"{0}\")",
                        other.as_char()
                    ),
                    None => String::new(),
                };
                return Err(format!(
                    "not a number with decimal separator \"{}\": {trimmed:?}{hint}",
                    formats.decimal.as_char()
                ));
            }
        },
        Field::Notes => Value::Notes(non_empty(cell)),
        Field::Assignee => Value::Assignee(non_empty(&trimmed.to_lowercase())),
        Field::Done => match parse_done(trimmed) {
            Ok(done) => Value::Done(done),
            Err(()) => {
                return Err(format!(
                    "not a yes/no value: {trimmed:?} (one of true/false, yes/no, y/n, 1/0, any case)"
                ));
            }
        },
    })
}

/// Splits a tags cell: by `separator`, each trimmed, empties dropped.
pub(super) fn parse_tags(cell: &str, separator: &str) -> BTreeSet<String> {
    cell.split(separator)
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

/// Parses `true/false/yes/no/1/0/y/n` (any case); `Err` for anything else.
pub(super) fn parse_done(cell: &str) -> Result<Option<bool>, ()> {
    match cell.trim().to_ascii_lowercase().as_str() {
        "" => Ok(None),
        "true" | "yes" | "y" | "1" => Ok(Some(true)),
        "false" | "no" | "n" | "0" => Ok(Some(false)),
        _ => Err(()),
    }
}

/// ISO forms besides RFC 3339, taken as UTC.
const ISO_DATE_TIMES: [&str; 4] = [
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
];

/// Parses RFC 3339, `YYYY-MM-DD HH:MM[:SS[.f]]` (space or `T`) or `YYYY-MM-DD`, and with
/// `dmy` / `mdy` also `DD/MM/YYYY[ HH:MM[:SS]]` / `MM/DD/YYYY[ HH:MM[:SS]]`; all but RFC 3339
/// are taken as UTC. A day-first or month-first date is never guessed: without the setting
/// it does not read.
pub(super) fn parse_time(cell: &str, dates: DateFormat) -> Option<DateTime<Utc>> {
    let text = cell.trim();
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Some(time.with_timezone(&Utc));
    }
    let (date_times, date): (&[&str], &str) = match dates {
        DateFormat::Iso => (&ISO_DATE_TIMES, "%Y-%m-%d"),
        DateFormat::Dmy => (&["%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M"], "%d/%m/%Y"),
        DateFormat::Mdy => (&["%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M"], "%m/%d/%Y"),
    };
    let iso = (dates != DateFormat::Iso).then_some(&ISO_DATE_TIMES[..]);
    for format in date_times.iter().chain(iso.into_iter().flatten()) {
        if let Ok(time) = NaiveDateTime::parse_from_str(text, format) {
            return Some(time.and_utc());
        }
    }
    let date = NaiveDate::parse_from_str(text, date)
        .or_else(|_| NaiveDate::parse_from_str(text, "%Y-%m-%d"))
        .ok()?;
    Some(date.and_hms_opt(0, 0, 0)?.and_utc())
}

/// Currency symbols stripped around an amount.
const CURRENCY_SYMBOLS: &str = "$€£¥₹₽₩₪₺₫₴₦₱฿₿¢";

/// Spaces accepted between digit groups (`1 000`): space, no-break space, narrow no-break space.
const GROUP_SPACES: [char; 3] = [' ', '\u{a0}', '\u{202f}'];

/// Parses a deal value written with `decimal` as its decimal separator. Accepted: `1000`,
/// `1000.5`, `.5`, `-3`, `+3`, digits grouped by three with the other separator or a space
/// (`1,000.50`, `1 000`; with `,`: `1.000,50`, `20 000,00`, the no-break spaces Excel writes
/// included), and a currency around it: a symbol (`$1000`, `1000 €`, `US$ 5`, `-$5`) or an ISO
/// code in capitals (`1000 USD`, `EUR 5`). Everything else (`ten`, `1.2.3`, `1,5` with `.`,
/// `10K`, `1e3`) is `None`: an ambiguous amount is never guessed.
pub(super) fn parse_amount(cell: &str, decimal: DecimalSeparator) -> Option<Amount> {
    let text = cell.trim_matches(is_space);
    let (outer_minus, text) = strip_sign(text);
    let text = strip_currency_prefix(text.trim_start_matches(is_space));
    let text = strip_currency_suffix(text.trim_matches(is_space));
    let text = text.trim_matches(is_space);
    let (inner_minus, text) = strip_sign(text);
    if outer_minus.is_some() && inner_minus.is_some() {
        return None;
    }
    let negative = outer_minus.or(inner_minus).unwrap_or(false);
    let digits = plain_number(text, decimal)?;
    let signed = if negative {
        format!("-{digits}")
    } else {
        digits
    };
    signed.parse().ok()
}

fn is_space(c: char) -> bool {
    GROUP_SPACES.contains(&c)
}

/// `Some(true)` for a leading `-`, `Some(false)` for `+`.
fn strip_sign(text: &str) -> (Option<bool>, &str) {
    if let Some(rest) = text.strip_prefix('-') {
        (Some(true), rest)
    } else if let Some(rest) = text.strip_prefix('+') {
        (Some(false), rest)
    } else {
        (None, text)
    }
}

/// Strips `$`, `US$`, `EUR` (three capitals) or nothing from the start.
fn strip_currency_prefix(text: &str) -> &str {
    let letters = text.chars().take_while(char::is_ascii_uppercase).count();
    let after_letters = &text[letters..];
    if letters <= 2
        && let Some(symbol) = after_letters.chars().next()
        && CURRENCY_SYMBOLS.contains(symbol)
    {
        return &after_letters[symbol.len_utf8()..];
    }
    if letters == 3 {
        return after_letters;
    }
    text
}

/// Strips `$`, `€`, `USD` (three capitals) or nothing from the end.
fn strip_currency_suffix(text: &str) -> &str {
    if let Some(symbol) = text.chars().next_back()
        && CURRENCY_SYMBOLS.contains(symbol)
    {
        return &text[..text.len() - symbol.len_utf8()];
    }
    let letters = text
        .chars()
        .rev()
        .take_while(char::is_ascii_uppercase)
        .count();
    if letters == 3 {
        return &text[..text.len() - 3];
    }
    text
}

/// `digits[<decimal>digits]` with optional groups of three; returns the digits without
/// separators and with `.` before the fraction.
fn plain_number(text: &str, decimal: DecimalSeparator) -> Option<String> {
    let (int_part, frac_part) = match text.split_once(decimal.as_char()) {
        Some((int_part, frac)) => (int_part, Some(frac)),
        None => (text, None),
    };
    if let Some(frac) = frac_part
        && (frac.is_empty() || !frac.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let int_digits = ungroup(int_part, decimal.other().as_char())?;
    if int_digits.is_empty() && frac_part.is_none() {
        return None;
    }
    let int_digits = if int_digits.is_empty() {
        "0".to_string()
    } else {
        int_digits
    };
    Some(match frac_part {
        Some(frac) => format!("{int_digits}.{frac}"),
        None => int_digits,
    })
}

/// Plain digits, or digits grouped by three with one kind of separator (`group` or a space).
fn ungroup(int_part: &str, group: char) -> Option<String> {
    if int_part.bytes().all(|b| b.is_ascii_digit()) {
        return Some(int_part.to_string());
    }
    let separator = int_part.chars().find(|c| !c.is_ascii_digit())?;
    if separator != group && !is_space(separator) {
        return None;
    }
    let groups: Vec<&str> = int_part.split(separator).collect();
    let first_ok = (1..=3).contains(&groups[0].len());
    let rest_ok = groups[1..].iter().all(|g| g.len() == 3);
    let all_digits = groups.iter().all(|g| g.bytes().all(|b| b.is_ascii_digit()));
    (first_ok && rest_ok && all_digits).then(|| groups.concat())
}
