//! Matching CRM records to Inbox prospects (docs/design.md §2 "Match").
//!
//! Pure: stored links first, then the X user id, then, only for records without an X id, the
//! username (case-insensitive, `@` stripped). Ambiguity is an identity conflict and neither side
//! is touched. Nothing here does I/O.

use std::collections::BTreeMap;

// Per-run maps of up to a team's every id: a fast hasher (the ids are not attacker-chosen keys
// in a long-lived server; they come from the team's own Inbox and CRM).
use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};

use crate::crm::CrmRecord;
use crate::store::{LinkRow, LinkState, ProspectKey};

use super::merge::SortedCursor;

/// An ambiguous match: logged, neither side touched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdentityConflict {
    /// Prospects involved.
    pub prospect_ids: Vec<String>,
    /// CRM records involved.
    pub crm_ids: Vec<String>,
    /// What is ambiguous.
    pub detail: String,
}

/// The result of matching.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Matching {
    /// Every link (stored or new) with its state this run, sorted by prospect id.
    pub links: Vec<LinkRow>,
    /// Ambiguities.
    pub identity: Vec<IdentityConflict>,
    /// Prospects with no CRM record.
    pub unlinked_prospects: Vec<String>,
    /// CRM records with no prospect.
    pub unlinked_records: Vec<String>,
}

impl Matching {
    /// The prospects and records named by an identity conflict. While one is open, a link of
    /// theirs is neither reconciled nor written: "neither is touched" (a stored link of a
    /// prospect that a second record now claims included).
    pub fn disputed(&self) -> Disputed<'_> {
        let mut out = Disputed::default();
        for conflict in &self.identity {
            out.prospects
                .extend(conflict.prospect_ids.iter().map(String::as_str));
            out.records
                .extend(conflict.crm_ids.iter().map(String::as_str));
        }
        out
    }
}

/// See [`Matching::disputed`].
#[derive(Debug, Default)]
pub struct Disputed<'a> {
    prospects: HashSet<&'a str>,
    records: HashSet<&'a str>,
}

impl Disputed<'_> {
    /// Whether an identity conflict names the link's prospect or its record.
    pub fn contains(&self, link: &LinkRow) -> bool {
        self.prospects.contains(link.prospect_id.as_str())
            || self.records.contains(link.crm_id.as_str())
    }
}

/// Normalizes a username for comparison.
pub fn normalize_username(name: &str) -> String {
    name.trim().trim_start_matches('@').to_lowercase()
}

