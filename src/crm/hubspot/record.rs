//! Translating HubSpot contacts to CRM records and field changes to HubSpot property values.
//!
//! Pure: no HTTP, no clock. The lookups it needs (owners, the tags property's options, the
//! property definitions) are loaded by the adapter and handed in as [`Lookups`]. A value that
//! cannot be read is rejected on its own (naming the property, the contact id and the value) and
//! leaves that field unknown for the contact, whose other values still read; a value that
//! cannot be written fails its write (naming the field and the value). Nothing here guesses.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};

use crate::config::HubspotProperties;
use crate::crm::{CrmRecord, CrmWrite, NewRecord, Reject, WriteStatus};
use crate::reconcile::{Amount, Change, Field, Fields, Value};

use super::wire::{Contact, Owner, PropertyDefinition, PropertyOption};

/// HubSpot's per-record modified time, always requested.
pub(crate) const LAST_MODIFIED: &str = "lastmodifieddate";

/// The source name of rejects.
pub(crate) const SOURCE: &str = "hubspot";

/// Owners both ways.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Owners {
    /// Owner id → lowercase e-mail, for active and deactivated owners alike (old records may
    /// still point at a deactivated owner).
    email_by_id: HashMap<String, String>,
    /// Lowercase e-mail → id, active owners only (only they can own records).
    active_by_email: HashMap<String, String>,
}

impl Owners {
    /// Indexes the active and the deactivated (archived) owners.
    pub fn new(active: &[Owner], archived: &[Owner]) -> Owners {
        let mut owners = Owners::default();
        for owner in archived.iter().chain(active) {
            if let Some(email) = owner
                .email
                .as_deref()
                .map(str::trim)
                .filter(|e| !e.is_empty())
            {
                owners
                    .email_by_id
                    .insert(owner.id.clone(), email.to_lowercase());
            }
        }
        for owner in active {
            if let Some(email) = owner
                .email
                .as_deref()
                .map(str::trim)
                .filter(|e| !e.is_empty())
            {
                owners
                    .active_by_email
                    .insert(email.to_lowercase(), owner.id.clone());
            }
        }
        owners
    }

    /// Number of owners with an e-mail (active or not).
    pub fn len(&self) -> usize {
        self.email_by_id.len()
    }
}

/// The options of the tags property: option value ↔ label.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct TagOptions {
    /// Option value → label.
    label_by_value: HashMap<String, String>,
    /// Exact option values.
    values: BTreeSet<String>,
    /// Lowercase label or value → option value (labels win over values).
    value_by_name: HashMap<String, String>,
}

impl TagOptions {
    /// Indexes an enumeration's options.
    pub fn new(definition: &PropertyDefinition) -> TagOptions {
        let mut options = TagOptions::default();
        for option in &definition.options {
            options
                .label_by_value
                .insert(option.value.clone(), option.label.clone());
            options.values.insert(option.value.clone());
            options
                .value_by_name
                .entry(option.value.to_lowercase())
                .or_insert_with(|| option.value.clone());
        }
        for option in &definition.options {
            options
                .value_by_name
                .insert(option.label.trim().to_lowercase(), option.value.clone());
        }
        options
    }

    /// The tag name of a stored value: the option's label (what users see in HubSpot, and what
    /// Inbox tags are named after); a value with no option stays as it is.
    fn name_of(&self, value: &str) -> String {
        self.label_by_value
            .get(value)
            .cloned()
            .unwrap_or_else(|| value.to_owned())
    }

    /// The option value for a tag name: an exact value, else a label or value compared
    /// case-insensitively.
    pub fn value_of(&self, name: &str) -> Option<&str> {
        if let Some(value) = self.values.get(name) {
            return Some(value);
        }
        self.value_by_name
            .get(&name.trim().to_lowercase())
            .map(String::as_str)
    }
}

/// What converting needs besides the property mapping.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Lookups {
    /// Owners, when the owner property is mapped.
    pub owners: Owners,
    /// The tags property's options, when it is an enumeration.
    pub tag_options: Option<TagOptions>,
}

/// The properties to request in the listing: every mapped one plus `lastmodifieddate`.
pub(crate) fn requested_properties(properties: &HubspotProperties) -> Vec<String> {
    let mut names: BTreeSet<&str> = Field::ALL
        .into_iter()
        .filter_map(|f| properties.property(f))
        .collect();
    names.extend(properties.x_user_id.as_deref());
    names.extend(properties.username.as_deref());
    names.extend(properties.linkedin_id.as_deref());
    names.extend(properties.linkedin_username.as_deref());
    names.insert(LAST_MODIFIED);
    names.into_iter().map(str::to_owned).collect()
}

