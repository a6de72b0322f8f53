//! The Inbox v2 HTTP client: one method per endpoint a CRM sync uses, the thread [`Walk`],
//! the batched contact finder, the event log and its retention check.
//!
//! The transport (attempts, retries, reading error answers) is in `transport.rs`. It shares
//! with the v1 client what both need: the options ([`ClientOptions`]), the pacing
//! (`inbox::pacing`, driven by the same `X-RateLimit-*` headers), the request counters
//! ([`RequestStats`]) and `crate::http` (reqwest client, bearer header, retry loop). What is
//! its own is the reading of v2 answers: flat errors typed by `code`, `X-Request-Id`, and
//! which `429 rateLimited` windows are worth waiting for.
//!
//! It does no SQL, no printing and no sync logic, and reads no environment variables. The
//! token lives only in a sensitive header value and a [`SecretString`]; it never appears in
//! errors, `Debug` output or log lines, and is scrubbed from what the server says back.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use reqwest::header::HeaderValue;
use secrecy::{ExposeSecret, SecretString};

use crate::http::Call;
use crate::inbox::client::Stats;
use crate::inbox::error::ShortId;
use crate::inbox::pacing::Pacer;
use crate::inbox::{ClientOptions, RequestStats};

use super::error::Error;
use super::types::{
    AccountLink, Contact, ContactId, ContactUpdate, Cursor, EventPage, IdentityKind, Member, Page,
    Platform, PlatformInfo, Retention, Status, Tag, Team, Thread, ThreadId, ThreadQuery,
    ThreadUpdate,
};
use super::wire;

/// Tokens at least this long are scrubbed from server-provided text (as v1).
pub(super) const MIN_SCRUBBED_TOKEN: usize = 8;

/// Identities per `GET /contacts` call (`maxItems: 100`).
pub const FINDER_BATCH: usize = 100;

/// The largest `GET /events` page.
pub const MAX_EVENT_PAGE: u16 = 1000;

/// Pages a listing of reference data (members, account links, tags, statuses) or one finder
/// batch may take before the client decides the server is misbehaving.
pub(super) const MAX_LIST_PAGES: usize = 1000;

/// The Inbox v2 client. Cheap to clone; clones share pacing and statistics.
#[derive(Clone)]
pub struct Client {
    pub(super) inner: Arc<Inner>,
}

