//! `sync.toml`: parsing, defaults, validation and the API token.
//!
//! This is the only module that reads environment variables (through [`env`]; the one other
//! reader is the test-only `failpoint`). Errors name the file, the key and
//! the line. The token is held as a [`SecretString`] and never printed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde::Deserialize;

use crate::reconcile::{FanoutMode, Field, Policy, Rule};
use crate::scheduler::Schedule;

/// A configuration problem: which file, which key, which line, and what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML or a key has the wrong type or an unknown name.
    #[error("{path}:{line}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line (0 when unknown).
        line: usize,
        /// The parser's message (it names the key).
        message: String,
    },
    /// A key has a value that parses but makes no sense.
    #[error("{path}:{line}: key `{key}`: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line (0 when the key is absent).
        line: usize,
        /// Dotted key, e.g. `safety.max_change_ratio`.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// The token's environment variable is not set.
    #[error(
        "the {service} API token is missing: set the environment variable {var} (named by `{key}` in {path})"
    )]
    MissingToken {
        /// `Inbox` or `HubSpot`.
        service: &'static str,
        /// The config key that names the variable.
        key: &'static str,
        /// The variable name.
        var: String,
        /// The config file.
        path: PathBuf,
    },
}

/// The whole configuration, validated. Relative paths are resolved against the config file's
/// directory.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file this came from.
    pub path: PathBuf,
    /// `[inbox]`.
    pub inbox: InboxConfig,
    /// `[state]`.
    pub state: StateConfig,
    /// `[crm]`.
    pub crm: CrmConfig,
    /// `[mapping]`.
    pub mapping: MappingConfig,
    /// `[policy]`.
    pub policy: PolicyConfig,
    /// `[fanout]`.
    pub fanout: FanoutConfig,
    /// `[safety]`.
    pub safety: SafetyConfig,
    /// `[pull]`.
    pub pull: PullConfig,
    /// `[limits]`.
    pub limits: LimitsConfig,
    /// `[schedule]`, parsed: the crontab line read in its time zone.
    pub schedule: Schedule,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    inbox: InboxConfig,
    #[serde(default)]
    state: StateConfig,
    crm: RawCrmConfig,
    #[serde(default)]
    mapping: MappingConfig,
    #[serde(default)]
    policy: PolicyConfig,
    #[serde(default)]
    fanout: FanoutConfig,
    #[serde(default)]
    safety: SafetyConfig,
    #[serde(default)]
    pull: PullConfig,
    #[serde(default)]
    limits: LimitsConfig,
    #[serde(default)]
    schedule: ScheduleConfig,
}

/// `[inbox]`: where the API is and which env var holds the token.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboxConfig {
    /// API base, default `https://inboxapp.com/api/v1`.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// Name of the env var that holds the token (never the token itself).
    #[serde(default = "default_token_env")]
    pub token_env: String,
    /// Per-request timeout in seconds.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
}

fn default_base_url() -> String {
    "https://inboxapp.com/api/v1".into()
}
fn default_token_env() -> String {
    "INBOX_API_TOKEN".into()
}
fn default_timeout_secs() -> u64 {
    30
}

/// `[state]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateConfig {
    /// Directory for `mirror.db`, the run lock, import files and reports.
    #[serde(default = "default_state_dir")]
    pub dir: PathBuf,
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig {
            dir: default_state_dir(),
        }
    }
}

fn default_state_dir() -> PathBuf {
    PathBuf::from("state")
}

/// Which CRM adapter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CrmKind {
    /// A CSV export.
    Csv,
    /// HubSpot contacts (API v3).
    Hubspot,
}

/// Which Inbox prospects without a CRM record get one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum CreateRecords {
    /// Never create records (default).
    #[default]
    None,
    /// Create a record for every unlinked prospect.
    All,
    /// Create records for prospects carrying `create_tag`.
    Tagged,
}

