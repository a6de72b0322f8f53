//! Unit tests of the v2 pull's decisions (the pull itself is tested through the binary in
//! tests/it/v2_incremental.rs).

use serde_json::json;

use super::replay::{Delta, Said, Touched};
use super::*;
use crate::inbox::v2::{Change, ContactId, Event, ThreadId};
use crate::store::pull_state::EventLog;

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

fn stored() -> PullState {
    PullState {
        event_seq: Some(40),
        team_id: Some("team".into()),
        last_full_at: Some(at("2026-01-01T00:00:00Z")),
        events_read_at: Some(at("2026-01-01T06:00:00Z")),
        event_log: EventLog::Unproven,
    }
}

#[test]
fn incremental_needs_a_v2_seq_of_this_team_and_a_recent_walk() {
    let now = at("2026-01-01T12:00:00Z");
    let check = |state: &PullState, v2: bool, full: bool, hours: u64| {
        precheck(state, v2, "team", full, hours, now)
    };
    assert_eq!(check(&stored(), true, false, 24), Ok(40));
    assert_eq!(check(&stored(), true, true, 24), Err(FullReason::Requested));
    assert_eq!(check(&stored(), true, false, 12), Err(FullReason::Schedule));
    assert_eq!(
        check(&stored(), false, false, 24),
        Err(FullReason::V1Mirror)
    );
    let no_seq = PullState {
        event_seq: None,
        ..stored()
    };
    assert_eq!(check(&no_seq, false, false, 24), Err(FullReason::NoCursor));
    let other_team = PullState {
        team_id: Some("other".into()),
        ..stored()
    };
    assert_eq!(
        check(&other_team, true, false, 24),
        Err(FullReason::TeamChanged)
    );
    let never_walked = PullState {
        last_full_at: None,
        ..stored()
    };
    assert_eq!(
        check(&never_walked, true, false, 24),
        Err(FullReason::Schedule)
    );
}

fn event(seq: u64, kind: &str, object: (&str, &str), change: Change) -> Event {
    Event {
        id: format!("e{seq}"),
        seq,
        event_type: kind.into(),
        created_at: at("2026-01-01T00:00:00Z"),
        object_type: object.0.into(),
        object_id: object.1.into(),
        change,
    }
}

