//! Text a person typed is checked: `[mapping.status]` names against the team's statuses (with
//! the closest one suggested), `conflicts --kind/--field` against the valid ones, `undo RUN_ID`
//! against the runs; and a resolution names who made it when `$USER` is unset (cron, systemd).

use std::process::{Command, Output};

use crmsync_fake::inbox_v1::ContextEdit;

use crate::support::{
    TOKEN, TOKEN_ENV, World, agreeing_rows, assert_exit, col, json, read_export, stderr, stdout,
    write_export,
};

/// `[mapping.status]` mapping every status of the fake to itself, with "Interested" misspelled.
fn mapping_with_a_typo(world: &World) -> String {
    let mut mapping = String::from("[mapping.status]\n");
    for (_, name) in world.fake.statuses() {
        let typed = if name == "Interested" {
            "Intrested"
        } else {
            &name
        };
        mapping.push_str(&format!("\"{typed}\" = \"{name}\"\n"));
    }
    mapping
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mapped_status_that_is_not_an_inbox_status_fails_check_and_warns_in_plan() {
    let world = World::start(20, "").await;
    assert!(
        world.fake.statuses().iter().any(|(_, n)| n == "Interested"),
        "the fake has the status the test misspells"
    );
    write_export(&world, &agreeing_rows(&world, 20));
    world.write_config(&mapping_with_a_typo(&world));
    let expected = "no Inbox status \"Intrested\"; did you mean \"Interested\"?";

    let out = world.crmsync(&["check"]).await;
    assert_exit(&out, 1);
    let text = stdout(&out);
    assert!(
        text.contains(&format!("FAIL  [mapping.status]: {expected}")),
        "{text}"
    );

    let out = world.crmsync(&["plan"]).await;
    assert_exit(&out, 0);
    let text = stdout(&out);
    assert!(
        text.contains(&format!("warning: [mapping.status]: {expected}")),
        "{text}"
    );

    // Spelled right, check passes it.
    world.write_config(&mapping_with_a_typo(&world).replace("Intrested", "Interested"));
    let out = world.crmsync(&["check"]).await;
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains("ok    [mapping.status]"),
        "{}",
        stdout(&out)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn conflicts_with_an_unknown_kind_or_field_is_refused_with_the_valid_ones() {
    let world = World::start(1, "").await;
    for args in [
        &["conflicts", "list", "--kind", "nope"][..],
        &["conflicts", "export", "--kind", "fan-out"],
        &[
            "conflicts",
            "resolve",
            "--kind",
            "nope",
            "--dismiss",
            "--yes",
        ],
    ] {
        let out = world.crmsync(args).await;
        assert_exit(&out, 2);
        let err = stderr(&out);
        for kind in [
            "both-changed",
            "fanout",
            "identity",
            "unmapped",
            "rejected-by-api",
            "pending-import",
        ] {
            assert!(err.contains(kind), "{}: {err}", args.join(" "));
        }
    }
    let out = world
        .crmsync(&["conflicts", "list", "--field", "stauts"])
        .await;
    assert_exit(&out, 2);
    let err = stderr(&out);
    for field in [
        "tags",
        "status",
        "valuation",
        "notes",
        "assignee",
        "done",
        "record",
    ] {
        assert!(err.contains(field), "{err}");
    }
    // Under -q the refusal is one line.
    let out = world
        .crmsync(&["-q", "conflicts", "list", "--kind", "nope"])
        .await;
    assert_exit(&out, 2);
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn undo_of_a_run_that_does_not_exist_says_so_in_one_line_before_pulling() {
    let world = World::start(10, "").await;
    write_export(&world, &agreeing_rows(&world, 10));
    assert_exit(&world.crmsync(&["sync"]).await, 0);
    let requests = world.fake.stats().requests;
    let out = world.crmsync(&["undo", "99999"]).await;
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("no run 99999") && err.contains("crmsync runs"),
        "{err}"
    );
    assert_eq!(world.fake.stats().requests, requests, "nothing was pulled");
}

/// Runs `conflicts resolve ID --take inbox` with `USER` unset and `LOGNAME` as given.
async fn resolve_without_user(world: &World, id: u64, logname: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_crmsync"));
    cmd.arg("--config")
        .arg(world.config())
        .args(["conflicts", "resolve", &id.to_string(), "--take", "inbox"])
        .env(TOKEN_ENV, TOKEN)
        .env_remove("USER")
        .env_remove("LOGNAME");
    if let Some(name) = logname {
        cmd.env("LOGNAME", name);
    }
    tokio::task::spawn_blocking(move || cmd.output().expect("binary runs"))
        .await
        .expect("join")
}

#[tokio::test(flavor = "multi_thread")]
async fn resolved_by_falls_back_to_logname_then_the_uid_name_when_user_is_unset() {
    let world = World::start(40, "").await;
    write_export(&world, &agreeing_rows(&world, 30));
    assert_exit(&world.crmsync(&["sync"]).await, 0);
    let (idx, p) = world
        .fake
        .prospects()
        .into_iter()
        .take(30)
        .enumerate()
        .find(|(_, p)| p.threads.len() == 1 && p.status.is_some())
        .expect("a single-thread prospect with a status");
    world.fake.edit_context(
        &p.external_id,
        ContextEdit {
            status: Some(Some("Negotiating".into())),
            valuation: Some(Some(111.0)),
            ..ContextEdit::default()
        },
    );
    let mut rows = read_export(&world);
    rows[idx][col("Lead Status")] = "Lost".into();
    rows[idx][col("Deal Value")] = "222".into();
    write_export(&world, &rows);
    assert_exit(&world.crmsync(&["sync"]).await, 0);
    let open = json(&world.crmsync(&["conflicts", "list", "--json"]).await);
    let ids: Vec<u64> = open
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["prospect_id"] == p.external_id.as_str())
        .map(|c| c["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "{open}");

    let resolved_by = |world: &World, id: u64| {
        let world_config = world.config();
        async move {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_crmsync"));
            cmd.arg("--config").arg(world_config).args([
                "conflicts",
                "show",
                &id.to_string(),
                "--json",
            ]);
            let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
                .await
                .unwrap();
            json(&out)["resolved_by"].clone()
        }
    };
    assert_exit(
        &resolve_without_user(&world, ids[0], Some("ops-cron")).await,
        0,
    );
    assert_eq!(resolved_by(&world, ids[0]).await, "ops-cron");

    let whoami = Command::new("id").arg("-un").output().expect("id -un");
    let whoami = String::from_utf8(whoami.stdout).unwrap().trim().to_string();
    assert_exit(&resolve_without_user(&world, ids[1], None).await, 0);
    assert_eq!(resolved_by(&world, ids[1]).await, whoami.as_str());
}

/// Switching API versions half-way (`api = "v2"` kept, `base_url` pointed back at `/api/v1`,
/// as editing the example config does) is one line naming the key to change, before any request.
#[tokio::test(flavor = "multi_thread")]
async fn a_base_url_naming_the_other_api_version_is_a_config_error_that_names_the_fix() {
    let world = World::start(5, "").await;
    let config = std::fs::read_to_string(world.config()).unwrap();
    let config = config.replacen("[inbox]\n", "[inbox]\napi = \"v2\"\n", 1);
    std::fs::write(world.config(), config).unwrap();
    for command in ["check", "sync"] {
        let out = world.crmsync(&[command]).await;
        assert_exit(&out, 2);
        let text = format!("{}{}", stdout(&out), stderr(&out));
        assert!(
            text.contains("ends in /api/v1 but api = \"v2\": set api = \"v1\""),
            "{text}"
        );
    }
    assert_eq!(world.fake.stats().requests, 0);
}

/// A mistyped export path: one line naming the key to check, the cause said once (it read
/// "No such file or directory (os error 2): No such file or directory (os error 2)").
#[tokio::test(flavor = "multi_thread")]
async fn a_mistyped_export_path_names_the_key_in_one_line() {
    let world = World::start(3, "").await;
    let text = std::fs::read_to_string(world.config())
        .unwrap()
        .replace("path = \"crm_export.csv\"", "path = \"crm-export.csv\"");
    std::fs::write(world.config(), text).unwrap();
    let out = world.crmsync(&["plan"]).await;
    let line = crate::support::the_error_line(&out);
    assert!(line.contains("crm-export.csv"), "{line}");
    assert!(line.contains("check [crm.csv] path"), "{line}");
    assert_eq!(line.matches("No such file").count(), 0, "{line}");
    let check = world.crmsync(&["check"]).await;
    assert!(
        stdout(&check).contains("crm-export.csv: no such file: check [crm.csv] path"),
        "{}",
        stdout(&check)
    );
}
