-- 0004: the verdict of a run (collector.verdict) and what it reads, kept at ingest so that the
-- verdict reads only the failing tests' rows, never a row per test of the run.

-- "On the default branch" means runs whose vcs.branch is this name.
ALTER TABLE projects ADD COLUMN default_branch TEXT NOT NULL DEFAULT 'main';

-- The verdict worked out when the run arrived, as JSON text: answered byte for byte ever after.
-- NULL for runs stored before verdicts existed.
ALTER TABLE runs ADD COLUMN verdict TEXT;

-- One row per test whose latest result on the project's default branch is a failure (failed or
-- error): the failing streak, from its first run, up to its latest failure. A later result on the
-- default branch that is not a failure ends the streak and deletes the row. Runs of a dirty
-- working tree do not count: they are not the branch's code.
CREATE TABLE default_failures (
    project_id       INTEGER NOT NULL REFERENCES projects (id),
    test_id          TEXT NOT NULL,
    since_run_id     TEXT NOT NULL,
    since_started_at TEXT NOT NULL,
    since_commit     TEXT,
    last_at          TEXT NOT NULL,
    PRIMARY KEY (project_id, test_id)
) WITHOUT ROWID;

-- A failing test's flaky commits in the verdict's window, found by test rather than by commit.
CREATE INDEX test_commits_flaky_by_test ON test_commits (project_id, test_id, last_at)
    WHERE passed > 0 AND failures > 0;
CREATE INDEX flaky_results_by_test ON flaky_results (test_id, run_pk);

-- A run's failed and errored results: the streaks and the commit rollups read a new run's failures by
-- this, not by scanning all its results.
CREATE INDEX test_results_failures ON test_results (run_pk, test_id) WHERE status IN ('failed', 'error');
