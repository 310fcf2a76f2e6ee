-- Share links (issue 18): a random token bound to one path in one namespace.
--
-- Only a hash of the token is kept (SHA-256 of 256 random bits, like device tokens); the token
-- itself is shown once, in the link's URL, when the link is made. A link names its target by
-- namespace and path (the path's key for lookups), so a link into a shared folder works the same
-- as one into a home namespace. `password_hash` is an argon2id PHC string like users' passwords
-- (NULL: no password). A revoked or expired link is kept (for `tessera link ls`) but opens nothing.
CREATE TABLE links (
    id              bigserial PRIMARY KEY,
    token_hash      bytea NOT NULL UNIQUE,
    ns_id           bigint NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
    path            text NOT NULL,
    path_key        text NOT NULL,
    created_by      bigint REFERENCES users(id) ON DELETE SET NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz,
    password_hash   text,
    view_only       boolean NOT NULL DEFAULT false,
    revoked_at      timestamptz
);
CREATE INDEX links_ns ON links (ns_id, id);