/// `[crm]`, validated: the record-creation settings and the one adapter `kind` names, with its
/// section.
#[derive(Debug, Clone)]
pub struct CrmConfig {
    /// Record creation for unlinked prospects.
    pub create_records: CreateRecords,
    /// Tag name for `create_records = "tagged"`.
    pub create_tag: Option<String>,
    /// The adapter and its section.
    pub adapter: CrmAdapterConfig,
}

/// The CRM adapter `[crm] kind` chose, with its section (a section for the other kind may be in
/// the file too, and is ignored).
#[derive(Debug, Clone)]
pub enum CrmAdapterConfig {
    /// `kind = "csv"` and `[crm.csv]`.
    Csv(CsvConfig),
    /// `kind = "hubspot"` and `[crm.hubspot]`.
    Hubspot(HubspotConfig),
}

impl CrmAdapterConfig {
    /// The `kind` this is.
    pub fn kind(&self) -> CrmKind {
        match self {
            CrmAdapterConfig::Csv(_) => CrmKind::Csv,
            CrmAdapterConfig::Hubspot(_) => CrmKind::Hubspot,
        }
    }
}

/// `[crm]` as written: `kind` and both optional sections, before validation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCrmConfig {
    kind: CrmKind,
    #[serde(default)]
    create_records: CreateRecords,
    #[serde(default)]
    create_tag: Option<String>,
    #[serde(default)]
    csv: Option<CsvConfig>,
    #[serde(default)]
    hubspot: Option<HubspotConfig>,
}

/// `[crm.hubspot]`: the HubSpot contacts API.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct HubspotConfig {
    /// API base, default `https://api.hubapi.com`.
    #[serde(default = "default_hubspot_base_url")]
    pub base_url: String,
    /// NAME of the env var that holds the private-app token.
    #[serde(default = "default_hubspot_token_env")]
    pub token_env: String,
    /// Requests allowed per rate-limit window (100 per 10 s on free/starter, 190 on
    /// professional/enterprise).
    #[serde(default = "default_hubspot_requests_per_window")]
    pub requests_per_window: u32,
    /// The window, seconds.
    #[serde(default = "default_hubspot_window_secs")]
    pub window_secs: u64,
    /// Search requests per second (the search endpoint has its own, lower limit).
    #[serde(default = "default_hubspot_search_per_second")]
    pub search_per_second: u32,
    /// Add a missing option to the tags property (instead of an `unmapped` conflict).
    #[serde(default)]
    pub create_missing_options: bool,
    /// Contact property per field.
    #[serde(default)]
    pub properties: HubspotProperties,
}

fn default_hubspot_base_url() -> String {
    "https://api.hubapi.com".into()
}
fn default_hubspot_token_env() -> String {
    "HUBSPOT_TOKEN".into()
}
fn default_hubspot_requests_per_window() -> u32 {
    100
}
fn default_hubspot_window_secs() -> u64 {
    10
}
fn default_hubspot_search_per_second() -> u32 {
    4
}

/// `[crm.hubspot.properties]`: the HubSpot contact property for each field; omitted fields are
/// not synced, except username, status and owner, which have defaults. An empty string (TOML
/// has no null) turns a field off, defaults included: `owner = ""` leaves owners alone.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct HubspotProperties {
    /// X numeric user id.
    #[serde(default, deserialize_with = "blank_is_none")]
    pub x_user_id: Option<String>,
    /// X handle (default `twitterhandle`).
    #[serde(
        default = "default_hubspot_username",
        deserialize_with = "blank_is_none"
    )]
    pub username: Option<String>,
    /// A multi-checkbox property holding the tags.
    #[serde(default, deserialize_with = "blank_is_none")]
    pub tags: Option<String>,
    /// Lead status (default `hs_lead_status`), mapped through `[mapping.status]`.
    #[serde(default = "default_hubspot_status", deserialize_with = "blank_is_none")]
    pub status: Option<String>,
    /// Deal value.
    #[serde(default, deserialize_with = "blank_is_none")]
    pub valuation: Option<String>,
    /// Notes.
    #[serde(default, deserialize_with = "blank_is_none")]
    pub notes: Option<String>,
    /// Owner (default `hubspot_owner_id`), mapped by owner e-mail to the Inbox member.
    #[serde(default = "default_hubspot_owner", deserialize_with = "blank_is_none")]
    pub owner: Option<String>,
    /// Done.
    #[serde(default, deserialize_with = "blank_is_none")]
    pub done: Option<String>,
}

