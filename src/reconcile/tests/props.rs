//! Property tests of the invariants docs/design.md §3 promises: idempotence, no lost update,
//! symmetry, convergence, conflicts without writes, and independence from input order.
//!
//! Values come from small pools (four tag names, a few note lines, three statuses...) and each
//! side is usually the base, an edit of it, or a fresh value, so that the interesting rows of
//! the merge table (one-sided changes, clean and overlapping merges) happen often.

use std::collections::BTreeSet;

use proptest::prelude::*;
use proptest::sample::{select, subsequence};

use super::super::fanout::{InboxView, inbox_view};
use super::super::vocab::{canonical, crm_to_inbox};
use super::*;

const TAGS: [&str; 4] = ["a", "b", "c", "d"];
const LINES: [&str; 8] = [
    "hello",
    "call monday",
    "call friday",
    "budget 10k",
    "demo booked",
    "met at SaaStr",
    "cto is ana",
    "send deck",
];
const STATUSES: [&str; 4] = ["Lead", "Interested", "Won", "Lost"];
const AMOUNTS: [&str; 4] = ["0", "500", "1000", "1000.0"];
const MEMBERS: [&str; 2] = ["ana@acme.io", "ben@acme.io"];
const ACCOUNTS: [&str; 3] = ["sales_a", "sales_b", "sales_c"];

/// A fresh canonical value of a field (Inbox vocabulary).
fn fresh(field: Field) -> BoxedStrategy<Value> {
    fn maybe(pool: &'static [&'static str]) -> impl Strategy<Value = Option<String>> {
        prop_oneof![1 => Just(None), 3 => select(pool).prop_map(|s| Some(s.to_owned()))]
    }
    match field {
        Field::Tags => subsequence(TAGS.to_vec(), 0..=TAGS.len())
            .prop_map(|names| Value::Tags(tags(&names)))
            .boxed(),
        Field::Status => maybe(&STATUSES).prop_map(Value::Status).boxed(),
        Field::Valuation => maybe(&AMOUNTS)
            .prop_map(|a| Value::Valuation(a.map(|a| amount(&a))))
            .boxed(),
        Field::Notes => proptest::collection::vec(select(LINES.to_vec()), 0..9)
            .prop_map(|lines| Value::Notes(notes_of(&lines)))
            .boxed(),
        Field::Assignee => maybe(&MEMBERS).prop_map(Value::Assignee).boxed(),
        Field::Done => any::<bool>().prop_map(|d| Value::Done(Some(d))).boxed(),
    }
}

/// Notes text from lines (`None` when there are none).
fn notes_of(lines: &[&str]) -> Option<String> {
    (!lines.is_empty()).then(|| lines.iter().map(|line| format!("{line}\n")).collect())
}

