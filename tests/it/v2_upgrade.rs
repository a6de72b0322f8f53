//! Upgrading a v1 mirror to Inbox API v2 (DESIGN §9): a mirror made by today's binary against
//! the v1 fake, then the same state dir against a v2 fake holding the same people. The first
//! v2 run re-keys the links, base and conflicts from each prospect to the contact with its X
//! user id, and writes nothing where nothing changed (and, the base having moved along, a
//! one-sided change made meanwhile crosses as one).

use std::collections::{BTreeSet, HashMap};

use crmsync::store::Store;
use crmsync_fake::RateLimit;
use crmsync_fake::inbox_v1::ProspectView;
use crmsync_fake::inbox_v2::{Accounts, FakeConfig, FakeInboxV2, SeedPerson, SeedThread};
use serde_json::Value;

use crate::support::{TOKEN, World, agreeing_rows, assert_exit, json, write_export};

/// The v2 fake's view of a v1 prospect: the same X id, username, context and threads.
pub(crate) fn person(p: &ProspectView) -> SeedPerson {
    SeedPerson {
        x_user_id: p.platform_id.clone(),
        username: p.username.clone(),
        display_name: p.display_name.clone(),
        tags: p.tags.clone(),
        status: p.status.clone(),
        notes: p.notes.clone(),
        valuation: p.valuation.clone(),
        threads: (p.threads.iter())
            .map(|t| SeedThread {
                archived: t.done,
                is_request: t.is_request,
                assignee_email: t.assignee_email.clone(),
            })
            .collect(),
    }
}

async fn sync(world: &World) -> Value {
    let out = world.crmsync(&["sync", "--json"]).await;
    assert_exit(&out, 0);
    json(&out)
}

async fn conflicts(world: &World) -> Vec<Value> {
    let out = world.crmsync(&["conflicts", "list", "--json"]).await;
    assert_exit(&out, 0);
    json(&out).as_array().unwrap().clone()
}

/// Each stored link: prospect (or contact) id → CRM record id.
fn links(world: &World) -> HashMap<String, String> {
    let store = Store::open(&world.path().join("state").join("mirror.db")).unwrap();
    let links = store.links().unwrap().into_iter();
    links
        .map(|l| (l.prospect_id.into(), l.crm_id.into()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_first_v2_run_after_a_v1_mirror_re_keys_the_links_and_writes_nothing() {
    let world = World::start(30, "").await;
    write_export(&world, &agreeing_rows(&world, 30));
    let v1 = sync(&world).await;
    assert_eq!(v1["linked"], 30, "{v1}");
    assert_eq!(v1["writes"]["inbox"], 0, "{v1}");
    assert_eq!(v1["writes"]["crm"], 0, "{v1}");
    let v1_links = links(&world);
    let v1_conflicts = conflicts(&world).await.len();
    let by_x_id: HashMap<String, String> = (world.fake.prospects().into_iter())
        .map(|p| (p.external_id.clone(), p.platform_id.clone()))
        .collect();

    // The same people on API v2, and the same state dir; one note changed in Inbox meanwhile.
    let mut people: Vec<SeedPerson> = world.fake.prospects().iter().map(person).collect();
    people[0].notes = Some("edited in Inbox during the upgrade".into());
    let v2 = FakeInboxV2::start(FakeConfig {
        token: TOKEN.into(),
        accounts: Accounts { x: 3, linkedin: 1 },
        rate_limit: RateLimit::Off,
        people: Some(people),
        ..FakeConfig::default()
    })
    .await
    .unwrap();
    let config = std::fs::read_to_string(world.config()).unwrap();
    let config = config.replace(&world.fake.base_url(), &v2.base_url());
    std::fs::write(world.config(), config).unwrap();

    let upgraded = sync(&world).await;
    assert_eq!(upgraded["pull"]["mode"], "full", "{upgraded}");
    assert_eq!(upgraded["linked"], 30, "{upgraded}");
    // The base came along: the one note Inbox changed goes to the CRM, nothing else moves.
    assert_eq!(upgraded["writes"]["inbox"], 0, "{upgraded}");
    assert_eq!(upgraded["writes"]["crm"], 1, "{upgraded}");
    let notes = crate::support::col("Notes");
    assert_eq!(
        crate::support::read_export(&world)[0][notes],
        "edited in Inbox during the upgrade"
    );
    assert!(v2.write_log().is_empty(), "{:?}", v2.write_log());
    assert_eq!(conflicts(&world).await.len(), v1_conflicts);

    // Each link now names the contact holding its prospect's X user id, same record.
    let contact_of_x: HashMap<String, String> = (v2.profiles().into_iter())
        .map(|p| (p.platform_id, p.contact_id))
        .collect();
    let expected: HashMap<String, String> = (v1_links.iter())
        .map(|(prospect, crm)| (contact_of_x[&by_x_id[prospect]].clone(), crm.clone()))
        .collect();
    assert_eq!(links(&world), expected);
    let contacts: BTreeSet<String> = v2.contacts().into_iter().map(|c| c.id).collect();
    assert!(links(&world).keys().all(|id| contacts.contains(id)));
    let status = json(&world.crmsync(&["status", "--json"]).await);
    assert_eq!(status["inbox_api"], "v2", "{status}");

    // And the run after it replays the log and writes nothing either.
    let again = sync(&world).await;
    assert_eq!(again["writes"]["inbox"], 0, "{again}");
    assert_eq!(again["writes"]["crm"], 0, "{again}");
}
