//! `crmsync sync` with `[crm] kind = "hubspot"`, end to end: the real binary, the fake Inbox
//! and the fake HubSpot, with contacts seeded from the Inbox prospects (issue 8).

use std::collections::BTreeSet;
use std::process::Output;

use crmsync_fake::hubspot::{FakeHubspot, FakeHubspotConfig, Limits};
use crmsync_fake::inbox_v1::{ContextEdit, ProspectView};

use crate::support::{TOKEN, TOKEN_ENV, World, assert_exit, json, stderr, stdout};

/// The env var the test configs name for the HubSpot token.
const HS_TOKEN_ENV: &str = "CRMSYNC_TEST_HUBSPOT_TOKEN";
/// The fake HubSpot's token.
const HS_TOKEN: &str = "hs-it-token-s3cr3t-value";

/// Inbox status name → `hs_lead_status` value.
const STATUS_MAP: [(&str, &str); 5] = [
    ("Lead", "NEW"),
    ("Interested", "OPEN"),
    ("Negotiating", "IN_PROGRESS"),
    ("Won", "OPEN_DEAL"),
    ("Lost", "UNQUALIFIED"),
];

/// Both fakes, a config naming them, and which contact was seeded from which prospect.
struct HubspotWorld {
    world: World,
    hubspot: FakeHubspot,
    /// `(prospect, contact id)` for the seeded prospects, in Inbox seed order.
    seeded: Vec<(ProspectView, String)>,
}

fn crm_status(inbox: &str) -> &'static str {
    STATUS_MAP
        .iter()
        .find(|(name, _)| *name == inbox)
        .map(|(_, value)| *value)
        .expect("mapped status")
}

impl HubspotWorld {
    /// Starts both fakes; seeds HubSpot with one contact per prospect among the first `n`,
    /// agreeing with Inbox (the first thread's assignee and done).
    async fn start(prospects: usize, n: usize) -> HubspotWorld {
        HubspotWorld::start_without_option(prospects, n, None).await
    }

    /// Like `start`, but the tags property has no option for the tag labelled `missing`, and
    /// the contacts do not hold that tag.
    async fn start_without_option(
        prospects: usize,
        n: usize,
        missing: Option<&str>,
    ) -> HubspotWorld {
        let world = World::start(prospects, "").await;
        let owner_emails = world.fake.members().into_iter().map(|(_, e)| e).collect();
        let hubspot = FakeHubspot::start(FakeHubspotConfig {
            token: HS_TOKEN.into(),
            contacts: 0,
            owner_emails,
            limits: Limits::off(),
        })
        .await
        .expect("fake HubSpot starts");
        if let Some(label) = missing {
            let (value, _) = hubspot
                .options("inbox_tags")
                .into_iter()
                .find(|(_, l)| l == label)
                .expect("an option with that label");
            hubspot.remove_option("inbox_tags", &value);
        }
        let mut hs = HubspotWorld {
            world,
            hubspot,
            seeded: Vec::new(),
        };
        for p in hs.world.fake.prospects().into_iter().take(n) {
            let first = p.threads.first();
            let tags: Vec<String> = p
                .tags
                .iter()
                .filter(|t| Some(t.as_str()) != missing)
                .cloned()
                .collect();
            let mut props: Vec<(&str, String)> = vec![
                ("twitter_user_id", p.platform_id.clone()),
                ("twitterhandle", format!("@{}", p.username)),
                ("inbox_tags", hs.tag_values(&tags)),
            ];
            if let Some(status) = &p.status {
                props.push(("hs_lead_status", crm_status(status).to_owned()));
            }
            if let Some(valuation) = &p.valuation {
                props.push(("inbox_valuation", valuation.to_string()));
            }
            if let Some(notes) = &p.notes {
                props.push(("inbox_notes", notes.clone()));
            }
            if let Some(email) = first.and_then(|t| t.assignee_email.as_deref()) {
                props.push(("hubspot_owner_id", hs.owner_id(email)));
            }
            if let Some(thread) = first {
                props.push(("inbox_done", thread.done.to_string()));
            }
            let id = hs.hubspot.add_contact(&props);
            hs.seeded.push((p, id));
        }
        hs.write_config("", "");
        hs
    }

    /// Writes `sync.toml` for both fakes, with `crm_extra` in `[crm]` and `extra` appended.
    fn write_config(&self, crm_extra: &str, extra: &str) {
        self.write_config_with(crm_extra, "", extra);
    }

    /// Like `write_config`, with `hubspot_extra` in `[crm.hubspot]`.
    fn write_config_with(&self, crm_extra: &str, hubspot_extra: &str, extra: &str) {
        let statuses: String = STATUS_MAP
            .iter()
            .map(|(name, value)| format!("\"{name}\" = \"{value}\"\n"))
            .collect();
        let text = format!(
            r#"[inbox]
base_url = "{inbox}"
token_env = "{TOKEN_ENV}"
timeout_secs = 10

[crm]
kind = "hubspot"
{crm_extra}

[crm.hubspot]
base_url = "{hubspot}"
token_env = "{HS_TOKEN_ENV}"
requests_per_window = 1000
window_secs = 1
search_per_second = 100
{hubspot_extra}

[crm.hubspot.properties]
x_user_id = "twitter_user_id"
username = "twitterhandle"
tags = "inbox_tags"
status = "hs_lead_status"
valuation = "inbox_valuation"
notes = "inbox_notes"
owner = "hubspot_owner_id"
done = "inbox_done"

[mapping.status]
{statuses}
[limits]
min_interval_ms = 0
backoff_base_ms = 50
{extra}
"#,
            inbox = self.world.fake.base_url(),
            hubspot = self.hubspot.base_url(),
        );
        std::fs::write(self.world.config(), text).expect("write config");
    }

