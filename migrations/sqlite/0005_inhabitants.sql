-- Inhabitants' accounts (ID-1, ID-2): e-mail verification, one-time links,
-- brute-force back-off shared by every node, the identity sheet. Keep in
-- step with migrations/postgres/0005_inhabitants.sql.
ALTER TABLE accounts ADD COLUMN email_verified_at INTEGER;
ALTER TABLE accounts ADD COLUMN password_changed_at INTEGER;

-- Single-use links sent by e-mail; only the token's SHA-256 is stored.
CREATE TABLE account_tokens (
    token_hash  TEXT PRIMARY KEY,
    account_id  INTEGER NOT NULL REFERENCES accounts(id),
    purpose     TEXT NOT NULL CHECK (purpose IN ('verify_email', 'reset_password')),
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
);
CREATE INDEX account_tokens_account ON account_tokens(account_id);

-- ID-1 back-off: `key` is `account:<id>` or `address:<client address>`.
CREATE TABLE login_throttle (
    key           TEXT PRIMARY KEY,
    failures      INTEGER NOT NULL,
    blocked_until INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

-- ID-2: one row per field, with where it came from and when.
CREATE TABLE identity_fields (
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    field      TEXT NOT NULL,
    value      TEXT NOT NULL,
    source     TEXT NOT NULL CHECK (source IN ('user', 'franceconnect')),
    set_at     INTEGER NOT NULL,
    PRIMARY KEY (account_id, field)
);
