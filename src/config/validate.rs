//! From a [`RawConfig`] to a [`Config`]: every value check, with the error naming the file, the
//! key and its line, then the adapter `[crm] kind` names and the paths resolved against the
//! config file's directory.
//!
//! It must not read files or environment variables (the text comes in, the tokens are read
//! later through `env.rs`), and must not fill in defaults: serde did that in `raw.rs`.

use std::path::{Path, PathBuf};

use crate::reconcile::Rule;

use super::crm::{CreateRecords, CrmAdapterConfig, CrmConfig, CrmKind, CsvConfig, HubspotConfig};
use super::raw::RawConfig;
use super::sections::{FanoutModeName, InboxApi, InboxConfig, PolicyConfig, StateConfig};
use super::{Config, ConfigError, schedule};

/// Builds the error for `section.key`, naming the file and the key's line.
type Invalid<'a> = dyn Fn(&str, &str, String) -> ConfigError + 'a;

/// Checks `raw` (read from `text`, from `path`) and builds the validated config.
pub(super) fn validate(path: &Path, text: &str, mut raw: RawConfig) -> Result<Config, ConfigError> {
    let invalid = |section: &str, key: &str, message: String| ConfigError::Invalid {
        path: path.to_path_buf(),
        line: line_of_key(text, section, key),
        key: format!("{section}.{key}"),
        message,
    };

    check_ratios_and_limits(&raw, &invalid)?;
    settle_inbox(&mut raw.inbox, &invalid)?;
    check_record_creation_and_fanout(&raw, &invalid)?;
    let mut adapter = match raw.crm.kind {
        CrmKind::Csv => csv_adapter(raw.crm.csv, &invalid)?,
        CrmKind::Hubspot => hubspot_adapter(raw.crm.hubspot, &invalid)?,
    };
    let schedule = schedule::parse(&raw.schedule)
        .map_err(|(key, message)| invalid("schedule", key, message))?;
    check_policy(&raw.policy, &invalid)?;

    let mut state = raw.state;
    resolve_paths(path, &mut state, &mut adapter);
    let crm = CrmConfig {
        create_records: raw.crm.create_records,
        create_tag: raw.crm.create_tag,
        adapter,
    };
    Ok(Config {
        path: path.to_path_buf(),
        inbox: raw.inbox,
        state,
        crm,
        mapping: raw.mapping,
        policy: raw.policy,
        fanout: raw.fanout,
        safety: raw.safety,
        pull: raw.pull,
        limits: raw.limits,
        schedule,
    })
}

/// `[safety]`'s ratios are between 0 and 1; `[limits]` keeps a reserve below 1 and tries at
/// least once.
fn check_ratios_and_limits(raw: &RawConfig, invalid: &Invalid<'_>) -> Result<(), ConfigError> {
    for (key, value) in [
        ("max_change_ratio", raw.safety.max_change_ratio),
        ("max_emptied_ratio", raw.safety.max_emptied_ratio),
        ("max_field_change_ratio", raw.safety.max_field_change_ratio),
    ] {
        if !(0.0..=1.0).contains(&value) {
            return Err(invalid("safety", key, "must be between 0 and 1".into()));
        }
    }
    if !(0.0..1.0).contains(&raw.limits.reserve_ratio) {
        return Err(invalid(
            "limits",
            "reserve_ratio",
            "must be at least 0 and below 1".into(),
        ));
    }
    if raw.limits.max_attempts == 0 {
        return Err(invalid(
            "limits",
            "max_attempts",
            "must be at least 1".into(),
        ));
    }
    Ok(())
}