/// What the clones of one client share; the transport (`transport.rs`) reads it.
pub(super) struct Inner {
    pub(super) http: reqwest::Client,
    /// Base URL without a trailing slash, e.g. `https://inboxapp.com/api/v2`.
    pub(super) base_url: String,
    /// `Bearer <token>`, marked sensitive.
    pub(super) auth: HeaderValue,
    /// The token again, only to scrub it from what the server says back.
    pub(super) token: SecretString,
    pub(super) token_env: String,
    pub(super) max_attempts: u32,
    pub(super) backoff_base: Duration,
    pub(super) pacer: Pacer,
    pub(super) stats: Stats,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("api", &"v2")
            .field("base_url", &self.inner.base_url)
            .field("token", &"[REDACTED]")
            .field("token_env", &self.inner.token_env)
            .field("max_attempts", &self.inner.max_attempts)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Builds a client from the same options as the v1 client (`base_url` is the v2 base,
    /// e.g. `https://inboxapp.com/api/v2`). Fails on a base URL that is not http(s), a token
    /// that cannot be a header value, or options out of range.
    pub fn new(opts: ClientOptions) -> Result<Client, Error> {
        let base_url = crate::http::base_url("Inbox", &opts.base_url).map_err(Error::Config)?;
        opts.check().map_err(Error::Config)?;
        let auth = crate::http::bearer(&opts.token, &opts.token_env).map_err(Error::Config)?;
        let http = crate::http::json_client(opts.timeout).map_err(Error::Config)?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base_url,
                auth,
                token: SecretString::from(opts.token.expose_secret().trim().to_owned()),
                token_env: opts.token_env,
                max_attempts: opts.max_attempts,
                backoff_base: opts.backoff_base,
                pacer: Pacer::new(opts.min_interval, opts.reserve_ratio),
                stats: Stats::default(),
            }),
        })
    }

    /// Counters since the client was built (shared by clones): what the engine's request
    /// budget reads.
    pub fn stats(&self) -> RequestStats {
        self.inner.stats.snapshot()
    }

    // Reference data.

    /// `GET /platforms`: the platforms the team can use (not paged).
    pub async fn platforms(&self) -> Result<Vec<PlatformInfo>, Error> {
        let call = Call::get("GET /platforms", "/platforms");
        let list: Vec<wire::PlatformInfo> = self.fetch(call).await?;
        Ok(list.into_iter().map(Into::into).collect())
    }

    /// `GET /team`: the token's team (also the connectivity check).
    pub async fn team(&self) -> Result<Team, Error> {
        let team: wire::Team = self.fetch(Call::get("GET /team", "/team")).await?;
        Ok(team.into())
    }

    /// `GET /members`, every page: every team member, oldest first.
    pub async fn members(&self) -> Result<Vec<Member>, Error> {
        let call = || paged(Call::get("GET /members", "/members"));
        self.collect::<wire::Member, _>(call, Member::from).await
    }

    /// `GET /account-links`, every page: every connected platform account, oldest first.
    pub async fn account_links(&self) -> Result<Vec<AccountLink>, Error> {
        let call = || paged(Call::get("GET /account-links", "/account-links"));
        self.collect::<wire::AccountLink, _>(call, AccountLink::from)
            .await
    }

    /// `GET /tags`: every tag, by name (one page; a cursor, if ever sent, is followed).
    pub async fn tags(&self) -> Result<Vec<Tag>, Error> {
        let call = || Call::get("GET /tags", "/tags");
        self.collect::<wire::Tag, _>(call, Tag::from).await
    }

    /// `GET /statuses`: every status, in board order (one page, as tags).
    pub async fn statuses(&self) -> Result<Vec<Status>, Error> {
        let call = || Call::get("GET /statuses", "/statuses");
        self.collect::<wire::Status, _>(call, Status::from).await
    }

    /// `POST /tags`: creates a tag (`color` a palette name or hex; random when `None`). When
    /// Inbox answers `409 nameTaken` (made by someone else since the tags were read, or by an
    /// earlier attempt of this call whose answer was lost), the existing tag is returned.
    pub async fn create_tag(&self, name: &str, color: Option<&str>) -> Result<Tag, Error> {
        if name.trim().is_empty() {
            return Err(Error::Config("empty tag name".into()));
        }
        let body = wire::TagCreate { name, color };
        let call =
            Call::with_body(Method::POST, "POST /tags", "/tags", &body).map_err(Error::Config)?;
        match self.fetch::<wire::Tag>(call).await {
            Ok(tag) => Ok(tag.into()),
            Err(error @ Error::Api { status: 409, .. }) => {
                // Names are unique ignoring case and accents; accents are left to the server,
                // so a name differing from ours only by accents keeps the 409.
                let wanted = name.trim().to_lowercase();
                let tags = self.tags().await?;
                let exact = tags.iter().position(|t| t.name == name);
                let loose = || {
                    tags.iter()
                        .position(|t| t.name.trim().to_lowercase() == wanted)
                };
                match exact.or_else(loose) {
                    Some(found) => Ok(tags[found].clone()),
                    None => Err(error),
                }
            }
            Err(error) => Err(error),
        }
    }

    // Threads.

    /// The full walk ([`ThreadQuery::full_walk`]), from the start.
    pub fn walk(&self) -> Walk {
        self.walk_from(ThreadQuery::full_walk(), None)
    }

    /// A walk of `query` from `cursor` (a [`Walk::resume_cursor`] saved earlier, issued for the
    /// same query), or from the start. A stale cursor fails with [`Error::InvalidCursor`]:
    /// start over.
    pub fn walk_from(&self, query: ThreadQuery, cursor: Option<Cursor>) -> Walk {
        Walk {
            client: self.clone(),
            query,
            cursor,
            done: false,
        }
    }

    /// `GET /threads`: one page of `query` from `cursor`.
    pub async fn threads_page(
        &self,
        query: &ThreadQuery,
        cursor: Option<&Cursor>,
    ) -> Result<Page<Thread>, Error> {
        let mut call = Call::get("GET /threads", "/threads");
        call.query = thread_query_pairs(query, cursor)?;
        let page: wire::Page<wire::Thread> = self.fetch(call).await?;
        Ok(page.convert(Thread::from))
    }

    /// `GET /threads/{id}?expand=contact&expand=profile`: one thread with its contact and
    /// profile, as the walk reads them.
    pub async fn thread(&self, id: &ThreadId) -> Result<Thread, Error> {
        let mut call = Call::get(
            "GET /threads/{id}",
            format!("/threads/{}", segment(id.as_str())?),
        );
        call.query = vec![("expand", "contact".into()), ("expand", "profile".into())];
        let thread: wire::Thread = self.fetch(call).await?;
        Ok(thread.into())
    }

    /// `PATCH /threads/{id}`: archives/unarchives it or sets its own assignee (`null` falls
    /// back to the contact's default). Returns the thread as updated (not expanded).
    pub async fn update_thread(
        &self,
        id: &ThreadId,
        update: &ThreadUpdate,
    ) -> Result<Thread, Error> {
        if let Some(Some(assignee)) = &update.assignee_id {
            check_ref("assignee id", assignee)?;
        }
        let call = Call::with_body(
            Method::PATCH,
            "PATCH /threads/{id}",
            format!("/threads/{}", segment(id.as_str())?),
            &wire::ThreadUpdate::from(update),
        )
        .map_err(Error::Config)?;
        let thread: wire::Thread = self.fetch(call).await?;
        Ok(thread.into())
    }

    // Contacts.

    /// `GET /contacts/{id}`.
    pub async fn contact(&self, id: &ContactId) -> Result<Contact, Error> {
        let path = format!("/contacts/{}", segment(id.as_str())?);
        let contact: wire::Contact = self.fetch(Call::get("GET /contacts/{id}", path)).await?;
        Ok(contact.into())
    }

    /// `GET /contacts`: the contacts with a profile on `platform` matching any of `identities`
    /// (platform ids, or usernames without their display prefix, as `kind` says), asked
    /// [`FINDER_BATCH`] at a time and every page read. Identities are trimmed; empty and
    /// repeated ones are dropped. No match is no contact; a contact found by several batches
    /// is returned once. Which identity matched is for the caller to read from `profiles`
    /// (one username can match several contacts).
    pub async fn find_contacts(
        &self,
        platform: &Platform,
        kind: IdentityKind,
        identities: &[String],
    ) -> Result<Vec<Contact>, Error> {
        if platform.as_str().is_empty() {
            return Err(Error::Config("empty platform for a contact lookup".into()));
        }
        let mut seen = std::collections::HashSet::new();
        let wanted: Vec<&str> = identities
            .iter()
            .map(|i| i.trim())
            .filter(|i| !i.is_empty() && seen.insert(*i))
            .collect();
        let mut found = super::dedupe::Latest::default();
        for batch in wanted.chunks(FINDER_BATCH) {
            let call = || {
                let mut call = Call::get("GET /contacts", "/contacts");
                call.query.push(("platform", platform.as_str().to_owned()));
                for identity in batch {
                    call.query.push((kind.as_str(), (*identity).to_owned()));
                }
                call.query.push(("limit", FINDER_BATCH.to_string()));
                call
            };
            for contact in self
                .collect::<wire::Contact, _>(call, Contact::from)
                .await?
            {
                found.offer(contact);
            }
        }
        Ok(found.into_contacts())
    }

    /// `PATCH /contacts/{id}`: sends only the fields `update` sets (`null` for a clear).
    /// Returns the contact as updated.
    pub async fn update_contact(
        &self,
        id: &ContactId,
        update: &ContactUpdate,
    ) -> Result<Contact, Error> {
        for value in [&update.status, &update.assignee_id] {
            if let Some(Some(reference)) = value {
                check_ref("status or assignee id", reference)?;
            }
        }
        let call = Call::with_body(
            Method::PATCH,
            "PATCH /contacts/{id}",
            format!("/contacts/{}", segment(id.as_str())?),
            &wire::ContactUpdate::from(update),
        )
        .map_err(Error::Config)?;
        let contact: wire::Contact = self.fetch(call).await?;
        Ok(contact.into())
    }

    /// `PUT /contacts/{id}/tags/{tagRef}`: adds a tag (by id; a name works too). Idempotent:
    /// adding a tag the contact has succeeds. A missing tag is `NotFound { what: Tag }`.
    pub async fn add_tag(&self, id: &ContactId, tag_ref: &str) -> Result<(), Error> {
        self.tag_call(Method::PUT, "PUT /contacts/{id}/tags/{tagRef}", id, tag_ref)
            .await
    }

    /// `DELETE /contacts/{id}/tags/{tagRef}`: removes a tag. Idempotent: removing a tag the
    /// contact lacks succeeds.
    pub async fn remove_tag(&self, id: &ContactId, tag_ref: &str) -> Result<(), Error> {
        self.tag_call(
            Method::DELETE,
            "DELETE /contacts/{id}/tags/{tagRef}",
            id,
            tag_ref,
        )
        .await
    }

    async fn tag_call(
        &self,
        method: Method,
        endpoint: &'static str,
        id: &ContactId,
        tag_ref: &str,
    ) -> Result<(), Error> {
        let call = Call {
            method,
            path: format!(
                "/contacts/{}/tags/{}",
                segment(id.as_str())?,
                segment(tag_ref)?
            ),
            endpoint,
            query: Vec::new(),
            body: None,
        };
        self.execute(&call).await.map(drop)
    }

    // Events.

    /// `GET /events`: up to `limit` (1–1000) events after `after_seq` (exclusive; from the
    /// oldest retained when `None`).
    pub async fn events(&self, after_seq: Option<u64>, limit: u16) -> Result<EventPage, Error> {
        if !(1..=MAX_EVENT_PAGE).contains(&limit) {
            return Err(Error::Config(format!(
                "event page size {limit} out of range 1–{MAX_EVENT_PAGE}"
            )));
        }
        let mut call = Call::get("GET /events", "/events");
        if let Some(seq) = after_seq {
            call.query.push(("afterSeq", seq.to_string()));
        }
        call.query.push(("limit", limit.to_string()));
        let (page, request_id): (wire::EventPage, _) = self.fetch_with_id(call).await?;
        let events = page
            .data
            .into_iter()
            .map(wire::Event::into_event)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|detail| Error::Decode {
                endpoint: "GET /events",
                detail: self.scrub(detail),
                request_id,
            })?;
        Ok(EventPage {
            events,
            last_seq: page.last_seq,
            has_more: page.has_more,
        })
    }

    /// The seq of the oldest retained event (`GET /events?limit=1`), `None` when the log is
    /// empty. The docs give no other way to tell how far back the log reaches.
    pub async fn oldest_event_seq(&self) -> Result<Option<u64>, Error> {
        let page = self.events(None, 1).await?;
        Ok(page.events.first().map(|e| e.seq).or(page.last_seq))
    }

    /// Whether replaying from `after_seq` (a stored `last_seq`) would see every event since:
    /// the oldest retained event must be at most `after_seq + 1`. An empty log proves nothing
    /// (everything may have expired), so it is a gap too.
    pub async fn retention(&self, after_seq: u64) -> Result<Retention, Error> {
        Ok(match self.oldest_event_seq().await? {
            Some(oldest) if oldest <= after_seq.saturating_add(1) => Retention::Covered,
            oldest_seq => Retention::Gap { oldest_seq },
        })
    }

    /// The seq of the newest event, read by paging the whole log (at most 25 pages of 1,000):
    /// the bookmark to take before a first walk, when no seq is stored. `None` when the log is
    /// empty.
    pub async fn latest_event_seq(&self) -> Result<Option<u64>, Error> {
        let mut after = None;
        for _ in 0..MAX_LIST_PAGES {
            let page = self.events(after, MAX_EVENT_PAGE).await?;
            let moved = page.last_seq.is_some() && page.last_seq != after;
            if page.last_seq.is_some() {
                after = page.last_seq;
            }
            if !page.has_more || !moved {
                return Ok(after);
            }
        }
        Err(Error::Decode {
            endpoint: "GET /events",
            detail: format!("more than {MAX_LIST_PAGES} pages: the log never ends"),
            request_id: None,
        })
    }
}

