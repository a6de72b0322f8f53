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
use crate::reconcile::{ContactId, RecordId};
use crate::store::{LinkRow, LinkState, ProfileRow, ProspectKey};

use super::sorted::SortedCursor;

/// An ambiguous match: logged, neither side touched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdentityConflict {
    /// Prospects involved.
    pub prospect_ids: Vec<ContactId>,
    /// CRM records involved.
    pub crm_ids: Vec<RecordId>,
    /// What is ambiguous.
    pub detail: String,
}

/// Ids joined with `,`: how the conflict log names the several prospects or records of an
/// identity conflict in one row.
pub fn join_ids<T: AsRef<str>>(ids: &[T]) -> String {
    ids.iter().map(AsRef::as_ref).collect::<Vec<_>>().join(",")
}

/// The result of matching.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Matching {
    /// Every link (stored or new) with its state this run, sorted by prospect id.
    pub links: Vec<LinkRow>,
    /// Ambiguities.
    pub identity: Vec<IdentityConflict>,
    /// Prospects with no CRM record.
    pub unlinked_prospects: Vec<ContactId>,
    /// CRM records with no prospect.
    pub unlinked_records: Vec<RecordId>,
}

impl Matching {
    /// The prospects and records named by an identity conflict. While one is open, a link of
    /// theirs is neither reconciled nor written: "neither is touched" (a stored link of a
    /// prospect that a second record now claims included).
    pub fn disputed(&self) -> Disputed<'_> {
        let mut out = Disputed::default();
        for conflict in &self.identity {
            out.prospects.extend(&conflict.prospect_ids);
            out.records.extend(&conflict.crm_ids);
        }
        out
    }
}

/// See [`Matching::disputed`].
#[derive(Debug, Default)]
pub struct Disputed<'a> {
    prospects: HashSet<&'a ContactId>,
    records: HashSet<&'a RecordId>,
}

impl Disputed<'_> {
    /// Whether an identity conflict names the link's prospect or its record.
    pub fn contains(&self, link: &LinkRow) -> bool {
        self.prospects.contains(&link.prospect_id) || self.records.contains(&link.crm_id)
    }
}

/// The `platform` of X profiles.
pub const X_PLATFORM: &str = "twitter";

/// The `platform` of LinkedIn profiles. The vendor's spec names only `twitter`; its changelog
/// announces LinkedIn and our fake serves `linkedin` (docs/inbox-api-v2.md §10: "most likely
/// `linkedin`"). The one place to change if the API says otherwise.
pub const LINKEDIN_PLATFORM: &str = "linkedin";

/// Normalizes a username for comparison.
pub fn normalize_username(name: &str) -> String {
    name.trim().trim_start_matches('@').to_lowercase()
}

/// Which identity of a profile a CRM record gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IdentityKind {
    /// The profile's `platformId` (X user id, LinkedIn member id): a stable key.
    PlatformId,
    /// Its username (X handle, LinkedIn slug): only asked for when the record has no id on
    /// that platform.
    Username,
}

/// The identities a record is matched by, per platform: its id there, else its username
/// there (an X id that matches nobody does not fall back to the X handle; a LinkedIn slug is
/// still used when the record has no LinkedIn id).
pub fn record_identities(record: &CrmRecord) -> Vec<(&'static str, IdentityKind, &str)> {
    let mut out = Vec::with_capacity(2);
    for (platform, id, username) in [
        (X_PLATFORM, &record.x_user_id, &record.username),
        (
            LINKEDIN_PLATFORM,
            &record.linkedin_id,
            &record.linkedin_username,
        ),
    ] {
        match (id.as_deref(), username.as_deref()) {
            (Some(id), _) => out.push((platform, IdentityKind::PlatformId, id)),
            (None, Some(name)) => out.push((platform, IdentityKind::Username, name)),
            (None, None) => {}
        }
    }
    out
}

/// How a message names one identity of a record.
fn describe(platform: &str, kind: IdentityKind, value: &str) -> String {
    match (platform, kind) {
        (X_PLATFORM, IdentityKind::PlatformId) => format!("X user id {value}"),
        (X_PLATFORM, IdentityKind::Username) => format!("X handle @{}", normalize_username(value)),
        (LINKEDIN_PLATFORM, IdentityKind::PlatformId) => format!("LinkedIn id {value}"),
        (LINKEDIN_PLATFORM, IdentityKind::Username) => format!("LinkedIn profile {value}"),
        (other, IdentityKind::PlatformId) => format!("{other} id {value}"),
        (other, IdentityKind::Username) => format!("{other} username {value}"),
    }
}

