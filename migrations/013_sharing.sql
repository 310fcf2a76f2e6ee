-- Shared folders (metaserver/sharing/): a shared folder is a namespace of its own (kind
-- 'shared', owner_id its owner, whose quota counts its bytes), with members and their roles,
-- invitations, and each member's mount of it at a path of their home tree.

-- the share's name (the folder's name when it was shared: the default mount path of an
-- invitee is /<name>); NULL for home namespaces. unshared_at: set once the owner unshared it
-- (its entries went back into the owner's home; the row stays for the journal's sake)
ALTER TABLE namespaces ADD COLUMN name text, ADD COLUMN unshared_at timestamptz;

-- who may do what in a shared namespace: owner (everything, including membership), editor
-- (read and write), viewer (read). A home namespace has no rows: its owner_id is its only user.
CREATE TABLE ns_members (
    ns_id       bigint NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
    user_id     bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role        text NOT NULL CHECK (role IN ('owner', 'editor', 'viewer')),
    added_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (ns_id, user_id)
);
CREATE INDEX ns_members_user ON ns_members (user_id);

-- an invitation to a share: pending until the invitee accepts or declines it, or the owner
-- removes the invitee or unshares
CREATE TABLE share_invitations (
    id          bigserial PRIMARY KEY,
    ns_id       bigint NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
    inviter_id  bigint REFERENCES users(id) ON DELETE SET NULL,
    invitee_id  bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role        text NOT NULL CHECK (role IN ('editor', 'viewer')),
    state       text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'accepted', 'declined', 'cancelled')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    decided_at  timestamptz
);
CREATE UNIQUE INDEX share_invitations_pending ON share_invitations (ns_id, invitee_id) WHERE state = 'pending';
CREATE INDEX share_invitations_invitee ON share_invitations (invitee_id) WHERE state = 'pending';

-- a member's mount of a shared namespace: the path of their home tree where its root appears.
-- path_key is the path's key (protocol.paths.path_key), unique per user; parent_key the key of
-- the folder it appears in (listings of that folder show it)
CREATE TABLE mounts (
    user_id     bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    ns_id       bigint NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
    path        text NOT NULL,
    path_key    text NOT NULL,
    parent_key  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, ns_id),
    UNIQUE (user_id, path_key)
);
CREATE INDEX mounts_ns ON mounts (ns_id);