/// A small edit of a set of tags or of notes.
#[derive(Clone, Debug)]
enum Edit {
    Toggle(&'static str),
    Insert(usize, &'static str),
    Delete(usize),
    Replace(usize, &'static str),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        select(TAGS.to_vec()).prop_map(Edit::Toggle),
        (0..8usize, select(LINES.to_vec())).prop_map(|(at, line)| Edit::Insert(at, line)),
        (0..8usize).prop_map(Edit::Delete),
        (0..8usize, select(LINES.to_vec())).prop_map(|(at, line)| Edit::Replace(at, line)),
    ]
}

/// Applies an edit to tags or notes; other fields get `otherwise`.
fn edited(value: &Value, edit: &Edit, otherwise: &Value) -> Value {
    match (value, edit) {
        (Value::Tags(names), Edit::Toggle(name)) => {
            let mut names = names.clone();
            if !names.remove(*name) {
                names.insert((*name).to_owned());
            }
            Value::Tags(names)
        }
        (Value::Notes(text), edit) => {
            let mut lines: Vec<&str> = text.as_deref().unwrap_or("").lines().collect();
            let at = |i: usize, extra: usize| i % (lines.len() + extra).max(1);
            match *edit {
                // A tag name makes a fine last line.
                Edit::Toggle(line) => lines.push(line),
                Edit::Insert(i, line) => lines.insert(at(i, 1), line),
                Edit::Delete(i) if !lines.is_empty() => {
                    lines.remove(at(i, 0));
                }
                Edit::Replace(i, line) if !lines.is_empty() => {
                    let i = at(i, 0);
                    lines[i] = line;
                }
                _ => {}
            }
            Value::Notes(notes_of(&lines))
        }
        _ => otherwise.clone(),
    }
}

/// One field's base and the two sides (all canonical, Inbox vocabulary).
#[derive(Clone, Debug)]
struct Triple {
    base: Option<Value>,
    inbox: Value,
    crm: Value,
}

/// Each side is the base (a third of the time), an edit of it (half), or a fresh value.
fn triple(field: Field) -> impl Strategy<Value = Triple> {
    (
        (fresh(field), fresh(field), fresh(field)),
        (edit(), edit()),
        (0..6u8, 0..6u8),
        proptest::bool::weighted(0.75),
    )
        .prop_map(
            |(
                (ancestor, fresh_inbox, fresh_crm),
                (edit_inbox, edit_crm),
                (pick_inbox, pick_crm),
                has_base,
            )| {
                let side = |pick: u8, edit: &Edit, fresh: &Value| match pick {
                    0 | 1 => ancestor.clone(),
                    2..=4 => edited(&ancestor, edit, fresh),
                    _ => fresh.clone(),
                };
                Triple {
                    inbox: side(pick_inbox, &edit_inbox, &fresh_inbox),
                    crm: side(pick_crm, &edit_crm, &fresh_crm),
                    base: has_base.then_some(ancestor.clone()),
                }
            },
        )
}

/// How raw values are spelled, and what may be off, on each side.
#[derive(Clone, Copy, Debug)]
struct Knobs {
    /// CRM status spelling: 0 mapped value, 1 mapped lowercase, 2 unmapped.
    crm_status: u8,
    /// CRM owner spelling: 0 as is, 1 uppercase, 2 not a member.
    crm_owner: u8,
    /// An Inbox thread carries a raw member id instead of an e-mail.
    inbox_member_id: bool,
}

fn knobs() -> impl Strategy<Value = Knobs> {
    (
        prop_oneof![6 => Just(0u8), 2 => Just(1), 1 => Just(2)],
        prop_oneof![6 => Just(0u8), 2 => Just(1), 1 => Just(2)],
        proptest::bool::weighted(0.05),
    )
        .prop_map(|(crm_status, crm_owner, inbox_member_id)| Knobs {
            crm_status,
            crm_owner,
            inbox_member_id,
        })
}

/// The identity knobs: every value spelled canonically and mappable.
const CLEAN: Knobs = Knobs {
    crm_status: 0,
    crm_owner: 0,
    inbox_member_id: false,
};

/// Threads: (account, deviates from the Inbox value, deviating assignee, deviating done).
type ThreadSpec = (&'static str, bool, Option<&'static str>, bool);

fn thread_specs(range: std::ops::RangeInclusive<usize>) -> impl Strategy<Value = Vec<ThreadSpec>> {
    proptest::collection::vec(
        (
            select(ACCOUNTS.to_vec()),
            proptest::bool::weighted(0.25),
            proptest::option::of(select(MEMBERS.to_vec())),
            any::<bool>(),
        ),
        range,
    )
}

/// Builds a link from per-field triples, thread specs and spelling knobs.
fn build(
    triples: &[Triple; 6],
    specs: &[ThreadSpec],
    knobs: Knobs,
    times: (Option<u32>, Option<u32>),
    vocab: &Vocabulary,
) -> LinkInput {
    let mut link = input();
    for (field, triple) in Field::ALL.into_iter().zip(triples) {
        if let Some(base) = &triple.base {
            link.base.set(base.clone());
        }
        if !field.is_thread_field() {
            link.inbox.fields.set(triple.inbox.clone());
        }
        link.crm.fields.set(crm_raw(&triple.crm, knobs, vocab));
    }
    let (inbox_assignee, inbox_done) = match (&triples[4].inbox, &triples[5].inbox) {
        (Value::Assignee(a), Value::Done(d)) => (a.clone(), d.unwrap_or(false)),
        _ => unreachable!("triples follow Field::ALL"),
    };
    link.inbox.threads = specs
        .iter()
        .enumerate()
        .map(|(i, (account, deviates, assignee, done))| {
            let mut t = thread(
                &format!("t{i}"),
                account,
                inbox_assignee.as_deref(),
                inbox_done,
            );
            if *deviates {
                t.assignee = assignee.map(str::to_owned);
                t.done = *done;
            }
            if knobs.inbox_member_id && i == 0 {
                t.assignee = Some("mem_9".to_owned());
            }
            t
        })
        .collect();
    link.inbox.updated_at = times.0.map(at);
    link.crm.updated_at = times.1.map(at);
    link
}

/// The raw CRM spelling of a canonical value.
fn crm_raw(value: &Value, knobs: Knobs, vocab: &Vocabulary) -> Value {
    match value {
        Value::Status(Some(name)) => Value::Status(Some(match knobs.crm_status {
            0 => vocab.status_to_crm(name).to_owned(),
            1 => vocab.status_to_crm(name).to_lowercase(),
            _ => "Qualified".to_owned(),
        })),
        Value::Assignee(Some(email)) => Value::Assignee(Some(match knobs.crm_owner {
            0 => email.clone(),
            1 => email.to_uppercase(),
            _ => "carl@elsewhere.com".to_owned(),
        })),
        other => other.clone(),
    }
}

/// A field's rule; mostly the default or `merge`, so that merges happen often.
fn rule() -> impl Strategy<Value = Option<Rule>> {
    prop_oneof![
        3 => Just(None),
        2 => Just(Some(Rule::Merge)),
        1 => Just(Some(Rule::Manual)),
        1 => Just(Some(Rule::InboxWins)),
        1 => Just(Some(Rule::CrmWins)),
        1 => Just(Some(Rule::Newest)),
    ]
}

fn any_policy(modes: Vec<FanoutMode>) -> impl Strategy<Value = Policy> {
    (
        prop_oneof![3 => Just(Field::ALL.to_vec()), 1 => subsequence(Field::ALL.to_vec(), 0..=6)],
        proptest::collection::vec(rule(), 6),
        select(modes),
    )
        .prop_map(|(fields, rules, fanout)| Policy {
            fields: fields.into_iter().collect(),
            rules: Field::ALL
                .into_iter()
                .zip(rules)
                .filter_map(|(field, rule)| Some((field, rule?)))
                .collect(),
            fanout,
        })
}

fn all_modes() -> Vec<FanoutMode> {
    vec![
        FanoutMode::Log,
        FanoutMode::Skip,
        FanoutMode::Force,
        FanoutMode::PerThread {
            account: "sales_a".into(),
        },
    ]
}

fn triples() -> impl Strategy<Value = [Triple; 6]> {
    Field::ALL.map(triple)
}

fn times() -> impl Strategy<Value = (Option<u32>, Option<u32>)> {
    (proptest::option::of(0..3u32), proptest::option::of(0..3u32))
}

/// Any link, with the test vocabulary's spellings and mistakes.
fn any_link() -> impl Strategy<Value = LinkInput> {
    (triples(), thread_specs(0..=3), knobs(), times())
        .prop_map(|(triples, specs, knobs, times)| build(&triples, &specs, knobs, times, &vocab()))
}

/// The identity vocabulary: every status maps to itself, every owner is a member.
fn identity_vocab() -> Vocabulary {
    let mut vocab = vocab();
    vocab.status_map = STATUSES
        .iter()
        .map(|s| ((*s).to_owned(), (*s).to_owned()))
        .collect();
    vocab
}

// ---------------------------------------------------------------------------------------------
// Applying plans and reading sides back.

/// Applies a link plan to both sides and moves the base to the agreed values.
fn apply(input: &LinkInput, plan: &LinkPlan) -> LinkInput {
    let mut out = input.clone();
    for change in plan.inbox.iter().flat_map(|patch| &patch.changes) {
        if change.field().is_thread_field() {
            // A prospect-level write of a thread field lands on every thread.
            for thread in &mut out.inbox.threads {
                set_thread(thread, &change.new);
            }
        } else {
            out.inbox.fields.set(change.new.clone());
        }
    }
    for patch in &plan.threads {
        let thread = out
            .inbox
            .threads
            .iter_mut()
            .find(|t| t.thread_id == patch.thread_id)
            .expect("thread patches name existing threads");
        for change in &patch.changes {
            set_thread(thread, &change.new);
        }
    }
    for change in plan.crm.iter().flat_map(|patch| &patch.changes) {
        out.crm.fields.set(change.new.clone());
    }
    for value in &plan.agreed {
        out.base.set(value.clone());
    }
    out
}

fn set_thread(thread: &mut ThreadState, value: &Value) {
    match value {
        Value::Assignee(email) => thread.assignee = email.clone(),
        Value::Done(done) => thread.done = done.expect("done is never written empty"),
        other => panic!("{other:?} written to a thread"),
    }
}

/// The Inbox value of a field as the core reads it, if defined.
fn inbox_value(input: &LinkInput, policy: &Policy, field: Field) -> Option<Value> {
    if field.is_thread_field() {
        match inbox_view(field, &input.inbox.threads, &policy.fanout) {
            InboxView::Value { value, .. } => Some(value),
            _ => None,
        }
    } else {
        Some(canonical(input.inbox.fields.get(field)))
    }
}

/// The CRM value of a field in Inbox vocabulary, if it maps.
fn crm_value(input: &LinkInput, vocab: &Vocabulary, field: Field, inbox: &Value) -> Option<Value> {
    let base = input.base.get(field).map(canonical);
    crm_to_inbox(vocab, &input.crm.fields.get(field), inbox, base.as_ref()).ok()
}

/// Every field written on either side, with duplicates.
fn written(plan: &LinkPlan) -> Vec<Field> {
    let inbox = plan.inbox.iter().flat_map(|p| &p.changes);
    let threads = plan.threads.iter().flat_map(|p| &p.changes);
    let crm = plan.crm.iter().flat_map(|p| &p.changes);
    inbox.chain(threads).chain(crm).map(Change::field).collect()
}

/// Property (e) and the shape of a plan: conflicted fields are neither written nor agreed,
/// changes are in field order, a field is agreed at most once.
fn check_shape(plan: &LinkPlan) -> Result<(), TestCaseError> {
    let written = written(plan);
    for conflict in &plan.conflicts {
        prop_assert!(
            !written.contains(&conflict.field),
            "write to conflicted {}",
            conflict.field
        );
        prop_assert!(plan.agreed.iter().all(|v| v.field() != conflict.field));
    }
    let agreed: Vec<Field> = plan.agreed.iter().map(Value::field).collect();
    prop_assert!(
        agreed.windows(2).all(|w| w[0] < w[1]),
        "agreed out of order"
    );
    for changes in [
        plan.inbox.as_ref().map(|p| &p.changes),
        plan.crm.as_ref().map(|p| &p.changes),
    ]
    .into_iter()
    .flatten()
    .chain(plan.threads.iter().map(|p| &p.changes))
    {
        prop_assert!(!changes.is_empty());
        prop_assert!(changes.windows(2).all(|w| w[0].field() < w[1].field()));
        prop_assert!(
            changes.iter().all(|c| c.old != c.new),
            "no-op change {changes:?}"
        );
        prop_assert!(changes.iter().all(|c| agreed.contains(&c.field())));
    }
    Ok(())
}

/// Conflicts as (field, kind), for comparing runs.
fn conflict_kinds(plan: &LinkPlan) -> BTreeSet<(Field, ConflictKind)> {
    plan.conflicts.iter().map(|c| (c.field, c.kind)).collect()
}

// ---------------------------------------------------------------------------------------------
// Symmetry.

/// The same link seen from the other side: Inbox values become CRM values and back, on one
/// thread.
fn swap(input: &LinkInput) -> LinkInput {
    let mut out = input.clone();
    let thread = &input.inbox.threads[0];
    for field in [Field::Tags, Field::Status, Field::Valuation, Field::Notes] {
        out.inbox.fields.set(input.crm.fields.get(field));
        out.crm.fields.set(input.inbox.fields.get(field));
    }
    out.crm.fields.assignee = thread.assignee.clone();
    out.crm.fields.done = Some(thread.done);
    out.inbox.threads[0].assignee = input.crm.fields.assignee.clone();
    out.inbox.threads[0].done = input.crm.fields.done.unwrap_or(false);
    out.inbox.updated_at = input.crm.updated_at;
    out.crm.updated_at = input.inbox.updated_at;
    out
}

fn swap_policy(policy: &Policy) -> Policy {
    let mut out = policy.clone();
    for rule in out.rules.values_mut() {
        *rule = match *rule {
            Rule::InboxWins => Rule::CrmWins,
            Rule::CrmWins => Rule::InboxWins,
            other => other,
        };
    }
    out
}

/// A plan seen from the other side (conflict details are prose and are left out).
fn mirror(plan: &LinkPlan) -> LinkPlan {
    LinkPlan {
        key: plan.key.clone(),
        inbox: plan.crm.as_ref().map(|p| InboxPatch {
            changes: p.changes.clone(),
        }),
        threads: Vec::new(),
        crm: plan.inbox.as_ref().map(|p| CrmPatch {
            changes: p.changes.clone(),
        }),
        agreed: plan.agreed.clone(),
        conflicts: plan
            .conflicts
            .iter()
            .map(|c| Conflict {
                inbox: c.crm.clone(),
                crm: c.inbox.clone(),
                detail: String::new(),
                ..c.clone()
            })
            .collect(),
    }
}

fn without_details(mut plan: LinkPlan) -> LinkPlan {
    for conflict in &mut plan.conflicts {
        conflict.detail.clear();
    }
    plan
}

/// Links for the symmetry property: canonical spellings, exactly one thread, no per-thread mode
/// (a thread patch has no CRM counterpart).
fn symmetric_case() -> impl Strategy<Value = (LinkInput, Policy)> {
    let modes = vec![FanoutMode::Log, FanoutMode::Skip, FanoutMode::Force];
    (
        triples(),
        select(ACCOUNTS.to_vec()),
        times(),
        any_policy(modes),
    )
        .prop_map(|(triples, account, times, policy)| {
            let link = build(
                &triples,
                &[(account, false, None, false)],
                CLEAN,
                times,
                &identity_vocab(),
            );
            (link, policy)
        })
}

// ---------------------------------------------------------------------------------------------
// No lost update.

/// A link where exactly one side changed `field` from the base, everything mappable, and the
/// threads (at least one) agreeing.
fn one_sided_change() -> impl Strategy<Value = (LinkInput, Policy, Field, bool, Value)> {
    (
        any_link(),
        any_policy(all_modes()),
        select(Field::ALL.to_vec()),
        any::<bool>(),
    )
        .prop_flat_map(|(link, policy, field, inbox_changed)| {
            (
                Just(link),
                Just(policy),
                Just(field),
                Just(inbox_changed),
                fresh(field),
                fresh(field),
            )
        })
        .prop_filter_map(
            "the change must change something",
            |(mut link, mut policy, field, inbox_changed, base, new)| {
                if base == new {
                    return None;
                }
                policy.fields.insert(field);
                link.base.set(base.clone());
                let (inbox, crm) = if inbox_changed {
                    (&new, &base)
                } else {
                    (&base, &new)
                };
                link.crm.fields.set(crm_raw(crm, CLEAN, &vocab()));
                if field.is_thread_field() {
                    if link.inbox.threads.is_empty() {
                        link.inbox
                            .threads
                            .push(thread("t9", "sales_a", None, false));
                    }
                    for thread in &mut link.inbox.threads {
                        set_thread(thread, inbox);
                    }
                } else {
                    link.inbox.fields.set(inbox.clone());
                }
                Some((link, policy, field, inbox_changed, new))
            },
        )
}

// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// (a) Applying a plan and reconciling again writes nothing, settles the same values and
    /// raises no new conflict; (e) holds on both runs.
    #[test]
    fn replanning_after_apply_is_a_noop(link in any_link(), policy in any_policy(all_modes())) {
        let vocab = vocab();
        let first = reconcile_link(&link, &policy, &vocab);
        check_shape(&first)?;
        let applied = apply(&link, &first);
        let second = reconcile_link(&applied, &policy, &vocab);
        check_shape(&second)?;
        prop_assert!(second.is_noop(), "second plan writes: {:?}", summary(&second));
        prop_assert_eq!(&second.agreed, &first.agreed);
        prop_assert!(conflict_kinds(&second).is_subset(&conflict_kinds(&first)));
    }

    /// (b) A field changed on one side only ends up on both sides.
    #[test]
    fn a_one_sided_change_is_never_lost(case in one_sided_change()) {
        let (link, policy, field, inbox_changed, new) = case;
        // Sides hold notes in their own line-break convention; they compare normalised.
        let new = canonical(new);
        let vocab = vocab();
        let plan = reconcile_link(&link, &policy, &vocab);
        check_shape(&plan)?;
        prop_assert!(
            plan.conflicts.iter().all(|c| c.field != field),
            "conflict on {} (changed in {}): {:?}",
            field, if inbox_changed { "inbox" } else { "crm" }, plan.conflicts
        );
        let applied = apply(&link, &plan);
        let inbox = inbox_value(&applied, &policy, field);
        prop_assert_eq!(inbox.as_ref(), Some(&new));
        prop_assert_eq!(crm_value(&applied, &vocab, field, &new), Some(new));
    }

    /// (c) Swapping the sides (and inbox-wins with crm-wins) mirrors the plan.
    #[test]
    fn swapping_the_sides_mirrors_the_plan(case in symmetric_case()) {
        let (link, policy) = case;
        let vocab = identity_vocab();
        let plan = reconcile_link(&link, &policy, &vocab);
        check_shape(&plan)?;
        let swapped = reconcile_link(&swap(&link), &swap_policy(&policy), &vocab);
        prop_assert_eq!(without_details(swapped), mirror(&plan));
    }

    /// (d) After applying a plan, every agreed field holds the agreed value on both sides; with
    /// no conflict, every synced field is agreed unless Inbox cannot hold it (no thread, or
    /// disagreeing threads under `skip`).
    #[test]
    fn applied_plans_converge(link in any_link(), policy in any_policy(all_modes())) {
        let vocab = vocab();
        let plan = reconcile_link(&link, &policy, &vocab);
        check_shape(&plan)?;
        let applied = apply(&link, &plan);
        for value in &plan.agreed {
            let field = value.field();
            prop_assert_eq!(inbox_value(&applied, &policy, field), Some(value.clone()));
            prop_assert_eq!(crm_value(&applied, &vocab, field, value), Some(value.clone()));
        }
        if plan.conflicts.is_empty() {
            for field in &policy.fields {
                let agreed = plan.agreed.iter().any(|v| v.field() == *field);
                let skipped = field.is_thread_field()
                    && (link.inbox.threads.is_empty() || policy.fanout == FanoutMode::Skip);
                prop_assert!(agreed || skipped, "{} neither agreed nor skipped", field);
            }
        }
    }

    /// The plan is sorted by key and does not depend on the order of its inputs.
    #[test]
    fn the_plan_does_not_depend_on_input_order(
        (links, shuffled) in proptest::collection::vec(any_link(), 0..8).prop_flat_map(|links| {
            let links: Vec<LinkInput> = links
                .into_iter()
                .enumerate()
                .map(|(i, mut link)| {
                    link.key = key(&format!("p{}", i % 5), &format!("r{i}"));
                    link
                })
                .collect();
            (Just(links.clone()), Just(links).prop_shuffle())
        }),
        policy in any_policy(all_modes()),
    ) {
        let vocab = vocab();
        let planned = plan(&links, &policy, &vocab);
        prop_assert_eq!(&planned, &plan(&shuffled, &policy, &vocab));
        prop_assert!(planned.links.windows(2).all(|w| w[0].key < w[1].key));
    }
}
