-- What a user's upload sessions reserve (migration 012's reserved_bytes and reserved_blocks of each
-- session), kept as counters on the user's row (metaserver/uploads/reservations.py), so that
-- checking an upload against the quota and the limits reads one row instead of summing the user's
-- open sessions: the quota is the stored bytes of the namespaces the user owns (their counters,
-- migration 008) plus these.
--
-- Numbered 010 (the number the operations work left unused): it runs after 012 on a database that
-- has 012 already, and before it on a new one, so it reads 012's columns only where they exist.

ALTER TABLE users
    ADD COLUMN reserving_sessions integer NOT NULL DEFAULT 0,
    ADD COLUMN reserved_blocks bigint NOT NULL DEFAULT 0,
    ADD COLUMN reserved_bytes bigint NOT NULL DEFAULT 0;

-- A session's reservation counts in its user's counters while reservation_held. A session holds
-- its reservation from its creation until a check of its user releases it (the check releases
-- every session of the user that is committed, aborted or expired before it reads the counters;
-- a commit cannot, it holds the namespace lock, which a check waits for while it holds the user's
-- row), or its row is deleted.
ALTER TABLE upload_sessions ADD COLUMN reservation_held boolean NOT NULL DEFAULT false;
ALTER TABLE upload_sessions ALTER COLUMN reservation_held SET DEFAULT true;
CREATE INDEX upload_sessions_held_done ON upload_sessions (user_id) WHERE reservation_held AND state <> 'open';
CREATE INDEX upload_sessions_held_open ON upload_sessions (user_id, expires_at) WHERE reservation_held AND state = 'open';

-- The counters follow the sessions: every statement that inserts, updates or deletes sessions
-- moves them by what it changed of the held reservations, in its own transaction. A statement
-- that changes nothing of them (a commit's state, a content hash) writes no user row.
CREATE FUNCTION upload_reservations_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- each branch reads only the transition tables its event has
    IF TG_OP = 'INSERT' THEN
        UPDATE users u SET reserving_sessions = u.reserving_sessions + d.sessions,
                           reserved_blocks = u.reserved_blocks + d.blocks, reserved_bytes = u.reserved_bytes + d.bytes
          FROM (SELECT user_id, count(*) AS sessions, sum(reserved_blocks) AS blocks, sum(reserved_bytes) AS bytes
                  FROM new_sessions WHERE reservation_held GROUP BY user_id) d
         WHERE u.id = d.user_id;
    ELSIF TG_OP = 'DELETE' THEN
        UPDATE users u SET reserving_sessions = u.reserving_sessions - d.sessions,
                           reserved_blocks = u.reserved_blocks - d.blocks, reserved_bytes = u.reserved_bytes - d.bytes
          FROM (SELECT user_id, count(*) AS sessions, sum(reserved_blocks) AS blocks, sum(reserved_bytes) AS bytes
                  FROM old_sessions WHERE reservation_held GROUP BY user_id) d
         WHERE u.id = d.user_id;
    ELSE
        UPDATE users u SET reserving_sessions = u.reserving_sessions + d.sessions,
                           reserved_blocks = u.reserved_blocks + d.blocks, reserved_bytes = u.reserved_bytes + d.bytes
          FROM (SELECT user_id, sum(sessions) AS sessions, sum(blocks) AS blocks, sum(bytes) AS bytes
                  FROM (SELECT user_id, 1 AS sessions, reserved_blocks::bigint AS blocks, reserved_bytes AS bytes
                          FROM new_sessions WHERE reservation_held
                        UNION ALL
                        SELECT user_id, -1, -reserved_blocks::bigint, -reserved_bytes
                          FROM old_sessions WHERE reservation_held) m
                 GROUP BY user_id
                HAVING sum(sessions) <> 0 OR sum(blocks) <> 0 OR sum(bytes) <> 0) d
         WHERE u.id = d.user_id;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER upload_reservations_inserted AFTER INSERT ON upload_sessions
    REFERENCING NEW TABLE AS new_sessions FOR EACH STATEMENT EXECUTE FUNCTION upload_reservations_moved();
CREATE TRIGGER upload_reservations_updated AFTER UPDATE ON upload_sessions
    REFERENCING OLD TABLE AS old_sessions NEW TABLE AS new_sessions FOR EACH STATEMENT EXECUTE FUNCTION upload_reservations_moved();
CREATE TRIGGER upload_reservations_deleted AFTER DELETE ON upload_sessions
    REFERENCING OLD TABLE AS old_sessions FOR EACH STATEMENT EXECUTE FUNCTION upload_reservations_moved();

-- The sessions open now hold their reservations (where 012 has made them: the trigger counts them).
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM information_schema.columns
                WHERE table_schema = current_schema() AND table_name = 'upload_sessions'
                  AND column_name = 'reserved_bytes') THEN
        UPDATE upload_sessions SET reservation_held = true WHERE state = 'open' AND expires_at > now();
    END IF;
END
$$;
