//! The sections of `sync.toml` other than `[crm]` and `[schedule]`, with their defaults: each is
//! both the serde shape and the validated value (validation only refuses values, it does not
//! reshape these, except `[state] dir`, resolved against the config file's directory).
//!
//! It must not check values across keys or sections (that is `validate.rs`) nor read anything:
//! these are plain data with serde defaults.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use crate::reconcile::Rule;

/// `[inbox]`: where the API is and which env var holds the token.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboxConfig {
    /// Which Inbox API to speak: `v2` (contacts and profiles, X and LinkedIn; the default) or
    /// `v1` (X prospects only, retiring). Without the key, a `base_url` ending in `/api/v1`
    /// means v1 (configs written before v2), anything else v2.
    #[serde(default)]
    pub api: Option<InboxApi>,
    /// API base, default `https://inboxapp.com/api/v2` (or `/api/v1` with `api = "v1"`).
    #[serde(default)]
    pub base_url: String,
    /// Name of the env var that holds the token (never the token itself).
    #[serde(default = "default_token_env")]
    pub token_env: String,
    /// Per-request timeout in seconds.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
}

/// The Inbox API version crmsync speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InboxApi {
    /// `/api/v1`: X prospects and their context (retiring).
    V1,
    /// `/api/v2`: contacts with X and LinkedIn profiles.
    V2,
}

impl InboxApi {
    /// The public base URL of this version.
    pub fn default_base_url(self) -> &'static str {
        match self {
            InboxApi::V1 => "https://inboxapp.com/api/v1",
            InboxApi::V2 => "https://inboxapp.com/api/v2",
        }
    }

    /// `v1` or `v2`.
    pub fn as_str(self) -> &'static str {
        match self {
            InboxApi::V1 => "v1",
            InboxApi::V2 => "v2",
        }
    }
}

impl InboxConfig {
    /// The API version in use (after `Config::load`, always known).
    pub fn api(&self) -> InboxApi {
        self.api.unwrap_or(InboxApi::V2)
    }
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
