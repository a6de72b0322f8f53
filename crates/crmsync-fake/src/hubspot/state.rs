//! The fake HubSpot's data model and domain operations: contacts with properties, owners,
//! property definitions, validation as HubSpot does it and batch semantics (listing and search
//! are `search.rs`).
//!
//! Pure data and rules: no HTTP, no JSON rendering (`routes.rs`), no clock (callers pass the
//! time in epoch milliseconds). Where HubSpot's docs are vague the fake is the strict one.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;

use crate::common::timestamp;

/// The properties HubSpot maintains itself; they cannot be written.
pub(crate) const READ_ONLY: [&str; 3] = ["hs_object_id", "createdate", "lastmodifieddate"];

/// Properties every contact response carries whatever was requested.
pub(crate) const ALWAYS_RETURNED: [&str; 3] = ["createdate", "hs_object_id", "lastmodifieddate"];

/// Results one search query can page through.
pub(crate) const SEARCH_CAP: usize = 10_000;

/// One contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Contact {
    /// Record id.
    pub id: u64,
    /// Stored values of writable properties (no empty strings: clearing removes the key).
    pub properties: BTreeMap<String, String>,
    /// Creation time, epoch ms.
    pub created_ms: i64,
    /// `lastmodifieddate`, epoch ms; moves on every write.
    pub modified_ms: i64,
    /// Archived contacts are invisible to reads and writes.
    pub archived: bool,
}

impl Contact {
    /// A property's value as served (computed ones included); `None` when unset.
    pub fn value(&self, name: &str) -> Option<String> {
        match name {
            "hs_object_id" => Some(self.id.to_string()),
            "createdate" => Some(timestamp(self.created_ms)),
            "lastmodifieddate" => Some(timestamp(self.modified_ms)),
            _ => self.properties.get(name).cloned(),
        }
    }
}

/// One user who can own records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Owner {
    /// Owner id (numeric text).
    pub id: String,
    /// Login e-mail.
    pub email: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Deactivated.
    pub archived: bool,
}

/// One contact property definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropertySpec {
    /// Internal name.
    pub name: String,
    /// Label.
    pub label: String,
    /// `string`, `number`, `enumeration`, `bool`, `datetime`.
    pub kind: String,
    /// `text`, `textarea`, `number`, `select`, `radio`, `checkbox`, `booleancheckbox`, `date`.
    pub field_type: String,
    /// `(value, label)` options of an enumeration.
    pub options: Vec<(String, String)>,
    /// Computed by HubSpot.
    pub read_only: bool,
}

impl PropertySpec {
    /// A text property.
    pub fn text(name: &str, label: &str) -> PropertySpec {
        PropertySpec {
            name: name.into(),
            label: label.into(),
            kind: "string".into(),
            field_type: "text".into(),
            options: Vec::new(),
            read_only: false,
        }
    }

    /// A multiple-checkboxes enumeration with `(value, label)` options.
    pub fn checkboxes(name: &str, label: &str, options: &[(&str, &str)]) -> PropertySpec {
        PropertySpec {
            name: name.into(),
            label: label.into(),
            kind: "enumeration".into(),
            field_type: "checkbox".into(),
            options: options
                .iter()
                .map(|(v, l)| ((*v).to_owned(), (*l).to_owned()))
                .collect(),
            read_only: false,
        }
    }

    /// A single-choice enumeration (`select`) with `(value, label)` options.
    pub fn select(name: &str, label: &str, options: &[(&str, &str)]) -> PropertySpec {
        PropertySpec {
            field_type: "select".into(),
            ..PropertySpec::checkboxes(name, label, options)
        }
    }

    fn with(mut self, kind: &str, field_type: &str) -> PropertySpec {
        self.kind = kind.into();
        self.field_type = field_type.into();
        self
    }
}

/// One property value HubSpot would refuse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Invalid {
    /// The property.
    pub name: String,
    /// `INVALID_OPTION`, `PROPERTY_DOESNT_EXIST`, `READ_ONLY_VALUE`, ...
    pub error: &'static str,
    /// Human message.
    pub message: String,
}

