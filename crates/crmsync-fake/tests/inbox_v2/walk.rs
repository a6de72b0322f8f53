//! Reference data, seeding, folders, the `folder=all` walk with movers, expansions and cursors.

use std::collections::{HashMap, HashSet};

use crmsync_fake::inbox_v2::Direction;
use serde_json::json;

use super::*;

#[tokio::test]
async fn every_answer_needs_the_token_and_errors_are_flat() {
    let (fake, _) = start(5).await;
    for token in [None, Some("wrong")] {
        let api = Api::new(&fake).with_token(token);
        let reply = api.get("/team").await;
        assert_eq!(reply.error_code(401), "unauthorized");
        assert!(reply.json()["details"].is_null());
    }
    let api = Api::new(&fake);
    assert_eq!(api.get("/nope").await.error_code(404), "notFound");
    assert_eq!(
        api.get("/threads/NotAnId").await.issue_paths(),
        [json!(["threadId"])]
    );
    let missing = api.get("/threads/abc123").await;
    assert_eq!(missing.error_code(404), "threadNotFound");
    let unknown_param = api.get("/team?x=1").await;
    assert_eq!(unknown_param.issue_paths(), [json!(["x"])]);
}

#[tokio::test]
async fn reference_routes_list_platforms_team_members_links_tags_and_statuses() {
    let (fake, api) = start(5).await;
    let platforms = api.ok("/platforms").await;
    let prefixes: HashMap<&str, &str> = platforms
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["platform"].as_str().unwrap(),
                p["usernamePrefix"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        prefixes,
        HashMap::from([("twitter", "@"), ("linkedin", "")])
    );
    assert_eq!(api.ok("/team").await["currency"], "USD");

    let members = api.all_pages("/members", "limit=2").await;
    let expected: Vec<String> = fake.members().into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids(&members).len(), expected.len());
    assert_eq!(
        ids(&members).into_iter().collect::<HashSet<_>>(),
        expected.into_iter().collect()
    );

    let links = api.all_pages("/account-links", "limit=1").await;
    assert_eq!(links.len(), 3);
    let linkedin = api.ok("/account-links?platform=linkedin").await;
    assert_eq!(linkedin["data"].as_array().unwrap().len(), 1);
    assert_eq!(linkedin["data"][0]["platform"], "linkedin");
    let other = api.get("/account-links?platform=mastodon").await;
    assert_eq!(other.error_code(403), "platformNotAvailable");
    assert_eq!(other.json()["details"], json!({ "platform": "mastodon" }));

    let tags = api.ok("/tags").await;
    assert!(tags["nextCursor"].is_null());
    let names: Vec<&str> = tags["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    let mut sorted = names.clone();
    sorted.sort_by_key(|n| n.to_lowercase());
    assert_eq!(names, sorted);
    let statuses = api.ok("/statuses").await;
    assert_eq!(
        statuses["data"].as_array().unwrap().len(),
        fake.statuses().len()
    );
}

#[tokio::test]
async fn contacts_group_x_and_linkedin_profiles_and_threads_point_at_them() {
    let (fake, _) = start(300).await;
    let contacts = fake.contacts();
    let both = contacts.iter().find(|c| {
        let platforms: HashSet<&str> = c.profiles.iter().map(|p| p.platform.as_str()).collect();
        platforms.len() == 2
    });
    assert!(both.is_some(), "a contact with an X and a LinkedIn profile");
    assert!(
        contacts
            .iter()
            .any(|c| c.profiles.len() >= 2 && c.profiles.iter().all(|p| p.platform == "twitter"))
    );
    assert!(
        contacts.iter().any(|c| c.thread_ids.is_empty()),
        "an imported contact"
    );
    for profile in fake.profiles() {
        match profile.platform.as_str() {
            "twitter" => {
                assert!(profile.platform_id.bytes().all(|b| b.is_ascii_digit()));
                assert_eq!(profile.handle, format!("@{}", profile.username));
            }
            "linkedin" => {
                assert!(!profile.platform_id.bytes().all(|b| b.is_ascii_digit()));
                assert_eq!(profile.handle, profile.username);
                assert!(profile.username.contains('-') && !profile.username.starts_with('@'));
            }
            other => panic!("unexpected platform {other}"),
        }
    }
    let profiles: HashMap<String, _> = fake
        .profiles()
        .into_iter()
        .map(|p| (p.id.clone(), p))
        .collect();
    let links: HashMap<String, String> = fake.account_links().into_iter().collect();
    let mut platforms = HashSet::new();
    for thread in fake.threads() {
        let profile = &profiles[&thread.profile_id];
        assert_eq!(profile.contact_id, thread.contact_id);
        assert_eq!(profile.platform, thread.platform);
        assert_eq!(links[&thread.account_link_id], thread.platform);
        platforms.insert(thread.platform);
    }
    assert_eq!(
        platforms.len(),
        2,
        "threads on X and LinkedIn account links"
    );
}

