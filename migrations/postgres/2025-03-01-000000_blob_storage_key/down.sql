DROP INDEX package_blob_storage_key;
ALTER TABLE package_blob DROP COLUMN storage_key;
