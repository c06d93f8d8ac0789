-- 0002: what the analytics API reads. The store keeps these rollups in the same transaction
-- as the run they summarise (collector.store.rollups), so they never disagree with the runs.
-- day is the UTC date of the run's started_at; branch is '' for a run without one.

-- Per test, per day and branch: counts, duration sum and range, the latest failure.
CREATE TABLE test_days (
    project_id          INTEGER NOT NULL REFERENCES projects (id),
    day                 TEXT NOT NULL,
    branch              TEXT NOT NULL,
    test_id             TEXT NOT NULL,
    name                TEXT NOT NULL,
    suite               TEXT,
    results             INTEGER NOT NULL,
    ran                 INTEGER NOT NULL,
    passed              INTEGER NOT NULL,
    failures            INTEGER NOT NULL,
    flaky               INTEGER NOT NULL,
    duration_sum        REAL NOT NULL,
    duration_min        REAL,
    duration_max        REAL,
    last_at             TEXT NOT NULL,
    last_failure_at     TEXT,
    last_failure_run_pk INTEGER,
    PRIMARY KEY (project_id, day, branch, test_id)
) WITHOUT ROWID;

-- Per test, per day and branch: how many results that ran fell in each duration bucket
-- (collector.analytics.duration_bucket), for percentiles within 5%.
CREATE TABLE test_day_durations (
    project_id INTEGER NOT NULL REFERENCES projects (id),
    day        TEXT NOT NULL,
    branch     TEXT NOT NULL,
    test_id    TEXT NOT NULL,
    bucket     INTEGER NOT NULL,
    count      INTEGER NOT NULL,
    PRIMARY KEY (project_id, day, branch, test_id, bucket)
) WITHOUT ROWID;

-- Per test and commit: passes and failures (failed or error) across runs, attempts and producers.
-- A commit with both is a flaky commit; the partial index finds those without reading the rest.
CREATE TABLE test_commits (
    project_id          INTEGER NOT NULL REFERENCES projects (id),
    branch              TEXT NOT NULL,
    commit_sha          TEXT NOT NULL,
    test_id             TEXT NOT NULL,
    passed              INTEGER NOT NULL,
    failures            INTEGER NOT NULL,
    last_at             TEXT NOT NULL,
    last_failure_at     TEXT,
    last_failure_run_pk INTEGER,
    PRIMARY KEY (project_id, branch, commit_sha, test_id)
) WITHOUT ROWID;

CREATE INDEX test_commits_mixed ON test_commits (project_id, last_at) WHERE passed > 0 AND failures > 0;

-- Results that passed after failing within their run (flaky, or retried to a pass).
CREATE TABLE flaky_results (
    run_pk  INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    test_id TEXT NOT NULL,
    PRIMARY KEY (run_pk, test_id)
) WITHOUT ROWID;

-- One test's history, newest first.
CREATE INDEX test_results_test_id ON test_results (test_id, run_pk);
