-- Migration 8: the base a value waiting in an import file stands for. A value handed to the
-- CRM in an import file whose Inbox side was confirmed moves the base only once the export
-- shows it; `base_value` (JSON of reconcile::Value, Inbox vocabulary) is what it moves the base
-- to then, even if Inbox changed again since (a person's later edit is then a change to copy,
-- not a value the base already holds). NULL: the Inbox side was not confirmed.

ALTER TABLE pending ADD COLUMN base_value TEXT;
