-- Migration 3: the CRM records as last read, for incremental CRM reads (engine::crm_read).
-- A full read replaces the table; an incremental read upserts the records it saw. Values are
-- in the CRM's vocabulary, exactly as the adapter reported them.

CREATE TABLE crm_records (
    id          TEXT PRIMARY KEY,              -- the CRM's record id
    x_user_id   TEXT,
    username    TEXT,
    fields      TEXT,                          -- JSON of reconcile::Fields; NULL when rejected
    updated_at  TEXT,                          -- the CRM's modified time (RFC 3339), if given
    reject      TEXT,                          -- why the record could not be read, if it could not
    source      TEXT                           -- where the rejected record came from (`hubspot`)
);
