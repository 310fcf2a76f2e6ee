-- Accounts (issue 16): disabled users, why a token was revoked.
--
-- A token's idle expiry needs no column: a token unused (tokens.last_used_at, touched at most
-- once an hour per token) for longer than the server's --token-idle-expiry no longer works.
-- The password scheme is in the hash itself (a PHC string: $argon2id$v=19$m=...,t=...,p=...$...;
-- the older scrypt$salt$digest hashes are verified and replaced at the next successful login).

-- set while an operator has disabled the user: their tokens stop working and they cannot log in
ALTER TABLE users ADD COLUMN disabled_at timestamptz;

-- why a token was revoked: logout, revoked (from another device), password (changed with
-- "sign out other devices"), operator (tessera-server user revoke-tokens)
ALTER TABLE tokens ADD COLUMN revoked_reason text;

-- a user's live tokens, for `tessera devices` and revoking them all at once
CREATE INDEX tokens_user_live ON tokens (user_id, created_at) WHERE revoked_at IS NULL;
