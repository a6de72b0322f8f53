//! JSON shapes of the HubSpot CRM v3 endpoints the adapter uses (contacts, owners, properties,
//! search), as HubSpot documents them.
//!
//! These types never leave `crm::hubspot`: the adapter turns them into the core's vocabulary
//! (`CrmRecord`, `Fields`) in `record.rs`. Decoding is lenient where HubSpot is loose (unset
//! properties come as `null`, unknown keys are ignored) and strict where the sync depends on a
//! value (ids).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One CRM object (a contact) as listed, read, searched, created or updated.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Contact {
    /// The record id (= the `hs_object_id` property).
    pub id: String,
    /// Requested properties; unset ones are `null` (or absent).
    #[serde(default)]
    pub properties: BTreeMap<String, Option<String>>,
    /// ISO 8601 creation time.
    #[serde(default)]
    pub created_at: Option<String>,
    /// ISO 8601 last-modified time (mirrors `lastmodifieddate`).
    #[serde(default)]
    pub updated_at: Option<String>,
    /// Archived (deleted) records are only listed with `archived=true`.
    #[serde(default)]
    pub archived: bool,
}

impl Contact {
    /// A property's value, `None` when unset or empty.
    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties
            .get(name)
            .and_then(Option::as_deref)
            .filter(|v| !v.is_empty())
    }
}

/// `paging.next` of a listing or search page.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Paging {
    /// The next page, absent on the last one.
    #[serde(default)]
    pub next: Option<NextPage>,
}

/// The cursor of the next page.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct NextPage {
    /// Opaque cursor for `after`.
    pub after: String,
}

/// A page of `GET /crm/v3/objects/contacts` or `GET /crm/v3/owners`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Page<T> {
    /// The items.
    pub results: Vec<T>,
    /// Where the next page starts.
    #[serde(default)]
    pub paging: Option<Paging>,
}

impl<T> Page<T> {
    /// The `after` cursor of the next page, if any.
    pub fn next_after(&self) -> Option<&str> {
        self.paging
            .as_ref()?
            .next
            .as_ref()
            .map(|n| n.after.as_str())
    }
}

/// A page of `POST /crm/v3/objects/contacts/search`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SearchPage {
    /// Matches in the whole query (not only this page).
    #[serde(default)]
    pub total: u64,
    /// This page.
    pub results: Vec<Contact>,
    /// Where the next page starts (an offset; past 10,000 HubSpot answers 400).
    #[serde(default)]
    pub paging: Option<Paging>,
}

/// One user who can own records (`GET /crm/v3/owners`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Owner {
    /// Owner id, the value of `hubspot_owner_id`.
    pub id: String,
    /// Login e-mail; owners without one cannot be mapped.
    #[serde(default)]
    pub email: Option<String>,
    /// First name.
    #[serde(default)]
    pub first_name: Option<String>,
    /// Last name.
    #[serde(default)]
    pub last_name: Option<String>,
    /// Deactivated users are listed with `archived=true` only.
    #[serde(default)]
    pub archived: bool,
}

/// One option of an enumeration property.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PropertyOption {
    /// What users see.
    pub label: String,
    /// What the API reads and writes.
    pub value: String,
    /// Hidden options are still valid values.
    #[serde(default)]
    pub hidden: bool,
    /// Position in HubSpot's lists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_order: Option<i64>,
    /// Shown in HubSpot's property settings; sent back unchanged when the options are updated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// The body of `PATCH /crm/v3/properties/contacts/{name}` that replaces the options of an
/// enumeration (HubSpot has no call that adds one option: the list is sent whole).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OptionsUpdate {
    /// Every option the property keeps, the new ones included.
    pub options: Vec<PropertyOption>,
}

/// `GET /crm/v3/properties/contacts/{name}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PropertyDefinition {
    /// Internal name.
    pub name: String,
    /// Label shown in HubSpot.
    #[serde(default)]
    pub label: String,
    /// Data type: `string`, `number`, `enumeration`, `bool`, `datetime`, `date`, `phone_number`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Input control: `text`, `textarea`, `number`, `select`, `radio`, `checkbox` (multiple
    /// checkboxes), `booleancheckbox`, ...
    #[serde(default)]
    pub field_type: String,
    /// Options of an enumeration.
    #[serde(default)]
    pub options: Vec<PropertyOption>,
    /// Values computed by HubSpot cannot be written.
    #[serde(default)]
    pub modification_metadata: Option<ModificationMetadata>,
}

/// Whether a property can be written.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModificationMetadata {
    /// True for computed properties such as `lastmodifieddate`.
    #[serde(default)]
    pub read_only_value: bool,
}

impl PropertyDefinition {
    /// A multiple-checkboxes enumeration: one `;`-separated string holding a set of values.
    pub fn is_multi_checkbox(&self) -> bool {
        self.kind == "enumeration" && self.field_type == "checkbox"
    }

    /// Whether the value can be written through the API.
    pub fn is_read_only(&self) -> bool {
        self.modification_metadata
            .as_ref()
            .is_some_and(|m| m.read_only_value)
    }
}

/// One input of `batch/update`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpdateInput {
    /// Record id.
    pub id: String,
    /// New values; an empty string clears a property.
    pub properties: BTreeMap<String, String>,
}

/// One input of `batch/create`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CreateInput {
    /// Initial values.
    pub properties: BTreeMap<String, String>,
}

/// The body of every batch call: `{"inputs": [...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BatchInput<T> {
    /// At most 100.
    pub inputs: Vec<T>,
}

/// The answer of a batch call: 200 (all done) or 207 (some inputs failed, listed in `errors`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchResponse {
    /// `COMPLETE`, `PENDING`, `PROCESSING` or `CANCELED`.
    #[serde(default)]
    pub status: String,
    /// The records written.
    #[serde(default)]
    pub results: Vec<Contact>,
    /// Per-input failures (207 only).
    #[serde(default)]
    pub errors: Vec<BatchError>,
}

/// One failure inside a 207 answer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchError {
    /// `error`.
    #[serde(default)]
    pub status: String,
    /// `OBJECT_NOT_FOUND`, `VALIDATION_ERROR`, ...
    #[serde(default)]
    pub category: String,
    /// Human message.
    #[serde(default)]
    pub message: String,
    /// Which inputs: `{"ids": ["123", ...]}` for updates and reads.
    #[serde(default)]
    pub context: BTreeMap<String, Vec<String>>,
}

impl BatchError {
    /// The record ids this error names (`context.ids`, or `context.id`).
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        ["ids", "id"]
            .into_iter()
            .filter_map(|key| self.context.get(key))
            .flatten()
            .map(String::as_str)
    }
}

/// The body of `POST /crm/v3/objects/contacts/search`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchRequest {
    /// OR of AND-groups.
    pub filter_groups: Vec<FilterGroup>,
    /// Sort order.
    pub sorts: Vec<Sort>,
    /// Properties to return.
    pub properties: Vec<String>,
    /// Page size, at most 200.
    pub limit: u32,
    /// Offset cursor of the page, from the previous page's `paging.next.after`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

/// Filters that must all match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FilterGroup {
    /// The filters.
    pub filters: Vec<Filter>,
}

/// One filter, e.g. `lastmodifieddate GTE 1700000000000`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Filter {
    /// Property.
    pub property_name: String,
    /// `EQ`, `GTE`, `GT`, ...
    pub operator: String,
    /// Comparison value (datetimes as epoch milliseconds).
    pub value: String,
}

/// One sort key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Sort {
    /// Property.
    pub property_name: String,
    /// `ASCENDING` or `DESCENDING`.
    pub direction: String,
}
