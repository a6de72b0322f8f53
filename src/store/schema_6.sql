-- Migration 6: the base each change was made against, so that `undo` can put the base back
-- where it was before the run instead of moving it to a value only one side holds.
--
-- `base_known` is 1 for changes logged from now on: `base_before` is then the JSON of the
-- base value at the time of the write, or NULL when the link had no base for the field.
-- Older rows have `base_known = 0` (not recorded).

ALTER TABLE changes ADD COLUMN base_before TEXT;
ALTER TABLE changes ADD COLUMN base_known INTEGER NOT NULL DEFAULT 0;
