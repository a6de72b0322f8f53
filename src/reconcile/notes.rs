//! Notes as people see them: compared and merged with line endings and the final newline
//! normalised, merged line by line, and shown as a diff labelled `base` / `Inbox` / `CRM`.
//!
//! A CRLF cell and an LF note that read the same are the same note, and so are two notes that
//! differ only in a final newline. The merge works on the normalised texts; each side gets the
//! result back in its own convention ([`in_convention_of`]). Edits that touch different lines,
//! even adjacent ones, merge ([`merge`]); only edits of the same lines (or two different
//! insertions at one place, whose order nobody decided) conflict. No I/O, no clock.

use diffy::{DiffOptions, Line};

/// The text a note is compared and merged as: `\r\n` and lone `\r` become `\n`, and line
/// breaks at the end are dropped.
pub(crate) fn normalize(text: &str) -> String {
    let text = if text.contains('\r') {
        text.replace("\r\n", "\n").replace('\r', "\n")
    } else {
        text.to_owned()
    };
    text.trim_end_matches('\n').to_owned()
}

/// `text` (normalised) written the way `like` is: CRLF line breaks if `like` has one, and a
/// final line break if `like` ends with one.
pub(crate) fn in_convention_of(text: &str, like: &str) -> String {
    let break_ = if like.contains("\r\n") { "\r\n" } else { "\n" };
    let mut out = if break_ == "\n" {
        text.to_owned()
    } else {
        text.replace('\n', break_)
    };
    if !out.is_empty() && like.ends_with(['\n', '\r']) {
        out.push_str(break_);
    }
    out
}

/// Three-way merge of normalised notes, the same whichever side comes first; `None` when both
/// sides edited the same lines (or inserted different text at one place).
pub(crate) fn merge(base: &str, inbox: &str, crm: &str) -> Option<String> {
    // Every line, the last one included, ends with a line break while merging, so an edit of
    // the last line and an addition after it are two separate line edits.
    let line_ended = |text: &str| {
        if text.is_empty() {
            String::new()
        } else {
            format!("{text}\n")
        }
    };
    let (base, inbox, crm) = (line_ended(base), line_ended(inbox), line_ended(crm));
    let merged = match (
        diffy::merge(&base, &inbox, &crm),
        diffy::merge(&base, &crm, &inbox),
    ) {
        (Ok(merged), Ok(mirrored)) if merged == mirrored => merged,
        // diffy treats edits of adjacent lines as a conflict; retry hunk by hunk.
        _ => merge_hunks(&base, &inbox, &crm)?,
    };
    Some(merged.trim_end_matches('\n').to_owned())
}

/// One side's edit of the base: base lines `start..end` (0-based) replaced by `lines`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Edit {
    start: usize,
    end: usize,
    lines: Vec<String>,
}

/// The edits that turn `base` into `text`, in base order (line-ended texts).
fn edits(base: &str, text: &str) -> Vec<Edit> {
    let mut options = DiffOptions::new();
    options.set_context_len(0);
    let patch = options.create_patch(base, text);
    patch
        .hunks()
        .iter()
        .map(|hunk| {
            let old = hunk.old_range();
            // A hunk's start is 1-based unless it removes nothing (then it is the line before
            // which it inserts, 0-based).
            let start = if old.is_empty() {
                old.start()
            } else {
                old.start() - 1
            };
            let lines = hunk
                .lines()
                .iter()
                .filter_map(|line| match *line {
                    Line::Insert(text) => Some(text.to_owned()),
                    Line::Context(_) | Line::Delete(_) => None,
                })
                .collect();
            Edit {
                start,
                end: start + old.len(),
                lines,
            }
        })
        .collect()
}

/// Whether two edits of the base touch the same lines, or insert at the same place (where the
/// order of the two insertions would be a guess).
fn overlap(a: &Edit, b: &Edit) -> bool {
    let same_insertion_point = a.start == a.end && b.start == b.end && a.start == b.start;
    same_insertion_point || (a.start < b.end && b.start < a.end)
}

/// The merge of two sides' line edits, when no two of them overlap (identical edits count
/// once); `None` otherwise. Symmetric in `a` and `b`.
fn merge_hunks(base: &str, a: &str, b: &str) -> Option<String> {
    let base_lines: Vec<&str> = base.split_inclusive('\n').collect();
    let mut all: Vec<Edit> = edits(base, a);
    for edit in edits(base, b) {
        let mut overlapping = all.iter().filter(|other| overlap(other, &edit)).peekable();
        if overlapping.peek().is_none() {
            all.push(edit);
        } else if !overlapping.all(|other| *other == edit) {
            return None;
        }
    }
    // In base order; an insertion before a replacement starting at the same line goes first.
    all.sort_by_key(|edit| (edit.start, edit.end));
    let mut out = String::with_capacity(base.len() + a.len() + b.len());
    let mut at = 0;
    for edit in &all {
        out.extend(base_lines[at..edit.start].iter().copied());
        out.extend(edit.lines.iter().map(String::as_str));
        at = edit.end;
    }
    out.extend(base_lines[at..].iter().copied());
    Some(out)
}

