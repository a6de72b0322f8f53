//! The Inbox side of the mirror as a run reads it: the team's reference data (account links,
//! members, tags, statuses), prospects with their threads, the prospects' X identity for
//! matching, the counts `status` shows, and the cache of X user id look-ups. Writing pulled
//! rows is `walk`'s.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use crate::reconcile::{Amount, ContactId, ThreadId};

use super::{Error, MAX_IDS_PER_QUERY, Result, Store};

/// An Inbox account link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountLinkRow {
    /// Id.
    pub id: String,
    /// Username on its platform (without a prefix such as `@`).
    pub username: String,
    /// Display name.
    pub name: Option<String>,
    /// active | offline | paused.
    pub status: String,
    /// Its platform as the API names it: `twitter` (always, on v1), `linkedin`, ...
    pub platform: String,
}

/// Reference data of the team, replaced as a whole on each pull.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reference {
    /// Connected platform accounts.
    pub account_links: Vec<AccountLinkRow>,
    /// (id, e-mail, name).
    pub members: Vec<(String, String, Option<String>)>,
    /// (id, name).
    pub tags: Vec<(String, String)>,
    /// (id, name).
    pub statuses: Vec<(String, String)>,
}

/// A prospect in the mirror (raw Inbox ids).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProspectRow {
    /// `externalId` (v1), contact id (v2).
    pub id: ContactId,
    /// X user id.
    pub platform_id: String,
    /// X username.
    pub username: String,
    /// Display name.
    pub display_name: Option<String>,
    /// Tag ids.
    pub tag_ids: Vec<String>,
    /// Status id.
    pub status_id: Option<String>,
    /// Valuation.
    pub valuation: Option<Amount>,
    /// Notes.
    pub notes: Option<String>,
    /// `lastUpdatedAt` as sent.
    pub last_updated_at: Option<String>,
    /// API v2: the contact's default assignee (member id), which its threads without an own
    /// assignee show; none on v1.
    pub default_assignee_id: Option<String>,
}

/// A thread in the mirror.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThreadRow {
    /// Thread id.
    pub id: ThreadId,
    /// Prospect `externalId` (v1), contact id (v2).
    pub prospect_id: ContactId,
    /// Owning account link.
    pub account_link_id: String,
    /// Assignee member id.
    pub assignee_id: Option<String>,
    /// Done.
    pub done: bool,
    /// A message request.
    pub is_request: bool,
    /// Sort timestamp as sent.
    pub sort_ts: Option<String>,
}

/// The identity of an Inbox prospect, as far as matching needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProspectKey<'a> {
    /// Inbox id (`externalId`, or the contact id on v2).
    pub id: &'a ContactId,
    /// X user id.
    pub platform_id: &'a str,
    /// X username.
    pub username: &'a str,
}

/// The identity of every present prospect, in id order.
#[derive(Debug, Default)]
pub struct ProspectKeys {
    /// (id, X user id, username) of each prospect.
    keys: Vec<(ContactId, String, String)>,
}

impl ProspectKeys {
    /// How many prospects.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The prospects, in id order.
    pub fn iter(&self) -> impl Iterator<Item = ProspectKey<'_>> + '_ {
        self.keys
            .iter()
            .map(|(id, platform_id, username)| ProspectKey {
                id,
                platform_id,
                username,
            })
    }
}

/// A prospect with its threads, as loaded for a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MirrorProspect {
    /// The prospect.
    pub prospect: ProspectRow,
    /// Its present threads.
    pub threads: Vec<ThreadRow>,
}

/// Counts for `crmsync status`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MirrorCounts {
    /// Present prospects.
    pub prospects: u64,
    /// Present threads.
    pub threads: u64,
    /// Active links.
    pub links: u64,
    /// Open conflicts.
    pub open_conflicts: u64,
}