/// Settles `[inbox]`'s API version and base URL (filled in when not given), then checks the
/// token variable's name and the URL's scheme.
fn settle_inbox(inbox: &mut InboxConfig, invalid: &Invalid<'_>) -> Result<(), ConfigError> {
    // The API version: as given, else what an older config's base URL says, else v2; the
    // base URL defaults to the version's.
    let api = inbox.api.unwrap_or_else(|| {
        if inbox.base_url.trim_end_matches('/').ends_with("/api/v1") {
            InboxApi::V1
        } else {
            InboxApi::V2
        }
    });
    inbox.api = Some(api);
    // A base URL naming the other version is a half-done switch: say which key to change.
    let path_version = ["v1", "v2"]
        .into_iter()
        .find(|v| (inbox.base_url.trim_end_matches('/')).ends_with(&format!("/api/{v}")));
    if let Some(version) = path_version
        && version != api.as_str()
    {
        return Err(invalid(
            "inbox",
            "base_url",
            format!(
                "ends in /api/{version} but api = \"{}\": set api = \"{version}\", or point \
                 base_url at /api/{}",
                api.as_str(),
                api.as_str()
            ),
        ));
    }
    if inbox.base_url.is_empty() {
        inbox.base_url = api.default_base_url().to_string();
    }
    if inbox.token_env.trim().is_empty() {
        return Err(invalid(
            "inbox",
            "token_env",
            "must name an environment variable".into(),
        ));
    }
    if !inbox.base_url.starts_with("http://") && !inbox.base_url.starts_with("https://") {
        return Err(invalid(
            "inbox",
            "base_url",
            "must start with http:// or https://".into(),
        ));
    }
    Ok(())
}

/// The keys that another key's value makes required: `[crm] create_tag` with tagged record
/// creation, `[fanout] account` with the per-thread mode.
fn check_record_creation_and_fanout(
    raw: &RawConfig,
    invalid: &Invalid<'_>,
) -> Result<(), ConfigError> {
    if raw.crm.create_records == CreateRecords::Tagged && raw.crm.create_tag.is_none() {
        return Err(invalid(
            "crm",
            "create_tag",
            "is required with create_records = \"tagged\"".into(),
        ));
    }
    if raw.fanout.mode == FanoutModeName::PerThread && raw.fanout.account.is_none() {
        return Err(invalid(
            "fanout",
            "account",
            "is required with mode = \"per-thread\" (the username of the account link to write)"
                .into(),
        ));
    }
    Ok(())
}

/// The `[crm.csv]` section `kind = "csv"` needs, checked: a usual delimiter, an id column, a
/// tags separator and at least one identity column.
fn csv_adapter(
    csv: Option<CsvConfig>,
    invalid: &Invalid<'_>,
) -> Result<CrmAdapterConfig, ConfigError> {
    let Some(csv) = csv else {
        return Err(invalid(
            "crm",
            "csv",
            "a [crm.csv] section is required with kind = \"csv\"".into(),
        ));
    };
    if csv.delimiter != ',' && csv.delimiter != ';' && csv.delimiter != '\t' {
        return Err(invalid(
            "crm.csv",
            "delimiter",
            "must be \",\", \";\" or a tab".into(),
        ));
    }
    if csv.columns.id.trim().is_empty() {
        return Err(invalid(
            "crm.csv.columns",
            "id",
            "must name the record id column (it is required)".into(),
        ));
    }
    if csv.columns.tags_separator.is_empty() {
        return Err(invalid(
            "crm.csv.columns",
            "tags_separator",
            "must not be empty".into(),
        ));
    }
    let c = &csv.columns;
    if [
        &c.x_user_id,
        &c.username,
        &c.linkedin_id,
        &c.linkedin_username,
    ]
    .iter()
    .all(|column| column.is_none())
    {
        return Err(invalid(
            "crm.csv.columns",
            "x_user_id",
            "map at least one of x_user_id, username, linkedin_id and linkedin_username, \
             or no record can be matched"
                .into(),
        ));
    }
    Ok(CrmAdapterConfig::Csv(csv))
}