/// A walk over `GET /threads`: yields the pages of one query, passing each `nextCursor` back
/// with the same filters, until a page has no cursor (one that repeats the last is an error). The caller
/// dedupes what it yields ([`super::WalkMerge`]): with `order=asc`, a thread that moves during
/// the walk comes back near its end.
#[derive(Debug)]
pub struct Walk {
    client: Client,
    query: ThreadQuery,
    /// The cursor of the next page; `None` before the first.
    cursor: Option<Cursor>,
    done: bool,
}

impl Walk {
    /// The next page's threads, or `None` once the walk is over.
    pub async fn next_page(&mut self) -> Result<Option<Vec<Thread>>, Error> {
        if self.done {
            return Ok(None);
        }
        let page = self
            .client
            .threads_page(&self.query, self.cursor.as_ref())
            .await?;
        match page.next_cursor {
            // The position just read, handed back: the list would page forever. Not an end
            // either: the rest of the list was never read.
            Some(next) if Some(&next) == self.cursor.as_ref() => {
                self.done = true;
                return Err(Error::Decode {
                    endpoint: "GET /threads",
                    detail: "the next cursor is the one just sent: the list does not advance"
                        .into(),
                    request_id: None,
                });
            }
            Some(next) => self.cursor = Some(next),
            None => self.done = true,
        }
        Ok(Some(page.data))
    }

