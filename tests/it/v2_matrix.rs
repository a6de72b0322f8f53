//! Every row of the merge table (docs/design.md §3) end to end on Inbox API v2: the real binary,
//! the v2 fake and a CSV export. One side changed, both changed to the same value, both changed
//! differently (a conflict that writes nothing), cleared values, tags as sets, the three-way
//! notes merge and the first sync; each followed by a second sync that writes nothing. The
//! helpers here are shared by the other `v2_matrix_*` files.

use crmsync_fake::inbox_v2::{ContactEdit, ContactView, ThreadEdit};
use serde_json::Value;

use crate::support::{assert_exit, col, json};
use crate::v2::{V2World, agreeing_row, baseline_in, read_rows, write_rows};

/// No stop on the share of records a test changes (a handful of edits in a small world).
pub(crate) const NO_SHARE_STOP: &str = "[safety]\nmax_change_ratio = 1.0\n";

/// `sync --json` (plus `args`), asserting exit 0.
pub(crate) async fn sync(world: &V2World, args: &[&str]) -> Value {
    let mut all = vec!["sync", "--json"];
    all.extend_from_slice(args);
    let out = world.crmsync(&all).await;
    assert_exit(&out, 0);
    json(&out)
}

pub(crate) fn assert_writes(report: &Value, inbox: u64, crm: u64) {
    assert_eq!(report["writes"]["inbox"], inbox, "{report}");
    assert_eq!(report["writes"]["crm"], crm, "{report}");
}

/// A sync that writes nothing on either side: no API write, the export's bytes unchanged.
pub(crate) async fn assert_second_sync_writes_nothing(world: &V2World) {
    let writes = world.fake.write_log().len();
    let export = std::fs::read(world.export()).unwrap();
    let report = sync(world, &[]).await;
    assert_writes(&report, 0, 0);
    assert_eq!(report["conflicts"]["opened"], 0, "{report}");
    let log = world.fake.write_log();
    assert_eq!(log.len(), writes, "{:?}", &log[writes..]);
    assert_eq!(std::fs::read(world.export()).unwrap(), export);
}

/// Rewrites the export through `edit`.
pub(crate) fn edit_crm(world: &V2World, edit: impl FnOnce(&mut Vec<Vec<String>>)) {
    let mut rows = read_rows(&world.export());
    edit(&mut rows);
    write_rows(&world.export(), &rows);
}

/// One cell of the export.
pub(crate) fn cell(world: &V2World, row: usize, column: &str) -> String {
    read_rows(&world.export())[row][col(column)].clone()
}

/// The open conflicts of one contact as `(kind, field)`.
pub(crate) async fn open_conflicts(world: &V2World, contact_id: &str) -> Vec<(String, String)> {
    let list = json(&world.crmsync(&["conflicts", "list", "--json"]).await);
    let list = list.as_array().unwrap().iter();
    list.filter(|c| c["prospect_id"] == contact_id)
        .map(|c| {
            (
                c["kind"].as_str().unwrap().into(),
                c["field"].as_str().unwrap().into(),
            )
        })
        .collect()
}

pub(crate) fn edit_inbox(world: &V2World, c: &ContactView, edit: ContactEdit) {
    world.fake.edit_contact(&c.id, edit);
}

/// A status name other than the contact's.
pub(crate) fn other_status(world: &V2World, c: &ContactView, not: &[&str]) -> String {
    let mut statuses = world.fake.statuses().into_iter().map(|(_, name)| name);
    statuses
        .find(|s| Some(s) != c.status.as_ref() && !not.contains(&s.as_str()))
        .unwrap()
}

/// A member e-mail other than the contact's thread's assignee (and other than `not`).
pub(crate) fn other_member(world: &V2World, c: &ContactView, not: &[&str]) -> String {
    let current = world.fake.thread(&c.thread_ids[0]).unwrap().assignee_email;
    let mut members = world.fake.members().into_iter().map(|(_, email)| email);
    members
        .find(|e| Some(e) != current.as_ref() && !not.contains(&e.as_str()))
        .unwrap()
}

/// Tag names the contact does not have.
pub(crate) fn tags_not_on(world: &V2World, c: &ContactView) -> Vec<String> {
    let tags = world.fake.tags().into_iter().map(|(_, name)| name);
    tags.filter(|t| !c.tags.contains(t)).collect()
}

pub(crate) fn archived(world: &V2World, c: &ContactView) -> bool {
    world.fake.thread(&c.thread_ids[0]).unwrap().archived
}

