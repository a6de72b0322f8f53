//! `[schedule]`: the crontab line and time zone as written, and parsing them once, at load, into
//! the scheduler's [`Schedule`].
//!
//! It must not compute run times or read the clock (that is `crate::scheduler`), and must not
//! word its own messages: the scheduler's say what is wrong, `validate.rs` adds file and line.

use serde::Deserialize;

use crate::scheduler::{Schedule, parse_time_zone};

/// `[schedule]` as written; [`Config::schedule`](super::Config::schedule) is it parsed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ScheduleConfig {
    /// Standard 5-field crontab expression.
    #[serde(default = "default_cron")]
    pub(super) cron: String,
    /// IANA time zone name.
    #[serde(default = "default_timezone")]
    pub(super) timezone: String,
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

/// The schedule, or the key that is wrong (`timezone` is checked first, so that a bad zone is
/// not reported against `cron`) and why.
pub(super) fn parse(raw: &ScheduleConfig) -> Result<Schedule, (&'static str, String)> {
    parse_time_zone(&raw.timezone).map_err(|message| ("timezone", message))?;
    Schedule::parse(&raw.cron, &raw.timezone).map_err(|message| ("cron", message))
}