#[test]
fn contact_events_carry_values_and_thread_events_name_re_reads() {
    let mut touched = Touched::default();
    let thread = |id: &str| ThreadId::from(id);
    let tags = |ids: &[&str]| Change::ContactTags {
        tag_ids: ids.iter().map(|s| s.to_string()).collect(),
    };
    touched.add(&event(
        1,
        "contact.tagsChanged",
        ("contact", "c1"),
        tags(&["b"]),
    ));
    touched.add(&event(
        2,
        "contact.tagsChanged",
        ("contact", "c1"),
        tags(&["b", "a"]),
    ));
    let notes = Change::ContactNotes { notes: None };
    touched.add(&event(3, "contact.notesChanged", ("contact", "c1"), notes));
    let archived = Change::ThreadArchived { archived: true };
    touched.add(&event(4, "thread.archived", ("thread", "t1"), archived));
    let sent = Change::Message {
        thread_id: thread("t2"),
        new_message: true,
    };
    touched.add(&event(5, "message.sent", ("message", "m1"), sent.clone()));
    touched.add(&event(6, "message.reactionAdded", ("message", "m2"), {
        Change::Message {
            thread_id: thread("t3"),
            new_message: false,
        }
    }));
    let assignee = Change::ContactAssignee { assignee_id: None };
    touched.add(&event(
        7,
        "contact.assigneeChanged",
        ("contact", "c2"),
        assignee,
    ));
    touched.add(&event(
        8,
        "contact.merged",
        ("contact", "c3"),
        Change::ContactOther,
    ));
    touched.add(&event(9, "thread.typing", ("thread", "t4"), Change::Other));
    touched.add(&event(
        10,
        "tag.updated",
        ("tag", "g1"),
        Change::Tag { deleted: false },
    ));
    assert!(!touched.reference_deleted);
    let target = Change::Target {
        thread_id: thread("t5"),
        contact_id: Some(ContactId::from("c9")),
    };
    touched.add(&event(11, "target.replied", ("campaign", "k1"), target));

    assert_eq!(touched.threads, ["t2", "t5"].map(ThreadId::from).into());
    // Archived and assignee events wait for the receipts: re-read unless crmsync wrote them.
    let said: Vec<(&str, &[Said])> = (touched.said.iter())
        .map(|(id, said)| (id.as_str(), said.as_slice()))
        .collect();
    assert_eq!(said, [("t1", &[Said::Done(true)][..])]);
    assert_eq!(touched.contact_said["c1"].len(), 3);
    assert_eq!(touched.contacts, ["c3"].map(ContactId::from).into());
    assert_eq!(touched.contact_threads, ["c2"].map(ContactId::from).into());
    let delta = Delta {
        tag_ids: Some(vec!["b".into(), "a".into()]),
        notes: Some(None),
        ..Delta::default()
    };
    assert_eq!(touched.deltas.len(), 2);
    assert_eq!(touched.deltas["c1"], delta);
    // The new default goes onto the contact's row; its threads are re-read for what they show.
    let default = Delta {
        default_assignee_id: Some(None),
        ..Delta::default()
    };
    assert_eq!(touched.deltas["c2"], default);
    touched.add(&event(
        12,
        "status.deleted",
        ("status", "s1"),
        Change::Status { deleted: true },
    ));
    assert!(touched.reference_deleted);
    let _ = json!({});
}

#[test]
fn an_event_is_an_echo_only_of_the_value_a_receipt_wrote() {
    use crate::engine::inputs::Names;
    use crate::reconcile::Value;
    use crate::store::Reference;
    let names = Names::new(&Reference {
        members: vec![("m1".into(), "Ann@Example.com".into(), None)],
        tags: vec![("g1".into(), "VIP".into()), ("g2".into(), "lead".into())],
        statuses: vec![("s1".into(), "Won".into())],
        ..Reference::default()
    });
    let ann = || Value::Assignee(Some("ann@example.com".into()));
    assert!(Said::Done(true).is(&Value::Done(Some(true)), &names));
    assert!(!Said::Done(false).is(&Value::Done(Some(true)), &names));
    assert!(!Said::Done(true).is(&Value::Done(None), &names));
    assert!(Said::Assignee(Some("m1".into())).is(&ann(), &names));
    // crmsync cleared a thread's own assignee; the thread shows the contact default instead.
    assert!(!Said::Assignee(Some("m1".into())).is(&Value::Assignee(None), &names));
    assert!(Said::Assignee(None).is(&Value::Assignee(None), &names));
    let nobody = Value::Assignee(Some("nobody@example.com".into()));
    assert!(!Said::Assignee(Some(String::new())).is(&nobody, &names));
    assert!(!Said::Assignee(Some("m1".into())).is(&Value::Done(Some(true)), &names));
    let tags = Value::Tags(["VIP".to_string(), "lead".to_string()].into());
    assert!(Said::Tags(vec!["g2".into(), "g1".into()]).is(&tags, &names));
    assert!(!Said::Tags(vec!["g1".into()]).is(&tags, &names));
    let unknown = Value::Tags(["new".to_string()].into());
    assert!(!Said::Tags(vec![]).is(&unknown, &names));
    assert!(Said::Status(Some("s1".into())).is(&Value::Status(Some("Won".into())), &names));
    assert!(!Said::Status(None).is(&Value::Status(Some("Won".into())), &names));
    assert!(Said::Notes(Some(String::new())).is(&Value::Notes(None), &names));
    assert!(!Said::Notes(Some("a".into())).is(&Value::Notes(Some("b".into())), &names));
}
