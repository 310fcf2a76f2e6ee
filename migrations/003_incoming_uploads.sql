-- Streaming sync (metaserver/uploads_incoming.py): the other devices of a namespace read a
-- pending upload's stored blocks before its commit.
--
-- token_id: the device token that opened the session, so that its own device is not offered
-- it. NULL for sessions opened before this migration or by a batch create (small files,
-- never offered): those are told apart by device name.
ALTER TABLE upload_sessions ADD COLUMN token_id bigint;
CREATE INDEX upload_sessions_open_ns ON upload_sessions (ns_id, created_at) WHERE state = 'open';