/// The prospects' (v2: contacts') identities, indexed for matching: by `(platform, id)` and by
/// `(platform, normalized username)`.
struct Index<'a> {
    by_id: HashMap<(&'a str, &'a str), &'a ContactId>,
    by_name: HashMap<(&'a str, String), Vec<&'a ContactId>>,
}

impl<'a> Index<'a> {
    fn build(prospects: &'a [ProspectKey<'a>], profiles: &'a [ProfileRow], names: bool) -> Self {
        let mut index = Index {
            by_id: HashMap::with_capacity(prospects.len() + profiles.len()),
            by_name: HashMap::new(),
        };
        let identities = prospects
            .iter()
            .map(|p| (X_PLATFORM, p.platform_id, p.username, p.id))
            .chain(profiles.iter().map(|p| {
                (
                    p.platform.as_str(),
                    p.platform_id.as_str(),
                    p.username.as_str(),
                    &p.contact_id,
                )
            }));
        for (platform, id, username, contact) in identities {
            if !id.is_empty() {
                index.by_id.entry((platform, id)).or_insert(contact);
            }
            if names && !username.is_empty() {
                let found = index
                    .by_name
                    .entry((platform, normalize_username(username)))
                    .or_default();
                if !found.contains(&contact) {
                    found.push(contact);
                }
            }
        }
        index
    }
}

/// Matches records to prospects (v2: contacts). `profiles` are the v2 contacts' profiles on
/// every platform (none on v1, where the prospects' X identity is all there is).
pub fn match_records(
    prospects: &[ProspectKey<'_>],
    profiles: &[ProfileRow],
    records: &[CrmRecord],
    stored: &[LinkRow],
) -> Matching {
    let mut matcher = Matcher {
        out: Matching::default(),
        linked_prospects: HashSet::with_capacity(stored.len()),
        linked_records: HashSet::with_capacity(records.len()),
    };
    // 1. Stored links keep their pairing; a side that disappeared marks the link missing.
    matcher.keep_stored(prospects, records, stored);
    // 2 + 3. Candidate prospect per unlinked record, by id then username on each platform.
    let unlinked: Vec<&CrmRecord> = records
        .iter()
        .filter(|r| !matcher.linked_records.contains(&r.id))
        .collect();
    let claims = matcher.claims(prospects, profiles, &unlinked);
    matcher.link_claims(claims, stored);
    matcher.finish(prospects, &unlinked)
}

/// One matching under way: the links and conflicts so far, and which prospects and records
/// they took.
struct Matcher<'a> {
    out: Matching,
    linked_prospects: HashSet<&'a ContactId>,
    linked_records: HashSet<&'a RecordId>,
}