    /// Where the walk would continue: save it with [`Walk::query`] to resume later with
    /// [`Client::walk_from`]. `None` before the first page and once the walk is over.
    pub fn resume_cursor(&self) -> Option<&Cursor> {
        self.cursor.as_ref().filter(|_| !self.done)
    }

    /// The query this walk lists.
    pub fn query(&self) -> &ThreadQuery {
        &self.query
    }

    /// Whether the last page was read.
    pub fn is_done(&self) -> bool {
        self.done
    }
}

/// `call` with the largest page size, `limit=100`.
fn paged(mut call: Call) -> Call {
    call.query.push(("limit", "100".into()));
    call
}

/// Rejects an empty reference, one with control characters, and the path steps `.` and `..`
/// (which no encoding hides: URL parsing removes `%2E%2E` too, so `/contacts/..` would reach
/// the parent resource), so that nothing odd reaches a path or a body.
fn check_ref(what: &str, reference: &str) -> Result<(), Error> {
    let step = matches!(reference, "." | "..");
    if reference.is_empty() || step || reference.chars().any(char::is_control) {
        return Err(Error::Config(format!(
            "invalid {what} {}",
            ShortId(reference)
        )));
    }
    Ok(())
}

/// `reference` as one URL path segment: every byte but the unreserved ones (`A-Z a-z 0-9 - . _
/// ~`) percent-encoded, so a tag named `VIP / 2026 #1` stays one segment and no `?` or `#`
/// ends the path.
pub(crate) fn segment(reference: &str) -> Result<String, Error> {
    check_ref("path reference", reference)?;
    let mut out = String::with_capacity(reference.len());
    for byte in reference.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    Ok(out)
}

