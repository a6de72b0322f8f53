//! Every environment variable crmsync reads, one named function each.
//!
//! This is the only place outside `src/failpoint.rs` (a test-only crash hook) that calls
//! `std::env::var`; `tests/it/tidy.rs` checks it. It must not interpret the values beyond
//! trimming (the callers decide what a value means) and must not log or print them: a token is
//! handed over as a [`SecretString`].

use secrecy::SecretString;

/// The variable holding the log filter (`tracing` directives, e.g. `crmsync=debug`).
pub const LOG_FILTER: &str = "CRMSYNC_LOG";

/// A value that is set and not blank.
fn non_blank(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The token in the variable `name` (as named by a `token_env` key), trimmed; `None` when it
/// is unset or blank.
pub fn token(name: &str) -> Option<SecretString> {
    non_blank(name).map(|value| SecretString::from(value.trim().to_string()))
}

/// `$CRMSYNC_LOG` as set, blank included (an empty filter is a filter); `None` when unset or
/// not Unicode.
pub fn log_filter() -> Option<String> {
    std::env::var(LOG_FILTER).ok()
}

/// The login name from `$USER`, else `$LOGNAME`; `None` when neither is set (cron and systemd
/// units often set neither).
pub fn login_name() -> Option<String> {
    non_blank("USER").or_else(|| non_blank("LOGNAME"))
}
