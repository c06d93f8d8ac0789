-- 0005: the quarantine list of each project, its audit trail, automatic quarantine, and token names.

-- Automatic quarantine of tests flaky on 2 or more commits in 14 days: off (0) unless turned on.
ALTER TABLE projects ADD COLUMN auto_quarantine INTEGER NOT NULL DEFAULT 0;

-- A name for people to recognise a token by (who quarantined a test); NULL shows the token's id.
ALTER TABLE tokens ADD COLUMN name TEXT;

-- The tests of a project whose failures do not block: one row per test while it is on the list.
-- An entry past expires_at no longer counts; the store records its expiry in the trail and drops it
-- the next time it writes to the list. clean_passes counts an automatic entry's consecutive passing
-- results on the default branch since it was added: at 20 it is released.
CREATE TABLE quarantine (
    project_id   INTEGER NOT NULL REFERENCES projects (id),
    test_id      TEXT NOT NULL,
    reason       TEXT NOT NULL,
    added_by     TEXT NOT NULL,
    added_at     TEXT NOT NULL,
    expires_at   TEXT,
    source       TEXT NOT NULL CHECK (source IN ('manual', 'auto')),
    clean_passes INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (project_id, test_id)
) WITHOUT ROWID;

-- Every change to the list, oldest first: added (or changed), released, expired.
CREATE TABLE quarantine_events (
    id         INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL REFERENCES projects (id),
    test_id    TEXT NOT NULL,
    action     TEXT NOT NULL CHECK (action IN ('add', 'release', 'expire')),
    source     TEXT NOT NULL CHECK (source IN ('manual', 'auto')),
    actor      TEXT NOT NULL,
    at         TEXT NOT NULL,
    reason     TEXT,
    expires_at TEXT
);

CREATE INDEX quarantine_events_by_test ON quarantine_events (project_id, test_id, id);
