//! Unit tests of the merge table (docs/design.md §3): for a scalar field (valuation), for
//! tags and for notes, one test per row.

use super::*;

// ---------------------------------------------------------------------------------------------
// The merge table, for a scalar field (valuation).

#[test]
fn scalar_all_equal_writes_nothing_and_keeps_the_base() {
    let plan = run(
        &valuation(Some("500"), Some("500"), Some(Some("500"))),
        &policy(&[Field::Valuation]),
    );
    assert_summary!(plan, ["agreed valuation: 500"]);
}

#[test]
fn scalar_changed_in_inbox_only_is_copied_to_the_crm() {
    let plan = run(
        &valuation(Some("750"), Some("500"), Some(Some("500"))),
        &policy(&[Field::Valuation]),
    );
    assert_summary!(plan, ["crm valuation: 500 -> 750", "agreed valuation: 750"]);
}

#[test]
fn scalar_changed_in_crm_only_is_copied_to_inbox() {
    let plan = run(
        &valuation(Some("500"), Some("900"), Some(Some("500"))),
        &policy(&[Field::Valuation]),
    );
    assert_summary!(
        plan,
        ["inbox valuation: 500 -> 900", "agreed valuation: 900"]
    );
}

#[test]
fn scalar_cleared_on_one_side_is_cleared_on_the_other() {
    let plan = run(
        &valuation(None, Some("500"), Some(Some("500"))),
        &policy(&[Field::Valuation]),
    );
    assert_summary!(
        plan,
        ["crm valuation: 500 -> (empty)", "agreed valuation: (empty)"]
    );
}

#[test]
fn scalar_both_changed_to_the_same_value_moves_the_base_only() {
    let plan = run(
        &valuation(Some("800"), Some("800"), Some(Some("500"))),
        &policy(&[Field::Valuation]),
    );
    assert_summary!(plan, ["agreed valuation: 800"]);
}

#[test]
fn scalar_both_changed_differently_is_a_conflict_under_manual() {
    let plan = run(
        &valuation(Some("800"), Some("900"), Some(Some("500"))),
        &policy(&[Field::Valuation]),
    );
    assert_summary!(plan, ["conflict both-changed valuation"]);
    let conflict = &plan.conflicts[0];
    assert_eq!(conflict.inbox, Some(Value::Valuation(Some(amount("800")))));
    assert_eq!(conflict.crm, Some(Value::Valuation(Some(amount("900")))));
    assert_eq!(conflict.base, Some(Value::Valuation(Some(amount("500")))));
}

#[test]
fn scalar_merge_rule_is_manual() {
    let policy = with_rule(policy(&[Field::Valuation]), Field::Valuation, Rule::Merge);
    let plan = run(
        &valuation(Some("800"), Some("900"), Some(Some("500"))),
        &policy,
    );
    assert_summary!(plan, ["conflict both-changed valuation"]);
}

#[test]
fn scalar_first_sync_fills_an_empty_inbox() {
    let plan = run(
        &valuation(None, Some("900"), None),
        &policy(&[Field::Valuation]),
    );
    assert_summary!(
        plan,
        ["inbox valuation: (empty) -> 900", "agreed valuation: 900"]
    );
}

#[test]
fn scalar_first_sync_fills_an_empty_crm() {
    let plan = run(
        &valuation(Some("900"), None, None),
        &policy(&[Field::Valuation]),
    );
    assert_summary!(
        plan,
        ["crm valuation: (empty) -> 900", "agreed valuation: 900"]
    );
}

#[test]
fn scalar_first_sync_with_equal_values_agrees() {
    let plan = run(
        &valuation(Some("900"), Some("900"), None),
        &policy(&[Field::Valuation]),
    );
    assert_summary!(plan, ["agreed valuation: 900"]);
}

#[test]
fn scalar_first_sync_with_different_values_is_a_conflict() {
    let plan = run(
        &valuation(Some("900"), Some("100"), None),
        &policy(&[Field::Valuation]),
    );
    assert_summary!(plan, ["conflict both-changed valuation"]);
    assert_eq!(plan.conflicts[0].base, None);
}

#[test]
fn valuation_1000_equals_1000_point_0() {
    let plan = run(
        &valuation(Some("1000"), Some("1000.0"), Some(Some("1000.00"))),
        &policy(&[Field::Valuation]),
    );
    assert_summary!(plan, ["agreed valuation: 1000"]);
}

// ---------------------------------------------------------------------------------------------
// The merge table for tags.

#[test]
fn tags_all_equal() {
    let plan = run(
        &tag_link(&["a", "b"], &["a", "b"], Some(&["a", "b"])),
        &policy(&[Field::Tags]),
    );
    assert_summary!(plan, ["agreed tags: a; b"]);
}

#[test]
fn tags_changed_on_one_side_are_copied() {
    let plan = run(
        &tag_link(&["a", "b"], &["a", "b", "c"], Some(&["a", "b"])),
        &policy(&[Field::Tags]),
    );
    assert_summary!(
        plan,
        ["inbox tags: a; b -> a; b; c", "agreed tags: a; b; c"]
    );
}

#[test]
fn tags_both_changed_to_the_same_set_moves_the_base_only() {
    let plan = run(
        &tag_link(&["b", "c"], &["b", "c"], Some(&["a"])),
        &policy(&[Field::Tags]),
    );
    assert_summary!(plan, ["agreed tags: b; c"]);
}

