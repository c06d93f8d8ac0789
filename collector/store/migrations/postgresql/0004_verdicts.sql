-- 0004: the verdict of a run (collector.verdict) and what it reads; the same tables as
-- sqlite/0004_verdicts.sql in PostgreSQL's own types.

-- "On the default branch" means runs whose vcs.branch is this name.
ALTER TABLE projects ADD COLUMN default_branch text COLLATE "C" NOT NULL DEFAULT 'main';

-- The verdict worked out when the run arrived, as JSON text (text, not jsonb, so it is answered
-- byte for byte ever after). NULL for runs stored before verdicts existed.
ALTER TABLE runs ADD COLUMN verdict text;

-- One row per test whose latest result on the project's default branch is a failure: the failing
-- streak, from its first run, up to its latest failure. A later result on the default branch that
-- is not a failure ends the streak and deletes the row. Runs of a dirty working tree do not count.
CREATE TABLE default_failures (
    project_id       bigint NOT NULL REFERENCES projects (id),
    test_id          text COLLATE "C" NOT NULL,
    since_run_id     text COLLATE "C" NOT NULL,
    since_started_at timestamptz NOT NULL,
    since_commit     text COLLATE "C",
    last_at          timestamptz NOT NULL,
    PRIMARY KEY (project_id, test_id)
);

-- A failing test's flaky commits in the verdict's window, found by test rather than by commit.
CREATE INDEX test_commits_flaky_by_test ON test_commits (project_id, test_id, last_at)
    WHERE passed > 0 AND failures > 0;
CREATE INDEX flaky_results_by_test ON flaky_results (test_id, run_pk);

-- (SQLite also indexes a run's failing results, test_results_failures; PostgreSQL's planner, choosing by
-- statistics, picked that index for a run's first failures on a commit and took seconds per run where the
-- run's own rows take milliseconds, so PostgreSQL goes without it.)
