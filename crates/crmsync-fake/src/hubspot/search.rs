//! The fake HubSpot's reads over many contacts: the listing in id order and the search API
//! (filters, operators, sorting, the 10,000-result cap), as HubSpot documents them.
//!
//! Pure data and rules like `state.rs`: no HTTP, no JSON rendering, no clock.

use super::state::{Contact, Filter, Model, Refusal, SEARCH_CAP, SearchQuery, parse_time_ms};

impl Model {
    /// One page of the listing (id order) starting after the cursor; returns the ids and the
    /// next cursor.
    pub fn list(&self, limit: usize, after: Option<u64>) -> (Vec<u64>, Option<u64>) {
        let start = after.unwrap_or(0);
        let mut ids = self
            .contacts
            .range(start..)
            .filter(|(_, c)| !c.archived)
            .map(|(id, _)| *id);
        let page: Vec<u64> = ids.by_ref().take(limit).collect();
        let next = ids.next();
        (page, next)
    }

    /// A search: the matching ids of the requested page, the total, and the next offset.
    pub fn search(&self, query: &SearchQuery) -> Result<(Vec<u64>, usize, Option<usize>), Refusal> {
        if query.limit > 200 {
            return Err(Refusal::validation(format!(
                "limit must be at most 200 (got {})",
                query.limit
            )));
        }
        // HubSpot documents a 400 for paging past the cap; the message follows its docs' wording
        // ("limited to 10,000 total results for any given query"), not a captured response.
        let cap = self.search_cap.unwrap_or(SEARCH_CAP);
        if query.offset >= cap {
            return Err(Refusal::validation(format!(
                "The search endpoints are limited to {cap} total results for any given query (after={}); narrow the query with filters",
                query.offset
            )));
        }
        let mut matches: Vec<&Contact> = self
            .contacts
            .values()
            .filter(|c| !c.archived)
            .filter(|c| {
                query.groups.is_empty()
                    || query
                        .groups
                        .iter()
                        .any(|group| group.iter().all(|f| self.matches(c, f)))
            })
            .collect();
        // Stable sort by the keys, ids ascending as the final tie-break.
        matches.sort_by(|a, b| {
            for (property, descending) in &query.sorts {
                let ordering = self.compare(a, b, property);
                let ordering = if *descending {
                    ordering.reverse()
                } else {
                    ordering
                };
                if ordering.is_ne() {
                    return ordering;
                }
            }
            a.id.cmp(&b.id)
        });
        let total = matches.len();
        let end = (query.offset + query.limit).min(total);
        let page: Vec<u64> = matches
            .get(query.offset..end)
            .unwrap_or_default()
            .iter()
            .map(|c| c.id)
            .collect();
        let next = (end < total).then_some(end);
        Ok((page, total, next))
    }

    /// A comparable form of a value: numbers and date-times as numbers.
    fn sort_key(&self, contact: &Contact, property: &str) -> SortKey {
        let kind = self.properties.get(property).map(|s| s.kind.as_str());
        let raw = match property {
            "lastmodifieddate" => return SortKey::Number(contact.modified_ms as f64),
            "createdate" => return SortKey::Number(contact.created_ms as f64),
            "hs_object_id" => return SortKey::Number(contact.id as f64),
            _ => contact.value(property),
        };
        match (raw, kind) {
            (None, _) => SortKey::Missing,
            (Some(v), Some("number")) => v
                .trim()
                .parse::<f64>()
                .map_or(SortKey::Text(v), SortKey::Number),
            (Some(v), Some("datetime" | "date")) => {
                parse_time_ms(&v).map_or(SortKey::Text(v), |ms| SortKey::Number(ms as f64))
            }
            (Some(v), _) => SortKey::Text(v),
        }
    }

    fn compare(&self, a: &Contact, b: &Contact, property: &str) -> std::cmp::Ordering {
        self.sort_key(a, property)
            .partial_cmp(&self.sort_key(b, property))
            .unwrap_or(std::cmp::Ordering::Equal)
    }

    fn matches(&self, contact: &Contact, filter: &Filter) -> bool {
        let key = self.sort_key(contact, &filter.property);
        let target =
            filter
                .value
                .as_deref()
                .map(|v| match self.sort_key_of_text(&filter.property, v) {
                    Some(n) => SortKey::Number(n),
                    None => SortKey::Text(v.to_owned()),
                });
        use std::cmp::Ordering::*;
        let cmp = || target.as_ref().and_then(|t| key.partial_cmp(t));
        match filter.operator.as_str() {
            "HAS_PROPERTY" => key != SortKey::Missing,
            "NOT_HAS_PROPERTY" => key == SortKey::Missing,
            _ if key == SortKey::Missing => filter.operator == "NEQ",
            "EQ" => cmp() == Some(Equal),
            "NEQ" => cmp() != Some(Equal),
            "GT" => cmp() == Some(Greater),
            "GTE" => matches!(cmp(), Some(Greater | Equal)),
            "LT" => cmp() == Some(Less),
            "LTE" => matches!(cmp(), Some(Less | Equal)),
            "CONTAINS_TOKEN" => match (&key, filter.value.as_deref()) {
                (SortKey::Text(text), Some(token)) => text
                    .to_lowercase()
                    .split(|c: char| !c.is_alphanumeric() && c != '_')
                    .any(|t| t == token.to_lowercase()),
                _ => false,
            },
            _ => false,
        }
    }

    /// A filter value as a number when its property compares numerically.
    fn sort_key_of_text(&self, property: &str, value: &str) -> Option<f64> {
        let kind = match property {
            "lastmodifieddate" | "createdate" => "datetime",
            "hs_object_id" => "number",
            _ => self.properties.get(property).map(|s| s.kind.as_str())?,
        };
        match kind {
            "number" => value.trim().parse().ok(),
            "datetime" | "date" => parse_time_ms(value).map(|ms| ms as f64),
            _ => None,
        }
    }

    /// Checks that a search names only filter operators the fake knows.
    pub fn check_operators(query: &SearchQuery) -> Result<(), Refusal> {
        const KNOWN: [&str; 9] = [
            "EQ",
            "NEQ",
            "GT",
            "GTE",
            "LT",
            "LTE",
            "HAS_PROPERTY",
            "NOT_HAS_PROPERTY",
            "CONTAINS_TOKEN",
        ];
        for filter in query.groups.iter().flatten() {
            if !KNOWN.contains(&filter.operator.as_str()) {
                return Err(Refusal::validation(format!(
                    "Unknown filter operator {} (the fake supports {})",
                    filter.operator,
                    KNOWN.join(", ")
                )));
            }
        }
        Ok(())
    }
}

/// A value as compared by search.
#[derive(Debug, Clone, PartialEq, PartialOrd)]
enum SortKey {
    /// Unset values sort first.
    Missing,
    Number(f64),
    Text(String),
}
