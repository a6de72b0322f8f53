-- Migration 5: the tables a run reads whole are stored in the order it reads them.
--
-- A run scans prospects by id, their threads by prospect, and the base by prospect. As rowid
-- tables each of those reads went through an index and then to the table row by row, in
-- random order: at 100k prospects that was most of a run's local time. WITHOUT ROWID tables
-- keep the rows in key order (threads under (prospect_id, id)), so the scans read pages in
-- sequence, and the separate primary-key indexes go away.
--
-- Links whose inputs did not change since a run found them clean are not reconciled again:
-- `links.clean_crm` holds the digest of the CRM record a sync found the link clean with (no
-- write, no conflict, nothing new for the base), and `prospects.inbox_dirty` is set by the
-- triggers below whenever anything of the prospect or its threads changes afterwards, by any
-- statement. Both are a cache: clearing them only costs time.
--
-- Run summaries no longer keep the run's conflict list (the conflicts table holds it; a
-- summary carried every open conflict again, megabytes a night).
--
-- Foreign keys are off while migrations run (see `migrate`): tables are rebuilt and renamed.

CREATE TABLE prospects_new (
    id              TEXT NOT NULL PRIMARY KEY, -- externalId
    platform_id     TEXT NOT NULL,             -- X user id
    username        TEXT NOT NULL,
    display_name    TEXT,
    tag_ids         TEXT NOT NULL,             -- JSON array, sorted
    status_id       TEXT,
    valuation       TEXT,                      -- decimal text
    notes           TEXT,
    last_updated_at TEXT,
    present         INTEGER NOT NULL DEFAULT 1, -- 0: no thread seen in the last full walk
    seen_run        INTEGER NOT NULL,
    changed_run     INTEGER,                   -- the walk that changed a synced value
    inbox_dirty     INTEGER NOT NULL DEFAULT 1, -- changed since a sync found its link clean
    row_digest      INTEGER                    -- digest of the values written (store::walk)
) WITHOUT ROWID;
INSERT INTO prospects_new
    SELECT id, platform_id, username, display_name, tag_ids, status_id, valuation, notes,
           last_updated_at, present, seen_run, changed_run, 1, NULL
    FROM prospects;
DROP TABLE prospects;
ALTER TABLE prospects_new RENAME TO prospects;
CREATE INDEX prospects_platform_id ON prospects(platform_id);

CREATE TABLE threads_new (
    id              TEXT NOT NULL UNIQUE,
    prospect_id     TEXT NOT NULL REFERENCES prospects(id),
    account_link_id TEXT NOT NULL,
    assignee_id     TEXT,
    done            INTEGER NOT NULL,
    is_request      INTEGER NOT NULL,
    sort_ts         TEXT,
    present         INTEGER NOT NULL DEFAULT 1,
    seen_run        INTEGER NOT NULL,
    changed_run     INTEGER,
    row_digest      INTEGER,
    PRIMARY KEY (prospect_id, id)
) WITHOUT ROWID;
INSERT INTO threads_new
    SELECT id, prospect_id, account_link_id, assignee_id, done, is_request, sort_ts, present,
           seen_run, changed_run, NULL
    FROM threads;
DROP TABLE threads;
ALTER TABLE threads_new RENAME TO threads;

CREATE TABLE base_new (
    prospect_id TEXT NOT NULL,
    field       TEXT NOT NULL,
    value       TEXT NOT NULL,                 -- JSON of reconcile::Value
    run_id      INTEGER NOT NULL,
    PRIMARY KEY (prospect_id, field)
) WITHOUT ROWID;
INSERT INTO base_new SELECT prospect_id, field, value, run_id FROM base;
DROP TABLE base;
ALTER TABLE base_new RENAME TO base;

ALTER TABLE links ADD COLUMN clean_crm INTEGER;

CREATE TRIGGER prospects_dirty AFTER UPDATE ON prospects
WHEN NEW.inbox_dirty = 0 AND OLD.inbox_dirty = 0 AND (
       OLD.platform_id IS NOT NEW.platform_id OR OLD.username IS NOT NEW.username
    OR OLD.display_name IS NOT NEW.display_name OR OLD.tag_ids IS NOT NEW.tag_ids
    OR OLD.status_id IS NOT NEW.status_id OR OLD.valuation IS NOT NEW.valuation
    OR OLD.notes IS NOT NEW.notes OR OLD.last_updated_at IS NOT NEW.last_updated_at
    OR OLD.present IS NOT NEW.present)
BEGIN
    UPDATE prospects SET inbox_dirty = 1 WHERE id = NEW.id;
END;
CREATE TRIGGER threads_dirty_insert AFTER INSERT ON threads
BEGIN
    UPDATE prospects SET inbox_dirty = 1 WHERE id = NEW.prospect_id AND inbox_dirty = 0;
END;
CREATE TRIGGER threads_dirty_update AFTER UPDATE ON threads
WHEN OLD.prospect_id IS NOT NEW.prospect_id OR OLD.account_link_id IS NOT NEW.account_link_id
    OR OLD.assignee_id IS NOT NEW.assignee_id OR OLD.done IS NOT NEW.done
    OR OLD.is_request IS NOT NEW.is_request OR OLD.sort_ts IS NOT NEW.sort_ts
    OR OLD.present IS NOT NEW.present
BEGIN
    UPDATE prospects SET inbox_dirty = 1
    WHERE id IN (OLD.prospect_id, NEW.prospect_id) AND inbox_dirty = 0;
END;
CREATE TRIGGER threads_dirty_delete AFTER DELETE ON threads
BEGIN
    UPDATE prospects SET inbox_dirty = 1 WHERE id = OLD.prospect_id AND inbox_dirty = 0;
END;

UPDATE runs SET summary = json_remove(summary, '$.conflict_list')
WHERE summary IS NOT NULL AND json_valid(summary);