/// A refusal of a whole request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    /// HTTP status.
    pub status: u16,
    /// HubSpot `category`.
    pub category: &'static str,
    /// Message.
    pub message: String,
}

impl Refusal {
    pub(crate) fn validation(message: impl Into<String>) -> Refusal {
        Refusal {
            status: 400,
            category: "VALIDATION_ERROR",
            message: message.into(),
        }
    }

    fn invalid_values(invalid: &[Invalid]) -> Refusal {
        let details: Vec<Value> = invalid
            .iter()
            .map(|i| {
                serde_json::json!({
                    "isValid": false,
                    "message": i.message,
                    "error": i.error,
                    "name": i.name,
                })
            })
            .collect();
        Refusal::validation(format!(
            "Property values were not valid: {}",
            Value::Array(details)
        ))
    }
}

/// One per-input error of a 207 answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InputError {
    /// HubSpot category.
    pub category: &'static str,
    /// Message.
    pub message: String,
    /// The ids concerned.
    pub ids: Vec<String>,
}

/// The outcome of a batch that was not refused as a whole.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct BatchOutcome {
    /// Contacts written (or read), in input order.
    pub results: Vec<u64>,
    /// Inputs that failed (a 207 when not empty).
    pub errors: Vec<InputError>,
}

/// One successful write, for tests.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WriteRecord {
    /// `batch/update`, `batch/create` or `ui` (a simulated user edit).
    pub route: String,
    /// The contact written.
    pub id: String,
    /// The properties as sent (empty strings included).
    pub properties: BTreeMap<String, String>,
}

/// A search filter.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Filter {
    pub property: String,
    pub operator: String,
    pub value: Option<String>,
}

/// A search query.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SearchQuery {
    /// OR of AND-groups (empty: everything).
    pub groups: Vec<Vec<Filter>>,
    /// `(property, descending)`.
    pub sorts: Vec<(String, bool)>,
    pub limit: usize,
    pub offset: usize,
}

/// The whole account.
#[derive(Debug, Default)]
pub(crate) struct Model {
    pub contacts: BTreeMap<u64, Contact>,
    pub next_id: u64,
    pub owners: Vec<Owner>,
    pub next_owner_id: u64,
    pub properties: BTreeMap<String, PropertySpec>,
    /// Scripted per-contact refusals of writes (id → message).
    pub rejections: HashMap<String, String>,
    pub writes: Vec<WriteRecord>,
    /// Results a search can page through, when not HubSpot's [`SEARCH_CAP`] (a test playing
    /// HubSpot changing it).
    pub search_cap: Option<usize>,
}

/// Parses a HubSpot date-time value: epoch ms or ISO 8601.
pub(crate) fn parse_time_ms(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(ms) = text.parse::<i64>() {
        return Some(ms);
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp_millis())
}