/// Matches records to prospects.
pub fn match_records(
    prospects: &[ProspectKey<'_>],
    records: &[CrmRecord],
    stored: &[LinkRow],
) -> Matching {
    let mut out = Matching::default();
    let prospect_ids: HashSet<&str> = prospects.iter().map(|p| p.id).collect();
    let record_ids: HashSet<&str> = records.iter().map(|r| r.id.as_str()).collect();
    let mut linked_prospects: HashSet<&str> = HashSet::with_capacity(stored.len());
    let mut linked_records: HashSet<&str> = HashSet::with_capacity(records.len());

    // 1. Stored links keep their pairing; a side that disappeared marks the link missing.
    for link in stored {
        let state = match (
            prospect_ids.contains(link.prospect_id.as_str()),
            record_ids.contains(link.crm_id.as_str()),
        ) {
            (true, true) => LinkState::Active,
            (true, false) => LinkState::MissingCrm,
            (false, _) => LinkState::MissingInbox,
        };
        linked_prospects.insert(&link.prospect_id);
        linked_records.insert(&link.crm_id);
        out.links.push(LinkRow {
            prospect_id: link.prospect_id.clone(),
            crm_id: link.crm_id.clone(),
            state,
        });
    }

    // 2 + 3. Candidate prospect per unlinked record. A nightly run has none: the indexes by X
    // id and username are built only when there is something to look up.
    let unlinked: Vec<&CrmRecord> = records
        .iter()
        .filter(|r| !linked_records.contains(r.id.as_str()))
        .collect();
    let by_platform: HashMap<&str, &ProspectKey<'_>> = if unlinked.is_empty() {
        HashMap::new()
    } else {
        prospects.iter().map(|p| (p.platform_id, p)).collect()
    };
    let mut by_username: HashMap<String, Vec<&ProspectKey<'_>>> = HashMap::new();
    if unlinked
        .iter()
        .any(|r| r.x_user_id.is_none() && r.username.is_some())
    {
        for p in prospects {
            by_username
                .entry(normalize_username(p.username))
                .or_default()
                .push(p);
        }
    }
    let mut claims: BTreeMap<&str, Vec<&CrmRecord>> = BTreeMap::new();
    for &record in &unlinked {
        let candidate = match (&record.x_user_id, &record.username) {
            (Some(x_id), _) => by_platform.get(x_id.as_str()).map(|p| p.id),
            (None, Some(username)) => match by_username.get(&normalize_username(username)) {
                Some(found) if found.len() == 1 => Some(found[0].id),
                Some(found) => {
                    out.identity.push(IdentityConflict {
                        prospect_ids: found.iter().map(|p| p.id.to_string()).collect(),
                        crm_ids: vec![record.id.clone()],
                        detail: format!(
                            "record {} (username @{}) matches {} Inbox prospects",
                            record.id,
                            normalize_username(username),
                            found.len()
                        ),
                    });
                    linked_records.insert(&record.id);
                    None
                }
                None => None,
            },
            (None, None) => None,
        };
        if let Some(prospect_id) = candidate {
            claims.entry(prospect_id).or_default().push(record);
        }
    }
    // The record each stored link pairs with its prospect: only needed for claims, which a
    // nightly run has none of.
    let stored_record: HashMap<&str, &str> = if claims.is_empty() {
        HashMap::new()
    } else {
        stored
            .iter()
            .map(|l| (l.prospect_id.as_str(), l.crm_id.as_str()))
            .collect()
    };
    for (prospect_id, claimants) in claims {
        let already = stored_record.get(prospect_id).map(|id| id.to_string());
        if claimants.len() > 1 || already.is_some() {
            let mut crm_ids: Vec<String> = claimants.iter().map(|r| r.id.clone()).collect();
            crm_ids.extend(already);
            crm_ids.sort();
            out.identity.push(IdentityConflict {
                detail: format!(
                    "{} CRM records ({}) match Inbox prospect {prospect_id}",
                    crm_ids.len(),
                    crm_ids.join(", ")
                ),
                prospect_ids: vec![prospect_id.to_string()],
                crm_ids,
            });
            for r in claimants {
                linked_records.insert(&r.id);
            }
            continue;
        }
        let record = claimants[0];
        linked_prospects.insert(prospect_id);
        linked_records.insert(&record.id);
        out.links.push(LinkRow {
            prospect_id: prospect_id.to_string(),
            crm_id: record.id.clone(),
            state: LinkState::Active,
        });
    }

    // Prospects claimed in an identity conflict are not "unlinked" (they need a human).
    let disputed: HashSet<&str> = out
        .identity
        .iter()
        .flat_map(|c| c.prospect_ids.iter().map(String::as_str))
        .collect();
    out.unlinked_prospects = prospects
        .iter()
        .filter(|p| !linked_prospects.contains(p.id) && !disputed.contains(p.id))
        .map(|p| p.id.to_string())
        .collect();
    out.unlinked_prospects.sort();
    // Only records unlinked before the claims can be unlinked after them.
    out.unlinked_records = unlinked
        .iter()
        .filter(|r| !linked_records.contains(r.id.as_str()))
        .map(|r| r.id.clone())
        .collect();
    out.links.sort_by(|a, b| a.prospect_id.cmp(&b.prospect_id));
    out
}

