-- Storage lifecycle (metaserver/tree/trash.py, metaserver/tree/usage.py, metaserver/lifecycle/):
-- journal attribution, file identity across moves, the trash, usage counters per namespace,
-- retention, and the namespace as the dedup scope of blocks.

-- 1. Who made each change: the user and the device (NULL on rows written before this).
--    No foreign key: the journal is append-only and a deleted user's rows keep the id.
ALTER TABLE journal ADD COLUMN user_id bigint, ADD COLUMN device_name text;

-- 2. Dedup scope is the namespace: a block belongs to the namespace whose upload created it
--    (its owner's home namespace, for every block so far).
ALTER TABLE blocks ADD COLUMN ns_id bigint REFERENCES namespaces(id) ON DELETE CASCADE;
UPDATE blocks b SET ns_id = n.id FROM namespaces n WHERE n.owner_id = b.owner_id AND n.kind = 'home';
ALTER TABLE blocks ALTER COLUMN ns_id SET NOT NULL;
DROP INDEX blocks_dedup;
CREATE INDEX blocks_dedup ON blocks (ns_id, sha256, size) WHERE state = 'stored';

-- 3. File identity: every version belongs to one file (file_id: the id of the file's first
--    version), carried by update commits, restores and moves; number: the version's number
--    within its file (1 = the first), which history lists and restore takes.
ALTER TABLE versions ADD COLUMN file_id bigint, ADD COLUMN number integer;
-- until now a new version's parent_rev was the revision it replaced at its path: the chains
-- of parent_rev are the files
WITH RECURSIVE chain AS (
    SELECT id, id AS file_id FROM versions WHERE parent_rev IS NULL
    UNION ALL
    SELECT v.id, c.file_id FROM versions v JOIN chain c ON v.parent_rev = c.id
)
UPDATE versions v SET file_id = chain.file_id FROM chain WHERE chain.id = v.id;
UPDATE versions SET file_id = id WHERE file_id IS NULL;  -- a parent_rev loop cannot happen; be safe
-- one live entry per file: should two live entries hold versions of one chain, the later
-- ones become files of their own
WITH live AS (
    SELECT v.id, v.file_id, row_number() OVER (PARTITION BY v.file_id ORDER BY v.id DESC) AS n
      FROM entries e JOIN versions v ON v.id = e.rev
     WHERE e.kind = 'file' AND NOT e.deleted
)
UPDATE versions v SET file_id = v.id FROM live WHERE live.id = v.id AND live.n > 1;

-- 4. The trash: what was deleted, until it is restored, purged, or its retention runs out.
--    One row per deleted entry; the entry the user deleted (a file or a folder: the "item")
--    has top_id NULL and counts what it holds, the entries deleted with it point to it.
CREATE TABLE trash (
    id          bigserial PRIMARY KEY,
    ns_id       bigint NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
    top_id      bigint REFERENCES trash(id) ON DELETE CASCADE,
    path        text NOT NULL,                  -- display path when deleted
    path_key    text NOT NULL,
    parent_key  text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('file', 'folder')),
    rev         bigint REFERENCES versions(id), -- a file's last revision (never pruned)
    seq         bigint NOT NULL,                -- the journal row of its deletion
    deleted_at  timestamptz NOT NULL DEFAULT now(),
    user_id     bigint,                         -- who deleted it, from which device
    device_name text,
    files       integer,                        -- an item: the files it holds (their last revisions)
    bytes       bigint,
    CHECK ((kind = 'file') = (rev IS NOT NULL)),
    CHECK ((top_id IS NULL) = (files IS NOT NULL AND bytes IS NOT NULL))
);
CREATE INDEX trash_items ON trash (ns_id, deleted_at, id) WHERE top_id IS NULL;
CREATE INDEX trash_paths ON trash (ns_id, path_key text_pattern_ops);
CREATE INDEX trash_children ON trash (ns_id, parent_key) WHERE top_id IS NOT NULL;
CREATE INDEX trash_top ON trash (top_id) WHERE top_id IS NOT NULL;
CREATE INDEX trash_rev ON trash (rev) WHERE rev IS NOT NULL;