/// A mapped name, where an empty (or blank) string means "not mapped": the way to turn off a
/// default, since TOML has no null.
fn blank_is_none<'de, D>(deserializer: D) -> Result<Option<String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let name = String::deserialize(deserializer)?;
    Ok((!name.trim().is_empty()).then_some(name))
}

fn default_hubspot_username() -> Option<String> {
    Some("twitterhandle".into())
}
fn default_hubspot_status() -> Option<String> {
    Some("hs_lead_status".into())
}
fn default_hubspot_owner() -> Option<String> {
    Some("hubspot_owner_id".into())
}

impl Default for HubspotProperties {
    fn default() -> Self {
        HubspotProperties {
            x_user_id: None,
            username: default_hubspot_username(),
            tags: None,
            status: default_hubspot_status(),
            valuation: None,
            notes: None,
            owner: default_hubspot_owner(),
            done: None,
        }
    }
}

impl HubspotProperties {
    /// The property mapped to a synced field, if any.
    pub fn property(&self, field: Field) -> Option<&str> {
        match field {
            Field::Tags => self.tags.as_deref(),
            Field::Status => self.status.as_deref(),
            Field::Valuation => self.valuation.as_deref(),
            Field::Notes => self.notes.as_deref(),
            Field::Assignee => self.owner.as_deref(),
            Field::Done => self.done.as_deref(),
        }
    }
}

/// How the CSV adapter writes changes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum CsvWriteMode {
    /// Write an import-ready CSV of changed records for the user to import (default).
    #[default]
    ImportFile,
    /// Rewrite the export atomically: the file is the CRM.
    InPlace,
}

/// `[crm.csv]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvConfig {
    /// The export file.
    pub path: PathBuf,
    /// Write mode.
    #[serde(default)]
    pub write_mode: CsvWriteMode,
    /// Where `import-file` mode writes its file; default `<state.dir>/crm_import.csv`.
    #[serde(default)]
    pub import_path: Option<PathBuf>,
    /// Field delimiter, one character: `,` (default) or `;`.
    #[serde(default = "default_delimiter")]
    pub delimiter: char,
    /// The decimal separator of amounts in the export (the other of `.` and `,` may group
    /// thousands).
    #[serde(default)]
    pub decimal_separator: DecimalSeparator,
    /// How the export writes day-first or month-first dates (`updated_at`); ISO dates always
    /// read.
    #[serde(default)]
    pub date_format: DateFormat,
    /// Column mapping.
    pub columns: CsvColumns,
}

/// `[crm.csv] decimal_separator`: how an export writes the fraction of an amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
pub enum DecimalSeparator {
    /// `1,234.50` (default).
    #[default]
    #[serde(rename = ".")]
    Dot,
    /// `1.234,50`.
    #[serde(rename = ",")]
    Comma,
}

impl DecimalSeparator {
    /// The separator character.
    pub fn as_char(self) -> char {
        match self {
            DecimalSeparator::Dot => '.',
            DecimalSeparator::Comma => ',',
        }
    }

    /// The other convention.
    pub fn other(self) -> DecimalSeparator {
        match self {
            DecimalSeparator::Dot => DecimalSeparator::Comma,
            DecimalSeparator::Comma => DecimalSeparator::Dot,
        }
    }
}