/// A diff of one side's notes against the base for people: `--- base` / `+++ {side}`, line
/// endings and the final newline normalised (no `\ No newline at end of file`).
pub fn notes_diff(base: &str, text: &str, side: &str) -> String {
    let line_ended = |text: &str| {
        let text = normalize(text);
        if text.is_empty() { text } else { text + "\n" }
    };
    let (base, text) = (line_ended(base), line_ended(text));
    let patch = DiffOptions::new()
        .set_original_filename("base")
        .set_modified_filename(side.to_owned())
        .create_patch(&base, &text);
    patch
        .to_string()
        .lines()
        .filter(|line| !line.starts_with("\\ No newline"))
        .map(|line| format!("{line}\n"))
        .collect()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn trust_crlf_lf_and_a_final_newline_are_the_same_note() {
        assert_eq!(normalize("a\r\nb\r\n"), "a\nb");
        assert_eq!(normalize("a\rb"), "a\nb");
        assert_eq!(normalize("a\nb\n\n"), "a\nb");
        assert_eq!(normalize("\n"), "");
    }

    #[test]
    fn trust_each_side_gets_its_own_line_breaks_back() {
        assert_eq!(in_convention_of("a\nb", "x\r\ny"), "a\r\nb");
        assert_eq!(in_convention_of("a\nb", "x\r\ny\r\n"), "a\r\nb\r\n");
        assert_eq!(in_convention_of("a\nb", "x\ny\n"), "a\nb\n");
        assert_eq!(in_convention_of("a\nb", "xy"), "a\nb");
        assert_eq!(in_convention_of("", "x\r\n"), "");
    }

    #[test]
    fn trust_an_edit_of_the_last_line_and_an_addition_after_it_merge() {
        let base = "call monday\nbudget 10k";
        let inbox = "call tuesday\nbudget 10k";
        let crm = "call monday\nbudget 10k\nsent the deck";
        assert_eq!(
            merge(base, inbox, crm).as_deref(),
            Some("call tuesday\nbudget 10k\nsent the deck")
        );
    }

    #[test]
    fn trust_edits_of_adjacent_lines_merge() {
        let base = "one\ntwo\nthree";
        assert_eq!(
            merge(base, "ONE\ntwo\nthree", "one\nTWO\nthree").as_deref(),
            Some("ONE\nTWO\nthree")
        );
        assert_eq!(
            merge(base, "one\nthree", "one\ntwo\nTHREE").as_deref(),
            Some("one\nTHREE")
        );
    }

    #[test]
    fn trust_edits_of_the_same_line_or_two_insertions_at_one_place_conflict() {
        assert_eq!(merge("a\nb", "A\nb", "α\nb"), None);
        assert_eq!(merge("a\nb", "a\nx\nb", "a\ny\nb"), None);
        // The same insertion on both sides is one.
        assert_eq!(
            merge("a\nb", "a\nx\nb", "a\nx\nb").as_deref(),
            Some("a\nx\nb")
        );
    }

    #[test]
    fn trust_the_diff_shown_to_people_is_labelled_and_has_no_newline_marker() {
        let diff = notes_diff("call monday\r\nbudget", "call tuesday\nbudget", "CRM");
        assert_eq!(
            diff,
            "--- base\n+++ CRM\n@@ -1,2 +1,2 @@\n-call monday\n+call tuesday\n budget\n"
        );
    }

    /// A short note: up to six lines from a small alphabet, so that edits collide often.
    fn note() -> impl Strategy<Value = Vec<String>> {
        proptest::collection::vec("[abc]{1,2}", 0..6)
    }

    /// A side's edit of `base`: each line kept, dropped or replaced, and lines added.
    fn edited(base: Vec<String>) -> impl Strategy<Value = Vec<String>> {
        let n = base.len();
        (
            proptest::collection::vec(0u8..4, n),
            proptest::collection::vec(proptest::option::of("[xyz]{1,2}"), n + 1),
        )
            .prop_map(move |(actions, added)| {
                let mut out = Vec::new();
                for (idx, added) in added.iter().enumerate() {
                    if let Some(line) = added {
                        out.push(line.clone());
                    }
                    if let Some(line) = base.get(idx) {
                        match actions[idx] {
                            0 => {}
                            1 => out.push(format!("{line}!")),
                            _ => out.push(line.clone()),
                        }
                    }
                }
                out
            })
    }

    fn triple() -> impl Strategy<Value = (Vec<String>, Vec<String>, Vec<String>)> {
        note().prop_flat_map(|base| (Just(base.clone()), edited(base.clone()), edited(base)))
    }

    /// How many times each line occurs.
    fn counts(lines: &[String]) -> std::collections::BTreeMap<&str, usize> {
        let mut counts = std::collections::BTreeMap::new();
        for line in lines {
            *counts.entry(line.as_str()).or_insert(0) += 1;
        }
        counts
    }

    proptest! {
        #[test]
        fn trust_a_merge_never_loses_a_line_either_side_added((base, inbox, crm) in triple()) {
            let join = |lines: &[String]| lines.join("\n");
            if let Some(merged) = merge(&join(&base), &join(&inbox), &join(&crm)) {
                let merged: Vec<String> = if merged.is_empty() {
                    Vec::new()
                } else {
                    merged.split('\n').map(str::to_owned).collect()
                };
                let (in_base, in_merged) = (counts(&base), counts(&merged));
                for side in [&inbox, &crm] {
                    for (line, &n) in &counts(side) {
                        let added = n.saturating_sub(in_base.get(line).copied().unwrap_or(0));
                        prop_assert!(
                            in_merged.get(line).copied().unwrap_or(0) >= added,
                            "{line:?} lost: base {base:?} inbox {inbox:?} crm {crm:?} -> {merged:?}"
                        );
                    }
                }
            }
        }

        #[test]
        fn trust_a_merge_is_symmetric_and_identical_edits_merge((base, inbox, crm) in triple()) {
            let (base, inbox, crm) = (base.join("\n"), inbox.join("\n"), crm.join("\n"));
            prop_assert_eq!(merge(&base, &inbox, &crm), merge(&base, &crm, &inbox));
            prop_assert_eq!(merge(&base, &inbox, &inbox), Some(inbox.clone()));
            prop_assert_eq!(merge(&base, &base, &crm), Some(crm.clone()));
        }
    }
}
