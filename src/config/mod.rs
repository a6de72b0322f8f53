//! `sync.toml`: parsing, defaults, validation and the API token.
//!
//! This is the only module that reads environment variables (through [`env`]; the one other
//! reader is the test-only `failpoint`). Errors name the file, the key and the line. The token
//! is held as a [`SecretString`] and never printed.
//!
//! The parts: `raw.rs` (the file as serde reads it), `sections.rs` and `crm.rs` (the section
//! types and defaults), `schedule.rs` (`[schedule]`, parsed at load), `validate.rs` (every value
//! check, and paths resolved), `env.rs` (the environment), `suggest.rs` ("did you mean").
//! This file holds [`Config`] and what is derived from it; it must not parse or check values
//! itself, nor print.

use std::path::{Path, PathBuf};

use secrecy::SecretString;

use crate::reconcile::{FanoutMode, Field, Policy};
use crate::scheduler::Schedule;

pub use crm::{
    CreateRecords, CrmAdapterConfig, CrmConfig, CrmKind, CsvColumns, CsvConfig, CsvWriteMode,
    DateFormat, DecimalSeparator, HubspotConfig, HubspotProperties,
};
pub use sections::{
    FanoutConfig, FanoutModeName, InboxApi, InboxConfig, LimitsConfig, MappingConfig, PolicyConfig,
    PullConfig, SafetyConfig, StateConfig,
};

pub mod env;

mod crm;
mod raw;
mod schedule;
mod sections;
mod suggest;
mod validate;

#[cfg(test)]
mod tests;

#[cfg(test)]
mod proptests;

/// A configuration problem: which file, which key, which line, and what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    // The reason is printed, not also returned as the source (it would print twice).
    #[error("cannot read config file {path}: {reason}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: std::io::Error,
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

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|reason| ConfigError::Read {
            path: path.to_path_buf(),
            reason,
        })?;
        Config::parse(path, &text)
    }

    /// Parses and validates config text that came from `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let raw = raw::from_toml(path, text)?;
        validate::validate(path, text, raw)
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
            .map_or_else(crm::default_hubspot_token_env, |h| h.token_env.clone());
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
