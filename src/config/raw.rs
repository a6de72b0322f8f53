//! The serde shapes of `sync.toml` as written, before validation: the top level and `[crm]`
//! with both of its optional sections. The sections that need no reshaping are shared with the
//! validated [`Config`](super::Config) (`sections.rs`, `crm.rs`); `[schedule]` is in
//! `schedule.rs`.
//!
//! It must not check values (that is `validate.rs`) or resolve paths: a [`RawConfig`] is only
//! what TOML and serde accept, with unknown keys and wrong types already refused with the line.

use std::path::Path;

use serde::Deserialize;

use super::ConfigError;
use super::crm::{CreateRecords, CrmKind, CsvConfig, HubspotConfig};
use super::schedule::ScheduleConfig;
use super::sections::{
    FanoutConfig, InboxConfig, LimitsConfig, MappingConfig, PolicyConfig, PullConfig, SafetyConfig,
    StateConfig,
};

/// The whole file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub(super) inbox: InboxConfig,
    #[serde(default)]
    pub(super) state: StateConfig,
    pub(super) crm: RawCrmConfig,
    #[serde(default)]
    pub(super) mapping: MappingConfig,
    #[serde(default)]
    pub(super) policy: PolicyConfig,
    #[serde(default)]
    pub(super) fanout: FanoutConfig,
    #[serde(default)]
    pub(super) safety: SafetyConfig,
    #[serde(default)]
    pub(super) pull: PullConfig,
    #[serde(default)]
    pub(super) limits: LimitsConfig,
    #[serde(default)]
    pub(super) schedule: ScheduleConfig,
}

/// `[crm]` as written: `kind` and both optional sections, before validation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCrmConfig {
    pub(super) kind: CrmKind,
    #[serde(default)]
    pub(super) create_records: CreateRecords,
    #[serde(default)]
    pub(super) create_tag: Option<String>,
    #[serde(default)]
    pub(super) csv: Option<CsvConfig>,
    #[serde(default)]
    pub(super) hubspot: Option<HubspotConfig>,
}

/// Reads `text` (from `path`) into its raw shape; a TOML or type error names the line.
pub(super) fn from_toml(path: &Path, text: &str) -> Result<RawConfig, ConfigError> {
    toml::from_str(text).map_err(|err| ConfigError::Parse {
        path: path.to_path_buf(),
        line: err
            .span()
            .map(|span| line_of_offset(text, span.start))
            .unwrap_or(0),
        message: err.message().trim().to_string(),
    })
}

/// 1-based line of a byte offset.
fn line_of_offset(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}
