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
    AccountLink, Context, ContextThread, ContextUpdate, Cursor, Event, EventPage, Member, Prospect,
    SortOrder, Status, Tag, Team, Thread, ThreadPage, ThreadQuery, ThreadUpdate, View,
};

#[cfg(test)]
mod proptests;
