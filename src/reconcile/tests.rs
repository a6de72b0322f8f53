//! Unit tests of the reconcile core: one test per row of the merge table and per rule, the
//! vocabularies and fan-out (in `tests/vocab.rs` and `tests/fanout.rs`), and snapshots of the
//! rendered plan. Property tests live in `tests/props.rs`.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, TimeZone, Utc};

use super::*;

mod props;

// ---------------------------------------------------------------------------------------------
// Helpers shared with the property tests.

/// A set of tag names.
pub(super) fn tags(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|name| (*name).to_owned()).collect()
}

/// An amount from text.
pub(super) fn amount(text: &str) -> Amount {
    text.parse().expect("test amounts parse")
}

/// A time on 2025-01-01, at `hour`.
pub(super) fn at(hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 1, hour, 0, 0).unwrap()
}

/// A link key.
pub(super) fn key(prospect_id: &str, crm_id: &str) -> LinkKey {
    LinkKey {
        prospect_id: prospect_id.to_owned(),
        crm_id: crm_id.to_owned(),
    }
}

/// A link `p1 <-> r1` with nothing on either side and no base.
pub(super) fn input() -> LinkInput {
    LinkInput {
        key: key("p1", "r1"),
        inbox: InboxSide::default(),
        crm: CrmSide::default(),
        base: BaseValues::default(),
    }
}

/// A thread on `account`.
pub(super) fn thread(id: &str, account: &str, assignee: Option<&str>, done: bool) -> ThreadState {
    ThreadState {
        thread_id: id.to_owned(),
        account_link_id: format!("al-{account}"),
        account: account.to_owned(),
        assignee: assignee.map(str::to_owned),
        done,
    }
}

/// A policy syncing `fields` with the default rules and fan-out mode `log`.
pub(super) fn policy(fields: &[Field]) -> Policy {
    Policy {
        fields: fields.iter().copied().collect(),
        rules: BTreeMap::new(),
        fanout: FanoutMode::Log,
    }
}

/// `policy` with one rule set.
fn with_rule(mut policy: Policy, field: Field, rule: Rule) -> Policy {
    policy.rules.insert(field, rule);
    policy
}

/// `policy` with a fan-out mode.
fn with_fanout(mut policy: Policy, mode: FanoutMode) -> Policy {
    policy.fanout = mode;
    policy
}

/// Inbox statuses Lead, Interested, Won, Lost; CRM values OPEN_DEAL and CLOSED_WON mapped;
/// members ana@ and ben@.
pub(super) fn vocab() -> Vocabulary {
    Vocabulary {
        status_map: vec![
            ("Interested".to_owned(), "OPEN_DEAL".to_owned()),
            ("Won".to_owned(), "CLOSED_WON".to_owned()),
        ],
        inbox_statuses: tags(&["Lead", "Interested", "Won", "Lost"]),
        member_emails: tags(&["ana@acme.io", "ben@acme.io"]),
    }
}

/// Reconciles with the test vocabulary.
fn run(input: &LinkInput, policy: &Policy) -> LinkPlan {
    reconcile_link(input, policy, &vocab())
}

/// A value for a summary line: notes quoted, others plain.
fn show(value: &Value) -> String {
    match value {
        Value::Notes(Some(text)) => format!("{text:?}"),
        other => other.to_string(),
    }
}

/// Everything a link plan says, one line per change, agreed value and conflict.
pub(super) fn summary(plan: &LinkPlan) -> Vec<String> {
    let mut lines = Vec::new();
    let change = |side: &str, c: &Change| {
        format!("{side} {}: {} -> {}", c.field(), show(&c.old), show(&c.new))
    };
    for c in plan.inbox.iter().flat_map(|p| &p.changes) {
        lines.push(change("inbox", c));
    }
    for patch in &plan.threads {
        for c in &patch.changes {
            lines.push(change(&format!("thread {}", patch.thread_id), c));
        }
    }
    for c in plan.crm.iter().flat_map(|p| &p.changes) {
        lines.push(change("crm", c));
    }
    for value in &plan.agreed {
        lines.push(format!("agreed {}: {}", value.field(), show(value)));
    }
    for conflict in &plan.conflicts {
        lines.push(format!("conflict {} {}", conflict.kind, conflict.field));
    }
    lines
}

/// A link plan's summary as `&str`s, for `assert_eq!` against a literal list.
macro_rules! assert_summary {
    ($plan:expr, [$($line:expr),* $(,)?]) => {
        assert_eq!(summary(&$plan), vec![$($line.to_owned()),*] as Vec<String>)
    };
}

