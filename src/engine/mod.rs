//! The imperative shell: one run of pull → read CRM → match → reconcile → safety → push →
//! confirm → record.
//!
//! The engine reads the clock once per run (`now` in the options) and hands pure data to
//! `reconcile::plan`. It never prints: it returns reports and drives an optional progress bar.

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressStyle};

use crate::config::Config;
use crate::inbox;

// One run (`run`), phase by phase, in the order a run goes through them, as `options` ask:
pub mod options;
pub mod run;
// 1. lock: one run at a time.
pub mod lock;
// 2. pull: Inbox into the mirror (a full walk, or the event log replayed), `v1` or `v2`.
pub mod pull;
// 3. read the CRM: the export, or HubSpot in full or incrementally.
pub mod crm_read;
// 4. link: match records to prospects (`matching`, pure), looking up unknown X ids (`lookup`).
mod link;
mod lookup;
pub mod matching;
// 5. plan: reconcile in chunks (`clean` leaves out unchanged links); resolutions (`resolve`), a
//    reviewed plan (`saved_plan`) or an undo (`undo`) reshape it.
mod clean;
mod plan;
pub mod resolve;
pub mod saved_plan;
pub mod undo;
// 6. safety: what stops a run before it writes.
mod safety;
// 7. push: Inbox, then the CRM (`crm_write`), each write's receipt first (`receipts`), within
//    the request budget (`budget`), stoppable at a write boundary (`interrupt`).
mod budget;
mod crm_write;
pub mod interrupt;
mod push;
mod receipts;
// 8. record: the base moves for confirmed values (`confirm`), links, conflicts, stamps.
pub mod confirm;
mod record;
// Shared by the phases: ids <-> names (`inputs`), sorted merges (`sorted`), the run's
// summary (`summary`).
pub mod inputs;
mod sorted;
pub mod summary;

pub use interrupt::{Interrupt, StopNow};
pub use lock::{LockError, RunLock};
pub use options::RunOptions;
pub use pull::PullReport;
pub use run::run;
pub use summary::{RunOutcome, SyncReport};

/// Progress bars on a terminal only; hidden otherwise (pipes, `--json`, tests).
#[derive(Clone, Debug)]
pub struct Progress {
    enabled: bool,
}

impl Progress {
    /// Visible bars when `enabled`.
    pub fn new(enabled: bool) -> Progress {
        Progress { enabled }
    }

    /// No bars.
    pub fn hidden() -> Progress {
        Progress { enabled: false }
    }

    /// A spinner with a message (hidden when disabled).
    pub fn spinner(&self, message: &str) -> ProgressBar {
        if !self.enabled {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
                .expect("static template is valid"),
        );
        bar.set_message(message.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    }

    /// A bar of `len` steps (hidden when disabled).
    pub fn bar(&self, len: u64, message: &str) -> ProgressBar {
        if !self.enabled {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(len);
        bar.set_style(
            ProgressStyle::with_template("{msg} {bar:30} {pos}/{len} [{elapsed}, eta {eta}]")
                .expect("static template is valid"),
        );
        bar.set_message(message.to_string());
        bar
    }
}

/// What a run needs: the config, an Inbox client and the progress display.
pub struct Context {
    /// The validated config.
    pub config: Config,
    /// The Inbox client of the `[inbox] api` in use (v2 by default).
    pub inbox: inbox::Inbox,
    /// Progress display.
    pub progress: Progress,
    /// A request to stop the run at the next write boundary (Ctrl-C, SIGTERM).
    pub interrupt: std::sync::Arc<Interrupt>,
}

impl Context {
    /// Builds the Inbox client from the config (reads the token from its env var).
    pub fn new(config: Config, progress: Progress) -> anyhow::Result<Context> {
        let token = config.inbox_token()?;
        Context::with_token(config, token, progress)
    }

    /// Builds the Inbox client with a token from elsewhere (the demo's local fake).
    pub fn with_token(
        config: Config,
        token: secrecy::SecretString,
        progress: Progress,
    ) -> anyhow::Result<Context> {
        let mut options = inbox::ClientOptions::new(
            config.inbox.base_url.clone(),
            token,
            config.inbox.token_env.clone(),
        );
        options.timeout = Duration::from_secs(config.inbox.timeout_secs.max(1));
        options.max_attempts = config.limits.max_attempts;
        options.backoff_base = Duration::from_millis(config.limits.backoff_base_ms);
        options.reserve_ratio = config.limits.reserve_ratio;
        options.min_interval = match config.limits.min_interval_ms {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        };
        let inbox = match config.inbox.api() {
            crate::config::InboxApi::V2 => inbox::Inbox::V2(
                inbox::v2::Client::new(options).context("building the Inbox client")?,
            ),
            crate::config::InboxApi::V1 => {
                inbox::Inbox::V1(inbox::Client::new(options).context("building the Inbox client")?)
            }
        };
        Ok(Context {
            config,
            inbox,
            progress,
            interrupt: Default::default(),
        })
    }

    /// The request counters of the Inbox client in use.
    pub fn inbox_stats(&self) -> inbox::RequestStats {
        self.inbox.stats()
    }

    /// Creates the state dir (owner-only) and returns the mirror path.
    pub fn prepare_state_dir(&self) -> anyhow::Result<std::path::PathBuf> {
        prepare_state_dir(&self.config.state.dir)?;
        Ok(self.config.state.dir.join("mirror.db"))
    }
}

/// Creates `dir` if needed, owner-only on Unix.
pub fn prepare_state_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("creating the state directory {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("restricting {} to its owner", dir.display()))?;
    }
    Ok(())
}
