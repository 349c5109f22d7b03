-- ID-7: staff second factor (TOTP, RFC 6238) and recovery codes; a session
-- records when its second factor was verified. Keep in step with
-- migrations/sqlite/0007_second_factor.sql.
ALTER TABLE sessions ADD COLUMN second_factor_at BIGINT;

CREATE TABLE totp_secrets (
    account_id  BIGINT PRIMARY KEY REFERENCES accounts(id),
    secret      BYTEA NOT NULL,
    enrolled_at BIGINT,
    last_step   BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE recovery_codes (
    code_hash  TEXT PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES accounts(id),
    used_at    BIGINT
);
CREATE INDEX recovery_codes_account ON recovery_codes(account_id);
