//! The CRM side on Inbox API v2: a CSV export in `import-file` mode (the in-place mode is the
//! default of the other `v2_matrix` files) and HubSpot (the fake HubSpot), each with edits on
//! both sides, a both-changed conflict that writes nothing, and a second sync that writes
//! nothing.

use std::collections::BTreeSet;
use std::process::Output;

use crmsync_fake::hubspot::{FakeHubspot, FakeHubspotConfig, Limits, PROPERTIES_TOML, STATUS_MAP};
use crmsync_fake::inbox_v2::{ContactEdit, ContactView, ThreadEdit};
use serde_json::Value;

use crate::support::{TOKEN, TOKEN_ENV, assert_exit, col, json};
use crate::v2::{V2World, baseline_in, read_rows, write_rows, x_profile};
use crate::v2_matrix::{
    api_writes, archived, assert_second_sync_writes_nothing, assert_writes, cell, edit_crm,
    edit_inbox, open_conflicts, other_member, other_status, sync, tags_not_on,
};

/// Switches the world's config to `import-file` mode (import file `crm_import.csv`).
fn import_file_mode(world: &V2World) {
    let text = std::fs::read_to_string(world.config()).unwrap().replace(
        "write_mode = \"in-place\"",
        "write_mode = \"import-file\"\nimport_path = \"crm_import.csv\"",
    );
    std::fs::write(world.config(), text).unwrap();
}

/// Does what a user does with the import file: imports every cell of it into the CRM (by
/// record id), which then exports them; the file is removed.
fn import_into_the_crm(world: &V2World) -> usize {
    let path = world.dir.path().join("crm_import.csv");
    let mut import = csv::Reader::from_path(&path).expect("an import file");
    let headers = import.headers().unwrap().clone();
    let id = headers.iter().position(|h| h == "Record ID").unwrap();
    let mut rows = read_rows(&world.export());
    let mut imported = 0;
    for record in import.records() {
        let record = record.unwrap();
        let row = rows
            .iter_mut()
            .find(|r| r[col("Record ID")] == record[id])
            .unwrap();
        for (header, value) in headers.iter().zip(record.iter()) {
            row[col(header)] = value.to_string();
        }
        imported += 1;
    }
    write_rows(&world.export(), &rows);
    std::fs::remove_file(path).unwrap();
    imported
}

