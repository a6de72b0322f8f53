//! The enums the mirror stores as text (sides, fields, statuses, kinds, resolutions, modes,
//! states), each written and read as the same text it always was: no migration rewrites a
//! stored value. Text the mirror holds that names no variant is an error when read, never a
//! default. The ids ([`ContactId`], [`RecordId`], [`ThreadId`]) are stored as their text too,
//! so they bind directly as SQL parameters and read back from text columns.

use rusqlite::ToSql;
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSqlOutput, ValueRef};

use crate::reconcile::{ConflictKind, ContactId, Field, RecordId, Side, ThreadId};

use super::{ChangeStatus, ConflictField, LinkState, Resolution, RunMode, RunStatus};

/// Stored text that names no variant of the type read.
#[derive(Debug, thiserror::Error)]
#[error("unknown {what} {text:?} in the mirror database; was it written by a newer crmsync?")]
pub struct UnknownText {
    /// What was read (`side`, `conflict kind`, ...).
    pub what: &'static str,
    /// The stored text.
    pub text: String,
}

/// Implements `ToSql` and `FromSql` for a type stored as its `as_str` text, read back with
/// `parse` (`Option`: `None` is an [`UnknownText`] error).
macro_rules! stored_as_text {
    ($($ty:ty => $what:literal),* $(,)?) => {$(
        impl ToSql for $ty {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.as_str()))
            }
        }

        impl FromSql for $ty {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                let text = value.as_str()?;
                <$ty>::parse(text).ok_or_else(|| {
                    FromSqlError::Other(Box::new(UnknownText {
                        what: $what,
                        text: text.to_owned(),
                    }))
                })
            }
        }
    )*};
}

stored_as_text! {
    Side => "side",
    Field => "field",
    ConflictKind => "conflict kind",
    ConflictField => "conflict field",
    ChangeStatus => "change status",
    Resolution => "resolution",
    RunMode => "run mode",
    RunStatus => "run status",
    LinkState => "link state",
}

/// Implements `ToSql` and `FromSql` for an id stored as its text (any text is an id).
macro_rules! id_as_text {
    ($($ty:ty),* $(,)?) => {$(
        impl ToSql for $ty {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.as_str()))
            }
        }

        impl FromSql for $ty {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                String::column_result(value).map(<$ty>::from)
            }
        }
    )*};
}

id_as_text!(ContactId, RecordId, ThreadId);

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::*;

    /// Reads `text` back as a `T`, through SQLite.
    fn read<T: FromSql>(text: &str) -> rusqlite::Result<T> {
        let conn = Connection::open_in_memory()?;
        conn.query_row("SELECT ?1", [text], |r| r.get(0))
    }

    /// Writes `value` and reads the text SQLite holds.
    fn written<T: ToSql>(value: T) -> String {
        let conn = Connection::open_in_memory().expect("in-memory SQLite");
        conn.query_row("SELECT ?1", [value], |r| r.get(0))
            .expect("a text value")
    }

    #[test]
    fn every_variant_is_stored_as_its_old_text_and_read_back() {
        for kind in ConflictKind::ALL {
            assert_eq!(written(kind), kind.as_str());
            assert_eq!(read::<ConflictKind>(kind.as_str()).unwrap(), kind);
        }
        for field in Field::ALL {
            let as_conflict = ConflictField::Field(field);
            assert_eq!(written(as_conflict), field.as_str());
            assert_eq!(read::<ConflictField>(field.as_str()).unwrap(), as_conflict);
        }
        assert_eq!(written(ConflictField::Record), "record");
        assert_eq!(written(Side::Inbox), "inbox");
        assert_eq!(written(Resolution::ResolvedValue), "resolved-value");
        assert_eq!(written(RunMode::Plan), "plan");
        assert_eq!(written(RunStatus::Stopped), "stopped");
        assert_eq!(written(LinkState::MissingCrm), "missing-crm");
        assert_eq!(written(ChangeStatus::Attempted), "attempted");
        assert_eq!(
            read::<LinkState>("missing-inbox").unwrap(),
            LinkState::MissingInbox
        );
        assert_eq!(
            read::<Resolution>("dismissed").unwrap(),
            Resolution::Dismissed
        );
    }

    #[test]
    fn ids_are_stored_as_their_text() {
        assert_eq!(written(ContactId::from("p-1")), "p-1");
        assert_eq!(written(RecordId::from("42")), "42");
        assert_eq!(written(ThreadId::from("t 1")), "t 1");
        assert_eq!(read::<ContactId>("p-1").unwrap(), ContactId::from("p-1"));
        assert_eq!(read::<RecordId>("").unwrap(), RecordId::from(""));
        assert_eq!(read::<ThreadId>("t-9").unwrap().as_str(), "t-9");
    }

    #[test]
    fn unknown_text_is_an_error_not_a_default() {
        let err = read::<LinkState>("archived").unwrap_err().to_string();
        assert!(err.contains("unknown link state \"archived\""), "{err}");
        assert!(read::<Field>("record").is_err());
        assert!(read::<RunStatus>("").is_err());
        assert!(read::<Resolution>("resolved-").is_err());
        assert!(read::<Side>("Inbox").is_err());
    }
}
