//! JSON shapes of the fake HubSpot: the request bodies it accepts and the responses it renders
//! (contacts, batch answers, owners, property definitions, error and rate-limit bodies), after
//! HubSpot's CRM v3 reference.
//!
//! These are the fake's own: nothing here may come from the adapter (crmsync's
//! `crm::hubspot`), so the two cross-check each other. No HTTP and no model changes here.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::common::{now_ms, timestamp};

use super::state::{ALWAYS_RETURNED, BatchOutcome, Contact, Model, Owner, PropertySpec};

/// Properties a contact response carries when none are requested.
pub(crate) const DEFAULT_PROPERTIES: [&str; 3] = ["email", "firstname", "lastname"];

/// HubSpot's error body.
pub(crate) fn error_body(category: &str, message: &str) -> Value {
    json!({
        "status": "error",
        "message": message,
        "correlationId": correlation_id(),
        "category": category,
    })
}

/// A correlation id in HubSpot's format (a UUID).
pub(crate) fn correlation_id() -> String {
    let ms = now_ms();
    format!("fa4e0000-0000-4000-8000-{:012x}", ms & 0xffff_ffff_ffff)
}

/// The body of a 429, naming the policy that was hit.
pub(crate) fn rate_limit_body(policy: &str) -> Value {
    json!({
        "status": "error",
        "message": format!("You have reached your {} limit.", policy.to_lowercase()),
        "errorType": "RATE_LIMIT",
        "correlationId": correlation_id(),
        "policyName": policy,
        "groupName": format!("publicapi:private-app-api-calls-{}:fake", policy.to_lowercase()),
    })
}

/// A contact object with the requested properties (or the defaults), plus the three HubSpot
/// always returns; unset ones are `null`.
pub(crate) fn contact_json(
    model: &Model,
    contact: &Contact,
    requested: Option<&[String]>,
) -> Value {
    let mut properties = serde_json::Map::new();
    let defaults: Vec<String> = DEFAULT_PROPERTIES.iter().map(|s| (*s).to_owned()).collect();
    let names = requested.unwrap_or(&defaults);
    for name in names.iter().map(String::as_str).chain(ALWAYS_RETURNED) {
        // Unknown properties are left out silently, as HubSpot does.
        if model.properties.contains_key(name) {
            properties.insert(
                name.to_owned(),
                contact.value(name).map_or(Value::Null, Value::String),
            );
        }
    }
    json!({
        "id": contact.id.to_string(),
        "properties": properties,
        "createdAt": timestamp(contact.created_ms),
        "updatedAt": timestamp(contact.modified_ms),
        "archived": contact.archived,
    })
}

/// `{"inputs": [...]}` of the batch endpoints (`properties` for `batch/read`).
#[derive(Deserialize)]
pub(crate) struct Inputs<T> {
    pub(crate) inputs: Vec<T>,
    #[serde(default)]
    pub(crate) properties: Option<Vec<String>>,
}

/// One `batch/update` input.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UpdateIn {
    pub(crate) id: Value,
    #[serde(default)]
    pub(crate) properties: BTreeMap<String, Value>,
    #[serde(default)]
    pub(crate) id_property: Option<String>,
}

/// One `batch/create` input.
#[derive(Deserialize)]
pub(crate) struct CreateIn {
    #[serde(default)]
    pub(crate) properties: BTreeMap<String, Value>,
}

/// The body of `PATCH /crm/v3/properties/contacts/{name}`: the fields to change (the fake
/// changes the label and the options; the options sent replace the whole list).
#[derive(Deserialize)]
pub(crate) struct PropertyPatchIn {
    #[serde(default)]
    pub(crate) label: Option<String>,
    #[serde(default)]
    pub(crate) options: Option<Vec<OptionIn>>,
}

/// One option of a property update.
#[derive(Deserialize)]
pub(crate) struct OptionIn {
    pub(crate) label: String,
    pub(crate) value: String,
}

