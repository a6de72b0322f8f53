//! Unit tests of the reconcile core: one test per rule, whole plans and snapshots of the
//! rendered plan; one test per row of the merge table (`tests/merge_table.rs`), the
//! vocabularies and fan-out (`tests/vocab.rs`, `tests/fanout.rs`). Property tests live in
//! `tests/props.rs`.

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
        prospect_id: prospect_id.into(),
        crm_id: crm_id.into(),
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
        thread_id: id.into(),
        account_link_id: format!("al-{account}"),
        account: account.to_owned(),
        platform: "twitter".to_owned(),
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

// The unit tests of the vocabularies, of fan-out and of the merge table use the helpers and the
// macro above (and, for the merge table, the link builders below).
mod fanout;
mod merge_table;
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
