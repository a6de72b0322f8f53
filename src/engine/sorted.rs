//! Merging two sequences sorted by prospect id (links, stamps, prospect keys) in one pass,
//! instead of a map of 100k ids on one side.

use std::iter::Peekable;

/// A cursor over items in ascending key order, walked beside another ascending sequence:
/// [`SortedCursor::seek`] moves past the smaller keys and finds the item with the key sought.
/// Fed out of order it only fails to find items, never finds a wrong one; callers rely on that
/// (a miss costs them work, not correctness). The sequences often come from SQLite
/// (`ORDER BY` a text id, which compares bytes as Rust's `str` does): debug builds check that
/// the items do ascend, and callers check the keys they seek.
pub(super) struct SortedCursor<I: Iterator> {
    items: Peekable<I>,
}

impl<I: Iterator> SortedCursor<I> {
    pub(super) fn new(items: impl IntoIterator<IntoIter = I>) -> Self {
        SortedCursor {
            items: items.into_iter().peekable(),
        }
    }

    /// The next item whose key is `key`, if it is the next one at or past `key`; the items
    /// before it are passed by. Keys sought must ascend too.
    pub(super) fn seek<'k, K: Ord + ?Sized + 'k>(
        &mut self,
        key: &K,
        key_of: impl Fn(&I::Item) -> &'k K,
    ) -> Option<&I::Item> {
        while let Some(passed) = self.items.next_if(|item| key_of(item) < key) {
            debug_assert!(
                self.items
                    .peek()
                    .is_none_or(|next| key_of(&passed) <= key_of(next)),
                "a sorted merge was fed items out of order (SQLite's order is not Rust's?)"
            );
        }
        self.items.peek().filter(|item| key_of(item) == key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seek_finds_equal_keys_and_passes_smaller_ones() {
        let mut cursor = SortedCursor::new(["a", "c", "d"]);
        let id = |s: &&'static str| -> &'static str { s };
        assert_eq!(cursor.seek("a", id), Some(&"a"));
        assert_eq!(cursor.seek("b", id), None);
        assert_eq!(cursor.seek("d", id), Some(&"d"));
        assert_eq!(cursor.seek("e", id), None);
        // Out of order: a key already passed is not found (never a wrong item).
        let mut cursor = SortedCursor::new(["a", "c"]);
        assert_eq!(cursor.seek("c", id), Some(&"c"));
        assert_eq!(cursor.seek("a", id), None);
    }

    #[test]
    #[cfg_attr(debug_assertions, should_panic(expected = "out of order"))]
    fn items_out_of_order_are_caught_in_debug_builds() {
        let mut cursor = SortedCursor::new(["b", "a", "c"]);
        let id = |s: &&'static str| -> &'static str { s };
        // Release builds: only misses ("a" was passed by), never a wrong item.
        assert_eq!(cursor.seek("c", id), Some(&"c"));
    }
}
