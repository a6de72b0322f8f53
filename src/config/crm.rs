//! `[crm]`: the adapter kind, record creation, and the `[crm.csv]` and `[crm.hubspot]` sections
//! with their field mappings. The validated [`CrmConfig`] carries the one adapter `kind` names
//! as a [`CrmAdapterConfig`], so no caller has to look for a section that may be absent.
//!
//! It must not check values (that is `validate.rs`) or talk to a CRM (that is `crate::crm`):
//! these are the shapes and defaults, and the field-to-column/property lookups.

use std::path::PathBuf;

use serde::Deserialize;

use crate::reconcile::Field;

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
pub(super) fn default_hubspot_token_env() -> String {
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
    /// LinkedIn member id (no default). Left out of the serialized mapping when unmapped, so
    /// that configs without it keep their fingerprint.
    #[serde(
        default,
        deserialize_with = "blank_is_none",
        skip_serializing_if = "Option::is_none"
    )]
    pub linkedin_id: Option<String>,
    /// LinkedIn public-profile slug or profile URL (no default).
    #[serde(
        default,
        deserialize_with = "blank_is_none",
        skip_serializing_if = "Option::is_none"
    )]
    pub linkedin_username: Option<String>,
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
            linkedin_id: None,
            linkedin_username: None,
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
    /// LinkedIn member id (= the `platformId` of an Inbox v2 LinkedIn profile). Left out of
    /// the serialized mapping when unmapped, so that configs without it keep their fingerprint.
    #[serde(
        default,
        deserialize_with = "blank_is_none",
        skip_serializing_if = "Option::is_none"
    )]
    pub linkedin_id: Option<String>,
    /// LinkedIn public-profile slug, or a profile URL (`https://www.linkedin.com/in/slug/`).
    #[serde(
        default,
        deserialize_with = "blank_is_none",
        skip_serializing_if = "Option::is_none"
    )]
    pub linkedin_username: Option<String>,
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