/// `[crm.csv] date_format`: which numeric dates an export writes besides ISO 8601.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum DateFormat {
    /// Only ISO dates (`2026-11-30`, `2026-11-30 14:03`, RFC 3339); the default.
    #[default]
    Iso,
    /// ISO, and `DD/MM/YYYY[ HH:MM[:SS]]`.
    Dmy,
    /// ISO, and `MM/DD/YYYY[ HH:MM[:SS]]`.
    Mdy,
}

fn default_delimiter() -> char {
    ','
}

/// `[crm.csv.columns]`: the CRM column header for each field; omitted fields are not synced (no
/// column has a default), and an empty string means the same, as in `[crm.hubspot.properties]`.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct CsvColumns {
    /// Record id column (required).
    pub id: String,
    /// X user id (= Inbox prospect `platformId`).
    #[serde(default, deserialize_with = "blank_is_none")]
    pub x_user_id: Option<String>,
    /// X username / handle.
    #[serde(default, deserialize_with = "blank_is_none")]
    pub username: Option<String>,
    /// Tags column.
    #[serde(default, deserialize_with = "blank_is_none")]
    pub tags: Option<String>,
    /// Separator between tags inside the tags cell.
    #[serde(default = "default_tags_separator")]
    pub tags_separator: String,
    /// Lead status column.
    #[serde(default, deserialize_with = "blank_is_none")]
    pub status: Option<String>,
    /// Deal value column.
    #[serde(default, deserialize_with = "blank_is_none")]
    pub valuation: Option<String>,
    /// Notes column.
    #[serde(default, deserialize_with = "blank_is_none")]
    pub notes: Option<String>,
    /// Owner e-mail column (maps to the Inbox assignee).
    #[serde(default, deserialize_with = "blank_is_none")]
    pub owner_email: Option<String>,
    /// Done column (`true/false`, `yes/no`, `1/0`).
    #[serde(default, deserialize_with = "blank_is_none")]
    pub done: Option<String>,
    /// Per-record last-modified column (for the `newest` policy).
    #[serde(default, deserialize_with = "blank_is_none")]
    pub updated_at: Option<String>,
}

fn default_tags_separator() -> String {
    ";".into()
}

impl CsvColumns {
    /// The header mapped to a synced field, if any.
    pub fn column(&self, field: Field) -> Option<&str> {
        match field {
            Field::Tags => self.tags.as_deref(),
            Field::Status => self.status.as_deref(),
            Field::Valuation => self.valuation.as_deref(),
            Field::Notes => self.notes.as_deref(),
            Field::Assignee => self.owner_email.as_deref(),
            Field::Done => self.done.as_deref(),
        }
    }
}

/// `[mapping]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingConfig {
    /// Inbox status name = CRM value.
    #[serde(default)]
    pub status: BTreeMap<String, String>,
}

/// `[policy]`: a rule per field.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// Tags rule (default merge).
    #[serde(default = "merge")]
    pub tags: Rule,
    /// Notes rule (default merge).
    #[serde(default = "merge")]
    pub notes: Rule,
    /// Status rule (default manual).
    #[serde(default = "manual")]
    pub status: Rule,
    /// Valuation rule (default manual).
    #[serde(default = "manual")]
    pub valuation: Rule,
    /// Assignee rule (default manual).
    #[serde(default = "manual")]
    pub assignee: Rule,
    /// Done rule (default manual).
    #[serde(default = "manual")]
    pub done: Rule,
}

fn merge() -> Rule {
    Rule::Merge
}
fn manual() -> Rule {
    Rule::Manual
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            tags: Rule::Merge,
            notes: Rule::Merge,
            status: Rule::Manual,
            valuation: Rule::Manual,
            assignee: Rule::Manual,
            done: Rule::Manual,
        }
    }
}

/// `[fanout]`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FanoutConfig {
    /// `log` (default), `skip`, `force` or `per-thread`.
    #[serde(default)]
    pub mode: FanoutModeName,
    /// With `per-thread`: the username of the account link whose thread is written.
    #[serde(default)]
    pub account: Option<String>,
}

