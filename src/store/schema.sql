-- crmsync mirror schema, migration 1. Applied by store::migrate; never edit after release: add
-- a new migration instead.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE account_links (
    id       TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    name     TEXT,
    status   TEXT NOT NULL
);

CREATE TABLE members (
    id    TEXT PRIMARY KEY,
    email TEXT NOT NULL,
    name  TEXT
);

CREATE TABLE tags (
    id   TEXT PRIMARY KEY,
    name TEXT NOT NULL
);

CREATE TABLE statuses (
    id   TEXT PRIMARY KEY,
    name TEXT NOT NULL
);

-- Inbox prospects as last pulled (raw Inbox ids: tag ids, status id).
CREATE TABLE prospects (
    id              TEXT PRIMARY KEY,          -- externalId
    platform_id     TEXT NOT NULL,             -- X user id
    username        TEXT NOT NULL,
    display_name    TEXT,
    tag_ids         TEXT NOT NULL,             -- JSON array
    status_id       TEXT,
    valuation       TEXT,                      -- decimal text
    notes           TEXT,
    last_updated_at TEXT,
    present         INTEGER NOT NULL DEFAULT 1, -- 0: no thread seen in the last full walk
    seen_run        INTEGER NOT NULL
);
CREATE INDEX prospects_platform_id ON prospects(platform_id);

CREATE TABLE threads (
    id              TEXT PRIMARY KEY,
    prospect_id     TEXT NOT NULL REFERENCES prospects(id),
    account_link_id TEXT NOT NULL,
    assignee_id     TEXT,
    done            INTEGER NOT NULL,
    is_request      INTEGER NOT NULL,
    sort_ts         TEXT,
    present         INTEGER NOT NULL DEFAULT 1,
    seen_run        INTEGER NOT NULL
);
CREATE INDEX threads_prospect ON threads(prospect_id);

-- Inbox prospect <-> CRM record.
CREATE TABLE links (
    prospect_id TEXT PRIMARY KEY,
    crm_id      TEXT NOT NULL UNIQUE,
    state       TEXT NOT NULL,                 -- active | missing-crm | missing-inbox
    created_run INTEGER NOT NULL
);

-- The last values both sides confirmed (Inbox vocabulary), one row per link and field.
CREATE TABLE base (
    prospect_id TEXT NOT NULL,
    field       TEXT NOT NULL,
    value       TEXT NOT NULL,                 -- JSON of reconcile::Value
    run_id      INTEGER NOT NULL,
    PRIMARY KEY (prospect_id, field)
);

-- Values handed to the CRM in an import file and not yet seen in the export.
CREATE TABLE pending (
    crm_id  TEXT NOT NULL,
    field   TEXT NOT NULL,
    value   TEXT NOT NULL,                     -- JSON of reconcile::Value (CRM vocabulary)
    run_id  INTEGER NOT NULL,
    PRIMARY KEY (crm_id, field)
);

CREATE TABLE runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    mode        TEXT NOT NULL,                 -- pull | plan | sync
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    status      TEXT NOT NULL,                 -- running | ok | failed | stopped (| interrupted, schema_11)
    exit_code   INTEGER,
    summary     TEXT,                          -- JSON
    error       TEXT
);

CREATE TABLE changes (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id  INTEGER NOT NULL REFERENCES runs(id),
    side    TEXT NOT NULL,                     -- inbox | crm
    target  TEXT NOT NULL,                     -- prospect, thread or record id
    field   TEXT NOT NULL,
    old     TEXT,
    new     TEXT,
    status  TEXT NOT NULL                      -- applied | pending | failed
);
CREATE INDEX changes_run ON changes(run_id);

CREATE TABLE conflicts (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    first_run    INTEGER NOT NULL,
    last_run     INTEGER NOT NULL,
    prospect_id  TEXT NOT NULL,
    username     TEXT,
    platform_id  TEXT,
    crm_id       TEXT NOT NULL,
    field        TEXT NOT NULL,
    kind         TEXT NOT NULL,
    inbox        TEXT,
    crm          TEXT,
    base         TEXT,
    detail       TEXT NOT NULL,
    first_seen   TEXT NOT NULL,
    last_seen    TEXT NOT NULL,
    resolution   TEXT NOT NULL DEFAULT 'open', -- open | resolved-inbox | resolved-crm | resolved-value | dismissed | closed
    resolved_by  TEXT,
    resolved_at  TEXT
);
CREATE INDEX conflicts_open ON conflicts(resolution, prospect_id, crm_id, field, kind);

-- X user ids looked up with GET /prospects/lookup: a miss is not asked again for a while.
CREATE TABLE lookups (
    platform_id TEXT PRIMARY KEY,
    prospect_id TEXT,
    checked_at  TEXT NOT NULL
);

CREATE TABLE rejects (
    run_id    INTEGER NOT NULL REFERENCES runs(id),
    source    TEXT NOT NULL,
    row       INTEGER NOT NULL,
    record_id TEXT,
    reason    TEXT NOT NULL
);
