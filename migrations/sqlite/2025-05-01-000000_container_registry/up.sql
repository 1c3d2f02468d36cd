-- Resumable uploads now belong to a format: generic (tus) uploads and container blob
-- upload sessions share the table, and each format only ever sees its own.
ALTER TABLE resumable_upload ADD COLUMN package_type TEXT NOT NULL DEFAULT 'generic';
-- Container manifests and blobs are looked up by content within a package.
CREATE INDEX package_property_name_value ON package_property (name, value);
