//! What the mirror keeps only for Inbox API v2: the profiles of each contact, and the one-time
//! re-keying of a v1 mirror's links to contacts.

use foldhash::HashMap;
use foldhash::HashMapExt as _;

use rusqlite::params;

use super::{Result, Store};
use crate::digest::Digest;
use crate::reconcile::ContactId;

/// Column `i` of `row` as text, without copying it.
fn text<'r>(row: &'r rusqlite::Row<'_>, i: usize) -> rusqlite::Result<&'r str> {
    row.get_ref(i)?.as_str().map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
    })
}

/// The digest of a profile's key, `(platform, platform id)`.
fn key_digest(platform: &str, platform_id: &str) -> u64 {
    let mut d = Digest::new();
    d.str(platform);
    d.str(platform_id);
    d.finish()
}

/// The digest of what a profile row holds besides its key.
fn value_digest(contact_id: &str, username: &str) -> u64 {
    let mut d = Digest::new();
    d.str(contact_id);
    d.str(username);
    d.finish()
}

/// A v2 profile: one person's account on one platform, and the contact it belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProfileRow {
    /// `twitter`, `linkedin`, ...
    pub platform: String,
    /// The platform's id of the account.
    pub platform_id: String,
    /// The contact.
    pub contact_id: ContactId,
    /// Username without its display prefix.
    pub username: String,
}

