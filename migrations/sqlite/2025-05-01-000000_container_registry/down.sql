DROP INDEX package_property_name_value;
ALTER TABLE resumable_upload DROP COLUMN package_type;
