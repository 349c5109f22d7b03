-- FranceConnect federation (ID-5) and certified identity (ID-6). Keep in
-- step with migrations/postgres/0008_franceconnect.sql.

-- An authorization request sent to FranceConnect: `state` (by its SHA-256)
-- and `nonce` bound to the browser that started it (`browser_hash`, the
-- SHA-256 of a cookie), single use (`used_at`).
CREATE TABLE franceconnect_requests (
    state_hash   TEXT PRIMARY KEY,
    nonce        TEXT NOT NULL,
    browser_hash TEXT NOT NULL,
    purpose      TEXT NOT NULL CHECK (purpose IN ('login', 'link')),
    return_to    TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    used_at      INTEGER
);

-- One FranceConnect identity (`sub`) per account and one account per
-- identity; `certified_at` is the time of the last FranceConnect login that
-- refreshed the certified fields (identity_fields with source franceconnect).
CREATE TABLE franceconnect_links (
    sub          TEXT PRIMARY KEY,
    account_id   INTEGER NOT NULL UNIQUE REFERENCES accounts(id),
    linked_at    INTEGER NOT NULL,
    certified_at INTEGER NOT NULL
);

-- A verified FranceConnect identity waiting for its holder to link it to an
-- account or create one (by the SHA-256 of a cookie), for a few minutes.
CREATE TABLE franceconnect_pending (
    token_hash TEXT PRIMARY KEY,
    sub        TEXT NOT NULL,
    identity   TEXT NOT NULL,
    id_token   TEXT NOT NULL,
    return_to  TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);

-- The FranceConnect ID token of a session opened through FranceConnect: the
-- `id_token_hint` of the logout that goes through FranceConnect.
ALTER TABLE sessions ADD COLUMN franceconnect_id_token TEXT;

-- The acr of the session a token family was issued in, so that a refreshed
-- ID token says the same (ID-6).
ALTER TABLE oidc_tokens ADD COLUMN acr TEXT;
