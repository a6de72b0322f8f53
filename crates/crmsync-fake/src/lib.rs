//! Stateful fakes of the outside APIs crmsync talks to, served over real HTTP on localhost.
//!
//! Each fake is a module named after the API it imitates: [`inbox_v2`] (Inbox, inboxapp.com,
//! API v2) today; the v1 Inbox fake and the HubSpot fake (still in the `crmsync` crate, under
//! `src/fake/`) are to move here as `inbox_v1` and `hubspot`. What the fakes share sits at the
//! crate root: the rate-limit setting and limiter ([`RateLimit`]) and the server lifecycle.
//!
//! This crate must not depend on `crmsync` and must share no types with any client: every fake
//! is written from the API's documentation, so that client and fake cross-check each other.
//! It must not print; it logs through `tracing` only.

pub mod inbox_v2;
mod ratelimit;
mod server;

pub use ratelimit::{ParseRateLimitError, RateLimit};