// The unit tests of the vocabularies and of fan-out use the helpers and the macro above.
mod fanout;
mod vocab;

/// A valuation link: Inbox, CRM and base values (`None` base = first sync).
fn valuation(inbox: Option<&str>, crm: Option<&str>, base: Option<Option<&str>>) -> LinkInput {
    let mut link = input();
    link.inbox.fields.valuation = inbox.map(amount);
    link.crm.fields.valuation = crm.map(amount);
    link.base.valuation = base.map(|b| b.map(amount));
    link
}

/// A tags link.
fn tag_link(inbox: &[&str], crm: &[&str], base: Option<&[&str]>) -> LinkInput {
    let mut link = input();
    link.inbox.fields.tags = tags(inbox);
    link.crm.fields.tags = tags(crm);
    link.base.tags = base.map(tags);
    link
}

/// A notes link.
fn notes_link(inbox: Option<&str>, crm: Option<&str>, base: Option<Option<&str>>) -> LinkInput {
    let mut link = input();
    link.inbox.fields.notes = inbox.map(str::to_owned);
    link.crm.fields.notes = crm.map(str::to_owned);
    link.base.notes = base.map(|b| b.map(str::to_owned));
    link
}

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

// ---------------------------------------------------------------------------------------------
// Rules.

/// A status link where both sides changed since `Lead`: Inbox to Interested, CRM to Won.
fn status_both_changed() -> LinkInput {
    let mut link = input();
    link.inbox.fields.status = Some("Interested".into());
    link.crm.fields.status = Some("CLOSED_WON".into());
    link.base.status = Some(Some("Lead".into()));
    link
}

#[test]
fn rule_manual_leaves_both_sides() {
    let plan = run(&status_both_changed(), &policy(&[Field::Status]));
    assert_summary!(plan, ["conflict both-changed status"]);
    assert_eq!(
        plan.conflicts[0].crm,
        Some(Value::Status(Some("CLOSED_WON".into())))
    );
}

#[test]
fn rule_inbox_wins_writes_the_inbox_value_to_the_crm() {
    let policy = with_rule(policy(&[Field::Status]), Field::Status, Rule::InboxWins);
    let plan = run(&status_both_changed(), &policy);
    assert_summary!(
        plan,
        [
            "crm status: CLOSED_WON -> OPEN_DEAL",
            "agreed status: Interested"
        ]
    );
}

#[test]
fn rule_crm_wins_writes_the_crm_value_to_inbox() {
    let policy = with_rule(policy(&[Field::Status]), Field::Status, Rule::CrmWins);
    let plan = run(&status_both_changed(), &policy);
    assert_summary!(
        plan,
        ["inbox status: Interested -> Won", "agreed status: Won"]
    );
}

#[test]
fn rule_newest_takes_the_later_inbox() {
    let policy = with_rule(policy(&[Field::Status]), Field::Status, Rule::Newest);
    let mut link = status_both_changed();
    link.inbox.updated_at = Some(at(10));
    link.crm.updated_at = Some(at(9));
    assert_summary!(
        run(&link, &policy),
        [
            "crm status: CLOSED_WON -> OPEN_DEAL",
            "agreed status: Interested",
        ]
    );
}

#[test]
fn rule_newest_takes_the_later_crm() {
    let policy = with_rule(policy(&[Field::Status]), Field::Status, Rule::Newest);
    let mut link = status_both_changed();
    link.inbox.updated_at = Some(at(8));
    link.crm.updated_at = Some(at(9));
    assert_summary!(
        run(&link, &policy),
        ["inbox status: Interested -> Won", "agreed status: Won"]
    );
}

#[test]
fn rule_newest_without_both_times_is_manual() {
    let policy = with_rule(policy(&[Field::Status]), Field::Status, Rule::Newest);
    let mut link = status_both_changed();
    link.inbox.updated_at = Some(at(10));
    assert_summary!(run(&link, &policy), ["conflict both-changed status"]);
}

#[test]
fn rule_newest_with_equal_times_is_manual() {
    let policy = with_rule(policy(&[Field::Status]), Field::Status, Rule::Newest);
    let mut link = status_both_changed();
    link.inbox.updated_at = Some(at(10));
    link.crm.updated_at = Some(at(10));
    assert_summary!(run(&link, &policy), ["conflict both-changed status"]);
}

#[test]
fn rules_apply_only_when_both_sides_changed() {
    // CRM-wins must not undo a change made in Inbox only.
    let policy = with_rule(policy(&[Field::Valuation]), Field::Valuation, Rule::CrmWins);
    let plan = run(
        &valuation(Some("750"), Some("500"), Some(Some("500"))),
        &policy,
    );
    assert_summary!(plan, ["crm valuation: 500 -> 750", "agreed valuation: 750"]);
}

