//! What the mirror keeps only for Inbox API v2: the profiles of each contact, and the one-time
//! re-keying of a v1 mirror's links to contacts.

use rusqlite::params;

use super::{Result, Store};

/// A v2 profile: one person's account on one platform, and the contact it belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProfileRow {
    /// `twitter`, `linkedin`, ...
    pub platform: String,
    /// The platform's id of the account.
    pub platform_id: String,
    /// The contact.
    pub contact_id: String,
    /// Username without its display prefix.
    pub username: String,
}

impl Store {
    /// Replaces every stored v2 profile with `profiles` (a full walk saw them all).
    pub fn replace_profiles(&mut self, profiles: &[ProfileRow]) -> Result<()> {
        let tx = self.conn.savepoint()?;
        tx.execute("DELETE FROM profiles", [])?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT OR REPLACE INTO profiles (platform, platform_id, contact_id, username)
                 VALUES (?1, ?2, ?3, ?4)",
            )?;
            for p in profiles {
                stmt.execute(params![p.platform, p.platform_id, p.contact_id, p.username])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Every stored v2 profile of a present contact, in contact order (none on v1): what
    /// matching reads besides the contacts' X identity.
    pub fn load_profiles(&self) -> Result<Vec<ProfileRow>> {
        let mut stmt = self.conn.prepare(
            "SELECT p.platform, p.platform_id, p.contact_id, p.username FROM profiles p
             JOIN prospects c ON c.id = p.contact_id AND c.present = 1
             ORDER BY p.contact_id, p.platform, p.platform_id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(ProfileRow {
                platform: r.get(0)?,
                platform_id: r.get(1)?,
                contact_id: r.get(2)?,
                username: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The number of stored v2 profiles.
    pub fn profile_count(&self) -> Result<u64> {
        Ok(self
            .conn
            .query_row("SELECT COUNT(*) FROM profiles", [], |r| r.get::<_, i64>(0))?
            .unsigned_abs())
    }

    /// After the first pull of a v1 mirror from API v2: the links, the base and the conflict log
    /// move from each v1 prospect to the contact that holds its X user id, and the v1 rows
    /// (which the v2 walk marked absent) go. Returns how many prospects were re-keyed.
    pub fn rekey_v1_prospects_to_contacts(&mut self) -> Result<u64> {
        let tx = self.conn.savepoint()?;
        tx.execute_batch(
            "CREATE TEMP TABLE IF NOT EXISTS rekey (old TEXT PRIMARY KEY, new TEXT NOT NULL);
             DELETE FROM rekey;
             INSERT INTO rekey (old, new)
                 SELECT o.id, MIN(n.id) FROM prospects o
                 JOIN prospects n ON n.platform_id = o.platform_id AND n.id <> o.id
                 WHERE o.present = 0 AND n.present = 1 AND o.platform_id <> ''
                   AND o.id NOT IN (SELECT contact_id FROM profiles)
                   AND n.id IN (SELECT contact_id FROM profiles)
                 GROUP BY o.id;",
        )?;
        let moved: i64 = tx.query_row("SELECT COUNT(*) FROM rekey", [], |r| r.get(0))?;
        tx.execute_batch(
            "UPDATE links SET prospect_id = (SELECT new FROM rekey WHERE old = links.prospect_id),
                              clean_crm = NULL
                 WHERE prospect_id IN (SELECT old FROM rekey)
                   AND (SELECT new FROM rekey WHERE old = links.prospect_id)
                       NOT IN (SELECT prospect_id FROM links);
             UPDATE OR IGNORE base
                 SET prospect_id = (SELECT new FROM rekey WHERE old = base.prospect_id)
                 WHERE prospect_id IN (SELECT old FROM rekey);
             UPDATE conflicts
                 SET prospect_id = (SELECT new FROM rekey WHERE old = conflicts.prospect_id)
                 WHERE prospect_id IN (SELECT old FROM rekey);
             DELETE FROM base WHERE prospect_id IN (SELECT old FROM rekey);
             DELETE FROM threads WHERE prospect_id IN (SELECT old FROM rekey);
             DELETE FROM prospects WHERE id IN (SELECT old FROM rekey);
             DELETE FROM rekey;",
        )?;
        tx.commit()?;
        Ok(moved.unsigned_abs())
    }
}
