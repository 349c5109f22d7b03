-- ID-7: staff second factor (TOTP, RFC 6238) and recovery codes; a session
-- records when its second factor was verified. Keep in step with
-- migrations/postgres/0007_second_factor.sql.
ALTER TABLE sessions ADD COLUMN second_factor_at INTEGER;

CREATE TABLE totp_secrets (
    account_id  INTEGER PRIMARY KEY REFERENCES accounts(id),
    secret      BLOB NOT NULL,
    enrolled_at INTEGER,
    last_step   INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE recovery_codes (
    code_hash  TEXT PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    used_at    INTEGER
);
CREATE INDEX recovery_codes_account ON recovery_codes(account_id);