impl Model {
    /// An account with HubSpot's standard contact properties, the custom properties that
    /// docs/design.md §8 names for the fields with no default mapping (`twitter_user_id`,
    /// `inbox_tags`, `inbox_valuation`, `inbox_notes`, `inbox_done`) and these owners.
    pub fn new(owner_emails: &[String]) -> Model {
        let mut model = Model {
            next_id: 101,
            next_owner_id: 70_001,
            ..Model::default()
        };
        for email in owner_emails {
            let local = email.split('@').next().unwrap_or(email);
            model.add_owner(email, &capitalized(local), "Example");
        }
        let lead_status = [
            ("NEW", "New"),
            ("OPEN", "Open"),
            ("IN_PROGRESS", "In Progress"),
            ("OPEN_DEAL", "Open Deal"),
            ("UNQUALIFIED", "Unqualified"),
            ("ATTEMPTED_TO_CONTACT", "Attempted to Contact"),
            ("CONNECTED", "Connected"),
            ("BAD_TIMING", "Bad Timing"),
        ];
        let tags = [
            ("vip", "VIP"),
            ("hot_lead", "Hot Lead"),
            ("follow_up", "Follow Up"),
            ("partner", "Partner"),
            ("investor", "Investor"),
            ("churn_risk", "Churn Risk"),
            ("newsletter", "Newsletter"),
            ("conference", "Conference"),
        ];
        let specs = [
            PropertySpec::text("firstname", "First Name"),
            PropertySpec::text("lastname", "Last Name"),
            PropertySpec::text("email", "Email"),
            PropertySpec::text("twitterhandle", "Twitter Username"),
            PropertySpec::select("hs_lead_status", "Lead Status", &lead_status),
            PropertySpec::select("hubspot_owner_id", "Contact owner", &[]),
            PropertySpec {
                read_only: true,
                ..PropertySpec::text("hs_object_id", "Record ID").with("number", "number")
            },
            PropertySpec {
                read_only: true,
                ..PropertySpec::text("createdate", "Create Date").with("datetime", "date")
            },
            PropertySpec {
                read_only: true,
                ..PropertySpec::text("lastmodifieddate", "Last Modified Date")
                    .with("datetime", "date")
            },
            PropertySpec::text("twitter_user_id", "X User ID"),
            PropertySpec::checkboxes("inbox_tags", "Inbox Tags", &tags),
            PropertySpec::text("inbox_valuation", "Inbox Valuation").with("number", "number"),
            PropertySpec::text("inbox_notes", "Inbox Notes").with("string", "textarea"),
            PropertySpec::select(
                "inbox_done",
                "Inbox Done",
                &[("true", "Yes"), ("false", "No")],
            )
            .with("bool", "booleancheckbox"),
        ];
        for spec in specs {
            model.properties.insert(spec.name.clone(), spec);
        }
        model
    }

    /// Adds an active owner; returns its id.
    pub fn add_owner(&mut self, email: &str, first_name: &str, last_name: &str) -> String {
        let id = self.next_owner_id.to_string();
        self.next_owner_id += 1;
        self.owners.push(Owner {
            id: id.clone(),
            email: email.to_owned(),
            first_name: first_name.to_owned(),
            last_name: last_name.to_owned(),
            archived: false,
        });
        id
    }

    /// The options of a property as served: `hubspot_owner_id`'s are the active owners.
    pub fn options(&self, spec: &PropertySpec) -> Vec<(String, String)> {
        if spec.name == "hubspot_owner_id" {
            return self
                .owners
                .iter()
                .filter(|o| !o.archived)
                .map(|o| (o.id.clone(), format!("{} {}", o.first_name, o.last_name)))
                .collect();
        }
        spec.options.clone()
    }

    /// `PATCH` of a property definition: a new label, and options that replace the whole list
    /// (HubSpot has no call that adds one option). Refused for properties HubSpot computes, for
    /// the owner property (its options are the owners), for options on a property that is not
    /// an enumeration, and for empty or repeated labels or values.
    pub fn update_property(
        &mut self,
        name: &str,
        label: Option<&str>,
        options: Option<Vec<(String, String)>>,
    ) -> Result<&PropertySpec, Refusal> {
        let Some(spec) = self.properties.get(name) else {
            return Err(Refusal {
                status: 404,
                category: "OBJECT_NOT_FOUND",
                message: format!("Unable to find property {name}"),
            });
        };
        if spec.read_only || READ_ONLY.contains(&name) {
            return Err(Refusal::validation(format!(
                "The property {name} is read only and cannot be updated"
            )));
        }
        if let Some(options) = &options {
            if spec.kind != "enumeration" || name == "hubspot_owner_id" {
                return Err(Refusal::validation(format!(
                    "The options of the property {name} cannot be set"
                )));
            }
            let mut values = BTreeSet::new();
            let mut labels = BTreeSet::new();
            for (value, label) in options {
                if value.trim().is_empty() || label.trim().is_empty() {
                    return Err(Refusal::validation(
                        "Option labels and values must not be empty",
                    ));
                }
                if !values.insert(value.as_str()) || !labels.insert(label.to_lowercase()) {
                    return Err(Refusal::validation(format!(
                        "Duplicate option {label:?} ({value:?}): labels and values must be unique"
                    )));
                }
            }
        }
        let spec = self.properties.get_mut(name).expect("looked up above");
        if let Some(label) = label {
            spec.label = label.to_owned();
        }
        if let Some(options) = options {
            spec.options = options;
        }
        Ok(spec)
    }

