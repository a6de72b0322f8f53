-- Migration 9: the values a human resolved a conflict against. The conflict's `inbox` and
-- `crm` columns follow the divergence while a resolution waits for its sync; these keep what
-- the person saw, so that a resolution is not applied over an edit made after it.

ALTER TABLE conflicts ADD COLUMN resolved_known INTEGER NOT NULL DEFAULT 0;
ALTER TABLE conflicts ADD COLUMN resolved_inbox TEXT;
ALTER TABLE conflicts ADD COLUMN resolved_crm TEXT;