/// Turns one listed contact into a record and a reject for each of its property values that
/// cannot be read; `row` is its 1-based position in the listing. A value that cannot be read
/// leaves its field unknown for this record ([`CrmRecord::unknown`]); the contact's other
/// values still sync.
pub(crate) fn to_record(
    contact: &Contact,
    row: u64,
    properties: &HubspotProperties,
    lookups: &Lookups,
) -> (CrmRecord, Vec<Reject>) {
    let reject = |property: &str, reason: String| Reject {
        source: SOURCE.into(),
        row,
        record_id: Some(contact.id.clone()),
        column: Some(property.to_owned()),
        reason: format!("contact {}: property {property}: {reason}", contact.id),
    };
    let value = |name: &Option<String>| name.as_deref().and_then(|n| contact.property(n));
    let mut fields = Fields::default();
    let mut unknown = BTreeSet::new();
    let mut rejects = Vec::new();
    for field in Field::ALL {
        let Some(property) = properties.property(field) else {
            continue;
        };
        let Some(raw) = contact.property(property) else {
            continue;
        };
        match field_value(field, raw.trim(), lookups) {
            Ok(value) => fields.set(value),
            Err(reason) => {
                unknown.insert(field);
                rejects.push(reject(
                    property,
                    format!("{reason}; the field is not synced until the value reads"),
                ));
            }
        }
    }
    let updated_at = match contact.property(LAST_MODIFIED) {
        Some(text) => {
            let time = parse_time(text);
            if time.is_none() {
                rejects.push(reject(
                    LAST_MODIFIED,
                    format!("{text:?} is not a date-time; the contact is read without it"),
                ));
            }
            time
        }
        None => contact.updated_at.as_deref().and_then(parse_time),
    };
    let record = CrmRecord {
        id: contact.id.clone().into(),
        x_user_id: value(&properties.x_user_id).map(|v| v.trim().to_owned()),
        username: value(&properties.username).and_then(crate::crm::identity::x_handle),
        linkedin_id: value(&properties.linkedin_id)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty()),
        linkedin_username: value(&properties.linkedin_username)
            .and_then(crate::crm::identity::linkedin_slug),
        fields,
        unknown,
        updated_at,
        row,
    };
    (record, rejects)
}

/// One mapped property's (trimmed) value as a field value, or why it cannot be read.
fn field_value(field: Field, raw: &str, lookups: &Lookups) -> Result<Value, String> {
    Ok(match field {
        Field::Tags => Value::Tags(
            split_tags(raw)
                .map(|v| match &lookups.tag_options {
                    Some(options) => options.name_of(v),
                    None => v.to_owned(),
                })
                .collect(),
        ),
        Field::Status => Value::Status(non_empty(raw)),
        Field::Valuation => {
            let amount = raw
                .parse::<Amount>()
                .map_err(|_| format!("{raw:?} is not a number"))?;
            Value::Valuation(Some(amount))
        }
        Field::Notes => Value::Notes(non_empty(raw)),
        Field::Assignee => {
            let email =
                lookups.owners.email_by_id.get(raw).ok_or_else(|| {
                    format!("owner {raw:?} is not a HubSpot owner with an e-mail")
                })?;
            Value::Assignee(Some(email.clone()))
        }
        Field::Done => {
            let done = parse_bool(raw).ok_or_else(|| format!("{raw:?} is not true/false"))?;
            Value::Done(Some(done))
        }
    })
}

/// The properties of one update: the changed fields' new values (an empty string clears).
/// Tags are written as the whole new set, option values joined by `;`.
pub(crate) fn update_properties(
    changes: &[Change],
    properties: &HubspotProperties,
    lookups: &Lookups,
) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for change in changes {
        let field = change.field();
        let Some(property) = properties.property(field) else {
            return Err(format!("field {field} is not mapped to a HubSpot property"));
        };
        out.insert(
            property.to_owned(),
            property_value(&change.new, property, lookups)?,
        );
    }
    Ok(out)
}

/// The properties of a new contact: its X id and handle, its LinkedIn id and slug (those it has)
/// plus every non-empty mapped field.
pub(crate) fn create_properties(
    record: &NewRecord,
    properties: &HubspotProperties,
    lookups: &Lookups,
) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    let identities = [
        (&properties.x_user_id, Some(&record.x_user_id)),
        (&properties.username, Some(&record.username)),
        (&properties.linkedin_id, record.linkedin_id.as_ref()),
        (
            &properties.linkedin_username,
            record.linkedin_username.as_ref(),
        ),
    ];
    for (property, value) in identities {
        // A contact without a profile on a platform leaves its properties unset.
        if let (Some(property), Some(value)) = (property, value.filter(|v| !v.is_empty())) {
            out.insert(property.clone(), value.clone());
        }
    }
    for field in Field::ALL {
        let (Some(property), value) = (properties.property(field), record.fields.get(field)) else {
            continue;
        };
        if !value.is_empty() {
            out.insert(
                property.to_owned(),
                property_value(&value, property, lookups)?,
            );
        }
    }
    Ok(out)
}