/// The `[crm.hubspot]` section `kind = "hubspot"` needs, checked: an http(s) base URL, at least
/// one identity property and a rate limit that lets a request through.
fn hubspot_adapter(
    hubspot: Option<HubspotConfig>,
    invalid: &Invalid<'_>,
) -> Result<CrmAdapterConfig, ConfigError> {
    let Some(hubspot) = hubspot else {
        return Err(invalid(
            "crm",
            "hubspot",
            "a [crm.hubspot] section is required with kind = \"hubspot\"".into(),
        ));
    };
    if !hubspot.base_url.starts_with("http://") && !hubspot.base_url.starts_with("https://") {
        return Err(invalid(
            "crm.hubspot",
            "base_url",
            "must start with http:// or https://".into(),
        ));
    }
    let p = &hubspot.properties;
    if [
        &p.x_user_id,
        &p.username,
        &p.linkedin_id,
        &p.linkedin_username,
    ]
    .iter()
    .all(|property| property.is_none())
    {
        return Err(invalid(
            "crm.hubspot.properties",
            "x_user_id",
            "map at least one of x_user_id, username, linkedin_id and linkedin_username, \
             or no contact can be matched"
                .into(),
        ));
    }
    if hubspot.requests_per_window == 0 || hubspot.window_secs == 0 {
        return Err(invalid(
            "crm.hubspot",
            "requests_per_window",
            "the rate limit must allow at least one request per window".into(),
        ));
    }
    Ok(CrmAdapterConfig::Hubspot(hubspot))
}

/// `merge` is for tags and notes only: the single-valued fields take another rule.
fn check_policy(policy: &PolicyConfig, invalid: &Invalid<'_>) -> Result<(), ConfigError> {
    for (field, rule) in [
        ("status", policy.status),
        ("valuation", policy.valuation),
        ("assignee", policy.assignee),
        ("done", policy.done),
    ] {
        if rule == Rule::Merge {
            return Err(invalid(
                "policy",
                field,
                "`merge` applies to tags and notes only; use manual, inbox-wins, crm-wins or newest".into(),
            ));
        }
    }
    Ok(())
}

/// Resolves the state directory and the CSV paths against the directory of the config file at
/// `path`; the import file defaults to `crm_import.csv` in the state directory.
fn resolve_paths(path: &Path, state: &mut StateConfig, adapter: &mut CrmAdapterConfig) {
    let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let resolve = |p: &Path| -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            base_dir.join(p)
        }
    };
    state.dir = resolve(&state.dir);
    if let CrmAdapterConfig::Csv(csv) = adapter {
        csv.path = resolve(&csv.path);
        csv.import_path = Some(match &csv.import_path {
            Some(p) => resolve(p),
            None => state.dir.join("crm_import.csv"),
        });
    }
}

/// 1-based line where `section.key` is set — under a `[section]` header, as a dotted key, or in
/// an inline table — or else the line where `section` is defined; 0 when neither is in the file.
fn line_of_key(text: &str, section: &str, key: &str) -> usize {
    let target = format!("{section}.{key}");
    let dotted = |name: &str| -> String {
        name.split('.')
            .map(|part| part.trim().trim_matches('"'))
            .collect::<Vec<_>>()
            .join(".")
    };
    let mut current = String::new();
    let mut section_line = 0;
    for (idx, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            let header = trimmed.trim_start_matches('[');
            current = dotted(header.split(']').next().unwrap_or(""));
            if current == target {
                return idx + 1;
            }
            if section_line == 0
                && (current == section || current.starts_with(&format!("{section}.")))
            {
                section_line = idx + 1;
            }
            continue;
        }
        let Some((name, rest)) = trimmed.split_once('=') else {
            continue;
        };
        let name = dotted(name);
        let full = if current.is_empty() {
            name
        } else {
            format!("{current}.{name}")
        };
        if full == target {
            return idx + 1;
        }
        let inline_holds_key = rest.trim_start().starts_with('{')
            && target.starts_with(&format!("{full}."))
            && rest.contains(key);
        if inline_holds_key {
            return idx + 1;
        }
        if section_line == 0 && (full == section || full.starts_with(&format!("{section}."))) {
            section_line = idx + 1;
        }
    }
    section_line
}
