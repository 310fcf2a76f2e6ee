-- Garbage collection (metaserver/gc.py).
--
-- unreferenced_since: when the collector first found the block referenced by no
-- version and no upload session; it deletes the block once that is older than
-- its grace period, after re-checking under a row lock. NULL: referenced (or not
-- looked at yet).
ALTER TABLE blocks ADD COLUMN unreferenced_since timestamptz;
CREATE INDEX blocks_unreferenced ON blocks (id) WHERE unreferenced_since IS NOT NULL;

-- Upload sessions past their expiry, open or committed, are found by this.
CREATE INDEX upload_sessions_expires ON upload_sessions (expires_at);
