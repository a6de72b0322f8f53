//! The HubSpot adapter: contacts (CRM API v3) as CRM records, written back in batches.
//!
//! Reading lists every contact (`GET /crm/v3/objects/contacts`, 100 per page) with the mapped
//! properties, after loading what the values need: the property definitions (every mapped
//! property must exist with a usable type, or the run stops before anything is compared: a
//! renamed property must not look like a CRM that was emptied), the owners (`hubspot_owner_id`
//! ↔ owner e-mail) and the tags property's options (option value ↔ label). A contact with a
//! value that cannot be read is rejected on its own; the rest still syncs.
//!
//! Reading incrementally ([`CrmAdapter::read_changed_since`]) searches the contacts modified
//! since a watermark instead (`search.rs`); the engine merges them into its stored copy.
//!
//! Writing sends `batch/update` calls of at most 100 contacts carrying only the changed
//! properties (tags as the whole merged set, `;`-joined option values; an empty string clears).
//! A tag with no option on the tags property, or an owner e-mail with no active owner, fails its
//! write as unmapped ([`WriteStatus::unmapped`]), unless `create_missing_options` is set: then
//! the missing options are added first, in one property update.
//! A write HubSpot confirms is [`WriteStatus::Confirmed`]: its writes are visible at once. New
//! contacts go through `batch/create` and are [`WriteStatus::Pending`]: HubSpot assigns their
//! ids, so the next read links them by their X id.
//!
//! The adapter does not match, merge or decide anything, never deletes or archives a contact,
//! and never writes `lastmodifieddate` or any property that is not mapped. Layout: `client`
//! (HTTP, pacing, retries), `error`, `wire` (JSON shapes), `record` (values both ways), `write`
//! (batching and per-input statuses), `search` (modified-since walk past the 10,000 cap).
//!
//! [`WriteStatus::Confirmed`]: crate::crm::WriteStatus::Confirmed
//! [`WriteStatus::Pending`]: crate::crm::WriteStatus::Pending
//! [`WriteStatus::unmapped`]: crate::crm::WriteStatus::unmapped
//! [`CrmAdapter::read_changed_since`]: crate::crm::CrmAdapter::read_changed_since

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use secrecy::SecretString;

use crate::config::{Config, CrmAdapterConfig, HubspotProperties};
use crate::crm::{CrmAdapter, CrmSnapshot, CrmWrite, Error, WriteReport, WriteStatus};
use crate::reconcile::Field;

mod client;
mod error;
mod record;
mod search;
mod wire;
mod write;

#[cfg(test)]
mod tests;

pub use client::{Client, ClientOptions, RequestStats};
pub use error::{Error as ApiError, TransientCause};

use record::{Lookups, Owners, TagOptions};
use wire::{CreateInput, PropertyDefinition, UpdateInput};

/// The per-request timeout of HubSpot calls.
const TIMEOUT: Duration = Duration::from_secs(30);

/// HubSpot contacts acting as the CRM.
#[derive(Debug)]
pub struct HubspotAdapter {
    /// The API client (shared pacing and counters).
    client: Client,
    /// Which property holds which field.
    properties: HubspotProperties,
    /// Owners and tag options, loaded by the first read or write of this adapter.
    lookups: Option<Lookups>,
    /// Add a tag with no option on the tags property as a new option (else its write fails
    /// as unmapped).
    create_missing_options: bool,
}

/// What `crmsync check` learns about the HubSpot side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckSummary {
    /// Owners with an e-mail (active or deactivated), when the owner property is mapped.
    pub owners: Option<usize>,
    /// `(config key, property, HubSpot type)` of every mapped property.
    pub properties: Vec<(String, String, String)>,
}

impl fmt::Display for CheckSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("token valid")?;
        if let Some(owners) = self.owners {
            write!(f, "; {owners} owners readable")?;
        }
        f.write_str("; mapped properties: ")?;
        let mapped: Vec<String> = self
            .properties
            .iter()
            .map(|(key, name, kind)| format!("{key} = {name} ({kind})"))
            .collect();
        f.write_str(&mapped.join(", "))
    }
}

impl HubspotAdapter {
    /// An adapter over a client built from `options`, for `properties`.
    pub fn new(
        options: ClientOptions,
        properties: HubspotProperties,
    ) -> Result<HubspotAdapter, Error> {
        let source = format!("hubspot:{}", options.base_url);
        let client = Client::new(options).map_err(|e| api_error(&source, e))?;
        Ok(HubspotAdapter {
            client,
            properties,
            lookups: None,
            create_missing_options: false,
        })
    }

