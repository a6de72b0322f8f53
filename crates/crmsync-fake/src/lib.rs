//! Stateful fakes of the outside APIs crmsync talks to, served over real HTTP on localhost.
//!
//! Each fake is a module named after the API it imitates: [`inbox_v1`] and [`inbox_v2`]
//! (Inbox, inboxapp.com, API v1 and v2) and [`hubspot`] (HubSpot's CRM v3 contacts, owners and
//! properties). What the fakes share sits at the crate root: the rate-limit setting and limiter
//! ([`RateLimit`]), the server lifecycle, and small helpers where the APIs agree (clock,
//! timestamps, Inbox ids, the Inbox Bearer check).
//!
//! This crate must not depend on `crmsync` and must share no types with any client: every fake
//! is written from the API's documentation, so that client and fake cross-check each other.
//! It must not print; it logs through `tracing` only.

mod common;
pub mod hubspot;
pub mod inbox_v1;
pub mod inbox_v2;
mod ratelimit;
mod server;

pub use ratelimit::{ParseRateLimitError, RateLimit};
