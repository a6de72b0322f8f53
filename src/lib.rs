//! crmsync: bidirectional sync between Inbox (inboxapp.com) prospects and a CRM.
//!
//! See ARCHITECTURE.md for the map of modules and the invariants they keep.

pub mod cli;
pub mod config;
pub mod crm;
pub mod demo;
pub(crate) mod digest;
pub mod engine;
pub mod failpoint;
pub(crate) mod http;
pub mod inbox;
pub mod reconcile;
pub mod report;
pub mod scheduler;
pub mod store;
