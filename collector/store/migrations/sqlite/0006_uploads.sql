-- 0006: runs sent in batches while their tests still run (POST /api/v1/uploads ...).
-- An upload in progress is a run row with is_open = 1 and a run_id no client can send (it starts with a
-- control character): every read leaves open runs out, and they hold no rollups. Completing the upload
-- gives the row its real run_id, counts, digest and rollups in one transaction, so it becomes visible
-- whole. upload_id stays on the completed run, so a completion sent again is answered as a duplicate.
ALTER TABLE runs ADD COLUMN is_open INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN upload_id TEXT;

CREATE UNIQUE INDEX runs_upload_id ON runs (upload_id) WHERE upload_id IS NOT NULL;

-- The batches an upload holds, each by its number and the SHA-256 of its tests, so a batch sent again is
-- recognised and a different one under a taken number refused.
CREATE TABLE upload_batches (
    run_pk INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    seq    INTEGER NOT NULL,
    digest TEXT NOT NULL,
    tests  INTEGER NOT NULL,
    PRIMARY KEY (run_pk, seq)
) WITHOUT ROWID;
