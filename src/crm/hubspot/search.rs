//! Reading only the contacts modified since a watermark through the search endpoint, past its
//! cap of 10,000 results per query, without skipping a record at a window edge.
//!
//! Every query has one sort (HubSpot documents a single sort rule per search), so ties are
//! broken by changing the query, not the sort: walk `lastmodifieddate >= since` ascending; when
//! a query reaches the cap at time `T`, everything before `T` has been seen, so walk the
//! contacts modified exactly at `T` by `hs_object_id` ascending (windowed on `hs_object_id >
//! last` whenever that walk reaches the cap too, ids being unique), then go on with
//! `lastmodifieddate > T`. A contact modified during the walk moves to a later time and is met
//! again further on; duplicates are dropped, the last copy wins.
//!
//! HubSpot's search index lags writes by a few seconds: callers pass a watermark with a safety
//! margin. This module does HTTP through the client only and converts nothing.

use std::collections::HashMap;

use super::client::Client;
use super::error::Error;
use super::record::{LAST_MODIFIED, parse_time};
use super::wire::{Contact, Filter, FilterGroup, SearchRequest, Sort};

/// Results per search page (HubSpot's maximum).
const PAGE: u32 = 200;

/// Results one query can page through. HubSpot answers a page past it with a 400, which
/// [`walk`] takes as the cap as well, should HubSpot lower it.
const CAP: usize = 10_000;

/// The record id property.
const OBJECT_ID: &str = "hs_object_id";

/// Every contact with `lastmodifieddate >= since_ms`, each once, with `properties` (plus
/// `lastmodifieddate` and `hs_object_id`).
pub(crate) async fn modified_since(
    client: &Client,
    properties: &[String],
    since_ms: i64,
) -> Result<Vec<Contact>, Error> {
    let mut wanted: Vec<String> = properties.to_vec();
    for required in [LAST_MODIFIED, OBJECT_ID] {
        if !wanted.iter().any(|p| p == required) {
            wanted.push(required.to_owned());
        }
    }
    let mut found = Found::default();
    let mut time_filter = filter(LAST_MODIFIED, "GTE", since_ms.to_string());
    loop {
        let capped = walk(
            client,
            vec![time_filter.clone()],
            LAST_MODIFIED,
            &wanted,
            &mut found,
        )
        .await?;
        let Some(last) = capped else {
            return Ok(found.into_contacts());
        };
        let at = modified_ms(&last).ok_or_else(|| Error::Decode {
            endpoint: "POST /crm/v3/objects/contacts/search".into(),
            detail: format!("contact {} has no readable {LAST_MODIFIED}", last.id),
        })?;
        // Everything before `at` is seen; walk the contacts at exactly `at` by id.
        let mut after_id: Option<String> = None;
        loop {
            let mut filters = vec![filter(LAST_MODIFIED, "EQ", at.to_string())];
            if let Some(id) = &after_id {
                filters.push(filter(OBJECT_ID, "GT", id.clone()));
            }
            match walk(client, filters, OBJECT_ID, &wanted, &mut found).await? {
                Some(last) => after_id = Some(last.id),
                None => break,
            }
        }
        time_filter = filter(LAST_MODIFIED, "GT", at.to_string());
    }
}

/// The contacts seen so far, in walk order, each once.
#[derive(Default)]
struct Found {
    contacts: Vec<Contact>,
    position: HashMap<String, usize>,
}

impl Found {
    fn add(&mut self, contact: Contact) {
        match self.position.get(&contact.id) {
            Some(&idx) => self.contacts[idx] = contact,
            None => {
                self.position
                    .insert(contact.id.clone(), self.contacts.len());
                self.contacts.push(contact);
            }
        }
    }

    fn into_contacts(self) -> Vec<Contact> {
        self.contacts
    }
}

/// Pages through one query sorted ascending by `sort`; returns the last contact when the query
/// reached the cap (more results exist than it can page to), `None` when it was read to the end.
async fn walk(
    client: &Client,
    filters: Vec<Filter>,
    sort: &str,
    properties: &[String],
    found: &mut Found,
) -> Result<Option<Contact>, Error> {
    let mut after: Option<String> = None;
    let mut last: Option<Contact> = None;
    loop {
        let request = SearchRequest {
            filter_groups: vec![FilterGroup {
                filters: filters.clone(),
            }],
            sorts: vec![Sort {
                property_name: sort.to_owned(),
                direction: "ASCENDING".into(),
            }],
            properties: properties.to_vec(),
            limit: PAGE,
            after: after.clone(),
        };
        let page = match client.search(&request).await {
            // HubSpot's documented answer to paging past the cap. The query's first page was
            // accepted, so only the paging moved: the cap is lower than CAP (HubSpot changed
            // it), and the windows below take over as when the computed offset reaches it.
            Err(Error::Api {
                status: 400,
                message,
                ..
            }) if after.is_some() && last.is_some() => {
                tracing::warn!(
                    "HubSpot refused search page after={}: {message}; taking it as the search result cap",
                    after.as_deref().unwrap_or_default()
                );
                return Ok(last);
            }
            page => page?,
        };
        if let Some(contact) = page.results.last() {
            last = Some(contact.clone());
        }
        for contact in page.results {
            found.add(contact);
        }
        let next = page
            .paging
            .and_then(|p| p.next)
            .map(|n| n.after)
            .filter(|n| Some(n) != after.as_ref());
        match next {
            None => return Ok(None),
            Some(next) if next.parse::<usize>().is_ok_and(|offset| offset >= CAP) => {
                return Ok(last);
            }
            Some(next) => after = Some(next),
        }
    }
}

fn filter(property: &str, operator: &str, value: String) -> Filter {
    Filter {
        property_name: property.to_owned(),
        operator: operator.to_owned(),
        value,
    }
}

fn modified_ms(contact: &Contact) -> Option<i64> {
    contact
        .property(LAST_MODIFIED)
        .and_then(parse_time)
        .map(|t| t.timestamp_millis())
}