#[test]
fn tags_both_changed_differently_merge_additions_and_removals() {
    // Inbox added c and removed a; the CRM added d and removed b.
    let plan = run(
        &tag_link(&["b", "c"], &["a", "d"], Some(&["a", "b"])),
        &policy(&[Field::Tags]),
    );
    assert_summary!(
        plan,
        [
            "inbox tags: b; c -> c; d",
            "crm tags: a; d -> c; d",
            "agreed tags: c; d",
        ]
    );
}

#[test]
fn tags_first_sync_takes_the_union() {
    let plan = run(
        &tag_link(&["a", "b"], &["b", "c"], None),
        &policy(&[Field::Tags]),
    );
    assert_summary!(
        plan,
        [
            "inbox tags: a; b -> a; b; c",
            "crm tags: b; c -> a; b; c",
            "agreed tags: a; b; c",
        ]
    );
}

#[test]
fn tags_first_sync_fills_an_empty_side() {
    let plan = run(&tag_link(&[], &["vip"], None), &policy(&[Field::Tags]));
    assert_summary!(plan, ["inbox tags: (empty) -> vip", "agreed tags: vip"]);
}

#[test]
fn tags_under_manual_conflict_when_both_changed() {
    let policy = with_rule(policy(&[Field::Tags]), Field::Tags, Rule::Manual);
    let plan = run(&tag_link(&["b"], &["c"], Some(&["a"])), &policy);
    assert_summary!(plan, ["conflict both-changed tags"]);
}

#[test]
fn tags_are_trimmed_and_blank_names_dropped() {
    let plan = run(
        &tag_link(&["a", "b"], &[" a", "b ", ""], Some(&["a", "b"])),
        &policy(&[Field::Tags]),
    );
    assert_summary!(plan, ["agreed tags: a; b"]);
}

// ---------------------------------------------------------------------------------------------
// The merge table for notes.

#[test]
fn notes_all_equal() {
    let plan = run(
        &notes_link(Some("hi\n"), Some("hi\n"), Some(Some("hi\n"))),
        &policy(&[Field::Notes]),
    );
    assert_summary!(plan, [r#"agreed notes: "hi""#]);
}

#[test]
fn notes_none_and_empty_are_the_same() {
    let plan = run(
        &notes_link(None, Some(""), Some(None)),
        &policy(&[Field::Notes]),
    );
    assert_summary!(plan, ["agreed notes: (empty)"]);
}

#[test]
fn notes_changed_on_one_side_are_copied() {
    let plan = run(
        &notes_link(Some("a\n"), Some("a\nb\n"), Some(Some("a\n"))),
        &policy(&[Field::Notes]),
    );
    assert_summary!(
        plan,
        [
            r#"inbox notes: "a\n" -> "a\nb\n""#,
            r#"agreed notes: "a\nb""#
        ]
    );
}

#[test]
fn notes_both_changed_to_the_same_text_moves_the_base_only() {
    let plan = run(
        &notes_link(Some("x\n"), Some("x\n"), Some(Some("a\n"))),
        &policy(&[Field::Notes]),
    );
    assert_summary!(plan, [r#"agreed notes: "x""#]);
}

#[test]
fn notes_edits_of_different_lines_merge_cleanly_onto_both_sides() {
    let base = "intro\ncall on monday\nmet at SaaStr\nbudget unknown\n";
    let inbox = "intro\ncall on tuesday\nmet at SaaStr\nbudget unknown\n";
    let crm = "intro\ncall on monday\nmet at SaaStr\nbudget 10k\n";
    let plan = run(
        &notes_link(Some(inbox), Some(crm), Some(Some(base))),
        &policy(&[Field::Notes]),
    );
    let merged = "intro\ncall on tuesday\nmet at SaaStr\nbudget 10k\n";
    assert_summary!(
        plan,
        [
            format!("inbox notes: {inbox:?} -> {merged:?}"),
            format!("crm notes: {crm:?} -> {merged:?}"),
            // The agreed value (the base) is the normalised text; each side gets its own
            // final newline back.
            format!("agreed notes: {:?}", merged.trim_end()),
        ]
    );
}

#[test]
fn notes_overlapping_edits_conflict_and_keep_all_three_texts() {
    let plan = run(
        &notes_link(
            Some("call tuesday\n"),
            Some("call friday\n"),
            Some(Some("call monday\n")),
        ),
        &policy(&[Field::Notes]),
    );
    assert_summary!(plan, ["conflict both-changed notes"]);
    let conflict = &plan.conflicts[0];
    assert_eq!(
        conflict.inbox,
        Some(Value::Notes(Some("call tuesday\n".into())))
    );
    assert_eq!(
        conflict.crm,
        Some(Value::Notes(Some("call friday\n".into())))
    );
    assert_eq!(
        conflict.base,
        Some(Value::Notes(Some("call monday\n".into())))
    );
}

#[test]
fn notes_first_sync_fills_an_empty_side() {
    let plan = run(
        &notes_link(Some("met at conf\n"), None, None),
        &policy(&[Field::Notes]),
    );
    assert_summary!(
        plan,
        [
            r#"crm notes: (empty) -> "met at conf\n""#,
            r#"agreed notes: "met at conf""#,
        ]
    );
}

#[test]
fn notes_first_sync_with_different_texts_is_a_conflict() {
    let plan = run(
        &notes_link(Some("a\n"), Some("b\n"), None),
        &policy(&[Field::Notes]),
    );
    assert_summary!(plan, ["conflict both-changed notes"]);
}
