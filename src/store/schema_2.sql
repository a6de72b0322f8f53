-- Migration 2: machine-readable change values (for undo) and conflict resolutions.

ALTER TABLE changes ADD COLUMN prospect_id TEXT;
ALTER TABLE changes ADD COLUMN crm_id TEXT;
ALTER TABLE changes ADD COLUMN old_value TEXT;        -- JSON of reconcile::Value
ALTER TABLE changes ADD COLUMN new_value TEXT;        -- JSON of reconcile::Value

ALTER TABLE conflicts ADD COLUMN resolution_value TEXT; -- with resolution = 'resolved-value'
ALTER TABLE conflicts ADD COLUMN applied_run INTEGER;   -- the sync that applied the resolution

-- Conflicts are looked up by their key whatever their resolution.
CREATE INDEX conflicts_key ON conflicts(prospect_id, crm_id, field, kind);
