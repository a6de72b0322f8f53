//! `crmsync check` names the Inbox API in use and asks through that API's client: on v2 the
//! team, the platforms enabled and the status names; on v1 the `Deprecation`/`Sunset` headers,
//! and a retired v1 (`410 Gone`) in one line, in `check` as in a run.

use crate::support::{HEADER, World, agreeing_rows, assert_exit, stderr, stdout, write_export};
use crate::v2::V2World;

const RETIRED: &str = "Inbox API v1 is retired: set [inbox] api = \"v2\"";

#[tokio::test(flavor = "multi_thread")]
async fn check_on_v2_names_the_api_the_platforms_and_reads_the_v2_statuses() {
    let world = V2World::start(10).await;
    std::fs::write(world.export(), format!("{}\n", HEADER.join(","))).unwrap();
    let mapping = |interested: &str| {
        let config = std::fs::read_to_string(world.config()).unwrap();
        let mut text = String::from("\n[mapping.status]\n");
        for name in ["Lead", interested, "Negotiating", "Won", "Lost"] {
            text.push_str(&format!("\"{name}\" = \"{name}\"\n"));
        }
        std::fs::write(world.config(), config + &text).unwrap();
    };
    mapping("Interested");
    world.fake.reset_stats();

    let out = world.crmsync(&["check"]).await;
    assert_exit(&out, 0);
    let text = stdout(&out);
    assert!(text.contains("ok    Inbox: team"), "{text}");
    assert!(text.contains("(API v2)"), "{text}");
    assert!(
        text.contains("requests left in the current window"),
        "{text}"
    );
    assert!(
        text.contains("ok    Inbox platforms: X (twitter), LinkedIn (linkedin)"),
        "{text}"
    );
    assert!(text.contains("ok    [mapping.status]: 5 name(s)"), "{text}");
    let stats = world.fake.stats();
    for route in ["/team", "/platforms", "/statuses"] {
        assert_eq!(stats.count("GET", route), 1, "GET {route}: {stats:?}");
    }

    // The statuses are the v2 ones: a typo is caught with the right suggestion.
    world.write_config("");
    mapping("Intrested");
    let out = world.crmsync(&["check"]).await;
    assert_exit(&out, 1);
    let text = stdout(&out);
    assert!(
        text.contains(
            "FAIL  [mapping.status]: no Inbox status \"Intrested\"; did you mean \"Interested\"?"
        ),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn check_on_v1_names_the_api_and_the_sunset_date_it_announces() {
    let world = World::start(10, "").await;
    write_export(&world, &agreeing_rows(&world, 10));
    let out = world.crmsync(&["check"]).await;
    assert_exit(&out, 0);
    let text = stdout(&out);
    assert!(text.contains("(API v1)"), "{text}");
    assert!(
        !text.contains("warn  Inbox"),
        "no headers, no warning: {text}"
    );

    world
        .fake
        .announce_sunset(Some("Thu, 03 Dec 2099 00:00:00 GMT"));
    let out = world.crmsync(&["check"]).await;
    assert_exit(&out, 0);
    let text = stdout(&out);
    assert!(
        text.contains(
            "warn  Inbox API v1 is deprecated and stops answering on 2099-12-03 \
             (Sunset: Thu, 03 Dec 2099 00:00:00 GMT): set [inbox] api = \"v2\" before then"
        ),
        "{text}"
    );
    assert!(text.contains("ok    Inbox: team"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retired_v1_makes_check_and_every_run_say_one_line() {
    let world = World::start(10, "").await;
    write_export(&world, &agreeing_rows(&world, 10));
    world.fake.retire();

    let out = world.crmsync(&["check"]).await;
    assert_exit(&out, 1);
    let text = stdout(&out);
    let inbox: Vec<&str> = text.lines().filter(|l| l.contains("Inbox")).collect();
    assert_eq!(inbox, [format!("FAIL  {RETIRED}")], "{text}");
    assert!(
        text.contains("ok    CRM"),
        "the other checks still run: {text}"
    );

    let out = world.crmsync(&["-q", "check"]).await;
    assert_exit(&out, 1);
    assert_eq!(stderr(&out), format!("error: check failed: {RETIRED}\n"));

    for command in ["sync", "pull", "plan"] {
        let out = world.crmsync(&[command]).await;
        assert_exit(&out, 1);
        assert_eq!(stderr(&out), format!("error: {RETIRED}\n"), "{command}");
    }
    // One request each: a 410 is not retried.
    let stats = world.fake.stats();
    assert_eq!(stats.requests, 5, "{stats:?}");
}
