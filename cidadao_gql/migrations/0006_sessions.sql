-- Browser sessions (`POST /session`). The cookie carries a random session id (256 bits);
-- only its SHA-256 is kept here, so this table alone gives nobody a working cookie.
-- Signing out deletes the row; expired rows are deleted by the sweep on every sign-in.
-- Times are written by the application's clock (sessions.py), not now().
CREATE TABLE sessions (
    id_hash       bytea PRIMARY KEY,
    user_id       text NOT NULL,
    scopes        text[] NOT NULL,
    key_id        bigint REFERENCES api_keys (id) ON DELETE CASCADE,  -- the key signed in with
    created_at    timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,  -- SESSION_TTL after sign-in; never moves
    last_seen_at  timestamptz NOT NULL   -- moved at most once a minute (see sessions.py)
);
CREATE INDEX sessions_user_idx ON sessions (user_id);
CREATE INDEX sessions_key_idx ON sessions (key_id);