#[tokio::test(flavor = "multi_thread")]
async fn import_file_mode_on_v2_round_trips_and_leaves_nothing_pending() {
    let (world, c) = baseline_in(60, 8, "").await;
    import_file_mode(&world);
    let tag = tags_not_on(&world, &c[1]).remove(0);
    edit_inbox(
        &world,
        &c[0],
        ContactEdit {
            notes: Some(Some("changed in Inbox".into())),
            ..Default::default()
        },
    );
    edit_inbox(
        &world,
        &c[1],
        ContactEdit {
            tags_add: vec![tag.clone()],
            ..Default::default()
        },
    );
    edit_crm(&world, |rows| rows[2][col("Deal Value")] = "2468".into());
    let export = std::fs::read(world.export()).unwrap();

    let report = sync(&world, &[]).await;
    assert_writes(&report, 1, 2);
    assert_eq!(report["writes"]["to_import"], 2, "{report}");
    assert_eq!(
        std::fs::read(world.export()).unwrap(),
        export,
        "the export is not touched"
    );
    assert_eq!(
        world
            .fake
            .contact(&c[2].id)
            .unwrap()
            .valuation
            .unwrap()
            .to_string(),
        "2468"
    );

    // Not imported yet: the CRM's old values are not copied back to Inbox.
    let writes = api_writes(&world);
    let report = sync(&world, &[]).await;
    assert_eq!(report["writes"]["inbox"], 0, "{report}");
    assert_eq!(report["writes"]["crm_pending"], 2, "{report}");
    assert_eq!(api_writes(&world), writes);
    assert_eq!(
        world.fake.contact(&c[0].id).unwrap().notes.as_deref(),
        Some("changed in Inbox")
    );
    assert!(world.fake.contact(&c[1].id).unwrap().tags.contains(&tag));

    assert_eq!(import_into_the_crm(&world), 2);
    assert_eq!(cell(&world, 0, "Notes"), "changed in Inbox");
    let report = sync(&world, &[]).await;
    assert_writes(&report, 0, 0);
    let pending = json(
        &world
            .crmsync(&["conflicts", "list", "--json", "--kind", "pending-import"])
            .await,
    );
    assert_eq!(pending.as_array().unwrap().len(), 0, "{pending}");
    assert!(!world.dir.path().join("crm_import.csv").exists());
    assert_second_sync_writes_nothing(&world).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn import_file_mode_on_v2_writes_nothing_for_a_conflict() {
    let (world, c) = baseline_in(60, 8, "").await;
    import_file_mode(&world);
    edit_inbox(
        &world,
        &c[0],
        ContactEdit {
            valuation: Some(Some(111.0)),
            ..Default::default()
        },
    );
    edit_crm(&world, |rows| rows[0][col("Deal Value")] = "222".into());
    let report = sync(&world, &[]).await;
    assert_writes(&report, 0, 0);
    assert_eq!(api_writes(&world), 0);
    assert!(
        !world.dir.path().join("crm_import.csv").exists(),
        "no import file for a conflict"
    );
    let open = open_conflicts(&world, &c[0].id).await;
    assert!(
        open.contains(&("both-changed".into(), "valuation".into())),
        "{open:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// HubSpot

const HS_TOKEN_ENV: &str = "CRMSYNC_TEST_HUBSPOT_TOKEN";
const HS_TOKEN: &str = "hs-it-token-s3cr3t-value";

/// The v2 fake, the fake HubSpot seeded with one agreeing contact per linked Inbox contact,
/// and a config naming both.
struct HubspotV2 {
    world: V2World,
    hubspot: FakeHubspot,
    /// `(Inbox contact, HubSpot contact id)`.
    seeded: Vec<(ContactView, String)>,
}

fn hubspot_status(inbox: &str) -> &'static str {
    let found = STATUS_MAP.iter().find(|(name, _)| *name == inbox);
    found.map(|(_, value)| *value).expect("a mapped status")
}

impl HubspotV2 {
    /// `n` single-thread X contacts of a 60-contact v2 fake, seeded into HubSpot, then synced
    /// once (nothing to write).
    async fn baseline(n: usize) -> HubspotV2 {
        let world = V2World::start(60).await;
        let owner_emails = world.fake.members().into_iter().map(|(_, e)| e).collect();
        let hubspot = FakeHubspot::start(FakeHubspotConfig {
            token: HS_TOKEN.into(),
            contacts: 0,
            owner_emails,
            limits: Limits::off(),
        })
        .await
        .unwrap();
        // Every v2 tag gets an option of the same label (v2 has names v1 had not).
        for (i, (_, name)) in world.fake.tags().into_iter().enumerate() {
            if !hubspot
                .options("inbox_tags")
                .iter()
                .any(|(_, l)| *l == name)
            {
                hubspot.add_option("inbox_tags", &format!("v2_tag_{i}"), &name);
            }
        }
        let mut hs = HubspotV2 {
            world,
            hubspot,
            seeded: Vec::new(),
        };
        for c in hs.world.single_thread_x_contacts().into_iter().take(n) {
            let id = hs.hubspot.add_contact(&hs.properties(&c));
            hs.seeded.push((c, id));
        }
        hs.write_config("");
        let report = hs.sync().await;
        assert_eq!(report["linked"], n as u64, "{report}");
        assert_writes(&report, 0, 0);
        hs
    }

    /// A HubSpot contact's properties agreeing with the Inbox contact.
    fn properties(&self, c: &ContactView) -> Vec<(&'static str, String)> {
        let (x_id, username) = x_profile(c).unwrap();
        let thread = self.world.fake.thread(&c.thread_ids[0]).unwrap();
        let mut props = vec![
            ("twitter_user_id", x_id),
            ("twitterhandle", format!("@{username}")),
            ("inbox_tags", self.tag_values(&c.tags)),
            ("inbox_done", thread.archived.to_string()),
        ];
        if let Some(status) = &c.status {
            props.push(("hs_lead_status", hubspot_status(status).into()));
        }
        if let Some(valuation) = &c.valuation {
            props.push(("inbox_valuation", valuation.to_string()));
        }
        if let Some(notes) = &c.notes {
            props.push(("inbox_notes", notes.clone()));
        }
        if let Some(email) = &thread.assignee_email {
            props.push(("hubspot_owner_id", self.owner_id(email)));
        }
        props
    }

    fn tag_values(&self, names: &[String]) -> String {
        let options = self.hubspot.options("inbox_tags");
        let values: BTreeSet<String> = names
            .iter()
            .map(|name| {
                let found = options.iter().find(|(_, label)| label == name);
                found
                    .unwrap_or_else(|| panic!("no option for {name}"))
                    .0
                    .clone()
            })
            .collect();
        values.into_iter().collect::<Vec<_>>().join(";")
    }

    fn owner_id(&self, email: &str) -> String {
        let owners = self.hubspot.owners().into_iter();
        let found = owners
            .filter(|(_, e)| e.eq_ignore_ascii_case(email))
            .map(|(id, _)| id);
        found
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("no owner {email}"))
    }

    fn write_config(&self, extra: &str) {
        let statuses: String = STATUS_MAP
            .iter()
            .map(|(name, value)| format!("\"{name}\" = \"{value}\"\n"))
            .collect();
        let text = format!(
            "[inbox]\nbase_url = \"{inbox}\"\ntoken_env = \"{TOKEN_ENV}\"\ntimeout_secs = 10\n\n\
             [crm]\nkind = \"hubspot\"\n\n[crm.hubspot]\nbase_url = \"{hubspot}\"\n\
             token_env = \"{HS_TOKEN_ENV}\"\nrequests_per_window = 1000\nwindow_secs = 1\n\
             search_per_second = 100\n\n[crm.hubspot.properties]\n{PROPERTIES_TOML}\n\
             [mapping.status]\n{statuses}\n[limits]\nmin_interval_ms = 0\nbackoff_base_ms = 50\n{extra}",
            inbox = self.world.fake.base_url(),
            hubspot = self.hubspot.base_url(),
        );
        std::fs::write(self.world.config(), text).unwrap();
    }

    async fn crmsync(&self, args: &[&str]) -> Output {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_crmsync"));
        cmd.arg("--config").arg(self.world.config()).args(args);
        cmd.env(TOKEN_ENV, TOKEN).env(HS_TOKEN_ENV, HS_TOKEN);
        tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap()
    }

    async fn sync(&self) -> Value {
        let out = self.crmsync(&["sync", "--json"]).await;
        assert_exit(&out, 0);
        json(&out)
    }

    fn hs(&self, i: usize) -> crmsync_fake::hubspot::ContactView {
        self.hubspot.contact(&self.seeded[i].1).unwrap()
    }

    fn inbox(&self, i: usize) -> ContactView {
        self.world.fake.contact(&self.seeded[i].0.id).unwrap()
    }

    /// A sync that writes nothing on either side.
    async fn assert_quiet(&self) {
        let (inbox, crm) = (
            api_writes(&self.world),
            self.hubspot.stats().batch_updates(),
        );
        let report = self.sync().await;
        assert_writes(&report, 0, 0);
        assert_eq!(api_writes(&self.world), inbox);
        assert_eq!(self.hubspot.stats().batch_updates(), crm);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn hubspot_with_inbox_v2_syncs_both_ways_and_a_second_sync_writes_nothing() {
    let hs = HubspotV2::baseline(8).await;
    hs.assert_quiet().await;
    let c = |i: usize| hs.seeded[i].0.clone();
    // Inbox side (contact 0): status, valuation and a tag; (1) the thread archived/unarchived.
    let status = other_status(&hs.world, &c(0), &[]);
    let tag = tags_not_on(&hs.world, &c(0)).remove(0);
    edit_inbox(
        &hs.world,
        &c(0),
        ContactEdit {
            status: Some(Some(status.clone())),
            valuation: Some(Some(4321.5)),
            tags_add: vec![tag.clone()],
            ..Default::default()
        },
    );
    let done = !archived(&hs.world, &c(1));
    let flip = ThreadEdit {
        archived: Some(done),
        ..Default::default()
    };
    hs.world.fake.edit_thread(&c(1).thread_ids[0], flip);
    // HubSpot side (contact 2): notes and the owner; (3) a tag whose name needs encoding.
    let owner = other_member(&hs.world, &c(2), &[]);
    hs.hubspot
        .set_property(&hs.seeded[2].1, "inbox_notes", "edited in HubSpot");
    hs.hubspot
        .set_property(&hs.seeded[2].1, "hubspot_owner_id", &hs.owner_id(&owner));
    let slash = "Q3/2026 Pipeline".to_string();
    let mut tags3 = c(3).tags.clone();
    tags3.retain(|t| *t != slash);
    let had = tags3.len() != c(3).tags.len();
    if !had {
        tags3.push(slash.clone());
    }
    hs.hubspot
        .set_property(&hs.seeded[3].1, "inbox_tags", &hs.tag_values(&tags3));
    // Both sides, differently (contact 4): a conflict that writes nothing.
    edit_inbox(
        &hs.world,
        &c(4),
        ContactEdit {
            valuation: Some(Some(111.0)),
            ..Default::default()
        },
    );
    hs.hubspot
        .set_property(&hs.seeded[4].1, "inbox_valuation", "222");
    let (before, updates) = (api_writes(&hs.world), hs.hubspot.stats().batch_updates());

    let report = hs.sync().await;
    assert_eq!(report["planned"]["inbox"], 2, "{report}");
    assert_eq!(report["planned"]["crm"], 2, "{report}");
    assert_writes(&report, api_writes(&hs.world) - before, 2);
    assert_eq!(
        hs.hubspot.stats().batch_updates(),
        updates + 1,
        "one batch update"
    );
    let h0 = hs.hs(0);
    assert_eq!(h0.get("hs_lead_status"), Some(hubspot_status(&status)));
    assert_eq!(h0.get("inbox_valuation"), Some("4321.5"));
    let mut tags0 = c(0).tags.clone();
    tags0.push(tag);
    assert_eq!(h0.get("inbox_tags"), Some(hs.tag_values(&tags0).as_str()));
    assert_eq!(hs.hs(1).get("inbox_done"), Some(done.to_string().as_str()));
    let i2 = hs.inbox(2);
    assert_eq!(i2.notes.as_deref(), Some("edited in HubSpot"));
    let thread = hs.world.fake.thread(&c(2).thread_ids[0]).unwrap();
    assert_eq!(thread.assignee_email.as_deref(), Some(owner.as_str()));
    assert_eq!(
        hs.inbox(3).tags.contains(&slash),
        !had,
        "{:?}",
        hs.inbox(3).tags
    );
    // The conflict: neither side written.
    assert_eq!(hs.inbox(4).valuation.unwrap().to_string(), "111");
    assert_eq!(hs.hs(4).get("inbox_valuation"), Some("222"));
    let open = open_conflicts(&hs.world, &c(4).id).await;
    assert!(
        open.contains(&("both-changed".into(), "valuation".into())),
        "{open:?}"
    );
    hs.assert_quiet().await;

    // `crm-wins` settles it: Inbox takes HubSpot's value, and then all is quiet.
    hs.write_config("[policy]\nvaluation = \"crm-wins\"\n");
    let report = hs.sync().await;
    assert_writes(&report, 1, 0);
    assert_eq!(hs.inbox(4).valuation.unwrap().to_string(), "222");
    hs.assert_quiet().await;
}
