//! Failpoints for crash tests: deterministic places where a test can make the process die.
//!
//! This exists only so that the crash matrix (`tests/it/crash_matrix.rs`) can kill the real
//! binary at exact points of a run (between the Inbox push and the CRM write, before a SQLite
//! commit, between the CSV temp file and its rename, ...) instead of at a moment picked by a
//! timer. It is not a feature: nothing in normal operation sets it.
//!
//! Set `CRMSYNC_FAILPOINT=name` to abort at the first [`hit`] of `name`, or `name:N` to abort
//! at its Nth hit (counted per process, from 1). The process then prints one line naming the
//! failpoint to stderr and calls [`std::process::abort`]: no destructor runs, no buffer is
//! flushed, no transaction is rolled back, no temp file is removed, which for the files on disk
//! is as abrupt as a SIGKILL.
//!
//! The variable is read once; without it a [`hit`] costs one initialized-`OnceLock` load and a
//! branch.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// The environment variable naming the failpoint to trigger (`name` or `name:N`).
pub const ENV: &str = "CRMSYNC_FAILPOINT";

/// The armed failpoint: its name and the hit that aborts (1-based).
static ARMED: OnceLock<Option<(String, u64)>> = OnceLock::new();

/// Hits of the armed failpoint so far.
static HITS: AtomicU64 = AtomicU64::new(0);

/// Parses `name` or `name:N` (N >= 1); anything else after a `:` is part of the name.
fn parse(spec: &str) -> Option<(String, u64)> {
    let spec = spec.trim();
    if spec.is_empty() {
        return None;
    }
    match spec.rsplit_once(':') {
        Some((name, n)) if !name.is_empty() => match n.parse::<u64>() {
            Ok(n) if n >= 1 => Some((name.to_string(), n)),
            _ => Some((spec.to_string(), 1)),
        },
        _ => Some((spec.to_string(), 1)),
    }
}

/// A failpoint named `name`: aborts the process when `CRMSYNC_FAILPOINT` arms it (see the
/// module docs); otherwise does nothing.
#[inline]
pub fn hit(name: &str) {
    // Read here and not through `config::env`, the home of every other env var: this is a
    // test-only crash hook, not configuration, and must work before (and without) a config.
    // `tests/it/tidy.rs` allows this file by name.
    let armed = ARMED.get_or_init(|| std::env::var(ENV).ok().as_deref().and_then(parse));
    let Some((armed, nth)) = armed else {
        return;
    };
    if armed != name {
        return;
    }
    let count = HITS.fetch_add(1, Ordering::SeqCst) + 1;
    if count == *nth {
        // stderr is unbuffered: the line is out before the process dies, and tells the test
        // that the process died here and not somewhere else.
        eprintln!("crmsync: failpoint {name}:{count} hit, aborting");
        std::process::abort();
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn specs_name_a_point_and_a_hit() {
        assert_eq!(parse(""), None);
        assert_eq!(parse("  "), None);
        assert_eq!(parse("before-record"), Some(("before-record".into(), 1)));
        assert_eq!(
            parse("inbox-after-patch:7"),
            Some(("inbox-after-patch".into(), 7))
        );
        assert_eq!(parse("x:0"), Some(("x:0".into(), 1)));
        assert_eq!(parse("x:y"), Some(("x:y".into(), 1)));
        assert_eq!(parse(":3"), Some((":3".into(), 1)));
    }
}
