-- 0003: sessions of the web pages; the same table as sqlite/0003_web_sessions.sql.
-- A browser that signs in with a read token gets a random session id in its cookie; only the
-- id's SHA-256 is stored, so a copy of the database signs nobody in. A session belongs to the
-- token that signed in: deleting the token deletes its sessions, and revoking it deletes them
-- too (the store does both in one transaction). The idle and absolute lifetimes are settings,
-- checked against last_seen_at and created_at, so changing them applies to open sessions.
CREATE TABLE web_sessions (
    id_hash      bytea PRIMARY KEY,
    token_id     text COLLATE "C" NOT NULL REFERENCES tokens (token_id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL
);

CREATE INDEX web_sessions_token_id ON web_sessions (token_id);
-- purging expired sessions reads these, oldest first
CREATE INDEX web_sessions_last_seen_at ON web_sessions (last_seen_at);
CREATE INDEX web_sessions_created_at ON web_sessions (created_at);
