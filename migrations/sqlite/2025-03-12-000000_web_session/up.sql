-- Browser sign-ins. Only a hash of the session id is stored, like access tokens: a copy of
-- the database does not let anyone take over a session.
CREATE TABLE web_session (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_hash TEXT NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_unix BIGINT NOT NULL,
    expires_unix BIGINT NOT NULL
);
CREATE UNIQUE INDEX web_session_hash ON web_session (session_hash);
CREATE INDEX web_session_user ON web_session (user_id);
CREATE INDEX web_session_expires ON web_session (expires_unix);