#[tokio::test]
async fn folders_partition_the_threads_as_documented() {
    let (fake, api) = start(200).await;
    let all: HashSet<String> = fake.threads().into_iter().map(|t| t.id).collect();
    let walk = |folder: &'static str| {
        let api = &api;
        async move {
            api.all_pages("/threads", &format!("folder={folder}&limit=100"))
                .await
        }
    };
    let inbox = walk("inbox").await;
    let requests = walk("requests").await;
    let archived = walk("archived").await;
    let no_reply = walk("noReply").await;
    assert!(
        inbox
            .iter()
            .all(|t| t["archived"] == false && t["isRequest"] == false)
    );
    assert!(
        requests
            .iter()
            .all(|t| t["archived"] == false && t["isRequest"] == true)
    );
    assert!(archived.iter().all(|t| t["archived"] == true));
    assert!(
        no_reply
            .iter()
            .all(|t| t["activity"]["direction"] == "inbound")
    );
    let inbox_ids: HashSet<String> = ids(&inbox).into_iter().collect();
    assert!(ids(&no_reply).iter().all(|id| inbox_ids.contains(id)));
    let mut union: HashSet<String> = inbox_ids;
    union.extend(ids(&requests));
    union.extend(ids(&archived));
    assert_eq!(union, all);
    assert_eq!(
        ids(&walk("all").await).into_iter().collect::<HashSet<_>>(),
        all
    );
    let default = api.all_pages("/threads", "limit=100").await;
    assert_eq!(ids(&default), ids(&inbox));
}

