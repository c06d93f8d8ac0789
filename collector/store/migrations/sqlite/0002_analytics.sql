-- 0002: what the analytics API reads. The store keeps these rollups in the same transaction
-- as the run they summarise (collector.store.rollups), so they never disagree with the runs.
-- day is the UTC date of the run's started_at; branch is '' for a run without one.

-- Per test, day, branch and duration bucket (collector.analytics.duration_bucket; -1 for skipped
-- results): counts, duration sum and range, the latest failure. The buckets of a test's rows are
-- its duration histogram, for percentiles within 5%.
CREATE TABLE test_days (
    project_id          INTEGER NOT NULL REFERENCES projects (id),
    day                 TEXT NOT NULL,
    branch              TEXT NOT NULL,
    test_id             TEXT NOT NULL,
    bucket              INTEGER NOT NULL,
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
    PRIMARY KEY (project_id, day, branch, test_id, bucket)
) WITHOUT ROWID;

-- A test's rows over a window, newest first: its latest name and suite, and its latest failure.
CREATE INDEX test_days_by_test ON test_days (project_id, test_id, day);
CREATE INDEX test_days_failures_by_test ON test_days (project_id, test_id, day) WHERE last_failure_at IS NOT NULL;

-- The day rows of each closed month summed, per branch (every_branch 0) and over all branches
-- (every_branch 1, branch ''), so a long window reads a dozen months instead of a year of days.
-- Built when a window first needs a month (collector.store.analytics), then kept exact like the days.
CREATE TABLE test_months (
    project_id   INTEGER NOT NULL REFERENCES projects (id),
    every_branch INTEGER NOT NULL,
    branch       TEXT NOT NULL,
    month        TEXT NOT NULL,
    test_id      TEXT NOT NULL,
    bucket       INTEGER NOT NULL,
    results      INTEGER NOT NULL,
    ran          INTEGER NOT NULL,
    passed       INTEGER NOT NULL,
    failures     INTEGER NOT NULL,
    flaky        INTEGER NOT NULL,
    duration_sum REAL NOT NULL,
    duration_min REAL,
    duration_max REAL,
    PRIMARY KEY (project_id, every_branch, branch, month, test_id, bucket)
) WITHOUT ROWID;

-- The months of each project whose test_months rows are built.
CREATE TABLE rollup_months (
    project_id INTEGER NOT NULL REFERENCES projects (id),
    month      TEXT NOT NULL,
    PRIMARY KEY (project_id, month)
) WITHOUT ROWID;

-- Per test that failed on a commit: its failures (failed or error) and its passes on that commit,
-- across runs, attempts and producers. A commit with both is a flaky commit; the partial index
-- finds those without reading the rest.
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

-- The runs of one commit, whose passes a new failure on it counts.
CREATE INDEX runs_commit ON runs (project_id, commit_sha);

-- One test's history, newest first.
CREATE INDEX test_results_test_id ON test_results (test_id, run_pk);
