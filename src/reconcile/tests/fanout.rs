//! Unit tests of multi-account fan-out: every mode, and the done flag's empty CRM cell.

use super::*;

/// A link whose two threads disagree on the assignee; the CRM says ben@.
fn split_assignee() -> LinkInput {
    let mut link = input();
    link.inbox.threads = vec![
        thread("t2", "sales_b", Some("ben@acme.io"), false),
        thread("t1", "sales_a", Some("ana@acme.io"), false),
    ];
    link.crm.fields.assignee = Some("ben@acme.io".into());
    link.crm.fields.done = Some(false);
    link
}

#[test]
fn fanout_without_threads_skips_thread_fields() {
    let mut link = input();
    link.crm.fields.assignee = Some("ana@acme.io".into());
    link.crm.fields.done = Some(true);
    let plan = run(&link, &policy(&[Field::Assignee, Field::Done]));
    assert_summary!(plan, []);
}

#[test]
fn fanout_agreeing_threads_are_written_prospect_level() {
    let mut link = input();
    link.inbox.threads = vec![
        thread("t1", "sales_a", None, false),
        thread("t2", "sales_b", None, false),
    ];
    link.crm.fields.assignee = Some("ana@acme.io".into());
    link.crm.fields.done = Some(true);
    link.base.assignee = Some(None);
    link.base.done = Some(Some(false));
    let plan = run(&link, &policy(&[Field::Assignee, Field::Done]));
    assert_summary!(
        plan,
        [
            "inbox assignee: (empty) -> ana@acme.io",
            "inbox done: false -> true",
            "agreed assignee: ana@acme.io",
            "agreed done: true",
        ]
    );
}

#[test]
fn fanout_log_records_a_conflict_and_writes_nothing() {
    let plan = run(&split_assignee(), &policy(&[Field::Assignee, Field::Done]));
    assert_summary!(plan, ["agreed done: false", "conflict fanout assignee"]);
    let conflict = &plan.conflicts[0];
    let accounts: Vec<&str> = conflict
        .threads
        .iter()
        .map(|t| t.account.as_str())
        .collect();
    assert_eq!(accounts, ["sales_a", "sales_b"]);
    assert_eq!(
        conflict.detail,
        "threads disagree on assignee: @sales_a (X): ana@acme.io, @sales_b (X): ben@acme.io"
    );
    assert_eq!(conflict.inbox, None);
}

#[test]
fn a_disagreement_names_each_threads_account_platform_and_value() {
    let mut linkedin = thread("t2", "jane-li", None, false);
    linkedin.platform = "linkedin".into();
    let mut unknown = thread("t3", "al-9", None, true);
    unknown.platform = String::new();
    let threads = [
        thread("t1", "@sales_a", Some("ana@acme.io"), true),
        linkedin,
        unknown,
    ];
    assert_eq!(
        crate::reconcile::disagreement(Field::Done, &threads),
        "threads disagree on done: @sales_a (X): true, @jane-li (LinkedIn): false, @al-9: true"
    );
    assert_eq!(
        crate::reconcile::disagreement(Field::Assignee, &threads[..2]),
        "threads disagree on assignee: @sales_a (X): ana@acme.io, @jane-li (LinkedIn): (unassigned)"
    );
}

#[test]
fn fanout_skip_writes_and_records_nothing() {
    let policy = with_fanout(policy(&[Field::Assignee]), FanoutMode::Skip);
    assert_summary!(run(&split_assignee(), &policy), []);
}

#[test]
fn fanout_force_writes_the_crm_value_to_every_thread() {
    let policy = with_fanout(policy(&[Field::Assignee]), FanoutMode::Force);
    assert_summary!(
        run(&split_assignee(), &policy),
        [
            "inbox assignee: (empty) -> ben@acme.io",
            "agreed assignee: ben@acme.io",
        ]
    );
}

