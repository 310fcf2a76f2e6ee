-- Server hardening (issue 16).
--
-- The deployment this database belongs to: one row, made here. A block store is bound to it
-- (blockserver/binding.py): the block servers and `tessera-server gc` write this id into the
-- store as a marker at first use and refuse a store whose marker names another deployment, so a
-- server started against the wrong (or an empty) database never deletes another deployment's
-- blocks as orphans.
CREATE TABLE deployment (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    one_row     boolean NOT NULL DEFAULT true UNIQUE CHECK (one_row),
    created_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO deployment DEFAULT VALUES;

-- What an open upload session reserves (metaserver/uploads/reservations.py): the bytes and the
-- number of the new blocks it lists (not already stored), counted against the user's quota and
-- pending-block limit from the moment it opens until it is committed, aborted or expires.
ALTER TABLE upload_sessions ADD COLUMN reserved_bytes bigint NOT NULL DEFAULT 0;
ALTER TABLE upload_sessions ADD COLUMN reserved_blocks integer NOT NULL DEFAULT 0;
CREATE INDEX upload_sessions_open_user ON upload_sessions (user_id) WHERE state = 'open';
