-- 0006: runs sent in batches while their tests still run; the same as sqlite/0006_uploads.sql in
-- PostgreSQL's own types.
ALTER TABLE runs ADD COLUMN is_open boolean NOT NULL DEFAULT false;
ALTER TABLE runs ADD COLUMN upload_id text COLLATE "C";

CREATE UNIQUE INDEX runs_upload_id ON runs (upload_id) WHERE upload_id IS NOT NULL;

CREATE TABLE upload_batches (
    run_pk bigint NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    seq    integer NOT NULL,
    digest text NOT NULL,
    tests  integer NOT NULL,
    PRIMARY KEY (run_pk, seq)
);