    /// `inbox_tags` option values of Inbox tag names, `;`-joined in value order.
    fn tag_values(&self, names: &[String]) -> String {
        let options = self.hubspot.options("inbox_tags");
        let values: BTreeSet<String> = names
            .iter()
            .map(|name| {
                options
                    .iter()
                    .find(|(_, label)| label == name)
                    .map(|(value, _)| value.clone())
                    .unwrap_or_else(|| panic!("no option for tag {name}"))
            })
            .collect();
        values.into_iter().collect::<Vec<_>>().join(";")
    }

    fn owner_id(&self, email: &str) -> String {
        self.hubspot
            .owners()
            .into_iter()
            .find(|(_, e)| e.eq_ignore_ascii_case(email))
            .map(|(id, _)| id)
            .unwrap_or_else(|| panic!("no owner {email}"))
    }

    /// Runs the real binary with both tokens (or another HubSpot token, or none).
    async fn crmsync_with(&self, args: &[&str], hs_token: Option<&str>) -> Output {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_crmsync"));
        cmd.arg("--config").arg(self.world.config()).args(args);
        cmd.env(TOKEN_ENV, TOKEN);
        cmd.env_remove(HS_TOKEN_ENV);
        if let Some(token) = hs_token {
            cmd.env(HS_TOKEN_ENV, token);
        }
        tokio::task::spawn_blocking(move || cmd.output().expect("binary runs"))
            .await
            .expect("join")
    }

    async fn crmsync(&self, args: &[&str]) -> Output {
        self.crmsync_with(args, Some(HS_TOKEN)).await
    }

    /// `sync --json`, asserting exit 0.
    async fn sync(&self) -> serde_json::Value {
        let out = self.crmsync(&["sync", "--json"]).await;
        assert_exit(&out, 0);
        json(&out)
    }

    /// A seeded prospect with one thread, notes and a status, other than `not`.
    fn single_thread(&self, not: &[usize]) -> usize {
        self.seeded
            .iter()
            .enumerate()
            .position(|(idx, (p, _))| {
                !not.contains(&idx)
                    && p.threads.len() == 1
                    && p.notes.is_some()
                    && p.status.is_some()
            })
            .expect("a single-thread prospect")
    }

    fn contact(&self, idx: usize) -> crmsync_fake::hubspot::ContactView {
        self.hubspot.contact(&self.seeded[idx].1).expect("contact")
    }
}

/// A world after a baseline sync that wrote nothing on either side.
async fn baseline(prospects: usize, n: usize) -> HubspotWorld {
    let hs = HubspotWorld::start(prospects, n).await;
    let report = hs.sync().await;
    assert_eq!(report["linked"], n as u64, "{report}");
    assert_eq!(report["writes"]["inbox"], 0, "{report}");
    assert_eq!(report["writes"]["crm"], 0, "{report}");
    assert_eq!(report["rejects"], 0, "{report}");
    assert_eq!(hs.hubspot.stats().batch_updates(), 0);
    hs
}

