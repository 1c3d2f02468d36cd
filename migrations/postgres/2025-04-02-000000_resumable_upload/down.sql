DROP TABLE resumable_upload;
