-- 0001: orgs, projects, tokens, runs and their test results; the same tables, columns and
-- constraints as sqlite/0001_initial.sql, in PostgreSQL's own types.
-- Times are timestamptz; the store reads them back as the same fixed-width RFC 3339 UTC text
-- the SQLite backend stores (collector.timeutil.format_utc).
-- Names and ids are COLLATE "C": ordered by code point, as SQLite orders them, whatever the
-- database's locale.

CREATE TABLE schema_migrations (
    version    integer PRIMARY KEY,
    applied_at timestamptz NOT NULL
);

CREATE TABLE orgs (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text COLLATE "C" NOT NULL UNIQUE,
    created_at timestamptz NOT NULL
);

CREATE TABLE projects (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id     bigint NOT NULL REFERENCES orgs (id),
    name       text COLLATE "C" NOT NULL,
    created_at timestamptz NOT NULL,
    UNIQUE (org_id, name)
);

-- project_id is NULL for admin tokens; scopes are space-separated, in the order granted.
CREATE TABLE tokens (
    token_id     text COLLATE "C" PRIMARY KEY,
    project_id   bigint REFERENCES projects (id),
    secret_hash  bytea NOT NULL,
    scopes       text NOT NULL,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz,
    revoked_at   timestamptz,
    last_used_at timestamptz
);

CREATE INDEX tokens_project_id ON tokens (project_id);

-- ci, vcs and reporter are JSON objects; branch and commit_sha are copied out of vcs for filtering.
CREATE TABLE runs (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id  bigint NOT NULL REFERENCES projects (id),
    run_id      text COLLATE "C" NOT NULL,
    status      text NOT NULL CHECK (status IN ('passed', 'failed', 'error', 'skipped')),
    started_at  timestamptz NOT NULL,
    duration_ms double precision,
    received_at timestamptz NOT NULL,
    digest      text NOT NULL,
    ci          jsonb NOT NULL,
    vcs         jsonb NOT NULL,
    reporter    jsonb NOT NULL,
    branch      text COLLATE "C",
    commit_sha  text,
    tests_total integer NOT NULL,
    passed      integer NOT NULL,
    failed      integer NOT NULL,
    error       integer NOT NULL,
    skipped     integer NOT NULL,
    xfailed     integer NOT NULL,
    xpassed     integer NOT NULL,
    flaky       integer NOT NULL,
    UNIQUE (project_id, run_id)
);

-- The list API: newest first per project (optionally per branch), keyset-paged on (started_at, id).
CREATE INDEX runs_newest ON runs (project_id, started_at DESC, id DESC);
CREATE INDEX runs_branch_newest ON runs (project_id, branch, started_at DESC, id DESC);

-- seq is the test's position in the payload, so tests read back in the order they were sent.
CREATE TABLE test_results (
    run_pk      bigint NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    seq         integer NOT NULL,
    test_id     text COLLATE "C" NOT NULL,
    name        text NOT NULL,
    suite       text,
    file        text,
    line        integer,
    status      text NOT NULL CHECK (status IN ('passed', 'failed', 'error', 'skipped', 'xfailed', 'xpassed')),
    duration_ms double precision NOT NULL,
    attempts    integer NOT NULL,
    flaky       boolean NOT NULL,
    message     text,
    details     text,
    PRIMARY KEY (run_pk, seq)
);

CREATE UNIQUE INDEX test_results_run_test_id ON test_results (run_pk, test_id);
