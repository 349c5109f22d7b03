-- Foundation: organisations and populations (CONV-1), services (CONV-2),
-- accounts, roles and sessions, audit journal (OPS-3), outbox (OPS-5).
-- Timestamps are Unix milliseconds; dates are ISO text. Keep in step with
-- migrations/postgres/0001_foundation.sql.

CREATE TABLE organisations (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('metropolis', 'commune')),
    insee_code  TEXT UNIQUE,
    siren       TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE populations (
    organisation_id INTEGER NOT NULL REFERENCES organisations(id),
    in_force_from   TEXT NOT NULL,
    value           INTEGER NOT NULL CHECK (value >= 0),
    vintage         INTEGER NOT NULL,
    PRIMARY KEY (organisation_id, in_force_from)
);

CREATE TABLE services (
    id          INTEGER PRIMARY KEY,
    code        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    paid        INTEGER NOT NULL CHECK (paid IN (0, 1)),
    description TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL
);

CREATE TABLE accounts (
    id             INTEGER PRIMARY KEY,
    email          TEXT NOT NULL UNIQUE,
    display_name   TEXT NOT NULL DEFAULT '',
    password_hash  TEXT,
    disabled       INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at     INTEGER NOT NULL,
    last_login_at  INTEGER
);

CREATE TABLE roles (
    account_id      INTEGER NOT NULL REFERENCES accounts(id),
    organisation_id INTEGER NOT NULL REFERENCES organisations(id),
    role            TEXT NOT NULL CHECK (role IN ('metropolis_admin', 'commune_admin', 'referent', 'help_agent', 'finance')),
    granted_at      INTEGER NOT NULL,
    PRIMARY KEY (account_id, organisation_id, role)
);

CREATE TABLE sessions (
    token_hash    TEXT PRIMARY KEY,
    account_id    INTEGER NOT NULL REFERENCES accounts(id),
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    revoked_at    INTEGER
);
CREATE INDEX sessions_account ON sessions(account_id);

CREATE TABLE audit_journal (
    seq         INTEGER PRIMARY KEY,
    at          INTEGER NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    target      TEXT NOT NULL,
    details     TEXT NOT NULL,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL
);

-- The head of the chain: one row, updated in the same transaction as each
-- append, so that appends serialise and a deleted tail is detected.
CREATE TABLE audit_head (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    seq   INTEGER NOT NULL,
    hash  TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    kind            TEXT NOT NULL CHECK (kind IN ('email', 'webhook')),
    idempotency_key TEXT NOT NULL UNIQUE,
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    locked_by       TEXT,
    locked_until    INTEGER,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    sent_at         INTEGER
);
CREATE INDEX outbox_due ON outbox(status, next_attempt_at);
