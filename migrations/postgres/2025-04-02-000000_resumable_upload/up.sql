-- Resumable (tus) uploads in progress. The id is the random, unguessable part of the
-- upload's URL; the content so far lives in the blob store's pending area, described by
-- store_state. A writer holds the lease (a random token until lease_until, unix ms) while it
-- appends, so two requests for one upload never write at once, on any instance.
CREATE TABLE resumable_upload (
    id TEXT PRIMARY KEY,
    owner_id BIGINT NOT NULL,
    creator_id BIGINT NOT NULL,
    exempt_from_limits BOOLEAN NOT NULL,
    package_name TEXT NOT NULL,
    package_version TEXT NOT NULL,
    file_name TEXT NOT NULL,
    upload_length BIGINT NOT NULL,
    upload_offset BIGINT NOT NULL,
    metadata TEXT NOT NULL,
    store_state TEXT NOT NULL,
    lease TEXT,
    lease_until BIGINT,
    created_unix BIGINT NOT NULL,
    expires_unix BIGINT NOT NULL
);
CREATE INDEX resumable_upload_expires ON resumable_upload (expires_unix);
