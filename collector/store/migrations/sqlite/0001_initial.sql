-- 0001: orgs, projects, tokens, runs and their test results.
-- Timestamps are RFC 3339 UTC text of fixed width (collector.timeutil), so text order is time order.

CREATE TABLE schema_migrations (
    version    INTEGER PRIMARY KEY,
    applied_at TEXT NOT NULL
);

CREATE TABLE orgs (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);

CREATE TABLE projects (
    id         INTEGER PRIMARY KEY,
    org_id     INTEGER NOT NULL REFERENCES orgs (id),
    name       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (org_id, name)
);

-- project_id is NULL for admin tokens; scopes are space-separated, in the order granted.
CREATE TABLE tokens (
    token_id     TEXT PRIMARY KEY,
    project_id   INTEGER REFERENCES projects (id),
    secret_hash  BLOB NOT NULL,
    scopes       TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    expires_at   TEXT,
    revoked_at   TEXT,
    last_used_at TEXT
);

CREATE INDEX tokens_project_id ON tokens (project_id);

-- ci, vcs and reporter are JSON objects; branch and commit_sha are copied out of vcs for filtering.
CREATE TABLE runs (
    id          INTEGER PRIMARY KEY,
    project_id  INTEGER NOT NULL REFERENCES projects (id),
    run_id      TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('passed', 'failed', 'error', 'skipped')),
    started_at  TEXT NOT NULL,
    duration_ms REAL,
    received_at TEXT NOT NULL,
    digest      TEXT NOT NULL,
    ci          TEXT NOT NULL,
    vcs         TEXT NOT NULL,
    reporter    TEXT NOT NULL,
    branch      TEXT,
    commit_sha  TEXT,
    tests_total INTEGER NOT NULL,
    passed      INTEGER NOT NULL,
    failed      INTEGER NOT NULL,
    error       INTEGER NOT NULL,
    skipped     INTEGER NOT NULL,
    xfailed     INTEGER NOT NULL,
    xpassed     INTEGER NOT NULL,
    flaky       INTEGER NOT NULL,
    UNIQUE (project_id, run_id)
);

CREATE INDEX runs_newest ON runs (project_id, started_at DESC, id DESC);
CREATE INDEX runs_branch_newest ON runs (project_id, branch, started_at DESC, id DESC);

-- seq is the test's position in the payload, so tests read back in the order they were sent.
CREATE TABLE test_results (
    run_pk      INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    test_id     TEXT NOT NULL,
    name        TEXT NOT NULL,
    suite       TEXT,
    file        TEXT,
    line        INTEGER,
    status      TEXT NOT NULL CHECK (status IN ('passed', 'failed', 'error', 'skipped', 'xfailed', 'xpassed')),
    duration_ms REAL NOT NULL,
    attempts    INTEGER NOT NULL,
    flaky       INTEGER NOT NULL CHECK (flaky IN (0, 1)),
    message     TEXT,
    details     TEXT,
    PRIMARY KEY (run_pk, seq)
) WITHOUT ROWID;

CREATE UNIQUE INDEX test_results_run_test_id ON test_results (run_pk, test_id);
