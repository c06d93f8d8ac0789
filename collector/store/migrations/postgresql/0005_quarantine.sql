-- 0005: the quarantine list of each project, its audit trail, automatic quarantine, and token names;
-- the same tables as sqlite/0005_quarantine.sql in PostgreSQL's own types.

ALTER TABLE projects ADD COLUMN auto_quarantine boolean NOT NULL DEFAULT false;

ALTER TABLE tokens ADD COLUMN name text;

CREATE TABLE quarantine (
    project_id   bigint NOT NULL REFERENCES projects (id),
    test_id      text COLLATE "C" NOT NULL,
    reason       text NOT NULL,
    added_by     text NOT NULL,
    added_at     timestamptz NOT NULL,
    expires_at   timestamptz,
    source       text NOT NULL CHECK (source IN ('manual', 'auto')),
    clean_passes integer NOT NULL DEFAULT 0,
    PRIMARY KEY (project_id, test_id)
);

CREATE TABLE quarantine_events (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id bigint NOT NULL REFERENCES projects (id),
    test_id    text COLLATE "C" NOT NULL,
    action     text NOT NULL CHECK (action IN ('add', 'release', 'expire')),
    source     text NOT NULL CHECK (source IN ('manual', 'auto')),
    actor      text NOT NULL,
    at         timestamptz NOT NULL,
    reason     text,
    expires_at timestamptz
);

CREATE INDEX quarantine_events_by_test ON quarantine_events (project_id, test_id, id);
