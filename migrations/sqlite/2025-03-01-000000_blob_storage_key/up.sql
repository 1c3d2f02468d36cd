-- Where an object store keeps a blob's content; NULL when the key is the SHA-256 itself
-- (the local disk store, and content moved into a bucket under its digest).
ALTER TABLE package_blob ADD COLUMN storage_key TEXT;
CREATE UNIQUE INDEX package_blob_storage_key ON package_blob (storage_key);