#[tokio::test(flavor = "multi_thread")]
async fn i8_edits_on_both_sides_sync_both_ways_and_a_second_sync_writes_nothing() {
    let hs = baseline(40, 30).await;
    let a = hs.single_thread(&[]);
    let b = hs.single_thread(&[a]);
    let c = hs.single_thread(&[a, b]);
    let (pa, pb, pc) = (&hs.seeded[a].0, &hs.seeded[b].0, &hs.seeded[c].0);
    let unused = |taken: &[String]| {
        [
            "Investor",
            "Partner",
            "Conference",
            "Newsletter",
            "Churn Risk",
        ]
        .into_iter()
        .find(|t| !taken.iter().any(|x| x == t))
        .expect("a free tag")
        .to_owned()
    };
    // A: a tag added on each side, the status moved in Inbox.
    let inbox_tag = unused(&pa.tags);
    let mut with_inbox_tag = pa.tags.clone();
    with_inbox_tag.push(inbox_tag.clone());
    let hubspot_tag = unused(&with_inbox_tag);
    let new_status = ["Negotiating", "Lost"]
        .into_iter()
        .find(|s| pa.status.as_deref() != Some(*s))
        .unwrap();
    hs.world.fake.edit_context(
        &pa.external_id,
        ContextEdit {
            tags_add: Some(vec![inbox_tag.clone()]),
            status: Some(Some(new_status.into())),
            ..ContextEdit::default()
        },
    );
    let mut hubspot_tags = pa.tags.clone();
    hubspot_tags.push(hubspot_tag.clone());
    hs.hubspot
        .set_property(&hs.seeded[a].1, "inbox_tags", &hs.tag_values(&hubspot_tags));
    // B: notes and status edited in HubSpot.
    hs.hubspot.set_property(
        &hs.seeded[b].1,
        "inbox_notes",
        "Edited in HubSpot.\nTwo lines.",
    );
    let b_status = if pb.status.as_deref() == Some("Won") {
        ("Lost", "UNQUALIFIED")
    } else {
        ("Won", "OPEN_DEAL")
    };
    hs.hubspot
        .set_property(&hs.seeded[b].1, "hs_lead_status", b_status.1);
    // C: a new owner in HubSpot.
    let old_owner = pc.threads[0].assignee_email.clone();
    let (owner_id, owner_email) = hs
        .hubspot
        .owners()
        .into_iter()
        .find(|(_, e)| Some(e) != old_owner.as_ref())
        .unwrap();
    hs.hubspot
        .set_property(&hs.seeded[c].1, "hubspot_owner_id", &owner_id);

    let report = hs.sync().await;
    // HubSpot: A's tags and status in one batch; Inbox: A's tag, B's notes and status, C's owner.
    assert_eq!(report["writes"]["crm"], 1, "{report}");
    assert_eq!(report["writes"]["inbox"], 3, "{report}");
    assert_eq!(report["conflicts"]["opened"], 0, "{report}");

    // HubSpot got the merged tag set as one `;` string, and the mapped status.
    let mut merged = pa.tags.clone();
    merged.extend([inbox_tag.clone(), hubspot_tag.clone()]);
    let contact_a = hs.contact(a);
    assert_eq!(
        contact_a.get("inbox_tags"),
        Some(hs.tag_values(&merged).as_str())
    );
    assert_eq!(
        contact_a.get("hs_lead_status"),
        Some(crm_status(new_status))
    );
    let update = hs
        .hubspot
        .write_log()
        .into_iter()
        .find(|w| w.route == "batch/update")
        .expect("one batch update");
    let written: BTreeSet<&str> = update.properties.keys().map(String::as_str).collect();
    assert_eq!(written, BTreeSet::from(["hs_lead_status", "inbox_tags"]));
    // Inbox got HubSpot's tag, notes, status and owner (by e-mail).
    let now_a = hs.world.fake.prospect(&pa.external_id).unwrap();
    let tags: BTreeSet<String> = now_a.tags.into_iter().collect();
    let expected: BTreeSet<String> = merged.into_iter().collect();
    assert_eq!(tags, expected);
    let now_b = hs.world.fake.prospect(&pb.external_id).unwrap();
    assert_eq!(
        now_b.notes.as_deref(),
        Some("Edited in HubSpot.\nTwo lines.")
    );
    assert_eq!(now_b.status.as_deref(), Some(b_status.0));
    let now_c = hs.world.fake.prospect(&pc.external_id).unwrap();
    assert_eq!(
        now_c.threads[0].assignee_email.as_deref(),
        Some(owner_email.as_str())
    );

    let updates_before = hs.hubspot.stats().batch_updates();
    let again = hs.sync().await;
    assert_eq!(again["writes"]["inbox"], 0, "{again}");
    assert_eq!(again["writes"]["crm"], 0, "{again}");
    assert_eq!(hs.hubspot.stats().batch_updates(), updates_before);
}

#[tokio::test(flavor = "multi_thread")]
async fn i8_a_207_partial_failure_is_a_rejected_by_api_conflict_and_the_rest_syncs() {
    let hs = baseline(30, 20).await;
    let a = hs.single_thread(&[]);
    let b = hs.single_thread(&[a]);
    for idx in [a, b] {
        hs.world.fake.edit_context(
            &hs.seeded[idx].0.external_id,
            ContextEdit {
                notes: Some(Some(format!("Inbox note {idx}"))),
                ..ContextEdit::default()
            },
        );
    }
    let locked = hs.seeded[b].1.clone();
    hs.hubspot
        .reject_writes_to(&locked, Some("This record is locked by a workflow"));

    let report = hs.sync().await;
    assert_eq!(report["writes"]["crm"], 1, "{report}");
    assert_eq!(hs.hubspot.stats().partial, 1);
    let rejected: Vec<&serde_json::Value> = report["conflict_list"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == "rejected-by-api")
        .collect();
    assert_eq!(rejected.len(), 1, "{report}");
    assert_eq!(rejected[0]["crm_id"], locked.as_str());
    assert_eq!(rejected[0]["field"], "notes");
    let detail = rejected[0]["detail"].as_str().unwrap();
    assert!(detail.contains("locked by a workflow"), "{detail}");
    assert_eq!(
        hs.contact(a).get("inbox_notes"),
        Some(format!("Inbox note {a}").as_str())
    );
    assert_ne!(
        hs.contact(b).get("inbox_notes"),
        Some(format!("Inbox note {b}").as_str())
    );

    // Retried on the next run once HubSpot takes it.
    hs.hubspot.reject_writes_to(&locked, None);
    let report = hs.sync().await;
    assert_eq!(report["writes"]["crm"], 1, "{report}");
    assert_eq!(
        hs.contact(b).get("inbox_notes"),
        Some(format!("Inbox note {b}").as_str())
    );
    let again = hs.sync().await;
    assert_eq!(again["writes"]["crm"], 0, "{again}");
    assert_eq!(again["writes"]["inbox"], 0, "{again}");
}