#[tokio::test]
async fn an_ascending_walk_sees_every_thread_even_when_threads_move_during_it() {
    let (fake, api) = start(120).await;
    let all: HashSet<String> = fake.threads().into_iter().map(|t| t.id).collect();
    let first_page = api.ok("/threads?folder=all&order=asc&limit=10").await;
    let seen_early = ids(first_page["data"].as_array().unwrap());
    // During the walk: a message on a thread already read, a reminder on another, a reply on a
    // thread still ahead; the hook fires on the 2nd, 3rd and 4th page requests.
    let ahead = fake
        .threads()
        .into_iter()
        .map(|t| t.id)
        .find(|id| !seen_early.contains(id))
        .unwrap();
    let movers = [seen_early[0].clone(), seen_early[5].clone(), ahead];
    let scripted = movers.clone();
    let mut pages = 0;
    fake.set_hook(move |script, req| {
        if req.route == "/threads" {
            pages += 1;
            match pages {
                2 => {
                    script.new_message(&scripted[0], Direction::Inbound);
                }
                3 => script.remind(&scripted[1]),
                4 => {
                    script.new_message(&scripted[2], Direction::Outbound);
                }
                _ => {}
            }
        }
    });
    let mut seen = seen_early.clone();
    let mut cursor = first_page["nextCursor"].as_str().unwrap().to_owned();
    loop {
        let page = api
            .ok(&format!(
                "/threads?folder=all&order=asc&limit=10&cursor={cursor}"
            ))
            .await;
        seen.extend(ids(page["data"].as_array().unwrap()));
        match page["nextCursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    fake.clear_hook();
    let distinct: HashSet<String> = seen.iter().cloned().collect();
    assert_eq!(distinct, all, "no thread is lost");
    for mover in &movers[..2] {
        assert_eq!(
            seen.iter().filter(|id| *id == mover).count(),
            2,
            "{mover} comes back"
        );
    }
    assert_eq!(
        seen.last(),
        Some(&movers[2]),
        "the last mover is at the newest end"
    );
}

#[tokio::test]
async fn a_descending_walk_loses_a_thread_that_jumps_ahead_of_the_cursor() {
    let (fake, api) = start(60).await;
    let first = api.ok("/threads?folder=all&limit=10").await;
    let everything = api.all_pages("/threads", "folder=all&limit=100").await;
    let oldest = ids(&everything).pop().unwrap();
    fake.new_message(&oldest, Direction::Inbound);
    let mut seen = ids(first["data"].as_array().unwrap());
    let mut cursor = first["nextCursor"].as_str().unwrap().to_owned();
    loop {
        let page = api
            .ok(&format!("/threads?folder=all&limit=10&cursor={cursor}"))
            .await;
        seen.extend(ids(page["data"].as_array().unwrap()));
        match page["nextCursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    assert!(
        !seen.contains(&oldest),
        "the mover jumped ahead and was lost for this walk"
    );
    assert_eq!(seen.len(), everything.len() - 1);
}

#[tokio::test]
async fn expand_embeds_the_contact_and_profile_next_to_their_ids() {
    let (_fake, api) = start(30).await;
    let page = api
        .ok("/threads?folder=all&expand=contact&expand=profile&limit=100")
        .await;
    for thread in page["data"].as_array().unwrap() {
        assert_eq!(thread["contact"]["id"], thread["contactId"]);
        assert_eq!(thread["profile"]["id"], thread["profileId"]);
        assert!(thread.get("accountLink").is_none());
        let profiles = thread["contact"]["profiles"].as_array().unwrap();
        assert!(profiles.iter().any(|p| p["id"] == thread["profileId"]));
        let contact = api
            .ok(&format!(
                "/contacts/{}",
                thread["contactId"].as_str().unwrap()
            ))
            .await;
        assert_eq!(contact, thread["contact"]);
    }
    let plain = api.ok("/threads?limit=1").await;
    assert!(plain["data"][0].get("contact").is_none());
    let five = api
        .get("/threads?expand=contact&expand=profile&expand=assignee&expand=accountLink&expand=contact")
        .await;
    assert_eq!(five.issue_paths(), [json!(["expand"])]);
    assert_eq!(
        api.get("/threads?expand[]=contact").await.issue_paths(),
        [json!(["expand[]"])]
    );
    assert_eq!(
        api.get("/threads?expand=status").await.issue_paths(),
        [json!(["expand", 0])]
    );
    assert_eq!(
        api.get("/threads?limit=101").await.issue_paths(),
        [json!(["limit"])]
    );
}

#[tokio::test]
async fn a_cursor_is_bound_to_the_filters_it_was_issued_for() {
    let (_fake, api) = start(60).await;
    let page = api.ok("/threads?folder=all&order=asc&limit=5").await;
    let cursor = page["nextCursor"].as_str().unwrap();
    // The same filters in another order, another `limit` and another `expand` are fine.
    let next = api
        .get(&format!(
            "/threads?limit=7&expand=contact&order=asc&folder=all&cursor={cursor}"
        ))
        .await;
    assert_eq!(next.status, 200, "{}", next.text);
    for other in [
        "folder=inbox&order=asc",
        "folder=all",
        "folder=all&order=asc&platform=twitter",
    ] {
        let replay = api.get(&format!("/threads?{other}&cursor={cursor}")).await;
        assert_eq!(replay.error_code(400), "invalidCursor", "{other}");
        assert!(replay.json()["details"].is_null());
    }
    let members = api.get(&format!("/members?cursor={cursor}")).await;
    assert_eq!(members.error_code(400), "invalidCursor");
    let junk = api.get("/threads?folder=all&order=asc&cursor=abc").await;
    assert_eq!(junk.error_code(400), "invalidCursor");
}

#[tokio::test]
async fn thread_filters_narrow_the_folder() {
    let (fake, api) = start(150).await;
    let contact = fake
        .contacts()
        .into_iter()
        .find(|c| c.thread_ids.len() >= 2)
        .unwrap();
    let found = api
        .all_pages("/threads", &format!("folder=all&contactId={}", contact.id))
        .await;
    let mut expected = contact.thread_ids.clone();
    expected.sort();
    let mut got = ids(&found);
    got.sort();
    assert_eq!(got, expected);
    let linkedin = api
        .all_pages("/threads", "folder=all&platform=linkedin&limit=100")
        .await;
    assert!(!linkedin.is_empty() && linkedin.iter().all(|t| t["platform"] == "linkedin"));
    let by_tag = api
        .all_pages("/threads", "folder=all&tag=vip&tag=q3%2F2026%20pipeline")
        .await;
    assert!(!by_tag.is_empty());
    let unassigned = api
        .all_pages("/threads", "folder=all&unassigned=true&limit=100")
        .await;
    assert!(unassigned.iter().all(|t| t["assigneeId"].is_null()));
    let both = api.get("/threads?unassigned=true&assigneeId=abc").await;
    assert_eq!(both.issue_paths(), [json!(["unassigned"])]);
    assert_eq!(
        api.get("/threads?tag=nope").await.issue_paths(),
        [json!(["tag", 0])]
    );
    assert_eq!(
        api.get("/threads?folder=done").await.issue_paths(),
        [json!(["folder"])]
    );
}
