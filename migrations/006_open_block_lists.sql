-- An upload session may be opened with the first part of its block list and given the rest in
-- parts (POST /v1/uploads/{id}/blocks), so that a big file's first blocks are on the wire while
-- the rest of it is still being hashed. content_hash stays NULL until the list is complete (the
-- server computes it then); such a session cannot be committed or offered to other devices.
ALTER TABLE upload_sessions ALTER COLUMN content_hash DROP NOT NULL;
