-- Migration 12: the contact's default assignee (API v2).
--
-- A v2 contact's `assigneeId` is the default of its threads that have none of their own. The
-- mirror keeps it so that a push writing a new default records the one it replaces (undo
-- restores that one), without reading the contact first. Rows pulled before have none: the
-- last walk is forgotten, so that the next v2 pull walks and fills it in.
ALTER TABLE prospects ADD COLUMN default_assignee_id TEXT;
DELETE FROM meta WHERE key = 'pull.last_full_at';
