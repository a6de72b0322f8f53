//! Unit tests of `Config::parse`: defaults, paths, mapped fields and the errors naming file, key and line.

use std::path::Path;

use super::*;
use crate::reconcile::Rule;

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
    let half = with("api = \"v2\"\nbase_url = \"http://127.0.0.1:9/api/v1\"");
    let err = half.unwrap_err().to_string();
    assert!(err.contains("set api = \"v1\""), "{err}");
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

const HUBSPOT: &str = r#"
[inbox]

[crm]
kind = "hubspot"

[crm.hubspot]

[crm.hubspot.properties]
x_user_id = "twitter_user_id"
"#;

#[test]
fn hubspot_properties_with_a_default_are_mapped_when_omitted() {
    let cfg = parse(HUBSPOT).unwrap();
    let properties = &cfg.hubspot().unwrap().properties;
    assert_eq!(properties.username.as_deref(), Some("twitterhandle"));
    assert_eq!(properties.status.as_deref(), Some("hs_lead_status"));
    assert_eq!(properties.owner.as_deref(), Some("hubspot_owner_id"));
    let fields: Vec<Field> = cfg.reconcile_policy().fields.into_iter().collect();
    assert_eq!(fields, vec![Field::Status, Field::Assignee]);
}

#[test]
fn an_empty_hubspot_property_turns_its_field_off_defaults_included() {
    let text = format!("{HUBSPOT}owner = \"\"\nstatus = \" \"\nnotes = \"\"\n");
    let cfg = parse(&text).unwrap();
    let properties = &cfg.hubspot().unwrap().properties;
    assert_eq!(properties.owner, None);
    assert_eq!(properties.status, None);
    assert_eq!(properties.notes, None);
    assert_eq!(properties.property(Field::Assignee), None);
    assert!(cfg.reconcile_policy().fields.is_empty());
    // Turning a default off is a mapping change: the base is not reused under it.
    let fingerprint: serde_json::Value = serde_json::from_str(&cfg.mapping_fingerprint()).unwrap();
    assert_eq!(fingerprint["properties"]["owner"], serde_json::Value::Null);
    assert_ne!(
        cfg.mapping_fingerprint(),
        parse(HUBSPOT).unwrap().mapping_fingerprint()
    );
}

#[test]
fn turning_off_both_hubspot_match_keys_is_rejected() {
    let text = HUBSPOT.replace("x_user_id = \"twitter_user_id\"", "username = \"\"");
    let err = parse(&text).unwrap_err().to_string();
    assert!(
        err.contains("crm.hubspot.properties.x_user_id") && err.contains("map at least one"),
        "{err}"
    );
}

#[test]
fn an_empty_csv_column_is_the_same_as_an_omitted_one() {
    let text = MINIMAL.replace(
        "tags = \"Tags\"",
        "tags = \"Tags\"\nowner_email = \"\"\ndone = \"\"",
    );
    let cfg = parse(&text).unwrap();
    let columns = &cfg.csv().unwrap().columns;
    assert_eq!(columns.owner_email, None);
    assert_eq!(columns.done, None);
    assert_eq!(
        cfg.mapping_fingerprint(),
        parse(MINIMAL).unwrap().mapping_fingerprint()
    );
    let fields: Vec<Field> = cfg.reconcile_policy().fields.into_iter().collect();
    assert_eq!(fields, vec![Field::Tags]);
}

#[test]
fn an_empty_csv_id_column_is_rejected() {
    let text = MINIMAL.replace("id = \"Record ID\"", "id = \"\"");
    let err = parse(&text).unwrap_err().to_string();
    assert_eq!(
        err,
        "/etc/crmsync/sync.toml:12: key `crm.csv.columns.id`: must name the record id column (it is required)"
    );
}

#[test]
fn the_crm_kind_picks_its_section_and_the_other_one_is_ignored() {
    let cfg = parse(MINIMAL).unwrap();
    assert!(matches!(cfg.crm.adapter, CrmAdapterConfig::Csv(_)));
    assert_eq!(cfg.crm.adapter.kind(), CrmKind::Csv);
    assert!(cfg.hubspot().is_none());
    let both = format!("{MINIMAL}\n[crm.hubspot]\ntoken_env = \"HS\"\n");
    let cfg = parse(&both).unwrap();
    assert!(cfg.csv().is_some() && cfg.hubspot().is_none());
    let cfg = parse(HUBSPOT).unwrap();
    assert_eq!(cfg.crm.adapter.kind(), CrmKind::Hubspot);
    assert!(cfg.csv().is_none());
}

#[test]
fn a_crm_kind_without_its_section_names_the_section() {
    let text = "[inbox]\n[crm]\nkind = \"csv\"\n";
    assert_eq!(
        parse(text).unwrap_err().to_string(),
        "/etc/crmsync/sync.toml:2: key `crm.csv`: a [crm.csv] section is required with kind = \"csv\""
    );
    let text = "[inbox]\n[crm]\nkind = \"hubspot\"\n";
    assert_eq!(
        parse(text).unwrap_err().to_string(),
        "/etc/crmsync/sync.toml:2: key `crm.hubspot`: a [crm.hubspot] section is required with kind = \"hubspot\""
    );
}

#[test]
fn the_schedule_is_parsed_at_load() {
    let cfg = parse(MINIMAL).unwrap();
    assert_eq!(cfg.schedule.expression(), "0 2 * * *");
    assert_eq!(cfg.schedule.time_zone().name(), "UTC");
    let text =
        format!("{MINIMAL}\n[schedule]\ncron = \" 30 3 * * 1-5 \"\ntimezone = \"Europe/Paris\"\n");
    let cfg = parse(&text).unwrap();
    assert_eq!(cfg.schedule.expression(), "30 3 * * 1-5");
    assert_eq!(cfg.schedule.time_zone().name(), "Europe/Paris");
    let text = format!("{MINIMAL}\n[schedule]\ncron = \"0 2 31 2 *\"\n");
    assert_eq!(
        parse(&text).unwrap_err().to_string(),
        "/etc/crmsync/sync.toml:17: key `schedule.cron`: cron `0 2 31 2 *`: never matches a real date (check the day-of-month and month fields)"
    );
}