// ---------------------------------------------------------------------------------------------
// Whole plans.

#[test]
fn plan_is_sorted_by_key_whatever_the_input_order() {
    let mut second = valuation(Some("1"), None, None);
    second.key = key("p2", "r2");
    let mut first = valuation(Some("1"), None, None);
    first.key = key("p1", "r9");
    let policy = policy(&[Field::Valuation]);
    let plan_a = plan(&[second.clone(), first.clone()], &policy, &vocab());
    let plan_b = plan(&[first, second], &policy, &vocab());
    assert_eq!(plan_a, plan_b);
    let keys: Vec<&str> = plan_a
        .links
        .iter()
        .map(|l| l.key.prospect_id.as_str())
        .collect();
    assert_eq!(keys, ["p1", "p2"]);
}

#[test]
fn plan_leaves_out_links_with_nothing_to_say() {
    // No thread and only thread fields synced: nothing is settled, written or in conflict.
    let policy = policy(&[Field::Assignee]);
    assert_eq!(plan(&[input()], &policy, &vocab()), Plan::default());
}

/// A small realistic run: six prospects with one or two threads each.
fn scenario() -> Vec<LinkInput> {
    let mut alice = input();
    alice.key = key("pr_alice", "hs_101");
    alice.inbox.fields.tags = tags(&["warm", "founder"]);
    alice.inbox.fields.status = Some("Interested".into());
    alice.inbox.fields.valuation = Some(amount("5000"));
    alice.inbox.fields.notes = Some("Met at SaaStr.\nWants a demo.\n".into());
    alice.inbox.threads = vec![thread("th_a1", "sales_a", Some("ana@acme.io"), false)];
    alice.crm.fields.tags = tags(&["warm", "founder", "enterprise"]);
    alice.crm.fields.status = Some("Lead".into());
    alice.crm.fields.valuation = Some(amount("5000.00"));
    alice.crm.fields.notes = Some("Met at SaaStr.\nWants a demo.\nBudget 20k.\n".into());
    alice.crm.fields.assignee = Some("ana@acme.io".into());
    alice.base.tags = Some(tags(&["warm", "founder"]));
    alice.base.status = Some(Some("Lead".into()));
    alice.base.valuation = Some(Some(amount("5000")));
    alice.base.notes = Some(Some("Met at SaaStr.\nWants a demo.\n".into()));
    alice.base.assignee = Some(Some("ana@acme.io".into()));
    alice.base.done = Some(Some(false));

    let mut bob = input();
    bob.key = key("pr_bob", "hs_102");
    bob.inbox.fields.notes = Some("Call on Monday.\n".into());
    bob.inbox.fields.status = Some("Won".into());
    bob.inbox.threads = vec![
        thread("th_b1", "sales_a", Some("ana@acme.io"), true),
        thread("th_b2", "sales_b", Some("ben@acme.io"), true),
    ];
    bob.crm.fields.notes = Some("Call on Friday.\n".into());
    bob.crm.fields.status = Some("Churned".into());
    bob.crm.fields.done = Some(true);
    bob.crm.fields.assignee = Some("ben@acme.io".into());
    bob.base.notes = Some(Some("Call next week.\n".into()));
    bob.base.status = Some(Some("Interested".into()));
    bob.base.done = Some(Some(true));

    let mut carol = input();
    carol.key = key("pr_carol", "hs_103");
    carol.inbox.fields.tags = tags(&["cold"]);
    carol.inbox.threads = vec![thread("th_c1", "sales_b", None, false)];
    carol.crm.fields.tags = tags(&["cold"]);
    carol.crm.fields.done = Some(false);
    carol.base.tags = Some(tags(&["cold"]));
    carol.base.done = Some(Some(false));
    carol.base.assignee = Some(None);

    let mut dave = input();
    dave.key = key("pr_dave", "hs_104");
    dave.inbox.fields.valuation = Some(amount("1200"));
    dave.crm.fields.status = Some("CLOSED_WON".into());
    dave.crm.fields.valuation = Some(amount("1500"));
    dave.crm.fields.assignee = Some("ben@acme.io".into());
    dave.crm.fields.done = Some(true);
    dave.inbox.threads = vec![thread("th_d1", "sales_b", None, false)];

    let mut erin = input();
    erin.key = key("pr_erin", "hs_105");
    erin.inbox.fields.tags = tags(&["partner"]);
    erin.crm.fields.tags = tags(&["partner", "newsletter"]);
    erin.crm.fields.assignee = Some("carl@elsewhere.com".into());
    erin.inbox.threads = vec![thread("th_e1", "sales_a", Some("ana@acme.io"), false)];
    erin.base.tags = Some(tags(&["partner"]));
    erin.base.assignee = Some(Some("ana@acme.io".into()));

    let mut frank = input();
    frank.key = key("pr_frank", "hs_106");
    frank.inbox.fields.status = Some("Interested".into());
    frank.crm.fields.status = Some("Lost".into());
    frank.base.status = Some(Some("Lead".into()));

    // Shuffled on purpose: the plan is sorted by key.
    vec![dave, bob, frank, erin, alice, carol]
}

