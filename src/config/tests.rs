use std::path::Path;

use super::*;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(Path::new("/etc/crmsync/sync.toml"), text)
}

const MINIMAL: &str = r#"
[inbox]
token_env = "MY_TOKEN"

[crm]
kind = "csv"

[crm.csv]
path = "export.csv"

[crm.csv.columns]
id = "Record ID"
x_user_id = "X User ID"
tags = "Tags"
"#;

#[test]
fn example_file_parses() {
    let cfg = parse(include_str!("../../sync.toml.example")).unwrap();
    assert_eq!(cfg.inbox.token_env, "INBOX_API_TOKEN");
    assert_eq!(cfg.policy.tags, Rule::Merge);
    assert_eq!(cfg.reconcile_policy().fields.len(), 6);
}

#[test]
fn the_api_version_is_as_given_else_what_an_older_base_url_says_else_v2() {
    let with = |inbox: &str| parse(&MINIMAL.replacen("[inbox]", &format!("[inbox]\n{inbox}"), 1));
    let v1_url = with("base_url = \"http://127.0.0.1:9/api/v1/\"").unwrap();
    assert_eq!(v1_url.inbox.api(), InboxApi::V1);
    let v1 = with("api = \"v1\"").unwrap();
    assert_eq!(v1.inbox.api(), InboxApi::V1);
    assert_eq!(v1.inbox.base_url, "https://inboxapp.com/api/v1");
    let v2_url = with("base_url = \"http://127.0.0.1:9/api/v2\"").unwrap();
    assert_eq!(v2_url.inbox.api(), InboxApi::V2);
    let err = with("api = \"v3\"").unwrap_err().to_string();
    assert!(err.contains(":3:") && err.contains("`v1` or `v2`"), "{err}");
}

#[test]
fn minimal_file_gets_defaults_and_resolves_paths() {
    let cfg = parse(MINIMAL).unwrap();
    assert_eq!(cfg.inbox.api(), InboxApi::V2);
    assert_eq!(cfg.inbox.base_url, "https://inboxapp.com/api/v2");
    assert_eq!(cfg.state.dir, Path::new("/etc/crmsync/state"));
    let csv = cfg.csv().unwrap();
    assert_eq!(csv.path, Path::new("/etc/crmsync/export.csv"));
    assert_eq!(
        csv.import_path.as_deref(),
        Some(Path::new("/etc/crmsync/state/crm_import.csv"))
    );
    assert_eq!(
        cfg.reconcile_policy()
            .fields
            .into_iter()
            .collect::<Vec<_>>(),
        vec![Field::Tags]
    );
}

#[test]
fn unknown_key_names_file_key_and_line() {
    let text = MINIMAL.replace(
        "token_env = \"MY_TOKEN\"",
        "token_env = \"MY_TOKEN\"\ntokn = 1",
    );
    let err = parse(&text).unwrap_err().to_string();
    assert!(err.starts_with("/etc/crmsync/sync.toml:4:"), "{err}");
    assert!(err.contains("tokn"), "{err}");
}

#[test]
fn bad_enum_value_names_line() {
    let text = format!("{MINIMAL}\n[policy]\nstatus = \"sometimes\"\n");
    let err = parse(&text).unwrap_err().to_string();
    assert!(err.contains(":17:"), "{err}");
    assert!(err.contains("sometimes"), "{err}");
}

#[test]
fn invalid_value_names_key_and_line() {
    let text = format!("{MINIMAL}\n[safety]\nmax_change_ratio = 1.5\n");
    let err = parse(&text).unwrap_err().to_string();
    assert_eq!(
        err,
        "/etc/crmsync/sync.toml:17: key `safety.max_change_ratio`: must be between 0 and 1"
    );
}

#[test]
fn merge_rule_on_scalar_field_is_rejected() {
    let text = format!("{MINIMAL}\n[policy]\nvaluation = \"merge\"\n");
    let err = parse(&text).unwrap_err().to_string();
    assert!(err.contains("policy.valuation"), "{err}");
}

#[test]
fn missing_token_names_the_variable_not_a_value() {
    let mut cfg = parse(MINIMAL).unwrap();
    cfg.inbox.token_env = "CRMSYNC_TEST_SURELY_UNSET_VAR".into();
    let err = cfg.inbox_token().unwrap_err().to_string();
    assert!(err.contains("CRMSYNC_TEST_SURELY_UNSET_VAR"), "{err}");
}

#[test]
fn per_thread_mode_needs_an_account() {
    let text = format!("{MINIMAL}\n[fanout]\nmode = \"per-thread\"\n");
    let err = parse(&text).unwrap_err().to_string();
    assert!(err.contains("fanout.account"), "{err}");
}

#[test]
fn a_bad_schedule_names_the_key_and_line() {
    let text = format!("{MINIMAL}\n[schedule]\ncron = \"0 2 * *\"\n");
    let err = parse(&text).unwrap_err().to_string();
    assert!(
        err.contains("schedule.cron") && err.contains(":17:"),
        "{err}"
    );
    let text = format!("{MINIMAL}\n[schedule]\ntimezone = \"Europe/Berln\"\n");
    let err = parse(&text).unwrap_err().to_string();
    assert!(
        err.contains("schedule.timezone") && err.contains("Europe/Berlin"),
        "{err}"
    );
}