    /// With `true`, a write that sets a tag the tags property has no option for first adds
    /// the option (`PATCH /crm/v3/properties/contacts/{name}`); with `false` (the default) the
    /// write fails as unmapped ([`WriteStatus::unmapped`]).
    pub fn set_create_missing_options(&mut self, create: bool) {
        self.create_missing_options = create;
    }

    /// An adapter for `[crm.hubspot]` (budget and properties) and `[limits]` (attempts and
    /// backoff), with the token read by [`Config::hubspot_token`].
    pub fn from_config(config: &Config, token: SecretString) -> Result<HubspotAdapter, Error> {
        let CrmAdapterConfig::Hubspot(hubspot) = &config.crm.adapter else {
            return Err(Error::Unusable {
                source_name: config.path.display().to_string(),
                message: "no [crm.hubspot] section".into(),
            });
        };
        let options = ClientOptions {
            base_url: hubspot.base_url.clone(),
            token,
            token_env: hubspot.token_env.clone(),
            timeout: TIMEOUT,
            max_attempts: config.limits.max_attempts.max(1),
            backoff_base: Duration::from_millis(config.limits.backoff_base_ms),
            requests_per_window: hubspot.requests_per_window,
            window: Duration::from_secs(hubspot.window_secs),
            search_per_second: hubspot.search_per_second,
        };
        let mut adapter = HubspotAdapter::new(options, hubspot.properties.clone())?;
        adapter.set_create_missing_options(hubspot.create_missing_options);
        Ok(adapter)
    }

    /// The API client, e.g. for its request counters.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Checks the token, that every mapped property exists with a usable type, and that the
    /// owners can be read.
    pub async fn check(&mut self) -> Result<CheckSummary, Error> {
        let definitions = self.client.properties().await.map_err(|e| self.error(e))?;
        let properties = validate(&self.properties, &definitions).map_err(|m| self.unusable(m))?;
        let owners = match self.properties.owner {
            Some(_) => Some(self.load_owners().await?.len()),
            None => None,
        };
        Ok(CheckSummary { owners, properties })
    }

    /// Reads only the contacts modified at or after `since`, through the search endpoint and
    /// past its 10,000-result cap (see `search.rs`); rows are positions in that walk.
    ///
    /// This is [`CrmAdapter::read_changed_since`]; `engine::crm_read` merges what it returns into
    /// the stored copy of the unchanged contacts. HubSpot's search index lags writes by seconds:
    /// pass a watermark with a margin. Archived (deleted) contacts are not reported.
    pub async fn read_modified_since(
        &mut self,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<CrmSnapshot, Error> {
        let lookups = self.load_lookups().await?;
        self.lookups = Some(lookups.clone());
        let requested = record::requested_properties(&self.properties);
        let contacts = search::modified_since(&self.client, &requested, since.timestamp_millis())
            .await
            .map_err(|e| self.error(e))?;
        let mut snapshot = CrmSnapshot::default();
        for (idx, contact) in contacts.iter().enumerate() {
            let (record, rejects) =
                record::to_record(contact, idx as u64 + 1, &self.properties, &lookups);
            snapshot.records.push(record);
            snapshot.rejects.extend(rejects);
        }
        Ok(snapshot)
    }

    /// Loads the property definitions, owners and tag options.
    async fn load_lookups(&mut self) -> Result<Lookups, Error> {
        let definitions = self.client.properties().await.map_err(|e| self.error(e))?;
        validate(&self.properties, &definitions).map_err(|m| self.unusable(m))?;
        let tag_options = self
            .properties
            .tags
            .as_deref()
            .and_then(|name| definitions.iter().find(|d| d.name == name))
            .filter(|d| d.kind == "enumeration")
            .map(TagOptions::new);
        let owners = match self.properties.owner {
            Some(_) => self.load_owners().await?,
            None => Owners::default(),
        };
        Ok(Lookups {
            owners,
            tag_options,
        })
    }

    /// Adds an option per name to the tags property and returns its options as they are now.
    /// The options are read fresh first (the update replaces the whole list, so options added
    /// in HubSpot since the lookups were loaded must be sent back too).
    async fn add_tag_options(&self, names: &BTreeSet<String>) -> Result<TagOptions, ApiError> {
        let Some(property) = self.properties.tags.as_deref() else {
            return Err(ApiError::Config("no tags property is mapped".into()));
        };
        let Some(definition) = self.client.property(property).await? else {
            return Err(ApiError::Config(format!(
                "HubSpot has no contact property {property}"
            )));
        };
        let Some(options) = record::with_new_options(&definition, names) else {
            return Ok(TagOptions::new(&definition));
        };
        let updated = self
            .client
            .update_property_options(property, options)
            .await?;
        tracing::info!(
            property,
            added = ?names,
            "added options to the HubSpot tags property"
        );
        Ok(TagOptions::new(&updated))
    }

    async fn load_owners(&self) -> Result<Owners, Error> {
        let active = self.client.owners(false).await.map_err(|e| self.error(e))?;
        let archived = self.client.owners(true).await.map_err(|e| self.error(e))?;
        Ok(Owners::new(&active, &archived))
    }

    /// The lookups of this adapter, loaded on first use.
    async fn lookups(&mut self) -> Result<Lookups, Error> {
        if let Some(lookups) = &self.lookups {
            return Ok(lookups.clone());
        }
        let lookups = self.load_lookups().await?;
        self.lookups = Some(lookups.clone());
        Ok(lookups)
    }

    fn error(&self, error: error::Error) -> Error {
        api_error(&self.name(), error)
    }

    fn unusable(&self, message: String) -> Error {
        Error::Unusable {
            source_name: self.name(),
            message,
        }
    }
}

impl CrmAdapter for HubspotAdapter {
    fn api_usage(&self) -> Option<crate::crm::ApiUsage> {
        let stats = self.client.stats();
        Some(crate::crm::ApiUsage {
            requests: stats.requests,
            rate_limited: stats.rate_limited,
        })
    }