impl<'a> Matcher<'a> {
    /// Keeps every stored link, in the state its sides are in now.
    fn keep_stored(
        &mut self,
        prospects: &[ProspectKey<'_>],
        records: &[CrmRecord],
        stored: &'a [LinkRow],
    ) {
        let prospect_ids: HashSet<&ContactId> = prospects.iter().map(|p| p.id).collect();
        let record_ids: HashSet<&RecordId> = records.iter().map(|r| &r.id).collect();
        for link in stored {
            let state = match (
                prospect_ids.contains(&link.prospect_id),
                record_ids.contains(&link.crm_id),
            ) {
                (true, true) => LinkState::Active,
                (true, false) => LinkState::MissingCrm,
                (false, _) => LinkState::MissingInbox,
            };
            self.linked_prospects.insert(&link.prospect_id);
            self.linked_records.insert(&link.crm_id);
            self.out.links.push(LinkRow {
                prospect_id: link.prospect_id.clone(),
                crm_id: link.crm_id.clone(),
                state,
            });
        }
    }

    /// The records that claim each prospect, of the `unlinked`; a record whose identities
    /// disagree is an identity conflict. A nightly run has none: the index is built only when
    /// there is something to look up.
    fn claims(
        &mut self,
        prospects: &'a [ProspectKey<'a>],
        profiles: &'a [ProfileRow],
        unlinked: &[&'a CrmRecord],
    ) -> BTreeMap<&'a ContactId, Vec<&'a CrmRecord>> {
        let mut claims: BTreeMap<&ContactId, Vec<&CrmRecord>> = BTreeMap::new();
        if unlinked.is_empty() {
            return claims;
        }
        let names = unlinked.iter().any(|r| {
            record_identities(r)
                .iter()
                .any(|(_, kind, _)| *kind == IdentityKind::Username)
        });
        let index = Index::build(prospects, profiles, names);
        for &record in unlinked {
            match candidate(record, &index) {
                Candidate::None => {}
                Candidate::One(prospect_id) => claims.entry(prospect_id).or_default().push(record),
                Candidate::Conflict(conflict) => {
                    self.out.identity.push(conflict);
                    self.linked_records.insert(&record.id);
                }
            }
        }
        claims
    }

    /// Links each prospect claimed by one record, unless a stored link pairs it already; more
    /// claimants (the stored one included) are an identity conflict.
    fn link_claims(
        &mut self,
        claims: BTreeMap<&'a ContactId, Vec<&'a CrmRecord>>,
        stored: &'a [LinkRow],
    ) {
        // The record each stored link pairs with its prospect: only needed for claims, which a
        // nightly run has none of.
        let stored_record: HashMap<&ContactId, &RecordId> = if claims.is_empty() {
            HashMap::new()
        } else {
            stored.iter().map(|l| (&l.prospect_id, &l.crm_id)).collect()
        };
        for (prospect_id, claimants) in claims {
            let already = stored_record.get(prospect_id).map(|&id| id.clone());
            if claimants.len() > 1 || already.is_some() {
                self.out
                    .identity
                    .push(claim_conflict(prospect_id, &claimants, already));
                for r in claimants {
                    self.linked_records.insert(&r.id);
                }
                continue;
            }
            let record = claimants[0];
            self.linked_prospects.insert(prospect_id);
            self.linked_records.insert(&record.id);
            self.out.links.push(LinkRow {
                prospect_id: prospect_id.clone(),
                crm_id: record.id.clone(),
                state: LinkState::Active,
            });
        }
    }

    /// The matching: what is left unlinked of `prospects` and of the records `unlinked`
    /// before the claims, and the links in prospect order.
    fn finish(self, prospects: &[ProspectKey<'_>], unlinked: &[&CrmRecord]) -> Matching {
        let mut out = self.out;
        // Prospects claimed in an identity conflict are not "unlinked" (they need a human).
        let disputed: HashSet<&ContactId> =
            out.identity.iter().flat_map(|c| &c.prospect_ids).collect();
        out.unlinked_prospects = prospects
            .iter()
            .filter(|p| !self.linked_prospects.contains(p.id) && !disputed.contains(p.id))
            .map(|p| p.id.clone())
            .collect();
        out.unlinked_prospects.sort();
        // Only records unlinked before the claims can be unlinked after them.
        out.unlinked_records = unlinked
            .iter()
            .filter(|r| !self.linked_records.contains(&r.id))
            .map(|r| r.id.clone())
            .collect();
        out.links.sort_by(|a, b| a.prospect_id.cmp(&b.prospect_id));
        out
    }
}

/// The identity conflict of a prospect that several records claim (`already`: the record a
/// stored link pairs it with).
fn claim_conflict(
    prospect_id: &ContactId,
    claimants: &[&CrmRecord],
    already: Option<RecordId>,
) -> IdentityConflict {
    let mut crm_ids: Vec<RecordId> = claimants.iter().map(|r| r.id.clone()).collect();
    crm_ids.extend(already);
    crm_ids.sort();
    IdentityConflict {
        detail: format!(
            "{} CRM records ({}) match Inbox prospect {prospect_id}",
            crm_ids.len(),
            crm_ids
                .iter()
                .map(RecordId::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        prospect_ids: vec![prospect_id.clone()],
        crm_ids,
    }
}

/// What a record's identities point to.
enum Candidate<'a> {
    /// Nothing Inbox has.
    None,
    /// One prospect (contact), by every identity that points anywhere.
    One(&'a ContactId),
    /// Several: neither the record nor any of them is touched.
    Conflict(IdentityConflict),
}

/// The prospect a record's identities point to. An identity that points nowhere does not count
/// (Inbox may not know that profile yet); two that point to different prospects, or a username
/// several prospects have (unless the record's other identities single out one of them), are
/// an identity conflict.
fn candidate<'a>(record: &CrmRecord, index: &Index<'a>) -> Candidate<'a> {
    // Each identity that points somewhere, with the prospects it points to.
    let mut found: Vec<(String, &[&'a ContactId])> = Vec::new();
    for (platform, kind, value) in record_identities(record) {
        let prospects: &[&'a ContactId] = match kind {
            IdentityKind::PlatformId => index
                .by_id
                .get(&(platform, value))
                .map(std::slice::from_ref)
                .unwrap_or_default(),
            IdentityKind::Username => index
                .by_name
                .get(&(platform, normalize_username(value)))
                .map(Vec::as_slice)
                .unwrap_or_default(),
        };
        if !prospects.is_empty() {
            found.push((describe(platform, kind, value), prospects));
        }
    }
    // The prospects every identity agrees on.
    let mut agreed: Option<Vec<&'a ContactId>> = None;
    for (_, prospects) in &found {
        agreed = Some(match agreed {
            None => prospects.to_vec(),
            Some(so_far) => so_far
                .into_iter()
                .filter(|p| prospects.contains(p))
                .collect(),
        });
    }
    match agreed.as_deref() {
        None => Candidate::None,
        Some([one]) => Candidate::One(one),
        Some(_) => {
            let mut prospect_ids: Vec<ContactId> = found
                .iter()
                .flat_map(|(_, prospects)| prospects.iter().map(|&p| p.clone()))
                .collect();
            prospect_ids.sort();
            prospect_ids.dedup();
            let detail = match found.as_slice() {
                [(what, prospects)] => format!(
                    "record {} ({what}) matches {} Inbox prospects",
                    record.id,
                    prospects.len()
                ),
                _ => format!(
                    "record {} points to different Inbox contacts: {}",
                    record.id,
                    found
                        .iter()
                        .map(|(what, prospects)| format!(
                            "its {what} to {}",
                            prospects
                                .iter()
                                .map(|p| p.as_str())
                                .collect::<Vec<_>>()
                                .join(" and ")
                        ))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            Candidate::Conflict(IdentityConflict {
                prospect_ids,
                crm_ids: vec![record.id.clone()],
                detail,
            })
        }
    }
}

/// The links of `links` that `stored` does not hold as they are (new, or another record or
/// state). Both come in prospect order (the store's and [`match_records`]'s), so one merge
/// finds them without a map of every link; out of order, a link the merge passes by is taken
/// as changed, so order costs at most a rewrite of a link, never a missed one.
pub fn changed_links<'a>(
    stored: &[LinkRow],
    links: &'a [LinkRow],
) -> impl Iterator<Item = &'a LinkRow> {
    debug_assert!(
        links.is_sorted_by_key(|l| l.prospect_id.as_str()),
        "the matched links are not in prospect order"
    );
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
            linkedin_id: None,
            linkedin_username: None,
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
        let ids = |stored: &[LinkRow], now: &[LinkRow]| -> Vec<ContactId> {
            changed_links(stored, now)
                .map(|l| l.prospect_id.clone())
                .collect()
        };
        assert_eq!(ids(&stored, &now), ["b", "c", "d"]);
        assert!(ids(&stored, &[]).is_empty());
        assert_eq!(ids(&[], &now).len(), 5);
        // Out of order (release builds; debug builds stop there, see the test below): never a
        // changed link missed, at most an unchanged one rewritten.
        if !cfg!(debug_assertions) {
            let mut shuffled = now.clone();
            shuffled.reverse();
            let found = ids(&stored, &shuffled);
            for changed in ["b", "c", "d"] {
                assert!(found.iter().any(|id| id == changed), "{found:?}");
            }
        }
    }

    #[test]
    #[cfg_attr(debug_assertions, should_panic(expected = "not in prospect order"))]
    fn links_out_of_order_are_caught_in_debug_builds() {
        let link = |p: &str| LinkRow {
            prospect_id: p.into(),
            crm_id: "r1".into(),
            state: LinkState::Active,
        };
        let now = [link("b"), link("a")];
        assert_eq!(changed_links(&[], &now).count(), 2);
    }

    /// A prospect id that lives as long as the test (a `ProspectKey` borrows its id).
    fn leaked(id: &str) -> &'static ContactId {
        Box::leak(Box::new(ContactId::from(id)))
    }

    fn prospects() -> Vec<ProspectKey<'static>> {
        vec![
            ProspectKey {
                id: leaked("p1"),
                platform_id: "11",
                username: "ana",
            },
            ProspectKey {
                id: leaked("p2"),
                platform_id: "22",
                username: "Ben",
            },
            ProspectKey {
                id: leaked("p3"),
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
        let m = match_records(&prospects(), &[], &records, &[]);
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
        let m = match_records(&prospects(), &[], &records, &[]);
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
        let m = match_records(&prospects(), &[], &records, &stored);
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

    fn linkedin(id: &str, li_id: Option<&str>, slug: Option<&str>) -> CrmRecord {
        CrmRecord {
            linkedin_id: li_id.map(Into::into),
            linkedin_username: slug.map(Into::into),
            ..record(id, None, None)
        }
    }

    /// p1 has an X and a LinkedIn profile, p4 only LinkedIn, p5 and p6 share a slug.
    fn profiles() -> Vec<ProfileRow> {
        let profile = |platform: &str, id: &str, contact: &str, username: &str| ProfileRow {
            platform: platform.into(),
            platform_id: id.into(),
            contact_id: contact.into(),
            username: username.into(),
        };
        vec![
            profile(X_PLATFORM, "11", "p1", "ana"),
            profile(LINKEDIN_PLATFORM, "ACoAAana", "p1", "ana-lima-1a2b"),
            profile(LINKEDIN_PLATFORM, "ACoAAdan", "p4", "dan-roe-9f9f"),
            profile(LINKEDIN_PLATFORM, "ACoAAeve1", "p5", "eve-same"),
            profile(LINKEDIN_PLATFORM, "ACoAAeve2", "p6", "eve-same"),
        ]
    }

    fn contacts() -> Vec<ProspectKey<'static>> {
        let mut keys = prospects();
        for id in ["p4", "p5", "p6"] {
            keys.push(ProspectKey {
                id: leaked(id),
                platform_id: "",
                username: "",
            });
        }
        keys
    }

    fn pairs(m: &Matching) -> Vec<(&str, &str)> {
        m.links
            .iter()
            .map(|l| (l.prospect_id.as_str(), l.crm_id.as_str()))
            .collect()
    }

    #[test]
    fn linkedin_ids_and_slugs_match_contacts_and_an_agreeing_x_id_is_no_conflict() {
        let records = vec![
            linkedin("r1", Some("ACoAAdan"), Some("someone-else")),
            // Its slug is shared by p5 and p6; its LinkedIn id singles out p5.
            linkedin("r2", Some("ACoAAeve1"), None),
            CrmRecord {
                x_user_id: Some("11".into()),
                ..linkedin("r3", None, Some("ANA-LIMA-1a2b"))
            },
        ];
        let m = match_records(&contacts(), &profiles(), &records, &[]);
        assert_eq!(pairs(&m), vec![("p1", "r3"), ("p4", "r1"), ("p5", "r2")]);
        assert!(m.identity.is_empty(), "{:?}", m.identity);
    }

    #[test]
    fn x_and_linkedin_identities_of_two_contacts_are_an_identity_conflict() {
        let records = vec![CrmRecord {
            x_user_id: Some("22".into()),
            ..linkedin("r1", Some("ACoAAdan"), None)
        }];
        let m = match_records(&contacts(), &profiles(), &records, &[]);
        assert!(m.links.is_empty());
        assert_eq!(m.identity.len(), 1);
        assert_eq!(m.identity[0].prospect_ids, vec!["p2", "p4"]);
        assert_eq!(m.identity[0].crm_ids, vec!["r1"]);
        assert!(
            m.identity[0].detail.contains("X user id 22")
                && m.identity[0].detail.contains("LinkedIn id ACoAAdan"),
            "{}",
            m.identity[0].detail
        );
        // Neither contact is unlinked (they need a human), nor is the record.
        assert!(!m.unlinked_prospects.contains(&"p2".into()));
        assert!(!m.unlinked_prospects.contains(&"p4".into()));
        assert!(m.unlinked_records.is_empty());
    }

    #[test]
    fn a_shared_slug_is_ambiguous_unless_another_identity_decides() {
        let m = match_records(
            &contacts(),
            &profiles(),
            &[linkedin("r1", None, Some("eve-same"))],
            &[],
        );
        assert!(m.links.is_empty());
        assert_eq!(m.identity[0].prospect_ids, vec!["p5", "p6"]);
        // An X id of a third contact and the shared slug: a conflict naming all three.
        let record = CrmRecord {
            x_user_id: Some("33".into()),
            ..linkedin("r2", None, Some("eve-same"))
        };
        let m = match_records(&contacts(), &profiles(), &[record], &[]);
        assert_eq!(m.identity[0].prospect_ids, vec!["p3", "p5", "p6"]);
        // An identity Inbox does not know counts for nothing: the slug alone decides.
        let record = CrmRecord {
            x_user_id: Some("999".into()),
            ..linkedin("r3", None, Some("dan-roe-9f9f"))
        };
        let m = match_records(&contacts(), &profiles(), &[record], &[]);
        assert_eq!(pairs(&m), vec![("p4", "r3")]);
    }
}