impl Store {
    /// Replaces the team's reference data.
    pub fn replace_reference(&mut self, reference: &Reference) -> Result<()> {
        let tx = self.conn.savepoint()?;
        tx.execute_batch(
            "DELETE FROM account_links; DELETE FROM members; DELETE FROM tags; DELETE FROM statuses;",
        )?;
        {
            let mut stmt = tx.prepare(
                "INSERT INTO account_links (id, username, name, status, platform)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for link in &reference.account_links {
                stmt.execute(params![
                    link.id,
                    link.username,
                    link.name,
                    link.status,
                    link.platform
                ])?;
            }
            let mut stmt =
                tx.prepare("INSERT INTO members (id, email, name) VALUES (?1, ?2, ?3)")?;
            for (id, email, name) in &reference.members {
                stmt.execute(params![id, email, name])?;
            }
            let mut stmt = tx.prepare("INSERT INTO tags (id, name) VALUES (?1, ?2)")?;
            for (id, name) in &reference.tags {
                stmt.execute(params![id, name])?;
            }
            let mut stmt = tx.prepare("INSERT INTO statuses (id, name) VALUES (?1, ?2)")?;
            for (id, name) in &reference.statuses {
                stmt.execute(params![id, name])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Loads the reference data.
    pub fn reference(&self) -> Result<Reference> {
        let mut reference = Reference::default();
        let mut stmt = self.conn.prepare(
            "SELECT id, username, name, status, platform FROM account_links ORDER BY username",
        )?;
        reference.account_links = stmt
            .query_map([], |r| {
                Ok(AccountLinkRow {
                    id: r.get(0)?,
                    username: r.get(1)?,
                    name: r.get(2)?,
                    status: r.get(3)?,
                    platform: r.get(4)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        let mut stmt = self
            .conn
            .prepare("SELECT id, email, name FROM members ORDER BY email")?;
        reference.members = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let mut stmt = self
            .conn
            .prepare("SELECT id, name FROM tags ORDER BY name")?;
        reference.tags = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let mut stmt = self
            .conn
            .prepare("SELECT id, name FROM statuses ORDER BY name")?;
        reference.statuses = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(reference)
    }

    /// Adds one tag to the reference data (after creating it in Inbox).
    pub fn add_tag(&self, id: &str, name: &str) -> Result<()> {
        self.conn.execute(
            "INSERT OR REPLACE INTO tags (id, name) VALUES (?1, ?2)",
            params![id, name],
        )?;
        Ok(())
    }

    /// Every present prospect with its present threads, sorted by id.
    pub fn load_mirror(&self) -> Result<Vec<MirrorProspect>> {
        let mut out = self.load_mirror_where("", &[])?;
        out.shrink_to_fit();
        Ok(out)
    }

    /// The present prospects among `ids`, with their present threads, sorted by id. A run
    /// loads the mirror this way, a chunk of links at a time, instead of all of it at once.
    pub fn load_mirror_for(&self, ids: &[&ContactId]) -> Result<Vec<MirrorProspect>> {
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(MAX_IDS_PER_QUERY) {
            let placeholders = vec!["?"; chunk.len()].join(",");
            out.extend(self.load_mirror_where(&format!("AND {{id}} IN ({placeholders})"), chunk)?);
        }
        Ok(out)
    }

    /// The X identity of every present prospect (id, X user id, username), sorted by id: what
    /// matching needs, without the rest of the mirror.
    pub fn load_prospect_keys(&self) -> Result<ProspectKeys> {
        let mut stmt = self.conn.prepare(
            "SELECT id, platform_id, username FROM prospects WHERE present = 1 ORDER BY id",
        )?;
        let keys = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(ProspectKeys { keys })
    }

    /// Present prospects (and their present threads) passing `filter`, a condition on the
    /// prospect id written with `{id}` for the column, sorted by id.
    fn load_mirror_where(
        &self,
        filter: &str,
        params: &[&ContactId],
    ) -> Result<Vec<MirrorProspect>> {
        let mut out = Vec::new();
        // Threads in prospect order, walked beside the prospects (a merge join): no map keyed
        // by prospect id, and each prospect's vector sized exactly.
        let mut thread_stmt = self.conn.prepare(&format!(
            "SELECT id, prospect_id, account_link_id, assignee_id, done, is_request, sort_ts
             FROM threads WHERE present = 1 {} ORDER BY prospect_id, id",
            filter.replace("{id}", "prospect_id")
        ))?;
        let mut threads = thread_stmt
            .query_map(rusqlite::params_from_iter(params), |r| {
                Ok(ThreadRow {
                    id: r.get(0)?,
                    prospect_id: r.get(1)?,
                    account_link_id: r.get(2)?,
                    assignee_id: r.get(3)?,
                    done: r.get(4)?,
                    is_request: r.get(5)?,
                    sort_ts: r.get(6)?,
                })
            })?
            .peekable();
        let mut stmt = self.conn.prepare(&format!(
            "SELECT id, platform_id, username, display_name, tag_ids, status_id, valuation, notes,
                    last_updated_at, default_assignee_id
             FROM prospects WHERE present = 1 {} ORDER BY id",
            filter.replace("{id}", "id")
        ))?;
        let rows = stmt.query_map(rusqlite::params_from_iter(params), |r| {
            Ok((
                r.get::<_, ContactId>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, Option<String>>(5)?,
                r.get::<_, Option<String>>(6)?,
                r.get::<_, Option<String>>(7)?,
                r.get::<_, Option<String>>(8)?,
                r.get::<_, Option<String>>(9)?,
            ))
        })?;
        for row in rows {
            let (
                id,
                platform_id,
                username,
                display_name,
                tag_ids,
                status_id,
                valuation,
                notes,
                last,
                default_assignee_id,
            ) = row?;
            let tag_ids: Vec<String> =
                serde_json::from_str(&tag_ids).map_err(|e| Error::Corrupt {
                    table: "prospects",
                    detail: format!("tag_ids of {id}: {e}"),
                })?;
            let valuation = valuation
                .map(|v| v.parse::<Amount>())
                .transpose()
                .map_err(|e| Error::Corrupt {
                    table: "prospects",
                    detail: format!("valuation of {id}: {e}"),
                })?;
            let mut own = Vec::new();
            while let Some(next) = threads.peek() {
                let order = match next {
                    Ok(thread) => thread.prospect_id.as_str().cmp(id.as_str()),
                    Err(_) => std::cmp::Ordering::Equal,
                };
                match order {
                    // A thread whose prospect is absent: not part of the mirror.
                    std::cmp::Ordering::Less => {
                        threads.next().transpose()?;
                    }
                    std::cmp::Ordering::Equal => own.push(threads.next().expect("peeked")?),
                    std::cmp::Ordering::Greater => break,
                }
            }
            own.shrink_to_fit();
            out.push(MirrorProspect {
                prospect: ProspectRow {
                    id,
                    platform_id,
                    username,
                    display_name,
                    tag_ids,
                    status_id,
                    valuation,
                    notes,
                    last_updated_at: last,
                    default_assignee_id,
                },
                threads: own,
            });
        }
        Ok(out)
    }

    /// Mirror counts for `status`.
    pub fn counts(&self) -> Result<MirrorCounts> {
        let count = |sql: &str| -> Result<u64> {
            Ok(self.conn.query_row(sql, [], |r| r.get::<_, i64>(0))? as u64)
        };
        Ok(MirrorCounts {
            prospects: count("SELECT COUNT(*) FROM prospects WHERE present = 1")?,
            threads: count("SELECT COUNT(*) FROM threads WHERE present = 1")?,
            links: count("SELECT COUNT(*) FROM links WHERE state = 'active'")?,
            open_conflicts: count(
                "SELECT COUNT(*) FROM conflicts WHERE resolution = 'open' AND kind <> 'pending-import'",
            )?,
        })
    }

    /// Open conflicts in the log (not the values waiting for import it also lists).
    pub fn open_conflict_count(&self) -> Result<u64> {
        Ok(self.conn.query_row(
            "SELECT COUNT(*) FROM conflicts WHERE resolution = 'open' AND kind <> 'pending-import'",
            [],
            |r| r.get::<_, i64>(0),
        )? as u64)
    }

    /// A stored lookup of an X user id: `Some(Some(id))` found, `Some(None)` a miss checked at or
    /// after `fresh_after`, `None` never looked up (or the miss is older than `fresh_after`).
    pub fn lookup(
        &self,
        platform_id: &str,
        fresh_after: &str,
    ) -> Result<Option<Option<ContactId>>> {
        let row: Option<(Option<ContactId>, String)> = self
            .conn
            .query_row(
                "SELECT prospect_id, checked_at FROM lookups WHERE platform_id = ?1",
                [platform_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        Ok(match row {
            Some((Some(id), _)) => Some(Some(id)),
            Some((None, checked_at)) if checked_at.as_str() >= fresh_after => Some(None),
            _ => None,
        })
    }

    /// Remembers the result of a lookup.
    pub fn save_lookup(
        &self,
        platform_id: &str,
        prospect_id: Option<&ContactId>,
        now: &str,
    ) -> Result<()> {
        self.conn.execute(
            "INSERT INTO lookups (platform_id, prospect_id, checked_at) VALUES (?1, ?2, ?3)
             ON CONFLICT(platform_id) DO UPDATE SET prospect_id = excluded.prospect_id,
                                                    checked_at = excluded.checked_at",
            params![platform_id, prospect_id, now],
        )?;
        Ok(())
    }
}
