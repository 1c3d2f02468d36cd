-- Failed password attempts, per account (`account:<lower name>`) and per client address
-- (`address:<ip>`), so that every instance on the database counts the same failures.
CREATE TABLE login_failure (
    id BIGSERIAL PRIMARY KEY,
    key TEXT NOT NULL,
    failed_ms BIGINT NOT NULL
);
CREATE INDEX login_failure_key ON login_failure (key, failed_ms);
CREATE INDEX login_failure_time ON login_failure (failed_ms);
