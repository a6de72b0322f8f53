-- Migration 7: Inbox API v2. A contact is stored as a `prospects` row (its id the contact id,
-- `platform_id`/`username` those of its X profile, if any), its threads as `threads` rows
-- (`done` = archived, `assignee_id` = the effective assignee). Its profiles, on X and
-- LinkedIn, several per contact possible, are in `profiles`, keyed as the API keys them.
-- `meta.inbox_api` says which API the mirror was pulled from (absent: v1).

CREATE TABLE profiles (
    platform    TEXT NOT NULL,                 -- twitter | linkedin | ...
    platform_id TEXT NOT NULL,
    contact_id  TEXT NOT NULL,
    username    TEXT NOT NULL,
    PRIMARY KEY (platform, platform_id)
) WITHOUT ROWID;
CREATE INDEX profiles_contact ON profiles(contact_id);