/// The tags cell as a sorted list.
pub(crate) fn tag_set(text: &str) -> Vec<String> {
    let mut tags: Vec<String> = text
        .split(';')
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect();
    tags.sort();
    tags
}

/// The API writes the fake has applied (`writes.inbox` counts write requests).
pub(crate) fn api_writes(world: &V2World) -> u64 {
    world.fake.write_log().len() as u64
}

/// The keys of each `PATCH /contacts/{id}` body sent for `contact_id`.
fn patch_keys(world: &V2World, contact_id: &str) -> Vec<Vec<String>> {
    let log = world.fake.write_log().into_iter();
    log.filter(|w| w.route == "PATCH /contacts/{contactId}" && w.params[0] == contact_id)
        .map(|w| w.body.as_object().unwrap().keys().cloned().collect())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn each_field_changed_on_one_side_alone_is_copied_to_the_other_on_v2() {
    let (world, c) = baseline_in(60, 12, NO_SHARE_STOP).await;
    // CRM side: even contacts; Inbox side: odd ones; one field per pair.
    let crm_status = other_status(&world, &c[0], &[]);
    let crm_owner = other_member(&world, &c[8], &[]);
    let crm_tag = tags_not_on(&world, &c[6]).remove(0);
    let crm_done = !archived(&world, &c[10]);
    edit_crm(&world, |rows| {
        rows[0][col("Lead Status")] = crm_status.clone();
        rows[2][col("Deal Value")] = "1234.5".into();
        rows[4][col("Notes")] = "rewritten in the CRM".into();
        rows[6][col("Tags")] = format!("{};{crm_tag}", rows[6][col("Tags")]);
        rows[8][col("Owner Email")] = crm_owner.clone();
        rows[10][col("Done")] = crm_done.to_string();
    });
    let inbox_status = other_status(&world, &c[1], &[]);
    let inbox_owner = other_member(&world, &c[9], &[]);
    let inbox_tag = tags_not_on(&world, &c[7]).remove(0);
    let inbox_archived = !archived(&world, &c[11]);
    let edits = [
        (
            1,
            ContactEdit {
                status: Some(Some(inbox_status.clone())),
                ..Default::default()
            },
        ),
        (
            3,
            ContactEdit {
                valuation: Some(Some(987.0)),
                ..Default::default()
            },
        ),
        (
            5,
            ContactEdit {
                notes: Some(Some("rewritten in Inbox".into())),
                ..Default::default()
            },
        ),
        (
            7,
            ContactEdit {
                tags_add: vec![inbox_tag.clone()],
                ..Default::default()
            },
        ),
    ];
    for (i, edit) in edits {
        edit_inbox(&world, &c[i], edit);
    }
    let thread = |i: usize| c[i].thread_ids[0].clone();
    let owner = ThreadEdit {
        assignee: Some(Some(inbox_owner.clone())),
        ..Default::default()
    };
    world.fake.edit_thread(&thread(9), owner);
    let done = ThreadEdit {
        archived: Some(inbox_archived),
        ..Default::default()
    };
    world.fake.edit_thread(&thread(11), done);

    let report = sync(&world, &[]).await;
    assert_eq!(report["planned"]["inbox"], 6, "{report}");
    assert_writes(&report, api_writes(&world), 6);
    assert_eq!(report["conflicts"]["opened"], 0, "{report}");
    let now = |i: usize| world.fake.contact(&c[i].id).unwrap();
    assert_eq!(now(0).status, Some(crm_status));
    assert_eq!(now(2).valuation.unwrap().to_string(), "1234.5");
    assert_eq!(now(4).notes.as_deref(), Some("rewritten in the CRM"));
    assert!(now(6).tags.contains(&crm_tag), "{:?}", now(6).tags);
    assert_eq!(now(6).tags.len(), c[6].tags.len() + 1);
    let t8 = world.fake.thread(&thread(8)).unwrap();
    assert_eq!(t8.assignee_email.as_deref(), Some(crm_owner.as_str()));
    assert_eq!(now(8).assignee_email.as_deref(), Some(crm_owner.as_str()));
    assert_eq!(archived(&world, &c[10]), crm_done);
    // Only the changed field is in each contact PATCH.
    for (i, key) in [
        (0, "status"),
        (2, "valuation"),
        (4, "notes"),
        (8, "assigneeId"),
    ] {
        assert_eq!(
            patch_keys(&world, &c[i].id),
            vec![vec![key.to_string()]],
            "{i}"
        );
    }
    assert!(
        patch_keys(&world, &c[6].id).is_empty(),
        "a tag is a tag call only"
    );
    assert!(
        patch_keys(&world, &c[10].id).is_empty(),
        "done is a thread PATCH only"
    );
    assert_eq!(cell(&world, 1, "Lead Status"), inbox_status);
    assert_eq!(cell(&world, 3, "Deal Value"), "987");
    assert_eq!(cell(&world, 5, "Notes"), "rewritten in Inbox");
    let mut expected = c[7].tags.clone();
    expected.push(inbox_tag);
    expected.sort();
    assert_eq!(tag_set(&cell(&world, 7, "Tags")), expected);
    assert_eq!(cell(&world, 9, "Owner Email"), inbox_owner);
    assert_eq!(cell(&world, 11, "Done"), inbox_archived.to_string());
    // The CRM-edited rows are as the CRM left them (nothing written back).
    for i in [0, 2, 4, 6, 8, 10] {
        assert_eq!(
            read_rows(&world.export())[i],
            agreeing_row(&world, i, &now(i)),
            "{i}"
        );
    }
    assert_second_sync_writes_nothing(&world).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn both_sides_changed_to_the_same_value_moves_the_base_and_writes_nothing_on_v2() {
    let (world, c) = baseline_in(60, 8, NO_SHARE_STOP).await;
    let status = other_status(&world, &c[0], &[]);
    let owner = other_member(&world, &c[3], &[]);
    let tag = tags_not_on(&world, &c[4]).remove(0);
    let done = !archived(&world, &c[5]);
    edit_crm(&world, |rows| {
        rows[0][col("Lead Status")] = status.clone();
        rows[1][col("Deal Value")] = "777".into();
        rows[2][col("Notes")] = "the same on both sides".into();
        rows[3][col("Owner Email")] = owner.clone();
        rows[4][col("Tags")] = format!("{};{tag}", rows[4][col("Tags")]);
        rows[5][col("Done")] = done.to_string();
    });
    let same = [
        (
            0,
            ContactEdit {
                status: Some(Some(status)),
                ..Default::default()
            },
        ),
        (
            1,
            ContactEdit {
                valuation: Some(Some(777.0)),
                ..Default::default()
            },
        ),
        (
            2,
            ContactEdit {
                notes: Some(Some("the same on both sides".into())),
                ..Default::default()
            },
        ),
        (
            4,
            ContactEdit {
                tags_add: vec![tag],
                ..Default::default()
            },
        ),
    ];
    for (i, edit) in same {
        edit_inbox(&world, &c[i], edit);
    }
    let assignee = ThreadEdit {
        assignee: Some(Some(owner)),
        ..Default::default()
    };
    world.fake.edit_thread(&c[3].thread_ids[0], assignee);
    let archive = ThreadEdit {
        archived: Some(done),
        ..Default::default()
    };
    world.fake.edit_thread(&c[5].thread_ids[0], archive);

    let report = sync(&world, &[]).await;
    assert_writes(&report, 0, 0);
    assert_eq!(report["conflicts"]["opened"], 0, "{report}");
    assert_eq!(api_writes(&world), 0);
    assert_second_sync_writes_nothing(&world).await;
    // The base moved: the CRM putting the old valuation back is a one-sided change, copied to
    // Inbox (with the base still at the old value it would look like an Inbox edit instead).
    let old = c[1]
        .valuation
        .as_ref()
        .map(|v| v.to_string())
        .unwrap_or_default();
    edit_crm(&world, |rows| rows[1][col("Deal Value")] = old.clone());
    let report = sync(&world, &[]).await;
    assert_writes(&report, 1, 0);
    let now = world.fake.contact(&c[1].id).unwrap();
    assert_eq!(
        now.valuation.map(|v| v.to_string()).unwrap_or_default(),
        old
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn both_sides_changed_differently_is_a_conflict_per_field_that_writes_nothing_on_v2() {
    // Done is a yes/no: two sides that both moved it agree, so it has no row here.
    let (world, c) = baseline_in(60, 8, NO_SHARE_STOP).await;
    let (crm_status, inbox_status) = {
        let crm = other_status(&world, &c[0], &[]);
        let inbox = other_status(&world, &c[0], &[&crm]);
        (crm, inbox)
    };
    let crm_owner = other_member(&world, &c[2], &[]);
    let inbox_owner = other_member(&world, &c[2], &[&crm_owner]);
    let base_notes = "first line\nsecond line\nthird line";
    // Notes with a base of three lines, to edit the same line differently below.
    edit_inbox(
        &world,
        &c[4],
        ContactEdit {
            notes: Some(Some(base_notes.into())),
            ..Default::default()
        },
    );
    assert_writes(&sync(&world, &[]).await, 0, 1);
    edit_crm(&world, |rows| {
        rows[0][col("Lead Status")] = crm_status.clone();
        rows[1][col("Deal Value")] = "111".into();
        rows[2][col("Owner Email")] = crm_owner.clone();
        rows[4][col("Notes")] = "first line\nsecond line, CRM\nthird line".into();
    });
    edit_inbox(
        &world,
        &c[0],
        ContactEdit {
            status: Some(Some(inbox_status)),
            ..Default::default()
        },
    );
    edit_inbox(
        &world,
        &c[1],
        ContactEdit {
            valuation: Some(Some(222.0)),
            ..Default::default()
        },
    );
    let assignee = ThreadEdit {
        assignee: Some(Some(inbox_owner)),
        ..Default::default()
    };
    world.fake.edit_thread(&c[2].thread_ids[0], assignee);
    let notes = "first line\nsecond line, Inbox\nthird line";
    edit_inbox(
        &world,
        &c[4],
        ContactEdit {
            notes: Some(Some(notes.into())),
            ..Default::default()
        },
    );
    let writes = api_writes(&world);
    let export = std::fs::read(world.export()).unwrap();

    let report = sync(&world, &[]).await;
    assert_writes(&report, 0, 0);
    assert_eq!(api_writes(&world), writes);
    assert_eq!(std::fs::read(world.export()).unwrap(), export);
    for (i, field) in [
        (0, "status"),
        (1, "valuation"),
        (2, "assignee"),
        (4, "notes"),
    ] {
        let open = open_conflicts(&world, &c[i].id).await;
        assert!(
            open.contains(&("both-changed".into(), field.into())),
            "{field}: {open:?}"
        );
    }
    // Seen again: not opened twice, still nothing written.
    let again = sync(&world, &[]).await;
    assert_writes(&again, 0, 0);
    assert_eq!(again["conflicts"]["opened"], 0, "{again}");
    // A rule per field settles it: crm-wins for status, inbox-wins for valuation.
    world.write_config_with(
        "",
        &format!("{NO_SHARE_STOP}[policy]\nstatus = \"crm-wins\"\nvaluation = \"inbox-wins\"\n"),
    );
    let report = sync(&world, &[]).await;
    assert_writes(&report, 1, 1);
    assert_eq!(
        world.fake.contact(&c[0].id).unwrap().status,
        Some(crm_status)
    );
    assert_eq!(cell(&world, 1, "Deal Value"), "222");
    assert_second_sync_writes_nothing(&world).await;
}

/// The index of the first contact in `c` that passes `pred` and is not in `used` (then used).
pub(crate) fn pick(
    c: &[ContactView],
    used: &mut Vec<usize>,
    pred: impl Fn(&ContactView) -> bool,
) -> usize {
    let i = (0..c.len())
        .find(|i| !used.contains(i) && pred(&c[*i]))
        .expect("the seed has such a contact");
    used.push(i);
    i
}

#[tokio::test(flavor = "multi_thread")]
async fn a_value_cleared_on_one_side_is_cleared_on_the_other_on_v2() {
    let (world, c) = baseline_in(60, 14, NO_SHARE_STOP).await;
    let mut used = Vec::new();
    let has_owner = |c: &ContactView| {
        let thread = world.fake.thread(&c.thread_ids[0]).unwrap();
        thread.assignee_email.is_some()
    };
    let crm: Vec<usize> = vec![
        pick(&c, &mut used, |c| c.status.is_some()),
        pick(&c, &mut used, |c| c.valuation.is_some()),
        pick(&c, &mut used, |c| c.notes.is_some()),
        pick(&c, &mut used, |c| !c.tags.is_empty()),
        pick(&c, &mut used, has_owner),
    ];
    let inbox: Vec<usize> = vec![
        pick(&c, &mut used, |c| c.status.is_some()),
        pick(&c, &mut used, |c| c.valuation.is_some()),
        pick(&c, &mut used, |c| c.notes.is_some()),
        pick(&c, &mut used, |c| !c.tags.is_empty()),
        pick(&c, &mut used, has_owner),
    ];
    let columns = ["Lead Status", "Deal Value", "Notes", "Tags", "Owner Email"];
    edit_crm(&world, |rows| {
        for (i, column) in crm.iter().zip(columns) {
            rows[*i][col(column)] = String::new();
        }
    });
    let clear = [
        ContactEdit {
            status: Some(None),
            ..Default::default()
        },
        ContactEdit {
            valuation: Some(None),
            ..Default::default()
        },
        ContactEdit {
            notes: Some(None),
            ..Default::default()
        },
        ContactEdit {
            tags_remove: c[inbox[3]].tags.clone(),
            ..Default::default()
        },
        ContactEdit {
            assignee: Some(None),
            ..Default::default()
        },
    ];
    for (i, edit) in inbox.iter().zip(clear) {
        edit_inbox(&world, &c[*i], edit);
    }
    let unassign = ThreadEdit {
        assignee: Some(None),
        ..Default::default()
    };
    world.fake.edit_thread(&c[inbox[4]].thread_ids[0], unassign);
    assert!(!has_owner(&c[inbox[4]]), "the thread falls back to no one");

    let report = sync(&world, &[]).await;
    assert_eq!(report["planned"]["inbox"], 5, "{report}");
    assert_writes(&report, api_writes(&world), 5);
    assert_eq!(report["conflicts"]["opened"], 0, "{report}");
    let now = |i: usize| world.fake.contact(&c[i].id).unwrap();
    assert_eq!(now(crm[0]).status, None);
    assert_eq!(now(crm[1]).valuation, None);
    assert_eq!(now(crm[2]).notes, None);
    assert!(now(crm[3]).tags.is_empty(), "{:?}", now(crm[3]).tags);
    assert_eq!(now(crm[4]).assignee_email, None);
    assert!(!has_owner(&c[crm[4]]), "the thread shows no assignee");
    for (i, column) in inbox.iter().zip(columns) {
        assert_eq!(cell(&world, *i, column), "", "{column}");
    }
    assert_second_sync_writes_nothing(&world).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn tags_merge_as_sets_when_both_sides_add_and_remove_on_v2() {
    let (world, c) = baseline_in(60, 6, NO_SHARE_STOP).await;
    // Two tags whose names need encoding in a path, on the base of contact 0.
    let base = ["Conférence".to_string(), "Q3/2026 Pipeline".to_string()];
    let others: Vec<String> = world
        .fake
        .tags()
        .into_iter()
        .map(|(_, name)| name)
        .filter(|t| !base.contains(t))
        .collect();
    let (crm_add, inbox_add) = (others[0].clone(), others[1].clone());
    edit_inbox(
        &world,
        &c[0],
        ContactEdit {
            tags_remove: c[0].tags.clone(),
            tags_add: base.to_vec(),
            ..Default::default()
        },
    );
    assert_writes(&sync(&world, &[]).await, 0, 1);
    assert_eq!(tag_set(&cell(&world, 0, "Tags")), base.to_vec());
    let before = api_writes(&world);
    // The CRM adds one and removes the first; Inbox adds another and removes the second.
    edit_crm(&world, |rows| {
        rows[0][col("Tags")] = format!("{};{crm_add}", base[1])
    });
    let edit = ContactEdit {
        tags_add: vec![inbox_add.clone()],
        tags_remove: vec![base[1].clone()],
        ..Default::default()
    };
    edit_inbox(&world, &c[0], edit);

    let report = sync(&world, &[]).await;
    assert_eq!(report["conflicts"]["opened"], 0, "{report}");
    let mut merged = vec![crm_add.clone(), inbox_add.clone()];
    merged.sort();
    assert_eq!(world.fake.contact(&c[0].id).unwrap().tags, merged);
    assert_eq!(tag_set(&cell(&world, 0, "Tags")), merged);
    // One call per tag delta on the Inbox side: add the CRM's, remove the first base tag.
    let log = world.fake.write_log();
    let calls: Vec<(String, String)> = log[before as usize..]
        .iter()
        .map(|w| (w.route.clone(), w.params[1].clone()))
        .collect();
    let id_of = |name: &str| {
        let tags = world.fake.tags().into_iter();
        tags.filter(|(_, n)| n == name)
            .map(|(id, _)| id)
            .next()
            .unwrap()
    };
    let by_ref = |name: &str| [name.to_string(), id_of(name)];
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(
        calls
            .iter()
            .any(|(r, t)| r.starts_with("PUT") && by_ref(&crm_add).contains(t))
    );
    assert!(
        calls
            .iter()
            .any(|(r, t)| r.starts_with("DELETE") && by_ref(&base[0]).contains(t))
    );
    assert_writes(&report, 2, 1);
    assert_second_sync_writes_nothing(&world).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn notes_edited_on_different_lines_merge_into_both_sides_on_v2() {
    let (world, c) = baseline_in(60, 6, NO_SHARE_STOP).await;
    let base = "first line\nsecond line\nthird line\nfourth line";
    edit_inbox(
        &world,
        &c[0],
        ContactEdit {
            notes: Some(Some(base.into())),
            ..Default::default()
        },
    );
    assert_writes(&sync(&world, &[]).await, 0, 1);
    edit_crm(&world, |rows| {
        rows[0][col("Notes")] =
            "first line, edited in the CRM\nsecond line\nthird line\nfourth line".into();
    });
    let inbox = "first line\nsecond line\nthird line\nfourth line, edited in Inbox";
    edit_inbox(
        &world,
        &c[0],
        ContactEdit {
            notes: Some(Some(inbox.into())),
            ..Default::default()
        },
    );

    let report = sync(&world, &[]).await;
    assert_writes(&report, 1, 1);
    assert_eq!(report["conflicts"]["opened"], 0, "{report}");
    let merged =
        "first line, edited in the CRM\nsecond line\nthird line\nfourth line, edited in Inbox";
    assert_eq!(
        world.fake.contact(&c[0].id).unwrap().notes.as_deref(),
        Some(merged)
    );
    assert_eq!(cell(&world, 0, "Notes"), merged);
    assert_second_sync_writes_nothing(&world).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_first_v2_sync_fills_the_empty_side_and_unions_tags_and_conflicts_on_two_values() {
    let world = V2World::start(60).await;
    world.write_config_with("", NO_SHARE_STOP);
    let c: Vec<ContactView> = world
        .single_thread_x_contacts()
        .into_iter()
        .take(6)
        .collect();
    // Inbox empty where the CRM has values (contact 0); the CRM empty where Inbox has (1).
    edit_inbox(
        &world,
        &c[0],
        ContactEdit {
            valuation: Some(None),
            notes: Some(None),
            status: Some(None),
            ..Default::default()
        },
    );
    let c0 = world.fake.contact(&c[0].id).unwrap();
    let mut rows: Vec<Vec<String>> = c
        .iter()
        .enumerate()
        .map(|(i, c)| agreeing_row(&world, i, c))
        .collect();
    rows[0][col("Deal Value")] = "500".into();
    rows[0][col("Notes")] = "from the CRM".into();
    rows[0][col("Lead Status")] = other_status(&world, &c0, &[]);
    let extra_tag = tags_not_on(&world, &c[1]).remove(0);
    rows[1][col("Deal Value")] = String::new();
    rows[1][col("Notes")] = String::new();
    rows[1][col("Tags")] = extra_tag.clone();
    // Both set and different, with no base: a conflict (manual), and nothing written.
    let status = other_status(&world, &c[2], &[]);
    assert!(c[2].status.is_some());
    rows[2][col("Lead Status")] = status;
    write_rows(&world.export(), &rows);

    let report = sync(&world, &[]).await;
    assert_eq!(report["linked"], 6, "{report}");
    let now = |i: usize| world.fake.contact(&c[i].id).unwrap();
    assert_eq!(now(0).valuation.unwrap().to_string(), "500");
    assert_eq!(now(0).notes.as_deref(), Some("from the CRM"));
    assert_eq!(
        now(0).status.as_deref(),
        Some(rows[0][col("Lead Status")].as_str())
    );
    let filled = read_rows(&world.export());
    let v1 = c[1]
        .valuation
        .as_ref()
        .map(|v| v.to_string())
        .unwrap_or_default();
    assert_eq!(filled[1][col("Deal Value")], v1);
    assert_eq!(
        filled[1][col("Notes")],
        c[1].notes.clone().unwrap_or_default()
    );
    let mut union = c[1].tags.clone();
    union.push(extra_tag);
    union.sort();
    assert_eq!(tag_set(&filled[1][col("Tags")]), union);
    assert_eq!(now(1).tags, union);
    assert_eq!(now(2).status, c[2].status);
    let open = open_conflicts(&world, &c[2].id).await;
    assert!(
        open.contains(&("both-changed".into(), "status".into())),
        "{open:?}"
    );
    assert_eq!(filled[2], rows[2]);
    assert_second_sync_writes_nothing(&world).await;
}