#[test]
fn a_thread_to_retry_gets_the_crm_value_again_in_log_and_skip_mode_not_per_thread() {
    // t1 did not take done = true on the last push; t2 did.
    let mut link = input();
    link.inbox.threads = vec![
        thread("t1", "sales_a", None, false),
        thread("t2", "sales_b", None, true),
    ];
    link.crm.fields.done = Some(true);
    link.base.done = Some(Some(false));
    link.inbox.retry.insert(Field::Done);
    for mode in [FanoutMode::Log, FanoutMode::Skip] {
        let policy = with_fanout(policy(&[Field::Done]), mode);
        assert_summary!(
            run(&link, &policy),
            ["inbox done: (empty) -> true", "agreed done: true"]
        );
    }
    let per_thread = FanoutMode::PerThread {
        account: "sales_b".into(),
    };
    let chosen = with_fanout(policy(&[Field::Done]), per_thread);
    assert_summary!(run(&link, &chosen), ["agreed done: true"]);
    // Without a retry, the disagreement is a conflict.
    link.inbox.retry.clear();
    assert_summary!(
        run(&link, &policy(&[Field::Done])),
        ["conflict fanout done"]
    );
}

#[test]
fn fanout_force_without_a_crm_value_is_a_conflict() {
    let policy = with_fanout(policy(&[Field::Assignee]), FanoutMode::Force);
    let mut link = split_assignee();
    link.crm.fields.assignee = None;
    assert_summary!(run(&link, &policy), ["conflict fanout assignee"]);
}

#[test]
fn fanout_per_thread_counts_and_writes_only_the_chosen_thread() {
    let mode = FanoutMode::PerThread {
        account: "@Sales_A".into(),
    };
    let policy = with_fanout(policy(&[Field::Assignee, Field::Done]), mode);
    let mut link = split_assignee();
    link.base.assignee = Some(Some("ana@acme.io".into()));
    link.crm.fields.done = Some(true);
    link.base.done = Some(Some(false));
    assert_summary!(
        run(&link, &policy),
        [
            "thread t1 assignee: ana@acme.io -> ben@acme.io",
            "thread t1 done: false -> true",
            "agreed assignee: ben@acme.io",
            "agreed done: true",
        ]
    );
}

#[test]
fn fanout_per_thread_writes_per_thread_even_when_threads_agree() {
    let mode = FanoutMode::PerThread {
        account: "sales_b".into(),
    };
    let policy = with_fanout(policy(&[Field::Done]), mode);
    let mut link = split_assignee();
    link.crm.fields.done = Some(true);
    link.base.done = Some(Some(false));
    let plan = run(&link, &policy);
    assert_summary!(plan, ["thread t2 done: false -> true", "agreed done: true"]);
    assert_eq!(plan.inbox, None);
}

#[test]
fn fanout_per_thread_without_a_thread_on_the_account_behaves_as_log() {
    let mode = FanoutMode::PerThread {
        account: "sales_c".into(),
    };
    let policy = with_fanout(policy(&[Field::Assignee, Field::Done]), mode);
    let mut link = split_assignee();
    link.crm.fields.done = Some(true);
    link.base.done = Some(Some(false));
    assert_summary!(
        run(&link, &policy),
        [
            "inbox done: false -> true",
            "agreed done: true",
            "conflict fanout assignee",
        ]
    );
}

#[test]
fn done_missing_in_the_crm_means_not_done() {
    let mut link = input();
    link.inbox.threads = vec![thread("t1", "sales_a", None, false)];
    let plan = run(&link, &policy(&[Field::Done]));
    assert_summary!(plan, ["agreed done: false"]);
}

#[test]
fn done_missing_in_the_crm_is_filled_on_a_first_sync() {
    let mut link = input();
    link.inbox.threads = vec![thread("t1", "sales_a", None, true)];
    let plan = run(&link, &policy(&[Field::Done]));
    assert_summary!(plan, ["crm done: (empty) -> true", "agreed done: true"]);
    // An explicit "not done" in the CRM is a value, not a gap.
    link.crm.fields.done = Some(false);
    let plan = run(&link, &policy(&[Field::Done]));
    assert_summary!(plan, ["conflict both-changed done"]);
}