-- Deletion markers become trash: a deleted file whose file is not live anywhere (a moved
-- file's old path is a marker too, and is not trash), one item per file (the latest marker).
-- Deleted folders are not kept (their files are, and restoring one brings its folders back).
CREATE TEMP TABLE live_file ON COMMIT DROP AS
    SELECT DISTINCT v.file_id FROM entries e JOIN versions v ON v.id = e.rev WHERE NOT e.deleted AND e.kind = 'file';
CREATE UNIQUE INDEX ON live_file (file_id);
INSERT INTO trash (ns_id, path, path_key, parent_key, kind, rev, seq, deleted_at, files, bytes)
SELECT DISTINCT ON (v.file_id) e.ns_id, e.path, e.path_key, e.parent_key, 'file', e.rev, e.seq, e.modified_at, 1, v.size
  FROM entries e JOIN versions v ON v.id = e.rev
 WHERE e.deleted AND e.kind = 'file' AND v.file_id NOT IN (SELECT file_id FROM live_file)
 ORDER BY v.file_id, e.seq DESC;
-- a file neither live nor in the trash (a deleted file restored before this migration made a
-- new chain at its path) joins the file now live at the path of its last version, or else
-- becomes a trash item of its own; its path key is the journal's (the server's case folding)
CREATE TEMP TABLE orphan ON COMMIT DROP AS
    SELECT DISTINCT ON (v.file_id) v.file_id, v.id, v.ns_id, v.path, v.size, v.created_at,
           coalesce(j.path_key, lower(v.path)) AS path_key, j.seq
      FROM versions v
      LEFT JOIN journal j ON j.ns_id = v.ns_id AND j.rev = v.id AND j.kind = 'file'
     WHERE v.file_id NOT IN (SELECT file_id FROM live_file)
       AND v.file_id NOT IN (SELECT tv.file_id FROM trash t JOIN versions tv ON tv.id = t.rev)
     ORDER BY v.file_id, v.id DESC, j.seq DESC;
WITH heir AS (
    SELECT o.file_id AS old_id, ev.file_id AS new_id
      FROM orphan o
      JOIN entries e ON e.ns_id = o.ns_id AND e.path_key = o.path_key AND NOT e.deleted AND e.kind = 'file'
      JOIN versions ev ON ev.id = e.rev
)
UPDATE versions v SET file_id = heir.new_id FROM heir WHERE v.file_id = heir.old_id;
INSERT INTO trash (ns_id, path, path_key, parent_key, kind, rev, seq, deleted_at, files, bytes)
SELECT o.ns_id, o.path, o.path_key, coalesce(nullif(regexp_replace(o.path_key, '/[^/]*$', ''), ''), '/'),
       'file', o.id, coalesce(o.seq, 0), o.created_at, 1, o.size
  FROM orphan o
 WHERE NOT EXISTS (SELECT 1 FROM entries e WHERE e.ns_id = o.ns_id AND e.path_key = o.path_key
                      AND NOT e.deleted AND e.kind = 'file');
-- entries holds live entries only from now on (deleted ones are in the trash; a move removes
-- the old path's row); the column stays, always false
DELETE FROM entries WHERE deleted;

WITH numbered AS (SELECT id, row_number() OVER (PARTITION BY file_id ORDER BY id) AS n FROM versions)
UPDATE versions v SET number = numbered.n FROM numbered WHERE numbered.id = v.id;
ALTER TABLE versions ALTER COLUMN file_id SET NOT NULL, ALTER COLUMN number SET NOT NULL;
CREATE INDEX versions_file ON versions (ns_id, file_id, id);

-- Pruning deletes versions: the foreign keys that point at them either get an index (so the
-- check is a lookup, not a scan per deleted version) or go. entries.rev keeps its key (a bug
-- that pruned a current version fails instead of losing it); parent_rev and a session's
-- committed_rev may name a pruned version.
CREATE INDEX entries_rev ON entries (rev) WHERE rev IS NOT NULL;
ALTER TABLE versions DROP CONSTRAINT versions_parent_rev_fkey;
ALTER TABLE upload_sessions DROP CONSTRAINT upload_sessions_committed_rev_fkey;

-- 5. Usage per namespace, kept by every change in the transaction that makes it
--    (metaserver/tree/usage.py): logical bytes of the current versions of live files, of the
--    last versions of files in the trash, of every other version; and the bytes of the
--    namespace's blocks that some version references (what quotas count).
ALTER TABLE namespaces
    ADD COLUMN current_bytes bigint NOT NULL DEFAULT 0,
    ADD COLUMN version_bytes bigint NOT NULL DEFAULT 0,
    ADD COLUMN trash_bytes bigint NOT NULL DEFAULT 0,
    ADD COLUMN stored_bytes bigint NOT NULL DEFAULT 0;
UPDATE namespaces n SET
    current_bytes = (SELECT coalesce(sum(v.size), 0) FROM entries e JOIN versions v ON v.id = e.rev
                      WHERE e.ns_id = n.id AND e.kind = 'file'),
    trash_bytes = (SELECT coalesce(sum(v.size), 0) FROM trash t JOIN versions v ON v.id = t.rev WHERE t.ns_id = n.id),
    version_bytes = (SELECT coalesce(sum(v.size), 0) FROM versions v
                      WHERE v.ns_id = n.id
                        AND NOT EXISTS (SELECT 1 FROM entries e WHERE e.rev = v.id)
                        AND NOT EXISTS (SELECT 1 FROM trash t WHERE t.rev = v.id)),
    stored_bytes = (SELECT coalesce(sum(b.size), 0) FROM blocks b
                     WHERE b.ns_id = n.id AND EXISTS (SELECT 1 FROM version_blocks vb WHERE vb.block_id = b.id));

-- 6. Retention: how many days old versions and deleted files are kept; NULL: the server's
--    setting (tessera-server --retention, 30 days by default).
ALTER TABLE users ADD COLUMN retention_days integer CHECK (retention_days BETWEEN 1 AND 36500);