/// One `batch/read` input.
#[derive(Deserialize)]
pub(crate) struct IdIn {
    pub(crate) id: Value,
}

/// The body of a search.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SearchIn {
    #[serde(default)]
    pub(crate) filter_groups: Vec<GroupIn>,
    #[serde(default)]
    pub(crate) sorts: Vec<SortIn>,
    #[serde(default)]
    pub(crate) properties: Option<Vec<String>>,
    #[serde(default)]
    pub(crate) limit: Option<usize>,
    #[serde(default)]
    pub(crate) after: Option<Value>,
    #[serde(default)]
    pub(crate) query: Option<String>,
}

/// One filter group (its filters are ANDed; groups are ORed).
#[derive(Deserialize)]
pub(crate) struct GroupIn {
    #[serde(default)]
    pub(crate) filters: Vec<FilterIn>,
}

/// One search filter.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FilterIn {
    pub(crate) property_name: String,
    pub(crate) operator: String,
    #[serde(default)]
    pub(crate) value: Option<Value>,
}

/// One sort rule, as a name (`-` prefix: descending) or an object.
#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum SortIn {
    /// `"lastmodifieddate"` or `"-lastmodifieddate"`.
    Name(String),
    #[serde(rename_all = "camelCase")]
    Object {
        property_name: String,
        #[serde(default)]
        direction: Option<String>,
    },
}

/// An owner object.
pub(crate) fn owner_json(owner: &Owner) -> Value {
    json!({
        "id": owner.id,
        "email": owner.email,
        "firstName": owner.first_name,
        "lastName": owner.last_name,
        "userId": owner.id.parse::<u64>().unwrap_or_default() + 1_000_000,
        "createdAt": timestamp(0),
        "updatedAt": timestamp(0),
        "archived": owner.archived,
    })
}

/// A property definition, with `hubspot_owner_id`'s options taken from the owners.
pub(crate) fn property_json(model: &Model, spec: &PropertySpec) -> Value {
    let options: Vec<Value> = model
        .options(spec)
        .iter()
        .enumerate()
        .map(|(idx, (value, label))| {
            json!({ "label": label, "value": value, "displayOrder": idx, "hidden": false })
        })
        .collect();
    let mut body = json!({
        "name": spec.name,
        "label": spec.label,
        "type": spec.kind,
        "fieldType": spec.field_type,
        "description": "",
        "groupName": "contactinformation",
        "options": options,
        "displayOrder": -1,
        "calculated": false,
        "externalOptions": spec.name == "hubspot_owner_id",
        "hasUniqueValue": false,
        "hidden": false,
        "formField": !spec.read_only,
        "modificationMetadata": {
            "archivable": !spec.read_only,
            "readOnlyDefinition": spec.read_only,
            "readOnlyValue": spec.read_only,
        },
    });
    if spec.name == "hubspot_owner_id" {
        body["referencedObjectType"] = json!("OWNER");
    }
    body
}

/// The body of a batch answer; `errors` and `numErrors` only when some inputs failed (a 207).
pub(crate) fn batch_json(
    model: &Model,
    outcome: &BatchOutcome,
    requested: impl Fn(u64) -> Option<Vec<String>>,
) -> Value {
    let now = timestamp(now_ms());
    let results: Vec<Value> = outcome
        .results
        .iter()
        .filter_map(|id| model.contacts.get(id))
        .map(|c| contact_json(model, c, requested(c.id).as_deref()))
        .collect();
    let mut body = json!({
        "status": "COMPLETE",
        "results": results,
        "startedAt": now,
        "completedAt": now,
    });
    if !outcome.errors.is_empty() {
        body["numErrors"] = json!(outcome.errors.len());
        body["errors"] = Value::Array(
            outcome
                .errors
                .iter()
                .map(|e| {
                    json!({
                        "status": "error",
                        "category": e.category,
                        "message": e.message,
                        "context": { "ids": e.ids },
                    })
                })
                .collect(),
        );
    }
    body
}
