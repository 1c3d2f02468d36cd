-- Per-owner package settings that differ from the server's defaults. A missing row means
-- the defaults apply.
CREATE TABLE owner_package_setting (
    owner_id BIGINT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    -- False keeps every stored file of the owner immutable (no replace with If-Match).
    allow_replace BOOLEAN NOT NULL
);
