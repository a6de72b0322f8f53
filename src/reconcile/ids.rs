//! The ids that cross module boundaries: an Inbox contact (or prospect), a CRM record and an
//! Inbox thread, each its own type so that one cannot be passed where another is meant.
//!
//! Each is a plain `String` underneath: it serializes as that string (`serde(transparent)`),
//! displays as it, orders as it (the derived `Ord` is `str`'s order, which the engine's sorted
//! merges rely on) and borrows as `&str` (so a map keyed by one is looked up by `&str`). The
//! mirror stores them as the same text (`ToSql`/`FromSql` live in `store::text`). The default
//! is the empty id, which a conflict row holds for a side it names no object of. Pure data:
//! nothing here does I/O.

use std::borrow::Borrow;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Defines an id newtype over `String` with its conversions.
macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The id's text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Whether the id is empty (a row that names no such object).
            pub fn is_empty(&self) -> bool {
                self.0.is_empty()
            }

            /// The id's text, owned.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> $name {
                $name(id)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> $name {
                $name(id.to_owned())
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

string_id! {
    /// The mirror's unit on the Inbox side: an Inbox contact id on API v2, a prospect id
    /// (`externalId`) on API v1.
    ContactId
}

string_id! {
    /// A CRM record id (a HubSpot object id, or the id column of the CSV export).
    RecordId
}

string_id! {
    /// An Inbox thread id.
    ThreadId
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn an_id_serializes_displays_and_orders_as_its_text() {
        let id = ContactId::from("p-1");
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"p-1\"");
        assert_eq!(serde_json::from_str::<ContactId>("\"p-1\"").unwrap(), id);
        assert_eq!(id.to_string(), "p-1");
        assert_eq!(id.as_str(), "p-1");
        let mut ids = [
            RecordId::from("b"),
            RecordId::from("B"),
            RecordId::from("a10"),
        ];
        ids.sort();
        let mut texts = vec!["b", "B", "a10"];
        texts.sort();
        assert_eq!(ids.iter().map(RecordId::as_str).collect::<Vec<_>>(), texts);
    }

    #[test]
    fn a_map_keyed_by_an_id_is_looked_up_by_str() {
        let map = BTreeMap::from([(ThreadId::from("t-1"), 1)]);
        assert_eq!(map.get("t-1"), Some(&1));
    }
}