/// The fan-out mode as written in the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum FanoutModeName {
    /// Record a conflict, push nothing.
    #[default]
    Log,
    /// Push nothing, record nothing.
    Skip,
    /// Write every thread.
    Force,
    /// Write the chosen account's thread only.
    PerThread,
}

/// `[safety]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SafetyConfig {
    /// Stop before writing when more than this share of linked records would change.
    #[serde(default = "default_max_change_ratio")]
    pub max_change_ratio: f64,
    /// Create tags that exist in the CRM but not in Inbox.
    #[serde(default)]
    pub create_missing_tags: bool,
    /// Stop before writing when more than this share of linked records would have their tags
    /// or their notes emptied (on either side).
    #[serde(default = "default_max_emptied_ratio")]
    pub max_emptied_ratio: f64,
    /// Stop before writing when more than this share of linked records would have their
    /// valuation, or their status, changed (on either side).
    #[serde(default = "default_max_field_change_ratio")]
    pub max_field_change_ratio: f64,
    /// The ratios above stop a run only when more than this many records would change too:
    /// a share of a handful of records means nothing (1 of 1 linked is 100 %).
    #[serde(default = "default_min_changed_records")]
    pub min_changed_records: u64,
}

fn default_min_changed_records() -> u64 {
    10
}

fn default_max_emptied_ratio() -> f64 {
    0.05
}
fn default_max_field_change_ratio() -> f64 {
    0.2
}

fn default_max_change_ratio() -> f64 {
    0.2
}

impl Default for SafetyConfig {
    fn default() -> Self {
        SafetyConfig {
            max_change_ratio: default_max_change_ratio(),
            create_missing_tags: false,
            max_emptied_ratio: default_max_emptied_ratio(),
            max_field_change_ratio: default_max_field_change_ratio(),
            min_changed_records: default_min_changed_records(),
        }
    }
}

/// `[pull]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullConfig {
    /// A full walk at least this often; incremental (events) in between.
    #[serde(default = "default_full_every_hours")]
    pub full_every_hours: u64,
}

fn default_full_every_hours() -> u64 {
    24
}

impl Default for PullConfig {
    fn default() -> Self {
        PullConfig {
            full_every_hours: default_full_every_hours(),
        }
    }
}

/// `[limits]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Share of the team's API budget left for people.
    #[serde(default = "default_reserve_ratio")]
    pub reserve_ratio: f64,
    /// Hard cap of requests per run.
    #[serde(default = "default_max_requests")]
    pub max_requests_per_run: u64,
    /// Minimum milliseconds between requests (default 200 = 300/min); 0 disables pacing.
    #[serde(default = "default_min_interval_ms")]
    pub min_interval_ms: u64,
    /// Attempts per request, the first included (429, 5xx and network errors are retried).
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// First retry delay in milliseconds; doubles per attempt (with jitter), capped at 60 s.
    #[serde(default = "default_backoff_base_ms")]
    pub backoff_base_ms: u64,
}

fn default_max_attempts() -> u32 {
    5
}
fn default_backoff_base_ms() -> u64 {
    1000
}

fn default_reserve_ratio() -> f64 {
    0.2
}
fn default_max_requests() -> u64 {
    20_000
}
fn default_min_interval_ms() -> u64 {
    200
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            reserve_ratio: default_reserve_ratio(),
            max_requests_per_run: default_max_requests(),
            min_interval_ms: default_min_interval_ms(),
            max_attempts: default_max_attempts(),
            backoff_base_ms: default_backoff_base_ms(),
        }
    }
}

/// `[schedule]` as written; [`Config::schedule`] is it parsed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    /// Standard 5-field crontab expression.
    #[serde(default = "default_cron")]
    pub cron: String,
    /// IANA time zone name.
    #[serde(default = "default_timezone")]
    pub timezone: String,
}