impl Store {
    /// Replaces every stored v2 profile with `profiles` (a full walk saw them all).
    ///
    /// Only what changed is written: a walk that brings nothing new writes nothing here. The
    /// stored rows are compared by digest (`digest.rs`), as the walk compares its rows, so that
    /// comparing 140k profiles does not build 140k pairs of strings.
    pub fn replace_profiles(&mut self, profiles: &[ProfileRow]) -> Result<()> {
        let tx = self.conn.savepoint()?;
        {
            // Key digest → value digest of every stored profile.
            let mut stored: HashMap<u64, u64> = HashMap::new();
            let mut select =
                tx.prepare("SELECT platform, platform_id, contact_id, username FROM profiles")?;
            let mut rows = select.query([])?;
            while let Some(r) = rows.next()? {
                let key = key_digest(text(r, 0)?, text(r, 1)?);
                let value = value_digest(text(r, 2)?, text(r, 3)?);
                stored.insert(key, value);
            }
            drop(rows);
            let mut insert = tx.prepare_cached(
                "INSERT OR REPLACE INTO profiles (platform, platform_id, contact_id, username)
                 VALUES (?1, ?2, ?3, ?4)",
            )?;
            for p in profiles {
                let key = key_digest(&p.platform, &p.platform_id);
                if stored.remove(&key) != Some(value_digest(p.contact_id.as_str(), &p.username)) {
                    insert.execute(params![p.platform, p.platform_id, p.contact_id, p.username])?;
                }
            }
            // What is left was not walked: its rows go.
            if !stored.is_empty() {
                let mut gone: Vec<(String, String)> = Vec::new();
                let mut rows = select.query([])?;
                while let Some(r) = rows.next()? {
                    let (platform, platform_id) = (text(r, 0)?, text(r, 1)?);
                    if stored.contains_key(&key_digest(platform, platform_id)) {
                        gone.push((platform.to_owned(), platform_id.to_owned()));
                    }
                }
                drop(rows);
                let mut delete = tx.prepare_cached(
                    "DELETE FROM profiles WHERE platform = ?1 AND platform_id = ?2",
                )?;
                for (platform, platform_id) in gone {
                    delete.execute(params![platform, platform_id])?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Replaces the stored profiles of `contact_ids` with `profiles` (the contacts were read
    /// again; a profile that moved to one of them moves).
    pub fn replace_contact_profiles(
        &mut self,
        contact_ids: &[ContactId],
        profiles: &[ProfileRow],
    ) -> Result<()> {
        let tx = self.conn.savepoint()?;
        {
            let mut delete = tx.prepare_cached("DELETE FROM profiles WHERE contact_id = ?1")?;
            for id in contact_ids {
                delete.execute([id])?;
            }
            let mut insert = tx.prepare_cached(
                "INSERT OR REPLACE INTO profiles (platform, platform_id, contact_id, username)
                 VALUES (?1, ?2, ?3, ?4)",
            )?;
            for p in profiles {
                insert.execute(params![p.platform, p.platform_id, p.contact_id, p.username])?;
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

    /// After the first pull of a v1 mirror from API v2: the links, the base, the conflict log
    /// and the change log move from each v1 prospect to the contact with a profile on X of its
    /// X user id (any of the contact's X profiles), and the v1 rows (which the v2 walk marked
    /// absent) go. One contact takes one prospect (a linked one first, then the smallest id):
    /// the others stay as they were, their links missing, so matching sees the contact taken.
    /// A contact already linked takes none. The v1 look-up cache is dropped. Returns how many
    /// prospects were re-keyed.
    pub fn rekey_v1_prospects_to_contacts(&mut self) -> Result<u64> {
        let tx = self.conn.savepoint()?;
        tx.execute_batch(
            "CREATE TEMP TABLE IF NOT EXISTS rekey (old TEXT PRIMARY KEY, new TEXT NOT NULL);
             DELETE FROM rekey;
             INSERT INTO rekey (old, new)
                 SELECT o.id, MIN(pr.contact_id) FROM prospects o
                 JOIN profiles pr ON pr.platform = 'twitter' AND pr.platform_id = o.platform_id
                 JOIN prospects n ON n.id = pr.contact_id AND n.present = 1
                 WHERE o.present = 0 AND o.platform_id <> ''
                   AND o.id NOT IN (SELECT contact_id FROM profiles)
                 GROUP BY o.id;
             DELETE FROM rekey WHERE new IN (SELECT prospect_id FROM links);
             DELETE FROM rekey WHERE old <> (
                 SELECT r.old FROM rekey r WHERE r.new = rekey.new
                 ORDER BY r.old IN (SELECT prospect_id FROM links) DESC, r.old LIMIT 1);",
        )?;
        let moved: i64 = tx.query_row("SELECT COUNT(*) FROM rekey", [], |r| r.get(0))?;
        tx.execute_batch(
            "UPDATE links SET prospect_id = (SELECT new FROM rekey WHERE old = links.prospect_id),
                              clean_crm = NULL
                 WHERE prospect_id IN (SELECT old FROM rekey);
             UPDATE base SET prospect_id = (SELECT new FROM rekey WHERE old = base.prospect_id)
                 WHERE prospect_id IN (SELECT old FROM rekey);
             UPDATE conflicts
                 SET prospect_id = (SELECT new FROM rekey WHERE old = conflicts.prospect_id)
                 WHERE prospect_id IN (SELECT old FROM rekey);
             UPDATE changes SET target = (SELECT new FROM rekey WHERE old = changes.target)
                 WHERE side = 'inbox' AND target IN (SELECT old FROM rekey);
             UPDATE changes
                 SET prospect_id = (SELECT new FROM rekey WHERE old = changes.prospect_id)
                 WHERE prospect_id IN (SELECT old FROM rekey);
             DELETE FROM threads WHERE prospect_id IN (SELECT old FROM rekey);
             DELETE FROM prospects WHERE id IN (SELECT old FROM rekey);
             DELETE FROM lookups;
             DELETE FROM rekey;",
        )?;
        tx.commit()?;
        Ok(moved.unsigned_abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{ProspectRow, RunMode};

    fn prospect(id: &str, x_id: &str) -> ProspectRow {
        ProspectRow {
            id: id.into(),
            platform_id: x_id.into(),
            username: id.into(),
            display_name: None,
            tag_ids: vec![],
            status_id: None,
            valuation: None,
            notes: None,
            last_updated_at: None,
            default_assignee_id: None,
        }
    }

    fn x(x_id: &str, contact: &str) -> ProfileRow {
        ProfileRow {
            platform: "twitter".into(),
            platform_id: x_id.into(),
            contact_id: contact.into(),
            username: format!("u{x_id}"),
        }
    }

    fn keyed(store: &Store, table: &str) -> Vec<String> {
        let sql = format!("SELECT prospect_id FROM {table} ORDER BY prospect_id");
        let mut stmt = store.conn.prepare(&sql).unwrap();
        let rows = stmt.query_map([], |r| r.get(0)).unwrap();
        rows.collect::<rusqlite::Result<_>>().unwrap()
    }

    #[test]
    fn v1_prospects_move_to_the_contact_of_any_of_its_x_profiles_one_each() {
        let mut store = Store::open_in_memory().unwrap();
        let run = store
            .begin_run(RunMode::Sync, "2026-01-01T00:00:00Z")
            .unwrap();
        // v1: p1, p2 (one person's two X accounts), p3 (the second X profile of c2), p4 (gone).
        let v1 = [("p1", "111"), ("p2", "222"), ("p3", "333"), ("p4", "444")];
        let rows: Vec<ProspectRow> = v1.iter().map(|(id, x)| prospect(id, x)).collect();
        store.upsert_page(run, &rows, &[]).unwrap();
        for (id, crm) in [("p1", "r1"), ("p2", "r2"), ("p3", "r3"), ("p4", "r4")] {
            store
                .conn
                .execute(
                    "INSERT INTO links (prospect_id, crm_id, state, created_run)
                     VALUES (?1, ?2, 'active', ?3)",
                    params![id, crm, run.0],
                )
                .unwrap();
            store
                .conn
                .execute(
                    "INSERT INTO base (prospect_id, field, value, run_id)
                     VALUES (?1, 'notes', '\"n\"', ?2)",
                    params![id, run.0],
                )
                .unwrap();
        }
        store
            .conn
            .execute(
                "INSERT INTO lookups (platform_id, prospect_id, checked_at) VALUES ('9', NULL, 'x')",
                [],
            )
            .unwrap();
        // The v2 walk: the v1 rows absent, c1 and c2 present.
        store
            .conn
            .execute("UPDATE prospects SET present = 0", [])
            .unwrap();
        let run2 = store
            .begin_run(RunMode::Sync, "2026-01-02T00:00:00Z")
            .unwrap();
        let contacts = [prospect("c1", "111"), prospect("c2", "555")];
        store.upsert_page(run2, &contacts, &[]).unwrap();
        store
            .replace_profiles(&[
                x("111", "c1"),
                x("222", "c1"),
                x("555", "c2"),
                x("333", "c2"),
            ])
            .unwrap();

        assert_eq!(store.rekey_v1_prospects_to_contacts().unwrap(), 2);
        assert_eq!(keyed(&store, "links"), ["c1", "c2", "p2", "p4"]);
        assert_eq!(keyed(&store, "base"), ["c1", "c2", "p2", "p4"]);
        let lookups: i64 = (store.conn)
            .query_row("SELECT COUNT(*) FROM lookups", [], |r| r.get(0))
            .unwrap();
        assert_eq!(lookups, 0);
        // Done once: a second call moves nothing.
        assert_eq!(store.rekey_v1_prospects_to_contacts().unwrap(), 0);
    }

    #[test]
    fn replacing_the_profiles_keeps_exactly_the_walk_s_set() {
        let mut store = Store::open_in_memory().unwrap();
        let all = |store: &Store| {
            let mut stmt = (store.conn)
                .prepare("SELECT platform_id, contact_id, username FROM profiles ORDER BY 1")
                .unwrap();
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)));
            rows.unwrap()
                .map(|r| r.unwrap())
                .collect::<Vec<(String, String, String)>>()
        };
        let row = |id: &str, contact: &str, username: &str| ProfileRow {
            platform: "twitter".into(),
            platform_id: id.into(),
            contact_id: contact.into(),
            username: username.into(),
        };
        let first = [
            row("1", "c1", "a"),
            row("2", "c1", "b"),
            row("3", "c2", "c"),
        ];
        store.replace_profiles(&first).unwrap();
        store.replace_profiles(&first).unwrap();
        assert_eq!(all(&store).len(), 3);
        // 1 unchanged, 2 moved to another contact, 3 renamed, 4 new; none of 5 is stored.
        let second = [
            row("1", "c1", "a"),
            row("2", "c3", "b"),
            row("3", "c2", "cc"),
            row("4", "c4", "d"),
        ];
        store.replace_profiles(&second).unwrap();
        let expected: Vec<(String, String, String)> = second
            .iter()
            .map(|p| {
                (
                    p.platform_id.clone(),
                    p.contact_id.to_string(),
                    p.username.clone(),
                )
            })
            .collect();
        assert_eq!(all(&store), expected);
        store.replace_profiles(&second[..1]).unwrap();
        assert_eq!(all(&store), expected[..1]);
    }
}
