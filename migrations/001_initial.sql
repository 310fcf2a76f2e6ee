-- Tessera initial schema: users, device tokens, namespaces, blocks, versions,
-- entries, the change journal and upload sessions.

CREATE TABLE users (
    id              bigserial PRIMARY KEY,
    name            text NOT NULL,
    name_key        text NOT NULL UNIQUE,           -- lower-cased name, for login
    password_hash   text NOT NULL,
    quota_bytes     bigint,                         -- NULL: unlimited
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE tokens (
    id              bigserial PRIMARY KEY,
    user_id         bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_hash      bytea NOT NULL UNIQUE,          -- sha256 of the bearer token
    device_name     text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_used_at    timestamptz NOT NULL DEFAULT now(),
    revoked_at      timestamptz
);
CREATE INDEX tokens_user ON tokens(user_id);

-- A namespace is a tree of entries with its own journal. Each user has a home
-- namespace; shared folders will be namespaces of their own.
CREATE TABLE namespaces (
    id              bigserial PRIMARY KEY,
    owner_id        bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind            text NOT NULL CHECK (kind IN ('home', 'shared')),
    last_seq        bigint NOT NULL DEFAULT 0,      -- last journal sequence number used
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX namespaces_home ON namespaces(owner_id) WHERE kind = 'home';

-- Blocks: ids are issued by the metadata server; the object key is the id,
-- never the hash. Dedup re-uses a stored block of the same owner with the same
-- SHA-256 and size.
CREATE TABLE blocks (
    id              uuid PRIMARY KEY,
    owner_id        bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    size            integer NOT NULL CHECK (size > 0),
    md5             bytea NOT NULL,
    sha256          bytea NOT NULL,
    state           text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'stored')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    stored_at       timestamptz
);
CREATE INDEX blocks_dedup ON blocks(owner_id, sha256, size) WHERE state = 'stored';

-- Immutable file revisions. The version id is the file's "rev".
CREATE TABLE versions (
    id              bigserial PRIMARY KEY,
    ns_id           bigint NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
    path            text NOT NULL,                  -- display path at commit time
    size            bigint NOT NULL CHECK (size >= 0),
    content_hash    bytea NOT NULL,
    block_count     integer NOT NULL,
    parent_rev      bigint REFERENCES versions(id) ON DELETE SET NULL,
    device_name     text NOT NULL,
    user_id         bigint REFERENCES users(id) ON DELETE SET NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE version_blocks (
    version_id      bigint NOT NULL REFERENCES versions(id) ON DELETE CASCADE,
    idx             integer NOT NULL,
    block_id        uuid NOT NULL REFERENCES blocks(id),
    PRIMARY KEY (version_id, idx)
);
CREATE INDEX version_blocks_block ON version_blocks(block_id);

-- The current state of each path: a file (pointing at its current version), a
-- folder, or a deletion marker (which keeps the last rev for restore).
CREATE TABLE entries (
    ns_id           bigint NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
    path_key        text NOT NULL,
    parent_key      text NOT NULL,
    path            text NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('file', 'folder')),
    rev             bigint REFERENCES versions(id),
    deleted         boolean NOT NULL DEFAULT false,
    seq             bigint NOT NULL,                -- journal seq of the last change
    modified_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (ns_id, path_key)
);
CREATE INDEX entries_children ON entries(ns_id, parent_key, path_key) WHERE NOT deleted;
CREATE INDEX entries_prefix ON entries(ns_id, path_key text_pattern_ops);

-- The change journal of each namespace, in sequence order.
CREATE TABLE journal (
    ns_id           bigint NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
    seq             bigint NOT NULL,
    path_key        text NOT NULL,
    path            text NOT NULL,
    kind            text NOT NULL,                  -- file | folder | pending
    rev             bigint,
    deleted         boolean NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (ns_id, seq)
);

-- One pending file upload.
CREATE TABLE upload_sessions (
    id              uuid PRIMARY KEY,
    user_id         bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    ns_id           bigint NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
    path            text NOT NULL,
    size            bigint NOT NULL,
    content_hash    bytea NOT NULL,
    block_count     integer NOT NULL,
    mode            text NOT NULL CHECK (mode IN ('add', 'overwrite', 'update')),
    parent_rev      bigint,
    device_name     text NOT NULL,
    state           text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'committed')),
    committed_rev   bigint REFERENCES versions(id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL
);
CREATE INDEX upload_sessions_expiry ON upload_sessions(expires_at) WHERE state = 'open';

CREATE TABLE session_blocks (
    session_id      uuid NOT NULL REFERENCES upload_sessions(id) ON DELETE CASCADE,
    idx             integer NOT NULL,
    block_id        uuid NOT NULL REFERENCES blocks(id),
    PRIMARY KEY (session_id, idx)
);
CREATE INDEX session_blocks_block ON session_blocks(block_id);
