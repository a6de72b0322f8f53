//! Unit tests of the vocabularies: status mapping, owner e-mails, and which fields are synced.

use super::*;

/// A status link with base `Lead`.
fn status_link(inbox: &str, crm: &str) -> LinkInput {
    let mut link = input();
    link.inbox.fields.status = Some(inbox.into());
    link.crm.fields.status = Some(crm.into());
    link.base.status = Some(Some("Lead".into()));
    link
}

#[test]
fn status_crm_values_map_case_insensitively_and_trimmed() {
    let plan = run(
        &status_link("Won", " closed_won "),
        &policy(&[Field::Status]),
    );
    assert_summary!(plan, ["agreed status: Won"]);
}

#[test]
fn status_crm_value_equal_to_an_inbox_name_needs_no_mapping() {
    let plan = run(&status_link("Won", "Lost"), &policy(&[Field::Status]));
    assert_summary!(plan, ["conflict both-changed status"]);
    let plan = run(&status_link("Lead", "Lost"), &policy(&[Field::Status]));
    assert_summary!(plan, ["inbox status: Lead -> Lost", "agreed status: Lost"]);
}

#[test]
fn status_unmapped_crm_value_is_a_conflict_and_nothing_is_written() {
    let plan = run(&status_link("Won", "Qualified"), &policy(&[Field::Status]));
    assert_summary!(plan, ["conflict unmapped status"]);
    assert_eq!(
        plan.conflicts[0].crm,
        Some(Value::Status(Some("Qualified".into())))
    );
    // Unmapped even when Inbox is unchanged: the CRM value is not guessed.
    let plan = run(&status_link("Lead", "lead"), &policy(&[Field::Status]));
    assert_summary!(plan, ["conflict unmapped status"]);
}

#[test]
fn status_inbox_change_is_written_as_the_mapped_crm_value() {
    let plan = run(
        &status_link("Interested", "Lead"),
        &policy(&[Field::Status]),
    );
    assert_summary!(
        plan,
        ["crm status: Lead -> OPEN_DEAL", "agreed status: Interested"]
    );
}

#[test]
fn status_shared_crm_value_is_read_as_the_inbox_value() {
    // Interested and Booked both map to OPEN_DEAL: the CRM cannot tell them apart.
    let mut vocab = vocab();
    vocab.status_map.push(("Booked".into(), "OPEN_DEAL".into()));
    vocab.inbox_statuses.insert("Booked".into());
    let mut link = status_link("Booked", "OPEN_DEAL");
    link.base.status = Some(Some("Interested".into()));
    let plan = reconcile_link(&link, &policy(&[Field::Status]), &vocab);
    assert_summary!(plan, ["agreed status: Booked"]);
    // With neither side's status among the candidates, it is not guessed.
    let mut link = status_link("Lead", "OPEN_DEAL");
    link.base.status = Some(Some("Lead".into()));
    let plan = reconcile_link(&link, &policy(&[Field::Status]), &vocab);
    assert_summary!(plan, ["conflict unmapped status"]);
}

#[test]
fn status_without_a_way_back_from_the_crm_is_not_written() {
    // "Ghost" is not a known Inbox status and has no mapping: written as is, the CRM value
    // would read back as unmapped.
    let plan = run(&status_link("Ghost", "Lead"), &policy(&[Field::Status]));
    assert_summary!(plan, ["conflict unmapped status"]);
}

#[test]
fn owner_email_compares_lowercase() {
    let mut link = input();
    link.inbox.threads = vec![thread("t1", "sales_a", Some("ana@acme.io"), false)];
    link.crm.fields.assignee = Some(" Ana@ACME.io".into());
    let plan = run(&link, &policy(&[Field::Assignee]));
    assert_summary!(plan, ["agreed assignee: ana@acme.io"]);
}

#[test]
fn owner_who_is_not_a_member_is_unmapped() {
    let mut link = input();
    link.inbox.threads = vec![thread("t1", "sales_a", Some("ana@acme.io"), false)];
    link.crm.fields.assignee = Some("carl@elsewhere.com".into());
    link.base.assignee = Some(Some("ana@acme.io".into()));
    let plan = run(&link, &policy(&[Field::Assignee]));
    assert_summary!(plan, ["conflict unmapped assignee"]);
}

#[test]
fn inbox_assignee_that_is_no_member_email_is_unmapped() {
    let mut link = input();
    link.inbox.threads = vec![thread("t1", "sales_a", Some("mem_123"), false)];
    let plan = run(&link, &policy(&[Field::Assignee]));
    assert_summary!(plan, ["conflict unmapped assignee"]);
}

#[test]
fn fields_outside_the_policy_are_never_compared() {
    let mut link = valuation(Some("1"), Some("2"), None);
    link.inbox.fields.tags = tags(&["a"]);
    let plan = run(&link, &policy(&[Field::Tags]));
    assert_summary!(plan, ["crm tags: (empty) -> a", "agreed tags: a"]);
}