#[tokio::test(flavor = "multi_thread")]
async fn i8_rate_limits_are_honoured() {
    let hs = baseline(20, 10).await;
    let a = hs.single_thread(&[]);
    hs.world.fake.edit_context(
        &hs.seeded[a].0.external_id,
        ContextEdit {
            valuation: Some(Some(777.25)),
            ..ContextEdit::default()
        },
    );
    // Scripted 429s, then a real rolling window tighter than the configured budget.
    hs.hubspot.fail_next(2, 429);
    hs.hubspot.set_limits(Limits {
        requests: Some((3, std::time::Duration::from_secs(1))),
        search_per_second: None,
    });
    let report = hs.sync().await;
    assert_eq!(report["writes"]["crm"], 1, "{report}");
    assert_eq!(hs.contact(a).get("inbox_valuation"), Some("777.25"));
    assert!(
        hs.hubspot.stats().rate_limited >= 3,
        "{:?}",
        hs.hubspot.stats()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn i8_a_refused_token_names_the_hubspot_token_variable_and_never_the_token() {
    let hs = HubspotWorld::start(10, 5).await;
    let out = hs
        .crmsync_with(&["sync", "--json"], Some("wrong-hs-token-value"))
        .await;
    assert_exit(&out, 1);
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(text.contains(HS_TOKEN_ENV), "{text}");
    assert!(text.contains("401"), "{text}");
    assert!(!text.contains("wrong-hs-token-value"), "{text}");
    assert!(!text.contains(TOKEN), "{text}");

    let out = hs.crmsync_with(&["sync"], None).await;
    assert_exit(&out, 2);
    assert!(stderr(&out).contains(HS_TOKEN_ENV), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn i8_check_covers_the_hubspot_token_properties_and_owners() {
    let hs = HubspotWorld::start(5, 2).await;
    let out = hs.crmsync(&["check"]).await;
    assert_exit(&out, 0);
    let text = stdout(&out);
    assert!(text.contains("ok    CRM: HubSpot"), "{text}");
    assert!(text.contains("tags = inbox_tags (enumeration)"), "{text}");
    let owners = hs.hubspot.owners().len();
    assert!(
        text.contains(&format!("; {owners} owners readable")),
        "{text}"
    );

    hs.write_config("", "");
    let broken = std::fs::read_to_string(hs.world.config())
        .unwrap()
        .replace("done = \"inbox_done\"", "done = \"inbox_finished\"");
    std::fs::write(hs.world.config(), broken).unwrap();
    let out = hs.crmsync(&["check"]).await;
    assert_exit(&out, 1);
    assert!(
        stdout(&out).contains("HubSpot has no contact property inbox_finished"),
        "{}",
        stdout(&out)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_owner_property_syncs_the_rest_and_never_touches_owners() {
    let hs = HubspotWorld::start(20, 10).await;
    let config = std::fs::read_to_string(hs.world.config()).unwrap();
    assert!(config.contains("owner = \"hubspot_owner_id\""));
    std::fs::write(
        hs.world.config(),
        config.replace("owner = \"hubspot_owner_id\"", "owner = \"\""),
    )
    .unwrap();
    let report = hs.sync().await;
    assert_eq!(report["linked"], 10, "{report}");
    assert_eq!(report["writes"]["crm"], 0, "{report}");
    assert_eq!(report["writes"]["inbox"], 0, "{report}");

    // C: a new owner and new notes in HubSpot; D: a new assignee and new notes in Inbox.
    let c = hs.single_thread(&[]);
    let d = hs.single_thread(&[c]);
    let (pc, pd) = (&hs.seeded[c].0, &hs.seeded[d].0);
    let other_owner = |old: Option<&String>| {
        hs.hubspot
            .owners()
            .into_iter()
            .find(|(_, e)| Some(e) != old)
            .unwrap()
    };
    let (owner_id, _) = other_owner(pc.threads[0].assignee_email.as_ref());
    hs.hubspot
        .set_property(&hs.seeded[c].1, "hubspot_owner_id", &owner_id);
    hs.hubspot
        .set_property(&hs.seeded[c].1, "inbox_notes", "Edited in HubSpot.");
    let d_owner_before = hs.contact(d).get("hubspot_owner_id").map(str::to_owned);
    let (_, new_assignee) = other_owner(pd.threads[0].assignee_email.as_ref());
    hs.world.fake.edit_context(
        &pd.external_id,
        ContextEdit {
            assignee: Some(Some(new_assignee.clone())),
            notes: Some(Some("Edited in Inbox.".into())),
            ..ContextEdit::default()
        },
    );

    let report = hs.sync().await;
    assert_eq!(report["writes"]["inbox"], 1, "{report}");
    assert_eq!(report["writes"]["crm"], 1, "{report}");
    assert_eq!(report["conflicts"]["opened"], 0, "{report}");
    let now_c = hs.world.fake.prospect(&pc.external_id).unwrap();
    assert_eq!(now_c.notes.as_deref(), Some("Edited in HubSpot."));
    assert_eq!(
        now_c.threads[0].assignee_email,
        pc.threads[0].assignee_email
    );
    assert_eq!(hs.contact(d).get("inbox_notes"), Some("Edited in Inbox."));
    assert_eq!(
        hs.contact(d).get("hubspot_owner_id").map(str::to_owned),
        d_owner_before
    );
    let written: BTreeSet<String> = hs
        .hubspot
        .write_log()
        .into_iter()
        .filter(|w| w.route != "ui")
        .flat_map(|w| w.properties.into_keys())
        .collect();
    assert_eq!(written, BTreeSet::from(["inbox_notes".to_owned()]));
    assert_eq!(hs.hubspot.stats().count("GET", "/crm/v3/owners"), 0);

    let out = hs.crmsync(&["check"]).await;
    assert_exit(&out, 0);
    let text = stdout(&out);
    assert!(!text.contains("owners readable"), "{text}");
    assert!(!text.contains("hubspot_owner_id"), "{text}");
    let again = hs.sync().await;
    assert_eq!(again["writes"]["inbox"], 0, "{again}");
    assert_eq!(again["writes"]["crm"], 0, "{again}");
}

#[tokio::test(flavor = "multi_thread")]
async fn i8_unreadable_contacts_are_rejected_and_the_rest_syncs() {
    let hs = HubspotWorld::start(20, 10).await;
    // A value the API would refuse today (seeded directly, e.g. from before a type change).
    let extra = hs
        .hubspot
        .add_contact(&[("twitter_user_id", "1"), ("inbox_done", "perhaps")]);
    let report = hs.sync().await;
    assert_eq!(report["rejects"], 1, "{report}");
    let row = &report["rejected_rows"][0];
    assert_eq!(row["record_id"], extra.as_str(), "{report}");
    assert!(
        row["reason"].as_str().unwrap().contains("inbox_done"),
        "{report}"
    );
    assert_eq!(report["linked"], 10, "{report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn i8_created_contacts_are_linked_by_their_x_id_on_the_next_run() {
    let hs = HubspotWorld::start(12, 10).await;
    hs.write_config("create_records = \"all\"", "");
    let report = json(&hs.crmsync(&["sync", "--json", "--force"]).await);
    assert_eq!(report["exit"], 0, "{report}");
    assert_eq!(report["writes"]["crm"], 2, "{report}");
    let contacts = hs.hubspot.contacts();
    assert_eq!(contacts.len(), 12);
    let prospects = hs.world.fake.prospects();
    for p in &prospects[10..12] {
        let created = contacts
            .iter()
            .find(|c| c.get("twitter_user_id") == Some(p.platform_id.as_str()))
            .expect("a contact for the unlinked prospect");
        assert_eq!(created.get("twitterhandle"), Some(p.username.as_str()));
    }
    let again = hs.sync().await;
    assert_eq!(again["linked"], 12, "{again}");
    assert_eq!(again["writes"]["crm"], 0, "{again}");
    assert_eq!(again["writes"]["inbox"], 0, "{again}");
    assert_eq!(hs.hubspot.contacts().len(), 12);
}

#[tokio::test(flavor = "multi_thread")]
async fn i8_the_other_merge_rows_hold_with_hubspot_as_the_crm() {
    let hs = HubspotWorld::start(30, 20).await;
    // No base yet: an empty HubSpot value is filled from Inbox.
    let first = hs.single_thread(&[]);
    hs.hubspot
        .set_property(&hs.seeded[first].1, "inbox_notes", "");
    let report = hs.sync().await;
    assert_eq!(report["writes"]["crm"], 1, "{report}");
    assert_eq!(
        hs.contact(first).get("inbox_notes"),
        hs.seeded[first].0.notes.as_deref()
    );

    // Both changed to the same value: the base moves, nothing is written.
    let same = hs.single_thread(&[first]);
    hs.world.fake.edit_context(
        &hs.seeded[same].0.external_id,
        ContextEdit {
            notes: Some(Some("Same on both sides".into())),
            ..ContextEdit::default()
        },
    );
    hs.hubspot
        .set_property(&hs.seeded[same].1, "inbox_notes", "Same on both sides");
    // Both changed differently under `manual`: a conflict, nothing written.
    let differ = hs.single_thread(&[first, same]);
    hs.world.fake.edit_context(
        &hs.seeded[differ].0.external_id,
        ContextEdit {
            valuation: Some(Some(111.0)),
            ..ContextEdit::default()
        },
    );
    hs.hubspot
        .set_property(&hs.seeded[differ].1, "inbox_valuation", "222");
    let updates = hs.hubspot.stats().batch_updates();
    let report = hs.sync().await;
    assert_eq!(report["writes"]["crm"], 0, "{report}");
    assert_eq!(report["writes"]["inbox"], 0, "{report}");
    assert_eq!(hs.hubspot.stats().batch_updates(), updates);
    let conflicts: Vec<(&str, &str)> = report["conflict_list"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["crm_id"] == hs.seeded[differ].1.as_str())
        .map(|c| (c["kind"].as_str().unwrap(), c["field"].as_str().unwrap()))
        .collect();
    assert_eq!(conflicts, [("both-changed", "valuation")], "{report}");

    // `crm-wins` settles it: Inbox takes HubSpot's value.
    hs.write_config("", "[policy]\nvaluation = \"crm-wins\"\n");
    let report = hs.sync().await;
    assert_eq!(report["writes"]["inbox"], 1, "{report}");
    let valuation = hs
        .world
        .fake
        .prospect(&hs.seeded[differ].0.external_id)
        .unwrap()
        .valuation
        .map(|v| v.to_string());
    assert_eq!(valuation.as_deref(), Some("222"));
    let again = hs.sync().await;
    assert_eq!(again["writes"]["crm"], 0, "{again}");
    assert_eq!(again["writes"]["inbox"], 0, "{again}");
}

/// Listing pages and search pages the fake HubSpot served since its stats were reset.
fn reads(hubspot: &FakeHubspot) -> (u64, u64) {
    let stats = hubspot.stats();
    (
        stats.count("GET", "/crm/v3/objects/contacts"),
        stats.count("POST", "/crm/v3/objects/contacts/search"),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn i8_later_syncs_search_the_contacts_modified_since_and_full_reads_see_deletions() {
    let hs = baseline(40, 30).await;
    let (listed, searched) = reads(&hs.hubspot);
    assert!(listed >= 1, "the first sync lists every contact");
    assert_eq!(searched, 0);

    // An edit in HubSpot: the next sync searches, lists nothing, and still sees every contact.
    let b = hs.single_thread(&[]);
    hs.hubspot
        .set_property(&hs.seeded[b].1, "inbox_notes", "Edited in HubSpot.");
    hs.hubspot.reset_stats();
    let report = hs.sync().await;
    assert_eq!(reads(&hs.hubspot).0, 0, "no listing: {report}");
    assert!(reads(&hs.hubspot).1 >= 1, "a search: {report}");
    assert_eq!(report["linked"], 30, "{report}");
    assert_eq!(report["crm_records"], 30, "{report}");
    assert_eq!(report["writes"]["inbox"], 1, "{report}");
    assert_eq!(report["writes"]["crm"], 0, "{report}");
    let now_b = hs.world.fake.prospect(&hs.seeded[b].0.external_id).unwrap();
    assert_eq!(now_b.notes.as_deref(), Some("Edited in HubSpot."));

    // An edit in Inbox is written to HubSpot; reading our own write back writes nothing.
    let a = hs.single_thread(&[b]);
    hs.world.fake.edit_context(
        &hs.seeded[a].0.external_id,
        ContextEdit {
            notes: Some(Some("Edited in Inbox.".into())),
            ..ContextEdit::default()
        },
    );
    let report = hs.sync().await;
    assert_eq!(report["writes"]["crm"], 1, "{report}");
    assert_eq!(hs.contact(a).get("inbox_notes"), Some("Edited in Inbox."));
    hs.hubspot.reset_stats();
    let again = hs.sync().await;
    assert_eq!(again["writes"]["crm"], 0, "{again}");
    assert_eq!(again["writes"]["inbox"], 0, "{again}");
    assert_eq!(reads(&hs.hubspot).0, 0);
    // The run report, and the run history, count the HubSpot requests as the server saw them.
    assert_eq!(
        again["crm_requests"],
        hs.hubspot.stats().requests,
        "{again}"
    );
    let runs = json(&hs.crmsync(&["runs", "--json", "--limit", "1"]).await);
    assert_eq!(runs[0]["crm_requests"], again["crm_requests"], "{runs}");

    // A deleted contact: searches cannot see it go, a full read (`--full`) does.
    let gone = hs.single_thread(&[a, b]);
    hs.hubspot.archive(&hs.seeded[gone].1);
    let report = hs.sync().await;
    assert_eq!(report["linked"], 30, "{report}");
    hs.hubspot.reset_stats();
    let out = hs.crmsync(&["sync", "--json", "--full"]).await;
    assert_exit(&out, 0);
    let report = json(&out);
    assert!(reads(&hs.hubspot).0 >= 1, "--full lists every contact");
    assert_eq!(report["linked"], 29, "{report}");
    assert_eq!(report["crm_records"], 29, "{report}");

    // `[pull] full_every_hours = 0`: every run reads in full.
    hs.write_config("", "[pull]\nfull_every_hours = 0\n");
    hs.hubspot.reset_stats();
    let report = hs.sync().await;
    assert!(reads(&hs.hubspot).0 >= 1, "{report}");
    assert_eq!(reads(&hs.hubspot).1, 0, "{report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn i8_a_tag_without_an_option_is_unmapped_unless_create_missing_options_adds_it() {
    const TAG: &str = "Conference";
    let hs = HubspotWorld::start_without_option(40, 30, Some(TAG)).await;
    let expected: Vec<usize> = (0..hs.seeded.len())
        .filter(|&idx| hs.seeded[idx].0.tags.iter().any(|t| t == TAG))
        .collect();
    assert!(!expected.is_empty(), "some seeded prospects have {TAG}");
    let patches = |hs: &HubspotWorld| {
        hs.hubspot
            .stats()
            .count("PATCH", "/crm/v3/properties/contacts/{propertyName}")
    };

    // Every contact with the tag gets a write: more than the default safety ratio allows.
    const SAFETY: &str = "[safety]\nmax_change_ratio = 1.0\n";
    hs.write_config("", SAFETY);

    // Off (the default): every write that needs the tag is an `unmapped` conflict.
    let report = hs.sync().await;
    let unmapped: Vec<&serde_json::Value> = report["conflict_list"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == "unmapped" && c["field"] == "tags")
        .collect();
    assert_eq!(unmapped.len(), expected.len(), "{report}");
    let detail = unmapped[0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("\"Conference\" is not an option") && detail.contains("inbox_tags"),
        "{detail}"
    );
    assert_eq!(report["writes"]["crm"], 0, "{report}");
    assert_eq!(patches(&hs), 0);
    assert!(
        !hs.hubspot
            .options("inbox_tags")
            .iter()
            .any(|(_, l)| l == TAG)
    );

    // On: the option is added once, through the properties API, and the tags are written.
    hs.write_config_with("", "create_missing_options = true", SAFETY);
    let report = hs.sync().await;
    assert_eq!(patches(&hs), 1, "{report}");
    assert_eq!(report["writes"]["crm"], expected.len() as u64, "{report}");
    let options = hs.hubspot.options("inbox_tags");
    let (value, _) = options
        .iter()
        .find(|(_, label)| label == TAG)
        .expect("the option was added");
    assert_eq!(value, "conference");
    assert_eq!(options.len(), 8, "the other options are kept: {options:?}");
    for idx in &expected {
        let tags = hs.contact(*idx).get("inbox_tags").unwrap_or("").to_owned();
        assert!(tags.split(';').any(|t| t == value), "{tags}");
    }
    assert_eq!(
        report["conflicts"]["closed"],
        expected.len() as u64,
        "{report}"
    );
    let again = hs.sync().await;
    assert_eq!(again["writes"]["crm"], 0, "{again}");
    assert_eq!(again["writes"]["inbox"], 0, "{again}");
    assert_eq!(patches(&hs), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn i8_fake_hubspot_serves_contacts_matching_the_fake_inbox_seed() {
    // API v2 (the default): one contact per fake Inbox contact, X and LinkedIn ids.
    let served = fake_hubspot_identities(&[]).await;
    let inbox = crmsync_fake::inbox_v2::FakeInboxV2::start(crmsync_fake::inbox_v2::FakeConfig {
        contacts: 5,
        seed: 4,
        accounts: crmsync_fake::inbox_v2::Accounts { x: 3, linkedin: 1 },
        ..crmsync_fake::inbox_v2::FakeConfig::default()
    })
    .await
    .unwrap();
    let id_on = |c: &crmsync_fake::inbox_v2::ContactView, platform: &str| {
        c.profiles
            .iter()
            .find(|p| p.platform == platform)
            .map(|p| p.platform_id.clone())
            .unwrap_or_default()
    };
    let mut expected: Vec<(String, String)> = inbox
        .contacts()
        .iter()
        .map(|c| (id_on(c, "twitter"), id_on(c, "linkedin")))
        .collect();
    expected.sort();
    assert!(
        expected.iter().any(|(_, li)| !li.is_empty()),
        "{expected:?}"
    );
    assert_eq!(served, expected);

    // `--api v1`: one contact per prospect of `crmsync fake-inbox --api v1 --seed 4`.
    let served = fake_hubspot_identities(&["--api", "v1"]).await;
    let inbox = crmsync_fake::inbox_v1::FakeInbox::start(crmsync_fake::inbox_v1::FakeConfig {
        prospects: 5,
        seed: 4,
        ..crmsync_fake::inbox_v1::FakeConfig::default()
    })
    .await
    .unwrap();
    let mut expected: Vec<(String, String)> = inbox
        .prospects()
        .into_iter()
        .map(|p| (p.platform_id, String::new()))
        .collect();
    expected.sort();
    assert_eq!(served, expected);
}

/// Starts `crmsync fake-hubspot` (5 contacts, seed 4, and `extra`), checks that it wants the
/// token, and returns the (X user id, LinkedIn id) of every contact it serves, sorted.
async fn fake_hubspot_identities(extra: &[&str]) -> Vec<(String, String)> {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let mut child = Command::new(env!("CARGO_BIN_EXE_crmsync"))
        .args(["fake-hubspot", "--port", "0", "--token", HS_TOKEN])
        .args(["--contacts", "5", "--seed", "4", "--rate-limit", "off"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("fake-hubspot starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let first_line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).map(|_| line)
    })
    .await
    .expect("join");
    // Stop the server whatever the assertions below say.
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _child = Kill(child);
    let line = first_line.expect("a first line");
    assert!(line.contains("serving 5 contacts"), "{line}");
    let base = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("the base URL")
        .to_owned();

    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let url =
        format!("{base}/crm/v3/objects/contacts?limit=100&properties=twitter_user_id,linkedin_id");
    let refused = http.get(&url).send().await.expect("answer");
    assert_eq!(refused.status(), 401);
    let page: serde_json::Value = http
        .get(&url)
        .bearer_auth(HS_TOKEN)
        .send()
        .await
        .expect("answer")
        .json()
        .await
        .expect("JSON");
    let property =
        |c: &serde_json::Value, name: &str| c["properties"][name].as_str().unwrap_or("").to_owned();
    let mut served: Vec<(String, String)> = page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (property(c, "twitter_user_id"), property(c, "linkedin_id")))
        .collect();
    served.sort();
    served
}

#[tokio::test(flavor = "multi_thread")]
async fn i8_the_demo_runs_with_hubspot_as_the_crm() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_crmsync"));
    cmd.args(["demo", "--crm", "hubspot", "--dir"])
        .arg(dir.path());
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("binary runs"))
        .await
        .unwrap();
    assert_exit(&out, 0);
    let text = stdout(&out);
    assert!(text.contains("and a fake HubSpot with"), "{text}");
    let third = text.split("== 5.").nth(1).expect("the demo reaches step 5");
    assert!(
        third.contains("Wrote 0 Inbox update(s) and 0 CRM record(s)"),
        "{third}"
    );
    let config = std::fs::read_to_string(dir.path().join("sync.toml")).unwrap();
    assert!(config.contains("kind = \"hubspot\""), "{config}");
}

/// The figures of issue 8's closing note: requests of a sync of 10,000 contacts with 500
/// changes, against the minimum. Run by hand:
/// `cargo test --release --test it -- --ignored i8_request_counts --nocapture`.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "a 10,000-contact measurement, run by hand"]
async fn i8_request_counts_of_a_sync_of_10000_contacts_with_500_changes() {
    let hs = HubspotWorld::start(10_000, 10_000).await;
    let first = hs.sync().await;
    assert_eq!(first["linked"], 10_000, "{first}");
    let day_ago = chrono::Utc::now() - chrono::Duration::days(1);
    hs.hubspot
        .set_last_modified(&[], day_ago.timestamp_millis());

    for (round, (label, args)) in [
        ("incremental", &["sync", "--json"][..]),
        ("full (--full)", &["sync", "--json", "--full"][..]),
    ]
    .into_iter()
    .enumerate()
    {
        // 500 prospects edited in Inbox: 500 contacts to update in HubSpot.
        for (p, _) in hs.seeded.iter().step_by(20) {
            hs.world.fake.edit_context(
                &p.external_id,
                ContextEdit {
                    notes: Some(Some(format!("Edited in Inbox, round {round}."))),
                    ..ContextEdit::default()
                },
            );
        }
        hs.hubspot.reset_stats();
        let out = hs.crmsync(args).await;
        assert_exit(&out, 0);
        let report = json(&out);
        let stats = hs.hubspot.stats();
        assert_eq!(report["writes"]["crm"], 500, "{report}");
        let listing = stats.count("GET", "/crm/v3/objects/contacts");
        let search = stats.count("POST", "/crm/v3/objects/contacts/search");
        let updates = stats.batch_updates();
        let inbox = report["requests"].as_u64().unwrap();
        let minimum_reads = if listing > 0 { 100 } else { 1 };
        eprintln!(
            "{label}: HubSpot {} requests ({listing} listing pages, {search} search pages, {updates} batch updates, {} other) against a minimum of {} ({minimum_reads} read pages + 5 batch updates); Inbox {inbox} requests (pull {} pages, mode {}); {:.1} s",
            stats.requests,
            stats.requests - listing - search - updates,
            minimum_reads + 5,
            report["pull"]["pages"],
            report["pull"]["mode"],
            report["seconds"].as_f64().unwrap_or_default(),
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hubspot_that_refuses_connections_fails_at_once_with_one_line_naming_the_url() {
    let hs = HubspotWorld::start(5, 5).await;
    let url = "http://127.0.0.1:1";
    let config = std::fs::read_to_string(hs.world.config()).unwrap();
    std::fs::write(
        hs.world.config(),
        config.replace(&hs.hubspot.base_url(), url),
    )
    .unwrap();
    let out = hs.crmsync(&["sync"]).await;
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!(
            "cannot reach HubSpot at {url} (connection refused): is [crm.hubspot] base_url right"
        )),
        "{err}"
    );
    let out = hs.crmsync(&["check"]).await;
    assert_exit(&out, 1);
    assert!(
        stdout(&out).contains("FAIL  CRM: HubSpot") && stdout(&out).contains("connection refused"),
        "{}",
        stdout(&out)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_400_for_paging_past_a_lowered_search_cap_is_taken_as_the_cap_not_a_failed_run() {
    let hs = baseline(300, 300).await;
    hs.write_config("", "[safety]\nmax_change_ratio = 1.0\n");
    // HubSpot lowers the search cap below the 10,000 crmsync computes: its second page of 200
    // is refused with a 400.
    hs.hubspot.set_search_cap(200);
    for (_, id) in hs.seeded.iter().take(250) {
        hs.hubspot
            .set_property(id, "inbox_notes", "Edited in HubSpot.");
    }
    hs.hubspot.reset_stats();
    let out = hs.crmsync(&["-v", "sync", "--json"]).await;
    assert_exit(&out, 0);
    let report = json(&out);
    assert_eq!(reads(&hs.hubspot).0, 0, "no listing: {report}");
    assert_eq!(
        report["writes"]["inbox"], 250,
        "every edit was found: {report}"
    );
    assert!(
        stderr(&out).contains("taking it as the search result cap"),
        "{}",
        stderr(&out)
    );
}
