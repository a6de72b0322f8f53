//! The Inbox (inboxapp.com) v1 API client: [`Client`], the objects it returns ([`Thread`],
//! [`Prospect`], ...), the request types ([`ContextUpdate`], [`ThreadQuery`]) and [`Error`].
//! The v2 client is [`v2`]; it shares [`ClientOptions`], [`RequestStats`] and the pacing.
//!
//! Only this module knows Inbox's wire format. It does no SQL, no printing and no merging;
//! it never reads environment variables (the token is passed in) and never logs the token.
//! See `docs/inbox-api-v1.md` for the contract it is built against.

mod client;
mod error;
mod pacing;
mod types;
pub mod v2;

#[cfg(test)]
mod tests;

pub use client::{Client, ClientOptions, RequestStats, Retirement};
pub use error::{Error, RETIRED, TransientCause};
pub use pacing::RateLimitInfo;
pub use types::{
    AccountLink, Context, ContextThread, ContextUpdate, Cursor, Event, EventMeaning, EventPage,
    Member, Prospect, SortOrder, Status, Tag, Team, Thread, ThreadPage, ThreadQuery, ThreadUpdate,
    View,
};

#[cfg(test)]
mod proptests;

/// The Inbox a run talks to: the client of the API version `[inbox] api` chose. The engine's
/// phases that talk to Inbox (pull, look-ups, push) take this and dispatch once to their v1 or
/// v2 half; everything they return is in the engine's vocabulary (mirror rows, reports).
#[derive(Clone)]
pub enum Inbox {
    /// Inbox API v1 (X only; retiring).
    V1(Client),
    /// Inbox API v2 (contacts and profiles, X and LinkedIn): the default.
    V2(v2::Client),
}

impl Inbox {
    /// The request counters of the client in use.
    pub fn stats(&self) -> RequestStats {
        match self {
            Inbox::V1(client) => client.stats(),
            Inbox::V2(client) => client.stats(),
        }
    }

    /// Whether this is API v2.
    pub fn is_v2(&self) -> bool {
        matches!(self, Inbox::V2(_))
    }
}