/// The links of `links` that `stored` does not hold as they are (new, or another record or
/// state). Both come in prospect order (the store's and [`match_records`]'s), so one merge
/// finds them without a map of every link; out of order, a link the merge passes by is taken
/// as changed, so order costs at most a rewrite of a link, never a missed one.
pub fn changed_links<'a>(
    stored: &[LinkRow],
    links: &'a [LinkRow],
) -> impl Iterator<Item = &'a LinkRow> {
    let mut stored = SortedCursor::new(stored);
    links.iter().filter(move |link| {
        !stored
            .seek(link.prospect_id.as_str(), |s| s.prospect_id.as_str())
            .is_some_and(|s| s.crm_id == link.crm_id && s.state == link.state)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::Fields;

    fn record(id: &str, x: Option<&str>, user: Option<&str>) -> CrmRecord {
        CrmRecord {
            id: id.into(),
            x_user_id: x.map(Into::into),
            username: user.map(Into::into),
            fields: Fields::default(),
            unknown: Default::default(),
            updated_at: None,
            row: 2,
        }
    }

    #[test]
    fn changed_links_are_the_new_and_the_moved_ones_in_any_order() {
        let link = |p: &str, r: &str, state| LinkRow {
            prospect_id: p.into(),
            crm_id: r.into(),
            state,
        };
        let stored = vec![
            link("a", "r1", LinkState::Active),
            link("b", "r2", LinkState::Active),
            link("c", "r3", LinkState::Active),
            link("e", "r5", LinkState::Active),
        ];
        let now = vec![
            link("a", "r1", LinkState::Active),
            link("b", "r9", LinkState::Active),
            link("c", "r3", LinkState::MissingCrm),
            link("d", "r4", LinkState::Active),
            link("e", "r5", LinkState::Active),
        ];
        let ids = |stored: &[LinkRow], now: &[LinkRow]| -> Vec<String> {
            changed_links(stored, now)
                .map(|l| l.prospect_id.clone())
                .collect()
        };
        assert_eq!(ids(&stored, &now), ["b", "c", "d"]);
        // Out of order: never a changed link missed, at most an unchanged one rewritten.
        let mut shuffled = now.clone();
        shuffled.reverse();
        let found = ids(&stored, &shuffled);
        for changed in ["b", "c", "d"] {
            assert!(found.iter().any(|id| id == changed), "{found:?}");
        }
        assert!(ids(&stored, &[]).is_empty());
        assert_eq!(ids(&[], &now).len(), 5);
    }

    fn prospects() -> Vec<ProspectKey<'static>> {
        vec![
            ProspectKey {
                id: "p1",
                platform_id: "11",
                username: "ana",
            },
            ProspectKey {
                id: "p2",
                platform_id: "22",
                username: "Ben",
            },
            ProspectKey {
                id: "p3",
                platform_id: "33",
                username: "cleo",
            },
        ]
    }

    #[test]
    fn matches_by_x_id_then_username_only_without_x_id() {
        let records = vec![
            record("r1", Some("11"), Some("someone_else")),
            record("r2", None, Some("@BEN")),
            // Has an X id that matches nobody: the username must not be used.
            record("r3", Some("99"), Some("cleo")),
        ];
        let m = match_records(&prospects(), &records, &[]);
        let pairs: Vec<(&str, &str)> = m
            .links
            .iter()
            .map(|l| (l.prospect_id.as_str(), l.crm_id.as_str()))
            .collect();
        assert_eq!(pairs, vec![("p1", "r1"), ("p2", "r2")]);
        assert_eq!(m.unlinked_prospects, vec!["p3"]);
        assert_eq!(m.unlinked_records, vec!["r3"]);
        assert!(m.identity.is_empty());
    }

    #[test]
    fn two_records_for_one_prospect_is_an_identity_conflict() {
        let records = vec![
            record("r1", Some("11"), None),
            record("r2", None, Some("ana")),
        ];
        let m = match_records(&prospects(), &records, &[]);
        assert!(m.links.is_empty());
        assert_eq!(m.identity.len(), 1);
        assert_eq!(m.identity[0].crm_ids, vec!["r1", "r2"]);
        assert!(m.unlinked_records.is_empty());
    }

    #[test]
    fn stored_links_win_and_missing_sides_are_marked() {
        let stored = vec![
            LinkRow {
                prospect_id: "p1".into(),
                crm_id: "r9".into(),
                state: LinkState::Active,
            },
            LinkRow {
                prospect_id: "p2".into(),
                crm_id: "gone".into(),
                state: LinkState::Active,
            },
        ];
        let records = vec![
            record("r9", Some("11"), None),
            record("r5", Some("11"), None),
        ];
        let m = match_records(&prospects(), &records, &stored);
        assert_eq!(m.links[0].state, LinkState::Active);
        assert_eq!(m.links[1].state, LinkState::MissingCrm);
        // r5 claims p1, which is linked to r9 already.
        assert_eq!(m.identity.len(), 1);
        assert_eq!(m.identity[0].crm_ids, vec!["r5", "r9"]);
        // While it is open, the stored link p1 <-> r9 is disputed; p2's is not.
        let disputed = m.disputed();
        assert!(disputed.contains(&m.links[0]));
        assert!(!disputed.contains(&m.links[1]));
    }
}