    /// A live (not archived) contact.
    pub fn live(&self, id: &str) -> Option<&Contact> {
        let id: u64 = id.trim().parse().ok()?;
        self.contacts.get(&id).filter(|c| !c.archived)
    }

    /// Checks one value against its property definition, as HubSpot does on writes.
    pub fn validate(&self, name: &str, value: &str) -> Result<(), Invalid> {
        let invalid = |error: &'static str, message: String| Invalid {
            name: name.to_owned(),
            error,
            message,
        };
        let Some(spec) = self.properties.get(name) else {
            return Err(invalid(
                "PROPERTY_DOESNT_EXIST",
                format!("Property \"{name}\" does not exist"),
            ));
        };
        if spec.read_only || READ_ONLY.contains(&name) {
            return Err(invalid(
                "READ_ONLY_VALUE",
                format!("\"{name}\" is a read only property; its value cannot be set."),
            ));
        }
        if value.is_empty() {
            // An empty string clears any property.
            return Ok(());
        }
        match spec.kind.as_str() {
            "number" if !value.trim().parse::<f64>().is_ok_and(f64::is_finite) => {
                return Err(invalid(
                    "INVALID_DOUBLE",
                    format!("{value} was not a valid number."),
                ));
            }
            "bool" if !matches!(value, "true" | "false") => {
                return Err(invalid(
                    "INVALID_BOOLEAN",
                    format!("{value} was not a valid boolean (true or false)."),
                ));
            }
            "datetime" | "date" if parse_time_ms(value).is_none() => {
                return Err(invalid(
                    "INVALID_DATE",
                    format!("{value} was not a valid date."),
                ));
            }
            "enumeration" => {
                let options = self.options(spec);
                let allowed: BTreeSet<&str> = options.iter().map(|(v, _)| v.as_str()).collect();
                let values: Vec<&str> = if spec.field_type == "checkbox" {
                    value.split(';').filter(|v| !v.is_empty()).collect()
                } else {
                    vec![value]
                };
                if let Some(bad) = values.iter().find(|v| !allowed.contains(**v)) {
                    let list: Vec<&str> = allowed.iter().copied().collect();
                    return Err(invalid(
                        "INVALID_OPTION",
                        format!(
                            "{bad} was not one of the allowed options: [{}]",
                            list.join(", ")
                        ),
                    ));
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn validate_all<'a>(
        &self,
        inputs: impl Iterator<Item = &'a BTreeMap<String, String>>,
    ) -> Result<(), Refusal> {
        let invalid: Vec<Invalid> = inputs
            .flat_map(|props| props.iter())
            .filter_map(|(name, value)| self.validate(name, value).err())
            .collect();
        if invalid.is_empty() {
            Ok(())
        } else {
            Err(Refusal::invalid_values(&invalid))
        }
    }

    /// Sets values on a contact (empty strings clear) and moves `lastmodifieddate`.
    fn apply(&mut self, id: u64, properties: &BTreeMap<String, String>, now_ms: i64) {
        let Some(contact) = self.contacts.get_mut(&id) else {
            return;
        };
        for (name, value) in properties {
            if value.is_empty() {
                contact.properties.remove(name);
            } else {
                contact.properties.insert(name.clone(), value.clone());
            }
        }
        contact.modified_ms = now_ms;
    }

    /// `batch/update`: refused as a whole (400) on too many inputs, duplicate ids or any invalid
    /// value; otherwise unknown, archived and scripted-refused ids are per-input errors (207)
    /// and the rest is applied.
    pub fn batch_update(
        &mut self,
        inputs: &[(String, BTreeMap<String, String>)],
        now_ms: i64,
    ) -> Result<BatchOutcome, Refusal> {
        check_batch_size(inputs.len())?;
        let mut seen = BTreeSet::new();
        let duplicates: Vec<&str> = inputs
            .iter()
            .filter(|(id, _)| !seen.insert(id.as_str()))
            .map(|(id, _)| id.as_str())
            .collect();
        if !duplicates.is_empty() {
            return Err(Refusal::validation(format!(
                "Duplicate IDs found in batch input: [{}]. IDs must be unique",
                duplicates.join(", ")
            )));
        }
        self.validate_all(inputs.iter().map(|(_, props)| props))?;
        let mut outcome = BatchOutcome::default();
        let mut missing = Vec::new();
        for (id, properties) in inputs {
            let Some(contact_id) = self.live(id).map(|c| c.id) else {
                missing.push(id.clone());
                continue;
            };
            if let Some(message) = self.rejections.get(id) {
                outcome.errors.push(InputError {
                    category: "VALIDATION_ERROR",
                    message: message.clone(),
                    ids: vec![id.clone()],
                });
                continue;
            }
            self.apply(contact_id, properties, now_ms);
            self.writes.push(WriteRecord {
                route: "batch/update".into(),
                id: id.clone(),
                properties: properties.clone(),
            });
            outcome.results.push(contact_id);
        }
        if !missing.is_empty() {
            outcome.errors.insert(
                0,
                InputError {
                    category: "OBJECT_NOT_FOUND",
                    message: "Could not get some CONTACT objects, they may be deleted or not exist. Check that ids are valid.".into(),
                    ids: missing,
                },
            );
        }
        Ok(outcome)
    }

    /// `batch/create`: refused as a whole on too many inputs or any invalid value.
    pub fn batch_create(
        &mut self,
        inputs: &[BTreeMap<String, String>],
        now_ms: i64,
    ) -> Result<BatchOutcome, Refusal> {
        check_batch_size(inputs.len())?;
        self.validate_all(inputs.iter())?;
        let mut outcome = BatchOutcome::default();
        for properties in inputs {
            let id = self.create(properties, now_ms);
            self.writes.push(WriteRecord {
                route: "batch/create".into(),
                id: id.to_string(),
                properties: properties.clone(),
            });
            outcome.results.push(id);
        }
        Ok(outcome)
    }

    /// Adds a contact without validation (seeding and tests); returns its id.
    pub fn create(&mut self, properties: &BTreeMap<String, String>, now_ms: i64) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.contacts.insert(
            id,
            Contact {
                id,
                properties: properties
                    .iter()
                    .filter(|(_, v)| !v.is_empty())
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                created_ms: now_ms,
                modified_ms: now_ms,
                archived: false,
            },
        );
        id
    }

    /// `batch/read`: found contacts, and one OBJECT_NOT_FOUND error for the others.
    pub fn batch_read(&self, ids: &[String]) -> Result<BatchOutcome, Refusal> {
        check_batch_size(ids.len())?;
        let mut outcome = BatchOutcome::default();
        let mut missing = Vec::new();
        for id in ids {
            match self.live(id) {
                Some(contact) => outcome.results.push(contact.id),
                None => missing.push(id.clone()),
            }
        }
        if !missing.is_empty() {
            outcome.errors.push(InputError {
                category: "OBJECT_NOT_FOUND",
                message: "Could not get some CONTACT objects, they may be deleted or not exist. Check that ids are valid.".into(),
                ids: missing,
            });
        }
        Ok(outcome)
    }
}

fn check_batch_size(len: usize) -> Result<(), Refusal> {
    if len == 0 {
        return Err(Refusal::validation("inputs must not be empty"));
    }
    if len > 100 {
        return Err(Refusal::validation(format!(
            "Batch input limit exceeded: {len} inputs (the limit is 100)"
        )));
    }
    Ok(())
}

fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
