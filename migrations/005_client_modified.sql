-- The modification time a file had on the device that uploaded it (the uploader's clock), so
-- that every device gives the file that time, as the uploader saw it. NULL: not sent (an older
-- client); downloads then use the commit time (versions.created_at).
ALTER TABLE upload_sessions ADD COLUMN client_modified timestamptz;
ALTER TABLE versions ADD COLUMN client_modified timestamptz;
