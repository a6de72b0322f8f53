//! The one integration test binary: drives the real client and the real `crmsync` binary
//! against the stateful fakes from the `crmsync-fake` crate, started on 127.0.0.1:0.

mod budget;
mod check_api;
mod clean;
mod cli;
mod closed_stdout;
mod concurrency;
mod crash;
mod crash_matrix;
mod daemon;
mod faults;
mod hostile;
mod hubspot;
mod inbox;
mod incremental;
mod no_lost_edit;
mod pull;
mod quiet;
mod report;
mod snapshots;
mod support;
mod sync;
mod systemd;
mod tidy;
mod trust;
mod trust_exports;
mod typos;
mod unreachable;
mod v2;
mod v2_faults;
mod v2_incremental;
mod v2_linkedin;
mod v2_quota;
mod v2_upgrade;
