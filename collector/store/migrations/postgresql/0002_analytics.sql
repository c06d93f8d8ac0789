-- 0002: what the analytics API reads; the same tables as sqlite/0002_analytics.sql in
-- PostgreSQL's own types. The store keeps these rollups in the same transaction as the run
-- they summarise (collector.store.rollups), so they never disagree with the runs.
-- day is the UTC date of the run's started_at as YYYY-MM-DD text; branch is '' for a run without one.

-- Per test, day, branch and duration bucket (collector.analytics.duration_bucket; -1 for skipped
-- results): counts, duration sum and range, the latest failure. The buckets of a test's rows are
-- its duration histogram, for percentiles within 5%.
CREATE TABLE test_days (
    project_id          bigint NOT NULL REFERENCES projects (id),
    day                 text COLLATE "C" NOT NULL,
    branch              text COLLATE "C" NOT NULL,
    test_id             text COLLATE "C" NOT NULL,
    bucket              integer NOT NULL,
    name                text NOT NULL,
    suite               text,
    results             integer NOT NULL,
    ran                 integer NOT NULL,
    passed              integer NOT NULL,
    failures            integer NOT NULL,
    flaky               integer NOT NULL,
    duration_sum        double precision NOT NULL,
    duration_min        double precision,
    duration_max        double precision,
    last_at             timestamptz NOT NULL,
    last_failure_at     timestamptz,
    last_failure_run_pk bigint,
    PRIMARY KEY (project_id, day, branch, test_id, bucket)
);

-- A test's rows over a window, newest first: its latest name and suite, and its latest failure.
CREATE INDEX test_days_by_test ON test_days (project_id, test_id, day);
CREATE INDEX test_days_failures_by_test ON test_days (project_id, test_id, day) WHERE last_failure_at IS NOT NULL;

-- The day rows of each closed month summed, per branch (every_branch 0) and over all branches
-- (every_branch 1, branch ''), so a long window reads a dozen months instead of a year of days.
-- Built when a window first needs a month (collector.store.analytics), then kept exact like the days.
CREATE TABLE test_months (
    project_id   bigint NOT NULL REFERENCES projects (id),
    every_branch integer NOT NULL,
    branch       text COLLATE "C" NOT NULL,
    month        text COLLATE "C" NOT NULL,
    test_id      text COLLATE "C" NOT NULL,
    bucket       integer NOT NULL,
    results      integer NOT NULL,
    ran          integer NOT NULL,
    passed       integer NOT NULL,
    failures     integer NOT NULL,
    flaky        integer NOT NULL,
    duration_sum double precision NOT NULL,
    duration_min double precision,
    duration_max double precision,
    PRIMARY KEY (project_id, every_branch, branch, month, test_id, bucket)
);

-- The months of each project whose test_months rows are built.
CREATE TABLE rollup_months (
    project_id bigint NOT NULL REFERENCES projects (id),
    month      text COLLATE "C" NOT NULL,
    PRIMARY KEY (project_id, month)
);

-- Per test that failed on a commit: its failures (failed or error) and its passes on that commit,
-- across runs, attempts and producers. A commit with both is a flaky commit; the partial index
-- finds those without reading the rest.
CREATE TABLE test_commits (
    project_id          bigint NOT NULL REFERENCES projects (id),
    branch              text COLLATE "C" NOT NULL,
    commit_sha          text COLLATE "C" NOT NULL,
    test_id             text COLLATE "C" NOT NULL,
    passed              integer NOT NULL,
    failures            integer NOT NULL,
    last_at             timestamptz NOT NULL,
    last_failure_at     timestamptz,
    last_failure_run_pk bigint,
    PRIMARY KEY (project_id, branch, commit_sha, test_id)
);

CREATE INDEX test_commits_mixed ON test_commits (project_id, last_at) WHERE passed > 0 AND failures > 0;

-- Results that passed after failing within their run (flaky, or retried to a pass).
CREATE TABLE flaky_results (
    run_pk  bigint NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    test_id text COLLATE "C" NOT NULL,
    PRIMARY KEY (run_pk, test_id)
);

-- The runs of one commit, whose passes a new failure on it counts.
CREATE INDEX runs_commit ON runs (project_id, commit_sha);

-- One test's history, newest first.
CREATE INDEX test_results_test_id ON test_results (test_id, run_pk);