fn default_cron() -> String {
    "0 2 * * *".into()
}
fn default_timezone() -> String {
    "UTC".into()
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        ScheduleConfig {
            cron: default_cron(),
            timezone: default_timezone(),
        }
    }
}

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::parse(path, &text)
    }

    /// Parses and validates config text that came from `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|err| ConfigError::Parse {
            path: path.to_path_buf(),
            line: err
                .span()
                .map(|span| line_of_offset(text, span.start))
                .unwrap_or(0),
            message: err.message().trim().to_string(),
        })?;
        let invalid = |section: &str, key: &str, message: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            line: line_of_key(text, section, key),
            key: format!("{section}.{key}"),
            message,
        };

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
        if raw.inbox.token_env.trim().is_empty() {
            return Err(invalid(
                "inbox",
                "token_env",
                "must name an environment variable".into(),
            ));
        }
        if !raw.inbox.base_url.starts_with("http://") && !raw.inbox.base_url.starts_with("https://")
        {
            return Err(invalid(
                "inbox",
                "base_url",
                "must start with http:// or https://".into(),
            ));
        }
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
        let mut adapter = match raw.crm.kind {
            CrmKind::Csv => {
                let Some(csv) = raw.crm.csv else {
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
                if csv.columns.x_user_id.is_none() && csv.columns.username.is_none() {
                    return Err(invalid(
                        "crm.csv.columns",
                        "x_user_id",
                        "map at least one of x_user_id and username, or no record can be matched"
                            .into(),
                    ));
                }
                CrmAdapterConfig::Csv(csv)
            }
            CrmKind::Hubspot => {
                let Some(hubspot) = raw.crm.hubspot else {
                    return Err(invalid(
                        "crm",
                        "hubspot",
                        "a [crm.hubspot] section is required with kind = \"hubspot\"".into(),
                    ));
                };
                if !hubspot.base_url.starts_with("http://")
                    && !hubspot.base_url.starts_with("https://")
                {
                    return Err(invalid(
                        "crm.hubspot",
                        "base_url",
                        "must start with http:// or https://".into(),
                    ));
                }
                if hubspot.properties.x_user_id.is_none() && hubspot.properties.username.is_none() {
                    return Err(invalid(
                        "crm.hubspot.properties",
                        "x_user_id",
                        "map at least one of x_user_id and username, or no contact can be matched"
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
                CrmAdapterConfig::Hubspot(hubspot)
            }
        };
        if let Err(message) = crate::scheduler::parse_time_zone(&raw.schedule.timezone) {
            return Err(invalid("schedule", "timezone", message));
        }
        let schedule = Schedule::parse(&raw.schedule.cron, &raw.schedule.timezone)
            .map_err(|message| invalid("schedule", "cron", message))?;
        for (field, rule) in [
            ("status", raw.policy.status),
            ("valuation", raw.policy.valuation),
            ("assignee", raw.policy.assignee),
            ("done", raw.policy.done),
        ] {
            if rule == Rule::Merge {
                return Err(invalid(
                    "policy",
                    field,
                    "`merge` applies to tags and notes only; use manual, inbox-wins, crm-wins or newest".into(),
                ));
            }
        }

        let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let resolve = |p: &Path| -> PathBuf {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base_dir.join(p)
            }
        };
        let mut state = raw.state;
        state.dir = resolve(&state.dir);
        if let CrmAdapterConfig::Csv(csv) = &mut adapter {
            csv.path = resolve(&csv.path);
            csv.import_path = Some(match &csv.import_path {
                Some(p) => resolve(p),
                None => state.dir.join("crm_import.csv"),
            });
        }
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

    /// Reads the token from the env var named by `inbox.token_env`.
    pub fn inbox_token(&self) -> Result<SecretString, ConfigError> {
        env::token(&self.inbox.token_env).ok_or_else(|| ConfigError::MissingToken {
            service: "Inbox",
            key: "inbox.token_env",
            var: self.inbox.token_env.clone(),
            path: self.path.clone(),
        })
    }

    /// The merge policy for the reconcile core: synced fields (those the CRM maps), rules and
    /// fan-out mode.
    pub fn reconcile_policy(&self) -> Policy {
        let fields = match &self.crm.adapter {
            CrmAdapterConfig::Csv(csv) => Field::ALL
                .into_iter()
                .filter(|f| csv.columns.column(*f).is_some())
                .collect(),
            CrmAdapterConfig::Hubspot(hubspot) => Field::ALL
                .into_iter()
                .filter(|f| hubspot.properties.property(*f).is_some())
                .collect(),
        };
        let rules = [
            (Field::Tags, self.policy.tags),
            (Field::Notes, self.policy.notes),
            (Field::Status, self.policy.status),
            (Field::Valuation, self.policy.valuation),
            (Field::Assignee, self.policy.assignee),
            (Field::Done, self.policy.done),
        ]
        .into_iter()
        .collect();
        let fanout = match self.fanout.mode {
            FanoutModeName::Log => FanoutMode::Log,
            FanoutModeName::Skip => FanoutMode::Skip,
            FanoutModeName::Force => FanoutMode::Force,
            FanoutModeName::PerThread => FanoutMode::PerThread {
                account: self.fanout.account.clone().unwrap_or_default(),
            },
        };
        Policy {
            fields,
            rules,
            fanout,
        }
    }

    /// The `[crm.csv]` section with `kind = "csv"`; `None` with the other kind (match on
    /// [`CrmConfig::adapter`] to handle both).
    pub fn csv(&self) -> Option<&CsvConfig> {
        match &self.crm.adapter {
            CrmAdapterConfig::Csv(csv) => Some(csv),
            CrmAdapterConfig::Hubspot(_) => None,
        }
    }

    /// The `[crm.hubspot]` section with `kind = "hubspot"`; `None` with the other kind.
    pub fn hubspot(&self) -> Option<&HubspotConfig> {
        match &self.crm.adapter {
            CrmAdapterConfig::Hubspot(hubspot) => Some(hubspot),
            CrmAdapterConfig::Csv(_) => None,
        }
    }

    /// The field mapping as stable text (JSON): CRM columns, tag separator and status mapping.
    /// Stored with the base; when it changes, the base no longer means what it meant.
    pub fn mapping_fingerprint(&self) -> String {
        let columns = self.csv().map(|csv| &csv.columns);
        let properties = self.hubspot().map(|h| &h.properties);
        serde_json::json!({
            "columns": columns,
            "properties": properties,
            "status": self.mapping.status,
        })
        .to_string()
    }

    /// Reads the HubSpot token from the env var named by `crm.hubspot.token_env`.
    pub fn hubspot_token(&self) -> Result<SecretString, ConfigError> {
        let var = self
            .hubspot()
            .map_or_else(default_hubspot_token_env, |h| h.token_env.clone());
        env::token(&var).ok_or_else(|| ConfigError::MissingToken {
            service: "HubSpot",
            key: "crm.hubspot.token_env",
            var,
            path: self.path.clone(),
        })
    }

    /// Who is resolving a conflict, for the record: `$USER`, else `$LOGNAME`, else the name of
    /// the process's uid (`id -un`, which asks NSS as `getent` does: cron and systemd units
    /// often set neither variable). The error says how to set it.
    pub fn current_user() -> Result<String, String> {
        if let Some(user) = env::login_name() {
            return Ok(user);
        }
        std::process::Command::new("id")
            .arg("-un")
            .stderr(std::process::Stdio::null())
            .output()
            .ok()
            .filter(|out| out.status.success())
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .map(|name| name.trim().to_owned())
            .filter(|name| !name.is_empty())
            .ok_or_else(|| {
                "cannot tell who is resolving: $USER and $LOGNAME are unset and the uid has no name; run it as USER=yourname crmsync conflicts resolve ...".to_owned()
            })
    }
}

/// 1-based line of a byte offset.
fn line_of_offset(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
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

pub mod env;
mod suggest;

#[cfg(test)]
mod tests;

#[cfg(test)]
mod proptests;