/// Every field synced, default rules.
fn all_fields() -> Policy {
    policy(&Field::ALL)
}

#[test]
fn render_realistic_plan() {
    let plan = plan(&scenario(), &all_fields(), &vocab());
    insta::assert_snapshot!(render_plan(&plan));
}

#[test]
fn render_realistic_plan_with_force_and_crm_wins() {
    let mut policy = with_fanout(all_fields(), FanoutMode::Force);
    policy.rules.insert(Field::Status, Rule::CrmWins);
    policy.rules.insert(Field::Valuation, Rule::InboxWins);
    let plan = plan(&scenario(), &policy, &vocab());
    insta::assert_snapshot!(render_plan(&plan));
}

#[test]
fn render_realistic_plan_per_thread() {
    let mode = FanoutMode::PerThread {
        account: "sales_b".into(),
    };
    let plan = plan(&scenario(), &with_fanout(all_fields(), mode), &vocab());
    insta::assert_snapshot!(render_plan(&plan));
}

#[test]
fn render_empty_plan() {
    assert_eq!(
        render_plan(&Plan::default()),
        "0 links to update (0 inbox, 0 thread, 0 crm patches), 0 conflicts, 0 links unchanged\n"
    );
}

// ---------------------------------------------------------------------------------------------
// Unknown CRM values (a cell or property that did not parse).

#[test]
fn trust_an_unknown_crm_field_is_neither_written_nor_agreed_and_the_rest_syncs() {
    let mut link = input();
    link.inbox.fields.valuation = Some(amount("500"));
    link.inbox.fields.notes = Some("inbox note".into());
    link.base.valuation = Some(Some(amount("400")));
    link.base.notes = Some(None);
    // The CRM's valuation cell did not read: its value here is empty and means nothing.
    link.crm.unknown.insert(Field::Valuation);
    let plan = run(&link, &policy(&[Field::Valuation, Field::Notes]));
    assert_summary!(
        plan,
        [
            "crm notes: (empty) -> \"inbox note\"",
            "agreed notes: \"inbox note\"",
        ]
    );
    // Without the unknown mark the same empty value would be a CRM change.
    link.crm.unknown.clear();
    let plan = run(&link, &policy(&[Field::Valuation, Field::Notes]));
    assert!(
        summary(&plan)
            .iter()
            .any(|l| l.starts_with("conflict both-changed valuation")),
        "{:?}",
        summary(&plan)
    );
}

// ---------------------------------------------------------------------------------------------
// Notes as people see them: line endings and the final newline do not make a conflict.

#[test]
fn trust_crlf_in_the_crm_against_lf_in_inbox_is_no_first_sync_conflict() {
    let plan = run(
        &notes_link(
            Some("met at conf\nbudget 10k"),
            Some("met at conf\r\nbudget 10k\r\n"),
            None,
        ),
        &policy(&[Field::Notes]),
    );
    assert_summary!(plan, [r#"agreed notes: "met at conf\nbudget 10k""#]);
}

#[test]
fn trust_a_merged_note_goes_back_to_the_crm_with_crlf_and_to_inbox_with_lf() {
    // Line 1 edited in Inbox, a line appended in the CRM (which writes CRLF); no final newline
    // in the base or in Inbox.
    let plan = run(
        &notes_link(
            Some("call tuesday\nbudget 10k"),
            Some("call monday\r\nbudget 10k\r\nsent the deck"),
            Some(Some("call monday\nbudget 10k")),
        ),
        &policy(&[Field::Notes]),
    );
    assert_summary!(
        plan,
        [
            r#"inbox notes: "call tuesday\nbudget 10k" -> "call tuesday\nbudget 10k\nsent the deck""#,
            r#"crm notes: "call monday\r\nbudget 10k\r\nsent the deck" -> "call tuesday\r\nbudget 10k\r\nsent the deck""#,
            r#"agreed notes: "call tuesday\nbudget 10k\nsent the deck""#,
        ]
    );
}