/// The query of `GET /threads`: filters in a fixed order, arrays as repeated keys, then the
/// cursor; the same query gives the same pairs, page after page.
pub(crate) fn thread_query_pairs(
    query: &ThreadQuery,
    cursor: Option<&Cursor>,
) -> Result<Vec<(&'static str, String)>, Error> {
    if !(1..=100).contains(&query.limit) {
        return Err(Error::Config(format!(
            "thread page size {} out of range 1–100",
            query.limit
        )));
    }
    let mut expand = query.expand.clone();
    let mut seen = std::collections::HashSet::new();
    expand.retain(|e| seen.insert(*e));
    if expand.len() > 4 {
        return Err(Error::Config("at most 4 expansions per request".into()));
    }
    let mut pairs = vec![
        ("folder", query.folder.as_str().to_owned()),
        ("order", query.order.as_str().to_owned()),
        ("limit", query.limit.to_string()),
    ];
    pairs.extend(expand.iter().map(|e| ("expand", e.as_str().to_owned())));
    for id in &query.contact_ids {
        check_ref("contact id", id.as_str())?;
        pairs.push(("contactId", id.to_string()));
    }
    for id in &query.account_link_ids {
        check_ref("account link id", id)?;
        pairs.push(("accountLinkId", id.clone()));
    }
    if let Some(cursor) = cursor {
        if cursor.0.is_empty() {
            return Err(Error::Config("empty page cursor".into()));
        }
        pairs.push(("cursor", cursor.0.clone()));
    }
    Ok(pairs)
}
