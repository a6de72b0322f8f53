-- Migration 4: the run whose walk changed a row's synced values, so that a full walk learns
-- what changed from its own upserts instead of loading the whole mirror to compare with.
-- Tag ids are stored sorted from now on, so that an equal set is equal text; sort the stored
-- ones once.

ALTER TABLE prospects ADD COLUMN changed_run INTEGER;
ALTER TABLE threads ADD COLUMN changed_run INTEGER;

UPDATE prospects SET tag_ids = (
    SELECT json_group_array(value) FROM (SELECT value FROM json_each(prospects.tag_ids) ORDER BY value)
) WHERE json_array_length(tag_ids) > 1;
