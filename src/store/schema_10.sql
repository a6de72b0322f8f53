-- Migration 10: fan-out on API v2.
--
-- The platform of each account link (`twitter`, `linkedin`, ...), so that a `fanout` conflict
-- names each thread's account and platform. Every v1 account is X; a v2 mirror's links are
-- replaced with their real platform on the next pull.
ALTER TABLE account_links ADD COLUMN platform TEXT NOT NULL DEFAULT 'twitter';

-- A thread that answered a fanned-out write without taking the value: remembered for one
-- push, so that the next run retries it, and a second miss of the same value is a conflict.
CREATE TABLE fanout_misses (
    thread_id  TEXT NOT NULL,
    field      TEXT NOT NULL,
    prospect_id TEXT NOT NULL,
    value      TEXT NOT NULL,
    run_id     INTEGER NOT NULL,
    PRIMARY KEY (thread_id, field)
);
CREATE INDEX fanout_misses_prospect ON fanout_misses (prospect_id);