/// Tag names the writes would set that are not options of the tags property (none when the
/// property is not an enumeration: any text goes there).
pub(crate) fn missing_tags(writes: &[CrmWrite], lookups: &Lookups) -> BTreeSet<String> {
    let Some(options) = &lookups.tag_options else {
        return BTreeSet::new();
    };
    let mut names: Vec<&String> = Vec::new();
    for write in writes {
        match write {
            CrmWrite::Update { changes, .. } => {
                for change in changes {
                    if let Value::Tags(tags) = &change.new {
                        names.extend(tags);
                    }
                }
            }
            CrmWrite::Create(record) => names.extend(&record.fields.tags),
        }
    }
    names
        .into_iter()
        .filter(|name| options.value_of(name).is_none())
        .cloned()
        .collect()
}

/// The options of `definition` followed by one new option per name it lacks: the name as the
/// label, and as the value a lowercase `snake_case` form of it that no option uses yet. `None`
/// when every name is an option already.
pub(crate) fn with_new_options(
    definition: &PropertyDefinition,
    names: &BTreeSet<String>,
) -> Option<Vec<PropertyOption>> {
    let existing = TagOptions::new(definition);
    let mut taken: BTreeSet<String> = definition.options.iter().map(|o| o.value.clone()).collect();
    let mut options = definition.options.clone();
    let mut order = options
        .iter()
        .filter_map(|o| o.display_order)
        .max()
        .map_or(options.len() as i64, |max| max + 1);
    let mut added = false;
    for name in names {
        let label = name.trim();
        if label.is_empty() || existing.value_of(label).is_some() {
            continue;
        }
        let value = option_value(label, &taken);
        taken.insert(value.clone());
        options.push(PropertyOption {
            label: label.to_owned(),
            value,
            hidden: false,
            display_order: Some(order),
            description: None,
        });
        order += 1;
        added = true;
    }
    added.then_some(options)
}

/// `Hot Lead!` → `hot_lead`, made unique against `taken` with a numeric suffix.
fn option_value(label: &str, taken: &BTreeSet<String>) -> String {
    let mut slug = String::new();
    for c in label.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('_') {
            slug.push('_');
        }
    }
    let slug = match slug.trim_end_matches('_') {
        "" => "tag",
        trimmed => trimmed,
    };
    if !taken.contains(slug) {
        return slug.to_owned();
    }
    (2..)
        .map(|n| format!("{slug}_{n}"))
        .find(|candidate| !taken.contains(candidate))
        .expect("an unbounded range has a free suffix")
}

/// One field value as HubSpot stores it.
fn property_value(value: &Value, property: &str, lookups: &Lookups) -> Result<String, String> {
    Ok(match value {
        Value::Tags(tags) => {
            let values = tags
                .iter()
                .map(|tag| match &lookups.tag_options {
                    Some(options) => options.value_of(tag).map(str::to_owned).ok_or_else(|| {
                        format!(
                            "{}tag {tag:?} is not an option of the HubSpot property {property}; add it there, or set crm.hubspot.create_missing_options = true",
                            WriteStatus::UNMAPPED_PREFIX
                        )
                    }),
                    None => Ok(tag.clone()),
                })
                .collect::<Result<BTreeSet<String>, String>>()?;
            values.into_iter().collect::<Vec<_>>().join(";")
        }
        Value::Status(v) | Value::Notes(v) => v.clone().unwrap_or_default(),
        Value::Valuation(v) => v.map(|a| a.to_string()).unwrap_or_default(),
        Value::Assignee(None) => String::new(),
        Value::Assignee(Some(email)) => lookups
            .owners
            .active_by_email
            .get(&email.trim().to_lowercase())
            .cloned()
            .ok_or_else(|| {
                format!(
                    "{}no active HubSpot owner has the e-mail {email}",
                    WriteStatus::UNMAPPED_PREFIX
                )
            })?,
        Value::Done(v) => v.map(|d| d.to_string()).unwrap_or_default(),
    })
}

/// The values of a multi-checkbox string (`a;b;;c`), trimmed, empties dropped.
fn split_tags(raw: &str) -> impl Iterator<Item = &str> {
    raw.split(';').map(str::trim).filter(|v| !v.is_empty())
}

fn non_empty(raw: &str) -> Option<String> {
    (!raw.is_empty()).then(|| raw.to_owned())
}

/// HubSpot booleans are `true`/`false`; spreadsheet-style spellings are accepted too.
fn parse_bool(raw: &str) -> Option<bool> {
    match raw.to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" => Some(true),
        "false" | "no" | "0" => Some(false),
        _ => None,
    }
}

/// HubSpot date-times: ISO 8601 (`2024-05-01T10:00:00.123Z`) or epoch milliseconds.
pub(crate) fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Some(time.with_timezone(&Utc));
    }
    text.parse::<i64>()
        .ok()
        .and_then(DateTime::from_timestamp_millis)
}