    fn name(&self) -> String {
        let base = self.client.base_url();
        let host = base
            .split_once("://")
            .map_or(base, |(_, rest)| rest)
            .trim_end_matches('/');
        format!("hubspot:{host}")
    }

    fn fields(&self) -> BTreeSet<Field> {
        Field::ALL
            .into_iter()
            .filter(|&field| self.properties.property(field).is_some())
            .collect()
    }

    /// The API base and the property mapping: another base or a remapped property makes the
    /// next read a full one.
    fn incremental_key(&self) -> Option<String> {
        let mapping = serde_json::to_string(&self.properties).unwrap_or_default();
        Some(format!("{} {mapping}", self.client.base_url()))
    }

    async fn read_changed_since(
        &mut self,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<CrmSnapshot>, Error> {
        self.read_modified_since(since).await.map(Some)
    }

    async fn read(&mut self) -> Result<CrmSnapshot, Error> {
        // Owners and options change between runs: a read always reloads them.
        let lookups = self.load_lookups().await?;
        self.lookups = Some(lookups.clone());
        let requested = record::requested_properties(&self.properties);
        let mut snapshot = CrmSnapshot::default();
        let mut after: Option<String> = None;
        let mut row = 0u64;
        loop {
            let page = self
                .client
                .contacts_page(&requested, after.as_deref())
                .await
                .map_err(|e| self.error(e))?;
            for contact in &page.results {
                row += 1;
                let (record, rejects) = record::to_record(contact, row, &self.properties, &lookups);
                snapshot.records.push(record);
                snapshot.rejects.extend(rejects);
            }
            match page.next_after() {
                Some(next) if Some(next) != after.as_deref() => after = Some(next.to_owned()),
                // A cursor that does not move would loop forever; HubSpot never sends one.
                Some(_) | None => break,
            }
        }
        tracing::debug!(
            records = snapshot.records.len(),
            rejects = snapshot.rejects.len(),
            "read HubSpot contacts"
        );
        Ok(snapshot)
    }

    async fn write(&mut self, writes: &[CrmWrite]) -> Result<WriteReport, Error> {
        let mut lookups = self.lookups().await?;
        // Why missing options could not be added, for the writes that need them.
        let mut option_error: Option<String> = None;
        if self.create_missing_options {
            let missing = record::missing_tags(writes, &lookups);
            if !missing.is_empty() {
                match self.add_tag_options(&missing).await {
                    Ok(options) => {
                        lookups.tag_options = Some(options);
                        self.lookups = Some(lookups.clone());
                    }
                    Err(error) => {
                        tracing::warn!("cannot add options to the HubSpot tags property: {error}");
                        option_error = Some(error.to_string());
                    }
                }
            }
        }
        let refused = |reason: String| match &option_error {
            Some(error) if reason.starts_with(WriteStatus::UNMAPPED_PREFIX) => {
                WriteStatus::Failed(format!("{reason} (adding the option failed: {error})"))
            }
            _ => WriteStatus::Failed(reason),
        };
        let mut statuses: Vec<Option<WriteStatus>> = vec![None; writes.len()];
        let mut updates: Vec<(usize, UpdateInput)> = Vec::new();
        let mut creates: Vec<(usize, CreateInput)> = Vec::new();
        for (idx, write) in writes.iter().enumerate() {
            match write {
                CrmWrite::Update { id, changes } => {
                    match record::update_properties(changes, &self.properties, &lookups) {
                        Ok(properties) if properties.is_empty() => {
                            statuses[idx] = Some(WriteStatus::Confirmed);
                        }
                        Ok(properties) => updates.push((
                            idx,
                            UpdateInput {
                                id: id.to_string(),
                                properties,
                            },
                        )),
                        Err(reason) => statuses[idx] = Some(refused(reason)),
                    }
                }
                CrmWrite::Create(new) => {
                    match record::create_properties(new, &self.properties, &lookups) {
                        Ok(properties) => creates.push((idx, CreateInput { properties })),
                        Err(reason) => statuses[idx] = Some(refused(reason)),
                    }
                }
            }
        }
        let mut state = write::WriteState::default();
        write::write_updates(&self.client, updates, &mut statuses, &mut state)
            .await
            .map_err(|e| self.error(e))?;
        let key = self
            .properties
            .x_user_id
            .as_deref()
            .or(self.properties.username.as_deref())
            .or(self.properties.linkedin_id.as_deref())
            .or(self.properties.linkedin_username.as_deref());
        write::write_creates(&self.client, creates, key, &mut statuses, &mut state)
            .await
            .map_err(|e| self.error(e))?;
        Ok(WriteReport {
            statuses: statuses
                .into_iter()
                .map(|s| {
                    // Every input was given a status above or by its batch.
                    s.unwrap_or_else(|| WriteStatus::Failed("not attempted".into()))
                })
                .collect(),
        })
    }
}

/// A client error as the adapter reports it, with its causes in the message (it names the
/// token's env var on a 401, never the token).
///
/// `crm::Error` has no variant for an API failure yet: `Io` would print the message twice (its
/// text includes its source, which error reporters then print again), so the chain is
/// rendered into an `Unusable` message here. TODO(#8): a `crm::Error::Api` variant with
/// `#[source]` and `is_retryable()`.
fn api_error(source: &str, error: error::Error) -> Error {
    let mut message = error.to_string();
    let mut cause = std::error::Error::source(&error);
    while let Some(inner) = cause {
        message.push_str(": ");
        message.push_str(&inner.to_string());
        cause = inner.source();
    }
    Error::Unusable {
        source_name: source.to_owned(),
        message,
    }
}

/// Checks that every mapped property exists and has a type its field can live in; returns
/// `(config key, property, type)` per mapped property.
fn validate(
    properties: &HubspotProperties,
    definitions: &[PropertyDefinition],
) -> Result<Vec<(String, String, String)>, String> {
    let mapped: [(&str, &Option<String>, &[&str], bool); 10] = [
        (
            "x_user_id",
            &properties.x_user_id,
            &["string", "number"],
            false,
        ),
        ("username", &properties.username, &["string"], false),
        ("linkedin_id", &properties.linkedin_id, &["string"], false),
        (
            "linkedin_username",
            &properties.linkedin_username,
            &["string"],
            false,
        ),
        ("tags", &properties.tags, &["enumeration", "string"], true),
        (
            "status",
            &properties.status,
            &["enumeration", "string"],
            true,
        ),
        (
            "valuation",
            &properties.valuation,
            &["number", "string"],
            true,
        ),
        ("notes", &properties.notes, &["string"], true),
        (
            "owner",
            &properties.owner,
            &["enumeration", "string", "number"],
            true,
        ),
        (
            "done",
            &properties.done,
            &["bool", "enumeration", "string"],
            true,
        ),
    ];
    let mut out = Vec::new();
    for (key, name, kinds, written) in mapped {
        let Some(name) = name else { continue };
        let Some(definition) = definitions.iter().find(|d| d.name == *name) else {
            return Err(format!(
                "crm.hubspot.properties.{key} = {name:?}: HubSpot has no contact property {name}"
            ));
        };
        if !kinds.contains(&definition.kind.as_str()) {
            return Err(format!(
                "crm.hubspot.properties.{key} = {name:?}: the property has type {}, expected {}",
                definition.kind,
                kinds.join(" or ")
            ));
        }
        if key == "tags" && definition.kind == "enumeration" && !definition.is_multi_checkbox() {
            return Err(format!(
                "crm.hubspot.properties.tags = {name:?}: the property is a single-choice {}, expected multiple checkboxes",
                definition.field_type
            ));
        }
        if written && definition.is_read_only() {
            return Err(format!(
                "crm.hubspot.properties.{key} = {name:?}: the property is read-only in HubSpot"
            ));
        }
        out.push((key.to_owned(), name.clone(), definition.kind.clone()));
    }
    Ok(out)
}
