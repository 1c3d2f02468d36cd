-- Users and organisations share one table and one namespace (`lower_name`).
CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    lower_name TEXT NOT NULL,
    kind SMALLINT NOT NULL DEFAULT 0,
    full_name TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    email TEXT NOT NULL DEFAULT '',
    lower_email TEXT NOT NULL DEFAULT '',
    password_hash TEXT NULL,
    is_admin BOOLEAN NOT NULL DEFAULT 0,
    is_active BOOLEAN NOT NULL DEFAULT 1,
    prohibit_login BOOLEAN NOT NULL DEFAULT 0,
    is_restricted BOOLEAN NOT NULL DEFAULT 0,
    visibility SMALLINT NOT NULL DEFAULT 0,
    must_change_password BOOLEAN NOT NULL DEFAULT 0,
    created_unix BIGINT NOT NULL,
    updated_unix BIGINT NOT NULL,
    last_login_unix BIGINT NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX users_lower_name ON users (lower_name);
CREATE INDEX users_lower_email ON users (lower_email);
CREATE INDEX users_kind ON users (kind);

CREATE TABLE access_token (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL,
    token_last_eight TEXT NOT NULL,
    scope TEXT NOT NULL DEFAULT '',
    created_unix BIGINT NOT NULL,
    updated_unix BIGINT NOT NULL
);
CREATE UNIQUE INDEX access_token_token_hash ON access_token (token_hash);
CREATE UNIQUE INDEX access_token_user_name ON access_token (user_id, name);

CREATE TABLE org_user (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX org_user_org_user ON org_user (org_id, user_id);
CREATE INDEX org_user_user ON org_user (user_id);

CREATE TABLE team (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    lower_name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    authorize SMALLINT NOT NULL DEFAULT 0,
    includes_all_repositories BOOLEAN NOT NULL DEFAULT 0,
    can_create_org_repo BOOLEAN NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX team_org_lower_name ON team (org_id, lower_name);

CREATE TABLE team_user (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    team_id BIGINT NOT NULL REFERENCES team (id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX team_user_team_user ON team_user (team_id, user_id);
CREATE INDEX team_user_org_user ON team_user (org_id, user_id);
CREATE INDEX team_user_user ON team_user (user_id);

CREATE TABLE team_unit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    team_id BIGINT NOT NULL REFERENCES team (id) ON DELETE CASCADE,
    unit_type TEXT NOT NULL,
    access_mode SMALLINT NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX team_unit_team_type ON team_unit (team_id, unit_type);

-- A package is named once per owner and type; `name` keeps the casing of the first upload.
CREATE TABLE package (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    repo_id BIGINT NOT NULL DEFAULT 0,
    type TEXT NOT NULL,
    name TEXT NOT NULL,
    lower_name TEXT NOT NULL,
    semver_compatible BOOLEAN NOT NULL DEFAULT 0,
    is_internal BOOLEAN NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX package_owner_type_lower_name ON package (owner_id, type, lower_name);
CREATE INDEX package_repo ON package (repo_id);

CREATE TABLE package_version (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    package_id BIGINT NOT NULL REFERENCES package (id) ON DELETE CASCADE,
    creator_id BIGINT NOT NULL DEFAULT 0,
    version TEXT NOT NULL,
    lower_version TEXT NOT NULL,
    created_unix BIGINT NOT NULL,
    is_internal BOOLEAN NOT NULL DEFAULT 0,
    metadata_json TEXT NULL,
    download_count BIGINT NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX package_version_package_lower_version ON package_version (package_id, lower_version);
-- Listings go newest first with the id as tie-breaker.
CREATE INDEX package_version_created ON package_version (created_unix, id);

-- Only the SHA-256 is unique: it names the stored object. MD5 and SHA-1 collisions can be
-- constructed, so a unique index on them would let one upload block another.
CREATE TABLE package_blob (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    size BIGINT NOT NULL DEFAULT 0,
    hash_md5 TEXT NOT NULL,
    hash_sha1 TEXT NOT NULL,
    hash_sha256 TEXT NOT NULL,
    hash_sha512 TEXT NOT NULL,
    created_unix BIGINT NOT NULL
);
CREATE UNIQUE INDEX package_blob_sha256 ON package_blob (hash_sha256);
CREATE INDEX package_blob_created ON package_blob (created_unix);

-- RESTRICT on the blob: the sweep of unreferenced blobs can never remove one a file uses.
CREATE TABLE package_file (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    version_id BIGINT NOT NULL REFERENCES package_version (id) ON DELETE CASCADE,
    blob_id BIGINT NOT NULL REFERENCES package_blob (id) ON DELETE RESTRICT,
    name TEXT NOT NULL,
    lower_name TEXT NOT NULL,
    composite_key TEXT NOT NULL DEFAULT '',
    is_lead BOOLEAN NOT NULL DEFAULT 1,
    created_unix BIGINT NOT NULL
);
CREATE UNIQUE INDEX package_file_version_lower_name_key ON package_file (version_id, lower_name, composite_key);
CREATE INDEX package_file_blob ON package_file (blob_id);

-- ref_type: 0 version, 1 file, 2 package.
CREATE TABLE package_property (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ref_type SMALLINT NOT NULL,
    ref_id BIGINT NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL
);
CREATE INDEX package_property_ref ON package_property (ref_type, ref_id);
CREATE INDEX package_property_name ON package_property (name);

CREATE TABLE package_cleanup_rule (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    enabled BOOLEAN NOT NULL DEFAULT 0,
    owner_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    type TEXT NOT NULL,
    keep_count INTEGER NOT NULL DEFAULT 0,
    keep_pattern TEXT NOT NULL DEFAULT '',
    remove_days INTEGER NOT NULL DEFAULT 0,
    remove_pattern TEXT NOT NULL DEFAULT '',
    match_full_name BOOLEAN NOT NULL DEFAULT 0,
    created_unix BIGINT NOT NULL,
    updated_unix BIGINT NOT NULL
);
CREATE UNIQUE INDEX package_cleanup_rule_owner_type ON package_cleanup_rule (owner_id, type);
CREATE INDEX package_cleanup_rule_enabled ON package_cleanup_rule (enabled);
