-- The OpenID Connect provider (ID-3) and consents (ID-4). Keep in step with
-- migrations/postgres/0006_openid.sql.

-- Signing keys; private keys encrypted with the master key (AES-256-GCM).
-- A retired key stays in the JWKS for the overlap window.
CREATE TABLE signing_keys (
    kid         TEXT PRIMARY KEY,
    alg         TEXT NOT NULL CHECK (alg IN ('RS256', 'ES256')),
    private_key BLOB NOT NULL,
    public_jwk  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    retired_at  INTEGER
);

-- Relying parties (shared services). Secrets are high-entropy random
-- strings stored as SHA-256 digests.
CREATE TABLE oidc_clients (
    client_id                 TEXT PRIMARY KEY,
    name                      TEXT NOT NULL,
    secret_sha256             TEXT,
    redirect_uris             TEXT NOT NULL,
    post_logout_redirect_uris TEXT NOT NULL,
    backchannel_logout_uri    TEXT,
    scopes                    TEXT NOT NULL,
    public_client             INTEGER NOT NULL CHECK (public_client IN (0, 1)),
    require_pkce              INTEGER NOT NULL CHECK (require_pkce IN (0, 1)),
    sector                    TEXT NOT NULL,
    id_token_alg              TEXT NOT NULL CHECK (id_token_alg IN ('RS256', 'ES256')),
    consent_lifetime_days     INTEGER NOT NULL,
    privacy_notice_version    TEXT NOT NULL,
    purpose                   TEXT NOT NULL,
    created_at                INTEGER NOT NULL
);

-- Pairwise subjects: one random salt per sector.
CREATE TABLE sectors (
    name       TEXT PRIMARY KEY,
    salt       TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE authorization_codes (
    code_hash             TEXT PRIMARY KEY,
    client_id             TEXT NOT NULL REFERENCES oidc_clients(client_id),
    account_id            INTEGER NOT NULL REFERENCES accounts(id),
    redirect_uri          TEXT NOT NULL,
    scope                 TEXT NOT NULL,
    claims                TEXT NOT NULL,
    nonce                 TEXT,
    code_challenge        TEXT,
    auth_time             INTEGER NOT NULL,
    acr                   TEXT,
    sid                   TEXT NOT NULL,
    created_at            INTEGER NOT NULL,
    expires_at            INTEGER NOT NULL,
    used_at               INTEGER
);

-- Access and refresh tokens by their `jti`, for revocation, introspection,
-- rotation and reuse detection.
CREATE TABLE oidc_tokens (
    jti         TEXT PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('access', 'refresh')),
    client_id   TEXT NOT NULL REFERENCES oidc_clients(client_id),
    account_id  INTEGER REFERENCES accounts(id),
    scope       TEXT NOT NULL,
    claims      TEXT NOT NULL,
    family      TEXT NOT NULL,
    code_hash   TEXT,
    sid         TEXT,
    auth_time   INTEGER,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER,
    revoked_at  INTEGER
);
CREATE INDEX oidc_tokens_family ON oidc_tokens(family);
CREATE INDEX oidc_tokens_account_client ON oidc_tokens(account_id, client_id);

-- ID-4: append-only consent records.
CREATE TABLE consent_records (
    id             INTEGER PRIMARY KEY,
    account_id     INTEGER NOT NULL REFERENCES accounts(id),
    client_id      TEXT NOT NULL REFERENCES oidc_clients(client_id),
    event          TEXT NOT NULL CHECK (event IN ('given', 'changed', 'revoked', 'expired', 'ended_by_deletion')),
    method         TEXT NOT NULL CHECK (method IN ('screen', 'revocation', 'expiry', 'account_deletion')),
    claims         TEXT NOT NULL,
    purpose        TEXT NOT NULL,
    notice_version TEXT NOT NULL,
    at             INTEGER NOT NULL,
    expires_at     INTEGER
);
CREATE INDEX consent_records_account ON consent_records(account_id, client_id);

-- Which services a browser session logged into (back-channel logout).
CREATE TABLE session_clients (
    session_hash TEXT NOT NULL,
    client_id    TEXT NOT NULL REFERENCES oidc_clients(client_id),
    sid          TEXT NOT NULL,
    account_id   INTEGER NOT NULL REFERENCES accounts(id),
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (session_hash, client_id)
);
