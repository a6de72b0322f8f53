//! The pure reconcile core: a three-way merge per link and field, producing a [`Plan`].
//!
//! Data in, plan out: [`plan`] takes each link's Inbox values, CRM values and base (the values
//! both sides agreed on at the last confirmed sync) and says, per field, what to write on which
//! side, which value becomes the new base, and what is a conflict (docs/design.md §3-§5).
//!
//! This module must not do I/O, read the clock, or use tokio, reqwest, rusqlite or csv (a tidy
//! test enforces this); times arrive as data. Conflicts are data in the plan, not errors. It
//! never guesses a value it cannot map, and never plans a write to a field it reports a
//! conflict for.

#![warn(missing_docs)]

mod fanout;
mod ids;
mod link;
mod merge;
mod model;
mod notes;
mod render;
mod vocab;

#[cfg(test)]
mod tests;

pub use fanout::{disagreement, platform_label, thread_account, thread_value};
pub use ids::{ContactId, RecordId, ThreadId};
pub use link::{plan, reconcile_link};
pub use model::*;
pub use notes::notes_diff;
pub use render::render_plan;
pub(crate) use vocab::canonical;
